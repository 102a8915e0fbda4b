/* Health in the seed's shape, circuit breakers, the LLM fallback route and
 * the nodes' probe reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "control/health.h"

#define FORWARD_TIMEOUT_MS 5000

/* GET /api/health */

/* Where a region's view came from. */
enum view_source { SRC_LOCAL, SRC_LEADER, SRC_REPLICATED };

static const char *probe_status_text(int st)
{
    switch (st) {
        case PROBE_UNCONFIGURED:
            return "unconfigured";
        case PROBE_UP:
            return "up";
        case PROBE_DOWN:
            return "down";
    }
    return "unknown";
}

static void view_probe(struct jout *j, int svc, const struct probe_result *r)
{
    jout_begin(j, '{');
    jout_key(j, "status");
    jout_str(j, probe_status_text(r->status));
    if (r->status == PROBE_UP || r->latency_ms > 0) {
        jout_key(j, "latency");
        jout_num(j, r->latency_ms, 1);
    }
    if (r->status == PROBE_DOWN && r->error[0] != '\0') {
        jout_key(j, "error");
        jout_str(j, r->error);
    }
    switch (svc) {
        case PROBE_DATABASE:
            if (r->status == PROBE_UP) {
                jout_key(j, "connections");
                jout_int(j, r->connections);
                jout_key(j, "max_connections");
                jout_int(j, r->max_connections);
            }
            break;
        case PROBE_REDIS:
            if (r->status == PROBE_UP) {
                jout_key(j, "used_memory");
                jout_int(j, r->used_memory);
                jout_key(j, "maxmemory");
                jout_int(j, r->maxmemory);
            }
            break;
        case PROBE_APP:
            break;
        default:
            health_write_models(j, r);
            break;
    }
    jout_end(j, '}');
}

static void view_wasm(struct jout *j, const struct probe_result *app)
{
    jout_begin(j, '{');
    jout_key(j, "status");
    if (app->status == PROBE_UP && app->wasm_known) {
        jout_str(j, app->wasm_available ? "up" : "down");
    } else {
        jout_str(
            j, app->status == PROBE_UNCONFIGURED ? "unconfigured" : "unknown");
    }
    jout_key(j, "available");
    if (app->status == PROBE_UP && app->wasm_known) {
        jout_bool(j, app->wasm_available);
    } else {
        jout_str(j, NULL);
    }
    jout_end(j, '}');
}

/* Services from probe results (this node's, or the leader's report). */
static void view_services_probed(struct jout *j, const struct probe_result *res)
{
    static const int order[] = {PROBE_DATABASE, PROBE_REDIS, PROBE_OLLAMA,
                                PROBE_OPENAI, PROBE_ANTHROPIC};
    jout_begin(j, '{');
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        jout_key(j, probe_service_name(order[i]));
        view_probe(j, order[i], &res[order[i]]);
    }
    jout_key(j, "app");
    view_probe(j, PROBE_APP, &res[PROBE_APP]);
    jout_key(j, "wasm");
    view_wasm(j, &res[PROBE_APP]);
    jout_end(j, '}');
}

/* Services from the committed region health: statuses only. */
static void view_services_replicated(struct jout *j, const struct fsm_region *r)
{
    jout_begin(j, '{');
    for (int i = 0; i < FSM_SERVICES; i++) {
        jout_key(j, fsm_service_name(i));
        jout_begin(j, '{');
        jout_key(j, "status");
        jout_str(j, fsm_service_status_name(r->health[i]));
        if (i == FSM_SVC_WASM) {
            jout_key(j, "available");
            if (r->health[i] == FSM_SVC_UNKNOWN) {
                jout_str(j, NULL);
            } else {
                jout_bool(j, r->health[i] == FSM_SVC_UP);
            }
        }
        jout_end(j, '}');
    }
    jout_end(j, '}');
}

static void view_breaker_states(struct jout *j, const struct fsm *f)
{
    jout_begin(j, '{');
    for (int p = 0; p < FSM_PROVIDERS; p++) {
        jout_key(j, fsm_provider_name(p));
        jout_str(j, fsm_breaker_state_name(f->breakers[p].state));
    }
    jout_end(j, '}');
}

