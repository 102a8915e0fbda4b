/* The s3:// object store: S3's REST API over libcurl, signed with SigV4.
 *
 * Blocking: requests run on a private easy handle (a multi handle for
 * streamed reads, so store_read can pull the body at its own pace). */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "aws/creds.h"
#include "aws/sigv4.h"
#include "common/err.h"
#include "store/internal.h"
#include "store/s3_internal.h"

static int parse_url(struct s3 *s3,
                     const char *rest,
                     char *display,
                     char *errmsg)
{
    const char *q = strchr(rest, '?'), *slash, *p;
    size_t pathlen = q != NULL ? (size_t)(q - rest) : strlen(rest);
    char shown[96], prefix[STORE_KEY_MAX], endpoint[256] = "";
    const char *env;
    size_t blen, plen;

    snprintf(shown, sizeof(shown), "s3://%.*s",
             (int)(pathlen < 80 ? pathlen : 80), rest);
    dr_printable(shown, shown, sizeof(shown));
    slash = memchr(rest, '/', pathlen);
    blen = slash != NULL ? (size_t)(slash - rest) : pathlen;
    if (blen == 0 || blen >= sizeof(s3->bucket)) {
        s3__msg(errmsg, "store URL %s: want s3://BUCKET/PREFIX", shown);
        return DR_EINVAL;
    }
    memcpy(s3->bucket, rest, blen);
    s3->bucket[blen] = '\0';
    if (!s3__bucket_ok(s3->bucket)) {
        s3__msg(errmsg, "store URL %s: invalid bucket name", shown);
        return DR_EINVAL;
    }
    /* The prefix, without slashes at either end. */
    p = slash != NULL ? slash + 1 : rest + pathlen;
    plen = (size_t)(rest + pathlen - p);
    while (plen > 0 && p[0] == '/') {
        p++;
        plen--;
    }
    while (plen > 0 && p[plen - 1] == '/') {
        plen--;
    }
    if (plen + 2 >= sizeof(prefix)) {
        s3__msg(errmsg, "store URL %s: prefix too long", shown);
        return DR_EINVAL;
    }
    memcpy(prefix, p, plen);
    prefix[plen] = '\0';
    if (plen > 0 && dr_object_key_check(prefix, errmsg) != 0) {
        s3__msg(errmsg,
                "store URL %s: invalid prefix (use [A-Za-z0-9._/-] segments)",
                shown);
        return DR_EINVAL;
    }
    memcpy(s3->prefix, prefix, plen);
    s3->prefix[plen] = plen > 0 ? '/' : '\0';
    s3->prefix[plen + 1] = '\0';

    /* Query: endpoint and region. */
    s3->region[0] = '\0';
    if (q != NULL) {
        const char *param = q + 1;
        while (*param != '\0') {
            const char *amp = strchr(param, '&');
            size_t len = amp != NULL ? (size_t)(amp - param) : strlen(param);
            const char *eq = memchr(param, '=', len);
            size_t klen = eq != NULL ? (size_t)(eq - param) : len;
            const char *val = eq != NULL ? eq + 1 : param + len;
            size_t vlen = (size_t)(param + len - val);
            if (klen == 8 && memcmp(param, "endpoint", 8) == 0) {
                if (s3__pct_decode(val, vlen, endpoint, sizeof(endpoint)) !=
                    0) {
                    s3__msg(errmsg, "store URL %s: endpoint too long", shown);
                    return DR_EINVAL;
                }
            } else if (klen == 6 && memcmp(param, "region", 6) == 0) {
                if (s3__pct_decode(val, vlen, s3->region, sizeof(s3->region)) !=
                    0) {
                    s3__msg(errmsg, "store URL %s: region too long", shown);
                    return DR_EINVAL;
                }
            } else if (len > 0) {
                s3__msg(errmsg,
                        "store URL %s: unknown parameter \"%.*s\" (want "
                        "endpoint, region)",
                        shown, (int)(klen < 40 ? klen : 40), param);
                dr_printable(errmsg, errmsg, 256);
                return DR_EINVAL;
            }
            param += len;
            if (*param == '&') {
                param++;
            }
        }
    }
    if (s3->region[0] == '\0') {
        env = getenv("AWS_REGION");
        if (env == NULL || env[0] == '\0') {
            env = getenv("AWS_DEFAULT_REGION");
        }
        snprintf(s3->region, sizeof(s3->region), "%s",
                 env != NULL && env[0] != '\0' && strlen(env) < 64
                     ? env
                     : "us-east-1");
    }
    for (p = s3->region; *p != '\0'; p++) {
        if (!(isalnum((unsigned char)*p) || *p == '-')) {
            s3__msg(errmsg, "store URL %s: invalid region", shown);
            return DR_EINVAL;
        }
    }

    if (endpoint[0] != '\0') {
        const char *auth;
        size_t len = strlen(endpoint);
        while (len > 0 && endpoint[len - 1] == '/') {
            endpoint[--len] = '\0';
        }
        if (strncmp(endpoint, "http://", 7) == 0) {
            auth = endpoint + 7;
        } else if (strncmp(endpoint, "https://", 8) == 0) {
            auth = endpoint + 8;
        } else {
            s3__msg(
                errmsg,
                "store URL %s: endpoint must start with http:// or https://",
                shown);
            return DR_EINVAL;
        }
        if (auth[0] == '\0' || strpbrk(auth, "/?#@ ") != NULL) {
            s3__msg(errmsg,
                    "store URL %s: endpoint must be scheme://host[:port] only",
                    shown);
            return DR_EINVAL;
        }
        snprintf(s3->endpoint, sizeof(s3->endpoint), "%s", endpoint);
        snprintf(s3->host, sizeof(s3->host), "%s", auth);
        s3->path_style = 1;
    } else {
        s3->aws = 1;
        /* AWS itself: virtual-hosted style, except for dotted bucket
         * names, which would not match the TLS certificate. */
        s3->path_style = strchr(s3->bucket, '.') != NULL;
        if (s3->path_style) {
            snprintf(s3->host, sizeof(s3->host), "s3.%s.amazonaws.com",
                     s3->region);
        } else {
            snprintf(s3->host, sizeof(s3->host), "%s.s3.%s.amazonaws.com",
                     s3->bucket, s3->region);
        }
        snprintf(s3->endpoint, sizeof(s3->endpoint), "https://%s", s3->host);
    }
    snprintf(display, STORE__URL_MAX, "s3://%s/%.*s", s3->bucket,
             (int)(plen < 120 ? plen : 120), prefix);
    return 0;
}

