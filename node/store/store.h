/* Object stores: one blocking interface, backends file:// and s3://.
 *
 * Every call here may block (disk, network): it is made from a job worker
 * (a `drnode --run-job` process or a thread of one) or from drctl, never
 * from drnode's loop thread. A struct store and the streams opened on it are
 * used by one thread at a time; open one store per thread for parallelism.
 *
 * Errors: DR_EINVAL (bad URL or key), DR_ENOTFOUND (no such object or
 * bucket), DR_EAUTH (credentials refused: 401/403), DR_EUNAVAILABLE (the
 * store cannot be reached, or 5xx after the retries), DR_ETIMEOUT,
 * DR_EIO (local I/O), DR_ECORRUPT (size or SHA-256 differs from what the
 * caller expected). errmsg (256 bytes) always names the object or store.
 * Credentials never appear in an errmsg or a log line. */
#ifndef DR_STORE_H
#define DR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/objkey.h"

#define STORE_SHA256_HEX 65 /* 64 hex digits and a NUL */
#define STORE_KEY_MAX DR_OBJECT_KEY_MAX

struct store;        /* an open store (opaque) */
struct store_writer; /* one object being written */
struct store_reader; /* one object being read */

/* Where credentials come from. Every pointer is borrowed for the call.
 * credentials_file: NULL or a file of "key = value" lines with
 * access_key_id, secret_access_key and optionally session_token (it must
 * not be readable by group or others). Without a file, the environment's
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN are used.
 * file:// stores need none. */
struct store_options
{
    const char *credentials_file;
    long timeout_ms;   /* per request without progress; 0 = 30000 */
    int max_retries;   /* for 5xx and connection resets; -1 = default 4 */
    size_t part_bytes; /* s3 multipart part size; 0 = 8 MiB */
    /* s3 server-side copies of larger objects go in parts of this size
     * (UploadPartCopy); 0 = 5 GiB, CopyObject's limit */
    uint64_t copy_max_bytes;
};

struct store_object
{
    char *key; /* full key, relative to the store's prefix */
    uint64_t size;
    int64_t mtime_ms; /* last modified, 0 when unknown */
};

/* Open the store at url: "file:///abs/dir" or
 * "s3://BUCKET/PREFIX?endpoint=http://127.0.0.1:9000&region=us-east-1"
 * (endpoint optional: AWS's regional endpoint; path-style addressing when
 * an endpoint is given). opts may be NULL. On success *out is the store. */
int store_open(const char *url,
               const struct store_options *opts,
               struct store **out,
               char *errmsg);
void store_close(struct store *s);

/* The URL without credentials or query secrets, for messages. */
const char *store_url(const struct store *s);

/* Streaming put. Keys are relative paths of [A-Za-z0-9._/-] segments, no
 * "." or ".." segment, no leading '/'. The object becomes visible and
 * durable only at store_put_commit, which reports the SHA-256 (hex) and
 * size of the bytes written; a writer that is aborted (or whose process
 * dies) leaves no object under key (a file store may leave a temporary file
 * that store_list never shows). After any error the writer must still be
 * passed to store_put_abort. */
int store_put_begin(struct store *s,
                    const char *key,
                    struct store_writer **out,
                    char *errmsg);
int store_write(struct store_writer *w,
                const void *buf,
                size_t len,
                char *errmsg);
/* Frees w whatever it returns. sha256_hex and size may be NULL. */
int store_put_commit(struct store_writer *w,
                     char *sha256_hex,
                     uint64_t *size,
                     char *errmsg);
void store_put_abort(struct store_writer *w);

/* A streaming put of bytes the caller has already checked: it reads them
 * through a reader that verifies them against sha256_hex (the manifest's),
 * so the writer does not hash them a second time. store_put_commit reports
 * sha256_hex and fails with DR_ECORRUPT, committing nothing, unless exactly
 * size bytes were written. The caller must not commit before its reader
 * returned the end of the object (the read that checks the hash). */
int store_put_begin_known(struct store *s,
                          const char *key,
                          const char *sha256_hex,
                          uint64_t size,
                          struct store_writer **out,
                          char *errmsg);

