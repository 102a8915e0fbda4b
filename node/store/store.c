/* Object stores: URL parsing, key checks, hashing, dispatch to backends. */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/err.h"
#include "store/internal.h"

static _Atomic uint64_t progress_bytes, progress_objects;

uint64_t store_progress_bytes(void)
{
    return progress_bytes;
}

uint64_t store_progress_objects(void)
{
    return progress_objects;
}

static pthread_mutex_t note_lock = PTHREAD_MUTEX_INITIALIZER;
static char note[160];

void store_progress_note_set(const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&note_lock);
    va_start(ap, fmt);
    vsnprintf(note, sizeof(note), fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&note_lock);
}

void store_progress_note(char *out, size_t cap)
{
    pthread_mutex_lock(&note_lock);
    snprintf(out, cap, "%s", note);
    pthread_mutex_unlock(&note_lock);
}
#include "store/store.h"

struct store
{
    const struct store__ops *ops;
    void *impl;
    size_t page;              /* objects per list page */
    char url[STORE__URL_MAX]; /* for messages: no credentials */
};

struct store_writer
{
    struct store *s;
    void *impl;
    EVP_MD_CTX *sha; /* NULL: the caller vouches for known_sha */
    uint64_t size;
    uint64_t known_size;
    char known_sha[STORE_SHA256_HEX];
    int failed; /* an error was returned: only abort remains */
};

struct store_reader
{
    struct store *s;
    void *impl;
    EVP_MD_CTX *sha;
    uint64_t size;
    int done;                      /* the end was reached and checked */
    int failed;                    /* the error, repeated */
    char expect[STORE_SHA256_HEX]; /* empty: no expectation */
    char got[STORE_SHA256_HEX];    /* set when done */
    char key[STORE_KEY_MAX];
    char errmsg[256];
};

/* Prefixes for listing: key characters, no leading '/', may be empty or
 * end anywhere. */
static int check_prefix(const char *prefix, char *errmsg)
{
    char shown[72];
    size_t i;

    dr_printable(prefix, shown, sizeof(shown));
    if (strlen(prefix) >= STORE_KEY_MAX) {
        snprintf(errmsg, 256, "invalid key prefix \"%s...\": too long", shown);
        return DR_EINVAL;
    }
    for (i = 0; prefix[i] != '\0'; i++) {
        if (!dr_object_key_char(prefix[i])) {
            snprintf(errmsg, 256,
                     "invalid key prefix \"%s\": byte 0x%02x is not allowed "
                     "(keys use [A-Za-z0-9._/-])",
                     shown, (unsigned char)prefix[i]);
            return DR_EINVAL;
        }
    }
    if (prefix[0] == '/') {
        snprintf(errmsg, 256,
                 "invalid key prefix \"%s\": must not start with '/'", shown);
        return DR_EINVAL;
    }
    return 0;
}

static int check_sha_hex(const char *hex, char *out, char *errmsg)
{
    char shown[72];
    size_t i;

    for (i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)hex[i])) {
            break;
        }
        out[i] = (char)tolower((unsigned char)hex[i]);
    }
    if (i != 64 || hex[64] != '\0') {
        dr_printable(hex, shown, sizeof(shown));
        snprintf(errmsg, 256, "invalid SHA-256 \"%s\": want 64 hex digits",
                 shown);
        return DR_EINVAL;
    }
    out[64] = '\0';
    return 0;
}

