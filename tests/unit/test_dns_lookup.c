/* Unit tests of the DNS watch's lookup (node/dns/lookup.c) on a real libuv
 * loop against a small UDP server in the same loop: dns.servers parsing
 * and its errors, answers gathered from A, AAAA and TXT replies, a lost
 * query sent again, a silent server, a malformed reply, cancellation.
 * (Against PowerDNS, through /api/dns and the status page:
 * test_status_page.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "dns/lookup.h"

/* The fake server: answers A with 10.0.0.7, TXT with "dr-epoch=2
 * primary=us-east", AAAA with nothing; drops the first `drop` queries,
 * answers nothing when silent, and garbage when bad. */
struct fake
{
    uv_udp_t udp;
    int port;
    int drop;
    bool silent;
    bool bad;
    int queries;
};

static void fake_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char slab[DNS_MSG_MAX];
    (void)h;
    (void)hint;
    buf->base = slab;
    buf->len = sizeof(slab);
}

static void fake_sent(uv_udp_send_t *s, int status)
{
    (void)status;
    free(s);
}

static void fake_recv(uv_udp_t *u,
                      ssize_t n,
                      const uv_buf_t *buf,
                      const struct sockaddr *from,
                      unsigned flags)
{
    struct fake *f = u->data;
    uint8_t *msg;
    size_t len;
    uint16_t qtype;
    uv_udp_send_t *s;
    uv_buf_t out;

    (void)flags;
    if (n < 12 || from == NULL) {
        return;
    }
    f->queries++;
    if (f->silent || f->drop > 0) {
        f->drop -= f->drop > 0;
        return;
    }
    s = malloc(sizeof(*s) + DNS_MSG_MAX);
    msg = (uint8_t *)(s + 1);
    memcpy(msg, buf->base, (size_t)n);
    len = (size_t)n;
    qtype = (uint16_t)(msg[len - 4] << 8 | msg[len - 3]);
    msg[2] |= 0x84; /* a reply, authoritative */
    if (f->bad) {
        msg[7] = 1; /* one answer that is not there */
    } else if (qtype == DNS_TYPE_A) {
        static const uint8_t rr[] = {0xc0, 12, 0, 1, 0,  1, 0, 0,
                                     0,    30, 0, 4, 10, 0, 0, 7};
        msg[7] = 1;
        memcpy(msg + len, rr, sizeof(rr));
        len += sizeof(rr);
    } else if (qtype == DNS_TYPE_TXT) {
        static const char txt[] = "dr-epoch=2 primary=us-east";
        uint8_t rr[12] = {0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 30, 0, 0};
        rr[11] = (uint8_t)(sizeof(txt)); /* length byte + text */
        msg[7] = 1;
        memcpy(msg + len, rr, sizeof(rr));
        len += sizeof(rr);
        msg[len++] = (uint8_t)(sizeof(txt) - 1);
        memcpy(msg + len, txt, sizeof(txt) - 1);
        len += sizeof(txt) - 1;
    }
    out = uv_buf_init((char *)msg, (unsigned)len);
    assert_int_equal(uv_udp_send(s, u, &out, 1, from, fake_sent), 0);
}

