/* Unit tests of the config module: parsing, validation, token files. */
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
#include "helpers.h"

/* Lines 1-6. */
#define NODE1                         \
    "[node]\n"                        \
    "id = 1\n"                        \
    "region = eu-west\n"              \
    "raft_address = 127.0.0.1:7001\n" \
    "api_address = 127.0.0.1:8001\n"  \
    "data_dir = /var/lib/drnode\n"

/* 4 lines each. */
#define MEMBER1                       \
    "[member.1]\n"                    \
    "region = eu-west\n"              \
    "raft_address = 127.0.0.1:7001\n" \
    "api_address = 127.0.0.1:8001\n"
#define MEMBER2                       \
    "[member.2]\n"                    \
    "region = us-east\n"              \
    "raft_address = 127.0.0.1:7002\n" \
    "api_address = 127.0.0.1:8002\n"

/* The smallest valid config: lines 1-10, so additions start at line 11. */
#define MINIMAL NODE1 MEMBER1

static const char full_config[] =
    "; node 2 of a three-region cluster\n"                       /* 1 */
    "[node]\n"                                                   /* 2 */
    "id = 2\n"                                                   /* 3 */
    "region = us-east\n"                                         /* 4 */
    "raft_address = 10.0.2.10:7001\n"                            /* 5 */
    "api_address = drnode-2.us-east.internal:8001\n"             /* 6 */
    "data_dir = /var/lib/drnode\n"                               /* 7 */
    "log_level = debug\n"                                        /* 8 */
    "token_file = /etc/drnode/token\n"                           /* 9 */
    "join = no\n"                                                /* 10 */
    "\n"                                                         /* 11 */
    "[raft]\n"                                                   /* 12 */
    "election_timeout_ms = 2000\n"                               /* 13 */
    "heartbeat_timeout_ms = 200\n"                               /* 14 */
    "snapshot_threshold = 4096\n"                                /* 15 */
    "snapshot_trailing = 0\n"                                    /* 16 */
    "\n"                                                         /* 17 */
    "[api]\n"                                                    /* 18 */
    "max_body_bytes = 2097152\n"                                 /* 19 */
    "\n"                                                         /* 20 */
    "[bootstrap]\n"                                              /* 21 */
    "primary_region = us-east   ; not the lowest id's\n"         /* 22 */
    "\n"                                                         /* 23 */
    "[member.1]\n"                                               /* 24 */
    "region = eu-west\n"                                         /* 25 */
    "raft_address = 10.0.1.10:7001\n"                            /* 26 */
    "api_address = 10.0.1.10:8001\n"                             /* 27 */
    "[member.2]\n"                                               /* 28 */
    "region = us-east\n"                                         /* 29 */
    "raft_address = 10.0.2.10:7001\n"                            /* 30 */
    "api_address = drnode-2.us-east.internal:8001\n"             /* 31 */
    "[member.3]\n"                                               /* 32 */
    "region = ap-south\n"                                        /* 33 */
    "raft_address = 10.0.3.10:7001\n"                            /* 34 */
    "api_address = 10.0.3.10:8001\n"                             /* 35 */
    "\n"                                                         /* 36 */
    "[region.eu-west]\n"                                         /* 37 */
    "priority = 100\n"                                           /* 38 */
    "dns_targets = 10.0.1.20, app.eu-west.example.com\n"         /* 39 */
    "object_store = file:///var/lib/dr/eu-west\n"                /* 40 */
    "[region.us-east]\n"                                         /* 41 */
    "priority = -5\n"                                            /* 42 */
    "dns_targets = 10.0.2.20\n"                                  /* 43 */
    "object_store = s3://dr-backups/us-east?region=us-east-1\n"; /* 44 */

struct fixture
{
    struct config c;
    struct config_problems probs;
    char *dir; /* temporary directory, for file tests */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        return -1;
    }
    config_defaults(&f->c);
    *state = f;
    return 0;
}

static int setup_dir(void **state)
{
    struct fixture *f;

    if (setup(state) != 0) {
        return -1;
    }
    f = *state;
    f->dir = test_tmpdir();
    return f->dir == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f->dir != NULL) {
        test_rmtree(f->dir);
        free(f->dir);
    }
    free(f);
    return 0;
}

static int parse(struct fixture *f, const char *text)
{
    config_defaults(&f->c);
    memset(&f->probs, 0, sizeof(f->probs));
    return config_parse(&f->c, text, strlen(text), &f->probs);
}

static void dump(const struct config_problems *p)
{
    config_print_problems(stderr, "config", p);
}

/* A problem on this line whose message holds needle; else print them all. */
static bool has_problem(const struct config_problems *p,
                        int line,
                        const char *needle)
{
    size_t i;

    for (i = 0; i < p->n; i++) {
        if (p->items[i].line == line && strstr(p->items[i].msg, needle)) {
            return true;
        }
    }
    fprintf(stderr, "no problem at line %d holding: %s\n", line, needle);
    dump(p);
    return false;
}

