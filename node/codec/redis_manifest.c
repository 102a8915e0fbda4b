/* Protobuf encoding and validation of Redis snapshot manifests. */
#include "codec/redis_manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/objkey.h"
#include "redis_manifest.pb-c.h"

#define RM_MAX_OBJECTS 100000
#define RM_MAX_TYPES 64

static void object_to_pb(const struct redis_manifest_object *o,
                         Dr__RedisObject *pb)
{
    dr__redis_object__init(pb);
    pb->key = o->key != NULL ? o->key : "";
    pb->raw_bytes = o->raw_bytes;
    pb->raw_sha256 = (char *)o->raw_sha256;
    pb->stored_bytes = o->stored_bytes;
    pb->stored_sha256 = (char *)o->stored_sha256;
    pb->keys = o->keys;
}

int redis_manifest_encode(const struct redis_manifest *m,
                          uint8_t **out,
                          size_t *len)
{
    Dr__RedisManifest pb;
    Dr__RedisObject *data = NULL, **datap = NULL, index;
    Dr__RedisTypeCount *types = NULL, **typesp = NULL;
    size_t i;
    int rv = DR_ENOMEM;

    *out = NULL;
    *len = 0;
    dr__redis_manifest__init(&pb);
    pb.format_version = m->format_version;
    pb.record_version = m->record_version;
    pb.redis_address = m->redis_address != NULL ? m->redis_address : "";
    pb.redis_version = m->redis_version != NULL ? m->redis_version : "";
    pb.db = m->db;
    pb.started_ms = m->started_ms;
    pb.finished_ms = m->finished_ms;
    pb.keys = m->keys;
    pb.expiring_keys = m->expiring_keys;
    pb.raw_bytes = m->raw_bytes;
    pb.digest.data = (uint8_t *)m->digest;
    pb.digest.len = REDIS_MANIFEST_DIGEST;

    if (m->n_types > 0) {
        types = calloc(m->n_types, sizeof(*types));
        typesp = calloc(m->n_types, sizeof(*typesp));
        if (types == NULL || typesp == NULL) {
            goto out;
        }
        for (i = 0; i < m->n_types; i++) {
            dr__redis_type_count__init(&types[i]);
            types[i].type = m->types[i].type;
            types[i].keys = m->types[i].keys;
            typesp[i] = &types[i];
        }
    }
    pb.n_types = m->n_types;
    pb.types = typesp;

    if (m->n_data > 0) {
        data = calloc(m->n_data, sizeof(*data));
        datap = calloc(m->n_data, sizeof(*datap));
        if (data == NULL || datap == NULL) {
            goto out;
        }
        for (i = 0; i < m->n_data; i++) {
            object_to_pb(&m->data[i], &data[i]);
            datap[i] = &data[i];
        }
    }
    pb.n_data = m->n_data;
    pb.data = datap;
    object_to_pb(&m->key_index, &index);
    pb.key_index = &index;

    *len = dr__redis_manifest__get_packed_size(&pb);
    *out = malloc(*len > 0 ? *len : 1);
    if (*out == NULL) {
        *len = 0;
        goto out;
    }
    dr__redis_manifest__pack(&pb, *out);
    rv = 0;
out:
    free(data);
    free(datap);
    free(types);
    free(typesp);
    return rv;
}

static int object_from_pb(const Dr__RedisObject *pb,
                          const char *what,
                          struct redis_manifest_object *o,
                          char *errmsg)
{
    if (pb == NULL) {
        snprintf(errmsg, 256, "manifest: %s is missing", what);
        return DR_EMALFORMED;
    }
    if (!dr_object_key_ok(pb->key)) {
        snprintf(errmsg, 256, "manifest: %s has an invalid object key", what);
        return DR_EMALFORMED;
    }
    if (!dr_sha256_hex_ok(pb->raw_sha256) ||
        !dr_sha256_hex_ok(pb->stored_sha256)) {
        snprintf(errmsg, 256,
                 "manifest: object %.150s: SHA-256 is not 64 lowercase hex "
                 "digits",
                 pb->key);
        return DR_EMALFORMED;
    }
    o->key = strdup(pb->key);
    if (o->key == NULL) {
        snprintf(errmsg, 256, "manifest: out of memory");
        return DR_ENOMEM;
    }
    o->raw_bytes = pb->raw_bytes;
    memcpy(o->raw_sha256, pb->raw_sha256, REDIS_MANIFEST_SHA_HEX);
    o->stored_bytes = pb->stored_bytes;
    memcpy(o->stored_sha256, pb->stored_sha256, REDIS_MANIFEST_SHA_HEX);
    o->keys = pb->keys;
    return 0;
}