int store__s3_open(const char *rest,
                   const struct store_options *opts,
                   const char *url,
                   char *display,
                   void **impl,
                   char *errmsg)
{
    struct s3 *s3;
    int rv;

    if (s3__global_init(errmsg) != DR_OK) {
        return DR_EIO;
    }
    s3 = calloc(1, sizeof(*s3));
    if (s3 == NULL) {
        s3__msg(errmsg, "s3: out of memory");
        return DR_ENOMEM;
    }
    rv = parse_url(s3, rest, display, errmsg);
    if (rv != 0) {
        goto err_after_alloc;
    }
    s3->url = url;
    s3->timeout_ms =
        opts->timeout_ms > 0 ? opts->timeout_ms : S3_TIMEOUT_DEFAULT;
    s3->max_retries =
        opts->max_retries >= 0 ? opts->max_retries : S3_RETRIES_DEFAULT;
    s3->part_bytes = opts->part_bytes > 0 ? opts->part_bytes : S3_PART_DEFAULT;
    s3->copy_max =
        opts->copy_max_bytes > 0 ? opts->copy_max_bytes : S3_COPY_MAX_DEFAULT;
    rv = s3_creds_resolve(opts->credentials_file, &s3->creds, errmsg);
    if (rv != 0) {
        char inner[256];
        memcpy(inner, errmsg, sizeof(inner));
        s3__msg(errmsg, "store %.80s: %.160s", display, inner);
        goto err_after_alloc;
    }
    s3->easy = curl_easy_init();
    if (s3->easy == NULL) {
        s3__msg(errmsg, "store %.100s: curl_easy_init failed", display);
        rv = DR_ENOMEM;
        goto err_after_creds;
    }
    *impl = s3;
    return 0;

err_after_creds:
    s3_creds_clear(&s3->creds);
err_after_alloc:
    free(s3);
    return rv;
}

