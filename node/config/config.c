/* Parsing of drnode's INI configuration, key by key (pure: no I/O). */
#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "common/err.h"
#include "config/config.h"
#include "config/internal.h"
#include "fsm/fsm.h"

enum key_type {
    KEY_ID = 1,       /* uint64_t, 1..CONFIG_ID_MAX */
    KEY_UINT,         /* unsigned, min..max */
    KEY_SIZE,         /* size_t, min..max */
    KEY_INT32,        /* int32_t */
    KEY_BOOL,         /* bool */
    KEY_LOG_LEVEL,    /* int, enum config_log_level */
    KEY_NAME,         /* region name */
    KEY_RAFT_ADDRESS, /* host:port whose host is an IPv4 literal */
    KEY_HOST_PORT,    /* host:port */
    KEY_ABS_PATH,     /* absolute path */
    KEY_PATH,         /* any path, may be empty */
    KEY_DNS_TARGETS,  /* comma-separated list of struct config_region */
    KEY_STORE_URL,    /* file:// or s3:// URL, may be empty */
    KEY_HTTP_URL,     /* http:// or https:// base URL, may be empty */
};

#define FIELD(type, f) offsetof(struct type, f), sizeof(((struct type *)0)->f)

const struct config__key config__node_keys[CONFIG__NODE_N_KEYS] = {
    [CONFIG__NODE_ID] = {"id", KEY_ID, FIELD(config, id), 1, CONFIG_ID_MAX,
                         true},
    [CONFIG__NODE_REGION] = {"region", KEY_NAME, FIELD(config, region), 0, 0,
                             true},
    [CONFIG__NODE_RAFT_ADDRESS] = {"raft_address", KEY_RAFT_ADDRESS,
                                   FIELD(config, raft_address), 0, 0, true},
    [CONFIG__NODE_API_ADDRESS] = {"api_address", KEY_HOST_PORT,
                                  FIELD(config, api_address), 0, 0, true},
    [CONFIG__NODE_DATA_DIR] = {"data_dir", KEY_ABS_PATH,
                               FIELD(config, data_dir), 0, 0, true},
    [CONFIG__NODE_LOG_LEVEL] = {"log_level", KEY_LOG_LEVEL,
                                FIELD(config, log_level), 0, 0, false},
    [CONFIG__NODE_TOKEN_FILE] = {"token_file", KEY_PATH,
                                 FIELD(config, token_file), 0, 0, false},
    [CONFIG__NODE_JOIN] = {"join", KEY_BOOL, FIELD(config, join), 0, 0, false},
};

static const struct config__key raft_keys[CONFIG__RAFT_N_KEYS] = {
    [CONFIG__RAFT_ELECTION] = {"election_timeout_ms", KEY_UINT,
                               FIELD(config, election_timeout_ms), 100, 60000,
                               false},
    [CONFIG__RAFT_HEARTBEAT] = {"heartbeat_timeout_ms", KEY_UINT,
                                FIELD(config, heartbeat_timeout_ms), 10, 10000,
                                false},
    [CONFIG__RAFT_SNAPSHOT_THRESHOLD] = {"snapshot_threshold", KEY_UINT,
                                         FIELD(config, snapshot_threshold), 16,
                                         10000000, false},
    [CONFIG__RAFT_SNAPSHOT_TRAILING] = {"snapshot_trailing", KEY_UINT,
                                        FIELD(config, snapshot_trailing), 0,
                                        10000000, false},
};

static const struct config__key api_keys[] = {
    {"max_body_bytes", KEY_SIZE, FIELD(config, max_body_bytes), 1024, 67108864,
     false},
    {"max_connections", KEY_UINT, FIELD(config, api_max_connections), 8, 100000,
     false},
    {"request_timeout_ms", KEY_UINT, FIELD(config, api_request_timeout_ms), 100,
     600000, false},
    {"tokens_file", KEY_PATH, FIELD(config, api_tokens_file), 0, 0, false},
    {"open_health", KEY_BOOL, FIELD(config, api_open_health), 0, 0, false},
    {"open_metrics", KEY_BOOL, FIELD(config, api_open_metrics), 0, 0, false},
};

static const struct config__key hooks_keys[] = {
    {"fence", KEY_PATH, FIELD(config, hook_fence), 0, 0, false},
    {"activate", KEY_PATH, FIELD(config, hook_activate), 0, 0, false},
    {"unfence", KEY_PATH, FIELD(config, hook_unfence), 0, 0, false},
};

const struct config__key config__jobs_keys[CONFIG__JOBS_N_KEYS] = {
    [CONFIG__JOBS_CGROUP] = {"cgroup", KEY_PATH, FIELD(config, jobs_cgroup), 0,
                             0, false},
    [CONFIG__JOBS_MEMORY_HIGH] = {"memory_high", KEY_PATH,
                                  FIELD(config, jobs_memory_high), 0, 0, false},
    [CONFIG__JOBS_MEMORY_MAX] = {"memory_max", KEY_PATH,
                                 FIELD(config, jobs_memory_max), 0, 0, false},
};

