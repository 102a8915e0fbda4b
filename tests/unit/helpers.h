/* Small helpers shared by the cmocka tests. */
#ifndef DR_TEST_HELPERS_H
#define DR_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

/* Make a fresh temporary directory; returns a malloc'd path. */
char *test_tmpdir(void);
/* Remove a directory tree created by test_tmpdir. */
void test_rmtree(const char *path);

/* A seeded pseudo-random generator (splitmix64): the same seed gives the
 * same sequence everywhere, so randomized tests replay from their seed. */
struct rng
{
    uint64_t s; /* state; initialize with the seed */
};
uint64_t rng_next(struct rng *r);
/* A value in 0..n-1; n must be positive. */
unsigned rng_below(struct rng *r, unsigned n);

#endif
