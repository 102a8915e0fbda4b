/* libcurl multi on the libuv loop: one uv_poll_t per socket curl asks to
 * watch, one timer for curl's timeouts. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "http/httpc.h"

struct httpc_sock
{
    uv_poll_t poll;
    struct httpc *h;
    curl_socket_t fd;
};

static void unlink_req(struct httpc_req *r)
{
    struct httpc *h = r->h;
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        h->head = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    r->prev = r->next = NULL;
    curl_multi_remove_handle(h->multi, r->easy);
    h->pending--;
}

/* Headers may carry secrets (tokens, API keys): wipe them before freeing. */
static void free_headers(struct curl_slist *headers)
{
    struct curl_slist *l;

    for (l = headers; l != NULL; l = l->next) {
        explicit_bzero(l->data, strlen(l->data));
    }
    curl_slist_free_all(headers);
}

/* Answer r and free what it holds. */
static void finish(struct httpc_req *r, long status, const char *err)
{
    CURL *easy = r->easy;
    struct curl_slist *headers = r->headers;
    char *body = r->body, *post = r->post;
    size_t len = r->len;

    r->easy = NULL;
    r->cb(r, status, body ? body : "", len, err); /* may reuse r */
    curl_easy_cleanup(easy);
    free_headers(headers);
    free(body);
    free(post);
}

static void check_done(struct httpc *h)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        struct httpc_req *r;
        long status = 0;
        const char *err = NULL;

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (msg->data.result == CURLE_OK) {
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        } else if (r->too_big) {
            snprintf(r->errbuf, sizeof(r->errbuf),
                     "response body is larger than %zu bytes", r->max_bytes);
            err = r->errbuf;
        } else {
            err =
                r->errbuf[0] ? r->errbuf : curl_easy_strerror(msg->data.result);
        }
        {
            char copy[CURL_ERROR_SIZE];
            if (err != NULL) {
                snprintf(copy, sizeof(copy), "%s", err);
                err = copy;
            }
            unlink_req(r);
            finish(r, status, err);
        }
    }
}

static void poll_cb(uv_poll_t *p, int status, int events)
{
    struct httpc_sock *s = p->data;
    int running, flags = 0;

    /* On a poll error let curl find out what happened to the socket. */
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE) {
            flags |= CURL_CSELECT_IN;
        }
        if (events & UV_WRITABLE) {
            flags |= CURL_CSELECT_OUT;
        }
    }
    curl_multi_socket_action(s->h->multi, s->fd, flags, &running);
    check_done(s->h);
}

static void sock_closed_cb(uv_handle_t *handle)
{
    struct httpc_sock *s = handle->data;
    struct httpc *h = s->h;
    free(s);
    h->handles--;
    if (h->closing && h->handles == 0 && h->closed_cb != NULL) {
        h->closed_cb(h);
    }
}

static int socket_cb(CURL *easy,
                     curl_socket_t fd,
                     int what,
                     void *userp,
                     void *socketp)
{
    struct httpc *h = userp;
    struct httpc_sock *s = socketp;
    int events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            uv_poll_stop(&s->poll);
            curl_multi_assign(h->multi, fd, NULL);
            uv_close((uv_handle_t *)&s->poll, sock_closed_cb);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            return -1;
        }
        s->h = h;
        s->fd = fd;
        if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        h->handles++;
        curl_multi_assign(h->multi, fd, s);
    }
    if (what & CURL_POLL_IN) {
        events |= UV_READABLE;
    }
    if (what & CURL_POLL_OUT) {
        events |= UV_WRITABLE;
    }
    uv_poll_start(&s->poll, events, poll_cb);
    return 0;
}

