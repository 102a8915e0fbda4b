/* Unit tests of the DNS wire format (node/dns/wire.c): the query the
 * failover's DNS step sends, and the parsing of what comes back, garbage
 * included (a reply is network input); and the RFC 2136 update with TSIG
 * (node/dns/update.c): keys, the message, answers refused. (That a real
 * server accepts our signatures and we accept its: test_dns_rfc2136.py
 * against Knot.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dns/update.h"
#include "dns/wire.h"

static void test_query_bytes(void **state)
{
    uint8_t buf[DNS_MSG_MAX];
    static const uint8_t want[] = {
        0x12, 0x34, 0,   0,   0, 1,   0,   0, 0,   0,   0,   0, /* header,
                                                                   QDCOUNT 1 */
        3,    'a',  'p', 'p', 2, 'd', 'r', 5, 'l', 'o', 'c', 'a', 'l',
        0,    0,    1,   0,   1, /* A, IN */
    };
    size_t n;

    (void)state;
    n = dns_wire_query(0x1234, "app.dr.local.", DNS_TYPE_A, buf);
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
    /* The trailing dot is optional. */
    assert_int_equal(dns_wire_query(0x1234, "app.dr.local", DNS_TYPE_A, buf),
                     sizeof(want));
    /* Not names. */
    assert_int_equal(dns_wire_query(1, "", DNS_TYPE_A, buf), 0);
    assert_int_equal(dns_wire_query(1, "a..b", DNS_TYPE_A, buf), 0);
    {
        char label[80];
        memset(label, 'x', 64);
        strcpy(label + 64, ".com");
        assert_int_equal(dns_wire_query(1, label, DNS_TYPE_A, buf), 0);
    }
}

/* A reply to query id with the question, then answers appended by the
 * test: each answer's name is a pointer to the question's name. */
static size_t reply(uint8_t *m, uint16_t id, uint8_t rcode, uint16_t an)
{
    size_t n = dns_wire_query(id, "app.dr.local", DNS_TYPE_A, m);
    m[2] = 0x84; /* QR, AA */
    m[3] = rcode;
    m[6] = (uint8_t)(an >> 8);
    m[7] = (uint8_t)an;
    return n;
}

static size_t answer(uint8_t *m,
                     size_t n,
                     uint16_t type,
                     const uint8_t *rdata,
                     uint16_t rdlen)
{
    const uint8_t head[] = {0xC0,
                            12, /* the question's name */
                            (uint8_t)(type >> 8),
                            (uint8_t)type,
                            0,
                            1,
                            0,
                            0,
                            0,
                            30,
                            (uint8_t)(rdlen >> 8),
                            (uint8_t)rdlen};
    memcpy(m + n, head, sizeof(head));
    memcpy(m + n + sizeof(head), rdata, rdlen);
    return n + sizeof(head) + rdlen;
}

static void test_parse_answers(void **state)
{
    uint8_t m[DNS_MSG_MAX];
    static const uint8_t a1[] = {127, 0, 1, 2}, a2[] = {127, 0, 1, 3};
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    static const uint8_t txt[] = {9,   'd', 'r', '-', 'e', 'p',
                                  'o', 'c', 'h', '=', 'x'};
    /* CNAME "dr.example." (uncompressed). */
    static const uint8_t cname[] = {2,   'd', 'r', 7,   'e', 'x',
                                    'a', 'm', 'p', 'l', 'e', 0};
    struct dns_answer ans[DNS_ANSWERS_MAX];
    size_t n = reply(m, 7, 0, 5), k = DNS_ANSWERS_MAX;
    int rcode = -1;
    char err[256];

    (void)state;
    n = answer(m, n, DNS_TYPE_A, a1, 4);
    n = answer(m, n, DNS_TYPE_A, a2, 4);
    n = answer(m, n, DNS_TYPE_AAAA, v6, 16);
    n = answer(m, n, DNS_TYPE_TXT, txt, 10);
    n = answer(m, n, DNS_TYPE_CNAME, cname, sizeof(cname));
    assert_int_equal(dns_wire_parse(m, n, 7, &rcode, ans, &k, err), 0);
    assert_int_equal(rcode, 0);
    assert_int_equal(k, 5);
    assert_string_equal(ans[0].text, "127.0.1.2");
    assert_string_equal(ans[1].text, "127.0.1.3");
    assert_int_equal(ans[2].type, DNS_TYPE_AAAA);
    assert_string_equal(ans[2].text, "2001:db8::1");
    assert_string_equal(ans[3].text, "dr-epoch=");
    assert_string_equal(ans[4].text, "dr.example.");
    /* Room for fewer answers: the rest are skipped, not an error. */
    k = 1;
    assert_int_equal(dns_wire_parse(m, n, 7, &rcode, ans, &k, err), 0);
    assert_int_equal(k, 1);
    /* REFUSED comes back as the rcode, with no answers. */
    n = reply(m, 8, 5, 0);
    k = DNS_ANSWERS_MAX;
    assert_int_equal(dns_wire_parse(m, n, 8, &rcode, ans, &k, err), 0);
    assert_int_equal(rcode, 5);
    assert_int_equal(k, 0);
}

