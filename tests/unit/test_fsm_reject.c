/* Unit tests of the FSM: every kind of invalid command is rejected with its
 * code and message and changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fsm/fsm.h"
#include "fsm_helpers.h"

/* Rejections: every kind, with its code and message, changing nothing. */

static void test_before_bootstrap_rejected(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd cmds[7];
    const char *msg = "cluster is not bootstrapped yet";

    cmds[0] = region_cmd(FSM_CMD_REGION_ADD, region("eu", 1, NULL, 0, ""));
    cmds[1] = region_cmd(FSM_CMD_REGION_UPDATE, region("eu", 1, NULL, 0, ""));
    cmds[2] = region_remove_cmd("eu");
    cmds[3] = member_put_cmd(member(1, "eu", "a:1", "a:2"));
    cmds[4] = member_remove_cmd(1);
    cmds[5] = primary_cmd("eu", "");
    cmds[6] = setting_int_cmd("rpo.pg_s", 60);
    for (size_t i = 0; i < 7; i++) {
        expect_reject(f, &cmds[i], DR_EUNAVAILABLE, msg);
    }
    assert_false(f->initialized);
}

static void test_bootstrap_twice_rejected(void **state)
{
    struct fsm *f = *state;
    struct boot b;
    boot_make(&b);
    expect_reject(f, &b.cmd, DR_ECONFLICT, "cluster is already bootstrapped");
}

static void test_bootstrap_invalid(void **state)
{
    struct fsm *f = *state;
    struct fsm_region many[FSM_REGIONS_MAX + 1];
    char names[FSM_REGIONS_MAX + 1][8];
    struct boot b;

    boot_make(&b);
    b.cmd.u.bootstrap.n_regions = 0;
    expect_reject(f, &b.cmd, DR_EINVAL, "at least one region and one member");
    boot_make(&b);
    b.cmd.u.bootstrap.n_members = 0;
    expect_reject(f, &b.cmd, DR_EINVAL, "at least one region and one member");
    boot_make(&b);
    b.cmd.u.bootstrap.primary_region = "sa-east";
    expect_reject(f, &b.cmd, DR_EINVAL,
                  "bootstrap primary region sa-east is not listed");
    b.cmd.u.bootstrap.primary_region = NULL;
    expect_reject(f, &b.cmd, DR_EINVAL, "primary region (none) is not listed");
    boot_make(&b);
    b.regions[2].name = "eu-west";
    expect_reject(f, &b.cmd, DR_EINVAL, "bootstrap lists region eu-west twice");
    boot_make(&b);
    b.regions[1].name = "EU";
    expect_reject(f, &b.cmd, DR_EINVAL, "must start with a letter a-z");
    boot_make(&b);
    b.regions[0].object_store = "ftp://x";
    expect_reject(f, &b.cmd, DR_EINVAL, "must start with file:// or s3://");
    boot_make(&b);
    b.members[0].region = "sa-east";
    expect_reject(f, &b.cmd, DR_EINVAL,
                  "bootstrap member 3 is in unknown region sa-east");
    boot_make(&b);
    b.members[2].id = 1;
    expect_reject(f, &b.cmd, DR_EINVAL,
                  "bootstrap members 1 and 1 share an id or an address");
    boot_make(&b);
    b.members[2].api_address = "10.3.0.1:8000";
    expect_reject(f, &b.cmd, DR_EINVAL,
                  "bootstrap members 3 and 2 share an id or an address");
    boot_make(&b);
    b.members[1].id = 0;
    expect_reject(f, &b.cmd, DR_EINVAL, "member id must be a positive integer");
    boot_make(&b);
    b.members[1].raft_address = "10.1.0.1";
    expect_reject(f, &b.cmd, DR_EINVAL,
                  "member 1: raft_address \"10.1.0.1\" is not host:port");

    boot_make(&b);
    for (size_t i = 0; i <= FSM_REGIONS_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "r%zu", i);
        many[i] = region(names[i], 0, NULL, 0, "");
    }
    b.cmd.u.bootstrap.regions = many;
    b.cmd.u.bootstrap.n_regions = FSM_REGIONS_MAX + 1;
    expect_reject(f, &b.cmd, DR_ELIMIT, "too many regions or members");
    assert_false(f->initialized);
}

