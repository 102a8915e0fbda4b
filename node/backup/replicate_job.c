/* The replicate op: one backup's objects from a source region's store into
 * this region's, streamed (never a whole object in memory or on disk),
 * each object's SHA-256 checked against the manifest before it is
 * committed, the manifest written last. A copy without its manifest is not
 * a copy: restores and verifications start from the manifest.
 *
 *   replicate {"backup_id", "kind": "pg_logical"|"redis_snapshot"|"pg_base",
 *              "manifest_key", "manifest_sha256", "prefix",
 *              "store": DESTINATION, "credentials_file"?,
 *              "sources": [{"region", "store"}, ...] (tried in order),
 *              "parallel"?: N, "bandwidth_bps"?: N (0: no limit),
 *              "sweep"?: bool (default true)}
 *          -> {"bytes", "objects", "source_region", "copy_ms",
 *              "direct" (objects copied without passing through this
 *              process: S3 CopyObject, copy_file_range between file stores),
 *              "removed", "skipped_sources": [{"region", "error"}]}
 *
 * A source whose store cannot be reached, refuses the credentials, lacks
 * the manifest or holds a different one is passed over for the next (and
 * named in skipped_sources); an object that differs from the manifest in
 * the chosen source fails the job, with nothing committed under its key.
 * Between two s3:// stores of one service each object is copied by the
 * service itself (CopyObject, UploadPartCopy beyond 5 GiB), between two
 * file stores by the kernel (copy_file_range), and the copy's SHA-256
 * checked against the manifest (store_copy); not with a bandwidth limit.
 * With sweep, objects under the prefix that the manifest does not name (a
 * killed attempt's leftovers) are removed before the manifest is written;
 * a first attempt has nothing to sweep and skips the listing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/job.h"
#include "codec/pg_base_manifest.h"
#include "codec/pg_manifest.h"
#include "codec/redis_manifest.h"
#include "common/err.h"
#include "store/store.h"

#define REPL_MANIFEST_MAX (256u << 20)
#define REPL_BUF (1u << 20)
#define REPL_SLOTS 4
#define REPL_THREADS_MAX 16

struct repl_obj
{
    const char *key;
    uint64_t bytes;
    const char *sha256;
};

struct repl
{
    const char *src_url, *dst_url, *credentials;
    struct repl_obj *objs;
    size_t n_objs;
    uint64_t bps; /* 0: no limit */
    uint64_t t0_ms;
    pthread_mutex_t mu;
    size_t next; /* next object to take */
    uint64_t bytes;
    size_t direct; /* objects copied without passing through here */
    int rv;        /* first failure */
    char err[256];
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Count n bytes against the bandwidth limit: sleep until the copy is no
 * faster than it. */
