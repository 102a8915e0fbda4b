/* drnode's INI configuration: loading and validation (no sockets, no raft). */
#ifndef DR_CONFIG_H
#define DR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_PROBLEMS_MAX 64
#define CONFIG_ID_MAX INT64_MAX /* node and member ids are 1..2^63-1 */

enum config_log_level {
    CONFIG_LOG_DEBUG = 0,
    CONFIG_LOG_INFO = 1,
    CONFIG_LOG_WARN = 2,
    CONFIG_LOG_ERROR = 3,
};

/* A member of the initial cluster ([member.ID] sections). */
struct config_member
{
    uint64_t id;
    char region[64];
    char raft_address[256]; /* host:port, IPv4 literal host */
    char api_address[256];  /* host:port */
};

/* A region created at bootstrap ([region.NAME] sections). */
struct config_region
{
    char name[64];
    int32_t priority;
    char dns_targets[16][256];
    size_t n_dns_targets;
    char object_store[256];
};

struct config
{
    /* [node] */
    uint64_t id;
    char region[64];
    char raft_address[256];
    char api_address[256];
    char data_dir[1024];
    int log_level;         /* enum config_log_level */
    char token_file[1024]; /* admin bearer token; "" disables writes */
    bool join;             /* never bootstrap: wait to be added */
    /* [raft] */
    unsigned election_timeout_ms;  /* default 1000 */
    unsigned heartbeat_timeout_ms; /* default 100 */
    unsigned snapshot_threshold;   /* default 16384 */
    unsigned snapshot_trailing;    /* default 2048 */
    /* [api] */
    size_t max_body_bytes;           /* default 1 MiB */
    unsigned api_max_connections;    /* default 1024 */
    unsigned api_request_timeout_ms; /* default 10000 */
    char api_tokens_file[1024];      /* named tokens with roles; "" */
    bool api_open_health;            /* /api/health without a token (true) */
    bool api_open_metrics;           /* /metrics without a token (true) */
    /* [services]: this node's region's data services, which its job
     * workers back up and restore */
    char pg_conninfo[1024]; /* libpq conninfo; "" = none */
    /* A standby replaying the WAL archive (drctl restore --pitr --standby),
     * probed for its replay delay; "" = none */
    char pg_standby_conninfo[1024];
    char redis_address[256]; /* host:port; "" = none */
    char redis_password_file[1024];
    char store_credentials[1024]; /* S3 credentials file; "" = env */
    /* where `drnode wal-push` archives PostgreSQL's WAL and `wal-fetch`
     * reads it; "" = this node's region's object_store in this file */
    char wal_store[256];
    /* Other regions whose object_store also receives every WAL file
     * wal-push archives (acknowledged only once each holds it): "", "all"
     * or region names separated by commas, resolved into wal_copy_regions
     * (every one in a [region.NAME] section with an object_store) */
    char wal_copies[512];
    char wal_copy_regions[16][64];
    size_t n_wal_copies;
    unsigned job_parallel;  /* connections per backup; default 2 */
    int32_t drill_redis_db; /* scratch Redis db of restore drills;
                               -1 (default): none, drills only check
                               the Redis backup's objects */
    /* Scratch directory of restore drills' base backups: a drill unpacks
     * the newest one into DIR/dr_drill_N, replays the WAL archive to its
     * end on a server of its own, checks it and removes it. "" (default):
     * drills check the base backup's objects only. */
    char drill_pgdata[1024];
    /* [probes]: health probes of this node's region (PostgreSQL and Redis
     * come from [services]); an empty URL means that service is not
     * probed. URLs are http:// or https:// base URLs without a query. */
    unsigned probe_interval_ms; /* default 5000 */
    unsigned probe_timeout_ms;  /* default 2000; < interval */
    /* failed rounds in a row before PostgreSQL or Redis is reported down
     * to the leader (default 2; 1: at the first) */
    unsigned probe_down_after;
    char probe_ollama_url[256];          /* GET BASE/api/tags */
    char probe_openai_url[256];          /* GET BASE/models, bearer key */
    char probe_openai_key_file[1024];    /* "" = no Authorization */
    char probe_anthropic_url[256];       /* GET BASE/models, x-api-key */
    char probe_anthropic_key_file[1024]; /* "" = no x-api-key */
    char probe_app_url[256];             /* GET BASE/api/health */
    /* [hooks]: commands run by /bin/sh -c, "" = none. fence: when this node
     * has heard from no leader for fence.timeout_ms (DR_EPOCH, DR_REGION,
     * DR_REASON in its environment); activate: in the new primary region
     * once the failover runbook restored and verified its data; unfence:
     * when a node that fenced itself for lack of a leader hears one again
     * and its region is still the primary in the same epoch. */
    char hook_fence[1024];
    char hook_activate[1024];
    char hook_unfence[1024];
    /* [dns]: the failover runbook's DNS provider, used by the leader. */
    char dns_api_key_file[1024]; /* PowerDNS X-API-Key (0600); "" = none */
    /* RFC 2136: "[hmac-sha256:]NAME:BASE64SECRET" (0600); "" = none */
    char dns_tsig_key_file[1024];
    /* Route 53: access_key_id / secret_access_key lines (0600); "" = the
     * environment's AWS_ACCESS_KEY_ID ... */
    char dns_aws_credentials_file[1024];
    /* [tls]: PEM files (absolute paths). With cert and key the API serves
     * HTTPS only, and this node's calls to other members verify them
     * against ca and present cert; with client_ca every API client must
     * present a certificate that client_ca signed. All "" = plain HTTP. */
    char tls_cert[1024];
    char tls_key[1024]; /* private: readable by its owner only */
    char tls_ca[1024];
    char tls_client_ca[1024];
    /* [jobs]: where backup, restore and copy jobs run. cgroup: "auto"
     * (default: when drnode's own cgroup is a cgroup v2 directory it may
     * write, as systemd's Delegate= gives, it moves itself into DIR/daemon
     * and its jobs into DIR/jobs), "off", or the absolute path of such a
     * directory (it must work). memory_high and memory_max: DIR/jobs'
     * memory.high and memory.max ("max", N% of DIR's own limit or of the
     * machine's memory, or bytes: 512M, 2G). */
    char jobs_cgroup[1024];
    char jobs_memory_high[32]; /* default "60%" */
    char jobs_memory_max[32];  /* default "75%" */
    /* [bootstrap] */
    char primary_region[64]; /* default: region of the lowest member id */
    struct config_member members[64]; /* in file order */
    size_t n_members;
    /* [region.*] sections in file order, then the regions that members name
     * without a section (priority 0, no DNS targets, no object store). */
    struct config_region regions[64];
    size_t n_regions;
};

