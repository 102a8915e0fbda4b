/* Unit tests of the SigV4 signer against AWS's published S3 examples (the
 * "Signature Calculations for the Authorization Header" page) and against
 * botocore's S3SigV4Auth for what the S3 backend sends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aws/sigv4.h"
#include "common/err.h"

#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define DATE "20130524T000000Z"

static const struct sigv4_key aws_key = {AKID, SECRET, "us-east-1", "s3"};

static void sign_ok(const struct sigv4_request *req, struct sigv4_result *res)
{
    assert_int_equal(sigv4_sign(req, &aws_key, DATE, res), 0);
}

/* GET Object with a Range header. */
static void test_aws_get_object(void **state)
{
    const struct sigv4_header h[] = {
        {"Host", "examplebucket.s3.amazonaws.com"},
        {"Range", "bytes=0-9"},
        {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
        {"x-amz-date", DATE},
    };
    const struct sigv4_request req = {"GET", "/test.txt", NULL,
                                      h,     4,           SIGV4_EMPTY_SHA256};
    struct sigv4_result res;

    (void)state;
    sign_ok(&req, &res);
    assert_string_equal(
        res.canonical_request,
        "GET\n/test.txt\n\n"
        "host:examplebucket.s3.amazonaws.com\n"
        "range:bytes=0-9\n"
        "x-amz-content-sha256:" SIGV4_EMPTY_SHA256
        "\n"
        "x-amz-date:20130524T000000Z\n\n"
        "host;range;x-amz-content-sha256;x-amz-date\n" SIGV4_EMPTY_SHA256);
    assert_string_equal(
        res.string_to_sign,
        "AWS4-HMAC-SHA256\n20130524T000000Z\n"
        "20130524/us-east-1/s3/aws4_request\n"
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    assert_string_equal(
        res.signature,
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    assert_string_equal(res.authorization,
                        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"
                        "20130524/us-east-1/s3/aws4_request, "
                        "SignedHeaders=host;range;x-amz-content-sha256;"
                        "x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6"
                        "ed310bd44f0170aba48dd91039c6036bdb41");
    sigv4_result_free(&res);
}

/* PUT Object: an encoded key, a Date header, a storage class. */
static void test_aws_put_object(void **state)
{
    char hash[65], *path;
    struct sigv4_result res;

    (void)state;
    sigv4_sha256_hex("Welcome to Amazon S3.", 21, hash);
    assert_string_equal(
        hash,
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    path = sigv4_uri_encode("/test$file.text", 1);
    assert_string_equal(path, "/test%24file.text");
    {
        const struct sigv4_header h[] = {
            {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
            {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
            {"Host", "examplebucket.s3.amazonaws.com"},
            {"x-amz-date", DATE},
            {"x-amz-content-sha256", hash},
        };
        const struct sigv4_request req = {"PUT", path, "", h, 5, hash};
        sign_ok(&req, &res);
    }
    assert_string_equal(
        res.signed_headers,
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
    assert_string_equal(
        res.signature,
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    sigv4_result_free(&res);
    free(path);
}

/* GET Bucket Lifecycle: a valueless parameter canonicalised with '='. */
static void test_aws_get_lifecycle(void **state)
{
    const struct sigv4_header h[] = {
        {"Host", "examplebucket.s3.amazonaws.com"},
        {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
        {"x-amz-date", DATE},
    };
    const struct sigv4_request req = {"GET", "/", "lifecycle",
                                      h,     3,   SIGV4_EMPTY_SHA256};
    struct sigv4_result res;

    (void)state;
    sign_ok(&req, &res);
    assert_non_null(strstr(res.canonical_request, "GET\n/\nlifecycle=\n"));
    assert_string_equal(
        res.signature,
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    sigv4_result_free(&res);
}

/* List Objects: query parameters sorted whatever order they are sent in. */
static void test_aws_list_objects(void **state)
{
    const struct sigv4_header h[] = {
        {"Host", "examplebucket.s3.amazonaws.com"},
        {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
        {"x-amz-date", DATE},
    };
    const struct sigv4_request sorted = {"GET", "/", "max-keys=2&prefix=J",
                                         h,     3,   SIGV4_EMPTY_SHA256};
    const struct sigv4_request unsorted = {"GET", "/", "prefix=J&max-keys=2",
                                           h,     3,   SIGV4_EMPTY_SHA256};
    struct sigv4_result res;

    (void)state;
    sign_ok(&sorted, &res);
    assert_string_equal(
        res.signature,
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    sigv4_result_free(&res);
    sign_ok(&unsorted, &res);
    assert_non_null(strstr(res.canonical_request, "\nmax-keys=2&prefix=J\n"));
    assert_string_equal(
        res.signature,
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    sigv4_result_free(&res);
}

/* CreateMultipartUpload as the backend sends it: "?uploads", an empty
 * Expect header that must not be signed. Expected values from botocore's
 * S3SigV4Auth for the same request. */
static void test_uploads_and_expect(void **state)
{
    const struct sigv4_header h[] = {
        {"Host", "127.0.0.1:9000"},
        {"Expect", ""},
        {"X-Amz-Content-SHA256", SIGV4_EMPTY_SHA256},
        {"X-Amz-Date", DATE},
    };
    const struct sigv4_request req = {"POST", "/bkt/big/obj",    "uploads", h,
                                      4,      SIGV4_EMPTY_SHA256};
    struct sigv4_result res;

    (void)state;
    sign_ok(&req, &res);
    assert_string_equal(
        res.canonical_request,
        "POST\n/bkt/big/obj\nuploads=\n"
        "host:127.0.0.1:9000\n"
        "x-amz-content-sha256:" SIGV4_EMPTY_SHA256
        "\n"
        "x-amz-date:20130524T000000Z\n\n"
        "host;x-amz-content-sha256;x-amz-date\n" SIGV4_EMPTY_SHA256);
    assert_string_equal(
        res.signature,
        "9628c634afd55cbdff4bd6b8f8285d026613c65857d479377be2cc0bdeecd3fb");
    sigv4_result_free(&res);
}

/* UploadPart: parameters sorted, encoded values kept, a session token and
 * untidy header values, an unsigned payload (botocore's figures). */
static void test_upload_part_token(void **state)
{
    const struct sigv4_header h[] = {
        {"Host", "127.0.0.1:9000"},
        {"X-Amz-Security-Token", "tok  en"},
        {"Content-Type", "  application/octet-stream  "},
        {"X-Amz-Content-SHA256", SIGV4_UNSIGNED_PAYLOAD},
        {"X-Amz-Date", DATE},
        {"User-Agent", "drnode"},
    };
    const struct sigv4_request req = {
        "PUT", "/bkt/big/obj",        "uploadId=Z2%2Bx&partNumber=2", h,
        6,     SIGV4_UNSIGNED_PAYLOAD};
    struct sigv4_result res;

    (void)state;
    sign_ok(&req, &res);
    assert_string_equal(res.canonical_request,
                        "PUT\n/bkt/big/obj\npartNumber=2&uploadId=Z2%2Bx\n"
                        "content-type:application/octet-stream\n"
                        "host:127.0.0.1:9000\n"
                        "x-amz-content-sha256:UNSIGNED-PAYLOAD\n"
                        "x-amz-date:20130524T000000Z\n"
                        "x-amz-security-token:tok en\n\n"
                        "content-type;host;x-amz-content-sha256;x-amz-date;"
                        "x-amz-security-token\nUNSIGNED-PAYLOAD");
    assert_string_equal(
        res.signature,
        "7c5f7a6c29ab61193f8b55358e5d582214a0d82e8037b76f755b75e462b63fca");
    sigv4_result_free(&res);
}

static void test_encode_and_errors(void **state)
{
    const struct sigv4_header h[] = {{"Host", "x"}};
    const struct sigv4_header noname[] = {{"", "x"}};
    struct sigv4_request req = {"GET", "/", NULL, h, 1, SIGV4_EMPTY_SHA256};
    struct sigv4_result res;
    char *e;

    (void)state;
    e = sigv4_uri_encode("a b/c~d+e=f&g%", 0);
    assert_string_equal(e, "a%20b%2Fc~d%2Be%3Df%26g%25");
    free(e);
    e = sigv4_uri_encode("pg/2024-01/x_y.zst", 1);
    assert_string_equal(e, "pg/2024-01/x_y.zst");
    free(e);
    assert_int_equal(sigv4_sign(&req, &aws_key, "2013-05-24", &res), DR_EINVAL);
    req.headers = noname;
    assert_int_equal(sigv4_sign(&req, &aws_key, DATE, &res), DR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_get_object),
        cmocka_unit_test(test_aws_put_object),
        cmocka_unit_test(test_aws_get_lifecycle),
        cmocka_unit_test(test_aws_list_objects),
        cmocka_unit_test(test_uploads_and_expect),
        cmocka_unit_test(test_upload_part_token),
        cmocka_unit_test(test_encode_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