static void throttle(struct repl *r, size_t n)
{
    uint64_t due, now;

    pthread_mutex_lock(&r->mu);
    r->bytes += n;
    due = r->bps != 0 ? r->t0_ms + r->bytes * 1000 / r->bps : 0;
    pthread_mutex_unlock(&r->mu);
    now = mono_ms();
    if (due > now) {
        uint64_t ms = due - now;
        struct timespec ts = {(time_t)(ms / 1000),
                              (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void fail_once(struct repl *r, int rv, const char *err)
{
    pthread_mutex_lock(&r->mu);
    if (r->rv == 0) {
        r->rv = rv;
        snprintf(r->err, sizeof(r->err), "%s", err);
    }
    pthread_mutex_unlock(&r->mu);
}

/* One object's bytes in flight between the thread that reads (and
 * hashes) them and the thread that writes them: a ring of REPL_SLOTS
 * buffers, so the hashing of one buffer overlaps the writing of the one
 * before. */
struct ring
{
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf[REPL_SLOTS];
    size_t len[REPL_SLOTS];
    size_t head, tail; /* filled: tail..head-1 (mod REPL_SLOTS) */
    bool eof;          /* the reader is done: no more buffers */
    bool stop;         /* the writer failed: the reader stops */
    struct repl *r;
    struct store_writer *w;
    int rv;
    char err[256];
};

static void *ring_writer(void *arg)
{
    struct ring *q = arg;

    for (;;) {
        size_t slot, n;
        pthread_mutex_lock(&q->mu);
        while (q->tail == q->head && !q->eof) {
            pthread_cond_wait(&q->cv, &q->mu);
        }
        if (q->tail == q->head) {
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        slot = q->tail % REPL_SLOTS;
        n = q->len[slot];
        pthread_mutex_unlock(&q->mu);
        q->rv = store_write(q->w, q->buf[slot], n, q->err);
        throttle(q->r, n);
        pthread_mutex_lock(&q->mu);
        q->tail++;
        q->stop = q->rv != 0;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        if (q->rv != 0) {
            return NULL;
        }
    }
}

/* Read (and so hash) the object into the ring; the writer thread drains
 * it. Returns the reader's verdict; the ring's rv holds the writer's. */
static int ring_fill(struct ring *q,
                     struct store_reader *rd,
                     const struct repl_obj *o,
                     char *errmsg)
{
    uint64_t total = 0;
    int rv = 0;

    for (;;) {
        size_t slot, n;
        pthread_mutex_lock(&q->mu);
        while (q->head - q->tail == REPL_SLOTS && !q->stop) {
            pthread_cond_wait(&q->cv, &q->mu);
        }
        slot = q->head % REPL_SLOTS;
        pthread_mutex_unlock(&q->mu);
        if (q->stop) {
            break;
        }
        rv = store_read(rd, q->buf[slot], REPL_BUF, &n, errmsg);
        if (rv != 0 || n == 0) {
            break;
        }
        total += n;
        if (total > o->bytes) {
            snprintf(errmsg, 256,
                     "object %.120s in the source is larger than the "
                     "manifest's %llu bytes",
                     o->key, (unsigned long long)o->bytes);
            rv = DR_ECORRUPT;
            break;
        }
        pthread_mutex_lock(&q->mu);
        q->len[slot] = n;
        q->head++;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
    if (rv == 0 && !q->stop && total != o->bytes) {
        snprintf(errmsg, 256,
                 "object %.120s in the source has %llu bytes, the manifest "
                 "says %llu",
                 o->key, (unsigned long long)total,
                 (unsigned long long)o->bytes);
        rv = DR_ECORRUPT;
    }
    pthread_mutex_lock(&q->mu);
    q->eof = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return rv;
}

/* Copy one object; the writer is committed only once the reader has seen
 * the whole object with the manifest's SHA-256 (the read that returns the
 * end checks it) and the writer has written all of it. */
static int copy_object(struct repl *r,
                       struct store *src,
                       struct store *dst,
                       const struct repl_obj *o,
                       char **bufs,
                       char *errmsg)
{
    struct store_reader *rd = NULL;
    struct ring q;
    pthread_t th;
    int rv;

    if (r->bps == 0 && store_can_copy(dst, src)) {
        /* Inside the object service (S3 CopyObject), or by the kernel
         * between two file stores: no byte passes through here, and the
         * copy's SHA-256 is checked against the manifest. A bandwidth
         * limit needs the bytes to pass here, throttled. */
        rv = store_copy(dst, src, o->key, o->sha256, o->bytes, errmsg);
        if (rv == 0) {
            pthread_mutex_lock(&r->mu);
            r->direct++;
            pthread_mutex_unlock(&r->mu);
            throttle(r, o->bytes);
        }
        return rv;
    }
    rv = store_get_begin(src, o->key, o->sha256, &rd, errmsg);
    if (rv != 0) {
        return rv;
    }
    memset(&q, 0, sizeof(q));
    memcpy(q.buf, bufs, sizeof(q.buf));
    q.r = r;
    /* The reader checks the manifest's SHA-256 at the end of the object,
     * before the commit: the writer need not hash the same bytes again. */
    rv = store_put_begin_known(dst, o->key, o->sha256, o->bytes, &q.w, errmsg);
    if (rv != 0) {
        store_get_end(rd);
        return rv;
    }
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.cv, NULL);
    if (pthread_create(&th, NULL, ring_writer, &q) != 0) {
        snprintf(errmsg, 256, "object %.120s: cannot start a writer thread",
                 o->key);
        rv = DR_ENOMEM;
    } else {
        rv = ring_fill(&q, rd, o, errmsg);
        pthread_join(th, NULL);
        if (rv == 0 && q.rv != 0) {
            rv = q.rv;
            memcpy(errmsg, q.err, sizeof(q.err));
        }
    }
    pthread_cond_destroy(&q.cv);
    pthread_mutex_destroy(&q.mu);
    store_get_end(rd);
    if (rv != 0) {
        store_put_abort(q.w);
        return rv;
    }
    return store_put_commit(q.w, NULL, NULL, errmsg);
}

static void *copier(void *arg)
{
    struct repl *r = arg;
    struct store *src = NULL, *dst = NULL;
    char err[256];
    char *bufs[REPL_SLOTS] = {NULL};
    int rv = 0;

    for (size_t i = 0; i < REPL_SLOTS && rv == 0; i++) {
        bufs[i] = malloc(REPL_BUF);
        if (bufs[i] == NULL) {
            snprintf(err, sizeof(err), "out of memory");
            rv = DR_ENOMEM;
        }
    }
    if (rv == 0) {
        rv = job_open_url(r->src_url, r->credentials, &src, err);
    }
    if (rv == 0) {
        rv = job_open_url(r->dst_url, r->credentials, &dst, err);
    }
    while (rv == 0) {
        const struct repl_obj *o;
        pthread_mutex_lock(&r->mu);
        o = r->rv == 0 && r->next < r->n_objs ? &r->objs[r->next++] : NULL;
        pthread_mutex_unlock(&r->mu);
        if (o == NULL) {
            break;
        }
        rv = copy_object(r, src, dst, o, bufs, err);
    }
    if (rv != 0) {
        fail_once(r, rv, err);
    }
    if (src != NULL) {
        store_close(src);
    }
    if (dst != NULL) {
        store_close(dst);
    }
    for (size_t i = 0; i < REPL_SLOTS; i++) {
        free(bufs[i]);
    }
    return NULL;
}

enum { MK_PG, MK_REDIS, MK_BASE };

/* The objects a manifest names (borrowing from the decoded manifest). */
struct manifest
{
    int kind; /* MK_* */
    struct pgman *pg_m;
    struct redis_manifest redis_m;
    struct pg_base_manifest base_m;
    struct repl_obj *objs;
    size_t n;
};

static void manifest_free(struct manifest *m)
{
    if (m->kind == MK_PG) {
        pgman_free(m->pg_m);
    } else if (m->kind == MK_BASE) {
        pg_base_manifest_free(&m->base_m);
    } else {
        redis_manifest_free(&m->redis_m);
    }
    free(m->objs);
    memset(m, 0, sizeof(*m));
}

static void add_obj(struct manifest *m,
                    const char *key,
                    uint64_t bytes,
                    const char *sha)
{
    m->objs[m->n].key = key;
    m->objs[m->n].bytes = bytes;
    m->objs[m->n].sha256 = sha;
    m->n++;
}

static int manifest_decode(int kind,
                           const void *buf,
                           size_t len,
                           struct manifest *m,
                           char *errmsg)
{
    size_t total;
    int rv;

    memset(m, 0, sizeof(*m));
    m->kind = kind;
    if (kind == MK_BASE) {
        rv = pg_base_manifest_decode(buf, len, &m->base_m, errmsg);
        if (rv != 0) {
            return rv;
        }
        total = m->base_m.n_parts;
    } else if (kind == MK_PG) {
        rv = pgman_decode(buf, len, &m->pg_m, errmsg);
        if (rv != 0) {
            return rv;
        }
        total = 2;
        for (size_t i = 0; i < m->pg_m->n_tables; i++) {
            total += m->pg_m->tables[i].n_chunks;
        }
    } else {
        rv = redis_manifest_decode(buf, len, &m->redis_m, errmsg);
        if (rv != 0) {
            return rv;
        }
        total = m->redis_m.n_data + 1;
    }
    m->objs = calloc(total, sizeof(*m->objs));
    if (m->objs == NULL) {
        snprintf(errmsg, 256, "out of memory");
        return DR_ENOMEM;
    }
    if (kind == MK_BASE) {
        for (size_t i = 0; i < m->base_m.n_parts; i++) {
            const struct pg_base_object *o = &m->base_m.parts[i];
            add_obj(m, o->key, o->stored_bytes, o->stored_sha256);
        }
    } else if (kind == MK_PG) {
        const struct pgman *p = m->pg_m;
        add_obj(m, p->pre_data.key, p->pre_data.stored_bytes,
                p->pre_data.stored_sha256);
        add_obj(m, p->post_data.key, p->post_data.stored_bytes,
                p->post_data.stored_sha256);
        for (size_t i = 0; i < p->n_tables; i++) {
            for (size_t c = 0; c < p->tables[i].n_chunks; c++) {
                const struct pgman_object *o = &p->tables[i].chunks[c].object;
                add_obj(m, o->key, o->stored_bytes, o->stored_sha256);
            }
        }
    } else {
        const struct redis_manifest *r = &m->redis_m;
        for (size_t i = 0; i < r->n_data; i++) {
            add_obj(m, r->data[i].key, r->data[i].stored_bytes,
                    r->data[i].stored_sha256);
        }
        add_obj(m, r->key_index.key, r->key_index.stored_bytes,
                r->key_index.stored_sha256);
    }
    return 0;
}

/* Codes that say the source as a whole is unusable: try another. */
static bool source_level(int rv)
{
    return rv == DR_EAUTH || rv == DR_EUNAVAILABLE || rv == DR_ETIMEOUT ||
           rv == DR_ENOTFOUND || rv == DR_ECORRUPT || rv == DR_EMALFORMED;
}

struct sweep
{
    struct store *dst;
    const struct manifest *m;
    const char *manifest_key;
    json_int_t *removed;
};

static int sweep_one(const struct store_object *obj, void *arg, char *errmsg)
{
    struct sweep *w = arg;
    bool named = strcmp(obj->key, w->manifest_key) == 0;
    int rv;

    for (size_t k = 0; k < w->m->n && !named; k++) {
        named = strcmp(obj->key, w->m->objs[k].key) == 0;
    }
    if (named) {
        return 0;
    }
    rv = store_delete(w->dst, obj->key, errmsg);
    *w->removed += rv == 0;
    return rv;
}

/* Remove what the manifest does not name under prefix/ in the
 * destination: a killed attempt's leftovers. */
static int sweep(struct store *dst,
                 const char *prefix,
                 const struct manifest *m,
                 const char *manifest_key,
                 json_int_t *removed,
                 char *errmsg)
{
    struct sweep w = {dst, m, manifest_key, removed};
    char dir[STORE_KEY_MAX + 2];

    snprintf(dir, sizeof(dir), "%s/", prefix);
    return store_list_each(dst, dir, sweep_one, &w, errmsg);
}

int replicatejob_run(const json_t *spec, json_t **result, char *errmsg)
{
    const char *id, *kind, *mkey, *msha, *prefix, *dst_url, *creds;
    const json_t *sources, *src;
    json_t *skipped = json_array();
    struct manifest m;
    struct repl r;
    struct store *s = NULL, *dst = NULL;
    pthread_t th[REPL_THREADS_MAX];
    uint64_t parallel, bps, t0 = mono_ms();
    void *buf = NULL;
    size_t len = 0, i, n_threads = 0;
    const char *src_region = NULL, *src_url = NULL;
    char err[256], sha[STORE_SHA256_HEX];
    json_int_t removed = 0;
    int rv, mk;

    *result = NULL;
    memset(&m, 0, sizeof(m));
    if ((rv = job_spec_string(spec, "backup_id", true, &id, errmsg)) != 0 ||
        (rv = job_spec_string(spec, "kind", true, &kind, errmsg)) != 0 ||
        (rv = job_spec_string(spec, "manifest_key", true, &mkey, errmsg)) !=
            0 ||
        (rv = job_spec_string(spec, "manifest_sha256", true, &msha, errmsg)) !=
            0 ||
        (rv = job_spec_string(spec, "prefix", true, &prefix, errmsg)) != 0 ||
        (rv = job_spec_string(spec, "store", true, &dst_url, errmsg)) != 0 ||
        (rv = job_spec_string(spec, "credentials_file", false, &creds,
                              errmsg)) != 0 ||
        (rv = job_spec_uint(spec, "parallel", 4, 1, REPL_THREADS_MAX, &parallel,
                            errmsg)) != 0 ||
        (rv = job_spec_uint(spec, "bandwidth_bps", 0, 0, UINT64_MAX / 1000,
                            &bps, errmsg)) != 0) {
        json_decref(skipped);
        return rv;
    }
    mk = strcmp(kind, "pg_logical") == 0       ? MK_PG
         : strcmp(kind, "redis_snapshot") == 0 ? MK_REDIS
         : strcmp(kind, "pg_base") == 0        ? MK_BASE
                                               : -1;
    if (mk < 0) {
        snprintf(errmsg, 256,
                 "\"kind\" must be pg_logical, redis_snapshot or pg_base");
        json_decref(skipped);
        return DR_EINVAL;
    }
    sources = json_object_get(spec, "sources");
    if (!json_is_array(sources) || json_array_size(sources) == 0) {
        snprintf(errmsg, 256, "\"sources\" must be a non-empty array");
        json_decref(skipped);
        return DR_EINVAL;
    }
    json_array_foreach(sources, i, src)
    {
        if (!json_is_string(json_object_get(src, "region")) ||
            !json_is_string(json_object_get(src, "store"))) {
            snprintf(errmsg, 256,
                     "sources[%zu]: want {\"region\": string, \"store\": "
                     "string}",
                     i);
            json_decref(skipped);
            return DR_EINVAL;
        }
    }
    /* The first source that serves the manifest the catalog names. */
    rv = DR_EUNAVAILABLE;
    json_array_foreach(sources, i, src)
    {
        const char *region = json_string_value(json_object_get(src, "region"));
        const char *url = json_string_value(json_object_get(src, "store"));
        rv = job_open_url(url, creds, &s, err);
        if (rv == 0) {
            rv = store_get_buf(s, mkey, msha, REPL_MANIFEST_MAX, &buf, &len,
                               err);
            store_close(s);
            s = NULL;
        }
        if (rv == 0) {
            rv = manifest_decode(mk, buf, len, &m, err);
            if (rv != 0) {
                manifest_free(&m);
                free(buf);
                buf = NULL;
            }
        }
        if (rv == 0) {
            src_region = region;
            src_url = url;
            break;
        }
        json_array_append_new(
            skipped, json_pack("{ss ss}", "region", region, "error", err));
        if (!source_level(rv)) {
            break;
        }
    }
    if (src_url == NULL) {
        snprintf(errmsg, 256,
                 "no source could serve the manifest of %.60s: %.120s", id,
                 err);
        json_decref(skipped);
        return rv != 0 ? rv : DR_EUNAVAILABLE;
    }
    /* The objects, in parallel; each thread has its own store handles. */
    memset(&r, 0, sizeof(r));
    r.src_url = src_url;
    r.dst_url = dst_url;
    r.credentials = creds;
    r.objs = m.objs;
    r.n_objs = m.n;
    r.bps = bps;
    r.t0_ms = mono_ms();
    pthread_mutex_init(&r.mu, NULL);
    if (parallel > m.n) {
        parallel = m.n > 0 ? m.n : 1;
    }
    for (i = 0; i < parallel; i++) {
        if (pthread_create(&th[n_threads], NULL, copier, &r) != 0) {
            fail_once(&r, DR_ENOMEM, "cannot start a copy thread");
            break;
        }
        n_threads++;
    }
    for (i = 0; i < n_threads; i++) {
        pthread_join(th[i], NULL);
    }
    pthread_mutex_destroy(&r.mu);
    rv = r.rv;
    if (rv != 0) {
        snprintf(errmsg, 256, "from %.40s: %.200s", src_region, r.err);
    }
    /* Then leftovers out, then the manifest: only now is it a copy. */
    if (rv == 0 && (rv = job_open_url(dst_url, creds, &dst, err)) != 0) {
        snprintf(errmsg, 256, "%.250s", err);
    }
    if (rv == 0 && !json_is_false(json_object_get(spec, "sweep")) &&
        (rv = sweep(dst, prefix, &m, mkey, &removed, err)) != 0) {
        snprintf(errmsg, 256, "removing leftovers: %.230s", err);
    }
    if (rv == 0 && (rv = store_put_buf(dst, mkey, buf, len, sha, err)) != 0) {
        snprintf(errmsg, 256, "%.250s", err);
    }
    if (rv == 0 && strcmp(sha, msha) != 0) {
        snprintf(errmsg, 256,
                 "manifest %.100s: the destination stored SHA-256 %.16s..., "
                 "not %.16s...",
                 mkey, sha, msha);
        rv = DR_ECORRUPT;
    }
    if (dst != NULL) {
        store_close(dst);
    }
    if (rv == 0) {
        *result = json_pack("{sI sI ss sI sI sI sO}", "bytes",
                            (json_int_t)(r.bytes + len), "objects",
                            (json_int_t)(m.n + 1), "source_region", src_region,
                            "copy_ms", (json_int_t)(mono_ms() - t0), "direct",
                            (json_int_t)r.direct, "removed", removed,
                            "skipped_sources", skipped);
    }
    json_decref(skipped);
    manifest_free(&m);
    free(buf);
    return rv;
}
