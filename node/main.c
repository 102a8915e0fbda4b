/* drnode: the disaster-recovery coordinator daemon. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "agent/agent.h"
#include "agent/jobcgroup.h"
#include "api/api.h"
#include "backup/job.h"
#include "backup/wal.h"
#include "config/config.h"
#include "control/failover.h"
#include "control/health.h"
#include "control/joincheck.h"
#include "control/scheduler.h"
#include "fsm/fsm.h"
#include "log/log.h"
#include "probe/probe_once.h"
#include "raft/raftnode.h"
#include "tls/tls.h"

#define DAEMON_ERR_MAX 2048 /* holds raftnode's errmsg */
/* How long a node with an empty data dir asks the other members whether
 * a cluster exists before it bootstraps one. */
#define JOINCHECK_TIMEOUT_MS 2000

struct daemon
{
    uv_loop_t *loop;
    struct config cfg;
    struct raftnode node;
    bool node_started;
    struct api *api;
    struct agent agent;
    struct agent streamer; /* the wal_stream job's worker */
    bool agent_started, streamer_started;
    struct health health;
    bool health_started;
    struct scheduler scheduler;
    bool scheduler_started;
    struct failover failover;
    bool failover_started;
    uv_signal_t sigterm, sigint, sighup;
    bool signals_started;
    uv_timer_t watchdog; /* systemd's WatchdogSec, fed from the loop */
    bool watchdog_started;
    int exit_code;
    bool stopping;
};

/* systemd's notification protocol (sd_notify(3), without libsystemd): one
 * datagram to $NOTIFY_SOCKET ("@name": the abstract namespace). Nothing
 * happens outside systemd (no NOTIFY_SOCKET). Never blocks the loop: a
 * datagram that cannot be sent at once is dropped. */
static void notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t len;
    int fd;

    if (path == NULL || (path[0] != '/' && path[0] != '@') ||
        (len = strlen(path)) >= sizeof(sa.sun_path)) {
        return;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@') {
        sa.sun_path[0] = '\0';
    }
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return;
    }
    if (sendto(fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL,
               (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) {
        log_warn("systemd notification \"%s\" not sent to %s: %s", state, path,
                 strerror(errno));
    }
    close(fd);
}

static void watchdog_cb(uv_timer_t *t)
{
    (void)t;
    notify("WATCHDOG=1");
}

/* With WatchdogSec, systemd sets WATCHDOG_USEC (and WATCHDOG_PID): ping at
 * half the interval from a loop timer, so a loop that hangs stops the pings
 * and systemd restarts the node. */
static void watchdog_start(struct daemon *d)
{
    const char *usec = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    unsigned long long us;
    char *end;

    if (usec == NULL || getenv("NOTIFY_SOCKET") == NULL) {
        return;
    }
    if (pid != NULL && strtoll(pid, NULL, 10) != (long long)getpid()) {
        return; /* meant for another process */
    }
    us = strtoull(usec, &end, 10);
    if (*end != '\0' || us < 2000) {
        log_warn(
            "WATCHDOG_USEC=\"%.40s\" is not a usable interval: no "
            "watchdog pings",
            usec);
        return;
    }
    uv_timer_init(d->loop, &d->watchdog);
    uv_timer_start(&d->watchdog, watchdog_cb, us / 2000, us / 2000);
    d->watchdog_started = true;
    log_info("systemd watchdog: a ping every %llu ms", us / 2000);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: drnode --config FILE        run a coordinator node\n"
            "       drnode --check-config FILE  validate a config and exit "
            "(2 when invalid)\n"
            "       drnode --run-job            run one job: JSON spec on "
            "stdin, result on stdout\n"
            "       drnode --probe-once FILE    probe the services FILE names "
            "once, print JSON\n"
            "       drnode wal-push --config FILE PATH\n"
            "                                   archive_command: archive the "
            "WAL file PATH (%%p)\n"
            "       drnode wal-fetch --config FILE NAME PATH\n"
            "                                   restore_command: archived NAME "
            "(%%f) into PATH (%%p)\n"
            "       drnode --version            print the version and the "
            "libraries it runs on\n"
            "       drnode --help\n");
}