static void s3_close(void *impl)
{
    struct s3 *s3 = impl;

    if (s3 == NULL) {
        return;
    }
    curl_easy_cleanup(s3->easy);
    s3_creds_clear(&s3->creds);
    free(s3);
}

/* Writers: one PUT when the object fits in a part, else multipart. */

struct s3_writer
{
    struct s3 *s3;
    unsigned char *part; /* bytes of the part being filled */
    size_t len, cap;
    char *upload_id; /* of the multipart upload, once started */
    char *upload_q;  /* "uploadId=..." encoded */
    char **etags;
    size_t nparts, etags_cap;
    char key[STORE_KEY_MAX];
    char what[STORE_KEY_MAX + 8];
};

static int s3_put_begin(void *impl, const char *key, void **out, char *errmsg)
{
    struct s3 *s3 = impl;
    struct s3_writer *w;

    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        s3__msg(errmsg, "object %.100s: out of memory", key);
        return DR_ENOMEM;
    }
    w->s3 = s3;
    snprintf(w->key, sizeof(w->key), "%s", key);
    snprintf(w->what, sizeof(w->what), "object %s", key);
    *out = w;
    return 0;
}

int s3__mp_create(struct s3 *s3,
                  const char *key,
                  const char *what,
                  char **upload_id,
                  char **upload_q,
                  char *errmsg)
{
    struct s3_call call;
    const char *v, *vend;
    char *enc;
    int rv;

    *upload_id = *upload_q = NULL;
    s3__call_init(&call, "POST", key, "uploads", what);
    rv = s3__s3_perform(s3, &call, errmsg);
    if (rv != 0) {
        goto out;
    }
    v = call.resp.p != NULL
            ? s3__xml_find(call.resp.p, call.resp.p + call.resp.len, "UploadId",
                           &vend)
            : NULL;
    if (v == NULL || (*upload_id = s3__xml_text(v, vend)) == NULL ||
        (*upload_id)[0] == '\0') {
        s3__msg(errmsg,
                "object %.100s in %.80s: CreateMultipartUpload: no UploadId in "
                "the answer",
                key, s3->url);
        rv = DR_EMALFORMED;
        goto out;
    }
    enc = sigv4_uri_encode(*upload_id, 0);
    if (enc == NULL || asprintf(upload_q, "uploadId=%s", enc) < 0) {
        *upload_q = NULL;
        free(enc);
        s3__msg(errmsg, "object %.100s: out of memory", key);
        rv = DR_ENOMEM;
        goto out;
    }
    free(enc);
out:
    s3__dbuf_free(&call.resp);
    return rv;
}

static int mp_start(struct s3_writer *w, char *errmsg)
{
    return s3__mp_create(w->s3, w->key, w->what, &w->upload_id, &w->upload_q,
                         errmsg);
}

void s3__mp_abort(struct s3 *s3,
                  const char *key,
                  const char *what,
                  const char *upload_q)
{
    struct s3_call call;
    char ignored[256];

    s3__call_init(&call, "DELETE", key, upload_q, what);
    s3__s3_perform(s3, &call, ignored);
    s3__dbuf_free(&call.resp);
}

