/* RFC 2136 dynamic updates signed with TSIG (RFC 8945, HMAC-SHA256):
 * the message that replaces a name's records, and the check of the
 * server's signed answer. Pure: no I/O, no clock (the caller passes the
 * time to sign with). */
#ifndef DR_DNS_UPDATE_H
#define DR_DNS_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_TSIG_SECRET_MAX 128
#define DNS_TSIG_MAC_MAX 64
#define DNS_TSIG_FUDGE 300

struct dns_tsig_key
{
    char name[256]; /* "drnode-key." */
    uint8_t secret[DNS_TSIG_SECRET_MAX];
    size_t secret_len;
};

/* Parse "hmac-sha256:NAME:BASE64SECRET" (nsupdate -y's form; the
 * algorithm may be left out). 0, or -1 with errmsg (256 bytes), which
 * never quotes the secret. */
int dns_tsig_key_parse(const char *text,
                       struct dns_tsig_key *key,
                       char *errmsg);

/* What one update does at name (in zone): every A, AAAA, CNAME and TXT
 * record there goes; unless remove, the targets come (type: A, AAAA or
 * CNAME; rdata as text) with ttl, and txt (when not "" and the type is not
 * CNAME, which stands alone). */
struct dns_update
{
    uint16_t id;
    const char *zone;
    const char *name;
    int type;
    const char *const *targets;
    size_t n_targets;
    const char *txt;
    uint32_t ttl;
    bool remove;
};

/* Encode u signed with key at now_s into buf (cap bytes). Returns the
 * length, or 0 with errmsg. The request's MAC (for checking the answer)
 * goes to mac (DNS_TSIG_MAC_MAX bytes), its length to *mac_len. */
size_t dns_update_encode(const struct dns_update *u,
                         const struct dns_tsig_key *key,
                         uint64_t now_s,
                         uint8_t *buf,
                         size_t cap,
                         uint8_t *mac,
                         size_t *mac_len,
                         char *errmsg);

/* Check the server's answer to update id: a reply, signed by key over the
 * request's MAC. Returns 0 with *rcode (0: applied; 5 REFUSED, 9 NOTAUTH,
 * ...), or -1 with errmsg when it is not such an answer (malformed, for
 * another id, unsigned, a bad signature, or a TSIG error: BADSIG, BADKEY,
 * BADTIME). */
int dns_update_check(const uint8_t *msg,
                     size_t len,
                     uint16_t id,
                     const struct dns_tsig_key *key,
                     const uint8_t *req_mac,
                     size_t req_mac_len,
                     int *rcode,
                     char *errmsg);

#endif
