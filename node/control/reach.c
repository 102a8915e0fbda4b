/* Reachability of the other regions' public endpoints (see reach.h). */
#include "control/reach.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"

static void maybe_stopped(struct reach *r)
{
    if (r->stopping && r->open == 0 && r->stopped_cb != NULL) {
        void (*cb)(struct reach *) = r->stopped_cb;
        r->stopped_cb = NULL;
        cb(r);
    }
}

/* The round is over: a region none of whose endpoints answered has been
 * down since one of them last answered (Sentinel's down-after-milliseconds
 * counts from the last valid reply too), or since this round began if
 * none ever did. Counting from the first failed round instead added up to
 * one probe interval to every detection. */
static void round_end(struct reach *r)
{
    for (size_t i = 0; i < r->n_regions; i++) {
        struct reach_region *g = &r->regions[i];
        if (g->ok_this_round) {
            g->down_since = 0;
        } else if (g->down_since == 0) {
            g->down_since = g->last_ok != 0       ? g->last_ok
                            : r->round_start != 0 ? r->round_start
                                                  : 1;
        }
        g->seen = true;
    }
    r->rounds++;
}

static void attempt_over(struct reach_attempt *a)
{
    struct reach *r = a->r;
    a->busy = false;
    if (--r->round_left == 0 && !r->stopping) {
        round_end(r);
    }
    maybe_stopped(r);
}

static void handle_closed_cb(uv_handle_t *h)
{
    struct reach_attempt *a = h->data;
    a->r->open--;
    if (--a->open == 0) {
        attempt_over(a);
    }
}

static void finish(struct reach_attempt *a, bool ok, const char *why)
{
    struct reach *r = a->r;
    struct reach_region *g = &r->regions[a->region];

    if (a->done) {
        return;
    }
    a->done = true;
    if (ok) {
        g->ok_this_round = true;
        g->last_ok = uv_now(r->loop);
    } else if (why != NULL) {
        snprintf(g->last_error, sizeof(g->last_error), "%.80s:%s: %.60s",
                 a->host, a->port, why);
    }
    uv_close((uv_handle_t *)&a->tcp, handle_closed_cb);
    uv_close((uv_handle_t *)&a->timeout, handle_closed_cb);
}

static void connect_cb(uv_connect_t *req, int status)
{
    struct reach_attempt *a = req->data;
    finish(a, status == 0, status == 0 ? NULL : uv_strerror(status));
}

static void timeout_cb(uv_timer_t *t)
{
    finish(t->data, false, "no answer in time");
}

/* An http(s) endpoint answered, or did not (status 0). */
static void http_cb(struct httpc_req *req,
                    long status,
                    const char *body,
                    size_t len,
                    const char *err)
{
    struct reach_attempt *a = req->data;
    struct reach_region *g = &a->r->regions[a->region];
    (void)body;
    (void)len;
    if (status > 0 && status < 500) {
        g->ok_this_round = true;
        g->last_ok = uv_now(a->r->loop);
    } else if (!a->r->stopping) {
        char why[64];
        if (status > 0) {
            snprintf(why, sizeof(why), "HTTP %ld", status);
        }
        snprintf(g->last_error, sizeof(g->last_error), "%.80s: %.70s", a->host,
                 status > 0    ? why
                 : err != NULL ? err
                               : "no answer");
    }
    a->done = true;
    attempt_over(a);
}

/* GET url with the probe timeout; false when it could not start. */
static bool http_attempt(struct reach *r,
                         struct reach_attempt *a,
                         const char *url)
{
    static const char *const headers[] = {"User-Agent: drnode-reach", NULL};
    long timeout =
        r->cfg->probe_timeout_ms > 0 ? r->cfg->probe_timeout_ms : 2000;
    if (!r->http_ready) {
        return false;
    }
    a->http.data = a;
    return httpc_request(&r->http, &a->http, url, headers, 65536, timeout,
                         http_cb) == 0;
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct reach_attempt *a = req->data;
    struct reach *r = a->r;
    int rv;

    r->open--; /* the lookup */
    if (r->stopping || status != 0 || res == NULL) {
        if (status != 0 && !r->stopping) {
            snprintf(r->regions[a->region].last_error,
                     sizeof(r->regions[a->region].last_error), "%.80s: %.60s",
                     a->host, uv_strerror(status));
        }
        uv_freeaddrinfo(res);
        attempt_over(a);
        return;
    }
    uv_tcp_init(r->loop, &a->tcp);
    uv_timer_init(r->loop, &a->timeout);
    a->tcp.data = a;
    a->timeout.data = a;
    a->conn.data = a;
    a->open = 2;
    r->open += 2;
    rv = uv_tcp_connect(&a->conn, &a->tcp, res->ai_addr, connect_cb);
    uv_freeaddrinfo(res);
    if (rv != 0) {
        finish(a, false, uv_strerror(rv));
        return;
    }
    uv_timer_start(
        &a->timeout, timeout_cb,
        r->cfg->probe_timeout_ms > 0 ? r->cfg->probe_timeout_ms : 2000, 0);
}

static struct reach_region *region_slot(struct reach *r, const char *name)
{
    for (size_t i = 0; i < r->n_regions; i++) {
        if (strcmp(r->regions[i].name, name) == 0) {
            return &r->regions[i];
        }
    }
    return NULL;
}

/* Keep the slots of the regions that still have endpoints (their down
 * time goes on), drop the others, add new ones. */
