/* The HTTP server: h2o on the node's loop, auth, leader routing, replies. */
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/internal.h"
#include "log/log.h"
#include "tls/tls.h"

static void call_dispose_cb(void *p)
{
    struct api_call **slot = p;
    if (*slot != NULL) {
        (*slot)->req = NULL;
    }
}

static void call_free(struct api_call *c)
{
    if (c->req != NULL && c->slot != NULL) {
        *c->slot = NULL;
    }
    jin_free(&c->doc);
    if (c->holds_member_lock) {
        c->api->member_busy = false;
    }
    c->api->inflight_calls--;
    free(c);
}

static const char *reason_of(int status)
{
    switch (status) {
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 307:
            return "Temporary Redirect";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 409:
            return "Conflict";
        case 413:
            return "Payload Too Large";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
    }
    return "Unknown";
}

void api_reply_text(struct api_call *c,
                    int status,
                    const char *ctype,
                    const char *body,
                    size_t len)
{
    h2o_req_t *req = c->req;
    if (status >= 400 && c->route >= 0 && c->route < ROUTE__COUNT) {
        c->api->errors[c->route]++;
    }
    if (req != NULL) {
        req->res.status = status;
        req->res.reason = reason_of(status);
        /* Without a length h2o 2.2 chunks 200s and closes the connection
         * after any other status: clients would reconnect after every 201,
         * 307 or 4xx. */
        req->res.content_length = len;
        if (c->api->stopping) {
            /* Answer, then close: keep-alive clients learn to go elsewhere
             * instead of sending into a process about to exit. */
            req->http1_is_persistent = 0;
        }
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
                       NULL, ctype, strlen(ctype));
        if (status == 503 && c->retry_safe) {
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER,
                           NULL, H2O_STRLIT("1"));
        }
        /* Detach from the request's pool before h2o may dispose of it. */
        *c->slot = NULL;
        c->slot = NULL;
        h2o_send_inline(req, body, len);
    }
    call_free(c);
}

void api_reply_jout(struct api_call *c, int status, struct jout *j)
{
    if (j->oom || j->buf == NULL) {
        jout_free(j);
        api_reply_text(c, 500, "application/json",
                       H2O_STRLIT("{\"error\":{\"code\":\"internal\","
                                  "\"message\":\"out of memory\"}}"));
        return;
    }
    api_reply_text(c, status, "application/json", j->buf, j->len);
    jout_free(j);
}

void api_reply_error(struct api_call *c,
                     int status,
                     const char *code,
                     const char *fmt,
                     ...)
{
    char msg[512];
    struct jout j;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "error");
    jout_begin(&j, '{');
    jout_key(&j, "code");
    jout_str(&j, code);
    jout_key(&j, "message");
    jout_str(&j, msg);
    jout_end(&j, '}');
    jout_end(&j, '}');
    api_reply_jout(c, status, &j);
}

void api_reply_code(struct api_call *c, int code, const char *msg)
{
    int status;
    switch (code) {
        case DR_EINVAL:
            status = 400;
            break;
        case DR_EAUTH:
            status = 401;
            break;
        case DR_ENOTFOUND:
            status = 404;
            break;
        case DR_EEXIST:
        case DR_ECONFLICT:
        case DR_ELIMIT:
            status = 409;
            break;
        case DR_ENOTLEADER:
            api_reply_not_leader(c);
            return;
        case DR_EUNAVAILABLE:
        case DR_ESHUTDOWN:
            status = 503;
            break;
        case DR_ETIMEOUT:
            status = 504;
            break;
        default:
            status = 500;
            break;
    }
    api_reply_error(c, status, dr_errcode_name(code), "%s", msg);
}

