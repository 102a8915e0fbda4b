/* Shared by the config unit tests (config_helpers.h). */
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

const char full_config[] =
    "; node 2 of a three-region cluster\n"               /* 1 */
    "[node]\n"                                           /* 2 */
    "id = 2\n"                                           /* 3 */
    "region = us-east\n"                                 /* 4 */
    "raft_address = 10.0.2.10:7001\n"                    /* 5 */
    "api_address = drnode-2.us-east.internal:8001\n"     /* 6 */
    "data_dir = /var/lib/drnode\n"                       /* 7 */
    "log_level = debug\n"                                /* 8 */
    "token_file = /etc/drnode/token\n"                   /* 9 */
    "join = no\n"                                        /* 10 */
    "\n"                                                 /* 11 */
    "[raft]\n"                                           /* 12 */
    "election_timeout_ms = 2000\n"                       /* 13 */
    "heartbeat_timeout_ms = 200\n"                       /* 14 */
    "snapshot_threshold = 4096\n"                        /* 15 */
    "snapshot_trailing = 0\n"                            /* 16 */
    "\n"                                                 /* 17 */
    "[api]\n"                                            /* 18 */
    "max_body_bytes = 2097152\n"                         /* 19 */
    "\n"                                                 /* 20 */
    "[bootstrap]\n"                                      /* 21 */
    "primary_region = us-east   ; not the lowest id's\n" /* 22 */
    "\n"                                                 /* 23 */
    "[member.1]\n"                                       /* 24 */
    "region = eu-west\n"                                 /* 25 */
    "raft_address = 10.0.1.10:7001\n"                    /* 26 */
    "api_address = 10.0.1.10:8001\n"                     /* 27 */
    "[member.2]\n"                                       /* 28 */
    "region = us-east\n"                                 /* 29 */
    "raft_address = 10.0.2.10:7001\n"                    /* 30 */
    "api_address = drnode-2.us-east.internal:8001\n"     /* 31 */
    "[member.3]\n"                                       /* 32 */
    "region = ap-south\n"                                /* 33 */
    "raft_address = 10.0.3.10:7001\n"                    /* 34 */
    "api_address = 10.0.3.10:8001\n"                     /* 35 */
    "\n"                                                 /* 36 */
    "[region.eu-west]\n"                                 /* 37 */
    "priority = 100\n"                                   /* 38 */
    "dns_targets = 10.0.1.20, app.eu-west.example.com\n" /* 39 */
    "object_store = file:///var/lib/dr/eu-west\n"        /* 40 */
    "[region.us-east]\n"                                 /* 41 */
    "priority = -5\n"                                    /* 42 */
    "dns_targets = 10.0.2.20\n"                          /* 43 */
    "object_store = s3://dr-backups/us-east?region=us-east-1\n";

int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        return -1;
    }
    config_defaults(&f->c);
    *state = f;
    return 0;
}

int setup_dir(void **state)
{
    struct fixture *f;

    if (setup(state) != 0) {
        return -1;
    }
    f = *state;
    f->dir = test_tmpdir();
    return f->dir == NULL ? -1 : 0;
}

int teardown(void **state)
{
    struct fixture *f = *state;

    if (f->dir != NULL) {
        test_rmtree(f->dir);
        free(f->dir);
    }
    free(f);
    return 0;
}

int parse(struct fixture *f, const char *text)
{
    config_defaults(&f->c);
    memset(&f->probs, 0, sizeof(f->probs));
    return config_parse(&f->c, text, strlen(text), &f->probs);
}

void dump(const struct config_problems *p)
{
    config_print_problems(stderr, "config", p);
}

/* A problem on this line whose message holds needle; else print them all. */
bool has_problem(const struct config_problems *p, int line, const char *needle)
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

void assert_valid(struct fixture *f, const char *text)
{
    int rv = parse(f, text);

    if (rv != 0) {
        dump(&f->probs);
    }
    assert_int_equal(rv, DR_OK);
    assert_int_equal(f->probs.n, 0);
}

void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, mode), 0);
}

char *path_in(const struct fixture *f, const char *name)
{
    char *path;

    assert_true(asprintf(&path, "%s/%s", f->dir, name) > 0);
    return path;
}
