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

#include "common/err.h"
#include "store/creds.h"
#include "store/internal.h"
#include "store/sigv4.h"

#define S3_PART_DEFAULT (8u << 20)
#define S3_TIMEOUT_DEFAULT 30000
#define S3_RETRIES_DEFAULT 4
#define S3_ERRBODY_MAX 16384
#define S3_LIST_MAX 1000

struct s3 {
    char bucket[64];
    char prefix[STORE_KEY_MAX]; /* "" or "some/prefix/" */
    char endpoint[272];         /* "http://127.0.0.1:9000", no '/' at end */
    char host[256];             /* the Host header */
    int path_style;
    char region[64];
    struct s3_creds creds;
    long timeout_ms;
    int max_retries;
    size_t part_bytes;
    const char *url; /* display URL, borrowed from struct store */
    CURL *easy;      /* reused, so connections are kept alive */
};

/* Fill a 256-byte errmsg. */
__attribute__((format(printf, 2, 3))) static void s3_msg(char *errmsg,
                                                         const char *fmt,
                                                         ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(errmsg, 256, fmt, ap);
    va_end(ap);
}

/* A growing byte buffer. */
struct dbuf {
    char *p;
    size_t len, cap;
    size_t max; /* 0: unbounded; beyond it bytes are dropped */
};

