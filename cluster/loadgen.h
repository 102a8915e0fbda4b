/* Closed-loop HTTP load generator (libcurl multi) for drctl bench. */
#ifndef DR_LOADGEN_H
#define DR_LOADGEN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "client/client.h"

/* One prepared request. Strings are borrowed for the whole run. */
struct loadgen_request
{
    const char *url;  /* absolute URL */
    const char *body; /* request body, may be NULL */
    size_t body_len;
};

struct loadgen_params
{
    const char *method;                     /* "PUT", "POST", ... */
    const struct loadgen_request *requests; /* sent in turn, cycling */
    size_t n_requests;
    unsigned clients;                  /* requests kept in flight */
    unsigned duration_ms;              /* no new request starts after this */
    unsigned request_timeout_ms;       /* bound of each request */
    long ok_status;                    /* the status that counts as success */
    const volatile sig_atomic_t *stop; /* non-zero: start no more requests
                                          (a signal handler sets it); may be
                                          NULL */
};

/* Outcome of a run. latency_us is owned; release with
 * loadgen_result_clear. */
struct loadgen_result
{
    uint64_t ok;          /* requests answered with ok_status */
    uint64_t errors;      /* any other answer or a transport error */
    uint32_t *latency_us; /* latency of each ok request, in order done */
    size_t n_latency;
    uint64_t elapsed_us;   /* from the first start to the last answer */
    char first_error[256]; /* description of the first error, or "" */
};

/* Keep p->clients requests in flight, one keep-alive HTTP/1.1 connection
 * each, on one thread, for p->duration_ms, then wait for the stragglers.
 * c provides the bearer token (borrowed during the call). Returns 0 and
 * fills res (then clear it), or DR_ENOMEM / DR_EINVAL with errmsg
 * (CLIENT_ERRMSG_MAX) filled. */
int loadgen_run(const struct client *c,
                const struct loadgen_params *p,
                struct loadgen_result *res,
                char *errmsg);

void loadgen_result_clear(struct loadgen_result *res);

#endif /* DR_LOADGEN_H */
