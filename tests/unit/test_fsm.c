/* Unit tests of the pure replicated state machine (node/fsm): the effects
 * of valid commands and entries. Rejections are in test_fsm_reject.c. */
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

/* Effects of valid commands. */

static void test_init_defaults(void **state)
{
    struct fsm *f = *state;
    assert_false(f->initialized);
    assert_null(f->site.primary_region);
    assert_int_equal(f->site.epoch, 0);
    assert_int_equal(f->n_regions, 0);
    assert_int_equal(f->n_members, 0);
    assert_int_equal(f->n_audit, 0);
    assert_null(fsm_audit_at(f, 0));
    assert_int_equal(fsm_setting_int(f, "history.max_entries"), 1000);
    assert_int_equal(fsm_setting_int(f, "breaker.reset_timeout_ms"), 30000);
    assert_string_equal(fsm_setting(f, "failover.mode")->s, "auto");
    assert_true(fsm_failover_automatic(f));
    assert_string_equal(fsm_setting(f, "llm.fallback_chain")->s,
                        "ollama,openai,anthropic");
    assert_false(fsm_setting(f, "queue_mode")->b);
    assert_null(fsm_setting(f, "no.such"));
    assert_int_equal(fsm_setting_index(NULL), -1);
}

static void test_bootstrap(void **state)
{
    struct fsm *f = *state;
    const struct fsm_region *r;
    const struct fsm_member *m;
    const struct fsm_audit *a;
    struct fsm_result res;
    struct boot b;

    boot_make(&b);
    assert_int_equal(fsm_apply(f, &b.cmd, T0, &res), DR_OK);
    assert_int_equal(res.epoch, 1);
    assert_true(f->initialized);
    assert_string_equal(f->site.primary_region, "eu-west");
    assert_int_equal(f->site.epoch, 1);
    assert_int_equal(f->site.state, FSM_SITE_ACTIVE);
    assert_int_equal(f->site.changed_ms, T0);
    assert_int_equal(f->time_ms, T0);

    /* Regions sorted by name, copied, stamped. */
    assert_int_equal(f->n_regions, 3);
    assert_string_equal(f->regions[0].name, "ap-south");
    assert_string_equal(f->regions[1].name, "eu-west");
    assert_string_equal(f->regions[2].name, "us-east");
    r = fsm_region_get(f, "eu-west");
    assert_non_null(r);
    assert_ptr_not_equal(r->name, b.regions[1].name);
    assert_int_equal(r->priority, 10);
    assert_int_equal(r->n_dns_targets, 2);
    assert_string_equal(r->dns_targets[1], "10.1.0.1");
    assert_string_equal(r->object_store, "s3://dr-eu");
    assert_int_equal(r->status, FSM_REGION_HEALTHY);
    assert_int_equal(r->created_ms, T0);
    assert_int_equal(r->updated_ms, T0);
    assert_null(fsm_region_get(f, "eu"));
    assert_null(fsm_region_get(f, NULL));

    /* Members sorted by id. */
    assert_int_equal(f->n_members, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(f->members[i].id, i + 1);
    }
    m = fsm_member_get(f, 2);
    assert_non_null(m);
    assert_string_equal(m->region, "us-east");
    assert_string_equal(m->raft_address, "10.2.0.1:7000");
    assert_string_equal(m->api_address, "10.2.0.1:8000");
    assert_int_equal(m->added_ms, T0);
    assert_null(fsm_member_get(f, 4));

    a = audit_last(f);
    assert_int_equal(f->n_audit, 1);
    assert_int_equal(a->seq, 1);
    assert_int_equal(f->audit_seq, 1);
    assert_int_equal(a->time_ms, T0);
    assert_string_equal(a->actor, "node:1");
    assert_string_equal(a->action, "bootstrap");
    assert_string_equal(a->detail,
                        "3 regions, 3 members, primary eu-west (epoch 1)");
}

