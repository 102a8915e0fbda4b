/* TLS contexts and certificates on OpenSSL 3. */
#include "tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/err.h"

/* OpenSSL's newest queued reason, and the queue emptied. */
static const char *reason(char *buf, size_t size)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0) {
        snprintf(buf, size, "unknown OpenSSL error");
    } else {
        const char *r = ERR_reason_error_string(e);
        if (r != NULL) {
            snprintf(buf, size, "%s", r);
        } else {
            ERR_error_string_n(e, buf, size);
        }
    }
    ERR_clear_error();
    return buf;
}

int tls_check_file(const char *what,
                   const char *path,
                   bool private_,
                   char *errmsg)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        snprintf(errmsg, TLS_ERRMSG_MAX, "%s %.300s: %s", what, path,
                 strerror(errno));
        return DR_EIO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(errmsg, TLS_ERRMSG_MAX, "%s %.300s is not a regular file",
                 what, path);
        return DR_EINVAL;
    }
    close(fd);
    if (private_ && (st.st_mode & 077) != 0) {
        snprintf(errmsg, TLS_ERRMSG_MAX,
                 "%s %.300s may be read or written by group or others "
                 "(mode %03o): chmod 600 it",
                 what, path, (unsigned)(st.st_mode & 0777));
        return DR_EINVAL;
    }
    return 0;
}

int tls_check_private(const char *what, const char *path, char *errmsg)
{
    return tls_check_file(what, path, true, errmsg);
}

void *tls_server_ctx_new(const char *cert,
                         const char *key,
                         const char *client_ca,
                         char *errmsg)
{
    SSL_CTX *ctx;
    char why[256];

    ERR_clear_error(); /* reasons below are this call's own */
    /* TLS_method: the same context serves raft tunnels of both ends. */
    ctx = SSL_CTX_new(TLS_method());

    if (ctx == NULL) {
        snprintf(errmsg, TLS_ERRMSG_MAX, "tls: %s", reason(why, sizeof(why)));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(
        ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(errmsg, TLS_ERRMSG_MAX, "tls cert %.300s: %s", cert,
                 reason(why, sizeof(why)));
        goto fail;
    }
    if (tls_check_private("tls key", key, errmsg) != 0) {
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) ==
            X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            snprintf(errmsg, TLS_ERRMSG_MAX,
                     "tls key %.200s is not the key of cert %.200s", key, cert);
        } else {
            snprintf(errmsg, TLS_ERRMSG_MAX, "tls key %.300s: %s", key,
                     reason(why, sizeof(why)));
        }
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(errmsg, TLS_ERRMSG_MAX,
                 "tls key %.200s is not the key of cert %.200s", key, cert);
        goto fail;
    }
    if (client_ca != NULL && client_ca[0] != '\0') {
        STACK_OF(X509_NAME) * names;
        if (SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1 ||
            (names = SSL_load_client_CA_file(client_ca)) == NULL) {
            snprintf(errmsg, TLS_ERRMSG_MAX, "tls client_ca %.300s: %s",
                     client_ca, reason(why, sizeof(why)));
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(
            ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        /* Sessions resumed under client verification need a context. */
        SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"drnode", 6);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void tls_ctx_free(void *ctx)
{
    SSL_CTX_free(ctx);
}

int tls_cert_not_after(const char *path, int64_t *unix_s, char *errmsg)
{
    FILE *f = fopen(path, "r");
    X509 *x;
    struct tm tm;

    if (f == NULL) {
        snprintf(errmsg, TLS_ERRMSG_MAX, "%.300s: %s", path, strerror(errno));
        return DR_EIO;
    }
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    memset(&tm, 0, sizeof(tm));
    if (x == NULL || ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1) {
        X509_free(x);
        ERR_clear_error();
        snprintf(errmsg, TLS_ERRMSG_MAX, "%.300s: no PEM certificate in it",
                 path);
        return DR_EINVAL;
    }
    X509_free(x);
    *unix_s = (int64_t)timegm(&tm);
    return DR_OK;
}

void *tls_ctx_ref(void *ctx)
{
    if (ctx != NULL) {
        SSL_CTX_up_ref(ctx);
    }
    return ctx;
}

void tls_member_uri(uint64_t id, char *buf, size_t size)
{
    snprintf(buf, size, "urn:drnode:member:%" PRIu64, id);
}

/* A DNS name for a SAN: letters, digits, '-', '.', and a leading "*.". */
static bool dns_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253) {
        return false;
    }
    if (strncmp(s, "*.", 2) == 0) {
        s += 2;
    }
    for (; *s != '\0'; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '.')) {
            return false;
        }
    }
    return true;
}

