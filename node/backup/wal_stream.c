/* The WAL stream (job op "wal_stream"): PostgreSQL's WAL received over a
 * physical replication connection from a replication slot, written into
 * the WAL archive as it comes.
 *
 *   wal_stream  {"pg": CONNINFO, "store": URL, "copies"?: [URL...],
 *                "credentials_file"?, "flush_ms"?: 100..60000 (1000),
 *                "slot"?: NAME ("drnode_wal"), "zstd_level"?}
 *
 * The segment in progress lives in memory. Every flush_ms, when it has
 * grown, it is put into every store as a streamed partial
 * (wal_stream_put); a whole segment is archived as wal-push archives one
 * (the same key, so either may come first) and its partials removed. Only
 * then is the position confirmed to the server as flushed, which moves
 * the slot: the server keeps every byte not yet durable in each store, so
 * a stream that stops (the node killed, the store down, the lease lost)
 * loses nothing, and the next one starts again at the slot's segment.
 *
 * It runs until it fails (the job's next attempt goes on) or is killed by
 * its worker when the lease is refused (the primary moved, wal.stream was
 * turned off). It never reports success. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "backup/job.h"
#include "backup/pg_internal.h"
#include "backup/wal.h"
#include "common/err.h"
#include "common/walslot.h"
#include "log/log.h"
#include "store/store.h"

#define STREAM_STATUS_MS 10000 /* a standby status at least this often */
#define STREAM_STORES_MAX 17   /* the region's store and its copies */
/* Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
#define PG_EPOCH_US 946684800000000ll

struct stream
{
    PGconn *c;
    struct store *stores[STREAM_STORES_MAX];
    size_t n_stores;
    const char *slot;
    int level;
    uint64_t flush_ms;
    uint64_t sysid;
    uint32_t tli;
    uint32_t seg_size;
    unsigned char *seg;           /* the segment in progress */
    uint64_t seg_start;           /* its first LSN */
    size_t have;                  /* bytes of it received */
    size_t flushed;               /* bytes of it durable in every store */
    char part_key[STORE_KEY_MAX]; /* its newest streamed partial */
    uint64_t durable;             /* the LSN confirmed to the server */
    uint64_t last_status;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static void seg_name(const struct stream *st,
                     uint32_t tli,
                     uint64_t lsn,
                     char *out)
{
    wal_segment_name(tli, lsn / st->seg_size, st->seg_size, out);
}

/* "16MB" and the like, as SHOW prints wal_segment_size. */
static int parse_size(const char *s, uint32_t *out)
{
    char *end;
    unsigned long long v = s != NULL ? strtoull(s, &end, 10) : 0;
    if (s == NULL || end == s) {
        return DR_EINVAL;
    }
    if (strcmp(end, "kB") == 0) {
        v <<= 10;
    } else if (strcmp(end, "MB") == 0) {
        v <<= 20;
    } else if (strcmp(end, "GB") == 0) {
        v <<= 30;
    } else if (*end != '\0' && strcmp(end, "B") != 0) {
        return DR_EINVAL;
    }
    if (v < (1u << 20) || v > (1u << 30) || (v & (v - 1)) != 0) {
        return DR_EINVAL;
    }
    *out = (uint32_t)v;
    return DR_OK;
}

/* A replication command answering one row: *r (PQclear it), or an error
 * naming the command. */
static int command(PGconn *c, const char *sql, PGresult **r, char *errmsg)
{
    char err[256];

    *r = PQexec(c, sql);
    if (PQresultStatus(*r) == PGRES_TUPLES_OK && PQntuples(*r) == 1) {
        return DR_OK;
    }
    pgj_resulterr(*r, err);
    if (PQresultStatus(*r) == PGRES_TUPLES_OK) {
        snprintf(err, sizeof(err), "%d rows where one was expected",
                 PQntuples(*r));
    }
    snprintf(errmsg, 256, "%.60s: %.180s", sql, err);
    PQclear(*r);
    *r = NULL;
    return PQstatus(c) == CONNECTION_OK ? DR_EINVAL : DR_EUNAVAILABLE;
}

/* A standby status update: received up to what we hold, flushed up to
 * what every store holds (the slot moves there). */