#define assert_problem(p, line, needle) \
    assert_true(has_problem((p), (line), (needle)))

/* Exactly one problem, at this line, holding needle. */
#define assert_only_problem(f, text, line, needle)       \
    do {                                                 \
        assert_int_equal(parse((f), (text)), DR_EINVAL); \
        assert_problem(&(f)->probs, (line), (needle));   \
        if ((f)->probs.n != 1) {                         \
            dump(&(f)->probs);                           \
        }                                                \
        assert_int_equal((f)->probs.n, 1);               \
    } while (0)

static void assert_valid(struct fixture *f, const char *text)
{
    int rv = parse(f, text);

    if (rv != 0) {
        dump(&f->probs);
    }
    assert_int_equal(rv, DR_OK);
    assert_int_equal(f->probs.n, 0);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static char *path_in(const struct fixture *f, const char *name)
{
    char *path;

    assert_true(asprintf(&path, "%s/%s", f->dir, name) > 0);
    return path;
}

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

/* ---- problems, one at a time ---- */

static void test_bad_numbers(void **state)
{
    struct fixture *f = *state;

    assert_only_problem(f, MINIMAL "[raft]\nelection_timeout_ms = abc\n", 12,
                        "[raft] election_timeout_ms: \"abc\" is not a "
                        "positive integer");
    assert_only_problem(f, MINIMAL "[raft]\nelection_timeout_ms = -1000\n", 12,
                        "\"-1000\" is not a positive integer");
    assert_only_problem(f, MINIMAL "[raft]\nelection_timeout_ms = 1000ms\n", 12,
                        "\"1000ms\" is not a positive integer");
    assert_only_problem(f, MINIMAL "[raft]\nelection_timeout_ms = 0x400\n", 12,
                        "\"0x400\" is not a positive integer");
    assert_only_problem(f, MINIMAL "[raft]\nelection_timeout_ms = +1000\n", 12,
                        "\"+1000\" is not a positive integer");
    assert_only_problem(f, MINIMAL "[raft]\nelection_timeout_ms = 50\n", 12,
                        "[raft] election_timeout_ms: 50 is out of range (100 "
                        "to 60000)");
    assert_only_problem(f,
                        MINIMAL
                        "[raft]\nsnapshot_trailing = "
                        "99999999999999999999\n",
                        12,
                        "[raft] snapshot_trailing: 99999999999999999999 is out "
                        "of range (0 to 10000000)");
    assert_only_problem(f, MINIMAL "[raft]\nsnapshot_trailing = x\n", 12,
                        "\"x\" is not a non-negative integer");
    assert_only_problem(f, MINIMAL "[raft]\nsnapshot_threshold =\n", 12,
                        "[raft] snapshot_threshold is empty");
    assert_only_problem(f, MINIMAL "[api]\nmax_body_bytes = 1023\n", 12,
                        "[api] max_body_bytes: 1023 is out of range (1024 to "
                        "67108864)");
}

static void test_bad_node_id(void **state)
{
    struct fixture *f = *state;

    assert_only_problem(f,
                        "[node]\nid = abc\nregion = eu-west\n"
                        "raft_address = 127.0.0.1:7001\n"
                        "api_address = 127.0.0.1:8001\n"
                        "data_dir = /d\njoin = true\n",
                        2, "[node] id: \"abc\" is not a positive integer");
    assert_only_problem(f,
                        "[node]\nid = 0\nregion = eu-west\n"
                        "raft_address = 127.0.0.1:7001\n"
                        "api_address = 127.0.0.1:8001\n"
                        "data_dir = /d\njoin = true\n",
                        2,
                        "[node] id: 0 is out of range (1 to "
                        "9223372036854775807)");
    assert_only_problem(f,
                        "[node]\nid = 9223372036854775808\nregion = eu-west\n"
                        "raft_address = 127.0.0.1:7001\n"
                        "api_address = 127.0.0.1:8001\n"
                        "data_dir = /d\njoin = true\n",
                        2, "9223372036854775808 is out of range");
}

static void test_bad_node_values(void **state)
{
    struct fixture *f = *state;

    assert_only_problem(f, NODE1 "log_level = verbose\n" MEMBER1, 7,
                        "[node] log_level: \"verbose\" is not one of debug, "
                        "info, warn, error");
    assert_only_problem(f, NODE1 "join = maybe\n" MEMBER1, 7,
                        "[node] join: \"maybe\" is not a boolean");
    assert_only_problem(f,
                        "[node]\nid = 1\nregion = eu-west\n"
                        "raft_address = 127.0.0.1:7001\n"
                        "api_address = 127.0.0.1:8001\n"
                        "data_dir = var/lib/drnode\n" MEMBER1,
                        6,
                        "[node] data_dir \"var/lib/drnode\" is not an "
                        "absolute path");
    assert_only_problem(f,
                        "[node]\nid = 1\nregion = eu-west\n"
                        "raft_address = localhost:7001\n"
                        "api_address = 127.0.0.1:8001\n"
                        "data_dir = /d\njoin = true\n",
                        4,
                        "[node] raft_address \"localhost:7001\" needs an IPv4 "
                        "literal host");
    assert_only_problem(f,
                        "[node]\nid = 1\nregion = eu-west\n"
                        "raft_address = 127.0.0.1:7001\n"
                        "api_address = 127.0.0.1\n"
                        "data_dir = /d\njoin = true\n",
                        5, "[node] api_address \"127.0.0.1\" is not host:port");
    assert_only_problem(f,
                        "[node]\nid = 1\nregion = eu-west\n"
                        "raft_address = 127.0.0.1:70001\n"
                        "api_address = 127.0.0.1:8001\n"
                        "data_dir = /d\njoin = true\n",
                        4, "needs a port from 1 to 65535");
    assert_only_problem(f,
                        "[node]\nid = 1\nregion = EU_West\n"
                        "raft_address = 127.0.0.1:7001\n"
                        "api_address = 127.0.0.1:8001\n"
                        "data_dir = /d\njoin = true\n",
                        3,
                        "[node] region \"EU_West\" must start with a letter");
}

static void test_unknown_section_and_key(void **state)
{
    struct fixture *f = *state;

    assert_only_problem(f, MINIMAL "[foo]\nbar = 1\n", 11,
                        "unknown section [foo]");
    assert_only_problem(f, MINIMAL "[raft]\nelecton_timeout_ms = 1000\n", 12,
                        "[raft] unknown key \"electon_timeout_ms\"");
    assert_only_problem(f, MINIMAL "[Node]\n", 11, "unknown section [Node]");
    assert_only_problem(f, "id = 1\n" MINIMAL, 1,
                        "key \"id\" is outside any section");
}

static void test_duplicates(void **state)
{
    struct fixture *f = *state;

    assert_only_problem(f, NODE1 "id = 2\n" MEMBER1, 7,
                        "duplicate key \"id\" in [node] (first at line 2)");
    /* The first value is kept. */
    assert_int_equal(f->c.id, 1);
    assert_only_problem(f, MINIMAL "[raft]\n[node]\n", 12,
                        "duplicate section [node] (first at line 1)");
    /* A repeated section continues the first: its keys are still checked. */
    assert_int_equal(parse(f, MINIMAL "[region.eu-west]\npriority = 1\n"
                                      "[region.eu-west]\npriority = 2\n"),
                     DR_EINVAL);
    assert_problem(&f->probs, 13,
                   "duplicate section [region.eu-west] (first at line 11)");
    assert_problem(&f->probs, 14,
                   "duplicate key \"priority\" in [region.eu-west] (first "
                   "at line 12)");
    assert_int_equal(f->probs.n, 2);
    assert_int_equal(f->c.regions[0].priority, 1);
}

static void test_missing(void **state)
{
    struct fixture *f = *state;

    assert_only_problem(f,
                        "[node]\nid = 1\nregion = eu-west\n"
                        "raft_address = 127.0.0.1:7001\n"
                        "api_address = 127.0.0.1:8001\n" MEMBER1,
                        0, "[node] missing required key \"data_dir\"");
    assert_only_problem(f, MEMBER1, 0, "missing section [node]");
    assert_only_problem(f,
                        NODE1
                        "[member.1]\nregion = eu-west\n"
                        "raft_address = 127.0.0.1:7001\n",
                        0, "[member.1] missing required key \"api_address\"");
    assert_only_problem(f, NODE1, 0,
                        "no [member.*] section: with join = false");
    assert_int_equal(parse(f, ""), DR_EINVAL);
    assert_problem(&f->probs, 0, "missing section [node]");
}

static void test_node_not_in_members(void **state)
{
    struct fixture *f = *state;

    assert_only_problem(f,
                        "[node]\nid = 4\nregion = eu-west\n"
                        "raft_address = 127.0.0.1:7004\n"
                        "api_address = 127.0.0.1:8004\n"
                        "data_dir = /d\n" MEMBER1 MEMBER2,
                        2,
                        "[node] id 4 is not in the bootstrap member list and "
                        "join is false");
}

static void test_node_differs_from_member(void **state)
{
    struct fixture *f = *state;

    assert_only_problem(f,
                        "[node]\nid = 1\nregion = eu-west\n"
                        "raft_address = 127.0.0.1:7001\n"
                        "api_address = 127.0.0.1:8009\n"
                        "data_dir = /d\n" MEMBER1,
                        5,
                        "[node] api_address \"127.0.0.1:8009\" differs from "
                        "[member.1] api_address \"127.0.0.1:8001\"");
    assert_only_problem(f,
                        "[node]\nid = 2\nregion = eu-west\n"
                        "raft_address = 127.0.0.1:7002\n"
                        "api_address = 127.0.0.1:8002\n"
                        "data_dir = /d\njoin = true\n" MEMBER1 MEMBER2,
                        3,
                        "[node] region \"eu-west\" differs from [member.2] "
                        "region \"us-east\"");
    /* A joining node absent from the list must not take a member's
     * address. */
    assert_only_problem(f,
                        "[node]\nid = 4\nregion = eu-west\n"
                        "raft_address = 127.0.0.1:7002\n"
                        "api_address = 127.0.0.1:8004\n"
                        "data_dir = /d\njoin = true\n" MEMBER1 MEMBER2,
                        4,
                        "[node] raft_address \"127.0.0.1:7002\" is also used "
                        "by member 2");
}

static void test_member_conflicts(void **state)
{
    struct fixture *f = *state;

    assert_only_problem(f,
                        MINIMAL
                        "[member.2]\nregion = us-east\n"
                        "raft_address = 127.0.0.1:7001\n"
                        "api_address = 127.0.0.1:8002\n",
                        13,
                        "[member.2] raft_address \"127.0.0.1:7001\" is also "
                        "used by member 1");
    assert_only_problem(f,
                        MINIMAL
                        "[member.2]\nregion = us-east\n"
                        "raft_address = 127.0.0.1:7002\n"
                        "api_address = 127.0.0.1:8001\n",
                        14,
                        "[member.2] api_address \"127.0.0.1:8001\" is also "
                        "used by member 1");
    assert_only_problem(f,
                        MINIMAL
                        "[member.2]\nregion = us-east\n"
                        "raft_address = 127.0.0.1:8001\n"
                        "api_address = 127.0.0.1:8002\n",
                        13,
                        "[member.2] raft_address \"127.0.0.1:8001\" is also "
                        "used by member 1 as api_address");
    assert_only_problem(f,
                        MINIMAL
                        "[member.2]\nregion = us-east\n"
                        "raft_address = 127.0.0.1:7002\n"
                        "api_address = 127.0.0.1:7002\n",
                        14,
                        "[member.2] api_address \"127.0.0.1:7002\" is the "
                        "same as its raft_address");
    assert_only_problem(f, MINIMAL "[member.01]\n", 11,
                        "[member.01] duplicate member id 1 (first at line 7)");
}

static void test_bad_member_sections(void **state)
{
    struct fixture *f = *state;

    assert_only_problem(f, MINIMAL "[member.abc]\n", 11,
                        "[member.abc] member id \"abc\" is not an integer");
    assert_only_problem(f, MINIMAL "[member.0]\n", 11,
                        "[member.0] member id \"0\" is not an integer from 1");
    /* Keys of a bad section are still checked. */
    assert_int_equal(parse(f, MINIMAL "[member.]\nregion = Bad\n"), DR_EINVAL);
    assert_problem(&f->probs, 11, "[member.] member id \"\" is not");
    assert_problem(&f->probs, 12, "[member.] region \"Bad\" must start with");
    assert_only_problem(f,
                        MINIMAL
                        "[member.2]\nregion = us_east\n"
                        "raft_address = 127.0.0.1:7002\n"
                        "api_address = 127.0.0.1:8002\n",
                        12,
                        "[member.2] region \"us_east\" may hold only a-z, 0-9 "
                        "and '-'");
    assert_only_problem(f,
                        MINIMAL
                        "[member.2]\nregion = us-east\n"
                        "raft_address = [::1]:7002\n"
                        "api_address = 127.0.0.1:8002\n",
                        13, "needs an IPv4 literal host");
}

static void test_bad_regions(void **state)
{
    struct fixture *f = *state;
    char text[2048];
    size_t n;

    assert_only_problem(f, MINIMAL "[region.EU]\npriority = 1\n", 11,
                        "[region.EU] region name \"EU\" must start with a "
                        "letter");
    assert_only_problem(f, MINIMAL "[region.]\n", 11,
                        "[region.] region name is empty");
    assert_only_problem(f, MINIMAL "[region.eu-west]\npriority = 2147483648\n",
                        12,
                        "[region.eu-west] priority: 2147483648 is out of "
                        "range (-2147483648 to 2147483647)");
    assert_only_problem(f, MINIMAL "[region.eu-west]\npriority = high\n", 12,
                        "[region.eu-west] priority: \"high\" is not an "
                        "integer");
    n = (size_t)snprintf(text, sizeof(text),
                         MINIMAL "[region.eu-west]\ndns_targets = ");
    for (int i = 0; i < 17; i++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%sh%d",
                              i > 0 ? "," : "", i);
    }
    snprintf(text + n, sizeof(text) - n, "\n");
    assert_only_problem(f, text, 12,
                        "[region.eu-west] dns_targets: 17 targets, at most 16");
    assert_only_problem(f, MINIMAL "[region.eu-west]\ndns_targets = a,,b\n", 12,
                        "[region.eu-west] dns_targets: target 2 of 3 is "
                        "empty");
    assert_only_problem(
        f, MINIMAL "[region.eu-west]\ndns_targets = a, -b-.com\n", 12,
        "[region.eu-west] dns_targets: DNS target \"-b-.com\"");
    assert_only_problem(f, MINIMAL "[region.eu-west]\nobject_store = ftp://x\n",
                        12,
                        "[region.eu-west] object_store: object store URL "
                        "\"ftp://x\" must start with file:// or s3://");
    assert_only_problem(f, MINIMAL "[region.eu-west]\nregion = x\n", 12,
                        "[region.eu-west] unknown key \"region\"");
}

