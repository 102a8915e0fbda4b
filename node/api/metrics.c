/* GET /metrics in the Prometheus text format. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "api/internal.h"
#include "control/failover.h"
#include "control/health.h"

static const char *const route_names[ROUTE__COUNT] = {
    "status",      "health",   "metrics", "regions",
    "region",      "members",  "member",  "leader_transfer",
    "settings",    "setting",  "site",    "site_primary",
    "history",     "backups",  "backup",  "jobs",
    "job",         "breakers", "breaker", "breaker_reset",
    "llm_route",   "probes",   "drills",  "drill",
    "replication", "failover", "ui",      "dns",
    "wal",         "unknown",
};

struct out
{
    char *buf;
    size_t len, cap;
};

static void put(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(o->buf ? o->buf + o->len : NULL,
                      o->buf ? o->cap - o->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            return;
        }
        if (o->buf != NULL && o->len + (size_t)n < o->cap) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = (o->cap ? o->cap * 2 : 8192) + (size_t)n;
        char *b = realloc(o->buf, cap);
        if (b == NULL) {
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
}

/* 1/0 for a service, or nothing when its status is not known. */
static void put_up(struct out *o,
                   const char *name,
                   const char *region,
                   const char *service,
                   int status)
{
    if (status == FSM_SVC_UNKNOWN) {
        return;
    }
    if (service != NULL) {
        put(o, "%s{region=\"%s\",service=\"%s\"} %d\n", name, region, service,
            status == FSM_SVC_UP);
    } else {
        put(o, "%s{region=\"%s\"} %d\n", name, region, status == FSM_SVC_UP);
    }
}

/* PostgreSQL's own archiver (pg_stat_archiver), as this node's probe last
 * read it: only when the database answers and archive_mode is on. */
static void metrics_wal_archive(struct out *o,
                                const char *region,
                                const struct probe_result *db)
{
    if (db->status != PROBE_UP || !db->archiving) {
        return;
    }
    put(o,
        "# HELP drnode_pg_wal_archived_total WAL files the region's "
        "PostgreSQL archived (pg_stat_archiver).\n"
        "# TYPE drnode_pg_wal_archived_total counter\n"
        "drnode_pg_wal_archived_total{region=\"%s\"} %lld\n"
        "# HELP drnode_pg_wal_archive_failed_total Failed archive_command "
        "runs (pg_stat_archiver).\n"
        "# TYPE drnode_pg_wal_archive_failed_total counter\n"
        "drnode_pg_wal_archive_failed_total{region=\"%s\"} %lld\n"
        "# HELP drnode_pg_wal_archive_failing 1 when PostgreSQL's last "
        "archive attempt failed: WAL piles up in pg_wal and the RPO grows.\n"
        "# TYPE drnode_pg_wal_archive_failing gauge\n"
        "drnode_pg_wal_archive_failing{region=\"%s\"} %d\n",
        region, (long long)db->archived, region, (long long)db->archive_failed,
        region, db->archive_failing ? 1 : 0);
    if (db->archived_age_s >= 0) {
        put(o,
            "# HELP drnode_pg_wal_last_archived_age_seconds Seconds since "
            "PostgreSQL last archived a WAL file.\n"
            "# TYPE drnode_pg_wal_last_archived_age_seconds gauge\n"
            "drnode_pg_wal_last_archived_age_seconds{region=\"%s\"} %lld\n",
            region, (long long)db->archived_age_s);
    }
}

/* The WAL stream's replication slot on the region's PostgreSQL, as this
 * node's probe last read it: only while the slot exists. */
static void metrics_wal_stream(struct out *o,
                               const char *region,
                               const struct probe_result *db)
{
    if (db->status != PROBE_UP || db->stream_slot_lag < 0) {
        return;
    }
    put(o,
        "# HELP drnode_wal_stream_slot_bytes WAL the region's PostgreSQL "
        "keeps for the WAL stream's slot: written but not yet durable in "
        "every WAL store (grows while no stream runs).\n"
        "# TYPE drnode_wal_stream_slot_bytes gauge\n"
        "drnode_wal_stream_slot_bytes{region=\"%s\"} %lld\n"
        "# HELP drnode_wal_stream_active 1 while a WAL stream reads from the "
        "slot.\n"
        "# TYPE drnode_wal_stream_active gauge\n"
        "drnode_wal_stream_active{region=\"%s\"} %d\n",
        region, (long long)db->stream_slot_lag, region,
        db->stream_slot_active ? 1 : 0);
}

/* A standby replaying the WAL archive ([services] pg_standby), as this
 * node's probe last read it; f: the end of its region's archive. */
