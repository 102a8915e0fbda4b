/* Closed-loop HTTP/1.1 load generator: raw keep-alive sockets and epoll on
 * one thread. Requests are rendered once up front, so a request costs a
 * write, a read and a little parsing; the client stays light next to the
 * server it measures on a small machine. */
#define _GNU_SOURCE
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/err.h"

#define LOADGEN__CLIENTS_MAX 4096
#define LOADGEN__RBUF 16384 /* one response's headers and body */

/* One request rendered to bytes. */
struct loadgen__wire
{
    char *bytes;
    size_t len;
};

struct loadgen__slot
{
    int fd;
    bool connected; /* TCP up, and TLS too when the run uses it */
    bool tcp_up;
    SSL *ssl;                      /* https: the connection's TLS, or NULL */
    const struct loadgen__wire *w; /* request in flight, or NULL */
    size_t sent;
    uint64_t started_us;
    char rbuf[LOADGEN__RBUF];
    size_t rlen;
};

/* What the slots of one run share to start their requests. */
struct loadgen__run
{
    int ep; /* epoll instance */
    const struct loadgen_params *p;
    const struct loadgen__wire *wires; /* p->n_requests, sent in turn */
    struct sockaddr_in sa;             /* the one server */
    SSL_CTX *tls;                      /* https, or NULL */
    size_t next;                       /* index of the next wire to send */
    size_t active;                     /* slots with a request in flight */
    uint64_t end_us;                   /* no request starts after this */
};

static uint64_t loadgen__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int loadgen__record(struct loadgen_result *res, size_t *cap, uint64_t us)
{
    if (res->n_latency == *cap) {
        size_t grown_cap = *cap * 2;
        uint32_t *grown =
            realloc(res->latency_us, grown_cap * sizeof(*res->latency_us));
        if (grown == NULL) {
            return DR_ENOMEM;
        }
        res->latency_us = grown;
        *cap = grown_cap;
    }
    res->latency_us[res->n_latency++] =
        us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    return 0;
}

static void loadgen__note(struct loadgen_result *res, const char *msg)
{
    if (res->first_error[0] == '\0') {
        snprintf(res->first_error, sizeof(res->first_error), "%.250s", msg);
    }
}

/* "http://HOST:PORT/PATH" -> address and path. */
static int loadgen__parse_url(const char *url,
                              struct sockaddr_in *sa,
                              char *host,
                              size_t hostsz,
                              const char **path)
{
    const char *p = url, *colon, *slash;
    char ip[64];
    size_t len;

    if (strncmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (strncmp(p, "https://", 8) == 0) {
        p += 8;
    }
    slash = strchr(p, '/');
    colon = memchr(p, ':', slash ? (size_t)(slash - p) : strlen(p));
    if (colon == NULL || slash == NULL) {
        return DR_EINVAL;
    }
    len = (size_t)(colon - p);
    if (len >= sizeof(ip) || (size_t)(slash - p) >= hostsz) {
        return DR_EINVAL;
    }
    memcpy(ip, p, len);
    ip[len] = '\0';
    if (strcmp(ip, "localhost") == 0) {
        snprintf(ip, sizeof(ip), "127.0.0.1");
    }
    memcpy(host, p, (size_t)(slash - p));
    host[slash - p] = '\0';
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1) {
        return DR_EINVAL;
    }
    *path = slash;
    return 0;
}

static int loadgen__render(const struct client *c,
                           const struct loadgen_params *p,
                           struct loadgen__wire *wires,
                           struct sockaddr_in *sa)
{
    for (size_t i = 0; i < p->n_requests; i++) {
        const struct loadgen_request *rq = &p->requests[i];
        struct sockaddr_in one;
        char host[256];
        const char *path;
        size_t body_len = rq->body ? rq->body_len : 0;
        size_t cap = 512 + strlen(rq->url) + strlen(c->token) + body_len;
        int n;

        if (loadgen__parse_url(rq->url, &one, host, sizeof(host), &path) != 0) {
            return DR_EINVAL;
        }
        if (i == 0) {
            *sa = one;
        } else if (one.sin_addr.s_addr != sa->sin_addr.s_addr ||
                   one.sin_port != sa->sin_port) {
            return DR_EINVAL; /* one server per run */
        }
        wires[i].bytes = malloc(cap);
        if (wires[i].bytes == NULL) {
            return DR_ENOMEM;
        }
        n = snprintf(wires[i].bytes, cap,
                     "%s %s HTTP/1.1\r\nHost: %s\r\n"
                     "User-Agent: drctl-bench\r\n"
                     "Content-Type: application/json\r\n"
                     "%s%s%s"
                     "Content-Length: %zu\r\n\r\n",
                     p->method, path, host,
                     c->token[0] ? "Authorization: Bearer " : "", c->token,
                     c->token[0] ? "\r\n" : "", body_len);
        if (n < 0 || (size_t)n + body_len >= cap) {
            return DR_EINVAL;
        }
        memcpy(wires[i].bytes + n, rq->body ? rq->body : "", body_len);
        wires[i].len = (size_t)n + body_len;
    }
    return 0;
}

