/* Unit tests of the config module: valid configs, defaults, files and
 * secrets (refusals: test_config_errors.c). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/err.h"
#include "config/config.h"
#include "config_helpers.h"
#include "helpers.h"

/* ---- valid configs ---- */

static void test_full_config(void **state)
{
    struct fixture *f = *state;
    const struct config *c = &f->c;

    assert_valid(f, full_config);
    assert_int_equal(c->id, 2);
    assert_string_equal(c->region, "us-east");
    assert_string_equal(c->raft_address, "10.0.2.10:7001");
    assert_string_equal(c->api_address, "drnode-2.us-east.internal:8001");
    assert_string_equal(c->data_dir, "/var/lib/drnode");
    assert_int_equal(c->log_level, CONFIG_LOG_DEBUG);
    assert_string_equal(c->token_file, "/etc/drnode/token");
    assert_false(c->join);
    assert_int_equal(c->election_timeout_ms, 2000);
    assert_int_equal(c->heartbeat_timeout_ms, 200);
    assert_int_equal(c->snapshot_threshold, 4096);
    assert_int_equal(c->snapshot_trailing, 0);
    assert_int_equal(c->max_body_bytes, 2097152);
    assert_string_equal(c->primary_region, "us-east");

    assert_int_equal(c->n_members, 3);
    assert_int_equal(c->members[0].id, 1);
    assert_string_equal(c->members[0].region, "eu-west");
    assert_string_equal(c->members[0].raft_address, "10.0.1.10:7001");
    assert_string_equal(c->members[0].api_address, "10.0.1.10:8001");
    assert_int_equal(c->members[1].id, 2);
    assert_string_equal(c->members[1].api_address,
                        "drnode-2.us-east.internal:8001");
    assert_int_equal(c->members[2].id, 3);
    assert_string_equal(c->members[2].region, "ap-south");
    assert_string_equal(c->members[2].raft_address, "10.0.3.10:7001");

    /* Two sections, then ap-south, named only by member 3. */
    assert_int_equal(c->n_regions, 3);
    assert_string_equal(c->regions[0].name, "eu-west");
    assert_int_equal(c->regions[0].priority, 100);
    assert_int_equal(c->regions[0].n_dns_targets, 2);
    assert_string_equal(c->regions[0].dns_targets[0], "10.0.1.20");
    assert_string_equal(c->regions[0].dns_targets[1],
                        "app.eu-west.example.com");
    assert_string_equal(c->regions[0].object_store,
                        "file:///var/lib/dr/eu-west");
    assert_string_equal(c->regions[1].name, "us-east");
    assert_int_equal(c->regions[1].priority, -5);
    assert_int_equal(c->regions[1].n_dns_targets, 1);
    assert_string_equal(c->regions[1].dns_targets[0], "10.0.2.20");
    assert_string_equal(c->regions[1].object_store,
                        "s3://dr-backups/us-east?region=us-east-1");
    assert_string_equal(c->regions[2].name, "ap-south");
    assert_int_equal(c->regions[2].priority, 0);
    assert_int_equal(c->regions[2].n_dns_targets, 0);
    assert_string_equal(c->regions[2].object_store, "");
}

static void test_defaults(void **state)
{
    struct fixture *f = *state;
    const struct config *c = &f->c;

    config_defaults(&f->c);
    assert_int_equal(c->log_level, CONFIG_LOG_INFO);
    assert_int_equal(c->election_timeout_ms, 1000);
    assert_int_equal(c->n_members, 0);

    assert_valid(f, MINIMAL);
    assert_int_equal(c->id, 1);
    assert_int_equal(c->log_level, CONFIG_LOG_INFO);
    assert_string_equal(c->token_file, "");
    assert_false(c->join);
    assert_int_equal(c->election_timeout_ms, 1000);
    assert_int_equal(c->heartbeat_timeout_ms, 100);
    assert_int_equal(c->snapshot_threshold, 16384);
    assert_int_equal(c->snapshot_trailing, 2048);
    assert_int_equal(c->max_body_bytes, 1024 * 1024);
    assert_int_equal(c->api_max_connections, 1024);
    assert_int_equal(c->api_request_timeout_ms, 10000);
    assert_string_equal(c->primary_region, "eu-west");
    assert_int_equal(c->n_members, 1);
    assert_int_equal(c->n_regions, 1);
    assert_string_equal(c->regions[0].name, "eu-west");
    assert_int_equal(c->regions[0].priority, 0);
    assert_int_equal(c->regions[0].n_dns_targets, 0);
    assert_string_equal(c->regions[0].object_store, "");
}

/* Without [bootstrap], the primary is the region of the lowest member id,
 * whatever the order of the sections. */