static int dbuf_add(struct dbuf *b, const void *data, size_t n)
{
    if (b->max > 0 && b->len + n > b->max) {
        n = b->len < b->max ? b->max - b->len : 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap == 0 ? 4096 : b->cap;
        char *p;
        while (ncap < b->len + n + 1) {
            ncap *= 2;
        }
        p = realloc(b->p, ncap);
        if (p == NULL) {
            return -1;
        }
        b->p = p;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static void dbuf_free(struct dbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* curl */

static pthread_once_t s3_curl_once = PTHREAD_ONCE_INIT;
static CURLcode s3_curl_init_rc;

static void s3_curl_init(void)
{
    s3_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t now_ms(void)
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

/* Exponential backoff with jitter: 100 ms doubling, at most 5 s, each
 * drawn between half and all of that. */
static void backoff(int attempt)
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

static int curl_retryable(CURLcode c)
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

static int http_retryable(long status)
{
    return status >= 500 || status == 429;
}

/* XML, just enough for S3's answers. */

/* The text of the first <tag>...</tag> in [s, end), or NULL. */
static const char *xml_find(const char *s, const char *end, const char *tag,
                            const char **vend)
{
    char open[80], close[80];
    const char *a, *b;
    size_t olen;

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    olen = strlen(open);
    a = memmem(s, (size_t)(end - s), open, olen);
    if (a == NULL) {
        return NULL;
    }
    a += olen;
    b = memmem(a, (size_t)(end - a), close, strlen(close));
    if (b == NULL) {
        return NULL;
    }
    *vend = b;
    return a;
}

static size_t utf8_put(unsigned long cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Unescape XML text [s, end) into a new string (NULL: out of memory). An
 * entity it does not know is kept as is. */
static char *xml_text(const char *s, const char *end)
{
    static const struct {
        const char *name;
        char c;
    } ents[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'},
                {"quot;", '"'}, {"apos;", '\''}};
    char *out = malloc((size_t)(end - s) + 1), *o = out;
    size_t i;

    if (out == NULL) {
        return NULL;
    }
    while (s < end) {
        if (*s != '&') {
            *o++ = *s++;
            continue;
        }
        for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
            size_t n = strlen(ents[i].name);
            if ((size_t)(end - s - 1) >= n &&
                memcmp(s + 1, ents[i].name, n) == 0) {
                *o++ = ents[i].c;
                s += 1 + n;
                break;
            }
        }
        if (i < sizeof(ents) / sizeof(ents[0])) {
            continue;
        }
        if (end - s > 3 && s[1] == '#') {
            const char *semi = memchr(s, ';', (size_t)(end - s));
            char *stop;
            unsigned long cp;
            int hex = s[2] == 'x' || s[2] == 'X';
            if (semi != NULL && semi - s <= 10) {
                cp = strtoul(s + (hex ? 3 : 2), &stop, hex ? 16 : 10);
                if (stop == semi && cp > 0 && cp <= 0x10ffff) {
                    o += utf8_put(cp, o);
                    s = semi + 1;
                    continue;
                }
            }
        }
        *o++ = *s++;
    }
    *o = '\0';
    return out;
}

/* Escape &, <, > and " for XML text. */
static int xml_escape_add(struct dbuf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        const char *rep = NULL;
        switch (*s) {
            case '&': rep = "&amp;"; break;
            case '<': rep = "&lt;"; break;
            case '>': rep = "&gt;"; break;
            case '"': rep = "&quot;"; break;
            default: break;
        }
        if (rep != NULL ? dbuf_add(b, rep, strlen(rep))
                        : dbuf_add(b, s, 1)) {
            return -1;
        }
    }
    return 0;
}

/* "2024-01-02T03:04:05.678Z" to milliseconds since the epoch; 0 if not. */
static int64_t parse_iso8601(const char *s)
{
    struct tm tm;
    int ms = 0;
    const char *p;

    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
        return 0;
    }
    p = strchr(s, '.');
    if (p != NULL) {
        ms = atoi(p + 1);
        while (ms >= 1000) {
            ms /= 10;
        }
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* URL and open */

static int pct_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < len && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], '\0'};
            c = (char)strtol(hex, NULL, 16);
            i += 2;
        }
        if (o + 1 >= cap) {
            return -1;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

static int bucket_ok(const char *b)
{
    size_t len = strlen(b), i;

    if (len < 1 || len > 63) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        char c = b[i];
        if (!(isalnum((unsigned char)c) || c == '.' || c == '-' ||
              c == '_')) {
            return 0;
        }
    }
    return 1;
}

static int parse_url(struct s3 *s3, const char *rest, char *display,
                     char *errmsg)
{
    const char *q = strchr(rest, '?'), *slash, *p;
    size_t pathlen = q != NULL ? (size_t)(q - rest) : strlen(rest);
    char shown[96], prefix[STORE_KEY_MAX], endpoint[256] = "";
    const char *env;
    size_t blen, plen;

    snprintf(shown, sizeof(shown), "s3://%.*s", (int)(pathlen < 80 ? pathlen : 80), rest);
    dr_printable(shown, shown, sizeof(shown));
    slash = memchr(rest, '/', pathlen);
    blen = slash != NULL ? (size_t)(slash - rest) : pathlen;
    if (blen == 0 || blen >= sizeof(s3->bucket)) {
        s3_msg(errmsg, "store URL %s: want s3://BUCKET/PREFIX", shown);
        return DR_EINVAL;
    }
    memcpy(s3->bucket, rest, blen);
    s3->bucket[blen] = '\0';
    if (!bucket_ok(s3->bucket)) {
        s3_msg(errmsg, "store URL %s: invalid bucket name", shown);
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
        s3_msg(errmsg, "store URL %s: prefix too long", shown);
        return DR_EINVAL;
    }
    memcpy(prefix, p, plen);
    prefix[plen] = '\0';
    if (plen > 0 && dr_object_key_check(prefix, errmsg) != 0) {
        s3_msg(errmsg, "store URL %s: invalid prefix (use [A-Za-z0-9._/-] segments)", shown);
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
                if (pct_decode(val, vlen, endpoint, sizeof(endpoint)) != 0) {
                    s3_msg(errmsg, "store URL %s: endpoint too long", shown);
                    return DR_EINVAL;
                }
            } else if (klen == 6 && memcmp(param, "region", 6) == 0) {
                if (pct_decode(val, vlen, s3->region, sizeof(s3->region)) !=
                    0) {
                    s3_msg(errmsg, "store URL %s: region too long", shown);
                    return DR_EINVAL;
                }
            } else if (len > 0) {
                s3_msg(errmsg, "store URL %s: unknown parameter \"%.*s\" (want endpoint, region)", shown, (int)(klen < 40 ? klen : 40), param);
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
            s3_msg(errmsg, "store URL %s: invalid region", shown);
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
            s3_msg(errmsg, "store URL %s: endpoint must start with http:// or https://", shown);
            return DR_EINVAL;
        }
        if (auth[0] == '\0' || strpbrk(auth, "/?#@ ") != NULL) {
            s3_msg(errmsg, "store URL %s: endpoint must be scheme://host[:port] only", shown);
            return DR_EINVAL;
        }
        snprintf(s3->endpoint, sizeof(s3->endpoint), "%s", endpoint);
        snprintf(s3->host, sizeof(s3->host), "%s", auth);
        s3->path_style = 1;
    } else {
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
        snprintf(s3->endpoint, sizeof(s3->endpoint), "https://%s",
                 s3->host);
    }
    snprintf(display, STORE__URL_MAX, "s3://%s/%.*s", s3->bucket,
             (int)(plen < 120 ? plen : 120), prefix);
    return 0;
}