static void loadgen__close(int ep, struct loadgen__slot *s)
{
    SSL_free(s->ssl);
    s->ssl = NULL;
    s->tcp_up = false;
    if (s->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
    }
    s->fd = -1;
    s->connected = false;
}

static int loadgen__connect(int ep,
                            struct loadgen__slot *s,
                            const struct sockaddr_in *sa)
{
    struct epoll_event ev;
    int one = 1;

    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        return -1;
    }
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(s->fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 &&
        errno != EINPROGRESS) {
        close(s->fd);
        s->fd = -1;
        return -1;
    }
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = s;
    epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
    return 0;
}

static void loadgen__want(int ep, struct loadgen__slot *s, bool out)
{
    struct epoll_event ev;
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
    ev.data.ptr = s;
    epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
}

/* Drive s's TLS handshake: 1 done, 0 waiting, -1 failed. */
static int loadgen__handshake(int ep, struct loadgen__slot *s)
{
    int r = SSL_connect(s->ssl);
    if (r == 1) {
        s->connected = true;
        loadgen__want(ep, s, false);
        return 1;
    }
    switch (SSL_get_error(s->ssl, r)) {
        case SSL_ERROR_WANT_READ:
            loadgen__want(ep, s, false);
            return 0;
        case SSL_ERROR_WANT_WRITE:
            loadgen__want(ep, s, true);
            return 0;
        default:
            ERR_clear_error();
            return -1;
    }
}

/* Read into s->rbuf: bytes read, 0 when the server closed, -1 when
 * nothing is there yet. */
static ssize_t loadgen__recv(struct loadgen__slot *s)
{
    size_t room = sizeof(s->rbuf) - s->rlen;
    if (s->ssl != NULL) {
        int n = SSL_read(s->ssl, s->rbuf + s->rlen, (int)room);
        if (n > 0) {
            return n;
        }
        if (SSL_get_error(s->ssl, n) == SSL_ERROR_WANT_READ) {
            return -1;
        }
        ERR_clear_error();
        return 0;
    }
    {
        ssize_t r = recv(s->fd, s->rbuf + s->rlen, room, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return -1;
        }
        return r < 0 ? 0 : r;
    }
}

/* Push the rest of the request; returns -1 on a broken connection. */
static int loadgen__send(int ep, struct loadgen__slot *s)
{
    while (s->sent < s->w->len) {
        ssize_t n;
        if (s->ssl != NULL) {
            int w = SSL_write(s->ssl, s->w->bytes + s->sent,
                              (int)(s->w->len - s->sent));
            if (w <= 0) {
                int e = SSL_get_error(s->ssl, w);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                    loadgen__want(ep, s, e == SSL_ERROR_WANT_WRITE);
                    return 0;
                }
                ERR_clear_error();
                return -1;
            }
            s->sent += (size_t)w;
            continue;
        }
        n = send(s->fd, s->w->bytes + s->sent, s->w->len - s->sent,
                 MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            loadgen__want(ep, s, true);
            return 0;
        }
        if (n <= 0) {
            return -1;
        }
        s->sent += (size_t)n;
    }
    return 0;
}

static void loadgen__begin(int ep,
                           struct loadgen__slot *s,
                           const struct loadgen__wire *w,
                           const struct sockaddr_in *sa)
{
    s->w = w;
    s->sent = 0;
    s->rlen = 0;
    s->started_us = loadgen__now_us();
    if (s->fd < 0 && loadgen__connect(ep, s, sa) != 0) {
        return; /* reported by the timeout */
    }
    if (s->connected && loadgen__send(ep, s) != 0) {
        loadgen__close(ep, s);
    }
}

/* Start the next request of the cycle on slot s. */
static void loadgen__start(struct loadgen__run *run, struct loadgen__slot *s)
{
    loadgen__begin(run->ep, s, &run->wires[run->next], &run->sa);
    run->next = (run->next + 1) % run->p->n_requests;
    run->active++;
}

/* The request on slot s is over at now: start another on it unless the
 * run is ending (past its duration, or stopped). */
static void loadgen__finish(struct loadgen__run *run,
                            struct loadgen__slot *s,
                            uint64_t now)
{
    s->w = NULL;
    run->active--;
    if (now < run->end_us && (run->p->stop == NULL || *run->p->stop == 0)) {
        loadgen__start(run, s);
    }
}

