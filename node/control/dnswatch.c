/* The DNS watch (failover.h): where the service name points now, as the
 * authoritative servers answer it, for the status page and /metrics. Every
 * node asks on its own (a lost leader must not blind the others), one
 * lookup at a time, FO_DNS_WATCH_MS apart. */
#include <stdio.h>
#include <string.h>

#include "control/failover.h"
#include "fsm/fsm.h"

#define FO_DNS_WATCH_MS 3000
#define FO_DNS_WATCH_TIMEOUT_MS 2000

static void watch_done_cb(struct dns_lookup *l)
{
    struct failover *f = l->data;

    f->watch_live = false;
    if (f->stopping) {
        return;
    }
    memcpy(f->watch_last, l->results, sizeof(f->watch_last));
    f->watch_n = l->n_servers;
    snprintf(f->watch_name, sizeof(f->watch_name), "%s", l->name);
    f->watch_at_ms = raftnode_wall_ms();
    f->watch_next = uv_now(f->loop) + FO_DNS_WATCH_MS;
}

void failover__dns_watch(struct failover *f)
{
    const struct fsm *st = raftnode_state(f->node);
    const struct fsm_value *name = fsm_setting(st, "dns.name");
    const struct fsm_value *servers = fsm_setting(st, "dns.servers");
    struct dns_lookup *l = &f->watch;

    if (f->watch_live || uv_now(f->loop) < f->watch_next) {
        return;
    }
    f->watch_next = uv_now(f->loop) + FO_DNS_WATCH_MS;
    if (name == NULL || name->s == NULL || name->s[0] == '\0' ||
        servers == NULL || servers->s == NULL || servers->s[0] == '\0') {
        snprintf(f->watch_error, sizeof(f->watch_error), "%s",
                 name == NULL || name->s == NULL || name->s[0] == '\0'
                     ? "dns.name is not set"
                     : "dns.servers is not set: no server to ask");
        f->watch_n = 0;
        f->watch_at_ms = 0;
        return;
    }
    memset(l, 0, sizeof(*l));
    if (dns_lookup_servers(l, servers->s, f->watch_error) < 0) {
        f->watch_n = 0;
        f->watch_at_ms = 0;
        return;
    }
    f->watch_error[0] = '\0';
    snprintf(l->name, sizeof(l->name), "%s", name->s);
    l->timeout_ms = FO_DNS_WATCH_TIMEOUT_MS;
    l->data = f;
    f->watch_live = true;
    dns_lookup_start(l, f->loop, watch_done_cb);
}

void failover__dns_watch_stop(struct failover *f)
{
    if (f->watch_live) {
        dns_lookup_cancel(&f->watch);
    }
}

/* a and b name the same host, with or without the final dot. */
static bool same_host(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    la -= la > 0 && a[la - 1] == '.';
    lb -= lb > 0 && b[lb - 1] == '.';
    return la == lb && strncasecmp(a, b, la) == 0;
}

bool failover_dns_matches(const struct failover *f,
                          const struct fsm *st,
                          size_t i,
                          char *want,
                          size_t want_size)
{
    const struct fsm_region *r =
        st->site.primary_region != NULL
            ? fsm_region_get(st, st->site.primary_region)
            : NULL;
    const struct dns_lookup_result *res;
    const struct dns_answer *cname = NULL;
    size_t n_addr = 0;

    if (want != NULL && want_size > 0) {
        size_t len = 0;
        want[0] = '\0';
        for (size_t k = 0; r != NULL && k < r->n_dns_targets; k++) {
            int w = snprintf(want + len, want_size - len, "%s%s",
                             k > 0 ? "," : "", r->dns_targets[k]);
            if (w < 0 || (size_t)w >= want_size - len) {
                break;
            }
            len += (size_t)w;
        }
    }
    if (r == NULL || r->n_dns_targets == 0 || i >= f->watch_n) {
        return false;
    }
    res = &f->watch_last[i];
    if (res->error[0] != '\0') {
        return false;
    }
    for (size_t k = 0; k < res->n_answers; k++) {
        if (res->answers[k].type == DNS_TYPE_CNAME) {
            cname = &res->answers[k];
        } else if (res->answers[k].type == DNS_TYPE_A ||
                   res->answers[k].type == DNS_TYPE_AAAA) {
            n_addr++;
        }
    }
    if (cname != NULL) {
        return r->n_dns_targets == 1 &&
               same_host(cname->text, r->dns_targets[0]);
    }
    if (n_addr != r->n_dns_targets) {
        return false;
    }
    for (size_t t = 0; t < r->n_dns_targets; t++) {
        bool found = false;
        for (size_t k = 0; k < res->n_answers && !found; k++) {
            found = res->answers[k].type != DNS_TYPE_TXT &&
                    strcmp(res->answers[k].text, r->dns_targets[t]) == 0;
        }
        if (!found) {
            return false;
        }
    }
    return true;
}