static bool ip_ok(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    int ok;
    if (ext == NULL) {
        return -1;
    }
    ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

/* Create path exclusively with mode and write with fn. */
static int write_new(const char *what,
                     const char *path,
                     mode_t mode,
                     int (*fn)(FILE *f, void *obj),
                     void *obj,
                     char *errmsg)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    FILE *f;
    int ok;

    if (fd < 0) {
        snprintf(
            errmsg, TLS_ERRMSG_MAX, "%s %.300s: %s%s", what, path,
            strerror(errno),
            errno == EEXIST ? " (never overwritten: remove it first)" : "");
        return errno == EEXIST ? DR_EINVAL : DR_EIO;
    }
    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        unlink(path);
        snprintf(errmsg, TLS_ERRMSG_MAX, "%s %.300s: %s", what, path,
                 strerror(errno));
        return DR_EIO;
    }
    ok = fn(f, obj);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        ok = 0;
    }
    if (fclose(f) != 0) {
        ok = 0;
    }
    if (!ok) {
        unlink(path);
        snprintf(errmsg, TLS_ERRMSG_MAX, "%s %.300s: write failed", what, path);
        return DR_EIO;
    }
    return 0;
}

static int pem_key(FILE *f, void *obj)
{
    return PEM_write_PrivateKey(f, obj, NULL, NULL, 0, NULL, NULL) == 1;
}

static int pem_cert(FILE *f, void *obj)
{
    return PEM_write_X509(f, obj) == 1;
}

/* A certificate for key, subject O=drnode[, OU=ou], CN=cn, with a random
 * serial, valid from five minutes ago for days. */
static X509 *new_cert(EVP_PKEY *key,
                      const char *cn,
                      const char *ou,
                      unsigned days)
{
    X509 *x = X509_new();
    X509_NAME *nm;
    unsigned char serial[16];
    BIGNUM *bn;

    if (x == NULL || X509_set_version(x, 2) != 1 ||
        RAND_bytes(serial, sizeof(serial)) != 1) {
        X509_free(x);
        return NULL;
    }
    serial[0] &= 0x7f; /* positive */
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (bn == NULL ||
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
        BN_free(bn);
        X509_free(x);
        return NULL;
    }
    BN_free(bn);
    nm = X509_get_subject_name(x);
    if (X509_gmtime_adj(X509_getm_notBefore(x), -300) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) == NULL ||
        X509_set_pubkey(x, key) != 1 ||
        X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC,
                                   (const unsigned char *)"drnode", -1, -1,
                                   0) != 1 ||
        (ou != NULL && ou[0] != '\0' &&
         X509_NAME_add_entry_by_txt(nm, "OU", MBSTRING_ASC,
                                    (const unsigned char *)ou, -1, -1,
                                    0) != 1) ||
        X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
                                   (const unsigned char *)cn, -1, -1, 0) != 1) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Write key then cert; on any failure neither file stays. */
