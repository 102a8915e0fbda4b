/* Redis snapshot record streams (format version 1), per-key digests and the
 * key table shared by backup, restore and verify.
 *
 * Every stream (uncompressed; stored zstd-compressed through zio) is
 *   header   "DRR" kind(1) version(1) 0 0 0        8 bytes
 *   records  'K' ...                               see below
 *   trailer  'E' count(u64)                        9 bytes
 * with all integers big-endian. Kind 'D' (data) records are
 *   'K' klen(u32) expire_at_ms(i64) plen(u64) key payload
 * where payload is the server's DUMP reply verbatim and expire_at_ms the
 * absolute unix time the key expires at (0: no expiry). Kind 'I' (key
 * index) records, sorted by key (memcmp, shorter first), are
 *   'K' klen(u32) expire_at_ms(i64) type(u8) digest(16) key
 * with the first 16 bytes of the key's digest. The trailer's count must
 * equal the records read, so a truncated stream is always detected.
 *
 * A key's digest is SHA-256(klen(u32) || key || payload), except for
 * hash-table encoded sets and hashes (RDB types 2 and 4), whose members
 * come out of DUMP in an order that differs between servers: for those it
 * is SHA-256(klen || key || type || RDB version || count || sum of the
 * SHA-256 of each encoded member, or field and value). The snapshot's
 * digest is the sum modulo 2^256 (big-endian) of every key's digest, which
 * does not depend on SCAN order. DUMP payloads carry the server's RDB
 * version, so digests compare between servers of the same version (and
 * the same rdbcompression and encoding thresholds) only. */
#ifndef DR_REDIS_FORMAT_H
#define DR_REDIS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "store/zio.h"

#define RFMT_VERSION 1
#define RFMT_HEADER_LEN 8
#define RFMT_DATA_HEAD_MAX 21 /* 'K' klen expire plen */
#define RFMT_TRAILER_LEN 9
#define RFMT_INDEX_HEAD 30 /* 'K' klen expire type digest */
#define RFMT_KEY_MAX (512u * 1024 * 1024)
#define RFMT_PAYLOAD_MAX (4ull * 1024 * 1024 * 1024)
#define RFMT_SHORT_DIGEST 16

enum rfmt_kind { RFMT_DATA = 'D', RFMT_INDEX = 'I' };

/* Key types, from the RDB type byte that starts a DUMP payload. */
enum rtype {
    RTYPE_OTHER = 0,
    RTYPE_STRING,
    RTYPE_LIST,
    RTYPE_SET,
    RTYPE_ZSET,
    RTYPE_HASH,
    RTYPE_STREAM,
    RTYPE_MODULE,
    RTYPE_COUNT
};
const char *rtype_name(int type);
int rtype_of_payload(const uint8_t *payload, size_t len);

/* Encoders: fill out and return the bytes used. */
size_t rfmt_header(uint8_t out[RFMT_HEADER_LEN], enum rfmt_kind kind);
size_t rfmt_data_head(uint8_t out[RFMT_DATA_HEAD_MAX],
                      uint32_t klen,
                      int64_t expire_at_ms,
                      uint64_t plen);
size_t rfmt_index_head(uint8_t out[RFMT_INDEX_HEAD],
                       uint32_t klen,
                       int64_t expire_at_ms,
                       int type,
                       const uint8_t digest[RFMT_SHORT_DIGEST]);
size_t rfmt_trailer(uint8_t out[RFMT_TRAILER_LEN], uint64_t count);

/* Per-key digest (32 bytes) and the order-independent sum. */
struct rdigest;
struct rdigest *rdigest_new(void);
void rdigest_free(struct rdigest *d);
int rdigest_key(struct rdigest *d,
                const uint8_t *key,
                size_t klen,
                const uint8_t *payload,
                size_t plen,
                uint8_t out[32]);
