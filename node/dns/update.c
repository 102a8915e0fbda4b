/* RFC 2136 updates with TSIG HMAC-SHA256 (update.h). */
#include "dns/update.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "dns/wire.h"

#define T_SOA 6
#define T_TSIG 250
#define C_IN 1
#define C_ANY 255
#define OP_UPDATE 5
#define TSIG_ALG "hmac-sha256."

/* A growing message with a bound: every put fails once it is full. */
struct out
{
    uint8_t *p;
    size_t len, cap;
    bool full;
};

static void put(struct out *o, const void *b, size_t n)
{
    if (o->full || o->len + n > o->cap) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, b, n);
    o->len += n;
}

static void put16(struct out *o, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(o, b, 2);
}

static void put32(struct out *o, uint32_t v)
{
    put16(o, (uint16_t)(v >> 16));
    put16(o, (uint16_t)v);
}

static void put48(struct out *o, uint64_t v)
{
    put16(o, (uint16_t)(v >> 32));
    put32(o, (uint32_t)v);
}

/* name in wire form, lower case (canonical: TSIG digests need it); false
 * when it is not a valid domain name. */
static bool put_name(struct out *o, const char *name)
{
    const char *p = name;
    size_t total = 1;

    if (name[0] == '\0' || strcmp(name, ".") == 0) {
        put(o, "", 1);
        return true;
    }
    while (*p != '\0') {
        size_t l = strcspn(p, ".");
        uint8_t lab[64];
        if (l == 0 || l > 63) {
            return false;
        }
        total += l + 1;
        if (total > 255) {
            return false;
        }
        lab[0] = (uint8_t)l;
        for (size_t i = 0; i < l; i++) {
            lab[i + 1] = (uint8_t)tolower((unsigned char)p[i]);
        }
        put(o, lab, l + 1);
        p += l;
        if (*p == '.') {
            p++;
        }
    }
    put(o, "", 1);
    return true;
}

