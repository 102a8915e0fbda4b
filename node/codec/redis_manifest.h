/* Protobuf encoding of Redis snapshot manifests (proto/redis_manifest.proto):
 * the only code that sees its protobuf-c types. */
#ifndef DR_REDIS_MANIFEST_H
#define DR_REDIS_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#define REDIS_MANIFEST_VERSION 1
#define REDIS_MANIFEST_SHA_HEX 65 /* 64 hex digits and a NUL */
#define REDIS_MANIFEST_DIGEST 32

struct redis_manifest_object
{
    char *key;                               /* store key */
    uint64_t raw_bytes;                      /* uncompressed */
    char raw_sha256[REDIS_MANIFEST_SHA_HEX]; /* hex */
    uint64_t stored_bytes;                   /* as stored */
    char stored_sha256[REDIS_MANIFEST_SHA_HEX];
    uint64_t keys; /* records in the object */
};

struct redis_manifest_type
{
    char *type; /* "string", "hash", ... */
    uint64_t keys;
};

struct redis_manifest
{
    uint32_t format_version; /* REDIS_MANIFEST_VERSION */
    uint32_t record_version; /* version of the record streams */
    char *redis_address;
    char *redis_version;
    uint32_t db;
    uint64_t started_ms;
    uint64_t finished_ms;
    uint64_t keys;
    uint64_t expiring_keys;
    struct redis_manifest_type *types;
    size_t n_types;
    uint8_t digest[REDIS_MANIFEST_DIGEST];
    struct redis_manifest_object *data;
    size_t n_data;
    struct redis_manifest_object key_index;
    uint64_t raw_bytes;
};

/* Encode m (borrowed) into a malloc'ed buffer (*out, *len; caller frees).
 * Returns 0 or DR_ENOMEM. */
int redis_manifest_encode(const struct redis_manifest *m,
                          uint8_t **out,
                          size_t *len);

/* Decode and validate buf into *m, whose strings and arrays are then owned
 * by m (free with redis_manifest_free). On error returns DR_EMALFORMED (not
 * a manifest, or inconsistent: bad digests, counts that do not add up,
 * unsafe object keys) or DR_EVERSION (newer than this code), errmsg (256
 * bytes) says what is wrong, and *m is left empty. */
int redis_manifest_decode(const uint8_t *buf,
                          size_t len,
                          struct redis_manifest *m,
                          char *errmsg);

/* Free what decode allocated; m itself is the caller's. */
void redis_manifest_free(struct redis_manifest *m);

#endif /* DR_REDIS_MANIFEST_H */
