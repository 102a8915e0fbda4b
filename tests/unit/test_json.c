/* The request-body JSON parser and the reply writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "json/jsonin.h"
#include "json/jsonout.h"

static int parse(struct jin_doc *d, const char *text, char *err)
{
    return jin_parse(d, text, strlen(text), err);
}

static void test_parse_values(void **state)
{
    struct jin_doc d;
    char err[256];
    const struct jin *v;
    (void)state;

    assert_int_equal(parse(&d,
                           " {\"name\":\"eu-west\",\"priority\":-12,"
                           "\"big\":9223372036854775807,\"neg\":"
                           "-9223372036854775808,\"ok\":true,\"no\":false,"
                           "\"nil\":null,\"f\":1.5e3,\"list\":[\"a\",[],{}],"
                           "\"esc\":\"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9"
                           "\\ud83d\\ude00\"} ",
                           err),
                     0);
    assert_int_equal(d.root.type, JIN_OBJECT);
    assert_int_equal(d.root.u.obj.n, 10);
    v = jin_get(&d.root, "name");
    assert_int_equal(v->type, JIN_STRING);
    assert_string_equal(v->u.str.s, "eu-west");
    assert_int_equal(jin_get(&d.root, "priority")->u.i, -12);
    assert_true(jin_get(&d.root, "big")->u.i == INT64_MAX);
    assert_true(jin_get(&d.root, "neg")->u.i == INT64_MIN);
    assert_true(jin_get(&d.root, "ok")->u.b);
    assert_false(jin_get(&d.root, "no")->u.b);
    assert_int_equal(jin_get(&d.root, "nil")->type, JIN_NULL);
    assert_int_equal(jin_get(&d.root, "f")->type, JIN_NUMBER);
    v = jin_get(&d.root, "list");
    assert_int_equal(v->type, JIN_ARRAY);
    assert_int_equal(v->u.arr.n, 3);
    assert_int_equal(v->u.arr.items[1].type, JIN_ARRAY);
    assert_int_equal(v->u.arr.items[2].type, JIN_OBJECT);
    assert_string_equal(jin_get(&d.root, "esc")->u.str.s,
                        "q\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
    assert_null(jin_get(&d.root, "absent"));
    assert_null(jin_get(v, "name")); /* not an object */
    jin_free(&d);
}

struct bad
{
    const char *text;
    size_t len; /* 0: strlen */
    const char *msg;
};

static void test_parse_errors(void **state)
{
    static const struct bad cases[] = {
        {"", 0, "at byte 0: unexpected end of input"},
        {"{", 0, "at byte 1: expected a string key"},
        {"{\"a\":1", 0, "at byte 6: expected ',' or '}'"},
        {"{\"a\" 1}", 0, "at byte 5: expected ':'"},
        {"[1 2]", 0, "at byte 3: expected ',' or ']'"},
        {"{\"a\":1,}", 0, "expected a string key"},
        {"{\"a\":1,\"a\":2}", 0, "duplicate key \"a\""},
        {"tru", 0, "unexpected token"},
        {"nulL", 0, "unexpected token"},
        {"@", 0, "unexpected character"},
        {"01", 0, "leading zero"},
        {"-", 0, "invalid number"},
        {"1.", 0, "invalid number"},
        {"1e", 0, "invalid number"},
        {"18446744073709551616", 0, "64-bit range"},
        {"9223372036854775808", 0, "64-bit range"},
        {"\"abc", 0, "unterminated string"},
        {"\"a\x01\"", 0, "control character"},
        {"\"\\x\"", 0, "invalid escape"},
        {"\"\\u12\"", 0, "invalid \\u escape"},
        {"\"\\u0000\"", 0, "\\u0000 is not allowed"},
        {"\"\\udc00\"", 0, "unpaired surrogate"},
        {"\"\\ud800x\"", 0, "unpaired surrogate"},
        {"\"\xff\"", 0, "invalid UTF-8"},
        {"\"\xc0\xaf\"", 0, "invalid UTF-8"},     /* overlong '/' */
        {"\"\xed\xa0\x80\"", 0, "invalid UTF-8"}, /* encoded surrogate */
        {"\"\xe2\x82\"", 0, "invalid UTF-8"},     /* truncated */
        {"{} {}", 0, "trailing data"},
        {"{\"a\":\"b\0c\"}", 11, "control character"},
    };
    struct jin_doc d;
    char err[256];
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
        int rv = jin_parse(&d, cases[i].text, len, err);
        if (rv != DR_EINVAL || strstr(err, cases[i].msg) == NULL) {
            fail_msg("case %zu (%s): rv %d, message \"%s\", want \"%s\"", i,
                     cases[i].text, rv, err, cases[i].msg);
        }
        assert_null(d.blocks); /* nothing to free after an error */
    }
}

