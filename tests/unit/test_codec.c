/* Unit tests of the protobuf codec: commands, entries and snapshots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"
#include "fsm/fsm.h"
#include "fsm_helpers.h"

/* Raw protobuf wire writer, to craft inputs the encoder never produces
 * without reaching for protobuf-c here. */

struct wbuf
{
    uint8_t b[2048];
    size_t n;
};

static void w_varint(struct wbuf *w, uint64_t v)
{
    while (v >= 0x80) {
        assert_true(w->n < sizeof(w->b));
        w->b[w->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    assert_true(w->n < sizeof(w->b));
    w->b[w->n++] = (uint8_t)v;
}

static void w_uint(struct wbuf *w, unsigned field, uint64_t v)
{
    w_varint(w, (uint64_t)field << 3);
    w_varint(w, v);
}

static void w_bytes(struct wbuf *w, unsigned field, const void *p, size_t len)
{
    w_varint(w, ((uint64_t)field << 3) | 2);
    w_varint(w, len);
    assert_true(w->n + len <= sizeof(w->b));
    memcpy(w->b + w->n, p, len);
    w->n += len;
}

static void w_str(struct wbuf *w, unsigned field, const char *s)
{
    w_bytes(w, field, s, strlen(s));
}

static void w_msg(struct wbuf *w, unsigned field, const struct wbuf *sub)
{
    w_bytes(w, field, sub->b, sub->n);
}

/* Helpers. */

static void *fail_alloc(size_t size)
{
    (void)size;
    return NULL;
}

static void cmd_equal(const struct fsm_cmd *a, const struct fsm_cmd *b)
{
    assert_int_equal(a->type, b->type);
    str_equal(a->actor, b->actor);
    switch (a->type) {
        case FSM_CMD_BOOTSTRAP:
            assert_int_equal(a->u.bootstrap.n_regions,
                             b->u.bootstrap.n_regions);
            for (size_t i = 0; i < a->u.bootstrap.n_regions; i++) {
                region_equal(&a->u.bootstrap.regions[i],
                             &b->u.bootstrap.regions[i]);
            }
            assert_int_equal(a->u.bootstrap.n_members,
                             b->u.bootstrap.n_members);
            for (size_t i = 0; i < a->u.bootstrap.n_members; i++) {
                member_equal(&a->u.bootstrap.members[i],
                             &b->u.bootstrap.members[i]);
            }
            str_equal(a->u.bootstrap.primary_region,
                      b->u.bootstrap.primary_region);
            break;
        case FSM_CMD_REGION_ADD:
        case FSM_CMD_REGION_UPDATE:
            region_equal(&a->u.region, &b->u.region);
            break;
        case FSM_CMD_REGION_REMOVE:
            str_equal(a->u.region_name, b->u.region_name);
            break;
        case FSM_CMD_MEMBER_PUT:
            member_equal(&a->u.member, &b->u.member);
            break;
        case FSM_CMD_MEMBER_REMOVE:
            assert_int_equal(a->u.member_id, b->u.member_id);
            break;
        case FSM_CMD_SET_PRIMARY:
            str_equal(a->u.set_primary.region, b->u.set_primary.region);
            str_equal(a->u.set_primary.reason, b->u.set_primary.reason);
            assert_int_equal(a->u.set_primary.has_expected_epoch,
                             b->u.set_primary.has_expected_epoch);
            if (a->u.set_primary.has_expected_epoch) {
                assert_int_equal(a->u.set_primary.expected_epoch,
                                 b->u.set_primary.expected_epoch);
            }
            break;
        case FSM_CMD_SETTING_SET:
            str_equal(a->u.setting.key, b->u.setting.key);
            value_equal(&a->u.setting.value, &b->u.setting.value);
            break;
        default:
            fail_msg("unexpected command type %d", a->type);
    }
}

/* Encode cmds into one entry (malloc'd). */
static struct snap entry_make(uint32_t version,
                              uint64_t time_ms,
                              const struct fsm_cmd *cmds,
                              size_t n)
{
    struct codec_piece pieces[16];
    uint8_t *enc[16];
    struct snap e;

    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(codec_cmd_encode(&cmds[i], &enc[i], &pieces[i].len),
                         DR_OK);
        pieces[i].base = enc[i];
    }
    assert_int_equal(codec_entry_assemble(version, time_ms, pieces, n, malloc,
                                          &e.base, &e.len),
                     DR_OK);
    for (size_t i = 0; i < n; i++) {
        free(enc[i]);
    }
    return e;
}

/* Sample commands of every kind. */

static void sample_cmds(struct fsm_cmd c[10])
{
    memset(c, 0, 10 * sizeof(*c));
    c[0] = boot_cmd();
    c[1].type = FSM_CMD_REGION_ADD;
    c[1].actor = "api:10.0.0.1:4444";
    c[1].u.region = boot_regions[0];
    c[1].u.region.name = "ap-south";
    c[1].u.region.status = FSM_REGION_DEGRADED;
    c[1].u.region.created_ms = 77;
    c[1].u.region.updated_ms = UINT64_MAX;
    c[2].type = FSM_CMD_REGION_UPDATE;
    c[2].u.region = boot_regions[1];
    c[3].type = FSM_CMD_REGION_REMOVE;
    c[3].actor = "";
    c[3].u.region_name = "ap-south";
    c[4].type = FSM_CMD_MEMBER_PUT;
    c[4].actor = "node:2";
    c[4].u.member = boot_members[1];
    c[4].u.member.id = UINT64_MAX;
    c[4].u.member.added_ms = 5;
    c[5].type = FSM_CMD_MEMBER_REMOVE;
    c[5].u.member_id = 1;
    c[6].type = FSM_CMD_SET_PRIMARY;
    c[6].u.set_primary.region = "us-east";
    c[6].u.set_primary.reason = "region eu-west lost";
    c[6].u.set_primary.has_expected_epoch = true;
    c[6].u.set_primary.expected_epoch = 0; /* present even when zero */
    c[7].type = FSM_CMD_SET_PRIMARY;
    c[7].u.set_primary.region = "eu-west";
    c[8].type = FSM_CMD_SETTING_SET;
    c[8].u.setting.key = "rpo.pg_s";
    c[8].u.setting.value.type = FSM_SETTING_INT;
    c[8].u.setting.value.i = INT64_MIN;
    c[9].type = FSM_CMD_SETTING_SET;
    c[9].u.setting.key = "llm.fallback_chain";
    c[9].u.setting.value.type = FSM_SETTING_STRING;
    c[9].u.setting.value.s = "openai,ollama";
}

static void test_cmd_roundtrip(void **state)
{
    struct fsm_cmd c[12];
    struct snap e;
    struct codec_entry *ce;
    (void)state;

    sample_cmds(c);
    c[10] = c[8];
    c[10].u.setting.key = "queue_mode";
    c[10].u.setting.value.type = FSM_SETTING_BOOL;
    c[10].u.setting.value.i = 0;
    c[10].u.setting.value.b = true;
    c[11] = c[10];
    c[11].u.setting.value.b = false; /* default value, still present */

    /* One big batch with every kind. */
    e = entry_make(FSM_VERSION, UINT64_MAX, c, 12);
    assert_int_equal(e.len % 8, 0); /* libraft refuses others */
    assert_int_equal(codec_entry_decode(e.base, e.len, &ce), DR_OK);
    assert_int_equal(ce->e.version, FSM_VERSION);
    assert_int_equal(ce->e.time_ms, UINT64_MAX);
    assert_int_equal(ce->e.n_cmds, 12);
    for (size_t i = 0; i < 12; i++) {
        cmd_equal(&c[i], &ce->e.cmds[i]);
    }
    codec_entry_free(ce);
    free(e.base);

    /* Each kind alone, and batches of every size, other versions. */
    for (size_t n = 0; n <= 12; n++) {
        size_t from = n < 12 ? n : 0;
        e = entry_make(UINT32_MAX - (uint32_t)n, n, &c[from], n < 12 ? 1 : 0);
        assert_int_equal(e.len % 8, 0);
        assert_int_equal(codec_entry_decode(e.base, e.len, &ce), DR_OK);
        assert_int_equal(ce->e.version, UINT32_MAX - n);
        assert_int_equal(ce->e.time_ms, n);
        assert_int_equal(ce->e.n_cmds, n < 12 ? 1 : 0);
        if (n < 12) {
            cmd_equal(&c[from], &ce->e.cmds[0]);
        }
        codec_entry_free(ce);
        free(e.base);
        if (n >= 1 && n < 12) {
            e = entry_make(FSM_VERSION, T0, c, n);
            assert_int_equal(codec_entry_decode(e.base, e.len, &ce), DR_OK);
            assert_int_equal(ce->e.n_cmds, n);
            for (size_t i = 0; i < n; i++) {
                cmd_equal(&c[i], &ce->e.cmds[i]);
            }
            codec_entry_free(ce);
            free(e.base);
        }
    }
}

static void test_cmd_encode_errors(void **state)
{
    struct fsm_cmd c;
    struct codec_piece p = {(const uint8_t *)"", 0};
    uint8_t *out = NULL;
    size_t len = 0;
    void *buf = NULL;
    (void)state;

    memset(&c, 0, sizeof(c));
    assert_int_equal(codec_cmd_encode(&c, &out, &len), DR_EINVAL);
    c.type = 42;
    assert_int_equal(codec_cmd_encode(&c, &out, &len), DR_EINVAL);
    assert_null(out);
    assert_int_equal(
        codec_entry_assemble(FSM_VERSION, 0, &p, 1, fail_alloc, &buf, &len),
        DR_ENOMEM);
    assert_null(buf);
}

/* A busy state: bootstrap, more regions and members, settings, two primary
 * changes, and a history ring that has wrapped. */
static void busy_state(struct fsm *f)
{
    struct fsm_cmd c[10];
    struct fsm_result res[10];
    struct snap e;

    assert_int_equal(fsm_init(f), DR_OK);
    sample_cmds(c);
    c[6].u.set_primary.expected_epoch = 1;
    e = entry_make(FSM_VERSION, T0, c, 3);
    assert_int_equal(entry_apply(f, &e, res, 10), DR_OK);
    free(e.base);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(res[i].code, DR_OK);
    }
    c[4].u.member.raft_address = "10.9.0.1:7000";
    c[4].u.member.api_address = "10.9.0.1:8000";
    c[8].u.setting.key = "history.max_entries";
    c[8].u.setting.value.i = 16;
    e = entry_make(FSM_VERSION, T0 + 5, &c[4], 6);
    assert_int_equal(entry_apply(f, &e, res, 10), DR_OK);
    free(e.base);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(res[i].code, DR_OK);
    }
    c[8].u.setting.key = "rpo.redis_s";
    for (int i = 0; i < 20; i++) {
        c[8].u.setting.value.i = i;
        e = entry_make(FSM_VERSION, T0 + 10 + (uint64_t)i, &c[8], 1);
        assert_int_equal(entry_apply(f, &e, res, 10), DR_OK);
        free(e.base);
    }
    assert_int_equal(f->n_audit, 16);
    assert_true(f->audit_head != 0);
    assert_int_equal(f->site.epoch, 3);
}

