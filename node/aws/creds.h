/* S3 credentials from a private file, the environment, or the EC2
 * instance's role (IMDSv2, imds.c). */
#ifndef DR_AWS_CREDS_H
#define DR_AWS_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct s3_creds
{
    char access_key_id[128];
    char secret_access_key[128];
    char session_token[4096]; /* "" when none */
    uint64_t expires_ms;      /* role credentials: when they expire; 0 */
    bool from_imds;           /* fetched from instance metadata */
};

/* Load credentials from file (NULL: the environment's AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). The file holds "key = value"
 * lines (access_key_id, secret_access_key, session_token; the aws_ forms
 * of AWS's own files are accepted; '#' comments and [sections] ignored) and
 * must not be readable by group or others. Errors: DR_EAUTH (none found or
 * incomplete), DR_EINVAL (unsafe permissions, malformed line), DR_EIO. The
 * message names the file or variables, never a value. */
int s3_creds_load(const char *file, struct s3_creds *c, char *errmsg);

/* What AWS SDKs do: the file when one is given; else the environment;
 * else the instance role through IMDSv2 (not when AWS_EC2_METADATA_DISABLED
 * is true; AWS_EC2_METADATA_SERVICE_ENDPOINT replaces
 * http://169.254.169.254). Blocks for up to a few seconds on the IMDS
 * path: for the job child and drctl, never an event loop. The message of a
 * failure says what was tried. */
int s3_creds_resolve(const char *file, struct s3_creds *c, char *errmsg);

/* Role credentials that expire within margin_ms of now_ms are fetched
 * again (others are left alone). 0, or the fetch's error. */
int s3_creds_refresh(struct s3_creds *c,
                     uint64_t now_ms,
                     uint64_t margin_ms,
                     char *errmsg);

/* IMDSv2 (imds.c): the role's credentials with their expiry (blocking). */
int aws_imds_creds(struct s3_creds *c, char *errmsg);
/* The pieces of it an event loop's own client reuses: a role name as IMDS
 * may give it, and the JSON of the role's credentials. */
bool aws_imds_role_ok(const char *role);
int aws_imds_parse_creds(const char *json,
                         size_t len,
                         const char *role,
                         struct s3_creds *c,
                         char *errmsg);
bool aws_imds_disabled(void);
const char *aws_imds_endpoint(void);
/* The endpoint (without a trailing '/') followed by path, into out. */
void aws_imds_url(const char *path, char *out, size_t size);

/* Wipe secrets from memory. */
void s3_creds_clear(struct s3_creds *c);

#endif /* DR_AWS_CREDS_H */