void store__sha_hex(EVP_MD_CTX *ctx, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;

    EVP_DigestFinal_ex(ctx, md, &mdlen);
    for (i = 0; i < mdlen; i++) {
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
    hex[2 * mdlen] = '\0';
}

EVP_MD_CTX *store__sha_new(void)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

int store_open(const char *url,
               const struct store_options *opts,
               struct store **out,
               char *errmsg)
{
    struct store_options defaults;
    struct store *s;
    char shown[96];
    int rv;

    *out = NULL;
    if (opts == NULL) {
        memset(&defaults, 0, sizeof(defaults));
        defaults.max_retries = -1;
        opts = &defaults;
    }
    if (url == NULL) {
        snprintf(errmsg, 256, "store URL: missing");
        return DR_EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(errmsg, 256, "store: out of memory");
        return DR_ENOMEM;
    }
    s->page = STORE__PAGE_DEFAULT;
    if (strncmp(url, "file://", 7) == 0) {
        const char *path = url + 7;
        dr_printable(url, s->url, sizeof(s->url));
        if (path[0] != '/') {
            snprintf(errmsg, 256, "store URL %s: want file:///absolute/dir",
                     s->url);
            rv = DR_EINVAL;
            goto err_after_alloc;
        }
        if (strlen(path) >= STORE__URL_MAX - 8) {
            snprintf(errmsg, 256, "store URL %.80s...: path too long", s->url);
            rv = DR_EINVAL;
            goto err_after_alloc;
        }
        s->ops = &store__file_ops;
        rv = store__file_open(path, s->url, &s->impl, errmsg);
    } else if (strncmp(url, "s3://", 5) == 0) {
        s->ops = &store__s3_ops;
        rv = store__s3_open(url + 5, opts, s->url, s->url, &s->impl, errmsg);
    } else {
        /* Strip anything after '?' in case it carries secrets. */
        dr_printable(url, shown, sizeof(shown));
        shown[strcspn(shown, "?")] = '\0';
        snprintf(errmsg, 256,
                 "store URL \"%s\": unsupported scheme (want file:// or s3://)",
                 shown);
        rv = DR_EINVAL;
    }
    if (rv != 0) {
        goto err_after_alloc;
    }
    *out = s;
    return 0;

err_after_alloc:
    free(s);
    return rv;
}

void store_close(struct store *s)
{
    if (s == NULL) {
        return;
    }
    s->ops->close(s->impl);
    free(s);
}

const char *store_url(const struct store *s)
{
    return s->url;
}

void store__set_page_size(struct store *s, size_t n)
{
    s->page = n > 0 ? n : STORE__PAGE_DEFAULT;
}

static int put_begin(struct store *s,
                     const char *key,
                     const char *known_sha,
                     uint64_t known_size,
                     struct store_writer **out,
                     char *errmsg)
{
    struct store_writer *w;
    int rv;

    *out = NULL;
    rv = dr_object_key_check(key, errmsg);
    if (rv != 0) {
        return rv;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        snprintf(errmsg, 256, "object %.100s: out of memory", key);
        return DR_ENOMEM;
    }
    w->s = s;
    if (known_sha != NULL) {
        rv = check_sha_hex(known_sha, w->known_sha, errmsg);
        if (rv != 0) {
            free(w);
            return rv;
        }
        w->known_size = known_size;
        rv = s->ops->put_begin(s->impl, key, &w->impl, errmsg);
        if (rv != 0) {
            free(w);
            return rv;
        }
        *out = w;
        return 0;
    }
    w->sha = store__sha_new();
    if (w->sha == NULL) {
        snprintf(errmsg, 256, "object %.100s: cannot set up SHA-256", key);
        rv = DR_ENOMEM;
        goto err_after_alloc;
    }
    rv = s->ops->put_begin(s->impl, key, &w->impl, errmsg);
    if (rv != 0) {
        goto err_after_sha;
    }
    *out = w;
    return 0;

err_after_sha:
    EVP_MD_CTX_free(w->sha);
err_after_alloc:
    free(w);
    return rv;
}

int store_put_begin(struct store *s,
                    const char *key,
                    struct store_writer **out,
                    char *errmsg)
{
    return put_begin(s, key, NULL, 0, out, errmsg);
}

int store_put_begin_known(struct store *s,
                          const char *key,
                          const char *sha256_hex,
                          uint64_t size,
                          struct store_writer **out,
                          char *errmsg)
{
    return put_begin(s, key, sha256_hex, size, out, errmsg);
}

int store_write(struct store_writer *w,
                const void *buf,
                size_t len,
                char *errmsg)
{
    int rv;

    if (w->failed) {
        snprintf(errmsg, 256, "object writer: an earlier write failed");
        return DR_EINVAL;
    }
    if (len == 0) {
        return 0;
    }
    if (w->sha != NULL) {
        EVP_DigestUpdate(w->sha, buf, len);
    }
    w->size += len;
    rv = w->s->ops->write(w->impl, buf, len, errmsg);
    if (rv != 0) {
        w->failed = 1;
    }
    return rv;
}

int store_put_commit(struct store_writer *w,
                     char *sha256_hex,
                     uint64_t *size,
                     char *errmsg)
{
    char hex[STORE_SHA256_HEX];
    int rv;

    if (w->failed) {
        store_put_abort(w);
        snprintf(errmsg, 256, "object writer: an earlier write failed");
        return DR_EINVAL;
    }
    if (w->sha == NULL && w->size != w->known_size) {
        snprintf(errmsg, 256,
                 "object writer: %llu bytes written, %llu expected: not "
                 "committed",
                 (unsigned long long)w->size,
                 (unsigned long long)w->known_size);
        store_put_abort(w);
        return DR_ECORRUPT;
    }
    if (w->sha != NULL) {
        store__sha_hex(w->sha, hex);
    } else {
        memcpy(hex, w->known_sha, STORE_SHA256_HEX);
    }
    rv = w->s->ops->put_commit(w->impl, errmsg);
    if (rv == 0) {
        if (sha256_hex != NULL) {
            memcpy(sha256_hex, hex, STORE_SHA256_HEX);
        }
        if (size != NULL) {
            *size = w->size;
        }
    }
    EVP_MD_CTX_free(w->sha);
    free(w);
    return rv;
}

void store_put_abort(struct store_writer *w)
{
    if (w == NULL) {
        return;
    }
    w->s->ops->put_abort(w->impl);
    EVP_MD_CTX_free(w->sha);
    free(w);
}

int store_put_buf(struct store *s,
                  const char *key,
                  const void *buf,
                  size_t len,
                  char *sha256_hex,
                  char *errmsg)
{
    struct store_writer *w;
    int rv;

    rv = store_put_begin(s, key, &w, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = store_write(w, buf, len, errmsg);
    if (rv != 0) {
        store_put_abort(w);
        return rv;
    }
    return store_put_commit(w, sha256_hex, NULL, errmsg);
}

int store_get_begin(struct store *s,
                    const char *key,
                    const char *expect_sha256,
                    struct store_reader **out,
                    char *errmsg)
{
    struct store_reader *r;
    int rv;

    *out = NULL;
    rv = dr_object_key_check(key, errmsg);
    if (rv != 0) {
        return rv;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(errmsg, 256, "object %.100s: out of memory", key);
        return DR_ENOMEM;
    }
    r->s = s;
    snprintf(r->key, sizeof(r->key), "%s", key);
    if (expect_sha256 != NULL) {
        rv = check_sha_hex(expect_sha256, r->expect, errmsg);
        if (rv != 0) {
            goto err_after_alloc;
        }
    }
    r->sha = store__sha_new();
    if (r->sha == NULL) {
        snprintf(errmsg, 256, "object %.100s: cannot set up SHA-256", key);
        rv = DR_ENOMEM;
        goto err_after_alloc;
    }
    rv = s->ops->get_begin(s->impl, key, &r->impl, errmsg);
    if (rv != 0) {
        goto err_after_sha;
    }
    *out = r;
    return 0;

err_after_sha:
    EVP_MD_CTX_free(r->sha);
err_after_alloc:
    free(r);
    return rv;
}

int store_read(struct store_reader *r,
               void *buf,
               size_t cap,
               size_t *n,
               char *errmsg)
{
    int rv;

    *n = 0;
    if (r->failed) {
        memcpy(errmsg, r->errmsg, 256);
        return r->failed;
    }
    if (r->done) {
        return 0;
    }
    if (cap == 0) {
        return 0;
    }
    rv = r->s->ops->read(r->impl, buf, cap, n, r->errmsg);
    if (rv != 0) {
        *n = 0;
        r->failed = rv;
        memcpy(errmsg, r->errmsg, 256);
        return rv;
    }
    if (*n > 0) {
        EVP_DigestUpdate(r->sha, buf, *n);
        r->size += *n;
        progress_bytes += *n;
        return 0;
    }
    r->done = 1;
    progress_objects++;
    store__sha_hex(r->sha, r->got);
    if (r->expect[0] != '\0' && strcmp(r->expect, r->got) != 0) {
        snprintf(r->errmsg, sizeof(r->errmsg),
                 "object %.80s: SHA-256 mismatch (expected %s, got %s)", r->key,
                 r->expect, r->got);
        r->failed = DR_ECORRUPT;
        memcpy(errmsg, r->errmsg, 256);
        return DR_ECORRUPT;
    }
    return 0;
}

const char *store__reader_sha256(const struct store_reader *r)
{
    return r->done ? r->got : "";
}

void store_get_end(struct store_reader *r)
{
    if (r == NULL) {
        return;
    }
    r->s->ops->get_end(r->impl);
    EVP_MD_CTX_free(r->sha);
    free(r);
}

int store_get_buf(struct store *s,
                  const char *key,
                  const char *expect_sha256,
                  size_t max_len,
                  void **buf,
                  size_t *len,
                  char *errmsg)
{
    struct store_reader *r;
    unsigned char *data = NULL, *grown;
    size_t used = 0, cap = 0, n;
    int rv;

    *buf = NULL;
    *len = 0;
    rv = store_get_begin(s, key, expect_sha256, &r, errmsg);
    if (rv != 0) {
        return rv;
    }
    for (;;) {
        if (cap - used < 65536) {
            size_t ncap = cap == 0 ? 65536 : cap * 2;
            if (ncap > max_len + 1) {
                ncap = max_len + 1;
            }
            if (ncap <= used) {
                snprintf(errmsg, 256, "object %.100s: larger than %zu bytes",
                         key, max_len);
                rv = DR_ELIMIT;
                goto err_after_begin;
            }
            grown = realloc(data, ncap);
            if (grown == NULL) {
                snprintf(errmsg, 256, "object %.100s: out of memory", key);
                rv = DR_ENOMEM;
                goto err_after_begin;
            }
            data = grown;
            cap = ncap;
        }
        rv = store_read(r, data + used, cap - used, &n, errmsg);
        if (rv != 0) {
            goto err_after_begin;
        }
        if (n == 0) {
            break;
        }
        used += n;
        if (used > max_len) {
            snprintf(errmsg, 256, "object %.100s: larger than %zu bytes", key,
                     max_len);
            rv = DR_ELIMIT;
            goto err_after_begin;
        }
    }
    store_get_end(r);
    if (data == NULL) {
        data = malloc(1);
        if (data == NULL) {
            snprintf(errmsg, 256, "object %.100s: out of memory", key);
            return DR_ENOMEM;
        }
    }
    *buf = data;
    *len = used;
    return 0;

err_after_begin:
    store_get_end(r);
    free(data);
    return rv;
}

int store_head(struct store *s,
               const char *key,
               struct store_object *obj,
               char *errmsg)
{
    int rv;

    memset(obj, 0, sizeof(*obj));
    rv = dr_object_key_check(key, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = s->ops->head(s->impl, key, obj, errmsg);
    if (rv != 0) {
        return rv;
    }
    obj->key = strdup(key);
    if (obj->key == NULL) {
        snprintf(errmsg, 256, "object %.100s: out of memory", key);
        return DR_ENOMEM;
    }
    return 0;
}

int store_list(struct store *s,
               const char *prefix,
               const char *start_after,
               struct store_object **objs,
               size_t *n,
               char **next,
               char *errmsg)
{
    int rv;

    *objs = NULL;
    *n = 0;
    *next = NULL;
    if (prefix == NULL) {
        prefix = "";
    }
    rv = check_prefix(prefix, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = s->ops->list(s->impl, prefix, start_after, s->page, objs, n, next,
                      errmsg);
    if (rv != 0) {
        store_objects_free(*objs, *n);
        free(*next);
        *objs = NULL;
        *n = 0;
        *next = NULL;
    }
    return rv;
}

int store_list_each(struct store *s,
                    const char *prefix,
                    int (*cb)(const struct store_object *obj,
                              void *arg,
                              char *errmsg),
                    void *arg,
                    char *errmsg)
{
    struct store_object *objs = NULL;
    char *after = NULL, *next = NULL;
    size_t n = 0;
    int rv;

    do {
        rv = store_list(s, prefix, after, &objs, &n, &next, errmsg);
        for (size_t i = 0; rv == 0 && i < n; i++) {
            rv = cb(&objs[i], arg, errmsg);
        }
        store_objects_free(objs, n);
        objs = NULL;
        free(after);
        after = next;
        next = NULL;
    } while (rv == 0 && after != NULL);
    free(after);
    return rv;
}

int store_delete(struct store *s, const char *key, char *errmsg)
{
    int rv = dr_object_key_check(key, errmsg);

    if (rv != 0) {
        return rv;
    }
    return s->ops->del(s->impl, key, errmsg);
}

void store_object_free(struct store_object *obj)
{
    if (obj != NULL) {
        free(obj->key);
        obj->key = NULL;
    }
}

void store_objects_free(struct store_object *objs, size_t n)
{
    size_t i;

    if (objs == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(objs[i].key);
    }
    free(objs);
}

int store__objs_push(struct store_object **objs,
                     size_t *n,
                     size_t *cap,
                     const char *key,
                     uint64_t size,
                     int64_t mtime_ms)
{
    struct store_object *grown;
    char *copy;

    if (*n == *cap) {
        size_t ncap = *cap == 0 ? 64 : *cap * 2;
        grown = realloc(*objs, ncap * sizeof(**objs));
        if (grown == NULL) {
            return DR_ENOMEM;
        }
        *objs = grown;
        *cap = ncap;
    }
    copy = strdup(key);
    if (copy == NULL) {
        return DR_ENOMEM;
    }
    (*objs)[*n].key = copy;
    (*objs)[*n].size = size;
    (*objs)[*n].mtime_ms = mtime_ms;
    (*n)++;
    return 0;
}

int store_sha256(struct store *s,
                 const char *key,
                 char *sha256_hex,
                 uint64_t *size,
                 char *errmsg)
{
    struct store_reader *r;
    unsigned char *buf;
    size_t n;
    int rv;

    buf = malloc(1 << 20);
    if (buf == NULL) {
        snprintf(errmsg, 256, "object %.100s: out of memory", key);
        return DR_ENOMEM;
    }
    rv = store_get_begin(s, key, NULL, &r, errmsg);
    if (rv != 0) {
        goto err_after_alloc;
    }
    do {
        rv = store_read(r, buf, 1 << 20, &n, errmsg);
        if (rv != 0) {
            goto err_after_begin;
        }
    } while (n > 0);
    memcpy(sha256_hex, r->got, STORE_SHA256_HEX);
    if (size != NULL) {
        *size = r->size;
    }
err_after_begin:
    store_get_end(r);
err_after_alloc:
    free(buf);
    return rv;
}

bool store_can_copy(const struct store *dst, const struct store *src)
{
    return dst->ops == src->ops && dst->ops->can_copy != NULL &&
           dst->ops->can_copy(dst->impl, src->impl);
}

int store_copy(struct store *dst,
               struct store *src,
               const char *key,
               const char *expect_sha256,
               uint64_t size,
               char *errmsg)
{
    char expect[STORE_SHA256_HEX], got[STORE_SHA256_HEX];
    uint64_t got_size = size;
    int rv;

    rv = dr_object_key_check(key, errmsg);
    if (rv == 0) {
        rv = check_sha_hex(expect_sha256, expect, errmsg);
    }
    if (rv != 0) {
        return rv;
    }
    if (!store_can_copy(dst, src)) {
        snprintf(errmsg, 256,
                 "object %.80s: %.60s cannot copy from %.60s by itself", key,
                 dst->url, src->url);
        return DR_EINVAL;
    }
    rv = dst->ops->copy(dst->impl, src->impl, key, size, expect, got, errmsg);
    if (rv == 0 && got[0] == '\0') {
        /* The service computed no SHA-256: read the copy back. */
        rv = store_sha256(dst, key, got, &got_size, errmsg);
    }
    if (rv == 0 && (strcmp(got, expect) != 0 || got_size != size)) {
        char ignored[256];
        snprintf(errmsg, 256,
                 "object %.60s: the copy in %.50s has SHA-256 %.16s... "
                 "(%llu bytes), not %.16s... (%llu bytes): deleted",
                 key, dst->url, got, (unsigned long long)got_size, expect,
                 (unsigned long long)size);
        dst->ops->del(dst->impl, key, ignored);
        rv = DR_ECORRUPT;
    }
    if (rv == 0) {
        progress_bytes += size;
        progress_objects++;
    }
    return rv;
}