void api_reply_not_leader(struct api_call *c)
{
    struct api *a = c->api;
    raft_id lid = raftnode_leader(a->node);
    const struct fsm_member *m;
    h2o_req_t *req = c->req;

    if (lid == 0 || lid == a->cfg->id) {
        /* Nothing was proposed: the client may safely send it again. */
        c->retry_safe = true;
        api_reply_error(c, 503, "unavailable",
                        "no leader is known right now (election in "
                        "progress?); retry");
        return;
    }
    m = fsm_member_get(raftnode_state(a->node), lid);
    if (m == NULL) {
        c->retry_safe = true;
        api_reply_error(c, 503, "unavailable",
                        "leader %llu has no known API address yet; retry",
                        (unsigned long long)lid);
        return;
    }
    if (req != NULL) {
        char *loc;
        const char *scheme = config_api_scheme(a->cfg);
        size_t len =
            strlen(scheme) + 3 + strlen(m->api_address) + req->path.len;
        loc = h2o_mem_alloc_pool(&req->pool, len + 1);
        snprintf(loc, len + 1, "%s://%s%.*s", scheme, m->api_address,
                 (int)req->path.len, req->path.base);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
                       loc, len);
    }
    api_reply_error(c, 307, "not_leader",
                    "node %llu is not the leader; the leader is node %llu at "
                    "%s",
                    (unsigned long long)a->cfg->id, (unsigned long long)lid,
                    m->api_address);
}

void api_reply_raft_status(struct api_call *c, int status)
{
    switch (status) {
        case RAFT_NOTLEADER:
            /* Refused before it reached the log: safe to send again. */
            api_reply_not_leader(c);
            return;
        case RAFT_LEADERSHIPLOST:
            api_reply_error(c, 503, "unavailable",
                            "leadership changed before the request "
                            "committed (%s); its outcome is unknown, check "
                            "and retry",
                            raft_strerror(status));
            return;
        case RAFT_SHUTDOWN:
            /* Proposed or not, its outcome is unknown: no Retry-After, so
             * that clients do not repeat a write that may have applied. */
            api_reply_error(c, 503, "unavailable",
                            "node is shutting down; the request's outcome is "
                            "unknown");
            return;
    }
    /* Proposed, then failed (a disk error, say): it may still commit on
     * the followers. */
    api_reply_error(c, 503, "unavailable",
                    "raft: %s; the request's outcome is unknown, check before "
                    "repeating it",
                    raft_strerror(status));
}

/* Reads and proposals with continuations. */

static void read_done_cb(struct raftnode_read *r, int status)
{
    struct api_call *c = r->data;
    if (status != 0) {
        if (status == RAFT_NOTLEADER || status == RAFT_LEADERSHIPLOST) {
            api_reply_not_leader(c);
        } else {
            api_reply_raft_status(c, status);
        }
        return;
    }
    c->after(c);
}

void api_read_then(struct api_call *c, api_handler_fn fn)
{
    int rv;
    if (c->stale) {
        fn(c);
        return;
    }
    c->after = fn;
    c->read.data = c;
    rv = raftnode_read(c->api->node, &c->read, read_done_cb);
    if (rv != DR_OK) {
        api_reply_not_leader(c);
    }
}

static void apply_done_cb(struct raftnode_req *r,
                          int status,
                          const struct fsm_result *res)
{
    struct api_call *c = r->data;
    if (status != 0) {
        api_reply_raft_status(c, status);
        return;
    }
    c->result = *res;
    if (res->code != DR_OK) {
        api_reply_code(c, res->code, res->msg);
        return;
    }
    c->after(c);
}

void api_propose_then(struct api_call *c,
                      const struct fsm_cmd *cmd,
                      api_handler_fn fn)
{
    struct fsm_result res;
    int rv;

    if (!raftnode_is_leader(c->api->node)) {
        api_reply_not_leader(c);
        return;
    }
    /* Reject early only when the local state is current; a new leader
     * still applying its predecessor's entries leaves it to the FSM. */
    if (raftnode_ready(c->api->node) &&
        fsm_check(raftnode_state(c->api->node), cmd, &res) != DR_OK) {
        api_reply_code(c, res.code, res.msg);
        return;
    }
    c->after = fn;
    c->apply.data = c;
    rv = raftnode_propose(c->api->node, &c->apply, cmd, apply_done_cb);
    if (rv == DR_ENOTLEADER) {
        api_reply_not_leader(c);
    } else if (rv != DR_OK) {
        api_reply_code(c, rv, "could not encode the command");
    }
}

