/* zstd-compressed objects over a store, hashing raw and stored bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "common/err.h"
#include "store/internal.h"
#include "store/zio.h"

struct zio_writer
{
    struct store_writer *sw;
    ZSTD_CStream *cs;
    EVP_MD_CTX *raw_sha;
    uint64_t raw_bytes;
    void *out; /* compressed bytes on their way to the store */
    size_t out_cap;
    uint8_t *stage; /* small writes gathered for one zstd call */
    size_t staged, stage_cap;
    int failed;
    char key[STORE_KEY_MAX];
};

struct zio_reader
{
    struct store_reader *sr;
    ZSTD_DStream *ds;
    EVP_MD_CTX *raw_sha;
    void *in;
    size_t in_cap;
    ZSTD_inBuffer zin;
    size_t last_ret; /* of ZSTD_decompressStream: 0 at a frame's end */
    int store_eof;   /* the store reader returned its end (and checked) */
    int flush;       /* the output filled up: the decoder may hold more */
    int done;
    int failed;
    int any_input; /* at least one compressed byte was read */
    struct zio_stats st;
    char key[STORE_KEY_MAX];
    char errmsg[256];
};

int zio_writer_open(struct store *s,
                    const char *key,
                    int level,
                    struct zio_writer **out,
                    char *errmsg)
{
    struct zio_writer *w;
    int rv;

    *out = NULL;
    if (level == 0) {
        level = 3;
    }
    if (level < 1 || level > ZSTD_maxCLevel()) {
        snprintf(errmsg, 256, "object %.100s: zstd level %d out of range 1..%d",
                 key, level, ZSTD_maxCLevel());
        return DR_EINVAL;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        snprintf(errmsg, 256, "object %.100s: out of memory", key);
        return DR_ENOMEM;
    }
    snprintf(w->key, sizeof(w->key), "%s", key);
    w->out_cap = ZSTD_CStreamOutSize();
    w->out = malloc(w->out_cap);
    w->stage_cap = ZSTD_CStreamInSize();
    w->stage = malloc(w->stage_cap);
    w->cs = ZSTD_createCStream();
    w->raw_sha = store__sha_new();
    if (w->out == NULL || w->stage == NULL || w->cs == NULL ||
        w->raw_sha == NULL) {
        snprintf(errmsg, 256, "object %.100s: out of memory", key);
        rv = DR_ENOMEM;
        goto err_after_alloc;
    }
    if (ZSTD_isError(
            ZSTD_CCtx_setParameter(w->cs, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(w->cs, ZSTD_c_checksumFlag, 1))) {
        snprintf(errmsg, 256, "object %.100s: cannot set up zstd", key);
        rv = DR_EINVAL;
        goto err_after_alloc;
    }
    rv = store_put_begin(s, key, &w->sw, errmsg);
    if (rv != 0) {
        goto err_after_alloc;
    }
    *out = w;
    return 0;

err_after_alloc:
    ZSTD_freeCStream(w->cs);
    EVP_MD_CTX_free(w->raw_sha);
    free(w->out);
    free(w->stage);
    free(w);
    return rv;
}

int zio_writer_workers(struct zio_writer *w, int n)
{
    return ZSTD_isError(ZSTD_CCtx_setParameter(w->cs, ZSTD_c_nbWorkers, n))
               ? DR_EINVAL
               : 0;
}

/* Feed in (possibly empty) with the given directive, writing whatever the
 * compressor produces. */
static int zw_pump(struct zio_writer *w,
                   const void *buf,
                   size_t len,
                   ZSTD_EndDirective mode,
                   char *errmsg)
{
    ZSTD_inBuffer in = {buf, len, 0};
    size_t remaining;
    int rv;

    for (;;) {
        ZSTD_outBuffer zout = {w->out, w->out_cap, 0};
        remaining = ZSTD_compressStream2(w->cs, &zout, &in, mode);
        if (ZSTD_isError(remaining)) {
            snprintf(errmsg, 256, "object %.100s: zstd: %s", w->key,
                     ZSTD_getErrorName(remaining));
            return DR_EIO;
        }
        if (zout.pos > 0) {
            rv = store_write(w->sw, w->out, zout.pos, errmsg);
            if (rv != 0) {
                return rv;
            }
        }
        if (mode == ZSTD_e_end ? remaining == 0 : in.pos == in.size) {
            return 0;
        }
    }
}

/* The gathered bytes: hashed and compressed in one call each. */
static int zw_flush_stage(struct zio_writer *w,
                          ZSTD_EndDirective mode,
                          char *errmsg)
{
    size_t n = w->staged;

    w->staged = 0;
    if (n > 0) {
        EVP_DigestUpdate(w->raw_sha, w->stage, n);
    }
    return zw_pump(w, w->stage, n, mode, errmsg);
}

int zio_write(struct zio_writer *w, const void *buf, size_t len, char *errmsg)
{
    int rv;

    if (w->failed) {
        snprintf(errmsg, 256, "object %.100s: an earlier write failed", w->key);
        return DR_EINVAL;
    }
    if (len == 0) {
        return 0;
    }
    w->raw_bytes += len;
    if (len <= w->stage_cap - w->staged) {
        memcpy(w->stage + w->staged, buf, len);
        w->staged += len;
        return 0;
    }
    rv = zw_flush_stage(w, ZSTD_e_continue, errmsg);
    if (rv == 0 && len >= w->stage_cap) {
        EVP_DigestUpdate(w->raw_sha, buf, len);
        rv = zw_pump(w, buf, len, ZSTD_e_continue, errmsg);
    } else if (rv == 0) {
        memcpy(w->stage, buf, len);
        w->staged = len;
    }
    if (rv != 0) {
        w->failed = 1;
    }
    return rv;
}

static void zw_free(struct zio_writer *w)
{
    ZSTD_freeCStream(w->cs);
    EVP_MD_CTX_free(w->raw_sha);
    free(w->out);
    free(w->stage);
    free(w);
}

int zio_writer_commit(struct zio_writer *w, struct zio_stats *st, char *errmsg)
{
    struct zio_stats tmp;
    int rv;

    if (w->failed) {
        snprintf(errmsg, 256, "object %.100s: an earlier write failed", w->key);
        zio_writer_abort(w);
        return DR_EINVAL;
    }
    rv = zw_flush_stage(w, ZSTD_e_end, errmsg);
    if (rv != 0) {
        zio_writer_abort(w);
        return rv;
    }
    memset(&tmp, 0, sizeof(tmp));
    tmp.raw_bytes = w->raw_bytes;
    store__sha_hex(w->raw_sha, tmp.raw_sha256);
    rv = store_put_commit(w->sw, tmp.stored_sha256, &tmp.stored_bytes, errmsg);
    w->sw = NULL;
    zw_free(w);
    if (rv == 0 && st != NULL) {
        *st = tmp;
    }
    return rv;
}

void zio_writer_abort(struct zio_writer *w)
{
    if (w == NULL) {
        return;
    }
    store_put_abort(w->sw);
    zw_free(w);
}

int zio_reader_open(struct store *s,
                    const char *key,
                    const char *expect_stored_sha256,
                    struct zio_reader **out,
                    char *errmsg)
{
    struct zio_reader *r;
    int rv;

    *out = NULL;
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(errmsg, 256, "object %.100s: out of memory", key);
        return DR_ENOMEM;
    }
    snprintf(r->key, sizeof(r->key), "%s", key);
    r->in_cap = ZSTD_DStreamInSize();
    r->in = malloc(r->in_cap);
    r->ds = ZSTD_createDStream();
    r->raw_sha = store__sha_new();
    if (r->in == NULL || r->ds == NULL || r->raw_sha == NULL) {
        snprintf(errmsg, 256, "object %.100s: out of memory", key);
        rv = DR_ENOMEM;
        goto err_after_alloc;
    }
    r->zin.src = r->in;
    r->zin.size = 0;
    r->zin.pos = 0;
    rv = store_get_begin(s, key, expect_stored_sha256, &r->sr, errmsg);
    if (rv != 0) {
        goto err_after_alloc;
    }
    *out = r;
    return 0;

err_after_alloc:
    ZSTD_freeDStream(r->ds);
    EVP_MD_CTX_free(r->raw_sha);
    free(r->in);
    free(r);
    return rv;
}

