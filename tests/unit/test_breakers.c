/* Unit tests of the circuit breakers and region health in the pure FSM,
 * with explicit command times: every transition, the leader's half-open
 * timer across a leader change, a reset racing events, rejections, and
 * their encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dr.pb-c.h"
#include "fsm/fsm.h"
#include "fsm_helpers.h"

#define T 100000ull       /* a time well after bootstrap */
#define RESET_MS 30000ull /* breaker.reset_timeout_ms default */

static const int FAIL[FSM_BREAKER_EVENTS_MAX + 1]; /* all failures */
static const int OK1[1] = {1};

static struct fsm_cmd events_cmd(int provider, const int *outcomes, size_t n)
{
    struct fsm_cmd c = {.type = FSM_CMD_BREAKER_EVENTS, .actor = "app"};
    c.u.breaker.provider = provider;
    c.u.breaker.outcomes = outcomes;
    c.u.breaker.n_outcomes = n;
    return c;
}

static struct fsm_cmd breaker_cmd(int type, int provider)
{
    struct fsm_cmd c = {.type = type, .actor = "leader"};
    c.u.breaker.provider = provider;
    return c;
}

static struct fsm_cmd health_cmd(const char *region, int db, int redis)
{
    struct fsm_cmd c = {.type = FSM_CMD_REGION_HEALTH, .actor = "node:1"};
    c.u.health.region = region;
    for (int i = 0; i < FSM_SERVICES; i++) {
        c.u.health.health[i] = FSM_SVC_UP;
    }
    c.u.health.health[FSM_SVC_DATABASE] = db;
    c.u.health.health[FSM_SVC_REDIS] = redis;
    return c;
}

static void fail_n(struct fsm *f, int provider, size_t n, uint64_t now)
{
    struct fsm_cmd c = events_cmd(provider, FAIL, n);
    expect_ok(f, &c, now);
}

static void succeed(struct fsm *f, int provider, uint64_t now)
{
    struct fsm_cmd c = events_cmd(provider, OK1, 1);
    expect_ok(f, &c, now);
}

static const struct fsm_breaker *br(const struct fsm *f, int p)
{
    return &f->breakers[p];
}

/* Closed counts consecutive failures; a success starts over; the fifth
 * opens it, and only it. */
static void test_opens_after_threshold(void **state)
{
    struct fsm *f = *state;
    const int mixed[] = {0, 0, 0, 0, 1, 0, 0, 0, 0};

    assert_int_equal(br(f, FSM_PROVIDER_OLLAMA)->state, FSM_BREAKER_CLOSED);
    {
        struct fsm_cmd c = events_cmd(FSM_PROVIDER_OLLAMA, mixed, 9);
        expect_ok(f, &c, T);
    }
    assert_int_equal(br(f, FSM_PROVIDER_OLLAMA)->state, FSM_BREAKER_CLOSED);
    assert_int_equal(br(f, FSM_PROVIDER_OLLAMA)->failures, 4);
    fail_n(f, FSM_PROVIDER_OLLAMA, 1, T + 10);
    assert_int_equal(br(f, FSM_PROVIDER_OLLAMA)->state, FSM_BREAKER_OPEN);
    assert_int_equal(br(f, FSM_PROVIDER_OLLAMA)->opened_ms, T + 10);
    assert_int_equal(br(f, FSM_PROVIDER_OLLAMA)->transitions, 1);
    assert_int_equal(br(f, FSM_PROVIDER_OLLAMA)->failures_total, 9);
    assert_int_equal(br(f, FSM_PROVIDER_OLLAMA)->successes_total, 1);
    assert_string_equal(audit_last(f)->action, "breaker-open");
    assert_string_equal(audit_last(f)->detail,
                        "ollama: 5 consecutive failures");
    /* The others are untouched. */
    assert_int_equal(br(f, FSM_PROVIDER_OPENAI)->state, FSM_BREAKER_CLOSED);
    assert_int_equal(br(f, FSM_PROVIDER_OPENAI)->failures_total, 0);
}

