/* TLS tunnels between a TCP connection and a local socket pair. */
#include "tls/tunnel.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define TUN_HANDSHAKE_MS 5000
/* Bytes queued for one side before the other side stops being read. */
#define TUN_QUEUE_MAX (4u << 20)

enum { TUN_HANDSHAKE, TUN_OPEN, TUN_DEAD };

struct tls_tunnel
{
    struct tls_tunnels *ts;
    uv_tcp_t *tcp;  /* the network side: ts->release once closed */
    uv_pipe_t ours; /* our end of the socket pair */
    uv_timer_t timer;
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    int state;
    uint64_t peer_id;
    tls_tunnel_ready_cb cb;
    void *data;
    int handles; /* of ours not yet closed */
    bool ours_open, ours_paused, tcp_paused;
    struct tls_tunnel *prev, *next;
    char tcp_in[16384];
    char ours_in[65536];
};

struct tun_write
{
    uv_write_t w;
    struct tls_tunnel *t;
    char data[];
};

static void tun_close(struct tls_tunnel *t);
static void ours_write_cb(uv_write_t *w, int status);
static void ours_alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf);
static void ours_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void tcp_alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf);
static void tcp_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

void *tls_peer_ctx_new(const char *cert,
                       const char *key,
                       const char *ca,
                       char *errmsg)
{
    SSL_CTX *ctx = tls_server_ctx_new(cert, key, ca, errmsg);
    if (ctx == NULL) {
        return NULL;
    }
    /* Servers and clients alike: the peer's chain must lead to ca. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       NULL);
    return ctx;
}

bool tls_cert_names_member(const void *cert, uint64_t id)
{
    GENERAL_NAMES *names =
        X509_get_ext_d2i((const X509 *)cert, NID_subject_alt_name, NULL, NULL);
    char want[64];
    bool found = false;

    if (names == NULL) {
        return false;
    }
    tls_member_uri(id, want, sizeof(want));
    for (int i = 0; i < sk_GENERAL_NAME_num(names) && !found; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_URI) {
            const ASN1_STRING *s = g->d.uniformResourceIdentifier;
            found = (size_t)ASN1_STRING_length(s) == strlen(want) &&
                    memcmp(ASN1_STRING_get0_data(s), want, strlen(want)) == 0;
        }
    }
    GENERAL_NAMES_free(names);
    return found;
}

void tls_tunnels_init(struct tls_tunnels *ts,
                      uv_loop_t *loop,
                      void *(*alloc)(size_t size),
                      void (*release)(void *ptr))
{
    memset(ts, 0, sizeof(*ts));
    ts->loop = loop;
    ts->alloc = alloc;
    ts->release = release;
    ts->handshake_ms = TUN_HANDSHAKE_MS;
}

static void maybe_closed(struct tls_tunnels *ts)
{
    if (ts->closing && ts->head == NULL && ts->closed_cb != NULL) {
        void (*cb)(struct tls_tunnels *) = ts->closed_cb;
        ts->closed_cb = NULL;
        cb(ts);
    }
}

static void handle_closed(struct tls_tunnel *t)
{
    struct tls_tunnels *ts = t->ts;
    if (--t->handles > 0) {
        return;
    }
    if (t->prev != NULL) {
        t->prev->next = t->next;
    } else {
        ts->head = t->next;
    }
    if (t->next != NULL) {
        t->next->prev = t->prev;
    }
    SSL_free(t->ssl);
    free(t);
    maybe_closed(ts);
}

static void tcp_closed_cb(uv_handle_t *h)
{
    struct tls_tunnel *t = h->data;
    t->ts->release(h);
    handle_closed(t);
}

static void ours_closed_cb(uv_handle_t *h)
{
    handle_closed(h->data);
}

/* The handshake failed or the peer was refused: say why, once, then go. */
static void tun_fail(struct tls_tunnel *t, const char *err)
{
    if (t->state == TUN_HANDSHAKE) {
        t->state = TUN_OPEN; /* the callback below is the only one */
        t->ts->refused++;
        t->cb(t, t->data, NULL, err);
    }
    tun_close(t);
}

static void tun_close(struct tls_tunnel *t)
{
    if (t->state == TUN_DEAD) {
        return;
    }
    t->state = TUN_DEAD;
    uv_close((uv_handle_t *)t->tcp, tcp_closed_cb);
    uv_close((uv_handle_t *)&t->timer, ours_closed_cb);
    if (t->ours_open) {
        uv_close((uv_handle_t *)&t->ours, ours_closed_cb);
    }
}

/* OpenSSL's last reason, with the verification verdict when that failed. */
static void ssl_reason(struct tls_tunnel *t, char *buf, size_t size)
{
    long v = SSL_get_verify_result(t->ssl);
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

    if (v != X509_V_OK) {
        snprintf(buf, size, "TLS handshake failed: %s (%s)",
                 r != NULL ? r : "error", X509_verify_cert_error_string(v));
    } else {
        snprintf(buf, size, "TLS handshake failed: %s",
                 r != NULL ? r : "the connection broke");
    }
    ERR_clear_error();
}

static void tcp_write_cb(uv_write_t *w, int status)
{
    struct tun_write *wr = (struct tun_write *)w;
    struct tls_tunnel *t = wr->t;
    free(wr);
    if (t->state == TUN_DEAD) {
        return;
    }
    if (status < 0) {
        tun_fail(t, uv_strerror(status));
        return;
    }
    if (t->ours_paused && t->tcp->write_queue_size < TUN_QUEUE_MAX / 2) {
        t->ours_paused = false;
        uv_read_start((uv_stream_t *)&t->ours, ours_alloc_cb, ours_read_cb);
    }
}

/* Write len bytes to stream: at once when nothing is queued and the
 * socket takes them, else what is left is copied and queued. */
static int tun_write(struct tls_tunnel *t,
                     uv_stream_t *stream,
                     const char *data,
                     size_t len,
                     uv_write_cb cb)
{
    struct tun_write *wr;
    uv_buf_t b;
    int rv;

    if (stream->write_queue_size == 0) {
        b = uv_buf_init((char *)data, (unsigned)len);
        rv = uv_try_write(stream, &b, 1);
        if (rv >= 0) {
            data += rv;
            len -= (size_t)rv;
            if (len == 0) {
                return 0;
            }
        } else if (rv != UV_EAGAIN) {
            return rv;
        }
    }
    wr = malloc(sizeof(*wr) + len);
    if (wr == NULL) {
        return UV_ENOMEM;
    }
    wr->t = t;
    memcpy(wr->data, data, len);
    b = uv_buf_init(wr->data, (unsigned)len);
    rv = uv_write(&wr->w, stream, &b, 1, cb);
    if (rv != 0) {
        free(wr);
    }
    return rv;
}

/* Send what OpenSSL has for the network, straight from its buffer. */
static int flush_out(struct tls_tunnel *t)
{
    char *data;
    long n = BIO_get_mem_data(t->wbio, &data);
    int rv;

    if (n <= 0) {
        return 0;
    }
    rv = tun_write(t, (uv_stream_t *)t->tcp, data, (size_t)n, tcp_write_cb);
    (void)BIO_reset(t->wbio); /* sent or copied */
    return rv;
}

/* Decrypted bytes from the network, to the user, in as few writes as
 * the buffer allows. */
static void pump_in(struct tls_tunnel *t)
{
    char buf[65536];
    size_t have = 0;
    bool closed = false;

    for (;;) {
        int n;
        ERR_clear_error();
        n = SSL_read(t->ssl, buf + have, (int)(sizeof(buf) - have));
        if (n > 0) {
            have += (size_t)n;
            if (have < sizeof(buf)) {
                continue;
            }
        } else if (SSL_get_error(t->ssl, n) != SSL_ERROR_WANT_READ) {
            ERR_clear_error(); /* close_notify, or a broken record */
            closed = true;
        }
        if (have > 0 && tun_write(t, (uv_stream_t *)&t->ours, buf, have,
                                  ours_write_cb) != 0) {
            closed = true;
        }
        if (closed || n <= 0) {
            break;
        }
        have = 0;
    }
    if (closed) {
        tun_close(t);
        return;
    }
    if (flush_out(t) != 0) {
        tun_close(t);
        return;
    }
    if (t->ours.write_queue_size > TUN_QUEUE_MAX && !t->tcp_paused) {
        t->tcp_paused = true;
        uv_read_stop((uv_stream_t *)t->tcp);
    }
}

/* The handshake is done and the peer is who it must be: make the socket
 * pair and hand one end to the user. */
static void become_open(struct tls_tunnel *t)
{
    struct tls_tunnels *ts = t->ts;
    uv_pipe_t *theirs = ts->alloc(sizeof(*theirs));
    int fds[2];
    char err[160];

    if (theirs == NULL ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        snprintf(err, sizeof(err), "socket pair: %s",
                 theirs == NULL ? "out of memory" : strerror(errno));
        if (theirs != NULL) {
            ts->release(theirs);
        }
        tun_fail(t, err);
        return;
    }
    uv_pipe_init(ts->loop, &t->ours, 0);
    t->ours.data = t;
    t->ours_open = true;
    t->handles++;
    uv_pipe_init(ts->loop, theirs, 0);
    if (uv_pipe_open(&t->ours, fds[0]) != 0 ||
        uv_pipe_open(theirs, fds[1]) != 0) {
        close(fds[0]);
        close(fds[1]);
        uv_close((uv_handle_t *)theirs, (uv_close_cb)ts->release);
        tun_fail(t, "socket pair: libuv refused it");
        return;
    }
    uv_timer_stop(&t->timer);
    uv_read_start((uv_stream_t *)&t->ours, ours_alloc_cb, ours_read_cb);
    t->state = TUN_OPEN;
    t->cb(t, t->data, (uv_stream_t *)theirs, NULL);
    if (t->state == TUN_OPEN) {
        pump_in(t); /* bytes that came with the last handshake message */
    }
}

static void handshake(struct tls_tunnel *t)
{
    char err[300];
    int r;

    /* The loop's thread shares OpenSSL's error queue with h2o and curl:
     * start clean so SSL_get_error sees our own call's errors. */
    ERR_clear_error();
    r = SSL_do_handshake(t->ssl);

    if (flush_out(t) != 0) {
        tun_fail(t, "cannot write to the connection");
        return;
    }
    if (r == 1) {
        const X509 *peer = SSL_get0_peer_certificate(t->ssl);
        if (peer == NULL) {
            tun_fail(t, "the peer presented no certificate");
        } else if (SSL_get_verify_result(t->ssl) != X509_V_OK) {
            snprintf(
                err, sizeof(err), "the peer's certificate is refused: %s",
                X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
            tun_fail(t, err);
        } else if (!tls_cert_names_member(peer, t->peer_id)) {
            char cn[128] = "";
            X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
                                      NID_commonName, cn, sizeof(cn));
            snprintf(err, sizeof(err),
                     "the peer's certificate (CN=%s) does not name member "
                     "%" PRIu64,
                     cn, t->peer_id);
            tun_fail(t, err);
        } else {
            become_open(t);
        }
        return;
    }
    switch (SSL_get_error(t->ssl, r)) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
            return;
        default:
            ssl_reason(t, err, sizeof(err));
            tun_fail(t, err);
    }
}

