/* The prober: rounds of health probes on the loop, their timeouts, their
 * results, and a shutdown that waits for every handle to close. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "config/config.h"
#include "probe/internal.h"

static const char *const service_names[PROBE__COUNT] = {
    [PROBE_DATABASE] = "database",     [PROBE_REDIS] = "redis",
    [PROBE_OLLAMA] = "ollama",         [PROBE_OPENAI] = "openai",
    [PROBE_ANTHROPIC] = "anthropic",   [PROBE_APP] = "app",
    [PROBE_PG_STANDBY] = "pg_standby",
};

static const char *const status_names[] = {
    [PROBE_UNCONFIGURED] = "unconfigured",
    [PROBE_UNKNOWN] = "unknown",
    [PROBE_UP] = "up",
    [PROBE_DOWN] = "down",
};

const char *probe_service_name(int service)
{
    if (service < 0 || service >= PROBE__COUNT) {
        return "unknown";
    }
    return service_names[service];
}

const char *probe_status_name(int status)
{
    if (status < 0 ||
        (size_t)status >= sizeof(status_names) / sizeof(status_names[0])) {
        return "invalid";
    }
    return status_names[status];
}

void probe__one_line(char *dst, size_t cap, const char *s)
{
    size_t n = 0;
    bool space = false;

    if (cap == 0) {
        return;
    }
    while (*s != '\0' && isspace((unsigned char)*s)) {
        s++;
    }
    for (; *s != '\0' && n + 1 < cap; s++) {
        if (isspace((unsigned char)*s)) {
            space = true;
            continue;
        }
        if (space && n + 2 < cap) {
            dst[n++] = ' ';
        }
        space = false;
        dst[n++] = *s;
    }
    dst[n] = '\0';
}

bool probe__is_ip(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, buf) == 1 ||
           inet_pton(AF_INET6, host, buf) == 1;
}

/* Whether service has something to probe in cfg. */
static bool configured(const struct config *cfg, int service)
{
    switch (service) {
        case PROBE_DATABASE:
            return cfg->pg_conninfo[0] != '\0';
        case PROBE_REDIS:
            return cfg->redis_address[0] != '\0';
        case PROBE_OLLAMA:
            return cfg->probe_ollama_url[0] != '\0';
        case PROBE_OPENAI:
            return cfg->probe_openai_url[0] != '\0';
        case PROBE_ANTHROPIC:
            return cfg->probe_anthropic_url[0] != '\0';
        case PROBE_APP:
            return cfg->probe_app_url[0] != '\0';
        case PROBE_PG_STANDBY:
            return cfg->pg_standby_conninfo[0] != '\0';
    }
    return false;
}

/* Keep the outcome of one probe. A failure keeps only the latency of the
 * last success: a down service has no connection count or model list. */
static void record(struct prober_impl *impl,
                   int service,
                   const struct probe_result *res)
{
    struct probe_result *out = &impl->p->results[service];
    double latency_ms = out->latency_ms;

    if (res->status == PROBE_UP) {
        *out = *res;
        out->error[0] = '\0';
    } else {
        memset(out, 0, sizeof(*out));
        out->status = PROBE_DOWN;
        out->latency_ms = latency_ms;
        memcpy(out->error, res->error, sizeof(out->error));
        out->error[sizeof(out->error) - 1] = '\0';
    }
    out->at_ms = uv_now(impl->loop);
}

static void check_stopped(struct prober_impl *impl)
{
    struct prober *p = impl->p;
    void (*cb)(struct prober *) = impl->stop_cb;

    if (!impl->stopping || impl->handles > 0 || impl->alive > 0) {
        return;
    }
    explicit_bzero(impl->openai_key, sizeof(impl->openai_key));
    explicit_bzero(impl->anthropic_key, sizeof(impl->anthropic_key));
    explicit_bzero(impl->redis_password, sizeof(impl->redis_password));
    free(impl);
    p->impl = NULL;
    if (cb != NULL) {
        cb(p);
    }
}

void probe__run_init(struct probe__run *run,
                     struct prober_impl *impl,
                     int service)
{
    memset(run, 0, sizeof(*run));
    run->impl = impl;
    run->service = service;
    run->started_ns = uv_hrtime();
    run->res.status = PROBE_DOWN;
    impl->alive++;
    impl->running++;
    impl->runs[service] = run;
}

void probe__run_freed(struct prober_impl *impl)
{
    impl->alive--;
    check_stopped(impl);
}

double probe__elapsed_ms(const struct probe__run *run)
{
    return (double)(uv_hrtime() - run->started_ns) / 1e6;
}

