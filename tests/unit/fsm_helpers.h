/* Builders, comparisons and cmocka fixtures shared by the FSM, codec and
 * replay tests. Failed checks end the current test through cmocka. */
#ifndef DR_TEST_FSM_HELPERS_H
#define DR_TEST_FSM_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/codec.h"
#include "fsm/fsm.h"

#define T0 1000 /* bootstrap time */

/* Encoded bytes: a snapshot, or an entry. */
struct snap
{
    void *base; /* from malloc, owned by whoever holds the struct */
    size_t len;
};

/* Encode f's whole state; the caller frees the returned base. */
struct snap snap_take(const struct fsm *f);
/* Whether a and b hold the same bytes. Both are borrowed. */
int snap_same(const struct snap *a, const struct snap *b);
/* Assert that f still encodes to the bytes of s, and free s's bytes. */
void snap_check(struct snap *s, const struct fsm *f);

/* Apply cmd at now and assert it succeeds and reports the current epoch. */
void expect_ok(struct fsm *f, const struct fsm_cmd *cmd, uint64_t now);
/* Apply cmd at now and assert it is rejected with code, a message holding
 * part, and no change to the state. */
void expect_reject_at(struct fsm *f,
                      const struct fsm_cmd *cmd,
                      uint64_t now,
                      int code,
                      const char *part);
/* expect_reject_at at T0 + 500. */
void expect_reject(struct fsm *f,
                   const struct fsm_cmd *cmd,
                   int code,
                   const char *part);
/* Decode the entry in e (borrowed) and apply it to f; results must have
 * room for max commands. Returns fsm_apply_entry's result. */
int entry_apply(struct fsm *f,
                const struct snap *e,
                struct fsm_result *results,
                size_t max);
/* cmd alone encoded into an entry of FSM_VERSION stamped at, that entry
 * decoded and applied to f (entry_apply); *res gets the command's result.
 * Returns fsm_apply_entry's result. */
int cmd_apply_encoded(struct fsm *f,
                      const struct fsm_cmd *cmd,
                      uint64_t at,
                      struct fsm_result *res);

/* Field by field equality; NULL strings equal "". */
void str_equal(const char *a, const char *b);
void region_equal(const struct fsm_region *a, const struct fsm_region *b);
void member_equal(const struct fsm_member *a, const struct fsm_member *b);
void value_equal(const struct fsm_value *a, const struct fsm_value *b);
/* Everything a snapshot holds: site, regions, members, settings, history. */
void state_equal(const struct fsm *a, const struct fsm *b);

/* Command builders. Strings and arrays are borrowed, never copied. */
extern char *eu_targets[3];
extern char *us_targets[1];
struct fsm_region region(char *name,
                         int32_t priority,
                         char **targets,
                         size_t n_targets,
                         char *store);
struct fsm_member member(uint64_t id, char *region_name, char *raft, char *api);
struct fsm_cmd region_cmd(int type, struct fsm_region r);
struct fsm_cmd region_remove_cmd(const char *name);
struct fsm_cmd member_put_cmd(struct fsm_member m);
struct fsm_cmd member_remove_cmd(uint64_t id);
struct fsm_cmd primary_cmd(const char *name, const char *reason);
struct fsm_cmd primary_cas_cmd(const char *name, uint64_t expected);
struct fsm_cmd setting_cmd(const char *key, struct fsm_value v);
struct fsm_cmd setting_int_cmd(const char *key, int64_t v);
struct fsm_cmd setting_bool_cmd(const char *key, bool v);
struct fsm_cmd setting_str_cmd(const char *key, char *v);

/* The standard bootstrap of the FSM tests: three regions, three members,
 * eu-west primary. cmd borrows regions and members. */
struct boot
{
    struct fsm_region regions[3];
    struct fsm_member members[3];
    struct fsm_cmd cmd;
};
void boot_make(struct boot *b);

/* The bootstrap of the codec and replay tests: eu-west (primary, three DNS
 * targets) and us-east, one member each. boot_cmd borrows these arrays. */
extern struct fsm_region boot_regions[2];
extern struct fsm_member boot_members[2];
struct fsm_cmd boot_cmd(void);

/* Commands that encoders never produce but peers might send. */
extern const uint8_t odd_cmd_region_add[2]; /* no region */
extern const uint8_t odd_cmd_member_put[2]; /* no member */
extern const uint8_t odd_cmd_setting[3];    /* no setting */
extern const uint8_t odd_cmd_unknown[3];    /* field 100 */

/* cmocka fixtures: *state is a malloc'd struct fsm, fresh or bootstrapped
 * with boot_make, closed and freed by teardown_fsm. */
int setup_empty(void **state);
int setup_booted(void **state);
int teardown_fsm(void **state);
#define BOOTED(t) cmocka_unit_test_setup_teardown(t, setup_booted, teardown_fsm)
#define EMPTY(t) cmocka_unit_test_setup_teardown(t, setup_empty, teardown_fsm)

/* Apply c at now; a refusal fails the test with the FSM's message.
 * Returns res->job_id. */
uint64_t apply_ok(struct fsm *f,
                  const struct fsm_cmd *c,
                  uint64_t now,
                  struct fsm_result *res);
/* JOB_CLAIM of job by node with a 30 s lease. */
struct fsm_cmd claim_cmd(uint64_t job, uint64_t node);
/* A successful JOB_FINISH of attempt by node, with a manifest key and
 * FSM_TEST_SHA; callers add what their job kind reports. */
#define FSM_TEST_SHA \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
struct fsm_cmd finish_base_cmd(uint64_t job, uint64_t node, uint32_t attempt);

/* The newest history entry; asserts there is one. */
const struct fsm_audit *audit_last(const struct fsm *f);

#endif