/* Request entry point. */

bool api__query_get(struct api_call *c, const char *key, char *buf, size_t size)
{
    h2o_req_t *req = c->req;
    const char *q, *end;
    size_t klen = strlen(key);

    if (req == NULL || req->query_at == SIZE_MAX) {
        return false;
    }
    q = req->path.base + req->query_at + 1;
    end = req->path.base + req->path.len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        size_t len = amp ? (size_t)(amp - q) : (size_t)(end - q);
        if (len > klen && memcmp(q, key, klen) == 0 && q[klen] == '=') {
            size_t vlen = len - klen - 1;
            if (vlen >= size) {
                vlen = size - 1;
            }
            memcpy(buf, q + klen + 1, vlen);
            buf[vlen] = '\0';
            return true;
        }
        q += len + 1;
    }
    return false;
}

static void set_actor(struct api_call *c)
{
    struct sockaddr_storage ss;
    char host[INET6_ADDRSTRLEN] = "?";
    socklen_t len;

    len = c->req->conn->callbacks->get_peername(c->req->conn,
                                                (struct sockaddr *)&ss);
    if (len > 0 && ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host,
                  sizeof(host));
    } else if (len > 0 && ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
                  sizeof(host));
    }
    snprintf(c->actor, sizeof(c->actor), "api:%s", host);
}

/* Cross-origin reads for the status page: the page loaded from one member
 * reads the others' APIs when its own node is down. Only an origin that is
 * a member's own API address is answered with Access-Control-Allow-Origin
 * (a page of any other site cannot read the cluster through a browser),
 * and only for reads: writes never carry it. */
static void cors(struct api_call *c, const char *method)
{
    h2o_req_t *req = c->req;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    const struct fsm *f = raftnode_state(c->api->node);
    h2o_iovec_t o;
    char scheme[16];
    size_t sl;

    if (strcmp(method, "GET") != 0 && strcmp(method, "OPTIONS") != 0) {
        return;
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL,
                   H2O_STRLIT("Origin"));
    if (i < 0) {
        return;
    }
    o = req->headers.entries[i].value;
    sl = (size_t)snprintf(scheme, sizeof(scheme), "%s://",
                          config_api_scheme(c->api->cfg));
    if (o.len <= sl || memcmp(o.base, scheme, sl) != 0) {
        return;
    }
    for (size_t k = 0; k < f->n_members; k++) {
        const char *addr = f->members[k].api_address;
        if (addr != NULL && strlen(addr) == o.len - sl &&
            memcmp(addr, o.base + sl, o.len - sl) == 0) {
            h2o_add_header(&req->pool, &req->res.headers,
                           H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, NULL, o.base,
                           o.len);
            return;
        }
    }
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct api *a = *(struct api **)(self + 1);
    struct api_call *c = calloc(1, sizeof(*c));
    char method[16];

    if (c == NULL) {
        return -1;
    }
    c->api = a;
    c->req = req;
    c->route = ROUTE_UNKNOWN;
    c->token = -1;
    a->inflight_calls++;
    c->slot =
        h2o_mem_alloc_shared(&req->pool, sizeof(*c->slot), call_dispose_cb);
    *c->slot = c;
    {
        char v[8];
        c->stale =
            api__query_get(c, "stale", v, sizeof(v)) && strcmp(v, "true") == 0;
    }
    set_actor(c);
    if (a->stopping) {
        /* Raft is closing: its configuration may already be gone. */
        c->retry_safe = true;
        api_reply_error(c, 503, "unavailable",
                        "node is shutting down; ask another node");
        return 0;
    }
    if (a->inflight_calls > API_INFLIGHT_MAX) {
        c->retry_safe = true;
        api_reply_error(c, 503, "unavailable",
                        "node is overloaded (%llu requests in flight); retry",
                        (unsigned long long)a->inflight_calls);
        return 0;
    }
    snprintf(method, sizeof(method), "%.*s", (int)req->method.len,
             req->method.base);
    cors(c, method);
    api_route(c, method);
    return 0;
}

