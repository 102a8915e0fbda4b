/* The Route 53 provider of the DNS step (dns.h), on the node's loop:
 *
 *   1. ListResourceRecordSets at the name: what A, AAAA, CNAME and TXT sets
 *      are there (a change must DELETE a set with its exact values);
 *   2. one ChangeResourceRecordSets batch: those DELETEs and the new
 *      CREATEs (Route 53 applies a batch all or nothing);
 *   3. GetChange until INSYNC (every authoritative server has it);
 *   4. the confirmation: the authoritative servers when dns.servers names
 *      them, else ListResourceRecordSets again (moto serves no DNS).
 *
 * Every request is signed with SigV4 (service route53, region us-east-1:
 * Route 53 is global). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "aws/sigv4.h"
#include "dns/internal.h"

#define R53_PATH "/2013-04-01"
#define R53_POLL_MS 1000
#define R53_SETS_MAX 4

/* One record set found at the name. */
struct r53_set
{
    char type[8];
    unsigned ttl;
    char values[DNS_TARGETS_MAX][256];
    size_t n;
};

static void xml_add(char *out, size_t cap, size_t *len, const char *s)
{
    for (; *s != '\0'; s++) {
        const char *e = *s == '&'   ? "&amp;"
                        : *s == '<' ? "&lt;"
                        : *s == '>' ? "&gt;"
                                    : NULL;
        if (e != NULL) {
            *len += (size_t)snprintf(out + *len, *len < cap ? cap - *len : 0,
                                     "%s", e);
        } else {
            if (*len + 1 < cap) {
                out[*len] = *s;
                out[*len + 1] = '\0';
            }
            (*len)++;
        }
    }
}

/* The text of the first <tag>...</tag> in [s, end) into out; a pointer past
 * it, or NULL when there is none. XML entities are decoded. */
static const char *xml_get(const char *s,
                           const char *end,
                           const char *tag,
                           char *out,
                           size_t cap)
{
    char open[64], close[64];
    const char *a, *b;
    size_t o = 0;

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    a = s < end ? strstr(s, open) : NULL;
    if (a == NULL || a >= end) {
        return NULL;
    }
    a += strlen(open);
    b = strstr(a, close);
    if (b == NULL || b > end) {
        return NULL;
    }
    end = b + strlen(close); /* what the caller gets back */
    while (a < b && (*a == ' ' || *a == '\n' || *a == '\r' || *a == '\t')) {
        a++;
    }
    while (b > a &&
           (b[-1] == ' ' || b[-1] == '\n' || b[-1] == '\r' || b[-1] == '\t')) {
        b--;
    }
    if (b - a >= 12 && strncmp(a, "<![CDATA[", 9) == 0 &&
        strncmp(b - 3, "]]>", 3) == 0) {
        /* Taken as it is: no entities inside. */
        size_t l = (size_t)(b - 3 - (a + 9));
        l = l < cap ? l : cap - 1;
        memcpy(out, a + 9, l);
        out[l] = '\0';
        return end;
    }
    while (a < b && o + 1 < cap) {
        static const struct
        {
            const char *ent;
            char c;
        } ents[] = {{"&amp;", '&'},
                    {"&lt;", '<'},
                    {"&gt;", '>'},
                    {"&quot;", '"'},
                    {"&apos;", '\''}};
        bool done = false;
        for (size_t i = 0; i < 5 && *a == '&'; i++) {
            size_t l = strlen(ents[i].ent);
            if ((size_t)(b - a) >= l && strncmp(a, ents[i].ent, l) == 0) {
                out[o++] = ents[i].c;
                a += l;
                done = true;
                break;
            }
        }
        if (!done) {
            out[o++] = *a++;
        }
    }
    out[o] = '\0';
    return end;
}

