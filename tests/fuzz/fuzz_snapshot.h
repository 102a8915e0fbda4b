/* Shared by the codec harnesses: an FSM's snapshot as bytes, and the check
 * that snapshot bytes decode and encode back to themselves. */
#ifndef DR_FUZZ_SNAPSHOT_H
#define DR_FUZZ_SNAPSHOT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "common/err.h"
#include "fsm/fsm.h"
#include "fuzz_check.h"

struct blob
{
    void *base;
    size_t len;
};

static inline struct blob snap(const struct fsm *f)
{
    struct blob b = {NULL, 0};
    CHECK(codec_snapshot_encode(f, malloc, &b.base, &b.len) == DR_OK,
          "snapshot encode failed");
    return b;
}

static inline int blob_same(const struct blob *a, const struct blob *b)
{
    return a->len == b->len && memcmp(a->base, b->base, a->len) == 0;
}

/* s must decode, and encode back to itself; what names s when refused. */
static inline void snapshot_round_trip(const struct blob *s, const char *what)
{
    struct fsm g;
    struct blob s2;
    char err[256];

    if (codec_snapshot_decode(s->base, s->len, &g, err) != DR_OK) {
        fprintf(stderr, "fuzz: %s is refused: %s\n", what, err);
        abort();
    }
    s2 = snap(&g);
    CHECK(blob_same(s, &s2), "snapshot changed in a round trip");
    free(s2.base);
    fsm_close(&g);
}

#endif
