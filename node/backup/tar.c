/* Streaming ustar reader (tar.h). */
#include "backup/tar.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"

void tar_reader_init(struct tar_reader *t)
{
    memset(t, 0, sizeof(*t));
}

/* An octal field (NUL or space terminated), or base-256 (high bit set). */
static bool field_num(const uint8_t *p, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;

    if (len > 0 && (p[0] & 0x80)) {
        for (i = 1; i < len; i++) {
            if (v >> 56) {
                return false;
            }
            v = (v << 8) | p[i];
        }
        *out = v;
        return (p[0] & 0x7f) == 0;
    }
    while (i < len && p[i] == ' ') {
        i++;
    }
    if (i == len || p[i] < '0' || p[i] > '7') {
        return false;
    }
    for (; i < len && p[i] >= '0' && p[i] <= '7'; i++) {
        if (v >> 60) {
            return false;
        }
        v = v * 8 + (uint64_t)(p[i] - '0');
    }
    for (; i < len; i++) {
        if (p[i] != ' ' && p[i] != '\0') {
            return false;
        }
    }
    *out = v;
    return true;
}

static int bad(const struct tar_reader *t, char *errmsg, const char *what)
{
    snprintf(errmsg, 256, "tar: header at byte %llu: %s",
             (unsigned long long)t->offset, what);
    return DR_EMALFORMED;
}

static int header(struct tar_reader *t,
                  const struct tar_cb *cb,
                  void *ctx,
                  char *errmsg)
{
    const uint8_t *h = t->hdr;
    struct tar_member m;
    uint64_t sum = 0, want, v;
    size_t nlen, plen;
    bool zero = true;

    for (size_t i = 0; i < 512; i++) {
        zero = zero && h[i] == 0;
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    }
    if (zero) {
        if (++t->zero_blocks == 2) {
            t->done = true;
        }
        return 0;
    }
    if (t->zero_blocks > 0) {
        return bad(t, errmsg, "a member after an all-zero block");
    }
    if (!field_num(h + 148, 8, &want) || want != sum) {
        return bad(t, errmsg,
                   "checksum mismatch (not a tar archive, or "
                   "corrupt)");
    }
    if (memcmp(h + 257, "ustar", 5) != 0) {
        return bad(t, errmsg, "not a ustar header");
    }
    memset(&m, 0, sizeof(m));
    nlen = strnlen((const char *)h, 100);
    plen = strnlen((const char *)h + 345, 155);
    if (nlen == 0) {
        return bad(t, errmsg, "empty member name");
    }
    if (plen > 0) {
        snprintf(m.name, sizeof(m.name), "%.*s/%.*s", (int)plen,
                 (const char *)h + 345, (int)nlen, (const char *)h);
    } else {
        snprintf(m.name, sizeof(m.name), "%.*s", (int)nlen, (const char *)h);
    }
    nlen = strlen(m.name);
    while (nlen > 1 && m.name[nlen - 1] == '/') {
        m.name[--nlen] = '\0';
    }
    if (!field_num(h + 124, 12, &m.size) || !field_num(h + 100, 8, &v)) {
        return bad(t, errmsg, "bad size or mode field");
    }
    m.mode = (uint32_t)(v & 07777);
    switch (h[156]) {
        case '0':
        case '\0':
            m.type = TAR_FILE;
            break;
        case '5':
            m.type = TAR_DIR;
            break;
        case '2':
            m.type = TAR_SYMLINK;
            snprintf(m.link, sizeof(m.link), "%.*s",
                     (int)strnlen((const char *)h + 157, 100),
                     (const char *)h + 157);
            break;
        default: {
            char what[96];
            snprintf(what, sizeof(what),
                     "member %.40s has type '%c', not a "
                     "file, directory or symlink",
                     m.name, h[156]);
            return bad(t, errmsg, what);
        }
    }
    if (m.type != TAR_FILE) {
        m.size = 0;
    }
    t->left = m.size;
    t->pad = (512 - m.size % 512) % 512;
    t->in_member = true;
    return cb->begin != NULL ? cb->begin(ctx, &m, errmsg) : 0;
}

int tar_feed(struct tar_reader *t,
             const void *buf,
             size_t len,
             const struct tar_cb *cb,
             void *ctx,
             char *errmsg)
{
    const uint8_t *p = buf;
    int rv;

    while (len > 0) {
        if (t->done) {
            for (size_t i = 0; i < len; i++) {
                if (p[i] != 0) {
                    snprintf(errmsg, 256,
                             "tar: data after the end of the archive (byte "
                             "%llu)",
                             (unsigned long long)(t->offset + i));
                    return DR_EMALFORMED;
                }
            }
            t->offset += len;
            return 0;
        }
        if (t->in_member && t->left > 0) {
            size_t n = len < t->left ? len : (size_t)t->left;
            if (cb->data != NULL && (rv = cb->data(ctx, p, n, errmsg)) != 0) {
                return rv;
            }
            t->left -= n;
            p += n;
            len -= n;
            t->offset += n;
            continue;
        }
        if (t->in_member && t->pad > 0) {
            size_t n = len < t->pad ? len : (size_t)t->pad;
            t->pad -= n;
            p += n;
            len -= n;
            t->offset += n;
            continue;
        }
        if (t->in_member) {
            t->in_member = false;
            if (cb->end != NULL && (rv = cb->end(ctx, errmsg)) != 0) {
                return rv;
            }
            continue;
        }
        {
            size_t n = 512 - t->hdr_fill;
            n = n < len ? n : len;
            memcpy(t->hdr + t->hdr_fill, p, n);
            t->hdr_fill += n;
            p += n;
            len -= n;
            if (t->hdr_fill == 512) {
                t->hdr_fill = 0;
                rv = header(t, cb, ctx, errmsg);
                t->offset += 512;
                if (rv != 0) {
                    return rv;
                }
            }
        }
    }
    /* A member with nothing left to read ends now, not at the next feed. */
    if (t->in_member && t->left == 0 && t->pad == 0) {
        t->in_member = false;
        if (cb->end != NULL && (rv = cb->end(ctx, errmsg)) != 0) {
            return rv;
        }
    }
    return 0;
}

int tar_finish(const struct tar_reader *t, char *errmsg)
{
    if (!t->done) {
        snprintf(errmsg, 256,
                 "tar: the archive is cut short after %llu bytes (no end "
                 "blocks)",
                 (unsigned long long)t->offset);
        return DR_EMALFORMED;
    }
    return 0;
}