static bool same_name(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    la -= la > 0 && a[la - 1] == '.';
    lb -= lb > 0 && b[lb - 1] == '.';
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* The A/AAAA/CNAME/TXT sets at p->name in a ListResourceRecordSets answer
 * (Route 53 lists from the name on, in order: stop at another name). */
static size_t parse_sets(struct dns_publish *p,
                         const char *body,
                         size_t len,
                         struct r53_set *sets)
{
    const char *s = body, *end = body + len;
    size_t n = 0;

    while (n < R53_SETS_MAX) {
        const char *a = strstr(s, "<ResourceRecordSet>"), *b;
        char name[300], ttl[32];
        if (a == NULL || a >= end) {
            break;
        }
        b = strstr(a, "</ResourceRecordSet>");
        if (b == NULL) {
            break;
        }
        memset(&sets[n], 0, sizeof(sets[n]));
        if (xml_get(a, b, "Name", name, sizeof(name)) != NULL &&
            same_name(name, p->name) &&
            xml_get(a, b, "Type", sets[n].type, sizeof(sets[n].type)) != NULL &&
            (strcmp(sets[n].type, "A") == 0 ||
             strcmp(sets[n].type, "AAAA") == 0 ||
             strcmp(sets[n].type, "CNAME") == 0 ||
             strcmp(sets[n].type, "TXT") == 0)) {
            const char *v = a;
            if (xml_get(a, b, "TTL", ttl, sizeof(ttl)) != NULL) {
                sets[n].ttl = (unsigned)strtoul(ttl, NULL, 10);
            }
            while (sets[n].n < DNS_TARGETS_MAX &&
                   (v = xml_get(v, b, "Value", sets[n].values[sets[n].n],
                                sizeof(sets[n].values[0]))) != NULL) {
                sets[n].n++;
            }
            n++;
        }
        s = b + 20;
    }
    return n;
}

static void add_change(char *out,
                       size_t cap,
                       size_t *len,
                       const char *action,
                       const char *name,
                       const char *type,
                       unsigned ttl,
                       const char (*values)[256],
                       size_t n,
                       bool quote)
{
    *len += (size_t)snprintf(out + *len, *len < cap ? cap - *len : 0,
                             "<Change><Action>%s</Action><ResourceRecordSet>"
                             "<Name>",
                             action);
    xml_add(out, cap, len, name);
    *len += (size_t)snprintf(out + *len, *len < cap ? cap - *len : 0,
                             "</Name><Type>%s</Type><TTL>%u</TTL>"
                             "<ResourceRecords>",
                             type, ttl);
    for (size_t i = 0; i < n; i++) {
        *len +=
            (size_t)snprintf(out + *len, *len < cap ? cap - *len : 0,
                             "<ResourceRecord><Value>%s", quote ? "\"" : "");
        xml_add(out, cap, len, values[i]);
        *len +=
            (size_t)snprintf(out + *len, *len < cap ? cap - *len : 0,
                             "%s</Value></ResourceRecord>", quote ? "\"" : "");
    }
    *len += (size_t)snprintf(out + *len, *len < cap ? cap - *len : 0,
                             "</ResourceRecords></ResourceRecordSet>"
                             "</Change>");
}

/* The change batch (malloc'ed), or NULL when nothing is to change. */
static char *change_body(struct dns_publish *p,
                         const struct r53_set *sets,
                         size_t n_sets)
{
    size_t cap = 32768, len = 0, changes = 0;
    char *out = malloc(cap), name[300], targets[DNS_TARGETS_MAX][256];
    const char *type = p->qtype == DNS_TYPE_A      ? "A"
                       : p->qtype == DNS_TYPE_AAAA ? "AAAA"
                                                   : "CNAME";

    if (out == NULL) {
        return NULL;
    }
    dns__fqdn(p->name, name, sizeof(name));
    len += (size_t)snprintf(
        out + len, cap - len,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<ChangeResourceRecordSetsRequest xmlns=\"https://route53.amazonaws."
        "com/doc/2013-04-01/\"><ChangeBatch><Comment>drnode</Comment>"
        "<Changes>");
    for (size_t i = 0; i < n_sets; i++) {
        add_change(out, cap, &len, "DELETE", name, sets[i].type, sets[i].ttl,
                   sets[i].values, sets[i].n, false);
        changes++;
    }
    if (!p->remove) {
        for (size_t i = 0; i < p->n_targets; i++) {
            if (p->qtype == DNS_TYPE_CNAME) {
                dns__fqdn(p->targets[i], targets[i], sizeof(targets[i]));
            } else {
                snprintf(targets[i], sizeof(targets[i]), "%s", p->targets[i]);
            }
        }
        add_change(out, cap, &len, "CREATE", name, type, p->ttl,
                   (const char(*)[256])targets, p->n_targets, false);
        changes++;
        if (p->txt[0] != '\0' && p->qtype != DNS_TYPE_CNAME) {
            char txt[1][256];
            snprintf(txt[0], sizeof(txt[0]), "%s", p->txt);
            add_change(out, cap, &len, "CREATE", name, "TXT", p->ttl,
                       (const char(*)[256])txt, 1, true);
            changes++;
        }
    }
    len += (size_t)snprintf(out + len, len < cap ? cap - len : 0,
                            "</Changes></ChangeBatch>"
                            "</ChangeResourceRecordSetsRequest>");
    if (changes == 0 || len >= cap) {
        free(out);
        return NULL;
    }
    return out;
}

/* Signed headers for one request (NULL-terminated, malloc'ed). */
static char **sign(struct dns_publish *p,
                   const char *method,
                   const char *path,
                   const char *query,
                   const char *body)
{
    struct sigv4_header h[5];
    struct sigv4_key key = {p->aws.access_key_id, p->aws.secret_access_key,
                            "us-east-1", "route53"};
    struct sigv4_request req;
    struct sigv4_result res;
    char date[17], payload[65], **out;
    const char *host = strstr(p->api_url, "://");
    size_t n = 0;
    time_t now = time(NULL);
    struct tm tm;

    host = host != NULL ? host + 3 : p->api_url;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
    sigv4_sha256_hex(body != NULL ? body : "", body != NULL ? strlen(body) : 0,
                     payload);
    h[n++] = (struct sigv4_header){"Host", host};
    h[n++] = (struct sigv4_header){"X-Amz-Date", date};
    h[n++] = (struct sigv4_header){"X-Amz-Content-SHA256", payload};
    if (p->aws.session_token[0] != '\0') {
        h[n++] =
            (struct sigv4_header){"X-Amz-Security-Token", p->aws.session_token};
    }
    req = (struct sigv4_request){method, path, query, h, n, payload};
    if (sigv4_sign(&req, &key, date, &res) != 0) {
        return NULL;
    }
    out = calloc(n + 3, sizeof(*out));
    /* Host is signed but sent by curl itself (the same value). */
    for (size_t i = 1, o = 0; out != NULL && i < n; i++, o++) {
        if (asprintf(&out[o], "%s: %s", h[i].name, h[i].value) < 0) {
            out[o] = NULL;
        }
    }
    if (out != NULL) {
        if (asprintf(&out[n - 1], "Authorization: %s", res.authorization) < 0) {
            out[n - 1] = NULL;
        }
        out[n] = strdup("Content-Type: text/xml");
    }
    sigv4_result_free(&res);
    return out;
}

static void free_headers(char **h)
{
    for (size_t i = 0; h != NULL && h[i] != NULL; i++) {
        OPENSSL_cleanse(h[i], strlen(h[i]));
        free(h[i]);
    }
    free(h);
}

static void step_cb(struct httpc_req *r,
                    long status,
                    const char *body,
                    size_t len,
                    const char *err);

/* Send the request of the current phase. */
static void r53_send(struct dns_publish *p,
                     const char *method,
                     const char *path,
                     const char *query,
                     const char *body)
{
    char url[1200], **headers = sign(p, method, path, query, body);
    int rv;

    if (headers == NULL) {
        dns__finish(p, "Route 53: cannot sign the request");
        return;
    }
    snprintf(url, sizeof(url), "%s%s%s%s", p->api_url, path,
             query[0] != '\0' ? "?" : "", query);
    p->req.data = p;
    rv = httpc_send(p->http, &p->req, method, url, (const char *const *)headers,
                    body, 0, 10000, step_cb);
    free_headers(headers);
    if (rv != 0) {
        dns__finish(p, "Route 53: cannot start the request");
    }
}

static void list_sets(struct dns_publish *p)
{
    char path[400], query[600], name[300], *enc;

    dns__fqdn(p->name, name, sizeof(name));
    enc = sigv4_uri_encode(name, 0);
    snprintf(path, sizeof(path), R53_PATH "/hostedzone/%s/rrset", p->zone_id);
    snprintf(query, sizeof(query), "maxitems=%d&name=%s", R53_SETS_MAX * 2,
             enc != NULL ? enc : "");
    free(enc);
    r53_send(p, "GET", path, query, NULL);
}

/* The sets at the name hold exactly the targets (remove: none of A,
 * AAAA, CNAME). */
static bool listed_as_wanted(struct dns_publish *p,
                             const struct r53_set *sets,
                             size_t n)
{
    struct dns_answer ans[DNS_ANSWERS_MAX];
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        int t = strcmp(sets[i].type, "A") == 0       ? DNS_TYPE_A
                : strcmp(sets[i].type, "AAAA") == 0  ? DNS_TYPE_AAAA
                : strcmp(sets[i].type, "CNAME") == 0 ? DNS_TYPE_CNAME
                                                     : DNS_TYPE_TXT;
        for (size_t v = 0; v < sets[i].n && k < DNS_ANSWERS_MAX; v++) {
            ans[k].type = (uint16_t)t;
            snprintf(ans[k].text, sizeof(ans[k].text), "%s", sets[i].values[v]);
            k++;
        }
    }
    return dns__same(p, ans, k);
}

