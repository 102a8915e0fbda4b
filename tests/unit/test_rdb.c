/* The RDB walker against real RDB files (tests/data/rdb, written by
 * make-rdb from the machine's redis-server with every type and encoding):
 * every key's DUMP payload rebuilt from the stream equals the server's own
 * DUMP, fed whole or a byte at a time; every truncation asks for more;
 * every flipped byte is refused; bad headers, types and checksums are
 * named with their offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backup/rdb.h"
#include "common/err.h"

struct blob
{
    uint8_t *b;
    size_t n;
};

static struct blob slurp(const char *name)
{
    char path[512];
    struct blob r = {NULL, 0};
    FILE *f;
    long n;

    snprintf(path, sizeof(path), "%s/rdb/%s", DR_TEST_DATA, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    r.b = malloc((size_t)n + 1);
    assert_non_null(r.b);
    assert_int_equal(fread(r.b, 1, (size_t)n, f), (size_t)n);
    r.b[n] = 0;
    r.n = (size_t)n;
    fclose(f);
    return r;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(out + 2 * i, 3, "%02x", p[i]);
    }
    out[2 * n] = 0;
}

/* Parses the whole stream, step bytes visible at a time (0: all), and
 * returns the keys as "db hexkey expire hexpayload\n" lines. */
static char *walk(const struct blob *in, size_t step)
{
    struct rdb_parser p;
    struct rdb_item it;
    size_t at = 0, vis, used, cap = 1 << 16, n = 0;
    char *out = malloc(cap), err[256];
    int ended = 0;

    assert_non_null(out);
    out[0] = 0;
    rdb_parser_init(&p);
    vis = step == 0 ? in->n : step;
    while (!ended) {
        int rv = rdb_next(&p, in->b + at, vis - at, &used, &it, err);
        if (rv == RDB_MORE) {
            assert_true(vis < in->n); /* never at the end of the file */
            vis = vis + step > in->n ? in->n : vis + step;
            continue;
        }
        if (rv != 0) {
            fail_msg("%s", err);
        }
        at += used;
        if (it.kind == RDB_ITEM_END) {
            ended = 1;
        } else if (it.kind == RDB_ITEM_KEY) {
            size_t need = 64 + 2 * (it.klen + it.vlen + 16);
            uint8_t *pl = malloc(it.vlen + 1 + RDB_DUMP_TRAILER);
            size_t pn;
            assert_non_null(pl);
            pn = rdb_dump_payload(p.version, it.type, it.value, it.vlen, pl);
            while (n + need > cap) {
                cap *= 2;
                out = realloc(out, cap);
                assert_non_null(out);
            }
            n += (size_t)snprintf(out + n, cap - n, "%u ", it.db);
            hex(it.key, it.klen, out + n);
            n += 2 * it.klen;
            n += (size_t)snprintf(out + n, cap - n, " %lld ",
                                  (long long)it.expire_at_ms);
            hex(pl, pn, out + n);
            n += 2 * pn;
            out[n++] = '\n';
            out[n] = 0;
            free(pl);
        }
    }
    assert_int_equal(at, in->n);
    assert_int_equal(p.offset, in->n);
    rdb_parser_free(&p);
    return out;
}

/* The .dumps lines sorted as walk's (db, then key) are compared as sets. */
static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void assert_same_lines(char *a, char *b)
{
    char *va[256], *vb[256], *s;
    size_t na = 0, nb = 0;

    for (s = strtok(a, "\n"); s != NULL && na < 256; s = strtok(NULL, "\n")) {
        va[na++] = s;
    }
    for (s = strtok(b, "\n"); s != NULL && nb < 256; s = strtok(NULL, "\n")) {
        vb[nb++] = s;
    }
    assert_true(na > 20);
    assert_int_equal(na, nb);
    qsort(va, na, sizeof(char *), cmp_lines);
    qsort(vb, nb, sizeof(char *), cmp_lines);
    for (size_t i = 0; i < na; i++) {
        assert_string_equal(va[i], vb[i]);
    }
}

static void check_file(const char *base)
{
    char name[128];
    struct blob rdb, want;
    char *got, *want2;

    snprintf(name, sizeof(name), "%s.rdb", base);
    rdb = slurp(name);
    snprintf(name, sizeof(name), "%s.dumps", base);
    want = slurp(name);
    got = walk(&rdb, 0);
    want2 = strdup((char *)want.b);
    assert_same_lines(got, (char *)want.b);
    free(got);
    got = walk(&rdb, 1); /* a byte at a time: resumes at every offset */
    assert_same_lines(got, want2);
    free(got);
    free(want2);
    free(want.b);
    free(rdb.b);
}

