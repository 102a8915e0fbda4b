/* Shared between the HTTP server (http.c), routes and JSON helpers. */
#ifndef DR_API_INTERNAL_H
#define DR_API_INTERNAL_H

#include <h2o.h>

#include "api/api.h"
#include "config/config.h"
#include "http/httpc.h"
#include "json/jsonin.h"
#include "json/jsonout.h"

#define API_INFLIGHT_MAX 20000 /* requests waiting on raft at once */

enum api_route {
    ROUTE_STATUS,
    ROUTE_HEALTH,
    ROUTE_METRICS,
    ROUTE_REGIONS,
    ROUTE_REGION,
    ROUTE_MEMBERS,
    ROUTE_MEMBER,
    ROUTE_LEADER_TRANSFER,
    ROUTE_SETTINGS,
    ROUTE_SETTING,
    ROUTE_SITE,
    ROUTE_SITE_PRIMARY,
    ROUTE_HISTORY,
    ROUTE_BACKUPS,
    ROUTE_BACKUP,
    ROUTE_JOBS,
    ROUTE_JOB,
    ROUTE_BREAKERS,
    ROUTE_BREAKER,
    ROUTE_BREAKER_RESET,
    ROUTE_LLM_ROUTE,
    ROUTE_PROBES,
    ROUTE_DRILLS,
    ROUTE_DRILL,
    ROUTE_REPLICATION,
    ROUTE_FAILOVER,
    ROUTE_UI,
    ROUTE_DNS,
    ROUTE_WAL,
    ROUTE_UNKNOWN,
    ROUTE__COUNT,
};

struct api_call;
typedef void (*api_handler_fn)(struct api_call *c);

/* A token the API accepts: its name and role, and only its digest. */
struct api_token
{
    char name[CONFIG_TOKEN_NAME_MAX];
    int role; /* enum config_role */
    unsigned char digest[32];
};

struct api
{
    uv_loop_t *loop;
    const struct config *cfg;
    struct raftnode *node;
    char token[512]; /* this node's own (token_file): what it sends */
    bool has_token;
    struct api_token tokens[CONFIG_TOKENS_MAX + 1];
    size_t n_tokens;
    bool roles; /* [api] tokens_file: every route but OPEN needs a token */
    h2o_globalconf_t h2o_config;
    h2o_context_t h2o_ctx;
    h2o_accept_ctx_t accept_ctx;
    void *ssl_ctx; /* [tls]: the SSL_CTX new connections use, or NULL */
    /* [tls]: when the cert and ca files expire (Unix s; 0: unknown), as
     * of the last load */
    int64_t cert_not_after, ca_not_after;
    uv_tcp_t listener;
    bool listening;
    uint64_t requests[ROUTE__COUNT];
    uint64_t errors[ROUTE__COUNT];
    uint64_t inflight_calls;
    bool stopping;         /* shutdown began: answer 503, touch nothing */
    struct health *health; /* probes and the leader's view; may be NULL */
    const struct failover *failover; /* may be NULL */
    const struct agent *agent;       /* job worker counters; may be NULL */
    struct httpc fwd;                /* forwards breaker events to the leader */
    bool fwd_ready;
    uint64_t forwarded;            /* requests forwarded to the leader */
    bool member_busy;              /* a membership request is running */
    uint64_t conns;                /* client connections open */
    struct api_conn *conn_list;    /* every one of them, closing or not */
    uint64_t conns_refused;        /* closed at once: max_connections reached */
    uint64_t conns_refused_logged; /* loop time of the last warning */
};

/* One request. Heap-allocated so that raft callbacks can outlive the
 * client: when the client goes away, req becomes NULL and the answer is
 * dropped. */
