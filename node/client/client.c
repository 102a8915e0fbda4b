/* Blocking HTTP client of the drnode API: endpoints, redirects, retries. */
#include "client/client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/err.h"
#include "tls/tls.h"

_Static_assert(CLIENT_ERRMSG_MAX >= TLS_ERRMSG_MAX,
               "tls_check_file writes errmsg of TLS_ERRMSG_MAX");

#define CLIENT__BODY_MAX (64u << 20) /* refuse answers bigger than this */
#define CLIENT__CONNECT_CAP_MS 3000  /* per endpoint while others remain */
#define CLIENT__LEADER_RETRY_MS 250  /* after a redirect to a dead leader */

/* What one HTTP exchange produced, besides the response itself. */
struct client__attempt
{
    struct client_response *r;
    long retry_after_s;  /* -1 when the header was absent */
    char location[2048]; /* absolute redirect target, or "" */
    int body_too_big;
};

uint64_t client_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void client_sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

const char *client_url_hostport(const char *url)
{
    const char *p = strstr(url, "://");
    return p != NULL ? p + 3 : url;
}

/* Length of the "host:port" part of url, capped for messages. */
static int client__hostport_len(const char *url)
{
    size_t len = strcspn(client_url_hostport(url), "/?#");
    return len > 200 ? 200 : (int)len;
}

/* Validate "host:port" (host may be a bracketed IPv6 literal). */
static int client__hostport_ok(const char *hp, size_t len)
{
    size_t i, colon = len;
    unsigned long port = 0;

    if (len == 0) {
        return 0;
    }
    if (hp[0] == '[') {
        const char *end = memchr(hp, ']', len);
        if (end == NULL || end == hp + 1) {
            return 0;
        }
        colon = (size_t)(end - hp) + 1;
        if (colon >= len || hp[colon] != ':') {
            return 0;
        }
    } else {
        for (i = len; i > 0; i--) {
            if (hp[i - 1] == ':') {
                colon = i - 1;
                break;
            }
        }
        if (colon == len || colon == 0) {
            return 0;
        }
        for (i = 0; i < colon; i++) {
            unsigned char ch = (unsigned char)hp[i];
            if (!isalnum(ch) && ch != '.' && ch != '-' && ch != '_') {
                return 0;
            }
        }
    }
    if (colon + 1 == len || len - colon - 1 > 5) {
        return 0;
    }
    for (i = colon + 1; i < len; i++) {
        if (!isdigit((unsigned char)hp[i])) {
            return 0;
        }
        port = port * 10 + (unsigned long)(hp[i] - '0');
    }
    return port >= 1 && port <= 65535;
}

/* client_endpoints_parse with the scheme of entries written host:port. */
static int endpoints_parse(const char *list,
                           const char *bare_scheme,
                           char out[][CLIENT_URL_MAX],
                           size_t max,
                           size_t *n,
                           char *errmsg)
{
    const char *p = list;

    *n = 0;
    for (;;) {
        const char *start, *end, *comma, *hp;
        const char *scheme = bare_scheme;
        size_t len;

        comma = strchr(p, ',');
        end = comma != NULL ? comma : p + strlen(p);
        start = p;
        while (start < end && isspace((unsigned char)*start)) {
            start++;
        }
        while (end > start && isspace((unsigned char)end[-1])) {
            end--;
        }
        len = (size_t)(end - start);
        if (len == 0) {
            snprintf(errmsg, CLIENT_ERRMSG_MAX,
                     "empty entry in endpoint list \"%s\"", list);
            return DR_EINVAL;
        }
        hp = start;
        if (len > 7 && strncmp(start, "http://", 7) == 0) {
            hp = start + 7;
            scheme = "http://";
        } else if (len > 8 && strncmp(start, "https://", 8) == 0) {
            hp = start + 8;
            scheme = "https://";
        }
        len = (size_t)(end - hp);
        if (len > 0 && hp[len - 1] == '/') {
            len--;
        }
        if (!client__hostport_ok(hp, len) ||
            len + strlen(scheme) >= CLIENT_URL_MAX) {
            snprintf(errmsg, CLIENT_ERRMSG_MAX,
                     "bad endpoint \"%.*s\": expected http://host:port, "
                     "https://host:port or host:port",
                     (int)(end - start), start);
            return DR_EINVAL;
        }
        if (*n == max) {
            snprintf(errmsg, CLIENT_ERRMSG_MAX,
                     "too many endpoints (at most %zu)", max);
            return DR_ELIMIT;
        }
        snprintf(out[*n], CLIENT_URL_MAX, "%s%.*s", scheme, (int)len, hp);
        (*n)++;
        if (comma == NULL) {
            return 0;
        }
        p = comma + 1;
    }
}

