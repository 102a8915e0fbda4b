/* libFuzzer harness for raft log entry decoding (node/codec/codec.c,
 * codec_catalog.c, codec_health.c), also a replay program
 * (tests/fuzz/replay.c). An entry is what a peer's raft log hands the FSM,
 * so any bytes may arrive. A decoded entry must re-encode: its commands,
 * encoded and assembled again, decode to commands that encode to the same
 * bytes. Then the entry is applied, command by command, to a fresh state
 * and to a bootstrapped one: a refused command leaves the state byte for
 * byte as it was, and whatever the FSM accepted must make a snapshot that
 * decodes and encodes back to the same bytes (a node must be able to
 * restore its own snapshot). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "fsm/fsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_snapshot.h"

/* The commands of ce with a type, encoded and assembled into one entry;
 * also how many there were. */
static struct blob reencode(const struct codec_entry *ce, size_t *n)
{
    struct codec_piece *pieces = calloc(ce->e.n_cmds + 1, sizeof(*pieces));
    struct blob b = {NULL, 0};

    CHECK(pieces != NULL, "out of memory");
    *n = 0;
    for (size_t i = 0; i < ce->e.n_cmds; i++) {
        uint8_t *out;
        size_t len;
        if (ce->e.cmds[i].type == 0) {
            continue; /* malformed or unknown: the FSM rejects it */
        }
        CHECK(codec_cmd_encode(&ce->e.cmds[i], &out, &len) == DR_OK,
              "a decoded command does not encode");
        pieces[*n].base = out;
        pieces[*n].len = len;
        (*n)++;
    }
    CHECK(codec_entry_assemble(ce->e.version, ce->e.time_ms, pieces, *n, malloc,
                               &b.base, &b.len) == DR_OK,
          "assemble failed");
    CHECK(b.len % 8 == 0, "an assembled entry is not 8-byte aligned");
    for (size_t i = 0; i < *n; i++) {
        free((void *)pieces[i].base);
    }
    free(pieces);
    return b;
}

static void apply_all(struct fsm *f, const struct fsm_entry *e)
{
    struct blob before = snap(f), after;

    if (e->version == 0 || e->version > FSM_VERSION) {
        struct fsm_result *res = calloc(e->n_cmds + 1, sizeof(*res));
        CHECK(res != NULL, "out of memory");
        CHECK(fsm_apply_entry(f, e, res) == DR_EVERSION,
              "an entry of an unknown version applied");
        free(res);
        after = snap(f);
        CHECK(blob_same(&before, &after), "a refused entry changed the state");
        free(after.base);
        free(before.base);
        return;
    }
    for (size_t i = 0; i < e->n_cmds; i++) {
        struct fsm_result res;
        memset(&res, 0, sizeof(res));
        fsm_apply(f, &e->cmds[i], e->time_ms, &res);
        after = snap(f);
        if (res.code != DR_OK) {
            CHECK(res.msg[0] != '\0', "a refusal without a message");
            if (!blob_same(&before, &after)) {
                fprintf(stderr, "fuzz: refused %s (%s) changed the state\n",
                        fsm_cmd_name(e->cmds[i].type), res.msg);
                abort();
            }
        }
        free(before.base);
        before = after;
    }
    snapshot_round_trip(&before, "the FSM's own snapshot");
    free(before.base);
}

static char *targets[] = {"eu.example.com", "10.0.0.5"};
static struct fsm_region regions[2] = {
    {"eu-west", 10, targets, 2, "s3://dr-eu", 0, 0, 0, {0}, 0, NULL, 0},
    {"us-east", -3, NULL, 0, "", 0, 0, 0, {0}, 0, NULL, 0},
};
static struct fsm_member members[2] = {
    {1, "eu-west", "10.1.0.1:7000", "10.1.0.1:8000", 0},
    {2, "us-east", "10.2.0.1:7000", "10.2.0.1:8000", 0},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct codec_entry *ce, *ce2;
    struct blob again, twice;
    struct fsm f;
    struct fsm_result res;
    struct fsm_cmd boot = {.type = FSM_CMD_BOOTSTRAP,
                           .actor = "node:1",
                           .u.bootstrap = {.regions = regions,
                                           .n_regions = 2,
                                           .members = members,
                                           .n_members = 2,
                                           .primary_region = "eu-west"}};
    size_t n, n2;
    int rv;

    rv = codec_entry_decode(data, size, &ce);
    if (rv != DR_OK) {
        CHECK(rv == DR_EMALFORMED, "decode failed with an unexpected code");
        return 0;
    }

    again = reencode(ce, &n);
    CHECK(codec_entry_decode(again.base, again.len, &ce2) == DR_OK,
          "a re-encoded entry does not decode");
    CHECK(ce2->e.n_cmds == n && ce2->e.version == ce->e.version &&
              ce2->e.time_ms == ce->e.time_ms,
          "a re-encoded entry lost commands");
    twice = reencode(ce2, &n2);
    CHECK(n2 == n && blob_same(&again, &twice),
          "a command changed in a round trip");
    free(twice.base);
    codec_entry_free(ce2);
    free(again.base);

    CHECK(fsm_init(&f) == DR_OK, "fsm_init");
    apply_all(&f, &ce->e);
    fsm_close(&f);

    CHECK(fsm_init(&f) == DR_OK, "fsm_init");
    CHECK(fsm_apply(&f, &boot, 1000, &res) == DR_OK, "bootstrap refused");
    apply_all(&f, &ce->e);
    fsm_close(&f);

    codec_entry_free(ce);
    return 0;
}
