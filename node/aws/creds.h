/* S3 credentials from a private file or the environment. */
#ifndef DR_AWS_CREDS_H
#define DR_AWS_CREDS_H

struct s3_creds
{
    char access_key_id[128];
    char secret_access_key[128];
    char session_token[4096]; /* "" when none */
};

/* Load credentials from file (NULL: the environment's AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). The file holds "key = value"
 * lines (access_key_id, secret_access_key, session_token; the aws_ forms
 * of AWS's own files are accepted; '#' comments and [sections] ignored) and
 * must not be readable by group or others. Errors: DR_EAUTH (none found or
 * incomplete), DR_EINVAL (unsafe permissions, malformed line), DR_EIO. The
 * message names the file or variables, never a value. */
int s3_creds_load(const char *file, struct s3_creds *c, char *errmsg);

/* Wipe secrets from memory. */
void s3_creds_clear(struct s3_creds *c);

#endif /* DR_AWS_CREDS_H */