/* Upload the buffered bytes as the next part. */
static int mp_part(struct s3_writer *w, char *errmsg)
{
    struct s3_call call;
    char *query, *etag;
    int rv;

    if (w->upload_id == NULL) {
        rv = mp_start(w, errmsg);
        if (rv != 0) {
            return rv;
        }
    }
    if (w->nparts == w->etags_cap) {
        size_t ncap = w->etags_cap == 0 ? 16 : w->etags_cap * 2;
        char **grown = realloc(w->etags, ncap * sizeof(*grown));
        if (grown == NULL) {
            s3__msg(errmsg, "object %.100s: out of memory", w->key);
            return DR_ENOMEM;
        }
        w->etags = grown;
        w->etags_cap = ncap;
    }
    if (asprintf(&query, "partNumber=%zu&%s", w->nparts + 1, w->upload_q) < 0) {
        s3__msg(errmsg, "object %.100s: out of memory", w->key);
        return DR_ENOMEM;
    }
    s3__call_init(&call, "PUT", w->key, query, w->what);
    call.body = w->part;
    call.body_len = w->len;
    rv = s3__s3_perform(w->s3, &call, errmsg);
    s3__dbuf_free(&call.resp);
    free(query);
    if (rv != 0) {
        return rv;
    }
    if (call.etag[0] == '\0') {
        s3__msg(errmsg,
                "object %.100s in %.80s: UploadPart %zu: no ETag in the answer",
                w->key, w->s3->url, w->nparts + 1);
        return DR_EMALFORMED;
    }
    etag = strdup(call.etag);
    if (etag == NULL) {
        s3__msg(errmsg, "object %.100s: out of memory", w->key);
        return DR_ENOMEM;
    }
    w->etags[w->nparts++] = etag;
    w->len = 0;
    return 0;
}

static int s3_write(void *wp, const void *buf, size_t len, char *errmsg)
{
    struct s3_writer *w = wp;
    const unsigned char *p = buf;
    size_t part = w->s3->part_bytes;
    int rv;

    while (len > 0) {
        size_t room, n;
        if (w->len == part) {
            /* A full part and more to come: send it. */
            rv = mp_part(w, errmsg);
            if (rv != 0) {
                return rv;
            }
        }
        if (w->len == w->cap) {
            size_t ncap = w->cap == 0 ? 65536 : w->cap * 2;
            unsigned char *grown;
            if (ncap > part) {
                ncap = part;
            }
            grown = realloc(w->part, ncap);
            if (grown == NULL) {
                s3__msg(errmsg, "object %.100s: out of memory", w->key);
                return DR_ENOMEM;
            }
            w->part = grown;
            w->cap = ncap;
        }
        room = w->cap - w->len;
        n = len < room ? len : room;
        memcpy(w->part + w->len, p, n);
        w->len += n;
        p += n;
        len -= n;
    }
    return 0;
}

static void s3_put_abort(void *wp)
{
    struct s3_writer *w = wp;
    size_t i;

    if (w == NULL) {
        return;
    }
    if (w->upload_q != NULL) {
        s3__mp_abort(w->s3, w->key, w->what, w->upload_q);
    }
    for (i = 0; i < w->nparts; i++) {
        free(w->etags[i]);
    }
    free(w->etags);
    free(w->upload_id);
    free(w->upload_q);
    free(w->part);
    free(w);
}

int s3__mp_complete(struct s3 *s3,
                    const char *key,
                    const char *what,
                    const char *upload_q,
                    char *const *etags,
                    size_t n,
                    char *errmsg)
{
    struct dbuf body = {0};
    struct s3_call call;
    char num[32];
    const char *v, *vend;
    size_t i;
    int rv, oom = 0;

    oom |= s3__dbuf_add(&body, "<CompleteMultipartUpload>", 25);
    for (i = 0; i < n; i++) {
        snprintf(num, sizeof(num), "%zu", i + 1);
        oom |= s3__dbuf_add(&body, "<Part><PartNumber>", 18);
        oom |= s3__dbuf_add(&body, num, strlen(num));
        oom |= s3__dbuf_add(&body, "</PartNumber><ETag>", 19);
        oom |= s3__xml_escape_add(&body, etags[i]);
        oom |= s3__dbuf_add(&body, "</ETag></Part>", 14);
    }
    oom |= s3__dbuf_add(&body, "</CompleteMultipartUpload>", 26);
    if (oom) {
        s3__dbuf_free(&body);
        s3__msg(errmsg, "object %.100s: out of memory", key);
        return DR_ENOMEM;
    }
    s3__call_init(&call, "POST", key, upload_q, what);
    call.body = body.p;
    call.body_len = body.len;
    rv = s3__s3_perform(s3, &call, errmsg);
    if (rv == 0 && call.resp.p != NULL &&
        (v = s3__xml_find(call.resp.p, call.resp.p + call.resp.len, "Code",
                          &vend)) != NULL &&
        strstr(call.resp.p, "<Error>") != NULL) {
        /* 200 with an error inside: the upload did not complete. */
        rv = s3__http_error(s3, what, 500, call.resp.p, call.resp.len, NULL,
                            errmsg);
    }
    s3__dbuf_free(&call.resp);
    s3__dbuf_free(&body);
    return rv;
}

