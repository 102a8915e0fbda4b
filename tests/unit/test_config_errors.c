/* Unit tests of the config module: every kind of bad config is refused
 * with a problem that names its line. */
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
#include "common/memlimit.h"
#include "config/config.h"
#include "config_helpers.h"
#include "helpers.h"

/* ---- problems, one at a time ---- */

static void test_bad_numbers(void **state)
{
    struct fixture *f = *state;

    {
        static const struct bad_case cases[] = {
            {MINIMAL "[raft]\nelection_timeout_ms = abc\n", 12,
             "[raft] election_timeout_ms: \"abc\" is not a "
             "positive integer"},
            {MINIMAL "[raft]\nelection_timeout_ms = -1000\n", 12,
             "\"-1000\" is not a positive integer"},
            {MINIMAL "[raft]\nelection_timeout_ms = 1000ms\n", 12,
             "\"1000ms\" is not a positive integer"},
            {MINIMAL "[raft]\nelection_timeout_ms = 0x400\n", 12,
             "\"0x400\" is not a positive integer"},
            {MINIMAL "[raft]\nelection_timeout_ms = +1000\n", 12,
             "\"+1000\" is not a positive integer"},
            {MINIMAL "[raft]\nelection_timeout_ms = 50\n", 12,
             "[raft] election_timeout_ms: 50 is out of range (100 "
             "to 60000)"},
            {MINIMAL "[raft]\nsnapshot_trailing = "
                     "99999999999999999999\n",
             12,
             "[raft] snapshot_trailing: 99999999999999999999 is out "
             "of range (0 to 10000000)"},
            {MINIMAL "[raft]\nsnapshot_trailing = x\n", 12,
             "\"x\" is not a non-negative integer"},
            {MINIMAL "[raft]\nsnapshot_threshold =\n", 12,
             "[raft] snapshot_threshold is empty"},
            {MINIMAL "[api]\nmax_body_bytes = 1023\n", 12,
             "[api] max_body_bytes: 1023 is out of range (1024 to "
             "67108864)"},
            {MINIMAL "[api]\nmax_connections = 7\n", 12,
             "[api] max_connections: 7 is out of range (8 to 100000)"},
            {MINIMAL "[api]\nrequest_timeout_ms = 99\n", 12,
             "[api] request_timeout_ms: 99 is out of range (100 to 600000)"},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
}

static void test_bad_node_id(void **state)
{
    struct fixture *f = *state;

    {
        static const struct bad_case cases[] = {
            {"[node]\nid = abc\nregion = eu-west\n"
             "raft_address = 127.0.0.1:7001\n"
             "api_address = 127.0.0.1:8001\n"
             "data_dir = /d\njoin = true\n",
             2, "[node] id: \"abc\" is not a positive integer"},
            {"[node]\nid = 0\nregion = eu-west\n"
             "raft_address = 127.0.0.1:7001\n"
             "api_address = 127.0.0.1:8001\n"
             "data_dir = /d\njoin = true\n",
             2,
             "[node] id: 0 is out of range (1 to "
             "9223372036854775807)"},
            {"[node]\nid = 9223372036854775808\nregion = eu-west\n"
             "raft_address = 127.0.0.1:7001\n"
             "api_address = 127.0.0.1:8001\n"
             "data_dir = /d\njoin = true\n",
             2, "9223372036854775808 is out of range"},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
}

static void test_bad_node_values(void **state)
{
    struct fixture *f = *state;

    {
        static const struct bad_case cases[] = {
            {NODE1 "log_level = verbose\n" MEMBER1, 7,
             "[node] log_level: \"verbose\" is not one of debug, "
             "info, warn, error"},
            {NODE1 "join = maybe\n" MEMBER1, 7,
             "[node] join: \"maybe\" is not a boolean"},
            {"[node]\nid = 1\nregion = eu-west\n"
             "raft_address = 127.0.0.1:7001\n"
             "api_address = 127.0.0.1:8001\n"
             "data_dir = var/lib/drnode\n" MEMBER1,
             6,
             "[node] data_dir \"var/lib/drnode\" is not an "
             "absolute path"},
            {"[node]\nid = 1\nregion = eu-west\n"
             "raft_address = localhost:7001\n"
             "api_address = 127.0.0.1:8001\n"
             "data_dir = /d\njoin = true\n",
             4,
             "[node] raft_address \"localhost:7001\" needs an IPv4 "
             "literal host"},
            {"[node]\nid = 1\nregion = eu-west\n"
             "raft_address = 127.0.0.1:7001\n"
             "api_address = 127.0.0.1\n"
             "data_dir = /d\njoin = true\n",
             5, "[node] api_address \"127.0.0.1\" is not host:port"},
            {"[node]\nid = 1\nregion = eu-west\n"
             "raft_address = 127.0.0.1:70001\n"
             "api_address = 127.0.0.1:8001\n"
             "data_dir = /d\njoin = true\n",
             4, "needs a port from 1 to 65535"},
            {"[node]\nid = 1\nregion = EU_West\n"
             "raft_address = 127.0.0.1:7001\n"
             "api_address = 127.0.0.1:8001\n"
             "data_dir = /d\njoin = true\n",
             3, "[node] region \"EU_West\" must start with a letter"},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
}

static void test_unknown_section_and_key(void **state)
{
    struct fixture *f = *state;

    {
        static const struct bad_case cases[] = {
            {MINIMAL "[foo]\nbar = 1\n", 11, "unknown section [foo]"},
            {MINIMAL "[raft]\nelecton_timeout_ms = 1000\n", 12,
             "[raft] unknown key \"electon_timeout_ms\""},
            {MINIMAL "[Node]\n", 11, "unknown section [Node]"},
            {"id = 1\n" MINIMAL, 1, "key \"id\" is outside any section"},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
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

    {
        static const struct bad_case cases[] = {
            {"[node]\nid = 1\nregion = eu-west\n"
             "raft_address = 127.0.0.1:7001\n"
             "api_address = 127.0.0.1:8001\n" MEMBER1,
             0, "[node] missing required key \"data_dir\""},
            {MEMBER1, 0, "missing section [node]"},
            {NODE1 "[member.1]\nregion = eu-west\n"
                   "raft_address = 127.0.0.1:7001\n",
             0, "[member.1] missing required key \"api_address\""},
            {NODE1, 0, "no [member.*] section: with join = false"},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
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

    {
        static const struct bad_case cases[] = {
            {MINIMAL "[member.2]\nregion = us-east\n"
                     "raft_address = 127.0.0.1:7001\n"
                     "api_address = 127.0.0.1:8002\n",
             13,
             "[member.2] raft_address \"127.0.0.1:7001\" is also "
             "used by member 1"},
            {MINIMAL "[member.2]\nregion = us-east\n"
                     "raft_address = 127.0.0.1:7002\n"
                     "api_address = 127.0.0.1:8001\n",
             14,
             "[member.2] api_address \"127.0.0.1:8001\" is also "
             "used by member 1"},
            {MINIMAL "[member.2]\nregion = us-east\n"
                     "raft_address = 127.0.0.1:8001\n"
                     "api_address = 127.0.0.1:8002\n",
             13,
             "[member.2] raft_address \"127.0.0.1:8001\" is also "
             "used by member 1 as api_address"},
            {MINIMAL "[member.2]\nregion = us-east\n"
                     "raft_address = 127.0.0.1:7002\n"
                     "api_address = 127.0.0.1:7002\n",
             14,
             "[member.2] api_address \"127.0.0.1:7002\" is the "
             "same as its raft_address"},
            {MINIMAL "[member.01]\n", 11,
             "[member.01] duplicate member id 1 (first at line 7)"},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
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

    {
        static const struct bad_case cases[] = {
            {MINIMAL "[region.EU]\npriority = 1\n", 11,
             "[region.EU] region name \"EU\" must start with a "
             "letter"},
            {MINIMAL "[region.]\n", 11, "[region.] region name is empty"},
            {MINIMAL "[region.eu-west]\npriority = 2147483648\n", 12,
             "[region.eu-west] priority: 2147483648 is out of "
             "range (-2147483648 to 2147483647)"},
            {MINIMAL "[region.eu-west]\npriority = high\n", 12,
             "[region.eu-west] priority: \"high\" is not an "
             "integer"},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
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
                 "wal_store = s3://wal/prod?region=eu-west-1\n"
                 "job_parallel = 8\n");
    assert_string_equal(c->pg_conninfo, "host=10.0.0.5 port=5432 dbname=app");
    assert_string_equal(c->redis_address, "10.0.0.6:6379");
    assert_string_equal(c->redis_password_file, "/etc/drnode/redis");
    assert_string_equal(c->store_credentials, "/etc/drnode/s3");
    assert_string_equal(c->wal_store, "s3://wal/prod?region=eu-west-1");
    assert_int_equal(c->job_parallel, 8);
    {
        static const struct bad_case cases[] = {
            {MINIMAL "[services]\njob_parallel = 0\n", 12,
             "[services] job_parallel: 0 is out of range (1 to "
             "64)"},
            {MINIMAL "[services]\nredis = localhost\n", 12,
             "[services] redis \"localhost\" is not host:port"},
            {MINIMAL "[services]\nmysql = x\n", 12,
             "[services] unknown key \"mysql\""},
            {MINIMAL "[services]\nwal_store = ftp://x\n", 12,
             "[services] wal_store: object store URL \"ftp://x\" must "
             "start with file:// or s3://"},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
    /* wal_copies: other regions of this file with an object_store. */
#define STORES                       \
    MINIMAL MEMBER2                  \
        "[region.eu-west]\n"         \
        "object_store = file:///a\n" \
        "[region.us-east]\n"         \
        "object_store = file:///b\n" \
        "[region.ap-south]\n"        \
        "object_store = s3://ccc\n"  \
        "[region.sa-east]\n"         \
        "priority = 1\n"
    assert_valid(f, STORES);
    assert_int_equal(c->n_wal_copies, 0);
    assert_valid(f, STORES "[services]\nwal_copies = all\n");
    assert_int_equal(c->n_wal_copies, 2);
    assert_string_equal(c->wal_copy_regions[0], "us-east");
    assert_string_equal(c->wal_copy_regions[1], "ap-south");
    assert_valid(f, STORES "[services]\nwal_copies = ap-south , us-east\n");
    assert_int_equal(c->n_wal_copies, 2);
    assert_string_equal(c->wal_copy_regions[0], "ap-south");
    assert_string_equal(config_region_store(c, "ap-south"), "s3://ccc");
    {
        static const struct bad_case cases[] = {
            {STORES "[services]\nwal_copies = eu-west\n", 24,
             "[services] wal_copies: \"eu-west\" is this node's own region"},
            {STORES "[services]\nwal_copies = mars\n", 24,
             "[services] wal_copies: no region \"mars\" in this file"},
            {STORES "[services]\nwal_copies = sa-east\n", 24,
             "[services] wal_copies: region \"sa-east\" has no "
             "object_store"},
            {STORES "[services]\nwal_copies = us-east,us-east\n", 24,
             "\"us-east\" is listed twice"},
            {STORES "[services]\nwal_copies = us-east,,ap-south\n", 24,
             "\"\" is not a region name"},
            {STORES "[services]\nwal_copies = us-east,all\n", 24,
             "\"all\" stands alone"},
            {MINIMAL "[services]\nwal_copies = all\n", 12,
             "wal_copies = all, but no other region in this file has an "
             "object_store"},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
#undef STORES
    /* The scratch Redis db of restore drills: none unless named. */
    assert_valid(f, MINIMAL);
    assert_int_equal(c->drill_redis_db, -1);
    assert_valid(f, MINIMAL "[services]\ndrill_redis_db = 15\n");
    assert_int_equal(c->drill_redis_db, 15);
    /* The scratch directory of base-backup drills: none unless named. */
    assert_string_equal(c->drill_pgdata, "");
    assert_valid(f, MINIMAL "[services]\ndrill_pgdata = /srv/drill\n");
    assert_string_equal(c->drill_pgdata, "/srv/drill");
    {
        static const struct bad_case cases[] = {
            {MINIMAL "[services]\ndrill_redis_db = 65536\n", 12,
             "[services] drill_redis_db: 65536 is out of range (0 "
             "to 65535)"},
            {MINIMAL "[services]\ndrill_redis_db = -1\n", 12,
             "[services] drill_redis_db: -1 is out of range (0 to "
             "65535)"},
            {MINIMAL "[services]\ndrill_redis_db = db15\n", 12,
             "[services] drill_redis_db: \"db15\" is not an "
             "integer"},
            {MINIMAL "[services]\ndrill_pgdata = scratch/pg\n", 12,
             "[services] drill_pgdata \"scratch/pg\" must be an "
             "absolute path"},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
}

/* [jobs]: where the jobs run and their memory limits. */
static void test_jobs(void **state)
{
    struct fixture *f = *state;
    const struct config *c = &f->c;
    struct dr_memlimit l;
    char err[160];

    assert_valid(f, MINIMAL);
    assert_string_equal(c->jobs_cgroup, "auto");
    assert_string_equal(c->jobs_memory_high, "60%");
    assert_string_equal(c->jobs_memory_max, "75%");
    assert_valid(f, MINIMAL "[jobs]\ncgroup = off\n");
    assert_valid(f, MINIMAL
                 "[jobs]\ncgroup = /sys/fs/cgroup/drnode.service\n"
                 "memory_high = 1G\nmemory_max = max\n");
    assert_string_equal(c->jobs_cgroup, "/sys/fs/cgroup/drnode.service");
    assert_valid(f, MINIMAL "[jobs]\nmemory_high = 512M\nmemory_max = 2g\n");
    {
        static const struct bad_case cases[] = {
            {MINIMAL "[jobs]\ncgroup = drnode.service\n", 12,
             "[jobs] cgroup \"drnode.service\" is not auto, off or an "
             "absolute path"},
            {MINIMAL "[jobs]\nmemory_high = lots\n", 12,
             "[jobs] memory_high: \"lots\" is not a memory limit"},
            {MINIMAL "[jobs]\nmemory_max = 0%\n", 12,
             "[jobs] memory_max: \"0%\": a percentage from 1% to 100%"},
            {MINIMAL "[jobs]\nmemory_max = 101%\n", 12,
             "a percentage from 1% to 100%"},
            {MINIMAL "[jobs]\nmemory_max = 1M\n", 12,
             "[jobs] memory_max: \"1M\" is below the 16 MiB a job needs"},
            {MINIMAL "[jobs]\nmemory_max = 2X\n", 12, "\"2X\": unknown unit"},
            {MINIMAL "[jobs]\nmemory_max = 2GB\n", 12,
             "\"2GB\": nothing may follow the unit"},
            {MINIMAL "[jobs]\nmemory_max = 99999999999999999999\n", 12,
             "is too large"},
            {MINIMAL "[jobs]\nmemory_max = 99999999999T\n", 12, "is too large"},
            {MINIMAL "[jobs]\nmemory_high = 80%\nmemory_max = 50%\n", 12,
             "[jobs] memory_high 80% is above memory_max 50%"},
            {MINIMAL "[jobs]\nmemory_high = 2G\nmemory_max = 1G\n", 12,
             "[jobs] memory_high 2G is above memory_max 1G"},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
    /* What a limit comes to. */
    assert_int_equal(dr_memlimit_parse("75%", &l, err, sizeof(err)), DR_OK);
    assert_int_equal(dr_memlimit_bytes(&l, 8ull << 30), 6ull << 30);
    /* Rounded down to a page. */
    assert_int_equal(dr_memlimit_bytes(&l, 1000001), 749568);
    assert_int_equal(dr_memlimit_parse("100%", &l, err, sizeof(err)), DR_OK);
    assert_int_equal(dr_memlimit_bytes(&l, UINT64_MAX), UINT64_MAX & ~4095ull);
    assert_int_equal(dr_memlimit_parse("3K", &l, err, sizeof(err)), DR_EINVAL);
    assert_int_equal(dr_memlimit_parse("16M", &l, err, sizeof(err)), DR_OK);
    assert_int_equal(dr_memlimit_bytes(&l, 1), 16u << 20);
    assert_int_equal(dr_memlimit_parse("max", &l, err, sizeof(err)), DR_OK);
    assert_int_equal(dr_memlimit_bytes(&l, 1), UINT64_MAX);
    assert_int_equal(dr_memlimit_parse("", &l, err, sizeof(err)), DR_EINVAL);
    assert_int_equal(dr_memlimit_parse("-1G", &l, err, sizeof(err)), DR_EINVAL);
}

/* [probes]: health probes of the region's services. */
static void test_probes(void **state)
{
    struct fixture *f = *state;
    const struct config *c = &f->c;

    assert_valid(f, MINIMAL);
    assert_int_equal(c->probe_interval_ms, 5000);
    assert_int_equal(c->probe_timeout_ms, 2000);
    assert_int_equal(c->probe_down_after, 2);
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
                 "down_after = 1\n"
                 "ollama_url = http://10.0.0.7:11434\n"
                 "openai_url = https://api.openai.com/v1\n"
                 "openai_key_file = /etc/drnode/openai.key\n"
                 "anthropic_url = https://api.anthropic.com/v1/\n"
                 "anthropic_key_file = /etc/drnode/anthropic.key\n"
                 "app_url = http://[fd00::5]:3000/cogitator\n");
    assert_int_equal(c->probe_interval_ms, 10000);
    assert_int_equal(c->probe_timeout_ms, 9999);
    assert_int_equal(c->probe_down_after, 1);
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

    {
        static const struct bad_case cases[] = {
            {MINIMAL "[probes]\ninterval_ms = 99\n", 12,
             "[probes] interval_ms: 99 is out of range (100 to "
             "3600000)"},
            {MINIMAL "[probes]\ninterval_ms = 3600001\n", 12,
             "[probes] interval_ms: 3600001 is out of range"},
            {MINIMAL "[probes]\ntimeout_ms = 49\n", 12,
             "[probes] timeout_ms: 49 is out of range (50 to "
             "60000)"},
            {MINIMAL "[probes]\ntimeout_ms = 60001\n", 12,
             "[probes] timeout_ms: 60001 is out of range"},
            {MINIMAL "[probes]\ntimeout_ms = 2s\n", 12,
             "[probes] timeout_ms: \"2s\" is not a positive "
             "integer"},
            {MINIMAL "[probes]\ninterval_ms =\n", 12,
             "[probes] interval_ms is empty"},
            {MINIMAL "[probes]\ndown_after = 0\n", 12,
             "[probes] down_after: 0 is out of range (1 to 10)"},
            {MINIMAL "[probes]\ndown_after = 11\n", 12,
             "[probes] down_after: 11 is out of range"},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
    /* The timeout must fit in the interval, defaults included. */
    {
        static const struct bad_case cases[] = {
            {MINIMAL "[probes]\ntimeout_ms = 5000\n", 12,
             "[probes] timeout_ms 5000 must be less than "
             "interval_ms 5000"},
            {MINIMAL "[probes]\ninterval_ms = 1000\n", 12,
             "[probes] timeout_ms 2000 must be less than "
             "interval_ms 1000"},
            {MINIMAL "[probes]\ninterval_ms = 1000\n"
                     "timeout_ms = 1500\n",
             13,
             "[probes] timeout_ms 1500 must be less than "
             "interval_ms 1000"},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
    /* URLs. */
    {
        static const struct bad_case cases[] = {
            {MINIMAL "[probes]\nollama_url = ftp://x/\n", 12,
             "[probes] ollama_url: URL \"ftp://x/\" must start "
             "with http:// or https://"},
            {MINIMAL "[probes]\napp_url = 127.0.0.1:3000\n", 12,
             "[probes] app_url: URL \"127.0.0.1:3000\" must start "
             "with http:// or https://"},
            {MINIMAL "[probes]\napp_url = http://\n", 12,
             "[probes] app_url: URL \"http://\" has no host"},
            {MINIMAL "[probes]\napp_url = https:///health\n", 12,
             "[probes] app_url: URL \"https:///health\" has no "
             "host"},
            {MINIMAL "[probes]\napp_url = http://:80\n", 12,
             "[probes] app_url: URL \"http://:80\" has no host"},
            {MINIMAL "[probes]\napp_url = http://a:0\n", 12,
             "[probes] app_url: URL \"http://a:0\" needs a port "
             "from 1 to 65535 after ':'"},
            {MINIMAL "[probes]\napp_url = http://a:65536/\n", 12,
             "needs a port from 1 to 65535"},
            {MINIMAL "[probes]\napp_url = http://a:/\n", 12,
             "needs a port from 1 to 65535"},
            {MINIMAL "[probes]\napp_url = http://[::1/\n", 12,
             "[probes] app_url: URL \"http://[::1/\" has an "
             "invalid IPv6 host"},
            {MINIMAL "[probes]\napp_url = http://[::1]x/\n", 12,
             "has an invalid IPv6 host"},
            {MINIMAL "[probes]\nopenai_url = "
                     "https://me:pw@api.openai.com/v1\n",
             12,
             "[probes] openai_url: URL "
             "\"https://me:pw@api.openai.com/v1\" must not hold a "
             "user name or password (use a key file)"},
            {MINIMAL "[probes]\nopenai_url = "
                     "https://api.openai.com/v1?key=x\n",
             12, "must not have a query or fragment"},
            {MINIMAL "[probes]\nollama_url = http://a/#x\n", 12,
             "must not have a query or fragment"},
            {MINIMAL "[probes]\nollama_url = http://a\tb/\n", 12,
             "holds a space or control character"},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
    /* A key file without the URL it is for. */
    {
        static const struct bad_case cases[] = {
            {MINIMAL "[probes]\nopenai_key_file = /k\n", 12,
             "[probes] openai_key_file is set but openai_url is "
             "not: the key would never be used"},
            {MINIMAL "[probes]\nanthropic_key_file = /k\n"
                     "anthropic_url =\n",
             12,
             "[probes] anthropic_key_file is set but "
             "anthropic_url is not"},
            {MINIMAL "[probes]\nopenai_key_file = /k\n"
                     "anthropic_url = http://a/\n",
             12, "openai_key_file is set but openai_url is not"},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
    /* An invalid URL is reported once, not again as missing. */
    assert_only_problem(f,
                        MINIMAL
                        "[probes]\nopenai_key_file = /k\n"
                        "openai_url = x\n",
                        13, "[probes] openai_url: URL \"x\" must start");
    /* Unknown and repeated keys and sections. */
    {
        static const struct bad_case cases[] = {
            {MINIMAL "[probes]\nollama = http://a/\n", 12,
             "[probes] unknown key \"ollama\""},
            {MINIMAL "[probes]\ntimeout_ms = 100\n"
                     "timeout_ms = 200\n",
             13,
             "duplicate key \"timeout_ms\" in [probes] (first at "
             "line 12)"},
            {MINIMAL "[probes]\n[probes]\n", 12,
             "duplicate section [probes] (first at line 11)"},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
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

    {
        static const struct bad_case cases[] = {
            {MINIMAL "just words\n", 11,
             "\"just words\" is neither a [section] header nor key "
             "= value"},
            {MINIMAL "[raft\nelection_timeout_ms = 1\n", 11,
             "section header \"[raft\" has no closing ']'"},
            {MINIMAL "[raft] junk\n", 11,
             "unexpected text after [raft]: \"junk\""},
        };

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            assert_only_problem(f, cases[k].text, cases[k].line,
                                cases[k].needle);
        }
    }
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

/* [tls]: files go together and are absolute; a good section parses and
 * makes the API scheme https. */
static void test_tls(void **state)
{
    struct fixture *f = *state;
    static const struct bad_case cases[] = {
        {MINIMAL "[tls]\ncert = /c.pem\nca = /ca.pem\n", 11,
         "[tls] cert and key go together: cert is set, key is not"},
        {MINIMAL "[tls]\nkey = /k.pem\nca = /ca.pem\n", 11,
         "[tls] cert and key go together: key is set, cert is not"},
        {MINIMAL "[tls]\ncert = /c.pem\nkey = /k.pem\n", 11,
         "[tls] cert needs ca"},
        {MINIMAL "[tls]\nca = /ca.pem\n", 11,
         "[tls] ca without cert and key: the API would still serve plain"},
        {MINIMAL "[tls]\nclient_ca = /ca.pem\n", 11,
         "[tls] client_ca without cert and key"},
        {MINIMAL "[tls]\ncert = /c.pem\nkey = k.pem\nca = /ca.pem\n", 13,
         "[tls] key \"k.pem\" must be an absolute path"},
        {MINIMAL "[tls]\nsecret = x\n", 12, "secret"},
    };

    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        assert_only_problem(f, cases[k].text, cases[k].line, cases[k].needle);
    }
    assert_int_equal(parse(f, MINIMAL "[tls]\ncert = /c.pem\nkey = /k.pem\n"
                                      "ca = /ca.pem\nclient_ca = /cca.pem\n"),
                     DR_OK);
    assert_string_equal(f->c.tls_client_ca, "/cca.pem");
    assert_string_equal(config_api_scheme(&f->c), "https");
    assert_int_equal(parse(f, MINIMAL), DR_OK);
    assert_string_equal(config_api_scheme(&f->c), "http");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
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
        T(test_jobs),
        T(test_probes),
        T(test_bad_probes),
        T(test_bootstrap_primary),
        T(test_heartbeat_rule),
        T(test_syntax_errors),
        T(test_every_problem_in_one_pass),
        T(test_too_many_problems),
        T(test_too_many_sections),
        T(test_tls),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
