/* DNS publish on the loop: PowerDNS PATCH, then UDP queries to each
 * authoritative server until the answer is the targets (dns.h). */
#include "dns/dns.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "common/err.h"
#include "dns/internal.h"
#include "dns/update.h"

#define DNS_RETRY_MS 200
#define DNS_REQ_TIMEOUT_MS 5000
#define DNS_UPDATE_RESEND_MS 1000

static bool is_ipv4(const char *s)
{
    struct in_addr a;
    return inet_pton(AF_INET, s, &a) == 1;
}

static bool is_ipv6(const char *s)
{
    struct in6_addr a;
    return inet_pton(AF_INET6, s, &a) == 1;
}

/* The record type the targets make: A, AAAA or CNAME (one host name); 0
 * when they mix (p->error says why). */
int dns__targets_type(struct dns_publish *p)
{
    bool v4 = false, v6 = false, host = false;

    for (size_t i = 0; i < p->n_targets; i++) {
        if (is_ipv4(p->targets[i])) {
            v4 = true;
        } else if (is_ipv6(p->targets[i])) {
            v6 = true;
        } else {
            host = true;
        }
    }
    if (p->n_targets == 0) {
        snprintf(p->error, sizeof(p->error), "the region has no dns_targets");
        return 0;
    }
    if (host && (v4 || v6 || p->n_targets > 1)) {
        snprintf(p->error, sizeof(p->error),
                 "dns_targets mix a host name with other targets: a CNAME "
                 "must stand alone");
        return 0;
    }
    if (v4 && v6) {
        snprintf(p->error, sizeof(p->error),
                 "dns_targets mix IPv4 and IPv6 addresses");
        return 0;
    }
    return host ? DNS_TYPE_CNAME : v6 ? DNS_TYPE_AAAA : DNS_TYPE_A;
}

/* "name." */
void dns__fqdn(const char *in, char *out, size_t cap)
{
    size_t n = strlen(in);
    snprintf(out, cap, "%s%s", in, n > 0 && in[n - 1] == '.' ? "" : ".");
}

static void json_str(char *out, size_t cap, size_t *len, const char *s)
{
    *len += (size_t)snprintf(out + *len, *len < cap ? cap - *len : 0, "\"");
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\') {
            *len += (size_t)snprintf(out + *len, *len < cap ? cap - *len : 0,
                                     "\\%c", *s);
        } else if ((unsigned char)*s >= 0x20) {
            *len += (size_t)snprintf(out + *len, *len < cap ? cap - *len : 0,
                                     "%c", *s);
        }
    }
    *len += (size_t)snprintf(out + *len, *len < cap ? cap - *len : 0, "\"");
}

