/* Unit tests of the TLS tunnels (node/tls/tunnel.c) on a real libuv loop
 * over loopback TCP, with certificates made by node/tls/tls.c: 8 MiB each
 * way, written at once (twice the tunnel's queue bound), arrive intact
 * through the plain ends; the member id in the peer's certificate is
 * checked on both sides; a certificate of another CA, no certificate, a
 * silent peer (handshake timeout) and an early hang-up are refused with
 * the reason; closing every tunnel calls back once all handles are gone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "helpers.h"
#include "tls/tunnel.h"

#define BULK (8u << 20)

struct end
{
    struct tls_tunnels *ts;
    uv_stream_t *app;
    char err[300];
    bool done; /* the ready callback ran */
    size_t sent, got;
    bool bad_byte;
    uv_write_t w;
    char *out;
};

struct pair
{
    uv_loop_t loop;
    struct tls_tunnels ts;
    uv_tcp_t listener;
    uv_connect_t conn;
    uv_tcp_t *client_tcp;
    void *server_ctx, *client_ctx;
    uint64_t server_expects, client_expects; /* peer ids */
    bool client_silent;                      /* connect, then never speak TLS */
    bool client_hangs_up;
    struct end server, client;
    int closed;
};

static char *dir;

static void *xalloc(size_t n)
{
    return malloc(n);
}

static void path(char *buf, const char *name)
{
    snprintf(buf, 512, "%s/%s", dir, name);
}

/* DIR/NAME.crt and DIR/NAME.key. */
static void pem_pair(const char *name, char *cert, char *key)
{
    char base[64];
    snprintf(base, sizeof(base), "%s.crt", name);
    path(cert, base);
    snprintf(base, sizeof(base), "%s.key", name);
    path(key, base);
}

static void *ctx_of(const char *name, const char *ca)
{
    char cert[512], key[512], cap[512], err[TLS_ERRMSG_MAX];
    void *ctx;
    pem_pair(name, cert, key);
    path(cap, ca);
    ctx = tls_peer_ctx_new(cert, key, cap, err);
    if (ctx == NULL) {
        fail_msg("%s", err);
    }
    return ctx;
}

static void ready_cb(struct tls_tunnel *t,
                     void *data,
                     uv_stream_t *app,
                     const char *err)
{
    struct end *e = data;
    (void)t;
    e->done = true;
    e->app = app;
    if (app == NULL) {
        snprintf(e->err, sizeof(e->err), "%s", err);
    } else {
        app->data = e;
    }
}

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 131 + (i >> 13));
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char slab[65536];
    (void)h;
    (void)hint;
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void app_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct end *e = s->data;
    if (n <= 0) {
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if ((uint8_t)buf->base[i] != pattern(e->got + (size_t)i)) {
            e->bad_byte = true;
        }
    }
    e->got += (size_t)n;
}

static void write_cb(uv_write_t *w, int status)
{
    (void)w;
    assert_int_equal(status, 0);
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct pair *p = listener->data;
    uv_tcp_t *tcp = malloc(sizeof(*tcp));
    assert_int_equal(status, 0);
    uv_tcp_init(&p->loop, tcp);
    assert_int_equal(uv_accept(listener, (uv_stream_t *)tcp), 0);
    tls_tunnel_start(&p->ts, p->server_ctx, tcp, true, p->server_expects,
                     ready_cb, &p->server);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct pair *p = req->data;
    assert_int_equal(status, 0);
    if (p->client_hangs_up) {
        uv_close((uv_handle_t *)p->client_tcp, (uv_close_cb)free);
        return;
    }
    if (p->client_silent) {
        return; /* holds the connection, says nothing */
    }
    tls_tunnel_start(&p->ts, p->client_ctx, p->client_tcp, false,
                     p->client_expects, ready_cb, &p->client);
}

