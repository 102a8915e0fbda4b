/* Internals of the s3:// store shared by its files: s3.c (open, put,
 * get, list, delete), s3_http.c (signed requests with retries) and
 * s3_text.c (buffers, XML, times, URL decoding). */
#ifndef DR_STORE_S3_INTERNAL_H
#define DR_STORE_S3_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "aws/creds.h"
#include "aws/sigv4.h"
#include "store/internal.h"

#define S3_PART_DEFAULT (8u << 20)
#define S3_COPY_MAX_DEFAULT (5ull << 30) /* CopyObject's limit */
#define S3_TIMEOUT_DEFAULT 30000
#define S3_RETRIES_DEFAULT 4
#define S3_ERRBODY_MAX 16384
#define S3_LIST_MAX 1000

struct s3
{
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
    uint64_t copy_max; /* larger objects are copied in parts */
    int aws;           /* no endpoint given: AWS itself */
    const char *url;   /* display URL, borrowed from struct store */
    CURL *easy;        /* reused, so connections are kept alive */
};

/* A growing byte buffer. */
struct dbuf
{
    char *p;
    size_t len, cap;
    size_t max; /* 0: unbounded; beyond it bytes are dropped */
};

/* One request with its body in memory. */
struct s3_call
{
    const char *method;
    const char *key;   /* NULL: the bucket */
    const char *query; /* encoded, "" for none */
    const void *body;  /* PUT and POST */
    size_t body_len;
    const char *what; /* "object KEY" or "store", for messages */
    const struct sigv4_header *extra; /* more headers to send and sign */
    size_t nextra;                    /* at most 4 */
    /* results */
    long status;
    struct dbuf resp;
    char etag[256];
    curl_off_t content_length;
    curl_off_t filetime;
    char code[64]; /* S3's error Code, "" when none */
};

/* Fill a 256-byte errmsg. */
void s3__msg(char *errmsg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* s3_text.c */
/* Append n bytes (dropped beyond b->max); 0, or -1 when out of memory. */
int s3__dbuf_add(struct dbuf *b, const void *data, size_t n);
void s3__dbuf_free(struct dbuf *b);
/* The text of the first <tag>...</tag> in [s, end), or NULL; *vend ends
 * it. */
const char *s3__xml_find(const char *s,
                         const char *end,
                         const char *tag,
                         const char **vend);
/* [s, end) with XML entities decoded, malloc'ed; NULL when malformed or
 * out of memory. */
char *s3__xml_text(const char *s, const char *end);
int s3__xml_escape_add(struct dbuf *b, const char *s);
/* Milliseconds since the epoch of an ISO 8601 UTC time, -1 if malformed. */
int64_t s3__parse_iso8601(const char *s);
/* Percent-decode s[0..len) into out (cap bytes); -1 when malformed. */
int s3__pct_decode(const char *s, size_t len, char *out, size_t cap);
/* 1 when b is a bucket name we accept. */
int s3__bucket_ok(const char *b);

/* s3_http.c */
/* curl_global_init, once per process; DR_EIO with errmsg when it
 * failed. */
int s3__global_init(char *errmsg);
int64_t s3__now_ms(void);
/* Sleep before retry attempt (1, 2, ...): exponential with jitter. */
void s3__backoff(int attempt);
int s3__curl_retryable(CURLcode c);
int s3__http_retryable(long status);
/* Path of key (NULL: the bucket) as sent; malloc'ed. */
char *s3__s3_path(struct s3 *s3, const char *key);
/* The signed headers of one request (extra: more headers to sign) into
 * *out. */
int s3__s3_headers(struct s3 *s3,
                   const char *method,
                   const char *path,
                   const char *query,
                   const char *payload_sha,
                   const struct sigv4_header *extra,
                   size_t nextra,
                   const char *content_type,
                   struct curl_slist **out,
                   char *errmsg);
size_t s3__header_cb(char *buf, size_t size, size_t nmemb, void *data);
/* An S3 error answer as errmsg (S3's Code copied into code, 64 bytes);
 * DR_ENOTFOUND, DR_EAUTH, DR_EUNAVAILABLE, DR_ECONFLICT or DR_EINVAL by
 * status. */
int s3__http_error(struct s3 *s3,
                   const char *what,
                   long status,
                   const char *body,
                   size_t len,
                   char *code,
                   char *errmsg);
/* A transport error after attempts tries as errmsg: DR_ETIMEOUT,
 * DR_EUNAVAILABLE when retrying could help, else DR_EIO. */
int s3__curl_error(struct s3 *s3,
                   const char *what,
                   CURLcode c,
                   const char *errbuf,
                   int attempts,
                   char *errmsg);
/* Options every request of s3 sets on e. */
void s3__s3_common_opts(struct s3 *s3,
                        CURL *e,
                        const char *url,
                        struct curl_slist *hdrs,
                        char *errbuf);
/* Run call (retried with back-off on transport errors, 5xx and 429). */
int s3__s3_perform(struct s3 *s3, struct s3_call *call, char *errmsg);
void s3__call_init(struct s3_call *call,
                   const char *method,
                   const char *key,
                   const char *query,
                   const char *what);

/* s3.c: a multipart upload's start (*upload_id and the encoded
 * "uploadId=..." query, malloc'ed), its end with the parts' ETags in order
 * (an error inside a 200 answer counts as one), and its abandonment. */
int s3__mp_create(struct s3 *s3,
                  const char *key,
                  const char *what,
                  char **upload_id,
                  char **upload_q,
                  char *errmsg);
int s3__mp_complete(struct s3 *s3,
                    const char *key,
                    const char *what,
                    const char *upload_q,
                    char *const *etags,
                    size_t n,
                    char *errmsg);
void s3__mp_abort(struct s3 *s3,
                  const char *key,
                  const char *what,
                  const char *upload_q);

/* One ListObjectsV2 page (text[0..len), NUL-terminated at len, as a
 * struct dbuf is) into objs: the keys under prefix, without it, in the
 * page's order; *next is the last key when the page is truncated. what
 * names the listing in errmsg. Returns 0, DR_EMALFORMED (a truncated page
 * without objects) or DR_ENOMEM; on error the caller frees objs and next,
 * as for store__ops.list. */
int s3__list_parse(const char *text,
                   size_t len,
                   const char *prefix,
                   const char *what,
                   struct store_object **objs,
                   size_t *n,
                   char **next,
                   char *errmsg);

/* s3_copy.c */
int s3__can_copy(const void *dst, const void *src);
int s3__copy(void *dst,
             void *src,
             const char *key,
             uint64_t size,
             const char *expect_sha256,
             char *sha256_hex,
             char *errmsg);

#endif /* DR_STORE_S3_INTERNAL_H */
