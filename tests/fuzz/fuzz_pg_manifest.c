/* libFuzzer harness for the PostgreSQL backup manifest decoder
 * (node/codec/pg_manifest.c), also a replay program (tests/fuzz/replay.c).
 * A manifest is read back from an object store, so any bytes may arrive.
 * A refused one gives DR_EMALFORMED or DR_EVERSION, a message and no
 * manifest; an accepted one encodes again, and that encoding decodes and
 * encodes to the same bytes. Nothing may crash, leak or read outside the
 * buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/pg_manifest.h"
#include "common/err.h"
#include "common/objkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pgman *m = (struct pgman *)1, *m2;
    uint8_t *enc, *enc2;
    size_t len, len2;
    char err[256];
    int rv;

    err[0] = '\0';
    rv = pgman_decode(data, size, &m, err);
    if (rv != 0) {
        CHECK(rv == DR_EMALFORMED || rv == DR_EVERSION,
              "a refusal with an unexpected code");
        CHECK(m == NULL && strncmp(err, "manifest: ", 10) == 0,
              "a refusal without a message, or with a manifest");
        return 0;
    }
    CHECK(
        dr_object_key_ok(m->pre_data.key) && dr_object_key_ok(m->post_data.key),
        "an unsafe object key accepted");
    for (size_t i = 0; i < m->n_tables; i++) {
        for (size_t j = 0; j < m->tables[i].n_chunks; j++) {
            CHECK(dr_object_key_ok(m->tables[i].chunks[j].object.key),
                  "an unsafe chunk key accepted");
        }
    }
    if (pgman_encode(m, &enc, &len, err) != 0) {
        fprintf(stderr, "fuzz: an accepted manifest does not encode: %s\n",
                err);
        abort();
    }
    if (pgman_decode(enc, len, &m2, err) != 0) {
        fprintf(stderr, "fuzz: a re-encoded manifest is refused: %s\n", err);
        abort();
    }
    CHECK(pgman_encode(m2, &enc2, &len2, err) == 0, "second encode failed");
    CHECK(len == len2 && memcmp(enc, enc2, len) == 0,
          "a manifest changed in a round trip");
    free(enc);
    free(enc2);
    pgman_free(m2);
    pgman_free(m);
    return 0;
}