static void metrics_pg_standby(struct out *o,
                               const struct fsm *f,
                               const char *region,
                               const struct probe_result *sb)
{
    uint64_t end;

    if (sb->status == PROBE_UNCONFIGURED || sb->status == PROBE_UNKNOWN) {
        return;
    }
    put(o,
        "# HELP drnode_pg_standby_up The standby of [services] pg_standby "
        "answers (1) or not (0).\n"
        "# TYPE drnode_pg_standby_up gauge\n"
        "drnode_pg_standby_up{region=\"%s\"} %d\n",
        region, sb->status == PROBE_UP);
    if (sb->status != PROBE_UP) {
        return;
    }
    put(o,
        "# HELP drnode_pg_standby_in_recovery 1 while the standby replays "
        "(0: it was promoted, or is not a standby).\n"
        "# TYPE drnode_pg_standby_in_recovery gauge\n"
        "drnode_pg_standby_in_recovery{region=\"%s\"} %d\n",
        region, sb->in_recovery ? 1 : 0);
    if (sb->in_recovery && sb->replay_delay_s >= 0) {
        put(o,
            "# HELP drnode_pg_standby_replay_delay_seconds Seconds since the "
            "last transaction the standby replayed was committed on the "
            "primary (grows while the primary commits nothing).\n"
            "# TYPE drnode_pg_standby_replay_delay_seconds gauge\n"
            "drnode_pg_standby_replay_delay_seconds{region=\"%s\"} %lld\n",
            region, (long long)sb->replay_delay_s);
    }
    if (sb->in_recovery && sb->replay_lsn >= 0 &&
        fsm_wal_archive_end(f, region, &end)) {
        put(o,
            "# HELP drnode_pg_standby_replay_behind_bytes WAL in the region's "
            "archive at its last scan that the standby has not replayed (0: "
            "it replayed all of it, as on a standby of an idle primary).\n"
            "# TYPE drnode_pg_standby_replay_behind_bytes gauge\n"
            "drnode_pg_standby_replay_behind_bytes{region=\"%s\"} %llu\n",
            region,
            (unsigned long long)(end > (uint64_t)sb->replay_lsn
                                     ? end - (uint64_t)sb->replay_lsn
                                     : 0));
    }
}

/* The seed's health metrics, per region: this node's own probes for its
 * region, the committed health for the others. */
static void metrics_health(struct out *o, struct api *a)
{
    const struct fsm *f = raftnode_state(a->node);
    const struct probe_result *own =
        a->health != NULL ? a->health->prober.results : NULL;
    static const char *const names[] = {"cogitator_health_database_up",
                                        "cogitator_health_redis_up"};
    static const char *const helps[] = {
        "PostgreSQL answers in the region (1) or not (0).",
        "Redis answers in the region (1) or not (0)."};

    for (int k = 0; k < 2; k++) {
        put(o, "# HELP %s %s\n# TYPE %s gauge\n", names[k], helps[k], names[k]);
        for (size_t i = 0; i < f->n_regions; i++) {
            const struct fsm_region *r = &f->regions[i];
            int st = r->health[k == 0 ? FSM_SVC_DATABASE : FSM_SVC_REDIS];
            if (own != NULL && strcmp(r->name, a->cfg->region) == 0) {
                st = health_service_status(
                    &own[k == 0 ? PROBE_DATABASE : PROBE_REDIS]);
            }
            put_up(o, names[k], r->name, NULL, st);
        }
    }
    put(o,
        "# HELP cogitator_health_service_up Other probed services "
        "(LLM providers, the app, WASM) per region.\n"
        "# TYPE cogitator_health_service_up gauge\n");
    for (size_t i = 0; i < f->n_regions; i++) {
        const struct fsm_region *r = &f->regions[i];
        for (int s = FSM_SVC_OLLAMA; s < FSM_SERVICES; s++) {
            put_up(o, "cogitator_health_service_up", r->name,
                   fsm_service_name(s), r->health[s]);
        }
    }
    if (own != NULL) {
        put(o,
            "# HELP cogitator_probe_latency_seconds Latency of this "
            "node's last successful probe.\n"
            "# TYPE cogitator_probe_latency_seconds gauge\n");
        for (int s = 0; s < PROBE__COUNT; s++) {
            if (own[s].status == PROBE_UP) {
                put(o,
                    "cogitator_probe_latency_seconds{region=\"%s\","
                    "service=\"%s\"} %.6f\n",
                    a->cfg->region, probe_service_name(s),
                    own[s].latency_ms / 1000.0);
            }
        }
        put(o,
            "# HELP drnode_probe_rounds_total Probe rounds this node "
            "completed.\n# TYPE drnode_probe_rounds_total counter\n"
            "drnode_probe_rounds_total %llu\n"
            "# HELP drnode_probe_reports_total Probe reports sent to the "
            "leader.\n# TYPE drnode_probe_reports_total counter\n"
            "drnode_probe_reports_total{result=\"ok\"} %llu\n"
            "drnode_probe_reports_total{result=\"failed\"} %llu\n",
            (unsigned long long)a->health->prober.rounds,
            (unsigned long long)a->health->reports_sent,
            (unsigned long long)a->health->reports_failed);
        metrics_wal_archive(o, a->cfg->region, &own[PROBE_DATABASE]);
        metrics_wal_stream(o, a->cfg->region, &own[PROBE_DATABASE]);
        metrics_pg_standby(o, f, a->cfg->region, &own[PROBE_PG_STANDBY]);
        /* What this node finds of the other regions' public endpoints. */
        put(o,
            "# HELP drnode_region_endpoints_down_seconds Once a whole "
            "round of this node's probes failed, seconds since one of the "
            "region's public endpoints last answered (0: one answered in "
            "the last round).\n"
            "# TYPE drnode_region_endpoints_down_seconds gauge\n");
        for (size_t i = 0; i < a->health->reach.n_regions; i++) {
            const char *name = a->health->reach.regions[i].name;
            int64_t down = reach_down_ms(&a->health->reach, name);
            if (down >= 0) {
                put(o,
                    "drnode_region_endpoints_down_seconds{region=\"%s\"} "
                    "%.3f\n",
                    name, (double)down / 1000.0);
            }
        }
    }
}