static const struct config__key dns_keys[] = {
    {"api_key_file", KEY_PATH, FIELD(config, dns_api_key_file), 0, 0, false},
    {"tsig_key_file", KEY_PATH, FIELD(config, dns_tsig_key_file), 0, 0, false},
    {"aws_credentials_file", KEY_PATH, FIELD(config, dns_aws_credentials_file),
     0, 0, false},
};

static const struct config__key tls_keys[] = {
    {"cert", KEY_PATH, FIELD(config, tls_cert), 0, 0, false},
    {"key", KEY_PATH, FIELD(config, tls_key), 0, 0, false},
    {"ca", KEY_PATH, FIELD(config, tls_ca), 0, 0, false},
    {"client_ca", KEY_PATH, FIELD(config, tls_client_ca), 0, 0, false},
};

static const struct config__key services_keys[CONFIG__SERVICES_N_KEYS] = {
    [CONFIG__SERVICES_PG] = {"pg", KEY_PATH, FIELD(config, pg_conninfo), 0, 0,
                             false},
    [CONFIG__SERVICES_PG_STANDBY] = {"pg_standby", KEY_PATH,
                                     FIELD(config, pg_standby_conninfo), 0, 0,
                                     false},
    [CONFIG__SERVICES_REDIS] = {"redis", KEY_HOST_PORT,
                                FIELD(config, redis_address), 0, 0, false},
    [CONFIG__SERVICES_REDIS_PASSWORD_FILE] = {"redis_password_file", KEY_PATH,
                                              FIELD(config,
                                                    redis_password_file),
                                              0, 0, false},
    [CONFIG__SERVICES_STORE_CREDENTIALS] = {"store_credentials", KEY_PATH,
                                            FIELD(config, store_credentials), 0,
                                            0, false},
    [CONFIG__SERVICES_WAL_STORE] = {"wal_store", KEY_STORE_URL,
                                    FIELD(config, wal_store), 0, 0, false},
    [CONFIG__SERVICES_WAL_COPIES] = {"wal_copies", KEY_PATH,
                                     FIELD(config, wal_copies), 0, 0, false},
    [CONFIG__SERVICES_JOB_PARALLEL] = {"job_parallel", KEY_UINT,
                                       FIELD(config, job_parallel), 1, 64,
                                       false},
    [CONFIG__SERVICES_DRILL_REDIS_DB] = {"drill_redis_db", KEY_INT32,
                                         FIELD(config, drill_redis_db), 0,
                                         65535, false},
    [CONFIG__SERVICES_DRILL_PGDATA] = {"drill_pgdata", KEY_PATH,
                                       FIELD(config, drill_pgdata), 0, 0,
                                       false},
};

const struct config__key config__probes_keys[CONFIG__PROBES_N_KEYS] = {
    [CONFIG__PROBES_INTERVAL] = {"interval_ms", KEY_UINT,
                                 FIELD(config, probe_interval_ms), 100, 3600000,
                                 false},
    [CONFIG__PROBES_TIMEOUT] = {"timeout_ms", KEY_UINT,
                                FIELD(config, probe_timeout_ms), 50, 60000,
                                false},
    [CONFIG__PROBES_DOWN_AFTER] = {"down_after", KEY_UINT,
                                   FIELD(config, probe_down_after), 1, 10,
                                   false},
    [CONFIG__PROBES_OLLAMA_URL] = {"ollama_url", KEY_HTTP_URL,
                                   FIELD(config, probe_ollama_url), 0, 0,
                                   false},
    [CONFIG__PROBES_OPENAI_URL] = {"openai_url", KEY_HTTP_URL,
                                   FIELD(config, probe_openai_url), 0, 0,
                                   false},
    [CONFIG__PROBES_OPENAI_KEY_FILE] = {"openai_key_file", KEY_PATH,
                                        FIELD(config, probe_openai_key_file), 0,
                                        0, false},
    [CONFIG__PROBES_ANTHROPIC_URL] = {"anthropic_url", KEY_HTTP_URL,
                                      FIELD(config, probe_anthropic_url), 0, 0,
                                      false},
    [CONFIG__PROBES_ANTHROPIC_KEY_FILE] = {"anthropic_key_file", KEY_PATH,
                                           FIELD(config,
                                                 probe_anthropic_key_file),
                                           0, 0, false},
    [CONFIG__PROBES_APP_URL] = {"app_url", KEY_HTTP_URL,
                                FIELD(config, probe_app_url), 0, 0, false},
};