static void test_default_primary_lowest_id(void **state)
{
    struct fixture *f = *state;

    assert_valid(f,
                 "[node]\n"
                 "id = 2\n"
                 "region = us-east\n"
                 "raft_address = 127.0.0.1:7002\n"
                 "api_address = 127.0.0.1:8002\n"
                 "data_dir = /d\n" MEMBER2 MEMBER1);
    assert_string_equal(f->c.primary_region, "eu-west");
    assert_int_equal(f->c.n_regions, 2);
    assert_string_equal(f->c.regions[0].name, "us-east");
    assert_string_equal(f->c.regions[1].name, "eu-west");
}

static void test_join_node_absent_from_members(void **state)
{
    struct fixture *f = *state;

    assert_valid(f,
                 "[node]\n"
                 "id = 4\n"
                 "region = ap-south\n"
                 "raft_address = 127.0.0.1:7004\n"
                 "api_address = 127.0.0.1:8004\n"
                 "data_dir = /d\n"
                 "join = true\n" MEMBER1 MEMBER2);
    assert_true(f->c.join);
    assert_int_equal(f->c.n_members, 2);

    /* And with no member list at all. */
    assert_valid(f,
                 "[node]\n"
                 "id = 4\n"
                 "region = ap-south\n"
                 "raft_address = 127.0.0.1:7004\n"
                 "api_address = 127.0.0.1:8004\n"
                 "data_dir = /d\n"
                 "join = yes\n");
    assert_int_equal(f->c.n_members, 0);
    assert_string_equal(f->c.primary_region, "");
}

static void test_booleans_and_levels(void **state)
{
    static const struct
    {
        const char *text;
        bool value;
    } bools[] = {{"true", true},   {"yes", true}, {"1", true},
                 {"false", false}, {"no", false}, {"0", false}};
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    struct fixture *f = *state;
    char text[512];
    size_t i;

    for (i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
        snprintf(text, sizeof(text), NODE1 "join = %s\n" MEMBER1,
                 bools[i].text);
        assert_valid(f, text);
        assert_int_equal(f->c.join, bools[i].value);
    }
    for (i = 0; i < 4; i++) {
        snprintf(text, sizeof(text), NODE1 "log_level = %s\n" MEMBER1,
                 levels[i]);
        assert_valid(f, text);
        assert_int_equal(f->c.log_level, (int)i);
        assert_string_equal(config_log_level_name(f->c.log_level), levels[i]);
    }
    assert_string_equal(config_log_level_name(42), "unknown");
}

/* Comments, blank lines, indentation, CRLF, ':' separators, a byte order
 * mark and a missing final newline are all fine. */
static void test_syntax_variants(void **state)
{
    struct fixture *f = *state;

    assert_valid(f,
                 "\xEF\xBB\xBF; comment\r\n"
                 "# another comment\r\n"
                 "  [node]   ; inline comment\r\n"
                 "    id: 1\r\n"
                 "\tregion = eu-west ; the region\r\n"
                 "raft_address=127.0.0.1:7001\r\n"
                 "api_address = 127.0.0.1:8001\r\n"
                 "data_dir = /var/lib/drnode\r\n"
                 "\r\n" MEMBER1
                 "[region.eu-west]\n"
                 "  dns_targets = a.example.com ,b.example.com,  10.0.0.1\n"
                 "  object_store = file:///x;y");
    assert_int_equal(f->c.id, 1);
    assert_string_equal(f->c.region, "eu-west");
    assert_string_equal(f->c.raft_address, "127.0.0.1:7001");
    assert_int_equal(f->c.regions[0].n_dns_targets, 3);
    assert_string_equal(f->c.regions[0].dns_targets[0], "a.example.com");
    assert_string_equal(f->c.regions[0].dns_targets[1], "b.example.com");
    assert_string_equal(f->c.regions[0].dns_targets[2], "10.0.0.1");
    assert_string_equal(f->c.regions[0].object_store, "file:///x;y");
}

/* inih cuts section names at 50 bytes; ours are kept whole. */
static void test_long_section_name(void **state)
{
    struct fixture *f = *state;
    char name[64];
    char text[1024];

    memset(name, 'r', 63);
    name[63] = '\0';
    snprintf(text, sizeof(text),
             MINIMAL
             "[region.%s]\npriority = 7\n[bootstrap]\n"
             "primary_region = %s\n",
             name, name);
    assert_valid(f, text);
    assert_int_equal(f->c.n_regions, 2);
    assert_string_equal(f->c.regions[0].name, name);
    assert_int_equal(f->c.regions[0].priority, 7);
    assert_string_equal(f->c.primary_region, name);
}