/* Circuit breakers: replicated, so every node says the same. */
static void metrics_breakers(struct out *o, const struct fsm *f)
{
    put(o,
        "# HELP cogitator_circuit_breaker_state 1 for the breaker's "
        "current state, 0 for the others.\n"
        "# TYPE cogitator_circuit_breaker_state gauge\n");
    for (int p = 0; p < FSM_PROVIDERS; p++) {
        for (int st = FSM_BREAKER_CLOSED; st <= FSM_BREAKER_HALF_OPEN; st++) {
            put(o,
                "cogitator_circuit_breaker_state{service=\"%s\","
                "state=\"%s\"} %d\n",
                fsm_provider_name(p), fsm_breaker_state_name(st),
                f->breakers[p].state == st);
        }
    }
    put(o,
        "# HELP cogitator_circuit_breaker_transitions_total Breaker "
        "state changes.\n"
        "# TYPE cogitator_circuit_breaker_transitions_total counter\n");
    for (int p = 0; p < FSM_PROVIDERS; p++) {
        put(o,
            "cogitator_circuit_breaker_transitions_total{service=\"%s\"} "
            "%llu\n",
            fsm_provider_name(p),
            (unsigned long long)f->breakers[p].transitions);
    }
    put(o,
        "# HELP cogitator_requests_total LLM request outcomes reported "
        "(app events; probe failures, and probe successes that reset a "
        "count or close a breaker).\n"
        "# TYPE cogitator_requests_total counter\n");
    for (int p = 0; p < FSM_PROVIDERS; p++) {
        put(o, "cogitator_requests_total{service=\"%s\"} %llu\n",
            fsm_provider_name(p),
            (unsigned long long)(f->breakers[p].successes_total +
                                 f->breakers[p].failures_total));
    }
    put(o,
        "# HELP cogitator_requests_errors_total LLM requests that "
        "failed.\n# TYPE cogitator_requests_errors_total counter\n");
    for (int p = 0; p < FSM_PROVIDERS; p++) {
        put(o, "cogitator_requests_errors_total{service=\"%s\"} %llu\n",
            fsm_provider_name(p),
            (unsigned long long)f->breakers[p].failures_total);
    }
}

/* The failover runbook: a lost primary nobody is moving from (manual
 * mode, or no region can take over), and a runbook that is stuck. */