/* [services]: this node's data services for its job worker. */
static void test_services(void **state)
{
    struct fixture *f = *state;
    const struct config *c = &f->c;

    assert_valid(f, MINIMAL);
    assert_string_equal(c->pg_conninfo, "");
    assert_string_equal(c->redis_address, "");
    assert_int_equal(c->job_parallel, 2);
    assert_valid(f, MINIMAL
                 "[services]\n"
                 "pg = host=10.0.0.5 port=5432 dbname=app\n"
                 "redis = 10.0.0.6:6379\n"
                 "redis_password_file = /etc/drnode/redis\n"
                 "store_credentials = /etc/drnode/s3\n"
                 "job_parallel = 8\n");
    assert_string_equal(c->pg_conninfo, "host=10.0.0.5 port=5432 dbname=app");
    assert_string_equal(c->redis_address, "10.0.0.6:6379");
    assert_string_equal(c->redis_password_file, "/etc/drnode/redis");
    assert_string_equal(c->store_credentials, "/etc/drnode/s3");
    assert_int_equal(c->job_parallel, 8);
    assert_only_problem(f, MINIMAL "[services]\njob_parallel = 0\n", 12,
                        "[services] job_parallel: 0 is out of range (1 to "
                        "64)");
    assert_only_problem(f, MINIMAL "[services]\nredis = localhost\n", 12,
                        "[services] redis \"localhost\" is not host:port");
    assert_only_problem(f, MINIMAL "[services]\nmysql = x\n", 12,
                        "[services] unknown key \"mysql\"");
    /* The scratch Redis db of restore drills: none unless named. */
    assert_valid(f, MINIMAL);
    assert_int_equal(c->drill_redis_db, -1);
    assert_valid(f, MINIMAL "[services]\ndrill_redis_db = 15\n");
    assert_int_equal(c->drill_redis_db, 15);
    assert_only_problem(f, MINIMAL "[services]\ndrill_redis_db = 65536\n", 12,
                        "[services] drill_redis_db: 65536 is out of range (0 "
                        "to 65535)");
    assert_only_problem(f, MINIMAL "[services]\ndrill_redis_db = -1\n", 12,
                        "[services] drill_redis_db: -1 is out of range (0 to "
                        "65535)");
    assert_only_problem(f, MINIMAL "[services]\ndrill_redis_db = db15\n", 12,
                        "[services] drill_redis_db: \"db15\" is not an "
                        "integer");
}

