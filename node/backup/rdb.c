/* RDB stream walking, CRC-64/Jones and LZF, written from the RDB format as
 * Redis documents and writes it (rdb.h there): lengths are 1, 2, 5 or 9
 * bytes (6-bit, 14-bit, 32-bit and 64-bit big-endian), or a special
 * encoding (8/16/32-bit little-endian integers, LZF strings). */
#include "backup/rdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

/* Value types and opcodes. */
enum {
    T_STRING = 0,
    T_LIST = 1,
    T_SET = 2,
    T_ZSET = 3,
    T_HASH = 4,
    T_ZSET_2 = 5,
    T_MODULE_PRE_GA = 6,
    T_MODULE_2 = 7,
    T_HASH_ZIPMAP = 9,
    T_LIST_ZIPLIST = 10,
    T_SET_INTSET = 11,
    T_ZSET_ZIPLIST = 12,
    T_HASH_ZIPLIST = 13,
    T_LIST_QUICKLIST = 14,
    T_STREAM_LISTPACKS = 15,
    T_HASH_LISTPACK = 16,
    T_ZSET_LISTPACK = 17,
    T_LIST_QUICKLIST_2 = 18,
    T_STREAM_LISTPACKS_2 = 19,
    T_SET_LISTPACK = 20,
    T_STREAM_LISTPACKS_3 = 21,
    OP_SLOT_INFO = 244,
    OP_FUNCTION2 = 245,
    OP_FUNCTION_PRE_GA = 246,
    OP_MODULE_AUX = 247,
    OP_IDLE = 248,
    OP_FREQ = 249,
    OP_AUX = 250,
    OP_RESIZEDB = 251,
    OP_EXPIRETIME_MS = 252,
    OP_EXPIRETIME = 253,
    OP_SELECTDB = 254,
    OP_EOF = 255,
};

#define RDB_LEN_MAX (1ull << 40) /* beyond any real length or count */
#define RDB_MAGIC_LEN 9          /* "REDIS" and four digits */
/* An LZF reference of 2 or 3 bytes gives at most 264: no string grows
 * more than that per input byte. */
#define RDB_LZF_MAX_RATIO 132

/* ---- CRC-64/Jones, reflected, slice-by-8 ---- */

static uint64_t crc_tab[8][256];
static int crc_ready;

static void crc_init(void)
{
    const uint64_t poly =
        0x95ac9329ac4bc9b5ull; /* 0xad93d23594c935a9 reflected */
    for (int i = 0; i < 256; i++) {
        uint64_t c = (uint64_t)i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
        }
        crc_tab[0][i] = c;
    }
    for (int i = 0; i < 256; i++) {
        for (int t = 1; t < 8; t++) {
            uint64_t c = crc_tab[t - 1][i];
            crc_tab[t][i] = crc_tab[0][c & 0xff] ^ (c >> 8);
        }
    }
    crc_ready = 1;
}

