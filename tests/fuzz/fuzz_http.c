/* libFuzzer harness for the node's HTTP API, also a replay program
 * (tests/fuzz/replay.c). The input is the byte stream of one client
 * connection: it reaches h2o's HTTP/1 parser, our router, the role checks
 * and every handler, through one end of a socketpair (api_serve_fd), with
 * no network. Behind the API runs a real one-node cluster in this process
 * (raft on a temporary directory, leader from the start), so reads,
 * writes and their refusals run as in drnode; its state carries over from
 * one input to the next, as a server's does.
 *
 * FUZZ_HTTP_SHOW=1 prints the answers on stderr.
 *
 * Invariants: every answer starts with an HTTP/1.1 status line; no 500
 * (an internal error) and no 502/504; a token the input does not carry
 * never appears in an answer. Nothing
 * may crash, leak or read outside a buffer. Seeds: tests/data/fuzz/http
 * (a request per route, as drctl sends them). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <netinet/in.h>

#include "api/api.h"
#include "common/err.h"
#include "config/config.h"
#include "fsm/fsm.h"
#include "log/log.h"
#include "raft/raftnode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

/* The admin token the seeds carry, and the node's own, which no input
 * may see. */
#define ADMIN_TOKEN "fuzz-admin-0123456789abcdef"
#define READER_TOKEN "fuzz-reader-0123456789abcdef"
#define NODE_TOKEN "never-sent-node-token-4c1d9a"
#define INPUT_MAX 65536
#define ANSWER_MAX (4u << 20)
#define WAIT_MS 3000 /* one input's bound, loop time */

static struct
{
    bool ready;
    uv_loop_t loop;
    uv_timer_t tick;
    struct config cfg;
    struct raftnode node;
    struct api *api;
    char dir[64];
} w;

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
              getsockname(fd, (struct sockaddr *)&sa, &len) == 0,
          "no free loopback port");
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    size_t len = strlen(text);

    CHECK(fd >= 0 && write(fd, text, len) == (ssize_t)len && close(fd) == 0,
          "cannot write the harness's files");
}

static void remove_dir(void)
{
    char cmd[128];
    int rv;

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w.dir);
    rv = system(cmd);
    (void)rv;
}

/* Run the loop once, waking at least every millisecond or so. */
static void turn(void)
{
    uv_run(&w.loop, UV_RUN_ONCE);
}

/* The one-node cluster: config, tokens, raft, the API. */
static void world_start(void)
{
    char path[128], text[2048], err[512];
    struct config_problems probs;
    struct config_token tokens[3];
    size_t n_tokens = 0;
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    int raft_port = free_port(), api_port = free_port();
    uint64_t start;

    /* raft fsyncs every write: memory when the machine has it */
    snprintf(w.dir, sizeof(w.dir), "%s/fuzz_http.XXXXXX", tmp);
    CHECK(mkdtemp(w.dir) != NULL, "mkdtemp failed");
    atexit(remove_dir);
    snprintf(path, sizeof(path), "%s/token", w.dir);
    write_file(path, NODE_TOKEN "\n", 0600);
    snprintf(path, sizeof(path), "%s/tokens", w.dir);
    write_file(path,
               "admin-1 admin " ADMIN_TOKEN
               "\n"
               "reader-1 reader " READER_TOKEN
               "\n"
               "node-1 node " NODE_TOKEN "\n",
               0600);
    snprintf(text, sizeof(text),
             "[node]\nid = 1\nregion = eu-west\n"
             "raft_address = 127.0.0.1:%d\napi_address = 127.0.0.1:%d\n"
             "data_dir = %s/data\ntoken_file = %s/token\nlog_level = error\n"
             "[api]\ntokens_file = %s/tokens\n"
             "[bootstrap]\nprimary_region = eu-west\n"
             "[member.1]\nregion = eu-west\nraft_address = 127.0.0.1:%d\n"
             "api_address = 127.0.0.1:%d\n"
             "[region.eu-west]\npriority = 1\nobject_store = file://%s/store\n"
             "[region.us-east]\npriority = 2\n",
             raft_port, api_port, w.dir, w.dir, w.dir, raft_port, api_port,
             w.dir);
    snprintf(path, sizeof(path), "%s/drnode.conf", w.dir);
    write_file(path, text, 0600);
    memset(&probs, 0, sizeof(probs));
    if (config_load(&w.cfg, path, &probs) != 0) {
        config_print_problems(stderr, path, &probs);
        CHECK(0, "the harness's config is refused");
    }
    log_set_level(w.cfg.log_level);
    CHECK(config_read_tokens(w.cfg.api_tokens_file, tokens, 3, &n_tokens,
                             err) == 0,
          err);
    signal(SIGPIPE, SIG_IGN); /* as drnode: a client gone is EPIPE */
    CHECK(uv_loop_init(&w.loop) == 0, "uv_loop_init failed");
    uv_timer_init(&w.loop, &w.tick);
    uv_timer_start(&w.tick, tick_cb, 1, 1);
    if (raftnode_start(&w.node, &w.loop, &w.cfg) != 0) {
        fprintf(stderr, "fuzz: raft: %s\n", w.node.errmsg);
        abort();
    }
    CHECK(api_start(&w.api, &w.loop, &w.cfg, &w.node, NODE_TOKEN, tokens,
                    n_tokens, err) == 0,
          err);
    start = uv_now(&w.loop);
    /* Leader, and the [bootstrap] regions and primary applied. */
    while (!raftnode_ready(&w.node) ||
           raftnode_state(&w.node)->site.primary_region == NULL) {
        CHECK(uv_now(&w.loop) - start < 20000,
              "no bootstrapped leader in 20 s");
        turn();
    }
    w.ready = true;
}

