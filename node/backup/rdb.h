/* RDB streams (the snapshot a Redis primary sends a replica): a parser
 * that walks the stream one item at a time without decoding values, and
 * the CRC-64 Redis protects RDB files and DUMP payloads with. Pure: no I/O,
 * no clock.
 *
 * A key's value is returned as the exact bytes the RDB holds for it, which
 * are the bytes DUMP returns for that key minus DUMP's trailer (RDB version
 * and CRC-64): rdb_dump_payload turns one into the other, so an RDB
 * snapshot gives the same per-key payloads and digests as SCAN + DUMP.
 *
 * Supported: RDB versions 1 to RDB_VERSION_MAX, every value type up to
 * set listpacks (20) and streams up to version 3 (21), as Redis 7.2 and
 * Valkey 8 write them. Refused with their offset: Redis 7.4's hashes with
 * field expiry (22..25), module values and module aux data (they cannot be
 * walked without the module), unknown types and opcodes. */
#ifndef DR_RDB_H
#define DR_RDB_H

#include <stddef.h>
#include <stdint.h>

#define RDB_VERSION_MAX 12
#define RDB_DUMP_TRAILER 10 /* version(2) crc64(8), both little-endian */

/* CRC-64/Jones as Redis computes it (reflected, initial value 0). */
uint64_t rdb_crc64(uint64_t crc, const uint8_t *p, size_t len);

enum rdb_item_kind {
    RDB_ITEM_KEY = 1, /* a key in db, with its value */
    RDB_ITEM_AUX,     /* AUX name value (redis-ver, ctime, ...) */
    RDB_ITEM_SELECT,  /* the keys that follow are in db */
    RDB_ITEM_OTHER,   /* RESIZEDB, FUNCTION2, SLOT_INFO: nothing to keep */
    RDB_ITEM_END,     /* EOF opcode and checksum, checked */
};

struct rdb_item
{
    int kind;
    uint32_t db;
    uint8_t type;         /* RDB type byte of the value */
    int64_t expire_at_ms; /* absolute unix ms; 0: no expiry */
    const uint8_t *key;   /* decoded (LZF, integers), valid until next */
    size_t klen;
    const uint8_t *value; /* into the caller's buffer */
    size_t vlen;
    const uint8_t *aux_value; /* AUX: key is the name */
    size_t aux_vlen;
};

struct rdb_parser
{
    uint64_t offset; /* stream offset of the next byte */
    uint64_t crc;    /* of the bytes consumed */
    int version;     /* 0 until the header has been read */
    int ended;
    uint32_t db;
    int64_t expire_at_ms; /* for the next key */
    uint8_t *scratch;     /* decoded key and aux strings */
    size_t scratch_cap;
    uint8_t *aux;
    size_t aux_cap;
};

#define RDB_MORE                                                         \
    (-1) /* rdb_next: the item continues past the buffer (DR_* codes are \
            positive) */

void rdb_parser_init(struct rdb_parser *p);
void rdb_parser_free(struct rdb_parser *p);

/* Reads the header (an RDB_ITEM_OTHER), or the next item, from buf (the stream
 * from p->offset on). Returns 0 and fills *it and *used (bytes consumed), or
 * RDB_MORE when buf holds only part of it (nothing consumed: call again
 * with buf extended), or DR_EINVAL with errmsg naming the problem and its
 * stream offset (corrupt, checksum mismatch), DR_EVERSION likewise for
 * what is well formed but beyond this walker (a newer version, an unknown
 * type, module data, hash field expiry), or DR_ENOMEM. After RDB_ITEM_END
 * nothing more is read. */
int rdb_next(struct rdb_parser *p,
             const uint8_t *buf,
             size_t len,
             size_t *used,
             struct rdb_item *it,
             char *errmsg);

/* DUMP's payload for a key's value: type, value bytes, the 2-byte RDB
 * version and the CRC-64 of all of it, into out (cap at least
 * vlen + 1 + RDB_DUMP_TRAILER). Returns its length. */
size_t rdb_dump_payload(int version,
                        uint8_t type,
                        const uint8_t *value,
                        size_t vlen,
                        uint8_t *out);

/* The parts of a DUMP payload: type, value bytes and RDB version; -1 if
 * it is too short or its CRC-64 does not match. */
int rdb_dump_split(const uint8_t *payload,
                   size_t plen,
                   uint8_t *type,
                   const uint8_t **value,
                   size_t *vlen,
                   int *version);

/* A string value (a DUMP payload of type 0 without its type byte and
 * trailer) decoded into *out (grown as needed, *cap its size): integers
 * and LZF as the RDB stores them. -1 unless it is exactly one string. */
int rdb_string_decode(const uint8_t *value,
                      size_t vlen,
                      uint8_t **out,
                      size_t *cap,
                      size_t *olen);

/* Encoders for writing an RDB a server can start on: the header, SELECTDB,
 * a key's head (its expiry, type and key length; the key's bytes and its
 * value follow), and the end (EOF opcode; the CRC-64 of every byte before
 * it and of the opcode follows, little-endian). Each fills out and returns
 * the length. */
#define RDB_HEADER_LEN 9
#define RDB_SELECT_MAX 10
#define RDB_KEY_HEAD_MAX 19
size_t rdb_put_header(uint8_t out[RDB_HEADER_LEN], int version);
size_t rdb_put_select(uint8_t out[RDB_SELECT_MAX], uint32_t db);
size_t rdb_put_key_head(uint8_t out[RDB_KEY_HEAD_MAX],
                        int64_t expire_at_ms,
                        uint8_t type,
                        size_t klen);

/* LZF decompression (the RDB's compressed strings): exactly ulen bytes of
 * out from in; -1 if the input is corrupt or does not give ulen bytes. */
int rdb_lzf_decompress(const uint8_t *in,
                       size_t ilen,
                       uint8_t *out,
                       size_t ulen);

#endif /* DR_RDB_H */
