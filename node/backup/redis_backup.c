/* redis_backup: the server's RDB through SYNC (one point in time), or SCAN +
 * pipelined DUMP/PTTL, into zstd record streams of DUMP payloads (the same
 * either way), a sorted per-key digest index, and the manifest written
 * last. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/job.h"
#include "backup/redis_check.h"
#include "backup/redis_conn.h"
#include "backup/redis_format.h"
#include "backup/redis_sync.h"
#include "codec/redis_manifest.h"
#include "common/err.h"
#include "store/store.h"
#include "store/zio.h"

#define RBK_DEFAULT_BATCH 1000
#define RBK_DEFAULT_SPLIT (256ull * 1024 * 1024)
#define RBK_PREFIX_MAX 900

struct rbk
{
    struct store *s;
    struct rconn rc;
    char prefix[RBK_PREFIX_MAX];
    int level;
    uint64_t split_bytes;
    unsigned batch;
    struct zio_writer *zw; /* current data object, or NULL */
    char zkey[STORE_KEY_MAX];
    uint64_t zraw, zkeys; /* of the current object */
    struct redis_manifest_object *objs;
    size_t n_objs;
    struct rkeytab keys;
    struct rdigest *dg;
    uint8_t sum[32];
    uint64_t types[RTYPE_COUNT];
    uint64_t nkeys, expiring, vanished, raw_bytes;
    struct rsync_stats sync; /* rdb */
};

static int open_object(struct rbk *b, char *errmsg)
{
    uint8_t h[RFMT_HEADER_LEN];
    int rv;

    snprintf(b->zkey, sizeof(b->zkey), "%s/data-%06zu.zst", b->prefix,
             b->n_objs);
    rv = zio_writer_open(b->s, b->zkey, b->level, &b->zw, errmsg);
    if (rv != 0) {
        b->zw = NULL;
        return rv;
    }
    /* Compression beside the parsing and hashing, on zstd's own thread
     * (a libzstd without threads compresses on this one). */
    (void)zio_writer_workers(b->zw, 0);
    b->zraw = rfmt_header(h, RFMT_DATA);
    b->zkeys = 0;
    return zio_write(b->zw, h, sizeof(h), errmsg);
}

static int add_object(struct rbk *b,
                      const char *key,
                      const struct zio_stats *st,
                      uint64_t nkeys,
                      struct redis_manifest_object *o,
                      char *errmsg)
{
    memset(o, 0, sizeof(*o));
    o->key = strdup(key);
    if (o->key == NULL) {
        snprintf(errmsg, 256, "out of memory");
        return DR_ENOMEM;
    }
    o->raw_bytes = st->raw_bytes;
    memcpy(o->raw_sha256, st->raw_sha256, sizeof(o->raw_sha256));
    o->stored_bytes = st->stored_bytes;
    memcpy(o->stored_sha256, st->stored_sha256, sizeof(o->stored_sha256));
    o->keys = nkeys;
    (void)b;
    return 0;
}

