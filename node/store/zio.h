/* zstd-compressed objects over a store, hashed on both sides.
 *
 * A zio_writer compresses what it is given into one store object and
 * reports the SHA-256 and size of the uncompressed bytes (what the manifest
 * calls the stream) and of the stored object. A zio_reader checks the stored
 * object's SHA-256 (when the caller gives it) and returns uncompressed bytes,
 * hashing them too. Blocking, like store.h: never on drnode's loop thread. */
#ifndef DR_ZIO_H
#define DR_ZIO_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct zio_writer;
struct zio_reader;

/* Sizes and digests of one object, filled when a stream ends. */
struct zio_stats
{
    uint64_t raw_bytes;                /* uncompressed */
    char raw_sha256[STORE_SHA256_HEX]; /* of the uncompressed bytes */
    uint64_t stored_bytes;             /* the object in the store */
    char stored_sha256[STORE_SHA256_HEX];
};

/* level: zstd level (1..19; 0 means 3). */
int zio_writer_open(struct store *s,
                    const char *key,
                    int level,
                    struct zio_writer **out,
                    char *errmsg);
/* Compress on n threads of zstd's own beside the caller's (0: on the
 * caller's); DR_EINVAL if this libzstd cannot. Call before any write. */
int zio_writer_workers(struct zio_writer *w, int n);
/* Small writes are gathered (ZSTD_CStreamInSize) before they are
 * compressed: a failure of the store may surface on a later call. */
int zio_write(struct zio_writer *w, const void *buf, size_t len, char *errmsg);
/* Flush, commit the object and fill st. Frees w whatever it returns. */
int zio_writer_commit(struct zio_writer *w, struct zio_stats *st, char *errmsg);
void zio_writer_abort(struct zio_writer *w);

/* expect_stored_sha256 as in store_get_begin (may be NULL). A corrupt
 * frame is DR_ECORRUPT naming the object. */
int zio_reader_open(struct store *s,
                    const char *key,
                    const char *expect_stored_sha256,
                    struct zio_reader **out,
                    char *errmsg);
/* Up to cap uncompressed bytes; *n == 0 at the end. */
int zio_read(struct zio_reader *r,
             void *buf,
             size_t cap,
             size_t *n,
             char *errmsg);
/* After the last read: the figures of the whole stream. */
void zio_reader_stats(const struct zio_reader *r, struct zio_stats *st);
void zio_reader_close(struct zio_reader *r);

#endif /* DR_ZIO_H */
