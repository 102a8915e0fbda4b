/* `drnode --run-job`: one job from a JSON spec on stdin, its result on
 * stdout. drnode spawns this for every job it claims, so a crash, a hang or
 * a lost lease never touches the coordinator's loop. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "backup/job.h"
#include "common/err.h"

#define JOB_SPEC_MAX (1024 * 1024)

static void print_outcome(FILE *out,
                          int code,
                          const char *errmsg,
                          json_t *result)
{
    json_t *o = json_object();

    json_object_set_new(o, "ok", json_boolean(code == 0));
    if (code != 0) {
        json_object_set_new(o, "code", json_string(dr_errcode_name(code)));
        json_object_set_new(o, "error", json_string(errmsg));
    }
    if (result != NULL) {
        json_object_set(o, "result", result);
    }
    json_dumpf(o, out, JSON_COMPACT);
    fputc('\n', out);
    fflush(out);
    json_decref(o);
}

int job_main(FILE *in, FILE *out)
{
    json_t *spec, *result = NULL;
    json_error_t jerr;
    char errmsg[256];
    const char *ppid;
    int rv;

    /* Die with the drnode that started us: a job whose owner is gone has
     * lost its lease, and must not go on writing. */
    ppid = getenv("DR_JOB_PARENT");
    if (ppid != NULL) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if ((long)getppid() != atol(ppid)) {
            return 1;
        }
    }
    spec = json_loadf(in, JSON_REJECT_DUPLICATES, &jerr);
    if (spec == NULL) {
        snprintf(errmsg, sizeof(errmsg), "job spec: line %d: %s", jerr.line,
                 jerr.text);
        print_outcome(out, DR_EINVAL, errmsg, NULL);
        return 2;
    }
    errmsg[0] = '\0';
    rv = job_run(spec, &result, errmsg);
    print_outcome(out, rv, errmsg, result);
    json_decref(result);
    json_decref(spec);
    return rv == 0 ? 0 : 1;
}