static void end_round_cb(uv_timer_t *t);

/* One probe less in flight; the last one ends the round (on a timer, so
 * never inside a library callback). */
static void one_less(struct prober_impl *impl)
{
    impl->running--;
    if (impl->running == 0 && !impl->starting && !impl->stopping) {
        uv_timer_stop(&impl->round_timer);
        uv_timer_start(&impl->round_timer, end_round_cb, 0, 0);
    }
}

void probe__report(struct probe__run *run)
{
    struct prober_impl *impl = run->impl;

    if (run->over) {
        return;
    }
    run->over = true;
    impl->runs[run->service] = NULL;
    record(impl, run->service, &run->res);
    one_less(impl);
}

void probe__fail(struct probe__run *run, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(run->res.error, sizeof(run->res.error), fmt, ap);
    va_end(ap);
    run->res.status = PROBE_DOWN;
    probe__report(run);
}

static void next_round_cb(uv_timer_t *t);

static void end_round_cb(uv_timer_t *t)
{
    struct prober_impl *impl = t->data;
    struct prober *p = impl->p;
    uint64_t now = uv_now(impl->loop);
    uint64_t elapsed = now - impl->round_started;
    uint64_t interval = impl->cfg->probe_interval_ms;

    impl->in_round = false;
    p->rounds++;
    if (p->round_cb != NULL) {
        p->round_cb(p); /* may stop the prober */
    }
    if (impl->stopping) {
        return;
    }
    uv_timer_start(&impl->next_timer, next_round_cb,
                   elapsed >= interval ? 0 : interval - elapsed, 0);
}

/* The round's timeout: whatever still runs is down. */
static void timeout_cb(uv_timer_t *t)
{
    struct prober_impl *impl = t->data;
    int s;

    for (s = 0; s < PROBE__COUNT; s++) {
        struct probe__run *run = impl->runs[s];
        struct probe_result res;

        if (run == NULL) {
            continue;
        }
        memset(&res, 0, sizeof(res));
        res.status = PROBE_DOWN;
        snprintf(res.error, sizeof(res.error), "timed out after %u ms (%.200s)",
                 impl->cfg->probe_timeout_ms, run->phase);
        run->over = true;
        impl->runs[s] = NULL;
        record(impl, s, &res);
        impl->running--;
        run->cancel(run); /* may free run */
    }
    end_round_cb(t);
}

static int start_probe(struct prober_impl *impl, int service)
{
    switch (service) {
        case PROBE_DATABASE:
        case PROBE_PG_STANDBY:
            return pgprobe_start(impl, service);
        case PROBE_REDIS:
            return redisprobe_start(impl);
        default:
            return httpprobe_start(impl, service);
    }
}

static void next_round_cb(uv_timer_t *t)
{
    struct prober_impl *impl = t->data;
    int s;

    impl->in_round = true;
    impl->round_started = uv_now(impl->loop);
    impl->starting = true;
    for (s = 0; s < PROBE__COUNT; s++) {
        if (!configured(impl->cfg, s)) {
            continue;
        }
        if (start_probe(impl, s) != DR_OK) {
            struct probe_result res;
            memset(&res, 0, sizeof(res));
            res.status = PROBE_DOWN;
            snprintf(res.error, sizeof(res.error),
                     "cannot start the probe: out of memory");
            record(impl, s, &res);
        }
    }
    impl->starting = false;
    if (impl->running == 0) {
        uv_timer_start(&impl->round_timer, end_round_cb, 0, 0);
    } else {
        uv_timer_start(&impl->round_timer, timeout_cb,
                       impl->cfg->probe_timeout_ms, 0);
    }
}

/* Read the secrets the probes send; errmsg names the file. */
static int read_secrets(struct prober_impl *impl, char *errmsg)
{
    static const struct
    {
        const char *what;
        const char *noun;
        bool allow_spaces;
        size_t path_off;
        size_t buf_off;
    } secrets[] = {
        {"[probes] openai_key_file", "key", false,
         offsetof(struct config, probe_openai_key_file),
         offsetof(struct prober_impl, openai_key)},
        {"[probes] anthropic_key_file", "key", false,
         offsetof(struct config, probe_anthropic_key_file),
         offsetof(struct prober_impl, anthropic_key)},
        {"[services] redis_password_file", "password", true,
         offsetof(struct config, redis_password_file),
         offsetof(struct prober_impl, redis_password)},
    };
    size_t i;

    for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        const char *path = (const char *)impl->cfg + secrets[i].path_off;
        char *buf = (char *)impl + secrets[i].buf_off;
        int rv;

        if (path[0] == '\0') {
            continue;
        }
        if (secrets[i].path_off ==
                offsetof(struct config, redis_password_file) &&
            impl->cfg->redis_address[0] == '\0') {
            continue; /* no Redis to probe */
        }
        rv = config_read_secret(secrets[i].what, secrets[i].noun,
                                secrets[i].allow_spaces, path, buf,
                                PROBE__SECRET_MAX, errmsg);
        if (rv != DR_OK) {
            return rv == DR_ENOMEM ? DR_ENOMEM : DR_EINVAL;
        }
    }
    return DR_OK;
}

