/* The EC2 instance's role credentials through IMDSv2 (creds.h):
 *
 *   PUT  /latest/api/token                        (a session token, 6 h)
 *   GET  /latest/meta-data/iam/security-credentials/       the role name
 *   GET  /latest/meta-data/iam/security-credentials/ROLE   the keys (JSON)
 *
 * Blocking libcurl with tight bounds: for the job child and drctl only. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "aws/creds.h"
#include "common/err.h"
#include "json/jsonin.h"

#define IMDS_DEFAULT "http://169.254.169.254"
#define IMDS_BODY_MAX 16384
#define IMDS_CONNECT_MS 1000
#define IMDS_TIMEOUT_MS 2000

struct body
{
    char buf[IMDS_BODY_MAX];
    size_t len;
    bool overflow;
};

static size_t write_cb(char *p, size_t size, size_t n, void *data)
{
    struct body *b = data;
    size_t len = size * n;

    if (b->len + len >= sizeof(b->buf)) {
        b->overflow = true;
        return 0;
    }
    memcpy(b->buf + b->len, p, len);
    b->len += len;
    b->buf[b->len] = '\0';
    return len;
}

bool aws_imds_disabled(void)
{
    const char *v = getenv("AWS_EC2_METADATA_DISABLED");
    return v != NULL && strcasecmp(v, "true") == 0;
}

const char *aws_imds_endpoint(void)
{
    const char *v = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    return v != NULL && v[0] != '\0' ? v : IMDS_DEFAULT;
}

void aws_imds_url(const char *path, char *out, size_t size)
{
    const char *base = aws_imds_endpoint();
    size_t blen = strlen(base);

    while (blen > 0 && base[blen - 1] == '/') {
        blen--;
    }
    snprintf(out, size, "%.*s%s", (int)blen, base, path);
}

/* One request; 0 with the body, or DR_EIO / DR_EAUTH with errmsg. */
static int call(CURL *e,
                const char *method,
                const char *path,
                const char *header,
                struct body *b,
                char *errmsg)
{
    char url[512];
    struct curl_slist *h = NULL;
    const char *base = aws_imds_endpoint();
    long status = 0;
    CURLcode rc;

    aws_imds_url(path, url, sizeof(url));
    b->len = 0;
    b->buf[0] = '\0';
    b->overflow = false;
    curl_easy_reset(e);
    if (header != NULL) {
        h = curl_slist_append(NULL, header);
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)IMDS_CONNECT_MS);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)IMDS_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never through a proxy */
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
    rc = curl_easy_perform(e);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        snprintf(errmsg, 256, "instance metadata at %.100s: %s", base,
                 b->overflow ? "answer too large" : curl_easy_strerror(rc));
        return DR_EIO;
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (status == 404) {
        snprintf(errmsg, 256,
                 "instance metadata at %.100s: no IAM role attached to this "
                 "instance (%s answered 404)",
                 base, path);
        return DR_EAUTH;
    }
    if (status < 200 || status > 299) {
        snprintf(errmsg, 256, "instance metadata at %.100s: %s %s answered %ld",
                 base, method, path, status);
        return DR_EIO;
    }
    return 0;
}

/* "2026-12-06T16:04:05Z" -> milliseconds since the epoch, or 0. */
static uint64_t parse_time(const char *s)
{
    struct tm tm;
    const char *end;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL || (*end != 'Z' && *end != '\0')) {
        return 0;
    }
    t = timegm(&tm);
    return t > 0 ? (uint64_t)t * 1000 : 0;
}

static int copy_field(const struct jin *o,
                      const char *key,
                      char *dst,
                      size_t cap,
                      char *errmsg)
{
    const struct jin *v = jin_get(o, key);

    if (v == NULL || v->type != JIN_STRING || v->u.str.len == 0 ||
        v->u.str.len >= cap) {
        snprintf(errmsg, 256,
                 "instance metadata: the role's credentials lack %s", key);
        return DR_EIO;
    }
    memcpy(dst, v->u.str.s, v->u.str.len + 1);
    return 0;
}

bool aws_imds_role_ok(const char *role)
{
    size_t len = strlen(role);

    for (size_t i = 0; i < len; i++) {
        if (!isalnum((unsigned char)role[i]) &&
            strchr("+=,.@_-", role[i]) == NULL) {
            return false;
        }
    }
    return len > 0 && len < 128;
}

