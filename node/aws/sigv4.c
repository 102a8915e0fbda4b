/* AWS Signature Version 4: canonical request, string to sign, signature. */
#include "aws/sigv4.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/err.h"

/* A growing string. */
struct sb
{
    char *s;
    size_t len, cap;
    int oom;
};

static void sb_addn(struct sb *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap == 0 ? 256 : b->cap;
        char *p;
        while (ncap < b->len + n + 1) {
            ncap *= 2;
        }
        p = realloc(b->s, ncap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = ncap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_add(struct sb *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

/* Finish: the string, or NULL (and freed) when an allocation failed. */
static char *sb_take(struct sb *b)
{
    if (b->oom) {
        free(b->s);
        return NULL;
    }
    if (b->s == NULL) {
        return strdup("");
    }
    return b->s;
}

static void to_hex(const unsigned char *md, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *buf, size_t len, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
    to_hex(md, mdlen, hex);
}

static void hmac(const void *key,
                 size_t keylen,
                 const char *msg,
                 unsigned char out[32])
{
    unsigned int outlen = 32;

    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg,
         strlen(msg), out, &outlen);
}

char *sigv4_uri_encode(const char *s, int keep_slash)
{
    struct sb b = {0};
    char esc[4];

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
            (keep_slash && c == '/')) {
            sb_addn(&b, (const char *)&c, 1);
        } else {
            snprintf(esc, sizeof(esc), "%%%02X", c);
            sb_addn(&b, esc, 3);
        }
    }
    return sb_take(&b);
}

struct param
{
    const char *k, *v; /* into a private copy of the query */
};

static int param_cmp(const void *a, const void *b)
{
    const struct param *x = a, *y = b;
    int c = strcmp(x->k, y->k);

    return c != 0 ? c : strcmp(x->v, y->v);
}

/* Sorted "k=v&k=v" with valueless parameters as "k=". */
static char *canonical_query(const char *query)
{
    struct param *ps = NULL;
    struct sb b = {0};
    char *copy, *p, *amp, *eq;
    size_t n = 0, i;

    if (query == NULL || query[0] == '\0') {
        return strdup("");
    }
    copy = strdup(query);
    ps = calloc(strlen(query) / 2 + 2, sizeof(*ps));
    if (copy == NULL || ps == NULL) {
        free(copy);
        free(ps);
        return NULL;
    }
    for (p = copy; p != NULL; p = amp) {
        amp = strchr(p, '&');
        if (amp != NULL) {
            *amp++ = '\0';
        }
        if (*p == '\0') {
            continue;
        }
        eq = strchr(p, '=');
        if (eq != NULL) {
            *eq = '\0';
            ps[n].v = eq + 1;
        } else {
            ps[n].v = "";
        }
        ps[n].k = p;
        n++;
    }
    qsort(ps, n, sizeof(*ps), param_cmp);
    for (i = 0; i < n; i++) {
        if (i > 0) {
            sb_add(&b, "&");
        }
        sb_add(&b, ps[i].k);
        sb_add(&b, "=");
        sb_add(&b, ps[i].v);
    }
    free(ps);
    free(copy);
    return sb_take(&b);
}

struct hdr
{
    char *name;  /* lower case, malloc'ed */
    char *value; /* trimmed and collapsed, malloc'ed */
    size_t order;
};

static int hdr_cmp(const void *a, const void *b)
{
    const struct hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c != 0) {
        return c;
    }
    return x->order < y->order ? -1 : x->order > y->order;
}

static int skipped_header(const char *lname)
{
    return strcmp(lname, "expect") == 0 || strcmp(lname, "user-agent") == 0 ||
           strcmp(lname, "transfer-encoding") == 0 ||
           strcmp(lname, "x-amzn-trace-id") == 0;
}

static char *collapse(const char *v)
{
    struct sb b = {0};
    int space = 0;

    while (*v == ' ' || *v == '\t') {
        v++;
    }
    for (; *v != '\0'; v++) {
        if (*v == ' ' || *v == '\t') {
            space = 1;
            continue;
        }
        if (space && b.len > 0) {
            sb_add(&b, " ");
        }
        space = 0;
        sb_addn(&b, v, 1);
    }
    return sb_take(&b);
}

int sigv4_sign(const struct sigv4_request *req,
               const struct sigv4_key *key,
               const char *amz_date,
               struct sigv4_result *res)
{
    struct hdr *hs = NULL;
    struct sb canon = {0}, signed_h = {0}, sts = {0}, auth = {0};
    char *query = NULL, scope[128], date[9], hash[65], sig[65];
    unsigned char k1[32], k2[32], k3[32], k4[32], mac[32];
    struct sb kdate = {0};
    size_t n = 0, i, j;
    int rv = DR_ENOMEM;

    memset(res, 0, sizeof(*res));
    if (strlen(amz_date) != 16 || amz_date[8] != 'T' || amz_date[15] != 'Z') {
        return DR_EINVAL;
    }
    memcpy(date, amz_date, 8);
    date[8] = '\0';

