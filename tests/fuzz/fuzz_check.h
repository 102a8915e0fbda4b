/* Shared by the fuzz harnesses: a broken invariant aborts with what broke,
 * which libFuzzer records as a crash (and make test's replay fails on). */
#ifndef DR_FUZZ_CHECK_H
#define DR_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, what)                          \
    do {                                           \
        if (!(cond)) {                             \
            fprintf(stderr, "fuzz: %s\n", (what)); \
            abort();                               \
        }                                          \
    } while (0)

#endif
