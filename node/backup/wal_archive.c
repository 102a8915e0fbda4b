/* What a WAL archive holds (wal_archive.h), and the job op that reads it
 * from a store. */
#include "backup/wal_archive.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/job.h"
#include "backup/wal.h"
#include "common/err.h"
#include "store/store.h"

static int file_cmp(const void *a, const void *b)
{
    const struct wal_archive_file *x = a, *y = b;

    if (x->sysid != y->sysid) {
        return x->sysid < y->sysid ? -1 : 1;
    }
    if (x->tli != y->tli) {
        return x->tli < y->tli ? -1 : 1;
    }
    if (x->segno != y->segno) {
        return x->segno < y->segno ? -1 : 1;
    }
    return x->kind - y->kind;
}

static json_t *lsn(uint64_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%X/%X", (unsigned)(v >> 32), (unsigned)v);
    return json_string(buf);
}

static json_t *seg_name(uint32_t tli, uint64_t segno, uint64_t seg_size)
{
    char buf[25];

    wal_segment_name(tli, segno, seg_size, buf);
    return json_string(buf);
}

/* Segments after+1 .. upto-1 of timeline tli are missing. */
static json_t *gap(uint32_t tli, uint64_t after, uint64_t upto, uint64_t ss)
{
    return json_pack("{s:o, s:o, s:o, s:I}", "after", seg_name(tli, after, ss),
                     "first_missing", seg_name(tli, after + 1, ss),
                     "last_missing", seg_name(tli, upto - 1, ss), "segments",
                     (json_int_t)(upto - after - 1));
}

struct run
{
    uint64_t first, last, segments, bytes;
    bool open; /* a run is being built */
};

static void run_close(json_t *ranges, struct run *r, uint32_t tli, uint64_t ss)
{
    if (!r->open) {
        return;
    }
    json_array_append_new(
        ranges, json_pack("{s:o, s:o, s:I, s:I, s:o, s:o}", "first",
                          seg_name(tli, r->first, ss), "last",
                          seg_name(tli, r->last, ss), "segments",
                          (json_int_t)r->segments, "bytes",
                          (json_int_t)r->bytes, "start_lsn", lsn(r->first * ss),
                          "end_lsn", lsn((r->last + 1) * ss)));
    r->open = false;
}

/* One timeline's files, [from, to) of the sorted array. */
static json_t *timeline(const struct wal_archive_file *f,
                        size_t from,
                        size_t to,
                        uint64_t ss,
                        size_t *n_gaps)
{
    uint32_t tli = f[from].tli;
    json_t *ranges = json_array(), *gaps = json_array(), *tl;
    const struct wal_archive_file *streamed = NULL;
    struct run r = {0, 0, 0, 0, false};
    bool history = false, have_last = false;
    uint64_t last = 0;
    char ends_with[40] = "";

    for (size_t i = from; i < to; i++) {
        switch (f[i].kind) {
            case WAL_ARCHIVE_HISTORY:
                history = true;
                break;
            case WAL_ARCHIVE_PARTIAL: {
                char name[25];
                wal_segment_name(tli, f[i].segno, ss, name);
                snprintf(ends_with, sizeof(ends_with), "%s.partial", name);
                break;
            }
            case WAL_ARCHIVE_STREAMED:
                /* The longest partial of the newest segment counts. */
                if (streamed == NULL || f[i].segno > streamed->segno ||
                    (f[i].segno == streamed->segno &&
                     f[i].len > streamed->len)) {
                    streamed = &f[i];
                }
                break;
            case WAL_ARCHIVE_SEGMENT:
                if (have_last && f[i].segno == last) {
                    break; /* the same segment twice (two checksums) */
                }
                if (have_last && f[i].segno != last + 1) {
                    json_array_append_new(gaps, gap(tli, last, f[i].segno, ss));
                    run_close(ranges, &r, tli, ss);
                }
                if (!r.open) {
                    r = (struct run){f[i].segno, f[i].segno, 0, 0, true};
                }
                r.last = f[i].segno;
                r.segments++;
                r.bytes += f[i].stored;
                last = f[i].segno;
                have_last = true;
                break;
            default:
                break;
        }
    }
    run_close(ranges, &r, tli, ss);
    if (streamed != NULL && have_last && streamed->segno == last + 1) {
        /* It extends the newest run. */
        json_t *tail = json_array_get(ranges, json_array_size(ranges) - 1);
        json_object_set_new(tail, "end_lsn",
                            lsn(streamed->segno * ss + streamed->len));
        json_object_set_new(tail, "streamed",
                            json_pack("{s:o, s:I}", "segment",
                                      seg_name(tli, streamed->segno, ss),
                                      "bytes", (json_int_t)streamed->len));
    } else if (streamed != NULL && (!have_last || streamed->segno > last)) {
        /* A run of its own: past a gap, or all there is. */
        if (have_last) {
            json_array_append_new(gaps, gap(tli, last, streamed->segno, ss));
        }
        json_array_append_new(
            ranges,
            json_pack("{s:o, s:o, s:I, s:I, s:o, s:o, s:{s:o, s:I}}", "first",
                      seg_name(tli, streamed->segno, ss), "last",
                      seg_name(tli, streamed->segno, ss), "segments",
                      (json_int_t)0, "bytes", (json_int_t)0, "start_lsn",
                      lsn(streamed->segno * ss), "end_lsn",
                      lsn(streamed->segno * ss + streamed->len), "streamed",
                      "segment", seg_name(tli, streamed->segno, ss), "bytes",
                      (json_int_t)streamed->len));
    }
    *n_gaps += json_array_size(gaps);
    tl = json_pack("{s:I, s:b, s:o, s:o}", "timeline", (json_int_t)tli,
                   "history", history, "ranges", ranges, "gaps", gaps);
    if (tl != NULL && ends_with[0] != '\0') {
        json_object_set_new(tl, "ends_with", json_string(ends_with));
    }
    return tl;
}

