/* Blocking HTTP client of the drnode API, shared by drctl (libcurl). */
#ifndef DR_CLIENT_H
#define DR_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CLIENT_ENDPOINTS_MAX 64
#define CLIENT_URL_MAX 256 /* "http://host:port", no trailing slash */
#define CLIENT_TOKEN_MAX 1024
#define CLIENT_REDIRECTS_MAX 5
#define CLIENT_ERRMSG_MAX 512

/* A connection to a cluster through a list of endpoints. Not thread-safe;
 * one request at a time. Initialise with client_init, release with
 * client_close. */
struct client
{
    char endpoints[CLIENT_ENDPOINTS_MAX][CLIENT_URL_MAX]; /* base URLs */
    size_t n_endpoints;
    size_t preferred;             /* endpoint tried first: last that answered */
    char leader[CLIENT_URL_MAX];  /* base URL learned from a redirect, or "" */
    char token[CLIENT_TOKEN_MAX]; /* bearer token, "" when none */
    unsigned timeout_ms;          /* overall bound of one client_request */
    unsigned try_ms;              /* bound of one endpoint's answer while
                                     others remain (0: none) */
    bool probed;                  /* an endpoint answered a probe already */
    char skipped[CLIENT_ERRMSG_MAX]; /* endpoints passed over, and why */
    void *curl;                      /* CURL easy handle, reused (keep-alive) */
    /* TLS (client_init_tls): PEM paths, "" when not given */
    char cacert[1024], cert[1024], key[1024];
    char errmsg[CLIENT_ERRMSG_MAX]; /* why the last call failed */
};

/* One HTTP answer. Fields are owned by the response; release them with
 * client_response_clear. */
struct client_response
{
    long status;  /* HTTP status code */
    json_t *json; /* parsed body, NULL when empty or not JSON */
    char *body;   /* raw body, NUL-terminated, never NULL after 0 */
    size_t body_len;
    char url[CLIENT_URL_MAX]; /* base URL of the node that answered */
};

/* Split a comma-separated endpoint list ("http://host:port" or "host:port",
 * spaces around commas allowed) into out[max] base URLs. Returns 0 and sets
 * *n, or DR_EINVAL with errmsg (CLIENT_ERRMSG_MAX) naming the bad entry. */
int client_endpoints_parse(const char *list,
                           char out[][CLIENT_URL_MAX],
                           size_t max,
                           size_t *n,
                           char *errmsg);

/* Read a bearer token file into buf (size bytes), stripping trailing
 * whitespace. Returns 0, or DR_EIO / DR_EINVAL with errmsg naming the file
 * (missing, unreadable, empty, too long). The token is never put in
 * errmsg. */
int client_token_read(const char *path, char *buf, size_t size, char *errmsg);

/* Prepare c. endpoints (copied) is a list for client_endpoints_parse;
 * token_file (borrowed during the call, may be NULL) is read with
 * client_token_read; timeout_ms bounds each client_request as a whole,
 * retries and redirects included. Returns 0, or DR_EINVAL / DR_EIO /
 * DR_ENOMEM with errmsg (CLIENT_ERRMSG_MAX) filled; c needs no close then. */
int client_init(struct client *c,
                const char *endpoints,
                const char *token_file,
                unsigned timeout_ms,
                char *errmsg);

/* TLS for client_init_tls: every path may be NULL or "". cacert verifies
 * the nodes (else the system's CAs); cert and key (together) are
 * presented to nodes that ask for a client certificate. */
struct client_tls
{
    const char *cacert, *cert, *key;
};

/* client_init with TLS options (tls may be NULL): with a cacert, endpoints
 * written as host:port mean https://host:port. The files are checked now
 * (readable; the key private to its owner): errmsg names the one that is
 * not, with DR_EINVAL / DR_EIO. */
int client_init_tls(struct client *c,
                    const char *endpoints,
                    const char *token_file,
                    const struct client_tls *tls,
                    unsigned timeout_ms,
                    char *errmsg);

/* The bound of one endpoint's answer while other endpoints remain
 * (default CLIENT_TRY_MS_DEFAULT): a frozen or black-holed node holds a
 * command that long before the next endpoint is tried. */
#define CLIENT_TRY_MS_DEFAULT 2000

/* Release c's handle and wipe the token. */
void client_close(struct client *c);

/* Send METHOD path (which starts with "/" and may carry a query) with an
 * optional JSON body (borrowed during the call) and wait for the answer.
 * Endpoints are tried in turn on connection errors (any transport error
 * for GET, which is safe to repeat); 307/308 are followed up to
 * CLIENT_REDIRECTS_MAX hops with the same method, body and token (a
 * redirect to a leader that refuses connections, one that just died, is
 * retried from the endpoints after a short pause); a 503 carrying
 * Retry-After is retried after that delay. Retries stop at the overall
 * timeout. Returns 0 when an HTTP answer arrived, whatever its
 * status (r then needs client_response_clear), or DR_EUNAVAILABLE,
 * DR_ETIMEOUT, DR_ELIMIT, DR_ENOMEM with c->errmsg naming the endpoint and
 * the reason, e.g. "127.0.0.1:8001: connection refused". */
int client_request(struct client *c,
                   const char *method,
                   const char *path,
                   const json_t *body,
                   struct client_response *r);

/* Free what r owns and zero it. Safe on a zeroed response. */
void client_response_clear(struct client_response *r);

/* Describe a non-2xx answer in one line into buf: the API error as
 * "CODE: MESSAGE (HTTP N)", or the start of a non-JSON body. */
void client_response_describe(const struct client_response *r,
                              char *buf,
                              size_t size);

/* Percent-encode s as one URL path segment into buf (size bytes). Returns
 * 0, or DR_ELIMIT when it does not fit. */
int client_path_escape(const char *s, char *buf, size_t size);

/* "host:port" part of a base URL (pointer into url). */
const char *client_url_hostport(const char *url);

/* Milliseconds of the monotonic clock, for deadlines of waits and retries. */
uint64_t client_now_ms(void);

/* Sleep ms milliseconds, resuming after an interrupting signal handler. */
void client_sleep_ms(uint64_t ms);

#endif /* DR_CLIENT_H */