static int send_status(struct stream *st, char *errmsg)
{
    unsigned char m[34];
    struct timespec ts;
    char err[256];

    clock_gettime(CLOCK_REALTIME, &ts);
    m[0] = 'r';
    put_be64(m + 1, st->seg_start + st->have);
    put_be64(m + 9, st->durable);
    put_be64(m + 17, 0); /* applied: nothing here applies WAL */
    put_be64(m + 25, (uint64_t)((int64_t)ts.tv_sec * 1000000 +
                                ts.tv_nsec / 1000 - PG_EPOCH_US));
    m[33] = 0; /* no reply wanted */
    if (PQputCopyData(st->c, (const char *)m, sizeof(m)) <= 0 ||
        PQflush(st->c) != 0) {
        pgj_pqerr(st->c, err);
        snprintf(errmsg, 256, "status update: %.200s", err);
        return DR_EUNAVAILABLE;
    }
    st->last_status = mono_ms();
    return DR_OK;
}

/* The segment in progress into every store as a streamed partial. */
static int flush_partial(struct stream *st, char *errmsg)
{
    char name[25], key[STORE_KEY_MAX], why[256];
    int rv = DR_OK;

    if (st->have == st->flushed) {
        return DR_OK;
    }
    seg_name(st, st->tli, st->seg_start, name);
    for (size_t i = 0; i < st->n_stores && rv == 0; i++) {
        rv = wal_stream_put(st->stores[i], st->sysid, name, st->seg, st->have,
                            st->level, key, why);
        if (rv == 0 && st->part_key[0] != '\0') {
            /* The older partial of the same segment: the newer one holds
             * all it held. A failure only leaves it behind for a later
             * clear. */
            char ignored[256];
            store_delete(st->stores[i], st->part_key, ignored);
        }
    }
    if (rv != 0) {
        snprintf(errmsg, 256, "%s (%zu bytes streamed): %.200s", name, st->have,
                 why);
        return rv;
    }
    snprintf(st->part_key, sizeof(st->part_key), "%s", key);
    st->flushed = st->have;
    st->durable = st->seg_start + st->have;
    return send_status(st, errmsg);
}

/* A whole segment: archived as wal-push would, its partials removed. */
static int archive_segment(struct stream *st, char *errmsg)
{
    char name[25], why[256];
    bool already;
    int rv = DR_OK;

    seg_name(st, st->tli, st->seg_start, name);
    for (size_t i = 0; i < st->n_stores && rv == 0; i++) {
        rv = wal_store_put(st->stores[i], st->sysid, name, st->seg,
                           st->seg_size, st->level, &already, why);
        if (rv == 0) {
            rv = wal_stream_clear(st->stores[i], st->sysid, name, why);
        }
    }
    if (rv != 0) {
        snprintf(errmsg, 256, "%s: %.200s", name, why);
        return rv;
    }
    st->seg_start += st->seg_size;
    st->have = st->flushed = 0;
    st->part_key[0] = '\0';
    st->durable = st->seg_start;
    return send_status(st, errmsg);
}

/* One XLogData message: data from start on. */
static int take_wal(struct stream *st,
                    uint64_t start,
                    const unsigned char *data,
                    size_t len,
                    char *errmsg)
{
    int rv;

    if (start != st->seg_start + st->have) {
        snprintf(errmsg, 256,
                 "the server sent WAL from %X/%X where %X/%X was expected",
                 (unsigned)(start >> 32), (unsigned)start,
                 (unsigned)((st->seg_start + st->have) >> 32),
                 (unsigned)(st->seg_start + st->have));
        return DR_EMALFORMED;
    }
    while (len > 0) {
        size_t k = st->seg_size - st->have;
        k = k < len ? k : len;
        memcpy(st->seg + st->have, data, k);
        st->have += k;
        data += k;
        len -= k;
        if (st->have == st->seg_size &&
            (rv = archive_segment(st, errmsg)) != 0) {
            return rv;
        }
    }
    return DR_OK;
}

/* One CopyData message from the server. */
static int message(struct stream *st,
                   const unsigned char *m,
                   size_t len,
                   char *errmsg)
{
    if (len >= 25 && m[0] == 'w') {
        return take_wal(st, be64(m + 1), m + 25, len - 25, errmsg);
    }
    if (len >= 18 && m[0] == 'k') {
        return m[17] ? send_status(st, errmsg) : DR_OK;
    }
    snprintf(errmsg, 256, "unexpected message '%c' of %zu bytes",
             len > 0 ? m[0] : '?', len);
    return DR_EMALFORMED;
}

