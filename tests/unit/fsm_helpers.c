/* Builders, comparisons and cmocka fixtures shared by the FSM, codec and
 * replay tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fsm_helpers.h"

/* Snapshot encodings, to prove that a rejected command changed nothing. */

struct snap snap_take(const struct fsm *f)
{
    struct snap s;
    assert_int_equal(codec_snapshot_encode(f, malloc, &s.base, &s.len), DR_OK);
    return s;
}

int snap_same(const struct snap *a, const struct snap *b)
{
    return a->len == b->len && memcmp(a->base, b->base, a->len) == 0;
}

void snap_check(struct snap *s, const struct fsm *f)
{
    struct snap now = snap_take(f);
    int same = snap_same(&now, s);
    free(now.base);
    free(s->base);
    s->base = NULL;
    assert_true(same);
}

/* Applying commands and entries. */

void expect_reject_at(struct fsm *f,
                      const struct fsm_cmd *cmd,
                      uint64_t now,
                      int code,
                      const char *part)
{
    struct fsm_result res;
    struct snap before = snap_take(f);
    uint64_t epoch = f->site.epoch;
    int rv = fsm_apply(f, cmd, now, &res);

    if (rv != code || res.code != code || strstr(res.msg, part) == NULL) {
        free(before.base);
        fail_msg("expected code %d with \"%s\", got %d \"%s\"", code, part, rv,
                 res.msg);
    }
    assert_int_equal(res.epoch, epoch);
    snap_check(&before, f);
}

void expect_reject(struct fsm *f,
                   const struct fsm_cmd *cmd,
                   int code,
                   const char *part)
{
    expect_reject_at(f, cmd, T0 + 500, code, part);
}

void expect_ok(struct fsm *f, const struct fsm_cmd *cmd, uint64_t now)
{
    struct fsm_result res;
    int rv = fsm_apply(f, cmd, now, &res);
    if (rv != DR_OK) {
        fail_msg("command type %d rejected: %d %s", cmd->type, rv, res.msg);
    }
    assert_int_equal(res.code, DR_OK);
    assert_int_equal(res.epoch, f->site.epoch);
}

int entry_apply(struct fsm *f,
                const struct snap *e,
                struct fsm_result *results,
                size_t max)
{
    struct codec_entry *ce;
    int rv;
    assert_int_equal(codec_entry_decode(e->base, e->len, &ce), DR_OK);
    assert_true(ce->e.n_cmds <= max);
    rv = fsm_apply_entry(f, &ce->e, results);
    codec_entry_free(ce);
    return rv;
}

int cmd_apply_encoded(struct fsm *f,
                      const struct fsm_cmd *cmd,
                      uint64_t at,
                      struct fsm_result *res)
{
    uint8_t *buf;
    struct codec_piece p;
    struct snap e;
    int rv;

    assert_int_equal(codec_cmd_encode(cmd, &buf, &p.len), DR_OK);
    p.base = buf;
    assert_int_equal(
        codec_entry_assemble(FSM_VERSION, at, &p, 1, malloc, &e.base, &e.len),
        DR_OK);
    rv = entry_apply(f, &e, res, 1);
    free(buf);
    free(e.base);
    return rv;
}

/* Comparisons. */

void str_equal(const char *a, const char *b)
{
    assert_string_equal(a != NULL ? a : "", b != NULL ? b : "");
}

void region_equal(const struct fsm_region *a, const struct fsm_region *b)
{
    str_equal(a->name, b->name);
    assert_int_equal(a->priority, b->priority);
    assert_int_equal(a->n_dns_targets, b->n_dns_targets);
    for (size_t i = 0; i < a->n_dns_targets; i++) {
        str_equal(a->dns_targets[i], b->dns_targets[i]);
    }
    str_equal(a->object_store, b->object_store);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->created_ms, b->created_ms);
    assert_int_equal(a->updated_ms, b->updated_ms);
    assert_memory_equal(a->health, b->health, sizeof(a->health));
    assert_int_equal(a->health_ms, b->health_ms);
    assert_int_equal(a->n_endpoints, b->n_endpoints);
    for (size_t i = 0; i < a->n_endpoints; i++) {
        str_equal(a->endpoints[i], b->endpoints[i]);
    }
}

void member_equal(const struct fsm_member *a, const struct fsm_member *b)
{
    assert_int_equal(a->id, b->id);
    str_equal(a->region, b->region);
    str_equal(a->raft_address, b->raft_address);
    str_equal(a->api_address, b->api_address);
    assert_int_equal(a->added_ms, b->added_ms);
}

