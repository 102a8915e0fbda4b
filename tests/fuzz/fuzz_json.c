/* libFuzzer harness for the request-body JSON parser (node/json/jsonin.c),
 * also a replay program (tests/fuzz/replay.c). A document it accepts must
 * survive a trip through the JSON writer (jsonout.c): written out and
 * parsed again it gives the same tree, and every key of an object finds
 * its own member. A refused one must say where, within the input. Nothing
 * may crash, leak or read outside the buffer (the input is copied to an
 * allocation of its exact size, with no terminating NUL). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/jsonin.h"
#include "json/jsonout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_value(struct jout *j, const struct jin *v)
{
    switch (v->type) {
        case JIN_NULL:
            jout_str(j, NULL);
            break;
        case JIN_BOOL:
            jout_bool(j, v->u.b);
            break;
        case JIN_INT:
            jout_int(j, v->u.i);
            break;
        case JIN_NUMBER:
            jout_num(j, 0.5, 1); /* the parser keeps no value for these */
            break;
        case JIN_STRING:
            jout_str(j, v->u.str.s);
            break;
        case JIN_ARRAY:
            jout_begin(j, '[');
            for (size_t i = 0; i < v->u.arr.n; i++) {
                write_value(j, &v->u.arr.items[i]);
            }
            jout_end(j, ']');
            break;
        case JIN_OBJECT:
            jout_begin(j, '{');
            for (size_t i = 0; i < v->u.obj.n; i++) {
                jout_key(j, v->u.obj.members[i].key);
                write_value(j, &v->u.obj.members[i].value);
            }
            jout_end(j, '}');
            break;
        default:
            abort(); /* a type the parser does not make */
    }
}

static int same(const struct jin *a, const struct jin *b)
{
    if (a->type != b->type) {
        return 0;
    }
    switch (a->type) {
        case JIN_BOOL:
            return a->u.b == b->u.b;
        case JIN_INT:
            return a->u.i == b->u.i;
        case JIN_STRING:
            return a->u.str.len == b->u.str.len &&
                   strlen(a->u.str.s) == a->u.str.len &&
                   memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
        case JIN_ARRAY:
            if (a->u.arr.n != b->u.arr.n) {
                return 0;
            }
            for (size_t i = 0; i < a->u.arr.n; i++) {
                if (!same(&a->u.arr.items[i], &b->u.arr.items[i])) {
                    return 0;
                }
            }
            return 1;
        case JIN_OBJECT:
            if (a->u.obj.n != b->u.obj.n) {
                return 0;
            }
            for (size_t i = 0; i < a->u.obj.n; i++) {
                const struct jin_member *m = &a->u.obj.members[i];
                if (strcmp(m->key, b->u.obj.members[i].key) != 0 ||
                    !same(&m->value, &b->u.obj.members[i].value) ||
                    jin_get(a, m->key) != &m->value) {
                    return 0;
                }
            }
            return 1;
        default:
            return 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    struct jin_doc d, d2;
    struct jout j;
    char err[256];
    int rv;

    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    rv = jin_parse(&d, buf, size, err);
    if (rv != 0) {
        size_t at;
        if ((sscanf(err, "malformed JSON at byte %zu", &at) != 1 ||
             at > size) &&
            strncmp(err, "duplicate key", 13) != 0) {
            abort(); /* a refusal says where */
        }
        free(buf);
        return 0;
    }
    jout_init(&j);
    write_value(&j, &d.root);
    if (!j.oom) {
        if (jin_parse(&d2, j.buf, j.len, err) != 0) {
            fprintf(stderr, "rewritten JSON refused: %s\n%s\n", err, j.buf);
            abort();
        }
        if (!same(&d.root, &d2.root)) {
            fprintf(stderr, "rewritten JSON differs: %s\n", j.buf);
            abort();
        }
        jin_free(&d2);
    }
    jout_free(&j);
    jin_free(&d);
    free(buf);
    return 0;
}
