/* drctl certs: the cluster CA and node and client certificates (no
 * cluster contact; files only). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "drctl.h"
#include "tls/tls.h"

#define CERTS_CA_DAYS 3650
#define CERTS_DAYS 365

/* "D/NAME.EXT" into buf; a usage error when it does not fit. */
static int certs__path(const struct drctl *d,
                       const char *dir,
                       const char *name,
                       const char *ext,
                       char *buf,
                       size_t size)
{
    int n = snprintf(buf, size, "%s/%s.%s", dir, name, ext);
    if (n < 0 || (size_t)n >= size) {
        return drctl_usage_error(d, "--dir: path too long");
    }
    return 0;
}

static int certs__days(const struct drctl *d,
                       const char *text,
                       unsigned def,
                       unsigned *out)
{
    int64_t v;
    int rv;
    if (text == NULL) {
        *out = def;
        return 0;
    }
    rv = drctl_parse_int(d, "--days", text, 1, 36500, &v);
    *out = (unsigned)v;
    return rv;
}

/* A file name part: letters, digits, '-', '_', '.'; not "." or "..". */
static int certs__name(const struct drctl *d, const char *what, const char *s)
{
    if (s[0] == '\0' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 ||
        strlen(s) > 64) {
        return drctl_usage_error(d, "%s: \"%s\" is not a usable name", what, s);
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
              *p == '.')) {
            return drctl_usage_error(
                d, "%s: \"%s\" may hold only letters, digits, '-', '_', '.'",
                what, s);
        }
    }
    return 0;
}

