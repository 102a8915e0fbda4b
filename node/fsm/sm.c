/* The replicated state machines' transition tables (sm.h). */
#include "fsm/sm.h"

#include <assert.h>

#include "fsm/fsm.h"

#define BIT(s) (1u << (s))

bool fsm_sm_allowed(const struct fsm_sm *sm, int from, int to)
{
    if (from < 0 || from >= sm->n_states || to < 0 || to >= sm->n_states) {
        return false;
    }
    return (sm->allowed[from] & BIT(to)) != 0;
}

void fsm_sm_move(const struct fsm_sm *sm, int *state, int to)
{
    bool allowed = fsm_sm_allowed(sm, *state, to);

    assert(allowed); /* the check before the mutation let it through */
    (void)allowed;   /* without assertions (NDEBUG) */
    *state = to;
}

const char *fsm_sm_name(const struct fsm_sm *sm, int state)
{
    return state >= 0 && state < sm->n_states ? sm->names[state] : "unknown";
}

/* Jobs: claimed, then done, back to pending for another attempt (failure,
 * lease run out), or failed for good (attempts used up, a drill nobody
 * claimed). */
static const char *const job_names[] = {"pending", "running", "done", "failed"};
static const uint32_t job_allowed[] = {
    [FSM_JOB_PENDING] = BIT(FSM_JOB_RUNNING) | BIT(FSM_JOB_FAILED),
    [FSM_JOB_RUNNING] =
        BIT(FSM_JOB_DONE) | BIT(FSM_JOB_PENDING) | BIT(FSM_JOB_FAILED),
    [FSM_JOB_DONE] = 0,
    [FSM_JOB_FAILED] = 0,
};
const struct fsm_sm fsm_job_sm = {"job", 4, job_names, job_allowed};

static const char *const drill_names[] = {"running", "passed", "failed", "dns"};
static const uint32_t drill_allowed[] = {
    [FSM_DRILL_RUNNING] =
        BIT(FSM_DRILL_PASSED) | BIT(FSM_DRILL_FAILED) | BIT(FSM_DRILL_DNS),
    [FSM_DRILL_PASSED] = 0,
    [FSM_DRILL_FAILED] = 0,
    [FSM_DRILL_DNS] = BIT(FSM_DRILL_PASSED) | BIT(FSM_DRILL_FAILED),
};
const struct fsm_sm fsm_drill_sm = {"drill", 4, drill_names, drill_allowed};

/* The site: a failover or switchover runbook leaves ACTIVE and comes back
 * to it, or stops BLOCKED until an operator resumes or aborts it. */
static const char *const site_names[] = {"active", "failing_over",
                                         "switching_over", "blocked"};
static const uint32_t site_allowed[] = {
    [FSM_SITE_ACTIVE] =
        BIT(FSM_SITE_FAILING_OVER) | BIT(FSM_SITE_SWITCHING_OVER),
    [FSM_SITE_FAILING_OVER] = BIT(FSM_SITE_ACTIVE) | BIT(FSM_SITE_BLOCKED),
    [FSM_SITE_SWITCHING_OVER] = BIT(FSM_SITE_ACTIVE) | BIT(FSM_SITE_BLOCKED),
    [FSM_SITE_BLOCKED] = BIT(FSM_SITE_ACTIVE) | BIT(FSM_SITE_FAILING_OVER) |
                         BIT(FSM_SITE_SWITCHING_OVER),
};
const struct fsm_sm fsm_site_sm = {"site", 4, site_names, site_allowed};

/* The failover runbook: each step to the next, any running step to blocked
 * (resumed at the step that failed) or aborted; a switchover goes through
 * final_backup between fence and restore. Restore, verify and
 * activate run in one job: its finish goes from restore to dns through
 * them. */
static const char *const rb_names[] = {
    "none", "decide", "fence",    "restore", "verify",  "activate",
    "dns",  "notify", "complete", "blocked", "aborted", "final_backup"};
#define RB_STOP (BIT(FSM_RB_BLOCKED) | BIT(FSM_RB_ABORTED))
static const uint32_t rb_allowed[] = {
    [FSM_RB_NONE] = BIT(FSM_RB_DECIDE),
    [FSM_RB_DECIDE] = BIT(FSM_RB_FENCE) | RB_STOP,
    [FSM_RB_FENCE] = BIT(FSM_RB_RESTORE) | BIT(FSM_RB_FINAL_BACKUP) | RB_STOP,
    [FSM_RB_FINAL_BACKUP] = BIT(FSM_RB_RESTORE) | RB_STOP,
    [FSM_RB_RESTORE] = BIT(FSM_RB_VERIFY) | RB_STOP,
    [FSM_RB_VERIFY] = BIT(FSM_RB_ACTIVATE) | RB_STOP,
    [FSM_RB_ACTIVATE] = BIT(FSM_RB_DNS) | RB_STOP,
    [FSM_RB_DNS] = BIT(FSM_RB_NOTIFY) | RB_STOP,
    [FSM_RB_NOTIFY] = BIT(FSM_RB_COMPLETE),
    [FSM_RB_COMPLETE] = BIT(FSM_RB_DECIDE),
    [FSM_RB_BLOCKED] = BIT(FSM_RB_FENCE) | BIT(FSM_RB_FINAL_BACKUP) |
                       BIT(FSM_RB_RESTORE) | BIT(FSM_RB_DNS) |
                       BIT(FSM_RB_ABORTED),
    [FSM_RB_ABORTED] = BIT(FSM_RB_DECIDE),
};
const struct fsm_sm fsm_runbook_sm = {"runbook", FSM_RB_STEPS, rb_names,
                                      rb_allowed};
