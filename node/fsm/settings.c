/* The table of typed cluster settings and their validation. */
#include <stdio.h>
#include <string.h>

#include "fsm/settings.h"

/* "automatic" is the older spelling of "auto", still accepted. */
static const char *const failover_modes[] = {"auto", "manual", "automatic",
                                             NULL};
static const char *const on_degraded[] = {"alert", "failover", NULL};
static const char *const dns_providers[] = {"pdns", "rfc2136", "route53", NULL};
static const char *const providers[] = {"ollama", "openai", "anthropic", NULL};
static const char *const redis_methods[] = {"auto", "rdb", "scan", NULL};

/* Keep sorted by key: the API lists them in this order. */
static const struct fsm_setting_desc table[] = {
    {"backup.pg_interval_s", FSM_SETTING_INT, 0, 604800, 300, false, NULL, NULL,
     false,
     "seconds between PostgreSQL backups (0: not scheduled); at most rpo.pg_s, "
     "or the newest backup outgrows the RPO"},
    {"backup.pg_base_interval_s", FSM_SETTING_INT, 0, 2592000, 0, false, NULL,
     NULL, false,
     "seconds between physical base backups of PostgreSQL for point-in-time "
     "restore with the WAL archive (0: not scheduled)"},
    {"backup.redis_interval_s", FSM_SETTING_INT, 0, 86400, 60, false, NULL,
     NULL, false, "seconds between Redis snapshots (0: not scheduled)"},
    {"backup.retention_daily", FSM_SETTING_INT, 1, 3650, 7, false, NULL, NULL,
     false, "daily backups kept per region"},
    {"backup.retention_recent_h", FSM_SETTING_INT, 0, 8760, 24, false, NULL,
     NULL, false, "hours within which every backup is kept"},
    {"breaker.failure_threshold", FSM_SETTING_INT, 1, 1000, 5, false, NULL,
     NULL, false, "consecutive failures that open a circuit breaker"},
    {"breaker.half_open_max", FSM_SETTING_INT, 1, 100, 3, false, NULL, NULL,
     false, "trial requests allowed while half-open"},
    {"breaker.reset_timeout_ms", FSM_SETTING_INT, 1000, 3600000, 30000, false,
     NULL, NULL, false, "milliseconds an open breaker waits before half-open"},
    {"dns.api_url", FSM_SETTING_STRING, 0, 0, 0, false, "", NULL, false,
     "PowerDNS API of the failover's DNS step, http://HOST:PORT (\"\": no "
     "DNS step)"},
    {"dns.name", FSM_SETTING_STRING, 0, 0, 0, false, "", NULL, false,
     "the service name the failover points at the new primary's dns_targets"},
    {"dns.provider", FSM_SETTING_STRING, 0, 0, 0, false, "pdns", dns_providers,
     false,
     "how DNS is updated: pdns (PowerDNS HTTP API at dns.api_url), "
     "rfc2136 (a TSIG-signed dynamic update to dns.update_server) or "
     "route53 (the hosted zone dns.zone_id; dns.api_url: another "
     "endpoint)"},
    {"dns.server_id", FSM_SETTING_STRING, 0, 0, 0, false, "localhost", NULL,
     false, "PowerDNS server id in the API's URLs"},
    {"dns.servers", FSM_SETTING_STRING, 0, 0, 0, false, "", NULL, false,
     "authoritative servers (IPv4 host:port, comma-separated) asked until "
     "they answer with the new targets"},
    {"dns.ttl", FSM_SETTING_INT, 1, 86400, 30, false, NULL, NULL, false,
     "TTL of the records the failover writes"},
    {"dns.update_server", FSM_SETTING_STRING, 0, 0, 0, false, "", NULL, false,
     "rfc2136: IPv4 host:port of the zone's primary server that takes "
     "dynamic updates"},
    {"dns.zone_id", FSM_SETTING_STRING, 0, 0, 0, false, "", NULL, false,
     "route53: the hosted zone's id (like Z0123456789ABC)"},
    {"dns.zone", FSM_SETTING_STRING, 0, 0, 0, false, "", NULL, false,
     "the zone holding dns.name"},
    {"drill.failover_interval_h", FSM_SETTING_INT, 0, 8760, 720, false, NULL,
     NULL, false,
     "hours between scheduled failover drills (0: none; they also need "
     "failover.practice_name and dns.api_url)"},
    {"drill.region", FSM_SETTING_STRING, 0, 0, 0, false, "", NULL, false,
     "region scheduled restore drills run in (\"\": the DR region, the "
     "highest-priority one that is not primary)"},
    {"drill.restore_interval_h", FSM_SETTING_INT, 0, 8760, 168, false, NULL,
     NULL, false, "hours between scheduled restore drills (0: none)"},
    {"failover.detection_window_ms", FSM_SETTING_INT, 1000, 3600000, 10000,
     false, NULL, NULL, false,
     "milliseconds a region must look dead before it is declared lost"},
    {"failover.max_standby_lag_s", FSM_SETTING_INT, 0, 86400, 300, false, NULL,
     NULL, false,
     "a DR region's standby ([services] pg_standby) is promoted instead of "
     "restoring the PostgreSQL backup when it is at most this many seconds "
     "behind, or has replayed past the backup"},
    {"failover.mode", FSM_SETTING_STRING, 0, 0, 0, false, "auto",
     failover_modes, false,
     "auto: the leader fails over when the primary region is lost; manual: "
     "it alerts and waits for drctl failover"},
    {"failover.notify_urls", FSM_SETTING_STRING, 0, 0, 0, false, "", NULL,
     false,
     "webhooks (comma-separated http:// URLs) POSTed a JSON event when a "
     "failover publishes its DNS"},
    {"failover.on_degraded", FSM_SETTING_STRING, 0, 0, 0, false, "alert",
     on_degraded, false,
     "primary region with its coordinators alive but PostgreSQL or Redis "
     "down for the detection window: alert only, or fail over (auto mode)"},
    {"failover.practice_name", FSM_SETTING_STRING, 0, 0, 0, false, "", NULL,
     false,
     "the name a failover drill publishes the DR region's targets under "
     "(in dns.zone, never dns.name; \"\": no failover drills)"},
    {"fence.timeout_ms", FSM_SETTING_INT, 1000, 600000, 5000, false, NULL, NULL,
     false, "milliseconds without a leader before a node fences itself"},
    {"history.max_entries", FSM_SETTING_INT, 16, 100000, 1000, false, NULL,
     NULL, false, "audit history entries kept"},
    {"jobs.lease_ms", FSM_SETTING_INT, 3000, 3600000, 30000, false, NULL, NULL,
     false, "milliseconds a job worker's lease lasts without a renewal"},
    {"jobs.max_attempts", FSM_SETTING_INT, 1, 100, 3, false, NULL, NULL, false,
     "attempts a job gets before it is marked failed"},
    {"llm.fallback_chain", FSM_SETTING_STRING, 0, 0, 0, false,
     "ollama,openai,anthropic", providers, true,
     "LLM providers in fallback order, comma-separated"},
    {"queue_mode", FSM_SETTING_BOOL, 0, 0, 0, false, NULL, NULL, false,
     "buffer LLM requests while every provider is down"},
    {"redis.method", FSM_SETTING_STRING, 0, 0, 0, false, "auto", redis_methods,
     false,
     "how Redis snapshots are taken: rdb (the server's RDB through the "
     "replication handshake, one point in time), scan (SCAN + DUMP key by "
     "key, for servers that refuse SYNC) or auto (rdb, else scan)"},
    {"replication.bandwidth_bps", FSM_SETTING_INT, 0, 1099511627776LL, 0, false,
     NULL, NULL, false,
     "bytes per second the copies into one region may use together (0: no "
     "limit)"},
    {"replication.max_concurrent", FSM_SETTING_INT, 1, 64, 2, false, NULL, NULL,
     false, "replicate jobs running at once per destination region"},
    {"replication.min_copies", FSM_SETTING_INT, 0, 64, 0, false, NULL, NULL,
     false,
     "verified copies that make a backup safe (0: one in every region "
     "that receives it)"},
    {"replication.retry_s", FSM_SETTING_INT, 1, 86400, 60, false, NULL, NULL,
     false, "seconds before a failed copy is started again"},
    {"replication.targets", FSM_SETTING_STRING, 0, 0, 0, false, "", NULL, false,
     "regions that receive copies: \"\" (every region with an object "
     "store), \"none\", or REGION[:KIND[+KIND]],... (KIND pg or redis)"},
    {"rpo.pg_s", FSM_SETTING_INT, 0, 86400, 300, false, NULL, NULL, false,
     "PostgreSQL recovery point objective in seconds"},
    {"rpo.redis_s", FSM_SETTING_INT, 0, 86400, 60, false, NULL, NULL, false,
     "Redis recovery point objective in seconds"},
    {"wal.flush_ms", FSM_SETTING_INT, 100, 60000, 1000, false, NULL, NULL,
     false,
     "milliseconds at most between the WAL stream's flushes of the segment "
     "in progress into the store (wal.stream)"},
    {"wal.pitr_window_h", FSM_SETTING_INT, 0, 87600, 0, false, NULL, NULL,
     false,
     "hours back to which a point-in-time restore stays possible: the base "
     "backups covering them (and so their WAL) are kept whatever retention "
     "says (0: retention alone decides)"},
    {"wal.stream", FSM_SETTING_BOOL, 0, 0, 0, false, NULL, NULL, false,
     "stream PostgreSQL's WAL into the store from a replication slot, by one "
     "node of the primary region with [services] pg (an RPO of about "
     "wal.flush_ms)"},
    {"wal.stream_lease_ms", FSM_SETTING_INT, 3000, 600000, 6000, false, NULL,
     NULL, false,
     "milliseconds the WAL stream's lease lasts without a renewal: when its "
     "node dies, another node of the region streams again after about this "
     "long (jobs.lease_ms is for the other jobs)"},
    {"wal.scan_interval_s", FSM_SETTING_INT, 0, 86400, 900, false, NULL, NULL,
     false,
     "seconds between two reads of each region's WAL archive (its object "
     "names) into the catalog's WAL ranges (drctl wal catalog); 0: never"},
};

