/* Unit tests of the WAL archive: names, segment headers, and wal-push /
 * wal-fetch over a file:// store (PostgreSQL itself: test_wal.py). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backup/job.h"
#include "backup/wal.h"
#include "backup/wal_archive.h"
#include "common/err.h"
#include "helpers.h"
#include "store/store.h"

#define SEG_SIZE (1u << 20) /* initdb --wal-segsize=1 */
#define SYSID 7318270143817469202ull

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

/* The long page header of segment (tli, segno) of SEG_SIZE bytes. */
static void make_header(unsigned char *h,
                        uint32_t tli,
                        uint64_t segno,
                        uint64_t sysid)
{
    memset(h, 0, 40);
    put_le(h, 0xD110, 2); /* PostgreSQL 15's magic */
    put_le(h + 2, 0x0002, 2);
    put_le(h + 4, tli, 4);
    put_le(h + 8, segno * SEG_SIZE, 8);
    put_le(h + 24, sysid, 8);
    put_le(h + 32, SEG_SIZE, 4);
    put_le(h + 36, 8192, 4);
}

static void test_names(void **state)
{
    struct wal_name n;
    char err[256];
    (void)state;

    assert_int_equal(wal_name_parse("0000000100000002000000FF", &n, err), 0);
    assert_int_equal(n.kind, WAL_SEGMENT);
    assert_int_equal(n.tli, 1);
    assert_int_equal(n.log, 2);
    assert_int_equal(n.seg, 0xFF);
    assert_string_equal(n.dir, "0000000100000002");
    assert_int_equal(
        wal_name_parse("000000020000000000000003.partial", &n, err), 0);
    assert_int_equal(n.kind, WAL_PARTIAL);
    assert_int_equal(n.tli, 2);
    assert_int_equal(
        wal_name_parse("000000010000000000000003.00000028.backup", &n, err), 0);
    assert_int_equal(n.kind, WAL_BACKUP);
    assert_int_equal(wal_name_parse("0000000A.history", &n, err), 0);
    assert_int_equal(n.kind, WAL_HISTORY);
    assert_int_equal(n.tli, 10);
    assert_string_equal(n.dir, "history");

    static const char *const bad[] = {
        "",
        "archive_status",
        "0000000100000000000000ff",  /* PostgreSQL writes upper case */
        "00000001000000000000000",   /* 23 digits */
        "0000000100000000000000001", /* 25 */
        "000000010000000000000001.partia",
        "000000010000000000000001.0000002G.backup",
        "000000010000000000000001.tmp",
        "00000001.histories",
        "000000000000000000000001", /* timeline 0 */
        "00000000.history",
        "../00000001.history",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(wal_name_parse(bad[i], &n, err), DR_EINVAL);
        assert_non_null(strstr(err, bad[i])); /* names what it got */
        assert_true(strlen(err) > 0);
    }
}

static void expect_corrupt(const unsigned char *h,
                           size_t len,
                           uint64_t size,
                           const char *name,
                           const char *needle)
{
    struct wal_name n;
    char err[256] = "";
    assert_int_equal(wal_name_parse(name, &n, err), 0);
    assert_int_equal(wal_check_header(h, len, size, &n, SYSID, err),
                     DR_ECORRUPT);
    if (strstr(err, needle) == NULL) {
        fail_msg("%s: \"%s\" lacks \"%s\"", name, err, needle);
    }
}