/* [probes]: health probes of the region's services. */
static void test_probes(void **state)
{
    struct fixture *f = *state;
    const struct config *c = &f->c;

    assert_valid(f, MINIMAL);
    assert_int_equal(c->probe_interval_ms, 5000);
    assert_int_equal(c->probe_timeout_ms, 2000);
    assert_string_equal(c->probe_ollama_url, "");
    assert_string_equal(c->probe_openai_url, "");
    assert_string_equal(c->probe_openai_key_file, "");
    assert_string_equal(c->probe_anthropic_url, "");
    assert_string_equal(c->probe_anthropic_key_file, "");
    assert_string_equal(c->probe_app_url, "");
    assert_valid(f, MINIMAL
                 "[probes]\n"
                 "interval_ms = 10000\n"
                 "timeout_ms = 9999\n"
                 "ollama_url = http://10.0.0.7:11434\n"
                 "openai_url = https://api.openai.com/v1\n"
                 "openai_key_file = /etc/drnode/openai.key\n"
                 "anthropic_url = https://api.anthropic.com/v1/\n"
                 "anthropic_key_file = /etc/drnode/anthropic.key\n"
                 "app_url = http://[fd00::5]:3000/cogitator\n");
    assert_int_equal(c->probe_interval_ms, 10000);
    assert_int_equal(c->probe_timeout_ms, 9999);
    assert_string_equal(c->probe_ollama_url, "http://10.0.0.7:11434");
    assert_string_equal(c->probe_openai_url, "https://api.openai.com/v1");
    assert_string_equal(c->probe_openai_key_file, "/etc/drnode/openai.key");
    assert_string_equal(c->probe_anthropic_url,
                        "https://api.anthropic.com/v1/");
    assert_string_equal(c->probe_anthropic_key_file,
                        "/etc/drnode/anthropic.key");
    assert_string_equal(c->probe_app_url, "http://[fd00::5]:3000/cogitator");
    /* Limits, and an empty URL: that service is not probed. */
    assert_valid(f, MINIMAL
                 "[probes]\ninterval_ms = 3600000\n"
                 "timeout_ms = 60000\napp_url =\n");
    assert_valid(f, MINIMAL "[probes]\ninterval_ms = 100\ntimeout_ms = 50\n");
    /* An URL without its key file sends no key. */
    assert_valid(f, MINIMAL "[probes]\nopenai_url = http://127.0.0.1:8080\n");
}

