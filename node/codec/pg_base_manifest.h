/* Protobuf encoding of base backup manifests
 * (proto/pg_base_manifest.proto): the only code that sees their protobuf-c
 * types. */
#ifndef DR_PG_BASE_MANIFEST_H
#define DR_PG_BASE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#define PG_BASE_MANIFEST_VERSION 1
#define PG_BASE_SHA_HEX 65  /* 64 hex digits and a NUL */
#define PG_BASE_NAME_MAX 63 /* PostgreSQL's NAMEDATALEN - 1 */

struct pg_base_object
{
    char *key;
    uint64_t raw_bytes;
    char raw_sha256[PG_BASE_SHA_HEX];
    uint64_t stored_bytes;
    char stored_sha256[PG_BASE_SHA_HEX];
};

struct pg_base_manifest
{
    uint32_t format_version; /* PG_BASE_MANIFEST_VERSION */
    uint64_t system_identifier;
    uint32_t timeline;
    uint64_t start_lsn;
    uint64_t stop_lsn;
    uint64_t started_ms;
    uint64_t finished_ms;
    uint32_t server_version_num;
    struct pg_base_object *parts;
    size_t n_parts;
    uint64_t raw_bytes;
    uint64_t files;
    char pg_manifest_sha256[PG_BASE_SHA_HEX];
    /* The bootstrap superuser's name (OID 10), malloc'ed; NULL when not
     * known. At most PG_BASE_NAME_MAX bytes. */
    char *superuser;
};

/* Encode m (borrowed) into a malloc'ed buffer (*out, *len; caller frees).
 * Returns 0 or DR_ENOMEM. */
int pg_base_manifest_encode(const struct pg_base_manifest *m,
                            uint8_t **out,
                            size_t *len);

/* Decode and validate buf into *m (free with pg_base_manifest_free). On
 * error returns DR_EMALFORMED (not such a manifest, or inconsistent: no
 * parts, bad digests, sizes that do not add up, unsafe keys, a stop before
 * the start) or DR_EVERSION (newer than this code), errmsg (256 bytes) says
 * what is wrong, and *m is left empty. */
int pg_base_manifest_decode(const uint8_t *buf,
                            size_t len,
                            struct pg_base_manifest *m,
                            char *errmsg);

void pg_base_manifest_free(struct pg_base_manifest *m);

#endif /* DR_PG_BASE_MANIFEST_H */