/* Read what the server sent so far onto ans. */
static void drain(int fd, char *ans, size_t *len, bool *closed)
{
    for (;;) {
        ssize_t n;
        if (*len >= ANSWER_MAX) {
            char skip[4096];
            n = read(fd, skip, sizeof(skip));
        } else {
            n = read(fd, ans + *len, ANSWER_MAX - *len);
        }
        if (n > 0) {
            *len += *len >= ANSWER_MAX ? 0 : (size_t)n;
            continue;
        }
        if (n == 0) {
            *closed = true;
        }
        return;
    }
}

static bool has(const char *hay, size_t len, const char *needle)
{
    return memmem(hay, len, needle, strlen(needle)) != NULL;
}

/* Each answer's status line, walking the answers by their lengths (h2o
 * always sends content-length for ours); stops at what it cannot walk. */
static void check_answers(const char *ans, size_t len)
{
    size_t off = 0;

    while (off < len) {
        const char *p = ans + off, *end, *cl;
        size_t rest = len - off, body = 0;
        int status;

        CHECK(rest >= 12 && memcmp(p, "HTTP/1.1 ", 9) == 0,
              "an answer without an HTTP/1.1 status line");
        status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
        CHECK(status >= 100 && status <= 599, "a status out of range");
        CHECK(status != 500 && status != 502 && status != 504,
              "an internal error answered");
        end = memmem(p, rest, "\r\n\r\n", 4);
        if (end == NULL) {
            return;
        }
        cl = NULL;
        for (const char *h = p; h + 17 < end && cl == NULL; h++) {
            if (strncasecmp(h, "\r\ncontent-length:", 17) == 0) {
                cl = h + 17;
            }
        }
        if (cl == NULL) {
            return; /* chunked or closing: the last one */
        }
        body = strtoull(cl, NULL, 10);
        off = (size_t)(end + 4 - ans) + body;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const tokens[] = {ADMIN_TOKEN, READER_TOKEN, NODE_TOKEN};
    static char *ans;
    size_t len = 0, off = 0;
    bool closed = false, shut = false;
    int sv[2];
    uint64_t start, calls, conns;

    if (size > INPUT_MAX) {
        return 0;
    }
    if (!w.ready) {
        world_start();
        ans = malloc(ANSWER_MAX);
        CHECK(ans != NULL, "out of memory");
    }
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0,
          "socketpair failed");
    CHECK(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0, "fcntl failed");
    CHECK(api_serve_fd(w.api, sv[0]) == 0, "api_serve_fd failed");
    start = uv_now(&w.loop);
    /* Write the input as the server reads it, then end our side: h2o
     * answers what it has read, pipelined requests one after another,
     * before it reads the end and closes. Done when it has closed. */
    while (!closed && uv_now(&w.loop) - start < WAIT_MS) {
        if (off < size) {
            ssize_t n = send(sv[1], data + off, size - off, MSG_NOSIGNAL);
            if (n > 0) {
                off += (size_t)n;
            } else if (n < 0 && errno != EAGAIN) {
                break; /* the server closed: nothing more to write */
            }
        }
        if (off == size && !shut) {
            shutdown(sv[1], SHUT_WR);
            shut = true;
        }
        turn();
        drain(sv[1], ans, &len, &closed);
    }
    close(sv[1]);
    start = uv_now(&w.loop);
    do {
        turn();
        api_pending(w.api, &calls, &conns);
    } while ((calls > 0 || conns > 0) && uv_now(&w.loop) - start < WAIT_MS);
    if (getenv("FUZZ_HTTP_SHOW") != NULL) { /* what the server answered */
        fwrite(ans, 1, len, stderr);
        fputc('\n', stderr);
    }
    check_answers(ans, len);
    /* An answer may echo what the client sent (a 404 names the path),
     * never a token it did not send. libFuzzer learns the tokens from
     * these very comparisons, so inputs do carry them. */
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
        if (!has((const char *)data, size, tokens[i])) {
            CHECK(!has(ans, len, tokens[i]), "a token not sent in an answer");
        }
    }
    return 0;
}
