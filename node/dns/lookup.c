/* Asking the authoritative servers what a name points at (lookup.h). */
#include "dns/lookup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/internal.h"

#define LOOKUP_RESEND_MS 300

static const uint16_t qtypes[DNS_LOOKUP_QTYPES] = {DNS_TYPE_A, DNS_TYPE_AAAA,
                                                   DNS_TYPE_TXT};
#define ALL_ANSWERED ((1u << DNS_LOOKUP_QTYPES) - 1)

int dns_lookup_servers(struct dns_lookup *l, const char *list, char *errmsg)
{
    const char *s = list;

    l->n_servers = 0;
    while (*s != '\0') {
        size_t len = strcspn(s, ",");
        char host[64];
        const char *colon;
        size_t hl;
        int port = 53;
        struct sockaddr_in sa;

        while (len > 0 && *s == ' ') {
            s++;
            len--;
        }
        if (len == 0 || len >= sizeof(l->servers[0])) {
            snprintf(errmsg, 256, "dns.servers entry \"%.*s\" is not host:port",
                     (int)(len > 60 ? 60 : len), s);
            return -1;
        }
        if (l->n_servers == DNS_SERVERS_MAX) {
            snprintf(errmsg, 256, "dns.servers has more than %d servers",
                     DNS_SERVERS_MAX);
            return -1;
        }
        memcpy(l->servers[l->n_servers], s, len);
        l->servers[l->n_servers][len] = '\0';
        colon = memchr(s, ':', len);
        hl = colon != NULL ? (size_t)(colon - s) : len;
        if (colon != NULL) {
            char *end;
            long p = strtol(colon + 1, &end, 10);
            port = (end == s + len && p > 0 && p <= 65535) ? (int)p : -1;
        }
        if (hl == 0 || hl >= sizeof(host) || port < 0) {
            snprintf(errmsg, 256, "dns.servers entry \"%s\" is not host:port",
                     l->servers[l->n_servers]);
            return -1;
        }
        memcpy(host, s, hl);
        host[hl] = '\0';
        if (uv_ip4_addr(host, port, &sa) != 0) {
            snprintf(errmsg, 256,
                     "dns.servers entry \"%s\" is not an IPv4 address",
                     l->servers[l->n_servers]);
            return -1;
        }
        l->results[l->n_servers].sa = sa;
        l->n_servers++;
        s += len;
        if (*s == ',') {
            s++;
        }
    }
    return (int)l->n_servers;
}

static void closed_cb(uv_handle_t *h)
{
    struct dns_lookup *l = h->data;
    if (--l->open_handles == 0) {
        l->cb(l);
    }
}

static void finish(struct dns_lookup *l, const char *why)
{
    if (l->done) {
        return;
    }
    l->done = true;
    for (size_t i = 0; i < l->n_servers; i++) {
        struct dns_lookup_result *r = &l->results[i];
        if (r->answered != ALL_ANSWERED && r->error[0] == '\0') {
            snprintf(r->error, sizeof(r->error), "%s", why);
        }
    }
    uv_timer_stop(&l->timer);
    uv_udp_recv_stop(&l->udp);
    uv_close((uv_handle_t *)&l->timer, closed_cb);
    uv_close((uv_handle_t *)&l->udp, closed_cb);
}

/* Send server i's unanswered queries. */
static void send_queries(struct dns_lookup *l, size_t i)
{
    struct dns_lookup_result *r = &l->results[i];

    for (int q = 0; q < DNS_LOOKUP_QTYPES; q++) {
        uint8_t *msg;
        uv_udp_send_t *s;
        uv_buf_t b;
        size_t len;
        int rv;

        if ((r->answered & (1u << q)) != 0) {
            continue;
        }
        msg = malloc(sizeof(uv_udp_send_t) + DNS_MSG_MAX);
        if (msg == NULL) {
            snprintf(r->error, sizeof(r->error), "out of memory");
            return;
        }
        s = (uv_udp_send_t *)(void *)msg;
        len = dns_wire_query(r->ids[q], l->name, qtypes[q],
                             msg + sizeof(uv_udp_send_t));
        if (len == 0) {
            free(msg);
            snprintf(r->error, sizeof(r->error), "%s",
                     "the name is not a valid domain name");
            return;
        }
        b = uv_buf_init((char *)msg + sizeof(uv_udp_send_t), (unsigned)len);
        rv = uv_udp_send(s, &l->udp, &b, 1, (const struct sockaddr *)&r->sa,
                         dns__send_cb);
        if (rv != 0) {
            free(msg);
            snprintf(r->error, sizeof(r->error), "cannot send: %s",
                     uv_strerror(rv));
            return;
        }
    }
}