static const struct config__key bootstrap_keys[CONFIG__BOOTSTRAP_N_KEYS] = {
    [CONFIG__BOOTSTRAP_PRIMARY] = {"primary_region", KEY_NAME,
                                   FIELD(config, primary_region), 0, 0, false},
};

const struct config__key config__member_keys[CONFIG__MEMBER_N_KEYS] = {
    [CONFIG__MEMBER_REGION] = {"region", KEY_NAME, FIELD(config_member, region),
                               0, 0, true},
    [CONFIG__MEMBER_RAFT_ADDRESS] = {"raft_address", KEY_RAFT_ADDRESS,
                                     FIELD(config_member, raft_address), 0, 0,
                                     true},
    [CONFIG__MEMBER_API_ADDRESS] = {"api_address", KEY_HOST_PORT,
                                    FIELD(config_member, api_address), 0, 0,
                                    true},
};

static const struct config__key region_keys[] = {
    {"priority", KEY_INT32, FIELD(config_region, priority), 0, 0, false},
    {"dns_targets", KEY_DNS_TARGETS, FIELD(config_region, dns_targets), 0, 0,
     false},
    {"object_store", KEY_STORE_URL, FIELD(config_region, object_store), 0, 0,
     false},
};

_Static_assert(CONFIG__NODE_N_KEYS <= CONFIG__KEYS_MAX, "raise KEYS_MAX");
_Static_assert(CONFIG__RAFT_N_KEYS <= CONFIG__KEYS_MAX, "raise KEYS_MAX");
_Static_assert(CONFIG__PROBES_N_KEYS <= CONFIG__KEYS_MAX, "raise KEYS_MAX");
_Static_assert(CONFIG__SERVICES_N_KEYS <= CONFIG__KEYS_MAX, "raise KEYS_MAX");
_Static_assert(CONFIG__ARRAY_SIZE(region_keys) <= CONFIG__KEYS_MAX,
               "raise KEYS_MAX");

enum section_kind {
    SEC_NONE = 0, /* before the first header */
    SEC_NODE,
    SEC_RAFT,
    SEC_API,
    SEC_BOOTSTRAP,
    SEC_SERVICES,
    SEC_PROBES,
    SEC_HOOKS,
    SEC_DNS,
    SEC_TLS,
    SEC_JOBS,
    SEC_MEMBER,
    SEC_REGION,
    SEC_SKIP, /* unknown or unusable section: its keys are ignored */
};

static void vproblem(struct config__parser *p,
                     int line,
                     const char *fmt,
                     va_list ap) __attribute__((format(printf, 3, 0)));
