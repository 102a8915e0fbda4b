/* The job worker: claim, run in a child process, renew, report. */
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/jobkinds.h"
#include "common/err.h"
#include "log/log.h"

#define AGENT_TICK_MS 500
#define AGENT_HTTP_TIMEOUT_MS 5000
#define AGENT_OUTPUT_MAX (4 * 1024 * 1024)
#define AGENT_FINISH_TRIES 20

extern char **environ;

/* http://LEADER_API/path, or false when no leader is known. */
static bool leader_url(struct agent *a,
                       const char *path,
                       char *url,
                       size_t size)
{
    return raftnode_leader_url(a->node, path, url, size);
}

static void back_to_idle(struct agent *a, uint64_t pause_ms)
{
    a->phase = AGENT_IDLE;
    a->job_id = 0;
    a->retry_at = uv_now(a->loop) + pause_ms;
    free(a->spec);
    a->spec = NULL;
    free(a->output);
    a->output = NULL;
    a->output_len = a->output_cap = 0;
    free(a->finish_body);
    a->finish_body = NULL;
    free(a->phase_body);
    a->phase_body = NULL;
    a->prog_len = 0;
}

/* Finishing. */

static void finish_cb(struct httpc_req *r,
                      long status,
                      const char *body,
                      size_t len,
                      const char *err);

static void send_finish(struct agent *a)
{
    char url[512], path[96];

    snprintf(path, sizeof(path), "/api/jobs/%" PRIu64 "/finish", a->job_id);
    if (a->stopping || !leader_url(a, path, url, sizeof(url)) ||
        httpc_post(&a->http, &a->req, url, a->token, a->finish_body,
                   AGENT_HTTP_TIMEOUT_MS, finish_cb) != 0) {
        a->finish_tries++;
        return; /* the tick tries again */
    }
    a->req.data = a;
}

static void finish_cb(struct httpc_req *r,
                      long status,
                      const char *body,
                      size_t len,
                      const char *err)
{
    struct agent *a = r->data;

    (void)len;
    a->finish_tries++;
    if (status == 200) {
        log_info("job %" PRIu64 " attempt %u: outcome committed", a->job_id,
                 (unsigned)a->attempt);
        back_to_idle(a, 0);
        return;
    }
    if (status == 409 || status == 400 || status == 404) {
        /* The lease is gone (expired, or taken over): the leader retries
         * the job elsewhere; our result must not count. */
        log_warn("job %" PRIu64 " attempt %u: outcome refused: %.300s",
                 a->job_id, (unsigned)a->attempt, body);
        a->leases_lost++;
        back_to_idle(a, 1000);
        return;
    }
    if (a->finish_tries >= AGENT_FINISH_TRIES || a->stopping) {
        log_warn("job %" PRIu64
                 ": giving up reporting its outcome (%s); "
                 "its lease will expire and it will run again",
                 a->job_id, err ? err : body);
        back_to_idle(a, 1000);
        return;
    }
    /* No leader right now: the tick sends it again. */
}

/* Build the finish body from the child's outcome. */
static void child_done(struct agent *a)
{
    json_t *out = NULL, *body;
    json_error_t jerr;
    const struct fsm_job *j = fsm_job_get(raftnode_state(a->node), a->job_id);
    bool ok = false;
    char error[600];

    error[0] = '\0';
    if (a->lost_lease) {
        log_warn("job %" PRIu64 " attempt %u: stopped after losing its lease",
                 a->job_id, (unsigned)a->attempt);
        back_to_idle(a, 1000);
        return;
    }
    if (a->output != NULL) {
        out = json_loadb(a->output, a->output_len, 0, &jerr);
    }
    if (out == NULL || !json_is_object(out)) {
        snprintf(error, sizeof(error),
                 "job worker exited with status %" PRId64
                 "%s%s without a "
                 "result",
                 a->exit_status, a->term_signal ? " by signal " : "",
                 a->term_signal ? strsignal(a->term_signal) : "");
    } else if (json_is_true(json_object_get(out, "ok"))) {
        ok = true;
    } else {
        const char *e = json_string_value(json_object_get(out, "error"));
        snprintf(error, sizeof(error), "%s",
                 e != NULL ? e : "job worker failed without saying why");
    }
    body = json_pack("{sI sI sb}", "node", (json_int_t)a->cfg->id, "attempt",
                     (json_int_t)a->attempt, "ok", ok);
    if (!ok) {
        json_object_set_new(body, "error", json_string(error));
        a->jobs_failed++;
        log_warn("job %" PRIu64 " attempt %u failed: %s", a->job_id,
                 (unsigned)a->attempt, error);
    } else if (j != NULL && agent_job_kind(j->kind) != NULL &&
               agent_job_kind(j->kind)->finish != NULL) {
        agent_job_kind(j->kind)->finish(body, json_object_get(out, "result"));
    }
    if (ok) {
        a->jobs_run++;
        log_info("job %" PRIu64 " attempt %u done", a->job_id,
                 (unsigned)a->attempt);
    }
    a->finish_body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_decref(out);
    if (a->finish_body == NULL) {
        back_to_idle(a, 1000);
        return;
    }
    a->phase = AGENT_FINISHING;
    a->finish_tries = 0;
    send_finish(a);
}

