/* Drills (restore, failover): list, show, start. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

static void view_drill(struct jout *j, const struct fsm_drill *d)
{
    jout_begin(j, '{');
    jout_key(j, "id");
    jout_uint(j, d->id);
    jout_key(j, "kind");
    jout_str(j, fsm_drill_kind_name(d->kind));
    jout_key(j, "region");
    jout_str(j, d->region);
    jout_key(j, "state");
    jout_str(j, fsm_drill_state_name(d->state));
    jout_key(j, "started_ms");
    jout_uint(j, d->started_ms);
    jout_key(j, "finished_ms");
    jout_uint(j, d->finished_ms);
    jout_key(j, "pg_backup");
    jout_str(j, d->pg_backup);
    jout_key(j, "redis_backup");
    jout_str(j, d->redis_backup);
    jout_key(j, "pg_base_backup");
    jout_str(j, d->pg_base_backup);
    jout_key(j, "pg_rpo_ms");
    jout_uint(j, d->pg_rpo_ms);
    jout_key(j, "redis_rpo_ms");
    jout_uint(j, d->redis_rpo_ms);
    jout_key(j, "pg_base_rpo_ms");
    jout_uint(j, d->pg_base_rpo_ms);
    jout_key(j, "rto_ms");
    jout_uint(j, d->rto_ms);
    jout_key(j, "job_id");
    jout_uint(j, d->job_id);
    jout_key(j, "error");
    jout_str(j, d->error);
    jout_key(j, "detail");
    jout_str(j, d->detail);
    jout_key(j, "actor");
    jout_str(j, d->actor);
    jout_key(j, "dns_confirmed_ms");
    jout_uint(j, d->dns_confirmed_ms);
    jout_end(j, '}');
}

static void do_drills_list(struct api_call *c)
{
    const struct fsm *f = api_state(c);
    struct jout j;

    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "drills");
    jout_begin(&j, '[');
    for (size_t i = f->n_drills; i > 0; i--) {
        view_drill(&j, &f->drills[i - 1]);
    }
    jout_end(&j, ']');
    jout_end(&j, '}');
    api_reply_jout(c, 200, &j);
}

static int parse_id(struct api_call *c, uint64_t *id)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(c->arg, &end, 10);
    if (c->arg[0] < '1' || c->arg[0] > '9' || *end != '\0' || errno != 0) {
        api_reply_error(c, 400, "invalid_argument",
                        "drill id \"%s\" is not a positive integer", c->arg);
        return -1;
    }
    *id = v;
    return 0;
}

static void do_drill_get(struct api_call *c)
{
    const struct fsm_drill *d;
    uint64_t id;
    struct jout j;

    if (parse_id(c, &id) != 0) {
        return;
    }
    d = fsm_drill_get(api_state(c), id);
    if (d == NULL) {
        api_reply_error(c, 404, "not_found", "drill %llu does not exist",
                        (unsigned long long)id);
        return;
    }
    jout_init(&j);
    view_drill(&j, d);
    api_reply_jout(c, c->created ? 202 : 200, &j);
}

static void after_drill_started(struct api_call *c)
{
    snprintf(c->arg, sizeof(c->arg), "%llu",
             (unsigned long long)c->result.drill_id);
    c->created = true;
    do_drill_get(c);
}

static void do_drill_start(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"kind", JT_STRING, true},
        {"region", JT_STRING, false},
    };
    const struct jin *v;
    struct fsm_cmd cmd;

    if (api__check_body(c, fields, 2) != 0) {
        return;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_DRILL_START;
    cmd.actor = c->actor;
    v = jin_get(c->body, "kind");
    cmd.u.drill.kind = fsm_drill_kind_parse(v->u.str.s);
    if (cmd.u.drill.kind < 0) {
        api_reply_error(c, 400, "invalid_argument",
                        "kind \"%s\" is not a drill kind (expected restore "
                        "or failover)",
                        v->u.str.s);
        return;
    }
    v = jin_get(c->body, "region");
    cmd.u.drill.region = v != NULL ? v->u.str.s : NULL;
    api_propose_then(c, &cmd, after_drill_started);
}

static const struct api_route_def routes[] = {
    {"GET", "/api/drills", NULL, ROUTE_DRILLS, API_READ, API_ROLE_READER, 0,
     do_drills_list, NULL},
    {"POST", "/api/drills", NULL, ROUTE_DRILLS, API_WRITE, API_ROLE_OPERATOR,
     API_BODY, do_drill_start, NULL},
    {"GET", "/api/drills/", NULL, ROUTE_DRILL, API_READ, API_ROLE_READER, 0,
     do_drill_get, NULL},
};

const struct api_route_table api_routes_drills = API_ROUTE_TABLE(routes);
