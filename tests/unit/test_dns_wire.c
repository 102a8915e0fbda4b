/* Unit tests of the DNS wire format (node/dns/wire.c): the query the
 * failover's DNS step sends, and the parsing of what comes back, garbage
 * included (a reply is network input). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_bytes),
        cmocka_unit_test(test_parse_answers),
        cmocka_unit_test(test_parse_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