uint64_t rdb_crc64(uint64_t crc, const uint8_t *p, size_t len)
{
    if (!crc_ready) {
        crc_init(); /* idempotent: a race computes the same tables */
    }
    while (len >= 8) {
        uint64_t w = crc ^ ((uint64_t)p[0] | (uint64_t)p[1] << 8 |
                            (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
                            (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
                            (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56);
        crc = crc_tab[7][w & 0xff] ^ crc_tab[6][(w >> 8) & 0xff] ^
              crc_tab[5][(w >> 16) & 0xff] ^ crc_tab[4][(w >> 24) & 0xff] ^
              crc_tab[3][(w >> 32) & 0xff] ^ crc_tab[2][(w >> 40) & 0xff] ^
              crc_tab[1][(w >> 48) & 0xff] ^ crc_tab[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len-- > 0) {
        crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }
    return crc;
}

/* ---- LZF ---- */

int rdb_lzf_decompress(const uint8_t *in,
                       size_t ilen,
                       uint8_t *out,
                       size_t ulen)
{
    size_t i = 0, o = 0;

    while (i < ilen) {
        unsigned ctrl = in[i++];
        if (ctrl < 32) { /* a literal run of ctrl + 1 bytes */
            size_t n = (size_t)ctrl + 1;
            if (n > ilen - i || n > ulen - o) {
                return -1;
            }
            memcpy(out + o, in + i, n);
            i += n;
            o += n;
        } else { /* a back reference */
            size_t n = ctrl >> 5, back;
            if (n == 7) {
                if (i >= ilen) {
                    return -1;
                }
                n += in[i++];
            }
            if (i >= ilen) {
                return -1;
            }
            back = ((size_t)(ctrl & 0x1f) << 8) + in[i++] + 1;
            n += 2;
            if (back > o || n > ulen - o) {
                return -1;
            }
            for (size_t k = 0; k < n; k++, o++) { /* may overlap */
                out[o] = out[o - back];
            }
        }
    }
    return o == ulen ? 0 : -1;
}

/* ---- the walker ---- */

struct cur
{
    const uint8_t *b;
    size_t pos, len;
    uint64_t base; /* stream offset of b[0] */
    char *errmsg;
};

static int bad(struct cur *c, const char *what)
{
    snprintf(c->errmsg, 256, "RDB offset %llu: %s",
             (unsigned long long)(c->base + c->pos), what);
    return DR_EINVAL;
}

/* Well formed, but beyond this walker: DR_EVERSION, so a caller may take
 * the snapshot another way. */
static int unsupported(struct cur *c, const char *what)
{
    bad(c, what);
    return DR_EVERSION;
}

static int need(const struct cur *c, uint64_t n)
{
    return n > c->len - c->pos ? RDB_MORE : 0;
}

static int skip(struct cur *c, uint64_t n)
{
    if (need(c, n)) {
        return RDB_MORE;
    }
    c->pos += (size_t)n;
    return 0;
}

static int byte(struct cur *c, uint8_t *v)
{
    if (need(c, 1)) {
        return RDB_MORE;
    }
    *v = c->b[c->pos++];
    return 0;
}

/* A length, or (*enc set) a special string encoding 0..3. */
static int len_enc(struct cur *c, uint64_t *len, int *enc)
{
    uint8_t b0;
    int rv;

    *enc = -1;
    if ((rv = byte(c, &b0)) != 0) {
        return rv;
    }
    switch (b0 >> 6) {
        case 0:
            *len = b0 & 0x3f;
            return 0;
        case 1:
            if (need(c, 1)) {
                return RDB_MORE;
            }
            *len = ((uint64_t)(b0 & 0x3f) << 8) | c->b[c->pos++];
            return 0;
        case 3:
            *enc = b0 & 0x3f;
            *len = 0;
            return 0;
        default:
            break;
    }
    if (b0 == 0x80 || b0 == 0x81) {
        size_t n = b0 == 0x80 ? 4 : 8;
        uint64_t v = 0;
        if (need(c, n)) {
            return RDB_MORE;
        }
        for (size_t k = 0; k < n; k++) {
            v = v << 8 | c->b[c->pos++];
        }
        *len = v;
        return 0;
    }
    c->pos--;
    return bad(c, "unknown length encoding");
}

static int len_plain(struct cur *c, uint64_t *len)
{
    int enc, rv;

    if ((rv = len_enc(c, len, &enc)) != 0) {
        return rv;
    }
    if (enc >= 0) {
        c->pos--;
        return bad(c, "a string encoding where a length belongs");
    }
    if (*len > RDB_LEN_MAX) {
        return bad(c, "implausible length");
    }
    return 0;
}

/* A string: skipped, or (out != NULL) decoded into *out (grown). */
static int string(struct cur *c, uint8_t **out, size_t *cap, size_t *olen)
{
    uint64_t len, clen, ulen;
    int enc, rv;
    size_t at = c->pos;

    if ((rv = len_enc(c, &len, &enc)) != 0) {
        return rv;
    }
    if (enc < 0) {
        if (len > RDB_LEN_MAX) {
            return bad(c, "implausible string length");
        }
        if (need(c, len)) {
            return RDB_MORE;
        }
        if (out != NULL) {
            if (len + 1 > *cap) {
                uint8_t *n = realloc(*out, len + 1);
                if (n == NULL) {
                    snprintf(c->errmsg, 256, "out of memory");
                    return DR_ENOMEM;
                }
                *out = n;
                *cap = len + 1;
            }
            memcpy(*out, c->b + c->pos, len);
            *olen = len;
        }
        c->pos += len;
        return 0;
    }
    if (enc <= 2) { /* an integer, 1, 2 or 4 bytes little-endian */
        size_t n = (size_t)1 << enc;
        int64_t v;
        if (need(c, n)) {
            return RDB_MORE;
        }
        if (out != NULL) {
            uint32_t u = 0;
            for (size_t k = 0; k < n; k++) {
                u |= (uint32_t)c->b[c->pos + k] << (8 * k);
            }
            v = n == 1 ? (int8_t)u : n == 2 ? (int16_t)u : (int32_t)u;
            if (*cap < 24) {
                uint8_t *nb = realloc(*out, 24);
                if (nb == NULL) {
                    snprintf(c->errmsg, 256, "out of memory");
                    return DR_ENOMEM;
                }
                *out = nb;
                *cap = 24;
            }
            *olen = (size_t)snprintf((char *)*out, 24, "%lld", (long long)v);
        }
        c->pos += n;
        return 0;
    }
    if (enc != 3) {
        c->pos = at;
        return bad(c, "unknown string encoding");
    }
    if ((rv = len_plain(c, &clen)) != 0 || (rv = len_plain(c, &ulen)) != 0) {
        return rv;
    }
    if (need(c, clen)) {
        return RDB_MORE;
    }
    if (ulen > clen * RDB_LZF_MAX_RATIO) {
        c->pos = at;
        return bad(c, "corrupt LZF string (implausible length)");
    }
    if (out != NULL) {
        if (ulen + 1 > *cap) {
            uint8_t *n = realloc(*out, ulen + 1);
            if (n == NULL) {
                snprintf(c->errmsg, 256, "out of memory");
                return DR_ENOMEM;
            }
            *out = n;
            *cap = ulen + 1;
        }
        if (rdb_lzf_decompress(c->b + c->pos, clen, *out, ulen) != 0) {
            c->pos = at;
            return bad(c, "corrupt LZF string");
        }
        *olen = ulen;
    }
    c->pos += clen;
    return 0;
}

static int skip_string(struct cur *c)
{
    return string(c, NULL, NULL, NULL);
}

static int skip_strings(struct cur *c, uint64_t n)
{
    int rv;

    for (uint64_t i = 0; i < n; i++) {
        if ((rv = skip_string(c)) != 0) {
            return rv;
        }
    }
    return 0;
}

/* Numbers stored as lengths (ids, counters; -1 is all ones), skipped. */
static int skip_lens(struct cur *c, int n)
{
    uint64_t v;
    int enc, rv;

    for (int i = 0; i < n; i++) {
        if ((rv = len_enc(c, &v, &enc)) != 0) {
            return rv;
        }
        if (enc >= 0) {
            c->pos--;
            return bad(c, "a string encoding where a number belongs");
        }
    }
    return 0;
}

/* A stream's PEL: ids (16 bytes), with delivery time and count if nack. */
static int skip_pel(struct cur *c, int nack)
{
    uint64_t n;
    int rv;

    if ((rv = len_plain(c, &n)) != 0) {
        return rv;
    }
    for (uint64_t i = 0; i < n; i++) {
        if ((rv = skip(c, nack ? 24 : 16)) != 0 ||
            (nack && (rv = skip_lens(c, 1)) != 0)) {
            return rv;
        }
    }
    return 0;
}

static int skip_stream(struct cur *c, uint8_t type)
{
    uint64_t n, groups, consumers;
    int rv;

    if ((rv = len_plain(c, &n)) != 0 || (rv = skip_strings(c, 2 * n)) != 0) {
        return rv; /* listpacks: master id and listpack each */
    }
    /* length, last id; since v2 first id, max deleted id, entries added */
    if ((rv = skip_lens(c, type >= T_STREAM_LISTPACKS_2 ? 8 : 3)) != 0 ||
        (rv = len_plain(c, &groups)) != 0) {
        return rv;
    }
    for (uint64_t g = 0; g < groups; g++) {
        if ((rv = skip_string(c)) != 0 ||
            (rv = skip_lens(c, type >= T_STREAM_LISTPACKS_2 ? 3 : 2)) != 0 ||
            (rv = skip_pel(c, 1)) != 0 ||
            (rv = len_plain(c, &consumers)) != 0) {
            return rv;
        }
        for (uint64_t k = 0; k < consumers; k++) {
            /* name, seen time; since v3 active time; its PEL */
            if ((rv = skip_string(c)) != 0 ||
                (rv = skip(c, type >= T_STREAM_LISTPACKS_3 ? 16 : 8)) != 0 ||
                (rv = skip_pel(c, 0)) != 0) {
                return rv;
            }
        }
    }
    return 0;
}

static int type_known(uint8_t type)
{
    return type <= T_STREAM_LISTPACKS_3 && type != 8 &&
           type != T_MODULE_PRE_GA && type != T_MODULE_2;
}

static int bad_type(struct cur *c, uint8_t type)
{
    char what[96];

    if (type == T_MODULE_PRE_GA || type == T_MODULE_2) {
        return unsupported(c,
                           "a module value (not supported: it needs the "
                           "module to be read)");
    }
    if (type >= 22 && type <= 25) {
        return unsupported(c,
                           "a hash with field expiry (Redis 7.4+; not "
                           "supported: use method scan)");
    }
    snprintf(what, sizeof(what), "unknown value type %u", type);
    return unsupported(c, what);
}

static int skip_value(struct cur *c, uint8_t type)
{
    uint64_t n;
    uint8_t dl;
    int rv;

    switch (type) {
        case T_STRING:
        case T_HASH_ZIPMAP:
        case T_LIST_ZIPLIST:
        case T_SET_INTSET:
        case T_ZSET_ZIPLIST:
        case T_HASH_ZIPLIST:
        case T_HASH_LISTPACK:
        case T_ZSET_LISTPACK:
        case T_SET_LISTPACK:
            return skip_string(c);
        case T_LIST:
        case T_SET:
        case T_LIST_QUICKLIST:
            if ((rv = len_plain(c, &n)) != 0) {
                return rv;
            }
            return skip_strings(c, n);
        case T_HASH:
            if ((rv = len_plain(c, &n)) != 0) {
                return rv;
            }
            return skip_strings(c, 2 * n);
        case T_ZSET:
        case T_ZSET_2:
            if ((rv = len_plain(c, &n)) != 0) {
                return rv;
            }
            for (uint64_t i = 0; i < n; i++) {
                if ((rv = skip_string(c)) != 0) {
                    return rv;
                }
                if (type == T_ZSET_2) {
                    rv = skip(c, 8); /* binary double */
                } else if ((rv = byte(c, &dl)) == 0 && dl < 253) {
                    rv = skip(c, dl); /* 253..255: NaN, +inf, -inf */
                }
                if (rv != 0) {
                    return rv;
                }
            }
            return 0;
        case T_LIST_QUICKLIST_2:
            if ((rv = len_plain(c, &n)) != 0) {
                return rv;
            }
            for (uint64_t i = 0; i < n; i++) { /* container, then node */
                if ((rv = skip_lens(c, 1)) != 0 || (rv = skip_string(c)) != 0) {
                    return rv;
                }
            }
            return 0;
        case T_STREAM_LISTPACKS:
        case T_STREAM_LISTPACKS_2:
        case T_STREAM_LISTPACKS_3:
            return skip_stream(c, type);
        default:
            return bad_type(c, type);
    }
}

void rdb_parser_init(struct rdb_parser *p)
{
    memset(p, 0, sizeof(*p));
}

void rdb_parser_free(struct rdb_parser *p)
{
    free(p->scratch);
    free(p->aux);
    memset(p, 0, sizeof(*p));
}

static int header(struct rdb_parser *p, struct cur *c)
{
    int v = 0;

    if (need(c, RDB_MAGIC_LEN)) {
        return RDB_MORE;
    }
    if (memcmp(c->b, "REDIS", 5) != 0) {
        return bad(c, "not an RDB stream (no REDIS magic)");
    }
    for (int i = 5; i < RDB_MAGIC_LEN; i++) {
        if (c->b[i] < '0' || c->b[i] > '9') {
            return bad(c, "not an RDB stream (bad version digits)");
        }
        v = v * 10 + (c->b[i] - '0');
    }
    if (v < 1 || v > RDB_VERSION_MAX) {
        char what[96];
        snprintf(what, sizeof(what),
                 "RDB version %d is not supported (1 to %d are)", v,
                 RDB_VERSION_MAX);
        return v < 1 ? bad(c, what) : unsupported(c, what);
    }
    c->pos = RDB_MAGIC_LEN;
    p->version = v;
    return 0;
}

static uint64_t le(const uint8_t *b, size_t n)
{
    uint64_t v = 0;
    for (size_t k = n; k > 0; k--) {
        v = v << 8 | b[k - 1];
    }
    return v;
}

/* One item from c; p changes only through the caller on success. */
static int item(struct rdb_parser *p,
                struct cur *c,
                struct rdb_item *it,
                int64_t *expire,
                uint32_t *db)
{
    uint8_t op;
    uint64_t v;
    size_t klen = 0, alen = 0;
    int rv;

    for (;;) {
        size_t at = c->pos;
        if ((rv = byte(c, &op)) != 0) {
            return rv;
        }
        switch (op) {
            case OP_EXPIRETIME_MS:
                if (need(c, 8)) {
                    return RDB_MORE;
                }
                *expire = (int64_t)le(c->b + c->pos, 8);
                c->pos += 8;
                continue;
            case OP_EXPIRETIME:
                if (need(c, 4)) {
                    return RDB_MORE;
                }
                *expire = (int64_t)le(c->b + c->pos, 4) * 1000;
                c->pos += 4;
                continue;
            case OP_FREQ:
                if ((rv = skip(c, 1)) != 0) {
                    return rv;
                }
                continue;
            case OP_IDLE:
                if ((rv = skip_lens(c, 1)) != 0) {
                    return rv;
                }
                continue;
            case OP_SELECTDB:
                if ((rv = len_plain(c, &v)) != 0) {
                    return rv;
                }
                if (v > UINT32_MAX) {
                    return bad(c, "implausible database number");
                }
                *db = (uint32_t)v;
                it->kind = RDB_ITEM_SELECT;
                it->db = *db;
                return 0;
            case OP_RESIZEDB:
                if ((rv = skip_lens(c, 2)) != 0) {
                    return rv;
                }
                it->kind = RDB_ITEM_OTHER;
                return 0;
            case OP_SLOT_INFO:
                if ((rv = skip_lens(c, 3)) != 0) {
                    return rv;
                }
                it->kind = RDB_ITEM_OTHER;
                return 0;
            case OP_FUNCTION2:
                if ((rv = skip_string(c)) != 0) {
                    return rv;
                }
                it->kind = RDB_ITEM_OTHER;
                return 0;
            case OP_AUX:
                if ((rv = string(c, &p->scratch, &p->scratch_cap, &klen)) !=
                        0 ||
                    (rv = string(c, &p->aux, &p->aux_cap, &alen)) != 0) {
                    return rv;
                }
                it->kind = RDB_ITEM_AUX;
                it->key = p->scratch;
                it->klen = klen;
                it->aux_value = p->aux;
                it->aux_vlen = alen;
                return 0;
            case OP_FUNCTION_PRE_GA:
                c->pos = at;
                return unsupported(c,
                                   "a pre-release function (not "
                                   "supported)");
            case OP_MODULE_AUX:
                c->pos = at;
                return unsupported(c,
                                   "module data (not supported: it needs "
                                   "the module to be read)");
            case OP_EOF:
                if (p->version >= 5) {
                    uint64_t want;
                    if (need(c, 8)) {
                        return RDB_MORE;
                    }
                    want = le(c->b + c->pos, 8);
                    if (want != 0 && want != rdb_crc64(p->crc, c->b, c->pos)) {
                        return bad(c,
                                   "checksum mismatch: the RDB was "
                                   "damaged on the way");
                    }
                    c->pos += 8;
                }
                it->kind = RDB_ITEM_END;
                return 0;
            default: { /* a key of type op */
                size_t vat;
                if (!type_known(op)) {
                    c->pos = at;
                    return bad_type(c, op);
                }
                if ((rv = string(c, &p->scratch, &p->scratch_cap, &klen)) !=
                        0 ||
                    (vat = c->pos, rv = skip_value(c, op)) != 0) {
                    return rv;
                }
                it->kind = RDB_ITEM_KEY;
                it->type = op;
                it->db = *db;
                it->expire_at_ms = *expire;
                it->key = p->scratch;
                it->klen = klen;
                it->value = c->b + vat;
                it->vlen = c->pos - vat;
                *expire = 0;
                return 0;
            }
        }
    }
}

int rdb_next(struct rdb_parser *p,
             const uint8_t *buf,
             size_t len,
             size_t *used,
             struct rdb_item *it,
             char *errmsg)
{
    struct cur c = {buf, 0, len, p->offset, errmsg};
    int64_t expire = p->expire_at_ms;
    uint32_t db = p->db;
    int rv;

    memset(it, 0, sizeof(*it));
    *used = 0;
    if (p->ended) {
        snprintf(errmsg, 256, "RDB offset %llu: data after the end",
                 (unsigned long long)p->offset);
        return DR_EINVAL;
    }
    if (p->version == 0) { /* the header is an item of its own */
        rv = header(p, &c);
        if (rv != 0) {
            return rv;
        }
        p->crc = rdb_crc64(0, buf, c.pos);
        p->offset += c.pos;
        *used = c.pos;
        it->kind = RDB_ITEM_OTHER;
        return 0;
    }
    rv = item(p, &c, it, &expire, &db);
    if (rv != 0) {
        return rv;
    }
    if (it->kind != RDB_ITEM_END) {
        p->crc = rdb_crc64(p->crc, buf, c.pos);
    }
    p->ended = it->kind == RDB_ITEM_END;
    p->expire_at_ms = expire;
    p->db = db;
    p->offset += c.pos;
    *used += c.pos;
    return 0;
}

size_t rdb_dump_payload(int version,
                        uint8_t type,
                        const uint8_t *value,
                        size_t vlen,
                        uint8_t *out)
{
    uint64_t crc;
    size_t n = 0;

    out[n++] = type;
    memcpy(out + n, value, vlen);
    n += vlen;
    out[n++] = (uint8_t)(version & 0xff);
    out[n++] = (uint8_t)((version >> 8) & 0xff);
    crc = rdb_crc64(0, out, n);
    for (int k = 0; k < 8; k++) {
        out[n++] = (uint8_t)(crc >> (8 * k));
    }
    return n;
}

int rdb_dump_split(const uint8_t *payload,
                   size_t plen,
                   uint8_t *type,
                   const uint8_t **value,
                   size_t *vlen,
                   int *version)
{
    if (plen < 1 + RDB_DUMP_TRAILER ||
        rdb_crc64(0, payload, plen - 8) != le(payload + plen - 8, 8)) {
        return -1;
    }
    *type = payload[0];
    *value = payload + 1;
    *vlen = plen - 1 - RDB_DUMP_TRAILER;
    *version = (int)le(payload + plen - RDB_DUMP_TRAILER, 2);
    return 0;
}

/* A length: 6-bit, 14-bit, 32-bit or 64-bit big-endian. */
static size_t put_len(uint8_t *out, uint64_t len)
{
    size_t n;

    if (len < 64) {
        out[0] = (uint8_t)len;
        return 1;
    }
    if (len < 16384) {
        out[0] = (uint8_t)(0x40 | (len >> 8));
        out[1] = (uint8_t)len;
        return 2;
    }
    n = len <= UINT32_MAX ? 4 : 8;
    out[0] = n == 4 ? 0x80 : 0x81;
    for (size_t k = 0; k < n; k++) {
        out[1 + k] = (uint8_t)(len >> (8 * (n - 1 - k)));
    }
    return 1 + n;
}

size_t rdb_put_header(uint8_t out[RDB_HEADER_LEN], int version)
{
    unsigned v = (unsigned)version % 10000;

    memcpy(out, "REDIS", 5);
    for (int k = 8; k >= 5; k--, v /= 10) {
        out[k] = (uint8_t)('0' + v % 10);
    }
    return RDB_HEADER_LEN;
}

size_t rdb_put_select(uint8_t out[RDB_SELECT_MAX], uint32_t db)
{
    out[0] = OP_SELECTDB;
    return 1 + put_len(out + 1, db);
}

size_t rdb_put_key_head(uint8_t out[RDB_KEY_HEAD_MAX],
                        int64_t expire_at_ms,
                        uint8_t type,
                        size_t klen)
{
    size_t n = 0;

    if (expire_at_ms != 0) {
        out[n++] = OP_EXPIRETIME_MS;
        for (int k = 0; k < 8; k++) {
            out[n++] = (uint8_t)((uint64_t)expire_at_ms >> (8 * k));
        }
    }
    out[n++] = type;
    return n + put_len(out + n, klen);
}

int rdb_string_decode(const uint8_t *value,
                      size_t vlen,
                      uint8_t **out,
                      size_t *cap,
                      size_t *olen)
{
    char err[256];
    struct cur c = {value, 0, vlen, 0, err};

    if (string(&c, out, cap, olen) != 0 || c.pos != vlen) {
        return -1;
    }
    return 0;
}