static void test_header(void **state)
{
    unsigned char h[40];
    struct wal_name n;
    char err[256];
    (void)state;

    /* Segment 0x105 of 1 MiB segments is log 1 (4096 per log), seg 5. */
    make_header(h, 1, 4096 + 5, SYSID);
    assert_int_equal(wal_name_parse("000000010000000100000005", &n, err), 0);
    assert_int_equal(wal_check_header(h, 40, SEG_SIZE, &n, SYSID, err), 0);
    /* The first segment of timeline 2 may carry timeline 1 in its page. */
    assert_int_equal(wal_name_parse("000000020000000100000005", &n, err), 0);
    assert_int_equal(wal_check_header(h, 40, SEG_SIZE, &n, SYSID, err), 0);

    expect_corrupt(h, 39, SEG_SIZE, "000000010000000100000005", "too short");
    expect_corrupt(h, 40, SEG_SIZE - 8192, "000000010000000100000005",
                   "torn or truncated");
    expect_corrupt(h, 40, SEG_SIZE, "000000010000000100000006", "LSN 1/5");
    expect_corrupt(h, 40, SEG_SIZE, "000000010000000000000005", "LSN 1/5");
    make_header(h, 3, 4096 + 5, SYSID);
    expect_corrupt(h, 40, SEG_SIZE, "000000020000000100000005", "timeline 3");
    make_header(h, 1, 4096 + 5, SYSID + 1);
    expect_corrupt(h, 40, SEG_SIZE, "000000010000000100000005",
                   "database system 7318270143817469203");
    make_header(h, 1, 4096 + 5, SYSID);
    put_le(h + 2, 0, 2);
    expect_corrupt(h, 40, SEG_SIZE, "000000010000000100000005",
                   "not a WAL segment");
    make_header(h, 1, 4096 + 5, SYSID);
    put_le(h + 32, SEG_SIZE + 1, 4);
    expect_corrupt(h, 40, SEG_SIZE + 1, "000000010000000100000005",
                   "power of two");
    /* Segment number beyond a log's count (4096 1-MiB segments per log). */
    make_header(h, 1, 4096 + 5, SYSID);
    expect_corrupt(h, 40, SEG_SIZE, "000000010000000000001005", "LSN");
}

/* A data directory (global/pg_control) with a pg_wal of fake segments, and
 * a file:// store. */
struct fx
{
    char *dir;
    char pgdata[512];
    char url[600];
    struct wal_options o;
};

static void write_file(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

static char *read_file(const char *path, size_t *len)
{
    struct stat sb;
    char *buf;
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &sb), 0);
    buf = malloc((size_t)sb.st_size + 1);
    assert_non_null(buf);
    assert_int_equal(read(fd, buf, (size_t)sb.st_size), sb.st_size);
    close(fd);
    *len = (size_t)sb.st_size;
    return buf;
}

/* pg_wal/NAME: a segment of SEG_SIZE bytes with a valid header and
 * contents that depend on fill. */
