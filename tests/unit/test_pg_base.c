/* Unit tests of the base backups' pure parts: the streaming tar reader
 * (fed in pieces of every size, and refusing what is not a clean ustar
 * archive) and the manifest codec (round trip, and what it refuses). The
 * jobs against PostgreSQL itself: test_pitr.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "backup/pg_internal.h"
#include "backup/tar.h"
#include "codec/pg_base_manifest.h"
#include "common/err.h"

/* A ustar header for name (type '0', '5', '2' ...). */
static void header(uint8_t *h,
                   const char *name,
                   char type,
                   uint64_t size,
                   const char *link)
{
    unsigned sum = 0;

    memset(h, 0, 512);
    snprintf((char *)h, 100, "%s", name);
    snprintf((char *)h + 100, 8, "%07o", 0600);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
    snprintf((char *)h + 136, 12, "%011o", 0);
    h[156] = (uint8_t)type;
    if (link != NULL) {
        snprintf((char *)h + 157, 100, "%s", link);
    }
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    memset(h + 148, ' ', 8);
    for (int i = 0; i < 512; i++) {
        sum += h[i];
    }
    snprintf((char *)h + 148, 8, "%06o", sum);
}

/* An archive: dir "global", file "global/pg_control" (600 bytes), an
 * empty file, a file of exactly 512 bytes, and the end blocks. */
static size_t make_tar(uint8_t *out)
{
    size_t n = 0;

    header(out + n, "global/", '5', 0, NULL);
    n += 512;
    header(out + n, "global/pg_control", '0', 600, NULL);
    n += 512;
    for (int i = 0; i < 600; i++) {
        out[n + i] = (uint8_t)(i * 7);
    }
    memset(out + n + 600, 0, 1024 - 600);
    n += 1024;
    header(out + n, "empty", '0', 0, NULL);
    n += 512;
    header(out + n, "PG_VERSION", '0', 512, NULL);
    n += 512;
    memset(out + n, 'v', 512);
    n += 512;
    memset(out + n, 0, 1024);
    return n + 1024;
}

struct seen
{
    char names[8][TAR_NAME_MAX];
    int types[8];
    uint64_t sizes[8];
    uint64_t got[8];
    uint64_t sum[8];
    int n, ended;
};

static int on_begin(void *ctx, const struct tar_member *m, char *errmsg)
{
    struct seen *s = ctx;
    (void)errmsg;
    assert_true(s->n < 8);
    snprintf(s->names[s->n], TAR_NAME_MAX, "%s", m->name);
    s->types[s->n] = m->type;
    s->sizes[s->n] = m->size;
    s->n++;
    return 0;
}

static int on_data(void *ctx, const void *buf, size_t len, char *errmsg)
{
    struct seen *s = ctx;
    (void)errmsg;
    s->got[s->n - 1] += len;
    for (size_t i = 0; i < len; i++) {
        s->sum[s->n - 1] += ((const uint8_t *)buf)[i];
    }
    return 0;
}

static int on_end(void *ctx, char *errmsg)
{
    (void)errmsg;
    ((struct seen *)ctx)->ended++;
    return 0;
}

static const struct tar_cb cb = {on_begin, on_data, on_end};

static void test_tar_every_split(void **state)
{
    static uint8_t tar[8192];
    size_t len = make_tar(tar);
    uint64_t want_sum = 0;
    (void)state;

    for (int i = 0; i < 600; i++) {
        want_sum += (uint8_t)(i * 7);
    }
    /* Every piece size from 1 byte up, and the whole at once. */
    for (size_t piece = 1; piece <= len; piece += piece < 700 ? 1 : 311) {
        struct tar_reader t;
        struct seen s;
        char err[256];
        memset(&s, 0, sizeof(s));
        tar_reader_init(&t);
        for (size_t off = 0; off < len; off += piece) {
            size_t n = len - off < piece ? len - off : piece;
            assert_int_equal(tar_feed(&t, tar + off, n, &cb, &s, err), 0);
        }
        assert_int_equal(tar_finish(&t, err), 0);
        assert_int_equal(s.n, 4);
        assert_int_equal(s.ended, 4);
        assert_string_equal(s.names[0], "global");
        assert_int_equal(s.types[0], TAR_DIR);
        assert_string_equal(s.names[1], "global/pg_control");
        assert_int_equal(s.got[1], 600);
        assert_int_equal(s.sum[1], want_sum);
        assert_string_equal(s.names[2], "empty");
        assert_int_equal(s.got[2], 0);
        assert_int_equal(s.got[3], 512);
        assert_int_equal(s.sum[3], 512 * 'v');
    }
}

static int feed_all(const uint8_t *buf, size_t len, char *err)
{
    struct tar_reader t;
    struct seen s;
    int rv;

    memset(&s, 0, sizeof(s));
    tar_reader_init(&t);
    rv = tar_feed(&t, buf, len, &cb, &s, err);
    return rv != 0 ? rv : tar_finish(&t, err);
}