/* The threshold is a replicated setting. */
static void test_threshold_setting(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd s = setting_int_cmd("breaker.failure_threshold", 2);

    expect_ok(f, &s, T);
    fail_n(f, FSM_PROVIDER_OPENAI, 1, T + 1);
    assert_int_equal(br(f, FSM_PROVIDER_OPENAI)->state, FSM_BREAKER_CLOSED);
    fail_n(f, FSM_PROVIDER_OPENAI, 1, T + 2);
    assert_int_equal(br(f, FSM_PROVIDER_OPENAI)->state, FSM_BREAKER_OPEN);
}

/* Open ignores late outcomes; half-open comes only once the timeout is
 * over; a success there closes it. */
static void test_half_open_then_close(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd h =
        breaker_cmd(FSM_CMD_BREAKER_HALF_OPEN, FSM_PROVIDER_OLLAMA);

    assert_int_equal(fsm_breaker_due(f, FSM_PROVIDER_OLLAMA), 0);
    expect_reject_at(f, &h, T, DR_ECONFLICT,
                     "breaker ollama is closed: nothing to time out");
    fail_n(f, FSM_PROVIDER_OLLAMA, 5, T);
    assert_int_equal(fsm_breaker_due(f, FSM_PROVIDER_OLLAMA), T + RESET_MS);
    succeed(f, FSM_PROVIDER_OLLAMA, T + 100); /* late: ignored */
    assert_int_equal(br(f, FSM_PROVIDER_OLLAMA)->state, FSM_BREAKER_OPEN);
    expect_reject_at(f, &h, T + RESET_MS - 1, DR_ECONFLICT,
                     "reset timeout not over (1 ms left)");
    expect_ok(f, &h, T + RESET_MS);
    assert_int_equal(br(f, FSM_PROVIDER_OLLAMA)->state, FSM_BREAKER_HALF_OPEN);
    assert_string_equal(audit_last(f)->action, "breaker-half-open");
    assert_int_equal(fsm_breaker_due(f, FSM_PROVIDER_OLLAMA), 0);
    succeed(f, FSM_PROVIDER_OLLAMA, T + RESET_MS + 5);
    assert_int_equal(br(f, FSM_PROVIDER_OLLAMA)->state, FSM_BREAKER_CLOSED);
    assert_int_equal(br(f, FSM_PROVIDER_OLLAMA)->failures, 0);
    assert_int_equal(br(f, FSM_PROVIDER_OLLAMA)->transitions, 3);
    assert_string_equal(audit_last(f)->detail,
                        "ollama: a trial request succeeded");
}

/* A failure in half-open opens it again, with a fresh timeout. */
static void test_half_open_failure_reopens(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd h =
        breaker_cmd(FSM_CMD_BREAKER_HALF_OPEN, FSM_PROVIDER_ANTHROPIC);
    uint64_t t2 = T + RESET_MS + 50;

    fail_n(f, FSM_PROVIDER_ANTHROPIC, 5, T);
    expect_ok(f, &h, T + RESET_MS);
    fail_n(f, FSM_PROVIDER_ANTHROPIC, 1, t2);
    assert_int_equal(br(f, FSM_PROVIDER_ANTHROPIC)->state, FSM_BREAKER_OPEN);
    assert_int_equal(br(f, FSM_PROVIDER_ANTHROPIC)->opened_ms, t2);
    assert_int_equal(fsm_breaker_due(f, FSM_PROVIDER_ANTHROPIC), t2 + RESET_MS);
    expect_reject_at(f, &h, T + RESET_MS + 100, DR_ECONFLICT,
                     "reset timeout not over");
}

/* Half-open admits breaker.half_open_max trials; when none reports back,
 * the leader re-arms it after another timeout. */
