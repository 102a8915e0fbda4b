/* Server-side copies between two s3:// stores of one service: the bytes
 * never leave it. An object up to copy_max bytes is one CopyObject that
 * asks the service for the copy's SHA-256 (x-amz-checksum-algorithm); a
 * larger one is a multipart upload of UploadPartCopy ranges, for which the
 * service computes no whole-object SHA-256 (the caller reads the copy back
 * to check it). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/err.h"
#include "store/s3_internal.h"

int s3__can_copy(const void *dstp, const void *srcp)
{
    const struct s3 *dst = dstp, *src = srcp;

    /* One service (one endpoint, or AWS itself, whose regions copy
     * between each other) and one identity that can read the source. */
    return (dst->aws ? src->aws : strcmp(dst->endpoint, src->endpoint) == 0) &&
           strcmp(dst->creds.access_key_id, src->creds.access_key_id) == 0 &&
           strcmp(dst->creds.secret_access_key, src->creds.secret_access_key) ==
               0 &&
           strcmp(dst->creds.session_token, src->creds.session_token) == 0;
}

/* "bucket/prefix/key", URI-encoded, for x-amz-copy-source. */
static char *copy_source(const struct s3 *src, const char *key)
{
    char *raw = NULL, *enc;

    if (asprintf(&raw, "%s/%s%s", src->bucket, src->prefix, key) < 0) {
        return NULL;
    }
    enc = sigv4_uri_encode(raw, 1);
    free(raw);
    return enc;
}

/* A copy answers 200 with an <Error> inside when it failed midway. */
static int error_in_body(struct s3 *s3, struct s3_call *call, char *errmsg)
{
    if (call->resp.p != NULL && call->resp.len > 0 &&
        strstr(call->resp.p, "<Error>") != NULL) {
        return s3__http_error(s3, call->what, 500, call->resp.p, call->resp.len,
                              call->code, errmsg);
    }
    return 0;
}

/* The base64 SHA-256 in <ChecksumSHA256> as hex into hex (65 bytes); ""
 * when the answer has none. DR_EMALFORMED when it is not 32 bytes. */
static int checksum_hex(struct s3 *s3,
                        const char *key,
                        const struct dbuf *resp,
                        char *hex,
                        char *errmsg)
{
    const char *v, *vend;
    unsigned char raw[48];
    int n;

    hex[0] = '\0';
    if (resp->p == NULL ||
        (v = s3__xml_find(resp->p, resp->p + resp->len, "ChecksumSHA256",
                          &vend)) == NULL) {
        return 0;
    }
    if (vend - v != 44 ||
        (n = EVP_DecodeBlock(raw, (const unsigned char *)v, 44)) != 33 ||
        v[43] != '=') {
        s3__msg(errmsg,
                "object %.100s in %.80s: CopyObject: ChecksumSHA256 is not a "
                "base64 SHA-256",
                key, s3->url);
        return DR_EMALFORMED;
    }
    for (int i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    }
    return 0;
}

static int copy_whole(struct s3 *dst,
                      const char *source,
                      const char *key,
                      const char *what,
                      char *sha256_hex,
                      char *errmsg)
{
    struct sigv4_header extra[2] = {{"x-amz-copy-source", source},
                                    {"x-amz-checksum-algorithm", "SHA256"}};
    struct s3_call call;
    int rv;

    s3__call_init(&call, "PUT", key, "", what);
    call.extra = extra;
    call.nextra = 2;
    rv = s3__s3_perform(dst, &call, errmsg);
    if (rv == 0) {
        rv = error_in_body(dst, &call, errmsg);
    }
    if (rv == 0) {
        rv = checksum_hex(dst, key, &call.resp, sha256_hex, errmsg);
    }
    s3__dbuf_free(&call.resp);
    return rv;
}

/* Parts of dst->copy_max bytes in one multipart upload (s3.c's):
 * CreateMultipartUpload, UploadPartCopy per range, Complete; abandoned on
 * any failure. */
static int copy_parts(struct s3 *dst,
                      const char *source,
                      const char *key,
                      uint64_t size,
                      const char *what,
                      char *errmsg)
{
    struct s3_call call;
    const char *v, *vend;
    char *upload_id = NULL, *upload_q = NULL, **etags;
    uint64_t part = dst->copy_max, off;
    size_t n = 0, max = (size_t)((size + part - 1) / part);
    int rv;

    etags = calloc(max > 0 ? max : 1, sizeof(*etags));
    if (etags == NULL) {
        s3__msg(errmsg, "object %.100s: out of memory", key);
        return DR_ENOMEM;
    }
    rv = s3__mp_create(dst, key, what, &upload_id, &upload_q, errmsg);
    for (off = 0; rv == 0 && off < size; off += part) {
        char range[64], *query = NULL;
        uint64_t last = off + part < size ? off + part - 1 : size - 1;
        struct sigv4_header extra[2] = {{"x-amz-copy-source", source},
                                        {"x-amz-copy-source-range", range}};

        snprintf(range, sizeof(range), "bytes=%llu-%llu",
                 (unsigned long long)off, (unsigned long long)last);
        if (asprintf(&query, "partNumber=%zu&%s", n + 1, upload_q) < 0) {
            s3__msg(errmsg, "object %.100s: out of memory", key);
            rv = DR_ENOMEM;
            break;
        }
        s3__call_init(&call, "PUT", key, query, what);
        call.extra = extra;
        call.nextra = 2;
        rv = s3__s3_perform(dst, &call, errmsg);
        if (rv == 0) {
            rv = error_in_body(dst, &call, errmsg);
        }
        if (rv == 0) {
            v = call.resp.p != NULL
                    ? s3__xml_find(call.resp.p, call.resp.p + call.resp.len,
                                   "ETag", &vend)
                    : NULL;
            etags[n] = v != NULL ? s3__xml_text(v, vend) : NULL;
            if (etags[n] == NULL) {
                s3__msg(errmsg,
                        "object %.100s in %.80s: UploadPartCopy %zu: no ETag "
                        "in the answer",
                        key, dst->url, n + 1);
                rv = DR_EMALFORMED;
            } else {
                n++;
            }
        }
        free(query);
        s3__dbuf_free(&call.resp);
    }
    if (rv == 0) {
        rv = s3__mp_complete(dst, key, what, upload_q, etags, n, errmsg);
    }
    if (rv != 0 && upload_q != NULL) {
        s3__mp_abort(dst, key, what, upload_q);
    }
    for (size_t i = 0; i < n; i++) {
        free(etags[i]);
    }
    free(etags);
    free(upload_q);
    free(upload_id);
    return rv;
}

int s3__copy(void *dstp,
             void *srcp,
             const char *key,
             uint64_t size,
             const char *expect_sha256,
             char *sha256_hex,
             char *errmsg)
{
    /* The service commits before it says the hash: store_copy compares
     * and deletes a copy that differs. */
    (void)expect_sha256;
    struct s3 *dst = dstp;
    char what[STORE_KEY_MAX + 8];
    char *source = copy_source(srcp, key);
    int rv;

    sha256_hex[0] = '\0';
    if (source == NULL) {
        s3__msg(errmsg, "object %.100s: out of memory", key);
        return DR_ENOMEM;
    }
    snprintf(what, sizeof(what), "object %s", key);
    if (size <= dst->copy_max) {
        rv = copy_whole(dst, source, key, what, sha256_hex, errmsg);
    } else {
        rv = copy_parts(dst, source, key, size, what, errmsg);
    }
    free(source);
    return rv;
}
