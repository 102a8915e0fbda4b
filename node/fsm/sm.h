/* Explicit state machines for the replicated state (jobs, drills, the
 * site's runbook): the allowed transitions of each in one table, and a move
 * that refuses any other (dqlite's sm idea). Pure: no I/O. */
#ifndef DR_FSM_SM_H
#define DR_FSM_SM_H

#include <stdbool.h>
#include <stdint.h>

#define FSM_SM_STATES_MAX 16

/* A machine: names of its states and, for each, a bitmask of the states it
 * may move to (bit n: state n). */
struct fsm_sm
{
    const char *name;
    int n_states;
    const char *const *names;
    const uint32_t *allowed;
};

/* Whether from -> to is one of sm's transitions (false for states out of
 * range). */
bool fsm_sm_allowed(const struct fsm_sm *sm, int from, int to);

/* Move *state to to. Callers check first (the FSM's check functions run
 * before every mutation): an illegal move is a programming error and
 * asserts. */
void fsm_sm_move(const struct fsm_sm *sm, int *state, int to);

/* The name of state in sm, "unknown" when out of range. */
const char *fsm_sm_name(const struct fsm_sm *sm, int state);

/* The machines. */
extern const struct fsm_sm fsm_job_sm;     /* enum fsm_job_state */
extern const struct fsm_sm fsm_drill_sm;   /* enum fsm_drill_state */
extern const struct fsm_sm fsm_site_sm;    /* enum fsm_site_state */
extern const struct fsm_sm fsm_runbook_sm; /* enum fsm_rb_step */

#endif /* DR_FSM_SM_H */
