/* Before a node with an empty data directory bootstraps a cluster from its
 * member list (join = false), it asks the other members whether a cluster
 * exists already. Bootstrapping beside one would write a history of its
 * own (a configuration at index 1 that differs once members were added or
 * removed), so:
 *
 * - nobody answers for a cluster: the first start of a new one; bootstrap.
 * - a cluster exists and its leader has never heard from this node (it
 *   starts after the others formed the cluster, or after a leader change):
 *   start in join mode; the leader sends it the log from the start.
 * - the leader has heard from this node: it was a member and lost its disk.
 *   The leader expects the log this node acknowledged, and an empty one
 *   would never catch up (libraft takes its refusals for stale ones). It
 *   must be removed and added back; the node refuses to start and says so
 *   (etcd refuses a lost member the same way).
 *
 * Run before the node's loop starts: it runs a loop of its own for at most
 * timeout_ms. */
#ifndef DR_CONTROL_JOINCHECK_H
#define DR_CONTROL_JOINCHECK_H

#include <stddef.h>

#include "config/config.h"

enum joincheck_verdict {
    JOINCHECK_BOOTSTRAP, /* no cluster answered */
    JOINCHECK_JOIN,      /* a cluster exists; its leader never heard us */
    JOINCHECK_REFUSE     /* the leader knows us: our disk was lost */
};

/* Ask every other member of cfg GET /api/status (with token). why (why_size
 * bytes) names who answered, for the log or the error. */
int joincheck_run(const struct config *cfg,
                  const char *token,
                  long timeout_ms,
                  char *why,
                  size_t why_size);

#endif /* DR_CONTROL_JOINCHECK_H */