static void test_region_add(void **state)
{
    struct fsm *f = *state;
    char *targets[] = {"sa.example.com", "2001:db8::1"};
    struct fsm_cmd c =
        region_cmd(FSM_CMD_REGION_ADD,
                   region("sa-east", 7, targets, 2, "s3://dr-sa/prefix"));
    const struct fsm_region *r;

    c.u.region.status = FSM_REGION_LOST; /* ignored: new regions are healthy */
    c.u.region.created_ms = 5;
    expect_ok(f, &c, T0 + 10);
    assert_int_equal(f->n_regions, 4);
    assert_string_equal(f->regions[2].name, "sa-east");
    r = fsm_region_get(f, "sa-east");
    assert_int_equal(r->priority, 7);
    assert_int_equal(r->n_dns_targets, 2);
    assert_string_equal(r->dns_targets[0], "sa.example.com");
    assert_string_equal(r->object_store, "s3://dr-sa/prefix");
    assert_int_equal(r->status, FSM_REGION_HEALTHY);
    assert_int_equal(r->created_ms, T0 + 10);
    assert_int_equal(r->updated_ms, T0 + 10);
    assert_string_equal(audit_last(f)->action, "region-add");
    assert_string_equal(audit_last(f)->detail,
                        "sa-east priority=7 dns=[sa.example.com,2001:db8::1] "
                        "store=s3://dr-sa/prefix");
    assert_int_equal(f->site.epoch, 1);
}

static void test_region_update(void **state)
{
    struct fsm *f = *state;
    char *targets[] = {"us2.example.com"};
    struct fsm_cmd c = region_cmd(FSM_CMD_REGION_UPDATE,
                                  region("us-east", 42, targets, 1, ""));
    const struct fsm_region *r;

    f->regions[2].status = FSM_REGION_DEGRADED; /* committed earlier */
    expect_ok(f, &c, T0 + 20);
    r = fsm_region_get(f, "us-east");
    assert_int_equal(r->priority, 42);
    assert_int_equal(r->n_dns_targets, 1);
    assert_string_equal(r->dns_targets[0], "us2.example.com");
    assert_string_equal(r->object_store, "");
    assert_int_equal(r->status, FSM_REGION_DEGRADED);
    assert_int_equal(r->created_ms, T0);
    assert_int_equal(r->updated_ms, T0 + 20);
    assert_int_equal(f->n_regions, 3);
    assert_string_equal(audit_last(f)->action, "region-update");
    assert_string_equal(audit_last(f)->detail,
                        "us-east priority=42 dns=[us2.example.com] store=");
}

/* Only the chosen fields change; the rest is kept as it is when the
 * command applies, so two updates of different fields both land. */
static void test_region_update_fields(void **state)
{
    struct fsm *f = *state;
    char *targets[] = {"a.example.com", "b.example.com"};
    struct fsm_cmd c1 =
        region_cmd(FSM_CMD_REGION_UPDATE, region("us-east", 0, targets, 2, ""));
    struct fsm_cmd c2 = region_cmd(FSM_CMD_REGION_UPDATE,
                                   region("us-east", 77, NULL, 0, "file:///x"));
    struct fsm_cmd bad =
        region_cmd(FSM_CMD_REGION_UPDATE, region("us-east", 1, NULL, 0, ""));
    const struct fsm_region *r = fsm_region_get(f, "us-east");
    int32_t before = r->priority;

    c1.fields = FSM_REGION_F_DNS_TARGETS;
    c2.fields = FSM_REGION_F_PRIORITY;
    expect_ok(f, &c1, T0 + 10);
    expect_ok(f, &c2, T0 + 11);
    r = fsm_region_get(f, "us-east");
    assert_int_not_equal(before, 77);
    assert_int_equal(r->priority, 77);
    assert_int_equal(r->n_dns_targets, 2);
    assert_string_equal(r->dns_targets[1], "b.example.com");
    assert_string_equal(r->object_store, "file:///srv/dr"); /* kept */
    bad.fields = 16;
    expect_reject(f, &bad, DR_EINVAL, "unknown fields (0x10)");
}

static void test_region_remove(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd rm_member = member_remove_cmd(3);
    struct fsm_cmd rm = region_remove_cmd("ap-south");

    expect_ok(f, &rm_member, T0 + 1);
    expect_ok(f, &rm, T0 + 2);
    assert_int_equal(f->n_regions, 2);
    assert_null(fsm_region_get(f, "ap-south"));
    assert_string_equal(f->regions[0].name, "eu-west");
    assert_string_equal(f->regions[1].name, "us-east");
    assert_string_equal(audit_last(f)->action, "region-remove");
    assert_string_equal(audit_last(f)->detail, "ap-south");
}

