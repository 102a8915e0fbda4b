/* Small helpers shared by the cmocka tests. */
#define _GNU_SOURCE
#include "helpers.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *path;
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    if (asprintf(&path, "%s/drtest-XXXXXX", base) < 0) {
        return NULL;
    }
    if (mkdtemp(path) == NULL) {
        free(path);
        return NULL;
    }
    return path;
}

static int rm_cb(const char *p, const struct stat *sb, int flag,
                 struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void test_rmtree(const char *path)
{
    if (path != NULL) {
        nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    }
}
