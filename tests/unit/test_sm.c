/* The replicated state machines' transition tables (node/fsm/sm.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fsm/fsm.h"
#include "fsm/sm.h"

static void test_jobs(void **state)
{
    const struct fsm_sm *sm = &fsm_job_sm;
    (void)state;
    assert_true(fsm_sm_allowed(sm, FSM_JOB_PENDING, FSM_JOB_RUNNING));
    assert_true(fsm_sm_allowed(sm, FSM_JOB_RUNNING, FSM_JOB_DONE));
    assert_true(fsm_sm_allowed(sm, FSM_JOB_RUNNING, FSM_JOB_PENDING));
    assert_true(fsm_sm_allowed(sm, FSM_JOB_RUNNING, FSM_JOB_FAILED));
    assert_true(fsm_sm_allowed(sm, FSM_JOB_PENDING, FSM_JOB_FAILED));
    /* Finished jobs stay finished; nothing skips the claim. */
    assert_false(fsm_sm_allowed(sm, FSM_JOB_PENDING, FSM_JOB_DONE));
    for (int to = 0; to < sm->n_states; to++) {
        assert_false(fsm_sm_allowed(sm, FSM_JOB_DONE, to));
        assert_false(fsm_sm_allowed(sm, FSM_JOB_FAILED, to));
    }
    assert_string_equal(fsm_job_state_name(FSM_JOB_FAILED), "failed");
    assert_string_equal(fsm_job_state_name(42), "unknown");
}

static void test_drills_and_site(void **state)
{
    (void)state;
    assert_true(
        fsm_sm_allowed(&fsm_drill_sm, FSM_DRILL_RUNNING, FSM_DRILL_PASSED));
    assert_false(
        fsm_sm_allowed(&fsm_drill_sm, FSM_DRILL_PASSED, FSM_DRILL_FAILED));
    assert_true(
        fsm_sm_allowed(&fsm_site_sm, FSM_SITE_ACTIVE, FSM_SITE_FAILING_OVER));
    assert_true(
        fsm_sm_allowed(&fsm_site_sm, FSM_SITE_BLOCKED, FSM_SITE_ACTIVE));
    /* A runbook in progress never starts another kind directly. */
    assert_false(fsm_sm_allowed(&fsm_site_sm, FSM_SITE_FAILING_OVER,
                                FSM_SITE_SWITCHING_OVER));
    assert_false(
        fsm_sm_allowed(&fsm_site_sm, FSM_SITE_ACTIVE, FSM_SITE_ACTIVE));
    assert_string_equal(fsm_site_state_name(FSM_SITE_BLOCKED), "blocked");
    assert_string_equal(fsm_drill_state_name(FSM_DRILL_PASSED), "passed");
}

static void test_out_of_range(void **state)
{
    (void)state;
    assert_false(fsm_sm_allowed(&fsm_job_sm, -1, FSM_JOB_RUNNING));
    assert_false(fsm_sm_allowed(&fsm_job_sm, FSM_JOB_PENDING, 4));
    assert_false(fsm_sm_allowed(&fsm_site_sm, 99, 0));
}

static void test_move(void **state)
{
    int s = FSM_JOB_PENDING;
    (void)state;
    fsm_sm_move(&fsm_job_sm, &s, FSM_JOB_RUNNING);
    assert_int_equal(s, FSM_JOB_RUNNING);
    fsm_sm_move(&fsm_job_sm, &s, FSM_JOB_DONE);
    assert_int_equal(s, FSM_JOB_DONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs),
        cmocka_unit_test(test_drills_and_site),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_move),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
