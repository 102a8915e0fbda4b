/* GET /metrics in the Prometheus text format. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

static const char *const route_names[ROUTE__COUNT] = {
    "status",   "health",    "metrics",  "regions", "region",
    "members",  "member",    "leader_transfer",     "settings",
    "setting",  "site",      "site_primary",        "history",
    "backups",  "backup",    "jobs",     "job",     "unknown",
};

struct out {
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
    put(&o, "# HELP drnode_raft_term Current raft term.\n"
            "# TYPE drnode_raft_term gauge\ndrnode_raft_term %llu\n",
        (unsigned long long)n->raft.current_term);
    put(&o, "# HELP drnode_raft_commit_index Highest committed index.\n"
            "# TYPE drnode_raft_commit_index gauge\n"
            "drnode_raft_commit_index %llu\n",
        (unsigned long long)n->raft.commit_index);
    put(&o, "# HELP drnode_raft_applied_index Highest applied index.\n"
            "# TYPE drnode_raft_applied_index gauge\n"
            "drnode_raft_applied_index %llu\n",
        (unsigned long long)raft_last_applied(&n->raft));
    put(&o, "# HELP drnode_raft_is_leader 1 when this node leads.\n"
            "# TYPE drnode_raft_is_leader gauge\ndrnode_raft_is_leader %d\n",
        raftnode_is_leader(n) ? 1 : 0);
    put(&o, "# HELP drnode_raft_members Servers in the raft configuration.\n"
            "# TYPE drnode_raft_members gauge\n"
            "drnode_raft_members{role=\"all\"} %u\n"
            "drnode_raft_members{role=\"voter\"} %u\n",
        n->raft.configuration.n, voters);
    put(&o, "# HELP drnode_site_epoch Fencing epoch of the primary site.\n"
            "# TYPE drnode_site_epoch gauge\ndrnode_site_epoch %llu\n",
        (unsigned long long)n->fsm.state.site.epoch);
    put(&o, "# HELP drnode_apply_latency_seconds Time from proposal to "
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
    put(&o, "drnode_apply_latency_seconds_sum %.6f\n"
            "drnode_apply_latency_seconds_count %llu\n",
        n->lat_sum_ms / 1000.0, (unsigned long long)n->lat_count);
    put(&o, "# HELP drnode_raft_batches_total Log entries proposed.\n"
            "# TYPE drnode_raft_batches_total counter\n"
            "drnode_raft_batches_total %llu\n"
            "# HELP drnode_raft_commands_total Commands proposed.\n"
            "# TYPE drnode_raft_commands_total counter\n"
            "drnode_raft_commands_total %llu\n",
        (unsigned long long)n->n_batches, (unsigned long long)n->n_commands);
    put(&o, "# HELP drnode_http_requests_total HTTP requests by route.\n"
            "# TYPE drnode_http_requests_total counter\n");
    for (int i = 0; i < ROUTE__COUNT; i++) {
        put(&o, "drnode_http_requests_total{route=\"%s\"} %llu\n",
            route_names[i], (unsigned long long)a->requests[i]);
    }
    put(&o, "# HELP drnode_http_errors_total HTTP answers of 4xx/5xx by "
            "route.\n# TYPE drnode_http_errors_total counter\n");
    for (int i = 0; i < ROUTE__COUNT; i++) {
        put(&o, "drnode_http_errors_total{route=\"%s\"} %llu\n",
            route_names[i], (unsigned long long)a->errors[i]);
    }
    if (o.buf == NULL) {
        api_reply_error(c, 500, "internal", "out of memory");
        return;
    }
    api_reply_text(c, 200, "text/plain; version=0.0.4", o.buf, o.len);
    free(o.buf);
}