static int decode_fields(const Dr__RedisManifest *pb,
                         struct redis_manifest *m,
                         char *errmsg)
{
    uint64_t sum;
    size_t i;
    int rv;

    if (pb->format_version == 0) {
        snprintf(errmsg, 256,
                 "manifest: not a Redis snapshot manifest (no format "
                 "version)");
        return DR_EMALFORMED;
    }
    if (pb->format_version > REDIS_MANIFEST_VERSION) {
        snprintf(errmsg, 256,
                 "manifest: format version %u is not supported (this build "
                 "reads up to %d)",
                 pb->format_version, REDIS_MANIFEST_VERSION);
        return DR_EVERSION;
    }
    if (pb->digest.len != REDIS_MANIFEST_DIGEST) {
        snprintf(errmsg, 256, "manifest: digest is %zu bytes, expected %d",
                 pb->digest.len, REDIS_MANIFEST_DIGEST);
        return DR_EMALFORMED;
    }
    if (pb->n_data > RM_MAX_OBJECTS || pb->n_types > RM_MAX_TYPES) {
        snprintf(errmsg, 256, "manifest: too many objects or types");
        return DR_EMALFORMED;
    }
    m->format_version = pb->format_version;
    m->record_version = pb->record_version;
    m->db = pb->db;
    m->started_ms = pb->started_ms;
    m->finished_ms = pb->finished_ms;
    m->keys = pb->keys;
    m->expiring_keys = pb->expiring_keys;
    m->raw_bytes = pb->raw_bytes;
    memcpy(m->digest, pb->digest.data, REDIS_MANIFEST_DIGEST);
    m->redis_address = strdup(pb->redis_address);
    m->redis_version = strdup(pb->redis_version);
    if (m->redis_address == NULL || m->redis_version == NULL) {
        snprintf(errmsg, 256, "manifest: out of memory");
        return DR_ENOMEM;
    }
    if (m->expiring_keys > m->keys) {
        snprintf(errmsg, 256, "manifest: %llu expiring keys out of %llu",
                 (unsigned long long)m->expiring_keys,
                 (unsigned long long)m->keys);
        return DR_EMALFORMED;
    }

    m->types = calloc(pb->n_types + 1, sizeof(*m->types));
    if (m->types == NULL) {
        snprintf(errmsg, 256, "manifest: out of memory");
        return DR_ENOMEM;
    }
    sum = 0;
    for (i = 0; i < pb->n_types; i++) {
        if (pb->types[i]->type == NULL || pb->types[i]->type[0] == '\0') {
            snprintf(errmsg, 256, "manifest: type count %zu has no name", i);
            return DR_EMALFORMED;
        }
        m->types[i].type = strdup(pb->types[i]->type);
        if (m->types[i].type == NULL) {
            snprintf(errmsg, 256, "manifest: out of memory");
            return DR_ENOMEM;
        }
        m->n_types = i + 1;
        m->types[i].keys = pb->types[i]->keys;
        sum += pb->types[i]->keys;
    }
    if (sum != m->keys) {
        snprintf(errmsg, 256,
                 "manifest: per-type counts add up to %llu, not %llu keys",
                 (unsigned long long)sum, (unsigned long long)m->keys);
        return DR_EMALFORMED;
    }

    m->data = calloc(pb->n_data + 1, sizeof(*m->data));
    if (m->data == NULL) {
        snprintf(errmsg, 256, "manifest: out of memory");
        return DR_ENOMEM;
    }
    sum = 0;
    for (i = 0; i < pb->n_data; i++) {
        char what[48];
        snprintf(what, sizeof(what), "data object %zu", i);
        rv = object_from_pb(pb->data[i], what, &m->data[i], errmsg);
        if (rv != 0) {
            return rv;
        }
        m->n_data = i + 1;
        sum += m->data[i].keys;
    }
    if (sum != m->keys) {
        snprintf(errmsg, 256,
                 "manifest: data objects hold %llu records, not %llu keys",
                 (unsigned long long)sum, (unsigned long long)m->keys);
        return DR_EMALFORMED;
    }
    if (m->n_data == 0) {
        snprintf(errmsg, 256, "manifest: no data objects");
        return DR_EMALFORMED;
    }
    rv = object_from_pb(pb->key_index, "key index", &m->key_index, errmsg);
    if (rv != 0) {
        return rv;
    }
    if (m->key_index.keys != m->keys) {
        snprintf(errmsg, 256, "manifest: key index holds %llu keys, not %llu",
                 (unsigned long long)m->key_index.keys,
                 (unsigned long long)m->keys);
        return DR_EMALFORMED;
    }
    return 0;
}

int redis_manifest_decode(const uint8_t *buf,
                          size_t len,
                          struct redis_manifest *m,
                          char *errmsg)
{
    Dr__RedisManifest *pb;
    int rv;

    memset(m, 0, sizeof(*m));
    pb = dr__redis_manifest__unpack(NULL, len, buf);
    if (pb == NULL) {
        snprintf(errmsg, 256,
                 "manifest: not a Redis snapshot manifest (%zu bytes do not "
                 "decode)",
                 len);
        return DR_EMALFORMED;
    }
    rv = decode_fields(pb, m, errmsg);
    dr__redis_manifest__free_unpacked(pb, NULL);
    if (rv != 0) {
        redis_manifest_free(m);
    }
    return rv;
}

void redis_manifest_free(struct redis_manifest *m)
{
    size_t i;

    free(m->redis_address);
    free(m->redis_version);
    for (i = 0; i < m->n_types; i++) {
        free(m->types[i].type);
    }
    free(m->types);
    for (i = 0; i < m->n_data; i++) {
        free(m->data[i].key);
    }
    free(m->data);
    free(m->key_index.key);
    memset(m, 0, sizeof(*m));
}
