/* Job dispatch: the op named in a spec to the code that runs it. */
#include <stdio.h>
#include <string.h>

#include "backup/job.h"
#include "common/err.h"
#include "store/store.h"

typedef int (*job_fn)(const json_t *spec, json_t **result, char *errmsg);

static const struct {
    const char *op;
    job_fn fn;
} job_ops[] = {
    {"pg_backup", pgjob_backup},       {"pg_restore", pgjob_restore},
    {"pg_verify", pgjob_verify},       {"redis_backup", redisjob_backup},
    {"redis_restore", redisjob_restore}, {"redis_verify", redisjob_verify},
    {"store_delete", storejob_delete}, {"store_verify", storejob_verify},
};

int job_run(const json_t *spec, json_t **result, char *errmsg)
{
    const char *op;
    char inner[256];
    size_t i;
    int rv;

    *result = NULL;
    if (!json_is_object(spec)) {
        snprintf(errmsg, 256, "job spec: not a JSON object");
        return DR_EINVAL;
    }
    op = json_string_value(json_object_get(spec, "op"));
    if (op == NULL) {
        snprintf(errmsg, 256, "job spec: \"op\" is missing or not a string");
        return DR_EINVAL;
    }
    for (i = 0; i < sizeof(job_ops) / sizeof(job_ops[0]); i++) {
        if (strcmp(op, job_ops[i].op) == 0) {
            inner[0] = '\0';
            rv = job_ops[i].fn(spec, result, inner);
            if (rv != 0) {
                snprintf(errmsg, 256, "%.32s: %.200s", op, inner);
            }
            return rv;
        }
    }
    snprintf(errmsg, 256, "job spec: unknown op \"%.64s\"", op);
    return DR_EINVAL;
}

int job_open_store(const json_t *spec, struct store **out, char *errmsg)
{
    struct store_options opts;
    const char *url = json_string_value(json_object_get(spec, "store"));

    if (url == NULL) {
        snprintf(errmsg, 256, "\"store\" is missing or not a string");
        return DR_EINVAL;
    }
    memset(&opts, 0, sizeof(opts));
    opts.credentials_file =
        json_string_value(json_object_get(spec, "credentials_file"));
    opts.max_retries = -1;
    return store_open(url, &opts, out, errmsg);
}