static void closed_cb(struct raftnode *n)
{
    struct daemon *d = n->data;
    log_info("raft closed cleanly");
    uv_stop(d->loop);
}

/* Stop what started, in the reverse order: signals, the API (no new
 * requests), the leader's controllers and the worker, then raft, whose
 * close callback stops the loop. Safe to call more than once and from any
 * point of start-up. */
static void shutdown_node(struct daemon *d, int code)
{
    if (d->stopping) {
        return;
    }
    d->stopping = true;
    d->exit_code = code;
    notify("STOPPING=1");
    if (d->watchdog_started) {
        uv_timer_stop(&d->watchdog);
        uv_close((uv_handle_t *)&d->watchdog, NULL);
    }
    if (d->signals_started) {
        uv_signal_stop(&d->sigterm);
        uv_signal_stop(&d->sigint);
        uv_signal_stop(&d->sighup);
    }
    api_stop(d->api);
    if (d->scheduler_started) {
        scheduler_stop(&d->scheduler, NULL);
    }
    if (d->failover_started) {
        failover_stop(&d->failover, NULL);
    }
    if (d->agent_started) {
        agent_stop(&d->agent, NULL);
    }
    if (d->streamer_started) {
        agent_stop(&d->streamer, NULL);
    }
    if (d->health_started) {
        health_stop(&d->health, NULL);
    }
    if (d->node_started) {
        raftnode_close(&d->node);
    } else {
        uv_stop(d->loop);
    }
}

/* Tokens leave memory as soon as the API has their digests. */
static void wipe_tokens(struct config_token *tokens, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        explicit_bzero(tokens[k].token, sizeof(tokens[k].token));
    }
}

static int load_tokens(const struct config *cfg,
                       const char *own,
                       struct config_token *tokens,
                       size_t *n,
                       char *err);

/* SIGHUP: the API's certificate, key and client CA are read again and
 * serve new connections; open ones go on with the old. Calls to other
 * members read their files at each new connection anyway. */
static void reload_tls(struct daemon *d)
{
    char err[TLS_ERRMSG_MAX];

    if (d->cfg.tls_cert[0] == '\0') {
        return;
    }
    if (raftnode_reload_tls(&d->node, err) != 0 ||
        api_reload_tls(d->api, err) != 0) {
        log_error("SIGHUP: TLS files not reloaded (the old ones stay): %s",
                  err);
        return;
    }
    log_info("SIGHUP: TLS certificate and key reloaded (API and raft)");
}

/* SIGHUP: read token_file and [api] tokens_file again and use them from
 * the next request on (rotation without a restart). A file that does not
 * pass the start-up checks changes nothing; the log says why. */
static void reload_cb(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    static struct config_token tokens[CONFIG_TOKENS_MAX];
    char token[512] = "", err[DAEMON_ERR_MAX];
    size_t n = 0;

    (void)signum;
    if (d->stopping) {
        return;
    }
    reload_tls(d);
    if (d->cfg.token_file[0] != '\0' &&
        config_read_token(d->cfg.token_file, token, sizeof(token), err) != 0) {
        log_error(
            "SIGHUP: tokens not reloaded (the old ones stay): "
            "[node] token_file: %s",
            err);
        return;
    }
    if (load_tokens(&d->cfg, token, tokens, &n, err) != 0) {
        log_error("SIGHUP: tokens not reloaded (the old ones stay): %s", err);
        explicit_bzero(token, sizeof(token));
        return;
    }
    api_set_tokens(d->api, token, tokens, n);
    snprintf(d->agent.token, sizeof(d->agent.token), "%s", token);
    snprintf(d->streamer.token, sizeof(d->streamer.token), "%s", token);
    snprintf(d->health.token, sizeof(d->health.token), "%s", token);
    explicit_bzero(token, sizeof(token));
    wipe_tokens(tokens, n);
    log_info("SIGHUP: tokens reloaded (%zu named token%s%s)", n,
             n == 1 ? "" : "s", n == 0 ? "; token_file only" : "");
}

static void signal_cb(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    log_info("signal %d: shutting down", signum);
    shutdown_node(d, 0);
}