/* The child. */

/* One of the agent's handles (or its HTTP client) has closed. */
static void handle_released(struct agent *a)
{
    a->open_handles--;
    if (a->open_handles == 0 && a->phase == AGENT_RUNNING && !a->proc_alive) {
        child_done(a);
    }
    if (a->stopping && a->open_handles == 0 && a->stopped_cb != NULL) {
        void (*cb)(struct agent *) = a->stopped_cb;
        a->stopped_cb = NULL;
        cb(a);
    }
}

static void handle_closed_cb(uv_handle_t *h)
{
    handle_released(h->data);
}

static void exit_cb(uv_process_t *p, int64_t status, int signal)
{
    struct agent *a = p->data;
    a->exit_status = status;
    a->term_signal = signal;
    a->proc_alive = false;
    uv_close((uv_handle_t *)p, handle_closed_cb);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct agent *a = h->data;
    (void)suggested;
    if (a->output_cap - a->output_len < 65536) {
        size_t cap = a->output_cap ? a->output_cap * 2 : 65536;
        char *grown = cap <= AGENT_OUTPUT_MAX ? realloc(a->output, cap) : NULL;
        if (grown == NULL) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        a->output = grown;
        a->output_cap = cap;
    }
    *buf = uv_buf_init(a->output + a->output_len,
                       (unsigned)(a->output_cap - a->output_len));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct agent *a = s->data;
    (void)buf;
    if (n > 0) {
        a->output_len += (size_t)n;
        return;
    }
    if (n < 0) {
        uv_read_stop(s);
        if (a->out_open) {
            a->out_open = false;
            uv_close((uv_handle_t *)s, handle_closed_cb);
        }
    }
}

static void write_cb(uv_write_t *w, int status)
{
    struct agent *a = w->data;
    (void)status; /* a child that died early says so through its exit */
    if (a->in_open) {
        a->in_open = false;
        uv_close((uv_handle_t *)&a->in, handle_closed_cb);
    }
}

/* Steps the child finished (job_progress in backup/jobmain.c). */

static void renew(struct agent *a);

static void prog_written_cb(uv_write_t *w, int status)
{
    (void)w;
    (void)status; /* a child gone meanwhile says so through its exit */
}

/* Answer the child's last line: "ok" or "stop WHY". */
static void prog_answer(struct agent *a, const char *answer)
{
    uv_buf_t buf;

    if (!a->prog_open) {
        return;
    }
    snprintf(a->prog_reply, sizeof(a->prog_reply), "%.300s\n", answer);
    buf = uv_buf_init(a->prog_reply, (unsigned)strlen(a->prog_reply));
    a->prog_write.data = a;
    if (uv_write(&a->prog_write, (uv_stream_t *)&a->prog, &buf, 1,
                 prog_written_cb) != 0) {
        log_warn("job %" PRIu64 ": cannot answer its worker", a->job_id);
    }
}