/* Archive the history file of timeline tli (those after the first). */
static int archive_history(struct stream *st, uint32_t tli, char *errmsg)
{
    char sql[64], why[256];
    PGresult *r;
    bool already;
    int rv;

    if (tli <= 1) {
        return DR_OK;
    }
    snprintf(sql, sizeof(sql), "TIMELINE_HISTORY %u", tli);
    if ((rv = command(st->c, sql, &r, errmsg)) != 0) {
        return rv;
    }
    for (size_t i = 0; i < st->n_stores && rv == 0; i++) {
        rv = wal_store_put(st->stores[i], st->sysid, PQgetvalue(r, 0, 0),
                           (const unsigned char *)PQgetvalue(r, 0, 1),
                           (size_t)PQgetlength(r, 0, 1), st->level, &already,
                           why);
    }
    if (rv != 0) {
        snprintf(errmsg, 256, "%.40s: %.200s", PQgetvalue(r, 0, 0), why);
    }
    PQclear(r);
    return rv;
}

/* Receive until the connection fails or the timeline ends (*next_tli and
 * *next_start then say where the next one begins). */
static int receive(struct stream *st,
                   uint32_t *next_tli,
                   uint64_t *next_start,
                   char *errmsg)
{
    uint64_t next_flush = mono_ms() + st->flush_ms;
    char err[256];
    PGresult *r;
    int rv;

    *next_tli = 0;
    for (;;) {
        uint64_t now = mono_ms();
        uint64_t due = st->last_status + STREAM_STATUS_MS;
        struct pollfd p = {.fd = PQsocket(st->c), .events = POLLIN};
        char *buf = NULL;
        bool gone;
        int n;

        if (st->have > st->flushed && next_flush < due) {
            due = next_flush;
        }
        if (poll(&p, 1, due > now ? (int)(due - now) : 0) < 0 &&
            errno != EINTR) {
            snprintf(errmsg, 256, "poll: %s", strerror(errno));
            return DR_EIO;
        }
        /* What arrived before a broken connection is taken first: the
         * last commits a dying server sent are the ones that matter. */
        gone = PQconsumeInput(st->c) == 0;
        while ((n = PQgetCopyData(st->c, &buf, 1)) > 0) {
            rv = message(st, (const unsigned char *)buf, (size_t)n, errmsg);
            PQfreemem(buf);
            if (rv != 0) {
                return rv;
            }
        }
        if (n == -2 || gone) {
            pgj_pqerr(st->c, err);
            snprintf(errmsg, 256, "the server went away: %.200s", err);
            return DR_EUNAVAILABLE;
        }
        if (n == -1) {
            break; /* the server ended the stream */
        }
        now = mono_ms();
        if (now >= next_flush) {
            if ((rv = flush_partial(st, errmsg)) != 0) {
                return rv;
            }
            next_flush = now + st->flush_ms;
        }
        if (now >= st->last_status + STREAM_STATUS_MS &&
            (rv = send_status(st, errmsg)) != 0) {
            return rv;
        }
    }
    /* The server ended this timeline (it was promoted) or is shutting
     * down: answer its CopyDone and read why. */
    PQputCopyEnd(st->c, NULL);
    PQflush(st->c);
    r = PQgetResult(st->c);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
        PQnfields(r) >= 2 &&
        pgbase_lsn_parse(PQgetvalue(r, 0, 1), next_start) == 0) {
        *next_tli = (uint32_t)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        r = PQgetResult(st->c);
    }
    rv = PQresultStatus(r) == PGRES_COMMAND_OK && *next_tli != 0
             ? DR_OK
             : DR_EUNAVAILABLE;
    if (rv != 0) {
        pgj_resulterr(r, err);
        snprintf(errmsg, 256, "the server ended the stream: %.200s",
                 err[0] != '\0' ? err : "shutting down?");
    }
    PQclear(r);
    while ((r = PQgetResult(st->c)) != NULL) {
        PQclear(r);
    }
    return rv;
}

/* Where the slot says to start: its restart LSN's segment and timeline
 * (the slot is made first when the server has none). */