/* One problem found in a config file. line is 0 when the problem is not tied
 * to one line (a missing key, an inconsistency between sections). */
struct config_problem
{
    int line;
    char msg[256];
};

struct config_problems
{
    struct config_problem items[CONFIG_PROBLEMS_MAX];
    size_t n;
};

/* "https" when [tls] cert is set, else "http": the scheme of every
 * member's API address in this cluster. */
const char *config_api_scheme(const struct config *c);
/* The object_store of region in this file, or NULL (no such region, or
 * none set). */
const char *config_region_store(const struct config *c, const char *region);

/* Fill c with defaults. */
void config_defaults(struct config *c);

/* Parse INI text (len bytes, need not be NUL-terminated) into c, which must
 * hold defaults; then validate the result. Every problem is appended to
 * probs, whose n the caller sets (zero it first). When more problems are
 * found than fit, the last item says so. text is borrowed for the call.
 * Returns 0 when there is none, DR_EINVAL otherwise; then c holds whatever
 * could be parsed and must not be used. Pure: no I/O, no global state. */
int config_parse(struct config *c,
                 const char *text,
                 size_t len,
                 struct config_problems *probs);

/* Fill c with defaults, then read and parse the file at path (blocking
 * I/O: a start-up step). A file that cannot be read is one problem naming
 * the path and the reason. Same return values and probs contract as
 * config_parse. */
int config_load(struct config *c,
                const char *path,
                struct config_problems *probs);

/* Print each problem as "PATH:LINE: message", or "PATH: message" when its
 * line is 0, one per line. path is used only for the prefix. */
void config_print_problems(FILE *out,
                           const char *path,
                           const struct config_problems *p);

/* Read the admin token from the file at path (c->token_file) into buf
 * (size bytes, NUL-terminated), trimmed of trailing whitespace. Returns 0,
 * DR_EIO when the file cannot be opened or read, or DR_EINVAL when it is not
 * a regular file, is readable or writable by group or others, is empty, holds
 * a space or control character inside the token, or the token does not fit
 * in size-1 bytes. errmsg (256 bytes) names the file and the reason. On
 * failure buf is unchanged. */
int config_read_token(const char *path, char *buf, size_t size, char *errmsg);

/* Read a secret (an API key, a password) from the file at path, with the
 * rules of config_read_token; what names the file in errmsg ("openai_key_file",
 * "token file") and noun the secret ("key", "token"). allow_spaces lets the
 * secret hold spaces (never control characters). The secret never appears in
 * errmsg. Same return values as config_read_token. */
int config_read_secret(const char *what,
                       const char *noun,
                       bool allow_spaces,
                       const char *path,
                       char *buf,
                       size_t size,
                       char *errmsg);

/* [api] tokens_file: named tokens, each with a role. */
enum config_role {
    CONFIG_ROLE_READER = 1, /* GET routes */
    CONFIG_ROLE_OPERATOR,   /* + backups, drills, breaker events and resets */
    CONFIG_ROLE_NODE,       /* + reports, job claim/renew/finish, relays */
    CONFIG_ROLE_ADMIN,      /* everything */
};
#define CONFIG_TOKENS_MAX 64
#define CONFIG_TOKEN_NAME_MAX 33
#define CONFIG_TOKEN_MIN 16
#define CONFIG_TOKEN_MAX 128
struct config_token
{
    char name[CONFIG_TOKEN_NAME_MAX];
    int role; /* enum config_role */
    char token[CONFIG_TOKEN_MAX + 1];
    int line;
};

/* Read path: "NAME ROLE TOKEN" lines ('#' comments), private like a token
 * file. Names and tokens are unique; at least one entry. Returns 0, or
 * DR_EIO / DR_EINVAL with errmsg naming the file, the line and the reason
 * (never a token). On failure nothing is left in out. */
int config_read_tokens(const char *path,
                       struct config_token *out,
                       size_t max,
                       size_t *n,
                       char *errmsg);
const char *config_role_name(int role);

/* "debug", "info", "warn" or "error"; "unknown" for anything else. */
const char *config_log_level_name(int level);

#endif /* DR_CONFIG_H */
