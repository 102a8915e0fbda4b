/* Unit tests of the file:// object store, zio streams and the store jobs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "backup/job.h"
#include "common/err.h"
#include "helpers.h"
#include "store/internal.h"
#include "store/store.h"
#include "store/zio.h"

struct fx
{
    char *dir;
    char url[512];
    struct store *s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char errmsg[256];

    assert_non_null(f);
    f->dir = test_tmpdir();
    assert_non_null(f->dir);
    snprintf(f->url, sizeof(f->url), "file://%s/store", f->dir);
    assert_int_equal(store_open(f->url, NULL, &f->s, errmsg), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    store_close(f->s);
    test_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void sha_hex(const void *buf, size_t len, char *hex)
{
    unsigned char md[32];
    unsigned int mdlen = 0, i;

    EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
    for (i = 0; i < mdlen; i++) {
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
}

static void fill(unsigned char *buf, size_t len, uint64_t seed)
{
    struct rng r = {seed};
    size_t i;

    /* Compressible but not trivial: runs of a few symbols. */
    for (i = 0; i < len; i++) {
        buf[i] = (unsigned char)('a' + rng_below(&r, 4) + (i / 4096) % 3);
    }
}

static void put_str(struct store *s, const char *key, const char *text)
{
    char errmsg[256] = "";
    int rv = store_put_buf(s, key, text, strlen(text), NULL, errmsg);

    if (rv != 0) {
        fail_msg("put %s: %s", key, errmsg);
    }
}

