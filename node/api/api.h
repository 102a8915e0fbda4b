/* The node's HTTP API: h2o on the node's libuv loop. */
#ifndef DR_API_H
#define DR_API_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "raft/raftnode.h"

struct api; /* opaque */

/* Listen on cfg->api_address and serve. token may be "" (then every write is
 * refused with 403). cfg and node are borrowed for the server's life.
 * Returns DR_OK, or an error with errmsg (256 bytes) naming the address. */
int api_start(struct api **out,
              uv_loop_t *loop,
              const struct config *cfg,
              struct raftnode *node,
              const char *token,
              char *errmsg);

struct health;
/* Serve health and probe reports from h (borrowed; NULL until set). */
void api_set_health(struct api *a, struct health *h);
struct failover;
/* Export fo's verdict on the primary region (borrowed; NULL until set). */
void api_set_failover(struct api *a, const struct failover *fo);
struct agent;
/* Export ag's job counters in /metrics (borrowed; NULL until set). */
void api_set_agent(struct api *a, const struct agent *ag);

/* Stop accepting connections. In-flight requests still get answers as
 * raft calls back. */
void api_stop(struct api *a);

#endif
