/* Reading Redis snapshots back: manifest, full object checks, comparison
 * with a live Redis. */
#include "backup/redis_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/redis_sync.h"
#include "common/err.h"
#include "store/zio.h"

int64_t rcheck_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rcheck_load_manifest(struct store *s,
                         const char *key,
                         const char *expect_sha256,
                         struct redis_manifest *m,
                         char *errmsg)
{
    void *buf = NULL;
    size_t len = 0;
    int rv;

    memset(m, 0, sizeof(*m));
    rv = store_get_buf(s, key, expect_sha256, RCHECK_MANIFEST_MAX, &buf, &len,
                       errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = redis_manifest_decode(buf, len, m, errmsg);
    free(buf);
    return rv;
}

/* Per-object state of a check. */
struct objcheck
{
    uint8_t sum[32];
    uint64_t types[RTYPE_COUNT];
    uint64_t expiring;
};

/* A stream that failed to decode is most often a damaged object: say so
 * plainly when its stored SHA-256 differs from the manifest's. */
static int explain(struct store *s,
                   const struct redis_manifest_object *o,
                   int rv,
                   char *errmsg)
{
    char hex[STORE_SHA256_HEX], tmp[256];
    uint64_t size = 0;

    if (rv == 0 || rv == DR_ENOTFOUND || rv == DR_ENOMEM) {
        return rv;
    }
    if (store_sha256(s, o->key, hex, &size, tmp) == 0 &&
        (strcmp(hex, o->stored_sha256) != 0 || size != o->stored_bytes)) {
        snprintf(errmsg, 256,
                 "object %.100s: SHA-256 mismatch (expected %.16s..., got "
                 "%.16s...; %llu bytes, expected %llu)",
                 o->key, o->stored_sha256, hex, (unsigned long long)size,
                 (unsigned long long)o->stored_bytes);
        return DR_ECORRUPT;
    }
    return rv;
}

static int check_data(struct store *s,
                      const struct redis_manifest_object *o,
                      struct rdigest *dg,
                      struct rkeytab *keys,
                      struct objcheck *acc,
                      rcheck_record_fn fn,
                      void *arg,
                      char *errmsg)
{
    struct zio_reader *z = NULL;
    struct rfmt_reader *r = NULL;
    struct rfmt_rec rec;
    struct zio_stats st;
    uint8_t d[32];
    long idx;
    int rv;
    size_t n0 = keys->n; /* keys from before this object */

    rv = zio_reader_open(s, o->key, o->stored_sha256, &z, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = rfmt_reader_new(z, RFMT_DATA, o->key, &r, errmsg);
    if (rv != 0) {
        goto out;
    }
    for (;;) {
        rv = rfmt_next(r, &rec, errmsg);
        if (rv != 0) {
            goto out;
        }
        if (rec.end) {
            break;
        }
        /* No lookups: repeats are found once every key is in (sorted). */
        rv = rkeytab_append(keys, rec.key, rec.klen, &idx);
        if (rv != 0) {
            snprintf(errmsg, 256, "object %.180s: out of memory", o->key);
            goto out;
        }
        rv = rdigest_key(dg, rec.key, rec.klen, rec.payload, rec.plen, d);
        if (rv != 0) {
            snprintf(errmsg, 256, "object %.180s: SHA-256 failed", o->key);
            goto out;
        }
        rdigest_add(acc->sum, d);
        keys->v[idx].type = (uint8_t)rec.type;
        keys->v[idx].expire_at_ms = rec.expire_at_ms;
        memcpy(keys->v[idx].digest, d, RFMT_SHORT_DIGEST);
        acc->types[rec.type]++;
        if (rec.expire_at_ms != 0) {
            acc->expiring++;
        }
        if (fn != NULL && (rv = fn(arg, &rec, errmsg)) != 0) {
            goto out;
        }
    }
    rv = rfmt_finish(r, errmsg);
    if (rv != 0) {
        goto out;
    }
    zio_reader_stats(z, &st);
    if (st.stored_bytes != o->stored_bytes ||
        strcmp(st.stored_sha256, o->stored_sha256) != 0) {
        snprintf(errmsg, 256,
                 "object %.150s: SHA-256 mismatch (expected %.16s..., got "
                 "%.16s...)",
                 o->key, o->stored_sha256, st.stored_sha256);
        rv = DR_ECORRUPT;
        goto out;
    }
    if (st.raw_bytes != o->raw_bytes ||
        strcmp(st.raw_sha256, o->raw_sha256) != 0) {
        snprintf(errmsg, 256,
                 "object %.120s: uncompressed stream differs from the "
                 "manifest (SHA-256 %.16s..., expected %.16s...)",
                 o->key, st.raw_sha256, o->raw_sha256);
        rv = DR_ECORRUPT;
        goto out;
    }
    if (rec.count != o->keys) {
        snprintf(errmsg, 256,
                 "object %.180s: %llu records, the manifest says %llu", o->key,
                 (unsigned long long)rec.count, (unsigned long long)o->keys);
        rv = DR_ECORRUPT;
        goto out;
    }
out:
    if (rv != 0) {
        /* What a damaged object decoded to is not data: its keys must not
         * make a later object's keys look repeated. */
        rkeytab_truncate(keys, n0);
    }
    rfmt_reader_free(r);
    zio_reader_close(z);
    return rv;
}

static int cmp_keys(const uint8_t *a,
                    size_t alen,
                    const uint8_t *b,
                    size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = memcmp(a, b, n);

    if (c != 0) {
        return c;
    }
    return alen < blen ? -1 : alen > blen;
}

/* The index against the keys read from the data (when complete). */
static int check_index(struct store *s,
                       const struct redis_manifest_object *o,
                       const struct rkeytab *keys,
                       int data_ok,
                       char *errmsg)
{
    struct zio_reader *z = NULL;
    struct rfmt_reader *r = NULL;
    struct rfmt_rec rec;
    struct zio_stats st;
    uint8_t *prev = NULL;
    size_t prevlen = 0, prevcap = 0, at = 0;
    int have_prev = 0, rv;
    char name[RFMT_KEY_DISPLAY_MAX];

    rv = zio_reader_open(s, o->key, o->stored_sha256, &z, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = rfmt_reader_new(z, RFMT_INDEX, o->key, &r, errmsg);
    if (rv != 0) {
        goto out;
    }
    for (;;) {
        rv = rfmt_next(r, &rec, errmsg);
        if (rv != 0) {
            goto out;
        }
        if (rec.end) {
            break;
        }
        if (have_prev && cmp_keys(prev, prevlen, rec.key, rec.klen) >= 0) {
            snprintf(errmsg, 256, "object %.180s: keys out of order", o->key);
            rv = DR_EMALFORMED;
            goto out;
        }
        if (rec.klen > prevcap || prev == NULL) { /* grown, not per key */
            uint8_t *np = realloc(prev, rec.klen > 64 ? rec.klen : 64);
            if (np == NULL) {
                rv = DR_ENOMEM;
                snprintf(errmsg, 256, "object %.180s: out of memory", o->key);
                goto out;
            }
            prev = np;
            prevcap = rec.klen > 64 ? rec.klen : 64;
        }
        memcpy(prev, rec.key, rec.klen);
        prevlen = rec.klen;
        have_prev = 1;
        if (data_ok) { /* both sorted: walk the data's keys alongside */
            size_t i = at++;
            if (i >= keys->n ||
                cmp_keys(keys->v[i].key, keys->v[i].klen, rec.key, rec.klen) !=
                    0 ||
                keys->v[i].type != rec.type ||
                keys->v[i].expire_at_ms != rec.expire_at_ms ||
                memcmp(keys->v[i].digest, rec.digest, RFMT_SHORT_DIGEST) != 0) {
                rfmt_key_display(rec.key, rec.klen, name);
                snprintf(errmsg, 256,
                         "object %.100s: key %.100s does not match the data",
                         o->key, name);
                rv = DR_ECORRUPT;
                goto out;
            }
        }
    }
    rv = rfmt_finish(r, errmsg);
    if (rv != 0) {
        goto out;
    }
    zio_reader_stats(z, &st);
    if (st.stored_bytes != o->stored_bytes ||
        strcmp(st.stored_sha256, o->stored_sha256) != 0 ||
        st.raw_bytes != o->raw_bytes ||
        strcmp(st.raw_sha256, o->raw_sha256) != 0) {
        snprintf(errmsg, 256, "object %.180s: SHA-256 mismatch", o->key);
        rv = DR_ECORRUPT;
        goto out;
    }
    if (rec.count != o->keys || (data_ok && rec.count != keys->n)) {
        snprintf(errmsg, 256, "object %.180s: %llu keys, expected %llu", o->key,
                 (unsigned long long)rec.count, (unsigned long long)o->keys);
        rv = DR_ECORRUPT;
        goto out;
    }
out:
    free(prev);
    rfmt_reader_free(r);
    zio_reader_close(z);
    return rv;
}

static void report(json_t *objects, const char *key, int rv, const char *errmsg)
{
    json_t *o;

    if (objects == NULL) {
        return;
    }
    o = json_object();
    json_object_set_new(o, "key", json_string(key));
    json_object_set_new(o, "ok", json_boolean(rv == 0));
    if (rv != 0) {
        json_object_set_new(o, "error", json_string(errmsg));
        json_object_set_new(o, "code", json_string(dr_errcode_name(rv)));
    }
    json_array_append_new(objects, o);
}

int rcheck_objects(struct store *s,
                   const struct redis_manifest *m,
                   struct rkeytab *keys,
                   json_t *objects,
                   char *errmsg)
{
    return rcheck_objects_each(s, m, keys, objects, NULL, NULL, errmsg);
}

int rcheck_objects_each(struct store *s,
                        const struct redis_manifest *m,
                        struct rkeytab *keys,
                        json_t *objects,
                        rcheck_record_fn fn,
                        void *arg,
                        char *errmsg)
{
    struct rdigest *dg;
    struct objcheck acc;
    char msg[256];
    int first = 0, rv, data_ok = 1;
    size_t i, j;

    dg = rdigest_new();
    if (dg == NULL) {
        snprintf(errmsg, 256, "out of memory");
        return DR_ENOMEM;
    }
    memset(&acc, 0, sizeof(acc));
    for (i = 0; i < m->n_data; i++) {
        msg[0] = '\0';
        rv = check_data(s, &m->data[i], dg, keys, &acc, fn, arg, msg);
        rv = explain(s, &m->data[i], rv, msg);
        report(objects, m->data[i].key, rv, msg);
        if (rv != 0) {
            data_ok = 0;
            if (first == 0) {
                first = rv;
                memcpy(errmsg, msg, 256);
            }
            if (objects == NULL) {
                goto out;
            }
        }
    }
    if (data_ok) {
        long dup = rkeytab_sort(keys); /* the index check walks it */
        if (dup >= 0) {
            char name[RFMT_KEY_DISPLAY_MAX];
            rfmt_key_display(keys->v[dup].key, keys->v[dup].klen, name);
            snprintf(errmsg, 256, "key %.100s appears twice in the data", name);
            first = DR_EMALFORMED;
            data_ok = 0;
            if (objects == NULL) {
                goto out;
            }
        }
    }
    if (data_ok) {
        /* Every object checked out one by one; now the whole. */
        if (memcmp(acc.sum, m->digest, 32) != 0 || keys->n != m->keys ||
            acc.expiring != m->expiring_keys) {
            snprintf(errmsg, 256,
                     "snapshot digest or key count differs from the manifest "
                     "(%zu keys, manifest %llu)",
                     keys->n, (unsigned long long)m->keys);
            first = DR_ECORRUPT;
            data_ok = 0;
            if (objects == NULL) {
                goto out;
            }
        }
        for (j = 0; data_ok && j < m->n_types; j++) {
            int t;
            for (t = 0; t < RTYPE_COUNT; t++) {
                if (strcmp(rtype_name(t), m->types[j].type) == 0) {
                    break;
                }
            }
            if (t == RTYPE_COUNT || acc.types[t] != m->types[j].keys) {
                snprintf(
                    errmsg, 256,
                    "type %.50s: %llu keys in the data, manifest %llu",
                    m->types[j].type,
                    (unsigned long long)(t < RTYPE_COUNT ? acc.types[t] : 0),
                    (unsigned long long)m->types[j].keys);
                first = DR_ECORRUPT;
                data_ok = 0;
                if (objects == NULL) {
                    goto out;
                }
            }
        }
    }
    msg[0] = '\0';
    rv = check_index(s, &m->key_index, keys, data_ok, msg);
    rv = explain(s, &m->key_index, rv, msg);
    report(objects, m->key_index.key, rv, msg);
    if (rv != 0 && first == 0) {
        first = rv;
        memcpy(errmsg, msg, 256);
    }
out:
    rdigest_free(dg);
    return first;
}

void rcheck_diff_init(struct rcheck_diff *d)
{
    memset(d, 0, sizeof(*d));
    d->mismatched_keys = json_array();
    d->missing_keys = json_array();
    d->extra_keys = json_array();
}

void rcheck_diff_free(struct rcheck_diff *d)
{
    json_decref(d->mismatched_keys);
    json_decref(d->missing_keys);
    json_decref(d->extra_keys);
    memset(d, 0, sizeof(*d));
}

void rcheck_diff_report(const struct rcheck_diff *d, json_t *o)
{
    json_object_set_new(o, "server_keys", json_integer((json_int_t)d->keys));
    json_object_set_new(o, "matched", json_integer((json_int_t)d->matched));
    json_object_set_new(o, "mismatched",
                        json_integer((json_int_t)d->mismatched));
    json_object_set_new(o, "missing", json_integer((json_int_t)d->missing));
    json_object_set_new(o, "expired", json_integer((json_int_t)d->expired));
    json_object_set_new(o, "extra", json_integer((json_int_t)d->extra));
    json_object_set(o, "mismatched_keys", d->mismatched_keys);
    json_object_set(o, "missing_keys", d->missing_keys);
    json_object_set(o, "extra_keys", d->extra_keys);
    if (d->method != NULL) {
        json_object_set_new(o, "method", json_string(d->method));
    }
    if (d->fallback[0] != '\0') {
        json_object_set_new(o, "fallback", json_string(d->fallback));
    }
}

static void list_key(json_t *a, const uint8_t *key, size_t klen)
{
    char name[RFMT_KEY_DISPLAY_MAX];

    if (json_array_size(a) < RCHECK_LIST_MAX) {
        rfmt_key_display(key, klen, name);
        json_array_append_new(a, json_string(name));
    }
}

/* DUMP the queued keys (entries of keys) and compare digests. */
static int dump_batch(struct rconn *rc,
                      struct rkeytab *keys,
                      const long *queue,
                      size_t nq,
                      struct rdigest *dg,
                      struct rcheck_diff *d,
                      char *errmsg)
{
    const char *argv[2];
    size_t lens[2], i;
    redisReply *r;
    uint8_t dig[32];
    int rv = 0;

    argv[0] = "DUMP";
    lens[0] = 4;
    for (i = 0; i < nq; i++) {
        argv[1] = (const char *)keys->v[queue[i]].key;
        lens[1] = keys->v[queue[i]].klen;
        rv = rconn_append(rc, 2, argv, lens, "DUMP", errmsg);
        if (rv != 0) {
            return rv;
        }
    }
    for (i = 0; i < nq; i++) {
        struct rkey *e = &keys->v[queue[i]];
        rv = rconn_reply(rc, &r, "DUMP", errmsg);
        if (rv != 0) {
            return rv;
        }
        if (r->type == REDIS_REPLY_NIL) {
            e->flags &= (uint8_t)~RKEY_SEEN; /* gone since SCAN */
        } else if (r->type == REDIS_REPLY_STRING) {
            d->keys++;
            if (rdigest_key(dg, e->key, e->klen, (const uint8_t *)r->str,
                            r->len, dig) != 0) {
                freeReplyObject(r);
                snprintf(errmsg, 256, "SHA-256 failed");
                return DR_ENOMEM;
            }
            if (memcmp(dig, e->digest, RFMT_SHORT_DIGEST) == 0) {
                d->matched++;
            } else {
                d->mismatched++;
                list_key(d->mismatched_keys, e->key, e->klen);
            }
        } else {
            rv = rconn_reply_error(rc, r, "DUMP", errmsg);
            freeReplyObject(r);
            return rv;
        }
        freeReplyObject(r);
    }
    return 0;
}

/* Snapshot keys not seen on the server: expired by now_ms, or missing. */
static void tally_unseen(struct rkeytab *keys,
                         int64_t now_ms,
                         struct rcheck_diff *d)
{
    for (size_t i = 0; i < keys->n; i++) {
        struct rkey *e = &keys->v[i];
        if (e->flags & (RKEY_SEEN | RKEY_EXTRA)) {
            continue;
        }
        if (e->expire_at_ms != 0 && e->expire_at_ms <= now_ms) {
            d->expired++;
        } else {
            d->missing++;
            list_key(d->missing_keys, e->key, e->klen);
        }
    }
}

/* The server's keys through SYNC are collected with their digests, sorted
 * and walked alongside the snapshot's (sorted too): no lookup per key. */
struct rdb_cmp
{
    struct rkeytab srv;
    struct rdigest *dg;
};

static int rdb_cmp_key(void *arg,
                       const uint8_t *key,
                       size_t klen,
                       const uint8_t *payload,
                       size_t plen,
                       int64_t expire_at_ms,
                       char *errmsg)
{
    struct rdb_cmp *c = arg;
    uint8_t dig[32];
    long idx;

    (void)expire_at_ms;
    if (rdigest_key(c->dg, key, klen, payload, plen, dig) != 0) {
        snprintf(errmsg, 256, "SHA-256 failed");
        return DR_ENOMEM;
    }
    if (rkeytab_append(&c->srv, key, klen, &idx) != 0) {
        snprintf(errmsg, 256, "out of memory");
        return DR_ENOMEM;
    }
    memcpy(c->srv.v[idx].digest, dig, RFMT_SHORT_DIGEST);
    return 0;
}

static int merge_compare(struct rkeytab *keys,
                         struct rkeytab *srv,
                         struct rcheck_diff *d,
                         char *errmsg)
{
    size_t i = 0, j = 0;

    if (rkeytab_sort(srv) >= 0) {
        snprintf(errmsg, 256, "the server's snapshot holds a key twice");
        return DR_ECORRUPT;
    }
    rkeytab_sort(keys);
    d->keys += srv->n;
    while (j < srv->n) {
        const struct rkey *s = &srv->v[j];
        int c = i < keys->n
                    ? cmp_keys(keys->v[i].key, keys->v[i].klen, s->key, s->klen)
                    : 1;
        if (c < 0) { /* only in the snapshot: tally_unseen decides */
            i++;
            continue;
        }
        if (c > 0) {
            d->extra++;
            list_key(d->extra_keys, s->key, s->klen);
        } else {
            keys->v[i].flags |= RKEY_SEEN;
            if (memcmp(s->digest, keys->v[i].digest, RFMT_SHORT_DIGEST) == 0) {
                d->matched++;
            } else {
                d->mismatched++;
                list_key(d->mismatched_keys, s->key, s->klen);
            }
            i++;
        }
        j++;
    }
    return 0;
}

static int compare_scan(struct rconn *rc,
                        struct rkeytab *keys,
                        int64_t now_ms,
                        unsigned batch,
                        struct rcheck_diff *d,
                        char *errmsg);

int rcheck_compare(struct rconn *rc,
                   struct rkeytab *keys,
                   int64_t now_ms,
                   unsigned batch,
                   const char *method,
                   uint32_t db,
                   struct rcheck_diff *d,
                   char *errmsg)
{
    struct rdb_cmp c;
    struct rsync_stats st;
    int refused = 0, rv;

    if (strcmp(method, "scan") == 0) {
        d->method = "scan";
        return compare_scan(rc, keys, now_ms, batch, d, errmsg);
    }
    rkeytab_init(&c.srv);
    c.dg = rdigest_new();
    if (c.dg == NULL) {
        snprintf(errmsg, 256, "out of memory");
        return DR_ENOMEM;
    }
    d->method = "rdb";
    rv = rsync_snapshot(rc, db, rdb_cmp_key, &c, &st, &refused, errmsg);
    rdigest_free(c.dg);
    if (rv != 0 && (refused || rv == DR_EVERSION) &&
        strcmp(method, "auto") == 0) {
        /* Nothing was compared yet (that happens after the stream). */
        rkeytab_free(&c.srv);
        snprintf(d->fallback, sizeof(d->fallback), "%s", errmsg);
        d->method = "scan";
        rv = refused ? 0 : rconn_reopen(rc, errmsg);
        return rv != 0 ? rv : compare_scan(rc, keys, now_ms, batch, d, errmsg);
    }
    if (rv == 0) {
        rv = merge_compare(keys, &c.srv, d, errmsg);
    }
    if (rv == 0) {
        tally_unseen(keys, st.snapshot_ms > now_ms ? st.snapshot_ms : now_ms,
                     d);
    }
    rkeytab_free(&c.srv);
    return rv;
}

static int compare_scan(struct rconn *rc,
                        struct rkeytab *keys,
                        int64_t now_ms,
                        unsigned batch,
                        struct rcheck_diff *d,
                        char *errmsg)
{
    char cursor[32] = "0", count[16];
    const char *argv[4];
    size_t lens[4], i, nq;
    redisReply *r = NULL;
    struct rdigest *dg;
    long *queue;
    size_t qcap = (size_t)batch + 16;
    int rv = 0;

    dg = rdigest_new();
    queue = malloc(sizeof(*queue) * qcap);
    if (dg == NULL || queue == NULL || rkeytab_reindex(keys) != 0) {
        rdigest_free(dg);
        free(queue);
        snprintf(errmsg, 256, "out of memory");
        return DR_ENOMEM;
    }
    snprintf(count, sizeof(count), "%u", batch);
    do {
        argv[0] = "SCAN";
        lens[0] = 4;
        argv[1] = cursor;
        lens[1] = strlen(cursor);
        argv[2] = "COUNT";
        lens[2] = 5;
        argv[3] = count;
        lens[3] = strlen(count);
        rv = rconn_command(rc, &r, "SCAN", errmsg, 4, argv, lens);
        if (rv != 0) {
            goto out;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[0]->len >= sizeof(cursor) ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            rv = rconn_reply_error(rc, r, "SCAN", errmsg);
            goto out;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len);
        cursor[r->element[0]->len] = '\0';
        nq = 0;
        if (r->element[1]->elements > qcap) {
            long *nqueue =
                realloc(queue, sizeof(*queue) * r->element[1]->elements);
            if (nqueue == NULL) {
                rv = DR_ENOMEM;
                snprintf(errmsg, 256, "out of memory");
                goto out;
            }
            queue = nqueue;
            qcap = r->element[1]->elements;
        }
        for (i = 0; i < r->element[1]->elements; i++) {
            const redisReply *k = r->element[1]->element[i];
            long idx;
            int added;
            if (k->type != REDIS_REPLY_STRING) {
                continue;
            }
            idx = rkeytab_find(keys, (const uint8_t *)k->str, k->len);
            if (idx < 0) {
                rv = rkeytab_add(keys, (const uint8_t *)k->str, k->len, &idx,
                                 &added);
                if (rv != 0) {
                    snprintf(errmsg, 256, "out of memory");
                    goto out;
                }
                keys->v[idx].flags = RKEY_EXTRA;
                d->extra++;
                d->keys++;
                list_key(d->extra_keys, (const uint8_t *)k->str, k->len);
                continue;
            }
            if (keys->v[idx].flags & (RKEY_SEEN | RKEY_EXTRA)) {
                continue; /* SCAN may return a key twice */
            }
            keys->v[idx].flags |= RKEY_SEEN;
            queue[nq++] = idx;
        }
        freeReplyObject(r);
        r = NULL;
        rv = dump_batch(rc, keys, queue, nq, dg, d, errmsg);
        if (rv != 0) {
            goto out;
        }
    } while (strcmp(cursor, "0") != 0);

    /* Keys that expired while we scanned count as expired too. */
    if (rcheck_now_ms() > now_ms) {
        now_ms = rcheck_now_ms();
    }
    tally_unseen(keys, now_ms, d);
out:
    if (r != NULL) {
        freeReplyObject(r);
    }
    free(queue);
    rdigest_free(dg);
    return rv;
}

int rcheck_spec_method(const json_t *spec, const char **method, char *errmsg)
{
    const json_t *m = json_object_get(spec, "method");

    *method = m == NULL ? "auto" : json_string_value(m);
    if (*method == NULL ||
        (strcmp(*method, "auto") != 0 && strcmp(*method, "rdb") != 0 &&
         strcmp(*method, "scan") != 0)) {
        snprintf(errmsg, 256, "\"method\" must be auto, rdb or scan");
        return DR_EINVAL;
    }
    return 0;
}
