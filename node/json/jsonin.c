/* A strict, allocation-light JSON parser for request bodies. */
#include "json/jsonin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define JIN_DEPTH_MAX 32
#define JIN_BLOCK_MIN 4096
#define JIN_MEMBERS_MAX \
    1024 /* keys per object: the duplicate check is quadratic */

struct jin_block
{
    struct jin_block *next;
    size_t used, cap;
    max_align_t data[];
};

struct parser
{
    const char *p, *start, *end;
    struct jin_doc *doc;
    char *errmsg;
    int depth;
};

static int fail(struct parser *ps, const char *what)
{
    snprintf(ps->errmsg, 256, "malformed JSON at byte %zu: %s",
             (size_t)(ps->p - ps->start), what);
    return DR_EINVAL;
}

static void *arena_alloc(struct jin_doc *d, size_t size)
{
    struct jin_block *b = d->blocks;
    size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (b == NULL || b->cap - b->used < size) {
        size_t cap = size > JIN_BLOCK_MIN ? size : JIN_BLOCK_MIN;
        b = malloc(sizeof(*b) + cap);
        if (b == NULL) {
            return NULL;
        }
        b->cap = cap;
        b->used = 0;
        b->next = d->blocks;
        d->blocks = b;
    }
    b->used += size;
    return (char *)b->data + b->used - size;
}