static void test_round_trip(void **state)
{
    struct fx *f = *state;
    char errmsg[256], sha[STORE_SHA256_HEX], want[STORE_SHA256_HEX];
    struct store_writer *w;
    struct store_reader *r;
    struct store_object obj;
    unsigned char *data, *back;
    size_t n, got = 0, len = 300000;
    uint64_t size;
    void *buf;
    size_t blen;

    data = malloc(len);
    back = malloc(len + 10);
    fill(data, len, 1);
    sha_hex(data, len, want);

    assert_int_equal(store_put_begin(f->s, "pg/2024/base.bin", &w, errmsg), 0);
    for (size_t off = 0; off < len; off += 7777) {
        size_t chunk = len - off < 7777 ? len - off : 7777;
        assert_int_equal(store_write(w, data + off, chunk, errmsg), 0);
    }
    assert_int_equal(store_put_commit(w, sha, &size, errmsg), 0);
    assert_string_equal(sha, want);
    assert_int_equal(size, len);

    assert_int_equal(
        store_get_begin(f->s, "pg/2024/base.bin", want, &r, errmsg), 0);
    for (;;) {
        size_t cap = len + 10 - got < 1000 ? len + 10 - got : 1000;
        assert_int_equal(store_read(r, back + got, cap, &n, errmsg), 0);
        if (n == 0) {
            break;
        }
        got += n;
    }
    store_get_end(r);
    assert_int_equal(got, len);
    assert_memory_equal(back, data, len);

    assert_int_equal(store_head(f->s, "pg/2024/base.bin", &obj, errmsg), 0);
    assert_string_equal(obj.key, "pg/2024/base.bin");
    assert_int_equal(obj.size, len);
    assert_true(obj.mtime_ms > 0);
    store_object_free(&obj);

    assert_int_equal(store_sha256(f->s, "pg/2024/base.bin", sha, &size, errmsg),
                     0);
    assert_string_equal(sha, want);
    assert_int_equal(size, len);

    assert_int_equal(
        store_get_buf(f->s, "pg/2024/base.bin", want, len, &buf, &blen, errmsg),
        0);
    assert_int_equal(blen, len);
    assert_memory_equal(buf, data, len);
    free(buf);

    assert_int_equal(store_get_buf(f->s, "pg/2024/base.bin", NULL, len - 1,
                                   &buf, &blen, errmsg),
                     DR_ELIMIT);
    assert_non_null(strstr(errmsg, "pg/2024/base.bin"));
    assert_null(buf);

    /* An empty object. */
    assert_int_equal(store_put_buf(f->s, "empty", "", 0, sha, errmsg), 0);
    assert_string_equal(
        sha,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(store_get_buf(f->s, "empty", sha, 10, &buf, &blen, errmsg),
                     0);
    assert_int_equal(blen, 0);
    free(buf);

    /* Overwriting replaces. */
    put_str(f->s, "empty", "now not");
    assert_int_equal(
        store_get_buf(f->s, "empty", NULL, 10, &buf, &blen, errmsg), 0);
    assert_int_equal(blen, 7);
    free(buf);
    free(data);
    free(back);
}

static void test_sha_mismatch(void **state)
{
    struct fx *f = *state;
    char errmsg[256], sha[STORE_SHA256_HEX], bad[STORE_SHA256_HEX];
    struct store_reader *r;
    char buf[64];
    size_t n;
    void *b;
    size_t blen;

    assert_int_equal(store_put_buf(f->s, "a/obj", "hello", 5, sha, errmsg), 0);
    memcpy(bad, sha, sizeof(bad));
    bad[10] = bad[10] == '0' ? '1' : '0';

    assert_int_equal(store_get_begin(f->s, "a/obj", bad, &r, errmsg), 0);
    assert_int_equal(store_read(r, buf, sizeof(buf), &n, errmsg), 0);
    assert_int_equal(n, 5);
    assert_int_equal(store_read(r, buf, sizeof(buf), &n, errmsg), DR_ECORRUPT);
    assert_int_equal(n, 0);
    assert_non_null(
        strstr(errmsg, "object a/obj: SHA-256 mismatch (expected "));
    assert_non_null(strstr(errmsg, sha));
    /* The error sticks. */
    assert_int_equal(store_read(r, buf, sizeof(buf), &n, errmsg), DR_ECORRUPT);
    store_get_end(r);

    assert_int_equal(store_get_buf(f->s, "a/obj", bad, 100, &b, &blen, errmsg),
                     DR_ECORRUPT);
    assert_non_null(strstr(errmsg, "a/obj"));

    /* Upper-case expectation is fine. */
    for (char *p = sha; *p; p++) {
        if (*p >= 'a' && *p <= 'f') {
            *p = (char)(*p - 'a' + 'A');
        }
    }
    assert_int_equal(store_get_buf(f->s, "a/obj", sha, 100, &b, &blen, errmsg),
                     0);
    free(b);
    assert_int_equal(store_get_begin(f->s, "a/obj", "abc", &r, errmsg),
                     DR_EINVAL);
    assert_non_null(strstr(errmsg, "invalid SHA-256"));
}

static void test_not_found(void **state)
{
    struct fx *f = *state;
    char errmsg[256], sha[STORE_SHA256_HEX];
    struct store_reader *r;
    struct store_object obj;

    assert_int_equal(store_get_begin(f->s, "no/such", NULL, &r, errmsg),
                     DR_ENOTFOUND);
    assert_non_null(strstr(errmsg, "object no/such: not found in file://"));
    assert_int_equal(store_head(f->s, "no/such", &obj, errmsg), DR_ENOTFOUND);
    assert_non_null(strstr(errmsg, "no/such"));
    assert_int_equal(store_sha256(f->s, "no/such", sha, NULL, errmsg),
                     DR_ENOTFOUND);
    /* A directory is not an object. */
    put_str(f->s, "dir/x", "x");
    assert_int_equal(store_head(f->s, "dir", &obj, errmsg), DR_ENOTFOUND);
    assert_int_equal(store_get_begin(f->s, "dir", NULL, &r, errmsg),
                     DR_ENOTFOUND);
    assert_int_equal(store_get_begin(f->s, "dir/x/y", NULL, &r, errmsg),
                     DR_ENOTFOUND);
}

static void test_bad_keys(void **state)
{
    struct fx *f = *state;
    static const char *bad[] = {
        "",   "/abs", "a//b", "a/../b", ".",           "..",  "a/.",
        "a/", "a b",  "a\nb", "#tmp/x", "caf\xc3\xa9", "a?b", "a\\b"};
    char errmsg[256], longkey[STORE_KEY_MAX + 10];
    struct store_writer *w;
    struct store_reader *r;
    struct store_object obj;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errmsg[0] = '\0';
        assert_int_equal(store_put_begin(f->s, bad[i], &w, errmsg), DR_EINVAL);
        assert_null(w);
        assert_non_null(strstr(errmsg, "invalid object key"));
        assert_null(strchr(errmsg, '\n'));
        assert_int_equal(store_get_begin(f->s, bad[i], NULL, &r, errmsg),
                         DR_EINVAL);
        assert_int_equal(store_head(f->s, bad[i], &obj, errmsg), DR_EINVAL);
        assert_int_equal(store_delete(f->s, bad[i], errmsg), DR_EINVAL);
    }
    assert_int_equal(store_put_begin(f->s, "a b", &w, errmsg), DR_EINVAL);
    assert_string_equal(errmsg,
                        "invalid object key \"a b\": byte 0x20 at offset 1 is "
                        "not allowed (keys use [A-Za-z0-9._/-])");
    assert_int_equal(store_put_begin(f->s, "x/../y", &w, errmsg), DR_EINVAL);
    assert_string_equal(errmsg,
                        "invalid object key \"x/../y\": \".\" and \"..\" "
                        "segments are not allowed");

    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    assert_int_equal(store_put_begin(f->s, longkey, &w, errmsg), DR_EINVAL);
    assert_non_null(strstr(errmsg, "longer than"));
    /* Dots inside names are fine. */
    put_str(f->s, "..a/b..c/.d", "ok");
}