char *dns_pdns_body(struct dns_publish *p)
{
    size_t cap = 16384, len = 0;
    char *out = malloc(cap), name[300], rec[300];
    const char *tname;

    if (out == NULL) {
        snprintf(p->error, sizeof(p->error), "out of memory");
        return NULL;
    }
    if (p->remove) {
        static const char *const all[] = {"A", "AAAA", "CNAME", "TXT"};
        p->qtype = DNS_TYPE_A;
        dns__fqdn(p->name, name, sizeof(name));
        len += (size_t)snprintf(out + len, cap - len, "{\"rrsets\":[");
        for (int k = 0; k < 4; k++) {
            len += (size_t)snprintf(out + len, cap - len,
                                    "%s{\"name\":", k > 0 ? "," : "");
            json_str(out, cap, &len, name);
            len += (size_t)snprintf(out + len, cap - len,
                                    ",\"type\":\"%s\",\"changetype\":"
                                    "\"DELETE\",\"records\":[]}",
                                    all[k]);
        }
        snprintf(out + len, cap - len, "]}");
        return out;
    }
    p->qtype = dns__targets_type(p);
    if (p->qtype == 0) {
        free(out);
        return NULL;
    }
    tname = p->qtype == DNS_TYPE_A      ? "A"
            : p->qtype == DNS_TYPE_AAAA ? "AAAA"
                                        : "CNAME";
    dns__fqdn(p->name, name, sizeof(name));
    len += (size_t)snprintf(out + len, cap - len, "{\"rrsets\":[{\"name\":");
    json_str(out, cap, &len, name);
    len += (size_t)snprintf(out + len, cap - len,
                            ",\"type\":\"%s\",\"ttl\":%u,\"changetype\":"
                            "\"REPLACE\",\"records\":[",
                            tname, p->ttl);
    for (size_t i = 0; i < p->n_targets; i++) {
        if (p->qtype == DNS_TYPE_CNAME) {
            dns__fqdn(p->targets[i], rec, sizeof(rec));
        } else {
            snprintf(rec, sizeof(rec), "%s", p->targets[i]);
        }
        len += (size_t)snprintf(out + len, cap - len,
                                "%s{\"content\":", i > 0 ? "," : "");
        json_str(out, cap, &len, rec);
        len += (size_t)snprintf(out + len, cap - len, ",\"disabled\":false}");
    }
    /* The other kinds at that name go, so a CNAME never stands beside an
     * A left from before (and vice versa). */
    for (int k = 0; k < 3; k++) {
        static const char *const kinds[] = {"A", "AAAA", "CNAME"};
        if (strcmp(kinds[k], tname) == 0) {
            continue;
        }
        len += (size_t)snprintf(out + len, cap - len, "]},{\"name\":");
        json_str(out, cap, &len, name);
        len += (size_t)snprintf(out + len, cap - len,
                                ",\"type\":\"%s\",\"changetype\":\"DELETE\","
                                "\"records\":[",
                                kinds[k]);
    }
    snprintf(rec, sizeof(rec), "\"%s\"", p->txt);
    len += (size_t)snprintf(out + len, cap - len, "]},{\"name\":");
    json_str(out, cap, &len, name);
    len += (size_t)snprintf(out + len, cap - len,
                            ",\"type\":\"TXT\",\"ttl\":%u,\"changetype\":"
                            "\"REPLACE\",\"records\":[{\"content\":",
                            p->ttl);
    json_str(out, cap, &len, rec);
    len += (size_t)snprintf(out + len, cap - len, ",\"disabled\":false}]}]}");
    if (len >= cap) {
        snprintf(p->error, sizeof(p->error), "too many targets");
        free(out);
        return NULL;
    }
    return out;
}

/* Ending. */

static void closed_cb(uv_handle_t *h)
{
    struct dns_publish *p = h->data;
    if (--p->open_handles == 0) {
        p->cb(p, p->error[0] != '\0' ? p->error : NULL);
    }
}

void dns__finish(struct dns_publish *p, const char *fmt, ...)
{
    if (p->done) {
        return;
    }
    p->done = true;
    p->elapsed_ms = uv_now(p->loop) - p->t0;
    memset(p->api_key, 0, sizeof(p->api_key));
    OPENSSL_cleanse(&p->tsig, sizeof(p->tsig));
    OPENSSL_cleanse(&p->aws, sizeof(p->aws));
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->error, sizeof(p->error), fmt, ap);
        va_end(ap);
    } else {
        p->error[0] = '\0';
    }
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, closed_cb);
    uv_close((uv_handle_t *)&p->udp, closed_cb);
}

void dns_publish_cancel(struct dns_publish *p)
{
    if (!p->done) {
        httpc_cancel(&p->req);
        dns__finish(p, "cancelled");
    }
}

/* Confirming. */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether the answers are exactly the targets (with remove: none). */
bool dns__same(struct dns_publish *p, const struct dns_answer *ans, size_t n)
{
    if (p->remove) {
        for (size_t i = 0; i < n; i++) {
            if (ans[i].type == DNS_TYPE_A || ans[i].type == DNS_TYPE_AAAA ||
                ans[i].type == DNS_TYPE_CNAME) {
                return false;
            }
        }
        return true;
    }
    const char *got[DNS_ANSWERS_MAX], *want[DNS_TARGETS_MAX];
    char norm[DNS_TARGETS_MAX][300];
    size_t k = 0;

    for (size_t i = 0; i < n && k < DNS_ANSWERS_MAX; i++) {
        if (ans[i].type == p->qtype) {
            got[k++] = ans[i].text;
        }
    }
    if (k != p->n_targets) {
        return false;
    }
    for (size_t i = 0; i < p->n_targets; i++) {
        if (p->qtype == DNS_TYPE_CNAME) {
            dns__fqdn(p->targets[i], norm[i], sizeof(norm[i]));
        } else {
            snprintf(norm[i], sizeof(norm[i]), "%s", p->targets[i]);
        }
        want[i] = norm[i];
    }
    qsort(got, k, sizeof(*got), cmp_str);
    qsort(want, k, sizeof(*want), cmp_str);
    for (size_t i = 0; i < k; i++) {
        if (strcasecmp(got[i], want[i]) != 0) {
            return false;
        }
    }
    return true;
}

