/* redis_restore and redis_verify: every object of the snapshot is checked
 * in full before anything is written; the restore is pipelined RESTORE ...
 * REPLACE, then compared key by key with the snapshot. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/job.h"
#include "backup/rdb.h"
#include "backup/redis_check.h"
#include "backup/redis_conn.h"
#include "backup/redis_format.h"
#include "codec/redis_manifest.h"
#include "common/err.h"
#include "store/store.h"
#include "store/zio.h"

#define RRS_DEFAULT_BATCH 1000
#define RRS_BATCH_BYTES (16u * 1024 * 1024) /* pipelined before replies */

static int spec_manifest(const json_t *spec,
                         const char **key,
                         const char **sha,
                         char *errmsg)
{
    *key = json_string_value(json_object_get(spec, "manifest_key"));
    *sha = json_string_value(json_object_get(spec, "manifest_sha256"));
    if (*key == NULL || *sha == NULL) {
        snprintf(errmsg, 256,
                 "\"manifest_key\" and \"manifest_sha256\" must be strings");
        return DR_EINVAL;
    }
    return 0;
}

/* The commands in flight (RESTORE, SET, MSET), with their first key for
 * messages and the keys each writes. */
struct pending
{
    struct rconn *rc;
    size_t n;
    size_t bytes;
    uint8_t *names;  /* keys, back to back */
    size_t *offs;    /* n + 1 offsets into names */
    uint32_t *nkeys; /* n: keys written by each command */
    size_t queued;   /* keys of those commands */
    size_t names_cap, offs_cap;
    uint64_t restored;
};

static int pending_add(struct pending *p,
                       const uint8_t *key,
                       size_t klen,
                       uint32_t nkeys)
{
    if (p->n + 2 > p->offs_cap) {
        size_t nc = p->offs_cap ? p->offs_cap * 2 : 2048;
        size_t *no = realloc(p->offs, nc * sizeof(*no));
        uint32_t *nk;
        if (no == NULL) {
            return DR_ENOMEM;
        }
        p->offs = no;
        nk = realloc(p->nkeys, nc * sizeof(*nk));
        if (nk == NULL) {
            return DR_ENOMEM;
        }
        p->nkeys = nk;
        p->offs_cap = nc;
    }
    p->nkeys[p->n] = nkeys;
    if (p->n == 0) {
        p->offs[0] = 0;
    }
    if (p->offs[p->n] + klen > p->names_cap) {
        size_t nc = p->names_cap ? p->names_cap : 65536;
        uint8_t *nn;
        while (nc < p->offs[p->n] + klen) {
            nc *= 2;
        }
        nn = realloc(p->names, nc);
        if (nn == NULL) {
            return DR_ENOMEM;
        }
        p->names = nn;
        p->names_cap = nc;
    }
    memcpy(p->names + p->offs[p->n], key, klen);
    p->offs[p->n + 1] = p->offs[p->n] + klen;
    p->n++;
    return 0;
}

static int pending_drain(struct pending *p, char *errmsg)
{
    char what[32 + RFMT_KEY_DISPLAY_MAX], name[RFMT_KEY_DISPLAY_MAX];
    redisReply *r;
    size_t i;
    int rv = 0, first = 0;

    /* Read every reply even after a failure, so the connection stays in
     * step; report the first. */
    for (i = 0; i < p->n; i++) {
        rv = rconn_reply(p->rc, &r, "RESTORE", errmsg);
        if (rv != 0) {
            return rv;
        }
        if (r->type == REDIS_REPLY_STATUS) {
            p->restored += p->nkeys[i];
        } else if (first == 0) {
            rfmt_key_display(p->names + p->offs[i], p->offs[i + 1] - p->offs[i],
                             name);
            snprintf(what, sizeof(what), "restore of %.100s", name);
            first = rconn_reply_error(p->rc, r, what, errmsg);
        }
        freeReplyObject(r);
    }
    p->n = 0;
    p->bytes = 0;
    p->queued = 0;
    return first;
}

/* Two connections take turns: one batch is sent and left to the server
 * while the next is built for the other, whose replies are read first.
 * The server never waits for us, nor we for it. */
struct pipes
{
    struct pending p[2];
    int cur;
};