    hs = calloc(req->n_headers + 1, sizeof(*hs));
    if (hs == NULL) {
        return DR_ENOMEM;
    }
    for (i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name;
        if (name == NULL || name[0] == '\0') {
            rv = DR_EINVAL;
            goto out;
        }
        hs[n].name = strdup(name);
        if (hs[n].name == NULL) {
            goto out;
        }
        for (j = 0; hs[n].name[j] != '\0'; j++) {
            hs[n].name[j] = (char)tolower((unsigned char)hs[n].name[j]);
        }
        if (skipped_header(hs[n].name)) {
            free(hs[n].name);
            hs[n].name = NULL;
            continue;
        }
        hs[n].value = collapse(
            req->headers[i].value != NULL ? req->headers[i].value : "");
        if (hs[n].value == NULL) {
            free(hs[n].name);
            hs[n].name = NULL;
            goto out;
        }
        hs[n].order = i;
        n++;
    }
    qsort(hs, n, sizeof(*hs), hdr_cmp);

    query = canonical_query(req->query);
    if (query == NULL) {
        goto out;
    }
    /* The canonical request. */
    sb_add(&canon, req->method);
    sb_add(&canon, "\n");
    sb_add(&canon, req->path != NULL && req->path[0] != '\0' ? req->path : "/");
    sb_add(&canon, "\n");
    sb_add(&canon, query);
    sb_add(&canon, "\n");
    for (i = 0; i < n; i++) {
        if (i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0) {
            /* Repeated header: values joined with ','. */
            sb_add(&canon, ",");
            sb_add(&canon, hs[i].value);
            continue;
        }
        if (i > 0) {
            sb_add(&canon, "\n");
            sb_add(&signed_h, ";");
        }
        sb_add(&canon, hs[i].name);
        sb_add(&canon, ":");
        sb_add(&canon, hs[i].value);
        sb_add(&signed_h, hs[i].name);
    }
    sb_add(&canon, "\n\n");
    sb_add(&signed_h, "");
    sb_add(&canon, signed_h.s != NULL ? signed_h.s : "");
    sb_add(&canon, "\n");
    sb_add(&canon, req->payload_sha256);
    if (canon.oom || signed_h.oom) {
        goto out;
    }

    /* The string to sign. */
    snprintf(scope, sizeof(scope), "%s/%.40s/%.20s/aws4_request", date,
             key->region, key->service);
    sigv4_sha256_hex(canon.s, canon.len, hash);
    sb_add(&sts, "AWS4-HMAC-SHA256\n");
    sb_add(&sts, amz_date);
    sb_add(&sts, "\n");
    sb_add(&sts, scope);
    sb_add(&sts, "\n");
    sb_add(&sts, hash);
    if (sts.oom) {
        goto out;
    }

    /* The signing key and the signature. */
    sb_add(&kdate, "AWS4");
    sb_add(&kdate, key->secret_access_key);
    if (kdate.oom) {
        goto out;
    }
    hmac(kdate.s, kdate.len, date, k1);
    hmac(k1, 32, key->region, k2);
    hmac(k2, 32, key->service, k3);
    hmac(k3, 32, "aws4_request", k4);
    hmac(k4, 32, sts.s, mac);
    to_hex(mac, 32, sig);

    sb_add(&auth, "AWS4-HMAC-SHA256 Credential=");
    sb_add(&auth, key->access_key_id);
    sb_add(&auth, "/");
    sb_add(&auth, scope);
    sb_add(&auth, ", SignedHeaders=");
    sb_add(&auth, signed_h.s);
    sb_add(&auth, ", Signature=");
    sb_add(&auth, sig);
    if (auth.oom) {
        goto out;
    }
    res->canonical_request = canon.s;
    res->string_to_sign = sts.s;
    res->signed_headers = signed_h.s;
    res->signature = strdup(sig);
    res->authorization = auth.s;
    canon.s = sts.s = signed_h.s = auth.s = NULL;
    if (res->signature == NULL) {
        sigv4_result_free(res);
        goto out;
    }
    rv = 0;
out:
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    OPENSSL_cleanse(k3, sizeof(k3));
    OPENSSL_cleanse(k4, sizeof(k4));
    if (kdate.s != NULL) {
        OPENSSL_cleanse(kdate.s, kdate.cap);
        free(kdate.s);
    }
    free(canon.s);
    free(sts.s);
    free(signed_h.s);
    free(auth.s);
    free(query);
    for (i = 0; i < n; i++) {
        free(hs[i].name);
        free(hs[i].value);
    }
    free(hs);
    return rv;
}

void sigv4_result_free(struct sigv4_result *res)
{
    free(res->canonical_request);
    free(res->string_to_sign);
    free(res->signed_headers);
    free(res->signature);
    free(res->authorization);
    memset(res, 0, sizeof(*res));
}