static void test_trials(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd tr = breaker_cmd(FSM_CMD_BREAKER_TRIAL, FSM_PROVIDER_OPENAI);
    struct fsm_cmd h =
        breaker_cmd(FSM_CMD_BREAKER_HALF_OPEN, FSM_PROVIDER_OPENAI);
    uint64_t t = T + RESET_MS;

    expect_reject_at(f, &tr, T, DR_ECONFLICT,
                     "breaker openai is closed, not half_open");
    fail_n(f, FSM_PROVIDER_OPENAI, 5, T);
    expect_reject_at(f, &tr, T + 1, DR_ECONFLICT, "is open, not half_open");
    expect_ok(f, &h, t);
    for (int i = 0; i < 3; i++) {
        expect_ok(f, &tr, t + 10 + (uint64_t)i);
    }
    assert_int_equal(br(f, FSM_PROVIDER_OPENAI)->trials, 3);
    expect_reject_at(f, &tr, t + 20, DR_ECONFLICT,
                     "every trial request (3) is already out");
    assert_int_equal(fsm_breaker_due(f, FSM_PROVIDER_OPENAI),
                     t + 12 + RESET_MS);
    expect_reject_at(f, &h, t + 12 + RESET_MS - 1, DR_ECONFLICT, "not over");
    expect_ok(f, &h, t + 12 + RESET_MS);
    assert_int_equal(br(f, FSM_PROVIDER_OPENAI)->state, FSM_BREAKER_HALF_OPEN);
    assert_int_equal(br(f, FSM_PROVIDER_OPENAI)->trials, 0);
    expect_ok(f, &tr, t + 13 + RESET_MS);
}

/* Leader change in half-open: the new leader works from the replicated
 * state (a snapshot of it here), computes the same due time, and a
 * duplicate HALF_OPEN from the deposed leader changes nothing. */
static void test_leader_change_in_half_open(void **state)
{
    struct fsm *f = *state;
    struct fsm g;
    struct snap a;
    char err[256];
    struct fsm_cmd h =
        breaker_cmd(FSM_CMD_BREAKER_HALF_OPEN, FSM_PROVIDER_OLLAMA);

    fail_n(f, FSM_PROVIDER_OLLAMA, 5, T);
    /* The old leader dies before its timer fires; the new one starts from
     * the state (as after a snapshot install). */
    a = snap_take(f);
    assert_int_equal(codec_snapshot_decode(a.base, a.len, &g, err), DR_OK);
    free(a.base);
    assert_int_equal(fsm_breaker_due(&g, FSM_PROVIDER_OLLAMA), T + RESET_MS);
    expect_ok(&g, &h, T + RESET_MS + 700);
    assert_int_equal(g.breakers[FSM_PROVIDER_OLLAMA].state,
                     FSM_BREAKER_HALF_OPEN);
    /* The deposed leader's proposal arrives afterwards: refused. */
    expect_reject_at(&g, &h, T + RESET_MS + 800, DR_ECONFLICT,
                     "breaker ollama is half_open: nothing to time out");
    /* A trial outcome sent to the old leader lands through the new one. */
    {
        struct fsm_cmd c = events_cmd(FSM_PROVIDER_OLLAMA, OK1, 1);
        expect_ok(&g, &c, T + RESET_MS + 900);
    }
    assert_int_equal(g.breakers[FSM_PROVIDER_OLLAMA].state, FSM_BREAKER_CLOSED);
    fsm_close(&g);
}

/* A reset racing events: whichever the log orders first wins, and neither
 * order leaves a half-counted state. */