static int pipes_switch(struct pipes *pp, char *errmsg)
{
    struct pending *p = &pp->p[pp->cur];
    int rv = rconn_flush(p->rc, "RESTORE", errmsg);

    if (rv != 0) {
        return rv;
    }
    pp->cur ^= 1;
    p = &pp->p[pp->cur];
    return p->n > 0 ? pending_drain(p, errmsg) : 0;
}

static int pipes_drain(struct pipes *pp, char *errmsg)
{
    int rv = 0;

    for (int k = 0; k < 2 && rv == 0; k++) {
        struct pending *p = &pp->p[pp->cur ^ k ^ 1];
        if (p->n > 0) {
            rv = pending_drain(p, errmsg);
        }
    }
    return rv;
}

/* Plain strings without an expiry, gathered for one MSET: the server
 * spends less on one MSET of many keys than on a RESTORE each (the read-back
 * still compares every key's DUMP with the snapshot). */
#define RRS_MSET_KEYS 128
#define RRS_MSET_BYTES (1u << 20)
struct strset
{
    uint8_t *buf; /* key, value, key, value ... */
    size_t len, cap;
    size_t off[2 * RRS_MSET_KEYS + 1]; /* where each key and value starts */
    size_t n;                          /* keys */
    uint8_t *val;                      /* one decoded value */
    size_t val_cap, val_len;
};

static int strset_put(struct strset *ss, const void *b, size_t n)
{
    if (ss->len + n > ss->cap) {
        size_t nc = ss->cap ? ss->cap : 65536;
        uint8_t *nb;
        while (nc < ss->len + n) {
            nc *= 2;
        }
        nb = realloc(ss->buf, nc);
        if (nb == NULL) {
            return DR_ENOMEM;
        }
        ss->buf = nb;
        ss->cap = nc;
    }
    memcpy(ss->buf + ss->len, b, n);
    ss->len += n;
    return 0;
}

/* Counts a command and its keys on the current pipe; switches when full. */
static int pipes_added(struct pipes *pp,
                       const uint8_t *first,
                       size_t flen,
                       uint32_t nkeys,
                       size_t bytes,
                       unsigned batch,
                       char *errmsg)
{
    struct pending *p = &pp->p[pp->cur];

    if (pending_add(p, first, flen, nkeys) != 0) {
        snprintf(errmsg, 256, "out of memory");
        return DR_ENOMEM;
    }
    p->bytes += bytes;
    p->queued += nkeys;
    if (p->queued >= batch || p->bytes >= RRS_BATCH_BYTES) {
        return pipes_switch(pp, errmsg);
    }
    return 0;
}

static int strset_flush(struct strset *ss,
                        struct pipes *pp,
                        unsigned batch,
                        char *errmsg)
{
    const char *argv[1 + 2 * RRS_MSET_KEYS];
    size_t lens[1 + 2 * RRS_MSET_KEYS];
    size_t n = ss->n;
    int rv;

    if (n == 0) {
        return 0;
    }
    argv[0] = "MSET";
    lens[0] = 4;
    ss->off[2 * n] = ss->len;
    for (size_t i = 0; i < 2 * n; i++) {
        argv[1 + i] = (const char *)ss->buf + ss->off[i];
        lens[1 + i] = ss->off[i + 1] - ss->off[i];
    }
    ss->n = 0;
    ss->len = 0;
    rv = rconn_append(pp->p[pp->cur].rc, (int)(1 + 2 * n), argv, lens, "MSET",
                      errmsg);
    if (rv == 0) { /* the buffer is still intact: nothing wrote it */
        rv = pipes_added(pp, ss->buf, lens[1], (uint32_t)n, ss->off[2 * n],
                         batch, errmsg);
    }
    return rv;
}

/* One record: a plain string by SET or into the MSET being gathered,
 * anything else by RESTORE. */