void rdigest_add(uint8_t sum[32], const uint8_t digest[32]);
void rfmt_hex(const uint8_t *bin, size_t n, char *out); /* out: 2n+1 */

/* One record read back. Pointers borrow the reader's buffer until the next
 * call. */
struct rfmt_rec
{
    int end; /* the trailer: count holds its count */
    uint64_t count;
    const uint8_t *key;
    uint32_t klen;
    int64_t expire_at_ms;
    const uint8_t *payload; /* data streams */
    uint64_t plen;
    int type;              /* index streams */
    const uint8_t *digest; /* index streams, RFMT_SHORT_DIGEST bytes */
};

/* Reads one stream of a known kind from an open zio reader (borrowed; the
 * caller closes it after rfmt_reader_free). name is the object key, for
 * messages (borrowed). */
struct rfmt_reader;
int rfmt_reader_new(struct zio_reader *z,
                    enum rfmt_kind kind,
                    const char *name,
                    struct rfmt_reader **out,
                    char *errmsg);
/* Next record; DR_EMALFORMED naming the object for anything that is not
 * a well-formed stream (including a truncated one), or zio's error. */
int rfmt_next(struct rfmt_reader *r, struct rfmt_rec *rec, char *errmsg);
/* After the trailer: check nothing follows and read to the end, so that
 * zio checks the object's SHA-256. */
int rfmt_finish(struct rfmt_reader *r, char *errmsg);
void rfmt_reader_free(struct rfmt_reader *r);

/* A set of keys with what the snapshot says about each. */
struct rkey
{
    uint8_t *key;
    uint32_t klen;
    uint8_t type;
    uint8_t flags; /* RKEY_* */
    int64_t expire_at_ms;
    uint8_t digest[RFMT_SHORT_DIGEST];
};
#define RKEY_SEEN 1    /* found on the server being compared */
#define RKEY_EXTRA 2   /* on the server, not in the snapshot */
#define RKEY_CHECKED 4 /* matched by a data record (verify) */

struct rkeyarena; /* the keys' bytes, in large blocks */
struct rkeytab
{
    struct rkey *v; /* entries, in insertion order */
    size_t n, cap;
    uint64_t *slots; /* hash tag << 32 | entry index + 1; 0 is empty */
    size_t nslots;   /* power of two */
    struct rkeyarena *arena;
    int sorted; /* by rkeytab_sort, nothing added since */
};
void rkeytab_init(struct rkeytab *t);
void rkeytab_free(struct rkeytab *t);
/* Index of key, or -1. */
long rkeytab_find(const struct rkeytab *t, const uint8_t *key, size_t klen);
/* Forget the entries from index n on (those a corrupt object added). */
void rkeytab_truncate(struct rkeytab *t, size_t n);
/* Add key (copied) unless present; *idx is its entry, *added whether it
 * is new. DR_ENOMEM on allocation failure. */
int rkeytab_add(struct rkeytab *t,
                const uint8_t *key,
                size_t klen,
                long *idx,
                int *added);
/* Build the lookup slots (after appends or a sort) so finds and adds work
 * again. DR_ENOMEM on allocation failure. */
int rkeytab_reindex(struct rkeytab *t);
/* Add key (copied) without looking it up: for sources that never repeat
 * a key (an RDB); rkeytab_sort finds repeats. No finds after. */
int rkeytab_append(struct rkeytab *t,
                   const uint8_t *key,
                   size_t klen,
                   long *idx);
/* Sort the entries by key (drops the lookup slots: no finds after).
 * Returns the index (after sorting) of a key that appears twice, or -1. */
long rkeytab_sort(struct rkeytab *t);

/* A key for a JSON report: printable ASCII as is, other bytes and '\\' as
 * \xHH, cut at about 200 characters. out holds at least 4*200+8 bytes. */
void rfmt_key_display(const uint8_t *key, size_t klen, char *out);
#define RFMT_KEY_DISPLAY_MAX 812

#endif /* DR_REDIS_FORMAT_H */
