/* Shared by the config unit tests (test_config.c, test_config_errors.c):
 * config texts, a fixture, and checks of the problems the parser reports. */
#ifndef DR_TEST_CONFIG_HELPERS_H
#define DR_TEST_CONFIG_HELPERS_H

#include <stdbool.h>
#include <sys/stat.h>

#include "config/config.h"

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

/* 44 */

/* A config using every key, and the values it must load as (lines numbered
 * in its comments). */
extern const char full_config[];

struct fixture
{
    struct config c;
    struct config_problems probs;
    char *dir; /* temporary directory, for file tests */
};

/* A config that must be refused with exactly one problem. */
struct bad_case
{
    const char *text;
    int line;
    const char *needle; /* part of the problem's message */
};

int setup(void **state);
/* setup, plus a temporary directory (f->dir). */
int setup_dir(void **state);
int teardown(void **state);
/* Parse text into f->c, problems into f->probs; config_parse's result. */
int parse(struct fixture *f, const char *text);
void dump(const struct config_problems *p);
/* A problem on this line whose message holds needle; else print them all. */
bool has_problem(const struct config_problems *p, int line, const char *needle);
void assert_valid(struct fixture *f, const char *text);
void write_file(const char *path, const char *text, mode_t mode);
/* f->dir/name, malloc'ed. */
char *path_in(const struct fixture *f, const char *name);

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

#endif /* DR_TEST_CONFIG_HELPERS_H */
