/* The failover controller (failover.h).
 *
 * Why the fence wait is safe (the Patroni-style lease): a coordinator that
 * stops hearing from a leader runs its fence hook after fence.timeout_ms of
 * its own monotonic clock. The leader last heard from the old primary's
 * nodes at L (its wall clock); they cannot have heard from a leader after
 * L + the leader's heartbeat spread, so by L + fence.timeout_ms + margin
 * they have fenced, as long as clocks run at about the same rate (the
 * margin covers rate drift over the window, the election timeout and the
 * hook's start, not a clock that jumps: only durations are compared on the
 * node's side). DNS is published only after the restore, which only starts
 * after that deadline. */
#include "control/failover.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "aws/creds.h"
#include "fsm/fsm.h"
#include "log/log.h"

#define FO_TICK_MS 200
#define FO_DRIFT_MARGIN_MS 2000
#define FO_DNS_BACKOFF_MS 2000
#define FO_NOTIFY_TIMEOUT_MS 5000
#define FO_NOTIFY_TRIES 5
#define FO_NOTIFY_BACKOFF_MS 500
#define FO_FENCE_RETRY_MS 5000

/* Fencing: the hooks (fence, unfence), one at a time on this node. */

static void part_closed(struct failover *f);

static void hook_closed_cb(uv_handle_t *h)
{
    struct failover *f = h->data;
    f->hook_running = false;
    part_closed(f);
}

static void hook_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    struct failover *f = p->data;
    log_warn("%s hook exited with status %" PRId64 "%s", f->hook_kind, status,
             sig != 0 ? " (signal)" : "");
    /* A runbook's fence that succeeded: confirmed with the next report.
     * One that failed runs again a little later: a switchover waits for
     * it, and an operator may fix the hook and resume. */
    if (f->hook_fence_epoch != 0 && status == 0 && sig == 0 &&
        f->health != NULL && f->hook_fence_epoch > f->health->fenced_epoch) {
        f->health->fenced_epoch = f->hook_fence_epoch;
        health_report_soon(f->health);
    } else if (f->hook_fence_epoch != 0 && (status != 0 || sig != 0) &&
               f->fenced_epoch == f->hook_fence_epoch) {
        f->fenced_epoch = f->hook_fence_epoch - 1;
        f->fence_retry_at = uv_now(f->loop) + FO_FENCE_RETRY_MS;
    }
    if (!uv_is_closing((uv_handle_t *)p)) {
        uv_close((uv_handle_t *)p, hook_closed_cb);
    }
}

/* Run [hooks] kind (cmd) with the epoch and why in its environment.
 * Returns false when another hook still runs (try again later). */
