/* The failover runbook's DNS step on the node's loop: point a service name
 * at new targets through a provider, then confirm by asking each
 * authoritative server until it answers with exactly those targets (a
 * server may accept an update and still answer otherwise, e.g. an A next
 * to a CNAME: only the answer counts).
 *
 * Providers: PowerDNS Authoritative's HTTP API (PATCH of the zone's rrsets,
 * X-API-Key), or an RFC 2136 dynamic update over UDP signed with TSIG
 * HMAC-SHA256, whose answer must carry a valid signature (update.h), or
 * Route 53's ChangeResourceRecordSets signed with SigV4, waited for until
 * INSYNC (route53.c). Targets
 * that are IPv4 or IPv6 addresses become A / AAAA records; one host name
 * becomes a CNAME. A TXT record at the same name carries txt (the epoch and
 * region). With remove, the name's records go (a failover drill's practice
 * name, cleaned up) and the confirmation waits for an answer without them. */
#ifndef DR_DNS_H
#define DR_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "aws/creds.h"
#include "dns/update.h"
#include "dns/wire.h"
#include "http/httpc.h"

#define DNS_TARGETS_MAX 16
#define DNS_SERVERS_MAX 4
#define DNS_PROVIDER_PDNS 0    /* PowerDNS Authoritative's HTTP API */
#define DNS_PROVIDER_RFC2136 1 /* a dynamic update signed with TSIG */
#define DNS_PROVIDER_ROUTE53 2 /* ChangeResourceRecordSets, SigV4 */

enum dns_r53_phase {
    DNS_R53_LIST = 1, /* what is at the name now */
    DNS_R53_CHANGE,   /* the batch sent */
    DNS_R53_WAIT,     /* GetChange until INSYNC */
    DNS_R53_CONFIRM,  /* listed until it holds the targets */
    DNS_R53_DONE      /* confirming through dns.servers */
};

struct dns_publish;
/* err is NULL on success; the step's whole duration is in elapsed_ms. */
typedef void (*dns_publish_cb)(struct dns_publish *p, const char *err);

struct dns_publish
{
    /* Inputs, filled by the caller before dns_publish_start. */
    int provider;             /* DNS_PROVIDER_* */
    char api_url[256];        /* pdns: http://HOST:PORT of the PowerDNS API;
                                 route53: the endpoint ("": AWS's) */
    char zone_id[64];         /* route53: the hosted zone's id */
    struct s3_creds aws;      /* route53: wiped when the update ends */
    char update_server[64];   /* rfc2136: IPv4 host:port of the primary */
    struct dns_tsig_key tsig; /* rfc2136: wiped when the update ends */
    char server_id[64];       /* "localhost" */
    char zone[256];           /* "dr.example." */
    char name[256];           /* "app.dr.example." */
    char api_key[256];        /* wiped when the update ends */
    unsigned ttl;
    char targets[DNS_TARGETS_MAX][256];
    size_t n_targets;
    char txt[256];
    bool remove; /* instead: delete name's A, AAAA, CNAME and TXT, and
                    confirm that the servers answer it with none */
    char servers[DNS_SERVERS_MAX][64]; /* IPv4 host:port to confirm with */
    size_t n_servers;
    long timeout_ms; /* the whole step */
    void *data;
    /* Outcome. */
    uint64_t elapsed_ms;
    char error[256];
    /* Private. */
    uv_loop_t *loop;
    struct httpc *http;
    struct httpc_req req;
    uv_udp_t udp;
    uv_timer_t timer;
    int open_handles;
    uint64_t t0;
    size_t server; /* being confirmed */
    uint16_t qid;
    int qtype;
    bool done;
    char last[256]; /* the last answer seen, for the error */
    bool updating;  /* rfc2136: the update is not answered yet */
    uint8_t upd[DNS_MSG_MAX];
    size_t upd_len;
    uint8_t upd_mac[DNS_TSIG_MAC_MAX];
    size_t upd_mac_len;
    uint64_t upd_sent; /* loop time of the last send */
    int r53_phase;     /* enum dns_r53_phase */
    char r53_change[128];
    uint64_t r53_poll_at; /* loop time to ask again; 0: nothing waits */
    dns_publish_cb cb;
};

/* Start: the update, then the confirmations. cb runs once, after every
 * handle is closed. Returns 0, or a DR_* code (no callback) when the
 * inputs are unusable (p->error says why). */
int dns_publish_start(struct dns_publish *p,
                      uv_loop_t *loop,
                      struct httpc *http,
                      dns_publish_cb cb);

/* Give up a publish that runs (its callback runs with "cancelled"); a
 * no-op when it ended. */
void dns_publish_cancel(struct dns_publish *p);

/* The JSON body of the PowerDNS PATCH (malloc'ed), or NULL (p->error). */
char *dns_pdns_body(struct dns_publish *p);

#endif
