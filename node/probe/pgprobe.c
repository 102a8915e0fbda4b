/* The PostgreSQL probe: resolve the host off the loop thread, connect with
 * libpq's non-blocking API driven by a uv_poll_t, time SELECT 1, then read
 * the connection count and max_connections. One fresh connection a round. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/err.h"
#include "common/walslot.h"
#include "config/config.h"
#include "probe/internal.h"

#define PG_KEYWORDS_MAX 64
#define PG_ADDRS_MAX 8 /* addresses of a resolved name libpq may try */

enum pg_step {
    STEP_CONNECT = 0,
    STEP_PING,      /* SELECT 1 */
    STEP_STATS,     /* pg_stat_activity */
    STEP_DROP_SLOT, /* the WAL stream's slot, when asked and unread */
};

static const char *const step_queries[] = {
    [STEP_PING] = "SELECT 1",
    [STEP_STATS] =
        "SELECT (SELECT count(*) FROM pg_stat_activity), "
        "current_setting('max_connections')::int, "
        "current_setting('archive_mode') <> 'off', a.archived_count, "
        "a.failed_count, COALESCE(floor(extract(epoch FROM "
        "now() - a.last_archived_time))::bigint, -1), "
        "COALESCE(a.last_failed_time > a.last_archived_time OR "
        "(a.last_failed_time IS NOT NULL AND a.last_archived_time IS NULL), "
        "false), COALESCE(a.last_failed_wal, ''), "
        /* The WAL stream's slot: bytes the server keeps for it, whether a
         * stream reads from it (the slot's absence: -1, false). */
        "COALESCE((SELECT (CASE WHEN pg_is_in_recovery() THEN NULL ELSE "
        "pg_current_wal_lsn() END - s.restart_lsn)::bigint FROM "
        "pg_replication_slots s WHERE s.slot_name = '" DR_WAL_STREAM_SLOT
        "'), -1), COALESCE((SELECT s.active FROM pg_replication_slots s "
        "WHERE s.slot_name = '" DR_WAL_STREAM_SLOT
        "'), false) "
        "FROM pg_stat_archiver a",
    /* Only while no stream reads it: a stream that took the slot since
     * the stats keeps it (0 rows dropped). */
    [STEP_DROP_SLOT] =
        "SELECT count(pg_drop_replication_slot(slot_name)) FROM "
        "pg_replication_slots WHERE slot_name = '" DR_WAL_STREAM_SLOT
        "' AND NOT active",
};

/* STEP_STATS of a standby. */
static const char standby_query[] =
    "SELECT pg_is_in_recovery(), COALESCE(floor(extract(epoch FROM now() - "
    "pg_last_xact_replay_timestamp()))::bigint, -1), "
    "COALESCE((pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint, -1)";

static const char *const step_names[] = {
    [STEP_CONNECT] = "connect",
    [STEP_PING] = "SELECT 1",
    [STEP_STATS] = "pg_stat_activity",
    [STEP_DROP_SLOT] = "pg_drop_replication_slot",
};

struct pg_run;

/* A poll handle on one socket of the connection; libpq may change sockets
 * while it connects, and a handle's memory lives until its close callback. */
struct pg_poll
{
    uv_poll_t handle;
    struct pg_run *r;
    int fd;
};

struct pg_run
{
    struct probe__run run; /* first */
    uv_getaddrinfo_t gai;
    bool resolving; /* gai in flight */
    PGconn *conn;
    struct pg_poll *poll; /* on the current socket; NULL: none */
    unsigned polls;       /* poll handles not yet closed */
    int step;             /* enum pg_step */
    bool got_row;         /* the step's query returned its row */
    uint64_t connect_ns;  /* uv_hrtime() when the connect started */
    char host[256];       /* to resolve, or to show */
    /* When host was resolved: its addresses, and host once per address
     * (libpq pairs the two lists), comma-separated; "" otherwise. */
    char hostaddr[PG_ADDRS_MAX * 48];
    char hostlist[PG_ADDRS_MAX * 257];
    char target[320];     /* "HOST:PORT", for messages */
    const char *conninfo; /* the service's, from the config */
};

static void poll_cb(uv_poll_t *handle, int status, int events);

static void maybe_free(struct pg_run *r)
{
    struct prober_impl *impl = r->run.impl;

    if (!r->run.over || r->resolving || r->polls > 0 || r->conn != NULL) {
        return;
    }
    free(r);
    probe__run_freed(impl);
}