size_t fsm_settings_count(void)
{
    return sizeof(table) / sizeof(table[0]);
}

const struct fsm_setting_desc *fsm_settings_table(void)
{
    return table;
}

int fsm_setting_index(const char *key)
{
    size_t n = fsm_settings_count();
    if (key == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(table[i].key, key) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const char *fsm_setting_type_name(int type)
{
    switch (type) {
        case FSM_SETTING_INT:
            return "int";
        case FSM_SETTING_BOOL:
            return "bool";
        case FSM_SETTING_STRING:
            return "string";
    }
    return "unknown";
}

/* "an int", "a bool", "a string": for messages. */
static const char *type_phrase(int type)
{
    switch (type) {
        case FSM_SETTING_INT:
            return "an int";
        case FSM_SETTING_BOOL:
            return "a bool";
        case FSM_SETTING_STRING:
            return "a string";
    }
    return "an unknown type";
}

static int in_choices(const struct fsm_setting_desc *d,
                      const char *s,
                      size_t len)
{
    for (const char *const *c = d->choices; *c != NULL; c++) {
        if (strlen(*c) == len && strncmp(*c, s, len) == 0) {
            return 1;
        }
    }
    return 0;
}

static int check_list(const struct fsm_setting_desc *d,
                      const char *s,
                      char *errmsg)
{
    const char *seen[16];
    size_t n_seen = 0;
    size_t seen_len[16];
    const char *p = s;

    for (;;) {
        size_t len = strcspn(p, ",");
        if (len == 0) {
            snprintf(errmsg, 256, "setting %s: empty item in \"%.64s\"", d->key,
                     s);
            return DR_EINVAL;
        }
        if (!in_choices(d, p, len)) {
            snprintf(errmsg, 256, "setting %s: unknown item \"%.*s\"", d->key,
                     (int)(len > 64 ? 64 : len), p);
            return DR_EINVAL;
        }
        for (size_t i = 0; i < n_seen; i++) {
            if (seen_len[i] == len && strncmp(seen[i], p, len) == 0) {
                snprintf(errmsg, 256, "setting %s: \"%.*s\" appears twice",
                         d->key, (int)len, p);
                return DR_EINVAL;
            }
        }
        if (n_seen < 16) {
            seen[n_seen] = p;
            seen_len[n_seen++] = len;
        }
        if (p[len] == '\0') {
            return DR_OK;
        }
        p += len + 1;
    }
}

int fsm_setting_check(const char *key, const struct fsm_value *v, char *errmsg)
{
    int i = fsm_setting_index(key);
    const struct fsm_setting_desc *d;

    if (i < 0) {
        snprintf(errmsg, 256, "unknown setting \"%.64s\"", key ? key : "");
        return DR_ENOTFOUND;
    }
    d = &table[i];
    if (v->type != d->type) {
        snprintf(errmsg, 256, "setting %s takes %s, not %s", d->key,
                 type_phrase(d->type), type_phrase(v->type));
        return DR_EINVAL;
    }
    switch (d->type) {
        case FSM_SETTING_INT:
            if (v->i < d->min || v->i > d->max) {
                snprintf(errmsg, 256, "setting %s: %lld is outside %lld..%lld",
                         d->key, (long long)v->i, (long long)d->min,
                         (long long)d->max);
                return DR_EINVAL;
            }
            break;
        case FSM_SETTING_STRING:
            if (v->s == NULL || strlen(v->s) > FSM_TEXT_MAX) {
                snprintf(errmsg, 256, "setting %s: value missing or too long",
                         d->key);
                return DR_EINVAL;
            }
            if (strcmp(d->key, "replication.targets") == 0) {
                return fsm__targets_check(v->s, errmsg);
            }
            if (d->choices != NULL && d->is_list) {
                return check_list(d, v->s, errmsg);
            }
            if (d->choices != NULL && !in_choices(d, v->s, strlen(v->s))) {
                char list[128] = "";
                size_t n = 0;
                for (size_t k = 0; d->choices[k] != NULL && n < sizeof(list);
                     k++) {
                    n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
                                          k > 0 ? ", " : "", d->choices[k]);
                }
                snprintf(errmsg, 256,
                         "setting %s: \"%.64s\" is not one of the allowed "
                         "values (%.120s)",
                         d->key, v->s, list);
                return DR_EINVAL;
            }
            break;
        default:
            break;
    }
    return DR_OK;
}

void fsm_setting_default(int i, struct fsm_value *v)
{
    const struct fsm_setting_desc *d = &table[i];
    v->type = d->type;
    v->i = d->def_int;
    v->b = d->def_bool;
    v->s = (char *)d->def_string; /* caller copies */
}

uint32_t fsm_setting_version(const char *key)
{
    /* The drill.* settings came with entry version 2, replication.* with
     * 3, failover.on_degraded with 4, failover drills' with 5. */
    if (strcmp(key, "failover.practice_name") == 0 ||
        strcmp(key, "drill.failover_interval_h") == 0 ||
        strcmp(key, "dns.provider") == 0 ||
        strcmp(key, "dns.update_server") == 0 ||
        strcmp(key, "dns.zone_id") == 0 || strcmp(key, "redis.method") == 0 ||
        strcmp(key, "backup.pg_base_interval_s") == 0 ||
        strcmp(key, "wal.pitr_window_h") == 0 ||
        strcmp(key, "wal.stream") == 0 || strcmp(key, "wal.flush_ms") == 0 ||
        strcmp(key, "wal.stream_lease_ms") == 0 ||
        strcmp(key, "wal.scan_interval_s") == 0 ||
        strcmp(key, "failover.max_standby_lag_s") == 0) {
        return 5;
    }
    if (strcmp(key, "failover.on_degraded") == 0) {
        return 4;
    }
    if (strncmp(key, "replication.", 12) == 0 || strncmp(key, "dns.", 4) == 0 ||
        strcmp(key, "failover.notify_urls") == 0) {
        return 3;
    }
    return strncmp(key, "drill.", 6) == 0 ? 2 : 1;
}
