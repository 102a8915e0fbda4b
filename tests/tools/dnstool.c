/* dnstool: run one DNS publish (node/dns) on a libuv loop, as the failover
 * runbook's DNS step does, for the integration tests.
 *
 *   dnstool [OPTIONS] publish NAME TARGET[,TARGET...]
 *   dnstool [OPTIONS] remove NAME
 *
 * OPTIONS: --provider pdns|rfc2136|route53, --zone Z, --update-server H:P,
 * --zone-id ID, --aws-credentials-file F,
 * --tsig-key-file F ("[hmac-sha256:]NAME:SECRET"), --api-url U,
 * --api-key-file F, --servers H:P[,H:P], --txt T, --ttl N,
 * --timeout-ms N. Exit 0 when the servers answered as wanted; 1 with
 * "dnstool: MESSAGE" on stderr otherwise; 2 for usage errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "aws/creds.h"
#include "dns/dns.h"
#include "http/httpc.h"

static int outcome = -1;
static char message[300];

static int usage(void)
{
    fprintf(stderr,
            "usage: dnstool [--provider pdns|rfc2136] [--zone Z] "
            "[--update-server H:P] [--tsig-key-file F] [--api-url U] "
            "[--api-key-file F] [--servers H:P,...] [--txt T] [--ttl N] "
            "[--timeout-ms N] publish NAME TARGETS | remove NAME\n");
    return 2;
}

static int read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        buf[--n] = '\0';
    }
    return 0;
}

static void split(const char *s, char (*out)[256], size_t max, size_t *n)
{
    *n = 0;
    while (*s != '\0' && *n < max) {
        size_t l = strcspn(s, ",");
        snprintf(out[*n], 256, "%.*s", (int)l, s);
        (*n)++;
        s += l;
        s += *s == ',';
    }
}

static void http_closed(struct httpc *h)
{
    (void)h;
}

static void done_cb(struct dns_publish *p, const char *err)
{
    outcome = err == NULL ? 0 : 1;
    snprintf(message, sizeof(message), "%s", err != NULL ? err : "");
    httpc_close(p->http, http_closed);
}

int main(int argc, char **argv)
{
    static struct dns_publish p;
    struct httpc http;
    char text[1024], servers[DNS_SERVERS_MAX][256], err[256];
    const char *cmd;
    int i = 1;

    memset(&p, 0, sizeof(p));
    p.ttl = 30;
    p.timeout_ms = 10000;
    snprintf(p.server_id, sizeof(p.server_id), "localhost");
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--provider") == 0) {
            p.provider = strcmp(v, "rfc2136") == 0   ? DNS_PROVIDER_RFC2136
                         : strcmp(v, "route53") == 0 ? DNS_PROVIDER_ROUTE53
                                                     : DNS_PROVIDER_PDNS;
        } else if (strcmp(k, "--zone-id") == 0) {
            snprintf(p.zone_id, sizeof(p.zone_id), "%s", v);
        } else if (strcmp(k, "--aws-credentials-file") == 0) {
            if (s3_creds_load(v, &p.aws, err) != 0) {
                fprintf(stderr, "dnstool: %s\n", err);
                return 1;
            }
        } else if (strcmp(k, "--zone") == 0) {
            snprintf(p.zone, sizeof(p.zone), "%s", v);
        } else if (strcmp(k, "--update-server") == 0) {
            snprintf(p.update_server, sizeof(p.update_server), "%s", v);
        } else if (strcmp(k, "--tsig-key-file") == 0) {
            if (read_file(v, text, sizeof(text)) != 0 ||
                dns_tsig_key_parse(text, &p.tsig, err) != 0) {
                fprintf(stderr, "dnstool: %s\n",
                        read_file(v, text, sizeof(text)) != 0
                            ? "cannot read the key file"
                            : err);
                return 1;
            }
        } else if (strcmp(k, "--api-url") == 0) {
            snprintf(p.api_url, sizeof(p.api_url), "%s", v);
        } else if (strcmp(k, "--api-key-file") == 0) {
            if (read_file(v, p.api_key, sizeof(p.api_key)) != 0) {
                fprintf(stderr, "dnstool: cannot read the API key file\n");
                return 1;
            }
        } else if (strcmp(k, "--servers") == 0) {
            split(v, servers, DNS_SERVERS_MAX, &p.n_servers);
            for (size_t s = 0; s < p.n_servers; s++) {
                snprintf(p.servers[s], sizeof(p.servers[s]), "%.63s",
                         servers[s]);
            }
        } else if (strcmp(k, "--txt") == 0) {
            snprintf(p.txt, sizeof(p.txt), "%s", v);
        } else if (strcmp(k, "--ttl") == 0) {
            p.ttl = (unsigned)atoi(v);
        } else if (strcmp(k, "--timeout-ms") == 0) {
            p.timeout_ms = atol(v);
        } else {
            return usage();
        }
    }
    if (argc - i < 2) {
        return usage();
    }
    cmd = argv[i];
    snprintf(p.name, sizeof(p.name), "%s", argv[i + 1]);
    if (strcmp(cmd, "publish") == 0 && argc - i == 3) {
        char t[DNS_TARGETS_MAX][256];
        split(argv[i + 2], t, DNS_TARGETS_MAX, &p.n_targets);
        for (size_t k = 0; k < p.n_targets; k++) {
            snprintf(p.targets[k], sizeof(p.targets[k]), "%s", t[k]);
        }
    } else if (strcmp(cmd, "remove") == 0 && argc - i == 2) {
        p.remove = true;
    } else {
        return usage();
    }
    if (httpc_init(&http, uv_default_loop()) != 0) {
        fprintf(stderr, "dnstool: cannot start the HTTP client\n");
        return 1;
    }
    if (dns_publish_start(&p, uv_default_loop(), &http, done_cb) != 0) {
        fprintf(stderr, "dnstool: %s\n", p.error);
        httpc_close(&http, http_closed);
        uv_run(uv_default_loop(), UV_RUN_DEFAULT);
        return 1;
    }
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    uv_loop_close(uv_default_loop());
    if (outcome != 0) {
        fprintf(stderr, "dnstool: %s\n", message);
        return 1;
    }
    printf("%s %s in %llu ms\n", p.remove ? "removed" : "published", p.name,
           (unsigned long long)p.elapsed_ms);
    return 0;
}