static void poll_closed_cb(uv_handle_t *handle)
{
    struct pg_poll *pp = handle->data;
    struct pg_run *r = pp->r;

    free(pp);
    r->polls--;
    maybe_free(r);
}

/* Close the poll handle, then the connection (never the other way round:
 * the handle must not watch a closed socket). */
static void release(struct pg_run *r)
{
    if (r->poll != NULL) {
        uv_poll_stop(&r->poll->handle);
        uv_close((uv_handle_t *)&r->poll->handle, poll_closed_cb);
        r->poll = NULL;
    }
    if (r->conn != NULL) {
        PQfinish(r->conn);
        r->conn = NULL;
    }
    maybe_free(r);
}

/* Report r down with libpq's error (one line) and let go of everything. */
static void succeed(struct pg_run *r);

static void fail_pg(struct pg_run *r, const char *detail)
{
    char line[200];

    probe__one_line(line, sizeof(line),
                    detail != NULL ? detail : PQerrorMessage(r->conn));
    if (line[0] == '\0') {
        snprintf(line, sizeof(line), "unknown error");
    }
    if (r->step == STEP_DROP_SLOT) {
        /* The server answered the probe's own queries: it is up. */
        snprintf(r->run.res.stream_slot_drop_error,
                 sizeof(r->run.res.stream_slot_drop_error), "%s", line);
        succeed(r);
        return;
    }
    if (r->step == STEP_CONNECT) {
        probe__fail(&r->run, "connect %s: %s", r->target, line);
    } else {
        probe__fail(&r->run, "%s on %s: %s", step_names[r->step], r->target,
                    line);
    }
    release(r);
}

/* Wait for events on the connection's current socket. */
static bool watch(struct pg_run *r, int events)
{
    int fd = PQsocket(r->conn);
    int rv;

    if (fd < 0) {
        fail_pg(r, NULL);
        return false;
    }
    if (r->poll != NULL && r->poll->fd != fd) {
        uv_close((uv_handle_t *)&r->poll->handle, poll_closed_cb);
        r->poll = NULL;
    }
    if (r->poll == NULL) {
        struct pg_poll *pp = calloc(1, sizeof(*pp));
        if (pp == NULL) {
            fail_pg(r, "out of memory");
            return false;
        }
        rv = uv_poll_init_socket(r->run.impl->loop, &pp->handle, fd);
        if (rv != 0) {
            free(pp);
            fail_pg(r, uv_strerror(rv));
            return false;
        }
        pp->handle.data = pp;
        pp->r = r;
        pp->fd = fd;
        r->poll = pp;
        r->polls++;
    }
    rv = uv_poll_start(&r->poll->handle, events, poll_cb);
    if (rv != 0) {
        fail_pg(r, uv_strerror(rv));
        return false;
    }
    return true;
}

static void set_phase(struct pg_run *r)
{
    if (r->step == STEP_CONNECT) {
        snprintf(r->run.phase, sizeof(r->run.phase), "connecting to %s",
                 r->target);
    } else {
        snprintf(r->run.phase, sizeof(r->run.phase), "%s on %s",
                 step_names[r->step], r->target);
    }
}

