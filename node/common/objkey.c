/* Object keys and printable copies for messages. */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/objkey.h"

void dr_printable(const char *s, char *out, size_t cap)
{
    size_t i;

    if (cap == 0) {
        return;
    }
    for (i = 0; s[i] != '\0' && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[i] = '\0';
}

int dr_object_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '/' ||
           c == '-';
}

int dr_object_key_check(const char *key, char *errmsg)
{
    char shown[72];
    const char *seg;
    size_t len, i, seglen;

    if (key == NULL || key[0] == '\0') {
        snprintf(errmsg, 256, "invalid object key: empty");
        return DR_EINVAL;
    }
    dr_printable(key, shown, sizeof(shown));
    len = strlen(key);
    if (len >= DR_OBJECT_KEY_MAX) {
        snprintf(errmsg, 256,
                 "invalid object key \"%s...\": longer than %d bytes", shown,
                 DR_OBJECT_KEY_MAX - 1);
        return DR_EINVAL;
    }
    for (i = 0; i < len; i++) {
        if (!dr_object_key_char(key[i])) {
            snprintf(errmsg, 256,
                     "invalid object key \"%s\": byte 0x%02x at offset %zu is "
                     "not allowed (keys use [A-Za-z0-9._/-])",
                     shown, (unsigned char)key[i], i);
            return DR_EINVAL;
        }
    }
    if (key[0] == '/') {
        snprintf(errmsg, 256,
                 "invalid object key \"%s\": must not start with '/'", shown);
        return DR_EINVAL;
    }
    seg = key;
    for (;;) {
        const char *slash = strchr(seg, '/');
        seglen = slash != NULL ? (size_t)(slash - seg) : strlen(seg);
        if (seglen == 0) {
            snprintf(errmsg, 256,
                     "invalid object key \"%s\": empty path segment", shown);
            return DR_EINVAL;
        }
        if ((seglen == 1 && seg[0] == '.') ||
            (seglen == 2 && seg[0] == '.' && seg[1] == '.')) {
            snprintf(errmsg, 256,
                     "invalid object key \"%s\": \".\" and \"..\" segments are "
                     "not allowed",
                     shown);
            return DR_EINVAL;
        }
        if (slash == NULL) {
            break;
        }
        seg = slash + 1;
    }
    return 0;
}

bool dr_object_key_ok(const char *key)
{
    char err[256];
    return key != NULL && dr_object_key_check(key, err) == 0;
}

bool dr_sha256_hex_ok(const char *s)
{
    if (s == NULL || strlen(s) != 64) {
        return false;
    }
    for (size_t i = 0; i < 64; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}