static void start(struct pair *p)
{
    struct sockaddr_in sa;
    struct sockaddr_storage bound;
    int len = sizeof(bound);

    assert_int_equal(uv_loop_init(&p->loop), 0);
    tls_tunnels_init(&p->ts, &p->loop, xalloc, free);
    p->server.ts = p->client.ts = &p->ts;
    uv_tcp_init(&p->loop, &p->listener);
    p->listener.data = p;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(uv_tcp_bind(&p->listener, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&p->listener, 8, on_accept), 0);
    uv_tcp_getsockname(&p->listener, (struct sockaddr *)&bound, &len);
    p->client_tcp = malloc(sizeof(*p->client_tcp));
    uv_tcp_init(&p->loop, p->client_tcp);
    p->conn.data = p;
    assert_int_equal(uv_tcp_connect(&p->conn, p->client_tcp,
                                    (struct sockaddr *)&bound, on_connect),
                     0);
}

/* Run the loop until cond holds or ms pass. */
static bool run_until(struct pair *p, bool (*cond)(struct pair *), unsigned ms)
{
    uint64_t end = uv_now(&p->loop) + ms;
    while (!cond(p) && uv_now(&p->loop) < end) {
        uv_run(&p->loop, UV_RUN_ONCE);
        uv_update_time(&p->loop);
    }
    return cond(p);
}

static bool both_done(struct pair *p)
{
    return p->server.done && p->client.done;
}

static bool server_done(struct pair *p)
{
    return p->server.done;
}

static bool all_arrived(struct pair *p)
{
    return p->server.got == BULK && p->client.got == BULK;
}

static void tunnels_closed_cb(struct tls_tunnels *ts)
{
    struct pair *p = (struct pair *)((char *)ts - offsetof(struct pair, ts));
    p->closed++;
}

static bool closed(struct pair *p)
{
    return p->closed == 1;
}

static void app_closed_cb(uv_handle_t *h)
{
    free(h);
}

/* Close what is left and check that nothing stays on the loop. */
static void finish(struct pair *p)
{
    if (p->server.app != NULL) {
        uv_close((uv_handle_t *)p->server.app, app_closed_cb);
    }
    if (p->client.app != NULL) {
        uv_close((uv_handle_t *)p->client.app, app_closed_cb);
    }
    if (p->client_silent && !uv_is_closing((uv_handle_t *)p->client_tcp)) {
        uv_close((uv_handle_t *)p->client_tcp, (uv_close_cb)free);
    }
    tls_tunnels_close(&p->ts, tunnels_closed_cb);
    assert_true(run_until(p, closed, 5000));
    uv_close((uv_handle_t *)&p->listener, NULL);
    uv_run(&p->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&p->loop), 0);
    tls_ctx_free(p->server_ctx);
    tls_ctx_free(p->client_ctx);
    free(p->server.out);
    free(p->client.out);
}

static void test_bulk_both_ways(void **state)
{
    struct pair p = {0};
    (void)state;
    p.server_ctx = ctx_of("node-1", "ca.crt");
    p.client_ctx = ctx_of("node-2", "ca.crt");
    p.server_expects = 2;
    p.client_expects = 1;
    start(&p);
    assert_true(run_until(&p, both_done, 5000));
    assert_non_null(p.server.app);
    assert_non_null(p.client.app);
    for (int k = 0; k < 2; k++) {
        struct end *e = k == 0 ? &p.server : &p.client;
        uv_buf_t b;
        e->out = malloc(BULK);
        for (size_t i = 0; i < BULK; i++) {
            e->out[i] = (char)pattern(i);
        }
        b = uv_buf_init(e->out, BULK);
        assert_int_equal(uv_read_start(e->app, alloc_cb, app_read_cb), 0);
        assert_int_equal(uv_write(&e->w, e->app, &b, 1, write_cb), 0);
    }
    assert_true(run_until(&p, all_arrived, 60000));
    assert_false(p.server.bad_byte);
    assert_false(p.client.bad_byte);
    assert_int_equal(p.ts.refused, 0);
    finish(&p);
}

static void test_wrong_member_refused(void **state)
{
    struct pair p = {0};
    (void)state;
    p.server_ctx = ctx_of("node-1", "ca.crt");
    p.client_ctx = ctx_of("node-2", "ca.crt");
    p.server_expects = 3; /* node 2 claims to be 3 */
    p.client_expects = 1;
    start(&p);
    assert_true(run_until(&p, server_done, 5000));
    assert_null(p.server.app);
    assert_string_equal(p.server.err,
                        "the peer's certificate (CN=drnode-2) "
                        "does not name member 3");
    finish(&p);
    assert_int_equal(p.ts.refused >= 1, true);
}

