/* The s3:// store's text handling: byte buffers, just enough XML for S3's
 * answers, ISO 8601 times, URL percent-decoding, bucket names. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "aws/creds.h"
#include "aws/sigv4.h"
#include "common/err.h"
#include "store/internal.h"
#include "store/s3_internal.h"

/* Fill a 256-byte errmsg. */
void s3__msg(char *errmsg, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(errmsg, 256, fmt, ap);
    va_end(ap);
}

int s3__dbuf_add(struct dbuf *b, const void *data, size_t n)
{
    if (b->max > 0 && b->len + n > b->max) {
        n = b->len < b->max ? b->max - b->len : 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap == 0 ? 4096 : b->cap;
        char *p;
        while (ncap < b->len + n + 1) {
            ncap *= 2;
        }
        p = realloc(b->p, ncap);
        if (p == NULL) {
            return -1;
        }
        b->p = p;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

void s3__dbuf_free(struct dbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* XML, just enough for S3's answers. */

/* The text of the first <tag>...</tag> in [s, end), or NULL. */
const char *s3__xml_find(const char *s,
                         const char *end,
                         const char *tag,
                         const char **vend)
{
    char open[80], close[80];
    const char *a, *b;
    size_t olen;

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    olen = strlen(open);
    a = memmem(s, (size_t)(end - s), open, olen);
    if (a == NULL) {
        return NULL;
    }
    a += olen;
    b = memmem(a, (size_t)(end - a), close, strlen(close));
    if (b == NULL) {
        return NULL;
    }
    *vend = b;
    return a;
}

static size_t utf8_put(unsigned long cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Unescape XML text [s, end) into a new string (NULL: out of memory). An
 * entity it does not know is kept as is. */
char *s3__xml_text(const char *s, const char *end)
{
    static const struct
    {
        const char *name;
        char c;
    } ents[] = {{"amp;", '&'},
                {"lt;", '<'},
                {"gt;", '>'},
                {"quot;", '"'},
                {"apos;", '\''}};
    char *out = malloc((size_t)(end - s) + 1), *o = out;
    size_t i;

    if (out == NULL) {
        return NULL;
    }
    while (s < end) {
        if (*s != '&') {
            *o++ = *s++;
            continue;
        }
        for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
            size_t n = strlen(ents[i].name);
            if ((size_t)(end - s - 1) >= n &&
                memcmp(s + 1, ents[i].name, n) == 0) {
                *o++ = ents[i].c;
                s += 1 + n;
                break;
            }
        }
        if (i < sizeof(ents) / sizeof(ents[0])) {
            continue;
        }
        if (end - s > 3 && s[1] == '#') {
            const char *semi = memchr(s, ';', (size_t)(end - s));
            char *stop;
            unsigned long cp;
            int hex = s[2] == 'x' || s[2] == 'X';
            if (semi != NULL && semi - s <= 10) {
                cp = strtoul(s + (hex ? 3 : 2), &stop, hex ? 16 : 10);
                if (stop == semi && cp > 0 && cp <= 0x10ffff) {
                    o += utf8_put(cp, o);
                    s = semi + 1;
                    continue;
                }
            }
        }
        *o++ = *s++;
    }
    *o = '\0';
    return out;
}

/* Escape &, <, > and " for XML text. */
int s3__xml_escape_add(struct dbuf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        const char *rep = NULL;
        switch (*s) {
            case '&':
                rep = "&amp;";
                break;
            case '<':
                rep = "&lt;";
                break;
            case '>':
                rep = "&gt;";
                break;
            case '"':
                rep = "&quot;";
                break;
            default:
                break;
        }
        if (rep != NULL ? s3__dbuf_add(b, rep, strlen(rep))
                        : s3__dbuf_add(b, s, 1)) {
            return -1;
        }
    }
    return 0;
}

/* "2024-01-02T03:04:05.678Z" to milliseconds since the epoch; 0 if not. */
int64_t s3__parse_iso8601(const char *s)
{
    struct tm tm;
    int ms = 0;
    const char *p;

    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
        return 0;
    }
    p = strchr(s, '.');
    if (p != NULL) {
        ms = atoi(p + 1);
        while (ms >= 1000) {
            ms /= 10;
        }
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* URL and open */

int s3__pct_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < len && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], '\0'};
            c = (char)strtol(hex, NULL, 16);
            i += 2;
        }
        if (o + 1 >= cap) {
            return -1;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

int s3__bucket_ok(const char *b)
{
    size_t len = strlen(b), i;

    if (len < 1 || len > 63) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        char c = b[i];
        if (!(isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_')) {
            return 0;
        }
    }
    return 1;
}