static void make_segment(struct fx *f, const char *name, int fill)
{
    char path[700];
    unsigned char *seg = malloc(SEG_SIZE);
    struct wal_name n;
    char err[256];

    assert_non_null(seg);
    assert_int_equal(wal_name_parse(name, &n, err), 0);
    for (size_t i = 0; i < SEG_SIZE; i++) {
        seg[i] = (unsigned char)((i * 31 + (size_t)fill) % 251);
    }
    make_header(seg, n.tli, (uint64_t)n.log * 4096 + n.seg, SYSID);
    snprintf(path, sizeof(path), "%s/pg_wal/%s", f->pgdata, name);
    write_file(path, seg, SEG_SIZE);
    free(seg);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    unsigned char control[8192];
    char path[700];

    assert_non_null(f);
    f->dir = test_tmpdir();
    assert_non_null(f->dir);
    snprintf(f->pgdata, sizeof(f->pgdata), "%s/pgdata", f->dir);
    snprintf(path, sizeof(path), "%s/global", f->pgdata);
    assert_int_equal(mkdir(f->pgdata, 0700), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/pg_wal", f->pgdata);
    assert_int_equal(mkdir(path, 0700), 0);
    memset(control, 0, sizeof(control));
    put_le(control, SYSID, 8);
    snprintf(path, sizeof(path), "%s/global/pg_control", f->pgdata);
    write_file(path, control, sizeof(control));
    snprintf(f->url, sizeof(f->url), "file://%s/store", f->dir);
    f->o.store_url = f->url;
    f->o.pgdata = f->pgdata;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    test_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static const char *SEG = "000000010000000000000003";

static void test_push_fetch(void **state)
{
    struct fx *f = *state;
    char src[700], dst[700], err[256];
    size_t a_len, b_len;
    bool already = true;

    make_segment(f, SEG, 1);
    snprintf(src, sizeof(src), "%s/pg_wal/%s", f->pgdata, SEG);
    assert_int_equal(wal_push(&f->o, src, &already, err), 0);
    assert_false(already);
    /* PostgreSQL retries after a crash: the same file again is fine. */
    assert_int_equal(wal_push(&f->o, src, &already, err), 0);
    assert_true(already);
    {
        bool found = false;
        assert_int_equal(wal_archived(&f->o, SYSID, SEG, &found, err), 0);
        assert_true(found);
        assert_int_equal(
            wal_archived(&f->o, SYSID, "000000010000000000000009", &found, err),
            0);
        assert_false(found);
        assert_int_equal(wal_archived(&f->o, SYSID + 1, SEG, &found, err), 0);
        assert_false(found); /* another cluster's archive */
        assert_int_equal(
            wal_archived(&f->o, SYSID, "RECOVERYXLOG", &found, err), DR_EINVAL);
        assert_false(found);
    }

    snprintf(dst, sizeof(dst), "%s/pg_wal/RECOVERYXLOG", f->pgdata);
    assert_int_equal(wal_fetch(&f->o, SEG, dst, err), 0);
    char *a = read_file(src, &a_len);
    char *b = read_file(dst, &b_len);
    assert_int_equal(a_len, b_len);
    assert_memory_equal(a, b, a_len);
    free(a);
    free(b);

    /* Same name, other contents: refused, the archived copy stays. */
    make_segment(f, SEG, 2);
    assert_int_equal(wal_push(&f->o, src, &already, err), DR_ECONFLICT);
    assert_non_null(strstr(err, "already archived with other contents"));
    assert_int_equal(wal_fetch(&f->o, SEG, dst, err), 0);

    /* Not archived: DR_ENOTFOUND, nothing written. */
    unlink(dst);
    assert_int_equal(wal_fetch(&f->o, "000000010000000000000004", dst, err),
                     DR_ENOTFOUND);
    assert_non_null(strstr(err, "not in the archive"));
    assert_int_not_equal(access(dst, F_OK), 0);

    /* History files have no page header. */
    snprintf(src, sizeof(src), "%s/pg_wal/00000002.history", f->pgdata);
    write_file(src, "1\t0/3000000\tno recovery target specified\n", 42);
    assert_int_equal(wal_push(&f->o, src, &already, err), 0);
    assert_int_equal(wal_fetch(&f->o, "00000002.history", dst, err), 0);
}

/* wal_copies: each file lands in every region's store before PostgreSQL
 * hears it is archived; a copy that fails fails the push, naming the
 * region, and PostgreSQL's retry fills in what is missing. */
static void test_push_copies(void **state)
{
    struct fx *f = *state;
    char src[700], dst[700], err[256], us[720], ap[720], ap_dir[700];
    struct wal_copy copies[2];
    struct wal_options at;
    bool already = true;

    snprintf(us, sizeof(us), "file://%s/store-us", f->dir);
    snprintf(ap_dir, sizeof(ap_dir), "%s/store-ap", f->dir);
    snprintf(ap, sizeof(ap), "file://%s", ap_dir);
    write_file(ap_dir, "not a directory", 15); /* ap-south's store is down */
    copies[0] = (struct wal_copy){"us-east", us};
    copies[1] = (struct wal_copy){"ap-south", ap};
    f->o.copies = copies;
    f->o.n_copies = 1;
    make_segment(f, SEG, 1);
    snprintf(src, sizeof(src), "%s/pg_wal/%s", f->pgdata, SEG);
    snprintf(dst, sizeof(dst), "%s/pg_wal/RECOVERYXLOG", f->pgdata);
    assert_int_equal(wal_push(&f->o, src, &already, err), 0);
    assert_false(already);
    at = f->o;
    at.store_url = us;
    at.prefetch = 0;
    assert_int_equal(wal_fetch(&at, SEG, dst, err), 0);
    assert_int_equal(wal_push(&f->o, src, &already, err), 0);
    assert_true(already);

    /* A copy that cannot be written fails the push, with its region. */
    f->o.n_copies = 2;
    assert_int_not_equal(wal_push(&f->o, src, &already, err), 0);
    assert_false(already);
    assert_non_null(strstr(err, "copy in ap-south"));
    /* Back up: the retry finds it in the others and writes the third. */
    assert_int_equal(unlink(ap_dir), 0);
    assert_int_equal(wal_push(&f->o, src, &already, err), 0);
    assert_false(already);
    at.store_url = ap;
    assert_int_equal(wal_fetch(&at, SEG, dst, err), 0);
    assert_int_equal(wal_push(&f->o, src, &already, err), 0);
    assert_true(already);

    /* Other contents under the same name in a copy: refused, named. */
    make_segment(f, "000000010000000000000004", 1);
    snprintf(src, sizeof(src), "%s/pg_wal/000000010000000000000004", f->pgdata);
    f->o.n_copies = 0;
    assert_int_equal(wal_push(&f->o, src, &already, err), 0);
    at.store_url = us;
    at.n_copies = 0;
    make_segment(f, "000000010000000000000004", 2);
    assert_int_equal(wal_push(&at, src, &already, err), 0);
    make_segment(f, "000000010000000000000004", 1);
    f->o.n_copies = 2;
    assert_int_equal(wal_push(&f->o, src, &already, err), DR_ECONFLICT);
    assert_non_null(strstr(err, "copy in us-east"));
    assert_non_null(strstr(err, "already archived with other contents"));
}

/* What no base backup needs leaves; history and newer segments stay. */
/* Archive the segments names[0..n) (each filled differently) and the
 * history file of timeline 2, as PostgreSQL would with wal-push. */
static void push_archive(struct fx *f, const char *const *names, size_t n)
{
    char src[700], err[256];
    bool already;

    for (size_t i = 0; i < n; i++) {
        make_segment(f, names[i], (int)i);
        snprintf(src, sizeof(src), "%s/pg_wal/%s", f->pgdata, names[i]);
        assert_int_equal(wal_push(&f->o, src, &already, err), 0);
    }
    snprintf(src, sizeof(src), "%s/pg_wal/00000002.history", f->pgdata);
    write_file(src, "1\t0/3000000\tno recovery target specified\n", 42);
    assert_int_equal(wal_push(&f->o, src, &already, err), 0);
}

static void test_expire(void **state)
{
    static const char *const names[] = {
        "000000010000000000000001", "000000010000000000000002",
        "000000010000000000000003", "000000020000000000000003",
        "000000020000000000000004", "000000020000000100000000"};
    struct fx *f = *state;
    char dst[700], err[256];
    uint64_t removed = 0;

    push_archive(f, names, sizeof(names) / sizeof(names[0]));

    /* Not a power of two: refused before anything is read. */
    assert_int_equal(wal_expire(&f->o, SYSID, 3000, 0, &removed, err),
                     DR_EINVAL);
    /* Another cluster's archive: nothing of this one goes. */
    assert_int_equal(
        wal_expire(&f->o, SYSID + 1, SEG_SIZE, 1ull << 40, &removed, err), 0);
    assert_int_equal(removed, 0);
    /* Keep from 0/350000 (segment 3 of 1 MiB): 1 and 2 go, segment 3 stays
     * on both timelines, so do later ones (log 1 too), and the history. */
    assert_int_equal(
        wal_expire(&f->o, SYSID, SEG_SIZE, 0x350000, &removed, err), 0);
    assert_int_equal(removed, 2);
    snprintf(dst, sizeof(dst), "%s/pg_wal/RECOVERYXLOG", f->pgdata);
    f->o.prefetch = 0;
    assert_int_equal(wal_fetch(&f->o, names[0], dst, err), DR_ENOTFOUND);
    assert_int_equal(wal_fetch(&f->o, names[1], dst, err), DR_ENOTFOUND);
    for (size_t i = 2; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_int_equal(wal_fetch(&f->o, names[i], dst, err), 0);
    }
    assert_int_equal(wal_fetch(&f->o, "00000002.history", dst, err), 0);
    /* Again: nothing more to do. */
    assert_int_equal(
        wal_expire(&f->o, SYSID, SEG_SIZE, 0x350000, &removed, err), 0);
    assert_int_equal(removed, 0);
}

/* What the archive holds (job op wal_status): runs of whole segments per
 * timeline, the streamed partial that extends the newest, and gaps. */
static void test_archive_picture(void **state)
{
    static const char *const names[] = {
        "000000010000000000000001", "000000010000000000000002",
        "000000010000000000000003", "000000010000000000000005",
        "000000020000000000000003"};
    struct fx *f = *state;
    char err[256], key[STORE_KEY_MAX];
    unsigned char part[4096];
    struct store *s = NULL;
    struct wal_archive_file af;
    json_t *spec, *res = NULL, *sys, *tl1, *tl2, *r, *g;

    push_archive(f, names, sizeof(names) / sizeof(names[0]));
    /* The stream's partial of segment 6 of timeline 1 (and an older,
     * shorter one of it), and a stale one of segment 2, archived whole. */
    memset(part, 0, sizeof(part));
    make_header(part, 1, 6, SYSID);
    assert_int_equal(store_open(f->url, NULL, &s, err), 0);
    assert_int_equal(wal_stream_put(s, SYSID, "000000010000000000000006", part,
                                    4096, 1, key, err),
                     0);
    assert_int_equal(wal_stream_put(s, SYSID, "000000010000000000000006", part,
                                    1024, 1, key, err),
                     0);
    make_header(part, 1, 2, SYSID);
    assert_int_equal(wal_stream_put(s, SYSID, "000000010000000000000002", part,
                                    512, 1, key, err),
                     0);
    /* Not an archive object: left out. */
    assert_int_equal(store_put_buf(s, "wal/README", "x", 1, NULL, err), 0);
    store_close(s);

    spec = json_pack("{s:s, s:s, s:i}", "op", "wal_status", "store", f->url,
                     "segment_size", (int)SEG_SIZE);
    assert_int_equal(job_run(spec, &res, err), 0);
    json_decref(spec);
    assert_int_equal(json_integer_value(json_object_get(res, "gaps")), 1);
    sys = json_array_get(json_object_get(res, "systems"), 0);
    assert_string_equal(json_string_value(json_object_get(sys, "sysid")),
                        "658fb7ec04964d12");
    tl1 = json_array_get(json_object_get(sys, "timelines"), 0);
    tl2 = json_array_get(json_object_get(sys, "timelines"), 1);
    assert_int_equal(json_integer_value(json_object_get(tl1, "timeline")), 1);
    assert_false(json_is_true(json_object_get(tl1, "history")));
    /* 1..3, then 5 extended by 4096 streamed bytes of 6. */
    assert_int_equal(json_array_size(json_object_get(tl1, "ranges")), 2);
    r = json_array_get(json_object_get(tl1, "ranges"), 0);
    assert_string_equal(json_string_value(json_object_get(r, "first")),
                        "000000010000000000000001");
    assert_string_equal(json_string_value(json_object_get(r, "last")),
                        "000000010000000000000003");
    assert_int_equal(json_integer_value(json_object_get(r, "segments")), 3);
    assert_string_equal(json_string_value(json_object_get(r, "end_lsn")),
                        "0/400000");
    r = json_array_get(json_object_get(tl1, "ranges"), 1);
    assert_string_equal(json_string_value(json_object_get(r, "end_lsn")),
                        "0/601000");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(r, "streamed"), "bytes")),
                     4096);
    g = json_array_get(json_object_get(tl1, "gaps"), 0);
    assert_string_equal(json_string_value(json_object_get(g, "after")),
                        "000000010000000000000003");
    assert_string_equal(json_string_value(json_object_get(g, "first_missing")),
                        "000000010000000000000004");
    assert_int_equal(json_integer_value(json_object_get(g, "segments")), 1);
    /* Timeline 2: its history, segment 3 alone. */
    assert_true(json_is_true(json_object_get(tl2, "history")));
    assert_int_equal(json_array_size(json_object_get(tl2, "ranges")), 1);
    assert_int_equal(json_array_size(json_object_get(tl2, "gaps")), 0);
    json_decref(res);

    /* Keys that are not the archive's. */
    assert_int_equal(wal_archive_parse_key("wal/README", SEG_SIZE, &af),
                     DR_EINVAL);
    assert_int_equal(
        wal_archive_parse_key("wal/6590b5a3d64a2712/0000000100000000/"
                              "000000010000000000000001.zst",
                              SEG_SIZE, &af),
        DR_EINVAL);
    assert_int_equal(
        wal_archive_parse_key("wal/6590b5a3d64a2712/0000000200000000/"
                              "000000010000000000000001-"
                              "0000000000000000000000000000000000000000000000"
                              "000000000000000000.zst",
                              SEG_SIZE, &af),
        DR_EINVAL); /* in another timeline's folder */
    assert_int_equal(
        wal_archive_parse_key("wal/6590b5a3d64a2712/0000000100000000/"
                              "000000010000000000000001.stream-00200000-"
                              "0000000000000000000000000000000000000000000000"
                              "000000000000000000.zst",
                              SEG_SIZE, &af),
        DR_EINVAL); /* longer than a segment */
    /* A segment size that is not a power of two. */
    spec = json_pack("{s:s, s:s, s:i}", "op", "wal_status", "store", f->url,
                     "segment_size", 3 << 20);
    assert_int_equal(job_run(spec, &res, err), DR_EINVAL);
    assert_non_null(strstr(err, "not a power of two"));
    json_decref(spec);
}