static void test_crc64_check_value(void **state)
{
    (void)state;
    assert_true(rdb_crc64(0, (const uint8_t *)"123456789", 9) ==
                0xe9c6d914c4b8d9caull);
    /* chunked the same as whole */
    assert_true(rdb_crc64(rdb_crc64(0, (const uint8_t *)"1234", 4),
                          (const uint8_t *)"56789",
                          5) == 0xe9c6d914c4b8d9caull);
}

static void test_every_key_matches_dump_lfu(void **state)
{
    (void)state;
    check_file("all-types-lfu");
}

static void test_every_key_matches_dump_lru(void **state)
{
    (void)state;
    check_file("all-types-lru");
}

/* The whole stream with one byte changed: refused, never ended. */
static int walk_damaged(const struct blob *in, char *err)
{
    struct rdb_parser p;
    struct rdb_item it;
    size_t at = 0, used;
    int rv;

    rdb_parser_init(&p);
    for (;;) {
        rv = rdb_next(&p, in->b + at, in->n - at, &used, &it, err);
        if (rv != 0 || it.kind == RDB_ITEM_END) {
            break;
        }
        at += used;
    }
    rdb_parser_free(&p);
    return rv;
}

static void test_every_flipped_byte_is_refused(void **state)
{
    struct blob rdb = slurp("all-types-lfu.rdb");
    char err[256];
    size_t mismatch = 0;

    (void)state;
    for (size_t i = 0; i < rdb.n; i++) {
        rdb.b[i] ^= 0x5a;
        int rv = walk_damaged(&rdb, err);
        rdb.b[i] ^= 0x5a;
        if (rv == 0) {
            fail_msg("byte %zu flipped: the stream was accepted", i);
        }
        assert_true(rv == DR_EINVAL || rv == DR_EVERSION || rv == RDB_MORE);
        if (rv == DR_EINVAL || rv == DR_EVERSION) {
            assert_non_null(strstr(err, "RDB offset "));
            mismatch += strstr(err, "checksum mismatch") != NULL;
        }
    }
    assert_true(mismatch > 0);
    free(rdb.b);
}

static int one(const uint8_t *b, size_t n, struct rdb_item *last, char *err)
{
    struct rdb_parser p;
    size_t at = 0, used;
    int rv;

    rdb_parser_init(&p);
    do {
        rv = rdb_next(&p, b + at, n - at, &used, last, err);
        at += used;
    } while (rv == 0 && last->kind != RDB_ITEM_END && at < n);
    rdb_parser_free(&p);
    return rv;
}

static void test_bad_headers_and_types_named(void **state)
{
    struct rdb_item it;
    char err[256];
    /* SELECTDB 0, then a key "k" of type T with value "v" */
    uint8_t k[] = {'R', 'E',  'D',  'I',  'S',  '0', '0',  '1',
                   '0', 0xfe, 0x00, 0x63, 0x01, 'k', 0x01, 'v'};

    (void)state;
    assert_int_equal(one((const uint8_t *)"RDB0010", 7, &it, err), RDB_MORE);
    assert_int_equal(one((const uint8_t *)"XEDIS0010", 9, &it, err), DR_EINVAL);
    assert_string_equal(err,
                        "RDB offset 0: not an RDB stream (no REDIS magic)");
    assert_int_equal(one((const uint8_t *)"REDIS0099\xff", 10, &it, err),
                     DR_EVERSION);
    assert_string_equal(
        err, "RDB offset 0: RDB version 99 is not supported (1 to 12 are)");
    assert_int_equal(one(k, sizeof(k), &it, err), DR_EVERSION);
    assert_string_equal(err, "RDB offset 11: unknown value type 99");
    k[11] = 7;
    assert_int_equal(one(k, sizeof(k), &it, err), DR_EVERSION);
    assert_string_equal(err,
                        "RDB offset 11: a module value (not supported: "
                        "it needs the module to be read)");
    k[11] = 25;
    assert_int_equal(one(k, sizeof(k), &it, err), DR_EVERSION);
    assert_string_equal(err,
                        "RDB offset 11: a hash with field expiry (Redis "
                        "7.4+; not supported: use method scan)");
    k[11] = 0xf7;
    assert_int_equal(one(k, sizeof(k), &it, err), DR_EVERSION);
    assert_non_null(strstr(err, "RDB offset 11: module data"));
    k[11] = 0; /* a string: parses, then asks for more */
    assert_int_equal(one(k, sizeof(k), &it, err), 0);
    assert_int_equal(it.kind, RDB_ITEM_KEY);
    assert_int_equal(it.vlen, 2);
}