static void tcp_alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    struct tls_tunnel *t = h->data;
    (void)size;
    *buf = uv_buf_init(t->tcp_in, sizeof(t->tcp_in));
}

static void tcp_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct tls_tunnel *t = s->data;

    if (t->state == TUN_DEAD || nread == 0) {
        return;
    }
    if (nread < 0) {
        tun_fail(t, nread == UV_EOF ? "the peer closed the connection"
                                    : uv_strerror((int)nread));
        return;
    }
    if (BIO_write(t->rbio, buf->base, (int)nread) != (int)nread) {
        tun_fail(t, "out of memory");
        return;
    }
    if (t->state == TUN_HANDSHAKE) {
        handshake(t);
    } else {
        pump_in(t);
    }
}

static void ours_alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    struct tls_tunnel *t = h->data;
    (void)size;
    *buf = uv_buf_init(t->ours_in, sizeof(t->ours_in));
}

/* The user wrote: encrypt and send. */
static void ours_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct tls_tunnel *t = s->data;

    if (t->state == TUN_DEAD || nread == 0) {
        return;
    }
    if (nread < 0) { /* the user closed its end */
        SSL_shutdown(t->ssl);
        flush_out(t);
        tun_close(t);
        return;
    }
    ERR_clear_error();
    if (SSL_write(t->ssl, buf->base, (int)nread) != (int)nread ||
        flush_out(t) != 0) {
        ERR_clear_error();
        tun_close(t);
        return;
    }
    if (t->tcp->write_queue_size > TUN_QUEUE_MAX && !t->ours_paused) {
        t->ours_paused = true;
        uv_read_stop((uv_stream_t *)&t->ours);
    }
}

