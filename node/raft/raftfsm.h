/* Glue between canonical raft's struct raft_fsm and our pure FSM. */
#ifndef DR_RAFTFSM_H
#define DR_RAFTFSM_H

#include <raft.h>
#include <stdbool.h>

#include "fsm/fsm.h"

#define RAFTFSM_BATCH_MAX 256 /* commands per log entry */

/* Results of the entry applied last. Valid only inside the raft_apply
 * callback that receives it: the next apply overwrites it. */
struct raftfsm_result {
    int code;     /* DR_OK, or why the whole entry was refused */
    size_t n;     /* number of commands */
    struct fsm_result r[RAFTFSM_BATCH_MAX];
};

struct raftfsm {
    struct raft_fsm base;      /* handed to raft_init */
    struct fsm state;          /* the replicated state */
    struct raftfsm_result last;
    bool fatal;                /* an entry this binary cannot apply */
    char errmsg[256];          /* why fatal */
    unsigned long long n_applied; /* entries applied */
    unsigned long long n_restored; /* snapshots restored */
};

/* Initialize with an empty state. */
int raftfsm_init(struct raftfsm *rf);
void raftfsm_close(struct raftfsm *rf);

#endif