static void test_member_put_insert(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c = member_put_cmd(
        member(10, "us-east", "[fd00::2]:7000", "node-10.internal:8443"));
    const struct fsm_member *m;

    c.u.member.added_ms = 1; /* ignored: stamped with command time */
    expect_ok(f, &c, T0 + 30);
    assert_int_equal(f->n_members, 4);
    assert_int_equal(f->members[3].id, 10);
    m = fsm_member_get(f, 10);
    assert_string_equal(m->region, "us-east");
    assert_string_equal(m->raft_address, "[fd00::2]:7000");
    assert_string_equal(m->api_address, "node-10.internal:8443");
    assert_int_equal(m->added_ms, T0 + 30);
    assert_string_equal(audit_last(f)->action, "member-put");
    assert_string_equal(
        audit_last(f)->detail,
        "10 region=us-east raft=[fd00::2]:7000 api=node-10.internal:8443");
}

static void test_member_put_update(void **state)
{
    struct fsm *f = *state;
    /* Move member 2 to ap-south; keeping its own addresses is no conflict. */
    struct fsm_cmd c =
        member_put_cmd(member(2, "ap-south", "10.2.0.1:7000", "10.2.0.9:8000"));
    const struct fsm_member *m;

    expect_ok(f, &c, T0 + 40);
    assert_int_equal(f->n_members, 3);
    m = fsm_member_get(f, 2);
    assert_string_equal(m->region, "ap-south");
    assert_string_equal(m->api_address, "10.2.0.9:8000");
    assert_int_equal(m->added_ms, T0); /* first added at bootstrap */
    assert_string_equal(audit_last(f)->action, "member-put");
}

static void test_member_remove(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c = member_remove_cmd(2);

    expect_ok(f, &c, T0 + 50);
    assert_int_equal(f->n_members, 2);
    assert_null(fsm_member_get(f, 2));
    assert_int_equal(f->members[0].id, 1);
    assert_int_equal(f->members[1].id, 3);
    assert_string_equal(audit_last(f)->action, "member-remove");
    assert_string_equal(audit_last(f)->detail, "2");
}

static void test_set_primary(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c = primary_cmd("us-east", "planned drill");
    struct fsm_result res;
    const struct fsm_audit *a;

    assert_int_equal(fsm_apply(f, &c, T0 + 60, &res), DR_OK);
    assert_int_equal(res.epoch, 2);
    assert_string_equal(f->site.primary_region, "us-east");
    assert_int_equal(f->site.epoch, 2);
    assert_int_equal(f->site.changed_ms, T0 + 60);
    a = audit_last(f);
    assert_int_equal(a->seq, 2);
    assert_int_equal(a->time_ms, T0 + 60);
    assert_string_equal(a->actor, "op:alice");
    assert_string_equal(a->action, "set-primary");
    assert_string_equal(a->detail,
                        "eu-west -> us-east (epoch 2): planned drill");

    /* Back again without a reason: the epoch keeps growing. */
    c = primary_cmd("eu-west", NULL);
    expect_ok(f, &c, T0 + 70);
    assert_int_equal(f->site.epoch, 3);
    assert_string_equal(audit_last(f)->detail, "us-east -> eu-west (epoch 3)");
}

static void test_set_primary_cas(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd ok = primary_cas_cmd("us-east", 1);
    struct fsm_cmd stale = primary_cas_cmd("ap-south", 1);
    struct fsm_cmd ahead = primary_cas_cmd("ap-south", 7);

    expect_ok(f, &ok, T0 + 1);
    assert_int_equal(f->site.epoch, 2);
    /* A second actor that read epoch 1 loses the race. */
    expect_reject(f, &stale, DR_ECONFLICT, "epoch is 2, not the expected 1");
    expect_reject(f, &ahead, DR_ECONFLICT, "epoch is 2, not the expected 7");
    stale.u.set_primary.expected_epoch = 2;
    expect_ok(f, &stale, T0 + 2);
    assert_string_equal(f->site.primary_region, "ap-south");
    assert_int_equal(f->site.epoch, 3);
}

