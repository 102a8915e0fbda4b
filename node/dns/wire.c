/* DNS wire format: queries out, answers in (RFC 1035 sections 4.1, with
 * name compression on the way in). */
#include "dns/wire.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

size_t dns_wire_query(uint16_t id,
                      const char *name,
                      uint16_t type,
                      uint8_t *buf)
{
    size_t n = 12, len = strlen(name);
    const char *p = name;

    if (len == 0 || len > 253 + 1) {
        return 0;
    }
    memset(buf, 0, 12);
    buf[0] = (uint8_t)(id >> 8);
    buf[1] = (uint8_t)id;
    buf[5] = 1; /* QDCOUNT; RD off: the authoritative answer is asked */
    while (*p != '\0') {
        size_t l = strcspn(p, ".");
        if (l == 0 || l > 63) {
            return 0;
        }
        buf[n++] = (uint8_t)l;
        memcpy(buf + n, p, l);
        n += l;
        p += l;
        if (*p == '.') {
            p++;
        }
    }
    buf[n++] = 0;
    buf[n++] = (uint8_t)(type >> 8);
    buf[n++] = (uint8_t)type;
    buf[n++] = 0;
    buf[n++] = 1; /* IN */
    return n;
}

/* Read the (possibly compressed) name at *off into out; moves *off past it
 * in the record. */
static int read_name(const uint8_t *msg,
                     size_t len,
                     size_t *off,
                     char *out,
                     size_t cap)
{
    size_t pos = *off, o = 0;
    int jumps = 0;
    bool jumped = false;

    for (;;) {
        uint8_t l;
        if (pos >= len) {
            return -1;
        }
        l = msg[pos];
        if ((l & 0xC0) == 0xC0) {
            if (pos + 1 >= len || ++jumps > 16) {
                return -1;
            }
            if (!jumped) {
                *off = pos + 2;
            }
            jumped = true;
            pos = ((size_t)(l & 0x3F) << 8) | msg[pos + 1];
            continue;
        }
        if (l > 63) {
            return -1;
        }
        pos++;
        if (l == 0) {
            break;
        }
        if (pos + l > len || o + l + 2 > cap) {
            return -1;
        }
        memcpy(out + o, msg + pos, l);
        o += l;
        out[o++] = '.';
        pos += l;
    }
    if (o == 0) {
        out[o++] = '.';
    }
    out[o] = '\0';
    if (!jumped) {
        *off = pos;
    }
    return 0;
}

int dns_wire_parse(const uint8_t *msg,
                   size_t len,
                   uint16_t id,
                   int *rcode,
                   struct dns_answer *answers,
                   size_t *n_answers,
                   char *errmsg)
{
    size_t off = 12, qd, an, max = *n_answers;
    char name[DNS_TEXT_MAX];

    *n_answers = 0;
    if (len < 12) {
        snprintf(errmsg, 256, "reply of %zu bytes is too short", len);
        return -1;
    }
    if (((uint16_t)(msg[0] << 8 | msg[1])) != id || (msg[2] & 0x80) == 0) {
        snprintf(errmsg, 256, "not a reply to query %u", (unsigned)id);
        return -1;
    }
    *rcode = msg[3] & 0x0F;
    qd = (size_t)(msg[4] << 8 | msg[5]);
    an = (size_t)(msg[6] << 8 | msg[7]);
    for (size_t i = 0; i < qd; i++) {
        if (read_name(msg, len, &off, name, sizeof(name)) != 0 ||
            off + 4 > len) {
            snprintf(errmsg, 256, "malformed question section");
            return -1;
        }
        off += 4;
    }
    for (size_t i = 0; i < an; i++) {
        uint16_t type, rdlen;
        if (read_name(msg, len, &off, name, sizeof(name)) != 0 ||
            off + 10 > len) {
            snprintf(errmsg, 256, "malformed answer %zu", i);
            return -1;
        }
        type = (uint16_t)(msg[off] << 8 | msg[off + 1]);
        rdlen = (uint16_t)(msg[off + 8] << 8 | msg[off + 9]);
        off += 10;
        if (off + rdlen > len) {
            snprintf(errmsg, 256, "answer %zu runs past the reply", i);
            return -1;
        }
        if (*n_answers < max) {
            struct dns_answer *a = &answers[*n_answers];
            size_t at = off;
            a->type = type;
            a->text[0] = '\0';
            if (type == DNS_TYPE_A && rdlen == 4) {
                inet_ntop(AF_INET, msg + off, a->text, sizeof(a->text));
                (*n_answers)++;
            } else if (type == DNS_TYPE_AAAA && rdlen == 16) {
                inet_ntop(AF_INET6, msg + off, a->text, sizeof(a->text));
                (*n_answers)++;
            } else if (type == DNS_TYPE_CNAME &&
                       read_name(msg, len, &at, a->text, sizeof(a->text)) ==
                           0) {
                (*n_answers)++;
            } else if (type == DNS_TYPE_TXT && rdlen >= 1 && msg[off] < rdlen) {
                memcpy(a->text, msg + off + 1, msg[off]);
                a->text[msg[off]] = '\0';
                (*n_answers)++;
            }
        }
        off += rdlen;
    }
    return 0;
}
