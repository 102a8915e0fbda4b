/* The s3:// store's requests: SigV4-signed libcurl calls with retries
 * and back-off, S3's error bodies turned into messages. */
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

#define S3_CREDS_MARGIN_MS (5 * 60 * 1000)
#include "aws/sigv4.h"
#include "common/err.h"
#include "store/internal.h"
#include "store/s3_internal.h"

/* curl */

static pthread_once_t s3_curl_once = PTHREAD_ONCE_INIT;
static CURLcode s3_curl_init_rc;

static void curl_init_once(void)
{
    s3_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int s3__global_init(char *errmsg)
{
    pthread_once(&s3_curl_once, curl_init_once);
    if (s3_curl_init_rc != CURLE_OK) {
        s3__msg(errmsg, "s3: curl_global_init: %s",
                curl_easy_strerror(s3_curl_init_rc));
        return DR_EIO;
    }
    return DR_OK;
}

int64_t s3__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void amz_date_now(char *out)
{
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* Exponential s3__backoff with jitter: 100 ms doubling, at most 5 s, each
 * drawn between half and all of that. */
void s3__backoff(int attempt)
{
    unsigned short r = 0;
    long ms = 100L << (attempt < 6 ? attempt : 6);
    struct timespec ts;

    if (ms > 5000) {
        ms = 5000;
    }
    RAND_bytes((unsigned char *)&r, sizeof(r));
    ms = ms / 2 + (long)((unsigned long)ms / 2 * r / 65535);
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int s3__curl_retryable(CURLcode c)
{
    switch (c) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
            return 1;
        default:
            return 0;
    }
}

int s3__http_retryable(long status)
{
    return status >= 500 || status == 429;
}

/* Requests */

/* Path of key (NULL: the bucket) as sent; malloc'ed. */
char *s3__s3_path(struct s3 *s3, const char *key)
{
    char *full, *enc, *path;
    size_t len;

    if (key == NULL) {
        if (s3->path_style) {
            len = strlen(s3->bucket) + 2;
            path = malloc(len);
            if (path != NULL) {
                snprintf(path, len, "/%s", s3->bucket);
            }
            return path;
        }
        return strdup("/");
    }
    if (asprintf(&full, "%s%s", s3->prefix, key) < 0) {
        return NULL;
    }
    enc = sigv4_uri_encode(full, 1);
    free(full);
    if (enc == NULL) {
        return NULL;
    }
    if (s3->path_style) {
        if (asprintf(&path, "/%s/%s", s3->bucket, enc) < 0) {
            path = NULL;
        }
    } else if (asprintf(&path, "/%s", enc) < 0) {
        path = NULL;
    }
    free(enc);
    return path;
}

/* Sign a request and build its headers. extra: more headers to sign and
 * send ("Name: value" split in two). */
int s3__s3_headers(struct s3 *s3,
                   const char *method,
                   const char *path,
                   const char *query,
                   const char *payload_sha,
                   const struct sigv4_header *extra,
                   size_t nextra,
                   const char *content_type,
                   struct curl_slist **out,
                   char *errmsg)
{
    struct sigv4_header h[8];
    struct sigv4_key key = {s3->creds.access_key_id,
                            s3->creds.secret_access_key, s3->region, "s3"};
    struct sigv4_request req;
    struct sigv4_result res;
    struct curl_slist *list = NULL, *l;
    char date[17], *line;
    size_t n = 0, i;
    int rv;

    /* Role credentials expire (hours): a long job fetches new ones five
     * minutes before. */
    if (s3->creds.from_imds) {
        char inner[256];
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall); /* Expiration is wall time */
        rv = s3_creds_refresh(
            &s3->creds,
            (uint64_t)wall.tv_sec * 1000 + (uint64_t)wall.tv_nsec / 1000000,
            S3_CREDS_MARGIN_MS, inner);
        if (rv != 0) {
            s3__msg(errmsg,
                    "store %.100s: renewing the instance role's "
                    "credentials: %.120s",
                    s3->url, inner);
            return DR_EAUTH;
        }
        key.access_key_id = s3->creds.access_key_id;
        key.secret_access_key = s3->creds.secret_access_key;
    }
    amz_date_now(date);
    h[n++] = (struct sigv4_header){"Host", s3->host};
    h[n++] = (struct sigv4_header){"X-Amz-Date", date};
    h[n++] = (struct sigv4_header){"X-Amz-Content-SHA256", payload_sha};
    if (s3->creds.session_token[0] != '\0') {
        h[n++] = (struct sigv4_header){"X-Amz-Security-Token",
                                       s3->creds.session_token};
    }
    for (i = 0; i < nextra && n < 8; i++) {
        h[n++] = extra[i];
    }
    req = (struct sigv4_request){method, path, query, h, n, payload_sha};
    rv = sigv4_sign(&req, &key, date, &res);
    if (rv != 0) {
        s3__msg(errmsg, "store %.100s: signing the request failed", s3->url);
        return rv;
    }
    for (i = 0; i < n; i++) {
        if (asprintf(&line, "%s: %s", h[i].name, h[i].value) < 0) {
            goto err_oom;
        }
        l = curl_slist_append(list, line);
        OPENSSL_cleanse(line, strlen(line));
        free(line);
        if (l == NULL) {
            goto err_oom;
        }
        list = l;
    }
    if (asprintf(&line, "Authorization: %s", res.authorization) < 0) {
        goto err_oom;
    }
    l = curl_slist_append(list, line);
    free(line);
    if (l == NULL) {
        goto err_oom;
    }
    list = l;
    /* No "Expect: 100-continue" (and so nothing to sign for it). */
    l = curl_slist_append(list, "Expect:");
    if (l == NULL) {
        goto err_oom;
    }
    list = l;
    if (content_type != NULL) {
        if (asprintf(&line, "Content-Type: %s", content_type) < 0) {
            goto err_oom;
        }
        l = curl_slist_append(list, line);
        free(line);
        if (l == NULL) {
            goto err_oom;
        }
        list = l;
    }
    sigv4_result_free(&res);
    *out = list;
    return 0;

err_oom:
    sigv4_result_free(&res);
    curl_slist_free_all(list);
    s3__msg(errmsg, "store %.100s: out of memory", s3->url);
    return DR_ENOMEM;
}

struct s3_upload
{
    const char *p;
    size_t left;
};

static size_t read_cb(char *buf, size_t size, size_t nmemb, void *data)
{
    struct s3_upload *u = data;
    size_t n = size * nmemb;

    if (n > u->left) {
        n = u->left;
    }
    memcpy(buf, u->p, n);
    u->p += n;
    u->left -= n;
    return n;
}

static size_t write_cb(char *buf, size_t size, size_t nmemb, void *data)
{
    struct dbuf *b = data;

    if (s3__dbuf_add(b, buf, size * nmemb) != 0) {
        return 0;
    }
    return size * nmemb;
}

/* Keep the ETag header's value. */
size_t s3__header_cb(char *buf, size_t size, size_t nmemb, void *data)
{
    char *etag = data;
    size_t n = size * nmemb, len;

    if (n > 5 && strncasecmp(buf, "ETag:", 5) == 0) {
        const char *v = buf + 5;
        while (v < buf + n && (*v == ' ' || *v == '\t')) {
            v++;
        }
        len = (size_t)(buf + n - v);
        while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' ||
                           v[len - 1] == ' ')) {
            len--;
        }
        if (len < 256) {
            memcpy(etag, v, len);
            etag[len] = '\0';
        }
    }
    return n;
}