static void test_setting_set(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c = setting_int_cmd("breaker.reset_timeout_ms", 1000);

    expect_ok(f, &c, T0 + 1);
    assert_int_equal(fsm_setting_int(f, "breaker.reset_timeout_ms"), 1000);
    assert_string_equal(audit_last(f)->action, "setting-set");
    assert_string_equal(audit_last(f)->detail, "breaker.reset_timeout_ms=1000");
    c = setting_int_cmd("rpo.pg_s", 0); /* the minimum is allowed */
    c.u.setting.value.b = true;         /* fields of other types: dropped */
    c.u.setting.value.s = "ignored";
    expect_ok(f, &c, T0 + 1);
    assert_int_equal(fsm_setting_int(f, "rpo.pg_s"), 0);
    assert_false(fsm_setting(f, "rpo.pg_s")->b);
    assert_null(fsm_setting(f, "rpo.pg_s")->s);

    c = setting_bool_cmd("queue_mode", true);
    expect_ok(f, &c, T0 + 2);
    assert_true(fsm_setting(f, "queue_mode")->b);
    assert_int_equal(fsm_setting(f, "queue_mode")->type, FSM_SETTING_BOOL);
    assert_string_equal(audit_last(f)->detail, "queue_mode=true");

    c = setting_str_cmd("failover.mode", "automatic");
    expect_ok(f, &c, T0 + 3);
    assert_string_equal(fsm_setting(f, "failover.mode")->s, "automatic");
    assert_ptr_not_equal(fsm_setting(f, "failover.mode")->s,
                         c.u.setting.value.s);
    assert_string_equal(audit_last(f)->detail, "failover.mode=automatic");
    assert_true(fsm_failover_automatic(f)); /* the older spelling */
    c = setting_str_cmd("failover.mode", "manual");
    expect_ok(f, &c, T0 + 3);
    assert_false(fsm_failover_automatic(f));

    c = setting_str_cmd("llm.fallback_chain", "anthropic,ollama");
    expect_ok(f, &c, T0 + 4);
    assert_string_equal(fsm_setting(f, "llm.fallback_chain")->s,
                        "anthropic,ollama");
    c = setting_str_cmd("llm.fallback_chain", "openai");
    expect_ok(f, &c, T0 + 5);
    assert_string_equal(fsm_setting(f, "llm.fallback_chain")->s, "openai");
    assert_string_equal(audit_last(f)->detail, "llm.fallback_chain=openai");
    assert_int_equal(f->site.epoch, 1);
}

/* Shrinking history.max_entries keeps the newest entries, in order. */
static void test_history_shrink(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c;
    uint64_t seq;

    for (int i = 0; i < 40; i++) {
        c = setting_int_cmd("rpo.redis_s", i);
        expect_ok(f, &c, T0 + (uint64_t)i);
    }
    assert_int_equal(f->n_audit, 41);
    c = setting_int_cmd("history.max_entries", 16);
    expect_ok(f, &c, T0 + 100);
    assert_int_equal(fsm_setting_int(f, "history.max_entries"), 16);
    assert_int_equal(f->n_audit, 16);
    assert_int_equal(f->audit_seq, 42);
    for (size_t i = 0; i < 16; i++) {
        assert_int_equal(fsm_audit_at(f, i)->seq, 42 - 15 + i);
    }
    assert_string_equal(audit_last(f)->detail, "history.max_entries=16");
    assert_string_equal(fsm_audit_at(f, 0)->detail, "rpo.redis_s=25");
    assert_null(fsm_audit_at(f, 16));

    /* The ring wraps: still the newest 16, oldest first. */
    for (int i = 0; i < 21; i++) {
        c = setting_int_cmd("rpo.redis_s", 100 + i);
        expect_ok(f, &c, T0 + 200);
    }
    assert_int_equal(f->n_audit, 16);
    seq = fsm_audit_at(f, 0)->seq;
    assert_int_equal(seq, 63 - 15);
    for (size_t i = 1; i < 16; i++) {
        assert_int_equal(fsm_audit_at(f, i)->seq, seq + i);
    }
    assert_string_equal(audit_last(f)->detail, "rpo.redis_s=120");

    /* Shrink again while wrapped, then grow: nothing is invented. */
    c = setting_int_cmd("history.max_entries", 17);
    expect_ok(f, &c, T0 + 300);
    assert_int_equal(f->n_audit, 17);
    assert_int_equal(fsm_audit_at(f, 0)->seq, 48);
    assert_int_equal(audit_last(f)->seq, 64);
    c = setting_int_cmd("history.max_entries", 16);
    expect_ok(f, &c, T0 + 300);
    assert_int_equal(f->n_audit, 16);
    assert_int_equal(fsm_audit_at(f, 0)->seq, 50);
    assert_int_equal(audit_last(f)->seq, 65);
}