static void test_bad_urls(void **state)
{
    char errmsg[256];
    struct store *s;

    (void)state;
    assert_int_equal(store_open("ftp://x/y?secret=1", NULL, &s, errmsg),
                     DR_EINVAL);
    assert_null(s);
    assert_string_equal(
        errmsg,
        "store URL \"ftp://x/y\": unsupported scheme (want file:// or s3://)");
    assert_int_equal(store_open("file://relative/dir", NULL, &s, errmsg),
                     DR_EINVAL);
    assert_non_null(strstr(errmsg, "want file:///absolute/dir"));
    assert_int_equal(store_open("file:///dev/null", NULL, &s, errmsg),
                     DR_EINVAL);
    assert_string_equal(errmsg, "store file:///dev/null: not a directory");
}

static void test_abort_leaves_nothing(void **state)
{
    struct fx *f = *state;
    char errmsg[256], tmpdir[600];
    struct store_writer *w, *w2;
    struct store_object *objs, obj;
    size_t n;
    char *next;

    assert_int_equal(store_put_begin(f->s, "x/half", &w, errmsg), 0);
    assert_int_equal(store_write(w, "partial", 7, errmsg), 0);
    /* Not committed yet: invisible. */
    assert_int_equal(store_head(f->s, "x/half", &obj, errmsg), DR_ENOTFOUND);
    assert_int_equal(store_list(f->s, "", NULL, &objs, &n, &next, errmsg), 0);
    assert_int_equal(n, 0);
    assert_null(next);
    free(objs);
    store_put_abort(w);
    assert_int_equal(store_head(f->s, "x/half", &obj, errmsg), DR_ENOTFOUND);

    /* A writer never finished (its process died) stays invisible too. */
    assert_int_equal(store_put_begin(f->s, "x/dead", &w2, errmsg), 0);
    assert_int_equal(store_write(w2, "partial", 7, errmsg), 0);
    put_str(f->s, "x/live", "done");
    assert_int_equal(store_list(f->s, "", NULL, &objs, &n, &next, errmsg), 0);
    assert_int_equal(n, 1);
    assert_string_equal(objs[0].key, "x/live");
    store_objects_free(objs, n);
    store_put_abort(w2);
    /* Aborts clean their temporary files. */
    snprintf(tmpdir, sizeof(tmpdir), "%s/store/#tmp-%u", f->dir,
             (unsigned)geteuid());
    assert_int_equal(rmdir(tmpdir), 0);
}