static void test_bad_probes(void **state)
{
    struct fixture *f = *state;

    assert_only_problem(f, MINIMAL "[probes]\ninterval_ms = 99\n", 12,
                        "[probes] interval_ms: 99 is out of range (100 to "
                        "3600000)");
    assert_only_problem(f, MINIMAL "[probes]\ninterval_ms = 3600001\n", 12,
                        "[probes] interval_ms: 3600001 is out of range");
    assert_only_problem(f, MINIMAL "[probes]\ntimeout_ms = 49\n", 12,
                        "[probes] timeout_ms: 49 is out of range (50 to "
                        "60000)");
    assert_only_problem(f, MINIMAL "[probes]\ntimeout_ms = 60001\n", 12,
                        "[probes] timeout_ms: 60001 is out of range");
    assert_only_problem(f, MINIMAL "[probes]\ntimeout_ms = 2s\n", 12,
                        "[probes] timeout_ms: \"2s\" is not a positive "
                        "integer");
    assert_only_problem(f, MINIMAL "[probes]\ninterval_ms =\n", 12,
                        "[probes] interval_ms is empty");
    /* The timeout must fit in the interval, defaults included. */
    assert_only_problem(f, MINIMAL "[probes]\ntimeout_ms = 5000\n", 12,
                        "[probes] timeout_ms 5000 must be less than "
                        "interval_ms 5000");
    assert_only_problem(f, MINIMAL "[probes]\ninterval_ms = 1000\n", 12,
                        "[probes] timeout_ms 2000 must be less than "
                        "interval_ms 1000");
    assert_only_problem(f,
                        MINIMAL
                        "[probes]\ninterval_ms = 1000\n"
                        "timeout_ms = 1500\n",
                        13,
                        "[probes] timeout_ms 1500 must be less than "
                        "interval_ms 1000");
    /* URLs. */
    assert_only_problem(f, MINIMAL "[probes]\nollama_url = ftp://x/\n", 12,
                        "[probes] ollama_url: URL \"ftp://x/\" must start "
                        "with http:// or https://");
    assert_only_problem(f, MINIMAL "[probes]\napp_url = 127.0.0.1:3000\n", 12,
                        "[probes] app_url: URL \"127.0.0.1:3000\" must start "
                        "with http:// or https://");
    assert_only_problem(f, MINIMAL "[probes]\napp_url = http://\n", 12,
                        "[probes] app_url: URL \"http://\" has no host");
    assert_only_problem(f, MINIMAL "[probes]\napp_url = https:///health\n", 12,
                        "[probes] app_url: URL \"https:///health\" has no "
                        "host");
    assert_only_problem(f, MINIMAL "[probes]\napp_url = http://:80\n", 12,
                        "[probes] app_url: URL \"http://:80\" has no host");
    assert_only_problem(f, MINIMAL "[probes]\napp_url = http://a:0\n", 12,
                        "[probes] app_url: URL \"http://a:0\" needs a port "
                        "from 1 to 65535 after ':'");
    assert_only_problem(f, MINIMAL "[probes]\napp_url = http://a:65536/\n", 12,
                        "needs a port from 1 to 65535");
    assert_only_problem(f, MINIMAL "[probes]\napp_url = http://a:/\n", 12,
                        "needs a port from 1 to 65535");
    assert_only_problem(f, MINIMAL "[probes]\napp_url = http://[::1/\n", 12,
                        "[probes] app_url: URL \"http://[::1/\" has an "
                        "invalid IPv6 host");
    assert_only_problem(f, MINIMAL "[probes]\napp_url = http://[::1]x/\n", 12,
                        "has an invalid IPv6 host");
    assert_only_problem(f,
                        MINIMAL
                        "[probes]\nopenai_url = "
                        "https://me:pw@api.openai.com/v1\n",
                        12,
                        "[probes] openai_url: URL "
                        "\"https://me:pw@api.openai.com/v1\" must not hold a "
                        "user name or password (use a key file)");
    assert_only_problem(f,
                        MINIMAL
                        "[probes]\nopenai_url = "
                        "https://api.openai.com/v1?key=x\n",
                        12, "must not have a query or fragment");
    assert_only_problem(f, MINIMAL "[probes]\nollama_url = http://a/#x\n", 12,
                        "must not have a query or fragment");
    assert_only_problem(f, MINIMAL "[probes]\nollama_url = http://a\tb/\n", 12,
                        "holds a space or control character");
    /* A key file without the URL it is for. */
    assert_only_problem(f, MINIMAL "[probes]\nopenai_key_file = /k\n", 12,
                        "[probes] openai_key_file is set but openai_url is "
                        "not: the key would never be used");
    assert_only_problem(f,
                        MINIMAL
                        "[probes]\nanthropic_key_file = /k\n"
                        "anthropic_url =\n",
                        12,
                        "[probes] anthropic_key_file is set but "
                        "anthropic_url is not");
    assert_only_problem(f,
                        MINIMAL
                        "[probes]\nopenai_key_file = /k\n"
                        "anthropic_url = http://a/\n",
                        12, "openai_key_file is set but openai_url is not");
    /* An invalid URL is reported once, not again as missing. */
    assert_only_problem(f,
                        MINIMAL
                        "[probes]\nopenai_key_file = /k\n"
                        "openai_url = x\n",
                        13, "[probes] openai_url: URL \"x\" must start");
    /* Unknown and repeated keys and sections. */
    assert_only_problem(f, MINIMAL "[probes]\nollama = http://a/\n", 12,
                        "[probes] unknown key \"ollama\"");
    assert_only_problem(f,
                        MINIMAL
                        "[probes]\ntimeout_ms = 100\n"
                        "timeout_ms = 200\n",
                        13,
                        "duplicate key \"timeout_ms\" in [probes] (first at "
                        "line 12)");
    assert_only_problem(f, MINIMAL "[probes]\n[probes]\n", 12,
                        "duplicate section [probes] (first at line 11)");
}