static void send_query(struct dns_publish *p);
static void send_update(struct dns_publish *p);
static void update_answer(struct dns_publish *p, const uint8_t *m, size_t n);

/* The loop's one receive buffer for DNS replies (lookup.c shares it): a
 * reply is handled inside recv_cb, before the next read. */
void dns__alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char slab[DNS_MSG_MAX];
    (void)h;
    (void)hint;
    buf->base = slab;
    buf->len = sizeof(slab);
}

static void recv_cb(uv_udp_t *u,
                    ssize_t nread,
                    const uv_buf_t *buf,
                    const struct sockaddr *from,
                    unsigned flags)
{
    struct dns_publish *p = u->data;
    struct dns_answer ans[DNS_ANSWERS_MAX];
    size_t n = DNS_ANSWERS_MAX;
    int rcode = 0;
    char err[256];

    (void)from;
    (void)flags;
    if (p->done || nread <= 0) {
        return;
    }
    if (p->updating) {
        update_answer(p, (const uint8_t *)buf->base, (size_t)nread);
        return;
    }
    if (dns_wire_parse((const uint8_t *)buf->base, (size_t)nread, p->qid,
                       &rcode, ans, &n, err) != 0) {
        return; /* a stray datagram: wait for ours */
    }
    if ((rcode == 0 || (p->remove && rcode == DNS_RCODE_NXDOMAIN)) &&
        dns__same(p, ans, n)) {
        if (++p->server >= p->n_servers) {
            dns__finish(p, NULL);
            return;
        }
        send_query(p);
        return;
    }
    snprintf(p->last, sizeof(p->last), "rcode %d, %zu answers%s%.200s", rcode,
             n, n > 0 ? ", first " : "", n > 0 ? ans[0].text : "");
}

static int server_addr(const char *hp, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(hp, ':');
    size_t hl = colon != NULL ? (size_t)(colon - hp) : strlen(hp);
    int port = colon != NULL ? atoi(colon + 1) : 53;

    if (hl >= sizeof(host) || port <= 0 || port > 65535) {
        return -1;
    }
    memcpy(host, hp, hl);
    host[hl] = '\0';
    return uv_ip4_addr(host, port, sa);
}

/* A query or update sent from one malloc'ed block. */
void dns__send_cb(uv_udp_send_t *s, int status)
{
    (void)status;
    free(s);
}

static void send_query(struct dns_publish *p)
{
    uint8_t *msg = malloc(DNS_MSG_MAX + sizeof(uv_udp_send_t));
    uv_udp_send_t *s = (uv_udp_send_t *)(void *)msg;
    uint8_t *q = msg + sizeof(uv_udp_send_t);
    struct sockaddr_in sa;
    size_t len;
    uv_buf_t b;

    if (msg == NULL) {
        return; /* the timer tries again */
    }
    p->qid = (uint16_t)(p->qid * 31 + 7 + (uint16_t)uv_now(p->loop));
    len = dns_wire_query(p->qid, p->name, (uint16_t)p->qtype, q);
    if (len == 0 || server_addr(p->servers[p->server], &sa) != 0) {
        free(msg);
        dns__finish(p, "cannot query %s for %s", p->servers[p->server],
                    p->name);
        return;
    }
    b = uv_buf_init((char *)q, (unsigned)len);
    if (uv_udp_send(s, &p->udp, &b, 1, (const struct sockaddr *)&sa,
                    dns__send_cb) != 0) {
        free(msg);
    }
}

static void timer_cb(uv_timer_t *t)
{
    struct dns_publish *p = t->data;

    if (p->done) {
        return;
    }
    if (p->provider == DNS_PROVIDER_ROUTE53 && p->r53_phase != DNS_R53_DONE) {
        if (uv_now(p->loop) - p->t0 >= (uint64_t)p->timeout_ms) {
            httpc_cancel(&p->req);
            dns__finish(
                p, "Route 53 did not %s %s within %ld ms (last: %s)",
                p->r53_phase == DNS_R53_WAIT ? "report INSYNC for"
                                             : "list the new records of",
                p->name, p->timeout_ms, p->last[0] ? p->last : "no answer");
            return;
        }
        dns__r53_tick(p);
        return;
    }
    if (p->updating) {
        if (uv_now(p->loop) - p->t0 >= (uint64_t)p->timeout_ms) {
            dns__finish(p, "%s did not answer the update of %s within %ld ms",
                        p->update_server, p->name, p->timeout_ms);
        } else if (uv_now(p->loop) - p->upd_sent >= DNS_UPDATE_RESEND_MS) {
            send_update(p); /* UDP: the update or its answer was lost */
        }
        return;
    }
    if (uv_now(p->loop) - p->t0 >= (uint64_t)p->timeout_ms) {
        dns__finish(p, "%s did not answer %s with %s within %ld ms (last: %s)",
                    p->servers[p->server], p->name,
                    p->remove ? "no records" : "the new targets", p->timeout_ms,
                    p->last[0] ? p->last : "no answer");
        return;
    }
    send_query(p);
}

