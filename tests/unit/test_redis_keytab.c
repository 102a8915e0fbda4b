/* The Redis key table's sort (an LSD radix sort on 16-byte prefixes, then
 * comparison sorts of ties) against a plain comparison sort: random binary
 * keys, keys that differ only past 16 bytes, in length, or by trailing NUL
 * bytes (which the zero-padded prefixes cannot tell apart), and repeats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backup/redis_format.h"
#include "helpers.h"

struct k
{
    uint8_t b[40];
    size_t n;
};

static int cmp_ref(const void *a, const void *b)
{
    const struct k *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->b, y->b, n);
    return c != 0 ? c : (x->n > y->n) - (x->n < y->n);
}

static void make(struct rng *r, struct k *k)
{
    static const uint8_t alpha[] = {0, 1, 'a', 'b', 0x7f, 0x80, 0xff};
    int shape = (int)rng_below(r, 4);

    k->n = rng_below(r, 3) == 0 ? rng_below(r, 6) : rng_below(r, 40);
    for (size_t i = 0; i < k->n; i++) {
        k->b[i] = shape == 0 ? (uint8_t)rng_below(r, 256)
                             : alpha[rng_below(r, sizeof(alpha))];
    }
    if (shape == 1 && k->n > 18) { /* a long shared prefix */
        memset(k->b, 'p', 17);
    }
}

static void check(unsigned seed, size_t n, int with_repeat)
{
    struct rng r = {seed};
    struct k *ks = calloc(n, sizeof(*ks)), *ref;
    struct rkeytab t;
    long idx, dup;

    assert_non_null(ks);
    rkeytab_init(&t);
    for (size_t i = 0; i < n; i++) {
        int again = 1;
        while (again) { /* distinct keys unless a repeat is wanted */
            make(&r, &ks[i]);
            again = 0;
            for (size_t j = 0; j < i && !again; j++) {
                again = cmp_ref(&ks[i], &ks[j]) == 0;
            }
        }
    }
    if (with_repeat) {
        ks[n - 1] = ks[n / 2];
    }
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rkeytab_append(&t, ks[i].b, ks[i].n, &idx), 0);
        assert_int_equal(idx, (long)i);
        t.v[i].expire_at_ms = (int64_t)i; /* travels with its key */
    }
    ref = malloc(n * sizeof(*ref));
    assert_non_null(ref);
    memcpy(ref, ks, n * sizeof(*ref));
    qsort(ref, n, sizeof(*ref), cmp_ref);
    dup = rkeytab_sort(&t);
    assert_int_equal(t.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(t.v[i].klen, ref[i].n);
        assert_memory_equal(t.v[i].key, ref[i].b, ref[i].n);
        size_t orig = (size_t)t.v[i].expire_at_ms;
        assert_int_equal(cmp_ref(&ks[orig], &ref[i]), 0);
    }
    if (with_repeat) {
        assert_true(dup > 0);
        assert_int_equal(t.v[dup].klen, ks[n / 2].n);
        assert_memory_equal(t.v[dup].key, ks[n / 2].b, ks[n / 2].n);
    } else {
        assert_int_equal(dup, -1);
    }
    rkeytab_free(&t);
    free(ref);
    free(ks);
}

static void test_sort_matches_comparison_sort(void **state)
{
    (void)state;
    for (unsigned seed = 1; seed <= 20; seed++) {
        check(seed, 1 + seed * 37, 0);
    }
}

static void test_sort_finds_a_repeat(void **state)
{
    (void)state;
    for (unsigned seed = 100; seed < 105; seed++) {
        check(seed, 300, 1);
    }
}

static void test_nul_padding_and_big_keys(void **state)
{
    struct rkeytab t;
    static uint8_t big[300000];
    long idx;

    (void)state;
    memset(big, 'z', sizeof(big));
    rkeytab_init(&t);
    assert_int_equal(rkeytab_append(&t, (const uint8_t *)"ab\0", 3, &idx), 0);
    assert_int_equal(rkeytab_append(&t, big, sizeof(big), &idx), 0);
    assert_int_equal(rkeytab_append(&t, (const uint8_t *)"ab", 2, &idx), 0);
    assert_int_equal(rkeytab_append(&t, (const uint8_t *)"", 0, &idx), 0);
    assert_int_equal(rkeytab_append(&t, (const uint8_t *)"ab\0\0", 4, &idx), 0);
    assert_int_equal(rkeytab_sort(&t), -1);
    assert_int_equal(t.v[0].klen, 0);
    assert_int_equal(t.v[1].klen, 2);
    assert_int_equal(t.v[2].klen, 3);
    assert_int_equal(t.v[3].klen, 4);
    assert_int_equal(t.v[4].klen, sizeof(big));
    assert_memory_equal(t.v[4].key, big, sizeof(big));
    rkeytab_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_matches_comparison_sort),
        cmocka_unit_test(test_sort_finds_a_repeat),
        cmocka_unit_test(test_nul_padding_and_big_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