/* Parse a complete response in s->rbuf: 1 when complete (status and
 * whether the server closes set), 0 when more bytes are needed, -1 when it
 * cannot be parsed. */
static int loadgen__parse(struct loadgen__slot *s,
                          int *status,
                          bool *closes,
                          size_t *body_at)
{
    char *end = NULL;
    size_t hdr_len, clen = 0;
    char *p;

    for (size_t i = 3; i < s->rlen; i++) {
        if (memcmp(s->rbuf + i - 3, "\r\n\r\n", 4) == 0) {
            end = s->rbuf + i + 1;
            break;
        }
    }
    if (end == NULL) {
        return s->rlen == sizeof(s->rbuf) ? -1 : 0;
    }
    hdr_len = (size_t)(end - s->rbuf);
    if (s->rlen < 12 || memcmp(s->rbuf, "HTTP/1.", 7) != 0) {
        return -1;
    }
    *status = atoi(s->rbuf + 9);
    *closes = false;
    for (p = s->rbuf; p < end;) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t len = eol ? (size_t)(eol - p) : 0;
        if (eol == NULL) {
            break;
        }
        if (len > 15 && strncasecmp(p, "content-length:", 15) == 0) {
            clen = strtoul(p + 15, NULL, 10);
        } else if (len > 11 && strncasecmp(p, "connection:", 11) == 0 &&
                   memmem(p, len, "close", 5) != NULL) {
            *closes = true;
        }
        p = eol + 1;
    }
    if (hdr_len + clen > sizeof(s->rbuf)) {
        return -1;
    }
    *body_at = hdr_len;
    return s->rlen >= hdr_len + clen ? 1 : 0;
}