static int close_object(struct rbk *b, char *errmsg)
{
    uint8_t t[RFMT_TRAILER_LEN];
    struct redis_manifest_object *no;
    struct zio_stats st;
    int rv;

    rv = zio_write(b->zw, t, rfmt_trailer(t, b->zkeys), errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = zio_writer_commit(b->zw, &st, errmsg);
    b->zw = NULL;
    if (rv != 0) {
        return rv;
    }
    no = realloc(b->objs, (b->n_objs + 1) * sizeof(*no));
    if (no == NULL) {
        snprintf(errmsg, 256, "out of memory");
        return DR_ENOMEM;
    }
    b->objs = no;
    rv = add_object(b, b->zkey, &st, b->zkeys, &b->objs[b->n_objs], errmsg);
    if (rv != 0) {
        return rv;
    }
    b->n_objs++;
    b->raw_bytes += st.raw_bytes;
    return 0;
}

/* One key's record: into the current object, which is rotated once it
 * holds split_bytes. */
static int write_record(struct rbk *b,
                        long idx,
                        const uint8_t *payload,
                        size_t plen,
                        int64_t expire_at_ms,
                        char *errmsg)
{
    struct rkey *e = &b->keys.v[idx];
    uint8_t h[RFMT_DATA_HEAD_MAX], d[32];
    int rv;

    if (b->zw == NULL) {
        rv = open_object(b, errmsg);
        if (rv != 0) {
            return rv;
        }
    }
    rfmt_data_head(h, e->klen, expire_at_ms, plen);
    rv = zio_write(b->zw, h, sizeof(h), errmsg);
    if (rv == 0) {
        rv = zio_write(b->zw, e->key, e->klen, errmsg);
    }
    if (rv == 0) {
        rv = zio_write(b->zw, payload, plen, errmsg);
    }
    if (rv != 0) {
        return rv;
    }
    if (rdigest_key(b->dg, e->key, e->klen, payload, plen, d) != 0) {
        snprintf(errmsg, 256, "SHA-256 failed");
        return DR_ENOMEM;
    }
    rdigest_add(b->sum, d);
    memcpy(e->digest, d, RFMT_SHORT_DIGEST);
    e->type = (uint8_t)rtype_of_payload(payload, plen);
    e->expire_at_ms = expire_at_ms;
    e->flags = RKEY_CHECKED; /* in the snapshot */
    b->types[e->type]++;
    b->nkeys++;
    if (expire_at_ms != 0) {
        b->expiring++;
    }
    b->zkeys++;
    b->zraw += sizeof(h) + e->klen + plen;
    if (b->zraw >= b->split_bytes) {
        return close_object(b, errmsg);
    }
    return 0;
}

/* DUMP and PTTL of the new keys of one SCAN page, pipelined. */
static int dump_batch(struct rbk *b, const long *queue, size_t nq, char *errmsg)
{
    const char *argv[2];
    size_t lens[2], i;
    redisReply *dump = NULL, *ttl = NULL;
    char what[64 + RFMT_KEY_DISPLAY_MAX];
    char name[RFMT_KEY_DISPLAY_MAX];
    int64_t now;
    int rv;

    for (i = 0; i < nq; i++) {
        argv[1] = (const char *)b->keys.v[queue[i]].key;
        lens[1] = b->keys.v[queue[i]].klen;
        argv[0] = "DUMP";
        lens[0] = 4;
        rv = rconn_append(&b->rc, 2, argv, lens, "DUMP", errmsg);
        if (rv != 0) {
            return rv;
        }
        argv[0] = "PTTL";
        rv = rconn_append(&b->rc, 2, argv, lens, "PTTL", errmsg);
        if (rv != 0) {
            return rv;
        }
    }
    for (i = 0; i < nq; i++) {
        rv = rconn_reply(&b->rc, &dump, "DUMP", errmsg);
        if (rv != 0) {
            return rv;
        }
        rv = rconn_reply(&b->rc, &ttl, "PTTL", errmsg);
        if (rv != 0) {
            goto out;
        }
        now = rcheck_now_ms();
        if (dump->type == REDIS_REPLY_ERROR || ttl->type == REDIS_REPLY_ERROR ||
            (dump->type != REDIS_REPLY_STRING &&
             dump->type != REDIS_REPLY_NIL) ||
            ttl->type != REDIS_REPLY_INTEGER) {
            const redisReply *bad = dump->type == REDIS_REPLY_ERROR ||
                                            (dump->type != REDIS_REPLY_STRING &&
                                             dump->type != REDIS_REPLY_NIL)
                                        ? dump
                                        : ttl;
            rfmt_key_display(b->keys.v[queue[i]].key, b->keys.v[queue[i]].klen,
                             name);
            snprintf(what, sizeof(what), "%s %.60s",
                     bad == dump ? "DUMP" : "PTTL", name);
            rv = rconn_reply_error(&b->rc, bad, what, errmsg);
            goto out;
        }
        if (dump->type == REDIS_REPLY_NIL || ttl->integer == -2) {
            b->vanished++; /* deleted or expired since SCAN */
        } else {
            rv = write_record(
                b, queue[i], (const uint8_t *)dump->str, dump->len,
                ttl->integer >= 0 ? now + ttl->integer : 0, errmsg);
            if (rv != 0) {
                goto out;
            }
        }
        freeReplyObject(dump);
        freeReplyObject(ttl);
        dump = ttl = NULL;
    }
    return 0;
out:
    if (dump != NULL) {
        freeReplyObject(dump);
    }
    if (ttl != NULL) {
        freeReplyObject(ttl);
    }
    return rv;
}

static int scan_all(struct rbk *b, char *errmsg)
{
    char cursor[32] = "0", count[16];
    const char *argv[4];
    size_t lens[4], i, nq, qcap = 0;
    long *queue = NULL;
    redisReply *r = NULL;
    int rv = 0;

    snprintf(count, sizeof(count), "%u", b->batch);
    do {
        argv[0] = "SCAN";
        lens[0] = 4;
        argv[1] = cursor;
        lens[1] = strlen(cursor);
        argv[2] = "COUNT";
        lens[2] = 5;
        argv[3] = count;
        lens[3] = strlen(count);
        rv = rconn_command(&b->rc, &r, "SCAN", errmsg, 4, argv, lens);
        if (rv != 0) {
            goto out;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[0]->len >= sizeof(cursor) ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            rv = rconn_reply_error(&b->rc, r, "SCAN", errmsg);
            goto out;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len);
        cursor[r->element[0]->len] = '\0';
        if (r->element[1]->elements > qcap) {
            long *nqueue =
                realloc(queue, r->element[1]->elements * sizeof(*queue));
            if (nqueue == NULL) {
                rv = DR_ENOMEM;
                snprintf(errmsg, 256, "out of memory");
                goto out;
            }
            queue = nqueue;
            qcap = r->element[1]->elements;
        }
        nq = 0;
        for (i = 0; i < r->element[1]->elements; i++) {
            const redisReply *k = r->element[1]->element[i];
            long idx;
            int added;
            if (k->type != REDIS_REPLY_STRING) {
                continue;
            }
            rv = rkeytab_add(&b->keys, (const uint8_t *)k->str, k->len, &idx,
                             &added);
            if (rv != 0) {
                snprintf(errmsg, 256, "key table: out of memory");
                goto out;
            }
            if (added) { /* SCAN may return a key more than once */
                queue[nq++] = idx;
            }
        }
        freeReplyObject(r);
        r = NULL;
        rv = dump_batch(b, queue, nq, errmsg);
        if (rv != 0) {
            goto out;
        }
    } while (strcmp(cursor, "0") != 0);
out:
    if (r != NULL) {
        freeReplyObject(r);
    }
    free(queue);
    return rv;
}

/* One key of the RDB (see redis_sync.h), recorded. */
static int rdb_key(void *arg,
                   const uint8_t *key,
                   size_t klen,
                   const uint8_t *payload,
                   size_t plen,
                   int64_t expire_at_ms,
                   char *errmsg)
{
    struct rbk *b = arg;
    long idx;

    /* No lookup: an RDB holds a key once; write_index finds repeats. */
    if (rkeytab_append(&b->keys, key, klen, &idx) != 0) {
        snprintf(errmsg, 256, "key table: out of memory");
        return DR_ENOMEM;
    }
    return write_record(b, idx, payload, plen, expire_at_ms, errmsg);
}

/* The sorted (key, expiry, type, short digest) list. */
static int write_index(struct rbk *b,
                       struct redis_manifest_object *o,
                       char *errmsg)
{
    struct zio_writer *w = NULL;
    uint8_t h[RFMT_INDEX_HEAD];
    struct zio_stats st;
    char key[STORE_KEY_MAX];
    char name[RFMT_KEY_DISPLAY_MAX];
    uint64_t n = 0;
    size_t i;
    long dup;
    int rv;

    dup = rkeytab_sort(&b->keys);
    if (dup >= 0) {
        rfmt_key_display(b->keys.v[dup].key, b->keys.v[dup].klen, name);
        snprintf(errmsg, 256,
                 "redis %s: key %.60s appears twice in the "
                 "snapshot",
                 b->rc.addr, name);
        return DR_ECORRUPT;
    }
    snprintf(key, sizeof(key), "%s/keys.zst", b->prefix);
    rv = zio_writer_open(b->s, key, b->level, &w, errmsg);
    if (rv != 0) {
        return rv;
    }
    (void)zio_writer_workers(w, 1);
    rv = zio_write(w, h, rfmt_header(h, RFMT_INDEX), errmsg);
    for (i = 0; rv == 0 && i < b->keys.n; i++) {
        const struct rkey *e = &b->keys.v[i];
        if (!(e->flags & RKEY_CHECKED)) {
            continue; /* vanished before its DUMP */
        }
        rv = zio_write(
            w, h,
            rfmt_index_head(h, e->klen, e->expire_at_ms, e->type, e->digest),
            errmsg);
        if (rv == 0) {
            rv = zio_write(w, e->key, e->klen, errmsg);
        }
        n++;
    }
    if (rv == 0) {
        rv = zio_write(w, h, rfmt_trailer(h, n), errmsg);
    }
    if (rv != 0) {
        zio_writer_abort(w);
        return rv;
    }
    rv = zio_writer_commit(w, &st, errmsg);
    if (rv != 0) {
        return rv;
    }
    return add_object(b, key, &st, n, o, errmsg);
}

static void cleanup_objects(struct rbk *b)
{
    char ignored[256], key[STORE_KEY_MAX];
    size_t i;

    for (i = 0; i < b->n_objs; i++) {
        store_delete(b->s, b->objs[i].key, ignored);
    }
    snprintf(key, sizeof(key), "%s/keys.zst", b->prefix);
    store_delete(b->s, key, ignored);
}

/* Back to before any key was read: the objects written so far deleted,
 * the keys and counts forgotten (a fallback from rdb to scan). */
static void rbk_reset(struct rbk *b)
{
    if (b->zw != NULL) {
        zio_writer_abort(b->zw);
        b->zw = NULL;
    }
    cleanup_objects(b);
    for (size_t i = 0; i < b->n_objs; i++) {
        free(b->objs[i].key);
    }
    free(b->objs);
    b->objs = NULL;
    b->n_objs = 0;
    rkeytab_free(&b->keys);
    rkeytab_init(&b->keys);
    memset(b->sum, 0, sizeof(b->sum));
    memset(b->types, 0, sizeof(b->types));
    b->nkeys = b->expiring = b->vanished = b->raw_bytes = 0;
    b->zraw = b->zkeys = 0;
    memset(&b->sync, 0, sizeof(b->sync));
}

static json_t *types_json(const struct rbk *b)
{
    json_t *o = json_object();
    int t;

    for (t = 0; t < RTYPE_COUNT; t++) {
        if (b->types[t] != 0) {
            json_object_set_new(o, rtype_name(t),
                                json_integer((json_int_t)b->types[t]));
        }
    }
    return o;
}

int redisjob_backup(const json_t *spec, json_t **result, char *errmsg)
{
    struct rbk b;
    struct redis_manifest m;
    struct redis_manifest_type mt[RTYPE_COUNT];
    struct store_object so;
    const char *addr, *prefix, *pwfile, *method, *used_method = "scan";
    char fallback[256] = "";
    int64_t index_ms = 0;
    int refused = 0;
    uint64_t db, timeout, level, split, batch, stored = 0;
    char version[64], mkey[STORE_KEY_MAX], msha[STORE_SHA256_HEX];
    char digest[65], inner[256];
    uint8_t *mbuf = NULL;
    size_t mlen, i;
    int rv;
    int t;

    *result = NULL;
    memset(&b, 0, sizeof(b));
    rkeytab_init(&b.keys);
    addr = json_string_value(json_object_get(spec, "redis"));
    prefix = json_string_value(json_object_get(spec, "prefix"));
    pwfile = json_string_value(json_object_get(spec, "redis_password_file"));
    if (addr == NULL || prefix == NULL || prefix[0] == '\0' ||
        strlen(prefix) >= RBK_PREFIX_MAX) {
        snprintf(errmsg, 256,
                 "\"redis\" and \"prefix\" must be non-empty strings");
        return DR_EINVAL;
    }
    if ((rv = rcheck_spec_method(spec, &method, errmsg)) != 0 ||
        (rv = job_spec_uint(spec, "db", 0, 0, 65535, &db, errmsg)) != 0 ||
        (rv = job_spec_uint(spec, "timeout_ms", RCONN_DEFAULT_TIMEOUT_MS, 0,
                            3600000, &timeout, errmsg)) != 0 ||
        (rv = job_spec_uint(spec, "zstd_level", 3, 0, 19, &level, errmsg)) !=
            0 ||
        (rv = job_spec_uint(spec, "split_bytes", RBK_DEFAULT_SPLIT, 0,
                            UINT64_MAX >> 1, &split, errmsg)) != 0 ||
        (rv = job_spec_uint(spec, "batch", RBK_DEFAULT_BATCH, 0, 100000, &batch,
                            errmsg)) != 0) {
        return rv;
    }
    snprintf(b.prefix, sizeof(b.prefix), "%s", prefix);
    b.level = (int)level;
    b.split_bytes = split > 0 ? split : RBK_DEFAULT_SPLIT;
    b.batch = batch > 0 ? (unsigned)batch : RBK_DEFAULT_BATCH;
    b.dg = rdigest_new();
    if (b.dg == NULL) {
        snprintf(errmsg, 256, "out of memory");
        return DR_ENOMEM;
    }
    memset(&m, 0, sizeof(m));

    rv = job_open_store(spec, &b.s, errmsg);
    if (rv != 0) {
        goto err_after_digest;
    }
    /* Never overwrite a finished backup. */
    snprintf(mkey, sizeof(mkey), "%s/manifest.pb", b.prefix);
    rv = store_head(b.s, mkey, &so, inner);
    if (rv == 0) {
        store_object_free(&so);
        snprintf(errmsg, 256, "%.200s: a backup already exists there", mkey);
        rv = DR_EEXIST;
        goto err_after_store;
    }
    if (rv != DR_ENOTFOUND) {
        snprintf(errmsg, 256, "%s", inner);
        goto err_after_store;
    }
    rv = rconn_open(&b.rc, addr, pwfile, (unsigned)db, (long)timeout, errmsg);
    if (rv != 0) {
        goto err_after_store;
    }
    rv = rconn_server_version(&b.rc, version, sizeof(version), errmsg);
    if (rv != 0) {
        goto err_after_conn;
    }
    m.started_ms = (uint64_t)rcheck_now_ms();
    if (strcmp(method, "scan") != 0) {
        used_method = "rdb";
        rv = rsync_snapshot(&b.rc, (uint32_t)db, rdb_key, &b, &b.sync, &refused,
                            errmsg);
        if (rv != 0 && (refused || rv == DR_EVERSION) &&
            strcmp(method, "auto") == 0) {
            /* SYNC refused, or an RDB beyond the walker: forget what was
             * written and start over key by key on a new connection. */
            snprintf(fallback, sizeof(fallback), "%s", errmsg);
            rbk_reset(&b);
            used_method = "scan";
            rv = rconn_reopen(&b.rc, errmsg);
            if (rv != 0) {
                goto err_after_store;
            }
        } else if (rv != 0 && (refused || rv == DR_EVERSION)) {
            /* method rdb: say what would work (inner is free here) */
            snprintf(inner, sizeof(inner), "%s", errmsg);
            snprintf(errmsg, 256,
                     "%.180s (redis.method auto or scan takes the snapshot "
                     "key by key)",
                     inner);
        }
    }
    if (strcmp(used_method, "scan") == 0) {
        rv = scan_all(&b, errmsg);
    }
    if (rv == 0 && (b.zw != NULL || b.n_objs == 0)) {
        if (b.zw == NULL) { /* an empty database still gets its stream */
            rv = open_object(&b, errmsg);
        }
        if (rv == 0) {
            rv = close_object(&b, errmsg);
        }
    }
    if (rv != 0) {
        goto err_after_objects;
    }
    m.finished_ms = (uint64_t)rcheck_now_ms();
    rconn_close(&b.rc);

    rv = write_index(&b, &m.key_index, errmsg);
    index_ms = rcheck_now_ms() - (int64_t)m.finished_ms;
    if (rv != 0) {
        goto err_after_objects;
    }
    m.format_version = REDIS_MANIFEST_VERSION;
    m.record_version = RFMT_VERSION;
    m.redis_address = (char *)addr;
    m.redis_version = version;
    m.db = (uint32_t)db;
    m.keys = b.nkeys;
    m.expiring_keys = b.expiring;
    m.n_types = 0;
    for (t = 0; t < RTYPE_COUNT; t++) {
        if (b.types[t] != 0) {
            mt[m.n_types].type = (char *)rtype_name(t);
            mt[m.n_types].keys = b.types[t];
            m.n_types++;
        }
    }
    m.types = mt;
    memcpy(m.digest, b.sum, 32);
    m.data = b.objs;
    m.n_data = b.n_objs;
    m.raw_bytes = b.raw_bytes;
    rv = redis_manifest_encode(&m, &mbuf, &mlen);
    if (rv != 0) {
        snprintf(errmsg, 256, "manifest: out of memory");
        goto err_after_index;
    }
    rv = store_put_buf(b.s, mkey, mbuf, mlen, msha, errmsg);
    free(mbuf);
    if (rv != 0) {
        goto err_after_index;
    }

    *result = json_object();
    json_object_set_new(*result, "manifest_key", json_string(mkey));
    json_object_set_new(*result, "manifest_sha256", json_string(msha));
    for (i = 0; i < b.n_objs; i++) {
        stored += b.objs[i].stored_bytes;
    }
    stored += m.key_index.stored_bytes + mlen;
    json_object_set_new(*result, "stored_bytes",
                        json_integer((json_int_t)stored));
    json_object_set_new(*result, "raw_bytes",
                        json_integer((json_int_t)b.raw_bytes));
    json_object_set_new(*result, "objects",
                        json_integer((json_int_t)b.n_objs + 2));
    json_object_set_new(*result, "keys", json_integer((json_int_t)b.nkeys));
    rfmt_hex(b.sum, 32, digest);
    json_object_set_new(*result, "digest", json_string(digest));
    json_object_set_new(*result, "types", types_json(&b));
    json_object_set_new(*result, "expiring_keys",
                        json_integer((json_int_t)b.expiring));
    json_object_set_new(*result, "vanished_keys",
                        json_integer((json_int_t)b.vanished));
    json_object_set_new(*result, "redis_version", json_string(version));
    json_object_set_new(*result, "db", json_integer((json_int_t)db));
    json_object_set_new(*result, "method", json_string(used_method));
    /* Where the time went: reading the keys, then sorting and writing the
     * key index. */
    json_object_set_new(*result, "phases_ms",
                        json_pack("{s:I,s:I}", "keys",
                                  (json_int_t)(m.finished_ms - m.started_ms),
                                  "index", (json_int_t)index_ms));
    if (fallback[0] != '\0') {
        json_object_set_new(*result, "fallback", json_string(fallback));
    }
    if (strcmp(used_method, "rdb") == 0) { /* one point in time */
        json_object_set_new(*result, "snapshot_time_ms",
                            json_integer((json_int_t)b.sync.snapshot_ms));
        json_object_set_new(*result, "expired_keys",
                            json_integer((json_int_t)b.sync.expired));
        json_object_set_new(*result, "rdb_version",
                            json_integer((json_int_t)b.sync.rdb_version));
        json_object_set_new(*result, "rdb_bytes",
                            json_integer((json_int_t)b.sync.rdb_bytes));
    }
    json_object_set_new(
        *result, "duration_ms",
        json_integer((json_int_t)(rcheck_now_ms() - (int64_t)m.started_ms)));
    free(m.key_index.key);
    rv = 0;
    goto out;

err_after_index:
    free(m.key_index.key);
err_after_objects:
    if (b.zw != NULL) {
        zio_writer_abort(b.zw);
        b.zw = NULL;
    }
    cleanup_objects(&b);
err_after_conn:
    rconn_close(&b.rc);
err_after_store:
out:
    for (i = 0; i < b.n_objs; i++) {
        free(b.objs[i].key);
    }
    free(b.objs);
    store_close(b.s);
err_after_digest:
    rdigest_free(b.dg);
    rkeytab_free(&b.keys);
    return rv;
}