static void do_health(struct api_call *c)
{
    struct api *a = c->api;
    const struct fsm *f = api_state(c);
    char region[FSM_NAME_MAX + 1];
    const struct fsm_region *fr = NULL;
    const struct health_report *rep = NULL;
    const struct probe_result *res = NULL;
    int src, db, redis;
    bool leader = raftnode_leader(a->node) != 0;
    bool breaker_open = false;
    const char *status;
    int http = 200;
    struct jout j;

    if (!api__query_get(c, "region", region, sizeof(region))) {
        snprintf(region, sizeof(region), "%s", a->cfg->region);
    }
    if (strcmp(region, a->cfg->region) != 0) {
        fr = fsm_region_get(f, region);
        if (fr == NULL) {
            api_reply_error(c, 404, "not_found", "region \"%s\" does not exist",
                            region);
            return;
        }
        rep = a->health != NULL ? health_view(a->health, region) : NULL;
    }
    if (fr == NULL) {
        src = SRC_LOCAL;
        res = a->health != NULL ? a->health->prober.results : NULL;
    } else if (rep != NULL) {
        src = SRC_LEADER;
        res = rep->results;
    } else {
        src = SRC_REPLICATED;
    }
    if (res != NULL) {
        db = health_service_status(&res[PROBE_DATABASE]);
        redis = health_service_status(&res[PROBE_REDIS]);
    } else if (fr != NULL) {
        db = fr->health[FSM_SVC_DATABASE];
        redis = fr->health[FSM_SVC_REDIS];
    } else {
        db = redis = FSM_SVC_UNKNOWN;
    }
    for (int p = 0; p < FSM_PROVIDERS; p++) {
        breaker_open = breaker_open || f->breakers[p].state == FSM_BREAKER_OPEN;
    }
    /* Cogitator's rule: no database, no service; without Redis it goes on
     * with an in-memory fallback. A node without a leader cannot act. */
    if (!leader || db == FSM_SVC_DOWN) {
        status = "unhealthy";
        http = 503;
    } else if (redis == FSM_SVC_DOWN || breaker_open ||
               (src == SRC_REPLICATED && fr->status == FSM_REGION_DEGRADED)) {
        /* (Replicated and degraded with nothing down: its nodes went
         * silent.) */
        status = "degraded";
    } else {
        status = "healthy";
    }
    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "status");
    jout_str(&j, status);
    jout_key(&j, "region");
    jout_str(&j, region);
    jout_key(&j, "source");
    jout_str(&j, src == SRC_LOCAL    ? "local"
                 : src == SRC_LEADER ? "leader"
                                     : "replicated");
    jout_key(&j, "services");
    if (res != NULL) {
        view_services_probed(&j, res);
    } else if (fr != NULL) {
        view_services_replicated(&j, fr);
    } else {
        struct probe_result none[PROBE__COUNT];
        memset(none, 0, sizeof(none));
        view_services_probed(&j, none);
    }
    jout_key(&j, "circuitBreakers");
    view_breaker_states(&j, f);
    jout_key(&j, "coordinator");
    jout_begin(&j, '{');
    api_view_coordinator(&j, a);
    jout_end(&j, '}');
    jout_end(&j, '}');
    api_reply_jout(c, http, &j);
}

/* GET /api/breakers */

static void view_breaker(struct jout *j, const struct fsm *f, int p)
{
    const struct fsm_breaker *b = &f->breakers[p];
    uint64_t due = fsm_breaker_due(f, p);

    jout_begin(j, '{');
    jout_key(j, "provider");
    jout_str(j, fsm_provider_name(p));
    jout_key(j, "state");
    jout_str(j, fsm_breaker_state_name(b->state));
    jout_key(j, "failures");
    jout_uint(j, b->failures);
    jout_key(j, "trials");
    jout_uint(j, b->trials);
    jout_key(j, "opened_ms");
    jout_uint(j, b->opened_ms);
    jout_key(j, "changed_ms");
    jout_uint(j, b->changed_ms);
    jout_key(j, "half_open_at_ms");
    if (due != 0) {
        jout_uint(j, due);
    } else {
        jout_str(j, NULL);
    }
    jout_key(j, "transitions");
    jout_uint(j, b->transitions);
    jout_key(j, "successes_total");
    jout_uint(j, b->successes_total);
    jout_key(j, "failures_total");
    jout_uint(j, b->failures_total);
    jout_end(j, '}');
}

static void view_chain(struct jout *j, const struct fsm *f)
{
    int chain[FSM_PROVIDERS];
    size_t n = fsm_fallback_chain(f, chain);
    jout_begin(j, '[');
    for (size_t i = 0; i < n; i++) {
        jout_str(j, fsm_provider_name(chain[i]));
    }
    jout_end(j, ']');
}

