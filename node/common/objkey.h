/* Object keys: the one definition of what a key in an object store may be,
 * shared by the stores, the manifest decoders and the catalog. Pure. */
#ifndef DR_OBJKEY_H
#define DR_OBJKEY_H

#include <stdbool.h>
#include <stddef.h>

#define DR_OBJECT_KEY_MAX 1024 /* bytes, with the NUL */

/* 0 when key is a relative path of [A-Za-z0-9._/-] segments, none of them
 * empty, "." or "..", shorter than DR_OBJECT_KEY_MAX; otherwise DR_EINVAL
 * and errmsg (256 bytes) says what is wrong, showing the key. A manifest or
 * a catalog entry can therefore never send a reader outside its store. */
int dr_object_key_check(const char *key, char *errmsg);

/* dr_object_key_check without the message; key may be NULL. */
bool dr_object_key_ok(const char *key);

/* Whether s is a SHA-256 as the manifests write it: 64 lowercase hex
 * digits; s may be NULL. */
bool dr_sha256_hex_ok(const char *s);
/* Whether c may appear in a key. */
int dr_object_key_char(char c);

/* Copy s into out (cap bytes, NUL-terminated, cut if longer) with every
 * byte outside printable ASCII shown as '?': safe to put in a message. */
void dr_printable(const char *s, char *out, size_t cap);

#endif /* DR_OBJKEY_H */