static void metrics_failover(struct out *o, struct api *a)
{
    const struct fsm *f = raftnode_state(a->node);
    const struct failover *fo = a->failover;

    put(o,
        "# HELP drnode_failover_running A failover runbook runs (not "
        "blocked).\n"
        "# TYPE drnode_failover_running gauge\n"
        "drnode_failover_running %d\n"
        "# HELP drnode_failover_blocked The failover runbook is blocked "
        "(drctl failover status says why).\n"
        "# TYPE drnode_failover_blocked gauge\n"
        "drnode_failover_blocked %d\n",
        fsm_runbook_active(f) && f->site.runbook.step != FSM_RB_BLOCKED,
        f->site.runbook.step == FSM_RB_BLOCKED);
    if (f->site.runbook.id != 0 && f->site.runbook.step == FSM_RB_COMPLETE) {
        const struct fsm_runbook *rb = &f->site.runbook;
        put(o,
            "# HELP drnode_failover_last_rto_seconds The last completed "
            "failover or switchover: from the loss (or the request) to "
            "complete.\n"
            "# TYPE drnode_failover_last_rto_seconds gauge\n"
            "drnode_failover_last_rto_seconds{kind=\"%s\",to_region=\"%s\"} "
            "%.3f\n"
            "# HELP drnode_failover_last_rpo_seconds The last completed "
            "failover or switchover: writes it lost (the restored data's age "
            "at the loss).\n"
            "# TYPE drnode_failover_last_rpo_seconds gauge\n"
            "drnode_failover_last_rpo_seconds{kind=\"%s\",to_region=\"%s\"} "
            "%.3f\n"
            "# HELP drnode_failover_last_epoch The epoch the last completed "
            "failover or switchover made.\n"
            "# TYPE drnode_failover_last_epoch gauge\n"
            "drnode_failover_last_epoch %llu\n",
            rb->planned ? "switchover" : "failover",
            rb->to_region != NULL ? rb->to_region : "",
            (double)rb->rto_ms / 1000.0,
            rb->planned ? "switchover" : "failover",
            rb->to_region != NULL ? rb->to_region : "",
            (double)rb->rpo_ms / 1000.0, (unsigned long long)rb->epoch);
    }
    if (fo == NULL) {
        return;
    }
    if (fo->watch_n > 0) {
        put(o,
            "# HELP drnode_dns_matches_primary What this node last heard "
            "from each of dns.servers for dns.name points at the primary "
            "region's dns_targets (1), or not (0: elsewhere, nothing, no "
            "answer).\n"
            "# TYPE drnode_dns_matches_primary gauge\n");
        for (size_t i = 0; i < fo->watch_n; i++) {
            put(o, "drnode_dns_matches_primary{server=\"%s\"} %d\n",
                fo->watch_last[i].server,
                failover_dns_matches(fo, f, i, NULL, 0));
        }
    }
    put(o,
        "# HELP drnode_failover_webhooks_total Failover events this node "
        "delivered to webhooks (2xx), or gave up on after its tries.\n"
        "# TYPE drnode_failover_webhooks_total counter\n"
        "drnode_failover_webhooks_total{result=\"delivered\"} %llu\n"
        "drnode_failover_webhooks_total{result=\"failed\"} %llu\n",
        (unsigned long long)fo->webhooks_delivered,
        (unsigned long long)fo->webhooks_failed);
    if (!raftnode_is_leader(a->node)) {
        return;
    }
    put(o,
        "# HELP drnode_primary_region_lost The leader finds the primary "
        "region lost and no failover moving (manual mode, or no region can "
        "take over).\n# TYPE drnode_primary_region_lost gauge\n"
        "drnode_primary_region_lost{region=\"%s\"} %d\n",
        f->site.primary_region != NULL ? f->site.primary_region : "",
        fo->primary_lost);
}

/* Cross-region replication per destination region. */
static void metrics_replication(struct out *o, const struct fsm *f)
{
    uint64_t now = raftnode_wall_ms();
    size_t n_unsafe = 0;
    uint64_t oldest = api_oldest_unsafe_ms(f, now, &n_unsafe);
    static const struct
    {
        const char *name, *type, *help;
    } fams[] = {
        {"drnode_replication_lag_seconds", "gauge",
         "How long ago the oldest logical backup or snapshot this region "
         "lacks was taken (0: it holds the newest; base backups not "
         "counted)."},
        {"drnode_replication_bytes_total", "counter",
         "Bytes of the verified copies made into this region."},
        {"drnode_replication_objects_total", "counter",
         "Objects of the verified copies made into this region."},
        {"drnode_replication_failures_total", "counter",
         "Failed copy attempts and verifications of copies in this region."},
        {"drnode_replication_jobs", "gauge",
         "Replicate jobs into this region by state."},
    };
    struct api_repl_stats st[FSM_REGIONS_MAX];
    size_t n = f->n_regions < FSM_REGIONS_MAX ? f->n_regions : FSM_REGIONS_MAX;

    for (size_t i = 0; i < n; i++) {
        api_replication_stats(f, &f->regions[i], now, &st[i]);
    }
    for (size_t k = 0; k < sizeof(fams) / sizeof(fams[0]); k++) {
        put(o, "# HELP %s %s\n# TYPE %s %s\n", fams[k].name, fams[k].help,
            fams[k].name, fams[k].type);
        for (size_t i = 0; i < n; i++) {
            const char *r = f->regions[i].name;
            if (!st[i].receives && k < 4 && st[i].verified == 0) {
                continue; /* not a destination */
            }
            switch (k) {
                case 0:
                    put(o, "%s{region=\"%s\"} %.3f\n", fams[k].name, r,
                        st[i].lag_max_ms / 1000.0);
                    break;
                case 1:
                    put(o, "%s{region=\"%s\"} %llu\n", fams[k].name, r,
                        (unsigned long long)st[i].bytes);
                    break;
                case 2:
                    put(o, "%s{region=\"%s\"} %llu\n", fams[k].name, r,
                        (unsigned long long)st[i].objects);
                    break;
                case 3:
                    put(o, "%s{region=\"%s\"} %llu\n", fams[k].name, r,
                        (unsigned long long)st[i].failures);
                    break;
                default:
                    put(o,
                        "%s{region=\"%s\",state=\"pending\"} %zu\n"
                        "%s{region=\"%s\",state=\"running\"} %zu\n"
                        "%s{region=\"%s\",state=\"failed\"} %zu\n",
                        fams[k].name, r, st[i].pending, fams[k].name, r,
                        st[i].running, fams[k].name, r, st[i].jobs_failed);
                    break;
            }
        }
    }
    put(o,
        "# HELP drnode_backups_unsafe Complete backups with fewer verified "
        "copies than they need.\n# TYPE drnode_backups_unsafe gauge\n"
        "drnode_backups_unsafe %zu\n"
        "# HELP drnode_backup_unsafe_age_seconds Age of the oldest backup "
        "that is not safe yet (0: none).\n"
        "# TYPE drnode_backup_unsafe_age_seconds gauge\n"
        "drnode_backup_unsafe_age_seconds %.3f\n",
        n_unsafe, oldest / 1000.0);
}