static void test_push_refuses(void **state)
{
    struct fx *f = *state;
    char path[700], err[256];
    unsigned char junk[4096];
    bool already;
    struct store *s;
    struct store_object *objs = NULL;
    size_t n = 0;
    char *next = NULL;

    /* A torn segment: too short for what its header says. */
    make_segment(f, SEG, 1);
    snprintf(path, sizeof(path), "%s/pg_wal/%s", f->pgdata, SEG);
    assert_int_equal(truncate(path, SEG_SIZE / 2), 0);
    assert_int_equal(wal_push(&f->o, path, &already, err), DR_ECORRUPT);
    assert_non_null(strstr(err, "torn or truncated"));
    /* Not WAL at all. */
    memset(junk, 'x', sizeof(junk));
    write_file(path, junk, sizeof(junk));
    assert_int_equal(wal_push(&f->o, path, &already, err), DR_ECORRUPT);
    assert_non_null(strstr(err, SEG));
    /* A segment of another database system. */
    make_segment(f, "000000010000000000000004", 1);
    snprintf(path, sizeof(path), "%s/pg_wal/000000010000000000000004",
             f->pgdata);
    {
        int fd = open(path, O_WRONLY);
        unsigned char other[8];
        put_le(other, SYSID + 7, 8);
        assert_int_equal(pwrite(fd, other, 8, 24), 8);
        close(fd);
    }
    assert_int_equal(wal_push(&f->o, path, &already, err), DR_ECORRUPT);
    assert_non_null(strstr(err, "database system"));
    /* A file that is not there. */
    snprintf(path, sizeof(path), "%s/pg_wal/000000010000000000000009",
             f->pgdata);
    assert_int_equal(wal_push(&f->o, path, &already, err), DR_EIO);
    /* Nothing reached the store. */
    assert_int_equal(store_open(f->url, NULL, &s, err), 0);
    assert_int_equal(store_list(s, "wal/", NULL, &objs, &n, &next, err), 0);
    assert_int_equal(n, 0);
    store_objects_free(objs, n);
    free(next);
    store_close(s);
}