/* One line from the child: the renewal that commits its phase. */
static void prog_line(struct agent *a, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *m = json_loadb(line, len, 0, &jerr), *body;
    const char *phase = json_string_value(json_object_get(m, "phase"));
    const json_t *point = json_object_get(m, "restore_point_ms");
    const json_t *report = json_object_get(m, "report");

    if (phase == NULL || a->phase_body != NULL) {
        json_decref(m);
        prog_answer(a, "stop the node could not read the step reported");
        return;
    }
    body = json_pack("{sI sI sI ss}", "node", (json_int_t)a->cfg->id, "attempt",
                     (json_int_t)a->attempt, "lease_ms",
                     (json_int_t)a->lease_ms, "phase", phase);
    if (json_integer_value(point) > 0) {
        json_object_set(body, "restore_point_ms", (json_t *)point);
    }
    if (report != NULL) {
        agent_job_detail(body, report);
    }
    a->phase_body = json_dumps(body, JSON_COMPACT);
    if (a->phase_body != NULL) {
        log_info("job %" PRIu64 " attempt %u: %s done, committing it",
                 a->job_id, (unsigned)a->attempt, phase);
    }
    json_decref(body);
    json_decref(m); /* phase points into it */
    if (a->phase_body == NULL) {
        prog_answer(a, "stop out of memory");
        return;
    }
    renew(a);
}

static void prog_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct agent *a = h->data;
    (void)suggested;
    *buf = uv_buf_init(a->prog_line + a->prog_len,
                       (unsigned)(sizeof(a->prog_line) - a->prog_len));
}

static void prog_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct agent *a = s->data;
    char *nl;

    (void)buf;
    if (n > 0) {
        a->prog_len += (size_t)n;
        while ((nl = memchr(a->prog_line, '\n', a->prog_len)) != NULL) {
            size_t len = (size_t)(nl - a->prog_line);
            prog_line(a, a->prog_line, len);
            memmove(a->prog_line, nl + 1, a->prog_len - len - 1);
            a->prog_len -= len + 1;
        }
        if (a->prog_len == sizeof(a->prog_line)) {
            a->prog_len = 0;
            prog_answer(a, "stop the step reported is too long");
        }
        return;
    }
    if (n < 0) {
        uv_read_stop(s);
        if (a->prog_open) {
            a->prog_open = false;
            uv_close((uv_handle_t *)s, handle_closed_cb);
        }
    }
}

static int spawn_child(struct agent *a, const struct fsm_job *j)
{
    uv_process_options_t opts;
    uv_stdio_container_t stdio[4];
    char *args[3];
    char parent[64], progress[] = "DR_JOB_PROGRESS_FD=3";
    char **env;
    size_t n_env = 0;
    const struct agent_job_kind *k = agent_job_kind(j->kind);
    json_t *spec =
        k != NULL ? k->spec(a->cfg, raftnode_state(a->node), j) : NULL;
    uv_buf_t buf;
    int rv;

    if (spec != NULL && j->kind == FSM_JOB_REPLICATE) {
        /* Only a later attempt can meet an earlier one's leftovers (the
         * attempt the claim answered: this node's state may lag it). */
        json_object_set_new(spec, "sweep", json_boolean(a->attempt > 1));
    }
    a->spec = spec != NULL ? json_dumps(spec, JSON_COMPACT) : NULL;
    json_decref(spec);
    if (a->spec == NULL) {
        return DR_ENOMEM;
    }
    while (environ[n_env] != NULL) {
        n_env++;
    }
    env = calloc(n_env + 3, sizeof(*env));
    if (env == NULL) {
        return DR_ENOMEM;
    }
    memcpy(env, environ, n_env * sizeof(*env));
    snprintf(parent, sizeof(parent), "DR_JOB_PARENT=%ld", (long)getpid());
    env[n_env] = parent;
    env[n_env + 1] = progress;
    uv_pipe_init(a->loop, &a->in, 0);
    uv_pipe_init(a->loop, &a->out, 0);
    uv_pipe_init(a->loop, &a->prog, 0);
    a->in.data = a->out.data = a->prog.data = a->proc.data = a;
    a->open_handles += 3;
    a->in_open = a->out_open = a->prog_open = true;
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&a->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&a->out;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    stdio[3].flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE;
    stdio[3].data.stream = (uv_stream_t *)&a->prog;
    args[0] = a->self_exe;
    args[1] = "--run-job";
    args[2] = NULL;
    memset(&opts, 0, sizeof(opts));
    opts.file = a->self_exe;
    opts.args = args;
    opts.env = env;
    opts.stdio = stdio;
    opts.stdio_count = 4;
    opts.exit_cb = exit_cb;
    rv = uv_spawn(a->loop, &a->proc, &opts);
    free(env);
    if (rv != 0) {
        log_error("job %" PRIu64 ": cannot start %s: %s", a->job_id,
                  a->self_exe, uv_strerror(rv));
        uv_close((uv_handle_t *)&a->proc, NULL);
        a->in_open = a->out_open = a->prog_open = false;
        uv_close((uv_handle_t *)&a->in, handle_closed_cb);
        uv_close((uv_handle_t *)&a->out, handle_closed_cb);
        uv_close((uv_handle_t *)&a->prog, handle_closed_cb);
        return DR_EIO;
    }
    a->open_handles++;
    a->proc_alive = true;
    uv_read_start((uv_stream_t *)&a->out, alloc_cb, read_cb);
    uv_read_start((uv_stream_t *)&a->prog, prog_alloc_cb, prog_read_cb);
    buf = uv_buf_init(a->spec, (unsigned)strlen(a->spec));
    a->write.data = a;
    if (uv_write(&a->write, (uv_stream_t *)&a->in, &buf, 1, write_cb) != 0) {
        a->in_open = false;
        uv_close((uv_handle_t *)&a->in, handle_closed_cb);
    }
    return DR_OK;
}