/* The WAL catalog: how old each region's archive is at its end, by its
 * last scan (a region whose copies of the WAL stopped arriving ages). */
static void metrics_wal_catalog(struct out *o, const struct fsm *f)
{
    uint64_t now = raftnode_wall_ms();

    if (f->n_wal_archives == 0) {
        return;
    }
    put(o,
        "# HELP drnode_wal_archive_age_seconds How long before now the "
        "newest WAL file of the region's archive was stored, at the last "
        "scan (drctl wal catalog).\n"
        "# TYPE drnode_wal_archive_age_seconds gauge\n");
    for (size_t i = 0; i < f->n_wal_archives; i++) {
        const struct fsm_wal_archive *w = &f->wal_archives[i];
        if (w->newest_ms != 0) {
            put(o, "drnode_wal_archive_age_seconds{region=\"%s\"} %.3f\n",
                w->region,
                now > w->newest_ms ? (now - w->newest_ms) / 1000.0 : 0.0);
        }
    }
    put(o,
        "# HELP drnode_wal_replication_lag_bytes WAL of the primary region's "
        "newest timeline that this region's archive lacks, at the last scans "
        "(0: it holds all of it).\n"
        "# TYPE drnode_wal_replication_lag_bytes gauge\n");
    for (size_t i = 0; i < f->n_wal_archives; i++) {
        uint64_t lag;
        if (fsm_wal_lag_bytes(f, f->wal_archives[i].region, &lag)) {
            put(o, "drnode_wal_replication_lag_bytes{region=\"%s\"} %llu\n",
                f->wal_archives[i].region, (unsigned long long)lag);
        }
    }
    put(o,
        "# HELP drnode_wal_archive_gaps Runs of WAL segments missing "
        "between the ranges of the region's archive, at the last scan.\n"
        "# TYPE drnode_wal_archive_gaps gauge\n");
    for (size_t i = 0; i < f->n_wal_archives; i++) {
        put(o, "drnode_wal_archive_gaps{region=\"%s\"} %llu\n",
            f->wal_archives[i].region,
            (unsigned long long)f->wal_archives[i].gaps);
    }
}

/* Backups against their RPO, and jobs by state. */
static void metrics_backups(struct out *o, const struct fsm *f)
{
    /* (A base backup's RPO is the WAL archive's: none of its own.) */
    static const char *const rpo_keys[FSM_BACKUP_KINDS] = {"rpo.pg_s",
                                                           "rpo.redis_s", NULL};
    uint64_t now = raftnode_wall_ms();
    size_t by_state[4] = {0};

    /* The newest backup of each region and kind, found once: age and RPO
     * are exported for the same label sets. */
    const struct fsm_backup *latest[FSM_REGIONS_MAX][FSM_BACKUP_KINDS];

    for (size_t i = 0; i < f->n_regions && i < FSM_REGIONS_MAX; i++) {
        for (int k = 0; k < FSM_BACKUP_KINDS; k++) {
            latest[i][k] = fsm_backup_latest(f, k, f->regions[i].name);
        }
    }
    put(o,
        "# HELP drnode_backup_age_seconds Age of the newest complete "
        "backup's data.\n# TYPE drnode_backup_age_seconds gauge\n");
    for (size_t i = 0; i < f->n_regions && i < FSM_REGIONS_MAX; i++) {
        for (int k = 0; k < FSM_BACKUP_KINDS; k++) {
            const struct fsm_backup *b = latest[i][k];
            if (b != NULL) {
                put(o,
                    "drnode_backup_age_seconds{region=\"%s\",kind=\"%s\"}"
                    " %.3f\n",
                    f->regions[i].name, fsm_backup_kind_name(k),
                    now > b->snapshot_ms ? (now - b->snapshot_ms) / 1000.0
                                         : 0.0);
            }
        }
    }
    put(o,
        "# HELP drnode_backup_rpo_seconds Recovery point objective "
        "(rpo.* settings).\n# TYPE drnode_backup_rpo_seconds gauge\n");
    for (size_t i = 0; i < f->n_regions && i < FSM_REGIONS_MAX; i++) {
        for (int k = 0; k < FSM_BACKUP_KINDS; k++) {
            if (latest[i][k] != NULL && rpo_keys[k] != NULL) {
                put(o,
                    "drnode_backup_rpo_seconds{region=\"%s\",kind=\"%s\"}"
                    " %lld\n",
                    f->regions[i].name, fsm_backup_kind_name(k),
                    (long long)fsm_setting_int(f, rpo_keys[k]));
            }
        }
    }
    for (size_t i = 0; i < f->n_jobs; i++) {
        if (f->jobs[i].state >= 0 && f->jobs[i].state < 4) {
            by_state[f->jobs[i].state]++;
        }
    }
    put(o,
        "# HELP drnode_jobs Jobs in the replicated table by state.\n"
        "# TYPE drnode_jobs gauge\n");
    for (int st = 0; st < 4; st++) {
        put(o, "drnode_jobs{state=\"%s\"} %zu\n", fsm_job_state_name(st),
            by_state[st]);
    }
}

