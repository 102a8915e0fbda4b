/* The PostgreSQL row digests against values computed independently (Python's
 * hashlib and xxhash over the same COPY lines): rowsum-xxh3-128 (backups
 * since 0.3) and rowsum-sha256 (older manifests, still verified); the sum
 * does not depend on row order or on how the stream is cut; the manifest
 * carries the algorithm and refuses one it does not know. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backup/pg_internal.h"
#include "codec/pg_manifest.h"
#include "common/err.h"

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    }
}

/* The digest of text fed in pieces of step bytes (0: whole). */
static void digest(int alg,
                   const char *text,
                   size_t step,
                   char out[65],
                   uint64_t *rows)
{
    struct pgj_digest d;
    size_t n = strlen(text);

    assert_int_equal(pgj_digest_init(&d, alg), 0);
    for (size_t at = 0; at < n;) {
        size_t k = step == 0 || at + step > n ? n - at : step;
        assert_int_equal(pgj_digest_feed(&d, text + at, k), 0);
        at += k;
    }
    assert_int_equal(pgj_digest_finish(&d), 0);
    hex(d.sum, 32, out);
    *rows = d.rows;
    pgj_digest_free(&d);
}

static void test_known_values(void **state)
{
    const char *rows = "1\ta\n2\tb\n3\t\\N\n\n";
    char out[65];
    uint64_t n;

    (void)state;
    digest(PGMAN_ROWSUM_XXH3, rows, 0, out, &n);
    assert_int_equal(n, 4);
    assert_string_equal(out,
                        "00000000000000000000000000000002"
                        "4ec4dbb6479ffeb16e218b6edeb093f4");
    digest(PGMAN_ROWSUM_SHA256, rows, 3, out, &n);
    assert_int_equal(n, 4);
    assert_string_equal(out,
                        "223904dfaf0b44053642fdf7a901c45e"
                        "c55906e15341bc3dab8d172fb4903a37");
}

/* 100,000 rows: the 128-bit hashes carry into the upper limbs. */
static void test_carries_order_and_cuts(void **state)
{
    size_t cap = 100000 * 8, n = 0;
    char *fwd = malloc(cap), *rev = malloc(cap), a[65], b[65], c[65];
    uint64_t rows;

    (void)state;
    assert_non_null(fwd);
    assert_non_null(rev);
    for (int i = 0; i < 100000; i++) {
        n += (size_t)snprintf(fwd + n, cap - n, "%d\n", i);
    }
    n = 0;
    for (int i = 99999; i >= 0; i--) {
        n += (size_t)snprintf(rev + n, cap - n, "%d\n", i);
    }
    digest(PGMAN_ROWSUM_XXH3, fwd, 0, a, &rows);
    assert_int_equal(rows, 100000);
    assert_string_equal(a,
                        "0000000000000000000000000000c382"
                        "c6a74abdeaa87cc3ef63a53fdd547750");
    digest(PGMAN_ROWSUM_XXH3, rev, 7, b, &rows);
    digest(PGMAN_ROWSUM_XXH3, fwd, 4093, c, &rows);
    assert_string_equal(a, b);
    assert_string_equal(a, c);
    /* A repeated row counts: a multiset sum, not XOR. */
    memcpy(rev, "5\n", 3);
    digest(PGMAN_ROWSUM_XXH3, rev, 0, b, &rows);
    assert_string_not_equal(a, b);
    free(fwd);
    free(rev);
}

static void test_unfinished_line(void **state)
{
    struct pgj_digest d;

    (void)state;
    assert_int_equal(pgj_digest_init(&d, PGMAN_ROWSUM_XXH3), 0);
    assert_int_equal(pgj_digest_feed(&d, "1\ta\n2\t", 6), 0);
    assert_int_equal(pgj_digest_finish(&d), DR_EMALFORMED);
    pgj_digest_free(&d);
}

/* A manifest with one table of one chunk, encoded with alg. */
static void round_trip(int alg, struct pgman **out, uint8_t **buf, size_t *len)
{
    struct pgman m;
    struct pgman_table t;
    struct pgman_chunk ch;
    char *cols[] = {"id"};
    char err[256];

    memset(&m, 0, sizeof(m));
    memset(&t, 0, sizeof(t));
    memset(&ch, 0, sizeof(ch));
    m.version = PGMAN_VERSION;
    m.database = "db";
    m.encoding = "UTF8";
    m.digest_alg = alg;
    m.pre_data.key = "p/pre-data.sql.zst";
    m.post_data.key = "p/post-data.sql.zst";
    memset(m.pre_data.raw_sha256, 'a', 64);
    memset(m.pre_data.stored_sha256, 'a', 64);
    memset(m.post_data.raw_sha256, 'a', 64);
    memset(m.post_data.stored_sha256, 'a', 64);
    t.schema = "public";
    t.name = "t";
    t.columns = cols;
    t.n_columns = 1;
    t.rows = 2;
    t.digest[31] = 7;
    ch.object.key = "p/t.zst";
    memset(ch.object.raw_sha256, 'b', 64);
    memset(ch.object.stored_sha256, 'b', 64);
    ch.rows = 2;
    ch.digest[31] = 7;
    t.chunks = &ch;
    t.n_chunks = 1;
    m.tables = &t;
    m.n_tables = 1;
    assert_int_equal(pgman_encode(&m, buf, len, err), 0);
    assert_int_equal(pgman_decode(*buf, *len, out, err), 0);
}

static void test_manifest_carries_the_algorithm(void **state)
{
    struct pgman *m = NULL;
    uint8_t *buf;
    size_t len;
    char err[256];
    uint8_t *at;

    (void)state;
    round_trip(PGMAN_ROWSUM_XXH3, &m, &buf, &len);
    assert_int_equal(m->digest_alg, PGMAN_ROWSUM_XXH3);
    pgman_free(m);
    /* Another name of the same length in its place: refused, named. */
    at = memmem(buf, len, "rowsum-xxh3-128", 15);
    assert_non_null(at);
    memcpy(at, "rowsum-md5x-128", 15);
    assert_int_equal(pgman_decode(buf, len, &m, err), DR_EMALFORMED);
    assert_string_equal(err,
                        "manifest: unknown digest algorithm "
                        "\"rowsum-md5x-128\"");
    free(buf);
    round_trip(PGMAN_ROWSUM_SHA256, &m, &buf, &len);
    assert_int_equal(m->digest_alg, PGMAN_ROWSUM_SHA256);
    assert_non_null(memmem(buf, len, "rowsum-sha256", 13));
    pgman_free(m);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_carries_order_and_cuts),
        cmocka_unit_test(test_unfinished_line),
        cmocka_unit_test(test_manifest_carries_the_algorithm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