int client_endpoints_parse(const char *list,
                           char out[][CLIENT_URL_MAX],
                           size_t max,
                           size_t *n,
                           char *errmsg)
{
    return endpoints_parse(list, "http://", out, max, n, errmsg);
}

int client_token_read(const char *path, char *buf, size_t size, char *errmsg)
{
    size_t len = 0, i;
    ssize_t got = 0;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errmsg, CLIENT_ERRMSG_MAX, "token file %s: %s", path,
                 strerror(errno));
        return DR_EIO;
    }
    for (;;) {
        got = read(fd, buf + len, size - len);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        len += (size_t)got;
        if (len == size) {
            break;
        }
    }
    if (got < 0) {
        snprintf(errmsg, CLIENT_ERRMSG_MAX, "token file %s: %s", path,
                 strerror(errno));
        close(fd);
        goto err_wipe;
    }
    close(fd);
    if (len == size) {
        snprintf(errmsg, CLIENT_ERRMSG_MAX,
                 "token file %s: too long (at most %zu bytes)", path, size - 1);
        goto err_wipe;
    }
    while (len > 0 && isspace((unsigned char)buf[len - 1])) {
        len--;
    }
    buf[len] = '\0';
    if (len == 0) {
        snprintf(errmsg, CLIENT_ERRMSG_MAX, "token file %s: empty", path);
        goto err_wipe;
    }
    for (i = 0; i < len; i++) {
        if (!isgraph((unsigned char)buf[i])) {
            snprintf(errmsg, CLIENT_ERRMSG_MAX,
                     "token file %s: the token must be one word of printable "
                     "characters",
                     path);
            goto err_wipe;
        }
    }
    return 0;

err_wipe:
    memset(buf, 0, size);
    return got < 0 ? DR_EIO : DR_EINVAL;
}

int client_init(struct client *c,
                const char *endpoints,
                const char *token_file,
                unsigned timeout_ms,
                char *errmsg)
{
    return client_init_tls(c, endpoints, token_file, NULL, timeout_ms, errmsg);
}

int client_init_tls(struct client *c,
                    const char *endpoints,
                    const char *token_file,
                    const struct client_tls *tls,
                    unsigned timeout_ms,
                    char *errmsg)
{
    const char *cacert = tls && tls->cacert ? tls->cacert : "";
    const char *cert = tls && tls->cert ? tls->cert : "";
    const char *key = tls && tls->key ? tls->key : "";
    int rv;

    memset(c, 0, sizeof(*c));
    c->timeout_ms = timeout_ms;
    c->try_ms = CLIENT_TRY_MS_DEFAULT;
    if ((cert[0] == '\0') != (key[0] == '\0')) {
        snprintf(errmsg, CLIENT_ERRMSG_MAX,
                 "a client certificate needs its key: %s given without %s",
                 cert[0] ? "--cert" : "--key", cert[0] ? "--key" : "--cert");
        return DR_EINVAL;
    }
    /* Checked now: a wrong path is named before anything is sent. */
    if ((cacert[0] &&
         (rv = tls_check_file("CA file", cacert, false, errmsg))) ||
        (cert[0] &&
         (rv = tls_check_file("certificate", cert, false, errmsg))) ||
        (key[0] && (rv = tls_check_file("key", key, true, errmsg)))) {
        return rv;
    }
    if (strlen(cacert) >= sizeof(c->cacert) ||
        strlen(cert) >= sizeof(c->cert) || strlen(key) >= sizeof(c->key)) {
        snprintf(errmsg, CLIENT_ERRMSG_MAX, "a TLS file path is too long");
        return DR_EINVAL;
    }
    snprintf(c->cacert, sizeof(c->cacert), "%s", cacert);
    snprintf(c->cert, sizeof(c->cert), "%s", cert);
    snprintf(c->key, sizeof(c->key), "%s", key);
    rv = endpoints_parse(endpoints, cacert[0] ? "https://" : "http://",
                         c->endpoints, CLIENT_ENDPOINTS_MAX, &c->n_endpoints,
                         errmsg);
    if (rv != 0) {
        return rv;
    }
    if (token_file != NULL) {
        rv = client_token_read(token_file, c->token, sizeof(c->token), errmsg);
        if (rv != 0) {
            return rv;
        }
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(errmsg, CLIENT_ERRMSG_MAX, "cannot initialise libcurl");
        rv = DR_ENOMEM;
        goto err_after_token;
    }
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        snprintf(errmsg, CLIENT_ERRMSG_MAX, "cannot create a libcurl handle");
        rv = DR_ENOMEM;
        goto err_after_global;
    }
    return 0;

