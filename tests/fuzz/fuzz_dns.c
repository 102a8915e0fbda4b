/* libFuzzer harness for the DNS answers drnode reads (node/dns), also a
 * replay program (tests/fuzz/replay.c): a reply to a lookup query
 * (dns_wire_parse, what dns/lookup.c hands every UDP datagram from a
 * server), the signed answer to an RFC 2136 update (dns_update_check), and
 * the TSIG key text of a key file (dns_tsig_key_parse). Answers fit their
 * arrays and are NUL-terminated text; an update answer no one signed with
 * the key is never accepted; a refusal says why; a key's error never
 * quotes its secret. Nothing may crash or read outside the buffer. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/update.h"
#include "dns/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

static void lookup_reply(const uint8_t *msg, size_t len, size_t max)
{
    struct dns_answer ans[DNS_ANSWERS_MAX];
    uint16_t id = len >= 2 ? (uint16_t)(msg[0] << 8 | msg[1]) : 0;
    size_t n = max;
    int rcode = -1;
    char err[256];

    err[0] = '\0';
    if (dns_wire_parse(msg, len, id, &rcode, ans, &n, err) != 0) {
        CHECK(err[0] != '\0', "a refusal without a message");
        return;
    }
    CHECK(rcode >= 0 && rcode <= 15, "rcode out of range");
    CHECK(n <= max, "more answers than room");
    for (size_t i = 0; i < n; i++) {
        CHECK(memchr(ans[i].text, '\0', sizeof(ans[i].text)) != NULL,
              "answer text not terminated");
        CHECK(ans[i].type == DNS_TYPE_A || ans[i].type == DNS_TYPE_AAAA ||
                  ans[i].type == DNS_TYPE_CNAME || ans[i].type == DNS_TYPE_TXT,
              "an answer of a type not asked for");
    }
}

static void update_answer(const uint8_t *msg, size_t len)
{
    static const struct dns_tsig_key key = {
        "drnode-key.", "0123456789abcdef0123456789abcdef", 32};
    static const uint8_t req_mac[32] = {1, 2, 3};
    uint16_t id = len >= 2 ? (uint16_t)(msg[0] << 8 | msg[1]) : 0;
    int rcode = -1;
    char err[256];

    err[0] = '\0';
    /* Without the key's secret the fuzzer cannot sign: every answer must
     * be refused, with a reason. */
    CHECK(dns_update_check(msg, len, id, &key, req_mac, sizeof(req_mac), &rcode,
                           err) != 0,
          "an update answer with a forged signature accepted");
    CHECK(err[0] != '\0', "a refusal without a message");
}

static void tsig_key(const uint8_t *data, size_t size)
{
    struct dns_tsig_key key;
    char *text = malloc(size + 1), err[256];

    CHECK(text != NULL, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0';
    err[0] = '\0';
    if (dns_tsig_key_parse(text, &key, err) == 0) {
        CHECK(key.secret_len > 0 && key.secret_len <= DNS_TSIG_SECRET_MAX &&
                  key.name[0] != '\0',
              "a key without a name or secret accepted");
    } else {
        /* The secret as the parser sees it: after the last ':', without
         * the whitespace it trims. */
        char *secret = strrchr(text, ':'), *end;
        CHECK(err[0] != '\0', "a refusal without a message");
        if (secret != NULL) {
            secret++;
            end = secret + strlen(secret);
            while (end > secret && isspace((unsigned char)end[-1])) {
                *--end = '\0';
            }
            secret[-1] = '\0'; /* text is now the algorithm and name */
            /* (A name may hold the secret's bytes: that is not a leak.) */
            /* Only what could be a secret: 16 or more base64 characters
             * (shorter ones occur in the messages' own words). */
            CHECK(
                strlen(secret) < 16 ||
                    strspn(secret,
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx"
                           "yz0123456789+/=") != strlen(secret) ||
                    strstr(text, secret) != NULL || strstr(err, secret) == NULL,
                "the message quotes the secret");
        }
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *msg = malloc(size ? size : 1); /* exactly size bytes */

    CHECK(msg != NULL, "out of memory");
    memcpy(msg, data, size);
    lookup_reply(msg, size, DNS_ANSWERS_MAX);
    lookup_reply(msg, size, 2);
    update_answer(msg, size);
    if (size < 1100) {
        tsig_key(data, size);
    }
    free(msg);
    return 0;
}