static int s3_put_commit(void *wp, char *errmsg)
{
    struct s3_writer *w = wp;
    struct s3_call call;
    int rv;

    if (w->upload_id == NULL) {
        s3__call_init(&call, "PUT", w->key, "", w->what);
        call.body = w->part;
        call.body_len = w->len;
        rv = s3__s3_perform(w->s3, &call, errmsg);
        s3__dbuf_free(&call.resp);
        s3_put_abort(w);
        return rv;
    }
    if (w->len > 0) {
        rv = mp_part(w, errmsg);
        if (rv != 0) {
            s3_put_abort(w);
            return rv;
        }
    }
    rv = s3__mp_complete(w->s3, w->key, w->what, w->upload_q, w->etags,
                         w->nparts, errmsg);
    if (rv == 0) {
        /* Completed: nothing to abort. */
        free(w->upload_q);
        w->upload_q = NULL;
    }
    s3_put_abort(w);
    return rv;
}

/* Readers: a GET pulled through a private multi handle. A connection lost
 * midway resumes with a Range request pinned to the first answer's ETag. */

struct s3_reader
{
    struct s3 *s3;
    CURLM *multi;
    CURL *easy;
    struct curl_slist *hdrs;
    char *url, *path;
    struct dbuf data; /* received, not yet returned from data.p + off */
    size_t off;
    struct dbuf errbody;
    uint64_t received; /* body bytes received over all attempts */
    uint64_t at_start; /* received when the current attempt began */
    int finished;      /* the current transfer ended */
    CURLcode result;
    int attempt;
    int eof;
    int64_t progress_ms; /* last time bytes arrived */
    char etag[256];
    char errbuf[CURL_ERROR_SIZE];
    char key[STORE_KEY_MAX];
    char what[STORE_KEY_MAX + 8];
};

static size_t reader_write_cb(char *buf, size_t size, size_t nmemb, void *data)
{
    struct s3_reader *r = data;
    size_t n = size * nmemb;
    long status = 0;

    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200 || status == 206) {
        if (r->off > 0 && r->off == r->data.len) {
            r->data.len = 0;
            r->off = 0;
        }
        if (s3__dbuf_add(&r->data, buf, n) != 0) {
            return 0;
        }
        r->received += n;
    } else {
        s3__dbuf_add(&r->errbody, buf, n);
    }
    r->progress_ms = s3__now_ms();
    return n;
}

static size_t reader_header_cb(char *buf, size_t size, size_t nmemb, void *data)
{
    struct s3_reader *r = data;

    /* Only the first answer's ETag counts: resumes are pinned to it. */
    if (r->etag[0] == '\0') {
        s3__header_cb(buf, size, nmemb, r->etag);
    }
    return size * nmemb;
}

