/* TLS with OpenSSL: the API server's context (certificate, key, optional
 * client CA) and the cluster's certificates (a CA, node and client
 * certificates on ECDSA P-256) that drctl certs writes. */
#ifndef DR_TLS_H
#define DR_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_ERRMSG_MAX 512

/* An SSL_CTX for a server (TLS 1.2 and later) with cert (a PEM chain) and
 * key; with client_ca (may be NULL or "") every client must present a
 * certificate client_ca signed. The key file must be readable by its owner
 * only. Returns the SSL_CTX (as void *: callers that need OpenSSL's type
 * include openssl/ssl.h), or NULL with errmsg (TLS_ERRMSG_MAX) naming the
 * file and OpenSSL's reason; never the key. */
void *tls_server_ctx_new(const char *cert,
                         const char *key,
                         const char *client_ca,
                         char *errmsg);

/* Release a context of tls_server_ctx_new (NULL is fine). Connections that
 * use it keep their reference. */
void tls_ctx_free(void *ctx);

/* One more reference to ctx (NULL is fine), released with tls_ctx_free:
 * for holders that outlive a reload, such as a connection whose handshake
 * a library starts later from a pointer it kept. Returns ctx. */
void *tls_ctx_ref(void *ctx);

/* When the first certificate in the PEM file at path expires (its
 * notAfter), as Unix seconds. DR_EIO / DR_EINVAL with errmsg naming the
 * file. */
int tls_cert_not_after(const char *path, int64_t *unix_s, char *errmsg);

/* Check that path opens for reading and is a regular file, and with
 * private_ that nobody but its owner may read or write it. Returns 0, or
 * DR_EIO / DR_EINVAL with errmsg (TLS_ERRMSG_MAX) naming what ("tls key")
 * and path. */
int tls_check_file(const char *what,
                   const char *path,
                   bool private_,
                   char *errmsg);

/* tls_check_file for a private key. */
int tls_check_private(const char *what, const char *path, char *errmsg);

/* What drctl certs issue writes. */
enum tls_cert_kind {
    TLS_CERT_NODE = 1, /* serverAuth + clientAuth, URI SAN with the id */
    TLS_CERT_CLIENT,   /* clientAuth: drctl, monitoring */
};

#define TLS_SANS_MAX 32

struct tls_issue
{
    int kind;           /* enum tls_cert_kind */
    uint64_t node_id;   /* TLS_CERT_NODE */
    const char *name;   /* common name (node: "drnode-ID" when NULL) */
    const char *region; /* node: its region (organisational unit) */
    const char *dns[TLS_SANS_MAX];
    size_t n_dns;
    const char *ip[TLS_SANS_MAX]; /* IPv4 or IPv6 literals */
    size_t n_ip;
    unsigned days; /* validity */
};

/* The URI a node certificate carries for member id: "urn:drnode:member:ID". */
void tls_member_uri(uint64_t id, char *buf, size_t size);

/* Create a CA: a new P-256 key written to key_path (0600, must not exist)
 * and a self-signed certificate (CA:TRUE, keyCertSign) to cert_path (must
 * not exist), valid for days. Returns 0, or DR_EINVAL / DR_EIO with errmsg;
 * then neither file is left behind. */
int tls_ca_create(const char *cert_path,
                  const char *key_path,
                  const char *name,
                  unsigned days,
                  char *errmsg);

/* Issue a certificate signed by the CA in ca_cert/ca_key: a new P-256 key
 * to key_path (0600) and the certificate to cert_path, neither of which may
 * exist. Addresses in ip are checked. Same returns as tls_ca_create. */
int tls_issue(const char *ca_cert,
              const char *ca_key,
              const struct tls_issue *req,
              const char *cert_path,
              const char *key_path,
              char *errmsg);

#endif
