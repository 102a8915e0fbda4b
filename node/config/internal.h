/* Internals shared by the config parser (config.c) and its checks (check.c). */
#ifndef DR_CONFIG_INTERNAL_H
#define DR_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define CONFIG__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CONFIG__KEYS_MAX 10 /* keys of the largest sections */

/* One key of a section: where its value goes and what it may hold. */
struct config__key
{
    const char *name;
    int type;          /* how config.c parses and checks it */
    size_t offset;     /* of the field in the section's struct */
    size_t size;       /* of the field */
    uint64_t min, max; /* bounds of unsigned numbers */
    bool required;
};

/* Indices of the keys in their section's table. */
enum {
    CONFIG__NODE_ID,
    CONFIG__NODE_REGION,
    CONFIG__NODE_RAFT_ADDRESS,
    CONFIG__NODE_API_ADDRESS,
    CONFIG__NODE_DATA_DIR,
    CONFIG__NODE_LOG_LEVEL,
    CONFIG__NODE_TOKEN_FILE,
    CONFIG__NODE_JOIN,
    CONFIG__NODE_N_KEYS
};

enum {
    CONFIG__RAFT_ELECTION,
    CONFIG__RAFT_HEARTBEAT,
    CONFIG__RAFT_SNAPSHOT_THRESHOLD,
    CONFIG__RAFT_SNAPSHOT_TRAILING,
    CONFIG__RAFT_N_KEYS
};

enum { CONFIG__BOOTSTRAP_PRIMARY, CONFIG__BOOTSTRAP_N_KEYS };

enum {
    CONFIG__PROBES_INTERVAL,
    CONFIG__PROBES_TIMEOUT,
    CONFIG__PROBES_DOWN_AFTER,
    CONFIG__PROBES_OLLAMA_URL,
    CONFIG__PROBES_OPENAI_URL,
    CONFIG__PROBES_OPENAI_KEY_FILE,
    CONFIG__PROBES_ANTHROPIC_URL,
    CONFIG__PROBES_ANTHROPIC_KEY_FILE,
    CONFIG__PROBES_APP_URL,
    CONFIG__PROBES_N_KEYS
};

enum {
    CONFIG__MEMBER_REGION,
    CONFIG__MEMBER_RAFT_ADDRESS,
    CONFIG__MEMBER_API_ADDRESS,
    CONFIG__MEMBER_N_KEYS
};

enum {
    CONFIG__SERVICES_PG,
    CONFIG__SERVICES_PG_STANDBY,
    CONFIG__SERVICES_REDIS,
    CONFIG__SERVICES_REDIS_PASSWORD_FILE,
    CONFIG__SERVICES_STORE_CREDENTIALS,
    CONFIG__SERVICES_WAL_STORE,
    CONFIG__SERVICES_WAL_COPIES,
    CONFIG__SERVICES_JOB_PARALLEL,
    CONFIG__SERVICES_DRILL_REDIS_DB,
    CONFIG__SERVICES_DRILL_PGDATA,
    CONFIG__SERVICES_N_KEYS
};

enum {
    CONFIG__JOBS_CGROUP,
    CONFIG__JOBS_MEMORY_HIGH,
    CONFIG__JOBS_MEMORY_MAX,
    CONFIG__JOBS_N_KEYS
};

extern const struct config__key config__node_keys[CONFIG__NODE_N_KEYS];
extern const struct config__key config__jobs_keys[CONFIG__JOBS_N_KEYS];
extern const struct config__key config__member_keys[CONFIG__MEMBER_N_KEYS];
extern const struct config__key config__probes_keys[CONFIG__PROBES_N_KEYS];

/* What the parser knows about one section of the file. */
struct config__section
{
    char label[80];                 /* section name as written */
    int line;                       /* of its header; 0: absent */
    int key_line[CONFIG__KEYS_MAX]; /* of each key of its table; 0: absent */
    unsigned bad;                   /* bit i: key i has an invalid value */
    bool bad_name;                  /* invalid member id or region name */
};

struct config__parser
{
    struct config *c;
    struct config_problems *probs;
    bool failed;                    /* a problem was found */
    const char *text;               /* the whole file, borrowed */
    size_t len, pos;                /* of text, and of the next line */
    int line;                       /* number of the line being parsed */
    int kind;                       /* of the current section */
    const struct config__key *keys; /* current section's table */
    size_t n_keys;
    char *base;                    /* struct its values go to */
    struct config__section *state; /* current section */
    struct config__section node, raft, api, bootstrap, services, probes, hooks,
        dns, tls, jobs;
    struct config__section
        members[CONFIG__ARRAY_SIZE(((struct config *)0)->members)];
    struct config__section
        regions[CONFIG__ARRAY_SIZE(((struct config *)0)->regions)];
};

/* Record a problem at line (0: none in particular). */
void config__problem(struct config__parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Check what spans sections once the whole file is parsed: required keys,
 * the node against the member list, address clashes, regions, timeouts.
 * Adds the regions that members name without a [region.*] section and
 * chooses the default primary region. */
void config__check(struct config__parser *p);

#endif /* DR_CONFIG_INTERNAL_H */
