/* Cross-region replication, per destination region:
 *
 *   GET /api/replication    the policy, and per region whether it receives
 *                           copies (and why not), replicate jobs pending /
 *                           running / failed, copies, bytes and objects
 *                           copied, throughput, failures, and lag per kind
 *                           (fsm_replication_lag_ms); then the backups
 *                           that are not safe yet.
 * The same figures feed /metrics (api_replication_stats). */
#include <stdio.h>
#include <string.h>

#include "api/internal.h"

void api_replication_stats(const struct fsm *f,
                           const struct fsm_region *r,
                           uint64_t now,
                           struct api_repl_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->why_not = NULL;
    for (int k = 0; k < FSM_BACKUP_KINDS; k++) {
        const char *why = NULL;
        if (fsm_region_receives(f, r, k, &why)) {
            st->receives = true;
        } else if (st->why_not == NULL) {
            st->why_not = why;
        }
        st->lag_ms[k] = fsm_replication_lag_ms(f, r->name, k, now);
        /* A base backup's copy is not what the RPO rests on (the newest
         * logical backup or snapshot is; with WAL, the archive): one that
         * takes an hour to copy must not page as replication lag. */
        if (k != FSM_BACKUP_PG_BASE && st->lag_ms[k] > st->lag_max_ms) {
            st->lag_max_ms = st->lag_ms[k];
        }
    }
    if (st->receives) {
        st->why_not = NULL;
    }
    for (size_t i = 0; i < f->n_jobs; i++) {
        const struct fsm_job *j = &f->jobs[i];
        if (j->kind != FSM_JOB_REPLICATE || strcmp(j->region, r->name) != 0) {
            continue;
        }
        st->pending += j->state == FSM_JOB_PENDING;
        st->running += j->state == FSM_JOB_RUNNING;
        st->jobs_failed += j->state == FSM_JOB_FAILED;
    }
    for (size_t i = 0; i < f->n_backups; i++) {
        const struct fsm_copy *c = fsm_copy_get(&f->backups[i], r->name);
        if (c == NULL) {
            continue;
        }
        st->verified += c->state == FSM_COPY_VERIFIED;
        st->copying += c->state == FSM_COPY_COPYING;
        st->failed += c->state == FSM_COPY_FAILED;
        st->failures += c->failures;
        if (c->source_region[0] != '\0') { /* copied, not taken here */
            st->bytes += c->bytes;
            st->objects += c->objects;
            st->copy_ms += c->copy_ms;
        }
    }
}

uint64_t api_oldest_unsafe_ms(const struct fsm *f, uint64_t now, size_t *n)
{
    uint64_t oldest = 0;

    *n = 0;
    for (size_t i = 0; i < f->n_backups; i++) {
        const struct fsm_backup *b = &f->backups[i];
        if (b->state != FSM_BACKUP_COMPLETE || fsm_backup_safe(f, b)) {
            continue;
        }
        (*n)++;
        if (now > b->created_ms && now - b->created_ms > oldest) {
            oldest = now - b->created_ms;
        }
    }
    return oldest;
}

static void do_replication(struct api_call *c)
{
    static const char *const keys[] = {
        "replication.targets", "replication.min_copies",
        "replication.max_concurrent", "replication.bandwidth_bps",
        "replication.retry_s"};
    const struct fsm *f = api_state(c);
    uint64_t now = raftnode_wall_ms();
    size_t n_unsafe = 0;
    uint64_t oldest = api_oldest_unsafe_ms(f, now, &n_unsafe);
    struct jout j;

    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "policy");
    jout_begin(&j, '{');
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const struct fsm_value *v = fsm_setting(f, keys[i]);
        jout_key(&j, keys[i] + strlen("replication."));
        if (v->type == FSM_SETTING_STRING) {
            jout_str(&j, v->s);
        } else {
            jout_int(&j, v->i);
        }
    }
    jout_end(&j, '}');
    jout_key(&j, "regions");
    jout_begin(&j, '[');
    for (size_t i = 0; i < f->n_regions; i++) {
        const struct fsm_region *r = &f->regions[i];
        struct api_repl_stats st;

        api_replication_stats(f, r, now, &st);
        jout_begin(&j, '{');
        jout_key(&j, "region");
        jout_str(&j, r->name);
        jout_key(&j, "store");
        jout_str(&j, r->object_store);
        jout_key(&j, "receives");
        jout_bool(&j, st.receives);
        jout_key(&j, "skipped");
        jout_str(&j, st.why_not);
        jout_key(&j, "jobs");
        jout_begin(&j, '{');
        jout_key(&j, "pending");
        jout_uint(&j, st.pending);
        jout_key(&j, "running");
        jout_uint(&j, st.running);
        jout_key(&j, "failed");
        jout_uint(&j, st.jobs_failed);
        jout_end(&j, '}');
        jout_key(&j, "copies");
        jout_begin(&j, '{');
        jout_key(&j, "verified");
        jout_uint(&j, st.verified);
        jout_key(&j, "copying");
        jout_uint(&j, st.copying);
        jout_key(&j, "failed");
        jout_uint(&j, st.failed);
        jout_end(&j, '}');
        jout_key(&j, "bytes_copied");
        jout_uint(&j, st.bytes);
        jout_key(&j, "objects_copied");
        jout_uint(&j, st.objects);
        jout_key(&j, "failures");
        jout_uint(&j, st.failures);
        jout_key(&j, "throughput_bps");
        jout_uint(&j, st.copy_ms > 0 ? st.bytes * 1000 / st.copy_ms : 0);
        jout_key(&j, "lag_s");
        jout_begin(&j, '{');
        for (int k = 0; k < FSM_BACKUP_KINDS; k++) {
            jout_key(&j, fsm_backup_kind_name(k));
            jout_num(&j, st.lag_ms[k] / 1000.0, 3);
        }
        jout_end(&j, '}');
        jout_key(&j, "lag_max_s");
        jout_num(&j, st.lag_max_ms / 1000.0, 3);
        jout_end(&j, '}');
    }
    jout_end(&j, ']');
    jout_key(&j, "unsafe_backups");
    jout_uint(&j, n_unsafe);
    jout_key(&j, "oldest_unsafe_s");
    jout_num(&j, oldest / 1000.0, 3);
    jout_end(&j, '}');
    api_reply_jout(c, 200, &j);
}

static const struct api_route_def routes[] = {
    {"GET", "/api/replication", NULL, ROUTE_REPLICATION, API_READ,
     API_ROLE_READER, 0, do_replication, NULL},
};

const struct api_route_table api_routes_replication = API_ROUTE_TABLE(routes);
