/* A small JSON writer for the hot replies. */
#include "json/jsonout.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jout_init(struct jout *j)
{
    memset(j, 0, sizeof(*j));
}

void jout_free(struct jout *j)
{
    free(j->buf);
    memset(j, 0, sizeof(*j));
}

static void put(struct jout *j, const char *s, size_t n)
{
    if (j->oom) {
        return;
    }
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 1024;
        char *b;
        while (cap < j->len + n + 1) {
            cap *= 2;
        }
        b = realloc(j->buf, cap);
        if (b == NULL) {
            j->oom = true;
            return;
        }
        j->buf = b;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

static void sep(struct jout *j)
{
    if (j->comma) {
        put(j, ",", 1);
    }
    j->comma = true;
}

void jout_begin(struct jout *j, char open)
{
    sep(j);
    put(j, &open, 1);
    j->comma = false;
}

void jout_end(struct jout *j, char close)
{
    put(j, &close, 1);
    j->comma = true;
}

/* Length of the valid UTF-8 sequence at s (non-ASCII lead byte), or 0. */
static size_t utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = (p[0] & 0xe0) == 0xc0   ? 2
                 : (p[0] & 0xf0) == 0xe0 ? 3
                 : (p[0] & 0xf8) == 0xf0 ? 4
                                         : 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return len;
}

static void quoted(struct jout *j, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;

    put(j, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[6];
        size_t n = 0;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else if (c < 0x20) {
            esc[0] = '\\';
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        } else if (c < 0x80 || (n = utf8_ok(s)) != 0) {
            s += n ? n - 1 : 0; /* a whole valid sequence passes */
            continue;
        } else {
            /* Invalid UTF-8 (a truncated message, a raw path byte). */
            put(j, run, (size_t)(s - run));
            put(j, "\\ufffd", 6);
            run = s + 1;
            continue;
        }
        put(j, run, (size_t)(s - run));
        put(j, esc, n);
        run = s + 1;
    }
    put(j, run, (size_t)(s - run));
    put(j, "\"", 1);
}

void jout_key(struct jout *j, const char *key)
{
    sep(j);
    quoted(j, key);
    put(j, ":", 1);
    j->comma = false;
}

void jout_str(struct jout *j, const char *s)
{
    sep(j);
    if (s == NULL) {
        put(j, "null", 4);
    } else {
        quoted(j, s);
    }
}

void jout_int(struct jout *j, int64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%" PRId64, v);
    sep(j);
    put(j, b, (size_t)n);
}

void jout_num(struct jout *j, double v, int decimals)
{
    char b[48];
    int n;
    if (!isfinite(v)) {
        sep(j);
        put(j, "null", 4);
        return;
    }
    n = snprintf(b, sizeof(b), "%.*f", decimals, v);
    sep(j);
    put(j, b, n > 0 && (size_t)n < sizeof(b) ? (size_t)n : 0);
}

void jout_uint(struct jout *j, uint64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%" PRIu64, v);
    sep(j);
    put(j, b, (size_t)n);
}

void jout_bool(struct jout *j, bool v)
{
    sep(j);
    put(j, v ? "true" : "false", v ? 4 : 5);
}