static void reader_stop(struct s3_reader *r)
{
    if (r->easy != NULL) {
        curl_multi_remove_handle(r->multi, r->easy);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
}

static int reader_start(struct s3_reader *r, char *errmsg)
{
    struct sigv4_header extra[2];
    char range[64];
    size_t nextra = 0;
    int rv;

    reader_stop(r);
    if (r->received > 0) {
        snprintf(range, sizeof(range), "bytes=%llu-",
                 (unsigned long long)r->received);
        extra[nextra++] = (struct sigv4_header){"Range", range};
        if (r->etag[0] != '\0') {
            extra[nextra++] = (struct sigv4_header){"If-Match", r->etag};
        }
    }
    rv = s3__s3_headers(r->s3, "GET", r->path, "", SIGV4_EMPTY_SHA256, extra,
                        nextra, NULL, &r->hdrs, errmsg);
    if (rv != 0) {
        return rv;
    }
    r->easy = curl_easy_init();
    if (r->easy == NULL) {
        s3__msg(errmsg, "%.100s: curl_easy_init failed", r->what);
        return DR_ENOMEM;
    }
    r->errbuf[0] = '\0';
    s3__s3_common_opts(r->s3, r->easy, r->url, r->hdrs, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, reader_write_cb);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, reader_header_cb);
    curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
    if (curl_multi_add_handle(r->multi, r->easy) != CURLM_OK) {
        s3__msg(errmsg, "%.100s: curl_multi_add_handle failed", r->what);
        return DR_ENOMEM;
    }
    s3__dbuf_free(&r->errbody);
    r->errbody.max = S3_ERRBODY_MAX;
    r->finished = 0;
    r->at_start = r->received;
    r->progress_ms = s3__now_ms();
    return 0;
}

/* Drive the transfer until bytes are buffered, the object ended, or an
 * error (after the retries). */
static int reader_fill(struct s3_reader *r, char *errmsg)
{
    int running, msgs, rv;
    long status;
    CURLMsg *m;

    for (;;) {
        if (r->off < r->data.len || r->eof) {
            return 0;
        }
        if (!r->finished) {
            if (curl_multi_perform(r->multi, &running) != CURLM_OK) {
                s3__msg(errmsg, "%.100s: curl_multi_perform failed", r->what);
                return DR_EIO;
            }
            while ((m = curl_multi_info_read(r->multi, &msgs)) != NULL) {
                if (m->msg == CURLMSG_DONE && m->easy_handle == r->easy) {
                    r->finished = 1;
                    r->result = m->data.result;
                }
            }
            if (r->off < r->data.len) {
                return 0;
            }
            if (!r->finished) {
                if (s3__now_ms() - r->progress_ms > r->s3->timeout_ms) {
                    s3__msg(errmsg,
                            "%.100s in %.60s: no data from %.60s for %ld ms",
                            r->what, r->s3->url, r->s3->endpoint,
                            r->s3->timeout_ms);
                    return DR_ETIMEOUT;
                }
                curl_multi_poll(r->multi, NULL, 0, 200, NULL);
                continue;
            }
        }
        /* The transfer ended: done, or retry, or fail. */
        status = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        if (r->result == CURLE_WRITE_ERROR) {
            s3__msg(errmsg, "%.100s: out of memory", r->what);
            return DR_ENOMEM;
        }
        if (r->result == CURLE_OK && (status == 200 || status == 206)) {
            if (r->at_start > 0 && status != 206) {
                s3__msg(errmsg,
                        "%.100s in %.80s: the store ignored a Range request on "
                        "resume",
                        r->what, r->s3->url);
                return DR_EIO;
            }
            r->eof = 1;
            continue;
        }
        if (r->result == CURLE_OK && !s3__http_retryable(status)) {
            rv = s3__http_error(r->s3, r->what, status, r->errbody.p,
                                r->errbody.len, NULL, errmsg);
            if (status == 412) {
                s3__msg(errmsg, "%.100s in %.80s: replaced while being read",
                        r->what, r->s3->url);
            }
            return rv;
        }
        if (r->result != CURLE_OK && !s3__curl_retryable(r->result)) {
            return s3__curl_error(r->s3, r->what, r->result, r->errbuf,
                                  r->attempt + 1, errmsg);
        }
        if (r->attempt >= r->s3->max_retries) {
            if (r->result != CURLE_OK) {
                return s3__curl_error(r->s3, r->what, r->result, r->errbuf,
                                      r->attempt + 1, errmsg);
            }
            return s3__http_error(r->s3, r->what, status, r->errbody.p,
                                  r->errbody.len, NULL, errmsg);
        }
        s3__backoff(r->attempt);
        r->attempt++;
        rv = reader_start(r, errmsg);
        if (rv != 0) {
            return rv;
        }
    }
}

