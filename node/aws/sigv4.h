/* AWS Signature Version 4 for S3 requests (HMAC-SHA256 via OpenSSL).
 *
 * Written here because curl 7.88's CURLOPT_AWS_SIGV4 leaves out
 * x-amz-content-sha256, does not sort query parameters, canonicalises
 * "?uploads" without '=' and signs a removed Expect header. The output
 * matches botocore's S3SigV4Auth for the same request. */
#ifndef DR_SIGV4_H
#define DR_SIGV4_H

#include <stddef.h>

#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct sigv4_header
{
    const char *name;  /* any case */
    const char *value; /* trimmed, inner runs of spaces collapsed */
};

/* One request as it goes on the wire. All pointers are borrowed. */
struct sigv4_request
{
    const char *method;
    const char *path;  /* URI-encoded as sent, e.g. "/bucket/a%24b" */
    const char *query; /* as sent, without '?', already encoded; NULL or ""
                        * for none. "uploads" is canonicalised "uploads=" */
    const struct sigv4_header *headers; /* every header to sign: host,
                                         * x-amz-date, x-amz-content-sha256,
                                         * ...; Expect, User-Agent,
                                         * Transfer-Encoding and
                                         * X-Amzn-Trace-Id are skipped */
    size_t n_headers;
    const char *payload_sha256; /* hex, or SIGV4_UNSIGNED_PAYLOAD */
};

/* The signer's scope and key. Borrowed. */
struct sigv4_key
{
    const char *access_key_id;
    const char *secret_access_key;
    const char *region;
    const char *service; /* "s3" */
};

/* The intermediate and final strings of one signature, malloc'ed. */
struct sigv4_result
{
    char *canonical_request;
    char *string_to_sign;
    char *signed_headers; /* "host;x-amz-content-sha256;x-amz-date" */
    char *signature;      /* 64 hex digits */
    char *authorization;  /* the Authorization header's value */
};

/* Sign req at amz_date ("YYYYMMDDTHHMMSSZ"). Returns 0, or DR_ENOMEM /
 * DR_EINVAL (malformed date or a header without a name); on failure res
 * holds nothing to free. */
int sigv4_sign(const struct sigv4_request *req,
               const struct sigv4_key *key,
               const char *amz_date,
               struct sigv4_result *res);
void sigv4_result_free(struct sigv4_result *res);

/* Percent-encode s the AWS way (unreserved A-Za-z0-9-_.~ kept; '/' kept
 * when keep_slash). Returns a malloc'ed string or NULL. */
char *sigv4_uri_encode(const char *s, int keep_slash);

/* hex SHA-256 of len bytes into hex (65 bytes). */
void sigv4_sha256_hex(const void *buf, size_t len, char *hex);

#endif /* DR_SIGV4_H */
