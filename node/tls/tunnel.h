/* TLS on a connected libuv TCP stream, handed to its user as a plain
 * stream: the user (raft's transport) reads and writes one end of a local
 * socket pair, the tunnel encrypts between the other end and the TCP
 * connection (OpenSSL with memory BIOs, on the loop thread). Both sides
 * verify the peer against the cluster CA, and the peer's certificate must
 * name the member id it is expected to be (urn:drnode:member:ID). */
#ifndef DR_TLS_TUNNEL_H
#define DR_TLS_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tls/tls.h"

/* An SSL_CTX for both ends of member connections: cert/key presented, peers
 * verified against ca, a certificate required of clients. NULL with
 * errmsg (TLS_ERRMSG_MAX) on failure. Free with tls_ctx_free. */
void *tls_peer_ctx_new(const char *cert,
                       const char *key,
                       const char *ca,
                       char *errmsg);

struct tls_tunnel;

/* The handshake is over. app: the stream the user now reads and writes
 * (allocated with the tunnels' alloc function, owned by the user from now
 * on), or NULL with err saying why the connection was refused (the
 * tunnel is gone then; err is valid during the call only). */
typedef void (*tls_tunnel_ready_cb)(struct tls_tunnel *t,
                                    void *data,
                                    uv_stream_t *app,
                                    const char *err);

/* The tunnels of one loop. alloc/release allocate and free the handles
 * shared with the user (the TCP stream handed over, the app stream handed
 * out): raft's own heap functions for raft's transport. */
struct tls_tunnels
{
    uv_loop_t *loop;
    void *(*alloc)(size_t size);
    void (*release)(void *ptr);
    unsigned handshake_ms; /* a handshake must end within this */
    struct tls_tunnel *head;
    bool closing;
    void (*closed_cb)(struct tls_tunnels *ts);
    uint64_t refused; /* handshakes failed or peers refused */
};

void tls_tunnels_init(struct tls_tunnels *ts,
                      uv_loop_t *loop,
                      void *(*alloc)(size_t size),
                      void (*release)(void *ptr));

/* Take over tcp (connected; allocated with ts->alloc) and run a TLS
 * handshake on it as client (server false) or server, with ctx. The peer
 * must present a certificate naming member peer_id. cb is called exactly
 * once: with the app stream, or with the reason (err "closing" when
 * tls_tunnels_close aborted the handshake). When the tunnel cannot even
 * start (out of memory, the tunnels closing) tcp is closed and cb is
 * called from this function, with t NULL. */
void tls_tunnel_start(struct tls_tunnels *ts,
                      void *ctx,
                      uv_tcp_t *tcp,
                      bool server,
                      uint64_t peer_id,
                      tls_tunnel_ready_cb cb,
                      void *data);

/* Abort every tunnel (handshakes in progress end with err "closing"), and
 * call cb once every handle is closed (may be NULL). */
void tls_tunnels_close(struct tls_tunnels *ts,
                       void (*cb)(struct tls_tunnels *ts));

/* Whether cert (an X509 *) names member id in a URI SAN. */
bool tls_cert_names_member(const void *cert, uint64_t id);

#endif
