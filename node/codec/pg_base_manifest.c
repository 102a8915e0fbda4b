/* Protobuf encoding and validation of base backup manifests. */
#include "codec/pg_base_manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/objkey.h"
#include "pg_base_manifest.pb-c.h"

#define PB_MAX_PARTS 100000

int pg_base_manifest_encode(const struct pg_base_manifest *m,
                            uint8_t **out,
                            size_t *len)
{
    Dr__PgBaseManifest pb;
    Dr__PgBaseObject *parts, **partsp;
    int rv = DR_ENOMEM;

    *out = NULL;
    *len = 0;
    dr__pg_base_manifest__init(&pb);
    pb.format_version = m->format_version;
    pb.system_identifier = m->system_identifier;
    pb.timeline = m->timeline;
    pb.start_lsn = m->start_lsn;
    pb.stop_lsn = m->stop_lsn;
    pb.started_ms = m->started_ms;
    pb.finished_ms = m->finished_ms;
    pb.server_version_num = m->server_version_num;
    pb.raw_bytes = m->raw_bytes;
    pb.files = m->files;
    pb.pg_manifest_sha256 = (char *)m->pg_manifest_sha256;
    pb.bootstrap_superuser = m->superuser != NULL ? m->superuser : "";
    parts = calloc(m->n_parts + 1, sizeof(*parts));
    partsp = calloc(m->n_parts + 1, sizeof(*partsp));
    if (parts == NULL || partsp == NULL) {
        goto out;
    }
    for (size_t i = 0; i < m->n_parts; i++) {
        const struct pg_base_object *o = &m->parts[i];
        dr__pg_base_object__init(&parts[i]);
        parts[i].key = o->key != NULL ? o->key : "";
        parts[i].raw_bytes = o->raw_bytes;
        parts[i].raw_sha256 = (char *)o->raw_sha256;
        parts[i].stored_bytes = o->stored_bytes;
        parts[i].stored_sha256 = (char *)o->stored_sha256;
        partsp[i] = &parts[i];
    }
    pb.n_parts = m->n_parts;
    pb.parts = partsp;
    *len = dr__pg_base_manifest__get_packed_size(&pb);
    *out = malloc(*len > 0 ? *len : 1);
    if (*out == NULL) {
        *len = 0;
        goto out;
    }
    dr__pg_base_manifest__pack(&pb, *out);
    rv = 0;
out:
    free(parts);
    free(partsp);
    return rv;
}

