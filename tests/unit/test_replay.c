/* Replay: two FSMs fed the same seeded stream of encoded entries, valid and
 * invalid commands mixed, end byte-identical; so does a third restored from a
 * snapshot midway. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"
#include "fsm/fsm.h"
#include "fsm_helpers.h"
#include "helpers.h"

/* Replay: a seeded pseudo-random stream of valid and invalid commands. */

#define PICK(r, arr) ((arr)[rng_below((r), sizeof(arr) / sizeof((arr)[0]))])

/* Pools weighted towards values that apply, with some that never do. */
static char *gen_names[] = {"eu-west",  "us-east",  "ap-south", "sa-east",
                            "eu-west",  "us-east",  "ap-south", "sa-east",
                            "af-north", "Bad_Name", "",         NULL};
static char *gen_targets[] = {"a.example.com", "10.0.0.1",  "b.example.com",
                              "::1",           "c.example", "-bad"};
static char *gen_stores[] = {"", "s3://dr-a", "file:///x", "s3://dr-b",
                             "ftp://bad"};
static char *gen_keys[] = {"rpo.pg_s",
                           "queue_mode",
                           "failover.mode",
                           "llm.fallback_chain",
                           "history.max_entries",
                           "history.max_entries",
                           "no.such"};
static char *gen_strings[] = {"manual",    "automatic",     "ollama,openai",
                              "anthropic", "openai,openai", "x"};
static const int64_t gen_ints[] = {-1, 0, 16, 17, 20, 60, 300, 100001};

/* Storage that generated commands borrow until encoded. */
struct gen
{
    struct fsm_region regions[3];
    struct fsm_member members[3];
    char *targets[3][3];
    char addr[3][2][32];
};

static void gen_region(struct rng *r, struct fsm_region *reg, char **targets)
{
    memset(reg, 0, sizeof(*reg));
    reg->name = PICK(r, gen_names);
    reg->priority = (int32_t)rng_below(r, 30) - 5;
    reg->n_dns_targets = rng_below(r, 3);
    for (size_t i = 0; i < reg->n_dns_targets; i++) {
        targets[i] = PICK(r, gen_targets); /* may repeat: rejected */
    }
    reg->dns_targets = targets;
    reg->object_store = PICK(r, gen_stores);
}

/* Mostly addresses derived from the id (no conflicts), sometimes another
 * member's, sometimes not an address at all. */
static void gen_member(struct rng *r, struct fsm_member *m, char addr[2][32])
{
    unsigned k = rng_below(r, 8);
    memset(m, 0, sizeof(*m));
    m->id = rng_below(r, 7);
    m->region = PICK(r, gen_names);
    k = k < 6 ? (unsigned)m->id : k == 6 ? rng_below(r, 7) : 70000;
    snprintf(addr[0], 32, "10.0.0.%u:%u", k, k < 7 ? 7000 : k);
    snprintf(addr[1], 32, "10.0.0.%u:8000", k);
    m->raft_address = addr[0];
    m->api_address = addr[1];
}

static void gen_setting(struct rng *r, struct fsm_cmd_setting_set *s)
{
    int i;
    s->key = PICK(r, gen_keys);
    i = fsm_setting_index(s->key);
    if (i >= 0 && rng_below(r, 4) != 0) {
        s->value.type = fsm_settings_table()[i].type;
    } else {
        s->value.type = 1 + (int)rng_below(r, 3);
    }
    s->value.i = PICK(r, gen_ints);
    s->value.b = rng_below(r, 2);
    s->value.s = PICK(r, gen_strings);
}

static void gen_cmd(struct rng *r, struct gen *g, struct fsm_cmd *c)
{
    memset(c, 0, sizeof(*c));
    c->type = 1 + (int)rng_below(r, 8);
    c->actor = rng_below(r, 2) ? "node:1" : "api:x";
    switch (c->type) {
        case FSM_CMD_BOOTSTRAP:
            c->u.bootstrap.n_regions = 1 + rng_below(r, 3);
            c->u.bootstrap.n_members = 1 + rng_below(r, 3);
            for (size_t i = 0; i < c->u.bootstrap.n_regions; i++) {
                gen_region(r, &g->regions[i], g->targets[i]);
            }
            for (size_t i = 0; i < c->u.bootstrap.n_members; i++) {
                gen_member(r, &g->members[i], g->addr[i]);
                g->members[i].region =
                    g->regions[rng_below(r, c->u.bootstrap.n_regions)].name;
            }
            c->u.bootstrap.regions = g->regions;
            c->u.bootstrap.members = g->members;
            c->u.bootstrap.primary_region = g->regions[0].name;
            break;
        case FSM_CMD_REGION_ADD:
        case FSM_CMD_REGION_UPDATE:
            gen_region(r, &c->u.region, g->targets[0]);
            break;
        case FSM_CMD_REGION_REMOVE:
            c->u.region_name = PICK(r, gen_names);
            break;
        case FSM_CMD_MEMBER_PUT:
            gen_member(r, &c->u.member, g->addr[0]);
            break;
        case FSM_CMD_MEMBER_REMOVE:
            c->u.member_id = rng_below(r, 7);
            break;
        case FSM_CMD_SET_PRIMARY:
            c->u.set_primary.region = PICK(r, gen_names);
            c->u.set_primary.reason = rng_below(r, 2) ? "drill" : NULL;
            c->u.set_primary.has_expected_epoch = rng_below(r, 2);
            c->u.set_primary.expected_epoch = rng_below(r, 6);
            break;
        default:
            gen_setting(r, &c->u.setting);
            break;
    }
}

