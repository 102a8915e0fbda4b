/* Protobuf mapping of the circuit breakers and region health. */
#include <stdio.h>
#include <string.h>

#include "codec/codec_health.h"

/* Provider ids a command may carry: -1 = all (reset only), -2 = a name
 * this node does not know (the FSM refuses it). */
#define PROVIDER_UNKNOWN (-2)

uint32_t codec__health_pack(const int *health)
{
    uint32_t bits = 0;
    for (int i = 0; i < FSM_SERVICES; i++) {
        bits |= (uint32_t)(health[i] & 3) << (2 * i);
    }
    return bits;
}

bool codec__health_unpack(uint32_t bits, int *health)
{
    bool ok = (bits >> (2 * FSM_SERVICES)) == 0;
    for (int i = 0; i < FSM_SERVICES; i++) {
        health[i] = (int)((bits >> (2 * i)) & 3);
        ok = ok && health[i] <= FSM_SVC_DOWN;
    }
    return ok;
}

static char *provider_str(int provider)
{
    return (char *)(provider < 0 ? "" : fsm_provider_name(provider));
}

static int provider_id(const char *name, bool allow_all)
{
    int id;
    if (allow_all && (name == NULL || name[0] == '\0')) {
        return -1;
    }
    id = fsm_provider_parse(name);
    return id < 0 ? PROVIDER_UNKNOWN : id;
}

int codec__health_cmd_to_pb(const struct fsm_cmd *cmd,
                            Dr__Command *c,
                            struct codec__health_scratch *s)
{
    const struct fsm_cmd_breaker *b = &cmd->u.breaker;

    switch (cmd->type) {
        case FSM_CMD_BREAKER_EVENTS:
            dr__cmd_breaker_events__init(&s->events);
            s->events.provider = provider_str(b->provider);
            s->events.n_outcomes = b->n_outcomes;
            s->events.outcomes = (protobuf_c_boolean *)b->outcomes;
            c->kind_case = DR__COMMAND__KIND_BREAKER_EVENTS;
            c->breaker_events = &s->events;
            return DR_OK;
        case FSM_CMD_BREAKER_TRIAL:
            dr__cmd_breaker_trial__init(&s->trial);
            s->trial.provider = provider_str(b->provider);
            c->kind_case = DR__COMMAND__KIND_BREAKER_TRIAL;
            c->breaker_trial = &s->trial;
            return DR_OK;
        case FSM_CMD_BREAKER_HALF_OPEN:
            dr__cmd_breaker_half_open__init(&s->half_open);
            s->half_open.provider = provider_str(b->provider);
            c->kind_case = DR__COMMAND__KIND_BREAKER_HALF_OPEN;
            c->breaker_half_open = &s->half_open;
            return DR_OK;
        case FSM_CMD_BREAKER_RESET:
            dr__cmd_breaker_reset__init(&s->reset);
            s->reset.provider = provider_str(b->provider);
            c->kind_case = DR__COMMAND__KIND_BREAKER_RESET;
            c->breaker_reset = &s->reset;
            return DR_OK;
        case FSM_CMD_REGION_HEALTH:
            dr__cmd_region_health__init(&s->region);
            s->region.region =
                (char *)(cmd->u.health.region ? cmd->u.health.region : "");
            s->region.health = codec__health_pack(cmd->u.health.health);
            c->kind_case = DR__COMMAND__KIND_REGION_HEALTH;
            c->region_health = &s->region;
            return DR_OK;
    }
    return DR_EINVAL;
}

bool codec__health_cmd_from_pb(const Dr__Command *c, struct fsm_cmd *cmd)
{
    struct fsm_cmd_breaker *b = &cmd->u.breaker;

    switch (c->kind_case) {
        case DR__COMMAND__KIND_BREAKER_EVENTS:
            b->provider = provider_id(c->breaker_events->provider, false);
            b->n_outcomes = c->breaker_events->n_outcomes;
            b->outcomes = c->breaker_events->outcomes;
            cmd->type = FSM_CMD_BREAKER_EVENTS;
            return true;
        case DR__COMMAND__KIND_BREAKER_TRIAL:
            b->provider = provider_id(c->breaker_trial->provider, false);
            cmd->type = FSM_CMD_BREAKER_TRIAL;
            return true;
        case DR__COMMAND__KIND_BREAKER_HALF_OPEN:
            b->provider = provider_id(c->breaker_half_open->provider, false);
            cmd->type = FSM_CMD_BREAKER_HALF_OPEN;
            return true;
        case DR__COMMAND__KIND_BREAKER_RESET:
            b->provider = provider_id(c->breaker_reset->provider, true);
            cmd->type = FSM_CMD_BREAKER_RESET;
            return true;
        case DR__COMMAND__KIND_REGION_HEALTH:
            cmd->u.health.region = c->region_health->region;
            if (codec__health_unpack(c->region_health->health,
                                     cmd->u.health.health)) {
                cmd->type = FSM_CMD_REGION_HEALTH;
            }
            return true;
        default:
            return false;
    }
}

void codec__health_to_pb(const struct fsm *f,
                         Dr__Snapshot *s,
                         Dr__Breaker *breakers,
                         Dr__Breaker **ptrs)
{
    for (int i = 0; i < FSM_PROVIDERS; i++) {
        const struct fsm_breaker *b = &f->breakers[i];
        Dr__Breaker *pb = &breakers[i];
        dr__breaker__init(pb);
        pb->provider = (char *)fsm_provider_name(i);
        pb->state = (Dr__BreakerState)b->state;
        pb->failures = b->failures;
        pb->trials = b->trials;
        pb->opened_ms = b->opened_ms;
        pb->changed_ms = b->changed_ms;
        pb->trial_ms = b->trial_ms;
        pb->transitions = b->transitions;
        pb->successes_total = b->successes_total;
        pb->failures_total = b->failures_total;
        ptrs[i] = pb;
    }
    s->n_breakers = FSM_PROVIDERS;
    s->breakers = ptrs;
}

int codec__health_from_pb(const Dr__Snapshot *s, struct fsm *f, char *errmsg)
{
    bool seen[FSM_PROVIDERS] = {false};

    /* A snapshot from before breakers existed has none: all closed. */
    for (size_t i = 0; i < s->n_breakers; i++) {
        const Dr__Breaker *pb = s->breakers[i];
        int id = fsm_provider_parse(pb->provider);
        struct fsm_breaker *b;
        if (id < 0) {
            snprintf(errmsg, 256,
                     "snapshot: breaker of unknown provider \"%.64s\" "
                     "(written by a newer node?)",
                     pb->provider);
            return DR_EVERSION;
        }
        if (seen[id] || (int)pb->state < FSM_BREAKER_CLOSED ||
            (int)pb->state > FSM_BREAKER_HALF_OPEN) {
            snprintf(errmsg, 256,
                     "snapshot: breaker %s is duplicated or "
                     "has an unknown state",
                     pb->provider);
            return DR_EMALFORMED;
        }
        seen[id] = true;
        b = &f->breakers[id];
        b->state = (int)pb->state;
        b->failures = pb->failures;
        b->trials = pb->trials;
        b->opened_ms = pb->opened_ms;
        b->changed_ms = pb->changed_ms;
        b->trial_ms = pb->trial_ms;
        b->transitions = pb->transitions;
        b->successes_total = pb->successes_total;
        b->failures_total = pb->failures_total;
    }
    return DR_OK;
}
