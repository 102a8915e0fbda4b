/* drctl wal status: what a region's WAL archive holds, read from its store
 * in drctl's own process (job op "wal_status"): per timeline the runs of
 * whole segments, the streamed partial past the newest, and the gaps where
 * a point-in-time restore would stop. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/job.h"
#include "drctl.h"

/* The object store of region (or of the caller's region when NULL) from
 * the cluster; "" when it has none. */
static int drctl__region_store(struct drctl *d,
                               const char **region,
                               char *url,
                               size_t size,
                               char *which,
                               size_t which_size)
{
    json_t *regions = NULL, *r;
    size_t i;
    int rv;

    url[0] = '\0';
    if (*region == NULL) {
        drctl_caller_region(d, which, which_size);
        if (which[0] == '\0') {
            return drctl_fail(d,
                              "cannot tell this node's region: give "
                              "--region R or --store URL");
        }
        *region = which;
    }
    rv = drctl_call(d, "GET", "/api/regions", NULL, &regions);
    if (rv != 0) {
        return rv;
    }
    json_array_foreach(json_object_get(regions, "regions"), i, r)
    {
        const char *name = json_string_value(json_object_get(r, "name"));
        const char *s = json_string_value(json_object_get(r, "object_store"));
        if (name != NULL && strcmp(name, *region) == 0) {
            snprintf(url, size, "%s", s != NULL ? s : "");
            json_decref(regions);
            return 0;
        }
    }
    json_decref(regions);
    return drctl_fail(d, "no region \"%s\" in the cluster", *region);
}

static void drctl__size(uint64_t b, char *buf, size_t size)
{
    if (b >= (1ull << 30)) {
        snprintf(buf, size, "%.1f GiB", (double)b / (1ull << 30));
    } else if (b >= (1ull << 20)) {
        snprintf(buf, size, "%.1f MiB", (double)b / (1ull << 20));
    } else {
        snprintf(buf, size, "%" PRIu64 " KiB", (b + 1023) / 1024);
    }
}

static void drctl__print_archive(const json_t *res,
                                 const char *region,
                                 const char *url)
{
    const json_t *sys, *tl, *r, *g;
    size_t i, k, m;
    char when[40], size[32];

    drctl_fmt_time_ms(json_object_get(res, "newest_ms"), when, sizeof(when));
    printf("WAL archive%s%s in %s: %" JSON_INTEGER_FORMAT " files",
           region != NULL ? " of " : "", region != NULL ? region : "", url,
           json_integer_value(json_object_get(res, "files")));
    if (json_integer_value(json_object_get(res, "files")) > 0) {
        printf(", newest %s", when);
    }
    printf("\n");
    json_array_foreach(json_object_get(res, "systems"), i, sys)
    {
        printf("system %s\n", json_string_value(json_object_get(sys, "sysid")));
        json_array_foreach(json_object_get(sys, "timelines"), k, tl)
        {
            json_int_t tli =
                json_integer_value(json_object_get(tl, "timeline"));
            const char *ends =
                json_string_value(json_object_get(tl, "ends_with"));
            printf("  timeline %" JSON_INTEGER_FORMAT "%s%s%s%s\n", tli,
                   json_is_true(json_object_get(tl, "history"))
                       ? " (history archived)"
                       : "",
                   ends != NULL ? " ends with " : "", ends != NULL ? ends : "",
                   "");
            json_array_foreach(json_object_get(tl, "ranges"), m, r)
            {
                const json_t *st = json_object_get(r, "streamed");
                drctl__size(
                    (uint64_t)json_integer_value(json_object_get(r, "bytes")),
                    size, sizeof(size));
                printf("    %s .. %s  %" JSON_INTEGER_FORMAT
                       " segments, %s, %s .. %s",
                       json_string_value(json_object_get(r, "first")),
                       json_string_value(json_object_get(r, "last")),
                       json_integer_value(json_object_get(r, "segments")), size,
                       json_string_value(json_object_get(r, "start_lsn")),
                       json_string_value(json_object_get(r, "end_lsn")));
                if (st != NULL) {
                    printf(" (%" JSON_INTEGER_FORMAT " bytes streamed of %s)",
                           json_integer_value(json_object_get(st, "bytes")),
                           json_string_value(json_object_get(st, "segment")));
                }
                printf("\n");
            }
            json_array_foreach(json_object_get(tl, "gaps"), m, g)
            {
                printf("    GAP: %s .. %s missing (%" JSON_INTEGER_FORMAT
                       " segments): recovery on timeline %" JSON_INTEGER_FORMAT
                       " stops after %s\n",
                       json_string_value(json_object_get(g, "first_missing")),
                       json_string_value(json_object_get(g, "last_missing")),
                       json_integer_value(json_object_get(g, "segments")), tli,
                       json_string_value(json_object_get(g, "after")));
            }
        }
    }
}