static void test_parse_garbage(void **state)
{
    uint8_t m[DNS_MSG_MAX] = {0};
    static const uint8_t a1[] = {127, 0, 1, 2};
    struct dns_answer ans[DNS_ANSWERS_MAX];
    size_t n, k;
    int rcode;
    char err[256];

    (void)state;
    k = DNS_ANSWERS_MAX;
    assert_int_equal(dns_wire_parse(m, 5, 1, &rcode, ans, &k, err), -1);
    assert_non_null(strstr(err, "too short"));
    /* Another query's reply, and a query rather than a reply. */
    n = reply(m, 9, 0, 0);
    assert_int_equal(dns_wire_parse(m, n, 10, &rcode, ans, &k, err), -1);
    assert_non_null(strstr(err, "not a reply to query 10"));
    m[2] = 0;
    assert_int_equal(dns_wire_parse(m, n, 9, &rcode, ans, &k, err), -1);
    /* An answer that runs past the end. */
    n = reply(m, 9, 0, 1);
    n = answer(m, n, DNS_TYPE_A, a1, 4);
    k = DNS_ANSWERS_MAX;
    assert_int_equal(dns_wire_parse(m, n - 2, 9, &rcode, ans, &k, err), -1);
    assert_non_null(strstr(err, "answer 0"));
    /* More answers announced than there are. */
    m[7] = 3;
    k = DNS_ANSWERS_MAX;
    assert_int_equal(dns_wire_parse(m, n, 9, &rcode, ans, &k, err), -1);
    /* A name that points at itself. */
    n = reply(m, 9, 0, 1);
    m[n] = 0xC0;
    m[n + 1] = (uint8_t)n;
    k = DNS_ANSWERS_MAX;
    assert_int_equal(dns_wire_parse(m, n + 12, 9, &rcode, ans, &k, err), -1);
    assert_non_null(strstr(err, "malformed answer 0"));
}