static void test_reset_races_events(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd all = breaker_cmd(FSM_CMD_BREAKER_RESET, -1);
    struct fsm_cmd one =
        breaker_cmd(FSM_CMD_BREAKER_RESET, FSM_PROVIDER_OPENAI);

    /* Events first: it opened, then the reset closes it. */
    fail_n(f, FSM_PROVIDER_OPENAI, 5, T);
    fail_n(f, FSM_PROVIDER_OLLAMA, 5, T);
    expect_ok(f, &one, T + 1);
    assert_int_equal(br(f, FSM_PROVIDER_OPENAI)->state, FSM_BREAKER_CLOSED);
    assert_int_equal(br(f, FSM_PROVIDER_OLLAMA)->state, FSM_BREAKER_OPEN);
    assert_string_equal(audit_last(f)->action, "breaker-reset");
    assert_string_equal(audit_last(f)->detail, "openai");
    /* Reset first, then the late batch of four failures: closed, and the
     * count starts from zero (four, not nine). */
    fail_n(f, FSM_PROVIDER_ANTHROPIC, 4, T + 2);
    expect_ok(f, &all, T + 3);
    fail_n(f, FSM_PROVIDER_ANTHROPIC, 4, T + 4);
    assert_int_equal(br(f, FSM_PROVIDER_ANTHROPIC)->state, FSM_BREAKER_CLOSED);
    assert_int_equal(br(f, FSM_PROVIDER_ANTHROPIC)->failures, 4);
    for (int p = 0; p < FSM_PROVIDERS; p++) {
        assert_int_not_equal(br(f, p)->state, FSM_BREAKER_OPEN);
    }
    assert_string_equal(audit_last(f)->detail, "all");
    /* A HALF_OPEN the leader proposed before the reset landed: refused. */
    {
        struct fsm_cmd h =
            breaker_cmd(FSM_CMD_BREAKER_HALF_OPEN, FSM_PROVIDER_OLLAMA);
        expect_reject_at(f, &h, T + RESET_MS + 10, DR_ECONFLICT,
                         "nothing to time out");
    }
}

/* Bad commands change nothing. */
static void test_breaker_rejections(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c = events_cmd(-2, FAIL, 1);

    expect_reject(f, &c, DR_EINVAL, "unknown LLM provider");
    c = events_cmd(FSM_PROVIDERS, FAIL, 1);
    expect_reject(f, &c, DR_EINVAL, "unknown LLM provider");
    c = events_cmd(FSM_PROVIDER_OLLAMA, FAIL, 0);
    expect_reject(f, &c, DR_EINVAL, "no outcomes in the batch");
    c = events_cmd(FSM_PROVIDER_OLLAMA, FAIL, FSM_BREAKER_EVENTS_MAX + 1);
    expect_reject(f, &c, DR_ELIMIT, "1001 outcomes in one batch; at most 1000");
    c = breaker_cmd(FSM_CMD_BREAKER_TRIAL, -1);
    expect_reject(f, &c, DR_EINVAL, "unknown LLM provider");
    c = breaker_cmd(FSM_CMD_BREAKER_RESET, 7);
    expect_reject(f, &c, DR_EINVAL, "unknown LLM provider");
    c = events_cmd(FSM_PROVIDER_OLLAMA, FAIL, FSM_BREAKER_EVENTS_MAX);
    expect_ok(f, &c, T);
}

/* Region health: database or Redis down degrades a region; only a status
 * change is audited; bad reports change nothing. */
