/* DNS messages on the wire (RFC 1035): a query for one name and type, and
 * the answers of a reply. Pure: no I/O. */
#ifndef DR_DNS_WIRE_H
#define DR_DNS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_TXT 16
#define DNS_TYPE_AAAA 28
#define DNS_RCODE_NXDOMAIN 3
#define DNS_MSG_MAX 4096
#define DNS_ANSWERS_MAX 32
#define DNS_TEXT_MAX 256

/* Encode a query for name (dotted, trailing dot optional) and type into buf
 * (at least DNS_MSG_MAX bytes); returns its length, or 0 when name is not
 * a valid domain name. */
size_t dns_wire_query(uint16_t id,
                      const char *name,
                      uint16_t type,
                      uint8_t *buf);

struct dns_answer
{
    uint16_t type;
    char text[DNS_TEXT_MAX]; /* A/AAAA: address; CNAME: name with a final
                                dot; TXT: the first string */
};

/* Parse a reply to query id: rcode and the answers of the types asked
 * for (any other type is skipped). Returns 0, or -1 when msg is not a
 * well-formed reply to id (errmsg, 256 bytes, says why). */
int dns_wire_parse(const uint8_t *msg,
                   size_t len,
                   uint16_t id,
                   int *rcode,
                   struct dns_answer *answers,
                   size_t *n_answers,
                   char *errmsg);

#endif