static void timer_cb(uv_timer_t *t)
{
    struct httpc *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int start_timeout(CURLM *multi, long timeout_ms, void *userp)
{
    struct httpc *h = userp;
    (void)multi;
    if (timeout_ms < 0) {
        uv_timer_stop(&h->timer);
    } else {
        /* Never call socket_action from here: run it on the next turn. */
        uv_timer_start(&h->timer, timer_cb, (uint64_t)timeout_ms, 0);
    }
    return 0;
}

int httpc_init(struct httpc *h, uv_loop_t *loop)
{
    memset(h, 0, sizeof(*h));
    h->loop = loop;
    h->multi = curl_multi_init();
    if (h->multi == NULL) {
        return DR_ENOMEM;
    }
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    h->handles = 1;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, start_timeout);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    return DR_OK;
}

void httpc_set_tls(struct httpc *h,
                   const char *ca,
                   const char *cert,
                   const char *key)
{
    h->tls = true;
    snprintf(h->tls_ca, sizeof(h->tls_ca), "%s", ca);
    snprintf(h->tls_cert, sizeof(h->tls_cert), "%s", cert);
    snprintf(h->tls_key, sizeof(h->tls_key), "%s", key);
}

/* The cluster's TLS files on r's handle, when h has them. */
static void use_tls(const struct httpc *h, CURL *easy)
{
    if (!h->tls) {
        return;
    }
    curl_easy_setopt(easy, CURLOPT_CAINFO, h->tls_ca);
    curl_easy_setopt(easy, CURLOPT_SSLCERT, h->tls_cert);
    curl_easy_setopt(easy, CURLOPT_SSLKEY, h->tls_key);
    /* A rotated CA file counts from the next connection on. */
    curl_easy_setopt(easy, CURLOPT_CA_CACHE_TIMEOUT, 0L);
}

static void timer_closed_cb(uv_handle_t *handle)
{
    struct httpc *h = handle->data;
    h->handles--;
    if (h->handles == 0 && h->closed_cb != NULL) {
        h->closed_cb(h);
    }
}

void httpc_close(struct httpc *h, void (*cb)(struct httpc *h))
{
    h->closing = true;
    h->closed_cb = cb;
    /* Fail every request still in flight. */
    while (h->head != NULL) {
        struct httpc_req *r = h->head;
        unlink_req(r);
        finish(r, 0, "cancelled: the node is shutting down");
    }
    curl_multi_cleanup(h->multi); /* removes sockets: socket_cb closes polls */
    h->multi = NULL;
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, timer_closed_cb);
}