err_after_global:
    curl_global_cleanup();
err_after_token:
    memset(c->token, 0, sizeof(c->token));
    return rv;
}

void client_close(struct client *c)
{
    if (c->curl != NULL) {
        curl_easy_cleanup(c->curl);
        c->curl = NULL;
        curl_global_cleanup();
    }
    memset(c->token, 0, sizeof(c->token));
}

void client_response_clear(struct client_response *r)
{
    if (r->json != NULL) {
        json_decref(r->json);
    }
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static size_t client__body_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    struct client__attempt *a = arg;
    struct client_response *r = a->r;
    size_t n = size * nmemb;
    char *grown;

    if (r->body_len + n > CLIENT__BODY_MAX) {
        a->body_too_big = 1;
        return 0;
    }
    grown = realloc(r->body, r->body_len + n + 1);
    if (grown == NULL) {
        return 0;
    }
    r->body = grown;
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

static size_t client__header_cb(char *data,
                                size_t size,
                                size_t nmemb,
                                void *arg)
{
    struct client__attempt *a = arg;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";

    if (n > sizeof(name) - 1 &&
        strncasecmp(data, name, sizeof(name) - 1) == 0) {
        size_t i = sizeof(name) - 1;
        long v = 0;
        while (i < n && (data[i] == ' ' || data[i] == '\t')) {
            i++;
        }
        if (i < n && isdigit((unsigned char)data[i])) {
            while (i < n && isdigit((unsigned char)data[i]) && v < 86400) {
                v = v * 10 + (data[i] - '0');
                i++;
            }
        } else {
            v = 1; /* an HTTP-date: treat as "soon" */
        }
        a->retry_after_s = v;
    }
    return n;
}

/* Lower-case first letter of a system message ("Connection refused"). */
static void client__reason(char *buf, size_t size, const char *text)
{
    snprintf(buf, size, "%s", text);
    if (buf[0] != '\0' && isupper((unsigned char)buf[0]) &&
        !(buf[1] != '\0' && isupper((unsigned char)buf[1]))) {
        buf[0] = (char)tolower((unsigned char)buf[0]);
    }
}

static void client__describe_curl(CURL *h,
                                  CURLcode rc,
                                  unsigned budget_ms,
                                  char *buf,
                                  size_t size)
{
    long oserr = 0;

    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
    switch (rc) {
        case CURLE_OPERATION_TIMEDOUT:
            snprintf(buf, size, "timed out after %u ms", budget_ms);
            return;
        case CURLE_COULDNT_RESOLVE_HOST:
            snprintf(buf, size, "cannot resolve host name");
            return;
        case CURLE_GOT_NOTHING:
            snprintf(buf, size, "connection closed without an answer");
            return;
        case CURLE_WRITE_ERROR:
            snprintf(buf, size, "answer too big or out of memory");
            return;
        default:
            break;
    }
    if (oserr != 0 && (rc == CURLE_COULDNT_CONNECT || rc == CURLE_SEND_ERROR ||
                       rc == CURLE_RECV_ERROR)) {
        client__reason(buf, size, strerror((int)oserr));
    } else {
        client__reason(buf, size, curl_easy_strerror(rc));
    }
}

/* One HTTP exchange with url. Fills a->r on CURLE_OK. */
static CURLcode client__exchange(struct client *c,
                                 const char *method,
                                 const char *url,
                                 const char *payload,
                                 unsigned timeout_ms,
                                 unsigned connect_ms,
                                 struct client__attempt *a)
{
    CURL *h = c->curl;
    struct curl_slist *headers = NULL, *grown;
    char auth[CLIENT_TOKEN_MAX + 32];
    char *redirect = NULL;
    CURLcode rc;

    a->retry_after_s = -1;
    a->location[0] = '\0';
    a->body_too_big = 0;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "drctl");
    if (c->cacert[0] != '\0') {
        curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
    }
    if (c->cert[0] != '\0') {
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert);
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->key);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, client__body_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, client__header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, a);

    /* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
    grown = curl_slist_append(headers, "Expect:");
    if (grown == NULL) {
        goto err_nomem;
    }
    headers = grown;
    if (c->token[0] != '\0') {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
        grown = curl_slist_append(headers, auth);
        memset(auth, 0, sizeof(auth));
        if (grown == NULL) {
            goto err_nomem;
        }
        headers = grown;
    }
    if (payload != NULL) {
        grown = curl_slist_append(headers, "Content-Type: application/json");
        if (grown == NULL) {
            goto err_nomem;
        }
        headers = grown;
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
    }
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

    rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        return rc;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->r->status);
    if (curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &redirect) == CURLE_OK &&
        redirect != NULL) {
        snprintf(a->location, sizeof(a->location), "%s", redirect);
    }
    return CURLE_OK;

err_nomem:
    curl_slist_free_all(headers);
    return CURLE_OUT_OF_MEMORY;
}

/* Base URL ("scheme://host:port") of an absolute URL into out. */
static void client__base_of(const char *url, char *out, size_t size)
{
    const char *hp = client_url_hostport(url);
    const char *slash = strchr(hp, '/');
    size_t len = slash != NULL ? (size_t)(slash - url) : strlen(url);

    if (len >= size) {
        len = size - 1;
    }
    memcpy(out, url, len);
    out[len] = '\0';
}