static void test_bootstrap_primary(void **state)
{
    struct fixture *f = *state;

    assert_only_problem(f, MINIMAL "[bootstrap]\nprimary_region = us-west\n",
                        12,
                        "[bootstrap] primary_region \"us-west\" is not a "
                        "region");
    /* A region with a section but no member may be the primary. */
    assert_valid(f, MINIMAL
                 "[bootstrap]\nprimary_region = us-west\n"
                 "[region.us-west]\n");
    assert_string_equal(f->c.primary_region, "us-west");
    assert_int_equal(f->c.n_regions, 2);
    assert_string_equal(f->c.regions[0].name, "us-west");
    assert_string_equal(f->c.regions[1].name, "eu-west");
}

static void test_heartbeat_rule(void **state)
{
    struct fixture *f = *state;

    assert_only_problem(f, MINIMAL "[raft]\nheartbeat_timeout_ms = 600\n", 12,
                        "[raft] heartbeat_timeout_ms 600 must be at most half "
                        "of election_timeout_ms 1000");
    assert_only_problem(f, MINIMAL "[raft]\nelection_timeout_ms = 150\n", 12,
                        "heartbeat_timeout_ms 100 must be at most half of "
                        "election_timeout_ms 150");
    assert_valid(f, MINIMAL
                 "[raft]\nelection_timeout_ms = 200\n"
                 "heartbeat_timeout_ms = 100\n");
}