static void list_all(struct store *s,
                     const char *prefix,
                     size_t page,
                     char ***keys,
                     size_t *nkeys)
{
    char errmsg[256];
    struct store_object *objs;
    char *next, *after = NULL;
    size_t n, i, pages = 0;

    store__set_page_size(s, page);
    *keys = NULL;
    *nkeys = 0;
    do {
        int rv = store_list(s, prefix, after, &objs, &n, &next, errmsg);
        if (rv != 0) {
            fail_msg("list: %s", errmsg);
        }
        assert_true(n <= page);
        if (next != NULL) {
            assert_int_equal(n, page);
            assert_string_equal(next, objs[n - 1].key);
        }
        *keys = realloc(*keys, (*nkeys + n + 1) * sizeof(char *));
        for (i = 0; i < n; i++) {
            (*keys)[(*nkeys)++] = objs[i].key;
            objs[i].key = NULL;
        }
        free(objs);
        free(after);
        after = next;
        pages++;
        assert_true(pages < 100000);
    } while (after != NULL);
    store__set_page_size(s, 0);
}

static void free_keys(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
    }
    free(keys);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_list_order_and_pages(void **state)
{
    struct fx *f = *state;
    /* '-' < '.' < '/' < '0': a directory sorts as "name/". */
    static const char *keys[] = {
        "a-b",
        "a.b",
        "a/b",
        "a/c/d",
        "a/c-d",
        "a/c.d",
        "a0",
        "b/x/y/z",
        "b/x-",
        "b/x/y-",
        "c",
        "c.d/e",
        "pg/1/m.json",
        "pg/1/t/0001.zst",
        "pg/1/t/0002.zst",
        "pg/10/m.json",
        "pg/2/m.json",
        "z-",
    };
    size_t nk = sizeof(keys) / sizeof(keys[0]);
    char *sorted[32], **got, errmsg[256];
    size_t ngot, i, page;
    struct store_object *objs;
    char *next;
    size_t n;

    for (i = 0; i < nk; i++) {
        put_str(f->s, keys[i], keys[i]);
        sorted[i] = (char *)keys[i];
    }
    qsort(sorted, nk, sizeof(char *), cmp_str);
    for (page = 1; page <= nk + 1; page++) {
        list_all(f->s, "", page, &got, &ngot);
        assert_int_equal(ngot, nk);
        for (i = 0; i < nk; i++) {
            assert_string_equal(got[i], sorted[i]);
        }
        free_keys(got, ngot);
    }
    /* Prefixes cut across directory names. */
    list_all(f->s, "pg/1", 2, &got, &ngot);
    assert_int_equal(ngot, 4);
    assert_string_equal(got[0], "pg/1/m.json");
    assert_string_equal(got[3], "pg/10/m.json");
    free_keys(got, ngot);
    list_all(f->s, "a/c", 1, &got, &ngot);
    assert_int_equal(ngot, 3);
    assert_string_equal(got[0], "a/c-d");
    assert_string_equal(got[1], "a/c.d");
    assert_string_equal(got[2], "a/c/d");
    free_keys(got, ngot);
    list_all(f->s, "nothing", 3, &got, &ngot);
    assert_int_equal(ngot, 0);
    free_keys(got, ngot);

    /* start_after need not be a key. */
    assert_int_equal(store_list(f->s, "", "a/c", &objs, &n, &next, errmsg), 0);
    assert_true(n > 0);
    assert_string_equal(objs[0].key, "a/c-d");
    assert_null(next);
    assert_int_equal(objs[0].size, 5);
    store_objects_free(objs, n);

    assert_int_equal(store_list(f->s, "/x", NULL, &objs, &n, &next, errmsg),
                     DR_EINVAL);
    assert_non_null(strstr(errmsg, "invalid key prefix"));
}