json_t *wal_archive_picture(struct wal_archive_file *files,
                            size_t n,
                            uint64_t seg_size)
{
    json_t *systems = json_array(), *sys = NULL, *tls = NULL;
    size_t gaps = 0;
    int64_t newest = 0;

    if (systems == NULL) {
        return NULL;
    }
    qsort(files, n, sizeof(*files), file_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && files[j].sysid == files[i].sysid &&
               files[j].tli == files[i].tli) {
            newest = files[j].mtime_ms > newest ? files[j].mtime_ms : newest;
            j++;
        }
        if (sys == NULL || (i > 0 && files[i].sysid != files[i - 1].sysid)) {
            char id[24];
            snprintf(id, sizeof(id), "%016" PRIx64, files[i].sysid);
            tls = json_array();
            sys = json_pack("{s:s, s:o}", "sysid", id, "timelines", tls);
            json_array_append_new(systems, sys);
        }
        json_array_append_new(tls, timeline(files, i, j, seg_size, &gaps));
        i = j;
    }
    return json_pack("{s:o, s:I, s:I, s:I}", "systems", systems, "files",
                     (json_int_t)n, "gaps", (json_int_t)gaps, "newest_ms",
                     (json_int_t)newest);
}

struct collect
{
    uint64_t ss;
    struct wal_archive_file *files;
    size_t n, cap;
};

static int collect_one(const struct store_object *obj, void *arg, char *errmsg)
{
    struct collect *c = arg;
    struct wal_archive_file f;

    if (wal_archive_parse_key(obj->key, c->ss, &f) != DR_OK) {
        return 0; /* not an archive object: not ours to judge */
    }
    f.stored = obj->size;
    f.mtime_ms = obj->mtime_ms;
    if (c->n == c->cap) {
        size_t cap = c->cap != 0 ? c->cap * 2 : 1024;
        struct wal_archive_file *grown =
            realloc(c->files, cap * sizeof(*c->files));
        if (grown == NULL) {
            snprintf(errmsg, 256, "out of memory");
            return DR_ENOMEM;
        }
        c->files = grown;
        c->cap = cap;
    }
    c->files[c->n++] = f;
    return 0;
}