static void test_snapshot_roundtrip(void **state)
{
    struct fsm a, b, empty;
    struct snap s1, s2;
    char err[256];
    (void)state;

    busy_state(&a);
    s1 = snap_take(&a);
    assert_int_equal(codec_snapshot_decode(s1.base, s1.len, &b, err), DR_OK);
    state_equal(&a, &b);
    s2 = snap_take(&b);
    assert_true(snap_same(&s1, &s2));
    free(s2.base);
    fsm_close(&b);
    free(s1.base);
    fsm_close(&a);

    /* A state that was never bootstrapped round-trips too. */
    assert_int_equal(fsm_init(&empty), DR_OK);
    s1 = snap_take(&empty);
    assert_int_equal(codec_snapshot_decode(s1.base, s1.len, &b, err), DR_OK);
    state_equal(&empty, &b);
    s2 = snap_take(&b);
    assert_true(snap_same(&s1, &s2));
    free(s2.base);
    assert_int_equal(codec_snapshot_encode(&b, fail_alloc, &s2.base, &s2.len),
                     DR_ENOMEM);
    free(s1.base);
    fsm_close(&b);
    fsm_close(&empty);
}

static void test_entry_malformed(void **state)
{
    struct fsm_cmd c[10];
    struct codec_entry *ce = NULL;
    struct snap e;
    size_t end_last = 0, last_len;
    uint8_t *last;
    static const uint8_t garbage[][6] = {
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, /* varint runs off the end */
        {0x1a, 0x05, 0x0a, 0x01, 0x61, 0x00}, /* command longer than data */
        {0x1a, 0x02, 0x52, 0x7f, 0x00, 0x00}, /* bootstrap runs off */
        {0x0f, 0x00, 0x00, 0x00, 0x00, 0x00}, /* wire type 7 */
        {0x1b, 0x00, 0x00, 0x00, 0x00, 0x00}, /* group start, no end */
    };
    (void)state;

    sample_cmds(c);
    e = entry_make(FSM_VERSION, T0, c, 10);
    /* Every prefix either decodes (cut at a field boundary) or is refused.
     * Cutting into the last command, or into the trailing pad, is always
     * refused. */
    for (size_t n = 0; n < e.len; n++) {
        int rv = codec_entry_decode(e.base, n, &ce);
        if (rv == DR_OK) {
            if (ce->e.n_cmds == 10 && end_last == 0) {
                end_last = n; /* everything but the pad */
            }
            codec_entry_free(ce);
        } else {
            assert_int_equal(rv, DR_EMALFORMED);
        }
    }
    assert_int_equal(codec_cmd_encode(&c[9], &last, &last_len), DR_OK);
    free(last);
    assert_true(end_last > last_len && end_last < e.len);
    for (size_t n = end_last - last_len + 1; n < e.len; n++) {
        if (n != end_last) {
            assert_int_equal(codec_entry_decode(e.base, n, &ce), DR_EMALFORMED);
        }
    }
    free(e.base);
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        if (codec_entry_decode(garbage[i], 6, &ce) != DR_EMALFORMED) {
            fail_msg("garbage %zu decoded", i);
        }
    }
    assert_int_equal(codec_entry_decode((const uint8_t *)"", 0, &ce), DR_OK);
    assert_int_equal(ce->e.n_cmds, 0);
    assert_int_equal(ce->e.version, 0); /* refused by the FSM */
    codec_entry_free(ce);
    codec_entry_free(NULL);
}