/* Command time never runs backwards, whatever the leaders' clocks say. */
static void test_time_monotonic(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c = setting_int_cmd("rpo.pg_s", 10);
    struct fsm_cmd add =
        region_cmd(FSM_CMD_REGION_ADD, region("sa-east", 1, NULL, 0, NULL));
    struct fsm_cmd bad = setting_int_cmd("rpo.pg_s", -1);
    struct fsm_cmd sp = primary_cmd("us-east", "");

    expect_ok(f, &c, T0 + 5000);
    assert_int_equal(f->time_ms, T0 + 5000);
    expect_ok(f, &add, T0 + 10); /* a leader whose clock is behind */
    assert_int_equal(f->time_ms, T0 + 5000);
    assert_int_equal(audit_last(f)->time_ms, T0 + 5000);
    assert_int_equal(fsm_region_get(f, "sa-east")->created_ms, T0 + 5000);
    /* A rejected command does not move time either. */
    expect_reject_at(f, &bad, T0 + 9000, DR_EINVAL, "outside 0..86400");
    assert_int_equal(f->time_ms, T0 + 5000);
    expect_ok(f, &sp, 0);
    assert_int_equal(f->site.changed_ms, T0 + 5000);
    expect_ok(f, &c, T0 + 6000);
    assert_int_equal(f->time_ms, T0 + 6000);
    assert_int_equal(audit_last(f)->time_ms, T0 + 6000);
}

/* Entries. */

static void test_entry_mixed_batch(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd cmds[4];
    struct fsm_result res[4];
    struct fsm_entry e = {FSM_VERSION, T0 + 7, cmds, 4};

    cmds[0] = setting_int_cmd("rpo.pg_s", 60);
    cmds[1] = primary_cmd("nowhere", "");
    cmds[2] = primary_cmd("us-east", "batch");
    cmds[3] = primary_cas_cmd("ap-south", 1); /* sees the epoch of cmds[2] */
    assert_int_equal(fsm_apply_entry(f, &e, res), DR_OK);
    assert_int_equal(res[0].code, DR_OK);
    assert_int_equal(res[1].code, DR_ENOTFOUND);
    assert_non_null(strstr(res[1].msg, "region \"nowhere\" does not exist"));
    assert_int_equal(res[2].code, DR_OK);
    assert_int_equal(res[2].epoch, 2);
    assert_int_equal(res[3].code, DR_ECONFLICT);
    assert_non_null(strstr(res[3].msg, "epoch is 2, not the expected 1"));
    assert_int_equal(res[3].epoch, 2);
    assert_int_equal(fsm_setting_int(f, "rpo.pg_s"), 60);
    assert_string_equal(f->site.primary_region, "us-east");
    assert_int_equal(f->time_ms, T0 + 7);
}