static void test_limits_accepted(void **state)
{
    struct fixture *f = *state;

    assert_valid(f,
                 "[node]\n"
                 "id = 9223372036854775807\n"
                 "region = eu-west\n"
                 "raft_address = 127.0.0.1:7001\n"
                 "api_address = 127.0.0.1:8001\n"
                 "data_dir = /d\n"
                 "join = true\n"
                 "[raft]\n"
                 "election_timeout_ms = 60000\n"
                 "heartbeat_timeout_ms = 10000\n"
                 "snapshot_threshold = 16\n"
                 "snapshot_trailing = 10000000\n"
                 "[api]\n"
                 "max_body_bytes = 67108864\n"
                 "[region.eu-west]\n"
                 "priority = -2147483648\n"
                 "dns_targets = a1,a2,a3,a4,a5,a6,a7,a8,a9,b1,b2,b3,b4,b5,"
                 "b6,b7\n"
                 "[region.us-east]\n"
                 "priority = 2147483647\n");
    assert_int_equal(f->c.id, INT64_MAX);
    assert_int_equal(f->c.heartbeat_timeout_ms, 10000);
    assert_int_equal(f->c.max_body_bytes, 67108864);
    assert_int_equal(f->c.regions[0].priority, INT32_MIN);
    assert_int_equal(f->c.regions[0].n_dns_targets, 16);
    assert_string_equal(f->c.regions[0].dns_targets[15], "b7");
    assert_int_equal(f->c.regions[1].priority, INT32_MAX);
}

/* ---- files ---- */

static void test_load_and_print(void **state)
{
    struct fixture *f = *state;
    char *path = path_in(f, "drnode.ini");
    char *missing = path_in(f, "nope.ini");
    char *out = NULL;
    size_t outlen = 0;
    FILE *mem;
    char want[1024];

    write_file(path, full_config, 0644);
    memset(&f->probs, 0, sizeof(f->probs));
    assert_int_equal(config_load(&f->c, path, &f->probs), DR_OK);
    assert_int_equal(f->probs.n, 0);
    assert_int_equal(f->c.id, 2);
    assert_int_equal(f->c.n_members, 3);

    assert_int_equal(config_load(&f->c, missing, &f->probs), DR_EINVAL);
    assert_int_equal(f->probs.n, 1);
    snprintf(want, sizeof(want), "cannot open config file %s: No such file",
             missing);
    assert_problem(&f->probs, 0, want);

    assert_int_equal(config_load(&f->c, f->dir, &f->probs), DR_EINVAL);
    assert_problem(&f->probs, 0, "is not a regular file");

    write_file(path, MINIMAL "[foo]\n", 0644);
    memset(&f->probs, 0, sizeof(f->probs));
    assert_int_equal(config_load(&f->c, path, &f->probs), DR_EINVAL);
    f->probs.items[f->probs.n].line = 0;
    snprintf(f->probs.items[f->probs.n].msg, sizeof(f->probs.items[0].msg),
             "a whole-file problem");
    f->probs.n++;
    mem = open_memstream(&out, &outlen);
    assert_non_null(mem);
    config_print_problems(mem, "drnode.ini", &f->probs);
    assert_int_equal(fclose(mem), 0);
    assert_string_equal(out,
                        "drnode.ini:11: unknown section [foo]\n"
                        "drnode.ini: a whole-file problem\n");
    free(out);
    free(missing);
    free(path);
}