static void test_fetch_corrupt(void **state)
{
    struct fx *f = *state;
    char src[700], dst[700], obj[1400], err[256];
    struct store *s;
    struct store_object *objs = NULL;
    size_t n = 0;
    char *next = NULL;
    bool already;

    make_segment(f, SEG, 1);
    snprintf(src, sizeof(src), "%s/pg_wal/%s", f->pgdata, SEG);
    assert_int_equal(wal_push(&f->o, src, &already, err), 0);
    assert_int_equal(store_open(f->url, NULL, &s, err), 0);
    assert_int_equal(store_list(s, "wal/", NULL, &objs, &n, &next, err), 0);
    assert_int_equal(n, 1);
    assert_non_null(strstr(objs[0].key, "wal/658fb7ec04964d12/"));
    snprintf(obj, sizeof(obj), "%s/store/%s", f->dir, objs[0].key);
    store_objects_free(objs, n);
    free(next);
    store_close(s);

    /* Another segment's compressed bytes under this name: decodes fine,
     * hashes to something else. */
    make_segment(f, "000000010000000000000005", 9);
    snprintf(src, sizeof(src), "%s/pg_wal/000000010000000000000005", f->pgdata);
    assert_int_equal(wal_push(&f->o, src, &already, err), 0);
    {
        char other[1400];
        size_t len;
        char *bytes;
        assert_int_equal(store_open(f->url, NULL, &s, err), 0);
        assert_int_equal(store_list(s,
                                    "wal/658fb7ec04964d12/0000000100000000/"
                                    "000000010000000000000005-",
                                    NULL, &objs, &n, &next, err),
                         0);
        assert_int_equal(n, 1);
        snprintf(other, sizeof(other), "%s/store/%s", f->dir, objs[0].key);
        store_objects_free(objs, n);
        free(next);
        store_close(s);
        bytes = read_file(other, &len);
        write_file(obj, bytes, len);
        free(bytes);
    }
    snprintf(dst, sizeof(dst), "%s/pg_wal/RECOVERYXLOG", f->pgdata);
    assert_int_equal(wal_fetch(&f->o, SEG, dst, err), DR_ECORRUPT);
    assert_non_null(strstr(err, SEG));
    assert_non_null(strstr(err, "corrupt"));
    assert_int_not_equal(access(dst, F_OK), 0);
    /* Garbage instead of a zstd frame. */
    write_file(obj, "not zstd at all", 15);
    assert_int_not_equal(wal_fetch(&f->o, SEG, dst, err), 0);
    assert_int_not_equal(wal_fetch(&f->o, SEG, dst, err), DR_ENOTFOUND);
    assert_non_null(strstr(err, SEG));
    assert_int_not_equal(access(dst, F_OK), 0);
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* wal-fetch leaves a detached process fetching the next segments into
 * pg_wal/drnode-prefetch; the next calls take them from there, checked
 * bytes only. */
static void test_fetch_prefetch(void **state)
{
    struct fx *f = *state;
    char src[700], dst[700], spool[800], err[256];
    bool already;

    for (int i = 3; i <= 6; i++) {
        char name[40];
        snprintf(name, sizeof(name), "00000001000000000000000%d", i);
        make_segment(f, name, i);
        snprintf(src, sizeof(src), "%s/pg_wal/%s", f->pgdata, name);
        assert_int_equal(wal_push(&f->o, src, &already, err), 0);
    }
    f->o.prefetch = 2;
    snprintf(dst, sizeof(dst), "%s/pg_wal/RECOVERYXLOG", f->pgdata);
    assert_int_equal(wal_fetch(&f->o, "000000010000000000000003", dst, err), 0);
    /* 4 and 5 appear in the spool (the prefetcher is detached). */
    snprintf(spool, sizeof(spool),
             "%s/pg_wal/drnode-prefetch/000000010000000000000005", f->pgdata);
    for (int i = 0; i < 500 && !exists(spool); i++) {
        usleep(10000);
    }
    assert_true(exists(spool));
    snprintf(spool, sizeof(spool),
             "%s/pg_wal/drnode-prefetch/000000010000000000000004", f->pgdata);
    assert_true(exists(spool));
    /* 4 comes from the spool, with the right bytes. */
    assert_int_equal(wal_fetch(&f->o, "000000010000000000000004", dst, err), 0);
    assert_false(exists(spool));
    {
        size_t a_len, b_len;
        char *a, *b;
        snprintf(src, sizeof(src), "%s/pg_wal/000000010000000000000004",
                 f->pgdata);
        a = read_file(src, &a_len);
        b = read_file(dst, &b_len);
        assert_int_equal(a_len, b_len);
        assert_memory_equal(a, b, a_len);
        free(a);
        free(b);
    }
    /* The end of the archive empties the spool. */
    snprintf(spool, sizeof(spool),
             "%s/pg_wal/drnode-prefetch/000000010000000000000006", f->pgdata);
    for (int i = 0; i < 500 && !exists(spool); i++) {
        usleep(10000);
    }
    assert_int_equal(wal_fetch(&f->o, "000000010000000000000009", dst, err),
                     DR_ENOTFOUND);
    snprintf(spool, sizeof(spool),
             "%s/pg_wal/drnode-prefetch/000000010000000000000005", f->pgdata);
    assert_false(exists(spool));
    f->o.prefetch = 0;
}

static void test_no_pg_control(void **state)
{
    struct fx *f = *state;
    char err[256];
    bool already;
    char path[700];
    f->o.pgdata = f->dir; /* no global/pg_control there */
    snprintf(path, sizeof(path), "%s/pg_wal/%s", f->pgdata, SEG);
    assert_int_equal(wal_push(&f->o, path, &already, err), DR_EIO);
    assert_non_null(strstr(err, "global/pg_control"));
    assert_int_equal(wal_fetch(&f->o, SEG, path, err), DR_EIO);
    assert_non_null(strstr(err, "data directory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_header),
        cmocka_unit_test_setup_teardown(test_push_fetch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archive_picture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_prefetch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_pg_control, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
