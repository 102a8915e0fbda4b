/* The Redis probe: resolve the host off the loop thread, connect (hiredis
 * async on our adapter), AUTH, PING for the latency, INFO memory. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "common/err.h"
#include "config/config.h"
#include "probe/internal.h"
#include "probe/redis_uv.h"

#define REDIS_ADDRS_MAX 8 /* addresses of a resolved name tried in turn */

struct redis_run
{
    struct probe__run run; /* first */
    uv_getaddrinfo_t gai;
    bool resolving;        /* gai in flight */
    redisAsyncContext *ac; /* NULL: none, or freed by hiredis */
    bool attached;         /* the adapter's handle is not closed yet */
    char host[256];        /* as configured, without [] */
    int port;
    char addr[300]; /* "HOST:PORT" as configured, for messages */
    char ips[REDIS_ADDRS_MAX][INET6_ADDRSTRLEN]; /* to connect to, in turn */
    unsigned n_ips, next_ip;
    bool retry; /* connecting to ips[next_ip] once the last one is closed */
};

static void connect_next(struct redis_run *r);

static void maybe_free(struct redis_run *r)
{
    struct prober_impl *impl = r->run.impl;

    if (!r->run.over || r->resolving || r->ac != NULL || r->attached) {
        return;
    }
    free(r);
    probe__run_freed(impl);
}

/* Report r down from a reply callback, then let go of the connection
 * (hiredis frees it once the callback returns) unless hiredis is freeing it
 * already. */
static void fail(struct redis_run *r, const char *detail, bool release)
{
    char line[200];

    probe__one_line(line, sizeof(line), detail);
    probe__fail(&r->run, "redis %s: %s", r->addr, line);
    if (release && r->ac != NULL) {
        redisAsyncFree(r->ac);
    }
}

/* The int64 after "key:" at the start of a line of an INFO reply. */
static bool info_field(const char *info, const char *key, int64_t *out)
{
    size_t klen = strlen(key);
    const char *line = info;

    while (line != NULL && *line != '\0') {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            char *end;
            long long v = strtoll(line + klen + 1, &end, 10);
            if (end == line + klen + 1) {
                return false;
            }
            *out = v;
            return true;
        }
        line = strchr(line, '\n');
        if (line != NULL) {
            line++;
        }
    }
    return false;
}

/* A reply to what, or NULL when the connection went away. Returns whether
 * to go on. */
static bool check_reply(struct redis_run *r,
                        const redisAsyncContext *ac,
                        const redisReply *reply,
                        const char *what)
{
    char detail[200];

    if (r->run.over || r->retry) {
        return false; /* reported, cancelled, or being freed */
    }
    if (reply == NULL) {
        snprintf(detail, sizeof(detail), "connection lost during %s: %s", what,
                 ac->errstr[0] != '\0' ? ac->errstr : "closed");
        fail(r, detail, false);
        return false;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(detail, sizeof(detail), "%s: %s", what, reply->str);
        fail(r, detail, true);
        return false;
    }
    return true;
}

static void auth_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis_run *r = privdata;

    (void)check_reply(r, ac, reply, "AUTH");
}

static void ping_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis_run *r = privdata;
    const redisReply *rep = reply;

    if (!check_reply(r, ac, reply, "PING")) {
        return;
    }
    if (rep->type != REDIS_REPLY_STATUS || strcmp(rep->str, "PONG") != 0) {
        fail(r, "PING: unexpected reply", true);
        return;
    }
    r->run.res.latency_ms = probe__elapsed_ms(&r->run);
    snprintf(r->run.phase, sizeof(r->run.phase), "INFO memory from %s",
             r->addr);
}

static void info_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis_run *r = privdata;
    const redisReply *rep = reply;
    struct probe_result *res = &r->run.res;

    if (!check_reply(r, ac, reply, "INFO memory")) {
        return;
    }
    if (rep->type != REDIS_REPLY_STRING) {
        fail(r, "INFO memory: the reply is not a string", true);
        return;
    }
    if (!info_field(rep->str, "used_memory", &res->used_memory) ||
        !info_field(rep->str, "maxmemory", &res->maxmemory)) {
        fail(r, "INFO memory: no used_memory or maxmemory field", true);
        return;
    }
    res->status = PROBE_UP;
    probe__report(&r->run);
    redisAsyncFree(r->ac); /* deferred by hiredis until we return */
}

static void connect_cb(const redisAsyncContext *ac, int status)
{
    struct redis_run *r = ac->data;

    if (status == REDIS_OK && !r->run.over) {
        snprintf(r->run.phase, sizeof(r->run.phase), "PING on %s", r->addr);
        return;
    }
    if (status != REDIS_OK && !r->run.over) {
        char line[200];
        /* hiredis frees the context after this callback; the next address
         * is tried once the adapter's handle is closed. */
        if (r->next_ip < r->n_ips) {
            r->retry = true;
            return;
        }
        probe__one_line(line, sizeof(line), ac->errstr);
        probe__fail(&r->run, "connect %s: %s", r->addr, line);
    }
}