int store__s3_open(const char *rest, const struct store_options *opts,
                   const char *url, char *display, void **impl,
                   char *errmsg)
{
    struct s3 *s3;
    int rv;

    pthread_once(&s3_curl_once, s3_curl_init);
    if (s3_curl_init_rc != CURLE_OK) {
        s3_msg(errmsg, "s3: curl_global_init: %s", curl_easy_strerror(s3_curl_init_rc));
        return DR_EIO;
    }
    s3 = calloc(1, sizeof(*s3));
    if (s3 == NULL) {
        s3_msg(errmsg, "s3: out of memory");
        return DR_ENOMEM;
    }
    rv = parse_url(s3, rest, display, errmsg);
    if (rv != 0) {
        goto err_after_alloc;
    }
    s3->url = url;
    s3->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms
                                          : S3_TIMEOUT_DEFAULT;
    s3->max_retries = opts->max_retries >= 0 ? opts->max_retries
                                             : S3_RETRIES_DEFAULT;
    s3->part_bytes = opts->part_bytes > 0 ? opts->part_bytes
                                          : S3_PART_DEFAULT;
    rv = s3_creds_load(opts->credentials_file, &s3->creds, errmsg);
    if (rv != 0) {
        char inner[256];
        memcpy(inner, errmsg, sizeof(inner));
        s3_msg(errmsg, "store %.80s: %.160s", display, inner);
        goto err_after_alloc;
    }
    s3->easy = curl_easy_init();
    if (s3->easy == NULL) {
        s3_msg(errmsg, "store %.100s: curl_easy_init failed", display);
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

/* Requests */

/* Path of key (NULL: the bucket) as sent; malloc'ed. */
static char *s3_path(struct s3 *s3, const char *key)
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
static int s3_headers(struct s3 *s3, const char *method, const char *path,
                      const char *query, const char *payload_sha,
                      const struct sigv4_header *extra, size_t nextra,
                      const char *content_type, struct curl_slist **out,
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
        s3_msg(errmsg, "store %.100s: signing the request failed", s3->url);
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
    s3_msg(errmsg, "store %.100s: out of memory", s3->url);
    return DR_ENOMEM;
}

/* One request with its body in memory. */
struct s3_call {
    const char *method;
    const char *key;   /* NULL: the bucket */
    const char *query; /* encoded, "" for none */
    const void *body;  /* PUT and POST */
    size_t body_len;
    const char *what;  /* "object KEY" or "store", for messages */
    /* results */
    long status;
    struct dbuf resp;
    char etag[256];
    curl_off_t content_length;
    curl_off_t filetime;
    char code[64]; /* S3's error Code, "" when none */
};

struct s3_upload {
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

    if (dbuf_add(b, buf, size * nmemb) != 0) {
        return 0;
    }
    return size * nmemb;
}

/* Keep the ETag header's value. */
static size_t header_cb(char *buf, size_t size, size_t nmemb, void *data)
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
static void error_code(const char *body, size_t len, char *code,
                       size_t codecap, char *msg, size_t msgcap)
{
    const char *v, *vend;
    char *t;

    code[0] = '\0';
    msg[0] = '\0';
    if (body == NULL || len == 0) {
        return;
    }
    v = xml_find(body, body + len, "Code", &vend);
    if (v != NULL && (t = xml_text(v, vend)) != NULL) {
        dr_printable(t, code, codecap);
        free(t);
    }
    v = xml_find(body, body + len, "Message", &vend);
    if (v != NULL && (t = xml_text(v, vend)) != NULL) {
        dr_printable(t, msg, msgcap);
        free(t);
    }
}

/* Turn an HTTP answer other than 2xx into a code and a message. */
static int http_error(struct s3 *s3, const char *what, long status,
                      const char *body, size_t len, char *code,
                      char *errmsg)
{
    char msg[96], codebuf[64];

    if (code == NULL) {
        code = codebuf;
    }
    error_code(body, len, code, 64, msg, sizeof(msg));
    if (status == 404) {
        if (strcmp(code, "NoSuchBucket") == 0) {
            s3_msg(errmsg, "%.110s: bucket %s not found at %.60s (NoSuchBucket)", what, s3->bucket, s3->endpoint);
        } else if (strcmp(code, "NoSuchUpload") == 0) {
            s3_msg(errmsg, "%.110s in %.80s: multipart upload vanished (NoSuchUpload)", what, s3->url);
        } else {
            s3_msg(errmsg, "%.110s: not found in %.100s", what, s3->url);
        }
        return DR_ENOTFOUND;
    }
    if (status == 401 || status == 403) {
        s3_msg(errmsg, "%.100s in %.60s: access denied: HTTP %ld %s%s%.60s", what, s3->url, status, code[0] != '\0' ? code : "(no error code)", msg[0] != '\0' ? ": " : "", msg);
        return DR_EAUTH;
    }
    s3_msg(errmsg, "%.100s in %.60s: HTTP %ld %s%s%.60s", what, s3->url, status, code[0] != '\0' ? code : "(no error code)", msg[0] != '\0' ? ": " : "", msg);
    if (status >= 500 || status == 429) {
        return DR_EUNAVAILABLE;
    }
    if (status == 409 || status == 412) {
        return DR_ECONFLICT;
    }
    return DR_EINVAL;
}

static int curl_error(struct s3 *s3, const char *what, CURLcode c,
                      const char *errbuf, int attempts, char *errmsg)
{
    const char *detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(c);

    if (c == CURLE_OPERATION_TIMEDOUT) {
        s3_msg(errmsg, "%.100s in %.60s: no answer from %.60s within %ld ms: %.60s", what, s3->url, s3->endpoint, s3->timeout_ms, detail);
        return DR_ETIMEOUT;
    }
    s3_msg(errmsg, "%.100s in %.60s: cannot reach %.60s: %.80s (%d attempt%s)", what, s3->url, s3->endpoint, detail, attempts, attempts == 1 ? "" : "s");
    return curl_retryable(c) ? DR_EUNAVAILABLE : DR_EIO;
}

static void s3_common_opts(struct s3 *s3, CURL *e, const char *url,
                           struct curl_slist *hdrs, char *errbuf)
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
static int s3_perform(struct s3 *s3, struct s3_call *call, char *errmsg)
{
    char errbuf[CURL_ERROR_SIZE], payload[65], *path, *url = NULL;
    struct curl_slist *hdrs = NULL;
    struct s3_upload up;
    CURLcode c = CURLE_OK;
    int attempt, rv;
    int has_body = strcmp(call->method, "PUT") == 0 ||
                   strcmp(call->method, "POST") == 0;
    long secs = (s3->timeout_ms + 999) / 1000;

    call->status = 0;
    call->code[0] = '\0';
    path = s3_path(s3, call->key);
    if (path == NULL ||
        asprintf(&url, "%s%s%s%s", s3->endpoint, path,
                 call->query[0] != '\0' ? "?" : "", call->query) < 0) {
        free(path);
        s3_msg(errmsg, "%.100s: out of memory", call->what);
        return DR_ENOMEM;
    }
    if (has_body && call->body_len > 0) {
        sigv4_sha256_hex(call->body, call->body_len, payload);
    } else {
        snprintf(payload, sizeof(payload), "%s", SIGV4_EMPTY_SHA256);
    }
    for (attempt = 0;; attempt++) {
        CURL *e = s3->easy;

        dbuf_free(&call->resp);
        call->resp.max = strcmp(call->method, "GET") == 0 ? 0 : 1 << 20;
        call->etag[0] = '\0';
        errbuf[0] = '\0';
        curl_slist_free_all(hdrs);
        hdrs = NULL;
        rv = s3_headers(s3, call->method, path, call->query, payload, NULL, 0,
                        !has_body ? NULL
                        : strcmp(call->method, "POST") == 0
                            ? "application/xml"
                            : "application/octet-stream",
                        &hdrs, errmsg);
        if (rv != 0) {
            goto out;
        }
        curl_easy_reset(e);
        s3_common_opts(s3, e, url, hdrs, errbuf);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, secs);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &call->resp);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
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
            if (!http_retryable(call->status) ||
                attempt >= s3->max_retries) {
                rv = http_error(s3, call->what, call->status, call->resp.p,
                                call->resp.len, call->code, errmsg);
                goto out;
            }
        } else if (c == CURLE_WRITE_ERROR) {
            s3_msg(errmsg, "%.100s: out of memory for the answer", call->what);
            rv = DR_ENOMEM;
            goto out;
        } else if (!curl_retryable(c) || attempt >= s3->max_retries) {
            rv = curl_error(s3, call->what, c, errbuf, attempt + 1, errmsg);
            goto out;
        }
        backoff(attempt);
    }
