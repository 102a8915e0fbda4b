/* Region endpoints: the URL parser, the FSM's region commands that set
 * them (entry version 4, refusals that change nothing, updates that leave
 * them alone unless named), their snapshot round trip, and the probe
 * report's "remote" part that carries what a node finds of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"
#include "control/health.h"
#include "fsm/fsm.h"
#include "fsm_helpers.h"
#include "json/jsonin.h"

static void test_parse(void **state)
{
    static const struct
    {
        const char *url;
        const char *host;
        unsigned port;
    } good[] = {
        {"tcp://10.0.0.5:5432", "10.0.0.5", 5432},
        {"postgres://db.eu.example.com", "db.eu.example.com", 5432},
        {"postgresql://db:6432/app", "db", 6432},
        {"redis://cache.internal", "cache.internal", 6379},
        {"http://app.example.com/api/health", "app.example.com", 80},
        {"https://app.example.com:8443/api/health?x=1", "app.example.com",
         8443},
        {"tcp://[2001:db8::1]:443", "2001:db8::1", 443},
    };
    static const struct
    {
        const char *url;
        const char *why;
    } bad[] = {
        {"", "endpoint is empty"},
        {"ftp://x:21", "must start with tcp://"},
        {"10.0.0.5:5432", "must start with tcp://"},
        {"tcp://10.0.0.5", "tcp:// needs a port"},
        {"tcp://:5432", "has no host"},
        {"tcp://x:0", "port must be 1 to 65535"},
        {"tcp://x:65536", "port must be 1 to 65535"},
        {"tcp://x:12ab", "port must be 1 to 65535"},
        {"tcp://x:", "empty port"},
        {"postgres://user:secret@db:5432", "holds credentials"},
        {"tcp://bad_host:1", "bad host"},
        {"tcp://[::1", "unclosed '['"},
    };
    char host[FSM_HOST_MAX + 1], err[256];
    unsigned port;
    (void)state;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(fsm_endpoint_parse(good[i].url, host, &port, err),
                         DR_OK);
        assert_string_equal(host, good[i].host);
        assert_int_equal(port, good[i].port);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (fsm_endpoint_parse(bad[i].url, host, &port, err) != DR_EINVAL ||
            strstr(err, bad[i].why) == NULL) {
            fail_msg("\"%s\": expected \"%s\", got \"%s\"", bad[i].url,
                     bad[i].why, err);
        }
    }
}

static struct fsm_cmd update_cmd(const char *name, char **eps, size_t n)
{
    struct fsm_cmd c = {.type = FSM_CMD_REGION_UPDATE, .actor = "test"};
    c.u.region.name = (char *)name;
    c.u.region.object_store = "";
    c.u.region.endpoints = eps;
    c.u.region.n_endpoints = n;
    c.fields = FSM_REGION_F_ENDPOINTS;
    return c;
}

static void test_region_commands(void **state)
{
    struct fsm *f = *state;
    char *eps[] = {"tcp://10.1.0.9:5432", "redis://10.1.0.9"};
    char *dup[] = {"tcp://10.1.0.9:5432", "tcp://10.1.0.9:5432"};
    char *bad[] = {"ftp://10.1.0.9:21"};
    char *many[FSM_ENDPOINTS_MAX + 1];
    struct fsm_cmd c = update_cmd("eu-west", eps, 2);
    const struct fsm_region *r;

    for (size_t i = 0; i <= FSM_ENDPOINTS_MAX; i++) {
        many[i] = "tcp://10.1.0.9:5432";
    }
    assert_int_equal(fsm_cmd_version(&c), 4);
    expect_ok(f, &c, T0 + 1);
    r = fsm_region_get(f, "eu-west");
    assert_int_equal(r->n_endpoints, 2);
    assert_string_equal(r->endpoints[1], "redis://10.1.0.9");
    assert_non_null(strstr(audit_last(f)->detail,
                           "endpoints=[tcp://10.1.0.9:5432,redis://10.1.0.9]"));

    /* Refusals name the problem and change nothing. */
    c = update_cmd("eu-west", dup, 2);
    expect_reject(f, &c, DR_EINVAL, "is listed twice");
    c = update_cmd("eu-west", bad, 1);
    expect_reject(f, &c, DR_EINVAL, "region eu-west: endpoint \"ftp://");
    c = update_cmd("eu-west", many, FSM_ENDPOINTS_MAX + 1);
    expect_reject(f, &c, DR_EINVAL, "9 endpoints, at most 8 allowed");

    /* An update of other fields, or an old one naming "all" (0), leaves
     * them alone: they are changed only when named. */
    c = update_cmd("eu-west", NULL, 0);
    c.fields = FSM_REGION_F_PRIORITY;
    c.u.region.priority = 42;
    assert_int_equal(fsm_cmd_version(&c), 1);
    expect_ok(f, &c, T0 + 2);
    c.fields = 0;
    c.u.region.object_store = "s3://dr-eu";
    expect_ok(f, &c, T0 + 3);
    r = fsm_region_get(f, "eu-west");
    assert_int_equal(r->priority, 42);
    assert_int_equal(r->n_endpoints, 2);

    /* Named and empty: cleared. */
    c = update_cmd("eu-west", NULL, 0);
    expect_ok(f, &c, T0 + 4);
    assert_int_equal(fsm_region_get(f, "eu-west")->n_endpoints, 0);
    assert_null(strstr(audit_last(f)->detail, "endpoints="));

    /* A new region may come with them. */
    c = update_cmd("sa-east", eps, 1);
    c.type = FSM_CMD_REGION_ADD;
    c.fields = 0;
    assert_int_equal(fsm_cmd_version(&c), 4);
    expect_ok(f, &c, T0 + 5);
    assert_int_equal(fsm_region_get(f, "sa-east")->n_endpoints, 1);
}

