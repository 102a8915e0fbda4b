/* IMDSv2 on the loop (awsrole.h): PUT a session token, GET the role name,
 * GET its credentials; each step a request of the controller's httpc. */
#include "control/awsrole.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#define AWSROLE_TIMEOUT_MS 2000
#define AWSROLE_MAX_BODY 16384
#define CREDS_PATH "/latest/meta-data/iam/security-credentials/"

static int next(struct awsrole *a);

static void finish(struct awsrole *a, const char *err)
{
    a->busy = false;
    OPENSSL_cleanse(a->token_hdr, sizeof(a->token_hdr));
    if (err != NULL) {
        s3_creds_clear(&a->creds);
    }
    a->cb(a, err);
}

static void answer_cb(struct httpc_req *r,
                      long status,
                      const char *body,
                      size_t len,
                      const char *err)
{
    struct awsrole *a = r->data;
    char msg[300];

    if (status == 0) {
        snprintf(msg, sizeof(msg), "instance metadata at %.100s: %.150s",
                 aws_imds_endpoint(), err != NULL ? err : "no answer");
        finish(a, msg);
        return;
    }
    if (status == 404 && a->phase >= 2) {
        snprintf(msg, sizeof(msg),
                 "instance metadata at %.100s: no IAM role attached to this "
                 "instance",
                 aws_imds_endpoint());
        finish(a, msg);
        return;
    }
    if (status < 200 || status > 299) {
        snprintf(msg, sizeof(msg),
                 "instance metadata at %.100s answered %ld (step %d)",
                 aws_imds_endpoint(), status, a->phase);
        finish(a, msg);
        return;
    }
    if (a->phase == 1 || a->phase == 2) {
        size_t n = strcspn(body, "\r\n");
        if (a->phase == 1) {
            if (n == 0 || n > 100) {
                finish(a, "instance metadata: no usable session token");
                return;
            }
            snprintf(a->token_hdr, sizeof(a->token_hdr),
                     "X-aws-ec2-metadata-token: %.*s", (int)n, body);
        } else {
            if (n == 0 || n >= sizeof(a->role)) {
                finish(a,
                       "instance metadata: no IAM role attached to this "
                       "instance");
                return;
            }
            memcpy(a->role, body, n);
            a->role[n] = '\0';
            if (!aws_imds_role_ok(a->role)) {
                finish(a, "instance metadata: odd role name");
                return;
            }
        }
        a->phase++;
        if (next(a) != 0) {
            finish(a, "instance metadata: cannot send the request");
        }
        return;
    }
    memset(&a->creds, 0, sizeof(a->creds));
    if (aws_imds_parse_creds(body, len, a->role, &a->creds, msg) != 0) {
        finish(a, msg);
        return;
    }
    finish(a, NULL);
}

static int next(struct awsrole *a)
{
    const char *hdr[2] = {a->token_hdr, NULL};
    char path[256];

    a->req.data = a;
    switch (a->phase) {
        case 1:
            aws_imds_url("/latest/api/token", a->url, sizeof(a->url));
            snprintf(a->token_hdr, sizeof(a->token_hdr), "%s",
                     "X-aws-ec2-metadata-token-ttl-seconds: 21600");
            return httpc_send(a->http, &a->req, "PUT", a->url, hdr, "",
                              AWSROLE_MAX_BODY, AWSROLE_TIMEOUT_MS, answer_cb);
        case 2:
            aws_imds_url(CREDS_PATH, a->url, sizeof(a->url));
            break;
        default:
            snprintf(path, sizeof(path), CREDS_PATH "%.127s", a->role);
            aws_imds_url(path, a->url, sizeof(a->url));
            break;
    }
    return httpc_request(a->http, &a->req, a->url, hdr, AWSROLE_MAX_BODY,
                         AWSROLE_TIMEOUT_MS, answer_cb);
}

int awsrole_fetch(struct awsrole *a, struct httpc *http, awsrole_cb cb)
{
    if (a->busy) {
        return -1;
    }
    a->http = http;
    a->cb = cb;
    a->phase = 1;
    a->role[0] = '\0';
    a->busy = true;
    if (next(a) != 0) {
        a->busy = false;
        return -1;
    }
    return 0;
}