/* out must be empty after a failed decode: nothing to free. */
static void assert_left_empty(const struct fsm *f)
{
    assert_false(f->initialized);
    assert_null(f->settings);
    assert_null(f->regions);
    assert_null(f->members);
    assert_null(f->audit);
    assert_null(f->site.primary_region);
}

static void test_snapshot_malformed(void **state)
{
    struct fsm a, out;
    struct snap s;
    char err[256];
    static const uint8_t garbage[] = {0x22, 0x10, 0x0a, 0x03, 0x65};
    (void)state;

    busy_state(&a);
    s = snap_take(&a);
    for (size_t n = 0; n < s.len; n++) {
        int rv = codec_snapshot_decode(s.base, n, &out, err);
        if (rv == DR_OK) {
            fsm_close(&out);
            continue;
        }
        assert_true(rv == DR_EMALFORMED || rv == DR_EVERSION);
        assert_non_null(strstr(err, "snapshot: "));
        assert_left_empty(&out);
    }
    free(s.base);
    fsm_close(&a);
    assert_int_equal(codec_snapshot_decode(garbage, sizeof(garbage), &out, err),
                     DR_EMALFORMED);
    assert_string_equal(err, "snapshot: not a valid snapshot message");
    assert_left_empty(&out);
    /* Empty input has no version. */
    assert_int_equal(codec_snapshot_decode(garbage, 0, &out, err), DR_EVERSION);
    assert_non_null(strstr(err, "version 0 is not supported"));
    assert_left_empty(&out);
}