/* Claiming. */

/* Start the worker of the job just claimed, once the claim has been
 * applied here (our state may trail the leader's); until then the tick
 * calls again. */
static void start_claimed(struct agent *a)
{
    const struct fsm_job *j = fsm_job_get(raftnode_state(a->node), a->job_id);

    if (j == NULL || j->state != FSM_JOB_RUNNING || j->attempt != a->attempt) {
        if (uv_now(a->loop) >= a->lease_expires_local) {
            back_to_idle(a, 1000);
        }
        return;
    }
    log_info("job %" PRIu64 " (%s%s%s) attempt %u: claimed, running", a->job_id,
             fsm_job_kind_name(j->kind), j->backup_id[0] != '\0' ? " " : "",
             j->backup_id, (unsigned)a->attempt);
    if (spawn_child(a, j) != DR_OK) {
        back_to_idle(a, 5000); /* the lease runs out; the job runs again */
    }
}

static void claim_cb(struct httpc_req *r,
                     long status,
                     const char *body,
                     size_t len,
                     const char *err)
{
    struct agent *a = r->data;
    json_t *o, *job;
    json_error_t jerr;

    if (a->stopping) {
        back_to_idle(a, 0);
        return;
    }
    if (status != 200) {
        /* Another node won the race, or the job backs off: normal. */
        if (status != 409) {
            log_debug("job %" PRIu64 ": claim failed: %s", a->job_id,
                      err ? err : body);
        }
        back_to_idle(a, 1000);
        return;
    }
    o = json_loadb(body, len, 0, &jerr);
    job = o != NULL ? json_object_get(o, "job") : NULL;
    if (job == NULL) {
        json_decref(o);
        back_to_idle(a, 1000);
        return;
    }
    a->attempt = (uint32_t)json_integer_value(json_object_get(o, "attempt"));
    a->lease_expires_local = uv_now(a->loop) + a->lease_ms;
    a->next_renew = uv_now(a->loop) + a->lease_ms / 3;
    json_decref(o);
    a->phase = AGENT_RUNNING;
    start_claimed(a);
}

/* Whether this node leaves j to the other nodes of its region for now: it
 * lacks something j could use (kind->lacks), and it has not yet waited
 * AGENT_DEFER_MS since it first saw j. After that it runs j as well as it
 * can. */
static bool deferred(struct agent *a,
                     const struct fsm *f,
                     const struct fsm_job *j)
{
    const struct agent_job_kind *k = agent_job_kind(j->kind);
    const size_t n = sizeof(a->deferred) / sizeof(a->deferred[0]);
    char why[300];
    uint64_t now = uv_now(a->loop);
    size_t i, oldest = 0;

    if (k->lacks == NULL || !k->lacks(a->cfg, f, j, why, sizeof(why))) {
        return false;
    }
    for (i = 0; i < n && a->deferred[i].job != j->id; i++) {
        if (a->deferred[i].since < a->deferred[oldest].since) {
            oldest = i;
        }
    }
    if (i == n) { /* first seen: it takes the oldest slot */
        a->deferred[oldest].job = j->id;
        a->deferred[oldest].since = now;
        log_info("job %" PRIu64
                 " (%s): leaving it %d ms to another node of "
                 "%s first: %s",
                 j->id, k->name, AGENT_DEFER_MS, a->cfg->region, why);
        return true;
    }
    return now - a->deferred[i].since < AGENT_DEFER_MS;
}