static void test_list_default_page(void **state)
{
    struct fx *f = *state;
    char key[64], errmsg[256], **got;
    struct store_object *objs;
    size_t n, ngot, i;
    char *next, *after;

    for (i = 0; i < 1003; i++) {
        snprintf(key, sizeof(key), "many/k%05zu", i);
        put_str(f->s, key, "v");
    }
    assert_int_equal(store_list(f->s, "many/", NULL, &objs, &n, &next, errmsg),
                     0);
    assert_int_equal(n, 1000);
    assert_string_equal(next, "many/k00999");
    store_objects_free(objs, n);
    after = next;
    assert_int_equal(store_list(f->s, "many/", after, &objs, &n, &next, errmsg),
                     0);
    free(after);
    assert_int_equal(n, 3);
    assert_null(next);
    assert_string_equal(objs[0].key, "many/k01000");
    store_objects_free(objs, n);
    list_all(f->s, "", 1000, &got, &ngot);
    assert_int_equal(ngot, 1003);
    free_keys(got, ngot);
}

static void test_delete(void **state)
{
    struct fx *f = *state;
    char errmsg[256], path[700];
    struct store_object obj;
    struct stat st;

    put_str(f->s, "d/e/f", "1");
    put_str(f->s, "d/g", "2");
    assert_int_equal(store_delete(f->s, "d/e/f", errmsg), 0);
    assert_int_equal(store_head(f->s, "d/e/f", &obj, errmsg), DR_ENOTFOUND);
    /* The emptied directory is pruned, its non-empty parent kept. */
    snprintf(path, sizeof(path), "%s/store/d/e", f->dir);
    assert_int_not_equal(stat(path, &st), 0);
    assert_int_equal(store_head(f->s, "d/g", &obj, errmsg), 0);
    store_object_free(&obj);
    /* Absent objects delete fine. */
    assert_int_equal(store_delete(f->s, "d/e/f", errmsg), 0);
    assert_int_equal(store_delete(f->s, "never", errmsg), 0);
    assert_int_equal(store_delete(f->s, "d", errmsg), 0);
    assert_int_equal(store_head(f->s, "d/g", &obj, errmsg), 0);
    store_object_free(&obj);
    /* And a put works again where a directory was pruned. */
    put_str(f->s, "d/e/f", "3");
    /* A file store cannot hold both "x" and "x/y". */
    assert_int_equal(store_put_buf(f->s, "d/e/f/g", "4", 1, NULL, errmsg),
                     DR_ECONFLICT);
    assert_non_null(strstr(errmsg, "object d/e/f/g in file://"));
    assert_non_null(strstr(errmsg, "cannot hold both"));
    assert_int_equal(store_put_buf(f->s, "d/e", "4", 1, NULL, errmsg),
                     DR_ECONFLICT);
}

/* zio */

static void zput(struct store *s,
                 const char *key,
                 const unsigned char *data,
                 size_t len,
                 struct zio_stats *st)
{
    struct zio_writer *w;
    char errmsg[256];
    size_t off;

    assert_int_equal(zio_writer_open(s, key, 0, &w, errmsg), 0);
    for (off = 0; off < len; off += 100003) {
        size_t chunk = len - off < 100003 ? len - off : 100003;
        assert_int_equal(zio_write(w, data + off, chunk, errmsg), 0);
    }
    if (zio_writer_commit(w, st, errmsg) != 0) {
        fail_msg("zio commit: %s", errmsg);
    }
}

/* Read key back in reads of cap bytes; returns the code of the failing
 * read, or 0 with the bytes in out. */
static int zget(struct store *s,
                const char *key,
                const char *sha,
                size_t cap,
                unsigned char *out,
                size_t outcap,
                size_t *len,
                struct zio_stats *st,
                char *errmsg)
{
    struct zio_reader *r;
    size_t n;
    int rv;

    *len = 0;
    rv = zio_reader_open(s, key, sha, &r, errmsg);
    if (rv != 0) {
        return rv;
    }
    for (;;) {
        size_t want = cap < outcap - *len ? cap : outcap - *len;
        rv = zio_read(r, out + *len, want, &n, errmsg);
        if (rv != 0) {
            break;
        }
        if (n == 0) {
            break;
        }
        *len += n;
        assert_true(*len < outcap);
    }
    if (rv == 0 && st != NULL) {
        zio_reader_stats(r, st);
    }
    zio_reader_close(r);
    return rv;
}