/* Parse the body into r->json and make sure r->body is a string. */
static int client__finish(struct client_response *r)
{
    if (r->body == NULL) {
        r->body = calloc(1, 1);
        if (r->body == NULL) {
            return DR_ENOMEM;
        }
    }
    if (r->body_len > 0) {
        r->json = json_loadb(r->body, r->body_len, 0, NULL);
    }
    return 0;
}

/* Base URLs to try in order: the leader learned from a redirect, then the
 * endpoints starting at the one that answered last. */
static size_t client__candidates(const struct client *c, const char **cands)
{
    size_t i, n = 0;

    if (c->leader[0] != '\0') {
        cands[n++] = c->leader;
    }
    for (i = 0; i < c->n_endpoints; i++) {
        const char *e = c->endpoints[(c->preferred + i) % c->n_endpoints];
        if (strcmp(e, c->leader) != 0) {
            cands[n++] = e;
        }
    }
    return n;
}

/* Whether a transport failure allows trying the next endpoint: the request
 * surely never reached a server, or it is a GET, safe to repeat. */
static int client__may_fail_over(CURL *h, CURLcode rc, const char *method)
{
    curl_off_t connect_us = 0;

    if (strcmp(method, "GET") == 0) {
        return 1;
    }
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
        return 1;
    }
    curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
    return rc == CURLE_OPERATION_TIMEDOUT && connect_us == 0;
}

/* Note in c->skipped that endpoint `from` was passed over, and why. */
static void client__note_skip(struct client *c,
                              const char *from,
                              const char *why)
{
    size_t used = strlen(c->skipped);
    if (strstr(c->skipped, client_url_hostport(from)) != NULL) {
        return;
    }
    snprintf(c->skipped + used, sizeof(c->skipped) - used, "%s%s (%s)",
             used > 0 ? ", " : "", client_url_hostport(from), why);
}

/* Before the first write: find an endpoint that answers at all (a cheap
 * local read, bounded per endpoint), so that a write goes to a node that
 * is alive. A write sent to a frozen node could not move on: its outcome
 * would be unknown. Makes the one that answered preferred. */