static int restore_record(const struct rfmt_rec *rec,
                          struct strset *ss,
                          struct pipes *pp,
                          unsigned batch,
                          int64_t now,
                          char *errmsg)
{
    const char *argv[5];
    size_t lens[5];
    char ttl[24];
    const uint8_t *value;
    size_t vlen;
    uint8_t type;
    int version, rv;

    snprintf(
        ttl, sizeof(ttl), "%lld",
        rec->expire_at_ms != 0 ? (long long)(rec->expire_at_ms - now) : 0LL);
    if (rec->plen > 0 && rec->payload[0] == 0 &&
        rdb_dump_split(rec->payload, rec->plen, &type, &value, &vlen,
                       &version) == 0 &&
        rdb_string_decode(value, vlen, &ss->val, &ss->val_cap, &ss->val_len) ==
            0) {
        if (rec->expire_at_ms == 0) {
            ss->off[2 * ss->n] = ss->len;
            rv = strset_put(ss, rec->key, rec->klen);
            ss->off[2 * ss->n + 1] = ss->len;
            if (rv == 0) {
                rv = strset_put(ss, ss->val, ss->val_len);
            }
            if (rv != 0) {
                snprintf(errmsg, 256, "out of memory");
                return rv;
            }
            ss->n++;
            if (ss->n == RRS_MSET_KEYS || ss->len >= RRS_MSET_BYTES) {
                return strset_flush(ss, pp, batch, errmsg);
            }
            return 0;
        }
        argv[0] = "SET";
        lens[0] = 3;
        argv[1] = (const char *)rec->key;
        lens[1] = rec->klen;
        argv[2] = (const char *)ss->val;
        lens[2] = ss->val_len;
        argv[3] = "PX";
        lens[3] = 2;
        argv[4] = ttl;
        lens[4] = strlen(ttl);
        rv = rconn_append(pp->p[pp->cur].rc, 5, argv, lens, "SET", errmsg);
    } else {
        argv[0] = "RESTORE";
        lens[0] = 7;
        argv[1] = (const char *)rec->key;
        lens[1] = rec->klen;
        argv[2] = ttl;
        lens[2] = strlen(ttl);
        argv[3] = (const char *)rec->payload;
        lens[3] = (size_t)rec->plen;
        argv[4] = "REPLACE";
        lens[4] = 7;
        rv = rconn_append(pp->p[pp->cur].rc, 5, argv, lens, "RESTORE", errmsg);
    }
    if (rv != 0) {
        return rv;
    }
    return pipes_added(pp, rec->key, rec->klen, 1, rec->klen + rec->plen, batch,
                       errmsg);
}

static int restore_object(struct store *s,
                          const struct redis_manifest_object *o,
                          struct pipes *pp,
                          struct strset *ss,
                          unsigned batch,
                          uint64_t *expired,
                          char *errmsg)
{
    struct zio_reader *z = NULL;
    struct rfmt_reader *r = NULL;
    struct rfmt_rec rec;
    int64_t now;
    int rv;

    rv = zio_reader_open(s, o->key, o->stored_sha256, &z, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = rfmt_reader_new(z, RFMT_DATA, o->key, &r, errmsg);
    while (rv == 0) {
        rv = rfmt_next(r, &rec, errmsg);
        if (rv != 0 || rec.end) {
            break;
        }
        now = rcheck_now_ms();
        if (rec.expire_at_ms != 0 && rec.expire_at_ms <= now) {
            (*expired)++; /* expired since the backup: not brought back */
            continue;
        }
        rv = restore_record(&rec, ss, pp, batch, now, errmsg);
    }
    if (rv == 0) {
        rv = strset_flush(ss, pp, batch, errmsg);
    }
    if (rv == 0) {
        rv = rfmt_finish(r, errmsg);
    }
    rfmt_reader_free(r);
    zio_reader_close(z);
    return rv;
}

static json_t *objects_ok(const struct redis_manifest *m)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; i <= m->n_data; i++) {
        const struct redis_manifest_object *o =
            i < m->n_data ? &m->data[i] : &m->key_index;
        json_t *e = json_object();
        json_object_set_new(e, "key", json_string(o->key));
        json_object_set_new(e, "ok", json_true());
        json_array_append_new(a, e);
    }
    return a;
}

/* An RDB file for a server about to start, written as the objects are
 * checked, renamed into place only when every check passed. */
#define RDB_FILE_EMPTY_VERSION 9 /* an empty snapshot: Redis 5.0 and later */
struct rdbfile
{
    FILE *f;
    const char *path;
    char tmp[4096];
    uint64_t crc, bytes, keys, expired;
    int version;
    uint32_t db;
    int64_t now;
};

