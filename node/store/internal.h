/* Object-store internals shared by store.c and its backends (and tests). */
#ifndef DR_STORE_INTERNAL_H
#define DR_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/objkey.h"
#include "store/store.h"

#define STORE__URL_MAX 200
#define STORE__PAGE_DEFAULT 1000

/* One backend. Keys and prefixes reaching these functions are valid
 * (store.c checks them); errmsg is 256 bytes and names the object or the
 * store. Writers and readers hand out opaque backend state; put_commit
 * frees the writer whatever it returns. */
struct store__ops
{
    void (*close)(void *impl);
    int (*put_begin)(void *impl, const char *key, void **w, char *errmsg);
    int (*write)(void *w, const void *buf, size_t len, char *errmsg);
    int (*put_commit)(void *w, char *errmsg);
    void (*put_abort)(void *w);
    int (*get_begin)(void *impl, const char *key, void **r, char *errmsg);
    int (*read)(void *r, void *buf, size_t cap, size_t *n, char *errmsg);
    void (*get_end)(void *r);
    int (*head)(void *impl,
                const char *key,
                struct store_object *obj,
                char *errmsg);
    /* At most page objects; *next as in store_list. */
    int (*list)(void *impl,
                const char *prefix,
                const char *start_after,
                size_t page,
                struct store_object **objs,
                size_t *n,
                char **next,
                char *errmsg);
    int (*del)(void *impl, const char *key, char *errmsg);
    /* Optional: copy key from src (a store of the same backend) into dst
     * without the bytes passing through the caller. can_copy says whether
     * these two can; copy sets sha256_hex to the SHA-256 of the copy as
     * the backend computed it, or "" when it computed none. A backend that
     * can refuses to commit a copy that differs from expect_sha256 (64 hex
     * digits). */
    int (*can_copy)(const void *dst, const void *src);
    int (*copy)(void *dst,
                void *src,
                const char *key,
                uint64_t size,
                const char *expect_sha256,
                char *sha256_hex,
                char *errmsg);
};

extern const struct store__ops store__file_ops;
extern const struct store__ops store__s3_ops;

/* path: absolute directory (borrowed). url: the store's display URL,
 * borrowed for the life of the backend. */
int store__file_open(const char *path,
                     const char *url,
                     void **impl,
                     char *errmsg);
/* rest: the URL after "s3://" (borrowed); url as above. Writes the display
 * URL ("s3://bucket/prefix") into display (STORE__URL_MAX bytes). */
int store__s3_open(const char *rest,
                   const struct store_options *opts,
                   const char *url,
                   char *display,
                   void **impl,
                   char *errmsg);

/* A SHA-256 context (NULL when out of memory), and its digest as 64 hex
 * digits and a NUL into hex (the context is finished). */
#include <openssl/evp.h>
EVP_MD_CTX *store__sha_new(void);
void store__sha_hex(EVP_MD_CTX *ctx, char *hex);

/* Objects per store_list page (tests use small pages); 0 restores the
 * default. */
void store__set_page_size(struct store *s, size_t n);

/* The SHA-256 (hex) of everything a reader returned, once it returned its
 * end; "" before. */
const char *store__reader_sha256(const struct store_reader *r);

/* Append one object to a growing array (*objs, *n, *cap); key copied. */
int store__objs_push(struct store_object **objs,
                     size_t *n,
                     size_t *cap,
                     const char *key,
                     uint64_t size,
                     int64_t mtime_ms);

#endif /* DR_STORE_INTERNAL_H */
