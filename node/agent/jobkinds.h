/* The job kinds a node's worker runs, one table: for each kind, whether
 * this node can run it, the spec of its `drnode --run-job` child, and what
 * of the child's result goes into the finish command. The FSM side of a
 * kind (fields, validation, what finishing it commits) is in
 * fsm/catalog.c; the child side (the ops) in backup/job.c. */
#ifndef DR_AGENT_JOBKINDS_H
#define DR_AGENT_JOBKINDS_H

#include <jansson.h>
#include <stdbool.h>

#include "config/config.h"
#include "fsm/fsm.h"

struct agent_job_kind
{
    int kind;         /* enum fsm_job_kind */
    const char *name; /* for logs */
    /* Whether a node with config c can run j (it has the services). */
    bool (*can_run)(const struct config *c, const struct fsm_job *j);
    /* The child's spec (a new object; NULL when out of memory); f is the
     * replicated state, for what j refers to. */
    json_t *(*spec)(const struct config *c,
                    const struct fsm *f,
                    const struct fsm_job *j);
    /* Add to the finish body what a successful result (borrowed) tells the
     * FSM; NULL when the kind reports nothing but success. */
    void (*finish)(json_t *body, const json_t *result);
    /* What this node lacks to run j in full (it would run a reduced
     * version), written into why (size bytes); false when it lacks
     * nothing. Such a node leaves the job to better-equipped nodes of its
     * region for AGENT_DEFER_MS first. NULL: never. */
    bool (*lacks)(const struct config *c,
                  const struct fsm *f,
                  const struct fsm_job *j,
                  char *why,
                  size_t size);
};

/* How long a node that lacks something of a job (kind->lacks) waits
 * before claiming it. */
#define AGENT_DEFER_MS 3000

/* The descriptor of kind, or NULL for a kind this node does not know. */
const struct agent_job_kind *agent_job_kind(int kind);

/* o's "detail": res as compact JSON, left out when too long for the
 * catalog (which refuses details over 4 * FSM_TEXT_MAX bytes). */
void agent_job_detail(json_t *o, const json_t *res);

#endif /* DR_AGENT_JOBKINDS_H */