/* Whole-buffer put; buf is copied. */
int store_put_buf(struct store *s,
                  const char *key,
                  const void *buf,
                  size_t len,
                  char *sha256_hex,
                  char *errmsg);

/* Streaming get. expect_sha256 (hex, borrowed) may be NULL; when given, the
 * reader hashes what it returns and the read that reaches the end fails with
 * DR_ECORRUPT "object KEY: SHA-256 mismatch (expected …, got …)" if they
 * differ (callers that must not use bad data check the whole object before
 * using any of it). */
int store_get_begin(struct store *s,
                    const char *key,
                    const char *expect_sha256,
                    struct store_reader **out,
                    char *errmsg);
/* Reads up to cap bytes; *n == 0 at the end of the object. */
int store_read(struct store_reader *r,
               void *buf,
               size_t cap,
               size_t *n,
               char *errmsg);
void store_get_end(struct store_reader *r);

/* Whole object into a malloc'ed buffer (*buf, *len; caller frees). Objects
 * larger than max_len fail with DR_ELIMIT. */
int store_get_buf(struct store *s,
                  const char *key,
                  const char *expect_sha256,
                  size_t max_len,
                  void **buf,
                  size_t *len,
                  char *errmsg);

/* Whether dst can copy objects from src inside the object service itself
 * (both s3:// on one endpoint, or both on AWS, with the same credentials),
 * so that store_copy moves no bytes through this process. */
bool store_can_copy(const struct store *dst, const struct store *src);

/* Copy key from src to the same key in dst inside the service (only when
 * store_can_copy). The copy must have expect_sha256 (hex) and size bytes:
 * the service's own SHA-256 of the copy when it computes one (S3's
 * x-amz-checksum-algorithm on CopyObject), otherwise the copy read back
 * and hashed here. A copy that differs is deleted and DR_ECORRUPT names
 * both hashes. */
int store_copy(struct store *dst,
               struct store *src,
               const char *key,
               const char *expect_sha256,
               uint64_t size,
               char *errmsg);

/* Size (and mtime) of one object; DR_ENOTFOUND when absent. obj->key is
 * set to a copy of key; free with store_object_free. */
int store_head(struct store *s,
               const char *key,
               struct store_object *obj,
               char *errmsg);

/* One page of the objects whose key starts with prefix, in key order,
 * after start_after (NULL: from the start). *objs (n of them) and *next
 * are malloc'ed; *next is NULL when there are no more pages, otherwise
 * pass it as start_after. Free with store_objects_free and free(). */
int store_list(struct store *s,
               const char *prefix,
               const char *start_after,
               struct store_object **objs,
               size_t *n,
               char **next,
               char *errmsg);

/* Every object whose key starts with prefix, in key order, page by page:
 * cb is called for each until it returns non-zero (returned, with errmsg
 * as cb left it); a listing error is returned with its message. cb may
 * delete the object it is given. */
int store_list_each(struct store *s,
                    const char *prefix,
                    int (*cb)(const struct store_object *obj,
                              void *arg,
                              char *errmsg),
                    void *arg,
                    char *errmsg);

/* Delete one object; deleting an absent object succeeds. */
int store_delete(struct store *s, const char *key, char *errmsg);

void store_object_free(struct store_object *obj);
void store_objects_free(struct store_object *objs, size_t n);

/* SHA-256 of a whole object, read in full: the check behind
 * `drctl backups verify`. */
int store_sha256(struct store *s,
                 const char *key,
                 char *sha256_hex,
                 uint64_t *size,
                 char *errmsg);

/* Bytes and objects every store reader of this process has returned
 * (objects: read to their end), for progress displays; threads add to it
 * concurrently. */
uint64_t store_progress_bytes(void);
uint64_t store_progress_objects(void);
/* What the work is doing when it is not reading the store (a restored
 * server replaying WAL), shown instead of the counters; "" (the start):
 * nothing to say. */
void store_progress_note_set(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void store_progress_note(char *out, size_t cap);

#endif /* DR_STORE_H */
