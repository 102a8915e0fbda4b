/* A small JSON writer for the hot replies (regions, errors, site); jansson
 * builds a tree and then walks it, which cost the leader a sixth of its
 * time on region writes. */
#ifndef DR_JSONOUT_H
#define DR_JSONOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jout
{
    char *buf; /* malloc'd, NUL-terminated while !oom */
    size_t len, cap;
    bool oom;   /* an allocation failed; buf holds an incomplete text */
    bool comma; /* a value was written in the current container */
};

void jout_init(struct jout *j);
void jout_free(struct jout *j);
void jout_begin(struct jout *j, char open);     /* '{' or '[' */
void jout_end(struct jout *j, char close);      /* '}' or ']' */
void jout_key(struct jout *j, const char *key); /* key of the next value */
void jout_str(struct jout *j, const char *s);   /* NULL writes null */
void jout_int(struct jout *j, int64_t v);
void jout_uint(struct jout *j, uint64_t v);
void jout_bool(struct jout *j, bool v);
/* A number with that many decimals; null when not finite. */
void jout_num(struct jout *j, double v, int decimals);

#endif