void jin_free(struct jin_doc *d)
{
    while (d->blocks != NULL) {
        struct jin_block *next = d->blocks->next;
        free(d->blocks);
        d->blocks = next;
    }
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
                               *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

static int parse_value(struct parser *ps, struct jin *out);

static int hex4(const char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        *v <<= 4;
        if (c >= '0' && c <= '9') {
            *v |= (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            *v |= (unsigned)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            *v |= (unsigned)(c - 'A' + 10);
        } else {
            return -1;
        }
    }
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of a valid UTF-8 sequence starting at p (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len;
    unsigned cp;
    if (p[0] < 0x80) {
        return 1;
    } else if ((p[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = p[0] & 0x1f;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = p[0] & 0x0f;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

static int parse_string(struct parser *ps, const char **out, size_t *outlen)
{
    const char *q = ps->p + 1; /* after the quote */
    const char *scan = q;
    char *buf, *o;

    /* The unescaped string is never longer than the raw one. */
    while (scan < ps->end && *scan != '"') {
        scan += (*scan == '\\' && scan + 1 < ps->end) ? 2 : 1;
    }
    if (scan >= ps->end) {
        return fail(ps, "unterminated string");
    }
    buf = arena_alloc(ps->doc, (size_t)(scan - q) + 1);
    if (buf == NULL) {
        return fail(ps, "out of memory");
    }
    o = buf;
    while (q < scan) {
        unsigned char c = (unsigned char)*q;
        if (c < 0x20) {
            ps->p = q;
            return fail(ps, "control character in string");
        }
        if (c == '\\') {
            unsigned cp, lo;
            q++;
            switch (*q) {
                case '"':
                    *o++ = '"';
                    q++;
                    continue;
                case '\\':
                    *o++ = '\\';
                    q++;
                    continue;
                case '/':
                    *o++ = '/';
                    q++;
                    continue;
                case 'b':
                    *o++ = '\b';
                    q++;
                    continue;
                case 'f':
                    *o++ = '\f';
                    q++;
                    continue;
                case 'n':
                    *o++ = '\n';
                    q++;
                    continue;
                case 'r':
                    *o++ = '\r';
                    q++;
                    continue;
                case 't':
                    *o++ = '\t';
                    q++;
                    continue;
                case 'u':
                    break;
                default:
                    ps->p = q;
                    return fail(ps, "invalid escape in string");
            }
            if (scan - q < 5 || hex4(q + 1, &cp) != 0) {
                ps->p = q;
                return fail(ps, "invalid \\u escape");
            }
            q += 5;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (scan - q < 6 || q[0] != '\\' || q[1] != 'u' ||
                    hex4(q + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff) {
                    ps->p = q;
                    return fail(ps, "unpaired surrogate in \\u escape");
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                q += 6;
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                ps->p = q;
                return fail(ps, "unpaired surrogate in \\u escape");
            }
            if (cp == 0) {
                ps->p = q;
                return fail(ps, "\\u0000 is not allowed in strings");
            }
            o += put_utf8(o, cp);
            continue;
        }
        if (c < 0x80) {
            *o++ = (char)c;
            q++;
        } else {
            size_t n = utf8_len((const unsigned char *)q, (size_t)(scan - q));
            if (n == 0) {
                ps->p = q;
                return fail(ps, "invalid UTF-8 in string");
            }
            memcpy(o, q, n);
            o += n;
            q += n;
        }
    }
    *o = '\0';
    *out = buf;
    *outlen = (size_t)(o - buf);
    ps->p = scan + 1;
    return 0;
}

static int parse_number(struct parser *ps, struct jin *out)
{
    const char *q = ps->p;
    bool neg = false, integer = true;
    uint64_t v = 0;
    bool overflow = false;

    if (*q == '-') {
        neg = true;
        q++;
    }
    if (q >= ps->end || *q < '0' || *q > '9') {
        return fail(ps, "invalid number");
    }
    if (*q == '0' && q + 1 < ps->end && q[1] >= '0' && q[1] <= '9') {
        return fail(ps, "leading zero in number");
    }
    while (q < ps->end && *q >= '0' && *q <= '9') {
        unsigned d = (unsigned)(*q - '0');
        if (v > (UINT64_MAX - d) / 10) {
            overflow = true;
        } else {
            v = v * 10 + d;
        }
        q++;
    }
    if (q < ps->end && *q == '.') {
        integer = false;
        q++;
        if (q >= ps->end || *q < '0' || *q > '9') {
            ps->p = q;
            return fail(ps, "invalid number");
        }
        while (q < ps->end && *q >= '0' && *q <= '9') {
            q++;
        }
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        integer = false;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-')) {
            q++;
        }
        if (q >= ps->end || *q < '0' || *q > '9') {
            ps->p = q;
            return fail(ps, "invalid number");
        }
        while (q < ps->end && *q >= '0' && *q <= '9') {
            q++;
        }
    }
    if (integer && !overflow &&
        v <= (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) {
        out->type = JIN_INT;
        out->u.i = neg ? (int64_t)(0 - v) : (int64_t)v;
    } else if (integer) {
        return fail(ps, "integer out of the 64-bit range");
    } else {
        out->type = JIN_NUMBER;
    }
    ps->p = q;
    return 0;
}

static int literal(struct parser *ps, const char *word, size_t len)
{
    if ((size_t)(ps->end - ps->p) < len || memcmp(ps->p, word, len) != 0) {
        return fail(ps, "unexpected token");
    }
    ps->p += len;
    return 0;
}

/* Children are gathered in a heap vector, then copied into the arena. */
struct vec
{
    void *items;
    size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        void *grown = realloc(v->items, cap * v->size);
        if (grown == NULL) {
            return NULL;
        }
        v->items = grown;
        v->cap = cap;
    }
    return (char *)v->items + v->size * v->n++;
}

static void *vec_to_arena(struct parser *ps, struct vec *v)
{
    void *dst;
    if (v->n == 0) {
        return NULL;
    }
    dst = arena_alloc(ps->doc, v->n * v->size);
    if (dst != NULL) {
        memcpy(dst, v->items, v->n * v->size);
    }
    return dst;
}

static int parse_array(struct parser *ps, struct jin *out)
{
    struct vec v = {NULL, 0, 0, sizeof(struct jin)};
    int rv = 0;

    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        goto done;
    }
    for (;;) {
        struct jin *item = vec_push(&v);
        if (item == NULL) {
            rv = fail(ps, "out of memory");
            goto out;
        }
        if ((rv = parse_value(ps, item)) != 0) {
            goto out;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            break;
        }
        rv = fail(ps, "expected ',' or ']' in array");
        goto out;
    }
done:
    out->type = JIN_ARRAY;
    out->u.arr.n = v.n;
    out->u.arr.items = vec_to_arena(ps, &v);
    if (v.n > 0 && out->u.arr.items == NULL) {
        rv = fail(ps, "out of memory");
    }
out:
    free(v.items);
    return rv;
}

static int parse_object(struct parser *ps, struct jin *out)
{
    struct vec v = {NULL, 0, 0, sizeof(struct jin_member)};
    int rv = 0;

    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        goto done;
    }
    for (;;) {
        struct jin_member *m;
        size_t klen;
        const char *at;

        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') {
            rv = fail(ps, "expected a string key in object");
            goto out;
        }
        at = ps->p;
        if (v.n == JIN_MEMBERS_MAX) {
            rv = fail(ps, "object has more than 1024 members");
            goto out;
        }
        m = vec_push(&v);
        if (m == NULL) {
            rv = fail(ps, "out of memory");
            goto out;
        }
        if ((rv = parse_string(ps, &m->key, &klen)) != 0) {
            goto out;
        }
        for (size_t i = 0; i + 1 < v.n; i++) {
            if (strcmp(((struct jin_member *)v.items)[i].key, m->key) == 0) {
                ps->p = at;
                snprintf(ps->errmsg, 256, "duplicate key \"%.64s\" in object",
                         m->key);
                rv = DR_EINVAL;
                goto out;
            }
        }
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            rv = fail(ps, "expected ':' after object key");
            goto out;
        }
        ps->p++;
        if ((rv = parse_value(ps, &m->value)) != 0) {
            goto out;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            break;
        }
        rv = fail(ps, "expected ',' or '}' in object");
        goto out;
    }
done:
    out->type = JIN_OBJECT;
    out->u.obj.n = v.n;
    out->u.obj.members = vec_to_arena(ps, &v);
    if (v.n > 0 && out->u.obj.members == NULL) {
        rv = fail(ps, "out of memory");
    }
out:
    free(v.items);
    return rv;
}

static int parse_value(struct parser *ps, struct jin *out)
{
    int rv;
    skip_ws(ps);
    if (ps->p >= ps->end) {
        return fail(ps, "unexpected end of input");
    }
    memset(out, 0, sizeof(*out));
    switch (*ps->p) {
        case '{':
        case '[':
            if (++ps->depth > JIN_DEPTH_MAX) {
                return fail(ps, "nested too deeply");
            }
            rv = *ps->p == '{' ? parse_object(ps, out) : parse_array(ps, out);
            ps->depth--;
            return rv;
        case '"':
            out->type = JIN_STRING;
            return parse_string(ps, &out->u.str.s, &out->u.str.len);
        case 't':
            out->type = JIN_BOOL;
            out->u.b = true;
            return literal(ps, "true", 4);
        case 'f':
            out->type = JIN_BOOL;
            return literal(ps, "false", 5);
        case 'n':
            out->type = JIN_NULL;
            return literal(ps, "null", 4);
        default:
            if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
                return parse_number(ps, out);
            }
            return fail(ps, "unexpected character");
    }
}

int jin_parse(struct jin_doc *d, const char *buf, size_t len, char *errmsg)
{
    struct parser ps = {buf, buf, buf + len, d, errmsg, 0};
    int rv;

    memset(d, 0, sizeof(*d));
    rv = parse_value(&ps, &d->root);
    if (rv == 0) {
        skip_ws(&ps);
        if (ps.p != ps.end) {
            rv = fail(&ps, "trailing data after the JSON value");
        }
    }
    if (rv != 0) {
        jin_free(d);
    }
    return rv;
}

const struct jin *jin_get(const struct jin *obj, const char *key)
{
    if (obj == NULL || obj->type != JIN_OBJECT) {
        return NULL;
    }
    for (size_t i = 0; i < obj->u.obj.n; i++) {
        if (strcmp(obj->u.obj.members[i].key, key) == 0) {
            return &obj->u.obj.members[i].value;
        }
    }
    return NULL;
}