static void fatal_cb(struct raftnode *n)
{
    struct daemon *d = n->data;
    log_error("stopping: %s", n->errmsg);
    shutdown_node(d, 1);
}

static int load_config(struct config *cfg, const char *path)
{
    struct config_problems probs;
    memset(&probs, 0, sizeof(probs));
    config_defaults(cfg);
    if (config_load(cfg, path, &probs) != 0) {
        config_print_problems(stderr, path, &probs);
        return -1;
    }
    return 0;
}

static void close_leftover_cb(uv_handle_t *h, void *arg)
{
    unsigned *n = arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
        (*n)++;
    }
}

/* After raft closed: close what is left on the loop (HTTP connections that
 * were still open, with their timers), let the close callbacks run, and
 * close the loop. 0, or 1 when the loop still holds something. */
static int close_loop(uv_loop_t *loop)
{
    unsigned n = 0;
    int rv;

    uv_walk(loop, close_leftover_cb, &n);
    uv_run(loop, UV_RUN_DEFAULT);
    rv = uv_loop_close(loop);
    if (rv != 0) {
        log_error("event loop not closed: %s", uv_strerror(rv));
        return 1;
    }
    log_info(
        "exiting (event loop closed; %u open connection handles "
        "dropped)",
        n);
    return 0;
}

/* Start everything, or report what failed and unwind what started. */
/* [api] tokens_file, and that this node's own token (token_file, which it
 * sends to the others) is one of them with the node or admin role. */
static int load_tokens(const struct config *cfg,
                       const char *own,
                       struct config_token *tokens,
                       size_t *n,
                       char *err)
{
    char inner[256];
    bool found = false;

    *n = 0;
    if (cfg->api_tokens_file[0] == '\0') {
        return 0;
    }
    if (config_read_tokens(cfg->api_tokens_file, tokens, CONFIG_TOKENS_MAX, n,
                           inner) != 0) {
        snprintf(err, DAEMON_ERR_MAX, "%s", inner);
        return -1;
    }
    for (size_t k = 0; k < *n; k++) {
        if (own != NULL && strcmp(tokens[k].token, own) == 0) {
            found = tokens[k].role == CONFIG_ROLE_NODE ||
                    tokens[k].role == CONFIG_ROLE_ADMIN;
        }
    }
    if (!found) {
        snprintf(err, DAEMON_ERR_MAX,
                 "[api] tokens_file %s: this node's token (token_file) is not "
                 "in it with the node or admin role: the other nodes would "
                 "refuse its reports and job claims",
                 cfg->api_tokens_file);
        wipe_tokens(tokens, *n);
        *n = 0;
        return -1;
    }
    return 0;
}

static int start(struct daemon *d,
                 const char *token,
                 const struct config_token *tokens,
                 size_t n_tokens,
                 char *err)
{
    int rv = raftnode_start(&d->node, d->loop, &d->cfg);

    /* A start that failed after raft_init still needs raftnode_close. */
    d->node_started = d->node.started;
    d->node.data = d;
    d->node.on_fatal = fatal_cb;
    d->node.on_closed = closed_cb;
    if (rv != 0) {
        snprintf(err, DAEMON_ERR_MAX, "%s", d->node.errmsg);
        return -1;
    }
    if (api_start(&d->api, d->loop, &d->cfg, &d->node, token, tokens, n_tokens,
                  err) != 0) {
        return -1;
    }
    if (agent_start(&d->agent, d->loop, &d->cfg, &d->node, token,
                    AGENT_LANE_JOBS, err) != 0) {
        return -1;
    }
    d->agent_started = true;
    if (agent_start(&d->streamer, d->loop, &d->cfg, &d->node, token,
                    AGENT_LANE_STREAM, err) != 0) {
        return -1;
    }
    d->streamer_started = true;
    api_set_agent(d->api, &d->agent);
    if (health_start(&d->health, d->loop, &d->cfg, &d->node, token, err) != 0) {
        return -1;
    }
    d->health_started = true;
    api_set_health(d->api, &d->health);
    scheduler_start(&d->scheduler, d->loop, &d->node);
    d->scheduler_started = true;
    if (failover_start(&d->failover, d->loop, &d->cfg, &d->node, &d->health,
                       err) != 0) {
        return -1;
    }
    d->failover_started = true;
    api_set_failover(d->api, &d->failover);
    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    d->sigterm.data = d;
    d->sigint.data = d;
    uv_signal_start(&d->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&d->sigint, signal_cb, SIGINT);
    uv_signal_init(d->loop, &d->sighup);
    d->sighup.data = d;
    uv_signal_start(&d->sighup, reload_cb, SIGHUP);
    d->signals_started = true;
    return 0;
}