static size_t write_cb(char *data, size_t size, size_t n, void *userp)
{
    struct httpc_req *r = userp;
    size_t len = size * n;

    if (len > r->max_bytes - r->len) {
        r->too_big = true; /* an answer this large is not ours */
        return 0;
    }
    if (r->len + len + 1 > r->cap) {
        size_t cap = (r->cap ? r->cap * 2 : 4096);
        char *grown;
        while (cap < r->len + len + 1) {
            cap *= 2;
        }
        grown = realloc(r->body, cap);
        if (grown == NULL) {
            return 0;
        }
        r->body = grown;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

/* Put r, whose easy handle is set up, in flight. */
static int add(struct httpc *h, struct httpc_req *r)
{
    if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
        return DR_ENOMEM;
    }
    h->pending++;
    r->prev = NULL;
    r->next = h->head;
    if (h->head != NULL) {
        h->head->prev = r;
    }
    h->head = r;
    return DR_OK;
}

int httpc_post(struct httpc *h,
               struct httpc_req *r,
               const char *url,
               const char *token,
               const char *json,
               long timeout_ms,
               httpc_cb cb)
{
    char auth[600];

    if (h->closing) {
        return DR_ESHUTDOWN;
    }
    memset(&r->h, 0, sizeof(*r) - offsetof(struct httpc_req, h));
    r->h = h;
    r->cb = cb;
    r->max_bytes = HTTPC_MAX_BODY_DEFAULT;
    r->post = strdup(json);
    r->easy = curl_easy_init();
    r->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (r->post == NULL || r->easy == NULL || r->headers == NULL) {
        goto err;
    }
    if (token != NULL && token[0] != '\0') {
        struct curl_slist *more;
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        more = curl_slist_append(r->headers, auth);
        memset(auth, 0, sizeof(auth));
        if (more == NULL) {
            goto err;
        }
        r->headers = more;
    }
    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->post);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    /* The leader may have moved: follow its 307, keeping the POST and the
     * token (every target is a member of this cluster). */
    curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(r->easy, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(r->easy, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
    curl_easy_setopt(r->easy, CURLOPT_UNRESTRICTED_AUTH, 1L);
    /* A TLS cluster's calls never fall back to http. Without [tls] the
     * same call posts the failover webhooks, which are mostly https. */
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR,
                     h->tls ? "https" : "http,https");
    curl_easy_setopt(r->easy, CURLOPT_REDIR_PROTOCOLS_STR,
                     h->tls ? "https" : "http,https");
    use_tls(h, r->easy);
    if (add(h, r) != DR_OK) {
        goto err;
    }
    return DR_OK;
err:
    if (r->easy != NULL) {
        curl_easy_cleanup(r->easy);
    }
    free_headers(r->headers);
    free(r->post);
    r->easy = NULL;
    return DR_ENOMEM;
}

int httpc_request(struct httpc *h,
                  struct httpc_req *r,
                  const char *url,
                  const char *const *headers,
                  size_t max_bytes,
                  long timeout_ms,
                  httpc_cb cb)
{
    return httpc_send(h, r, "GET", url, headers, NULL, max_bytes, timeout_ms,
                      cb);
}

int httpc_send(struct httpc *h,
               struct httpc_req *r,
               const char *method,
               const char *url,
               const char *const *headers,
               const char *body,
               size_t max_bytes,
               long timeout_ms,
               httpc_cb cb)
{
    size_t i;

    if (h->closing) {
        return DR_ESHUTDOWN;
    }
    memset(&r->h, 0, sizeof(*r) - offsetof(struct httpc_req, h));
    r->h = h;
    r->cb = cb;
    r->max_bytes = max_bytes > 0 ? max_bytes : HTTPC_MAX_BODY_DEFAULT;
    r->easy = curl_easy_init();
    if (r->easy == NULL) {
        goto err;
    }
    if (body != NULL && (r->post = strdup(body)) == NULL) {
        goto err;
    }
    for (i = 0; headers != NULL && headers[i] != NULL; i++) {
        struct curl_slist *more = curl_slist_append(r->headers, headers[i]);
        if (more == NULL) {
            goto err;
        }
        r->headers = more;
    }
    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    if (r->post != NULL) {
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->post);
    } else {
        curl_easy_setopt(r->easy, CURLOPT_HTTPGET, 1L);
    }
    if (strcmp(method, "GET") != 0 &&
        (strcmp(method, "POST") != 0 || r->post == NULL)) {
        curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
    }
    if (r->headers != NULL) {
        curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    }
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    /* Headers may carry API keys: never follow a redirect elsewhere. */
    curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR,
                     h->tls ? "https" : "http,https");
    use_tls(h, r->easy);
    if (add(h, r) != DR_OK) {
        goto err;
    }
    return DR_OK;
err:
    if (r->easy != NULL) {
        curl_easy_cleanup(r->easy);
    }
    free_headers(r->headers);
    free(r->post);
    r->post = NULL;
    r->headers = NULL;
    r->easy = NULL;
    return DR_ENOMEM;
}

void httpc_cancel(struct httpc_req *r)
{
    if (r->easy == NULL || r->h == NULL) {
        return;
    }
    unlink_req(r); /* curl stops watching the request's sockets */
    curl_easy_cleanup(r->easy);
    r->easy = NULL;
    free_headers(r->headers);
    r->headers = NULL;
    free(r->body);
    r->body = NULL;
    free(r->post);
    r->post = NULL;
}
