/* libFuzzer harness for the S3 answers the s3:// store reads
 * (node/store/s3.c, s3_http.c, s3_text.c), also a replay program
 * (tests/fuzz/replay.c). The input is one response body, NUL-terminated
 * as the store's receive buffer is: read as a ListObjectsV2 page (with and
 * without a store prefix), as an error answer (<Code>, <Message>), for a
 * multipart UploadId or a copy's ETag, and as a response header line. A
 * listing gives keys under the prefix with a next key exactly when
 * truncated; an error message never carries a control character from the
 * body (it goes to the log); XML text escaped by the store and read back
 * is unchanged. Nothing may crash, leak or read outside the buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "store/s3_internal.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

static void list(const char *text, size_t len, const char *prefix)
{
    struct store_object *objs = NULL;
    size_t n = 0;
    char *next = NULL, err[256];
    int truncated;
    const char *v, *vend;
    int rv;

    err[0] = '\0';
    rv = s3__list_parse(text, len, prefix, "store s3://b: list", &objs, &n,
                        &next, err);
    v = s3__xml_find(text, text + len, "IsTruncated", &vend);
    truncated = v != NULL && vend - v == 4 && memcmp(v, "true", 4) == 0;
    if (rv != 0) {
        CHECK(rv == DR_EMALFORMED && truncated && n == 0 && err[0] != '\0',
              "a listing refused for another reason");
    } else {
        CHECK((next != NULL) == truncated, "next key without truncation");
        CHECK(next == NULL || strcmp(next, objs[n - 1].key) == 0,
              "next is not the last key");
        for (size_t i = 0; i < n; i++) {
            CHECK(objs[i].key[0] != '\0', "an empty key listed");
        }
    }
    store_objects_free(objs, n);
    free(next);
}

static void error_answer(const char *text, size_t len, long status)
{
    struct s3 s3;
    char code[64], err[256];

    memset(&s3, 0, sizeof(s3));
    snprintf(s3.bucket, sizeof(s3.bucket), "dr-eu");
    snprintf(s3.endpoint, sizeof(s3.endpoint), "http://127.0.0.1:9000");
    s3.url = "s3://dr-eu/x";
    (void)s3__http_error(&s3, "object k", status, text, len, code, err);
    CHECK(strlen(code) < sizeof(code), "code not terminated");
    for (const char *p = err; *p != '\0'; p++) {
        CHECK((unsigned char)*p >= 0x20 && *p != 0x7f,
              "a control character from the body in an error message");
    }
}

static void element(const char *text, size_t len, const char *tag)
{
    const char *v, *vend;
    char *t;

    v = s3__xml_find(text, text + len, tag, &vend);
    if (v == NULL) {
        return;
    }
    CHECK(v >= text && vend >= v && vend <= text + len,
          "an element outside the text");
    t = s3__xml_text(v, vend);
    CHECK(t != NULL, "out of memory");
    CHECK(strlen(t) <= (size_t)(vend - v), "unescaped text grew");
    free(t);
}

/* Escaping s (up to its NUL) and unescaping it gives s back. */
static void escape_round_trip(const char *s)
{
    struct dbuf b = {NULL, 0, 0, 0};
    char *back;

    CHECK(s3__dbuf_add(&b, "<ETag>", 6) == 0 &&
              s3__xml_escape_add(&b, s) == 0 &&
              s3__dbuf_add(&b, "</ETag>", 7) == 0,
          "out of memory");
    back = s3__xml_text(b.p + 6, b.p + b.len - 7);
    CHECK(back != NULL, "out of memory");
    if (strcmp(back, s) != 0) {
        fprintf(stderr, "fuzz: escaped and read back: %s\n", back);
        abort();
    }
    free(back);
    s3__dbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), etag[256];

    CHECK(text != NULL, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0'; /* as struct dbuf leaves it */

    list(text, size, "");
    list(text, size, "backups/");
    error_answer(text, size, 404);
    error_answer(text, size, 403);
    error_answer(text, size, 500);
    element(text, size, "UploadId");
    element(text, size, "ETag");
    element(text, size, "Key");
    escape_round_trip(text);
    if (strlen(text) < 40) {
        (void)s3__parse_iso8601(text);
    }
    etag[0] = '\0';
    CHECK(s3__header_cb(text, 1, size, etag) == size,
          "a header line not consumed");
    CHECK(strlen(etag) < sizeof(etag), "ETag not terminated");
    free(text);
    return 0;
}