static void test_region_health(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c = health_cmd("us-east", FSM_SVC_UP, FSM_SVC_UP);
    const struct fsm_region *r;
    uint64_t seq;

    expect_ok(f, &c, T);
    r = fsm_region_get(f, "us-east");
    assert_int_equal(r->status, FSM_REGION_HEALTHY);
    assert_int_equal(r->health[FSM_SVC_DATABASE], FSM_SVC_UP);
    assert_int_equal(r->health_ms, T);
    seq = f->audit_seq;
    c = health_cmd("us-east", FSM_SVC_DOWN, FSM_SVC_UP);
    expect_ok(f, &c, T + 1);
    r = fsm_region_get(f, "us-east");
    assert_int_equal(r->status, FSM_REGION_DEGRADED);
    assert_string_equal(audit_last(f)->action, "region-status");
    assert_string_equal(audit_last(f)->detail,
                        "us-east: healthy -> degraded (down: database)");
    seq = f->audit_seq;
    c = health_cmd("us-east", FSM_SVC_UP, FSM_SVC_DOWN); /* still degraded */
    expect_ok(f, &c, T + 2);
    assert_int_equal(f->audit_seq, seq);
    assert_int_equal(fsm_region_get(f, "us-east")->health_ms, T + 2);
    expect_ok(f, &c, T + 3); /* same report: nothing changes */
    assert_int_equal(fsm_region_get(f, "us-east")->health_ms, T + 2);
    c = health_cmd("us-east", FSM_SVC_UP, FSM_SVC_UP);
    expect_ok(f, &c, T + 4);
    assert_int_equal(fsm_region_get(f, "us-east")->status, FSM_REGION_HEALTHY);
    assert_string_equal(audit_last(f)->detail, "us-east: degraded -> healthy");
    /* Other services being down does not degrade the region. */
    c.u.health.health[FSM_SVC_OLLAMA] = FSM_SVC_DOWN;
    expect_ok(f, &c, T + 5);
    assert_int_equal(fsm_region_get(f, "us-east")->status, FSM_REGION_HEALTHY);
    assert_int_equal(
        fsm_region_status_for(FSM_REGION_LOST, c.u.health.health, true),
        FSM_REGION_LOST);
    /* Its nodes go silent: every service unknown, the region degraded. */
    memset(c.u.health.health, 0, sizeof(c.u.health.health));
    expect_ok(f, &c, T + 6);
    assert_int_equal(fsm_region_get(f, "us-east")->status, FSM_REGION_DEGRADED);
    assert_string_equal(audit_last(f)->detail,
                        "us-east: healthy -> degraded (no report from its "
                        "nodes)");
    /* A region that never reported is not degraded by saying nothing. */
    c = health_cmd("ap-south", FSM_SVC_UP, FSM_SVC_UP);
    memset(c.u.health.health, 0, sizeof(c.u.health.health));
    expect_ok(f, &c, T + 7);
    assert_int_equal(fsm_region_get(f, "ap-south")->status, FSM_REGION_HEALTHY);

    c = health_cmd("mars", FSM_SVC_UP, FSM_SVC_UP);
    expect_reject(f, &c, DR_ENOTFOUND, "region \"mars\" does not exist");
    c = health_cmd("us-east", 3, FSM_SVC_UP);
    expect_reject(f, &c, DR_EINVAL,
                  "region us-east: database has an "
                  "invalid status 3");
}

/* The fallback chain setting, parsed in order. */
static void test_fallback_chain(void **state)
{
    struct fsm *f = *state;
    int chain[FSM_PROVIDERS];
    struct fsm_cmd s =
        setting_str_cmd("llm.fallback_chain", "anthropic,ollama");

    assert_int_equal(fsm_fallback_chain(f, chain), 3);
    assert_int_equal(chain[0], FSM_PROVIDER_OLLAMA);
    assert_int_equal(chain[2], FSM_PROVIDER_ANTHROPIC);
    expect_ok(f, &s, T);
    assert_int_equal(fsm_fallback_chain(f, chain), 2);
    assert_int_equal(chain[0], FSM_PROVIDER_ANTHROPIC);
    assert_int_equal(chain[1], FSM_PROVIDER_OLLAMA);
    s = setting_str_cmd("llm.fallback_chain", "ollama,mistral");
    expect_reject(f, &s, DR_EINVAL, "mistral");
}

/* Every command survives encoding, and replay of the encoded entries and a
 * snapshot round trip give the same state. */