/* Per drill kind: the newest drill's verdict and the newest passed one's
 * figures. */
static void metrics_drills(struct out *o, const struct fsm *f)
{
    const struct fsm_drill *last[FSM_DRILL_KINDS] = {NULL};
    const struct fsm_drill *passed[FSM_DRILL_KINDS] = {NULL};
    int running[FSM_DRILL_KINDS] = {0};

    for (size_t i = 0; i < f->n_drills; i++) {
        const struct fsm_drill *d = &f->drills[i];
        if (d->kind < 0 || d->kind >= FSM_DRILL_KINDS) {
            continue;
        }
        if (d->state == FSM_DRILL_RUNNING || d->state == FSM_DRILL_DNS) {
            running[d->kind] = 1;
        } else {
            last[d->kind] = d;
        }
        if (d->state == FSM_DRILL_PASSED) {
            passed[d->kind] = d;
        }
    }
    put(o,
        "# HELP drnode_drills_running Drills in progress.\n"
        "# TYPE drnode_drills_running gauge\n");
    for (int k = 0; k < FSM_DRILL_KINDS; k++) {
        put(o, "drnode_drills_running{kind=\"%s\"} %d\n",
            fsm_drill_kind_name(k), running[k]);
    }
    put(o,
        "# HELP drnode_drill_last_ok 1 when the newest finished drill "
        "passed, 0 when it failed.\n"
        "# TYPE drnode_drill_last_ok gauge\n");
    for (int k = 0; k < FSM_DRILL_KINDS; k++) {
        if (last[k] != NULL) {
            put(o, "drnode_drill_last_ok{kind=\"%s\"} %d\n",
                fsm_drill_kind_name(k), last[k]->state == FSM_DRILL_PASSED);
        }
    }
    put(o,
        "# HELP drnode_drill_last_success_timestamp_seconds When the "
        "newest passed drill started.\n"
        "# TYPE drnode_drill_last_success_timestamp_seconds gauge\n");
    for (int k = 0; k < FSM_DRILL_KINDS; k++) {
        if (passed[k] != NULL) {
            put(o,
                "drnode_drill_last_success_timestamp_seconds{kind=\"%s\"} "
                "%.3f\n",
                fsm_drill_kind_name(k), passed[k]->started_ms / 1000.0);
        }
    }
    put(o,
        "# HELP drnode_drill_rto_seconds The newest passed drill's RTO: "
        "restore and verification (a failover drill: from its start to "
        "the practice DNS name answering).\n"
        "# TYPE drnode_drill_rto_seconds gauge\n");
    for (int k = 0; k < FSM_DRILL_KINDS; k++) {
        if (passed[k] != NULL) {
            put(o, "drnode_drill_rto_seconds{kind=\"%s\"} %.3f\n",
                fsm_drill_kind_name(k), passed[k]->rto_ms / 1000.0);
        }
    }
    put(o,
        "# HELP drnode_drill_rpo_seconds Age of the drilled backups' "
        "data when the newest passed drill started.\n"
        "# TYPE drnode_drill_rpo_seconds gauge\n");
    for (int k = 0; k < FSM_DRILL_KINDS; k++) {
        const struct fsm_drill *p = passed[k];
        if (p != NULL && p->pg_backup[0] != '\0') {
            put(o,
                "drnode_drill_rpo_seconds{kind=\"%s\","
                "backup=\"pg_logical\"} %.3f\n",
                fsm_drill_kind_name(k), p->pg_rpo_ms / 1000.0);
        }
        if (p != NULL && p->redis_backup[0] != '\0') {
            put(o,
                "drnode_drill_rpo_seconds{kind=\"%s\","
                "backup=\"redis_snapshot\"} %.3f\n",
                fsm_drill_kind_name(k), p->redis_rpo_ms / 1000.0);
        }
        if (p != NULL && p->pg_base_backup[0] != '\0') {
            put(o,
                "drnode_drill_rpo_seconds{kind=\"%s\","
                "backup=\"pg_base\"} %.3f\n",
                fsm_drill_kind_name(k), p->pg_base_rpo_ms / 1000.0);
        }
    }
}