static int drctl__wal_status(struct drctl *d, int argc, char **argv)
{
    const char *region = NULL, *store = NULL, *credentials = NULL,
               *segsize = NULL;
    const struct drctl_opt opts[] = {
        {"--region", &region, NULL},
        {"--store", &store, NULL},
        {"--credentials", &credentials, NULL},
        {"--segment-size", &segsize, NULL},
        {NULL, NULL, NULL},
    };
    char url[1024], which[128], errmsg[256], *end;
    unsigned long long ss = 16ull << 20;
    json_t *spec, *res = NULL;
    json_int_t gaps;
    int rv = drctl_parse_opts(d, argc, argv, opts);

    if (rv != 0) {
        return rv < 0 ? 0 : rv;
    }
    if (region != NULL && store != NULL) {
        return drctl_usage_error(d, "--region and --store: give one");
    }
    if (segsize != NULL) {
        ss = strtoull(segsize, &end, 10);
        if (*end != '\0' || ss < (1u << 20) || ss > (1u << 30) ||
            (ss & (ss - 1)) != 0) {
            return drctl_usage_error(d,
                                     "--segment-size: \"%s\" is not a power "
                                     "of two from 1048576 to 1073741824 "
                                     "bytes",
                                     segsize);
        }
    }
    if (store == NULL) {
        rv = drctl__region_store(d, &region, url, sizeof(url), which,
                                 sizeof(which));
        if (rv != 0) {
            return rv;
        }
        if (url[0] == '\0') {
            return drctl_fail(d,
                              "region %s has no object store: give --store "
                              "URL",
                              region);
        }
        store = url;
    }
    spec = json_pack("{s:s, s:s, s:I}", "op", "wal_status", "store", store,
                     "segment_size", (json_int_t)ss);
    if (credentials != NULL) {
        json_object_set_new(spec, "credentials_file", json_string(credentials));
    }
    errmsg[0] = '\0';
    rv = job_run(spec, &res, errmsg);
    json_decref(spec);
    if (rv != 0) {
        return drctl_fail(d, "%s", errmsg);
    }
    if (region != NULL) {
        json_object_set_new(res, "region", json_string(region));
    }
    json_object_set_new(res, "store", json_string(store));
    if (d->json) {
        drctl_print_json(res);
    } else {
        drctl__print_archive(res, region, store);
    }
    gaps = json_integer_value(json_object_get(res, "gaps"));
    json_decref(res);
    if (gaps > 0) {
        return drctl_fail(d,
                          "%" JSON_INTEGER_FORMAT
                          " gap%s in the archive: a point-in-time restore "
                          "cannot replay past one; put the missing segments "
                          "back from another region's copy, or restore to a "
                          "point before it",
                          gaps, gaps == 1 ? "" : "s");
    }
    return DRCTL_EXIT_OK;
}

/* drctl wal catalog: the cluster's record of every region's archive (the
 * last wal_scan of each), without reading any store. */
static int drctl__wal_catalog(struct drctl *d, int argc, char **argv)
{
    const struct drctl_opt opts[] = {{NULL, NULL, NULL}};
    json_t *res = NULL, *r, *w;
    size_t i, k;
    char when[64], newest[64], size[32];
    int rv = drctl_parse_opts(d, argc, argv, opts);

    if (rv != 0) {
        return rv < 0 ? 0 : rv;
    }
    if ((rv = drctl_call(d, "GET", "/api/wal", NULL, &res)) != 0) {
        return rv;
    }
    if (d->json) {
        drctl_print_json(res);
        json_decref(res);
        return DRCTL_EXIT_OK;
    }
    if (json_array_size(json_object_get(res, "regions")) == 0) {
        printf("no WAL archive scanned yet (every %" JSON_INTEGER_FORMAT
               " s: wal.scan_interval_s)\n",
               json_integer_value(json_object_get(res, "scan_interval_s")));
    }
    json_array_foreach(json_object_get(res, "regions"), i, r)
    {
        json_int_t total =
            json_integer_value(json_object_get(r, "ranges_total"));
        drctl_fmt_time_ms(json_object_get(r, "scanned_ms"), when, sizeof(when));
        if (json_integer_value(json_object_get(r, "newest_ms")) > 0) {
            drctl_fmt_time_ms(json_object_get(r, "newest_ms"), newest,
                              sizeof(newest));
        } else {
            snprintf(newest, sizeof(newest), "none");
        }
        printf("%s  %s: %" JSON_INTEGER_FORMAT
               " files, newest %s, %" JSON_INTEGER_FORMAT
               " gap%s (scanned %s)\n",
               json_string_value(json_object_get(r, "region")),
               json_string_value(json_object_get(r, "store")),
               json_integer_value(json_object_get(r, "files")), newest,
               json_integer_value(json_object_get(r, "gaps")),
               json_integer_value(json_object_get(r, "gaps")) == 1 ? "" : "s",
               when);
        if (total > (json_int_t)json_array_size(json_object_get(r, "ranges"))) {
            printf("  (the newest %zu of %" JSON_INTEGER_FORMAT " ranges)\n",
                   json_array_size(json_object_get(r, "ranges")), total);
        }
        json_array_foreach(json_object_get(r, "ranges"), k, w)
        {
            drctl__size(json_integer_value(json_object_get(w, "bytes")), size,
                        sizeof(size));
            printf("  system %s timeline %" JSON_INTEGER_FORMAT
                   "  %s .. %s  %" JSON_INTEGER_FORMAT " segments, %s%s\n",
                   json_string_value(json_object_get(w, "sysid")),
                   json_integer_value(json_object_get(w, "timeline")),
                   json_string_value(json_object_get(w, "start_lsn")),
                   json_string_value(json_object_get(w, "end_lsn")),
                   json_integer_value(json_object_get(w, "segments")), size,
                   json_is_true(json_object_get(w, "streamed"))
                       ? ", ends in a streamed partial"
                       : "");
        }
    }
    json_decref(res);
    return DRCTL_EXIT_OK;
}

int drctl_cmd_wal(struct drctl *d, int argc, char **argv)
{
    static const struct drctl_subcommand subs[] = {
        {"status", drctl__wal_status},
        {"catalog", drctl__wal_catalog},
        {NULL, NULL},
    };
    return drctl_dispatch(d, argc, argv, subs);
}