/* Puts and deletes of w/a/b/c/KEY in two processes for a bounded time,
 * each deleting its own object so the other's delete prunes the whole
 * path: a put whose directories vanish while it makes them (or before its
 * rename) tries again rather than failing. Returns the failed puts. */
static unsigned put_delete_loop(const char *url, const char *key, double secs)
{
    struct store *s;
    char errmsg[256];
    unsigned failed = 0;
    struct timespec t0, t;

    if (store_open(url, NULL, &s, errmsg) != 0) {
        return 1000;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 0; i < 20000; i++) {
        if (store_put_buf(s, key, "x", 1, NULL, errmsg) != 0) {
            fprintf(stderr, "put %s: %s\n", key, errmsg);
            failed++;
        }
        (void)store_delete(s, key, errmsg);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) +
                (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >
            secs) {
            break;
        }
    }
    store_close(s);
    return failed;
}

static void test_put_races_a_pruning_delete(void **state)
{
    struct fx *f = *state;
    int status;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(put_delete_loop(f->url, "w/a/b/c/child", 2.0) == 0 ? 0 : 1);
    }
    assert_int_equal(put_delete_loop(f->url, "w/a/b/c/parent", 2.0), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_zio_round_trip(void **state)
{
    struct fx *f = *state;
    size_t len = 3 * 1024 * 1024 + 17, got;
    unsigned char *data = malloc(len), *back = malloc(len + 1);
    struct zio_stats ws, rs;
    char errmsg[256], sha[STORE_SHA256_HEX];
    struct store_object obj;
    static const size_t caps[] = {1, 7, 4096, 131072, 1 << 22};
    size_t i;

    fill(data, len, 7);
    zput(f->s, "z/data.zst", data, len, &ws);
    assert_int_equal(ws.raw_bytes, len);
    sha_hex(data, len, sha);
    assert_string_equal(ws.raw_sha256, sha);
    assert_true(ws.stored_bytes < len / 2);
    assert_int_equal(store_head(f->s, "z/data.zst", &obj, errmsg), 0);
    assert_int_equal(obj.size, ws.stored_bytes);
    store_object_free(&obj);
    assert_int_equal(store_sha256(f->s, "z/data.zst", sha, NULL, errmsg), 0);
    assert_string_equal(sha, ws.stored_sha256);

    for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        if (caps[i] == 1) {
            /* byte-wise over a smaller stream keeps the test quick */
            unsigned char small[5000], sback[5001];
            struct zio_stats ss;
            fill(small, sizeof(small), 3);
            zput(f->s, "z/small.zst", small, sizeof(small), &ss);
            assert_int_equal(zget(f->s, "z/small.zst", ss.stored_sha256, 1,
                                  sback, sizeof(sback), &got, &rs, errmsg),
                             0);
            assert_int_equal(got, sizeof(small));
            assert_memory_equal(sback, small, sizeof(small));
            continue;
        }
        assert_int_equal(zget(f->s, "z/data.zst", ws.stored_sha256, caps[i],
                              back, len + 1, &got, &rs, errmsg),
                         0);
        assert_int_equal(got, len);
        assert_memory_equal(back, data, len);
        assert_int_equal(rs.raw_bytes, ws.raw_bytes);
        assert_string_equal(rs.raw_sha256, ws.raw_sha256);
        assert_int_equal(rs.stored_bytes, ws.stored_bytes);
        assert_string_equal(rs.stored_sha256, ws.stored_sha256);
    }

    /* An empty stream still makes a valid frame. */
    zput(f->s, "z/empty.zst", data, 0, &ws);
    assert_int_equal(ws.raw_bytes, 0);
    assert_true(ws.stored_bytes > 0);
    assert_int_equal(zget(f->s, "z/empty.zst", ws.stored_sha256, 100, back, len,
                          &got, &rs, errmsg),
                     0);
    assert_int_equal(got, 0);
    assert_string_equal(
        rs.raw_sha256,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    free(data);
    free(back);
}

static void corrupt_file(struct fx *f, const char *key, long off, int trunc)
{
    char path[700];
    FILE *fp;
    int c;

    snprintf(path, sizeof(path), "%s/store/%s", f->dir, key);
    if (trunc) {
        assert_int_equal(truncate(path, off), 0);
        return;
    }
    fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, off, SEEK_SET), 0);
    c = fgetc(fp);
    assert_int_equal(fseek(fp, off, SEEK_SET), 0);
    fputc(c ^ 0x20, fp);
    fclose(fp);
}