static void test_snapshot_keeps_them(void **state)
{
    struct fsm *f = *state, back;
    char *eps[] = {"tcp://10.1.0.9:5432", "https://app.eu.example.com/h"};
    struct fsm_cmd c = update_cmd("us-east", eps, 2);
    struct snap s;
    char err[256];

    expect_ok(f, &c, T0 + 1);
    s = snap_take(f);
    assert_int_equal(codec_snapshot_decode(s.base, s.len, &back, err), DR_OK);
    state_equal(f, &back);
    assert_int_equal(fsm_region_get(&back, "us-east")->n_endpoints, 2);
    fsm_close(&back);
    free(s.base);
}

static int parse(const char *text, struct health_report *out, char *err)
{
    struct jin_doc doc;
    int rv;
    if (jin_parse(&doc, text, strlen(text), err) != DR_OK) {
        return DR_EINVAL;
    }
    rv = health_report_parse(&doc.root, out, err);
    jin_free(&doc);
    return rv;
}

static void test_report_remote(void **state)
{
    static const struct
    {
        const char *remote;
        const char *why;
    } bad[] = {
        {"[]", "remote must be an object"},
        {"{\"us-east\": 5}", "remote us-east: must be {\"down_ms\": N}"},
        {"{\"us-east\": {}}", "remote us-east: must be {\"down_ms\": N}"},
        {"{\"us-east\": {\"down_ms\": -1}}", "down_ms must be a non-negative"},
        {"{\"\": {\"down_ms\": 1}}", "a key is not a region name"},
    };
    struct health_report r;
    char text[512], err[256];
    (void)state;

    assert_int_equal(
        parse("{\"node\": 3, \"region\": \"ap-south\", \"services\": {}, "
              "\"remote\": {\"eu-west\": {\"down_ms\": 4200}, "
              "\"us-east\": {\"down_ms\": 0}}}",
              &r, err),
        DR_OK);
    assert_int_equal(r.n_remote, 2);
    assert_string_equal(r.remote[0].region, "eu-west");
    assert_int_equal(r.remote[0].down_ms, 4200);
    assert_int_equal(r.remote[1].down_ms, 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text),
                 "{\"node\": 3, \"region\": \"ap-south\", \"services\": {}, "
                 "\"remote\": %s}",
                 bad[i].remote);
        if (parse(text, &r, err) != DR_EINVAL ||
            strstr(err, bad[i].why) == NULL) {
            fail_msg("%s: expected \"%s\", got \"%s\"", bad[i].remote,
                     bad[i].why, err);
        }
    }
    /* fenced_epoch: a non-negative integer when given. */
    assert_int_equal(parse("{\"node\": 3, \"region\": \"a\", \"services\": "
                           "{}, \"fenced_epoch\": -2}",
                           &r, err),
                     DR_EINVAL);
    assert_non_null(strstr(err, "fenced_epoch must be a non-negative"));
    /* repeat: a boolean when given; absent means a new round. */
    assert_int_equal(parse("{\"node\": 3, \"region\": \"a\", \"services\": "
                           "{}, \"repeat\": 1}",
                           &r, err),
                     DR_EINVAL);
    assert_non_null(strstr(err, "repeat must be true or false"));
    assert_int_equal(
        parse("{\"node\": 3, \"region\": \"a\", \"services\": {}}", &r, err),
        DR_OK);
    assert_false(r.repeat);
    /* What a node writes, the leader reads back. */
    {
        struct health_report w, back;
        struct jout j;
        memset(&w, 0, sizeof(w));
        w.node = 7;
        snprintf(w.region, sizeof(w.region), "us-east");
        snprintf(w.remote[0].region, sizeof(w.remote[0].region), "eu-west");
        w.remote[0].down_ms = 12345;
        w.n_remote = 1;
        w.fenced_epoch = 9;
        w.repeat = true;
        jout_init(&j);
        health_report_write(&j, &w);
        assert_false(j.oom);
        assert_int_equal(parse(j.buf, &back, err), DR_OK);
        assert_int_equal(back.n_remote, 1);
        assert_string_equal(back.remote[0].region, "eu-west");
        assert_int_equal(back.remote[0].down_ms, 12345);
        assert_int_equal(back.fenced_epoch, 9);
        assert_true(back.repeat);
        jout_free(&j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        BOOTED(test_region_commands),
        BOOTED(test_snapshot_keeps_them),
        cmocka_unit_test(test_report_remote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
