/* Does a cluster exist already? (see joincheck.h) */
#include "control/joincheck.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http/httpc.h"

struct check
{
    const struct config *cfg;
    size_t left;
    int verdict;
    char *why;
    size_t why_size;
};

struct ask
{
    struct httpc_req req;
    const struct config_member *m;
    struct check *c;
};

/* The answering node's own view of this node, when it leads: how long ago
 * it last heard from us (-1: never in its term). */
static json_int_t leader_heard_us(const json_t *st,
                                  const struct config_member *m,
                                  uint64_t self)
{
    const json_t *leader = json_object_get(st, "leader");
    const json_t *members = json_object_get(st, "members");
    const json_t *e;
    size_t i;

    if (json_integer_value(json_object_get(leader, "id")) !=
        (json_int_t)m->id) {
        return -1;
    }
    json_array_foreach(members, i, e)
    {
        const json_t *c = json_object_get(e, "last_contact_ms");
        if (json_integer_value(json_object_get(e, "id")) == (json_int_t)self &&
            json_is_integer(c)) {
            return json_integer_value(c);
        }
    }
    return -1;
}

static void status_cb(struct httpc_req *r,
                      long status,
                      const char *body,
                      size_t len,
                      const char *err)
{
    struct ask *a = r->data;
    struct check *c = a->c;
    json_t *st = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    json_int_t heard;

    (void)err; /* silent or refusing: no cluster seen there */
    c->left--;
    if (!json_is_true(json_object_get(st, "initialized"))) {
        json_decref(st);
        return;
    }
    heard = leader_heard_us(st, a->m, c->cfg->id);
    if (heard >= 0) {
        c->verdict = JOINCHECK_REFUSE;
        snprintf(c->why, c->why_size,
                 "member %" PRIu64
                 " (%s) leads a cluster that last heard "
                 "from this node %lld s ago",
                 a->m->id, a->m->api_address, (long long)(heard / 1000));
    } else if (c->verdict == JOINCHECK_BOOTSTRAP) {
        c->verdict = JOINCHECK_JOIN;
        snprintf(c->why, c->why_size,
                 "member %" PRIu64 " (%s) answers for an existing cluster",
                 a->m->id, a->m->api_address);
    }
    json_decref(st);
}

static void closed_cb(struct httpc *h)
{
    (void)h;
}

int joincheck_run(const struct config *cfg,
                  const char *token,
                  long timeout_ms,
                  char *why,
                  size_t why_size)
{
    struct ask *asks = calloc(cfg->n_members, sizeof(*asks));
    struct check c = {cfg, 0, JOINCHECK_BOOTSTRAP, why, why_size};
    char auth[600], url[400];
    const char *headers[] = {auth, NULL};
    uv_loop_t loop;
    struct httpc h;

    why[0] = '\0';
    if (asks == NULL || uv_loop_init(&loop) != 0) {
        free(asks);
        return JOINCHECK_BOOTSTRAP;
    }
    if (httpc_init(&h, &loop) != 0) {
        (void)uv_loop_close(&loop);
        free(asks);
        return JOINCHECK_BOOTSTRAP;
    }
    if (cfg->tls_cert[0] != '\0') {
        httpc_set_tls(&h, cfg->tls_ca, cfg->tls_cert, cfg->tls_key);
    }
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
             token != NULL ? token : "");
    for (size_t i = 0; i < cfg->n_members; i++) {
        const struct config_member *m = &cfg->members[i];
        struct ask *a = &asks[i];
        if (m->id == cfg->id) {
            continue;
        }
        snprintf(url, sizeof(url), "%s://%s/api/status", config_api_scheme(cfg),
                 m->api_address);
        a->m = m;
        a->c = &c;
        a->req.data = a;
        if (httpc_request(&h, &a->req, url, headers, 1 << 20, timeout_ms,
                          status_cb) == 0) {
            c.left++;
        }
    }
    while (c.left > 0 && uv_run(&loop, UV_RUN_ONCE) != 0) {
    }
    memset(auth, 0, sizeof(auth));
    httpc_close(&h, closed_cb);
    uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
    free(asks);
    return c.verdict;
}