static void step_cb(struct httpc_req *r,
                    long status,
                    const char *body,
                    size_t len,
                    const char *err)
{
    struct dns_publish *p = r->data;
    struct r53_set sets[R53_SETS_MAX];
    char code[64] = "", msg[200] = "", *batch;
    size_t n;

    if (p->done) {
        return;
    }
    if (status < 200 || status > 299) {
        if (status == 0) {
            dns__finish(p, "Route 53 %s: %s", p->api_url,
                        err != NULL ? err : "failed");
        } else {
            const char *end = body + len;
            xml_get(body, end, "Code", code, sizeof(code));
            xml_get(body, end, "Message", msg, sizeof(msg));
            dns__finish(p, "Route 53 answered %ld %s: %.150s", status,
                        code[0] ? code : "", msg);
        }
        return;
    }
    switch (p->r53_phase) {
        case DNS_R53_LIST:
            n = parse_sets(p, body, len, sets);
            batch = change_body(p, sets, n);
            if (batch == NULL) {
                p->r53_phase = DNS_R53_CONFIRM; /* nothing there to remove */
                list_sets(p);
                return;
            }
            p->r53_phase = DNS_R53_CHANGE;
            {
                char path[400];
                snprintf(path, sizeof(path), R53_PATH "/hostedzone/%s/rrset",
                         p->zone_id);
                r53_send(p, "POST", path, "", batch);
            }
            free(batch);
            return;
        case DNS_R53_CHANGE:
        case DNS_R53_WAIT: {
            char id[128], st[32];
            const char *slash;
            if (xml_get(body, body + len, "Status", st, sizeof(st)) == NULL) {
                dns__finish(p, "Route 53: no change status in the answer");
                return;
            }
            if (p->r53_phase == DNS_R53_CHANGE) {
                if (xml_get(body, body + len, "Id", id, sizeof(id)) == NULL) {
                    dns__finish(p, "Route 53: no change id in the answer");
                    return;
                }
                slash = strrchr(id, '/');
                snprintf(p->r53_change, sizeof(p->r53_change), "%s",
                         slash != NULL ? slash + 1 : id);
                p->r53_phase = DNS_R53_WAIT;
            }
            if (strcmp(st, "INSYNC") != 0) {
                p->r53_poll_at = uv_now(p->loop) + R53_POLL_MS;
                return; /* the timer asks again */
            }
            if (p->n_servers > 0) {
                p->r53_phase = DNS_R53_DONE;
                dns__confirm(p);
                return;
            }
            p->r53_phase = DNS_R53_CONFIRM;
            list_sets(p);
            return;
        }
        case DNS_R53_CONFIRM:
            n = parse_sets(p, body, len, sets);
            if (listed_as_wanted(p, sets, n)) {
                dns__finish(p, NULL);
                return;
            }
            snprintf(p->last, sizeof(p->last), "%zu sets listed%s%s", n,
                     n > 0 ? ", first " : "", n > 0 ? sets[0].type : "");
            p->r53_poll_at = uv_now(p->loop) + R53_POLL_MS;
            return;
        default:
            return;
    }
}