int prober_start(struct prober *p,
                 uv_loop_t *loop,
                 const struct config *cfg,
                 char *errmsg)
{
    struct prober_impl *impl;
    int rv;
    int s;

    p->rounds = 0;
    p->impl = NULL;
    for (s = 0; s < PROBE__COUNT; s++) {
        memset(&p->results[s], 0, sizeof(p->results[s]));
        p->results[s].status =
            configured(cfg, s) ? PROBE_UNKNOWN : PROBE_UNCONFIGURED;
    }
    impl = calloc(1, sizeof(*impl));
    if (impl == NULL) {
        snprintf(errmsg, 256, "probes: out of memory");
        return DR_ENOMEM;
    }
    impl->p = p;
    impl->loop = loop;
    impl->cfg = cfg;
    rv = read_secrets(impl, errmsg);
    if (rv != DR_OK) {
        goto err_after_alloc;
    }
    rv = httpc_init(&impl->http, loop);
    if (rv != DR_OK) {
        snprintf(errmsg, 256, "probes: cannot start the HTTP client: %s",
                 dr_strerror(rv));
        goto err_after_alloc;
    }
    uv_timer_init(loop, &impl->next_timer);
    uv_timer_init(loop, &impl->round_timer);
    impl->next_timer.data = impl;
    impl->round_timer.data = impl;
    impl->http_open = true;
    impl->handles = 3; /* two timers and the HTTP client */
    p->impl = impl;
    uv_timer_start(&impl->next_timer, next_round_cb, 0, 0);
    return DR_OK;

err_after_alloc:
    explicit_bzero(impl, sizeof(*impl));
    free(impl);
    return rv;
}

static void handle_closed_cb(uv_handle_t *h)
{
    struct prober_impl *impl = h->data;

    impl->handles--;
    check_stopped(impl);
}

static void http_closed_cb(struct httpc *h)
{
    struct prober_impl *impl =
        (struct prober_impl *)(void *)((char *)h -
                                       offsetof(struct prober_impl, http));

    impl->handles--;
    check_stopped(impl);
}

void prober_stop(struct prober *p, void (*cb)(struct prober *p))
{
    struct prober_impl *impl = p->impl;
    int s;

    if (impl == NULL || impl->stopping) {
        return;
    }
    impl->stopping = true;
    impl->stop_cb = cb;
    for (s = 0; s < PROBE__COUNT; s++) {
        struct probe__run *run = impl->runs[s];
        if (run != NULL) {
            run->over = true;
            impl->runs[s] = NULL;
            impl->running--;
            run->cancel(run);
        }
    }
    uv_timer_stop(&impl->next_timer);
    uv_timer_stop(&impl->round_timer);
    uv_close((uv_handle_t *)&impl->next_timer, handle_closed_cb);
    uv_close((uv_handle_t *)&impl->round_timer, handle_closed_cb);
    impl->http_open = false;
    httpc_close(&impl->http, http_closed_cb);
}

int probe__resolve(struct probe__run *run,
                   uv_getaddrinfo_t *gai,
                   const char *host,
                   uv_getaddrinfo_cb cb)
{
    struct addrinfo hints;
    int rv;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(run->phase, sizeof(run->phase), "resolving %s", host);
    rv = uv_getaddrinfo(run->impl->loop, gai, cb, host, NULL, &hints);
    if (rv != 0) {
        probe__fail(run, "resolve %s: %s", host, uv_strerror(rv));
    }
    return rv;
}

bool probe__addr_name(const struct addrinfo *ai, char *ip, size_t size)
{
    if (ai->ai_family == AF_INET6) {
        return uv_ip6_name(
                   (const struct sockaddr_in6 *)(const void *)ai->ai_addr, ip,
                   size) == 0;
    }
    if (ai->ai_family == AF_INET) {
        return uv_ip4_name(
                   (const struct sockaddr_in *)(const void *)ai->ai_addr, ip,
                   size) == 0;
    }
    return false;
}