static void test_checksum_mismatch_and_zero(void **state)
{
    struct rdb_item it;
    char err[256];
    uint8_t s[] = {'R',  'E', 'D', 'I', 'S', '0', '0', '1', '0',
                   0xff, 0,   0,   0,   0,   0,   0,   0,   0};
    uint64_t crc = rdb_crc64(0, s, 10);

    (void)state;
    /* 0: written with rdbchecksum no, accepted */
    assert_int_equal(one(s, sizeof(s), &it, err), 0);
    assert_int_equal(it.kind, RDB_ITEM_END);
    for (int i = 0; i < 8; i++) {
        s[10 + i] = (uint8_t)(crc >> (8 * i));
    }
    assert_int_equal(one(s, sizeof(s), &it, err), 0);
    assert_int_equal(it.kind, RDB_ITEM_END);
    s[10] ^= 1;
    assert_int_equal(one(s, sizeof(s), &it, err), DR_EINVAL);
    assert_string_equal(err,
                        "RDB offset 10: checksum mismatch: the RDB was "
                        "damaged on the way");
}

static void test_lzf(void **state)
{
    /* "abcabcabc": a literal "abc", then a 6-byte reference 3 back */
    const uint8_t in[] = {0x02, 'a', 'b', 'c', (4 << 5) | 0, 2};
    uint8_t out[16];

    (void)state;
    assert_int_equal(rdb_lzf_decompress(in, sizeof(in), out, 9), 0);
    assert_memory_equal(out, "abcabcabc", 9);
    assert_int_equal(rdb_lzf_decompress(in, sizeof(in), out, 8), -1);
    assert_int_equal(rdb_lzf_decompress(in, sizeof(in), out, 10), -1);
    assert_int_equal(rdb_lzf_decompress(in, 5, out, 9), -1);
    const uint8_t far[] = {0x00, 'a', (1 << 5) | 0, 5}; /* before the start */
    assert_int_equal(rdb_lzf_decompress(far, sizeof(far), out, 4), -1);
}

static size_t unhex(const char *h, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n / 2;
}

/* The writer's RDB, from the server's DUMP payloads, parsed back: the same
 * keys, expiries and payloads, and a checksum the parser accepts. */
static void test_written_rdb_parses_back(void **state)
{
    struct blob want = slurp("all-types-lfu.dumps");
    uint8_t *out = malloc(1 << 20), *pl = malloc(1 << 16), key[512];
    size_t n = 0, nkeys = 0;
    char *lines = strdup((char *)want.b), *line, *save = NULL;
    uint64_t crc;
    int version = 0;

    (void)state;
    assert_non_null(out);
    assert_non_null(pl);
    for (line = strtok_r(lines, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        unsigned db;
        long long at;
        char hk[1024], hp[70000];
        const uint8_t *value;
        size_t klen, plen, vlen;
        uint8_t type;
        int v;
        assert_int_equal(
            sscanf(line, "%u %1023s %lld %69999s", &db, hk, &at, hp), 4);
        if (db != 0) {
            continue;
        }
        klen = unhex(hk, strlen(hk), key);
        plen = unhex(hp, strlen(hp), pl);
        assert_int_equal(rdb_dump_split(pl, plen, &type, &value, &vlen, &v), 0);
        if (version == 0) {
            version = v;
            n += rdb_put_header(out + n, v);
            n += rdb_put_select(out + n, 0);
        }
        n += rdb_put_key_head(out + n, at, type, klen);
        memcpy(out + n, key, klen);
        n += klen;
        memcpy(out + n, value, vlen);
        n += vlen;
        nkeys++;
        pl[plen / 2] ^= 1; /* a damaged payload is refused */
        assert_int_equal(rdb_dump_split(pl, plen, &type, &value, &vlen, &v),
                         -1);
    }
    out[n++] = 0xff;
    crc = rdb_crc64(0, out, n);
    for (int k = 0; k < 8; k++) {
        out[n++] = (uint8_t)(crc >> (8 * k));
    }
    struct blob rdb = {out, n};
    char *got = walk(&rdb, 0);
    size_t got_lines = 0;
    for (char *c = got; *c != 0; c++) {
        got_lines += *c == '\n';
    }
    assert_int_equal(got_lines, nkeys);
    for (line = strtok_r(got, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        assert_non_null(strstr((char *)want.b, line)); /* byte for byte */
    }
    assert_int_equal(rdb_put_select(out, 70000), 6); /* 0xfe 0x80 u32 */
    assert_int_equal(out[1], 0x80);
    assert_int_equal(rdb_put_select(out, 300), 3); /* 0xfe 14 bits */
    assert_int_equal(out[1], 0x41);
    free(got);
    free(lines);
    free(pl);
    free(out);
    free(want.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc64_check_value),
        cmocka_unit_test(test_every_key_matches_dump_lfu),
        cmocka_unit_test(test_every_key_matches_dump_lru),
        cmocka_unit_test(test_every_flipped_byte_is_refused),
        cmocka_unit_test(test_bad_headers_and_types_named),
        cmocka_unit_test(test_checksum_mismatch_and_zero),
        cmocka_unit_test(test_lzf),
        cmocka_unit_test(test_written_rdb_parses_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