static void test_depth_limit(void **state)
{
    char deep[80], ok[40];
    struct jin_doc d;
    char err[256];
    (void)state;

    memset(deep, '[', 40);
    memset(deep + 40, ']', 40);
    assert_int_equal(jin_parse(&d, deep, 80, err), DR_EINVAL);
    assert_non_null(strstr(err, "nested too deeply"));
    memset(ok, '[', 20);
    memset(ok + 20, ']', 20);
    assert_int_equal(jin_parse(&d, ok, 40, err), 0);
    jin_free(&d);
}

static void test_member_limit(void **state)
{
    /* Quadratic duplicate checks stay bounded: 1024 keys, not 90,000. */
    size_t cap = 1100 * 24, off = 0;
    char *text = malloc(cap);
    struct jin_doc d;
    char err[256];
    (void)state;

    assert_non_null(text);
    off += (size_t)snprintf(text + off, cap - off, "{");
    for (size_t i = 0; i < 1025; i++) {
        off += (size_t)snprintf(text + off, cap - off, "%s\"k%zu\":%zu",
                                i ? "," : "", i, i);
    }
    off += (size_t)snprintf(text + off, cap - off, "}");
    assert_int_equal(jin_parse(&d, text, off, err), DR_EINVAL);
    assert_non_null(strstr(err, "more than 1024 members"));
    free(text);
}

static void test_large_document(void **state)
{
    /* More items than one arena block holds. */
    size_t n = 3000, cap = n * 24 + 16, off = 0;
    char *text = malloc(cap);
    struct jin_doc d;
    char err[256];
    (void)state;

    assert_non_null(text);
    off += (size_t)snprintf(text + off, cap - off, "[");
    for (size_t i = 0; i < n; i++) {
        off += (size_t)snprintf(text + off, cap - off, "%s{\"k\":%zu}",
                                i ? "," : "", i);
    }
    off += (size_t)snprintf(text + off, cap - off, "]");
    assert_int_equal(jin_parse(&d, text, off, err), 0);
    assert_int_equal(d.root.u.arr.n, n);
    assert_int_equal(jin_get(&d.root.u.arr.items[2999], "k")->u.i, 2999);
    jin_free(&d);
    free(text);
}

/* Random bytes and mutated valid documents: never crash, never leak, and
 * either parse or explain why not. */
static void test_garbage(void **state)
{
    static const char base[] =
        "{\"name\":\"eu-west\",\"dns_targets\":[\"a.example\",\"b\"],"
        "\"priority\":5,\"x\":{\"y\":[true,false,null,\"\\u00e9\"]}}";
    uint32_t seed = 12345;
    char buf[sizeof(base)];
    struct jin_doc d;
    char err[256];
    (void)state;

    for (int round = 0; round < 20000; round++) {
        size_t len = sizeof(base) - 1;
        memcpy(buf, base, len);
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            buf[(seed >> 8) % len] = (char)(seed >> 20);
        }
        seed = seed * 1103515245u + 12345u;
        len = round % 3 == 0 ? (seed >> 8) % len : len;
        err[0] = '\0';
        if (jin_parse(&d, buf, len, err) == 0) {
            jin_free(&d);
        } else {
            assert_non_null(strstr(err, "JSON") != NULL ? err : NULL);
        }
    }
}

static void test_writer(void **state)
{
    struct jout j;
    (void)state;

    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "s");
    jout_str(&j, "a\"b\\c\n\x01\xc3\xa9");
    jout_key(&j, "bad");
    jout_str(&j, "x\xffy");
    jout_key(&j, "n");
    jout_int(&j, -5);
    jout_key(&j, "u");
    jout_uint(&j, UINT64_MAX);
    jout_key(&j, "t");
    jout_bool(&j, true);
    jout_key(&j, "null");
    jout_str(&j, NULL);
    jout_key(&j, "arr");
    jout_begin(&j, '[');
    jout_int(&j, 1);
    jout_begin(&j, '{');
    jout_end(&j, '}');
    jout_str(&j, "");
    jout_end(&j, ']');
    jout_end(&j, '}');
    assert_false(j.oom);
    assert_string_equal(j.buf,
                        "{\"s\":\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\","
                        "\"bad\":\"x\\ufffdy\",\"n\":-5,"
                        "\"u\":18446744073709551615,\"t\":true,"
                        "\"null\":null,\"arr\":[1,{},\"\"]}");
    jout_free(&j);
}

/* What the writer writes, the parser reads back. */
static void test_round_trip(void **state)
{
    struct jout j;
    struct jin_doc d;
    char err[256];
    (void)state;

    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "k\t1");
    jout_str(&j, "v\"\\\x1f\xe2\x82\xac");
    jout_end(&j, '}');
    assert_int_equal(jin_parse(&d, j.buf, j.len, err), 0);
    assert_string_equal(jin_get(&d.root, "k\t1")->u.str.s,
                        "v\"\\\x1f\xe2\x82\xac");
    jin_free(&d);
    jout_free(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_values),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_member_limit),
        cmocka_unit_test(test_large_document),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