static void test_tsig_keys(void **state)
{
    struct dns_tsig_key k;
    char err[256];

    (void)state;
    assert_int_equal(
        dns_tsig_key_parse("hmac-sha256:drnode-key.:c2VjcmV0\n", &k, err), 0);
    assert_string_equal(k.name, "drnode-key.");
    assert_int_equal(k.secret_len, 6);
    assert_memory_equal(k.secret, "secret", 6);
    assert_int_equal(dns_tsig_key_parse("k:c2VjcmV0cw==", &k, err), 0);
    assert_int_equal(k.secret_len, 7);
    static const struct
    {
        const char *text, *msg;
    } bad[] = {
        {"", "empty"},
        {"nocolon", "want [hmac-sha256:]NAME:BASE64SECRET"},
        {"hmac-md5:k:c2VjcmV0", "algorithm \"hmac-md5\" is not supported"},
        {"k:not base64!", "is not base64"},
        {"k:", "is not base64"},
        {"a..b:c2VjcmV0", "is not a key name"},
        /* Found by fuzz_dns: a key without a name was accepted. */
        {":c2VjcmV0", "is not a key name"},
        {".:c2VjcmV0", "is not a key name"},
        {"hmac-sha256::c2VjcmV0", "is not a key name"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(dns_tsig_key_parse(bad[i].text, &k, err), -1);
        if (strstr(err, bad[i].msg) == NULL) {
            fail_msg("%s: got \"%s\"", bad[i].text, err);
        }
        assert_null(strstr(err, "c2VjcmV0"));
    }
}

static void test_update_message(void **state)
{
    struct dns_tsig_key k;
    const char *targets[] = {"10.0.0.1", "10.0.0.2"};
    struct dns_update u = {0x1234,       "dr.test.", "app.dr.test",
                           DNS_TYPE_A,   targets,    2,
                           "dr-epoch=3", 30,         false};
    uint8_t buf[DNS_MSG_MAX], mac[DNS_TSIG_MAC_MAX], again[DNS_TSIG_MAC_MAX];
    size_t mac_len, again_len, n;
    char err[256];
    int rcode;

    (void)state;
    assert_int_equal(dns_tsig_key_parse("k.:c2VjcmV0", &k, err), 0);
    n = dns_update_encode(&u, &k, 1700000000, buf, sizeof(buf), mac, &mac_len,
                          err);
    assert_true(n > 12);
    assert_int_equal(mac_len, 32);
    assert_int_equal(buf[0] << 8 | buf[1], 0x1234);
    assert_int_equal((buf[2] >> 3) & 0x0F, 5); /* UPDATE */
    assert_int_equal(buf[5], 1);               /* the zone */
    assert_int_equal(buf[9], 4 + 2 + 1);       /* 4 deletions, 2 A, 1 TXT */
    assert_int_equal(buf[11], 1);              /* the TSIG */
    /* Signing is deterministic for one time and differs for another. */
    n = dns_update_encode(&u, &k, 1700000000, buf, sizeof(buf), again,
                          &again_len, err);
    assert_memory_equal(mac, again, 32);
    n = dns_update_encode(&u, &k, 1700000001, buf, sizeof(buf), again,
                          &again_len, err);
    assert_memory_not_equal(mac, again, 32);
    /* Remove: the four deletions only. */
    u.remove = true;
    n = dns_update_encode(&u, &k, 1700000000, buf, sizeof(buf), mac, &mac_len,
                          err);
    assert_int_equal(buf[9], 4);
    /* Bad input is refused with the reason. */
    u.remove = false;
    targets[1] = "not-an-address";
    assert_int_equal(
        dns_update_encode(&u, &k, 1, buf, sizeof(buf), mac, &mac_len, err), 0);
    assert_non_null(strstr(err, "does not fit a A record"));
    targets[1] = "10.0.0.2";
    u.name = "bad..name";
    assert_int_equal(
        dns_update_encode(&u, &k, 1, buf, sizeof(buf), mac, &mac_len, err), 0);
    assert_non_null(strstr(err, "is not a domain name"));
    u.name = "app.dr.test";
    assert_int_equal(dns_update_encode(&u, &k, 1, buf, 40, mac, &mac_len, err),
                     0);
    assert_non_null(strstr(err, "does not fit"));

    /* Answers: our own request is not an answer; an unsigned answer, a
     * truncated one and one for another id are refused. */
    n = dns_update_encode(&u, &k, 1700000000, buf, sizeof(buf), mac, &mac_len,
                          err);
    assert_int_equal(
        dns_update_check(buf, n, 0x1234, &k, mac, mac_len, &rcode, err), -1);
    assert_non_null(strstr(err, "not an answer to update 4660"));
    buf[2] |= 0x80; /* now a reply */
    buf[11] = 0;    /* without its TSIG */
    assert_int_equal(
        dns_update_check(buf, n, 0x1234, &k, mac, mac_len, &rcode, err), -1);
    assert_non_null(strstr(err, "is not signed"));
    buf[11] = 1; /* with the request's TSIG: not the server's signature */
    assert_int_equal(
        dns_update_check(buf, n, 0x1234, &k, mac, mac_len, &rcode, err), -1);
    assert_non_null(strstr(err, "does not verify"));
    assert_int_equal(
        dns_update_check(buf, n - 5, 0x1234, &k, mac, mac_len, &rcode, err),
        -1);
    assert_non_null(strstr(err, "malformed answer"));
    assert_int_equal(
        dns_update_check(buf, n, 0x4321, &k, mac, mac_len, &rcode, err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tsig_keys),
        cmocka_unit_test(test_update_message),
        cmocka_unit_test(test_query_bytes),
        cmocka_unit_test(test_parse_answers),
        cmocka_unit_test(test_parse_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
