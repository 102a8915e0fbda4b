/* The PostgreSQL backup manifest as plain C structs, and its protobuf
 * encoding (proto/pg_manifest.proto documents the fields and the row
 * digest). */
#ifndef DR_PG_MANIFEST_H
#define DR_PG_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PGMAN_MAGIC "cogitator-pg-backup"
#define PGMAN_VERSION 1
/* Row digests (proto/pg_manifest.proto): each row's hash summed. */
enum pgman_digest_alg {
    PGMAN_ROWSUM_SHA256 = 0, /* "rowsum-sha256": manifests before 0.3 */
    PGMAN_ROWSUM_XXH3 = 1,   /* "rowsum-xxh3-128": backups since 0.3 */
};
const char *pgman_digest_alg_name(int alg);
#define PGMAN_SHA256_HEX 65 /* 64 hex digits and a NUL */
#define PGMAN_DIGEST_LEN 32

struct pgman_object
{
    char *key;
    uint64_t raw_bytes;
    char raw_sha256[PGMAN_SHA256_HEX];
    uint64_t stored_bytes;
    char stored_sha256[PGMAN_SHA256_HEX];
};

struct pgman_chunk
{
    struct pgman_object object;
    uint64_t rows;
    uint32_t first_block; /* ctid range [first_block, end_block) */
    uint32_t end_block;   /* 0: to the end of the table */
    uint8_t digest[PGMAN_DIGEST_LEN];
};

struct pgman_table
{
    char *schema;
    char *name;
    char **columns;
    size_t n_columns;
    uint64_t rows;
    uint64_t raw_bytes;
    uint8_t digest[PGMAN_DIGEST_LEN];
    struct pgman_chunk *chunks;
    size_t n_chunks;
    bool partition;
};

struct pgman_sequence
{
    char *schema;
    char *name;
    int64_t last_value;
    bool is_called;
};

struct pgman
{
    uint32_t version;
    char *database;
    char *server_version;
    uint32_t server_version_num;
    char *encoding;
    char *snapshot_id;
    int64_t snapshot_time_ms;
    int64_t created_ms;
    int digest_alg; /* enum pgman_digest_alg */
    struct pgman_object pre_data;
    struct pgman_object post_data;
    struct pgman_table *tables;
    size_t n_tables;
    struct pgman_sequence *sequences;
    size_t n_sequences;
};

/* Encode m (borrowed) into a malloc'ed buffer (*out, *len; the caller
 * frees). Returns 0, DR_EINVAL when m is inconsistent (errmsg says what),
 * or DR_ENOMEM. */
int pgman_encode(const struct pgman *m,
                 uint8_t **out,
                 size_t *len,
                 char *errmsg);

/* Decode and validate buf (borrowed). On success *out is a new manifest
 * owning all its memory (free with pgman_free). Errors: DR_EMALFORMED when
 * the bytes are not a manifest or it is inconsistent (bad magic, digests
 * that are not 32 bytes, chunk rows or digests that don't add up to the
 * table's, duplicate or invalid keys), DR_EVERSION for another version;
 * errmsg (256 bytes) says what. */
int pgman_decode(const uint8_t *buf,
                 size_t len,
                 struct pgman **out,
                 char *errmsg);

/* Free a manifest from pgman_decode, or one built with malloc'ed strings
 * and arrays the same way. NULL is fine. */
void pgman_free(struct pgman *m);

/* a += b (mod 2^256), both big-endian 32-byte integers: how chunk and row
 * digests combine. */
void pgman_digest_add(uint8_t a[PGMAN_DIGEST_LEN],
                      const uint8_t b[PGMAN_DIGEST_LEN]);

#endif /* DR_PG_MANIFEST_H */
