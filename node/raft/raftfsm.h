/* Glue between canonical raft's struct raft_fsm and our pure FSM. */
#ifndef DR_RAFTFSM_H
#define DR_RAFTFSM_H

#include <raft.h>
#include <stdbool.h>

#include "fsm/fsm.h"

#define RAFTFSM_BATCH_MAX 256 /* commands per log entry */

/* The results of one log entry, one per command. */
struct raftfsm_result
{
    int code;   /* DR_OK, or why the whole entry was refused */
    size_t n;   /* number of commands */
    size_t cap; /* room in r */
    struct fsm_result r[];
};

/* Allocate results with room for cap commands (free() them); NULL when out
 * of memory. */
struct raftfsm_result *raftfsm_result_alloc(size_t cap);

/* A local request waiting for the results of the entry at one index. */
struct raftfsm_wait
{
    raft_index index;
    struct raftfsm_result *dst; /* borrowed until raftfsm_forget */
};

struct raftfsm
{
    struct raft_fsm base;           /* handed to raft_init */
    struct fsm state;               /* the replicated state */
    struct raft *raft;              /* set once raft_init succeeded */
    struct raftfsm_result *scratch; /* results nobody here waits for */
    struct raftfsm_wait *waits;     /* requests waiting for an entry */
    size_t n_waits, cap_waits;
    bool fatal;                   /* an entry this binary cannot apply */
    char errmsg[256];             /* why fatal */
    unsigned long long n_applied; /* entries applied */
    /* Called after each entry applied here (on the loop thread, inside
     * raft's callback: it may only note the change or arm a timer). */
    void (*on_applied)(void *data);
    void *on_applied_data;
    unsigned long long n_restored; /* snapshots restored */
};

/* Initialize with an empty state. */
int raftfsm_init(struct raftfsm *rf);
void raftfsm_close(struct raftfsm *rf);

/* Ask for the results of the entry that raft_apply just appended at index
 * (the request's index field): applying that entry writes them into dst and
 * hands dst to the request's callback as its result. raft's legacy layer
 * applies a whole run of committed entries before it fires their callbacks,
 * so each entry needs its own results. dst is borrowed until raftfsm_forget.
 * DR_ENOMEM when the wait cannot be recorded (then do not wait). */
int raftfsm_expect(struct raftfsm *rf,
                   raft_index index,
                   struct raftfsm_result *dst);

/* The request for dst completed or failed: stop writing into dst. */
void raftfsm_forget(struct raftfsm *rf, const struct raftfsm_result *dst);

#endif