struct api_call
{
    struct api *api;
    h2o_req_t *req;         /* NULL once the client is gone */
    struct api_call **slot; /* dispose hook in req's pool */
    int route;
    char arg[256]; /* path parameter */
    char sub[32];  /* action after it (/api/jobs/7/claim) */
    bool stale;
    bool retry_safe;        /* a 503 may carry Retry-After: not applied */
    bool holds_member_lock; /* releases api->member_busy when freed */
    struct jin_doc doc;     /* parsed request body */
    const struct jin *body; /* its root, or NULL */
    char actor[96];
    int token; /* index in api->tokens once authenticated, else -1 */
    /* raft requests */
    struct raftnode_req apply;
    struct raftnode_read read;
    struct raftnode_change change;
    api_handler_fn after; /* continuation after a read or apply */
    bool created;         /* answer 201 rather than 200 */
    uint64_t id;
    raft_id prev_leader;
    struct fsm_result result; /* of the last proposal */
};

/* Answers; each finishes the call (frees it). api_reply_jout frees j. */
/* The replicated state as applied on this node (read-only). */
static inline const struct fsm *api_state(const struct api_call *c)
{
    return raftnode_state(c->api->node);
}

void api_reply_jout(struct api_call *c, int status, struct jout *j);
void api_reply_text(struct api_call *c,
                    int status,
                    const char *ctype,
                    const char *body,
                    size_t len);
void api_reply_error(struct api_call *c,
                     int status,
                     const char *code,
                     const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));
/* Map a project error code (and message) to a reply. */
void api_reply_code(struct api_call *c, int code, const char *msg);
/* Redirect to the leader, or 503 when none is known. */
void api_reply_not_leader(struct api_call *c);
/* Reply for a failed raft request (status from raft). */
void api_reply_raft_status(struct api_call *c, int status);

/* Run after a linearizable read barrier (or at once when stale). */
void api_read_then(struct api_call *c, api_handler_fn fn);
/* Check cmd against the state, propose it, and run fn once it applied
 * successfully (c->result holds the FSM's answer). A rejection or a raft
 * failure is answered here. */
void api_propose_then(struct api_call *c,
                      const struct fsm_cmd *cmd,
                      api_handler_fn fn);

/* Routes: each declared once, in a table of its file (routes*.c); the
 * dispatcher (routes.c) derives 404, 405 and Allow from the tables. */
enum api_how {
    API_DIRECT, /* run fn at once (local state, or not raft's at all) */
    API_READ,   /* run fn after a linearizable read (local with ?stale) */
    API_WRITE,  /* check the token, parse the body, then fn */
};
/* Who may call a route. Without [api] tokens_file the one token of
 * token_file is an admin's and READER routes are open (as before roles). */
enum api_role {
    API_ROLE_OPEN,     /* anyone, always */
    API_ROLE_READER,   /* any valid token (GET routes) */
    API_ROLE_OPERATOR, /* operator or admin: backups, drills, resets */
    API_ROLE_NODE,     /* node or admin: reports, job claim/renew/finish */
    API_ROLE_RELAY,    /* operator, node or admin: breaker events */
    API_ROLE_ADMIN,    /* admin: membership, settings, site, failover */
};
#define API_BODY 1u     /* API_WRITE: a JSON object body is parsed */
#define API_EMPTY_OK 2u /* ... and may be empty */
#define API_ANY_ACTION                                \
    4u /* also any other action, or none: the handler \
          answers 404 for those with a hint */

struct api_route_def
{
    const char *method;
    const char *path;   /* exact, or a prefix ending in '/' taking one
                           argument (c->arg) */
    const char *action; /* the one segment after the argument (c->sub), or
                           NULL for none */
    int route;          /* ROUTE_*, for the request metrics */
    int how;            /* enum api_how */
    int role;           /* enum api_role */
    unsigned flags;     /* API_BODY, API_EMPTY_OK */
    api_handler_fn fn;
    /* Checks c->arg before anything else and answers 400 when it returns
     * false; NULL when any argument goes. */
    bool (*arg_ok)(struct api_call *c);
};

struct api_route_table
{
    const struct api_route_def *routes;
    size_t n;
};
#define API_ROUTE_TABLE(t)              \
    {                                   \
        (t), sizeof(t) / sizeof((t)[0]) \
    }

extern const struct api_route_table api_routes_core;    /* routes.c */
extern const struct api_route_table api_routes_catalog; /* routes_catalog.c */
extern const struct api_route_table
    api_routes_replication; /* routes_replication.c */