static bool run_hook(struct failover *f,
                     const char *kind,
                     const char *cmd,
                     uint64_t epoch,
                     const char *why)
{
    char env_epoch[64], env_region[128], env_reason[600];
    char *env[] = {env_epoch, env_region, env_reason,
                   (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                           "/usr/bin:/sbin:/bin",
                   NULL};
    char *args[] = {(char *)"/bin/sh", (char *)"-c", (char *)cmd, NULL};
    uv_process_options_t opts;
    int rv;

    if (cmd[0] == '\0') {
        log_warn("would %s this node (%s), but [hooks] %s is not set", kind,
                 why, kind);
        return true;
    }
    if (f->hook_running) {
        return false;
    }
    snprintf(env_epoch, sizeof(env_epoch), "DR_EPOCH=%" PRIu64, epoch);
    snprintf(env_region, sizeof(env_region), "DR_REGION=%s", f->cfg->region);
    snprintf(env_reason, sizeof(env_reason), "DR_REASON=%.500s", why);
    memset(&opts, 0, sizeof(opts));
    opts.file = "/bin/sh";
    opts.args = args;
    opts.env = env;
    opts.exit_cb = hook_exit_cb;
    f->hook.data = f;
    f->hook_kind = kind;
    f->hook_fence_epoch = 0;
    rv = uv_spawn(f->loop, &f->hook, &opts);
    f->hook_running = true;
    f->open++;
    if (rv != 0) {
        log_error("%s hook could not start: %s", kind, uv_strerror(rv));
        uv_close((uv_handle_t *)&f->hook, hook_closed_cb);
        return true;
    }
    log_warn("%sing this node (epoch %" PRIu64 "): %s", kind, epoch, why);
    return true;
}

static void fence_step(struct failover *f)
{
    const struct fsm *st = raftnode_state(f->node);
    uint64_t now = uv_now(f->loop);
    int64_t timeout =
        st->initialized ? fsm_setting_int(st, "fence.timeout_ms") : 0;
    const struct fsm_runbook *rb = &st->site.runbook;

    if (raftnode_leader(f->node) != 0) {
        f->last_leader_ms = now;
        if (f->self_fenced && st->initialized) {
            /* Contact is back. Still the primary in the epoch it fenced
             * in, nothing moving it away: the loss was transient, so the
             * region serves again. Otherwise it stays fenced: the runbook
             * or an operator decides. */
            bool still_primary =
                st->site.primary_region != NULL &&
                strcmp(st->site.primary_region, f->cfg->region) == 0 &&
                st->site.epoch == f->self_fence_epoch &&
                !fsm_runbook_active(st);
            char why[200];
            snprintf(why, sizeof(why),
                     "a leader is heard again and %s is still the primary in "
                     "epoch %" PRIu64,
                     f->cfg->region, st->site.epoch);
            if (!still_primary || run_hook(f, "unfence", f->cfg->hook_unfence,
                                           st->site.epoch, why)) {
                f->self_fenced = false;
            }
        }
    } else if (timeout > 0 && !f->self_fenced &&
               now - f->last_leader_ms >= (uint64_t)timeout) {
        char why[160];
        snprintf(why, sizeof(why), "no leader heard from for %" PRIu64 " ms",
                 now - f->last_leader_ms);
        if (run_hook(f, "fence", f->cfg->hook_fence, st->site.epoch, why)) {
            f->self_fenced = true;
            f->self_fence_epoch = st->site.epoch;
        }
    }
    /* The runbook moved the primary away from this region: fence, once. */
    if (rb->id != 0 && rb->epoch > f->fenced_epoch && rb->from_region != NULL &&
        strcmp(rb->from_region, f->cfg->region) == 0 &&
        rb->step != FSM_RB_ABORTED && now >= f->fence_retry_at) {
        char why[200];
        snprintf(why, sizeof(why), "the primary moved to %s in epoch %" PRIu64,
                 rb->to_region, rb->epoch);
        if (run_hook(f, "fence", f->cfg->hook_fence, rb->epoch, why)) {
            f->fenced_epoch = rb->epoch;
            if (f->hook_running) {
                f->hook_fence_epoch = rb->epoch;
            }
        }
    }
}

/* Leader: proposals. */

struct fo_req
{
    struct raftnode_req req;
    struct failover *f;
};

static void applied_cb(struct raftnode_req *r,
                       int status,
                       const struct fsm_result *res)
{
    struct fo_req *q = r->data;
    q->f->inflight = false;
    if (status == 0 && res != NULL && res->code != DR_OK) {
        log_debug("failover: proposal refused: %s", res->msg);
    }
    free(q);
}

static void propose(struct failover *f, const struct fsm_cmd *cmd)
{
    struct fo_req *q = malloc(sizeof(*q));

    if (q == NULL) {
        return;
    }
    q->f = f;
    q->req.data = q;
    if (raftnode_propose(f->node, &q->req, cmd, applied_cb) != DR_OK) {
        free(q);
        return;
    }
    f->inflight = true;
}

static void step_cmd(struct failover *f,
                     uint64_t epoch,
                     int from,
                     int to,
                     const char *error)
{
    struct fsm_cmd cmd;

    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_RUNBOOK_STEP;
    cmd.actor = "failover";
    cmd.u.runbook.epoch = epoch;
    cmd.u.runbook.from = from;
    cmd.u.runbook.to = to;
    cmd.u.runbook.error = error;
    propose(f, &cmd);
}

uint64_t failover_fence_deadline(struct raftnode *node,
                                 const char *region,
                                 uint64_t now_ms,
                                 uint64_t *last_heard_ms)
{
    const struct fsm *st = raftnode_state(node);
    uint64_t last = 0;
    int64_t timeout = fsm_setting_int(st, "fence.timeout_ms");

    for (size_t i = 0; i < st->n_members; i++) {
        const struct fsm_member *m = &st->members[i];
        int64_t ago;
        if (strcmp(m->region, region) != 0) {
            continue;
        }
        ago = raftnode_silence_ms(node, m->id);
        if (ago >= 0 && now_ms - (uint64_t)ago > last) {
            last = now_ms - (uint64_t)ago;
        }
    }
    if (last_heard_ms != NULL) {
        *last_heard_ms = last != 0 ? last : now_ms;
    }
    if (last == 0) {
        return now_ms;
    }
    return last + (uint64_t)timeout + FO_DRIFT_MARGIN_MS;
}

/* Start the runbook away from primary on the leader's own verdict (lost,
 * or degraded with failover.on_degraded = failover), if the layout, the
 * mode and a target allow it; otherwise say why, at most every 30 s. */
/* Whether two verdicts say the same, their numbers (how long, which
 * node) aside. */
static bool same_verdict(const char *a, const char *b)
{
    for (;;) {
        while (*a >= '0' && *a <= '9') {
            a++;
        }
        while (*b >= '0' && *b <= '9') {
            b++;
        }
        if (*a != *b) {
            return false;
        }
        if (*a == '\0') {
            return true;
        }
        a++;
        b++;
    }
}

/* Whether a detection verdict is to be logged now: at most every 30 s
 * while it stays the same, but at once (at most once a second) when it
 * changes, so a new verdict is never hidden behind the last one's pause. */
static bool detect_log_due(struct failover *f, uint64_t now, const char *what)
{
    const char *w = what != NULL ? what : "";
    bool same = same_verdict(w, f->detect_logged_what);

    if (now - f->detect_logged_ms <= 30000 &&
        (same || now - f->detect_logged_ms < 1000)) {
        return false;
    }
    f->detect_logged_ms = now;
    snprintf(f->detect_logged_what, sizeof(f->detect_logged_what), "%s", w);
    return true;
}

static void auto_failover(struct failover *f,
                          uint64_t now,
                          const char *primary,
                          const char *what,
                          const char *reason)
{
    const struct fsm *st = raftnode_state(f->node);
    char why[300];
    const char *no_target = NULL;
    struct fsm_cmd cmd;
    uint64_t last = 0;

    if (!fsm_layout_survives_region_loss(st, why, sizeof(why))) {
        if (detect_log_due(f, now, why)) {
            log_error("region %s %s; automatic failover is off: %s", primary,
                      what, why);
        }
        return;
    }
    if (!fsm_failover_automatic(st)) {
        if (detect_log_due(f, now, "manual")) {
            log_error("%s; failover.mode is manual: run drctl failover",
                      reason);
        }
        return;
    }
    if (fsm_failover_target(st, false, &no_target) == NULL) {
        if (detect_log_due(f, now, no_target)) {
            log_error("region %s %s, and no region can take over: %s", primary,
                      what, no_target);
        }
        return;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_FAILOVER_START;
    cmd.actor = "failover";
    cmd.u.failover.reason = reason;
    cmd.u.failover.fence_deadline_ms =
        failover_fence_deadline(f->node, primary, raftnode_wall_ms(), &last);
    cmd.u.failover.loss_ms = last;
    log_error("%s: failing over", reason);
    propose(f, &cmd);
}

/* Its coordinators answer, but its PostgreSQL or Redis has been down for
 * the window: degraded. Fail over only when failover.on_degraded says so;
 * otherwise the probes' alerts speak. */
static void detect_degraded(struct failover *f,
                            uint64_t now,
                            const char *primary,
                            int64_t window)
{
    const struct fsm *st = raftnode_state(f->node);
    const struct fsm_region *r = fsm_region_get(st, primary);
    const struct fsm_value *mode = fsm_setting(st, "failover.on_degraded");
    uint64_t wall = raftnode_wall_ms();
    char reason[300];

    if (r == NULL || mode == NULL || mode->s == NULL ||
        strcmp(mode->s, "failover") != 0 ||
        (r->health[FSM_SVC_DATABASE] != FSM_SVC_DOWN &&
         r->health[FSM_SVC_REDIS] != FSM_SVC_DOWN) ||
        r->health_ms == 0 || wall < r->health_ms ||
        wall - r->health_ms < (uint64_t)window) {
        return;
    }
    snprintf(reason, sizeof(reason),
             "region %s degraded: %s%s%s down for %" PRIu64
             " ms (failover.on_degraded)",
             primary,
             r->health[FSM_SVC_DATABASE] == FSM_SVC_DOWN ? "PostgreSQL" : "",
             r->health[FSM_SVC_DATABASE] == FSM_SVC_DOWN &&
                     r->health[FSM_SVC_REDIS] == FSM_SVC_DOWN
                 ? " and "
                 : "",
             r->health[FSM_SVC_REDIS] == FSM_SVC_DOWN ? "Redis" : "",
             wall - r->health_ms);
    auto_failover(f, now, primary, "degraded", reason);
}

/* Log lost_why, at most every 30 s. */
static void say_no_failover(struct failover *f,
                            uint64_t now,
                            const char *primary,
                            int64_t silence)
{
    if (detect_log_due(f, now, f->lost_why)) {
        log_error("region %s: no coordinator heard from for %" PRId64
                  " ms; not failing over: %s",
                  primary, silence, f->lost_why);
    }
}

/* Automatic failover: the primary region is lost when none of its
 * coordinators was heard from for failover.detection_window_ms. */
static void detect(struct failover *f, uint64_t now)
{
    const struct fsm *st = raftnode_state(f->node);
    const char *primary = st->site.primary_region;
    int64_t window = fsm_setting_int(st, "failover.detection_window_ms");
    int64_t newest = -1; /* ms since its freshest coordinator was heard */
    size_t n = 0;
    char reason[600];

    f->primary_lost = false;
    if (primary == NULL || st->site.state != FSM_SITE_ACTIVE ||
        fsm_runbook_active(st)) {
        return;
    }
    for (size_t i = 0; i < st->n_members; i++) {
        const struct fsm_member *m = &st->members[i];
        int64_t ago;
        if (strcmp(m->region, primary) != 0) {
            continue;
        }
        if (m->id == f->cfg->id) {
            /* The leader is in the primary region: it lives. */
            detect_degraded(f, now, primary, window);
            return;
        }
        ago = raftnode_silence_ms(f->node, m->id);
        if (ago < 0) {
            return;
        }
        if (newest < 0 || ago < newest) {
            newest = ago;
        }
        n++;
    }
    if (n == 0) {
        return;
    }
    if (newest < window) {
        detect_degraded(f, now, primary, window);
        return;
    }
    f->primary_lost = true;
    f->lost_silence_ms = (uint64_t)newest;
    snprintf(f->lost_region, sizeof(f->lost_region), "%s", primary);
    /* Silent coordinators may be dead coordinators in a data center that
     * still serves: failing over then would make two primaries. The other
     * regions must find its public endpoints unreachable too. */
    {
        const struct fsm_region *r = fsm_region_get(st, primary);
        char evidence[200];
        int down;
        if (r == NULL || r->n_endpoints == 0) {
            snprintf(f->lost_why, sizeof(f->lost_why),
                     "region %s has no endpoints to cross-check (drctl "
                     "regions update %s --endpoints ...): its silent "
                     "coordinators alone do not prove the data center is "
                     "gone",
                     primary, primary);
            say_no_failover(f, now, primary, newest);
            return;
        }
        down = f->health != NULL
                   ? health_endpoints_down(f->health, primary, (uint64_t)window,
                                           evidence, sizeof(evidence))
                   : -1;
        if (f->health == NULL) {
            snprintf(evidence, sizeof(evidence), "this node runs no prober");
        }
        if (down != 1) {
            snprintf(f->lost_why, sizeof(f->lost_why),
                     "its coordinators are silent, but %s", evidence);
            say_no_failover(f, now, primary, newest);
            return;
        }
        f->lost_why[0] = '\0';
        snprintf(reason, sizeof(reason),
                 "region %s lost: none of its %zu coordinators heard from for "
                 "%" PRId64 " ms, and %s",
                 primary, n, newest, evidence);
    }
    auto_failover(f, now, primary, "lost", reason);
}

/* The DNS step. */

static void split_list(const char *s,
                       char (*out)[256],
                       size_t max,
                       size_t *n,
                       size_t width)
{
    *n = 0;
    while (s != NULL && *s != '\0' && *n < max) {
        size_t l = strcspn(s, ",");
        if (l > 0 && l < width) {
            memcpy(out[*n], s, l);
            out[*n][l] = '\0';
            (*n)++;
        }
        s += l;
        if (*s == ',') {
            s++;
        }
    }
}

static void dns_done_cb(struct dns_publish *p, const char *err)
{
    struct failover *f = p->data;
    const struct fsm *st = raftnode_state(f->node);
    const struct fsm_runbook *rb = &st->site.runbook;
    uint32_t max = (uint32_t)fsm_setting_int(st, "jobs.max_attempts");

    f->dns_busy = false;
    f->dns_live = false;
    if (f->stopping) {
        return;
    }
    if (err == NULL) {
        log_info("failover: DNS %s confirmed in %" PRIu64 " ms", p->name,
                 p->elapsed_ms);
        if (raftnode_is_leader(f->node) && rb->epoch == f->dns_epoch &&
            rb->step == FSM_RB_DNS) {
            step_cmd(f, rb->epoch, FSM_RB_DNS, FSM_RB_NOTIFY, NULL);
        }
        return;
    }
    f->dns_attempts++;
    log_warn("failover: DNS attempt %u: %s", (unsigned)f->dns_attempts, err);
    if (f->dns_attempts >= max && raftnode_is_leader(f->node) &&
        rb->epoch == f->dns_epoch && rb->step == FSM_RB_DNS) {
        char why[300];
        snprintf(why, sizeof(why), "dns: %.250s", err);
        step_cmd(f, rb->epoch, FSM_RB_DNS, FSM_RB_BLOCKED, why);
        f->dns_attempts = 0;
        return;
    }
    f->dns_retry_at = uv_now(f->loop) + FO_DNS_BACKOFF_MS * f->dns_attempts;
}

/* p for publishing region's dns_targets under name, from the settings. */
static void fill_publish(struct failover *f,
                         const struct fsm *st,
                         struct dns_publish *p,
                         const char *name,
                         const char *region,
                         const char *txt)
{
    const struct fsm_region *to = fsm_region_get(st, region);
    char list[DNS_SERVERS_MAX][256];
    size_t n;

    memset(p, 0, sizeof(*p));
    p->data = f;
    p->provider = strcmp(fsm_setting(st, "dns.provider")->s, "rfc2136") == 0
                      ? DNS_PROVIDER_RFC2136
                  : strcmp(fsm_setting(st, "dns.provider")->s, "route53") == 0
                      ? DNS_PROVIDER_ROUTE53
                      : DNS_PROVIDER_PDNS;
    snprintf(p->zone_id, sizeof(p->zone_id), "%.63s",
             fsm_setting(st, "dns.zone_id")->s);
    if (f->has_aws) {
        p->aws = f->aws; /* wiped when the update ends */
    }
    snprintf(p->update_server, sizeof(p->update_server), "%.63s",
             fsm_setting(st, "dns.update_server")->s);
    p->tsig = f->tsig; /* dns_publish wipes its copy when the update ends */
    snprintf(p->api_url, sizeof(p->api_url), "%s",
             fsm_setting(st, "dns.api_url")->s);
    snprintf(p->server_id, sizeof(p->server_id), "%s",
             fsm_setting(st, "dns.server_id")->s);
    snprintf(p->zone, sizeof(p->zone), "%s", fsm_setting(st, "dns.zone")->s);
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->ttl = (unsigned)fsm_setting_int(st, "dns.ttl");
    for (size_t i = 0;
         to != NULL && i < to->n_dns_targets && p->n_targets < DNS_TARGETS_MAX;
         i++) {
        snprintf(p->targets[p->n_targets++], sizeof(p->targets[0]), "%s",
                 to->dns_targets[i]);
    }
    snprintf(p->txt, sizeof(p->txt), "%s", txt);
    split_list(fsm_setting(st, "dns.servers")->s, list, DNS_SERVERS_MAX, &n,
               sizeof(p->servers[0]));
    for (size_t i = 0; i < n; i++) {
        snprintf(p->servers[i], sizeof(p->servers[i]), "%.63s", list[i]);
    }
    p->n_servers = n;
    p->timeout_ms = 20000;
    /* dns_publish wipes its copy when the update ends. */
    snprintf(p->api_key, sizeof(p->api_key), "%s", f->dns_api_key);
}

/* Route 53 with neither a credentials file nor AWS_* keys: the instance
 * role's credentials, fetched on the loop before the publish that needs
 * them and again five minutes before they expire. false: wait (a fetch
 * runs); a failed fetch lets the publish go on once and fail with its own
 * message (the fetch's reason is logged), then it is tried again. */
#define FO_ROLE_MARGIN_MS (5 * 60 * 1000)
#define FO_ROLE_RETRY_MS 5000

static void role_cb(struct awsrole *a, const char *err)
{
    struct failover *f = a->data;

    if (f->stopping) {
        s3_creds_clear(&a->creds);
        return;
    }
    if (err != NULL) {
        log_warn("failover: no AWS credentials for Route 53: %s", err);
        f->role_failed_at = uv_now(f->loop);
        return;
    }
    s3_creds_clear(&f->aws);
    f->aws = a->creds;
    s3_creds_clear(&a->creds);
    f->has_aws = true;
    f->role_failed_at = 0;
    log_info("failover: Route 53 credentials from the instance role");
}

static bool role_creds_ready(struct failover *f, const struct fsm *st)
{
    uint64_t now = uv_now(f->loop);

    if (strcmp(fsm_setting(st, "dns.provider")->s, "route53") != 0 ||
        f->cfg->dns_aws_credentials_file[0] != '\0' || aws_imds_disabled()) {
        return true;
    }
    if (f->has_aws &&
        (!f->aws.from_imds ||
         f->aws.expires_ms > raftnode_wall_ms() + FO_ROLE_MARGIN_MS)) {
        return true;
    }
    if (f->role_failed_at != 0 && now - f->role_failed_at < FO_ROLE_RETRY_MS) {
        return true;
    }
    if (!f->role.busy) {
        f->role.data = f;
        if (awsrole_fetch(&f->role, &f->http, role_cb) != 0) {
            f->role_failed_at = now;
            return true;
        }
    }
    return false;
}

/* A failover drill's practice DNS (the leader's): publish the drill
 * region's targets under failover.practice_name, confirm the answer, then
 * remove the records and confirm they are gone; DRILL_DNS_DONE reports it.
 * A new leader does it again from the start (both halves are idempotent).
 * Never the live name: the FSM refused such a practice name. */
static void drill_report(struct failover *f, bool ok, const char *error)
{
    struct fsm_cmd cmd;

    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_DRILL_DNS_DONE;
    cmd.actor = "failover";
    cmd.u.drill_dns.drill_id = f->drill_id;
    cmd.u.drill_dns.ok = ok;
    cmd.u.drill_dns.error = error;
    cmd.u.drill_dns.confirmed_ms = f->drill_confirmed_ms;
    propose(f, &cmd);
}

static void drill_dns_cb(struct dns_publish *p, const char *err)
{
    struct failover *f = p->data;
    const struct fsm *st = raftnode_state(f->node);
    uint32_t max = (uint32_t)fsm_setting_int(st, "jobs.max_attempts");

    f->drill_live = false;
    if (f->stopping) {
        return;
    }
    if (err == NULL && f->drill_phase == 1) {
        f->drill_confirmed_ms = raftnode_wall_ms();
        log_info("failover drill %" PRIu64
                 ": %s answered with the "
                 "practice targets in %" PRIu64 " ms; removing it",
                 f->drill_id, p->name, p->elapsed_ms);
        f->drill_phase = 2;
        f->drill_retry_at = 0;
        return;
    }
    if (err == NULL) {
        f->drill_phase = 3; /* reported from the next step */
        return;
    }
    f->drill_attempts++;
    log_warn("failover drill %" PRIu64 ": practice DNS attempt %u: %s",
             f->drill_id, (unsigned)f->drill_attempts, err);
    if (f->drill_attempts >= max) {
        /* Give up, but still try to take the name away. */
        snprintf(f->drill_error, sizeof(f->drill_error), "practice dns: %.250s",
                 err);
        if (f->drill_phase == 1) {
            f->drill_phase = 2;
            f->drill_attempts = 0;
        } else {
            f->drill_phase = 3;
            return;
        }
    }
    f->drill_retry_at = uv_now(f->loop) + FO_DNS_BACKOFF_MS;
}

static void drill_dns_step(struct failover *f, const struct fsm *st)
{
    const struct fsm_drill *d = fsm_drill_dns_pending(st);
    char txt[200];

    if (d == NULL || f->drill_live || uv_now(f->loop) < f->drill_retry_at ||
        !role_creds_ready(f, st)) {
        return;
    }
    if (d->id == f->drill_id && f->drill_phase == 3) {
        f->drill_phase = 0;
        drill_report(f, f->drill_error[0] == '\0', f->drill_error);
        return;
    }
    if (d->id != f->drill_id || f->drill_phase == 0) {
        f->drill_id = d->id;
        f->drill_phase = 1;
        f->drill_attempts = 0;
        f->drill_confirmed_ms = 0;
        f->drill_error[0] = '\0';
    }
    snprintf(txt, sizeof(txt), "dr-drill=%" PRIu64 " region=%s", d->id,
             d->region);
    fill_publish(f, st, &f->drill_dns,
                 fsm_setting(st, "failover.practice_name")->s, d->region, txt);
    f->drill_dns.remove = f->drill_phase == 2;
    if (dns_publish_start(&f->drill_dns, f->loop, &f->http, drill_dns_cb) !=
        0) {
        drill_dns_cb(&f->drill_dns, f->drill_dns.error);
        return;
    }
    f->drill_live = true;
}

/* With its own term's barrier done (this leader still leads), publish. */
static void barrier_cb(struct raftnode_read *r, int status)
{
    struct failover *f = r->data;
    const struct fsm *st = raftnode_state(f->node);
    const struct fsm_runbook *rb = &st->site.runbook;
    struct dns_publish *p = &f->dns;
    char txt[200];

    if (status != 0 || f->stopping || rb->epoch != f->barrier_epoch ||
        rb->step != FSM_RB_DNS) {
        f->dns_busy = false;
        return;
    }
    snprintf(txt, sizeof(txt), "dr-epoch=%" PRIu64 " primary=%s", rb->epoch,
             rb->to_region);
    fill_publish(f, st, p, fsm_setting(st, "dns.name")->s, rb->to_region, txt);
    f->dns_epoch = rb->epoch;
    if (dns_publish_start(p, f->loop, &f->http, dns_done_cb) != 0) {
        dns_done_cb(p, p->error);
        return;
    }
    f->dns_live = true;
}

static void dns_step(struct failover *f, const struct fsm_runbook *rb)
{
    const struct fsm *st = raftnode_state(f->node);

    if (f->dns_busy || uv_now(f->loop) < f->dns_retry_at) {
        return;
    }
    if (!fsm_dns_configured(st)) {
        /* No DNS configured: nothing to publish (said in the history). */
        step_cmd(f, rb->epoch, FSM_RB_DNS, FSM_RB_NOTIFY, NULL);
        return;
    }
    if (!role_creds_ready(f, st)) {
        return;
    }
    if (f->dns_epoch != rb->epoch) {
        f->dns_attempts = 0;
    }
    f->dns_busy = true;
    f->barrier.data = f;
    f->barrier_epoch = rb->epoch;
    if (raftnode_read(f->node, &f->barrier, barrier_cb) != 0) {
        f->dns_busy = false;
    }
}

/* The notify step: every webhook gets the event until it answers 2xx, at
 * most FO_NOTIFY_TRIES times with back-off; then the runbook completes. A
 * failing webhook delays completion by those tries and never blocks it.
 * A new leader sends again (at least once: the event's "id" is the same). */
static void notify_cb(struct httpc_req *r,
                      long status,
                      const char *body,
                      size_t len,
                      const char *err)
{
    struct failover_notify *n = r->data;
    struct failover *f = n->f;
    (void)body;
    (void)len;
    n->busy = false;
    if (status >= 200 && status <= 299) {
        n->done = true;
        f->webhooks_delivered++;
        return;
    }
    if (n->tries >= FO_NOTIFY_TRIES) {
        n->done = true;
        f->webhooks_failed++;
        log_warn("failover: webhook %u gave up after %u tries: %ld%s%s",
                 (unsigned)(n - f->notify), (unsigned)n->tries, status,
                 err ? ": " : "", err ? err : "");
        return;
    }
    n->retry_at =
        uv_now(f->loop) + FO_NOTIFY_BACKOFF_MS * (1u << (n->tries - 1));
    log_warn("failover: webhook %u answered %ld%s%s; trying again",
             (unsigned)(n - f->notify), status, err ? ": " : "",
             err ? err : "");
}

static void notify_step(struct failover *f, const struct fsm_runbook *rb)
{
    const struct fsm *st = raftnode_state(f->node);
    char urls[FAILOVER_NOTIFY_MAX][256], event[2048];
    size_t n = 0;
    bool all_done = true;
    uint64_t now = uv_now(f->loop);

    split_list(fsm_setting(st, "failover.notify_urls")->s, urls,
               FAILOVER_NOTIFY_MAX, &n, sizeof(urls[0]));
    if (f->notify_epoch != rb->epoch) {
        for (size_t i = 0; i < FAILOVER_NOTIFY_MAX; i++) {
            if (!f->notify[i].busy) {
                f->notify[i].done = false;
                f->notify[i].tries = 0;
                f->notify[i].retry_at = 0;
            }
        }
        f->notify_epoch = rb->epoch;
    }
    for (size_t i = 0; i < n; i++) {
        struct failover_notify *w = &f->notify[i];
        if (w->done) {
            continue;
        }
        all_done = false;
        if (w->busy || now < w->retry_at) {
            continue;
        }
        snprintf(event, sizeof(event),
                 "{\"event\":\"failover\",\"id\":\"failover-%" PRIu64
                 "\",\"attempt\":%u,\"epoch\":%" PRIu64
                 ",\"from_region\":\"%s\",\"to_region\":\"%s\","
                 "\"pg_backup\":\"%s\",\"redis_backup\":\"%s\","
                 "\"loss_ms\":%" PRIu64 ",\"restore_point_ms\":%" PRIu64 "}",
                 rb->epoch, (unsigned)w->tries + 1, rb->epoch, rb->from_region,
                 rb->to_region, rb->pg_backup, rb->redis_backup, rb->loss_ms,
                 rb->restore_point_ms);
        w->f = f;
        w->req.data = w;
        w->tries++;
        if (httpc_post(&f->http, &w->req, urls[i], NULL, event,
                       FO_NOTIFY_TIMEOUT_MS, notify_cb) == 0) {
            w->busy = true;
        } else if (w->tries >= FO_NOTIFY_TRIES) {
            w->done = true;
            f->webhooks_failed++;
        } else {
            w->retry_at = now + FO_NOTIFY_BACKOFF_MS;
        }
    }
    if (all_done) {
        step_cmd(f, rb->epoch, FSM_RB_NOTIFY, FSM_RB_COMPLETE, NULL);
    }
}

/* A switchover's fence: its old primary is alive and in touch, so no
 * self-fence deadline covers it; every node of it must confirm its fence
 * hook before the final backups, or the runbook blocks. */
static void planned_fence_step(struct failover *f,
                               const struct fsm *st,
                               const struct fsm_runbook *rb,
                               uint64_t wall)
{
    char why[400];

    if (f->health != NULL &&
        health_region_fenced(f->health, st, rb->from_region, rb->epoch)) {
        log_info(
            "switchover: every node of %s confirmed its fence for "
            "epoch %" PRIu64 ": final backups",
            rb->from_region, rb->epoch);
        step_cmd(f, rb->epoch, FSM_RB_FENCE, FSM_RB_FINAL_BACKUP, NULL);
    } else if (wall >= rb->fence_deadline_ms) {
        snprintf(why, sizeof(why),
                 "switchover: not every node of %s confirmed its fence hook "
                 "for epoch %" PRIu64
                 " in time, so it may still take writes "
                 "(see its log and [hooks] fence; then drctl failover resume, "
                 "or abort)",
                 rb->from_region, rb->epoch);
        step_cmd(f, rb->epoch, FSM_RB_FENCE, FSM_RB_BLOCKED, why);
    }
}

/* The final backup of one kind failed, or its copy in the target region
 * did: why, else NULL. */
static const char *final_failed(const struct fsm *st,
                                const struct fsm_runbook *rb,
                                uint64_t job_id,
                                int kind,
                                char *why,
                                size_t why_size)
{
    const struct fsm_job *j = job_id != 0 ? fsm_job_get(st, job_id) : NULL;

    if (j != NULL && j->state == FSM_JOB_FAILED) {
        snprintf(why, why_size, "final %s backup (job %" PRIu64 "): %s",
                 fsm_backup_kind_name(kind), job_id, j->error);
        return why;
    }
    for (size_t i = 0; i < st->n_backups && job_id != 0; i++) {
        const struct fsm_backup *b = &st->backups[i];
        const struct fsm_copy *c =
            b->job_id == job_id ? fsm_copy_get(b, rb->to_region) : NULL;
        if (c != NULL && c->state == FSM_COPY_FAILED) {
            snprintf(why, why_size,
                     "final %s backup %s could not be copied to %s: %s",
                     fsm_backup_kind_name(kind), b->id, rb->to_region,
                     c->error);
            return why;
        }
    }
    return NULL;
}

static void final_backup_step(struct failover *f,
                              const struct fsm *st,
                              const struct fsm_runbook *rb)
{
    char why[FSM_TEXT_MAX];

    if (final_failed(st, rb, rb->final_pg_job, FSM_BACKUP_PG_LOGICAL, why,
                     sizeof(why)) != NULL ||
        final_failed(st, rb, rb->final_redis_job, FSM_BACKUP_REDIS, why,
                     sizeof(why)) != NULL) {
        step_cmd(f, rb->epoch, FSM_RB_FINAL_BACKUP, FSM_RB_BLOCKED, why);
        return;
    }
    if (fsm_switchover_waiting(st, why, sizeof(why)) == NULL) {
        step_cmd(f, rb->epoch, FSM_RB_FINAL_BACKUP, FSM_RB_RESTORE, NULL);
    }
}

static void leader_step(struct failover *f)
{
    const struct fsm *st = raftnode_state(f->node);
    const struct fsm_runbook *rb = &st->site.runbook;
    uint64_t wall = raftnode_wall_ms();

    if (f->inflight || !st->initialized || !raftnode_ready(f->node)) {
        return;
    }
    if (!fsm_runbook_active(st)) {
        drill_dns_step(f, st);
        if (f->inflight) {
            return;
        }
        detect(f, uv_now(f->loop));
        return;
    }
    f->primary_lost = false;
    switch (rb->step) {
        case FSM_RB_FENCE:
            if (rb->planned) {
                planned_fence_step(f, st, rb, wall);
                break;
            }
            /* The old region's deadline has passed, or every node of it
             * confirmed its fence hook ran for this epoch. */
            if (wall >= rb->fence_deadline_ms) {
                step_cmd(f, rb->epoch, FSM_RB_FENCE, FSM_RB_RESTORE, NULL);
            } else if (f->health != NULL && rb->from_region != NULL &&
                       health_region_fenced(f->health, st, rb->from_region,
                                            rb->epoch)) {
                log_info(
                    "failover: every node of %s confirmed its fence "
                    "for epoch %" PRIu64 ", %" PRIu64 " ms before the deadline",
                    rb->from_region, rb->epoch, rb->fence_deadline_ms - wall);
                step_cmd(f, rb->epoch, FSM_RB_FENCE, FSM_RB_RESTORE, NULL);
            }
            break;
        case FSM_RB_FINAL_BACKUP:
            final_backup_step(f, st, rb);
            break;
        case FSM_RB_DNS:
            dns_step(f, rb);
            break;
        case FSM_RB_NOTIFY:
            notify_step(f, rb);
            break;
        default:
            break; /* decide is one command; restore runs as a job */
    }
}

static void tick_cb(uv_timer_t *t)
{
    struct failover *f = t->data;

    if (f->stopping) {
        return;
    }
    fence_step(f);
    failover__dns_watch(f);
    if (raftnode_is_leader(f->node)) {
        leader_step(f);
    } else {
        f->primary_lost = false; /* only the leader judges */
    }
}

int failover_start(struct failover *f,
                   uv_loop_t *loop,
                   const struct config *cfg,
                   struct raftnode *node,
                   struct health *health,
                   char *err)
{
    memset(f, 0, sizeof(*f));
    f->loop = loop;
    f->cfg = cfg;
    f->node = node;
    f->health = health;
    /* Read once, like the probes' keys: a key file the node cannot use
     * stops it at start-up, not in the middle of a failover. */
    if (cfg->dns_api_key_file[0] != '\0' &&
        config_read_secret("[dns] api_key_file", "key", false,
                           cfg->dns_api_key_file, f->dns_api_key,
                           sizeof(f->dns_api_key), err) != DR_OK) {
        return -1;
    }
    if (cfg->dns_tsig_key_file[0] != '\0') {
        char text[1024], inner[256];
        int rv =
            config_read_secret("[dns] tsig_key_file", "TSIG key", false,
                               cfg->dns_tsig_key_file, text, sizeof(text), err);
        if (rv == DR_OK && dns_tsig_key_parse(text, &f->tsig, inner) != 0) {
            snprintf(err, 256, "[dns] tsig_key_file %.80s: %.120s",
                     cfg->dns_tsig_key_file, inner);
            rv = DR_EINVAL;
        }
        OPENSSL_cleanse(text, sizeof(text));
        if (rv != DR_OK) {
            return -1;
        }
    }
    /* Route 53's credentials: the file, else the environment (none is
     * fine until dns.provider says route53: the publish says it then). */
    if (cfg->dns_aws_credentials_file[0] != '\0') {
        char inner[256];
        if (s3_creds_load(cfg->dns_aws_credentials_file, &f->aws, inner) !=
            DR_OK) {
            snprintf(err, 256, "[dns] aws_credentials_file: %.200s", inner);
            return -1;
        }
        f->has_aws = true;
    } else {
        char ignored[256];
        f->has_aws = s3_creds_load(NULL, &f->aws, ignored) == DR_OK;
    }
    if (httpc_init(&f->http, loop) != 0) {
        snprintf(err, 256, "failover: cannot start its HTTP client");
        return -1;
    }
    f->last_leader_ms = uv_now(loop);
    uv_timer_init(loop, &f->tick);
    f->tick.data = f;
    uv_timer_start(&f->tick, tick_cb, FO_TICK_MS, FO_TICK_MS);
    f->open = 2;
    return 0;
}

static void part_closed(struct failover *f)
{
    if (--f->open == 0 && f->stopped_cb != NULL) {
        f->stopped_cb(f);
    }
}

static void timer_closed(uv_handle_t *h)
{
    part_closed(h->data);
}

static void http_closed(struct httpc *h)
{
    struct failover *f =
        (struct failover *)((char *)h - offsetof(struct failover, http));
    part_closed(f);
}

void failover_stop(struct failover *f, void (*cb)(struct failover *f))
{
    f->stopping = true;
    f->stopped_cb = cb;
    memset(f->dns_api_key, 0, sizeof(f->dns_api_key));
    OPENSSL_cleanse(&f->tsig, sizeof(f->tsig));
    s3_creds_clear(&f->aws);
    uv_timer_stop(&f->tick);
    uv_close((uv_handle_t *)&f->tick, timer_closed);
    if (f->dns_live) {
        dns_publish_cancel(&f->dns);
    }
    if (f->drill_live) {
        dns_publish_cancel(&f->drill_dns);
    }
    failover__dns_watch_stop(f);
    if (f->hook_running && !uv_is_closing((uv_handle_t *)&f->hook)) {
        /* The hook goes on; its handle closes. */
        uv_close((uv_handle_t *)&f->hook, hook_closed_cb);
    }
    httpc_close(&f->http, http_closed);
}
