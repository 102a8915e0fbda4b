/* Redis snapshot record streams, per-key digests and the key table. */
#define _GNU_SOURCE /* qsort_r */
#include "backup/redis_format.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define RFMT_READ_CHUNK (256 * 1024)

static const char *const rtype_names[RTYPE_COUNT] = {
    "other", "string", "list", "set", "zset", "hash", "stream", "module",
};

const char *rtype_name(int type)
{
    return type >= 0 && type < RTYPE_COUNT ? rtype_names[type] : "other";
}

/* RDB object types (rdb.h), stable across Redis versions. */
int rtype_of_payload(const uint8_t *payload, size_t len)
{
    if (len == 0) {
        return RTYPE_OTHER;
    }
    switch (payload[0]) {
        case 0:
            return RTYPE_STRING;
        case 1:
        case 10:
        case 14:
        case 18:
            return RTYPE_LIST;
        case 2:
        case 11:
        case 20:
            return RTYPE_SET;
        case 3:
        case 5:
        case 12:
        case 17:
            return RTYPE_ZSET;
        case 4:
        case 9:
        case 13:
        case 16:
            return RTYPE_HASH;
        case 15:
        case 19:
        case 21:
            return RTYPE_STREAM;
        case 6:
        case 7:
            return RTYPE_MODULE;
        default:
            return RTYPE_OTHER;
    }
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

size_t rfmt_header(uint8_t out[RFMT_HEADER_LEN], enum rfmt_kind kind)
{
    out[0] = 'D';
    out[1] = 'R';
    out[2] = 'R';
    out[3] = (uint8_t)kind;
    out[4] = RFMT_VERSION;
    out[5] = out[6] = out[7] = 0;
    return RFMT_HEADER_LEN;
}

size_t rfmt_data_head(uint8_t out[RFMT_DATA_HEAD_MAX],
                      uint32_t klen,
                      int64_t expire_at_ms,
                      uint64_t plen)
{
    out[0] = 'K';
    put_u32(out + 1, klen);
    put_u64(out + 5, (uint64_t)expire_at_ms);
    put_u64(out + 13, plen);
    return RFMT_DATA_HEAD_MAX;
}

size_t rfmt_trailer(uint8_t out[RFMT_TRAILER_LEN], uint64_t count)
{
    out[0] = 'E';
    put_u64(out + 1, count);
    return RFMT_TRAILER_LEN;
}

struct rdigest
{
    EVP_MD_CTX *ctx;
    EVP_MD *md; /* fetched once: EVP_sha256() looks it up on every init */
};

struct rdigest *rdigest_new(void)
{
    struct rdigest *d = malloc(sizeof(*d));

    if (d == NULL) {
        return NULL;
    }
    d->ctx = EVP_MD_CTX_new();
    d->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (d->ctx == NULL || d->md == NULL) {
        EVP_MD_CTX_free(d->ctx);
        EVP_MD_free(d->md);
        free(d);
        return NULL;
    }
    return d;
}

void rdigest_free(struct rdigest *d)
{
    if (d != NULL) {
        EVP_MD_CTX_free(d->ctx);
        EVP_MD_free(d->md);
        free(d);
    }
}

/* RDB length encoding (rdbLoadLen): *special is the low bits of an
 * encoded-string marker, or -1. */
static int rdb_len(const uint8_t *p,
                   size_t n,
                   size_t *pos,
                   uint64_t *len,
                   int *special)
{
    uint8_t b;

    *special = -1;
    if (*pos >= n) {
        return -1;
    }
    b = p[*pos];
    switch (b >> 6) {
        case 0:
            *len = b & 0x3f;
            *pos += 1;
            return 0;
        case 1:
            if (*pos + 2 > n) {
                return -1;
            }
            *len = (uint64_t)(b & 0x3f) << 8 | p[*pos + 1];
            *pos += 2;
            return 0;
        case 2:
            if (b == 0x80 && *pos + 5 <= n) {
                *len = get_u32(p + *pos + 1);
                *pos += 5;
                return 0;
            }
            if (b == 0x81 && *pos + 9 <= n) {
                *len = get_u64(p + *pos + 1);
                *pos += 9;
                return 0;
            }
            return -1;
        default:
            *special = b & 0x3f;
            *pos += 1;
            return 0;
    }
}

/* Skip one RDB string (plain, integer or LZF encoded). */
static int rdb_skip_string(const uint8_t *p, size_t n, size_t *pos)
{
    uint64_t len, ulen;
    int special;

    if (rdb_len(p, n, pos, &len, &special) != 0) {
        return -1;
    }
    if (special == 0 || special == 1 || special == 2) {
        len = special == 0 ? 1 : special == 1 ? 2 : 4;
    } else if (special == 3) {
        if (rdb_len(p, n, pos, &len, &special) != 0 || special != -1 ||
            rdb_len(p, n, pos, &ulen, &special) != 0 || special != -1) {
            return -1;
        }
    } else if (special != -1) {
        return -1;
    }
    if (len > n - *pos) {
        return -1;
    }
    *pos += (size_t)len;
    return 0;
}

/* Hash-table encoded sets (RDB type 2) and hashes (4) are dumped in the
 * table's iteration order, which differs between two servers holding the
 * same value. Their digest sums one SHA-256 per member (per field and
 * value) instead, so it does not depend on that order. Returns -1 when the
 * payload does not parse (the caller digests the raw bytes). */
static int digest_unordered(struct rdigest *d,
                            const uint8_t *key,
                            size_t klen,
                            const uint8_t *payload,
                            size_t plen,
                            uint8_t out[32])
{
    uint8_t kl[4], cnt[8], sum[32], e[32];
    uint64_t count, i;
    size_t pos = 1, start;
    int special, pairs = payload[0] == 4;
    unsigned n = 0;

    memset(sum, 0, sizeof(sum));
    if (plen < 11 || rdb_len(payload, plen - 10, &pos, &count, &special) != 0 ||
        special != -1) {
        return -1;
    }
    for (i = 0; i < count; i++) {
        start = pos;
        if (rdb_skip_string(payload, plen - 10, &pos) != 0 ||
            (pairs && rdb_skip_string(payload, plen - 10, &pos) != 0)) {
            return -1;
        }
        if (EVP_DigestInit_ex(d->ctx, d->md, NULL) != 1 ||
            EVP_DigestUpdate(d->ctx, payload + start, pos - start) != 1 ||
            EVP_DigestFinal_ex(d->ctx, e, &n) != 1) {
            return -1;
        }
        rdigest_add(sum, e);
    }
    if (pos != plen - 10) {
        return -1;
    }
    put_u32(kl, (uint32_t)klen);
    put_u64(cnt, count);
    /* key, type, RDB version (not the order-dependent CRC), members. */
    if (EVP_DigestInit_ex(d->ctx, d->md, NULL) != 1 ||
        EVP_DigestUpdate(d->ctx, kl, 4) != 1 ||
        EVP_DigestUpdate(d->ctx, key, klen) != 1 ||
        EVP_DigestUpdate(d->ctx, payload, 1) != 1 ||
        EVP_DigestUpdate(d->ctx, payload + plen - 10, 2) != 1 ||
        EVP_DigestUpdate(d->ctx, cnt, 8) != 1 ||
        EVP_DigestUpdate(d->ctx, sum, 32) != 1 ||
        EVP_DigestFinal_ex(d->ctx, out, &n) != 1 || n != 32) {
        return -1;
    }
    return 0;
}

int rdigest_key(struct rdigest *d,
                const uint8_t *key,
                size_t klen,
                const uint8_t *payload,
                size_t plen,
                uint8_t out[32])
{
    uint8_t kl[4];
    unsigned n = 0;

    if (plen > 0 && (payload[0] == 2 || payload[0] == 4) &&
        digest_unordered(d, key, klen, payload, plen, out) == 0) {
        return 0;
    }
    put_u32(kl, (uint32_t)klen);
    if (EVP_DigestInit_ex(d->ctx, d->md, NULL) != 1 ||
        EVP_DigestUpdate(d->ctx, kl, 4) != 1 ||
        EVP_DigestUpdate(d->ctx, key, klen) != 1 ||
        EVP_DigestUpdate(d->ctx, payload, plen) != 1 ||
        EVP_DigestFinal_ex(d->ctx, out, &n) != 1 || n != 32) {
        return DR_ENOMEM;
    }
    return 0;
}

void rdigest_add(uint8_t sum[32], const uint8_t digest[32])
{
    unsigned carry = 0;
    int i;

    for (i = 31; i >= 0; i--) {
        carry += (unsigned)sum[i] + digest[i];
        sum[i] = (uint8_t)carry;
        carry >>= 8;
    }
}

void rfmt_hex(const uint8_t *bin, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hx[bin[i] >> 4];
        out[2 * i + 1] = hx[bin[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Reader */

struct rfmt_reader
{
    struct zio_reader *z;
    enum rfmt_kind kind;
    const char *name;
    uint8_t *buf;
    size_t cap, pos, len; /* unread bytes are buf[pos..len) */
    int eof;
    int ended; /* trailer seen */
    uint64_t records;
};

static int need(struct rfmt_reader *r, size_t n, char *errmsg)
{
    size_t got;
    int rv;

    while (r->len - r->pos < n) {
        if (r->eof) {
            snprintf(errmsg, 256,
                     "object %.180s: truncated record stream (after %llu "
                     "records)",
                     r->name, (unsigned long long)r->records);
            return DR_EMALFORMED;
        }
        if (r->pos > 0) {
            memmove(r->buf, r->buf + r->pos, r->len - r->pos);
            r->len -= r->pos;
            r->pos = 0;
        }
        if (r->cap - r->len < RFMT_READ_CHUNK || r->cap < n) {
            size_t ncap = r->cap * 2;
            uint8_t *nb;
            while (ncap < n + RFMT_READ_CHUNK) {
                ncap *= 2;
            }
            nb = realloc(r->buf, ncap);
            if (nb == NULL) {
                snprintf(errmsg, 256, "object %.180s: out of memory", r->name);
                return DR_ENOMEM;
            }
            r->buf = nb;
            r->cap = ncap;
        }
        rv = zio_read(r->z, r->buf + r->len, r->cap - r->len, &got, errmsg);
        if (rv != 0) {
            return rv;
        }
        if (got == 0) {
            r->eof = 1;
        }
        r->len += got;
    }
    return 0;
}

int rfmt_reader_new(struct zio_reader *z,
                    enum rfmt_kind kind,
                    const char *name,
                    struct rfmt_reader **out,
                    char *errmsg)
{
    struct rfmt_reader *r;
    const uint8_t *h;
    int rv;

    *out = NULL;
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(errmsg, 256, "out of memory");
        return DR_ENOMEM;
    }
    r->z = z;
    r->kind = kind;
    r->name = name;
    r->cap = 4 * RFMT_READ_CHUNK;
    r->buf = malloc(r->cap);
    if (r->buf == NULL) {
        free(r);
        snprintf(errmsg, 256, "out of memory");
        return DR_ENOMEM;
    }
    rv = need(r, RFMT_HEADER_LEN, errmsg);
    if (rv != 0) {
        rfmt_reader_free(r);
        return rv;
    }
    h = r->buf + r->pos;
    if (h[0] != 'D' || h[1] != 'R' || h[2] != 'R' || h[3] != (uint8_t)kind) {
        snprintf(errmsg, 256, "object %.180s: not a Redis %s stream", name,
                 kind == RFMT_DATA ? "data" : "key index");
        rfmt_reader_free(r);
        return DR_EMALFORMED;
    }
    if (h[4] != RFMT_VERSION) {
        snprintf(errmsg, 256,
                 "object %.180s: record format version %u is not supported",
                 name, h[4]);
        rfmt_reader_free(r);
        return DR_EVERSION;
    }
    r->pos += RFMT_HEADER_LEN;
    *out = r;
    return 0;
}

int rfmt_next(struct rfmt_reader *r, struct rfmt_rec *rec, char *errmsg)
{
    const uint8_t *p;
    uint32_t klen;
    uint64_t plen;
    int rv;

    memset(rec, 0, sizeof(*rec));
    if (r->ended) {
        rec->end = 1;
        rec->count = r->records;
        return 0;
    }
    rv = need(r, 1, errmsg);
    if (rv != 0) {
        return rv;
    }
    p = r->buf + r->pos;
    if (p[0] == 'E') {
        rv = need(r, RFMT_TRAILER_LEN, errmsg);
        if (rv != 0) {
            return rv;
        }
        rec->count = get_u64(r->buf + r->pos + 1);
        r->pos += RFMT_TRAILER_LEN;
        if (rec->count != r->records) {
            snprintf(errmsg, 256,
                     "object %.180s: trailer counts %llu records, read %llu",
                     r->name, (unsigned long long)rec->count,
                     (unsigned long long)r->records);
            return DR_EMALFORMED;
        }
        r->ended = 1;
        rec->end = 1;
        return 0;
    }
    if (p[0] != 'K') {
        snprintf(errmsg, 256,
                 "object %.180s: bad record tag 0x%02x after %llu records",
                 r->name, p[0], (unsigned long long)r->records);
        return DR_EMALFORMED;
    }
    rv = need(r, 5, errmsg);
    if (rv != 0) {
        return rv;
    }
    klen = get_u32(r->buf + r->pos + 1);
    if (klen > RFMT_KEY_MAX) {
        snprintf(errmsg, 256, "object %.180s: record %llu: key of %u bytes",
                 r->name, (unsigned long long)r->records, klen);
        return DR_EMALFORMED;
    }
    if (r->kind == RFMT_DATA) {
        rv = need(r, RFMT_DATA_HEAD_MAX, errmsg);
        if (rv != 0) {
            return rv;
        }
        p = r->buf + r->pos;
        plen = get_u64(p + 13);
        if (plen > RFMT_PAYLOAD_MAX) {
            snprintf(errmsg, 256,
                     "object %.180s: record %llu: payload of %llu bytes",
                     r->name, (unsigned long long)r->records,
                     (unsigned long long)plen);
            return DR_EMALFORMED;
        }
        rv = need(r, RFMT_DATA_HEAD_MAX + (size_t)klen + (size_t)plen, errmsg);
        if (rv != 0) {
            return rv;
        }
        p = r->buf + r->pos;
        rec->klen = klen;
        rec->expire_at_ms = (int64_t)get_u64(p + 5);
        rec->plen = plen;
        rec->key = p + RFMT_DATA_HEAD_MAX;
        rec->payload = rec->key + klen;
        rec->type = rtype_of_payload(rec->payload, plen);
        r->pos += RFMT_DATA_HEAD_MAX + (size_t)klen + (size_t)plen;
    } else {
        rv = need(r, RFMT_INDEX_HEAD + (size_t)klen, errmsg);
        if (rv != 0) {
            return rv;
        }
        p = r->buf + r->pos;
        rec->klen = klen;
        rec->expire_at_ms = (int64_t)get_u64(p + 5);
        rec->type = p[13];
        if (rec->type >= RTYPE_COUNT) {
            snprintf(errmsg, 256, "object %.180s: record %llu: bad type %d",
                     r->name, (unsigned long long)r->records, rec->type);
            return DR_EMALFORMED;
        }
        rec->digest = p + 14;
        rec->key = p + RFMT_INDEX_HEAD;
        r->pos += RFMT_INDEX_HEAD + (size_t)klen;
    }
    r->records++;
    return 0;
}

int rfmt_finish(struct rfmt_reader *r, char *errmsg)
{
    int rv;

    if (!r->ended) {
        snprintf(errmsg, 256, "object %.180s: no trailer", r->name);
        return DR_EMALFORMED;
    }
    /* Anything after the trailer is damage; reading to the end also makes
     * zio check the whole object. */
    rv = need(r, 1, errmsg);
    if (rv == 0) {
        snprintf(errmsg, 256, "object %.180s: data after the trailer", r->name);
        return DR_EMALFORMED;
    }
    if (rv == DR_EMALFORMED && r->eof && r->len == r->pos) {
        return 0;
    }
    return rv;
}

void rfmt_reader_free(struct rfmt_reader *r)
{
    if (r != NULL) {
        free(r->buf);
        free(r);
    }
}

size_t rfmt_index_head(uint8_t out[RFMT_INDEX_HEAD],
                       uint32_t klen,
                       int64_t expire_at_ms,
                       int type,
                       const uint8_t digest[RFMT_SHORT_DIGEST])
{
    out[0] = 'K';
    put_u32(out + 1, klen);
    put_u64(out + 5, (uint64_t)expire_at_ms);
    out[13] = (uint8_t)type;
    memcpy(out + 14, digest, RFMT_SHORT_DIGEST);
    return RFMT_INDEX_HEAD;
}

/* Key table: open addressing over entry indexes. */

static uint64_t hash_key(const uint8_t *key, size_t klen)
{
    uint64_t h = 1469598103934665603ull;
    size_t i;

    for (i = 0; i < klen; i++) {
        h ^= key[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

/* Keys live in blocks freed together: a million small mallocs and frees
 * cost more than the backup's hashing. */
#define RKEY_BLOCK (1u << 20)
struct rkeyarena
{
    struct rkeyarena *next;
    size_t used, cap;
    uint8_t bytes[];
};

static uint8_t *arena_copy(struct rkeytab *t, const uint8_t *key, size_t klen)
{
    struct rkeyarena *a = t->arena;
    uint8_t *p;

    if (a == NULL || a->cap - a->used < klen) {
        size_t cap = klen > RKEY_BLOCK / 8 ? klen : RKEY_BLOCK;
        struct rkeyarena *n = malloc(sizeof(*n) + cap);
        if (n == NULL) {
            return NULL;
        }
        n->used = 0;
        n->cap = cap;
        if (a != NULL && cap != RKEY_BLOCK) { /* a big key: keep a's room */
            n->next = a->next;
            a->next = n;
        } else {
            n->next = a;
            t->arena = n;
        }
        a = n;
    }
    p = a->bytes + a->used;
    memcpy(p, key, klen);
    a->used += klen;
    return p;
}

void rkeytab_init(struct rkeytab *t)
{
    memset(t, 0, sizeof(*t));
}

void rkeytab_free(struct rkeytab *t)
{
    while (t->arena != NULL) {
        struct rkeyarena *n = t->arena->next;
        free(t->arena);
        t->arena = n;
    }
    free(t->v);
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

/* A slot holds (32 bits of the key's hash << 32) | (entry index + 1), so
 * probes rarely touch the entries themselves. */
#define SLOT_ENTRY(x) ((uint32_t)(x))
#define SLOT_TAG(x) ((uint32_t)((x) >> 32))

static size_t slot_of(const struct rkeytab *t,
                      const uint8_t *key,
                      size_t klen,
                      uint64_t h)
{
    size_t mask = t->nslots - 1;
    size_t s = (size_t)h & mask;
    uint32_t tag = (uint32_t)(h >> 32);

    for (;;) {
        uint64_t x = t->slots[s];
        uint32_t e = SLOT_ENTRY(x);
        if (e == 0) {
            return s;
        }
        if (SLOT_TAG(x) == tag && t->v[e - 1].klen == klen &&
            memcmp(t->v[e - 1].key, key, klen) == 0) {
            return s;
        }
        s = (s + 1) & mask;
    }
}

long rkeytab_find(const struct rkeytab *t, const uint8_t *key, size_t klen)
{
    uint32_t e;

    if (t->nslots == 0) {
        return -1;
    }
    e = SLOT_ENTRY(t->slots[slot_of(t, key, klen, hash_key(key, klen))]);
    return e == 0 ? -1 : (long)e - 1;
}

static int grow_slots(struct rkeytab *t)
{
    size_t n = t->nslots ? t->nslots * 2 : 1024, i;
    uint64_t *old = t->slots;

    while (n < (t->n + 1) * 2) { /* entries appended without slots */
        n *= 2;
    }
    t->slots = calloc(n, sizeof(*t->slots));
    if (t->slots == NULL) {
        t->slots = old;
        return DR_ENOMEM;
    }
    free(old);
    t->nslots = n;
    for (i = 0; i < t->n; i++) {
        uint64_t h = hash_key(t->v[i].key, t->v[i].klen);
        t->slots[slot_of(t, t->v[i].key, t->v[i].klen, h)] =
            (h >> 32 << 32) | (uint64_t)(i + 1);
    }
    return 0;
}

int rkeytab_reindex(struct rkeytab *t)
{
    free(t->slots);
    t->slots = NULL;
    t->nslots = 0;
    return grow_slots(t);
}

void rkeytab_truncate(struct rkeytab *t, size_t n)
{
    if (n >= t->n) {
        return;
    }
    t->n = n; /* their bytes stay in the arena until rkeytab_free */
    if (t->slots == NULL) {
        return; /* appended, not indexed */
    }
    memset(t->slots, 0, t->nslots * sizeof(*t->slots));
    for (size_t i = 0; i < t->n; i++) {
        uint64_t h = hash_key(t->v[i].key, t->v[i].klen);
        t->slots[slot_of(t, t->v[i].key, t->v[i].klen, h)] =
            (h >> 32 << 32) | (uint64_t)(i + 1);
    }
}

int rkeytab_add(struct rkeytab *t,
                const uint8_t *key,
                size_t klen,
                long *idx,
                int *added)
{
    uint64_t h;
    size_t s;

    *added = 0;
    if (t->n >= 0xfffffff0u) {
        return DR_ELIMIT;
    }
    if ((t->n + 1) * 2 > t->nslots && grow_slots(t) != 0) {
        return DR_ENOMEM;
    }
    h = hash_key(key, klen);
    s = slot_of(t, key, klen, h);
    if (t->slots[s] != 0) {
        *idx = (long)SLOT_ENTRY(t->slots[s]) - 1;
        return 0;
    }
    if (rkeytab_append(t, key, klen, idx) != 0) {
        return DR_ENOMEM;
    }
    t->slots[s] = (h >> 32 << 32) | (uint64_t)(t->n);
    *added = 1;
    return 0;
}

int rkeytab_append(struct rkeytab *t,
                   const uint8_t *key,
                   size_t klen,
                   long *idx)
{
    struct rkey *e;

    if (t->n >= 0xfffffff0u) {
        return DR_ELIMIT;
    }
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 1024;
        struct rkey *nv = realloc(t->v, ncap * sizeof(*nv));
        if (nv == NULL) {
            return DR_ENOMEM;
        }
        t->v = nv;
        t->cap = ncap;
    }
    e = &t->v[t->n];
    memset(e, 0, sizeof(*e));
    e->key = arena_copy(t, key, klen);
    if (e->key == NULL) {
        return DR_ENOMEM;
    }
    e->klen = (uint32_t)klen;
    *idx = (long)t->n;
    t->n++;
    t->sorted = 0;
    return 0;
}

/* Sorting moves (prefix, index) pairs, not entries: an LSD radix sort on
 * the keys' first 16 bytes (skipping bytes every key shares), then a
 * comparison sort of each run of keys those bytes do not tell apart. */
struct rkey_ord
{
    uint64_t p0, p1; /* the key's first 16 bytes, big-endian, zero-padded */
    uint32_t i;
};

static int cmp_keys(const struct rkey *x, const struct rkey *y)
{
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);

    if (c != 0) {
        return c;
    }
    return x->klen < y->klen ? -1 : x->klen > y->klen;
}

static int cmp_entries(const void *a, const void *b, void *arg)
{
    (void)arg;
    return cmp_keys(a, b);
}

static int cmp_ord(const void *a, const void *b, void *arg)
{
    const struct rkey_ord *x = a, *y = b;
    const struct rkey *v = arg;

    return cmp_keys(&v[x->i], &v[y->i]);
}

static unsigned ord_byte(const struct rkey_ord *o, int b)
{
    return (unsigned)((b < 8 ? o->p0 >> (56 - 8 * b)
                             : o->p1 >> (56 - 8 * (b - 8))) &
                      0xff);
}

static void radix_sort(struct rkey_ord *a,
                       struct rkey_ord *tmp,
                       size_t n,
                       const struct rkey *v)
{
    size_t(*hist)[256] = calloc(16, sizeof(*hist));

    if (hist == NULL) { /* a comparison sort of it all, slower */
        qsort_r(a, n, sizeof(*a), cmp_ord, (void *)v);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        for (int b = 0; b < 16; b++) {
            hist[b][ord_byte(&a[i], b)]++;
        }
    }
    for (int b = 15; b >= 0; b--) { /* least significant byte first */
        size_t pos = 0, start[256];
        int shared = 0;
        for (int x = 0; x < 256; x++) {
            shared |= hist[b][x] == n;
            start[x] = pos;
            pos += hist[b][x];
        }
        if (shared) {
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            tmp[start[ord_byte(&a[i], b)]++] = a[i];
        }
        memcpy(a, tmp, n * sizeof(*a));
    }
    free(hist);
}

long rkeytab_sort(struct rkeytab *t)
{
    struct rkey_ord *ord, *tmp;
    struct rkey *nv;
    long dup = -1;

    free(t->slots);
    t->slots = NULL;
    t->nslots = 0;
    if (t->sorted || t->n < 2) {
        t->sorted = 1; /* (a repeat was reported by the sort that sorted) */
        return -1;
    }
    t->sorted = 1;
    ord = malloc(t->n * sizeof(*ord));
    tmp = malloc(t->n * sizeof(*tmp));
    nv = malloc(t->cap * sizeof(*nv));
    if (ord == NULL || tmp == NULL || nv == NULL) { /* in place, slower */
        free(ord);
        free(tmp);
        free(nv);
        qsort_r(t->v, t->n, sizeof(*t->v), cmp_entries, NULL);
    } else {
        for (size_t i = 0; i < t->n; i++) {
            uint64_t p[2] = {0, 0};
            for (size_t k = 0; k < 16; k++) {
                p[k / 8] =
                    p[k / 8] << 8 | (k < t->v[i].klen ? t->v[i].key[k] : 0);
            }
            ord[i].p0 = p[0];
            ord[i].p1 = p[1];
            ord[i].i = (uint32_t)i;
        }
        radix_sort(ord, tmp, t->n, t->v);
        for (size_t i = 0, j; i < t->n; i = j) { /* runs of equal prefixes */
            for (j = i + 1;
                 j < t->n && ord[j].p0 == ord[i].p0 && ord[j].p1 == ord[i].p1;
                 j++) {
            }
            if (j - i > 1) {
                qsort_r(ord + i, j - i, sizeof(*ord), cmp_ord, t->v);
            }
        }
        for (size_t i = 0; i < t->n; i++) {
            nv[i] = t->v[ord[i].i];
        }
        free(ord);
        free(tmp);
        free(t->v);
        t->v = nv;
    }
    for (size_t i = 1; i < t->n && dup < 0; i++) {
        if (cmp_keys(&t->v[i - 1], &t->v[i]) == 0) {
            dup = (long)i;
        }
    }
    return dup;
}

void rfmt_key_display(const uint8_t *key, size_t klen, char *out)
{
    static const char hx[] = "0123456789abcdef";
    size_t i, o = 0;

    for (i = 0; i < klen && i < 200; i++) {
        uint8_t c = key[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hx[c >> 4];
            out[o++] = hx[c & 15];
        }
    }
    if (i < klen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}