/* The seed being replayed, reported by the teardown when a check fails. */
static bool replay_running;
static uint64_t replay_current;

static int report_seed(void **state)
{
    (void)state;
    if (replay_running) {
        print_message("failed on seed %llu: replay with DR_REPLAY_SEED=%llu\n",
                      (unsigned long long)replay_current,
                      (unsigned long long)replay_current);
        replay_running = false;
    }
    return 0;
}

static void replay_seed(uint64_t seed)
{
    struct rng r = {seed};
    struct fsm a, b, c;
    struct fsm_result ra[8], rb[8];
    struct snap sa, sb, sc;
    unsigned n_entries = 150;
    unsigned restore_at = 1 + rng_below(&r, n_entries - 1);
    uint64_t now = T0;
    unsigned n_ok = 0, n_cmds = 0;
    char err[256];

    replay_running = true;
    replay_current = seed;
    assert_int_equal(fsm_init(&a), DR_OK);
    assert_int_equal(fsm_init(&b), DR_OK);
    memset(&c, 0, sizeof(c));
    for (unsigned k = 0; k < n_entries; k++) {
        struct codec_piece pieces[8];
        uint8_t *enc[8] = {NULL};
        struct gen g;
        struct fsm_cmd cmd;
        size_t n = 1 + rng_below(&r, 8);
        struct snap e;
        int rv;

        n_cmds += (unsigned)n;
        for (size_t i = 0; i < n; i++) {
            unsigned odd = rng_below(&r, 40);
            if (odd == 0 || (k == 0 && i == 0)) {
                /* Bootstrap early, so most commands meet a live state. */
                cmd = boot_cmd();
                rv = codec_cmd_encode(&cmd, &enc[i], &pieces[i].len);
            } else if (odd <= 4) {
                static const struct codec_piece odd_pieces[] = {
                    {odd_cmd_region_add, sizeof(odd_cmd_region_add)},
                    {odd_cmd_member_put, sizeof(odd_cmd_member_put)},
                    {odd_cmd_setting, sizeof(odd_cmd_setting)},
                    {odd_cmd_unknown, sizeof(odd_cmd_unknown)},
                };
                pieces[i] = odd_pieces[odd - 1];
                continue;
            } else {
                gen_cmd(&r, &g, &cmd);
                rv = codec_cmd_encode(&cmd, &enc[i], &pieces[i].len);
            }
            assert_int_equal(rv, DR_OK);
            pieces[i].base = enc[i];
        }
        /* Leaders' clocks disagree: time sometimes runs backwards. */
        now = now + rng_below(&r, 1000) - 300;
        rv = codec_entry_assemble(
            rng_below(&r, 50) ? FSM_VERSION : FSM_VERSION + 1, now, pieces, n,
            malloc, &e.base, &e.len);
        assert_int_equal(rv, DR_OK);
        for (size_t i = 0; i < n; i++) {
            free(enc[i]);
        }
        assert_int_equal(entry_apply(&a, &e, ra, 8),
                         entry_apply(&b, &e, rb, 8));
        for (size_t i = 0; i < n; i++) {
            if (ra[i].code == DR_OK) {
                n_ok++;
            }
            if (ra[i].code != rb[i].code || strcmp(ra[i].msg, rb[i].msg)) {
                fail_msg("seed %llu: entry %u command %zu differs",
                         (unsigned long long)seed, k, i);
            }
        }
        if (k == restore_at) {
            /* A third node joins from a snapshot taken here. */
            sa = snap_take(&a);
            assert_int_equal(codec_snapshot_decode(sa.base, sa.len, &c, err),
                             DR_OK);
            free(sa.base);
        }
        if (k > restore_at) {
            entry_apply(&c, &e, rb, 8);
        }
        free(e.base);
    }
    sa = snap_take(&a);
    sb = snap_take(&b);
    sc = snap_take(&c);
    if (!snap_same(&sa, &sb) || !snap_same(&sa, &sc)) {
        fail_msg("seed %llu: snapshots differ (restored at entry %u)",
                 (unsigned long long)seed, restore_at);
    }
    state_equal(&a, &b);
    state_equal(&a, &c);
    /* The stream must exercise both outcomes to mean anything. */
    if (getenv("DR_REPLAY_STATS") != NULL) {
        print_message(
            "seed %llu: %u of %u commands applied, epoch %llu, "
            "%zu regions, %zu members, audit %zu/%zu\n",
            (unsigned long long)seed, n_ok, n_cmds,
            (unsigned long long)a.site.epoch, a.n_regions, a.n_members,
            a.n_audit, a.cap_audit);
    }
    assert_true(n_ok > n_cmds / 10 && n_ok < n_cmds);
    free(sa.base);
    free(sb.base);
    free(sc.base);
    fsm_close(&a);
    fsm_close(&b);
    fsm_close(&c);
    replay_running = false;
}

/* DR_REPLAY_SEED=n replays one seed; otherwise a fixed list runs. */
static void test_replay_deterministic(void **state)
{
    const char *env = getenv("DR_REPLAY_SEED");
    (void)state;

    if (env != NULL && env[0] != '\0') {
        uint64_t seed = strtoull(env, NULL, 0);
        print_message("replaying seed %llu\n", (unsigned long long)seed);
        replay_seed(seed);
        return;
    }
    for (uint64_t seed = 1; seed <= 60; seed++) {
        replay_seed(seed);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_replay_deterministic, report_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
