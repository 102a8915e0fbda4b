/* libFuzzer harness for the RDB walker (make fuzz), also built as a plain
 * program that replays files (tests/fuzz/replay.c; in make test): any
 * input is walked whole, then again in two pieces split where its first
 * byte says (the resumable path), and both walks must agree; DUMP payload
 * splitting and LZF get the same bytes. Nothing may crash, leak or read
 * outside the buffer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup/rdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Items and the final result of a walk, feeding at most `limit` visible
 * bytes until RDB_MORE, then everything. */
static uint64_t walk(const uint8_t *data, size_t size, size_t limit, int *rv)
{
    struct rdb_parser p;
    struct rdb_item it;
    size_t at = 0, vis = limit < size ? limit : size, used;
    uint64_t h = 1469598103934665603ull;
    char err[256];

    rdb_parser_init(&p);
    for (;;) {
        *rv = rdb_next(&p, data + at, vis - at, &used, &it, err);
        if (*rv == RDB_MORE && vis < size) {
            vis = size;
            continue;
        }
        if (*rv != 0) {
            break;
        }
        at += used;
        h = (h ^ (uint64_t)it.kind ^ ((uint64_t)it.klen << 8) ^
             ((uint64_t)it.vlen << 24)) *
            1099511628211ull;
        if (it.kind == RDB_ITEM_KEY) {
            uint8_t *pl = malloc(it.vlen + 1 + RDB_DUMP_TRAILER), type;
            const uint8_t *v;
            size_t vlen;
            int ver;
            if (pl != NULL) {
                size_t n =
                    rdb_dump_payload(p.version, it.type, it.value, it.vlen, pl);
                if (rdb_dump_split(pl, n, &type, &v, &vlen, &ver) != 0 ||
                    type != it.type || vlen != it.vlen || ver != p.version) {
                    abort(); /* a payload we built must split back */
                }
                free(pl);
            }
        }
        if (it.kind == RDB_ITEM_END) {
            break;
        }
    }
    rdb_parser_free(&p);
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int rv1, rv2;
    uint64_t h1, h2;
    uint8_t out[4096], type;
    const uint8_t *v;
    size_t vlen;
    int ver;

    h1 = walk(data, size, size, &rv1);
    h2 = walk(data, size, size > 0 ? data[0] * size / 256 : 0, &rv2);
    if (rv1 != rv2 || h1 != h2) {
        abort(); /* resuming after RDB_MORE must change nothing */
    }
    (void)rdb_dump_split(data, size, &type, &v, &vlen, &ver);
    if (size > 2) {
        (void)rdb_lzf_decompress(data + 2, size - 2, out,
                                 ((size_t)data[0] << 4 | data[1]) % 4096);
    }
    return 0;
}