static bool queue_mode(const struct fsm *f)
{
    const struct fsm_value *v = fsm_setting(f, "queue_mode");
    return v != NULL && v->b;
}

static void do_breakers(struct api_call *c)
{
    const struct fsm *f = api_state(c);
    struct jout j;

    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "breakers");
    jout_begin(&j, '[');
    for (int p = 0; p < FSM_PROVIDERS; p++) {
        view_breaker(&j, f, p);
    }
    jout_end(&j, ']');
    jout_key(&j, "fallback_chain");
    view_chain(&j, f);
    jout_key(&j, "queue_mode");
    jout_bool(&j, queue_mode(f));
    jout_key(&j, "failure_threshold");
    jout_int(&j, fsm_setting_int(f, "breaker.failure_threshold"));
    jout_key(&j, "reset_timeout_ms");
    jout_int(&j, fsm_setting_int(f, "breaker.reset_timeout_ms"));
    jout_key(&j, "half_open_max");
    jout_int(&j, fsm_setting_int(f, "breaker.half_open_max"));
    jout_end(&j, '}');
    api_reply_jout(c, 200, &j);
}

/* POST /api/breakers/{provider}/events */

static void after_events(struct api_call *c)
{
    struct jout j;
    jout_init(&j);
    view_breaker(&j, api_state(c), (int)c->id);
    api_reply_jout(c, 200, &j);
}

static void forwarded_cb(struct httpc_req *r,
                         long status,
                         const char *body,
                         size_t len,
                         const char *err)
{
    struct api_call *c = r->data;
    free(r);
    if (status == 0) {
        c->retry_safe = true;
        api_reply_error(c, 503, "unavailable",
                        "could not forward to the leader: %s", err);
        return;
    }
    api_reply_text(c, (int)status, "application/json", body, len);
}

/* A follower hands the batch to the leader and relays its answer, so app
 * instances may send events to any node. */
static void forward_to_leader(struct api_call *c)
{
    struct api *a = c->api;
    struct httpc_req *r;
    h2o_req_t *req = c->req;
    char url[512], path[256];
    char *body;

    /* Marked, so that the leader never relays it again (a leadership
     * change in flight would bounce it between nodes). */
    snprintf(path, sizeof(path), "%.*s?forwarded=1",
             (int)req->path_normalized.len, req->path_normalized.base);
    if (!a->fwd_ready ||
        !raftnode_leader_url(a->node, path, url, sizeof(url)) ||
        raftnode_leader(a->node) == a->cfg->id) {
        api_reply_not_leader(c);
        return;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        api_reply_error(c, 500, "internal", "out of memory");
        return;
    }
    body = malloc(req->entity.len + 1);
    if (body == NULL) {
        free(r);
        api_reply_error(c, 500, "internal", "out of memory");
        return;
    }
    memcpy(body, req->entity.base, req->entity.len);
    body[req->entity.len] = '\0';
    r->data = c;
    if (httpc_post(&a->fwd, r, url, a->token, body, FORWARD_TIMEOUT_MS,
                   forwarded_cb) != 0) {
        free(body);
        free(r);
        api_reply_not_leader(c);
        return;
    }
    free(body);
    a->forwarded++;
}