/* Token check in constant time: compare digests, not the strings, and
 * every known token every time. The token's index, or -1: no
 * Authorization; -2: not Bearer; -3: no such token. */
static int token_check(struct api_call *c)
{
    struct api *a = c->api;
    h2o_req_t *req = c->req;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    unsigned char got[SHA256_DIGEST_LENGTH];
    const char *v;
    size_t len;
    int found = -3;

    if (i < 0) {
        return -1;
    }
    v = req->headers.entries[i].value.base;
    len = req->headers.entries[i].value.len;
    if (len < 7 || strncasecmp(v, "Bearer ", 7) != 0) {
        return -2;
    }
    SHA256((const unsigned char *)v + 7, len - 7, got);
    for (size_t k = 0; k < a->n_tokens; k++) {
        if (CRYPTO_memcmp(a->tokens[k].digest, got, sizeof(got)) == 0) {
            found = (int)k;
        }
    }
    return found;
}

/* Does role (enum config_role) satisfy need (enum api_role)? */
static bool role_allows(int role, int need)
{
    switch (need) {
        case API_ROLE_OPEN:
        case API_ROLE_READER:
            return role != 0;
        case API_ROLE_OPERATOR:
            return role == CONFIG_ROLE_OPERATOR || role == CONFIG_ROLE_ADMIN;
        case API_ROLE_NODE:
            return role == CONFIG_ROLE_NODE || role == CONFIG_ROLE_ADMIN;
        case API_ROLE_RELAY:
            return role == CONFIG_ROLE_OPERATOR || role == CONFIG_ROLE_NODE ||
                   role == CONFIG_ROLE_ADMIN;
        default:
            return role == CONFIG_ROLE_ADMIN;
    }
}

static const char *need_name(int need)
{
    switch (need) {
        case API_ROLE_READER:
            return "any role";
        case API_ROLE_OPERATOR:
            return "operator or admin";
        case API_ROLE_NODE:
            return "node or admin";
        case API_ROLE_RELAY:
            return "operator, node or admin";
    }
    return "admin";
}

bool api__authorized(struct api_call *c)
{
    int k = c->req != NULL ? token_check(c) : -1;
    return k >= 0 && role_allows(c->api->tokens[k].role, API_ROLE_RELAY);
}

int api__auth(struct api_call *c, int need)
{
    struct api *a = c->api;
    int k;

    if (need == API_ROLE_OPEN || (need == API_ROLE_READER && !a->roles)) {
        return 0;
    }
    k = token_check(c);
    switch (k) {
        case -1:
            api_reply_error(c, 401, "unauthorized",
                            "this request needs Authorization: Bearer <token>");
            return -1;
        case -2:
            api_reply_error(c, 401, "unauthorized",
                            "Authorization must use the Bearer scheme");
            return -1;
        case -3:
            api_reply_error(c, 403, "forbidden",
                            "the bearer token is not valid");
            return -1;
    }
    if (!role_allows(a->tokens[k].role, need)) {
        api_reply_error(c, 403, "forbidden",
                        "token %s has role %s; this route needs %s",
                        a->tokens[k].name, config_role_name(a->tokens[k].role),
                        need_name(need));
        return -1;
    }
    c->token = k;
    if (a->roles) {
        /* The audit history names the token of every write. */
        char host[48];
        snprintf(host, sizeof(host), "%.47s", c->actor + 4); /* "api:" */
        snprintf(c->actor, sizeof(c->actor), "api:%.32s@%.47s",
                 a->tokens[k].name, host);
    }
    return 0;
}