static int write_pair(X509 *x,
                      EVP_PKEY *key,
                      const char *cert_path,
                      const char *key_path,
                      char *errmsg)
{
    int rv;
    if (access(cert_path, F_OK) == 0) {
        snprintf(errmsg, TLS_ERRMSG_MAX,
                 "certificate %.300s exists (never overwritten: remove it "
                 "first)",
                 cert_path);
        return DR_EINVAL;
    }
    rv = write_new("key", key_path, 0600, pem_key, key, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = write_new("certificate", cert_path, 0644, pem_cert, x, errmsg);
    if (rv != 0) {
        unlink(key_path);
    }
    return rv;
}

int tls_ca_create(const char *cert_path,
                  const char *key_path,
                  const char *name,
                  unsigned days,
                  char *errmsg)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = NULL;
    X509V3_CTX v3;
    char why[256];
    int rv = DR_EIO;

    if (key == NULL ||
        (x = new_cert(key, name != NULL ? name : "drnode cluster CA", NULL,
                      days)) == NULL ||
        X509_set_issuer_name(x, X509_get_subject_name(x)) != 1) {
        snprintf(errmsg, TLS_ERRMSG_MAX, "CA: %s", reason(why, sizeof(why)));
        goto out;
    }
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    if (add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") !=
            0 ||
        add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
        add_ext(x, &v3, NID_subject_key_identifier, "hash") != 0 ||
        X509_sign(x, key, EVP_sha256()) == 0) {
        snprintf(errmsg, TLS_ERRMSG_MAX, "CA: %s", reason(why, sizeof(why)));
        goto out;
    }
    rv = write_pair(x, key, cert_path, key_path, errmsg);
out:
    X509_free(x);
    EVP_PKEY_free(key);
    return rv;
}

/* Read the CA's certificate and key, and check they belong together. */
static int load_ca(const char *ca_cert,
                   const char *ca_key,
                   X509 **x,
                   EVP_PKEY **key,
                   char *errmsg)
{
    FILE *f;
    char why[256];
    int rv = tls_check_private("CA key", ca_key, errmsg);

    *x = NULL;
    *key = NULL;
    if (rv != 0) {
        return rv;
    }
    f = fopen(ca_cert, "r");
    if (f == NULL) {
        snprintf(errmsg, TLS_ERRMSG_MAX, "CA certificate %.300s: %s", ca_cert,
                 strerror(errno));
        return DR_EIO;
    }
    *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (*x == NULL) {
        snprintf(errmsg, TLS_ERRMSG_MAX,
                 "CA certificate %.300s: not a PEM certificate (%s)", ca_cert,
                 reason(why, sizeof(why)));
        return DR_EINVAL;
    }
    f = fopen(ca_key, "r");
    if (f == NULL) {
        snprintf(errmsg, TLS_ERRMSG_MAX, "CA key %.300s: %s", ca_key,
                 strerror(errno));
        return DR_EIO;
    }
    *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (*key == NULL) {
        ERR_clear_error();
        snprintf(errmsg, TLS_ERRMSG_MAX,
                 "CA key %.300s: not an unencrypted PEM private key", ca_key);
        return DR_EINVAL;
    }
    if (X509_check_private_key(*x, *key) != 1) {
        ERR_clear_error();
        snprintf(errmsg, TLS_ERRMSG_MAX,
                 "CA key %.200s is not the key of %.200s", ca_key, ca_cert);
        return DR_EINVAL;
    }
    return 0;
}