/* Send the query of r->step and wait for its answer. */
static void send_query(struct pg_run *r)
{
    int rv;

    set_phase(r);
    r->got_row = false;
    if (!PQsendQueryParams(
            r->conn,
            r->step == STEP_STATS && r->run.service == PROBE_PG_STANDBY
                ? standby_query
                : step_queries[r->step],
            0, NULL, NULL, NULL, NULL, 0)) {
        fail_pg(r, NULL);
        return;
    }
    rv = PQflush(r->conn);
    if (rv < 0) {
        fail_pg(r, NULL);
        return;
    }
    watch(r, rv == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

static void succeed(struct pg_run *r)
{
    r->run.res.status = PROBE_UP;
    probe__report(&r->run);
    release(r);
}

/* One result of the current step's query. */
static bool take_result(struct pg_run *r, PGresult *res)
{
    char *end;

    ExecStatusType st = PQresultStatus(res);

    if (r->step == STEP_DROP_SLOT) {
        /* Never fails the probe: the server answered its queries. */
        if (st != PGRES_TUPLES_OK) {
            probe__one_line(r->run.res.stream_slot_drop_error,
                            sizeof(r->run.res.stream_slot_drop_error),
                            PQresultErrorMessage(res));
        } else if (PQntuples(res) == 1 &&
                   strcmp(PQgetvalue(res, 0, 0), "1") == 0) {
            r->run.res.stream_slot_dropped = true;
            r->run.res.stream_slot_held = r->run.res.stream_slot_lag;
            r->run.res.stream_slot_lag = -1;
        }
        r->got_row = true;
        PQclear(res);
        return true;
    }
    if (st != PGRES_TUPLES_OK) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
        PQclear(res);
        fail_pg(r, msg[0] != '\0' ? msg : PQresStatus(st));
        return false;
    }
    if (PQntuples(res) != 1 ||
        PQnfields(res) != (r->step != STEP_STATS                ? 1
                           : r->run.service == PROBE_PG_STANDBY ? 3
                                                                : 10)) {
        PQclear(res);
        fail_pg(r, "unexpected result shape");
        return false;
    }
    if (r->step == STEP_STATS && r->run.service == PROBE_PG_STANDBY) {
        r->run.res.in_recovery = PQgetvalue(res, 0, 0)[0] == 't';
        r->run.res.replay_delay_s = strtoll(PQgetvalue(res, 0, 1), &end, 10);
        r->run.res.replay_lsn = strtoll(PQgetvalue(res, 0, 2), &end, 10);
    } else if (r->step == STEP_STATS) {
        r->run.res.connections = strtoll(PQgetvalue(res, 0, 0), &end, 10);
        r->run.res.max_connections = strtoll(PQgetvalue(res, 0, 1), &end, 10);
        r->run.res.archiving = PQgetvalue(res, 0, 2)[0] == 't';
        r->run.res.archived = strtoll(PQgetvalue(res, 0, 3), &end, 10);
        r->run.res.archive_failed = strtoll(PQgetvalue(res, 0, 4), &end, 10);
        r->run.res.archived_age_s = strtoll(PQgetvalue(res, 0, 5), &end, 10);
        r->run.res.archive_failing = PQgetvalue(res, 0, 6)[0] == 't';
        snprintf(r->run.res.archive_failed_wal,
                 sizeof(r->run.res.archive_failed_wal), "%s",
                 PQgetvalue(res, 0, 7));
        r->run.res.stream_slot_lag = strtoll(PQgetvalue(res, 0, 8), &end, 10);
        r->run.res.stream_slot_active = PQgetvalue(res, 0, 9)[0] == 't';
    }
    r->got_row = true;
    PQclear(res);
    return true;
}

/* The socket is ready during a query: send what is left, read what came. */
static void query_io(struct pg_run *r, int status, int events)
{
    PGresult *res;
    int rv;

    if (status < 0 || (events & UV_WRITABLE)) {
        rv = PQflush(r->conn);
        if (rv < 0) {
            fail_pg(r, NULL);
            return;
        }
        if (rv == 1) {
            watch(r, UV_READABLE | UV_WRITABLE);
            return;
        }
    }
    if (!PQconsumeInput(r->conn)) {
        fail_pg(r, NULL);
        return;
    }
    while (!PQisBusy(r->conn)) {
        res = PQgetResult(r->conn);
        if (res == NULL) {
            break;
        }
        if (!take_result(r, res)) {
            return;
        }
    }
    if (PQisBusy(r->conn)) {
        watch(r, UV_READABLE);
        return;
    }
    /* PQgetResult returned NULL: the query is over. */
    if (!r->got_row) {
        fail_pg(r, "no result");
        return;
    }
    if (r->step == STEP_PING) {
        r->run.res.latency_ms = (double)(uv_hrtime() - r->connect_ns) / 1e6;
        r->step = STEP_STATS;
        send_query(r);
        return;
    }
    if (r->step == STEP_STATS && r->run.service == PROBE_DATABASE &&
        r->run.impl->p->drop_stream_slot && r->run.res.stream_slot_lag >= 0 &&
        !r->run.res.stream_slot_active &&
        /* Time left in the round: a timeout would mark the server down. */
        probe__elapsed_ms(&r->run) < r->run.impl->cfg->probe_timeout_ms / 2.0 &&
        (r->run.impl->p->may_drop_stream_slot == NULL ||
         r->run.impl->p->may_drop_stream_slot(r->run.impl->p))) {
        r->step = STEP_DROP_SLOT;
        send_query(r);
        return;
    }
    succeed(r);
}

static void connect_io(struct pg_run *r)
{
    switch (PQconnectPoll(r->conn)) {
        case PGRES_POLLING_READING:
            watch(r, UV_READABLE);
            return;
        case PGRES_POLLING_WRITING:
            watch(r, UV_WRITABLE);
            return;
        case PGRES_POLLING_OK:
            if (PQsetnonblocking(r->conn, 1) != 0) {
                fail_pg(r, NULL);
                return;
            }
            r->step = STEP_PING;
            send_query(r);
            return;
        default:
            fail_pg(r, NULL);
            return;
    }
}

static void poll_cb(uv_poll_t *handle, int status, int events)
{
    struct pg_poll *pp = handle->data;
    struct pg_run *r = pp->r;

    if (r->run.over || r->conn == NULL) {
        return;
    }
    /* Stop first: libpq may close this socket and open another with the
     * same number; watch() starts again on whatever socket is current. On
     * a poll error libpq itself finds and words the error. */
    uv_poll_stop(handle);
    if (r->step == STEP_CONNECT) {
        connect_io(r);
    } else {
        query_io(r, status, events);
    }
}

/* Whether every entry of host (a comma-separated list) needs no DNS: an IP
 * literal, a unix socket directory, or empty (libpq's default socket). */
static bool host_is_literal(const char *host)
{
    char entry[256];

    while (true) {
        size_t n = strcspn(host, ",");

        if (n >= sizeof(entry)) {
            return false;
        }
        memcpy(entry, host, n);
        entry[n] = '\0';
        if (entry[0] != '\0' && entry[0] != '/' && entry[0] != '@' &&
            !probe__is_ip(entry)) {
            return false;
        }
        if (host[n] == '\0') {
            return true;
        }
        host += n + 1;
    }
}

static void start_connect(struct pg_run *r)
{
    const char *keys[PG_KEYWORDS_MAX + 4];
    const char *vals[PG_KEYWORDS_MAX + 4];
    PQconninfoOption *opts;
    PQconninfoOption *o;
    char *err = NULL;
    bool gssencmode = false, appname = false;
    size_t n = 0;

    opts = PQconninfoParse(r->conninfo, &err);
    if (opts == NULL) {
        probe__fail(&r->run, "conninfo: %s",
                    err != NULL ? err : "out of memory");
        PQfreemem(err);
        maybe_free(r);
        return;
    }
    for (o = opts; o->keyword != NULL && n < PG_KEYWORDS_MAX; o++) {
        if (o->val == NULL) {
            continue;
        }
        if (r->hostaddr[0] != '\0' && (strcmp(o->keyword, "hostaddr") == 0 ||
                                       strcmp(o->keyword, "host") == 0)) {
            continue;
        }
        gssencmode |= strcmp(o->keyword, "gssencmode") == 0;
        appname |= strcmp(o->keyword, "application_name") == 0;
        keys[n] = o->keyword;
        vals[n] = o->val;
        n++;
    }
    if (r->hostaddr[0] != '\0') {
        keys[n] = "host";
        vals[n++] = r->hostlist;
        keys[n] = "hostaddr";
        vals[n++] = r->hostaddr;
    }
    if (!gssencmode) {
        keys[n] = "gssencmode";
        vals[n++] = "disable";
    }
    if (!appname) {
        keys[n] = "application_name";
        vals[n++] = "drnode-probe";
    }
    keys[n] = NULL;
    vals[n] = NULL;
    r->step = STEP_CONNECT;
    r->connect_ns = uv_hrtime();
    r->conn = PQconnectStartParams(keys, vals, 0);
    PQconninfoFree(opts);
    if (r->conn == NULL) {
        probe__fail(&r->run, "connect: out of memory");
        maybe_free(r);
        return;
    }
    snprintf(r->target, sizeof(r->target), "%s:%s",
             PQhost(r->conn) != NULL ? PQhost(r->conn) : r->host,
             PQport(r->conn) != NULL && PQport(r->conn)[0] != '\0'
                 ? PQport(r->conn)
                 : "5432");
    set_phase(r);
    if (PQstatus(r->conn) == CONNECTION_BAD) {
        fail_pg(r, NULL);
        return;
    }
    /* Start as if PQconnectPoll had asked for a writable socket. */
    watch(r, UV_WRITABLE);
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct pg_run *r = req->data;
    struct addrinfo *ai;
    size_t n = 0, alen = 0, hlen = 0;

    r->resolving = false;
    if (r->run.over) {
        uv_freeaddrinfo(res);
        maybe_free(r);
        return;
    }
    if (status != 0) {
        uv_freeaddrinfo(res);
        probe__fail(&r->run, "resolve %s: %s", r->host, uv_strerror(status));
        maybe_free(r);
        return;
    }
    /* Every address, in the resolver's order, as libpq would try them. */
    for (ai = res; ai != NULL && n < PG_ADDRS_MAX; ai = ai->ai_next) {
        char ip[INET6_ADDRSTRLEN] = "";

        if (!probe__addr_name(ai, ip, sizeof(ip))) {
            continue;
        }
        alen += (size_t)snprintf(r->hostaddr + alen, sizeof(r->hostaddr) - alen,
                                 "%s%s", n > 0 ? "," : "", ip);
        hlen += (size_t)snprintf(r->hostlist + hlen, sizeof(r->hostlist) - hlen,
                                 "%s%s", n > 0 ? "," : "", r->host);
        n++;
    }
    uv_freeaddrinfo(res);
    if (n == 0) {
        probe__fail(&r->run, "resolve %s: no IPv4 or IPv6 address", r->host);
        maybe_free(r);
        return;
    }
    start_connect(r);
}

static void cancel(struct probe__run *run)
{
    struct pg_run *r = (struct pg_run *)(void *)run;

    if (r->resolving) {
        uv_cancel((uv_req_t *)&r->gai); /* resolved_cb frees r */
    }
    release(r);
}

/* Find the host libpq would use without hostaddr: the conninfo's, else
 * PGHOST's. Returns whether a name must be resolved first (into r->host);
 * false with the run reported when the conninfo cannot be probed. */
static bool needs_resolving(struct pg_run *r, bool *failed)
{
    PQconninfoOption *opts;
    PQconninfoOption *o;
    const char *host = NULL, *hostaddr = NULL, *service = NULL;
    char *err = NULL;

    *failed = false;
    opts = PQconninfoParse(r->conninfo, &err);
    if (opts == NULL) {
        probe__fail(&r->run, "conninfo: %s",
                    err != NULL ? err : "out of memory");
        PQfreemem(err);
        *failed = true;
        return false;
    }
    for (o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "host") == 0) {
            host = o->val;
        } else if (strcmp(o->keyword, "hostaddr") == 0) {
            hostaddr = o->val;
        } else if (strcmp(o->keyword, "service") == 0 && o->val != NULL &&
                   o->val[0] != '\0') {
            service = o->val;
        }
    }
    if (service == NULL) {
        service = getenv("PGSERVICE");
    }
    /* A service file may name a host that libpq would resolve with a
     * blocking getaddrinfo inside PQconnectPoll, on the loop. */
    if (service != NULL && service[0] != '\0') {
        probe__fail(&r->run,
                    "conninfo: service=%.64s is not supported by the probe "
                    "(libpq would resolve its host on the node's loop); give "
                    "host and port in [services] pg",
                    service);
        PQconninfoFree(opts);
        *failed = true;
        return false;
    }
    if (hostaddr == NULL || hostaddr[0] == '\0') {
        hostaddr = getenv("PGHOSTADDR");
    }
    if (host == NULL || host[0] == '\0') {
        host = getenv("PGHOST");
    }
    snprintf(r->host, sizeof(r->host), "%s", host != NULL ? host : "");
    PQconninfoFree(opts);
    if ((hostaddr != NULL && hostaddr[0] != '\0') || host_is_literal(r->host)) {
        return false;
    }
    if (strchr(r->host, ',') != NULL) {
        probe__fail(&r->run,
                    "conninfo: several hosts with a name among them; give "
                    "hostaddr= so that the probe never blocks on DNS");
        *failed = true;
        return false;
    }
    return true;
}

int pgprobe_start(struct prober_impl *impl, int service)
{
    struct pg_run *r = calloc(1, sizeof(*r));
    bool failed;

    if (r == NULL) {
        return DR_ENOMEM;
    }
    probe__run_init(&r->run, impl, service);
    r->conninfo = service == PROBE_PG_STANDBY ? impl->cfg->pg_standby_conninfo
                                              : impl->cfg->pg_conninfo;
    r->run.cancel = cancel;
    if (!needs_resolving(r, &failed)) {
        if (failed) {
            maybe_free(r);
        } else {
            start_connect(r);
        }
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