/* Updating through RFC 2136. */

static const char *rcode_name(int rcode)
{
    switch (rcode) {
        case 1:
            return "FORMERR";
        case 2:
            return "SERVFAIL";
        case 3:
            return "NXDOMAIN";
        case 4:
            return "NOTIMP";
        case 5:
            return "REFUSED (the server's update policy denies it)";
        case 8:
            return "NXRRSET";
        case 9:
            return "NOTAUTH (the server is not the zone's primary, or "
                   "the key is not allowed)";
        case 10:
            return "NOTZONE (the name is not in the zone)";
        default:
            return "error";
    }
}

static void send_update(struct dns_publish *p)
{
    uv_udp_send_t *s = malloc(sizeof(*s));
    struct sockaddr_in sa;
    uv_buf_t b = uv_buf_init((char *)p->upd, (unsigned)p->upd_len);

    p->upd_sent = uv_now(p->loop);
    if (s == NULL) {
        return; /* the timer sends again */
    }
    if (server_addr(p->update_server, &sa) != 0 ||
        uv_udp_send(s, &p->udp, &b, 1, (const struct sockaddr *)&sa,
                    dns__send_cb) != 0) {
        free(s);
    }
}

void dns__confirm(struct dns_publish *p)
{
    if (p->n_servers == 0) {
        dns__finish(p, NULL);
        return;
    }
    p->server = 0;
    send_query(p);
}

void dns__open(struct dns_publish *p)
{
    uv_udp_init(p->loop, &p->udp);
    uv_timer_init(p->loop, &p->timer);
    p->udp.data = p->timer.data = p;
    p->open_handles = 2;
    if (uv_udp_recv_start(&p->udp, dns__alloc_cb, recv_cb) != 0) {
        dns__finish(p, "cannot receive DNS answers");
        return;
    }
    uv_timer_start(&p->timer, timer_cb, DNS_RETRY_MS, DNS_RETRY_MS);
}

static void update_answer(struct dns_publish *p, const uint8_t *m, size_t n)
{
    char err[256];
    int rcode = 0;

    if (n < 2 || (uint16_t)((m[0] << 8) | m[1]) != p->qid) {
        return; /* not ours */
    }
    if (dns_update_check(m, n, p->qid, &p->tsig, p->upd_mac, p->upd_mac_len,
                         &rcode, err) != 0) {
        dns__finish(p, "RFC 2136 update of %s at %s: %s", p->name,
                    p->update_server, err);
        return;
    }
    if (rcode != 0) {
        dns__finish(p, "RFC 2136 update of %s at %s refused: rcode %d %s",
                    p->name, p->update_server, rcode, rcode_name(rcode));
        return;
    }
    p->updating = false;
    OPENSSL_cleanse(&p->tsig, sizeof(p->tsig));
    dns__confirm(p);
}

static int rfc2136_start(struct dns_publish *p)
{
    const char *targets[DNS_TARGETS_MAX];
    struct sockaddr_in sa;
    struct dns_update u;
    char err[256];

    if (server_addr(p->update_server, &sa) != 0) {
        snprintf(p->error, sizeof(p->error),
                 "dns.update_server \"%s\" is not an IPv4 host:port",
                 p->update_server);
        return DR_EINVAL;
    }
    if (p->tsig.secret_len == 0) {
        snprintf(p->error, sizeof(p->error),
                 "no TSIG key: set [dns] tsig_key_file on this node");
        return DR_EINVAL;
    }
    p->qtype = p->remove ? DNS_TYPE_A : dns__targets_type(p);
    if (p->qtype == 0) {
        return DR_EINVAL;
    }
    for (size_t i = 0; i < p->n_targets; i++) {
        targets[i] = p->targets[i];
    }
    p->qid = (uint16_t)(uv_hrtime() ^ (uv_hrtime() >> 16));
    u = (struct dns_update){p->qid,       p->zone, p->name, p->qtype, targets,
                            p->n_targets, p->txt,  p->ttl,  p->remove};
    p->upd_len =
        dns_update_encode(&u, &p->tsig, (uint64_t)time(NULL), p->upd,
                          sizeof(p->upd), p->upd_mac, &p->upd_mac_len, err);
    if (p->upd_len == 0) {
        snprintf(p->error, sizeof(p->error), "%s", err);
        return DR_EINVAL;
    }
    p->updating = true;
    dns__open(p);
    if (!p->done) {
        send_update(p);
    }
    return 0;
}