/* The job op: {"store": URL, "credentials_file"?, "segment_size"?}. */
int waljob_status(const json_t *spec, json_t **result, char *errmsg)
{
    struct collect c = {0, NULL, 0, 0};
    struct store *s = NULL;
    int rv;

    rv = job_spec_uint(spec, "segment_size", 16u << 20, 1u << 20, 1u << 30,
                       &c.ss, errmsg);
    if (rv != 0) {
        return rv;
    }
    if ((c.ss & (c.ss - 1)) != 0) {
        snprintf(errmsg, 256,
                 "\"segment_size\" %" PRIu64 " is not a power of two", c.ss);
        return DR_EINVAL;
    }
    rv = job_open_store(spec, &s, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = store_list_each(s, "wal/", collect_one, &c, errmsg);
    store_close(s);
    if (rv == 0) {
        *result = wal_archive_picture(c.files, c.n, c.ss);
        if (*result == NULL) {
            snprintf(errmsg, 256, "out of memory");
            rv = DR_ENOMEM;
        }
    }
    free(c.files);
    return rv;
}

struct end_scan
{
    const char *segment;
    struct wal_archive_end *out;
};

static int end_one(const struct store_object *obj, void *arg, char *errmsg)
{
    struct end_scan *e = arg;
    const char *base = strrchr(obj->key, '/');

    (void)errmsg;
    base = base != NULL ? base + 1 : obj->key;
    if (obj->mtime_ms > e->out->newest_ms) {
        e->out->newest_ms = obj->mtime_ms;
        snprintf(e->out->newest_key, sizeof(e->out->newest_key), "%s",
                 obj->key);
    }
    /* Whole, as the restore job's pick_wal_store asks (wal_archived). */
    if (e->segment != NULL && strncmp(base, e->segment, 24) == 0 &&
        base[24] == '-') {
        e->out->holds = true;
    }
    return 0;
}

int wal_archive_end(const char *store_url,
                    const char *credentials_file,
                    uint64_t sysid,
                    const char *segment,
                    struct wal_archive_end *out,
                    char *errmsg)
{
    struct end_scan e = {segment, out};
    json_t *spec;
    struct store *s = NULL;
    char prefix[64];
    int rv;

    memset(out, 0, sizeof(*out));
    spec = json_pack("{s:s}", "store", store_url);
    if (spec == NULL) {
        snprintf(errmsg, 256, "out of memory");
        return DR_ENOMEM;
    }
    if (credentials_file != NULL) {
        json_object_set_new(spec, "credentials_file",
                            json_string(credentials_file));
    }
    rv = job_open_store(spec, &s, errmsg);
    json_decref(spec);
    if (rv != 0) {
        return rv;
    }
    snprintf(prefix, sizeof(prefix), "wal/%016" PRIx64 "/", sysid);
    rv = store_list_each(s, prefix, end_one, &e, errmsg);
    store_close(s);
    return rv;
}

/* Flatten a picture's ranges: the last WAL_SCAN_RANGES_MAX of them. */
static json_t *scan_result(const json_t *pic)
{
    json_t *ranges = json_array(), *out;
    const json_t *sys, *tl, *r;
    size_t i, k, m, total = 0;

    json_array_foreach(json_object_get(pic, "systems"), i, sys)
    {
        const char *sysid = json_string_value(json_object_get(sys, "sysid"));
        json_array_foreach(json_object_get(sys, "timelines"), k, tl)
        {
            json_array_foreach(json_object_get(tl, "ranges"), m, r)
            {
                uint64_t start, end;
                if (pgbase_lsn_parse(
                        json_string_value(json_object_get(r, "start_lsn")),
                        &start) != 0 ||
                    pgbase_lsn_parse(
                        json_string_value(json_object_get(r, "end_lsn")),
                        &end) != 0) {
                    continue;
                }
                json_array_append_new(
                    ranges,
                    json_pack("{s:s, s:O, s:I, s:I, s:O, s:O, s:b}", "sysid",
                              sysid, "timeline",
                              json_object_get(tl, "timeline"), "start_lsn",
                              (json_int_t)start, "end_lsn", (json_int_t)end,
                              "segments", json_object_get(r, "segments"),
                              "bytes", json_object_get(r, "bytes"), "streamed",
                              json_object_get(r, "streamed") != NULL));
                total++;
            }
        }
    }
    while (json_array_size(ranges) > WAL_SCAN_RANGES_MAX) {
        json_array_remove(ranges, 0); /* the oldest first */
    }
    out = json_pack("{s:O, s:O, s:O, s:I, s:o}", "newest_ms",
                    json_object_get(pic, "newest_ms"), "files",
                    json_object_get(pic, "files"), "gaps",
                    json_object_get(pic, "gaps"), "ranges_total",
                    (json_int_t)total, "ranges", ranges);
    return out;
}

int waljob_scan(const json_t *spec, json_t **result, char *errmsg)
{
    json_t *pic = NULL;
    int rv = waljob_status(spec, &pic, errmsg);

    if (rv != 0) {
        return rv;
    }
    *result = scan_result(pic);
    json_decref(pic);
    if (*result != NULL) {
        json_object_set(*result, "store", json_object_get(spec, "store"));
    }
    if (*result == NULL) {
        snprintf(errmsg, 256, "out of memory");
        return DR_ENOMEM;
    }
    return 0;
}