static void sync_regions(struct reach *r, const struct fsm *st)
{
    struct reach_region keep[REACH_REGIONS_MAX];
    size_t n = 0;

    for (size_t i = 0; i < st->n_regions && n < REACH_REGIONS_MAX; i++) {
        const struct fsm_region *fr = &st->regions[i];
        const struct reach_region *old;
        if (fr->n_endpoints == 0 || strcmp(fr->name, r->cfg->region) == 0) {
            continue;
        }
        old = region_slot(r, fr->name);
        if (old != NULL) {
            keep[n] = *old;
        } else {
            memset(&keep[n], 0, sizeof(keep[n]));
            snprintf(keep[n].name, sizeof(keep[n].name), "%s", fr->name);
        }
        keep[n].ok_this_round = false;
        n++;
    }
    memcpy(r->regions, keep, n * sizeof(keep[0]));
    r->n_regions = n;
}

static void round_start(struct reach *r)
{
    const struct fsm *st = raftnode_state(r->node);
    size_t k = 0;

    if (r->round_left > 0 || !st->initialized) {
        return; /* the last round still waits for an answer */
    }
    sync_regions(r, st);
    r->round_start = uv_now(r->loop);
    for (size_t i = 0; i < r->n_regions; i++) {
        const struct fsm_region *fr = fsm_region_get(st, r->regions[i].name);
        for (size_t e = 0; fr != NULL && e < fr->n_endpoints; e++) {
            struct reach_attempt *a = &r->attempts[k];
            struct addrinfo hints;
            char err[256];
            unsigned port;
            if (k == REACH_ATTEMPTS_MAX) {
                break;
            }
            if (fsm_endpoint_parse(fr->endpoints[e], a->host, &port, err) !=
                DR_OK) {
                continue; /* the FSM checked it: cannot happen */
            }
            snprintf(a->port, sizeof(a->port), "%u", port);
            a->r = r;
            a->region = (int)i;
            a->busy = true;
            a->done = false;
            a->open = 0;
            a->gai.data = a;
            a->is_http = strncmp(fr->endpoints[e], "http://", 7) == 0 ||
                         strncmp(fr->endpoints[e], "https://", 8) == 0;
            if (a->is_http) {
                r->round_left++;
                if (!http_attempt(r, a, fr->endpoints[e])) {
                    snprintf(r->regions[i].last_error,
                             sizeof(r->regions[i].last_error),
                             "%.80s: cannot start the request", a->host);
                    a->busy = false;
                    r->round_left--;
                    continue;
                }
                k++;
                continue;
            }
            memset(&hints, 0, sizeof(hints));
            hints.ai_family = AF_UNSPEC;
            hints.ai_socktype = SOCK_STREAM;
            r->round_left++;
            r->open++;
            if (uv_getaddrinfo(r->loop, &a->gai, gai_cb, a->host, a->port,
                               &hints) != 0) {
                r->open--;
                snprintf(r->regions[i].last_error,
                         sizeof(r->regions[i].last_error),
                         "%.80s: cannot start the lookup", a->host);
                a->busy = false;
                r->round_left--;
                continue;
            }
            k++;
        }
    }
    if (r->round_left == 0) {
        round_end(r); /* nothing could be tried: every region failed */
    }
}

static void timer_cb(uv_timer_t *t)
{
    struct reach *r = t->data;
    if (!r->stopping) {
        round_start(r);
    }
}

int reach_start(struct reach *r,
                uv_loop_t *loop,
                const struct config *cfg,
                struct raftnode *node)
{
    unsigned interval =
        cfg->probe_interval_ms > 0 ? cfg->probe_interval_ms : 5000;
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->cfg = cfg;
    r->node = node;
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    r->open = 1;
    if (httpc_init(&r->http, loop) == 0) {
        r->http_ready = true;
        r->open++;
    }
    uv_timer_start(&r->timer, timer_cb, interval, interval);
    return DR_OK;
}

static void timer_closed_cb(uv_handle_t *h)
{
    struct reach *r = h->data;
    r->open--;
    maybe_stopped(r);
}

static void http_closed_cb(struct httpc *h)
{
    struct reach *r =
        (struct reach *)((char *)h - offsetof(struct reach, http));
    r->open--;
    maybe_stopped(r);
}

void reach_stop(struct reach *r, void (*cb)(struct reach *r))
{
    r->stopping = true;
    r->stopped_cb = cb;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, timer_closed_cb);
    if (r->http_ready) {
        /* GETs in flight call back "cancelled" and end their attempts. */
        r->http_ready = false;
        httpc_close(&r->http, http_closed_cb);
    }
    for (size_t i = 0; i < REACH_ATTEMPTS_MAX; i++) {
        struct reach_attempt *a = &r->attempts[i];
        if (!a->busy || a->done) {
            continue;
        }
        if (a->is_http) {
            continue; /* httpc_close ended it */
        }
        if (a->open == 0) {
            uv_cancel((uv_req_t *)&a->gai); /* its callback still comes */
        } else if (!a->done) {
            a->done = true;
            uv_close((uv_handle_t *)&a->tcp, handle_closed_cb);
            uv_close((uv_handle_t *)&a->timeout, handle_closed_cb);
        }
    }
    maybe_stopped(r);
}

int64_t reach_down_ms(const struct reach *r, const char *region)
{
    for (size_t i = 0; i < r->n_regions; i++) {
        const struct reach_region *g = &r->regions[i];
        if (strcmp(g->name, region) == 0) {
            if (!g->seen) {
                return -1;
            }
            return g->down_since == 0
                       ? 0
                       : (int64_t)(uv_now(r->loop) - g->down_since);
        }
    }
    return -1;
}