static int rf_put(struct rdbfile *w, const void *p, size_t n, char *errmsg)
{
    w->crc = rdb_crc64(w->crc, p, n);
    w->bytes += n;
    if (fwrite(p, 1, n, w->f) != n) {
        snprintf(errmsg, 256, "%.150s: %s", w->tmp, strerror(errno));
        return DR_EIO;
    }
    return 0;
}

static int rf_start(struct rdbfile *w, int version, char *errmsg)
{
    uint8_t b[RDB_HEADER_LEN + RDB_SELECT_MAX];
    size_t n = rdb_put_header(b, version);

    w->version = version;
    n += rdb_put_select(b + n, w->db);
    return rf_put(w, b, n, errmsg);
}

static int rf_record(void *arg, const struct rfmt_rec *rec, char *errmsg)
{
    struct rdbfile *w = arg;
    uint8_t h[RDB_KEY_HEAD_MAX], type;
    const uint8_t *value;
    size_t vlen;
    int version, rv;

    if (rdb_dump_split(rec->payload, rec->plen, &type, &value, &vlen,
                       &version) != 0) {
        char name[RFMT_KEY_DISPLAY_MAX];
        rfmt_key_display(rec->key, rec->klen, name);
        snprintf(errmsg, 256, "key %.100s: not a DUMP payload (CRC-64)", name);
        return DR_ECORRUPT;
    }
    if (w->version == 0 && (rv = rf_start(w, version, errmsg)) != 0) {
        return rv;
    }
    if (version != w->version) {
        snprintf(errmsg, 256,
                 "payloads of RDB versions %d and %d: one RDB file cannot "
                 "hold both",
                 w->version, version);
        return DR_EVERSION;
    }
    if (rec->expire_at_ms != 0 && rec->expire_at_ms <= w->now) {
        w->expired++; /* expired since the backup: not brought back */
        return 0;
    }
    if ((rv = rf_put(w, h,
                     rdb_put_key_head(h, rec->expire_at_ms, type, rec->klen),
                     errmsg)) != 0 ||
        (rv = rf_put(w, rec->key, rec->klen, errmsg)) != 0 ||
        (rv = rf_put(w, value, vlen, errmsg)) != 0) {
        return rv;
    }
    w->keys++;
    return 0;
}

static int rf_finish(struct rdbfile *w, char *errmsg)
{
    uint8_t end[9] = {0xff};
    int rv = 0;

    if (w->version == 0) {
        rv = rf_start(w, RDB_FILE_EMPTY_VERSION, errmsg);
    }
    if (rv == 0) {
        w->crc = rdb_crc64(w->crc, end, 1);
        for (int k = 0; k < 8; k++) {
            end[1 + k] = (uint8_t)(w->crc >> (8 * k));
        }
        w->bytes += sizeof(end);
        if (fwrite(end, 1, sizeof(end), w->f) != sizeof(end) ||
            fflush(w->f) != 0 || fsync(fileno(w->f)) != 0) {
            snprintf(errmsg, 256, "%.150s: %s", w->tmp, strerror(errno));
            rv = DR_EIO;
        }
    }
    if (fclose(w->f) != 0 && rv == 0) {
        snprintf(errmsg, 256, "%.150s: %s", w->tmp, strerror(errno));
        rv = DR_EIO;
    }
    w->f = NULL;
    if (rv == 0 && rename(w->tmp, w->path) != 0) {
        snprintf(errmsg, 256, "%.150s: %s", w->path, strerror(errno));
        rv = DR_EIO;
    }
    return rv;
}

/* The store, the manifest (its SHA-256 checked) and the target database
 * (the spec's "db", else the snapshot's). On failure nothing stays open. */
static int open_snapshot(const json_t *spec,
                         const char *mkey,
                         const char *msha,
                         struct store **s,
                         struct redis_manifest *m,
                         uint64_t *db,
                         char *errmsg)
{
    int rv = job_open_store(spec, s, errmsg);

    if (rv != 0) {
        return rv;
    }
    rv = rcheck_load_manifest(*s, mkey, msha, m, errmsg);
    if (rv != 0) {
        store_close(*s);
        *s = NULL;
        return rv;
    }
    rv = job_spec_uint(spec, "db", m->db, 0, 65535, db, errmsg);
    if (rv != 0) {
        redis_manifest_free(m);
        store_close(*s);
        *s = NULL;
    }
    return rv;
}