static int zr_fail(struct zio_reader *r, int rv, char *errmsg)
{
    r->failed = rv;
    memcpy(errmsg, r->errmsg, 256);
    return rv;
}

/* Fill zin from the store once it is used up. At the store's end, finish
 * the stream: the SHA-256 check has run, the last frame must be whole. */
static int zr_refill(struct zio_reader *r)
{
    size_t n;
    int rv;

    rv = store_read(r->sr, r->in, r->in_cap, &n, r->errmsg);
    if (rv != 0) {
        return rv;
    }
    r->zin.size = n;
    r->zin.pos = 0;
    if (n > 0) {
        r->any_input = 1;
        r->st.stored_bytes += n;
        return 0;
    }
    r->store_eof = 1;
    if (!r->any_input) {
        snprintf(r->errmsg, sizeof(r->errmsg),
                 "object %.100s: empty, not a zstd stream", r->key);
        return DR_ECORRUPT;
    }
    if (r->last_ret != 0) {
        snprintf(r->errmsg, sizeof(r->errmsg),
                 "object %.100s: truncated zstd stream", r->key);
        return DR_ECORRUPT;
    }
    return 0;
}

int zio_read(struct zio_reader *r,
             void *buf,
             size_t cap,
             size_t *n,
             char *errmsg)
{
    ZSTD_outBuffer zout = {buf, cap, 0};
    size_t ret;
    int rv;

    *n = 0;
    if (r->failed) {
        memcpy(errmsg, r->errmsg, 256);
        return r->failed;
    }
    if (r->done || cap == 0) {
        return 0;
    }
    while (zout.pos < zout.size) {
        /* With the output full last time, the decoder may hold more:
         * call it once without new input before reading on. */
        if (r->zin.pos == r->zin.size && !r->flush) {
            if (r->store_eof) {
                break;
            }
            rv = zr_refill(r);
            if (rv != 0) {
                return zr_fail(r, rv, errmsg);
            }
            if (r->store_eof) {
                break;
            }
        }
        ret = ZSTD_decompressStream(r->ds, &zout, &r->zin);
        if (ZSTD_isError(ret)) {
            snprintf(r->errmsg, sizeof(r->errmsg),
                     "object %.100s: corrupt zstd stream: %s", r->key,
                     ZSTD_getErrorName(ret));
            return zr_fail(r, DR_ECORRUPT, errmsg);
        }
        r->last_ret = ret;
        /* ret == 0: the frame is done and flushed; calling again would
         * start on the next one. */
        r->flush = zout.pos == zout.size && ret != 0;
    }
    if (zout.pos > 0) {
        EVP_DigestUpdate(r->raw_sha, buf, zout.pos);
        r->st.raw_bytes += zout.pos;
        *n = zout.pos;
        return 0;
    }
    r->done = 1;
    store__sha_hex(r->raw_sha, r->st.raw_sha256);
    snprintf(r->st.stored_sha256, sizeof(r->st.stored_sha256), "%s",
             store__reader_sha256(r->sr));
    return 0;
}

void zio_reader_stats(const struct zio_reader *r, struct zio_stats *st)
{
    *st = r->st;
}

void zio_reader_close(struct zio_reader *r)
{
    if (r == NULL) {
        return;
    }
    store_get_end(r->sr);
    ZSTD_freeDStream(r->ds);
    EVP_MD_CTX_free(r->raw_sha);
    free(r->in);
    free(r);
}