static void test_syntax_errors(void **state)
{
    static const char nul_text[] = MINIMAL "[raft]\nx\0y = 1\n";
    struct fixture *f = *state;
    char text[1024];

    assert_only_problem(f, MINIMAL "just words\n", 11,
                        "\"just words\" is neither a [section] header nor key "
                        "= value");
    assert_only_problem(f, MINIMAL "[raft\nelection_timeout_ms = 1\n", 11,
                        "section header \"[raft\" has no closing ']'");
    assert_only_problem(f, MINIMAL "[raft] junk\n", 11,
                        "unexpected text after [raft]: \"junk\"");
    snprintf(text, sizeof(text), MINIMAL "[raft]\n; %0300d\nx = %0300d\n", 0,
             0);
    assert_only_problem(f, text, 13, "line is longer than 198 characters");
    config_defaults(&f->c);
    memset(&f->probs, 0, sizeof(f->probs));
    assert_int_equal(
        config_parse(&f->c, nul_text, sizeof(nul_text) - 1, &f->probs),
        DR_EINVAL);
    assert_problem(&f->probs, 12, "line holds a NUL byte");
    assert_int_equal(f->probs.n, 1);
}

/* ---- problems, many at once ---- */

static void test_every_problem_in_one_pass(void **state)
{
    struct fixture *f = *state;
    static const char text[] =
        "[node]\n"                        /* 1 */
        "id = abc\n"                      /* 2 */
        "region = eu-west\n"              /* 3 */
        "raft_address = 127.0.0.1:7001\n" /* 4 */
        "api_address = 127.0.0.1:8001\n"  /* 5 */
        "[raft]\n"                        /* 6 */
        "electon_timeout_ms = 1000\n"     /* 7 */
        "heartbeat_timeout_ms = 5\n"      /* 8 */
        "heartbeat_timeout_ms = 50\n"     /* 9 */
        "[foo]\n"                         /* 10 */
        "[member.1]\n"                    /* 11 */
        "region = eu-west\n"              /* 12 */
        "raft_address = 127.0.0.1:7001\n" /* 13 */
        "api_address = 127.0.0.1:8001\n"  /* 14 */
        "[member.2]\n"                    /* 15 */
        "region = us-east\n"              /* 16 */
        "raft_address = 127.0.0.1:7001\n" /* 17 */
        "api_address = 127.0.0.1:8002\n"  /* 18 */
        "[region.eu-west]\n"              /* 19 */
        "priority = 99999999999\n";       /* 20 */

    assert_int_equal(parse(f, text), DR_EINVAL);
    assert_problem(&f->probs, 2,
                   "[node] id: \"abc\" is not a positive "
                   "integer");
    assert_problem(&f->probs, 7, "[raft] unknown key \"electon_timeout_ms\"");
    assert_problem(&f->probs, 8, "heartbeat_timeout_ms: 5 is out of range");
    assert_problem(&f->probs, 9,
                   "duplicate key \"heartbeat_timeout_ms\" in "
                   "[raft] (first at line 8)");
    assert_problem(&f->probs, 10, "unknown section [foo]");
    assert_problem(&f->probs, 20, "priority: 99999999999 is out of range");
    assert_problem(&f->probs, 0, "[node] missing required key \"data_dir\"");
    assert_problem(&f->probs, 17,
                   "[member.2] raft_address \"127.0.0.1:7001\" "
                   "is also used by member 1");
    if (f->probs.n != 8) {
        dump(&f->probs);
    }
    assert_int_equal(f->probs.n, 8);
}