static void test_region_invalid(void **state)
{
    struct fsm *f = *state;
    char long_name[FSM_NAME_MAX + 2];
    char *dup_targets[] = {"a.example.com", "a.example.com"};
    char *case_targets[] = {"a.example.com", "A.Example.COM"};
    char *bad_target[] = {"-a.example.com"};
    char *too_many[FSM_DNS_TARGETS_MAX + 1];
    char tnames[FSM_DNS_TARGETS_MAX + 1][16];
    struct fsm_cmd c;
    static const struct
    {
        char *name;
        const char *msg;
    } names[] = {
        {"", "region name is empty"},
        {NULL, "region name is empty"},
        {"9lives", "must start with a letter a-z"},
        {"eu_west", "may hold only a-z, 0-9 and '-'"},
        {"eu-West", "may hold only a-z, 0-9 and '-'"},
    };
    static const struct
    {
        char *url;
        const char *msg;
    } stores[] = {
        {"http://x", "must start with file:// or s3://"},
        {"file://relative", "needs an absolute path"},
        {"s3://ab", "needs a bucket name of 3 to 63 characters"},
        {"s3://Bucket", "has an invalid bucket name"},
        {"file:///a b", "holds a space or control character"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        c = region_cmd(FSM_CMD_REGION_ADD,
                       region(names[i].name, 1, NULL, 0, ""));
        expect_reject(f, &c, DR_EINVAL, names[i].msg);
        c.type = FSM_CMD_REGION_UPDATE;
        expect_reject(f, &c, DR_EINVAL, names[i].msg);
    }
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    c = region_cmd(FSM_CMD_REGION_ADD, region(long_name, 1, NULL, 0, ""));
    expect_reject(f, &c, DR_EINVAL, "region name is longer than 63 characters");
    long_name[FSM_NAME_MAX] = '\0'; /* exactly the maximum is fine */
    expect_ok(f, &c, T0 + 1);

    for (size_t i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
        c = region_cmd(FSM_CMD_REGION_ADD,
                       region("sa-east", 1, NULL, 0, stores[i].url));
        expect_reject(f, &c, DR_EINVAL, stores[i].msg);
        c = region_cmd(FSM_CMD_REGION_UPDATE,
                       region("us-east", 1, NULL, 0, stores[i].url));
        expect_reject(f, &c, DR_EINVAL, stores[i].msg);
    }

    c = region_cmd(FSM_CMD_REGION_ADD,
                   region("sa-east", 1, dup_targets, 2, ""));
    expect_reject(f, &c, DR_EINVAL,
                  "region sa-east: DNS target \"a.example.com\" is listed "
                  "twice");
    c = region_cmd(FSM_CMD_REGION_ADD,
                   region("sa-east", 1, case_targets, 2, ""));
    expect_reject(f, &c, DR_EINVAL, "\"A.Example.COM\" is listed twice");
    c = region_cmd(FSM_CMD_REGION_UPDATE,
                   region("us-east", 1, bad_target, 1, ""));
    expect_reject(f, &c, DR_EINVAL, "hyphen-edged label");
    for (size_t i = 0; i <= FSM_DNS_TARGETS_MAX; i++) {
        snprintf(tnames[i], sizeof(tnames[i]), "h%zu.example", i);
        too_many[i] = tnames[i];
    }
    c = region_cmd(FSM_CMD_REGION_ADD,
                   region("sa-east", 1, too_many, FSM_DNS_TARGETS_MAX + 1, ""));
    expect_reject(f, &c, DR_EINVAL,
                  "region sa-east: 17 DNS targets, at most 16 allowed");

    c = region_cmd(FSM_CMD_REGION_ADD, region("eu-west", 1, NULL, 0, ""));
    expect_reject(f, &c, DR_EEXIST, "region eu-west already exists");
    c = region_cmd(FSM_CMD_REGION_UPDATE, region("sa-east", 1, NULL, 0, ""));
    expect_reject(f, &c, DR_ENOTFOUND, "region sa-east does not exist");
}

static void test_region_limit(void **state)
{
    struct fsm *f = *state;
    char names[FSM_REGIONS_MAX][8];
    struct fsm_cmd c;

    for (size_t i = f->n_regions; i < FSM_REGIONS_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "x%zu", i);
        c = region_cmd(FSM_CMD_REGION_ADD, region(names[i], 0, NULL, 0, ""));
        expect_ok(f, &c, T0 + 1);
    }
    assert_int_equal(f->n_regions, FSM_REGIONS_MAX);
    c = region_cmd(FSM_CMD_REGION_ADD, region("zz", 0, NULL, 0, ""));
    expect_reject(f, &c, DR_ELIMIT, "at most 64 regions");
}

