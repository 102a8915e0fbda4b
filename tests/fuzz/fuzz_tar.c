/* libFuzzer harness for the streaming tar reader (node/backup/tar.c), also
 * a replay program (tests/fuzz/replay.c). A base backup's tar stream is
 * read back from an object store, so any bytes may arrive, cut anywhere.
 * The input is fed in two pieces split where its first byte says, and
 * whole: both must agree on the outcome and on every member; an archive
 * accepted whole delivers exactly the bytes its members announce, and a
 * refusal is DR_EMALFORMED with a message. Nothing may crash or read
 * outside the buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/tar.h"
#include "common/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

struct tally
{
    uint64_t members, announced, delivered, ended;
    uint64_t hash;
};

static int t_begin(void *ctx, const struct tar_member *m, char *errmsg)
{
    struct tally *t = ctx;
    (void)errmsg;
    CHECK(m->name[0] != '\0', "a member without a name");
    CHECK(m->type == TAR_FILE || m->size == 0, "a directory or link with data");
    t->members++;
    t->announced += m->size;
    for (const char *p = m->name; *p; p++) {
        t->hash = t->hash * 131 + (uint8_t)*p;
    }
    return 0;
}

static int t_data(void *ctx, const void *buf, size_t len, char *errmsg)
{
    struct tally *t = ctx;
    (void)errmsg;
    (void)buf;
    t->delivered += len;
    return 0;
}

static int t_end(void *ctx, char *errmsg)
{
    (void)errmsg;
    ((struct tally *)ctx)->ended++;
    return 0;
}

static int run(const uint8_t *data,
               size_t size,
               size_t split,
               struct tally *t,
               char *err)
{
    static const struct tar_cb cb = {t_begin, t_data, t_end};
    struct tar_reader r;
    int rv;

    memset(t, 0, sizeof(*t));
    tar_reader_init(&r);
    rv = tar_feed(&r, data, split, &cb, t, err);
    if (rv == 0) {
        rv = tar_feed(&r, data + split, size - split, &cb, t, err);
    }
    if (rv == 0) {
        rv = tar_finish(&r, err);
    }
    return rv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tally whole, parts;
    char err[256], err2[256];
    size_t split = size > 0 ? (size * data[0]) / 256 : 0;
    int rv, rv2;

    err[0] = err2[0] = '\0';
    rv = run(data, size, size, &whole, err);
    rv2 = run(data, size, split, &parts, err2);
    CHECK(rv == rv2, "the outcome depends on where the input is cut");
    if (rv != 0) {
        CHECK(rv == DR_EMALFORMED, "a refusal with an unexpected code");
        CHECK(strncmp(err, "tar: ", 5) == 0, "a refusal without a message");
        return 0;
    }
    CHECK(whole.members == parts.members && whole.hash == parts.hash &&
              whole.delivered == parts.delivered,
          "members differ with where the input is cut");
    CHECK(whole.delivered == whole.announced,
          "an accepted archive delivered other than what it announced");
    CHECK(whole.ended == whole.members, "a member was never ended");
    return 0;
}