void value_equal(const struct fsm_value *a, const struct fsm_value *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->i, b->i);
    assert_int_equal(a->b, b->b);
    if (a->type == FSM_SETTING_STRING) {
        str_equal(a->s, b->s);
    } else {
        assert_null(a->s);
        assert_null(b->s);
    }
}

void state_equal(const struct fsm *a, const struct fsm *b)
{
    assert_int_equal(a->initialized, b->initialized);
    assert_int_equal(a->time_ms, b->time_ms);
    if (a->site.primary_region == NULL || b->site.primary_region == NULL) {
        assert_ptr_equal(a->site.primary_region, b->site.primary_region);
    } else {
        assert_string_equal(a->site.primary_region, b->site.primary_region);
    }
    assert_int_equal(a->site.epoch, b->site.epoch);
    assert_int_equal(a->site.state, b->site.state);
    assert_int_equal(a->site.changed_ms, b->site.changed_ms);
    assert_int_equal(a->n_regions, b->n_regions);
    for (size_t i = 0; i < a->n_regions; i++) {
        region_equal(&a->regions[i], &b->regions[i]);
    }
    assert_int_equal(a->n_members, b->n_members);
    for (size_t i = 0; i < a->n_members; i++) {
        member_equal(&a->members[i], &b->members[i]);
    }
    for (size_t i = 0; i < fsm_settings_count(); i++) {
        value_equal(&a->settings[i], &b->settings[i]);
    }
    assert_memory_equal(a->breakers, b->breakers, sizeof(a->breakers));
    assert_int_equal(a->cap_audit, b->cap_audit);
    assert_int_equal(a->n_audit, b->n_audit);
    assert_int_equal(a->audit_seq, b->audit_seq);
    for (size_t i = 0; i < a->n_audit; i++) {
        const struct fsm_audit *x = fsm_audit_at(a, i);
        const struct fsm_audit *y = fsm_audit_at(b, i);
        assert_int_equal(x->seq, y->seq);
        assert_int_equal(x->time_ms, y->time_ms);
        assert_string_equal(x->actor, y->actor);
        assert_string_equal(x->action, y->action);
        assert_string_equal(x->detail, y->detail);
    }
}

/* Command builders. */

char *eu_targets[3] = {"eu.example.com", "10.1.0.1", "2001:db8::1"};
char *us_targets[1] = {"us.example.com"};

struct fsm_region region(char *name,
                         int32_t priority,
                         char **targets,
                         size_t n_targets,
                         char *store)
{
    return (struct fsm_region){.name = name,
                               .priority = priority,
                               .dns_targets = targets,
                               .n_dns_targets = n_targets,
                               .object_store = store};
}

struct fsm_member member(uint64_t id, char *region_name, char *raft, char *api)
{
    return (struct fsm_member){.id = id,
                               .region = region_name,
                               .raft_address = raft,
                               .api_address = api};
}

struct fsm_cmd region_cmd(int type, struct fsm_region r)
{
    return (struct fsm_cmd){.type = type, .actor = "test", .u.region = r};
}

struct fsm_cmd region_remove_cmd(const char *name)
{
    return (struct fsm_cmd){
        .type = FSM_CMD_REGION_REMOVE, .actor = "test", .u.region_name = name};
}

struct fsm_cmd member_put_cmd(struct fsm_member m)
{
    return (struct fsm_cmd){
        .type = FSM_CMD_MEMBER_PUT, .actor = "test", .u.member = m};
}

struct fsm_cmd member_remove_cmd(uint64_t id)
{
    return (struct fsm_cmd){
        .type = FSM_CMD_MEMBER_REMOVE, .actor = "test", .u.member_id = id};
}

struct fsm_cmd primary_cmd(const char *name, const char *reason)
{
    return (struct fsm_cmd){
        .type = FSM_CMD_SET_PRIMARY,
        .actor = "op:alice",
        .u.set_primary = {.region = name, .reason = reason}};
}

struct fsm_cmd primary_cas_cmd(const char *name, uint64_t expected)
{
    struct fsm_cmd c = primary_cmd(name, "");
    c.u.set_primary.has_expected_epoch = true;
    c.u.set_primary.expected_epoch = expected;
    return c;
}

struct fsm_cmd setting_cmd(const char *key, struct fsm_value v)
{
    return (struct fsm_cmd){.type = FSM_CMD_SETTING_SET,
                            .actor = "test",
                            .u.setting = {.key = key, .value = v}};
}

struct fsm_cmd setting_int_cmd(const char *key, int64_t v)
{
    return setting_cmd(key,
                       (struct fsm_value){.type = FSM_SETTING_INT, .i = v});
}