/* Leader only: how long since it heard from each member, and how far
 * behind each is. */
static void metrics_members(struct out *o, struct api *a)
{
    struct raftnode *n = a->node;
    const struct fsm *f = raftnode_state(n);

    put(o,
        "# HELP drnode_raft_has_leader 1 when this node knows a "
        "leader.\n# TYPE drnode_raft_has_leader gauge\n"
        "drnode_raft_has_leader %d\n",
        raftnode_leader(n) != 0);
    if (!raftnode_is_leader(n)) {
        return;
    }
    put(o,
        "# HELP drnode_member_last_contact_seconds Seconds since the "
        "leader last heard from the member.\n"
        "# TYPE drnode_member_last_contact_seconds gauge\n");
    for (size_t i = 0; i < f->n_members; i++) {
        int64_t ms = raftnode_contact_ms(n, f->members[i].id);
        if (ms >= 0) {
            put(o,
                "drnode_member_last_contact_seconds{member=\"%llu\","
                "region=\"%s\"} %.3f\n",
                (unsigned long long)f->members[i].id, f->members[i].region,
                ms / 1000.0);
        }
    }
    if (a->health == NULL) {
        return;
    }
    put(o,
        "# HELP drnode_raft_replication_lag_entries Entries a member's "
        "applied index is behind the leader's commit index, as of its "
        "last probe report.\n"
        "# TYPE drnode_raft_replication_lag_entries gauge\n");
    for (size_t i = 0; i < f->n_members; i++) {
        int64_t lag = health_member_lag(a->health, f->members[i].id);
        if (lag >= 0) {
            put(o,
                "drnode_raft_replication_lag_entries{member=\"%llu\","
                "region=\"%s\"} %lld\n",
                (unsigned long long)f->members[i].id, f->members[i].region,
                (long long)lag);
        }
    }
}

