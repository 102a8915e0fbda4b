/* What dns.c shares with the providers in other files (route53.c). */
#ifndef DR_DNS_INTERNAL_H
#define DR_DNS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "dns/dns.h"
#include "dns/wire.h"

/* End p once: every handle closes, then the callback runs (fmt NULL: it
 * succeeded). */
void dns__finish(struct dns_publish *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "name." */
void dns__fqdn(const char *in, char *out, size_t cap);
/* The record type p's targets make (A, AAAA, CNAME), 0 with p->error. */
int dns__targets_type(struct dns_publish *p);
/* Whether answers are exactly p's targets (with remove: none). */
bool dns__same(struct dns_publish *p, const struct dns_answer *ans, size_t n);
/* Open p's UDP socket and its timer (p->open_handles = 2). */
void dns__open(struct dns_publish *p);
/* libuv callbacks shared by the publish and the lookup (dns.c). */
void dns__alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf);
void dns__send_cb(uv_udp_send_t *s, int status);
/* Start asking p->servers until each answers as wanted. */
void dns__confirm(struct dns_publish *p);

/* route53.c */
int dns__r53_start(struct dns_publish *p);
/* From p's timer: send what waited for its time. */
void dns__r53_tick(struct dns_publish *p);

#endif