static void test_zio_corrupt(void **state)
{
    struct fx *f = *state;
    size_t len = 500000, got;
    unsigned char *data = malloc(len), *back = malloc(len + 1);
    struct zio_stats ws;
    char errmsg[256];
    int rv;

    fill(data, len, 9);
    zput(f->s, "z/c.zst", data, len, &ws);
    corrupt_file(f, "z/c.zst", (long)ws.stored_bytes / 2, 0);

    /* With the stored digest: always caught, naming the object. */
    rv = zget(f->s, "z/c.zst", ws.stored_sha256, 65536, back, len + 1, &got,
              NULL, errmsg);
    assert_int_equal(rv, DR_ECORRUPT);
    assert_non_null(strstr(errmsg, "object z/c.zst: "));
    /* Without it, zstd's own checksum still catches the flip. */
    rv = zget(f->s, "z/c.zst", NULL, 65536, back, len + 1, &got, NULL, errmsg);
    assert_int_equal(rv, DR_ECORRUPT);
    assert_non_null(strstr(errmsg, "object z/c.zst: corrupt zstd stream"));

    /* A truncated stream. */
    zput(f->s, "z/t.zst", data, len, &ws);
    corrupt_file(f, "z/t.zst", (long)ws.stored_bytes - 100, 1);
    rv = zget(f->s, "z/t.zst", NULL, 65536, back, len + 1, &got, NULL, errmsg);
    assert_int_equal(rv, DR_ECORRUPT);
    assert_string_equal(errmsg, "object z/t.zst: truncated zstd stream");
    rv = zget(f->s, "z/t.zst", ws.stored_sha256, 65536, back, len + 1, &got,
              NULL, errmsg);
    assert_int_equal(rv, DR_ECORRUPT);
    assert_non_null(strstr(errmsg, "object z/t.zst: SHA-256 mismatch"));

    /* Not zstd at all. */
    put_str(f->s, "z/plain", "this is not a zstd frame at all");
    rv = zget(f->s, "z/plain", NULL, 100, back, len + 1, &got, NULL, errmsg);
    assert_int_equal(rv, DR_ECORRUPT);
    assert_non_null(strstr(errmsg, "object z/plain: corrupt zstd stream"));
    put_str(f->s, "z/empty", "");
    rv = zget(f->s, "z/empty", NULL, 100, back, len + 1, &got, NULL, errmsg);
    assert_int_equal(rv, DR_ECORRUPT);
    assert_string_equal(errmsg, "object z/empty: empty, not a zstd stream");
    free(data);
    free(back);
}

static void test_zio_abort(void **state)
{
    struct fx *f = *state;
    struct zio_writer *w;
    struct store_object obj;
    char errmsg[256];

    assert_int_equal(zio_writer_open(f->s, "z/ab", 3, &w, errmsg), 0);
    assert_int_equal(zio_write(w, "abc", 3, errmsg), 0);
    zio_writer_abort(w);
    assert_int_equal(store_head(f->s, "z/ab", &obj, errmsg), DR_ENOTFOUND);
    assert_int_equal(zio_writer_open(f->s, "z/ab", 99, &w, errmsg), DR_EINVAL);
    assert_non_null(strstr(errmsg, "zstd level 99"));
    assert_int_equal(zio_writer_open(f->s, "/z", 3, &w, errmsg), DR_EINVAL);
    assert_non_null(strstr(errmsg, "invalid object key"));
}

/* store jobs */

