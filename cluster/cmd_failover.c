/* drctl failover: the runbook's status, start, resume and abort. */
#include "drctl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* This host's wall clock in ms (the runbook's times are the leader's). */
static json_int_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How the restore step brought PostgreSQL back, from the runbook's detail
 * (the restore job's report): the DR standby promoted, or the backup
 * restored and why the standby was passed over. */
static void print_pg_path(const char *detail)
{
    json_t *d = detail != NULL ? json_loads(detail, 0, NULL) : NULL;
    const char *path = json_string_value(json_object_get(d, "pg_path"));
    const json_t *sb = json_object_get(d, "standby");
    const char *why = json_string_value(json_object_get(sb, "why_not"));
    char buf[64];

    if (path != NULL && strcmp(path, "promote") == 0) {
        printf("postgresql     the DR standby promoted (replayed to %s)\n",
               drctl_fmt_time_ms(json_object_get(sb, "replayed_to_ms"), buf,
                                 sizeof(buf)));
    } else if (path != NULL) {
        printf("postgresql     the backup restored%s%s%s\n",
               why != NULL ? " (the standby was passed over: " : "",
               why != NULL ? why : "", why != NULL ? ")" : "");
    }
    json_decref(d);
}

static void print_status(const json_t *v, const void *arg)
{
    const json_t *steps = json_object_get(v, "steps"), *s;
    const char *err = json_string_value(json_object_get(v, "error"));
    const char *cand = json_string_value(json_object_get(v, "candidate"));
    const char *why =
        json_string_value(json_object_get(v, "candidate_why_not"));
    char buf[64];
    size_t i;

    (void)arg;
    printf("state          %s\n",
           json_string_value(json_object_get(v, "state")));
    printf("site           %s, primary %s, mode %s\n",
           json_string_value(json_object_get(v, "site_state")),
           json_string_value(json_object_get(v, "primary_region")),
           json_string_value(json_object_get(v, "mode")));
    printf("candidate      %s\n", cand != NULL ? cand : why ? why : "-");
    if (json_is_string(json_object_get(v, "layout_warning"))) {
        printf("WARNING        automatic failover is off: %s\n",
               json_string_value(json_object_get(v, "layout_warning")));
    }
    {
        const json_t *lost = json_object_get(v, "primary_lost");
        if (json_is_object(lost)) {
            const char *no =
                json_string_value(json_object_get(lost, "why_no_failover"));
            printf(
                "LOST           %s: no coordinator heard from for %lld "
                "ms%s%s\n",
                json_string_value(json_object_get(lost, "region")),
                (long long)json_integer_value(
                    json_object_get(lost, "silence_ms")),
                no != NULL ? "; no failover: " : "", no != NULL ? no : "");
        }
    }
    if (json_integer_value(json_object_get(v, "id")) == 0) {
        return;
    }
    printf("epoch          %lld\n",
           (long long)json_integer_value(json_object_get(v, "epoch")));
    printf("from -> to     %s -> %s%s\n",
           json_string_value(json_object_get(v, "from_region")),
           json_string_value(json_object_get(v, "to_region")),
           json_is_true(json_object_get(v, "planned")) ? " (switchover)" : "");
    if (json_is_string(json_object_get(v, "waiting_for"))) {
        printf("waiting for    %s\n",
               json_string_value(json_object_get(v, "waiting_for")));
    }
    printf("reason         %s\n",
           json_string_value(json_object_get(v, "reason")));
    printf("restore point  pg %s, redis %s\n",
           json_string_value(json_object_get(v, "pg_backup")),
           json_string_value(json_object_get(v, "redis_backup")));
    print_pg_path(json_string_value(json_object_get(v, "detail")));
    json_array_foreach(steps, i, s)
    {
        /* How long each step took (to the next one's start), and how long
         * the current one has run: where the time goes, at 3 a.m. */
        const char *name = json_string_value(json_object_get(s, "step"));
        const char *state = json_string_value(json_object_get(v, "state"));
        json_int_t at = json_integer_value(json_object_get(s, "at_ms"));
        const json_t *next = json_array_get(steps, i + 1);
        char took[64] = "";

        if (next != NULL) {
            json_int_t d = json_integer_value(json_object_get(next, "at_ms"));
            snprintf(took, sizeof(took), "   took %.1f s",
                     (double)(d > at ? d - at : 0) / 1000.0);
        } else if (name != NULL && state != NULL && strcmp(name, state) == 0 &&
                   strcmp(state, "complete") != 0 &&
                   strcmp(state, "aborted") != 0) {
            json_int_t now = wall_ms();
            snprintf(took, sizeof(took), "   running for %.1f s",
                     (double)(now > at ? now - at : 0) / 1000.0);
        }
        printf("  %-12s %s%s\n", name != NULL ? name : "?",
               drctl_fmt_time_ms(json_object_get(s, "at_ms"), buf, sizeof(buf)),
               took);
    }
    if (json_integer_value(json_object_get(v, "rto_ms")) > 0) {
        printf("RTO            %lld ms\nRPO            %lld ms\n",
               (long long)json_integer_value(json_object_get(v, "rto_ms")),
               (long long)json_integer_value(json_object_get(v, "rpo_ms")));
    }
    if (err != NULL && err[0] != '\0') {
        printf("error          %s\n", err);
    }
}

static int status(struct drctl *d, int argc, char **argv)
{
    return drctl_show_get(d, argc, argv, "/api/failover", print_status);
}

static int post(struct drctl *d, const char *path, json_t *body)
{
    int rv = drctl_show(d, "POST", path, body, print_status, NULL);
    json_decref(body);
    return rv;
}

static int resume(struct drctl *d, int argc, char **argv)
{
    int rv = drctl_parse_opts(d, argc, argv, NULL);
    return rv != 0 ? (rv < 0 ? 0 : rv)
                   : post(d, "/api/failover/resume", json_object());
}

static int abort_cmd(struct drctl *d, int argc, char **argv)
{
    int rv = drctl_parse_opts(d, argc, argv, NULL);
    return rv != 0 ? (rv < 0 ? 0 : rv)
                   : post(d, "/api/failover/abort", json_object());
}

/* drctl failback: a switchover back to the region the last completed
 * failover left, once it is a healthy DR site again: the current primary
 * is fenced and backed up a last time, so nothing written since is lost. */
int drctl_cmd_failback(struct drctl *d, int argc, char **argv)
{
    json_t *st = NULL, *body;
    const char *state, *from, *primary;
    char reason[160];
    int rv = drctl_parse_opts(d, argc, argv, NULL);

    if (rv != 0) {
        return rv < 0 ? 0 : rv;
    }
    if ((rv = drctl_call(d, "GET", "/api/failover", NULL, &st)) != 0) {
        return rv;
    }
    state = json_string_value(json_object_get(st, "state"));
    from = json_string_value(json_object_get(st, "from_region"));
    primary = json_string_value(json_object_get(st, "primary_region"));
    if (state == NULL || strcmp(state, "complete") != 0 || from == NULL ||
        (primary != NULL && strcmp(from, primary) == 0)) {
        rv = drctl_fail(d,
                        "nothing to fail back from: the last failover is %s "
                        "(drctl failover status)",
                        state != NULL ? state : "unknown");
        json_decref(st);
        return rv;
    }
    snprintf(reason, sizeof(reason), "failback to %.64s", from);
    body = json_pack("{ss ss sb sb}", "to", from, "reason", reason, "force", 0,
                     "planned", 1);
    json_decref(st);
    return post(d, "/api/failover", body);
}

/* POST a runbook start from --to, --reason, --force; planned: a
 * switchover (--to required), else a failover (--to or --force). */
static int start(struct drctl *d, int argc, char **argv, bool planned)
{
    const char *to = NULL, *reason = NULL;
    bool force = false;
    const struct drctl_opt opts[] = {
        {"--to", &to, NULL},
        {"--reason", &reason, NULL},
        {"--force", NULL, &force},
        {NULL, NULL, NULL},
    };
    json_t *body;
    int rv = drctl_parse_opts(d, argc, argv, opts);

    if (rv != 0) {
        return rv < 0 ? 0 : rv;
    }
    if (to == NULL && (planned || !force)) {
        return drctl_usage_error(d, planned ? "give --to REGION"
                                            : "give --to REGION (or --force "
                                              "to let the cluster pick the "
                                              "DR region)");
    }
    body = json_pack("{sb}", "force", force);
    if (planned) {
        json_object_set_new(body, "planned", json_true());
    }
    if (to != NULL) {
        json_object_set_new(body, "to", json_string(to));
    }
    if (reason != NULL) {
        json_object_set_new(body, "reason", json_string(reason));
    }
    return post(d, "/api/failover", body);
}

/* drctl switchover --to REGION: planned, with the primary alive: fence it,
 * take final backups, wait for their copies in REGION, then the runbook. */
int drctl_cmd_switchover(struct drctl *d, int argc, char **argv)
{
    return start(d, argc, argv, true);
}

int drctl_cmd_failover(struct drctl *d, int argc, char **argv)
{
    static const struct drctl_subcommand subs[] = {
        {"status", status},
        {"resume", resume},
        {"abort", abort_cmd},
        {NULL, NULL},
    };

    if (argc > 0 && argv[0][0] != '-') {
        return drctl_dispatch(d, argc, argv, subs);
    }
    return start(d, argc, argv, false);
}