/* A client connection: counted while open ([api] max_connections). */
struct api_conn
{
    uv_tcp_t tcp; /* first: h2o and libuv see only this */
    struct api *a;
    /* [tls]: h2o keeps the accept context's SSL_CTX pointer and calls
     * SSL_new only when the ClientHello arrives, so a SIGHUP between
     * accept and ClientHello must not free it: each connection holds a
     * reference until its socket closes. */
    void *ssl_ctx;
    struct api_conn *prev, *next; /* a->conn_list */
};

static void conn_closed_cb(uv_handle_t *h)
{
    struct api_conn *c = (struct api_conn *)(void *)h;
    c->a->conns--;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        c->a->conn_list = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    tls_ctx_free(c->ssl_ctx);
    free(c);
}

/* Connections not yet closing. One closed in this loop iteration (an
 * idle timeout) is still counted until its close callback, which runs
 * after this iteration's accepts: a client that saw it close and
 * connected at once must get its slot. Walked only when at the cap. */
static uint64_t open_conns(const struct api *a)
{
    uint64_t n = 0;
    const struct api_conn *c;
    for (c = a->conn_list; c != NULL; c = c->next) {
        if (!uv_is_closing((const uv_handle_t *)&c->tcp)) {
            n++;
        }
    }
    return n;
}

/* A new connection's record, counted and listed, its handle initialised
 * (closed through conn_closed_cb from now on). */
static struct api_conn *conn_new(struct api *a)
{
    struct api_conn *conn = h2o_mem_alloc(sizeof(*conn));

    conn->a = a;
    conn->ssl_ctx = tls_ctx_ref(a->ssl_ctx);
    conn->prev = NULL;
    conn->next = a->conn_list;
    if (a->conn_list != NULL) {
        a->conn_list->prev = conn;
    }
    a->conn_list = conn;
    a->conns++;
    uv_tcp_init(a->loop, &conn->tcp);
    return conn;
}

/* Hand an open connection to h2o. */
static void conn_serve(struct api *a, struct api_conn *conn)
{
    h2o_socket_t *sock;

    uv_tcp_nodelay(&conn->tcp, 1);
    sock = h2o_uv_socket_create((uv_stream_t *)&conn->tcp, conn_closed_cb);
    h2o_accept(&a->accept_ctx, sock);
}

int api_serve_fd(struct api *a, int fd)
{
    struct api_conn *conn = conn_new(a);

    if (uv_tcp_open(&conn->tcp, fd) != 0) {
        close(fd); /* libuv did not take it */
        uv_close((uv_handle_t *)&conn->tcp, conn_closed_cb);
        return DR_EIO;
    }
    conn_serve(a, conn);
    return DR_OK;
}

void api_pending(const struct api *a, uint64_t *calls, uint64_t *conns)
{
    *calls = a->inflight_calls;
    *conns = a->conns;
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct api *a = listener->data;
    struct api_conn *conn;

    if (status != 0) {
        log_warn("api accept: %s", uv_strerror(status));
        return;
    }
    conn = conn_new(a);
    if (uv_accept(listener, (uv_stream_t *)&conn->tcp) != 0) {
        uv_close((uv_handle_t *)&conn->tcp, conn_closed_cb);
        return;
    }
    if (a->conns > a->cfg->api_max_connections &&
        open_conns(a) > a->cfg->api_max_connections) {
        /* Full: close at once rather than let idle or slow clients hold
         * every slot (they time out after request_timeout_ms). */
        a->conns_refused++;
        if (a->conns_refused_logged == 0 ||
            uv_now(a->loop) - a->conns_refused_logged >= 10000) {
            a->conns_refused_logged = uv_now(a->loop);
            log_warn(
                "api: %u connections open ([api] max_connections): "
                "closing new ones (%llu so far)",
                a->cfg->api_max_connections,
                (unsigned long long)a->conns_refused);
        }
        uv_close((uv_handle_t *)&conn->tcp, conn_closed_cb);
        return;
    }
    conn_serve(a, conn);
}