static void s3_get_end(void *rp)
{
    struct s3_reader *r = rp;

    if (r == NULL) {
        return;
    }
    reader_stop(r);
    if (r->multi != NULL) {
        curl_multi_cleanup(r->multi);
    }
    s3__dbuf_free(&r->data);
    s3__dbuf_free(&r->errbody);
    free(r->url);
    free(r->path);
    free(r);
}

static int s3_get_begin(void *impl, const char *key, void **out, char *errmsg)
{
    struct s3 *s3 = impl;
    struct s3_reader *r;
    int rv;

    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        s3__msg(errmsg, "object %.100s: out of memory", key);
        return DR_ENOMEM;
    }
    r->s3 = s3;
    snprintf(r->key, sizeof(r->key), "%s", key);
    snprintf(r->what, sizeof(r->what), "object %s", key);
    r->path = s3__s3_path(s3, key);
    r->multi = curl_multi_init();
    if (r->path == NULL || r->multi == NULL ||
        asprintf(&r->url, "%s%s", s3->endpoint, r->path) < 0) {
        r->url = NULL;
        s3__msg(errmsg, "object %.100s: out of memory", key);
        rv = DR_ENOMEM;
        goto err;
    }
    rv = reader_start(r, errmsg);
    if (rv != 0) {
        goto err;
    }
    /* Wait for the first bytes (or the end), so that a missing object or
     * refused credentials show here. */
    rv = reader_fill(r, errmsg);
    if (rv != 0) {
        goto err;
    }
    *out = r;
    return 0;

err:
    s3_get_end(r);
    return rv;
}

static int s3_read(void *rp, void *buf, size_t cap, size_t *n, char *errmsg)
{
    struct s3_reader *r = rp;
    size_t avail;
    int rv;

    *n = 0;
    rv = reader_fill(r, errmsg);
    if (rv != 0) {
        return rv;
    }
    avail = r->data.len - r->off;
    if (avail == 0) {
        return 0; /* eof */
    }
    *n = avail < cap ? avail : cap;
    memcpy(buf, r->data.p + r->off, *n);
    r->off += *n;
    if (r->off == r->data.len) {
        r->off = 0;
        r->data.len = 0;
    }
    return 0;
}

/* HEAD, list, delete */

static int s3_head(void *impl,
                   const char *key,
                   struct store_object *obj,
                   char *errmsg)
{
    struct s3_call call;
    char what[STORE_KEY_MAX + 8];
    int rv;

    snprintf(what, sizeof(what), "object %s", key);
    s3__call_init(&call, "HEAD", key, "", what);
    rv = s3__s3_perform(impl, &call, errmsg);
    s3__dbuf_free(&call.resp);
    if (rv != 0) {
        return rv;
    }
    obj->size = call.content_length > 0 ? (uint64_t)call.content_length : 0;
    obj->mtime_ms = call.filetime > 0 ? (int64_t)call.filetime * 1000 : 0;
    return 0;
}

int s3__list_parse(const char *p,
                   size_t len,
                   const char *prefix,
                   const char *what,
                   struct store_object **objs,
                   size_t *n,
                   char **next,
                   char *errmsg)
{
    const char *end = p + len, *blk, *blkend, *v, *vend;
    size_t cap = 0, plen = strlen(prefix);
    char *key = NULL;
    int truncated;

    v = s3__xml_find(p, end, "IsTruncated", &vend);
    truncated = v != NULL && vend - v == 4 && memcmp(v, "true", 4) == 0;
    for (blk = p; (blk = s3__xml_find(blk, end, "Contents", &blkend)) != NULL;
         blk = blkend) {
        uint64_t size = 0;
        int64_t mtime = 0;
        v = s3__xml_find(blk, blkend, "Key", &vend);
        if (v == NULL) {
            continue;
        }
        key = s3__xml_text(v, vend);
        if (key == NULL) {
            goto err_oom;
        }
        if (strncmp(key, prefix, plen) != 0 || key[plen] == '\0') {
            free(key);
            key = NULL;
            continue;
        }
        v = s3__xml_find(blk, blkend, "Size", &vend);
        if (v != NULL) {
            size = strtoull(v, NULL, 10);
        }
        v = s3__xml_find(blk, blkend, "LastModified", &vend);
        if (v != NULL) {
            char stamp[40];
            size_t slen = (size_t)(vend - v) < 39 ? (size_t)(vend - v) : 39;
            memcpy(stamp, v, slen);
            stamp[slen] = '\0';
            mtime = s3__parse_iso8601(stamp);
        }
        if (store__objs_push(objs, n, &cap, key + plen, size, mtime) != 0) {
            goto err_oom;
        }
        free(key);
        key = NULL;
    }
    if (truncated) {
        if (*n == 0) {
            s3__msg(errmsg, "%.120s: a truncated page without objects", what);
            return DR_EMALFORMED;
        }
        *next = strdup((*objs)[*n - 1].key);
        if (*next == NULL) {
            goto err_oom;
        }
    }
    return 0;

err_oom:
    free(key);
    s3__msg(errmsg, "%.120s: out of memory", what);
    return DR_ENOMEM;
}