static int decode_fields(const Dr__PgBaseManifest *pb,
                         struct pg_base_manifest *m,
                         char *errmsg)
{
    uint64_t sum = 0;

    if (pb->format_version == 0) {
        snprintf(errmsg, 256,
                 "manifest: not a base backup manifest (no format version)");
        return DR_EMALFORMED;
    }
    if (pb->format_version > PG_BASE_MANIFEST_VERSION) {
        snprintf(errmsg, 256,
                 "manifest: format version %u is not supported (this build "
                 "reads up to %d)",
                 pb->format_version, PG_BASE_MANIFEST_VERSION);
        return DR_EVERSION;
    }
    if (pb->system_identifier == 0 || pb->timeline == 0) {
        snprintf(errmsg, 256,
                 "manifest: no system identifier or timeline: not a base "
                 "backup manifest");
        return DR_EMALFORMED;
    }
    if (pb->stop_lsn < pb->start_lsn || pb->start_lsn == 0) {
        snprintf(errmsg, 256,
                 "manifest: WAL range %llX..%llX is empty or backwards",
                 (unsigned long long)pb->start_lsn,
                 (unsigned long long)pb->stop_lsn);
        return DR_EMALFORMED;
    }
    if (pb->n_parts == 0 || pb->n_parts > PB_MAX_PARTS) {
        snprintf(errmsg, 256, "manifest: %zu parts (want 1..%d)", pb->n_parts,
                 PB_MAX_PARTS);
        return DR_EMALFORMED;
    }
    if (!dr_sha256_hex_ok(pb->pg_manifest_sha256)) {
        snprintf(errmsg, 256,
                 "manifest: backup_manifest SHA-256 is not 64 lowercase hex "
                 "digits");
        return DR_EMALFORMED;
    }
    if (strlen(pb->bootstrap_superuser) > PG_BASE_NAME_MAX) {
        snprintf(errmsg, 256,
                 "manifest: bootstrap superuser name of %zu bytes (a "
                 "PostgreSQL name has at most %d)",
                 strlen(pb->bootstrap_superuser), PG_BASE_NAME_MAX);
        return DR_EMALFORMED;
    }
    if (pb->bootstrap_superuser[0] != '\0' &&
        (m->superuser = strdup(pb->bootstrap_superuser)) == NULL) {
        snprintf(errmsg, 256, "manifest: out of memory");
        return DR_ENOMEM;
    }
    m->format_version = pb->format_version;
    m->system_identifier = pb->system_identifier;
    m->timeline = pb->timeline;
    m->start_lsn = pb->start_lsn;
    m->stop_lsn = pb->stop_lsn;
    m->started_ms = pb->started_ms;
    m->finished_ms = pb->finished_ms;
    m->server_version_num = pb->server_version_num;
    m->raw_bytes = pb->raw_bytes;
    m->files = pb->files;
    memcpy(m->pg_manifest_sha256, pb->pg_manifest_sha256, PG_BASE_SHA_HEX);
    m->parts = calloc(pb->n_parts, sizeof(*m->parts));
    if (m->parts == NULL) {
        snprintf(errmsg, 256, "manifest: out of memory");
        return DR_ENOMEM;
    }
    for (size_t i = 0; i < pb->n_parts; i++) {
        const Dr__PgBaseObject *o = pb->parts[i];
        struct pg_base_object *p = &m->parts[i];
        if (o == NULL || !dr_object_key_ok(o->key)) {
            snprintf(errmsg, 256,
                     "manifest: part %zu has an invalid object key", i);
            return DR_EMALFORMED;
        }
        if (!dr_sha256_hex_ok(o->raw_sha256) ||
            !dr_sha256_hex_ok(o->stored_sha256)) {
            snprintf(errmsg, 256,
                     "manifest: part %.150s: SHA-256 is not 64 lowercase hex "
                     "digits",
                     o->key);
            return DR_EMALFORMED;
        }
        p->key = strdup(o->key);
        if (p->key == NULL) {
            snprintf(errmsg, 256, "manifest: out of memory");
            return DR_ENOMEM;
        }
        m->n_parts = i + 1;
        p->raw_bytes = o->raw_bytes;
        p->stored_bytes = o->stored_bytes;
        memcpy(p->raw_sha256, o->raw_sha256, PG_BASE_SHA_HEX);
        memcpy(p->stored_sha256, o->stored_sha256, PG_BASE_SHA_HEX);
        sum += p->raw_bytes;
    }
    if (sum != m->raw_bytes) {
        snprintf(errmsg, 256, "manifest: parts hold %llu bytes, not %llu",
                 (unsigned long long)sum, (unsigned long long)m->raw_bytes);
        return DR_EMALFORMED;
    }
    return 0;
}

int pg_base_manifest_decode(const uint8_t *buf,
                            size_t len,
                            struct pg_base_manifest *m,
                            char *errmsg)
{
    Dr__PgBaseManifest *pb;
    int rv;

    memset(m, 0, sizeof(*m));
    pb = dr__pg_base_manifest__unpack(NULL, len, buf);
    if (pb == NULL) {
        snprintf(errmsg, 256,
                 "manifest: not a base backup manifest (%zu bytes do not "
                 "decode)",
                 len);
        return DR_EMALFORMED;
    }
    rv = decode_fields(pb, m, errmsg);
    dr__pg_base_manifest__free_unpacked(pb, NULL);
    if (rv != 0) {
        pg_base_manifest_free(m);
    }
    return rv;
}

void pg_base_manifest_free(struct pg_base_manifest *m)
{
    for (size_t i = 0; i < m->n_parts; i++) {
        free(m->parts[i].key);
    }
    free(m->parts);
    free(m->superuser);
    memset(m, 0, sizeof(*m));
}