/* mkdir -p, the last one private (it will hold the CA key). */
static int certs__mkdirs(const char *dir)
{
    char buf[1024];
    size_t n = strlen(dir);

    if (n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (buf[i] == '/') {
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            buf[i] = '/';
        }
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static int certs__init(struct drctl *d, int argc, char **argv)
{
    const char *dir = NULL, *days_text = NULL, *name = NULL;
    const struct drctl_opt opts[] = {
        {"--dir", &dir, NULL},
        {"--days", &days_text, NULL},
        {"--name", &name, NULL},
        {NULL, NULL, NULL},
    };
    char cert[1100], key[1100], err[TLS_ERRMSG_MAX];
    unsigned days;
    int rv = drctl_parse_opts(d, argc, argv, opts);

    if (rv != 0) {
        return rv;
    }
    if (dir == NULL || dir[0] == '\0') {
        return drctl_usage_error(d, "missing --dir");
    }
    if ((rv = certs__days(d, days_text, CERTS_CA_DAYS, &days)) != 0 ||
        (rv = certs__path(d, dir, "ca", "crt", cert, sizeof(cert))) != 0 ||
        (rv = certs__path(d, dir, "ca", "key", key, sizeof(key))) != 0) {
        return rv;
    }
    if (certs__mkdirs(dir) != 0) {
        return drctl_fail(d, "--dir %s: %s", dir, strerror(errno));
    }
    if (tls_ca_create(cert, key, name, days, err) != 0) {
        return drctl_fail(d, "%s", err);
    }
    printf(
        "CA certificate %s (valid %u days)\nCA key %s (keep it off the "
        "nodes: only drctl certs issue needs it)\n",
        cert, days, key);
    return 0;
}

/* Split a comma list (modified in place) into out[max]. */
static int certs__list(const struct drctl *d,
                       const char *what,
                       char *text,
                       const char **out,
                       size_t *n)
{
    char *save = NULL;
    *n = 0;
    for (char *t = strtok_r(text, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        if (*n == TLS_SANS_MAX) {
            return drctl_usage_error(d, "%s: at most %d names", what,
                                     TLS_SANS_MAX);
        }
        out[(*n)++] = t;
    }
    if (*n == 0) {
        return drctl_usage_error(d, "%s: empty list", what);
    }
    return 0;
}

static int certs__issue(struct drctl *d, int argc, char **argv)
{
    const char *dir = NULL, *id = NULL, *region = NULL, *ip = NULL, *dns = NULL,
               *client = NULL, *days_text = NULL, *out = NULL;
    const struct drctl_opt opts[] = {
        {"--dir", &dir, NULL},        {"--id", &id, NULL},
        {"--region", &region, NULL},  {"--ip", &ip, NULL},
        {"--dns", &dns, NULL},        {"--client", &client, NULL},
        {"--days", &days_text, NULL}, {"--out", &out, NULL},
        {NULL, NULL, NULL},
    };
    struct tls_issue req;
    char ca_cert[1100], ca_key[1100], cert[1100], key[1100], name[80];
    char ip_buf[2048], dns_buf[2048], err[TLS_ERRMSG_MAX];
    int64_t idv = 0;
    int rv = drctl_parse_opts(d, argc, argv, opts);

    if (rv != 0) {
        return rv;
    }
    memset(&req, 0, sizeof(req));
    if (dir == NULL || dir[0] == '\0') {
        return drctl_usage_error(d, "missing --dir");
    }
    if ((id == NULL) == (client == NULL)) {
        return drctl_usage_error(
            d, "give either --id N --region R (a node) or --client NAME");
    }
    if (id != NULL) {
        if (region == NULL || region[0] == '\0') {
            return drctl_usage_error(d, "a node certificate needs --region");
        }
        if ((rv = drctl_parse_int(d, "--id", id, 1, INT64_MAX, &idv)) != 0) {
            return rv;
        }
        if (ip == NULL && dns == NULL) {
            return drctl_usage_error(
                d,
                "a node certificate needs --ip and/or --dns: the host of "
                "its api_address");
        }
        req.kind = TLS_CERT_NODE;
        req.node_id = (uint64_t)idv;
        req.region = region;
        snprintf(name, sizeof(name), "node-%" PRId64, idv);
    } else {
        if (ip != NULL || dns != NULL || region != NULL) {
            return drctl_usage_error(
                d, "--ip, --dns and --region are for node certificates");
        }
        if ((rv = certs__name(d, "--client", client)) != 0) {
            return rv;
        }
        req.kind = TLS_CERT_CLIENT;
        req.name = client;
        snprintf(name, sizeof(name), "client-%s", client);
    }
    if (ip != NULL) {
        snprintf(ip_buf, sizeof(ip_buf), "%s", ip);
        if ((rv = certs__list(d, "--ip", ip_buf, req.ip, &req.n_ip)) != 0) {
            return rv;
        }
    }
    if (dns != NULL) {
        snprintf(dns_buf, sizeof(dns_buf), "%s", dns);
        if ((rv = certs__list(d, "--dns", dns_buf, req.dns, &req.n_dns)) != 0) {
            return rv;
        }
    }
    if (out != NULL && (rv = certs__name(d, "--out", out)) != 0) {
        return rv;
    }
    if ((rv = certs__days(d, days_text, CERTS_DAYS, &req.days)) != 0 ||
        (rv = certs__path(d, dir, "ca", "crt", ca_cert, sizeof(ca_cert))) !=
            0 ||
        (rv = certs__path(d, dir, "ca", "key", ca_key, sizeof(ca_key))) != 0 ||
        (rv = certs__path(d, dir, out ? out : name, "crt", cert,
                          sizeof(cert))) != 0 ||
        (rv = certs__path(d, dir, out ? out : name, "key", key, sizeof(key))) !=
            0) {
        return rv;
    }
    if (tls_issue(ca_cert, ca_key, &req, cert, key, err) != 0) {
        return drctl_fail(d, "%s", err);
    }
    printf("certificate %s\nkey %s (mode 0600)\n", cert, key);
    return 0;
}

int drctl_cmd_certs(struct drctl *d, int argc, char **argv)
{
    static const struct drctl_subcommand subs[] = {
        {"init", certs__init},
        {"issue", certs__issue},
        {NULL, NULL},
    };
    return drctl_dispatch(d, argc, argv, subs);
}