static void ours_write_cb(uv_write_t *w, int status)
{
    struct tun_write *wr = (struct tun_write *)w;
    struct tls_tunnel *t = wr->t;
    free(wr);
    if (t->state == TUN_DEAD) {
        return;
    }
    if (status < 0) {
        tun_close(t);
        return;
    }
    if (t->tcp_paused && t->ours.write_queue_size < TUN_QUEUE_MAX / 2) {
        t->tcp_paused = false;
        uv_read_start((uv_stream_t *)t->tcp, tcp_alloc_cb, tcp_read_cb);
    }
}

static void timeout_cb(uv_timer_t *h)
{
    struct tls_tunnel *t = h->data;
    char err[96];
    snprintf(err, sizeof(err), "no TLS handshake within %u ms",
             t->ts->handshake_ms);
    tun_fail(t, err);
}

void tls_tunnel_start(struct tls_tunnels *ts,
                      void *ctx,
                      uv_tcp_t *tcp,
                      bool server,
                      uint64_t peer_id,
                      tls_tunnel_ready_cb cb,
                      void *data)
{
    struct tls_tunnel *t = calloc(1, sizeof(*t));

    if (t == NULL || ts->closing) {
        free(t);
        uv_close((uv_handle_t *)tcp, (uv_close_cb)ts->release);
        cb(NULL, data, NULL, ts->closing ? "closing" : "out of memory");
        return;
    }
    t->ts = ts;
    t->tcp = tcp;
    t->peer_id = peer_id;
    t->cb = cb;
    t->data = data;
    t->state = TUN_HANDSHAKE;
    t->handles = 2; /* tcp and timer */
    tcp->data = t;
    uv_timer_init(ts->loop, &t->timer);
    t->timer.data = t;
    t->next = ts->head;
    if (ts->head != NULL) {
        ts->head->prev = t;
    }
    ts->head = t;
    t->ssl = SSL_new(ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        ERR_clear_error();
        tun_fail(t, "out of memory");
        return;
    }
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    if (server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
    }
    uv_tcp_nodelay(tcp, 1);
    uv_timer_start(&t->timer, timeout_cb, ts->handshake_ms, 0);
    uv_read_start((uv_stream_t *)tcp, tcp_alloc_cb, tcp_read_cb);
    if (!server) {
        handshake(t); /* the ClientHello */
    }
}

void tls_tunnels_close(struct tls_tunnels *ts,
                       void (*cb)(struct tls_tunnels *ts))
{
    ts->closing = true;
    ts->closed_cb = cb;
    for (struct tls_tunnel *t = ts->head; t != NULL; t = t->next) {
        tun_fail(t, "closing");
    }
    maybe_closed(ts);
}
