/* The leader's backup controller (see scheduler.c): a timer that, while
 * this node leads and has applied everything before its term, proposes the
 * backup jobs, lease expiries, restore drills and retention deletes that
 * the replicated state says are due. */
#ifndef DR_SCHEDULER_H
#define DR_SCHEDULER_H

#include <stdbool.h>
#include <uv.h>

#include "raft/raftnode.h"

struct scheduler
{
    struct raftnode *node; /* borrowed */
    uv_timer_t tick;
    int inflight; /* proposals not yet answered */
    bool stopping;
    void (*stopped_cb)(struct scheduler *s);
};

/* Start the timer. node is borrowed until scheduler_stop has called back;
 * proposals in flight call back into s until raft has closed, so s must
 * outlive raft. */
void scheduler_start(struct scheduler *s,
                     uv_loop_t *loop,
                     struct raftnode *node);

/* One round: propose what is due (nothing while a round is in flight or
 * this node is not a ready leader). */
void scheduler_step(struct scheduler *s);

/* Stop the timer and close it, then cb (may be NULL). */
void scheduler_stop(struct scheduler *s, void (*cb)(struct scheduler *s));

#endif /* DR_SCHEDULER_H */