/* Jobs in a cgroup of their own, before any thread starts ([jobs]). */
static int start_job_cgroup(const struct config *cfg)
{
    /* Where cgroup v2 is mounted: a container (or a test) may mount it
     * elsewhere. */
    const char *root = getenv("DRNODE_CGROUP_ROOT");
    struct jobcgroup cg;
    char err[400];

    if (root == NULL || root[0] == '\0') {
        root = "/sys/fs/cgroup";
    }
    if (jobcgroup_setup(cfg, root, &cg, err, sizeof(err)) != DR_OK) {
        fprintf(stderr, "drnode: %s\n", err);
        return -1;
    }
    if (cg.jobs[0] == '\0') {
        log_info("jobs run in drnode's own cgroup: %s", cg.why);
    } else if (!cg.memory) {
        log_warn("jobs run in cgroup %s; %s", cg.jobs, cg.why);
    } else {
        char high[32], max[32];
        snprintf(high, sizeof(high), "%" PRIu64 " MiB", cg.high >> 20);
        snprintf(max, sizeof(max), "%" PRIu64 " MiB", cg.max >> 20);
        log_info("jobs run in cgroup %s: memory.high %s, memory.max %s",
                 cg.jobs, cg.high == UINT64_MAX ? "max" : high,
                 cg.max == UINT64_MAX ? "max" : max);
    }
    return 0;
}

static int run(const char *path)
{
    static struct daemon d; /* large; lives for the process */
    static struct config_token tokens[CONFIG_TOKENS_MAX];
    size_t n_tokens = 0;
    char token[512] = "";
    char err[DAEMON_ERR_MAX];
    int rv;

    if (load_config(&d.cfg, path) != 0) {
        return 2;
    }
    log_set_level(d.cfg.log_level);
    if (d.cfg.token_file[0] != '\0' &&
        config_read_token(d.cfg.token_file, token, sizeof(token), err) != 0) {
        fprintf(stderr, "drnode: %s\n", err);
        return 2;
    }
    if (token[0] == '\0') {
        log_warn("no token_file: every write through the API is refused");
    }
    if (load_tokens(&d.cfg, token, tokens, &n_tokens, err) != 0) {
        memset(token, 0, sizeof(token));
        fprintf(stderr, "drnode: %s\n", err);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (start_job_cgroup(&d.cfg) != 0) {
        memset(token, 0, sizeof(token));
        wipe_tokens(tokens, n_tokens);
        return 2;
    }
    if (!d.cfg.join && d.cfg.n_members > 1 &&
        raftnode_data_dir_fresh(d.cfg.data_dir)) {
        /* An empty data dir: never bootstrap beside a cluster that exists
         * (control/joincheck.h). */
        char why[400];
        int v = joincheck_run(&d.cfg, token, JOINCHECK_TIMEOUT_MS, why,
                              sizeof(why));
        if (v == JOINCHECK_REFUSE) {
            memset(token, 0, sizeof(token));
            wipe_tokens(tokens, n_tokens);
            fprintf(stderr,
                    "drnode: the data dir %s is empty, but %s: this node "
                    "was a member and lost its disk, and the cluster "
                    "expects the log it had. Run 'drctl members remove "
                    "%llu', then start it with join = true and add it back "
                    "('drctl members add'); see docs/runbook.md\n",
                    d.cfg.data_dir, why, (unsigned long long)d.cfg.id);
            return 2;
        }
        if (v == JOINCHECK_JOIN) {
            log_warn(
                "the data dir %s is empty and %s: joining it instead "
                "of bootstrapping",
                d.cfg.data_dir, why);
            d.cfg.join = true;
        }
    }
    d.loop = uv_default_loop();
    rv = start(&d, token, tokens, n_tokens, err);
    memset(token, 0, sizeof(token));
    wipe_tokens(tokens, n_tokens);
    if (rv != 0) {
        fprintf(stderr, "drnode: %s\n", err);
        shutdown_node(&d, 1);
    } else {
        log_info("node %llu (%s) raft %s api %s data %s",
                 (unsigned long long)d.cfg.id, d.cfg.region, d.cfg.raft_address,
                 d.cfg.api_address, d.cfg.data_dir);
        /* Raft runs and the API listens: systemd's Type=notify may go on
         * (units ordered after drnode, the next node of a rolling restart). */
        notify("READY=1\nSTATUS=raft and API up");
        watchdog_start(&d);
    }
    uv_run(d.loop, UV_RUN_DEFAULT);
    if (close_loop(d.loop) != 0 && d.exit_code == 0) {
        d.exit_code = 1;
    }
    if (d.node_started) {
        raftnode_free(&d.node);
    }
    return d.exit_code;
}

/* The probes' API key files, read as the prober will read them. */
static int check_key_files(const struct config *cfg, const char *path)
{
    const char *const files[][3] = {
        {"[probes]", "openai_key_file", cfg->probe_openai_key_file},
        {"[probes]", "anthropic_key_file", cfg->probe_anthropic_key_file},
        {"[dns]", "api_key_file", cfg->dns_api_key_file},
    };
    char key[512], err[256];
    int rv = 0;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (files[i][2][0] == '\0') {
            continue;
        }
        if (config_read_secret(files[i][1], "key", false, files[i][2], key,
                               sizeof(key), err) != 0) {
            fprintf(stderr, "%s: %s %s: %s\n", path, files[i][0], files[i][1],
                    err);
            rv = -1;
        }
        memset(key, 0, sizeof(key));
    }
    return rv;
}