static int parse_addr(const char *addr, struct sockaddr_in *sa, char *errmsg)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    size_t hl;
    if (colon == NULL) {
        snprintf(errmsg, 256, "api_address %.200s is not host:port", addr);
        return DR_EINVAL;
    }
    hl = (size_t)(colon - addr);
    if (hl >= sizeof(host)) {
        hl = sizeof(host) - 1;
    }
    memcpy(host, addr, hl);
    host[hl] = '\0';
    if (strcmp(host, "localhost") == 0) {
        snprintf(host, sizeof(host), "127.0.0.1");
    } else if (strcmp(host, "*") == 0 || host[0] == '\0') {
        snprintf(host, sizeof(host), "0.0.0.0");
    }
    if (uv_ip4_addr(host, atoi(colon + 1), sa) != 0) {
        snprintf(errmsg, 256,
                 "api_address %.200s: host must be an IPv4 address", addr);
        return DR_EINVAL;
    }
    return DR_OK;
}

void api_set_tokens(struct api *a,
                    const char *token,
                    const struct config_token *tokens,
                    size_t n_tokens)
{
    OPENSSL_cleanse(a->token, sizeof(a->token));
    OPENSSL_cleanse(a->tokens, sizeof(a->tokens));
    a->n_tokens = 0;
    a->roles = false;
    snprintf(a->token, sizeof(a->token), "%s", token ? token : "");
    a->has_token = a->token[0] != '\0';
    if (n_tokens > 0) {
        a->roles = true;
        for (size_t k = 0; k < n_tokens && k < CONFIG_TOKENS_MAX; k++) {
            struct api_token *t = &a->tokens[a->n_tokens++];
            snprintf(t->name, sizeof(t->name), "%s", tokens[k].name);
            t->role = tokens[k].role;
            SHA256((const unsigned char *)tokens[k].token,
                   strlen(tokens[k].token), t->digest);
        }
    } else if (a->has_token) {
        /* No roles: the one token is an admin's. */
        struct api_token *t = &a->tokens[a->n_tokens++];
        snprintf(t->name, sizeof(t->name), "admin");
        t->role = CONFIG_ROLE_ADMIN;
        SHA256((const unsigned char *)a->token, strlen(a->token), t->digest);
    }
}

