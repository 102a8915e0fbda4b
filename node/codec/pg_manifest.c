/* Protobuf encoding of the PostgreSQL backup manifest, with validation. */
#include "codec/pg_manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/objkey.h"
#include "pg_manifest.pb-c.h"

#define PGMAN_MAX_TABLES 1000000
#define PGMAN_MAX_CHUNKS 1000000

void pgman_digest_add(uint8_t a[PGMAN_DIGEST_LEN],
                      const uint8_t b[PGMAN_DIGEST_LEN])
{
    unsigned carry = 0;
    int i;

    for (i = PGMAN_DIGEST_LEN - 1; i >= 0; i--) {
        unsigned s = (unsigned)a[i] + b[i] + carry;
        a[i] = (uint8_t)s;
        carry = s >> 8;
    }
}

static const char hexdigits[] = "0123456789abcdef";

static void hex_from_bytes(const uint8_t *b, char *hex)
{
    int i;

    for (i = 0; i < 32; i++) {
        hex[2 * i] = hexdigits[b[i] >> 4];
        hex[2 * i + 1] = hexdigits[b[i] & 15];
    }
    hex[64] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int bytes_from_hex(const char *hex, uint8_t *b)
{
    int i;

    if (strlen(hex) != 64) {
        return -1;
    }
    for (i = 0; i < 32; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* Encoding. Messages borrow strings from m; digests live in `bytes`. */

struct enc_object
{
    Dr__PgObject pb;
    uint8_t raw[32];
    uint8_t stored[32];
};

static int object_to_pb(const struct pgman_object *o,
                        struct enc_object *e,
                        const char *what,
                        char *errmsg)
{
    dr__pg_object__init(&e->pb);
    if (o->key == NULL || o->key[0] == '\0') {
        snprintf(errmsg, 256, "manifest: %s has no key", what);
        return DR_EINVAL;
    }
    if (bytes_from_hex(o->raw_sha256, e->raw) != 0 ||
        bytes_from_hex(o->stored_sha256, e->stored) != 0) {
        snprintf(errmsg, 256, "manifest: object %.128s: bad SHA-256 hex",
                 o->key);
        return DR_EINVAL;
    }
    e->pb.key = o->key;
    e->pb.raw_bytes = o->raw_bytes;
    e->pb.raw_sha256.data = e->raw;
    e->pb.raw_sha256.len = 32;
    e->pb.stored_bytes = o->stored_bytes;
    e->pb.stored_sha256.data = e->stored;
    e->pb.stored_sha256.len = 32;
    return 0;
}

int pgman_encode(const struct pgman *m,
                 uint8_t **out,
                 size_t *len,
                 char *errmsg)
{
    Dr__PgManifest pb;
    struct enc_object pre, post, *cobjs = NULL;
    Dr__PgChunk *chunks = NULL, **chunkp = NULL;
    Dr__PgTable *tables = NULL, **tablep = NULL;
    Dr__PgSequence *seqs = NULL, **seqp = NULL;
    size_t n_chunks = 0, i, j, k;
    int rv;

    *out = NULL;
    *len = 0;
    dr__pg_manifest__init(&pb);
    pb.magic = PGMAN_MAGIC;
    pb.version = PGMAN_VERSION;
    pb.database = m->database ? m->database : "";
    pb.server_version = m->server_version ? m->server_version : "";
    pb.server_version_num = m->server_version_num;
    pb.encoding = m->encoding ? m->encoding : "";
    pb.snapshot_id = m->snapshot_id ? m->snapshot_id : "";
    pb.snapshot_time_ms = m->snapshot_time_ms;
    pb.created_ms = m->created_ms;
    if (m->digest_alg != PGMAN_ROWSUM_SHA256 &&
        m->digest_alg != PGMAN_ROWSUM_XXH3) {
        snprintf(errmsg, 256, "manifest: unknown digest algorithm %d",
                 m->digest_alg);
        return DR_EINVAL;
    }
    pb.digest_algorithm = (char *)pgman_digest_alg_name(m->digest_alg);
    rv = object_to_pb(&m->pre_data, &pre, "pre-data", errmsg);
    if (rv == 0) {
        rv = object_to_pb(&m->post_data, &post, "post-data", errmsg);
    }
    if (rv != 0) {
        return rv;
    }
    pb.pre_data = &pre.pb;
    pb.post_data = &post.pb;

    for (i = 0; i < m->n_tables; i++) {
        n_chunks += m->tables[i].n_chunks;
    }
    rv = DR_ENOMEM;
    cobjs = calloc(n_chunks + 1, sizeof(*cobjs));
    chunks = calloc(n_chunks + 1, sizeof(*chunks));
    chunkp = calloc(n_chunks + 1, sizeof(*chunkp));
    tables = calloc(m->n_tables + 1, sizeof(*tables));
    tablep = calloc(m->n_tables + 1, sizeof(*tablep));
    seqs = calloc(m->n_sequences + 1, sizeof(*seqs));
    seqp = calloc(m->n_sequences + 1, sizeof(*seqp));
    if (!cobjs || !chunks || !chunkp || !tables || !tablep || !seqs || !seqp) {
        snprintf(errmsg, 256, "manifest: out of memory");
        goto out;
    }
    k = 0;
    for (i = 0; i < m->n_tables; i++) {
        const struct pgman_table *t = &m->tables[i];
        Dr__PgTable *tp = &tables[i];

        dr__pg_table__init(tp);
        tp->schema = t->schema;
        tp->name = t->name;
        tp->n_columns = t->n_columns;
        tp->columns = t->columns;
        tp->rows = t->rows;
        tp->raw_bytes = t->raw_bytes;
        tp->digest.data = (uint8_t *)t->digest;
        tp->digest.len = PGMAN_DIGEST_LEN;
        tp->partition = t->partition;
        tp->n_chunks = t->n_chunks;
        tp->chunks = &chunkp[k];
        for (j = 0; j < t->n_chunks; j++, k++) {
            const struct pgman_chunk *c = &t->chunks[j];

            rv = object_to_pb(&c->object, &cobjs[k], "chunk", errmsg);
            if (rv != 0) {
                goto out;
            }
            dr__pg_chunk__init(&chunks[k]);
            chunks[k].object = &cobjs[k].pb;
            chunks[k].rows = c->rows;
            chunks[k].first_block = c->first_block;
            chunks[k].end_block = c->end_block;
            chunks[k].digest.data = (uint8_t *)c->digest;
            chunks[k].digest.len = PGMAN_DIGEST_LEN;
            chunkp[k] = &chunks[k];
        }
        tablep[i] = tp;
    }
    pb.n_tables = m->n_tables;
    pb.tables = tablep;
    for (i = 0; i < m->n_sequences; i++) {
        dr__pg_sequence__init(&seqs[i]);
        seqs[i].schema = m->sequences[i].schema;
        seqs[i].name = m->sequences[i].name;
        seqs[i].last_value = m->sequences[i].last_value;
        seqs[i].is_called = m->sequences[i].is_called;
        seqp[i] = &seqs[i];
    }
    pb.n_sequences = m->n_sequences;
    pb.sequences = seqp;

    *len = dr__pg_manifest__get_packed_size(&pb);
    *out = malloc(*len ? *len : 1);
    if (*out == NULL) {
        snprintf(errmsg, 256, "manifest: out of memory");
        rv = DR_ENOMEM;
        goto out;
    }
    dr__pg_manifest__pack(&pb, *out);
    rv = 0;
out:
    free(cobjs);
    free(chunks);
    free(chunkp);
    free(tables);
    free(tablep);
    free(seqs);
    free(seqp);
    return rv;
}

/* Decoding. */

void pgman_free(struct pgman *m)
{
    size_t i, j;

    if (m == NULL) {
        return;
    }
    free(m->database);
    free(m->server_version);
    free(m->encoding);
    free(m->snapshot_id);
    free(m->pre_data.key);
    free(m->post_data.key);
    for (i = 0; i < m->n_tables; i++) {
        struct pgman_table *t = &m->tables[i];
        free(t->schema);
        free(t->name);
        for (j = 0; j < t->n_columns; j++) {
            free(t->columns[j]);
        }
        free(t->columns);
        for (j = 0; j < t->n_chunks; j++) {
            free(t->chunks[j].object.key);
        }
        free(t->chunks);
    }
    free(m->tables);
    for (i = 0; i < m->n_sequences; i++) {
        free(m->sequences[i].schema);
        free(m->sequences[i].name);
    }
    free(m->sequences);
    free(m);
}

static int dup_str(const char *s, char **out)
{
    *out = strdup(s ? s : "");
    return *out ? 0 : DR_ENOMEM;
}

static int object_from_pb(const Dr__PgObject *pb,
                          struct pgman_object *o,
                          const char *what,
                          char *errmsg)
{
    if (pb == NULL) {
        snprintf(errmsg, 256, "manifest: %s object is missing", what);
        return DR_EMALFORMED;
    }
    if (!dr_object_key_ok(pb->key)) {
        snprintf(errmsg, 256, "manifest: %s object has an invalid key", what);
        return DR_EMALFORMED;
    }
    if (pb->raw_sha256.len != 32 || pb->stored_sha256.len != 32) {
        snprintf(errmsg, 256,
                 "manifest: object %.128s: SHA-256 is not 32 bytes", pb->key);
        return DR_EMALFORMED;
    }
    if (dup_str(pb->key, &o->key) != 0) {
        snprintf(errmsg, 256, "manifest: out of memory");
        return DR_ENOMEM;
    }
    o->raw_bytes = pb->raw_bytes;
    hex_from_bytes(pb->raw_sha256.data, o->raw_sha256);
    o->stored_bytes = pb->stored_bytes;
    hex_from_bytes(pb->stored_sha256.data, o->stored_sha256);
    return 0;
}

static int keycmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every object key in the manifest, sorted, to find duplicates. */
static int check_unique_keys(const struct pgman *m, char *errmsg)
{
    size_t n = 2, i, j, k = 0;
    const char **keys;
    int rv = 0;

    for (i = 0; i < m->n_tables; i++) {
        n += m->tables[i].n_chunks;
    }
    keys = malloc(n * sizeof(*keys));
    if (keys == NULL) {
        snprintf(errmsg, 256, "manifest: out of memory");
        return DR_ENOMEM;
    }
    keys[k++] = m->pre_data.key;
    keys[k++] = m->post_data.key;
    for (i = 0; i < m->n_tables; i++) {
        for (j = 0; j < m->tables[i].n_chunks; j++) {
            keys[k++] = m->tables[i].chunks[j].object.key;
        }
    }
    qsort(keys, n, sizeof(*keys), keycmp);
    for (i = 1; i < n; i++) {
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            snprintf(errmsg, 256, "manifest: object %.128s is listed twice",
                     keys[i]);
            rv = DR_EMALFORMED;
            break;
        }
    }
    free(keys);
    return rv;
}

static int table_from_pb(const Dr__PgTable *pb,
                         struct pgman_table *t,
                         char *errmsg)
{
    uint8_t sum[PGMAN_DIGEST_LEN];
    uint64_t rows = 0, raw = 0;
    size_t j;
    int rv;

    if (pb->schema[0] == '\0' || pb->name[0] == '\0') {
        snprintf(errmsg, 256, "manifest: a table has no schema or name");
        return DR_EMALFORMED;
    }
    if (dup_str(pb->schema, &t->schema) || dup_str(pb->name, &t->name)) {
        goto nomem;
    }
    if (pb->digest.len != PGMAN_DIGEST_LEN) {
        snprintf(errmsg, 256,
                 "manifest: table %.60s.%.60s: digest is not 32 "
                 "bytes",
                 pb->schema, pb->name);
        return DR_EMALFORMED;
    }
    if (pb->n_chunks == 0 || pb->n_chunks > PGMAN_MAX_CHUNKS) {
        snprintf(errmsg, 256, "manifest: table %.60s.%.60s: %zu chunks",
                 pb->schema, pb->name, pb->n_chunks);
        return DR_EMALFORMED;
    }
    t->columns = calloc(pb->n_columns + 1, sizeof(*t->columns));
    if (t->columns == NULL) {
        goto nomem;
    }
    for (j = 0; j < pb->n_columns; j++) {
        if (pb->columns[j][0] == '\0') {
            snprintf(errmsg, 256,
                     "manifest: table %.60s.%.60s: empty column "
                     "name",
                     pb->schema, pb->name);
            return DR_EMALFORMED;
        }
        if (dup_str(pb->columns[j], &t->columns[j])) {
            goto nomem;
        }
        t->n_columns++;
    }
    t->rows = pb->rows;
    t->raw_bytes = pb->raw_bytes;
    memcpy(t->digest, pb->digest.data, PGMAN_DIGEST_LEN);
    t->partition = pb->partition;
    t->chunks = calloc(pb->n_chunks, sizeof(*t->chunks));
    if (t->chunks == NULL) {
        goto nomem;
    }
    memset(sum, 0, sizeof(sum));
    for (j = 0; j < pb->n_chunks; j++) {
        const Dr__PgChunk *cp = pb->chunks[j];
        struct pgman_chunk *c = &t->chunks[j];

        rv = object_from_pb(cp->object, &c->object, "chunk", errmsg);
        t->n_chunks++;
        if (rv != 0) {
            return rv;
        }
        if (cp->digest.len != PGMAN_DIGEST_LEN) {
            snprintf(errmsg, 256,
                     "manifest: chunk %.128s: digest is not 32 "
                     "bytes",
                     c->object.key);
            return DR_EMALFORMED;
        }
        /* Ranges are in ctid order and only the last one is open. */
        if ((cp->end_block != 0 && cp->end_block <= cp->first_block) ||
            (cp->end_block == 0 && j + 1 != pb->n_chunks) ||
            (j > 0 && cp->first_block != pb->chunks[j - 1]->end_block)) {
            snprintf(errmsg, 256,
                     "manifest: chunk %.128s: block range "
                     "[%u, %u) out of order",
                     c->object.key, cp->first_block, cp->end_block);
            return DR_EMALFORMED;
        }
        c->rows = cp->rows;
        c->first_block = cp->first_block;
        c->end_block = cp->end_block;
        memcpy(c->digest, cp->digest.data, PGMAN_DIGEST_LEN);
        pgman_digest_add(sum, c->digest);
        rows += c->rows;
        raw += c->object.raw_bytes;
    }
    if (pb->chunks[0]->first_block != 0) {
        snprintf(errmsg, 256,
                 "manifest: table %.60s.%.60s: first chunk does "
                 "not start at block 0",
                 pb->schema, pb->name);
        return DR_EMALFORMED;
    }
    if (rows != t->rows || raw != t->raw_bytes ||
        memcmp(sum, t->digest, PGMAN_DIGEST_LEN) != 0) {
        snprintf(errmsg, 256,
                 "manifest: table %.60s.%.60s: chunks do not add "
                 "up to the table's rows, bytes or digest",
                 pb->schema, pb->name);
        return DR_EMALFORMED;
    }
    return 0;
nomem:
    snprintf(errmsg, 256, "manifest: out of memory");
    return DR_ENOMEM;
}

const char *pgman_digest_alg_name(int alg)
{
    return alg == PGMAN_ROWSUM_XXH3 ? "rowsum-xxh3-128" : "rowsum-sha256";
}

int pgman_decode(const uint8_t *buf,
                 size_t len,
                 struct pgman **out,
                 char *errmsg)
{
    Dr__PgManifest *pb;
    struct pgman *m;
    size_t i;
    int rv, alg;

    *out = NULL;
    pb = dr__pg_manifest__unpack(NULL, len, buf);
    if (pb == NULL) {
        snprintf(errmsg, 256,
                 "manifest: not a protobuf PgManifest (%zu "
                 "bytes)",
                 len);
        return DR_EMALFORMED;
    }
    if (strcmp(pb->magic, PGMAN_MAGIC) != 0) {
        snprintf(errmsg, 256, "manifest: bad magic \"%.40s\"", pb->magic);
        rv = DR_EMALFORMED;
        goto err_after_unpack;
    }
    if (pb->version != PGMAN_VERSION) {
        snprintf(errmsg, 256,
                 "manifest: version %u is not supported (this "
                 "build reads version %d)",
                 pb->version, PGMAN_VERSION);
        rv = DR_EVERSION;
        goto err_after_unpack;
    }
    if (strcmp(pb->digest_algorithm, "rowsum-sha256") == 0) {
        alg = PGMAN_ROWSUM_SHA256;
    } else if (strcmp(pb->digest_algorithm, "rowsum-xxh3-128") == 0) {
        alg = PGMAN_ROWSUM_XXH3;
    } else {
        snprintf(errmsg, 256, "manifest: unknown digest algorithm \"%.40s\"",
                 pb->digest_algorithm);
        rv = DR_EMALFORMED;
        goto err_after_unpack;
    }
    if (pb->n_tables > PGMAN_MAX_TABLES) {
        snprintf(errmsg, 256, "manifest: %zu tables", pb->n_tables);
        rv = DR_EMALFORMED;
        goto err_after_unpack;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        rv = DR_ENOMEM;
        snprintf(errmsg, 256, "manifest: out of memory");
        goto err_after_unpack;
    }
    m->digest_alg = alg;
    m->version = pb->version;
    m->server_version_num = pb->server_version_num;
    m->snapshot_time_ms = pb->snapshot_time_ms;
    m->created_ms = pb->created_ms;
    if (dup_str(pb->database, &m->database) ||
        dup_str(pb->server_version, &m->server_version) ||
        dup_str(pb->encoding, &m->encoding) ||
        dup_str(pb->snapshot_id, &m->snapshot_id)) {
        rv = DR_ENOMEM;
        snprintf(errmsg, 256, "manifest: out of memory");
        goto err_after_alloc;
    }
    if (m->encoding[0] == '\0') {
        snprintf(errmsg, 256, "manifest: no encoding");
        rv = DR_EMALFORMED;
        goto err_after_alloc;
    }
    rv = object_from_pb(pb->pre_data, &m->pre_data, "pre-data", errmsg);
    if (rv == 0) {
        rv = object_from_pb(pb->post_data, &m->post_data, "post-data", errmsg);
    }
    if (rv != 0) {
        goto err_after_alloc;
    }
    m->tables = calloc(pb->n_tables + 1, sizeof(*m->tables));
    m->sequences = calloc(pb->n_sequences + 1, sizeof(*m->sequences));
    if (m->tables == NULL || m->sequences == NULL) {
        rv = DR_ENOMEM;
        snprintf(errmsg, 256, "manifest: out of memory");
        goto err_after_alloc;
    }
    for (i = 0; i < pb->n_tables; i++) {
        m->n_tables++;
        rv = table_from_pb(pb->tables[i], &m->tables[i], errmsg);
        if (rv != 0) {
            goto err_after_alloc;
        }
    }
    for (i = 0; i < pb->n_sequences; i++) {
        const Dr__PgSequence *sp = pb->sequences[i];
        m->n_sequences++;
        if (sp->schema[0] == '\0' || sp->name[0] == '\0') {
            snprintf(errmsg, 256,
                     "manifest: a sequence has no schema or "
                     "name");
            rv = DR_EMALFORMED;
            goto err_after_alloc;
        }
        if (dup_str(sp->schema, &m->sequences[i].schema) ||
            dup_str(sp->name, &m->sequences[i].name)) {
            rv = DR_ENOMEM;
            snprintf(errmsg, 256, "manifest: out of memory");
            goto err_after_alloc;
        }
        m->sequences[i].last_value = sp->last_value;
        m->sequences[i].is_called = sp->is_called;
    }
    rv = check_unique_keys(m, errmsg);
    if (rv != 0) {
        goto err_after_alloc;
    }
    dr__pg_manifest__free_unpacked(pb, NULL);
    *out = m;
    return 0;

err_after_alloc:
    pgman_free(m);
err_after_unpack:
    dr__pg_manifest__free_unpacked(pb, NULL);
    return rv;
}