static void try_claim(struct agent *a)
{
    const struct fsm *f = raftnode_state(a->node);
    uint64_t now = raftnode_wall_ms();
    char url[512], path[96], body[160];

    if (uv_now(a->loop) < a->retry_at) {
        return;
    }
    for (size_t i = 0; i < f->n_jobs; i++) {
        const struct fsm_job *j = &f->jobs[i];
        if (j->state != FSM_JOB_PENDING || j->not_before_ms > now ||
            fsm_job_waits_for(f, j) != NULL ||
            strcmp(j->region, a->cfg->region) != 0 ||
            (j->kind == FSM_JOB_WAL_STREAM) != (a->lane == AGENT_LANE_STREAM) ||
            agent_job_kind(j->kind) == NULL ||
            !agent_job_kind(j->kind)->can_run(a->cfg, j) || deferred(a, f, j)) {
            continue;
        }
        snprintf(path, sizeof(path), "/api/jobs/%" PRIu64 "/claim", j->id);
        if (!leader_url(a, path, url, sizeof(url))) {
            return;
        }
        /* The stream's lease is short: while no node holds it, what the
         * server commits reaches no store. */
        a->lease_ms = (uint64_t)fsm_setting_int(f, a->lane == AGENT_LANE_STREAM
                                                       ? "wal.stream_lease_ms"
                                                       : "jobs.lease_ms");
        snprintf(body, sizeof(body),
                 "{\"node\":%" PRIu64 ",\"lease_ms\":%" PRIu64 "}", a->cfg->id,
                 a->lease_ms);
        a->job_id = j->id;
        a->job_kind = j->kind;
        a->lost_lease = false;
        if (httpc_post(&a->http, &a->req, url, a->token, body,
                       AGENT_HTTP_TIMEOUT_MS, claim_cb) != 0) {
            a->job_id = 0;
            return;
        }
        a->req.data = a;
        a->phase = AGENT_CLAIMING;
        return;
    }
}

/* Renewing. */

static void kill_child(struct agent *a, const char *why)
{
    if (a->proc_alive) {
        log_warn("job %" PRIu64 " attempt %u: %s; stopping its worker",
                 a->job_id, (unsigned)a->attempt, why);
        uv_process_kill(&a->proc, SIGKILL);
    }
    a->lost_lease = true;
}

static void renew_cb(struct httpc_req *r,
                     long status,
                     const char *body,
                     size_t len,
                     const char *err)
{
    struct agent *a = r->data;
    bool phase = a->renew_phase;

    (void)len;
    a->renew_inflight = false;
    a->renew_phase = false;
    if (status == 200) {
        a->lease_expires_local = uv_now(a->loop) + a->lease_ms - 1000;
        a->next_renew = uv_now(a->loop) + a->lease_ms / 3;
        if (phase) {
            /* Committed: the child goes on to its next step. */
            free(a->phase_body);
            a->phase_body = NULL;
            prog_answer(a, "ok");
        } else if (a->phase_body != NULL) {
            renew(a); /* a step came in meanwhile */
        }
        return;
    }
    if (status == 409 || status == 404) {
        /* The lease is gone, or (with a phase) the runbook no longer
         * wants this work: stop before the next step's effect. */
        a->leases_lost++;
        if (phase) {
            log_warn("job %" PRIu64 " attempt %u: step refused: %.300s",
                     a->job_id, (unsigned)a->attempt, body);
        }
        kill_child(a, phase ? "step refused" : "lease lost");
        return;
    }
    if (phase && status == 400) {
        char why[320];
        snprintf(why, sizeof(why), "stop %.300s", body != NULL ? body : "");
        free(a->phase_body);
        a->phase_body = NULL;
        prog_answer(a, why);
        return;
    }
    (void)err; /* no leader: retry on the next tick */
    a->next_renew = uv_now(a->loop) + (phase ? 200 : 1000);
}

