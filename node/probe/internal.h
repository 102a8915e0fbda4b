/* Internals shared by the prober (probe.c) and its probes of PostgreSQL,
 * Redis and HTTP services. */
#ifndef DR_PROBE_INTERNAL_H
#define DR_PROBE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "http/httpc.h"
#include "probe/probe.h"

#define PROBE__SECRET_MAX 1024       /* bytes of an API key or password */
#define PROBE__HTTP_MAX_BODY 1048576 /* bytes of an answer we parse */
/* curl's own bound of an HTTP probe, after the round's timeout: a backstop,
 * so the round timer is what ends a probe that hangs. */
#define PROBE__HTTP_SLACK_MS 1000

struct probe__run;

/* One probe of one service, in flight or winding down. The probe module
 * allocates it (this header first) and frees it once every handle and
 * request it holds is closed, then calls probe__run_freed. */
struct probe__run
{
    struct prober_impl *impl;
    int service;             /* enum probe_service */
    bool over;               /* reported or cancelled: report no more */
    uint64_t started_ns;     /* uv_hrtime() at the start */
    char phase[400];         /* what it waits for, for "timed out" */
    struct probe_result res; /* filled by the module before reporting */
    /* Stop at once: close what is open; never report. Called at most once,
     * only while over is false, never from inside the module's own library
     * callbacks (libpq, hiredis, curl). */
    void (*cancel)(struct probe__run *run);
};

struct prober_impl
{
    struct prober *p;
    uv_loop_t *loop;
    const struct config *cfg; /* borrowed */
    uv_timer_t next_timer;    /* starts the next round */
    uv_timer_t round_timer;   /* ends the round: timeout, or all done */
    struct httpc http;
    bool http_open;
    struct probe__run *runs[PROBE__COUNT]; /* in flight this round */
    unsigned running;       /* probes of the round not yet over */
    uint64_t round_started; /* uv_now() */
    bool in_round;
    bool starting;    /* starting the round's probes */
    unsigned alive;   /* runs not yet freed */
    unsigned handles; /* own uv handles and httpc not closed */
    bool stopping;
    void (*stop_cb)(struct prober *p);
    char openai_key[PROBE__SECRET_MAX];
    char anthropic_key[PROBE__SECRET_MAX];
    char redis_password[PROBE__SECRET_MAX];
};

/* Initialise run's header for service, count it alive and in flight. */
void probe__run_init(struct probe__run *run,
                     struct prober_impl *impl,
                     int service);

/* The probe ended: run->res says how (status PROBE_UP with its details, or
 * PROBE_DOWN with error). Sets run->over. Safe from library callbacks: the
 * round ends later, on a timer. */
void probe__report(struct probe__run *run);

/* Report run down with a formatted error. */
void probe__fail(struct probe__run *run, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Milliseconds since run started. */
double probe__elapsed_ms(const struct probe__run *run);

/* run's memory has been freed by its module. */
void probe__run_freed(struct prober_impl *impl);

/* Copy s into dst (cap bytes) as one line: every run of whitespace becomes
 * one space, and the ends are trimmed. */
void probe__one_line(char *dst, size_t cap, const char *s);

/* Whether host is an IPv4 or IPv6 literal. */
bool probe__is_ip(const char *host);

/* Resolve host on the thread pool for run (gai->data must be set): 0 when
 * started (cb comes), otherwise run failed with the reason. */
int probe__resolve(struct probe__run *run,
                   uv_getaddrinfo_t *gai,
                   const char *host,
                   uv_getaddrinfo_cb cb);
/* The IP literal of an IPv4 or IPv6 address (size >= INET6_ADDRSTRLEN);
 * false for any other family. */
bool probe__addr_name(const struct addrinfo *ai, char *ip, size_t size);

/* Start a probe of each kind. Returns 0 when a run was created (it may
 * have reported already), or DR_ENOMEM when nothing was started. */
/* service: PROBE_DATABASE or PROBE_PG_STANDBY. */
int pgprobe_start(struct prober_impl *impl, int service);
int redisprobe_start(struct prober_impl *impl);
int httpprobe_start(struct prober_impl *impl, int service);

#endif /* DR_PROBE_INTERNAL_H */