int loadgen_run(const struct client *c,
                const struct loadgen_params *p,
                struct loadgen_result *res,
                char *errmsg)
{
    struct loadgen__slot *slots = NULL;
    struct loadgen__wire *wires = NULL;
    struct epoll_event events[256];
    struct loadgen__run run;
    uint64_t start_us, last_us;
    size_t cap = 1u << 16;
    int rv = 0;

    memset(res, 0, sizeof(*res));
    memset(&run, 0, sizeof(run));
    run.ep = -1;
    run.p = p;
    if (p->clients == 0 || p->clients > LOADGEN__CLIENTS_MAX ||
        p->n_requests == 0) {
        snprintf(errmsg, CLIENT_ERRMSG_MAX,
                 "load: need 1..%d clients and at least one request",
                 LOADGEN__CLIENTS_MAX);
        return DR_EINVAL;
    }
    res->latency_us = malloc(cap * sizeof(*res->latency_us));
    slots = calloc(p->clients, sizeof(*slots));
    wires = calloc(p->n_requests, sizeof(*wires));
    run.wires = wires;
    run.ep = epoll_create1(EPOLL_CLOEXEC);
    if (res->latency_us == NULL || slots == NULL || wires == NULL ||
        run.ep < 0) {
        rv = DR_ENOMEM;
        goto out;
    }
    rv = loadgen__render(c, p, wires, &run.sa);
    if (rv != 0) {
        snprintf(errmsg, CLIENT_ERRMSG_MAX,
                 "load: requests must all go to one http(s)://IPv4:PORT/ "
                 "server");
        goto out_quiet;
    }
    for (unsigned i = 0; i < p->clients; i++) {
        slots[i].fd = -1;
    }
    if (strncmp(p->requests[0].url, "https://", 8) == 0) {
        run.tls = SSL_CTX_new(TLS_client_method());
        if (run.tls == NULL ||
            (c->cacert[0] != '\0' &&
             SSL_CTX_load_verify_locations(run.tls, c->cacert, NULL) != 1) ||
            (c->cacert[0] == '\0' &&
             SSL_CTX_set_default_verify_paths(run.tls) != 1) ||
            (c->cert[0] != '\0' &&
             (SSL_CTX_use_certificate_chain_file(run.tls, c->cert) != 1 ||
              SSL_CTX_use_PrivateKey_file(run.tls, c->key, SSL_FILETYPE_PEM) !=
                  1))) {
            ERR_clear_error();
            snprintf(errmsg, CLIENT_ERRMSG_MAX,
                     "load: cannot set up TLS with the CA, certificate and "
                     "key given");
            rv = DR_EINVAL;
            goto out_quiet;
        }
        SSL_CTX_set_verify(run.tls, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_mode(run.tls, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }

    start_us = loadgen__now_us();
    run.end_us = start_us + (uint64_t)p->duration_ms * 1000u;
    last_us = start_us;
    for (unsigned i = 0; i < p->clients; i++) {
        loadgen__start(&run, &slots[i]);
    }

    while (run.active > 0) {
        int n = epoll_wait(run.ep, events, 256, 50);
        uint64_t now;

        if (n < 0 && errno != EINTR) {
            rv = DR_EIO;
            goto out;
        }
        for (int k = 0; k < n; k++) {
            struct loadgen__slot *s = events[k].data.ptr;
            int status = 0;
            bool closes = false, done = false, failed = false;
            size_t body_at = 0;

            if (s->w == NULL) {
                continue;
            }
            if (!s->tcp_up && (events[k].events & EPOLLOUT)) {
                int err = 0;
                socklen_t el = sizeof(err);
                getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err != 0) {
                    char what[128];
                    snprintf(what, sizeof(what), "connect: %s", strerror(err));
                    loadgen__note(res, what);
                    failed = true;
                } else if (run.tls != NULL) {
                    s->tcp_up = true;
                    s->ssl = SSL_new(run.tls);
                    if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1) {
                        loadgen__note(res, "TLS: out of memory");
                        failed = true;
                    }
                } else {
                    s->tcp_up = true;
                    s->connected = true;
                    loadgen__want(run.ep, s, false);
                }
            }
            if (!failed && s->tcp_up && !s->connected) {
                int h = loadgen__handshake(run.ep, s);
                if (h < 0) {
                    loadgen__note(res, "TLS handshake failed");
                    failed = true;
                } else if (h == 0) {
                    continue;
                } else if ((failed = loadgen__send(run.ep, s) != 0) == false) {
                    continue;
                }
            }
            if (!failed && s->connected && s->sent < s->w->len &&
                (events[k].events & EPOLLOUT)) {
                loadgen__want(run.ep, s, false);
                failed = loadgen__send(run.ep, s) != 0;
            }
            if (!failed &&
                (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                ssize_t r;
                /* TLS may hold more than one read of the socket. */
                while ((r = loadgen__recv(s)) > 0) {
                    s->rlen += (size_t)r;
                    int pr = loadgen__parse(s, &status, &closes, &body_at);
                    done = pr == 1;
                    failed = pr < 0;
                    if (done || failed || s->ssl == NULL ||
                        SSL_pending(s->ssl) == 0) {
                        break;
                    }
                }
                if (r == 0) {
                    loadgen__note(res, "connection closed by server");
                    failed = true;
                }
            }
            if (!done && !failed) {
                continue;
            }
            now = loadgen__now_us();
            last_us = now;
            if (done && status == p->ok_status) {
                res->ok++;
                rv = loadgen__record(res, &cap, now - s->started_us);
                if (rv != 0) {
                    goto out;
                }
            } else {
                res->errors++;
                if (done) {
                    char what[300];
                    size_t blen = s->rlen - body_at;
                    const char *body = s->rbuf + body_at;
                    const char *nl = memchr(body, '\n', blen);
                    if (nl != NULL) {
                        blen = (size_t)(nl - body);
                    }
                    snprintf(what, sizeof(what), "HTTP %d: %.*s", status,
                             (int)(blen > 200 ? 200 : blen), body);
                    loadgen__note(res, what);
                }
            }
            if (failed || closes) {
                loadgen__close(run.ep, s);
            }
            loadgen__finish(&run, s, now);
        }
        /* Requests over their time bound fail and their connection goes. */
        now = loadgen__now_us();
        for (unsigned i = 0; i < p->clients; i++) {
            struct loadgen__slot *s = &slots[i];
            if (s->w == NULL ||
                now - s->started_us < (uint64_t)p->request_timeout_ms * 1000u) {
                continue;
            }
            res->errors++;
            loadgen__note(res, "request timed out");
            loadgen__close(run.ep, s);
            loadgen__finish(&run, s, now);
        }
    }
    res->elapsed_us = last_us - start_us;

out:
    if (rv != 0) {
        snprintf(errmsg, CLIENT_ERRMSG_MAX, "load: %s", dr_strerror(rv));
    }
out_quiet:
    if (slots != NULL) {
        for (unsigned i = 0; i < p->clients; i++) {
            SSL_free(slots[i].ssl);
            if (slots[i].fd >= 0) {
                close(slots[i].fd);
            }
        }
    }
    SSL_CTX_free(run.tls);
    if (wires != NULL) {
        for (size_t i = 0; i < p->n_requests; i++) {
            if (wires[i].bytes != NULL) {
                /* The rendered requests hold the token. */
                memset(wires[i].bytes, 0, wires[i].len);
                free(wires[i].bytes);
            }
        }
    }
    free(wires);
    free(slots);
    if (run.ep >= 0) {
        close(run.ep);
    }
    if (rv != 0) {
        loadgen_result_clear(res);
    }
    return rv;
}

void loadgen_result_clear(struct loadgen_result *res)
{
    free(res->latency_us);
    res->latency_us = NULL;
    res->n_latency = 0;
}