static void client__probe(struct client *c, uint64_t deadline)
{
    const char *cands[CLIENT_ENDPOINTS_MAX + 1];
    char url[CLIENT_URL_MAX + 64], why[160];
    struct client_response pr;
    struct client__attempt pa;
    size_t n = client__candidates(c, cands);

    c->probed = true;
    for (size_t i = 0; i < n; i++) {
        uint64_t now = client_now_ms();
        unsigned left, bound;
        CURLcode rc;

        if (now >= deadline) {
            return;
        }
        left = (unsigned)(deadline - now);
        bound =
            i + 1 < n && c->try_ms > 0 && left > c->try_ms ? c->try_ms : left;
        memset(&pr, 0, sizeof(pr));
        memset(&pa, 0, sizeof(pa));
        pa.r = &pr;
        snprintf(url, sizeof(url), "%s/api/status?stale=true", cands[i]);
        rc = client__exchange(c, "GET", url, NULL, bound, bound, &pa);
        client_response_clear(&pr);
        if (rc == CURLE_OK) {
            for (size_t k = 0; k < c->n_endpoints; k++) {
                if (strcmp(c->endpoints[k], cands[i]) == 0) {
                    c->preferred = k;
                }
            }
            return;
        }
        client__describe_curl(c->curl, rc, bound, why, sizeof(why));
        client__note_skip(c, cands[i], why);
    }
}

int client_request(struct client *c,
                   const char *method,
                   const char *path,
                   const json_t *body,
                   struct client_response *r)
{
    uint64_t deadline = client_now_ms() + c->timeout_ms;
    struct client__attempt a;
    char *payload = NULL;
    char url[CLIENT_URL_MAX + 2048];
    char redirect[sizeof(a.location)] = "";
    const char *cands[CLIENT_ENDPOINTS_MAX + 1];
    size_t n_cands = 0, i;
    int hops = 0, rv = 0;

    memset(r, 0, sizeof(*r));
    memset(&a, 0, sizeof(a));
    a.r = r;
    c->errmsg[0] = '\0';
    if (body != NULL) {
        payload = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (payload == NULL) {
            snprintf(c->errmsg, sizeof(c->errmsg), "out of memory");
            return DR_ENOMEM;
        }
    }