static void fake_start(uv_loop_t *loop, struct fake *f)
{
    struct sockaddr_in sa;
    struct sockaddr_storage got;
    int len = sizeof(got);

    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(uv_udp_init(loop, &f->udp), 0);
    f->udp.data = f;
    assert_int_equal(uv_udp_bind(&f->udp, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_udp_getsockname(&f->udp, (struct sockaddr *)&got, &len),
                     0);
    f->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
    assert_int_equal(uv_udp_recv_start(&f->udp, fake_alloc, fake_recv), 0);
}

static int done_calls;

static void done_cb(struct dns_lookup *l)
{
    (void)l;
    done_calls++;
}

/* Run one lookup of app.dr.local. at the fake server(s) to its end. */
static void run(uv_loop_t *loop,
                struct dns_lookup *l,
                struct fake *fakes,
                size_t n,
                long timeout_ms,
                bool cancel)
{
    char list[200] = "", err[256];
    size_t len = 0;

    for (size_t i = 0; i < n; i++) {
        len +=
            (size_t)snprintf(list + len, sizeof(list) - len, "%s127.0.0.1:%d",
                             i > 0 ? "," : "", fakes[i].port);
    }
    memset(l, 0, sizeof(*l));
    assert_int_equal(dns_lookup_servers(l, list, err), (int)n);
    snprintf(l->name, sizeof(l->name), "app.dr.local.");
    l->timeout_ms = timeout_ms;
    done_calls = 0;
    dns_lookup_start(l, loop, done_cb);
    if (cancel) {
        dns_lookup_cancel(l);
        dns_lookup_cancel(l); /* a second cancel is a no-op */
    }
    while (done_calls == 0) {
        uv_run(loop, UV_RUN_ONCE);
    }
    assert_int_equal(done_calls, 1);
}

static void close_fakes(uv_loop_t *loop, struct fake *fakes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uv_close((uv_handle_t *)&fakes[i].udp, NULL);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void test_servers_parse(void **state)
{
    static struct dns_lookup l;
    char err[256];
    static const struct
    {
        const char *list, *msg;
    } bad[] = {
        {"127.0.0.1:53,", NULL}, /* a trailing comma is fine */
        {"127.0.0.1:0", "dns.servers entry \"127.0.0.1:0\" is not host:port"},
        {"127.0.0.1:99999", "is not host:port"},
        {"127.0.0.1:53x", "is not host:port"},
        {":53", "is not host:port"},
        {"ns1.example.com:53", "\"ns1.example.com:53\" is not an IPv4"},
        {"1.2.3:53", "is not an IPv4 address"},
        {",127.0.0.1", "is not host:port"},
        {"1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5", "more than 4 servers"},
    };

    (void)state;
    memset(&l, 0, sizeof(l));
    assert_int_equal(dns_lookup_servers(&l, "127.0.0.1:5300, 10.0.0.53", err),
                     2);
    assert_string_equal(l.servers[0], "127.0.0.1:5300");
    assert_string_equal(l.servers[1], "10.0.0.53");
    assert_int_equal(ntohs(l.results[1].sa.sin_port), 53);
    assert_int_equal(dns_lookup_servers(&l, "", err), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rv = dns_lookup_servers(&l, bad[i].list, err);
        if (bad[i].msg == NULL) {
            assert_int_equal(rv, 1);
            continue;
        }
        assert_int_equal(rv, -1);
        if (strstr(err, bad[i].msg) == NULL) {
            fail_msg("%s: got \"%s\", want \"%s\"", bad[i].list, err,
                     bad[i].msg);
        }
    }
}

static void test_answers(void **state)
{
    static struct dns_lookup l;
    uv_loop_t loop;
    struct fake fakes[2];

    (void)state;
    memset(fakes, 0, sizeof(fakes));
    uv_loop_init(&loop);
    fake_start(&loop, &fakes[0]);
    fake_start(&loop, &fakes[1]);
    fakes[1].drop = 1; /* its first query is lost: sent again */
    run(&loop, &l, fakes, 2, 3000, false);
    for (int i = 0; i < 2; i++) {
        const struct dns_lookup_result *r = &l.results[i];
        bool a = false, txt = false;
        assert_string_equal(r->error, "");
        assert_int_equal(r->rcode, 0);
        assert_int_equal(r->n_answers, 2);
        for (size_t k = 0; k < r->n_answers; k++) {
            a = a || (r->answers[k].type == DNS_TYPE_A &&
                      strcmp(r->answers[k].text, "10.0.0.7") == 0);
            txt = txt || (r->answers[k].type == DNS_TYPE_TXT &&
                          strcmp(r->answers[k].text,
                                 "dr-epoch=2 primary=us-east") == 0);
        }
        assert_true(a && txt);
    }
    assert_int_equal(fakes[0].queries, DNS_LOOKUP_QTYPES);
    assert_int_equal(fakes[1].queries, DNS_LOOKUP_QTYPES + 1);
    close_fakes(&loop, fakes, 2);
}

static void test_silent_bad_and_cancelled(void **state)
{
    static struct dns_lookup l;
    uv_loop_t loop;
    struct fake fakes[2];
    uint64_t t0;

    (void)state;
    memset(fakes, 0, sizeof(fakes));
    uv_loop_init(&loop);
    fake_start(&loop, &fakes[0]);
    fake_start(&loop, &fakes[1]);
    fakes[0].silent = true;
    fakes[1].bad = true;
    t0 = uv_now(&loop);
    run(&loop, &l, fakes, 2, 700, false);
    assert_true(uv_now(&loop) - t0 >= 650);
    assert_string_equal(l.results[0].error, "no answer in time");
    assert_int_equal(l.results[0].n_answers, 0);
    assert_true(fakes[0].queries > DNS_LOOKUP_QTYPES); /* asked again */
    assert_non_null(strstr(l.results[1].error, "bad reply: "));

    fakes[0].silent = false;
    fakes[1].bad = false;
    run(&loop, &l, fakes, 2, 3000, true);
    assert_string_equal(l.results[0].error, "cancelled");
    assert_string_equal(l.results[1].error, "cancelled");
    close_fakes(&loop, fakes, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_servers_parse),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_silent_bad_and_cancelled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