static void test_server_of_another_member_refused(void **state)
{
    struct pair p = {0};
    (void)state;
    p.server_ctx = ctx_of("node-1", "ca.crt");
    p.client_ctx = ctx_of("node-2", "ca.crt");
    p.server_expects = 2;
    p.client_expects = 5; /* it dialled member 5, node 1 answered */
    start(&p);
    assert_true(run_until(&p, both_done, 5000));
    assert_null(p.client.app);
    assert_string_equal(p.client.err,
                        "the peer's certificate (CN=drnode-1) "
                        "does not name member 5");
    finish(&p);
}

static void test_other_ca_refused(void **state)
{
    struct pair p = {0};
    (void)state;
    p.server_ctx = ctx_of("node-1", "ca.crt");
    p.client_ctx = ctx_of("other-2", "other-ca.crt");
    p.server_expects = 2;
    p.client_expects = 1;
    start(&p);
    assert_true(run_until(&p, server_done, 5000));
    assert_null(p.server.app);
    assert_non_null(strstr(p.server.err, "TLS handshake failed"));
    finish(&p);
}

static void test_silent_peer_times_out(void **state)
{
    struct pair p = {0};
    (void)state;
    p.server_ctx = ctx_of("node-1", "ca.crt");
    p.server_expects = 2;
    p.client_silent = true;
    start(&p);
    p.ts.handshake_ms = 200;
    assert_true(run_until(&p, server_done, 5000));
    assert_string_equal(p.server.err, "no TLS handshake within 200 ms");
    finish(&p);
}

static void test_hang_up_during_handshake(void **state)
{
    struct pair p = {0};
    (void)state;
    p.server_ctx = ctx_of("node-1", "ca.crt");
    p.server_expects = 2;
    p.client_hangs_up = true;
    start(&p);
    assert_true(run_until(&p, server_done, 5000));
    assert_string_equal(p.server.err, "the peer closed the connection");
    finish(&p);
}

static void test_close_aborts_handshakes(void **state)
{
    struct pair p = {0};
    (void)state;
    p.server_ctx = ctx_of("node-1", "ca.crt");
    p.server_expects = 2;
    p.client_silent = true;
    start(&p);
    /* Accepted, waiting for a ClientHello that never comes. */
    while (p.ts.head == NULL) {
        uv_run(&p.loop, UV_RUN_ONCE);
    }
    finish(&p);
    assert_string_equal(p.server.err, "closing");
}

static void make_ca(const char *name)
{
    char cert[512], key[512], err[TLS_ERRMSG_MAX];
    pem_pair(name, cert, key);
    if (tls_ca_create(cert, key, name, 1, err) != 0) {
        fail_msg("%s", err);
    }
}

/* NAME.crt / NAME.key for member id, signed by CA. */
static void make_node(const char *ca, uint64_t id, const char *name)
{
    char ca_cert[512], ca_key[512], cert[512], key[512];
    char err[TLS_ERRMSG_MAX];
    struct tls_issue req;

    memset(&req, 0, sizeof(req));
    req.kind = TLS_CERT_NODE;
    req.node_id = id;
    req.region = "r";
    req.ip[req.n_ip++] = "127.0.0.1";
    req.days = 1;
    pem_pair(ca, ca_cert, ca_key);
    pem_pair(name, cert, key);
    if (tls_issue(ca_cert, ca_key, &req, cert, key, err) != 0) {
        fail_msg("%s", err);
    }
}

static int setup(void **state)
{
    (void)state;
    dir = test_tmpdir();
    make_ca("ca");
    make_ca("other-ca");
    make_node("ca", 1, "node-1");
    make_node("ca", 2, "node-2");
    make_node("other-ca", 2, "other-2");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    test_rmtree(dir);
    free(dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bulk_both_ways),
        cmocka_unit_test(test_wrong_member_refused),
        cmocka_unit_test(test_server_of_another_member_refused),
        cmocka_unit_test(test_other_ca_refused),
        cmocka_unit_test(test_silent_peer_times_out),
        cmocka_unit_test(test_hang_up_during_handshake),
        cmocka_unit_test(test_close_aborts_handshakes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
