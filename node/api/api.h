/* The node's HTTP API: h2o on the node's libuv loop. */
#ifndef DR_API_H
#define DR_API_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "raft/raftnode.h"

struct api; /* opaque */

/* Listen on cfg->api_address and serve. token (this node's token_file) may
 * be "" (then every write is refused with 403). tokens ([api] tokens_file,
 * n may be 0) turns roles on: every route but the page, and /api/health
 * and /metrics while open, needs a token of the route's role. Only digests
 * of the tokens are kept. cfg and node are borrowed for the server's life.
 * Returns DR_OK, or an error with errmsg (256 bytes) naming the address. */
int api_start(struct api **out,
              uv_loop_t *loop,
              const struct config *cfg,
              struct raftnode *node,
              const char *token,
              const struct config_token *tokens,
              size_t n_tokens,
              char *errmsg);

/* Replace this node's own token and the accepted tokens (SIGHUP): requests
 * from now on are checked against the new set. */
void api_set_tokens(struct api *a,
                    const char *token,
                    const struct config_token *tokens,
                    size_t n_tokens);

/* Build a new TLS context from [tls] cert, key and client_ca and use it
 * for connections accepted from now on (start-up and SIGHUP). On failure
 * nothing changes; errmsg (TLS_ERRMSG_MAX = 512 bytes) names the file. */
int api_reload_tls(struct api *a, char *errmsg);

struct health;
/* Serve health and probe reports from h (borrowed; NULL until set). */
void api_set_health(struct api *a, struct health *h);
struct failover;
/* Export fo's verdict on the primary region (borrowed; NULL until set). */
void api_set_failover(struct api *a, const struct failover *fo);
struct agent;
/* Export ag's job counters in /metrics (borrowed; NULL until set). */
void api_set_agent(struct api *a, const struct agent *ag);

/* Serve one connected stream socket fd (the HTTP fuzz harness's end of a
 * socketpair) as if it had been accepted; the API owns fd from now on.
 * DR_OK, or DR_EIO when libuv cannot take it (fd is closed then). */
int api_serve_fd(struct api *a, int fd);

/* Requests in flight (answered or dropped later) and client connections
 * open: both 0 once everything served has been answered and closed. */
void api_pending(const struct api *a, uint64_t *calls, uint64_t *conns);

/* Stop accepting connections. In-flight requests still get answers as
 * raft calls back. */
void api_stop(struct api *a);

#endif