static void test_codec_round_trip(void **state)
{
    struct fsm *f = *state;
    struct fsm g;
    struct fsm_cmd cmds[8];
    struct fsm_result res[1];
    struct snap a, b;
    char err[256];
    const int mixed[] = {0, 0, 1, 0, 0, 0, 0, 0};
    size_t n = 0;

    cmds[n++] = events_cmd(FSM_PROVIDER_OLLAMA, mixed, 8);
    cmds[n++] = breaker_cmd(FSM_CMD_BREAKER_HALF_OPEN, FSM_PROVIDER_OLLAMA);
    cmds[n++] = breaker_cmd(FSM_CMD_BREAKER_TRIAL, FSM_PROVIDER_OLLAMA);
    cmds[n++] = events_cmd(FSM_PROVIDER_OPENAI, mixed, 8);
    cmds[n++] = breaker_cmd(FSM_CMD_BREAKER_RESET, FSM_PROVIDER_OPENAI);
    cmds[n++] = health_cmd("eu-west", FSM_SVC_UP, FSM_SVC_DOWN);
    cmds[n++] = breaker_cmd(FSM_CMD_BREAKER_RESET, -1);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(cmd_apply_encoded(f, &cmds[i], T + i * RESET_MS, res),
                         DR_OK);
        assert_int_equal(res[0].code, DR_OK);
        if (i == 2) {
            assert_int_equal(f->breakers[FSM_PROVIDER_OLLAMA].trials, 1);
        }
    }
    assert_int_equal(fsm_region_get(f, "eu-west")->status, FSM_REGION_DEGRADED);
    assert_int_equal(fsm_region_get(f, "eu-west")->health[FSM_SVC_WASM],
                     FSM_SVC_UP);
    assert_int_equal(f->breakers[FSM_PROVIDER_OPENAI].failures_total, 7);
    fail_n(f, FSM_PROVIDER_ANTHROPIC, 5, T + 10 * RESET_MS);
    a = snap_take(f);
    assert_int_equal(codec_snapshot_decode(a.base, a.len, &g, err), DR_OK);
    b = snap_take(&g);
    assert_true(snap_same(&a, &b));
    state_equal(f, &g);
    fsm_close(&g);
    free(a.base);
    free(b.base);
}

/* A snapshot with a breaker or health this node cannot trust is refused
 * whole, with the reason. */
static void test_snapshot_rejected(void **state)
{
    struct fsm *f = *state;
    struct fsm g;
    char err[256];
    struct
    {
        int what, code;
        const char *msg;
    } cases[] = {
        {0, DR_EVERSION, "breaker of unknown provider \"mistral\""},
        {1, DR_EMALFORMED, "breaker ollama is duplicated"},
        {2, DR_EMALFORMED,
         "breaker openai is duplicated or has an unknown "
         "state"},
        {3, DR_EMALFORMED, "region ap-south has an invalid service health"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct snap a = snap_take(f);
        Dr__Snapshot *pb = dr__snapshot__unpack(NULL, a.len, a.base);
        char *saved = NULL;
        uint8_t *bad;
        size_t len;

        assert_non_null(pb);
        assert_int_equal(pb->n_breakers, FSM_PROVIDERS);
        switch (cases[i].what) {
            case 0:
                saved = pb->breakers[2]->provider;
                pb->breakers[2]->provider = "mistral";
                break;
            case 1:
                saved = pb->breakers[1]->provider;
                pb->breakers[1]->provider = "ollama";
                break;
            case 2:
                pb->breakers[1]->state = (Dr__BreakerState)5;
                break;
            case 3:
                pb->regions[0]->health = 3;
                break; /* database = 3 */
        }
        len = dr__snapshot__get_packed_size(pb);
        bad = malloc(len);
        assert_non_null(bad);
        dr__snapshot__pack(pb, bad);
        assert_int_equal(codec_snapshot_decode(bad, len, &g, err),
                         cases[i].code);
        if (strstr(err, cases[i].msg) == NULL) {
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].msg);
        }
        if (saved != NULL) {
            pb->breakers[cases[i].what == 0 ? 2 : 1]->provider = saved;
        }
        dr__snapshot__free_unpacked(pb, NULL);
        free(bad);
        free(a.base);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOOTED(test_opens_after_threshold),
        BOOTED(test_threshold_setting),
        BOOTED(test_half_open_then_close),
        BOOTED(test_half_open_failure_reopens),
        BOOTED(test_trials),
        BOOTED(test_leader_change_in_half_open),
        BOOTED(test_reset_races_events),
        BOOTED(test_breaker_rejections),
        BOOTED(test_region_health),
        BOOTED(test_fallback_chain),
        BOOTED(test_codec_round_trip),
        BOOTED(test_snapshot_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