static void adapter_freed(void *data)
{
    struct redis_run *r = data;
    r->ac = NULL;
}

static void adapter_closed(void *data)
{
    struct redis_run *r = data;

    r->attached = false;
    if (r->retry) {
        r->retry = false;
        if (!r->run.over) {
            connect_next(r);
        }
    }
    maybe_free(r);
}

/* Connect to the next address of r->ips that takes a connection attempt. */
static void connect_next(struct redis_run *r)
{
    struct prober_impl *impl = r->run.impl;
    struct redis_uv_hooks hooks = {r, adapter_freed, adapter_closed};
    redisAsyncContext *ac = NULL;
    char line[200];
    int rv;

    while (ac == NULL) {
        const char *ip = r->ips[r->next_ip++];

        snprintf(r->run.phase, sizeof(r->run.phase), "connecting to %s (%s)",
                 r->addr, ip);
        ac = redisAsyncConnect(ip, r->port);
        if (ac == NULL) {
            probe__fail(&r->run, "connect %s: out of memory", r->addr);
            return;
        }
        if (ac->err != 0) {
            probe__one_line(line, sizeof(line), ac->errstr);
            redisAsyncFree(ac);
            ac = NULL;
            if (r->next_ip == r->n_ips) {
                probe__fail(&r->run, "connect %s: %s", r->addr, line);
                return;
            }
        }
    }
    rv = redis_uv_attach(ac, impl->loop, &hooks);
    if (rv != 0) {
        probe__fail(&r->run, "connect %s: %s", r->addr, uv_strerror(rv));
        redisAsyncFree(ac);
        return;
    }
    r->ac = ac;
    r->attached = true;
    ac->data = r;
    redisAsyncSetConnectCallback(ac, connect_cb);
    /* Sent once connected, in one write. */
    if (impl->redis_password[0] != '\0') {
        const char *argv[2] = {"AUTH", impl->redis_password};
        size_t lens[2] = {4, strlen(impl->redis_password)};
        redisAsyncCommandArgv(ac, auth_cb, r, 2, argv, lens);
    }
    redisAsyncCommand(ac, ping_cb, r, "PING");
    redisAsyncCommand(ac, info_cb, r, "INFO memory");
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct redis_run *r = req->data;
    struct addrinfo *ai;

    r->resolving = false;
    if (r->run.over) {
        uv_freeaddrinfo(res);
        maybe_free(r);
        return;
    }
    if (status != 0) {
        probe__fail(&r->run, "resolve %s: %s", r->host, uv_strerror(status));
        uv_freeaddrinfo(res);
        maybe_free(r);
        return;
    }
    for (ai = res; ai != NULL && r->n_ips < REDIS_ADDRS_MAX; ai = ai->ai_next) {
        if (!probe__addr_name(ai, r->ips[r->n_ips], INET6_ADDRSTRLEN)) {
            continue;
        }
        r->n_ips++;
    }
    uv_freeaddrinfo(res);
    if (r->n_ips == 0) {
        probe__fail(&r->run, "resolve %s: no IPv4 or IPv6 address", r->host);
    } else {
        connect_next(r);
    }
    maybe_free(r);
}

static void cancel(struct probe__run *run)
{
    struct redis_run *r = (struct redis_run *)(void *)run;

    if (r->resolving) {
        uv_cancel((uv_req_t *)&r->gai); /* resolved_cb frees r */
    }
    if (r->ac != NULL) {
        /* Pending callbacks run with NULL replies and see run.over. */
        redisAsyncFree(r->ac);
    }
    maybe_free(r);
}

/* Split "host:port" or "[v6]:port" (valid per the config). */
static void split_address(struct redis_run *r, const char *address)
{
    const char *colon = strrchr(address, ':');
    size_t n = (size_t)(colon - address);

    if (address[0] == '[' && n >= 2 && address[n - 1] == ']') {
        snprintf(r->host, sizeof(r->host), "%.*s", (int)(n - 2), address + 1);
    } else {
        snprintf(r->host, sizeof(r->host), "%.*s", (int)n, address);
    }
    r->port = atoi(colon + 1);
    snprintf(r->addr, sizeof(r->addr), "%s", address);
}

int redisprobe_start(struct prober_impl *impl)
{
    struct redis_run *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        return DR_ENOMEM;
    }
    probe__run_init(&r->run, impl, PROBE_REDIS);
    r->run.cancel = cancel;
    split_address(r, impl->cfg->redis_address);
    if (probe__is_ip(r->host)) {
        snprintf(r->ips[0], sizeof(r->ips[0]), "%.45s", r->host);
        r->n_ips = 1;
        connect_next(r);
        maybe_free(r);
        return DR_OK;
    }
    r->gai.data = r;
    if (probe__resolve(&r->run, &r->gai, r->host, resolved_cb) != 0) {
        maybe_free(r);
        return DR_OK;
    }
    r->resolving = true;
    return DR_OK;
}