static void test_too_many_problems(void **state)
{
    struct fixture *f = *state;
    char *text;
    size_t n = 0;
    size_t cap = 16384;

    text = malloc(cap);
    assert_non_null(text);
    n += (size_t)snprintf(text, cap, MINIMAL "[raft]\n");
    for (int i = 0; i < 100; i++) {
        n += (size_t)snprintf(text + n, cap - n, "k%d = 1\n", i);
    }
    assert_int_equal(parse(f, text), DR_EINVAL);
    free(text);
    assert_int_equal(f->probs.n, CONFIG_PROBLEMS_MAX);
    assert_problem(&f->probs, 12, "[raft] unknown key \"k0\"");
    assert_problem(&f->probs, 0, "too many problems");
    assert_int_equal(f->probs.items[CONFIG_PROBLEMS_MAX - 1].line, 0);
}

/* 64 members and 64 regions fit; the 65th section of each is refused. */
static void test_too_many_sections(void **state)
{
    struct fixture *f = *state;
    size_t cap = 65536;
    char *text = malloc(cap);
    size_t n;
    int i;

    assert_non_null(text);
    n = (size_t)snprintf(text, cap, "%s", NODE1 "join = true\n"); /* 1-7 */
    for (i = 2; i <= 66; i++) {
        n += (size_t)snprintf(text + n, cap - n,
                              "[member.%d]\nregion = eu-west\n"
                              "raft_address = 127.0.0.1:%d\n"
                              "api_address = 127.0.0.1:%d\n",
                              i, 10000 + i, 20000 + i);
    }
    assert_true(n < cap);
    assert_only_problem(f, text, 7 + 64 * 4 + 1,
                        "[member.66] too many [member.*] sections (at most "
                        "64)");
    assert_int_equal(f->c.n_members, 64);
    assert_int_equal(f->c.members[63].id, 65);

    /* The 64 region sections leave no room for member 1's region. */
    n = (size_t)snprintf(text, cap, "%s", MINIMAL); /* 1-10 */
    for (i = 1; i <= 65; i++) {
        n += (size_t)snprintf(text + n, cap - n, "[region.x%d]\n", i);
    }
    assert_true(n < cap);
    assert_int_equal(parse(f, text), DR_EINVAL);
    free(text);
    assert_problem(&f->probs, 10 + 65,
                   "[region.x65] too many [region.*] sections (at most 64)");
    assert_problem(&f->probs, 8,
                   "[member.1] region \"eu-west\" is one region too many (at "
                   "most 64)");
    assert_int_equal(f->probs.n, 2);
    assert_int_equal(f->c.n_regions, 64);
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
        T(test_bad_numbers),
        T(test_bad_node_id),
        T(test_bad_node_values),
        T(test_unknown_section_and_key),
        T(test_duplicates),
        T(test_missing),
        T(test_node_not_in_members),
        T(test_node_differs_from_member),
        T(test_member_conflicts),
        T(test_bad_member_sections),
        T(test_bad_regions),
        T(test_services),
        T(test_probes),
        T(test_bad_probes),
        T(test_bootstrap_primary),
        T(test_heartbeat_rule),
        T(test_syntax_errors),
        T(test_every_problem_in_one_pass),
        T(test_too_many_problems),
        T(test_too_many_sections),
        TD(test_load_and_print),
        TD(test_token),
        TD(test_secret),
#undef T
#undef TD
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