static void test_entry_newer_version_refused(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd cmds[2];
    struct fsm_result res[2];
    struct fsm_entry e = {FSM_VERSION + 1, T0 + 99, cmds, 2};
    struct snap before = snap_take(f);

    cmds[0] = setting_int_cmd("rpo.pg_s", 60);
    cmds[1] = primary_cmd("us-east", "");
    assert_int_equal(fsm_apply_entry(f, &e, res), DR_EVERSION);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(res[i].code, DR_EVERSION);
        assert_non_null(strstr(res[i].msg, "entry version 6 is not supported"));
    }
    snap_check(&before, f);

    /* What each command needs: version 1 nodes know the old ones. */
    assert_int_equal(fsm_cmd_version(&cmds[0]), 1);
    assert_int_equal(fsm_cmd_version(&cmds[1]), 1);
    cmds[0] = setting_int_cmd("drill.restore_interval_h", 1);
    assert_int_equal(fsm_cmd_version(&cmds[0]), 2);
    cmds[0].type = FSM_CMD_BREAKER_RESET;
    assert_int_equal(fsm_cmd_version(&cmds[0]), 2);
    cmds[0].type = FSM_CMD_DRILL_START;
    assert_int_equal(fsm_cmd_version(&cmds[0]), 2);
    cmds[0] = setting_str_cmd("failover.on_degraded", "failover");
    assert_int_equal(fsm_cmd_version(&cmds[0]), 4);
    cmds[0] = setting_str_cmd("failover.mode", "manual");
    assert_int_equal(fsm_cmd_version(&cmds[0]), 1);
    /* A switchover and its final_backup step came with 5; a failover
     * and its other steps did not. */
    memset(&cmds[0], 0, sizeof(cmds[0]));
    cmds[0].type = FSM_CMD_FAILOVER_START;
    assert_true(fsm_cmd_version(&cmds[0]) < 5);
    cmds[0].u.failover.planned = true;
    assert_int_equal(fsm_cmd_version(&cmds[0]), 5);
    memset(&cmds[0], 0, sizeof(cmds[0]));
    cmds[0].type = FSM_CMD_RUNBOOK_STEP;
    cmds[0].u.runbook.from = FSM_RB_FENCE;
    cmds[0].u.runbook.to = FSM_RB_RESTORE;
    assert_true(fsm_cmd_version(&cmds[0]) < 5);
    cmds[0].u.runbook.to = FSM_RB_FINAL_BACKUP;
    assert_int_equal(fsm_cmd_version(&cmds[0]), 5);
    cmds[0].u.runbook.from = FSM_RB_FINAL_BACKUP;
    cmds[0].u.runbook.to = FSM_RB_RESTORE;
    assert_int_equal(fsm_cmd_version(&cmds[0]), 5);

    /* Version 0 means no version field at all: also refused. */
    e.version = 0;
    before = snap_take(f);
    assert_int_equal(fsm_apply_entry(f, &e, res), DR_EVERSION);
    assert_non_null(strstr(res[0].msg, "entry version 0 is not supported"));
    snap_check(&before, f);
    assert_int_equal(f->site.epoch, 1);
}

static void test_check_changes_nothing(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c = primary_cmd("us-east", "");
    struct fsm_cmd bad = primary_cmd("eu-west", "");
    struct fsm_result res;
    struct snap before = snap_take(f);

    assert_int_equal(fsm_check(f, &c, &res), DR_OK);
    assert_int_equal(res.code, DR_OK);
    assert_int_equal(fsm_check(f, &bad, &res), DR_ECONFLICT);
    assert_non_null(strstr(res.msg, "region eu-west is already primary"));
    snap_check(&before, f);
}

/* Copies are deep and frees leave the structs empty. */
static void test_copy_free(void **state)
{
    struct fsm_region r, src = region("eu", 3, eu_targets, 2, NULL);
    struct fsm_member m, msrc = member(5, "eu", "a:1", NULL);
    (void)state;

    assert_int_equal(fsm_region_copy(&r, &src), DR_OK);
    assert_ptr_not_equal(r.dns_targets, src.dns_targets);
    assert_string_equal(r.dns_targets[0], "eu.example.com");
    assert_string_equal(r.object_store, "");
    fsm_region_free(&r);
    assert_null(r.name);
    assert_int_equal(r.n_dns_targets, 0);
    assert_int_equal(fsm_member_copy(&m, &msrc), DR_OK);
    assert_string_equal(m.api_address, "");
    fsm_member_free(&m);
    assert_null(m.region);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        EMPTY(test_init_defaults),
        EMPTY(test_bootstrap),
        BOOTED(test_region_add),
        BOOTED(test_region_update),
        BOOTED(test_region_update_fields),
        BOOTED(test_region_remove),
        BOOTED(test_member_put_insert),
        BOOTED(test_member_put_update),
        BOOTED(test_member_remove),
        BOOTED(test_set_primary),
        BOOTED(test_set_primary_cas),
        BOOTED(test_setting_set),
        BOOTED(test_history_shrink),
        BOOTED(test_time_monotonic),
        BOOTED(test_entry_mixed_batch),
        BOOTED(test_entry_newer_version_refused),
        BOOTED(test_check_changes_nothing),
        cmocka_unit_test(test_copy_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