/* S3's <Code> and <Message> from an error body. */
static void error_code(const char *body,
                       size_t len,
                       char *code,
                       size_t codecap,
                       char *msg,
                       size_t msgcap)
{
    const char *v, *vend;
    char *t;

    code[0] = '\0';
    msg[0] = '\0';
    if (body == NULL || len == 0) {
        return;
    }
    v = s3__xml_find(body, body + len, "Code", &vend);
    if (v != NULL && (t = s3__xml_text(v, vend)) != NULL) {
        dr_printable(t, code, codecap);
        free(t);
    }
    v = s3__xml_find(body, body + len, "Message", &vend);
    if (v != NULL && (t = s3__xml_text(v, vend)) != NULL) {
        dr_printable(t, msg, msgcap);
        free(t);
    }
}

/* Turn an HTTP answer other than 2xx into a code and a message. */
int s3__http_error(struct s3 *s3,
                   const char *what,
                   long status,
                   const char *body,
                   size_t len,
                   char *code,
                   char *errmsg)
{
    char msg[96], codebuf[64];

    if (code == NULL) {
        code = codebuf;
    }
    error_code(body, len, code, 64, msg, sizeof(msg));
    if (status == 404) {
        if (strcmp(code, "NoSuchBucket") == 0) {
            s3__msg(errmsg,
                    "%.110s: bucket %s not found at %.60s (NoSuchBucket)", what,
                    s3->bucket, s3->endpoint);
        } else if (strcmp(code, "NoSuchUpload") == 0) {
            s3__msg(errmsg,
                    "%.110s in %.80s: multipart upload vanished (NoSuchUpload)",
                    what, s3->url);
        } else {
            s3__msg(errmsg, "%.110s: not found in %.100s", what, s3->url);
        }
        return DR_ENOTFOUND;
    }
    if (status == 401 || status == 403) {
        /* A HEAD reply has no body, so no code says which check failed. */
        s3__msg(errmsg, "%.100s in %.60s: access denied: HTTP %ld %s%s%.60s",
                what, s3->url, status,
                code[0] != '\0' ? code
                                : "(no error code: check key, secret, clock)",
                msg[0] != '\0' ? ": " : "", msg);
        return DR_EAUTH;
    }
    s3__msg(errmsg, "%.100s in %.60s: HTTP %ld %s%s%.60s", what, s3->url,
            status, code[0] != '\0' ? code : "(no error code)",
            msg[0] != '\0' ? ": " : "", msg);
    if (status >= 500 || status == 429) {
        return DR_EUNAVAILABLE;
    }
    if (status == 409 || status == 412) {
        return DR_ECONFLICT;
    }
    return DR_EINVAL;
}

