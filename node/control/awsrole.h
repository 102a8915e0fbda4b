/* The instance role's AWS credentials fetched on the node's loop (IMDSv2
 * through httpc, never blocking): the Route 53 DNS step's credentials when
 * no [dns] aws_credentials_file and no AWS_* environment give any. The
 * blocking fetch of the job child and drctl is aws/imds.c; both parse the
 * answer with aws_imds_parse_creds. */
#ifndef DR_CONTROL_AWSROLE_H
#define DR_CONTROL_AWSROLE_H

#include <stdbool.h>

#include "aws/creds.h"
#include "http/httpc.h"

struct awsrole;
typedef void (*awsrole_cb)(struct awsrole *a, const char *err);

struct awsrole
{
    void *data;
    struct s3_creds creds; /* the outcome (err NULL) */
    /* Private. */
    struct httpc *http;
    struct httpc_req req;
    int phase; /* 1 token, 2 role name, 3 credentials */
    char token_hdr[160];
    char role[128];
    char url[320];
    bool busy;
    awsrole_cb cb;
};

/* Start a fetch (a no-op returning -1 while one runs). cb runs once with
 * err NULL (a->creds filled) or the reason. */
int awsrole_fetch(struct awsrole *a, struct httpc *http, awsrole_cb cb);

#endif