/* Decode the encoding of f followed by the raw fields in tail. */
static int decode_with_tail(const struct fsm *f,
                            const struct wbuf *tail,
                            struct fsm *out,
                            char *err)
{
    struct snap s = snap_take(f);
    uint8_t *buf = malloc(s.len + tail->n);
    int rv;
    assert_non_null(buf);
    memcpy(buf, s.base, s.len);
    memcpy(buf + s.len, tail->b, tail->n);
    rv = codec_snapshot_decode(buf, s.len + tail->n, out, err);
    free(buf);
    free(s.base);
    return rv;
}

static void expect_bad_snapshot(const struct fsm *f,
                                const struct wbuf *tail,
                                int code,
                                const char *part)
{
    struct fsm out;
    char err[256] = "";
    int rv = decode_with_tail(f, tail, &out, err);
    if (rv == DR_OK) {
        fsm_close(&out);
    }
    if (rv != code || strstr(err, part) == NULL) {
        fail_msg("expected %d \"%s\", got %d \"%s\"", code, part, rv, err);
    }
    assert_left_empty(&out);
}

static void test_snapshot_invalid(void **state)
{
    struct fsm a, empty, out;
    struct wbuf t, sub;
    char err[256];
    (void)state;

    busy_state(&a);
    assert_int_equal(fsm_init(&empty), DR_OK);

    /* A tail of nothing decodes fine. */
    memset(&t, 0, sizeof(t));
    assert_int_equal(decode_with_tail(&a, &t, &out, err), DR_OK);
    fsm_close(&out);

#define TAIL_BEGIN() memset(&t, 0, sizeof(t)), memset(&sub, 0, sizeof(sub))

    TAIL_BEGIN();
    w_uint(&t, 1, FSM_VERSION + 1);
    expect_bad_snapshot(&a, &t, DR_EVERSION,
                        "snapshot: version 6 is not supported (up to 5)");
    TAIL_BEGIN();
    w_uint(&t, 1, 0);
    expect_bad_snapshot(&a, &t, DR_EVERSION, "version 0 is not supported");

    TAIL_BEGIN();
    w_str(&sub, 1, "backup.s3_storage_class");
    w_str(&sub, 4, "GLACIER");
    w_msg(&t, 7, &sub);
    expect_bad_snapshot(&a, &t, DR_EVERSION,
                        "snapshot: unknown setting "
                        "\"backup.s3_storage_class\" (written by a newer "
                        "node?)");
    TAIL_BEGIN();
    w_str(&sub, 1, "history.max_entries");
    w_uint(&sub, 2, 5);
    w_msg(&t, 7, &sub);
    expect_bad_snapshot(&a, &t, DR_EMALFORMED,
                        "history.max_entries: 5 is outside 16..100000");
    TAIL_BEGIN();
    w_str(&sub, 1, "queue_mode");
    w_msg(&t, 7, &sub); /* no value at all */
    expect_bad_snapshot(&a, &t, DR_EMALFORMED,
                        "snapshot: setting \"queue_mode\" has no value");
    TAIL_BEGIN();
    w_str(&sub, 1, "queue_mode");
    w_str(&sub, 4, "yes");
    w_msg(&t, 7, &sub);
    expect_bad_snapshot(&a, &t, DR_EMALFORMED,
                        "setting queue_mode takes a bool, not a string");

    TAIL_BEGIN();
    w_uint(&sub, 3, 9);
    w_msg(&t, 4, &sub);
    expect_bad_snapshot(&empty, &t, DR_EMALFORMED, "unknown site state");

    TAIL_BEGIN();
    w_str(&sub, 1, "aa-first"); /* sorts before the others, comes last */
    w_msg(&t, 5, &sub);
    expect_bad_snapshot(&a, &t, DR_EMALFORMED,
                        "regions out of order or duplicated");
    TAIL_BEGIN();
    w_str(&sub, 1, "zz_bad");
    w_msg(&t, 5, &sub);
    expect_bad_snapshot(&a, &t, DR_EMALFORMED,
                        "region name \"zz_bad\" may hold only");
    TAIL_BEGIN();
    w_str(&sub, 1, "zz");
    w_str(&sub, 3, "bad..target");
    w_msg(&t, 5, &sub);
    expect_bad_snapshot(&a, &t, DR_EMALFORMED, "region zz: DNS target");
    TAIL_BEGIN();
    w_str(&sub, 1, "zz");
    w_uint(&sub, 5, 7);
    w_msg(&t, 5, &sub);
    expect_bad_snapshot(&a, &t, DR_EMALFORMED,
                        "region zz has an unknown status");

    TAIL_BEGIN();
    w_uint(&sub, 1, UINT64_MAX);
    w_str(&sub, 2, "nowhere");
    w_str(&sub, 3, "h:1");
    w_str(&sub, 4, "h:2");
    w_msg(&t, 6, &sub);
    expect_bad_snapshot(&a, &t, DR_EMALFORMED,
                        "member 18446744073709551615 is in unknown region "
                        "\"nowhere\"");
    TAIL_BEGIN();
    w_uint(&sub, 1, UINT64_MAX);
    w_str(&sub, 2, "us-east");
    w_str(&sub, 3, "h");
    w_msg(&t, 6, &sub);
    expect_bad_snapshot(&a, &t, DR_EMALFORMED, "raft_address \"h\" is not");
    TAIL_BEGIN();
    w_uint(&sub, 1, 1); /* after UINT64_MAX */
    w_str(&sub, 2, "us-east");
    w_str(&sub, 3, "h:1");
    w_str(&sub, 4, "h:2");
    w_msg(&t, 6, &sub);
    expect_bad_snapshot(&a, &t, DR_EMALFORMED,
                        "members out of order or duplicated");

    TAIL_BEGIN();
    w_uint(&sub, 1, 1000);
    w_msg(&t, 8, &sub);
    expect_bad_snapshot(&a, &t, DR_EMALFORMED,
                        "more history entries than history.max_entries");
    TAIL_BEGIN();
    w_uint(&t, 9, 5);
    w_uint(&sub, 1, 3);
    w_msg(&t, 8, &sub);
    w_msg(&t, 8, &sub);
    expect_bad_snapshot(&empty, &t, DR_EMALFORMED,
                        "history entries out of order");
    TAIL_BEGIN();
    w_uint(&sub, 1, 6);
    w_msg(&t, 8, &sub);
    expect_bad_snapshot(&empty, &t, DR_EMALFORMED,
                        "history entries out of order");

    TAIL_BEGIN();
    w_uint(&t, 3, 1);
    expect_bad_snapshot(&empty, &t, DR_EMALFORMED,
                        "snapshot: bootstrapped but no primary region");
    TAIL_BEGIN();
    w_str(&sub, 1, "eu-west");
    w_msg(&t, 4, &sub);
    expect_bad_snapshot(&empty, &t, DR_EMALFORMED,
                        "primary region before bootstrap");
    TAIL_BEGIN();
    w_str(&sub, 1, "nowhere");
    w_msg(&t, 4, &sub);
    expect_bad_snapshot(&a, &t, DR_EMALFORMED,
                        "primary region is not listed or epoch is 0");
    TAIL_BEGIN();
    w_str(&sub, 1, "zz");
    w_msg(&t, 5, &sub);
    expect_bad_snapshot(&empty, &t, DR_EMALFORMED,
                        "regions or members before bootstrap");
#undef TAIL_BEGIN
    fsm_close(&empty);
    fsm_close(&a);
}