extern const struct api_route_table api_routes_failover; /* routes_failover.c */

/* One destination region's replication figures (routes_replication.c). */
struct api_repl_stats
{
    bool receives;                        /* some kind is copied there */
    const char *why_not;                  /* when not: why (static) */
    size_t pending, running, jobs_failed; /* replicate jobs in the table */
    size_t verified, copying, failed;     /* copies held there */
    uint64_t bytes, objects, copy_ms;     /* copied in (not taken) there */
    uint64_t failures;                    /* failed copies and checks */
    uint64_t lag_ms[FSM_BACKUP_KINDS], lag_max_ms;
};
void api_replication_stats(const struct fsm *f,
                           const struct fsm_region *r,
                           uint64_t now,
                           struct api_repl_stats *st);
/* Age of the oldest complete backup that is not safe (0: none), and how
 * many there are (*n). */
uint64_t api_oldest_unsafe_ms(const struct fsm *f, uint64_t now, size_t *n);
extern const struct api_route_table api_routes_health; /* routes_health.c */
extern const struct api_route_table api_routes_drills; /* routes_drills.c */
extern const struct api_route_table api_routes_ui;     /* routes_ui.c */

/* Check the tables: no route declared twice, every write needs an operator,
 * node or admin token. 0, or -1 with errmsg (256) naming the route. */
int api_routes_check(char *errmsg);

void api_route(struct api_call *c, const char *method);
/* Authenticate for need (enum api_role), parse the body (when has_body)
 * and run fn. */
void api__write_route(struct api_call *c,
                      api_handler_fn fn,
                      int need,
                      bool has_body,
                      bool allow_empty);
/* Answer 401/403 and return -1 unless the request's token satisfies need
 * (reads need none without [api] tokens_file); names the token in the
 * actor. */
int api__auth(struct api_call *c, int need);
/* Check the body's fields; answers 400 and returns -1 when wrong. */
struct api_field;
int api__check_body(struct api_call *c,
                    const struct api_field *fields,
                    size_t n);
/* Catalog and job routes (routes_catalog.c): false when c->route/method is
 * not one of them (the caller answers 405). */

void api_metrics(struct api_call *c);
/* Health, breakers, LLM route and probe reports (routes_health.c): same
 * contract as api_route_catalog. */

/* Drills (routes_drills.c): same contract. */

/* Whether the request carries the valid token (no reply either way). */
/* A valid token of operator, node or admin (LLM half-open trials). */
bool api__authorized(struct api_call *c);
/* The value of query parameter key (copied into buf, size bytes, cut to
 * fit); false when absent. */
bool api__query_get(struct api_call *c,
                    const char *key,
                    char *buf,
                    size_t size);

/* JSON views of the state (views.c). */
void api_view_region(struct jout *j, struct api *a, const struct fsm_region *r);
void api_view_regions(struct jout *j, struct api *a);
/* false (nothing written) when neither raft nor the FSM knows id. */
bool api_view_member(struct jout *j, struct api *a, uint64_t id);
void api_view_members(struct jout *j, struct api *a);
void api_view_leader(struct jout *j, struct api *a);
void api_view_status(struct jout *j, struct api *a);
/* The coordinator's own fields (node, region, role, leader, term, primary
 * region, epoch) into the current object. */
void api_view_coordinator(struct jout *j, struct api *a);
void api_view_setting(struct jout *j, const struct fsm *f, int i);
void api_view_site(struct jout *j, const struct fsm *f);
void api_view_history(struct jout *j, const struct fsm *f);

/* Strict JSON body checking (json.c). */
enum api_jtype {
    JT_STRING,
    JT_INT,
    JT_BOOL,
    JT_STRING_ARRAY,
    JT_ANY,
};
struct api_field
{
    const char *name;
    int type; /* enum api_jtype */
    bool required;
};
/* Check that obj has only the given fields, each of the right type, and
 * every required one. Fills errmsg (256 bytes) naming the field. */
int api_check_fields(const struct jin *obj,
                     const struct api_field *fields,
                     size_t n,
                     char *errmsg);

#endif