int dns_tsig_key_parse(const char *text, struct dns_tsig_key *key, char *errmsg)
{
    char buf[1024], *name, *secret, *c1, *c2;
    unsigned char raw[DNS_TSIG_SECRET_MAX + 3];
    size_t l = strlen(text);
    int n;

    memset(key, 0, sizeof(*key));
    while (l > 0 && isspace((unsigned char)text[l - 1])) {
        l--;
    }
    if (l == 0 || l >= sizeof(buf)) {
        snprintf(errmsg, 256, "TSIG key: empty or too long");
        return -1;
    }
    memcpy(buf, text, l);
    buf[l] = '\0';
    c1 = strchr(buf, ':');
    c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
    if (c1 == NULL) {
        snprintf(errmsg, 256, "TSIG key: want [hmac-sha256:]NAME:BASE64SECRET");
        return -1;
    }
    if (c2 != NULL) {
        *c1 = '\0';
        if (strcasecmp(buf, "hmac-sha256") != 0) {
            snprintf(errmsg, 256,
                     "TSIG key: algorithm \"%.40s\" is not supported (only "
                     "hmac-sha256)",
                     buf);
            return -1;
        }
        name = c1 + 1;
        *c2 = '\0';
        secret = c2 + 1;
    } else {
        *c1 = '\0';
        name = buf;
        secret = c1 + 1;
    }
    {
        uint8_t tmp[300];
        struct out o = {tmp, 0, sizeof(tmp), false};
        /* The root name would do for a zone, never for a key. */
        if (name[0] == '\0' || strcmp(name, ".") == 0 || !put_name(&o, name) ||
            o.full) {
            snprintf(errmsg, 256, "TSIG key: \"%.80s\" is not a key name",
                     name);
            return -1;
        }
    }
    l = strlen(secret);
    if (l == 0 || l % 4 != 0 || l > 4 * ((DNS_TSIG_SECRET_MAX + 2) / 3)) {
        snprintf(errmsg, 256,
                 "TSIG key %.80s: the secret is not base64 of at "
                 "most %d bytes",
                 name, DNS_TSIG_SECRET_MAX);
        return -1;
    }
    n = EVP_DecodeBlock(raw, (const unsigned char *)secret, (int)l);
    if (n < 0) {
        OPENSSL_cleanse(buf, sizeof(buf));
        snprintf(errmsg, 256, "TSIG key %.80s: the secret is not base64", name);
        return -1;
    }
    /* EVP_DecodeBlock counts the padding as bytes. */
    if (l >= 1 && secret[l - 1] == '=') {
        n--;
    }
    if (l >= 2 && secret[l - 2] == '=') {
        n--;
    }
    if (n <= 0 || n > DNS_TSIG_SECRET_MAX) {
        OPENSSL_cleanse(buf, sizeof(buf));
        OPENSSL_cleanse(raw, sizeof(raw));
        snprintf(errmsg, 256,
                 "TSIG key %.80s: the secret is empty or too "
                 "long",
                 name);
        return -1;
    }
    snprintf(key->name, sizeof(key->name), "%.255s", name);
    memcpy(key->secret, raw, (size_t)n);
    key->secret_len = (size_t)n;
    OPENSSL_cleanse(buf, sizeof(buf));
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

/* The TSIG variables (RFC 8945 4.3.3) after the message in a digest. */
static void put_tsig_vars(struct out *o,
                          const struct dns_tsig_key *key,
                          uint64_t time_signed,
                          uint16_t fudge,
                          uint16_t error)
{
    put_name(o, key->name);
    put16(o, C_ANY);
    put32(o, 0);
    put_name(o, TSIG_ALG);
    put48(o, time_signed);
    put16(o, fudge);
    put16(o, error);
    put16(o, 0); /* other len */
}

static bool hmac(const struct dns_tsig_key *key,
                 const uint8_t *data,
                 size_t len,
                 uint8_t *mac,
                 size_t *mac_len)
{
    unsigned int ml = 0;
    if (HMAC(EVP_sha256(), key->secret, (int)key->secret_len, data, len, mac,
             &ml) == NULL) {
        return false;
    }
    *mac_len = ml;
    return true;
}

/* One resource record of the update section. */
static bool put_rr(struct out *o,
                   const char *name,
                   uint16_t type,
                   uint16_t cls,
                   uint32_t ttl,
                   const char *rdata)
{
    uint8_t rd[300];
    struct out r = {rd, 0, sizeof(rd), false};

    if (!put_name(o, name)) {
        return false;
    }
    put16(o, type);
    put16(o, cls);
    put32(o, ttl);
    if (rdata == NULL) {
        put16(o, 0);
        return true;
    }
    if (type == DNS_TYPE_A) {
        uint8_t a[4];
        if (inet_pton(AF_INET, rdata, a) != 1) {
            return false;
        }
        put(&r, a, 4);
    } else if (type == DNS_TYPE_AAAA) {
        uint8_t a[16];
        if (inet_pton(AF_INET6, rdata, a) != 1) {
            return false;
        }
        put(&r, a, 16);
    } else if (type == DNS_TYPE_CNAME) {
        if (!put_name(&r, rdata)) {
            return false;
        }
    } else {
        size_t l = strlen(rdata);
        uint8_t b = (uint8_t)l;
        if (l > 255) {
            return false;
        }
        put(&r, &b, 1);
        put(&r, rdata, l);
    }
    if (r.full) {
        return false;
    }
    put16(o, (uint16_t)r.len);
    put(o, rd, r.len);
    return true;
}

size_t dns_update_encode(const struct dns_update *u,
                         const struct dns_tsig_key *key,
                         uint64_t now_s,
                         uint8_t *buf,
                         size_t cap,
                         uint8_t *mac,
                         size_t *mac_len,
                         char *errmsg)
{
    static const uint16_t kinds[] = {DNS_TYPE_A, DNS_TYPE_AAAA, DNS_TYPE_CNAME,
                                     DNS_TYPE_TXT};
    struct out o = {buf, 0, cap, false};
    uint8_t digest[DNS_MSG_MAX + 600];
    struct out d = {digest, 0, sizeof(digest), false};
    uint16_t n_up = 4;
    size_t end;

    put16(&o, u->id);
    put16(&o, OP_UPDATE << 11);
    put16(&o, 1); /* zone */
    put16(&o, 0); /* prerequisites */
    put16(&o, 0); /* updates: set below */
    put16(&o, 0); /* additional: 0 in the digest, then the TSIG */
    if (!put_name(&o, u->zone)) {
        snprintf(errmsg, 256, "zone \"%.100s\" is not a domain name", u->zone);
        return 0;
    }
    put16(&o, T_SOA);
    put16(&o, C_IN);
    /* Whatever was there goes (class ANY, no data: delete the RRset). */
    for (size_t k = 0; k < 4; k++) {
        if (!put_rr(&o, u->name, kinds[k], C_ANY, 0, NULL)) {
            snprintf(errmsg, 256, "name \"%.100s\" is not a domain name",
                     u->name);
            return 0;
        }
    }
    for (size_t i = 0; !u->remove && i < u->n_targets; i++) {
        if (!put_rr(&o, u->name, (uint16_t)u->type, C_IN, u->ttl,
                    u->targets[i])) {
            snprintf(errmsg, 256, "target \"%.100s\" does not fit a %s record",
                     u->targets[i],
                     u->type == DNS_TYPE_A      ? "A"
                     : u->type == DNS_TYPE_AAAA ? "AAAA"
                                                : "CNAME");
            return 0;
        }
        n_up++;
    }
    if (!u->remove && u->txt != NULL && u->txt[0] != '\0' &&
        u->type != DNS_TYPE_CNAME) {
        if (!put_rr(&o, u->name, DNS_TYPE_TXT, C_IN, u->ttl, u->txt)) {
            snprintf(errmsg, 256, "TXT \"%.100s\" is too long", u->txt);
            return 0;
        }
        n_up++;
    }
    if (o.full) {
        snprintf(errmsg, 256, "the update does not fit in %zu bytes", cap);
        return 0;
    }
    buf[8] = (uint8_t)(n_up >> 8);
    buf[9] = (uint8_t)n_up;
    end = o.len;
    /* The MAC: over the message so far and the TSIG variables. */
    put(&d, buf, end);
    put_tsig_vars(&d, key, now_s, DNS_TSIG_FUDGE, 0);
    if (d.full || !hmac(key, digest, d.len, mac, mac_len)) {
        snprintf(errmsg, 256, "cannot sign the update");
        return 0;
    }
    /* The TSIG record. */
    {
        uint8_t rd[400];
        struct out r = {rd, 0, sizeof(rd), false};
        put_name(&r, TSIG_ALG);
        put48(&r, now_s);
        put16(&r, DNS_TSIG_FUDGE);
        put16(&r, (uint16_t)*mac_len);
        put(&r, mac, *mac_len);
        put16(&r, u->id);
        put16(&r, 0); /* error */
        put16(&r, 0); /* other len */
        put_name(&o, key->name);
        put16(&o, T_TSIG);
        put16(&o, C_ANY);
        put32(&o, 0);
        put16(&o, (uint16_t)r.len);
        put(&o, rd, r.len);
    }
    if (o.full) {
        snprintf(errmsg, 256, "the update does not fit in %zu bytes", cap);
        return 0;
    }
    buf[11] = 1; /* ARCOUNT: the TSIG */
    return o.len;
}

/* Skip a (possibly compressed) name at *off. */
static bool skip_name(const uint8_t *m, size_t len, size_t *off)
{
    size_t p = *off;
    for (;;) {
        if (p >= len) {
            return false;
        }
        if ((m[p] & 0xC0) == 0xC0) {
            if (p + 2 > len) {
                return false;
            }
            *off = p + 2;
            return true;
        }
        if (m[p] > 63) {
            return false;
        }
        if (m[p] == 0) {
            *off = p + 1;
            return true;
        }
        p += 1 + m[p];
    }
}

/* Read an uncompressed name at *off as dotted lower case into out. */
static bool read_plain_name(const uint8_t *m,
                            size_t len,
                            size_t *off,
                            char *out,
                            size_t cap)
{
    size_t p = *off, o = 0;
    for (;;) {
        uint8_t l;
        if (p >= len || (m[p] & 0xC0) != 0) {
            return false;
        }
        l = m[p++];
        if (l == 0) {
            break;
        }
        if (p + l > len || o + l + 2 > cap) {
            return false;
        }
        for (size_t i = 0; i < l; i++) {
            out[o++] = (char)tolower(m[p + i]);
        }
        out[o++] = '.';
        p += l;
    }
    if (o == 0) {
        out[o++] = '.';
    }
    out[o] = '\0';
    *off = p;
    return true;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

int dns_update_check(const uint8_t *msg,
                     size_t len,
                     uint16_t id,
                     const struct dns_tsig_key *key,
                     const uint8_t *req_mac,
                     size_t req_mac_len,
                     int *rcode,
                     char *errmsg)
{
    size_t off = 12, tsig_at = 0, counts[4];
    uint16_t ar;
    char kname[300], alg[300], want[300];
    uint64_t time_signed;
    uint16_t fudge, mac_size, orig_id, error;
    const uint8_t *mac;

    if (len < 12 || get16(msg) != id || (msg[2] & 0x80) == 0 ||
        ((msg[2] >> 3) & 0x0F) != OP_UPDATE) {
        snprintf(errmsg, 256, "not an answer to update %u", (unsigned)id);
        return -1;
    }
    *rcode = msg[3] & 0x0F;
    for (int i = 0; i < 4; i++) {
        counts[i] = get16(msg + 4 + 2 * i);
    }
    for (size_t i = 0; i < counts[0]; i++) {
        if (!skip_name(msg, len, &off) || off + 4 > len) {
            goto malformed;
        }
        off += 4;
    }
    ar = (uint16_t)counts[3];
    for (size_t i = 0; i < counts[1] + counts[2] + ar; i++) {
        size_t start = off;
        if (!skip_name(msg, len, &off) || off + 10 > len) {
            goto malformed;
        }
        if (i + 1 == counts[1] + counts[2] + ar && get16(msg + off) == T_TSIG) {
            tsig_at = start;
        }
        off += 10 + get16(msg + off + 8);
        if (off > len) {
            goto malformed;
        }
    }
    if (tsig_at == 0) {
        snprintf(errmsg, 256,
                 "the server's answer (rcode %d) is not signed: the key "
                 "may be unknown there",
                 *rcode);
        return -1;
    }
    off = tsig_at;
    if (!read_plain_name(msg, len, &off, kname, sizeof(kname))) {
        goto malformed;
    }
    off += 10;
    if (!read_plain_name(msg, len, &off, alg, sizeof(alg)) || off + 10 > len) {
        goto malformed;
    }
    time_signed = ((uint64_t)get16(msg + off) << 32) |
                  ((uint64_t)get16(msg + off + 2) << 16) | get16(msg + off + 4);
    fudge = get16(msg + off + 6);
    mac_size = get16(msg + off + 8);
    off += 10;
    if (mac_size > DNS_TSIG_MAC_MAX || off + mac_size + 6 > len) {
        goto malformed;
    }
    mac = msg + off;
    off += mac_size;
    orig_id = get16(msg + off);
    error = get16(msg + off + 2);
    {
        uint8_t tmp[300];
        struct out o = {tmp, 0, sizeof(tmp), false};
        size_t p = 0;
        put_name(&o, key->name);
        if (!read_plain_name(tmp, o.len, &p, want, sizeof(want)) ||
            strcmp(kname, want) != 0 || strcmp(alg, TSIG_ALG) != 0) {
            snprintf(errmsg, 256,
                     "the answer is signed with key %.80s (%.40s), "
                     "not %.80s",
                     kname, alg, key->name);
            return -1;
        }
    }
    if (error != 0) {
        snprintf(errmsg, 256, "the server refused the signature: TSIG %s",
                 error == 16   ? "BADSIG (wrong secret)"
                 : error == 17 ? "BADKEY (unknown key name)"
                 : error == 18 ? "BADTIME (clocks too far apart)"
                               : "error");
        return -1;
    }
    {
        uint8_t digest[DNS_MSG_MAX + 700], got[EVP_MAX_MD_SIZE];
        struct out d = {digest, 0, sizeof(digest), false};
        size_t got_len = 0;
        put16(&d, (uint16_t)req_mac_len);
        put(&d, req_mac, req_mac_len);
        if (tsig_at > DNS_MSG_MAX) {
            goto malformed;
        }
        put16(&d, orig_id);
        put(&d, msg + 2, 8);
        put16(&d, (uint16_t)(ar - 1));
        put(&d, msg + 12, tsig_at - 12);
        put_tsig_vars(&d, key, time_signed, fudge, error);
        if (d.full || !hmac(key, digest, d.len, got, &got_len) ||
            got_len != mac_size || CRYPTO_memcmp(got, mac, got_len) != 0) {
            snprintf(errmsg, 256,
                     "the answer's TSIG signature does not verify with key "
                     "%.80s",
                     key->name);
            return -1;
        }
    }
    return 0;

malformed:
    snprintf(errmsg, 256, "malformed answer to update %u", (unsigned)id);
    return -1;
}