static bool all_done(const struct dns_lookup *l)
{
    for (size_t i = 0; i < l->n_servers; i++) {
        const struct dns_lookup_result *r = &l->results[i];
        if (r->answered != ALL_ANSWERED && r->error[0] == '\0') {
            return false;
        }
    }
    return true;
}

static void add_answers(struct dns_lookup_result *r,
                        const struct dns_answer *ans,
                        size_t n)
{
    for (size_t k = 0; k < n; k++) {
        bool seen = false;
        for (size_t j = 0; j < r->n_answers && !seen; j++) {
            seen = r->answers[j].type == ans[k].type &&
                   strcmp(r->answers[j].text, ans[k].text) == 0;
        }
        if (!seen && r->n_answers < DNS_ANSWERS_MAX) {
            r->answers[r->n_answers++] = ans[k];
        }
    }
}

static void recv_cb(uv_udp_t *u,
                    ssize_t nread,
                    const uv_buf_t *buf,
                    const struct sockaddr *from,
                    unsigned flags)
{
    struct dns_lookup *l = u->data;
    const uint8_t *m = (const uint8_t *)buf->base;

    (void)flags;
    if (l->done || nread < 2 || from == NULL || from->sa_family != AF_INET) {
        return;
    }
    for (size_t i = 0; i < l->n_servers; i++) {
        struct dns_lookup_result *r = &l->results[i];
        const struct sockaddr_in *sin = (const struct sockaddr_in *)from;
        if (sin->sin_port != r->sa.sin_port ||
            sin->sin_addr.s_addr != r->sa.sin_addr.s_addr) {
            continue;
        }
        for (int q = 0; q < DNS_LOOKUP_QTYPES; q++) {
            struct dns_answer ans[DNS_ANSWERS_MAX];
            size_t n = DNS_ANSWERS_MAX;
            int rcode = 0;
            char err[256];
            if ((r->answered & (1u << q)) != 0 ||
                (uint16_t)(m[0] << 8 | m[1]) != r->ids[q]) {
                continue;
            }
            if (dns_wire_parse(m, (size_t)nread, r->ids[q], &rcode, ans, &n,
                               err) != 0) {
                snprintf(r->error, sizeof(r->error), "bad reply: %.140s", err);
                break;
            }
            r->answered |= 1u << q;
            if (q == 0) {
                r->rcode = rcode;
            }
            if (rcode != 0 && rcode != DNS_RCODE_NXDOMAIN) {
                snprintf(r->error, sizeof(r->error), "answered rcode %d",
                         rcode);
            }
            add_answers(r, ans, n);
            r->ms = uv_now(l->loop) - l->t0;
            break;
        }
    }
    if (all_done(l)) {
        finish(l, "");
    }
}

static void timer_cb(uv_timer_t *t)
{
    struct dns_lookup *l = t->data;

    if ((long)(uv_now(l->loop) - l->t0) >= l->timeout_ms) {
        finish(l, "no answer in time");
        return;
    }
    for (size_t i = 0; i < l->n_servers; i++) {
        if (l->results[i].error[0] == '\0') {
            send_queries(l, i);
        }
    }
    if (all_done(l)) {
        finish(l, "");
    }
}

void dns_lookup_start(struct dns_lookup *l, uv_loop_t *loop, dns_lookup_cb cb)
{
    uint16_t id = (uint16_t)(uv_hrtime() >> 10);

    l->loop = loop;
    l->cb = cb;
    l->done = false;
    l->t0 = uv_now(loop);
    if (l->timeout_ms <= 0) {
        l->timeout_ms = 2000;
    }
    for (size_t i = 0; i < l->n_servers; i++) {
        struct dns_lookup_result *r = &l->results[i];
        struct sockaddr_in sa = r->sa;
        memset(r, 0, sizeof(*r));
        r->sa = sa;
        snprintf(r->server, sizeof(r->server), "%s", l->servers[i]);
        for (int q = 0; q < DNS_LOOKUP_QTYPES; q++) {
            r->ids[q] = id++;
        }
    }
    uv_udp_init(loop, &l->udp);
    uv_timer_init(loop, &l->timer);
    l->udp.data = l->timer.data = l;
    l->open_handles = 2;
    if (uv_udp_recv_start(&l->udp, dns__alloc_cb, recv_cb) != 0) {
        finish(l, "cannot receive DNS answers");
        return;
    }
    uv_timer_start(&l->timer, timer_cb, LOOKUP_RESEND_MS, LOOKUP_RESEND_MS);
    for (size_t i = 0; i < l->n_servers; i++) {
        send_queries(l, i);
    }
    if (all_done(l)) {
        finish(l, "");
    }
}

void dns_lookup_cancel(struct dns_lookup *l)
{
    finish(l, "cancelled");
}