static void do_events(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"events", JT_ANY, true},
    };
    const struct jin *ev;
    int outcomes[FSM_BREAKER_EVENTS_MAX];
    struct fsm_cmd cmd = {.type = FSM_CMD_BREAKER_EVENTS};
    int p = fsm_provider_parse(c->arg);

    if (p < 0) {
        api_reply_error(c, 404, "not_found",
                        "unknown LLM provider \"%s\" (expected ollama, "
                        "openai or anthropic)",
                        c->arg);
        return;
    }
    if (strcmp(c->sub, "events") != 0) {
        api_reply_error(c, 404, "not_found",
                        "no such route: POST /api/breakers/%s/%s (did you "
                        "mean /api/breakers/%s/events?)",
                        c->arg, c->sub, c->arg);
        return;
    }
    if (api__check_body(c, fields, 1) != 0) {
        return;
    }
    ev = jin_get(c->body, "events");
    if (ev->type != JIN_ARRAY || ev->u.arr.n == 0) {
        api_reply_error(c, 400, "invalid_argument",
                        "events must be a non-empty array of \"success\" or "
                        "\"failure\"");
        return;
    }
    if (ev->u.arr.n > FSM_BREAKER_EVENTS_MAX) {
        api_reply_error(c, 413, "payload_too_large",
                        "%zu events in one batch; at most %d", ev->u.arr.n,
                        FSM_BREAKER_EVENTS_MAX);
        return;
    }
    for (size_t i = 0; i < ev->u.arr.n; i++) {
        const struct jin *e = &ev->u.arr.items[i];
        if (e->type != JIN_STRING || (strcmp(e->u.str.s, "success") != 0 &&
                                      strcmp(e->u.str.s, "failure") != 0)) {
            api_reply_error(c, 400, "invalid_argument",
                            "events[%zu] must be \"success\" or \"failure\"",
                            i);
            return;
        }
        outcomes[i] = e->u.str.s[0] == 's';
    }
    if (!raftnode_is_leader(c->api->node)) {
        char fwd[8];
        if (api__query_get(c, "forwarded", fwd, sizeof(fwd))) {
            c->retry_safe = true;
            api_reply_error(c, 503, "unavailable",
                            "relayed to node %llu, which no longer leads; "
                            "send the events again",
                            (unsigned long long)c->api->cfg->id);
            return;
        }
        forward_to_leader(c);
        return;
    }
    cmd.actor = c->actor;
    cmd.u.breaker.provider = p;
    cmd.u.breaker.outcomes = outcomes;
    cmd.u.breaker.n_outcomes = ev->u.arr.n;
    c->id = (uint64_t)p;
    api_propose_then(c, &cmd, after_events);
}

/* POST /api/admin/circuit-breakers/reset[?provider=P] */

static void after_reset(struct api_call *c)
{
    do_breakers(c);
}

static void do_reset(struct api_call *c)
{
    struct fsm_cmd cmd = {.type = FSM_CMD_BREAKER_RESET};
    char name[FSM_NAME_MAX + 1];

    cmd.actor = c->actor;
    cmd.u.breaker.provider = -1;
    if (api__query_get(c, "provider", name, sizeof(name))) {
        cmd.u.breaker.provider = fsm_provider_parse(name);
        if (cmd.u.breaker.provider < 0) {
            api_reply_error(c, 404, "not_found",
                            "unknown LLM provider \"%s\" (expected ollama, "
                            "openai or anthropic)",
                            name);
            return;
        }
    }
    api_propose_then(c, &cmd, after_reset);
}

/* GET /api/llm/route: the first provider of the fallback chain whose
 * breaker lets a request through; a half-open one admits a trial through
 * the log, so at most breaker.half_open_max go out cluster-wide. */

static void route_walk(struct api_call *c, size_t from);

static void route_answer(struct api_call *c, int p, bool trial)
{
    const struct fsm *f = api_state(c);
    struct jout j;

    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "provider");
    jout_str(&j, fsm_provider_name(p));
    jout_key(&j, "state");
    jout_str(&j, fsm_breaker_state_name(f->breakers[p].state));
    jout_key(&j, "trial");
    jout_bool(&j, trial);
    jout_key(&j, "fallback_chain");
    view_chain(&j, f);
    jout_key(&j, "circuitBreakers");
    view_breaker_states(&j, f);
    jout_key(&j, "queue_mode");
    jout_bool(&j, queue_mode(f));
    jout_end(&j, '}');
    api_reply_jout(c, 200, &j);
}

static void trial_cb(struct raftnode_req *r,
                     int status,
                     const struct fsm_result *res)
{
    struct api_call *c = r->data;

    if (status != 0) {
        api_reply_raft_status(c, status);
        return;
    }
    if (res->code == DR_OK) {
        route_answer(c, (int)c->id >> 8, true);
        return;
    }
    /* No trial left (or it moved on): try the next provider. */
    route_walk(c, (size_t)(c->id & 0xff) + 1);
}

