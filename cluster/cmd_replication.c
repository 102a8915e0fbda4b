/* drctl replication status: copies per destination region. */
#include "drctl.h"

#include <stdio.h>
#include <string.h>

/* "12.3 MB/s" */
static const char *fmt_rate(const json_t *v, char *buf, size_t size)
{
    double bps = (double)json_integer_value(v);
    if (bps >= 1e6) {
        snprintf(buf, size, "%.1f MB/s", bps / 1e6);
    } else {
        snprintf(buf, size, "%.1f kB/s", bps / 1e3);
    }
    return buf;
}

/* Seconds of lag, "-" for none. */
static const char *fmt_lag(const json_t *v, char *buf, size_t size)
{
    double s = json_number_value(v);
    if (s <= 0) {
        snprintf(buf, size, "-");
    } else {
        snprintf(buf, size, "%.0fs", s);
    }
    return buf;
}

static void print_status(const json_t *v, const void *arg)
{
    const json_t *regions = json_object_get(v, "regions"), *r;
    size_t i;

    (void)arg;
    printf("%-16s %-8s %7s %7s %6s %8s %14s %12s %8s %8s %8s  %s\n", "REGION",
           "RECEIVES", "PENDING", "RUNNING", "FAILED", "VERIFIED", "BYTES",
           "THROUGHPUT", "LAG_PG", "LAG_RDS", "LAG_BASE", "NOTE");
    json_array_foreach(regions, i, r)
    {
        const json_t *jobs = json_object_get(r, "jobs");
        const json_t *copies = json_object_get(r, "copies");
        const json_t *lag = json_object_get(r, "lag_s");
        const char *skipped = json_string_value(json_object_get(r, "skipped"));
        char rate[32], lpg[32], lrd[32], lbase[32];

        printf(
            "%-16s %-8s %7lld %7lld %6lld %8lld %14lld %12s %8s %8s %8s  %s\n",
            json_string_value(json_object_get(r, "region")),
            json_is_true(json_object_get(r, "receives")) ? "yes" : "no",
            (long long)json_integer_value(json_object_get(jobs, "pending")),
            (long long)json_integer_value(json_object_get(jobs, "running")),
            (long long)json_integer_value(json_object_get(jobs, "failed")),
            (long long)json_integer_value(json_object_get(copies, "verified")),
            (long long)json_integer_value(json_object_get(r, "bytes_copied")),
            fmt_rate(json_object_get(r, "throughput_bps"), rate, sizeof(rate)),
            fmt_lag(json_object_get(lag, "pg_logical"), lpg, sizeof(lpg)),
            fmt_lag(json_object_get(lag, "redis_snapshot"), lrd, sizeof(lrd)),
            fmt_lag(json_object_get(lag, "pg_base"), lbase, sizeof(lbase)),
            skipped != NULL ? skipped : "");
    }
    printf("\nunsafe backups: %lld (oldest %.0fs)\n",
           (long long)json_integer_value(json_object_get(v, "unsafe_backups")),
           json_number_value(json_object_get(v, "oldest_unsafe_s")));
}

static int status(struct drctl *d, int argc, char **argv)
{
    return drctl_show_get(d, argc, argv, "/api/replication", print_status);
}

int drctl_cmd_replication(struct drctl *d, int argc, char **argv)
{
    static const struct drctl_subcommand subs[] = {
        {"status", status},
        {NULL, NULL},
    };
    return drctl_dispatch(d, argc, argv, subs);
}