static void test_storejob_verify_delete(void **state)
{
    struct fx *f = *state;
    char errmsg[256], sha1[STORE_SHA256_HEX], sha2[STORE_SHA256_HEX];
    json_t *spec, *res;
    int rv;

    assert_int_equal(store_put_buf(f->s, "b/1/one", "one", 3, sha1, errmsg), 0);
    assert_int_equal(store_put_buf(f->s, "b/1/two", "two", 3, sha2, errmsg), 0);
    put_str(f->s, "b/2/other", "x");

    spec = json_pack("{ss ss s[{ssss}{ssss}]}", "op", "store_verify", "store",
                     f->url, "objects", "key", "b/1/one", "sha256", sha1, "key",
                     "b/1/two", "sha256", sha2);
    rv = job_run(spec, &res, errmsg);
    assert_int_equal(rv, 0);
    assert_true(json_is_true(json_object_get(res, "ok")));
    assert_int_equal(json_array_size(json_object_get(res, "objects")), 2);
    json_decref(res);
    json_decref(spec);

    spec = json_pack("{ss ss s[{ssss}{ssss}{ssss}]}", "op", "store_verify",
                     "store", f->url, "objects", "key", "b/1/one", "sha256",
                     sha1, "key", "b/1/two", "sha256", sha1, "key", "b/1/gone",
                     "sha256", sha1);
    rv = job_run(spec, &res, errmsg);
    assert_int_equal(rv, DR_ECORRUPT);
    assert_non_null(
        strstr(errmsg, "store_verify: object b/1/two: SHA-256 mismatch"));
    assert_non_null(res);
    assert_true(json_is_false(json_object_get(res, "ok")));
    {
        json_t *objs = json_object_get(res, "objects");
        assert_int_equal(json_array_size(objs), 3);
        assert_true(
            json_is_true(json_object_get(json_array_get(objs, 0), "ok")));
        assert_true(
            json_is_false(json_object_get(json_array_get(objs, 1), "ok")));
        assert_non_null(strstr(json_string_value(json_object_get(
                                   json_array_get(objs, 2), "error")),
                               "not found"));
    }
    json_decref(res);
    json_decref(spec);

    spec = json_pack("{ss ss ss}", "op", "store_delete", "store", f->url,
                     "prefix", "b/1/");
    rv = job_run(spec, &res, errmsg);
    assert_int_equal(rv, 0);
    assert_int_equal(json_integer_value(json_object_get(res, "deleted")), 2);
    json_decref(res);
    json_decref(spec);
    assert_int_equal(store_sha256(f->s, "b/2/other", sha1, NULL, errmsg), 0);

    spec = json_pack("{ss ss ss}", "op", "store_delete", "store", f->url,
                     "prefix", "");
    rv = job_run(spec, &res, errmsg);
    assert_int_equal(rv, DR_EINVAL);
    assert_non_null(strstr(errmsg, "refusing to delete the whole store"));
    json_decref(spec);
}

/* Root writing into a store another user owns (a node beside
 * PostgreSQL's wal-push): what it creates belongs to that user. */
static void test_root_hands_objects_to_the_owner(void **state)
{
    struct fx *f = *state;
    struct store *s = NULL;
    char url[800], path[700], errmsg[256];
    struct stat st;

    if (geteuid() != 0) {
        skip(); /* only root can write as another user */
    }
    snprintf(path, sizeof(path), "%s/owned", f->dir);
    assert_int_equal(mkdir(path, 0750), 0);
    assert_int_equal(chown(path, 4321, 4322), 0);
    snprintf(url, sizeof(url), "file://%s", path);
    assert_int_equal(store_open(url, NULL, &s, errmsg), 0);
    put_str(s, "wal/a/b", "segment");
    const char *made[] = {"wal", "wal/a", "wal/a/b"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/owned/%s", f->dir, made[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_uid, 4321);
        assert_int_equal(st.st_gid, 4322);
    }
    assert_int_equal(st.st_mode & 0777, 0640);
    store_close(s);
    /* The store's own (root's) objects stay root's. */
    put_str(f->s, "x/y", "data");
    snprintf(path, sizeof(path), "%s/store/x/y", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_uid, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sha_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_keys, setup, teardown),
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_list_order_and_pages, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_list_default_page, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_races_a_pruning_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_zio_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zio_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zio_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_hands_objects_to_the_owner,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_storejob_verify_delete, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
