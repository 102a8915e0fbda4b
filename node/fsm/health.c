/* Circuit breakers of the LLM providers and the health of each region's
 * services, as committed by the leader.
 *
 * A breaker moves closed -> open (breaker.failure_threshold consecutive
 * failures) -> half_open (the leader's BREAKER_HALF_OPEN, once
 * breaker.reset_timeout_ms passed since it opened) -> closed (a success) or
 * open again (a failure). Only these moves exist; RESET closes any breaker.
 * Times are the commands' own, so a new leader resumes the timers from the
 * replicated state. */
#include <stdio.h>
#include <string.h>

#include "fsm/internal.h"

static const char *const provider_names[FSM_PROVIDERS] = {"ollama", "openai",
                                                          "anthropic"};
static const char *const service_names[FSM_SERVICES] = {
    "database", "redis", "ollama", "openai", "anthropic", "app", "wasm"};

const char *fsm_provider_name(int provider)
{
    return provider >= 0 && provider < FSM_PROVIDERS ? provider_names[provider]
                                                     : "unknown";
}

int fsm_provider_parse(const char *name)
{
    for (int i = 0; name != NULL && i < FSM_PROVIDERS; i++) {
        if (strcmp(name, provider_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

const char *fsm_breaker_state_name(int state)
{
    switch (state) {
        case FSM_BREAKER_CLOSED:
            return "closed";
        case FSM_BREAKER_OPEN:
            return "open";
        case FSM_BREAKER_HALF_OPEN:
            return "half_open";
    }
    return "unknown";
}

const char *fsm_service_name(int service)
{
    return service >= 0 && service < FSM_SERVICES ? service_names[service]
                                                  : "unknown";
}

const char *fsm_service_status_name(int status)
{
    switch (status) {
        case FSM_SVC_UNKNOWN:
            return "unknown";
        case FSM_SVC_UP:
            return "up";
        case FSM_SVC_DOWN:
            return "down";
    }
    return "invalid";
}

uint64_t fsm_breaker_due(const struct fsm *f, int provider)
{
    const struct fsm_breaker *b = &f->breakers[provider];
    uint64_t timeout = (uint64_t)fsm_setting_int(f, "breaker.reset_timeout_ms");
    uint64_t max = (uint64_t)fsm_setting_int(f, "breaker.half_open_max");

    if (b->state == FSM_BREAKER_OPEN) {
        return b->opened_ms + timeout;
    }
    /* Every trial admitted and none reported back: after another timeout,
     * admit new ones (a trial's caller may have died). */
    if (b->state == FSM_BREAKER_HALF_OPEN && b->trials >= max) {
        return b->trial_ms + timeout;
    }
    return 0;
}

size_t fsm_fallback_chain(const struct fsm *f, int *providers)
{
    const struct fsm_value *v = fsm_setting(f, "llm.fallback_chain");
    const char *p = v != NULL && v->s != NULL ? v->s : "";
    size_t n = 0;

    while (*p != '\0' && n < FSM_PROVIDERS) {
        char name[FSM_NAME_MAX + 1];
        size_t len = strcspn(p, ",");
        int id;
        bool seen = false;
        if (len <= FSM_NAME_MAX) {
            memcpy(name, p, len);
            name[len] = '\0';
            id = fsm_provider_parse(name);
            for (size_t i = 0; i < n; i++) {
                seen = seen || providers[i] == id;
            }
            if (id >= 0 && !seen) {
                providers[n++] = id;
            }
        }
        p += len;
        p += *p == ',';
    }
    return n;
}

int fsm_region_status_for(int current, const int *health, bool reported)
{
    bool silent = true;

    if (current == FSM_REGION_LOST) {
        return FSM_REGION_LOST;
    }
    if (health[FSM_SVC_DATABASE] == FSM_SVC_DOWN ||
        health[FSM_SVC_REDIS] == FSM_SVC_DOWN) {
        return FSM_REGION_DEGRADED;
    }
    for (int i = 0; i < FSM_SERVICES; i++) {
        silent = silent && health[i] == FSM_SVC_UNKNOWN;
    }
    /* It reported before and now says nothing: its nodes are silent. */
    return reported && silent ? FSM_REGION_DEGRADED : FSM_REGION_HEALTHY;
}

static int check_provider(int provider, bool allow_all, struct fsm_result *res)
{
    if ((provider == -1 && allow_all) ||
        (provider >= 0 && provider < FSM_PROVIDERS)) {
        return DR_OK;
    }
    return fsm__reject(res, DR_EINVAL,
                       "unknown LLM provider (expected ollama, openai or "
                       "anthropic)");
}

static int check_region_health(const struct fsm *f,
                               const struct fsm_cmd_region_health *h,
                               struct fsm_result *res)
{
    if (h->region == NULL || fsm_region_get(f, h->region) == NULL) {
        return fsm__reject(res, DR_ENOTFOUND, "region \"%.64s\" does not exist",
                           h->region ? h->region : "");
    }
    for (int i = 0; i < FSM_SERVICES; i++) {
        if (h->health[i] < FSM_SVC_UNKNOWN || h->health[i] > FSM_SVC_DOWN) {
            return fsm__reject(res, DR_EINVAL,
                               "region %s: %s has an invalid status %d",
                               h->region, fsm_service_name(i), h->health[i]);
        }
    }
    return DR_OK;
}

int fsm__health_check(const struct fsm *f,
                      const struct fsm_cmd *cmd,
                      uint64_t now,
                      struct fsm_result *res)
{
    const struct fsm_cmd_breaker *c = &cmd->u.breaker;
    const struct fsm_breaker *b;

    switch (cmd->type) {
        case FSM_CMD_REGION_HEALTH:
            return check_region_health(f, &cmd->u.health, res);
        case FSM_CMD_BREAKER_RESET:
            return check_provider(c->provider, true, res);
        default:
            break;
    }
    if (check_provider(c->provider, false, res) != DR_OK) {
        return res->code;
    }
    b = &f->breakers[c->provider];
    switch (cmd->type) {
        case FSM_CMD_BREAKER_EVENTS:
            if (c->n_outcomes == 0 || c->outcomes == NULL) {
                return fsm__reject(res, DR_EINVAL, "no outcomes in the batch");
            }
            if (c->n_outcomes > FSM_BREAKER_EVENTS_MAX) {
                return fsm__reject(res, DR_ELIMIT,
                                   "%zu outcomes in one batch; at most %d",
                                   c->n_outcomes, FSM_BREAKER_EVENTS_MAX);
            }
            return DR_OK;
        case FSM_CMD_BREAKER_TRIAL:
            if (b->state != FSM_BREAKER_HALF_OPEN) {
                return fsm__reject(res, DR_ECONFLICT,
                                   "breaker %s is %s, not half_open",
                                   fsm_provider_name(c->provider),
                                   fsm_breaker_state_name(b->state));
            }
            if (b->trials >=
                (uint64_t)fsm_setting_int(f, "breaker.half_open_max")) {
                return fsm__reject(res, DR_ECONFLICT,
                                   "breaker %s: every trial request (%u) is "
                                   "already out",
                                   fsm_provider_name(c->provider), b->trials);
            }
            return DR_OK;
        case FSM_CMD_BREAKER_HALF_OPEN: {
            uint64_t due = fsm_breaker_due(f, c->provider);
            if (due == 0) {
                return fsm__reject(res, DR_ECONFLICT,
                                   "breaker %s is %s: nothing to time out",
                                   fsm_provider_name(c->provider),
                                   fsm_breaker_state_name(b->state));
            }
            if (now != 0 && now < due) {
                return fsm__reject(res, DR_ECONFLICT,
                                   "breaker %s: reset timeout not over "
                                   "(%llu ms left)",
                                   fsm_provider_name(c->provider),
                                   (unsigned long long)(due - now));
            }
            return DR_OK;
        }
    }
    return fsm__reject(res, DR_EINVAL, "unknown or malformed command (type %d)",
                       cmd->type);
}

static void breaker_move(struct fsm *f,
                         int provider,
                         int state,
                         uint64_t now,
                         const char *actor,
                         const char *why)
{
    struct fsm_breaker *b = &f->breakers[provider];
    static const char *const actions[] = {"breaker-close", "breaker-open",
                                          "breaker-half-open"};

    b->state = state;
    b->changed_ms = now;
    b->transitions++;
    b->trials = 0;
    if (state == FSM_BREAKER_OPEN) {
        b->opened_ms = now;
    }
    b->failures = 0;
    fsm__audit_add(f, now, actor, actions[state], "%s: %s",
                   fsm_provider_name(provider), why);
}

static void breaker_outcome(struct fsm *f,
                            int provider,
                            bool ok,
                            uint64_t now,
                            const char *actor)
{
    struct fsm_breaker *b = &f->breakers[provider];
    uint64_t threshold =
        (uint64_t)fsm_setting_int(f, "breaker.failure_threshold");
    char why[96];

    if (ok) {
        b->successes_total++;
    } else {
        b->failures_total++;
    }
    switch (b->state) {
        case FSM_BREAKER_CLOSED:
            if (ok) {
                b->failures = 0;
                return;
            }
            b->failures++;
            if (b->failures >= threshold) {
                snprintf(why, sizeof(why), "%u consecutive failures",
                         b->failures);
                breaker_move(f, provider, FSM_BREAKER_OPEN, now, actor, why);
            }
            return;
        case FSM_BREAKER_HALF_OPEN:
            breaker_move(
                f, provider, ok ? FSM_BREAKER_CLOSED : FSM_BREAKER_OPEN, now,
                actor,
                ok ? "a trial request succeeded" : "a trial request failed");
            return;
        default:
            /* Open: late outcomes of requests sent before it opened. */
            return;
    }
}

static void region_health_set(struct fsm *f,
                              const struct fsm_cmd_region_health *h,
                              uint64_t now,
                              const char *actor)
{
    struct fsm_region *r = (struct fsm_region *)fsm_region_get(f, h->region);
    int status = fsm_region_status_for(r->status, h->health, r->health_ms != 0);
    char down[160] = "";
    size_t off = 0;

    if (memcmp(r->health, h->health, sizeof(r->health)) == 0) {
        return;
    }
    memcpy(r->health, h->health, sizeof(r->health));
    r->health_ms = now;
    if (status == r->status) {
        return;
    }
    for (int i = 0; i < FSM_SERVICES; i++) {
        if (h->health[i] == FSM_SVC_DOWN && off < sizeof(down)) {
            int n = snprintf(down + off, sizeof(down) - off, "%s%s",
                             off ? ", " : "", fsm_service_name(i));
            off += n > 0 ? (size_t)n : 0;
        }
    }
    fsm__audit_add(
        f, now, actor, "region-status", "%s: %s -> %s%s%s%s", r->name,
        fsm_region_status_name(r->status), fsm_region_status_name(status),
        down[0] ? " (down: "
                : (status == FSM_REGION_DEGRADED ? " (no report from its nodes"
                                                 : ""),
        down, status == FSM_REGION_DEGRADED || down[0] ? ")" : "");
    r->status = status;
    r->updated_ms = now;
}

int fsm__health_mutate(struct fsm *f,
                       const struct fsm_cmd *cmd,
                       uint64_t now,
                       struct fsm_result *res)
{
    const struct fsm_cmd_breaker *c = &cmd->u.breaker;
    struct fsm_breaker *b;
    (void)res;

    switch (cmd->type) {
        case FSM_CMD_REGION_HEALTH:
            region_health_set(f, &cmd->u.health, now, cmd->actor);
            return DR_OK;
        case FSM_CMD_BREAKER_RESET:
            for (int i = 0; i < FSM_PROVIDERS; i++) {
                if (c->provider != -1 && c->provider != i) {
                    continue;
                }
                b = &f->breakers[i];
                if (b->state != FSM_BREAKER_CLOSED) {
                    b->state = FSM_BREAKER_CLOSED;
                    b->changed_ms = now;
                    b->transitions++;
                }
                b->failures = 0;
                b->trials = 0;
            }
            fsm__audit_add(
                f, now, cmd->actor, "breaker-reset", "%s",
                c->provider == -1 ? "all" : fsm_provider_name(c->provider));
            return DR_OK;
        case FSM_CMD_BREAKER_EVENTS:
            for (size_t i = 0; i < c->n_outcomes; i++) {
                breaker_outcome(f, c->provider, c->outcomes[i], now,
                                cmd->actor);
            }
            return DR_OK;
        case FSM_CMD_BREAKER_TRIAL:
            b = &f->breakers[c->provider];
            b->trials++;
            b->trial_ms = now;
            return DR_OK;
        case FSM_CMD_BREAKER_HALF_OPEN:
            b = &f->breakers[c->provider];
            if (b->state == FSM_BREAKER_HALF_OPEN) {
                /* Re-arm: the trials admitted never reported back. */
                b->trials = 0;
                fsm__audit_add(f, now, cmd->actor, "breaker-half-open",
                               "%s: no trial request reported back; "
                               "admitting new ones",
                               fsm_provider_name(c->provider));
                return DR_OK;
            }
            breaker_move(f, c->provider, FSM_BREAKER_HALF_OPEN, now, cmd->actor,
                         "reset timeout over");
            return DR_OK;
    }
    return DR_EINVAL;
}