int aws_imds_parse_creds(const char *json,
                         size_t len,
                         const char *role,
                         struct s3_creds *c,
                         char *errmsg)
{
    struct jin_doc doc;
    const struct jin *code;
    char inner[256];
    int rv;

    if (jin_parse(&doc, json, len, inner) != 0) {
        snprintf(errmsg, 256,
                 "instance metadata: the role's credentials are not JSON");
        return DR_EIO;
    }
    code = jin_get(&doc.root, "Code");
    if (doc.root.type != JIN_OBJECT || code == NULL ||
        code->type != JIN_STRING || strcmp(code->u.str.s, "Success") != 0) {
        snprintf(errmsg, 256,
                 "instance metadata: role %.80s credentials: Code is not "
                 "Success",
                 role);
        rv = DR_EAUTH;
    } else if ((rv = copy_field(&doc.root, "AccessKeyId", c->access_key_id,
                                sizeof(c->access_key_id), errmsg)) == 0 &&
               (rv = copy_field(&doc.root, "SecretAccessKey",
                                c->secret_access_key,
                                sizeof(c->secret_access_key), errmsg)) == 0 &&
               (rv = copy_field(&doc.root, "Token", c->session_token,
                                sizeof(c->session_token), errmsg)) == 0) {
        const struct jin *exp = jin_get(&doc.root, "Expiration");
        c->expires_ms = exp != NULL && exp->type == JIN_STRING
                            ? parse_time(exp->u.str.s)
                            : 0;
        if (c->expires_ms == 0) {
            snprintf(errmsg, 256,
                     "instance metadata: role %.80s credentials have no "
                     "usable Expiration",
                     role);
            rv = DR_EIO;
        } else {
            c->from_imds = true;
        }
    }
    jin_free(&doc);
    return rv;
}

int aws_imds_creds(struct s3_creds *c, char *errmsg)
{
    struct body *bp = malloc(sizeof(*bp)); /* holds secrets: wiped */
    char token_hdr[160], path[256], role[128];
    CURL *e;
    size_t len;
    int rv;

    if (bp == NULL) {
        snprintf(errmsg, 256, "instance metadata: out of memory");
        return DR_ENOMEM;
    }
    if (aws_imds_disabled()) {
        free(bp);
        snprintf(errmsg, 256,
                 "instance metadata not asked (AWS_EC2_METADATA_DISABLED)");
        return DR_EAUTH;
    }
    e = curl_easy_init();
    if (e == NULL) {
        free(bp);
        snprintf(errmsg, 256, "instance metadata: curl_easy_init failed");
        return DR_ENOMEM;
    }
    rv = call(e, "PUT", "/latest/api/token",
              "X-aws-ec2-metadata-token-ttl-seconds: 21600", bp, errmsg);
    if (rv != 0) {
        goto out;
    }
    len = strcspn(bp->buf, "\r\n");
    if (len == 0 || len > 100) {
        snprintf(errmsg, 256, "instance metadata: no usable session token");
        rv = DR_EIO;
        goto out;
    }
    snprintf(token_hdr, sizeof(token_hdr), "X-aws-ec2-metadata-token: %.*s",
             (int)len, bp->buf);
    rv = call(e, "GET", "/latest/meta-data/iam/security-credentials/",
              token_hdr, bp, errmsg);
    if (rv != 0) {
        goto out;
    }
    len = strcspn(bp->buf, "\r\n");
    if (len == 0 || len >= sizeof(role)) {
        snprintf(errmsg, 256,
                 "instance metadata: no IAM role attached to this instance");
        rv = DR_EAUTH;
        goto out;
    }
    memcpy(role, bp->buf, len);
    role[len] = '\0';
    if (!aws_imds_role_ok(role)) {
        snprintf(errmsg, 256, "instance metadata: odd role name");
        rv = DR_EIO;
        goto out;
    }
    snprintf(path, sizeof(path),
             "/latest/meta-data/iam/security-credentials/%.127s", role);
    rv = call(e, "GET", path, token_hdr, bp, errmsg);
    if (rv != 0) {
        goto out;
    }
    rv = aws_imds_parse_creds(bp->buf, bp->len, role, c, errmsg);
out:
    OPENSSL_cleanse(bp, sizeof(*bp));
    free(bp);
    OPENSSL_cleanse(token_hdr, sizeof(token_hdr));
    curl_easy_cleanup(e);
    return rv;
}