static void test_tar_refuses(void **state)
{
    static uint8_t tar[8192], bad[8192];
    size_t len = make_tar(tar);
    char err[256];
    (void)state;

    /* Cut short: no end blocks. */
    assert_int_equal(feed_all(tar, len - 1024, err), DR_EMALFORMED);
    assert_non_null(strstr(err, "cut short"));
    /* Cut inside a member's data. */
    assert_int_equal(feed_all(tar, 1024 + 300, err), DR_EMALFORMED);
    /* A flipped byte in a header: the checksum says so, with the offset. */
    memcpy(bad, tar, len);
    bad[512 + 3] ^= 1;
    assert_int_equal(feed_all(bad, len, err), DR_EMALFORMED);
    assert_non_null(strstr(err, "header at byte 512"));
    assert_non_null(strstr(err, "checksum"));
    /* Not a tar at all. */
    memset(bad, 'x', 2048);
    assert_int_equal(feed_all(bad, 2048, err), DR_EMALFORMED);
    /* Bytes after the end. */
    memcpy(bad, tar, len);
    bad[len] = 'z';
    assert_int_equal(feed_all(bad, len + 512, err), DR_EMALFORMED);
    assert_non_null(strstr(err, "after the end"));
    /* A hard link or device is named. */
    header(bad, "base/1/1259", '1', 0, "x");
    memset(bad + 512, 0, 1024);
    assert_int_equal(feed_all(bad, 1536, err), DR_EMALFORMED);
    assert_non_null(strstr(err, "base/1/1259"));
    /* A symlink is reported as one (the restore refuses tablespaces). */
    {
        struct tar_reader t;
        struct seen s;
        memset(&s, 0, sizeof(s));
        header(bad, "pg_tblspc/16384", '2', 0, "/srv/ts");
        tar_reader_init(&t);
        assert_int_equal(tar_feed(&t, bad, 1536, &cb, &s, err), 0);
        assert_int_equal(s.types[0], TAR_SYMLINK);
    }
}

static void fill_manifest(struct pg_base_manifest *m,
                          struct pg_base_object *parts)
{
    memset(m, 0, sizeof(*m));
    m->format_version = PG_BASE_MANIFEST_VERSION;
    m->system_identifier = 0x6B15BF3060D37B9Full;
    m->timeline = 2;
    m->start_lsn = 0x5000060;
    m->stop_lsn = 0x5000138;
    m->started_ms = 1796587546000;
    m->finished_ms = 1796587546592;
    m->server_version_num = 150010;
    m->files = 970;
    memset(m->pg_manifest_sha256, 'a', 64);
    for (int i = 0; i < 2; i++) {
        memset(&parts[i], 0, sizeof(parts[i]));
        parts[i].key = i == 0 ? "pg_base-1/base.00000.tar.zst"
                              : "pg_base-1/base.00001.tar.zst";
        parts[i].raw_bytes = 1000 + (uint64_t)i;
        parts[i].stored_bytes = 100;
        memset(parts[i].raw_sha256, 'b', 64);
        memset(parts[i].stored_sha256, 'c', 64);
        m->raw_bytes += parts[i].raw_bytes;
    }
    m->parts = parts;
    m->n_parts = 2;
}

static int decode_changed(void (*change)(struct pg_base_manifest *), char *err)
{
    struct pg_base_object parts[2];
    struct pg_base_manifest m, out;
    uint8_t *buf;
    size_t len;
    int rv;

    fill_manifest(&m, parts);
    change(&m);
    assert_int_equal(pg_base_manifest_encode(&m, &buf, &len), 0);
    rv = pg_base_manifest_decode(buf, len, &out, err);
    free(buf);
    if (rv == 0) {
        pg_base_manifest_free(&out);
    } else {
        assert_null(out.parts);
    }
    return rv;
}

static void no_change(struct pg_base_manifest *m)
{
    (void)m;
}
static void newer(struct pg_base_manifest *m)
{
    m->format_version = PG_BASE_MANIFEST_VERSION + 1;
}
static void no_parts(struct pg_base_manifest *m)
{
    m->n_parts = 0;
    m->raw_bytes = 0;
}
static void backwards(struct pg_base_manifest *m)
{
    m->stop_lsn = m->start_lsn - 1;
}
static void bad_key(struct pg_base_manifest *m)
{
    m->parts[1].key = "../escape";
}
static void bad_sha(struct pg_base_manifest *m)
{
    m->parts[0].raw_sha256[3] = 'G';
}
static void sizes_off(struct pg_base_manifest *m)
{
    m->raw_bytes++;
}
static void no_sysid(struct pg_base_manifest *m)
{
    m->system_identifier = 0;
}