/* Updating. */

static void patched_cb(struct httpc_req *r,
                       long status,
                       const char *body,
                       size_t len,
                       const char *err)
{
    struct dns_publish *p = r->data;

    (void)len;
    memset(p->api_key, 0, sizeof(p->api_key));
    if (p->done) {
        return;
    }
    if (status < 200 || status > 299) {
        if (status == 0) {
            dns__finish(p, "PowerDNS API %s: %s", p->api_url,
                        err ? err : "failed");
        } else {
            dns__finish(p, "PowerDNS API answered %ld: %.160s", status,
                        body ? body : "");
        }
        return;
    }
    if (p->n_servers == 0) {
        dns__finish(p, NULL);
        return;
    }
    p->server = 0;
    if (uv_udp_recv_start(&p->udp, dns__alloc_cb, recv_cb) != 0) {
        dns__finish(p, "cannot receive DNS answers");
        return;
    }
    send_query(p);
    uv_timer_start(&p->timer, timer_cb, DNS_RETRY_MS, DNS_RETRY_MS);
}

int dns_publish_start(struct dns_publish *p,
                      uv_loop_t *loop,
                      struct httpc *http,
                      dns_publish_cb cb)
{
    char url[800], key[300], zone[300];
    const char *headers[3];
    char *body;

    p->loop = loop;
    p->http = http;
    p->cb = cb;
    p->done = false;
    p->error[0] = p->last[0] = '\0';
    p->t0 = uv_now(loop);
    if (p->timeout_ms <= 0) {
        p->timeout_ms = 30000;
    }
    for (size_t i = 0; i < p->n_servers; i++) {
        struct sockaddr_in sa;
        if (server_addr(p->servers[i], &sa) != 0) {
            snprintf(p->error, sizeof(p->error),
                     "dns server \"%s\" is not an IPv4 host:port",
                     p->servers[i]);
            return DR_EINVAL;
        }
    }
    if (p->provider == DNS_PROVIDER_RFC2136 ||
        p->provider == DNS_PROVIDER_ROUTE53) {
        int rv = p->provider == DNS_PROVIDER_RFC2136 ? rfc2136_start(p)
                                                     : dns__r53_start(p);
        memset(p->api_key, 0, sizeof(p->api_key));
        if (rv != 0) {
            OPENSSL_cleanse(&p->tsig, sizeof(p->tsig));
            OPENSSL_cleanse(&p->aws, sizeof(p->aws));
        }
        return rv;
    }
    body = dns_pdns_body(p);
    if (body == NULL) {
        return DR_EINVAL;
    }
    dns__fqdn(p->zone, zone, sizeof(zone));
    snprintf(url, sizeof(url), "%s/api/v1/servers/%s/zones/%s", p->api_url,
             p->server_id[0] ? p->server_id : "localhost", zone);
    snprintf(key, sizeof(key), "X-API-Key: %s", p->api_key);
    headers[0] = key;
    headers[1] = "Content-Type: application/json";
    headers[2] = NULL;
    uv_udp_init(loop, &p->udp);
    uv_timer_init(loop, &p->timer);
    p->udp.data = p->timer.data = p;
    p->open_handles = 2;
    p->req.data = p;
    if (httpc_send(http, &p->req, "PATCH", url, headers, body, 0,
                   DNS_REQ_TIMEOUT_MS, patched_cb) != 0) {
        memset(key, 0, sizeof(key));
        free(body);
        dns__finish(p, "cannot start the PowerDNS request");
        return 0; /* the callback reports it */
    }
    memset(key, 0, sizeof(key));
    free(body);
    return 0;
}