static void renew(struct agent *a)
{
    char url[512], path[96], body[200];
    uint64_t now = uv_now(a->loop);

    if (now >= a->lease_expires_local) {
        kill_child(a, "lease ran out without a renewal");
        return;
    }
    if (a->renew_inflight || (now < a->next_renew && a->phase_body == NULL)) {
        return;
    }
    snprintf(path, sizeof(path), "/api/jobs/%" PRIu64 "/renew", a->job_id);
    if (!leader_url(a, path, url, sizeof(url))) {
        return;
    }
    snprintf(body, sizeof(body),
             "{\"node\":%" PRIu64 ",\"attempt\":%u,\"lease_ms\":%" PRIu64 "}",
             a->cfg->id, (unsigned)a->attempt, a->lease_ms);
    if (httpc_post(&a->http, &a->renew_req, url, a->token,
                   a->phase_body != NULL ? a->phase_body : body,
                   AGENT_HTTP_TIMEOUT_MS, renew_cb) == 0) {
        a->renew_req.data = a;
        a->renew_inflight = true;
        a->renew_phase = a->phase_body != NULL;
    }
}

static void tick_cb(uv_timer_t *t)
{
    struct agent *a = t->data;

    if (a->stopping || !raftnode_state(a->node)->initialized) {
        return;
    }
    switch (a->phase) {
        case AGENT_IDLE:
            try_claim(a);
            break;
        case AGENT_RUNNING:
            if (a->spec == NULL) {
                start_claimed(a);
            } else if (a->proc_alive) {
                renew(a);
            }
            break;
        case AGENT_FINISHING:
            if (!a->http.pending && a->req.easy == NULL) {
                send_finish(a);
            }
            break;
        default:
            break;
    }
}

/* An entry was applied: an idle worker looks for a job to claim at the
 * next turn of the loop rather than at its next tick (the failover
 * runbook's restore job waited up to a whole tick to be claimed). */
static void agent_applied(void *data)
{
    struct agent *a = data;

    if (a->phase == AGENT_IDLE && !a->stopping &&
        uv_timer_get_due_in(&a->tick) > 0) {
        uv_timer_start(&a->tick, tick_cb, 0, AGENT_TICK_MS);
    }
}

int agent_start(struct agent *a,
                uv_loop_t *loop,
                const struct config *cfg,
                struct raftnode *node,
                const char *token,
                int lane,
                char *errmsg)
{
    ssize_t n;

    memset(a, 0, sizeof(*a));
    a->lane = lane;
    a->loop = loop;
    a->cfg = cfg;
    a->node = node;
    snprintf(a->token, sizeof(a->token), "%s", token);
    n = readlink("/proc/self/exe", a->self_exe, sizeof(a->self_exe) - 1);
    if (n <= 0) {
        snprintf(errmsg, 256,
                 "job worker: cannot find this executable "
                 "(/proc/self/exe)");
        return DR_EIO;
    }
    a->self_exe[n] = '\0';
    if (httpc_init(&a->http, loop) != 0) {
        snprintf(errmsg, 256, "job worker: out of memory");
        return DR_ENOMEM;
    }
    if (cfg->tls_cert[0] != '\0') {
        httpc_set_tls(&a->http, cfg->tls_ca, cfg->tls_cert, cfg->tls_key);
    }
    uv_timer_init(loop, &a->tick);
    a->tick.data = a;
    uv_timer_start(&a->tick, tick_cb, AGENT_TICK_MS, AGENT_TICK_MS);
    if (lane == AGENT_LANE_JOBS) { /* the stream waits for its tick */
        raftnode_on_applied(node, agent_applied, a);
    }
    return DR_OK;
}

static void http_closed_cb(struct httpc *h)
{
    handle_released((struct agent *)((char *)h - offsetof(struct agent, http)));
}

static void tick_closed_cb(uv_handle_t *h)
{
    (void)h;
}

void agent_stop(struct agent *a, void (*cb)(struct agent *a))
{
    a->stopping = true;
    a->stopped_cb = cb;
    if (a->lane == AGENT_LANE_JOBS) {
        raftnode_on_applied(a->node, NULL, NULL);
    }
    if (a->proc_alive) {
        uv_process_kill(&a->proc, SIGKILL);
    }
    uv_timer_stop(&a->tick);
    uv_close((uv_handle_t *)&a->tick, tick_closed_cb);
    a->open_handles++; /* released when the HTTP client has closed */
    httpc_close(&a->http, http_closed_cb);
}