static int value_problem(struct config__parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void vproblem(struct config__parser *p,
                     int line,
                     const char *fmt,
                     va_list ap)
{
    struct config_problems *probs = p->probs;
    struct config_problem *item;

    p->failed = true;
    if (probs->n >= CONFIG_PROBLEMS_MAX) {
        return;
    }
    item = &probs->items[probs->n++];
    if (probs->n == CONFIG_PROBLEMS_MAX) {
        item->line = 0;
        snprintf(item->msg, sizeof(item->msg),
                 "too many problems; fix these and check again");
        return;
    }
    item->line = line;
    vsnprintf(item->msg, sizeof(item->msg), fmt, ap);
}

void config__problem(struct config__parser *p, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vproblem(p, line, fmt, ap);
    va_end(ap);
}

/* A problem with the value on the current line; returns -1. */
static int value_problem(struct config__parser *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vproblem(p, p->line, fmt, ap);
    va_end(ap);
    return -1;
}

/* Decimal digits only (no sign, no spaces). 0, -1 when s is not such a
 * number, -2 when it does not fit in 64 bits. */
static int parse_u64(const char *s, uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (*s < '0' || *s > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0') {
        return -1;
    }
    if (errno == ERANGE) {
        return -2;
    }
    *out = v;
    return 0;
}

/* Like parse_u64 with an optional leading '-'. */
static int parse_i64(const char *s, int64_t *out)
{
    long long v;
    char *end;
    const char *digits = s[0] == '-' ? s + 1 : s;

    if (*digits < '0' || *digits > '9') {
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0') {
        return -1;
    }
    if (errno == ERANGE) {
        return -2;
    }
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "1"};
    static const char *const no[] = {"false", "no", "0"};
    size_t i;

    for (i = 0; i < CONFIG__ARRAY_SIZE(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static const char *const log_level_names[] = {
    [CONFIG_LOG_DEBUG] = "debug",
    [CONFIG_LOG_INFO] = "info",
    [CONFIG_LOG_WARN] = "warn",
    [CONFIG_LOG_ERROR] = "error",
};

const char *config_log_level_name(int level)
{
    if (level < 0 || (size_t)level >= CONFIG__ARRAY_SIZE(log_level_names)) {
        return "unknown";
    }
    return log_level_names[level];
}

const char *config_region_store(const struct config *c, const char *region)
{
    for (size_t i = 0; i < c->n_regions; i++) {
        if (strcmp(c->regions[i].name, region) == 0) {
            return c->regions[i].object_store[0] != '\0'
                       ? c->regions[i].object_store
                       : NULL;
        }
    }
    return NULL;
}

const char *config_api_scheme(const struct config *c)
{
    return c->tls_cert[0] != '\0' ? "https" : "http";
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    c->log_level = CONFIG_LOG_INFO;
    c->election_timeout_ms = 1000;
    c->heartbeat_timeout_ms = 100;
    c->snapshot_threshold = 16384;
    c->snapshot_trailing = 2048;
    c->max_body_bytes = 1024 * 1024;
    c->api_max_connections = 1024;
    c->api_request_timeout_ms = 10000;
    c->api_open_health = true;
    c->api_open_metrics = true;
    c->job_parallel = 2;
    c->drill_redis_db = -1;
    c->probe_interval_ms = 5000;
    c->probe_timeout_ms = 2000;
    c->probe_down_after = 2;
    snprintf(c->jobs_cgroup, sizeof(c->jobs_cgroup), "auto");
    snprintf(c->jobs_memory_high, sizeof(c->jobs_memory_high), "60%%");
    snprintf(c->jobs_memory_max, sizeof(c->jobs_memory_max), "75%%");
}

/* inih's find_chars_or_comment: the first of chars, or an inline ';'
 * comment (a ';' after whitespace), or the end of s. */
static char *find_chars_or_comment(char *s, const char *chars)
{
    bool was_space = false;

    while (*s != '\0' && strchr(chars, *s) == NULL &&
           !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

static void copy_label(struct config__section *st, const char *name)
{
    snprintf(st->label, sizeof(st->label), "%.70s", name);
}

static void enter(struct config__parser *p,
                  int kind,
                  struct config__section *st,
                  const struct config__key *keys,
                  size_t n_keys,
                  void *base)
{
    p->kind = kind;
    p->state = st;
    p->keys = keys;
    p->n_keys = n_keys;
    p->base = base;
}

/* [node], [raft], [api], [services], [probes] and [bootstrap]: a repeated
 * one continues the first, so its keys still get checked (and repeated keys
 * reported). */
static void enter_single(struct config__parser *p,
                         int kind,
                         struct config__section *st,
                         const struct config__key *keys,
                         size_t n_keys,
                         const char *name)
{
    if (st->line != 0) {
        config__problem(p, p->line, "duplicate section [%s] (first at line %d)",
                        name, st->line);
    } else {
        st->line = p->line;
        copy_label(st, name);
    }
    enter(p, kind, st, keys, n_keys, p->c);
}

static void enter_member(struct config__parser *p, const char *name)
{
    struct config *c = p->c;
    const char *idtext = name + strlen("member.");
    struct config__section *st;
    uint64_t id = 0;
    bool ok;
    size_t i;

    ok = parse_u64(idtext, &id) == 0 && id >= 1 && id <= CONFIG_ID_MAX;
    if (!ok) {
        config__problem(
            p, p->line,
            "[%.70s] member id \"%.64s\" is not an integer from 1 to %" PRIu64,
            name, idtext, (uint64_t)CONFIG_ID_MAX);
    }
    for (i = 0; ok && i < c->n_members; i++) {
        if (!p->members[i].bad_name && c->members[i].id == id) {
            config__problem(p, p->line,
                            "[%.70s] duplicate member id %" PRIu64
                            " (first at line %d)",
                            name, id, p->members[i].line);
            enter(p, SEC_MEMBER, &p->members[i], config__member_keys,
                  CONFIG__ARRAY_SIZE(config__member_keys), &c->members[i]);
            return;
        }
    }
    if (c->n_members == CONFIG__ARRAY_SIZE(c->members)) {
        config__problem(p, p->line,
                        "[%.70s] too many [member.*] sections (at most %zu)",
                        name, CONFIG__ARRAY_SIZE(c->members));
        p->kind = SEC_SKIP;
        return;
    }
    i = c->n_members++;
    memset(&c->members[i], 0, sizeof(c->members[i]));
    c->members[i].id = ok ? id : 0;
    st = &p->members[i];
    st->line = p->line;
    st->bad_name = !ok;
    copy_label(st, name);
    enter(p, SEC_MEMBER, st, config__member_keys,
          CONFIG__ARRAY_SIZE(config__member_keys), &c->members[i]);
}

static void enter_region(struct config__parser *p, const char *name)
{
    struct config *c = p->c;
    const char *rname = name + strlen("region.");
    struct config__section *st;
    char err[256];
    bool ok;
    size_t i;

    ok = fsm_valid_name("region name", rname, err) == DR_OK;
    if (!ok) {
        config__problem(p, p->line, "[%.70s] %s", name, err);
    }
    for (i = 0; ok && i < c->n_regions; i++) {
        if (strcmp(c->regions[i].name, rname) == 0) {
            config__problem(p, p->line,
                            "duplicate section [%s] (first at line %d)", name,
                            p->regions[i].line);
            enter(p, SEC_REGION, &p->regions[i], region_keys,
                  CONFIG__ARRAY_SIZE(region_keys), &c->regions[i]);
            return;
        }
    }
    if (c->n_regions == CONFIG__ARRAY_SIZE(c->regions)) {
        config__problem(p, p->line,
                        "[%.70s] too many [region.*] sections (at most %zu)",
                        name, CONFIG__ARRAY_SIZE(c->regions));
        p->kind = SEC_SKIP;
        return;
    }
    i = c->n_regions++;
    memset(&c->regions[i], 0, sizeof(c->regions[i]));
    snprintf(c->regions[i].name, sizeof(c->regions[i].name), "%.63s", rname);
    st = &p->regions[i];
    st->line = p->line;
    st->bad_name = !ok;
    copy_label(st, name);
    enter(p, SEC_REGION, st, region_keys, CONFIG__ARRAY_SIZE(region_keys),
          &c->regions[i]);
}

/* A "[name]" line (line starts with '['). */
static void section_header(struct config__parser *p, char *line)
{
    char *end = find_chars_or_comment(line + 1, "]");
    const char *rest;
    const char *name = line + 1;

    p->kind = SEC_SKIP;
    if (*end != ']') {
        config__problem(p, p->line,
                        "section header \"%.64s\" has no closing ']'", line);
        return;
    }
    *end = '\0';
    rest = end + 1;
    while (isspace((unsigned char)*rest)) {
        rest++;
    }
    if (*rest != '\0' && *rest != ';' && *rest != '#') {
        config__problem(p, p->line, "unexpected text after [%.64s]: \"%.64s\"",
                        name, rest);
    }
    if (strcmp(name, "node") == 0) {
        enter_single(p, SEC_NODE, &p->node, config__node_keys,
                     CONFIG__ARRAY_SIZE(config__node_keys), name);
    } else if (strcmp(name, "raft") == 0) {
        enter_single(p, SEC_RAFT, &p->raft, raft_keys,
                     CONFIG__ARRAY_SIZE(raft_keys), name);
    } else if (strcmp(name, "api") == 0) {
        enter_single(p, SEC_API, &p->api, api_keys,
                     CONFIG__ARRAY_SIZE(api_keys), name);
    } else if (strcmp(name, "services") == 0) {
        enter_single(p, SEC_SERVICES, &p->services, services_keys,
                     CONFIG__ARRAY_SIZE(services_keys), name);
    } else if (strcmp(name, "probes") == 0) {
        enter_single(p, SEC_PROBES, &p->probes, config__probes_keys,
                     CONFIG__ARRAY_SIZE(config__probes_keys), name);
    } else if (strcmp(name, "hooks") == 0) {
        enter_single(p, SEC_HOOKS, &p->hooks, hooks_keys,
                     CONFIG__ARRAY_SIZE(hooks_keys), name);
    } else if (strcmp(name, "dns") == 0) {
        enter_single(p, SEC_DNS, &p->dns, dns_keys,
                     CONFIG__ARRAY_SIZE(dns_keys), name);
    } else if (strcmp(name, "tls") == 0) {
        enter_single(p, SEC_TLS, &p->tls, tls_keys,
                     CONFIG__ARRAY_SIZE(tls_keys), name);
    } else if (strcmp(name, "jobs") == 0) {
        enter_single(p, SEC_JOBS, &p->jobs, config__jobs_keys,
                     CONFIG__ARRAY_SIZE(config__jobs_keys), name);
    } else if (strcmp(name, "bootstrap") == 0) {
        enter_single(p, SEC_BOOTSTRAP, &p->bootstrap, bootstrap_keys,
                     CONFIG__ARRAY_SIZE(bootstrap_keys), name);
    } else if (strncmp(name, "member.", strlen("member.")) == 0) {
        enter_member(p, name);
    } else if (strncmp(name, "region.", strlen("region.")) == 0) {
        enter_region(p, name);
    } else {
        config__problem(p, p->line, "unknown section [%.64s]", name);
    }
}

/* inih's reader: hands it one line of the in-memory text at a time and
 * counts lines, so p->line is the current line when inih calls key_cb.
 * Section headers and malformed lines are dealt with here and reach inih as
 * blank lines: inih's own section name is cut at 50 bytes and it reports only
 * the first syntax error. Indentation is dropped, so inih never takes an
 * indented line for the continuation of the previous value. */
static char *read_line_cb(char *str, int num, void *stream)
{
    struct config__parser *p = stream;
    const char *start;
    const char *nl;
    char *sep;
    size_t n;

    if (p->pos >= p->len) {
        return NULL;
    }
    start = p->text + p->pos;
    nl = memchr(start, '\n', p->len - p->pos);
    n = nl != NULL ? (size_t)(nl - start) : p->len - p->pos;
    p->pos += n + (nl != NULL ? 1 : 0);
    p->line++;

    assert(num >= 2);
    strcpy(str, "\n");
    if (p->line == 1 && n >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0) {
        start += 3; /* UTF-8 byte order mark */
        n -= 3;
    }
    while (n > 0 && isspace((unsigned char)start[0])) {
        start++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)start[n - 1])) {
        n--;
    }
    if (n == 0 || start[0] == ';' || start[0] == '#') {
        return str;
    }
    if (memchr(start, '\0', n) != NULL) {
        config__problem(p, p->line, "line holds a NUL byte");
        return str;
    }
    if (n > (size_t)num - 2) { /* room for "\n" and the NUL */
        config__problem(p, p->line, "line is longer than %d characters",
                        num - 2);
        return str;
    }
    memcpy(str, start, n);
    str[n] = '\0';
    if (str[0] == '[') {
        section_header(p, str);
        strcpy(str, "\n");
        return str;
    }
    sep = find_chars_or_comment(str, "=:");
    if (*sep != '=' && *sep != ':') {
        config__problem(
            p, p->line,
            "\"%.64s\" is neither a [section] header nor key = value", str);
        strcpy(str, "\n");
        return str;
    }
    str[n] = '\n';
    str[n + 1] = '\0';
    return str;
}

static int copy_value(struct config__parser *p,
                      const struct config__key *k,
                      char *field,
                      const char *v)
{
    size_t n = strlen(v);

    if (n >= k->size) {
        return value_problem(p, "[%s] %s is longer than %zu characters",
                             p->state->label, k->name, k->size - 1);
    }
    memcpy(field, v, n + 1);
    return 0;
}

/* The host of a valid host:port is an IPv4 literal. */
static bool host_is_ipv4(const char *addr)
{
    const char *colon = strrchr(addr, ':');
    struct in_addr a;
    char host[INET_ADDRSTRLEN];
    size_t n = (size_t)(colon - addr);

    if (n >= sizeof(host)) {
        return false;
    }
    memcpy(host, addr, n);
    host[n] = '\0';
    return inet_pton(AF_INET, host, &a) == 1;
}

/* Digits only, 1..65535. */
static bool valid_port_text(const char *s, size_t n)
{
    unsigned long v = 0;
    size_t i;

    if (n == 0 || n > 5) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

/* An http:// or https:// base URL with a host, an optional port and path,
 * and no user name, password, query or fragment (a probe appends its own
 * path). 0, or -1 with errmsg (256 bytes) saying why. */
static int valid_http_url(const char *url, char *errmsg)
{
    const char *authority;
    const char *end;
    const char *host_end;
    const char *port = NULL;
    size_t i;

    if (strncmp(url, "http://", 7) == 0) {
        authority = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        authority = url + 8;
    } else {
        snprintf(errmsg, 256,
                 "URL \"%.64s\" must start with http:// or https://", url);
        return -1;
    }
    for (i = 0; url[i] != '\0'; i++) {
        unsigned char ch = (unsigned char)url[i];
        if (ch <= ' ' || ch == 0x7f) {
            snprintf(errmsg, 256,
                     "URL \"%.64s\" holds a space or control character", url);
            return -1;
        }
    }
    end = authority + strcspn(authority, "/?#");
    if (strpbrk(authority, "?#") != NULL) {
        snprintf(errmsg, 256,
                 "URL \"%.64s\" must not have a query or fragment (it is a "
                 "base URL)",
                 url);
        return -1;
    }
    if (memchr(authority, '@', (size_t)(end - authority)) != NULL) {
        snprintf(errmsg, 256,
                 "URL \"%.64s\" must not hold a user name or password (use a "
                 "key file)",
                 url);
        return -1;
    }
    if (authority[0] == '[') {
        host_end = memchr(authority, ']', (size_t)(end - authority));
        if (host_end == NULL || host_end == authority + 1) {
            snprintf(errmsg, 256, "URL \"%.64s\" has an invalid IPv6 host",
                     url);
            return -1;
        }
        host_end++;
        if (host_end < end && *host_end != ':') {
            snprintf(errmsg, 256, "URL \"%.64s\" has an invalid IPv6 host",
                     url);
            return -1;
        }
    } else {
        host_end = memchr(authority, ':', (size_t)(end - authority));
        if (host_end == NULL) {
            host_end = end;
        }
    }
    if (host_end == authority) {
        snprintf(errmsg, 256, "URL \"%.64s\" has no host", url);
        return -1;
    }
    if (host_end < end) {
        port = host_end + 1;
        if (!valid_port_text(port, (size_t)(end - port))) {
            snprintf(errmsg, 256,
                     "URL \"%.64s\" needs a port from 1 to 65535 after ':'",
                     url);
            return -1;
        }
    }
    return 0;
}

static int set_dns_targets(struct config__parser *p,
                           const struct config__key *k,
                           struct config_region *r,
                           const char *v)
{
    const char *label = p->state->label;
    const char *s = v;
    size_t count = 1;
    size_t i;
    int rv = 0;
    char err[256];

    r->n_dns_targets = 0;
    if (*v == '\0') {
        return 0;
    }
    for (i = 0; v[i] != '\0'; i++) {
        count += v[i] == ',';
    }
    if (count > CONFIG__ARRAY_SIZE(r->dns_targets)) {
        return value_problem(p, "[%s] %s: %zu targets, at most %zu", label,
                             k->name, count,
                             CONFIG__ARRAY_SIZE(r->dns_targets));
    }
    for (i = 0; i < count; i++) {
        const char *comma = strchr(s, ',');
        const char *end = comma != NULL ? comma : s + strlen(s);
        char *target = r->dns_targets[r->n_dns_targets];
        size_t n;

        while (s < end && isspace((unsigned char)*s)) {
            s++;
        }
        n = (size_t)(end - s);
        while (n > 0 && isspace((unsigned char)s[n - 1])) {
            n--;
        }
        if (n == 0) {
            rv = value_problem(p, "[%s] %s: target %zu of %zu is empty", label,
                               k->name, i + 1, count);
        } else if (n >= sizeof(r->dns_targets[0])) {
            rv = value_problem(p, "[%s] %s: target %zu is longer than %zu",
                               label, k->name, i + 1,
                               sizeof(r->dns_targets[0]) - 1);
        } else {
            memcpy(target, s, n);
            target[n] = '\0';
            if (fsm_valid_dns_target(target, err) != DR_OK) {
                rv = value_problem(p, "[%s] %s: %s", label, k->name, err);
            } else {
                r->n_dns_targets++;
            }
        }
        s = comma != NULL ? comma + 1 : end;
    }
    return rv;
}

static int set_number(struct config__parser *p,
                      const struct config__key *k,
                      char *field,
                      const char *v)
{
    const char *label = p->state->label;
    uint64_t u = 0;
    int64_t i = 0;
    int rv;

    if (k->type == KEY_INT32) {
        rv = parse_i64(v, &i);
        if (rv == -1) {
            return value_problem(p, "[%s] %s: \"%.64s\" is not an integer",
                                 label, k->name, v);
        }
        if (rv == -2 || i < INT32_MIN || i > INT32_MAX) {
            return value_problem(p,
                                 "[%s] %s: %.64s is out of range (%" PRId32
                                 " to %" PRId32 ")",
                                 label, k->name, v, INT32_MIN, INT32_MAX);
        }
        /* A bounded key (max != 0) checks its own range. */
        if (k->max != 0 && (i < (int64_t)k->min || i > (int64_t)k->max)) {
            return value_problem(p,
                                 "[%s] %s: %.64s is out of range (%llu to "
                                 "%llu)",
                                 label, k->name, v, (unsigned long long)k->min,
                                 (unsigned long long)k->max);
        }
        *(int32_t *)(void *)field = (int32_t)i;
        return 0;
    }
    rv = parse_u64(v, &u);
    if (rv == -1) {
        return value_problem(p, "[%s] %s: \"%.64s\" is not a %s integer", label,
                             k->name, v,
                             k->min > 0 ? "positive" : "non-negative");
    }
    if (rv == -2 || u < k->min || u > k->max) {
        return value_problem(
            p, "[%s] %s: %.64s is out of range (%" PRIu64 " to %" PRIu64 ")",
            label, k->name, v, k->min, k->max);
    }
    switch (k->type) {
        case KEY_ID:
            *(uint64_t *)(void *)field = u;
            break;
        case KEY_UINT:
            *(unsigned *)(void *)field = (unsigned)u;
            break;
        default:
            assert(k->type == KEY_SIZE);
            *(size_t *)(void *)field = (size_t)u;
            break;
    }
    return 0;
}

/* Check value v of key k and store it; -1 (with the problem recorded) if it
 * is invalid. */
static int set_value(struct config__parser *p,
                     const struct config__key *k,
                     const char *v)
{
    const char *label = p->state->label;
    char *field = p->base + k->offset;
    char err[256];
    size_t i;

    if (v[0] == '\0' && k->type != KEY_PATH && k->type != KEY_DNS_TARGETS &&
        k->type != KEY_STORE_URL && k->type != KEY_HTTP_URL) {
        return value_problem(p, "[%s] %s is empty", label, k->name);
    }
    switch (k->type) {
        case KEY_ID:
        case KEY_UINT:
        case KEY_SIZE:
        case KEY_INT32:
            return set_number(p, k, field, v);
        case KEY_BOOL:
            if (parse_bool(v, (bool *)(void *)field) != 0) {
                return value_problem(p,
                                     "[%s] %s: \"%.64s\" is not a boolean "
                                     "(true/false/yes/no/1/0)",
                                     label, k->name, v);
            }
            return 0;
        case KEY_LOG_LEVEL:
            for (i = 0; i < CONFIG__ARRAY_SIZE(log_level_names); i++) {
                if (strcasecmp(v, log_level_names[i]) == 0) {
                    *(int *)(void *)field = (int)i;
                    return 0;
                }
            }
            return value_problem(
                p, "[%s] %s: \"%.64s\" is not one of debug, info, warn, error",
                label, k->name, v);
        case KEY_NAME:
            if (fsm_valid_name(k->name, v, err) != DR_OK) {
                return value_problem(p, "[%s] %s", label, err);
            }
            return copy_value(p, k, field, v);
        case KEY_RAFT_ADDRESS:
        case KEY_HOST_PORT:
            if (fsm_valid_host_port(k->name, v, err) != DR_OK) {
                return value_problem(p, "[%s] %s", label, err);
            }
            if (k->type == KEY_RAFT_ADDRESS && !host_is_ipv4(v)) {
                return value_problem(p,
                                     "[%s] %s \"%.64s\" needs an IPv4 literal "
                                     "host (raft does not resolve names)",
                                     label, k->name, v);
            }
            return copy_value(p, k, field, v);
        case KEY_ABS_PATH:
            if (v[0] != '/') {
                return value_problem(
                    p, "[%s] %s \"%.64s\" is not an absolute path", label,
                    k->name, v);
            }
            return copy_value(p, k, field, v);
        case KEY_PATH:
            return copy_value(p, k, field, v);
        case KEY_DNS_TARGETS:
            return set_dns_targets(p, k,
                                   (struct config_region *)(void *)p->base, v);
        case KEY_STORE_URL:
            if (fsm_valid_store_url(v, err) != DR_OK) {
                return value_problem(p, "[%s] %s: %s", label, k->name, err);
            }
            return copy_value(p, k, field, v);
        case KEY_HTTP_URL:
            if (v[0] != '\0' && valid_http_url(v, err) != 0) {
                return value_problem(p, "[%s] %s: %s", label, k->name, err);
            }
            return copy_value(p, k, field, v);
    }
    assert(0);
    return -1;
}

/* inih's handler: one "key = value" line of the current section. */
static int key_cb(void *user,
                  const char *section,
                  const char *name,
                  const char *value)
{
    struct config__parser *p = user;
    struct config__section *st = p->state;
    size_t i;

    (void)section; /* read_line_cb keeps track of it, uncut */
    if (p->kind == SEC_NONE) {
        config__problem(p, p->line, "key \"%.64s\" is outside any section",
                        name);
        return 1;
    }
    if (p->kind == SEC_SKIP) {
        return 1;
    }
    for (i = 0; i < p->n_keys; i++) {
        if (strcmp(p->keys[i].name, name) == 0) {
            break;
        }
    }
    if (i == p->n_keys) {
        config__problem(p, p->line, "[%s] unknown key \"%.64s\"", st->label,
                        name);
        return 1;
    }
    if (st->key_line[i] != 0) {
        config__problem(p, p->line,
                        "duplicate key \"%s\" in [%s] (first at line %d)", name,
                        st->label, st->key_line[i]);
        return 1;
    }
    st->key_line[i] = p->line;
    if (set_value(p, &p->keys[i], value) != 0) {
        st->bad |= 1u << i;
    }
    return 1;
}

int config_parse(struct config *c,
                 const char *text,
                 size_t len,
                 struct config_problems *probs)
{
    struct config__parser p;
    int rv;

    assert(c != NULL && probs != NULL && (text != NULL || len == 0));
    memset(&p, 0, sizeof(p));
    p.c = c;
    p.probs = probs;
    p.text = text;
    p.len = len;
    c->n_members = 0;
    c->n_regions = 0;
    rv = ini_parse_stream(read_line_cb, &p, key_cb, &p);
    if (rv != 0 && !p.failed) {
        /* Not expected: read_line_cb hands inih only lines it accepts. */
        config__problem(&p, rv > 0 ? rv : 0, "syntax error");
    }
    config__check(&p);
    return p.failed ? DR_EINVAL : DR_OK;
}