/* Regression: a snapshot that claimed to be bootstrapped without a primary
 * region was accepted, and removing a region then crashed (strcmp on the
 * NULL primary). */
static void test_snapshot_without_primary(void **state)
{
    struct fsm f, out;
    struct fsm_cmd c;
    struct fsm_result res;
    struct snap s;
    char err[256];
    (void)state;

    assert_int_equal(fsm_init(&f), DR_OK);
    f.initialized = true; /* what such a snapshot would restore */
    memset(&c, 0, sizeof(c));
    c.type = FSM_CMD_REGION_ADD;
    c.u.region = boot_regions[1];
    assert_int_equal(fsm_apply(&f, &c, T0, &res), DR_OK);
    s = snap_take(&f);
    assert_int_equal(codec_snapshot_decode(s.base, s.len, &out, err),
                     DR_EMALFORMED);
    assert_string_equal(err, "snapshot: bootstrapped but no primary region");
    assert_left_empty(&out);
    free(s.base);
    fsm_close(&f);
}

/* A command whose sub-message is missing decodes as type 0 and is refused,
 * while a valid command in the same batch still applies. */
static void test_missing_submessage(void **state)
{
    struct fsm f;
    struct fsm_cmd c[10];
    struct fsm_result res[6];
    struct codec_entry *ce;
    struct codec_piece p[6];
    uint8_t *enc;
    struct snap e, before, after;
    /* setting_set { setting { key: "queue_mode" } }: no value. */
    static const uint8_t no_value[] = {0x8a, 0x01, 0x0e, 0x0a, 0x0c, 0x0a,
                                       0x0a, 'q',  'u',  'e',  'u',  'e',
                                       '_',  'm',  'o',  'd',  'e'};
    (void)state;

    assert_int_equal(fsm_init(&f), DR_OK);
    sample_cmds(c);
    assert_int_equal(fsm_apply(&f, &c[0], T0, &res[0]), DR_OK);
    p[1] = (struct codec_piece){odd_cmd_region_add, sizeof(odd_cmd_region_add)};
    p[2] = (struct codec_piece){odd_cmd_member_put, sizeof(odd_cmd_member_put)};
    p[3] = (struct codec_piece){odd_cmd_setting, sizeof(odd_cmd_setting)};
    p[4] = (struct codec_piece){no_value, sizeof(no_value)};
    p[5] = (struct codec_piece){odd_cmd_unknown, sizeof(odd_cmd_unknown)};

    /* Alone: each refused, nothing changes. */
    assert_int_equal(codec_entry_assemble(FSM_VERSION, T0, &p[1], 5, malloc,
                                          &e.base, &e.len),
                     DR_OK);
    assert_int_equal(codec_entry_decode(e.base, e.len, &ce), DR_OK);
    assert_int_equal(ce->e.n_cmds, 5);
    before = snap_take(&f);
    assert_int_equal(fsm_apply_entry(&f, &ce->e, res), DR_OK);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(ce->e.cmds[i].type, 0);
        assert_int_equal(res[i].code, DR_EINVAL);
        assert_string_equal(res[i].msg,
                            "unknown or malformed command (type 0)");
    }
    after = snap_take(&f);
    assert_true(snap_same(&before, &after));
    codec_entry_free(ce);
    free(e.base);
    free(after.base);
    free(before.base);

    /* After a valid command: only the valid one takes effect. */
    c[8].u.setting.value.i = 77;
    assert_int_equal(codec_cmd_encode(&c[8], &enc, &p[0].len), DR_OK);
    p[0].base = enc;
    assert_int_equal(
        codec_entry_assemble(FSM_VERSION, T0, p, 6, malloc, &e.base, &e.len),
        DR_OK);
    free(enc);
    assert_int_equal(entry_apply(&f, &e, res, 6), DR_OK);
    assert_int_equal(res[0].code, DR_OK);
    assert_int_equal(fsm_setting_int(&f, "rpo.pg_s"), 77);
    for (size_t i = 1; i < 6; i++) {
        assert_int_equal(res[i].code, DR_EINVAL);
    }
    free(e.base);
    fsm_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmd_roundtrip),
        cmocka_unit_test(test_cmd_encode_errors),
        cmocka_unit_test(test_snapshot_roundtrip),
        cmocka_unit_test(test_entry_malformed),
        cmocka_unit_test(test_snapshot_malformed),
        cmocka_unit_test(test_snapshot_invalid),
        cmocka_unit_test(test_snapshot_without_primary),
        cmocka_unit_test(test_missing_submessage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
