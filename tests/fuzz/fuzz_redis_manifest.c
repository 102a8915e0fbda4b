/* libFuzzer harness for the Redis snapshot manifest decoder
 * (node/codec/redis_manifest.c), also a replay program
 * (tests/fuzz/replay.c). A manifest is read back from an object store, so
 * any bytes may arrive. A refused one gives DR_EMALFORMED or DR_EVERSION,
 * a message, and leaves the struct empty; an accepted one has safe object
 * keys and counts that add up, and encodes to bytes that decode and
 * encode to the same bytes. Nothing may crash, leak or read outside the
 * buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/redis_manifest.h"
#include "common/err.h"
#include "common/objkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct redis_manifest m, m2;
    uint8_t *enc, *enc2;
    size_t len, len2;
    char err[256];
    int rv;

    err[0] = '\0';
    rv = redis_manifest_decode(data, size, &m, err);
    if (rv != 0) {
        CHECK(rv == DR_EMALFORMED || rv == DR_EVERSION,
              "a refusal with an unexpected code");
        CHECK(strncmp(err, "manifest: ", 10) == 0,
              "a refusal without a message");
        CHECK(m.types == NULL && m.data == NULL && m.key_index.key == NULL &&
                  m.redis_address == NULL,
              "a refused manifest left memory behind");
        return 0;
    }
    CHECK(m.n_data > 0 && dr_object_key_ok(m.key_index.key),
          "no data objects, or an unsafe key index key");
    for (size_t i = 0; i < m.n_data; i++) {
        CHECK(dr_object_key_ok(m.data[i].key), "an unsafe data key accepted");
    }
    CHECK(m.expiring_keys <= m.keys, "more expiring keys than keys");
    CHECK(redis_manifest_encode(&m, &enc, &len) == 0,
          "an accepted manifest does not encode");
    if (redis_manifest_decode(enc, len, &m2, err) != 0) {
        fprintf(stderr, "fuzz: a re-encoded manifest is refused: %s\n", err);
        abort();
    }
    CHECK(redis_manifest_encode(&m2, &enc2, &len2) == 0,
          "second encode failed");
    CHECK(len == len2 && memcmp(enc, enc2, len) == 0,
          "a manifest changed in a round trip");
    free(enc);
    free(enc2);
    redis_manifest_free(&m2);
    redis_manifest_free(&m);
    return 0;
}