out:
    curl_slist_free_all(hdrs);
    free(url);
    free(path);
    return rv;
}

static void call_init(struct s3_call *call, const char *method,
                      const char *key, const char *query, const char *what)
{
    memset(call, 0, sizeof(*call));
    call->method = method;
    call->key = key;
    call->query = query;
    call->what = what;
}

/* Writers: one PUT when the object fits in a part, else multipart. */

struct s3_writer {
    struct s3 *s3;
    unsigned char *part; /* bytes of the part being filled */
    size_t len, cap;
    char *upload_id;     /* of the multipart upload, once started */
    char *upload_q;      /* "uploadId=..." encoded */
    char **etags;
    size_t nparts, etags_cap;
    char key[STORE_KEY_MAX];
    char what[STORE_KEY_MAX + 8];
};

static int s3_put_begin(void *impl, const char *key, void **out,
                        char *errmsg)
{
    struct s3 *s3 = impl;
    struct s3_writer *w;

    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        s3_msg(errmsg, "object %.100s: out of memory", key);
        return DR_ENOMEM;
    }
    w->s3 = s3;
    snprintf(w->key, sizeof(w->key), "%s", key);
    snprintf(w->what, sizeof(w->what), "object %s", key);
    *out = w;
    return 0;
}

static int mp_start(struct s3_writer *w, char *errmsg)
{
    struct s3_call call;
    const char *v, *vend;
    char *enc;
    int rv;

    call_init(&call, "POST", w->key, "uploads", w->what);
    rv = s3_perform(w->s3, &call, errmsg);
    if (rv != 0) {
        goto out;
    }
    v = call.resp.p != NULL
            ? xml_find(call.resp.p, call.resp.p + call.resp.len, "UploadId",
                       &vend)
            : NULL;
    if (v == NULL || (w->upload_id = xml_text(v, vend)) == NULL ||
        w->upload_id[0] == '\0') {
        s3_msg(errmsg, "object %.100s in %.80s: CreateMultipartUpload: no UploadId in the answer", w->key, w->s3->url);
        rv = DR_EMALFORMED;
        goto out;
    }
    enc = sigv4_uri_encode(w->upload_id, 0);
    if (enc == NULL || asprintf(&w->upload_q, "uploadId=%s", enc) < 0) {
        w->upload_q = NULL;
        free(enc);
        s3_msg(errmsg, "object %.100s: out of memory", w->key);
        rv = DR_ENOMEM;
        goto out;
    }
    free(enc);
out:
    dbuf_free(&call.resp);
    return rv;
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
            s3_msg(errmsg, "object %.100s: out of memory", w->key);
            return DR_ENOMEM;
        }
        w->etags = grown;
        w->etags_cap = ncap;
    }
    if (asprintf(&query, "partNumber=%zu&%s", w->nparts + 1, w->upload_q) <
        0) {
        s3_msg(errmsg, "object %.100s: out of memory", w->key);
        return DR_ENOMEM;
    }
    call_init(&call, "PUT", w->key, query, w->what);
    call.body = w->part;
    call.body_len = w->len;
    rv = s3_perform(w->s3, &call, errmsg);
    dbuf_free(&call.resp);
    free(query);
    if (rv != 0) {
        return rv;
    }
    if (call.etag[0] == '\0') {
        s3_msg(errmsg, "object %.100s in %.80s: UploadPart %zu: no ETag in the answer", w->key, w->s3->url, w->nparts + 1);
        return DR_EMALFORMED;
    }
    etag = strdup(call.etag);
    if (etag == NULL) {
        s3_msg(errmsg, "object %.100s: out of memory", w->key);
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
                s3_msg(errmsg, "object %.100s: out of memory", w->key);
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
        struct s3_call call;
        char ignored[256];
        call_init(&call, "DELETE", w->key, w->upload_q, w->what);
        s3_perform(w->s3, &call, ignored);
        dbuf_free(&call.resp);
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

static int mp_complete(struct s3_writer *w, char *errmsg)
{
    struct dbuf body = {0};
    struct s3_call call;
    char num[32];
    const char *v, *vend;
    size_t i;
    int rv, oom = 0;

    oom |= dbuf_add(&body, "<CompleteMultipartUpload>", 25);
    for (i = 0; i < w->nparts; i++) {
        snprintf(num, sizeof(num), "%zu", i + 1);
        oom |= dbuf_add(&body, "<Part><PartNumber>", 18);
        oom |= dbuf_add(&body, num, strlen(num));
        oom |= dbuf_add(&body, "</PartNumber><ETag>", 19);
        oom |= xml_escape_add(&body, w->etags[i]);
        oom |= dbuf_add(&body, "</ETag></Part>", 14);
    }
    oom |= dbuf_add(&body, "</CompleteMultipartUpload>", 26);
    if (oom) {
        dbuf_free(&body);
        s3_msg(errmsg, "object %.100s: out of memory", w->key);
        return DR_ENOMEM;
    }
    call_init(&call, "POST", w->key, w->upload_q, w->what);
    call.body = body.p;
    call.body_len = body.len;
    rv = s3_perform(w->s3, &call, errmsg);
    if (rv == 0 && call.resp.p != NULL &&
        (v = xml_find(call.resp.p, call.resp.p + call.resp.len, "Code",
                      &vend)) != NULL &&
        strstr(call.resp.p, "<Error>") != NULL) {
        /* 200 with an error inside: the upload did not complete. */
        rv = http_error(w->s3, w->what, 500, call.resp.p, call.resp.len,
                        NULL, errmsg);
    }
    dbuf_free(&call.resp);
    dbuf_free(&body);
    return rv;
}

static int s3_put_commit(void *wp, char *errmsg)
{
    struct s3_writer *w = wp;
    struct s3_call call;
    int rv;

    if (w->upload_id == NULL) {
        call_init(&call, "PUT", w->key, "", w->what);
        call.body = w->part;
        call.body_len = w->len;
        rv = s3_perform(w->s3, &call, errmsg);
        dbuf_free(&call.resp);
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
    rv = mp_complete(w, errmsg);
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

struct s3_reader {
    struct s3 *s3;
    CURLM *multi;
    CURL *easy;
    struct curl_slist *hdrs;
    char *url, *path;
    struct dbuf data;   /* received, not yet returned from data.p + off */
    size_t off;
    struct dbuf errbody;
    uint64_t received;  /* body bytes received over all attempts */
    uint64_t at_start;  /* received when the current attempt began */
    int finished;       /* the current transfer ended */
    CURLcode result;
    int attempt;
    int eof;
    int64_t progress_ms; /* last time bytes arrived */
    char etag[256];
    char errbuf[CURL_ERROR_SIZE];
    char key[STORE_KEY_MAX];
    char what[STORE_KEY_MAX + 8];
};

static size_t reader_write_cb(char *buf, size_t size, size_t nmemb,
                              void *data)
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
        if (dbuf_add(&r->data, buf, n) != 0) {
            return 0;
        }
        r->received += n;
    } else {
        dbuf_add(&r->errbody, buf, n);
    }
    r->progress_ms = now_ms();
    return n;
}

static size_t reader_header_cb(char *buf, size_t size, size_t nmemb,
                               void *data)
{
    struct s3_reader *r = data;

    /* Only the first answer's ETag counts: resumes are pinned to it. */
    if (r->etag[0] == '\0') {
        header_cb(buf, size, nmemb, r->etag);
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
    rv = s3_headers(r->s3, "GET", r->path, "", SIGV4_EMPTY_SHA256, extra,
                    nextra, NULL, &r->hdrs, errmsg);
    if (rv != 0) {
        return rv;
    }
    r->easy = curl_easy_init();
    if (r->easy == NULL) {
        s3_msg(errmsg, "%.100s: curl_easy_init failed", r->what);
        return DR_ENOMEM;
    }
    r->errbuf[0] = '\0';
    s3_common_opts(r->s3, r->easy, r->url, r->hdrs, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, reader_write_cb);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, reader_header_cb);
    curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
    if (curl_multi_add_handle(r->multi, r->easy) != CURLM_OK) {
        s3_msg(errmsg, "%.100s: curl_multi_add_handle failed", r->what);
        return DR_ENOMEM;
    }
    dbuf_free(&r->errbody);
    r->errbody.max = S3_ERRBODY_MAX;
    r->finished = 0;
    r->at_start = r->received;
    r->progress_ms = now_ms();
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
                s3_msg(errmsg, "%.100s: curl_multi_perform failed", r->what);
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
                if (now_ms() - r->progress_ms > r->s3->timeout_ms) {
                    s3_msg(errmsg, "%.100s in %.60s: no data from %.60s for %ld ms", r->what, r->s3->url, r->s3->endpoint, r->s3->timeout_ms);
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
            s3_msg(errmsg, "%.100s: out of memory", r->what);
            return DR_ENOMEM;
        }
        if (r->result == CURLE_OK && (status == 200 || status == 206)) {
            if (r->at_start > 0 && status != 206) {
                s3_msg(errmsg, "%.100s in %.80s: the store ignored a Range request on resume", r->what, r->s3->url);
                return DR_EIO;
            }
            r->eof = 1;
            continue;
        }
        if (r->result == CURLE_OK && !http_retryable(status)) {
            rv = http_error(r->s3, r->what, status, r->errbody.p,
                            r->errbody.len, NULL, errmsg);
            if (status == 412) {
                s3_msg(errmsg, "%.100s in %.80s: replaced while being read", r->what, r->s3->url);
            }
            return rv;
        }
        if (r->result != CURLE_OK && !curl_retryable(r->result)) {
            return curl_error(r->s3, r->what, r->result, r->errbuf,
                              r->attempt + 1, errmsg);
        }
        if (r->attempt >= r->s3->max_retries) {
            if (r->result != CURLE_OK) {
                return curl_error(r->s3, r->what, r->result, r->errbuf,
                                  r->attempt + 1, errmsg);
            }
            return http_error(r->s3, r->what, status, r->errbody.p,
                              r->errbody.len, NULL, errmsg);
        }
        backoff(r->attempt);
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
    dbuf_free(&r->data);
    dbuf_free(&r->errbody);
    free(r->url);
    free(r->path);
    free(r);
}

static int s3_get_begin(void *impl, const char *key, void **out,
                        char *errmsg)
{
    struct s3 *s3 = impl;
    struct s3_reader *r;
    int rv;

    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        s3_msg(errmsg, "object %.100s: out of memory", key);
        return DR_ENOMEM;
    }
    r->s3 = s3;
    snprintf(r->key, sizeof(r->key), "%s", key);
    snprintf(r->what, sizeof(r->what), "object %s", key);
    r->path = s3_path(s3, key);
    r->multi = curl_multi_init();
    if (r->path == NULL || r->multi == NULL ||
        asprintf(&r->url, "%s%s", s3->endpoint, r->path) < 0) {
        r->url = NULL;
        s3_msg(errmsg, "object %.100s: out of memory", key);
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

static int s3_head(void *impl, const char *key, struct store_object *obj,
                   char *errmsg)
{
    struct s3_call call;
    char what[STORE_KEY_MAX + 8];
    int rv;

    snprintf(what, sizeof(what), "object %s", key);
    call_init(&call, "HEAD", key, "", what);
    rv = s3_perform(impl, &call, errmsg);
    dbuf_free(&call.resp);
    if (rv != 0) {
        return rv;
    }
    obj->size = call.content_length > 0 ? (uint64_t)call.content_length : 0;
    obj->mtime_ms = call.filetime > 0 ? (int64_t)call.filetime * 1000 : 0;
    return 0;
}

static int s3_list(void *impl, const char *prefix, const char *start_after,
                   size_t page, struct store_object **objs, size_t *n,
                   char **next, char *errmsg)
{
    struct s3 *s3 = impl;
    struct s3_call call;
    char *full = NULL, *enc_prefix = NULL, *enc_after = NULL, *query = NULL;
    char *key = NULL, *after_full = NULL;
    const char *p, *end, *blk, *blkend, *v, *vend;
    size_t cap = 0, plen = strlen(s3->prefix);
    int truncated = 0, rv;
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
    call_init(&call, "GET", NULL, query, what);
    rv = s3_perform(s3, &call, errmsg);
    if (rv != 0) {
        goto out_call;
    }
    p = call.resp.p != NULL ? call.resp.p : "";
    end = p + call.resp.len;
    v = xml_find(p, end, "IsTruncated", &vend);
    truncated = v != NULL && vend - v == 4 && memcmp(v, "true", 4) == 0;
    for (blk = p; (blk = xml_find(blk, end, "Contents", &blkend)) != NULL;
         blk = blkend) {
        uint64_t size = 0;
        int64_t mtime = 0;
        v = xml_find(blk, blkend, "Key", &vend);
        if (v == NULL) {
            continue;
        }
        key = xml_text(v, vend);
        if (key == NULL) {
            goto err_oom_call;
        }
        if (strncmp(key, s3->prefix, plen) != 0 || key[plen] == '\0') {
            free(key);
            key = NULL;
            continue;
        }
        v = xml_find(blk, blkend, "Size", &vend);
        if (v != NULL) {
            size = strtoull(v, NULL, 10);
        }
        v = xml_find(blk, blkend, "LastModified", &vend);
        if (v != NULL) {
            char stamp[40];
            size_t len = (size_t)(vend - v) < 39 ? (size_t)(vend - v) : 39;
            memcpy(stamp, v, len);
            stamp[len] = '\0';
            mtime = parse_iso8601(stamp);
        }
        if (store__objs_push(objs, n, &cap, key + plen, size, mtime) != 0) {
            goto err_oom_call;
        }
        free(key);
        key = NULL;
    }
    if (truncated) {
        if (*n == 0) {
            s3_msg(errmsg, "%.120s: a truncated page without objects", what);
            rv = DR_EMALFORMED;
            goto out_call;
        }
        *next = strdup((*objs)[*n - 1].key);
        if (*next == NULL) {
            goto err_oom_call;
        }
    }
    rv = 0;
    goto out_call;

err_oom_call:
    free(key);
    s3_msg(errmsg, "%.120s: out of memory", what);
    rv = DR_ENOMEM;
out_call:
    dbuf_free(&call.resp);
    goto out;
err_oom:
    s3_msg(errmsg, "%.120s: out of memory", what);
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
    call_init(&call, "DELETE", key, "", what);
    rv = s3_perform(impl, &call, errmsg);
    dbuf_free(&call.resp);
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
};