struct fsm_cmd setting_bool_cmd(const char *key, bool v)
{
    return setting_cmd(key,
                       (struct fsm_value){.type = FSM_SETTING_BOOL, .b = v});
}

struct fsm_cmd setting_str_cmd(const char *key, char *v)
{
    return setting_cmd(key,
                       (struct fsm_value){.type = FSM_SETTING_STRING, .s = v});
}

/* Bootstraps. */

void boot_make(struct boot *b)
{
    memset(b, 0, sizeof(*b));
    b->regions[0] = region("us-east", 5, us_targets, 1, "file:///srv/dr");
    b->regions[1] = region("eu-west", 10, eu_targets, 2, "s3://dr-eu");
    b->regions[2] = region("ap-south", 1, NULL, 0, "");
    b->members[0] = member(3, "ap-south", "10.3.0.1:7000", "10.3.0.1:8000");
    b->members[1] = member(1, "eu-west", "10.1.0.1:7000", "10.1.0.1:8000");
    b->members[2] = member(2, "us-east", "10.2.0.1:7000", "10.2.0.1:8000");
    b->cmd.type = FSM_CMD_BOOTSTRAP;
    b->cmd.actor = "node:1";
    b->cmd.u.bootstrap.regions = b->regions;
    b->cmd.u.bootstrap.n_regions = 3;
    b->cmd.u.bootstrap.members = b->members;
    b->cmd.u.bootstrap.n_members = 3;
    b->cmd.u.bootstrap.primary_region = "eu-west";
}

struct fsm_region boot_regions[2] = {
    {"eu-west", 10, eu_targets, 3, "s3://dr-eu", 0, 0, 0, {0}, 0, NULL, 0},
    {"us-east", -3, NULL, 0, "", 0, 0, 0, {0}, 0, NULL, 0},
};
struct fsm_member boot_members[2] = {
    {1, "eu-west", "10.1.0.1:7000", "10.1.0.1:8000", 0},
    {2, "us-east", "10.2.0.1:7000", "10.2.0.1:8000", 0},
};

struct fsm_cmd boot_cmd(void)
{
    return (struct fsm_cmd){.type = FSM_CMD_BOOTSTRAP,
                            .actor = "node:1",
                            .u.bootstrap = {.regions = boot_regions,
                                            .n_regions = 2,
                                            .members = boot_members,
                                            .n_members = 2,
                                            .primary_region = "eu-west"}};
}

const uint8_t odd_cmd_region_add[2] = {0x5a, 0x00};
const uint8_t odd_cmd_member_put[2] = {0x72, 0x00};
const uint8_t odd_cmd_setting[3] = {0x8a, 0x01, 0x00};
const uint8_t odd_cmd_unknown[3] = {0xa2, 0x06, 0x00};

/* cmocka fixtures. */

int setup_empty(void **state)
{
    struct fsm *f = malloc(sizeof(*f));
    assert_non_null(f);
    assert_int_equal(fsm_init(f), DR_OK);
    *state = f;
    return 0;
}

int setup_booted(void **state)
{
    struct boot b;
    struct fsm *f;
    setup_empty(state);
    f = *state;
    boot_make(&b);
    expect_ok(f, &b.cmd, T0);
    return 0;
}

int teardown_fsm(void **state)
{
    struct fsm *f = *state;
    fsm_close(f);
    free(f);
    return 0;
}

const struct fsm_audit *audit_last(const struct fsm *f)
{
    assert_true(f->n_audit > 0);
    return fsm_audit_at(f, f->n_audit - 1);
}

uint64_t apply_ok(struct fsm *f,
                  const struct fsm_cmd *c,
                  uint64_t now,
                  struct fsm_result *res)
{
    if (fsm_apply(f, c, now, res) != DR_OK) {
        fail_msg("%s refused: %s", fsm_cmd_name(c->type), res->msg);
    }
    return res->job_id;
}

struct fsm_cmd claim_cmd(uint64_t job, uint64_t node)
{
    struct fsm_cmd c = {.type = FSM_CMD_JOB_CLAIM, .actor = "node"};
    c.u.job.job_id = job;
    c.u.job.node = node;
    c.u.job.lease_ms = 30000;
    return c;
}

struct fsm_cmd finish_base_cmd(uint64_t job, uint64_t node, uint32_t attempt)
{
    struct fsm_cmd c = {.type = FSM_CMD_JOB_FINISH, .actor = "node"};
    c.u.job.job_id = job;
    c.u.job.node = node;
    c.u.job.attempt = attempt;
    c.u.job.ok = true;
    c.u.job.backup.manifest_key = "backups/x/1/manifest.pb";
    c.u.job.backup.manifest_sha256 = FSM_TEST_SHA;
    return c;
}
