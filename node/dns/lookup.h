/* What the authoritative servers answer for a name now: each server of a
 * list is asked for the name's A, AAAA (with any CNAME on the way) and TXT
 * records over UDP on the loop, unanswered queries are sent again, and the
 * callback gets every server's answers or the reason it gave none. Read by
 * the status page and /metrics to show where the service name points while
 * a failover runs (dns.c changes records; this only looks). */
#ifndef DR_DNS_LOOKUP_H
#define DR_DNS_LOOKUP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "dns/dns.h"
#include "dns/wire.h"

#define DNS_LOOKUP_QTYPES 3 /* A, AAAA, TXT */

struct dns_lookup_result
{
    char server[64];
    char error[160]; /* "" when every query was answered */
    int rcode;       /* of the A query's reply (3: NXDOMAIN) */
    uint64_t ms;     /* from the first query to the last answer */
    struct dns_answer answers[DNS_ANSWERS_MAX];
    size_t n_answers;
    /* Private. */
    struct sockaddr_in sa;
    uint16_t ids[DNS_LOOKUP_QTYPES];
    unsigned answered; /* bit i: query i answered */
};

struct dns_lookup;
typedef void (*dns_lookup_cb)(struct dns_lookup *l);

struct dns_lookup
{
    /* Inputs. */
    char name[256];
    char servers[DNS_SERVERS_MAX][64]; /* IPv4 host[:port] (53) */
    size_t n_servers;
    long timeout_ms;
    void *data;
    /* Outcome: one result per server, in order. */
    struct dns_lookup_result results[DNS_SERVERS_MAX];
    /* Private. */
    uv_loop_t *loop;
    uv_udp_t udp;
    uv_timer_t timer;
    int open_handles;
    uint64_t t0;
    bool done;
    dns_lookup_cb cb;
};

/* Parse "host:port,host:port" (dns.servers) into l->servers; returns the
 * count, or -1 with errmsg (256 bytes) naming the bad entry. */
int dns_lookup_servers(struct dns_lookup *l, const char *list, char *errmsg);

/* Ask every server; cb runs once, after the handles closed (also when
 * nothing could be sent: each result's error says why). */
void dns_lookup_start(struct dns_lookup *l, uv_loop_t *loop, dns_lookup_cb cb);

/* Stop asking: the callback runs with "cancelled" for the servers that
 * had not answered. A no-op once it ended. */
void dns_lookup_cancel(struct dns_lookup *l);

#endif