static int s3_list(void *impl,
                   const char *prefix,
                   const char *start_after,
                   size_t page,
                   struct store_object **objs,
                   size_t *n,
                   char **next,
                   char *errmsg)
{
    struct s3 *s3 = impl;
    struct s3_call call;
    char *full = NULL, *enc_prefix = NULL, *enc_after = NULL, *query = NULL;
    char *after_full = NULL;
    int rv;
    char what[120];

    snprintf(what, sizeof(what), "store %.100s: list", s3->url);
    if (page > S3_LIST_MAX) {
        page = S3_LIST_MAX;
    }
    if (asprintf(&full, "%s%s", s3->prefix, prefix) < 0) {
        full = NULL;
        goto err_oom;
    }
    enc_prefix = sigv4_uri_encode(full, 0);
    if (enc_prefix == NULL) {
        goto err_oom;
    }
    if (start_after != NULL) {
        if (asprintf(&after_full, "%s%s", s3->prefix, start_after) < 0) {
            after_full = NULL;
            goto err_oom;
        }
        enc_after = sigv4_uri_encode(after_full, 0);
        if (enc_after == NULL) {
            goto err_oom;
        }
    }
    if (asprintf(&query, "list-type=2&max-keys=%zu&prefix=%s%s%s", page,
                 enc_prefix, enc_after != NULL ? "&start-after=" : "",
                 enc_after != NULL ? enc_after : "") < 0) {
        query = NULL;
        goto err_oom;
    }
    s3__call_init(&call, "GET", NULL, query, what);
    rv = s3__s3_perform(s3, &call, errmsg);
    if (rv == 0) {
        rv = s3__list_parse(call.resp.p != NULL ? call.resp.p : "",
                            call.resp.len, s3->prefix, what, objs, n, next,
                            errmsg);
    }
    s3__dbuf_free(&call.resp);
    goto out;

err_oom:
    s3__msg(errmsg, "%.120s: out of memory", what);
    rv = DR_ENOMEM;
out:
    free(full);
    free(enc_prefix);
    free(after_full);
    free(enc_after);
    free(query);
    return rv;
}

static int s3_delete(void *impl, const char *key, char *errmsg)
{
    struct s3_call call;
    char what[STORE_KEY_MAX + 8];
    int rv;

    snprintf(what, sizeof(what), "object %s", key);
    s3__call_init(&call, "DELETE", key, "", what);
    rv = s3__s3_perform(impl, &call, errmsg);
    s3__dbuf_free(&call.resp);
    if (rv == DR_ENOTFOUND && strcmp(call.code, "NoSuchBucket") != 0) {
        return 0; /* already absent */
    }
    return rv;
}

const struct store__ops store__s3_ops = {
    .close = s3_close,
    .put_begin = s3_put_begin,
    .write = s3_write,
    .put_commit = s3_put_commit,
    .put_abort = s3_put_abort,
    .get_begin = s3_get_begin,
    .read = s3_read,
    .get_end = s3_get_end,
    .head = s3_head,
    .list = s3_list,
    .del = s3_delete,
    .can_copy = s3__can_copy,
    .copy = s3__copy,
};