void dns__r53_tick(struct dns_publish *p)
{
    char path[300];

    if (p->r53_poll_at == 0 || uv_now(p->loop) < p->r53_poll_at) {
        return;
    }
    p->r53_poll_at = 0;
    if (p->r53_phase == DNS_R53_WAIT) {
        snprintf(path, sizeof(path), R53_PATH "/change/%s", p->r53_change);
        r53_send(p, "GET", path, "", NULL);
    } else if (p->r53_phase == DNS_R53_CONFIRM) {
        list_sets(p);
    }
}

int dns__r53_start(struct dns_publish *p)
{
    if (p->zone_id[0] == '\0' || strpbrk(p->zone_id, "/?&# ") != NULL) {
        snprintf(p->error, sizeof(p->error),
                 "Route 53 needs dns.zone_id, the hosted zone's id (like "
                 "Z0123456789ABC)");
        return DR_EINVAL;
    }
    if (p->aws.access_key_id[0] == '\0') {
        snprintf(p->error, sizeof(p->error),
                 "no AWS credentials for Route 53: set [dns] "
                 "aws_credentials_file or AWS_ACCESS_KEY_ID");
        return DR_EINVAL;
    }
    if (p->api_url[0] == '\0') {
        snprintf(p->api_url, sizeof(p->api_url),
                 "https://route53.amazonaws.com");
    }
    p->qtype = p->remove ? DNS_TYPE_A : dns__targets_type(p);
    if (p->qtype == 0) {
        return DR_EINVAL;
    }
    p->r53_phase = DNS_R53_LIST;
    dns__open(p);
    if (!p->done) {
        list_sets(p);
    }
    return 0;
}