static void test_token(void **state)
{
    struct fixture *f = *state;
    char *path = path_in(f, "token");
    char *missing = path_in(f, "missing");
    char buf[16];
    char errmsg[256];
    char want[1024];

    write_file(path, "s3cr3t-t0ken\n\n", 0600);
    assert_int_equal(config_read_token(path, buf, sizeof(buf), errmsg), DR_OK);
    assert_string_equal(buf, "s3cr3t-t0ken");

    /* Failures name the file and leave buf alone. */
    strcpy(buf, "unchanged");
    assert_int_equal(config_read_token(missing, buf, sizeof(buf), errmsg),
                     DR_EIO);
    snprintf(want, sizeof(want), "cannot open token file %s: No such file",
             missing);
    assert_non_null(strstr(errmsg, want));
    assert_string_equal(buf, "unchanged");

    write_file(path, " \n\t\n", 0600);
    assert_int_equal(config_read_token(path, buf, sizeof(buf), errmsg),
                     DR_EINVAL);
    snprintf(want, sizeof(want), "token file %s is empty", path);
    assert_string_equal(errmsg, want);
    assert_string_equal(buf, "unchanged");

    write_file(path, "s3cr3t-t0ken\n", 0644);
    assert_int_equal(config_read_token(path, buf, sizeof(buf), errmsg),
                     DR_EINVAL);
    snprintf(want, sizeof(want),
             "token file %s is accessible by group or others (mode 0644); "
             "chmod 600 it",
             path);
    assert_string_equal(errmsg, want);
    assert_string_equal(buf, "unchanged");

    write_file(path, "0123456789abcdef\n", 0600);
    assert_int_equal(config_read_token(path, buf, sizeof(buf), errmsg),
                     DR_EINVAL);
    snprintf(want, sizeof(want),
             "token file %s: the token is longer than 15 bytes", path);
    assert_string_equal(errmsg, want);
    assert_string_equal(buf, "unchanged");

    /* Exactly size-1 bytes fit. */
    write_file(path, "0123456789abcde", 0600);
    assert_int_equal(config_read_token(path, buf, sizeof(buf), errmsg), DR_OK);
    assert_string_equal(buf, "0123456789abcde");

    write_file(path, "two words\n", 0600);
    assert_int_equal(config_read_token(path, buf, sizeof(buf), errmsg),
                     DR_EINVAL);
    assert_non_null(strstr(errmsg, "holds a space or control character"));

    assert_int_equal(config_read_token(f->dir, buf, sizeof(buf), errmsg),
                     DR_EINVAL);
    assert_non_null(strstr(errmsg, "is not a regular file"));
    free(missing);
    free(path);
}

/* API keys and passwords: the token's rules, with their own names. */
static void test_secret(void **state)
{
    struct fixture *f = *state;
    char *path = path_in(f, "key");
    char buf[32];
    char errmsg[256];
    char want[1024];

    write_file(path, "sk-0123456789\n", 0600);
    assert_int_equal(config_read_secret("openai_key_file", "key", false, path,
                                        buf, sizeof(buf), errmsg),
                     DR_OK);
    assert_string_equal(buf, "sk-0123456789");

    strcpy(buf, "unchanged");
    write_file(path, "sk-0123456789\n", 0640);
    assert_int_equal(config_read_secret("openai_key_file", "key", false, path,
                                        buf, sizeof(buf), errmsg),
                     DR_EINVAL);
    snprintf(want, sizeof(want),
             "openai_key_file %s is accessible by group or others (mode "
             "0640); chmod 600 it",
             path);
    assert_string_equal(errmsg, want);
    assert_string_equal(buf, "unchanged");

    write_file(path, "0123456789abcdef0123456789abcdef\n", 0600);
    assert_int_equal(config_read_secret("openai_key_file", "key", false, path,
                                        buf, sizeof(buf), errmsg),
                     DR_EINVAL);
    snprintf(want, sizeof(want),
             "openai_key_file %s: the key is longer than 31 bytes", path);
    assert_string_equal(errmsg, want);

    /* Spaces only where allowed; control characters never. The secret
     * itself never reaches the message. */
    write_file(path, "correct horse battery\n", 0600);
    assert_int_equal(config_read_secret("openai_key_file", "key", false, path,
                                        buf, sizeof(buf), errmsg),
                     DR_EINVAL);
    snprintf(want, sizeof(want),
             "openai_key_file %s: the key holds a space or control character",
             path);
    assert_string_equal(errmsg, want);
    assert_null(strstr(errmsg, "horse"));
    assert_int_equal(config_read_secret("redis_password_file", "password", true,
                                        path, buf, sizeof(buf), errmsg),
                     DR_OK);
    assert_string_equal(buf, "correct horse battery");
    write_file(path, "two\nlines\n", 0600);
    assert_int_equal(config_read_secret("redis_password_file", "password", true,
                                        path, buf, sizeof(buf), errmsg),
                     DR_EINVAL);
    snprintf(want, sizeof(want),
             "redis_password_file %s: the password holds a control character",
             path);
    assert_string_equal(errmsg, want);

    write_file(path, "\n", 0600);
    assert_int_equal(config_read_secret("anthropic_key_file", "key", false,
                                        path, buf, sizeof(buf), errmsg),
                     DR_EINVAL);
    snprintf(want, sizeof(want), "anthropic_key_file %s is empty", path);
    assert_string_equal(errmsg, want);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
#define TD(name) cmocka_unit_test_setup_teardown(name, setup_dir, teardown)
        T(test_full_config),
        T(test_defaults),
        T(test_default_primary_lowest_id),
        T(test_join_node_absent_from_members),
        T(test_booleans_and_levels),
        T(test_syntax_variants),
        T(test_long_section_name),
        T(test_limits_accepted),
        TD(test_load_and_print),
        TD(test_token),
        TD(test_secret),
#undef T
#undef TD
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