int s3__curl_error(struct s3 *s3,
                   const char *what,
                   CURLcode c,
                   const char *errbuf,
                   int attempts,
                   char *errmsg)
{
    const char *detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(c);

    if (c == CURLE_OPERATION_TIMEDOUT) {
        s3__msg(errmsg,
                "%.100s in %.60s: no answer from %.60s within %ld ms: %.60s",
                what, s3->url, s3->endpoint, s3->timeout_ms, detail);
        return DR_ETIMEOUT;
    }
    s3__msg(errmsg, "%.100s in %.60s: cannot reach %.60s: %.80s (%d attempt%s)",
            what, s3->url, s3->endpoint, detail, attempts,
            attempts == 1 ? "" : "s");
    return s3__curl_retryable(c) ? DR_EUNAVAILABLE : DR_EIO;
}

void s3__s3_common_opts(struct s3 *s3,
                        CURL *e,
                        const char *url,
                        struct curl_slist *hdrs,
                        char *errbuf)
{
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, s3->timeout_ms);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "cogitator-drnode");
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
}

/* Run call, retrying connection failures and 5xx. */
int s3__s3_perform(struct s3 *s3, struct s3_call *call, char *errmsg)
{
    char errbuf[CURL_ERROR_SIZE], payload[65], *path, *url = NULL;
    struct curl_slist *hdrs = NULL;
    struct s3_upload up;
    CURLcode c = CURLE_OK;
    int attempt, rv;
    int has_body =
        strcmp(call->method, "PUT") == 0 || strcmp(call->method, "POST") == 0;
    long secs = (s3->timeout_ms + 999) / 1000;

    call->status = 0;
    call->code[0] = '\0';
    path = s3__s3_path(s3, call->key);
    if (path == NULL ||
        asprintf(&url, "%s%s%s%s", s3->endpoint, path,
                 call->query[0] != '\0' ? "?" : "", call->query) < 0) {
        free(path);
        s3__msg(errmsg, "%.100s: out of memory", call->what);
        return DR_ENOMEM;
    }
    if (has_body && call->body_len > 0) {
        sigv4_sha256_hex(call->body, call->body_len, payload);
    } else {
        snprintf(payload, sizeof(payload), "%s", SIGV4_EMPTY_SHA256);
    }
    for (attempt = 0;; attempt++) {
        CURL *e = s3->easy;

        s3__dbuf_free(&call->resp);
        call->resp.max = strcmp(call->method, "GET") == 0 ? 0 : 1 << 20;
        call->etag[0] = '\0';
        errbuf[0] = '\0';
        curl_slist_free_all(hdrs);
        hdrs = NULL;
        rv = s3__s3_headers(s3, call->method, path, call->query, payload,
                            call->extra, call->nextra,
                            !has_body ? NULL
                            : strcmp(call->method, "POST") == 0
                                ? "application/xml"
                                : "application/octet-stream",
                            &hdrs, errmsg);
        if (rv != 0) {
            goto out;
        }
        curl_easy_reset(e);
        s3__s3_common_opts(s3, e, url, hdrs, errbuf);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, secs);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &call->resp);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, s3__header_cb);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, call->etag);
        if (strcmp(call->method, "HEAD") == 0) {
            curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
            curl_easy_setopt(e, CURLOPT_FILETIME, 1L);
        } else if (has_body) {
            up.p = call->body;
            up.left = call->body_len;
            curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
            curl_easy_setopt(e, CURLOPT_READDATA, &up);
            curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
                             (curl_off_t)call->body_len);
            if (strcmp(call->method, "POST") == 0) {
                curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "POST");
            }
        } else if (strcmp(call->method, "GET") != 0) {
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, call->method);
        }
        c = curl_easy_perform(e);
        if (c == CURLE_OK) {
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &call->status);
            if (call->status >= 200 && call->status < 300) {
                curl_easy_getinfo(e, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
                                  &call->content_length);
                curl_easy_getinfo(e, CURLINFO_FILETIME_T, &call->filetime);
                rv = 0;
                goto out;
            }
            if (!s3__http_retryable(call->status) ||
                attempt >= s3->max_retries) {
                rv = s3__http_error(s3, call->what, call->status, call->resp.p,
                                    call->resp.len, call->code, errmsg);
                goto out;
            }
        } else if (c == CURLE_WRITE_ERROR) {
            s3__msg(errmsg, "%.100s: out of memory for the answer", call->what);
            rv = DR_ENOMEM;
            goto out;
        } else if (!s3__curl_retryable(c) || attempt >= s3->max_retries) {
            rv = s3__curl_error(s3, call->what, c, errbuf, attempt + 1, errmsg);
            goto out;
        }
        s3__backoff(attempt);
    }
out:
    curl_slist_free_all(hdrs);
    free(url);
    free(path);
    return rv;
}

void s3__call_init(struct s3_call *call,
                   const char *method,
                   const char *key,
                   const char *query,
                   const char *what)
{
    memset(call, 0, sizeof(*call));
    call->method = method;
    call->key = key;
    call->query = query;
    call->what = what;
}