static int slot_start(struct stream *st,
                      uint32_t server_tli,
                      uint64_t *start,
                      uint32_t *tli,
                      char *errmsg)
{
    char sql[128];
    PGresult *r;
    int rv;

    snprintf(sql, sizeof(sql), "READ_REPLICATION_SLOT %s", st->slot);
    if ((rv = command(st->c, sql, &r, errmsg)) != 0) {
        return rv;
    }
    if (PQgetisnull(r, 0, 0)) {
        PQclear(r);
        snprintf(sql, sizeof(sql),
                 "CREATE_REPLICATION_SLOT %s PHYSICAL RESERVE_WAL", st->slot);
        if ((rv = command(st->c, sql, &r, errmsg)) != 0) {
            return rv;
        }
        PQclear(r);
        log_info("wal stream: created the physical replication slot %s",
                 st->slot);
        snprintf(sql, sizeof(sql), "READ_REPLICATION_SLOT %s", st->slot);
        if ((rv = command(st->c, sql, &r, errmsg)) != 0) {
            return rv;
        }
    }
    if (strcmp(PQgetvalue(r, 0, 0), "physical") != 0 ||
        pgbase_lsn_parse(PQgetvalue(r, 0, 1), start) != 0) {
        snprintf(errmsg, 256,
                 "replication slot %s is %.20s with restart LSN \"%.40s\": "
                 "not a physical slot holding WAL (drop it, or name another "
                 "with \"slot\")",
                 st->slot, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
        PQclear(r);
        return DR_ECONFLICT;
    }
    *tli = PQgetisnull(r, 0, 2)
               ? server_tli
               : (uint32_t)strtoul(PQgetvalue(r, 0, 2), NULL, 10);
    PQclear(r);
    *start -= *start % st->seg_size;
    return DR_OK;
}

static int connect_server(const char *conninfo, PGconn **out, char *errmsg)
{
    /* Ours first; the caller's conninfo overrides all but replication. */
    const char *keys[] = {"application_name", "connect_timeout", "dbname",
                          "replication", NULL};
    const char *vals[] = {"drnode-wal-stream", "15", conninfo, "true", NULL};
    char err[256];

    *out = PQconnectdbParams(keys, vals, 1);
    if (*out == NULL) {
        snprintf(errmsg, 256, "connect: out of memory");
        return DR_ENOMEM;
    }
    if (PQstatus(*out) != CONNECTION_OK) {
        pgj_pqerr(*out, err);
        snprintf(errmsg, 256, "replication connection: %.200s", err);
        return DR_EUNAVAILABLE;
    }
    if (PQserverVersion(*out) < 150000) {
        snprintf(errmsg, 256,
                 "PostgreSQL %d: streaming needs 15 or newer "
                 "(READ_REPLICATION_SLOT); use wal-push as archive_command",
                 PQserverVersion(*out));
        return DR_EINVAL;
    }
    return DR_OK;
}

/* Stream from st->c, set up, until something fails. */
static int run(struct stream *st, char *errmsg)
{
    PGresult *r;
    uint64_t start, next_start;
    uint32_t server_tli, next_tli;
    char sql[160], err[256];
    int rv;

    if ((rv = command(st->c, "IDENTIFY_SYSTEM", &r, errmsg)) != 0) {
        return rv;
    }
    st->sysid = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    server_tli = (uint32_t)strtoul(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    if ((rv = command(st->c, "SHOW wal_segment_size", &r, errmsg)) != 0) {
        return rv;
    }
    rv = parse_size(PQgetvalue(r, 0, 0), &st->seg_size);
    if (rv != 0) {
        snprintf(errmsg, 256, "wal_segment_size \"%.40s\": not understood",
                 PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    if (rv != 0 ||
        (rv = slot_start(st, server_tli, &start, &st->tli, errmsg)) != 0) {
        return rv;
    }
    st->seg = malloc(st->seg_size);
    if (st->seg == NULL) {
        snprintf(errmsg, 256, "out of memory for a %u-byte segment",
                 (unsigned)st->seg_size);
        return DR_ENOMEM;
    }
    for (;;) {
        st->seg_start = st->durable = start;
        st->have = st->flushed = 0;
        st->part_key[0] = '\0';
        if ((rv = archive_history(st, st->tli, errmsg)) != 0) {
            return rv;
        }
        snprintf(sql, sizeof(sql),
                 "START_REPLICATION SLOT %s PHYSICAL %X/%X TIMELINE %u",
                 st->slot, (unsigned)(start >> 32), (unsigned)start,
                 (unsigned)st->tli);
        r = PQexec(st->c, sql);
        if (PQresultStatus(r) != PGRES_COPY_BOTH) {
            pgj_resulterr(r, err);
            snprintf(errmsg, 256, "%.80s: %.160s", sql, err);
            PQclear(r);
            return DR_EUNAVAILABLE;
        }
        PQclear(r);
        log_info(
            "wal stream: system %llu, timeline %u, slot %s, from %X/%X "
            "into %zu store%s, flushed every %llu ms",
            (unsigned long long)st->sysid, (unsigned)st->tli, st->slot,
            (unsigned)(start >> 32), (unsigned)start, st->n_stores,
            st->n_stores == 1 ? "" : "s", (unsigned long long)st->flush_ms);
        st->last_status = mono_ms();
        rv = receive(st, &next_tli, &next_start, errmsg);
        if (rv != 0) {
            /* What arrived before the failure is worth keeping: the
             * server that went away may never come back. */
            char why[256];
            if (flush_partial(st, why) != 0 && st->have > st->flushed) {
                log_warn(
                    "wal stream: the last %zu bytes received were not "
                    "stored: %s",
                    st->have - st->flushed, why);
            }
            return rv;
        }
        if ((rv = flush_partial(st, errmsg)) != 0) {
            return rv;
        }
        log_info("wal stream: timeline %u ended; timeline %u from %X/%X",
                 (unsigned)st->tli, (unsigned)next_tli,
                 (unsigned)(next_start >> 32), (unsigned)next_start);
        st->tli = next_tli;
        start = next_start - next_start % st->seg_size;
    }
}

static bool slot_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_')) {
            return false;
        }
    }
    return true;
}

int walstreamjob_run(const json_t *spec, json_t **result, char *errmsg)
{
    struct stream st;
    const char *pg, *url, *creds;
    const json_t *copies = json_object_get(spec, "copies");
    uint64_t flush_ms, level;
    int rv;

    *result = NULL;
    memset(&st, 0, sizeof(st));
    if ((rv = job_spec_string(spec, "pg", true, &pg, errmsg)) != 0 ||
        (rv = job_spec_string(spec, "store", true, &url, errmsg)) != 0 ||
        (rv = job_spec_string(spec, "credentials_file", false, &creds,
                              errmsg)) != 0 ||
        (rv = job_spec_string(spec, "slot", false, &st.slot, errmsg)) != 0 ||
        (rv = job_spec_uint(spec, "flush_ms", 1000, 100, 60000, &flush_ms,
                            errmsg)) != 0 ||
        (rv = job_spec_uint(spec, "zstd_level", 3, 1, 19, &level, errmsg)) !=
            0) {
        return rv;
    }
    if (st.slot == NULL) {
        st.slot = DR_WAL_STREAM_SLOT;
    }
    if (!slot_name_ok(st.slot)) {
        snprintf(errmsg, 256,
                 "\"slot\": \"%.80s\" is not a slot name (1 to 63 of a-z, "
                 "0-9 and _)",
                 st.slot);
        return DR_EINVAL;
    }
    if (copies != NULL && (!json_is_array(copies) ||
                           json_array_size(copies) >= STREAM_STORES_MAX)) {
        snprintf(errmsg, 256,
                 "\"copies\" must be an array of at most %d store URLs",
                 STREAM_STORES_MAX - 1);
        return DR_EINVAL;
    }
    st.flush_ms = flush_ms;
    st.level = (int)level;
    rv = job_open_url(url, creds, &st.stores[0], errmsg);
    st.n_stores = rv == 0 ? 1 : 0;
    for (size_t i = 0; rv == 0 && i < json_array_size(copies); i++) {
        const char *u = json_string_value(json_array_get(copies, i));
        if (u == NULL) {
            snprintf(errmsg, 256, "\"copies\" must hold store URLs");
            rv = DR_EINVAL;
            break;
        }
        rv = job_open_url(u, creds, &st.stores[st.n_stores], errmsg);
        st.n_stores += rv == 0;
    }
    if (rv == 0 && (rv = connect_server(pg, &st.c, errmsg)) == 0) {
        rv = run(&st, errmsg);
    }
    if (rv == 0) {
        rv = DR_EIO; /* run returns only on failure */
    }
    PQfinish(st.c);
    free(st.seg);
    for (size_t i = 0; i < st.n_stores; i++) {
        store_close(st.stores[i]);
    }
    return rv;
}