/* "DNS:a,IP:b,URI:c" for the request, after checking every name. */
static int san_text(const struct tls_issue *req,
                    char *buf,
                    size_t size,
                    char *errmsg)
{
    size_t used = 0;
    char uri[64];
    int n;

    buf[0] = '\0';
    for (size_t i = 0; i < req->n_dns; i++) {
        if (!dns_name_ok(req->dns[i])) {
            snprintf(errmsg, TLS_ERRMSG_MAX,
                     "--dns \"%.200s\" is not a DNS name (letters, digits, "
                     "'-', '.', a leading \"*.\")",
                     req->dns[i]);
            return DR_EINVAL;
        }
        n = snprintf(buf + used, size - used, "%sDNS:%s", used ? "," : "",
                     req->dns[i]);
        if (n < 0 || (size_t)n >= size - used) {
            goto long_;
        }
        used += (size_t)n;
    }
    for (size_t i = 0; i < req->n_ip; i++) {
        if (!ip_ok(req->ip[i])) {
            snprintf(errmsg, TLS_ERRMSG_MAX,
                     "--ip \"%.200s\" is not an IPv4 or IPv6 address",
                     req->ip[i]);
            return DR_EINVAL;
        }
        n = snprintf(buf + used, size - used, "%sIP:%s", used ? "," : "",
                     req->ip[i]);
        if (n < 0 || (size_t)n >= size - used) {
            goto long_;
        }
        used += (size_t)n;
    }
    if (req->kind == TLS_CERT_NODE) {
        tls_member_uri(req->node_id, uri, sizeof(uri));
        n = snprintf(buf + used, size - used, "%sURI:%s", used ? "," : "", uri);
        if (n < 0 || (size_t)n >= size - used) {
            goto long_;
        }
    }
    return 0;
long_:
    snprintf(errmsg, TLS_ERRMSG_MAX, "too many names for one certificate");
    return DR_EINVAL;
}

int tls_issue(const char *ca_cert,
              const char *ca_key,
              const struct tls_issue *req,
              const char *cert_path,
              const char *key_path,
              char *errmsg)
{
    X509 *ca = NULL, *x = NULL;
    EVP_PKEY *cakey = NULL, *key = NULL;
    X509V3_CTX v3;
    char san[8192], cn[128], why[256];
    int rv;

    if (req->kind == TLS_CERT_NODE && req->node_id == 0) {
        snprintf(errmsg, TLS_ERRMSG_MAX, "a node certificate needs --id");
        return DR_EINVAL;
    }
    if (req->kind == TLS_CERT_NODE && req->n_dns + req->n_ip == 0) {
        snprintf(errmsg, TLS_ERRMSG_MAX,
                 "a node certificate needs the names it answers to: --ip "
                 "and/or --dns (its api_address host)");
        return DR_EINVAL;
    }
    if ((rv = san_text(req, san, sizeof(san), errmsg)) != 0 ||
        (rv = load_ca(ca_cert, ca_key, &ca, &cakey, errmsg)) != 0) {
        goto out;
    }
    if (req->name != NULL && req->name[0] != '\0') {
        snprintf(cn, sizeof(cn), "%.120s", req->name);
    } else {
        snprintf(cn, sizeof(cn), "drnode-%" PRIu64, req->node_id);
    }
    rv = DR_EIO;
    if ((key = EVP_EC_gen("P-256")) == NULL ||
        (x = new_cert(key, cn,
                      req->kind == TLS_CERT_NODE ? req->region : "clients",
                      req->days)) == NULL ||
        X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1) {
        snprintf(errmsg, TLS_ERRMSG_MAX, "certificate: %s",
                 reason(why, sizeof(why)));
        goto out;
    }
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
    if (add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
        add_ext(x, &v3, NID_key_usage, "critical,digitalSignature") != 0 ||
        add_ext(x, &v3, NID_ext_key_usage,
                req->kind == TLS_CERT_NODE ? "serverAuth,clientAuth"
                                           : "clientAuth") != 0 ||
        add_ext(x, &v3, NID_subject_key_identifier, "hash") != 0 ||
        add_ext(x, &v3, NID_authority_key_identifier, "keyid") != 0 ||
        (san[0] != '\0' && add_ext(x, &v3, NID_subject_alt_name, san) != 0) ||
        X509_sign(x, cakey, EVP_sha256()) == 0) {
        snprintf(errmsg, TLS_ERRMSG_MAX, "certificate: %s",
                 reason(why, sizeof(why)));
        goto out;
    }
    rv = write_pair(x, key, cert_path, key_path, errmsg);
out:
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(cakey);
    return rv;
}