static void test_region_remove_invalid(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c = region_remove_cmd("sa-east");

    expect_reject(f, &c, DR_ENOTFOUND, "region \"sa-east\" does not exist");
    c = region_remove_cmd(NULL);
    expect_reject(f, &c, DR_ENOTFOUND, "region \"\" does not exist");
    c = region_remove_cmd("eu-west");
    expect_reject(f, &c, DR_ECONFLICT,
                  "region eu-west is the primary site; make another region "
                  "primary first");
    c = region_remove_cmd("us-east");
    expect_reject(f, &c, DR_ECONFLICT,
                  "region us-east still has member 2; remove its members "
                  "first");
}

static void test_member_invalid(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c;
    static const struct
    {
        char *raft;
        const char *msg;
    } addrs[] = {
        {"", "raft_address is empty"},
        {NULL, "raft_address is empty"},
        {"10.0.0.9", "is not host:port"},
        {":7000", "has an empty host"},
        {"a b:7000", "has an invalid host"},
        {"host/x:7000", "has an invalid host"},
        {"host:0", "needs a port from 1 to 65535"},
        {"host:65536", "needs a port from 1 to 65535"},
        {"host:+80", "needs a port from 1 to 65535"},
        {"host:", "needs a port from 1 to 65535"},
    };

    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        c = member_put_cmd(member(9, "eu-west", addrs[i].raft, "h:80"));
        expect_reject(f, &c, DR_EINVAL, addrs[i].msg);
    }
    c = member_put_cmd(member(9, "eu-west", "h:7000", "h:notaport"));
    expect_reject(f, &c, DR_EINVAL, "member 9: api_address \"h:notaport\"");
    c = member_put_cmd(member(0, "eu-west", "h:7000", "h:8000"));
    expect_reject(f, &c, DR_EINVAL, "member id must be a positive integer");
    c = member_put_cmd(member(9, "Bad", "h:7000", "h:8000"));
    expect_reject(f, &c, DR_EINVAL,
                  "member 9: member region \"Bad\" must start with a letter");
    c = member_put_cmd(member(9, "sa-east", "h:7000", "h:8000"));
    expect_reject(f, &c, DR_ENOTFOUND,
                  "member 9: region sa-east does not exist");
    c = member_put_cmd(member(9, "eu-west", "10.2.0.1:7000", "h:8000"));
    expect_reject(f, &c, DR_ECONFLICT,
                  "member 2 already uses that raft or API address");
    c = member_put_cmd(member(1, "eu-west", "h:7000", "10.3.0.1:8000"));
    expect_reject(f, &c, DR_ECONFLICT,
                  "member 3 already uses that raft or API address");

    c = member_remove_cmd(9);
    expect_reject(f, &c, DR_ENOTFOUND, "member 9 does not exist");
    c = member_remove_cmd(0);
    expect_reject(f, &c, DR_ENOTFOUND, "member 0 does not exist");
}

static void test_member_limit(void **state)
{
    struct fsm *f = *state;
    char addr[FSM_MEMBERS_MAX + 1][2][24];
    struct fsm_cmd c;

    for (uint64_t id = 4; id <= FSM_MEMBERS_MAX + 1; id++) {
        snprintf(addr[id - 4][0], 24, "10.9.0.%u:7000", (unsigned)id);
        snprintf(addr[id - 4][1], 24, "10.9.0.%u:8000", (unsigned)id);
        c = member_put_cmd(
            member(id, "eu-west", addr[id - 4][0], addr[id - 4][1]));
        if (id <= FSM_MEMBERS_MAX) {
            expect_ok(f, &c, T0 + 1);
        } else {
            expect_reject(f, &c, DR_ELIMIT, "at most 64 members");
        }
    }
    assert_int_equal(f->n_members, FSM_MEMBERS_MAX);
    /* Updating an existing member at the limit is still fine. */
    c = member_put_cmd(member(4, "us-east", addr[0][0], addr[0][1]));
    expect_ok(f, &c, T0 + 2);
}