static void route_walk(struct api_call *c, size_t from)
{
    const struct fsm *f = api_state(c);
    int chain[FSM_PROVIDERS];
    size_t n = fsm_fallback_chain(f, chain);
    uint64_t now = raftnode_wall_ms();
    uint64_t soonest = 0;
    char why[256] = "";
    size_t off = 0;
    struct jout j;

    for (size_t i = from; i < n; i++) {
        int p = chain[i];
        const struct fsm_breaker *b = &f->breakers[p];
        if (b->state == FSM_BREAKER_CLOSED) {
            route_answer(c, p, false);
            return;
        }
        /* Trials are counted through the log, for clients with the
         * token only: a stale read or an anonymous one cannot take (or use
         * up) the few the breaker allows. */
        if (b->state == FSM_BREAKER_HALF_OPEN && !c->stale &&
            api__authorized(c)) {
            struct fsm_cmd cmd = {.type = FSM_CMD_BREAKER_TRIAL};
            if ((uint64_t)b->trials <
                (uint64_t)fsm_setting_int(f, "breaker.half_open_max")) {
                cmd.actor = c->actor;
                cmd.u.breaker.provider = p;
                c->id = ((uint64_t)p << 8) | i;
                c->apply.data = c;
                if (raftnode_propose(c->api->node, &c->apply, &cmd, trial_cb) ==
                    DR_OK) {
                    return;
                }
                api_reply_not_leader(c);
                return;
            }
        }
    }
    /* Every provider is open (or has no trial left). */
    for (size_t i = 0; i < n; i++) {
        uint64_t due = fsm_breaker_due(f, chain[i]);
        if (due != 0 && (soonest == 0 || due < soonest)) {
            soonest = due;
        }
        if (off < sizeof(why)) {
            int w =
                snprintf(why + off, sizeof(why) - off, "%s%s (%s)",
                         i ? ", " : "", fsm_provider_name(chain[i]),
                         fsm_breaker_state_name(f->breakers[chain[i]].state));
            off += w > 0 ? (size_t)w : 0;
        }
    }
    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "error");
    jout_begin(&j, '{');
    jout_key(&j, "code");
    jout_str(&j, "unavailable");
    jout_key(&j, "message");
    {
        char msg[400];
        snprintf(msg, sizeof(msg), "no LLM provider is available: %s; %s", why,
                 queue_mode(f) ? "queue mode is on: buffer the request"
                               : "queue mode is off: fail the request or turn "
                                 "queue_mode on");
        jout_str(&j, msg);
    }
    jout_end(&j, '}');
    jout_key(&j, "queue_mode");
    jout_bool(&j, queue_mode(f));
    jout_key(&j, "retry_after_ms");
    jout_uint(&j, soonest > now ? soonest - now : 0);
    jout_key(&j, "circuitBreakers");
    view_breaker_states(&j, f);
    jout_end(&j, '}');
    api_reply_jout(c, 503, &j);
}

static void do_route(struct api_call *c)
{
    route_walk(c, 0);
}

/* POST /api/probes: a node's report of its region, to the leader. */

static void do_probes(struct api_call *c)
{
    struct health_report r;
    char err[256];
    int rv;

    if (health_report_parse(c->body, &r, err) != DR_OK) {
        api_reply_error(c, 400, "invalid_argument", "probe report: %s", err);
        return;
    }
    if (c->api->health == NULL) {
        api_reply_error(c, 503, "unavailable", "this node runs no prober");
        return;
    }
    rv = health_ingest(c->api->health, &r);
    if (rv == DR_ENOTFOUND) {
        api_reply_error(c, 404, "not_found", "region \"%s\" does not exist",
                        r.region);
        return;
    }
    if (rv != DR_OK) {
        api_reply_code(c, rv, "not the leader");
        return;
    }
    api_reply_text(c, 200, "application/json", "{\"accepted\":true}", 17);
}

static const struct api_route_def routes[] = {
    {"GET", "/api/health", NULL, ROUTE_HEALTH, API_DIRECT, API_ROLE_READER, 0,
     do_health, NULL},
    {"GET", "/api/breakers", NULL, ROUTE_BREAKERS, API_READ, API_ROLE_READER, 0,
     do_breakers, NULL},
    {"POST", "/api/breakers/", "events", ROUTE_BREAKER, API_WRITE,
     API_ROLE_RELAY, API_BODY | API_ANY_ACTION, do_events, NULL},
    {"POST", "/api/admin/circuit-breakers/reset", NULL, ROUTE_BREAKER_RESET,
     API_WRITE, API_ROLE_OPERATOR, API_BODY | API_EMPTY_OK, do_reset, NULL},
    {"GET", "/api/llm/route", NULL, ROUTE_LLM_ROUTE, API_READ, API_ROLE_READER,
     0, do_route, NULL},
    {"POST", "/api/probes", NULL, ROUTE_PROBES, API_WRITE, API_ROLE_NODE,
     API_BODY, do_probes, NULL},
};

const struct api_route_table api_routes_health = API_ROUTE_TABLE(routes);