int api_start(struct api **out,
              uv_loop_t *loop,
              const struct config *cfg,
              struct raftnode *node,
              const char *token,
              const struct config_token *tokens,
              size_t n_tokens,
              char *errmsg)
{
    struct api *a = calloc(1, sizeof(*a));
    h2o_hostconf_t *host;
    h2o_pathconf_t *path;
    h2o_handler_t *handler;
    struct sockaddr_in sa;
    int rv;

    if (api_routes_check(errmsg) != 0) {
        free(a);
        return DR_EINVAL;
    }
    if (a == NULL) {
        snprintf(errmsg, 256, "out of memory");
        return DR_ENOMEM;
    }
    a->loop = loop;
    a->cfg = cfg;
    a->node = node;
    api_set_tokens(a, token, tokens, n_tokens);
    if (parse_addr(cfg->api_address, &sa, errmsg) != DR_OK) {
        free(a);
        return DR_EINVAL;
    }
    h2o_config_init(&a->h2o_config);
    /* Bodies past our limit are answered 413 by us; h2o's own cap (plain
     * text 413) only protects memory from far larger ones. */
    a->h2o_config.max_request_entity_size = cfg->max_body_bytes * 4;
    /* A request must arrive whole within this time, and an idle
     * keep-alive connection closes after it: a slow-loris client cannot
     * hold a slot (h2o also caps header size and count: 400). */
    a->h2o_config.http1.req_timeout = cfg->api_request_timeout_ms;
    host = h2o_config_register_host(
        &a->h2o_config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    path = h2o_config_register_path(host, "/", 0);
    handler = h2o_create_handler(path, sizeof(*handler) + sizeof(a));
    handler->on_req = on_req;
    *(struct api **)(handler + 1) = a;
    h2o_context_init(&a->h2o_ctx, loop, &a->h2o_config);
    a->accept_ctx.ctx = &a->h2o_ctx;
    a->accept_ctx.hosts = a->h2o_config.hosts;
    if (cfg->tls_cert[0] != '\0') {
        char why[TLS_ERRMSG_MAX];
        /* HTTPS only: no plain-text listener is left open. */
        if (api_reload_tls(a, why) != 0) {
            snprintf(errmsg, 256, "%.255s", why);
            free(a);
            return DR_EINVAL;
        }
    }

    uv_tcp_init(loop, &a->listener);
    a->listener.data = a;
    rv = uv_tcp_bind(&a->listener, (struct sockaddr *)&sa, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&a->listener, 511, on_accept);
    }
    if (rv != 0) {
        snprintf(errmsg, 256, "api listen on %.180s: %s", cfg->api_address,
                 uv_strerror(rv));
        uv_close((uv_handle_t *)&a->listener, NULL);
        /* h2o contexts are not torn down: the daemon exits on this error. */
        return DR_EIO;
    }
    a->listening = true;
    a->fwd_ready = httpc_init(&a->fwd, loop) == 0;
    if (a->fwd_ready && cfg->tls_cert[0] != '\0') {
        httpc_set_tls(&a->fwd, cfg->tls_ca, cfg->tls_cert, cfg->tls_key);
    }
    *out = a;
    return DR_OK;
}

int api_reload_tls(struct api *a, char *errmsg)
{
    const struct config *cfg = a->cfg;
    char why[TLS_ERRMSG_MAX];
    SSL_CTX *ctx = tls_server_ctx_new(cfg->tls_cert, cfg->tls_key,
                                      cfg->tls_client_ca, errmsg);
    if (ctx == NULL) {
        return DR_EINVAL;
    }
    /* HTTP/2 where the client offers it, else HTTP/1.1. */
    h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    /* Open connections, even those not yet in their handshake, hold their
     * own reference to the old context (struct api_conn). */
    tls_ctx_free(a->ssl_ctx);
    a->ssl_ctx = ctx;
    a->accept_ctx.ssl_ctx = ctx;
    /* For drnode_tls_cert_expiry_timestamp_seconds; the files just loaded. */
    if (tls_cert_not_after(cfg->tls_cert, &a->cert_not_after, why) != 0) {
        a->cert_not_after = 0;
    }
    if (cfg->tls_ca[0] == '\0' ||
        tls_cert_not_after(cfg->tls_ca, &a->ca_not_after, why) != 0) {
        a->ca_not_after = 0;
    }
    return DR_OK;
}

void api_set_health(struct api *a, struct health *h)
{
    a->health = h;
}

void api_set_failover(struct api *a, const struct failover *fo)
{
    a->failover = fo;
}

void api_set_agent(struct api *a, const struct agent *ag)
{
    a->agent = ag;
}

void api_stop(struct api *a)
{
    if (a != NULL) {
        a->stopping = true;
    }
    if (a != NULL && a->listening) {
        a->listening = false;
        uv_close((uv_handle_t *)&a->listener, NULL);
    }
    if (a != NULL && a->fwd_ready) {
        a->fwd_ready = false;
        httpc_close(&a->fwd, NULL); /* relays in flight answer 503 */
    }
    if (a != NULL && a->ssl_ctx != NULL) {
        /* Connections still open keep their reference. */
        a->accept_ctx.ssl_ctx = NULL;
        tls_ctx_free(a->ssl_ctx);
        a->ssl_ctx = NULL;
    }
}