/* [tls]: the files load as the API will load them, and the CA reads. */
static int check_tls_files(const struct config *cfg, const char *path)
{
    char err[TLS_ERRMSG_MAX];
    void *ctx;
    FILE *f;

    if (cfg->tls_cert[0] == '\0') {
        return 0;
    }
    ctx = tls_server_ctx_new(cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca,
                             err);
    if (ctx == NULL) {
        fprintf(stderr, "%s: [tls] %s\n", path, err);
        return -1;
    }
    tls_ctx_free(ctx);
    f = fopen(cfg->tls_ca, "r");
    if (f == NULL) {
        fprintf(stderr, "%s: [tls] ca %s: %s\n", path, cfg->tls_ca,
                strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

/* `drnode wal-push --config FILE PATH` and `drnode wal-fetch --config FILE
 * NAME PATH`, run by PostgreSQL in its data directory. wal-push: 0 once
 * the file is durable in the store, 1 otherwise (PostgreSQL retries).
 * wal-fetch: 0 restored, 1 not in the archive (PostgreSQL ends recovery or
 * waits), 255 for anything else: above 128, PostgreSQL stops recovery
 * rather than take a store it cannot read or a corrupt segment for the end
 * of the archive. */
static int wal_main(int argc, char **argv)
{
    bool push = strcmp(argv[1], "wal-push") == 0;
    int fail = push ? 1 : 255, rv;
    struct config *cfg;
    struct wal_options o;
    struct wal_copy copies[sizeof(((struct config *)0)->wal_copy_regions) /
                           sizeof(((struct config *)0)->wal_copy_regions[0])];
    char err[256];
    bool already = false;

    if (argc != (push ? 5 : 6) || strcmp(argv[2], "--config") != 0) {
        fprintf(stderr, "drnode %s: usage: drnode %s --config FILE %s\n",
                argv[1], argv[1], push ? "PATH" : "NAME PATH");
        return fail;
    }
    cfg = malloc(sizeof(*cfg));
    if (cfg == NULL || load_config(cfg, argv[3]) != 0) {
        free(cfg);
        return fail;
    }
    memset(&o, 0, sizeof(o));
    o.store_url = cfg->wal_store;
    for (size_t i = 0; o.store_url[0] == '\0' && i < cfg->n_regions; i++) {
        if (strcmp(cfg->regions[i].name, cfg->region) == 0) {
            o.store_url = cfg->regions[i].object_store;
        }
    }
    if (o.store_url[0] == '\0') {
        fprintf(stderr,
                "drnode %s: %s: no store for WAL: set [services] wal_store "
                "or [region.%s] object_store\n",
                argv[1], argv[3], cfg->region);
        free(cfg);
        return fail;
    }
    if (cfg->store_credentials[0] != '\0') {
        o.credentials_file = cfg->store_credentials;
    }
    o.prefetch = WAL_PREFETCH_DEFAULT;
    for (size_t i = 0; i < cfg->n_wal_copies; i++) {
        copies[i].region = cfg->wal_copy_regions[i];
        copies[i].store_url =
            config_region_store(cfg, cfg->wal_copy_regions[i]);
    }
    o.copies = copies;
    o.n_copies = cfg->n_wal_copies;
    rv = push ? wal_push(&o, argv[4], &already, err)
              : wal_fetch(&o, argv[4], argv[5], err);
    if (rv != 0) {
        fprintf(stderr, "drnode %s: %s\n", argv[1], err);
    } else if (already) {
        fprintf(stderr, "drnode wal-push: %s was already archived\n", argv[4]);
    }
    free(cfg);
    return rv == 0 ? 0 : rv == DR_ENOTFOUND && !push ? 1 : fail;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "wal-push") == 0 ||
                      strcmp(argv[1], "wal-fetch") == 0)) {
        return wal_main(argc, argv);
    }
    if (argc == 2 &&
        (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("drnode %s (libraft %s, libuv %s)\n", DR_VERSION,
               raftnode_libraft_version(), raftnode_libuv_version());
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--check-config") == 0) {
        struct config *cfg = malloc(sizeof(*cfg));
        int rv;
        if (cfg == NULL) {
            return 1;
        }
        rv = load_config(cfg, argv[2]);
        if (rv == 0) {
            /* What would stop the node at start-up belongs here too. */
            static struct config_token tokens[CONFIG_TOKENS_MAX];
            char token[512] = "", err[DAEMON_ERR_MAX];
            size_t n = 0;
            if (cfg->token_file[0] != '\0' &&
                config_read_token(cfg->token_file, token, sizeof(token), err) !=
                    0) {
                fprintf(stderr, "%s: [node] token_file: %s\n", argv[2], err);
                rv = -1;
            } else if (load_tokens(cfg, token, tokens, &n, err) != 0) {
                fprintf(stderr, "%s: %s\n", argv[2], err);
                rv = -1;
            }
            wipe_tokens(tokens, n);
            memset(token, 0, sizeof(token));
        }
        if (rv == 0 && check_key_files(cfg, argv[2]) != 0) {
            rv = -1;
        }
        if (rv == 0 && check_tls_files(cfg, argv[2]) != 0) {
            rv = -1;
        }
        if (rv == 0 && cfg->n_members > 0) {
            const char *regions[64];
            char why[300];
            for (size_t i = 0; i < cfg->n_members; i++) {
                regions[i] = cfg->members[i].region;
            }
            if (!fsm_regions_survive_loss(regions, cfg->n_members, why,
                                          sizeof(why))) {
                /* A warning: single-region development clusters are fine. */
                fprintf(stderr,
                        "%s: warning: %s; automatic failover stays "
                        "off\n",
                        argv[2], why);
            }
        }
        free(cfg);
        if (rv != 0) {
            return 2;
        }
        printf("%s: ok\n", argv[2]);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--run-job") == 0) {
        return job_main(stdin, stdout);
    }
    if (argc == 3 && strcmp(argv[1], "--probe-once") == 0) {
        return probe_once_main(argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "--config") == 0) {
        return run(argv[2]);
    }
    fprintf(stderr, "drnode: bad arguments\n");
    usage(stderr);
    return 2;
}
