/* A strict, allocation-light JSON parser for request bodies (pure: no I/O).
 * jansson spent a fifth of the leader's time on 1 KiB bodies; this one
 * parses into an arena in one pass. */
#ifndef DR_JSONIN_H
#define DR_JSONIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jin_type {
    JIN_NULL,
    JIN_BOOL,
    JIN_INT,    /* an integer that fits in int64 */
    JIN_NUMBER, /* any other number (fraction or exponent) */
    JIN_STRING,
    JIN_ARRAY,
    JIN_OBJECT,
};

struct jin_member;

struct jin
{
    int type; /* enum jin_type */
    union {
        bool b;
        int64_t i;
        struct
        {
            const char *s; /* NUL-terminated, valid UTF-8, no NUL inside */
            size_t len;
        } str;
        struct
        {
            struct jin *items;
            size_t n;
        } arr;
        struct
        {
            struct jin_member *members;
            size_t n;
        } obj;
    } u;
};

struct jin_member
{
    const char *key;
    struct jin value;
};

struct jin_block;

/* A parsed document; every node lives in its arena. */
struct jin_doc
{
    struct jin root;
    struct jin_block *blocks;
};

/* Parse len bytes. Returns 0, or DR_EINVAL with errmsg (256 bytes) saying
 * what is wrong and where ("malformed JSON at byte N: ..."). Duplicate keys,
 * raw control characters, invalid UTF-8, \u0000, nesting deeper than 32 and
 * objects of more than 1024 members are refused. On error nothing needs
 * freeing. */
int jin_parse(struct jin_doc *d, const char *buf, size_t len, char *errmsg);
void jin_free(struct jin_doc *d);

/* Member of an object, or NULL. */
const struct jin *jin_get(const struct jin *obj, const char *key);

#endif