void api_metrics(struct api_call *c)
{
    struct api *a = c->api;
    struct raftnode *n = a->node;
    struct out o = {NULL, 0, 0};
    unsigned voters = 0;
    uint64_t cum = 0;

    for (unsigned i = 0; i < n->raft.configuration.n; i++) {
        voters += n->raft.configuration.servers[i].role == RAFT_VOTER;
    }
    put(&o,
        "# HELP drnode_raft_term Current raft term.\n"
        "# TYPE drnode_raft_term gauge\ndrnode_raft_term %llu\n",
        (unsigned long long)n->raft.current_term);
    put(&o,
        "# HELP drnode_raft_commit_index Highest committed index.\n"
        "# TYPE drnode_raft_commit_index gauge\n"
        "drnode_raft_commit_index %llu\n",
        (unsigned long long)n->raft.commit_index);
    put(&o,
        "# HELP drnode_raft_applied_index Highest applied index.\n"
        "# TYPE drnode_raft_applied_index gauge\n"
        "drnode_raft_applied_index %llu\n",
        (unsigned long long)raft_last_applied(&n->raft));
    put(&o,
        "# HELP drnode_raft_is_leader 1 when this node leads.\n"
        "# TYPE drnode_raft_is_leader gauge\ndrnode_raft_is_leader %d\n",
        raftnode_is_leader(n) ? 1 : 0);
    put(&o,
        "# HELP drnode_raft_members Servers in the raft configuration.\n"
        "# TYPE drnode_raft_members gauge\n"
        "drnode_raft_members{role=\"all\"} %u\n"
        "drnode_raft_members{role=\"voter\"} %u\n",
        n->raft.configuration.n, voters);
    put(&o,
        "# HELP drnode_site_epoch Fencing epoch of the primary site.\n"
        "# TYPE drnode_site_epoch gauge\ndrnode_site_epoch %llu\n",
        (unsigned long long)raftnode_state(n)->site.epoch);
    put(&o,
        "# HELP drnode_apply_latency_seconds Time from proposal to "
        "apply on the leader.\n"
        "# TYPE drnode_apply_latency_seconds histogram\n");
    for (int i = 0; i < RAFTNODE_LAT_BUCKETS; i++) {
        cum += n->lat_buckets[i];
        if (i == RAFTNODE_LAT_BUCKETS - 1) {
            put(&o, "drnode_apply_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long)cum);
        } else {
            put(&o, "drnode_apply_latency_seconds_bucket{le=\"%g\"} %llu\n",
                raftnode_lat_bounds[i] / 1000.0, (unsigned long long)cum);
        }
    }
    put(&o,
        "drnode_apply_latency_seconds_sum %.6f\n"
        "drnode_apply_latency_seconds_count %llu\n",
        n->lat_sum_ms / 1000.0, (unsigned long long)n->lat_count);
    put(&o,
        "# HELP drnode_raft_batches_total Log entries proposed.\n"
        "# TYPE drnode_raft_batches_total counter\n"
        "drnode_raft_batches_total %llu\n"
        "# HELP drnode_raft_commands_total Commands proposed.\n"
        "# TYPE drnode_raft_commands_total counter\n"
        "drnode_raft_commands_total %llu\n",
        (unsigned long long)n->n_batches, (unsigned long long)n->n_commands);
    put(&o,
        "# HELP drnode_http_requests_total HTTP requests by route.\n"
        "# TYPE drnode_http_requests_total counter\n");
    for (int i = 0; i < ROUTE__COUNT; i++) {
        put(&o, "drnode_http_requests_total{route=\"%s\"} %llu\n",
            route_names[i], (unsigned long long)a->requests[i]);
    }
    put(&o,
        "# HELP drnode_http_errors_total HTTP answers of 4xx/5xx by "
        "route.\n# TYPE drnode_http_errors_total counter\n");
    for (int i = 0; i < ROUTE__COUNT; i++) {
        put(&o, "drnode_http_errors_total{route=\"%s\"} %llu\n", route_names[i],
            (unsigned long long)a->errors[i]);
    }
    put(&o,
        "# HELP drnode_http_connections Client connections open on the API "
        "port.\n# TYPE drnode_http_connections gauge\n"
        "drnode_http_connections %llu\n"
        "# HELP drnode_http_connections_refused_total Connections closed at "
        "once because [api] max_connections were open.\n"
        "# TYPE drnode_http_connections_refused_total counter\n"
        "drnode_http_connections_refused_total %llu\n",
        (unsigned long long)a->conns, (unsigned long long)a->conns_refused);
    if (a->node->tls_ctx != NULL) {
        put(&o,
            "# HELP drnode_raft_tls_refused_total Raft connections whose "
            "TLS handshake failed or whose peer's certificate did not name "
            "the member it claimed ([tls]).\n"
            "# TYPE drnode_raft_tls_refused_total counter\n"
            "drnode_raft_tls_refused_total %llu\n",
            (unsigned long long)a->node->tunnels.refused);
    }
    if (a->cert_not_after != 0 || a->ca_not_after != 0) {
        put(&o,
            "# HELP drnode_tls_cert_expiry_timestamp_seconds When this "
            "node's TLS certificate ([tls] cert) and CA ([tls] ca) "
            "expire, as loaded at start or the last SIGHUP.\n"
            "# TYPE drnode_tls_cert_expiry_timestamp_seconds gauge\n");
        if (a->cert_not_after != 0) {
            put(&o,
                "drnode_tls_cert_expiry_timestamp_seconds{file=\"cert\"} "
                "%lld\n",
                (long long)a->cert_not_after);
        }
        if (a->ca_not_after != 0) {
            put(&o,
                "drnode_tls_cert_expiry_timestamp_seconds{file=\"ca\"} "
                "%lld\n",
                (long long)a->ca_not_after);
        }
    }
    if (a->agent != NULL) {
        put(&o,
            "# HELP drnode_jobs_run_total Jobs this node's worker "
            "finished.\n# TYPE drnode_jobs_run_total counter\n"
            "drnode_jobs_run_total %llu\n"
            "# HELP drnode_jobs_failed_total Job attempts that failed on "
            "this node.\n# TYPE drnode_jobs_failed_total counter\n"
            "drnode_jobs_failed_total %llu\n"
            "# HELP drnode_job_leases_lost_total Job leases this node "
            "lost while working.\n"
            "# TYPE drnode_job_leases_lost_total counter\n"
            "drnode_job_leases_lost_total %llu\n",
            (unsigned long long)a->agent->jobs_run,
            (unsigned long long)a->agent->jobs_failed,
            (unsigned long long)a->agent->leases_lost);
    }
    metrics_members(&o, a);
    metrics_health(&o, a);
    metrics_breakers(&o, raftnode_state(n));
    metrics_backups(&o, raftnode_state(n));
    metrics_replication(&o, raftnode_state(n));
    metrics_wal_catalog(&o, raftnode_state(n));
    metrics_failover(&o, a);
    metrics_drills(&o, raftnode_state(n));
    if (o.buf == NULL) {
        api_reply_error(c, 500, "internal", "out of memory");
        return;
    }
    api_reply_text(c, 200, "text/plain; version=0.0.4", o.buf, o.len);
    free(o.buf);
}