static int restore_file(const json_t *spec, json_t **result, char *errmsg)
{
    struct store *s = NULL;
    struct redis_manifest m;
    struct rkeytab keys;
    struct rdbfile w;
    const char *mkey, *msha;
    const json_t *clean = json_object_get(spec, "clean");
    uint64_t db;
    int64_t t0 = rcheck_now_ms();
    int fd, rv;

    memset(&w, 0, sizeof(w));
    rkeytab_init(&keys);
    if ((rv = spec_manifest(spec, &mkey, &msha, errmsg)) != 0) {
        return rv;
    }
    w.path = json_string_value(json_object_get(spec, "rdb_file"));
    if (w.path == NULL || w.path[0] == '\0' ||
        strlen(w.path) + 8 >= sizeof(w.tmp) ||
        (clean != NULL && !json_is_boolean(clean)) ||
        json_object_get(spec, "redis") != NULL) {
        snprintf(errmsg, 256,
                 "\"rdb_file\" must be a path (instead of \"redis\") and "
                 "\"clean\" a boolean");
        return DR_EINVAL;
    }
    if (access(w.path, F_OK) == 0 && !json_is_true(clean)) {
        snprintf(errmsg, 256,
                 "%.150s exists (a server's old RDB? set \"clean\" to "
                 "replace it)",
                 w.path);
        return DR_EEXIST;
    }
    rv = open_snapshot(spec, mkey, msha, &s, &m, &db, errmsg);
    if (rv != 0) {
        return rv;
    }
    snprintf(w.tmp, sizeof(w.tmp), "%s.dr-tmp", w.path);
    fd = open(w.tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    w.f = fd < 0 ? NULL : fdopen(fd, "wb");
    if (w.f == NULL) {
        snprintf(errmsg, 256, "%.150s: %s", w.tmp, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(w.tmp);
        }
        rv = DR_EIO;
        goto out_manifest;
    }
    w.db = (uint32_t)db;
    w.now = rcheck_now_ms();
    rv = rcheck_objects_each(s, &m, &keys, NULL, rf_record, &w, errmsg);
    if (rv == 0) {
        rv = rf_finish(&w, errmsg);
    }
    if (w.f != NULL) {
        fclose(w.f);
    }
    if (rv != 0) {
        unlink(w.tmp);
        goto out_manifest;
    }
    *result = json_pack(
        "{s:I,s:I,s:s,s:I,s:i,s:I,s:I}", "keys", (json_int_t)w.keys,
        "expired_skipped", (json_int_t)w.expired, "rdb_file", w.path,
        "rdb_bytes", (json_int_t)w.bytes, "rdb_version", w.version, "db",
        (json_int_t)db, "duration_ms", (json_int_t)(rcheck_now_ms() - t0));
    json_object_set_new(*result, "objects", objects_ok(&m));
out_manifest:
    redis_manifest_free(&m);
    rkeytab_free(&keys);
    store_close(s);
    return rv;
}

int redisjob_restore(const json_t *spec, json_t **result, char *errmsg)
{
    struct store *s = NULL;
    struct redis_manifest m;
    struct rkeytab keys;
    struct rconn rc, rc2;
    struct pipes pp;
    struct strset ss;
    struct rcheck_diff d;
    const char *mkey, *msha, *addr, *pwfile, *method;
    const json_t *clean;
    uint64_t db, timeout, batch, expired = 0;
    long long dbsize;
    int64_t t0, t1, t2;
    char msg[256];
    size_t i;
    int rv;

    *result = NULL;
    if (json_object_get(spec, "rdb_file") != NULL) {
        return restore_file(spec, result, errmsg);
    }
    rkeytab_init(&keys);
    memset(&pp, 0, sizeof(pp));
    memset(&ss, 0, sizeof(ss));
    memset(&rc2, 0, sizeof(rc2));
    if ((rv = spec_manifest(spec, &mkey, &msha, errmsg)) != 0) {
        return rv;
    }
    addr = json_string_value(json_object_get(spec, "redis"));
    pwfile = json_string_value(json_object_get(spec, "redis_password_file"));
    clean = json_object_get(spec, "clean");
    if (addr == NULL || (clean != NULL && !json_is_boolean(clean))) {
        snprintf(errmsg, 256,
                 "\"redis\" must be a string and \"clean\" a boolean");
        return DR_EINVAL;
    }
    if ((rv = rcheck_spec_method(spec, &method, errmsg)) != 0 ||
        (rv = job_spec_uint(spec, "timeout_ms", RCONN_DEFAULT_TIMEOUT_MS, 0,
                            3600000, &timeout, errmsg)) != 0 ||
        (rv = job_spec_uint(spec, "batch", RRS_DEFAULT_BATCH, 0, 100000, &batch,
                            errmsg)) != 0) {
        return rv;
    }
    rv = open_snapshot(spec, mkey, msha, &s, &m, &db, errmsg);
    if (rv != 0) {
        rkeytab_free(&keys);
        return rv;
    }
    /* Every object, in full, before the target is touched. */
    t0 = rcheck_now_ms();
    rv = rcheck_objects(s, &m, &keys, NULL, errmsg);
    t1 = rcheck_now_ms();
    if (rv != 0) {
        goto err_after_manifest;
    }
    rv = rconn_open(&rc, addr, pwfile, (unsigned)db, (long)timeout, errmsg);
    if (rv != 0) {
        goto err_after_manifest;
    }
    rv = rconn_dbsize(&rc, &dbsize, errmsg);
    if (rv != 0) {
        goto err_after_conn;
    }
    if (dbsize > 0) {
        if (!json_is_true(clean)) {
            snprintf(errmsg, 256,
                     "redis %s: db %u holds %lld keys (restore into an empty "
                     "database, or set \"clean\" to flush it)",
                     rc.addr, (unsigned)db, dbsize);
            rv = DR_ECONFLICT;
            goto err_after_conn;
        } else {
            const char *argv[1] = {"FLUSHDB"};
            size_t lens[1] = {7};
            redisReply *r;
            rv = rconn_command(&rc, &r, "FLUSHDB", errmsg, 1, argv, lens);
            if (rv != 0) {
                goto err_after_conn;
            }
            freeReplyObject(r);
        }
    }
    rv = rconn_open(&rc2, addr, pwfile, (unsigned)db, (long)timeout, errmsg);
    if (rv != 0) {
        goto err_after_conn;
    }
    pp.p[0].rc = &rc;
    pp.p[1].rc = &rc2;
    for (i = 0; i < m.n_data && rv == 0; i++) {
        rv = restore_object(s, &m.data[i], &pp, &ss, (unsigned)batch, &expired,
                            msg);
    }
    if (rv == 0) {
        rv = pipes_switch(&pp, msg); /* the last batch sent */
    }
    if (rv == 0) {
        rv = pipes_drain(&pp, msg);
    }
    rconn_close(&rc2);
    if (rv != 0) {
        snprintf(errmsg, 256, "%s", msg);
        goto err_after_conn;
    }

    /* Read back what was written. */
    t2 = rcheck_now_ms();
    rcheck_diff_init(&d);
    rv = rcheck_compare(&rc, &keys, rcheck_now_ms(), (unsigned)batch, method,
                        (uint32_t)db, &d, errmsg);
    *result = json_object();
    json_object_set_new(
        *result, "keys",
        json_integer((json_int_t)(pp.p[0].restored + pp.p[1].restored)));
    json_object_set_new(*result, "expired_skipped",
                        json_integer((json_int_t)expired));
    json_object_set_new(*result, "raw_bytes",
                        json_integer((json_int_t)m.raw_bytes));
    json_object_set_new(*result, "db", json_integer((json_int_t)db));
    json_object_set_new(*result, "objects", objects_ok(&m));
    /* Where the time went: checking every object, RESTORE, reading back. */
    json_object_set_new(
        *result, "phases_ms",
        json_pack("{s:I,s:I,s:I}", "check", (json_int_t)(t1 - t0), "restore",
                  (json_int_t)(t2 - t1), "read_back",
                  (json_int_t)(rcheck_now_ms() - t2)));
    if (rv == 0) {
        json_t *v = json_object();
        rcheck_diff_report(&d, v);
        json_object_set_new(*result, "verify", v);
        if (d.mismatched > 0 || d.missing > 0) {
            snprintf(errmsg, 256,
                     "redis %s: read-back after restore: %llu keys differ, "
                     "%llu missing",
                     rc.addr, (unsigned long long)d.mismatched,
                     (unsigned long long)d.missing);
            rv = DR_ECORRUPT;
        }
    }
    json_object_set_new(*result, "ok", json_boolean(rv == 0));
    rcheck_diff_free(&d);

err_after_conn:
    rconn_close(&rc);
err_after_manifest:
    redis_manifest_free(&m);
    for (int k = 0; k < 2; k++) {
        free(pp.p[k].names);
        free(pp.p[k].offs);
        free(pp.p[k].nkeys);
    }
    free(ss.buf);
    free(ss.val);
    rkeytab_free(&keys);
    store_close(s);
    return rv;
}

int redisjob_verify(const json_t *spec, json_t **result, char *errmsg)
{
    struct store *s = NULL;
    struct redis_manifest m;
    struct rkeytab keys;
    struct rconn rc;
    struct rcheck_diff d;
    const char *mkey, *msha, *addr, *pwfile, *method;
    uint64_t db, timeout, batch;
    json_t *objects, *res;
    char msg[256], digest[65];
    int rv;

    *result = NULL;
    if ((rv = spec_manifest(spec, &mkey, &msha, errmsg)) != 0) {
        return rv;
    }
    addr = json_string_value(json_object_get(spec, "redis"));
    pwfile = json_string_value(json_object_get(spec, "redis_password_file"));
    if ((rv = rcheck_spec_method(spec, &method, errmsg)) != 0 ||
        (rv = job_spec_uint(spec, "timeout_ms", RCONN_DEFAULT_TIMEOUT_MS, 0,
                            3600000, &timeout, errmsg)) != 0 ||
        (rv = job_spec_uint(spec, "batch", RRS_DEFAULT_BATCH, 0, 100000, &batch,
                            errmsg)) != 0) {
        return rv;
    }
    rv = job_open_store(spec, &s, errmsg);
    if (rv != 0) {
        return rv;
    }
    res = json_object();
    objects = json_array();
    json_object_set(res, "objects", objects);
    rv = rcheck_load_manifest(s, mkey, msha, &m, msg);
    if (rv != 0) {
        json_t *e = json_object();
        json_object_set_new(e, "key", json_string(mkey));
        json_object_set_new(e, "ok", json_false());
        json_object_set_new(e, "error", json_string(msg));
        json_object_set_new(e, "code", json_string(dr_errcode_name(rv)));
        json_array_append_new(objects, e);
        json_object_set_new(res, "ok", json_false());
        snprintf(errmsg, 256, "%s", msg);
        goto out;
    }
    rkeytab_init(&keys);
    rv = rcheck_objects(s, &m, &keys, objects, errmsg);
    json_object_set_new(res, "keys", json_integer((json_int_t)m.keys));
    rfmt_hex(m.digest, 32, digest);
    json_object_set_new(res, "digest", json_string(digest));
    json_object_set_new(res, "redis_version", json_string(m.redis_version));
    if (rv == 0 && addr != NULL) {
        if ((rv = job_spec_uint(spec, "db", m.db, 0, 65535, &db, errmsg)) !=
            0) {
            goto done;
        }
        rv = rconn_open(&rc, addr, pwfile, (unsigned)db, (long)timeout, errmsg);
        if (rv != 0) {
            goto done;
        }
        rcheck_diff_init(&d);
        rv = rcheck_compare(&rc, &keys, rcheck_now_ms(), (unsigned)batch,
                            method, (uint32_t)db, &d, errmsg);
        if (rv == 0) {
            rcheck_diff_report(&d, res);
            if (d.mismatched > 0 || d.missing > 0 || d.extra > 0) {
                snprintf(errmsg, 256,
                         "redis %s: %llu keys differ, %llu missing, %llu "
                         "extra",
                         rc.addr, (unsigned long long)d.mismatched,
                         (unsigned long long)d.missing,
                         (unsigned long long)d.extra);
                rv = DR_ECORRUPT;
            }
        }
        rcheck_diff_free(&d);
        rconn_close(&rc);
    } else if (rv != 0 && addr != NULL) {
        json_object_set_new(res, "redis_skipped",
                            json_string("the backup is damaged"));
    }
done:
    json_object_set_new(res, "ok", json_boolean(rv == 0));
    rkeytab_free(&keys);
    redis_manifest_free(&m);
out:
    json_decref(objects);
    store_close(s);
    *result = res;
    return rv;
}
