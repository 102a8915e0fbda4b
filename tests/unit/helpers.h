/* Small helpers shared by the cmocka tests. */
#ifndef DR_TEST_HELPERS_H
#define DR_TEST_HELPERS_H

#include <stddef.h>

/* Make a fresh temporary directory; returns a malloc'd path. */
char *test_tmpdir(void);
/* Remove a directory tree created by test_tmpdir. */
void test_rmtree(const char *path);

#endif