    if (!c->probed && c->n_endpoints > 1 && strcmp(method, "GET") != 0) {
        client__probe(c, deadline);
    }
    for (;;) {
        CURLcode rc = CURLE_OK;
        uint64_t now = client_now_ms();
        const char *from = NULL;
        unsigned left;

        if (now >= deadline) {
            size_t len = strlen(c->errmsg);
            if (len == 0) {
                snprintf(c->errmsg, sizeof(c->errmsg), "no answer within %u ms",
                         c->timeout_ms);
            }
            rv = DR_ETIMEOUT;
            goto out;
        }
        left = (unsigned)(deadline - now);
        c->errmsg[0] = '\0';

        if (redirect[0] != '\0') {
            client_response_clear(r);
            rc = client__exchange(c, method, redirect, payload, left, left, &a);
            from = redirect;
            if (rc != CURLE_OK) {
                char why[160];
                client__describe_curl(c->curl, rc, left, why, sizeof(why));
                snprintf(c->errmsg, sizeof(c->errmsg),
                         "%.*s (redirected to): %s", client__hostport_len(from),
                         client_url_hostport(from), why);
                c->leader[0] = '\0';
                /* A leader that just died is still named by followers
                 * until they elect another: ask them again shortly. */
                if (client__may_fail_over(c->curl, rc, method) &&
                    client_now_ms() + CLIENT__LEADER_RETRY_MS < deadline) {
                    client_sleep_ms(CLIENT__LEADER_RETRY_MS);
                    redirect[0] = '\0';
                    hops = 0;
                    continue;
                }
            }
        } else {
            /* Again each time: a failed leader is dropped from the list. */
            n_cands = client__candidates(c, cands);
            for (i = 0; i < n_cands; i++) {
                size_t used = strlen(c->errmsg);
                unsigned connect_ms = left, total_ms;
                char why[160];

                now = client_now_ms();
                if (now >= deadline) {
                    rc = CURLE_OPERATION_TIMEDOUT;
                    break;
                }
                left = (unsigned)(deadline - now);
                if (i + 1 < n_cands && connect_ms > CLIENT__CONNECT_CAP_MS) {
                    connect_ms = CLIENT__CONNECT_CAP_MS;
                }
                if (connect_ms > left) {
                    connect_ms = left;
                }
                /* A read, safe to repeat, waits for one endpoint only so
                 * long while others remain: a frozen node is passed over. */
                total_ms = left;
                if (strcmp(method, "GET") == 0 && i + 1 < n_cands &&
                    c->try_ms > 0 && total_ms > c->try_ms) {
                    total_ms = c->try_ms;
                }
                snprintf(url, sizeof(url), "%s%s", cands[i], path);
                client_response_clear(r);
                from = cands[i];
                rc = client__exchange(
                    c, method, url, payload, total_ms,
                    connect_ms < total_ms ? connect_ms : total_ms, &a);
                if (rc == CURLE_OK) {
                    c->probed = true; /* it answers: writes may go there */
                    break;
                }
                client__describe_curl(c->curl, rc, total_ms, why, sizeof(why));
                if (i + 1 < n_cands &&
                    client__may_fail_over(c->curl, rc, method)) {
                    client__note_skip(c, from, why);
                }
                snprintf(c->errmsg + used, sizeof(c->errmsg) - used, "%s%s: %s",
                         used > 0 ? "; " : "", client_url_hostport(from), why);
                if (!client__may_fail_over(c->curl, rc, method)) {
                    break;
                }
                if (from == c->leader) {
                    c->leader[0] = '\0'; /* from now reads "" */
                }
            }
        }
        if (rc != CURLE_OK) {
            if (c->errmsg[0] == '\0') {
                snprintf(c->errmsg, sizeof(c->errmsg), "no answer within %u ms",
                         c->timeout_ms);
            }
            rv = rc == CURLE_OPERATION_TIMEDOUT ? DR_ETIMEOUT
                 : rc == CURLE_OUT_OF_MEMORY    ? DR_ENOMEM
                                                : DR_EUNAVAILABLE;
            client_response_clear(r);
            goto out;
        }

        if ((r->status == 307 || r->status == 308) && a.location[0] != '\0') {
            if (++hops > CLIENT_REDIRECTS_MAX) {
                snprintf(c->errmsg, sizeof(c->errmsg),
                         "%.*s: too many redirects (more than %d)",
                         client__hostport_len(from), client_url_hostport(from),
                         CLIENT_REDIRECTS_MAX);
                client_response_clear(r);
                rv = DR_ELIMIT;
                goto out;
            }
            snprintf(redirect, sizeof(redirect), "%s", a.location);
            continue;
        }
        if (r->status == 503 && a.retry_after_s >= 0) {
            uint64_t wait = (uint64_t)a.retry_after_s * 1000u;
            if (wait == 0) {
                wait = 100;
            }
            now = client_now_ms();
            if (now + wait < deadline) {
                client_sleep_ms(wait);
                continue; /* same target: a redirect or the candidates */
            }
        }

        /* An answer: remember who gave it. */
        client__base_of(from, r->url, sizeof(r->url));
        if (redirect[0] != '\0') {
            snprintf(c->leader, sizeof(c->leader), "%s", r->url);
        } else {
            for (i = 0; i < c->n_endpoints; i++) {
                if (strcmp(c->endpoints[i], from) == 0) {
                    c->preferred = i;
                }
            }
        }
        rv = client__finish(r);
        if (rv != 0) {
            snprintf(c->errmsg, sizeof(c->errmsg), "out of memory");
            client_response_clear(r);
        }
        goto out;
    }

out:
    free(payload);
    return rv;
}

void client_response_describe(const struct client_response *r,
                              char *buf,
                              size_t size)
{
    json_t *err = r->json != NULL ? json_object_get(r->json, "error") : NULL;
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    size_t len = 0;

    if (code != NULL) {
        if (msg != NULL && msg[0] != '\0') {
            snprintf(buf, size, "%s: %s (HTTP %ld)", code, msg, r->status);
        } else {
            snprintf(buf, size, "%s (HTTP %ld)", code, r->status);
        }
        return;
    }
    if (r->body != NULL) {
        while (len < r->body_len && len < 160 && r->body[len] != '\n' &&
               r->body[len] != '\r') {
            len++;
        }
    }
    if (len > 0) {
        snprintf(buf, size, "HTTP %ld: %.*s", r->status, (int)len, r->body);
    } else {
        snprintf(buf, size, "HTTP %ld", r->status);
    }
}

int client_path_escape(const char *s, char *buf, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            if (o + 1 >= size) {
                return DR_ELIMIT;
            }
            buf[o++] = (char)ch;
        } else {
            if (o + 3 >= size) {
                return DR_ELIMIT;
            }
            buf[o++] = '%';
            buf[o++] = hex[ch >> 4];
            buf[o++] = hex[ch & 15];
        }
    }
    if (o >= size) {
        return DR_ELIMIT;
    }
    buf[o] = '\0';
    return 0;
}