static void test_set_primary_invalid(void **state)
{
    struct fsm *f = *state;
    char reason[FSM_TEXT_MAX + 2];
    struct fsm_cmd c = primary_cmd("sa-east", "");

    expect_reject(f, &c, DR_ENOTFOUND, "region \"sa-east\" does not exist");
    c = primary_cmd(NULL, "");
    expect_reject(f, &c, DR_ENOTFOUND, "region \"\" does not exist");
    c = primary_cmd("eu-west", "");
    expect_reject(f, &c, DR_ECONFLICT,
                  "region eu-west is already primary (epoch 1)");
    memset(reason, 'r', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    c = primary_cmd("us-east", reason);
    expect_reject(f, &c, DR_EINVAL, "reason is longer than 1024 characters");

    /* Region status and site state are committed by other commands; set
     * them directly here. */
    f->regions[2].status = FSM_REGION_LOST;
    c = primary_cmd("us-east", "");
    expect_reject(f, &c, DR_ECONFLICT,
                  "region us-east is lost and cannot become primary");
    f->regions[2].status = FSM_REGION_HEALTHY;
    f->site.state = FSM_SITE_FAILING_OVER;
    expect_reject(f, &c, DR_ECONFLICT,
                  "site is failing_over: finish or abort that runbook first");
    f->site.state = FSM_SITE_ACTIVE;
    expect_ok(f, &c, T0 + 1);
}

static void test_setting_invalid(void **state)
{
    struct fsm *f = *state;
    char long_value[FSM_TEXT_MAX + 2];
    struct fsm_cmd c = setting_int_cmd("no.such", 1);

    expect_reject(f, &c, DR_ENOTFOUND, "unknown setting \"no.such\"");
    c = setting_int_cmd(NULL, 1);
    expect_reject(f, &c, DR_ENOTFOUND, "unknown setting \"\"");
    c = setting_bool_cmd("rpo.pg_s", true);
    expect_reject(f, &c, DR_EINVAL,
                  "setting rpo.pg_s takes an int, not a bool");
    c = setting_int_cmd("queue_mode", 1);
    expect_reject(f, &c, DR_EINVAL, "takes a bool, not an int");
    c = setting_int_cmd("failover.mode", 1);
    expect_reject(f, &c, DR_EINVAL, "takes a string, not an int");
    c = setting_int_cmd("rpo.pg_s", 0);
    c.u.setting.value.type = 0;
    expect_reject(f, &c, DR_EINVAL, "takes an int, not an unknown type");
    c = setting_int_cmd("history.max_entries", 15);
    expect_reject(f, &c, DR_EINVAL,
                  "setting history.max_entries: 15 is outside 16..100000");
    c = setting_int_cmd("history.max_entries", 100001);
    expect_reject(f, &c, DR_EINVAL, "100001 is outside 16..100000");
    c = setting_int_cmd("backup.pg_interval_s", INT64_MIN);
    expect_reject(f, &c, DR_EINVAL, "is outside 0..604800");
    c = setting_str_cmd("failover.mode", "sometimes");
    expect_reject(f, &c, DR_EINVAL,
                  "setting failover.mode: \"sometimes\" is not one of the "
                  "allowed values");
    c = setting_str_cmd("failover.mode", NULL);
    expect_reject(f, &c, DR_EINVAL, "value missing or too long");
    memset(long_value, 'a', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    c = setting_str_cmd("failover.mode", long_value);
    expect_reject(f, &c, DR_EINVAL, "value missing or too long");
    c = setting_str_cmd("llm.fallback_chain", "ollama,gemini");
    expect_reject(f, &c, DR_EINVAL,
                  "setting llm.fallback_chain: unknown item \"gemini\"");
    c = setting_str_cmd("llm.fallback_chain", "openai,ollama,openai");
    expect_reject(f, &c, DR_EINVAL, "\"openai\" appears twice");
    c = setting_str_cmd("llm.fallback_chain", "ollama,,openai");
    expect_reject(f, &c, DR_EINVAL, "empty item in \"ollama,,openai\"");
    c = setting_str_cmd("llm.fallback_chain", "");
    expect_reject(f, &c, DR_EINVAL, "empty item");
    c = setting_str_cmd("llm.fallback_chain", "ollama,");
    expect_reject(f, &c, DR_EINVAL, "empty item");
    c = setting_str_cmd("llm.fallback_chain", "ollam");
    expect_reject(f, &c, DR_EINVAL, "unknown item \"ollam\"");
}

static void test_malformed_commands(void **state)
{
    struct fsm *f = *state;
    char actor[FSM_ADDR_MAX + 2];
    struct fsm_cmd c;

    memset(&c, 0, sizeof(c));
    expect_reject(f, &c, DR_EINVAL, "unknown or malformed command (type 0)");
    c.type = 99;
    expect_reject(f, &c, DR_EINVAL, "unknown or malformed command (type 99)");
    c = setting_int_cmd("rpo.pg_s", 1);
    memset(actor, 'a', sizeof(actor) - 1);
    actor[sizeof(actor) - 1] = '\0';
    c.actor = actor;
    expect_reject(f, &c, DR_EINVAL, "actor is too long");
    c.actor = NULL; /* no actor is fine; audited as "" */
    expect_ok(f, &c, T0 + 1);
    assert_string_equal(audit_last(f)->actor, "");
}

static void test_validators(void **state)
{
    char err[256];
    static const char *good_targets[] = {
        "a",   "a.b",          "A-1.example.COM", "10.0.0.1",
        "::1", "2001:DB8::ff", "::ffff:10.0.0.1",
    };
    static const char *bad_targets[] = {
        "", "a..b", ".a", "a.", "a-.b", "a_b", "a b", "1:2", "::g",
    };
    char long_label[70];
    (void)state;

    memset(long_label, 'a', 64); /* one label may hold at most 63 */
    strcpy(long_label + 64, ".b");
    assert_int_equal(fsm_valid_dns_target(long_label, err), DR_EINVAL);
    long_label[1] = '.';
    assert_int_equal(fsm_valid_dns_target(long_label, err), DR_OK);

    for (size_t i = 0; i < sizeof(good_targets) / sizeof(*good_targets); i++) {
        if (fsm_valid_dns_target(good_targets[i], err) != DR_OK) {
            fail_msg("%s: %s", good_targets[i], err);
        }
    }
    for (size_t i = 0; i < sizeof(bad_targets) / sizeof(*bad_targets); i++) {
        if (fsm_valid_dns_target(bad_targets[i], err) != DR_EINVAL) {
            fail_msg("%s accepted", bad_targets[i]);
        }
    }
    assert_int_equal(fsm_valid_dns_target(NULL, err), DR_EINVAL);
    assert_string_equal(err, "DNS target is empty");
    assert_int_equal(fsm_valid_store_url(NULL, err), DR_OK);
    assert_int_equal(fsm_valid_store_url("s3://abc", err), DR_OK);
    assert_int_equal(fsm_valid_store_url("s3://a.b-c/x?y", err), DR_OK);
    assert_int_equal(fsm_valid_store_url("file:///", err), DR_OK);
    assert_int_equal(fsm_valid_host_port("a", "[::1]:65535", err), DR_OK);
    assert_int_equal(fsm_valid_host_port("a", "h:123456", err), DR_EINVAL);
    assert_string_equal(err, "a \"h:123456\" needs a port from 1 to 65535");
    assert_int_equal(fsm_valid_name("n", "a-0", err), DR_OK);
    assert_string_equal(fsm_region_status_name(FSM_REGION_LOST), "lost");
    assert_string_equal(fsm_region_status_name(9), "unknown");
    assert_string_equal(fsm_site_state_name(FSM_SITE_BLOCKED), "blocked");
    assert_string_equal(fsm_site_state_name(-1), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        EMPTY(test_before_bootstrap_rejected),
        BOOTED(test_bootstrap_twice_rejected),
        EMPTY(test_bootstrap_invalid),
        BOOTED(test_region_invalid),
        BOOTED(test_region_limit),
        BOOTED(test_region_remove_invalid),
        BOOTED(test_member_invalid),
        BOOTED(test_member_limit),
        BOOTED(test_set_primary_invalid),
        BOOTED(test_setting_invalid),
        BOOTED(test_malformed_commands),
        cmocka_unit_test(test_validators),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