/* m encoded and decoded again into *out (free it). */
static void round_trip(const struct pg_base_manifest *m,
                       struct pg_base_manifest *out)
{
    uint8_t *buf;
    size_t len;
    char err[256];

    assert_int_equal(pg_base_manifest_encode(m, &buf, &len), 0);
    assert_int_equal(pg_base_manifest_decode(buf, len, out, err), 0);
    free(buf);
}

static char long_name[80];
static void name_too_long(struct pg_base_manifest *m)
{
    memset(long_name, 'n', PG_BASE_NAME_MAX + 1);
    m->superuser = long_name;
}
static void name_longest(struct pg_base_manifest *m)
{
    memset(long_name, 'n', PG_BASE_NAME_MAX);
    long_name[PG_BASE_NAME_MAX] = '\0';
    m->superuser = long_name;
}

/* The bootstrap superuser's name travels with the manifest; an older
 * manifest has none; a name PostgreSQL could not have is refused. */
static void test_manifest_superuser(void **state)
{
    struct pg_base_object parts[2];
    struct pg_base_manifest m, out;
    char err[256];
    (void)state;

    fill_manifest(&m, parts);
    m.superuser = "dr boss";
    round_trip(&m, &out);
    assert_string_equal(out.superuser, "dr boss");
    pg_base_manifest_free(&out);
    assert_null(out.superuser);

    fill_manifest(&m, parts); /* as an older backup wrote it */
    round_trip(&m, &out);
    assert_null(out.superuser);
    pg_base_manifest_free(&out);

    assert_int_equal(decode_changed(name_longest, err), 0);
    memset(err, 0, sizeof(err));
    assert_int_equal(decode_changed(name_too_long, err), DR_EMALFORMED);
    assert_non_null(strstr(err, "superuser name of 64 bytes"));
}

/* conninfo values: bare when libpq reads them back as they are, quoted and
 * escaped otherwise; libpq's own parser gives every value back. */
static void test_conninfo_put(void **state)
{
    static const char *const cases[][2] = {
        {"/srv/pg", "user=/srv/pg"},
        {"dr boss", "user='dr boss'"},
        {"o'neil\\x", "user='o\\'neil\\\\x'"},
        {"", "user=''"},
        {"a\tb", "user='a\tb'"},
        {"x=1", "user=x=1"},
    };
    char buf[256], *end, *perr = NULL;
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        PQconninfoOption *opts, *o;
        end = pgj_conninfo_put(buf, "user", cases[i][0]);
        assert_string_equal(buf, cases[i][1]);
        assert_ptr_equal(end, buf + strlen(buf));
        strcpy(end, " port=5");
        opts = PQconninfoParse(buf, &perr);
        assert_non_null(opts);
        for (o = opts; strcmp(o->keyword, "user") != 0; o++) {
        }
        assert_string_equal(o->val, cases[i][0]);
        PQconninfoFree(opts);
    }
}

static void test_manifest(void **state)
{
    struct pg_base_object parts[2];
    struct pg_base_manifest m, out;
    char err[256];
    (void)state;

    fill_manifest(&m, parts);
    round_trip(&m, &out);
    assert_int_equal(out.system_identifier, m.system_identifier);
    assert_int_equal(out.timeline, 2);
    assert_int_equal(out.stop_lsn, 0x5000138);
    assert_int_equal(out.n_parts, 2);
    assert_string_equal(out.parts[1].key, "pg_base-1/base.00001.tar.zst");
    assert_int_equal(out.raw_bytes, 2001);
    pg_base_manifest_free(&out);

    assert_int_equal(decode_changed(no_change, err), 0);
    assert_int_equal(decode_changed(newer, err), DR_EVERSION);
    assert_non_null(strstr(err, "format version"));
    assert_int_equal(decode_changed(no_parts, err), DR_EMALFORMED);
    assert_non_null(strstr(err, "parts"));
    assert_int_equal(decode_changed(backwards, err), DR_EMALFORMED);
    assert_non_null(strstr(err, "backwards"));
    assert_int_equal(decode_changed(bad_key, err), DR_EMALFORMED);
    assert_non_null(strstr(err, "object key"));
    assert_int_equal(decode_changed(bad_sha, err), DR_EMALFORMED);
    assert_int_equal(decode_changed(sizes_off, err), DR_EMALFORMED);
    assert_non_null(strstr(err, "not 2002"));
    assert_int_equal(decode_changed(no_sysid, err), DR_EMALFORMED);
    /* Not a manifest at all. */
    assert_int_equal(
        pg_base_manifest_decode((const uint8_t *)"\xff\xff\xff", 3, &out, err),
        DR_EMALFORMED);
    assert_int_equal(pg_base_manifest_decode((const uint8_t *)"", 0, &out, err),
                     DR_EMALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tar_every_split),
        cmocka_unit_test(test_tar_refuses),
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_manifest_superuser),
        cmocka_unit_test(test_conninfo_put),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
