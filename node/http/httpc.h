/* A small asynchronous HTTP client on the node's loop (libcurl multi driven
 * by uv_poll and uv_timer, after curl's multi-uv.c), used by job workers to
 * talk to the leader and by the health probes. */
#ifndef DR_HTTPC_H
#define DR_HTTPC_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#define HTTPC_MAX_BODY_DEFAULT (16 * 1024 * 1024) /* bytes of an answer */

struct httpc
{
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    int pending; /* requests in flight */
    bool closing;
    void (*closed_cb)(struct httpc *h);
    int handles;            /* uv handles not yet closed */
    struct httpc_req *head; /* requests in flight */
    /* httpc_set_tls: PEM files for calls to other members over HTTPS */
    bool tls;
    char tls_ca[1024], tls_cert[1024], tls_key[1024];
};

struct httpc_req;
/* status: the HTTP status, or 0 when no answer came (err says why). body
 * (len bytes, NUL-terminated) is valid during the callback only. */
typedef void (*httpc_cb)(struct httpc_req *r,
                         long status,
                         const char *body,
                         size_t len,
                         const char *err);

/* Caller-allocated; must stay valid until the callback. */
struct httpc_req
{
    void *data;
    httpc_cb cb;
    /* private */
    struct httpc *h;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    size_t len, cap;
    char *post;
    size_t max_bytes; /* largest answer body accepted */
    bool too_big;     /* the answer went past max_bytes */
    char errbuf[CURL_ERROR_SIZE];
    struct httpc_req *prev, *next;
};

int httpc_init(struct httpc *h, uv_loop_t *loop);
/* Every request of h from now on goes over HTTPS only (no redirect to
 * http), verifies the server against ca and presents cert/key (the files
 * are read at each new connection, so rotated ones are picked up). For an
 * httpc that talks to this cluster's members only. */
void httpc_set_tls(struct httpc *h,
                   const char *ca,
                   const char *cert,
                   const char *key);
/* Cancel every request (their callbacks run with status 0, "cancelled"),
 * close the handles, then call cb. */
void httpc_close(struct httpc *h, void (*cb)(struct httpc *h));

/* POST json (copied) to url with a bearer token (copied; NULL for none).
 * Returns 0, or DR_ENOMEM / DR_ESHUTDOWN (no callback then). */
int httpc_post(struct httpc *h,
               struct httpc_req *r,
               const char *url,
               const char *token,
               const char *json,
               long timeout_ms,
               httpc_cb cb);

/* GET url (copied; http:// or https://, no redirects followed) with extra
 * headers: "Name: value" strings, NULL-terminated, copied (may be NULL; a
 * secret in a header is wiped from memory once the request ends). An answer
 * body longer than max_bytes (0: HTTPC_MAX_BODY_DEFAULT) fails the request
 * with status 0 and err "response body is larger than N bytes". The whole
 * request is bounded by timeout_ms. Returns 0, or DR_ENOMEM / DR_ESHUTDOWN
 * (no callback then). */
int httpc_request(struct httpc *h,
                  struct httpc_req *r,
                  const char *url,
                  const char *const *headers,
                  size_t max_bytes,
                  long timeout_ms,
                  httpc_cb cb);

/* httpc_request with a method ("GET", "POST", "PATCH", ...) and a body
 * (copied; NULL for none). */
int httpc_send(struct httpc *h,
               struct httpc_req *r,
               const char *method,
               const char *url,
               const char *const *headers,
               const char *body,
               size_t max_bytes,
               long timeout_ms,
               httpc_cb cb);

/* Abandon r, a request in flight (a no-op otherwise): its callback will not
 * run, and r may be freed or reused when this returns. Must not be called
 * from inside an httpc callback of another request. */
void httpc_cancel(struct httpc_req *r);

#endif /* DR_HTTPC_H */
