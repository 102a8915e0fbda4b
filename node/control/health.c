/* Probe reports to the leader, the leader's per-region view, region health
 * commits, probe outcomes as breaker events, and the half-open timer. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/walslot.h"
#include "control/health.h"
#include "log/log.h"

#define HEALTH_TICK_MS 200
#define HEALTH_PROPOSALS_MAX 64 /* in flight; more are dropped, not queued */
#define HEALTH_REPORT_TIMEOUT_MS 5000

struct health_prop
{
    struct raftnode_req req;
    struct health *h;
    int kind;  /* what it was for, to clear its pending flag */
    int index; /* report index or provider */
};

enum { PROP_REGION, PROP_HALF_OPEN, PROP_EVENTS };

/* Probe services that are LLM providers, and their breakers. */
static int provider_of(int service)
{
    switch (service) {
        case PROBE_OLLAMA:
            return FSM_PROVIDER_OLLAMA;
        case PROBE_OPENAI:
            return FSM_PROVIDER_OPENAI;
        case PROBE_ANTHROPIC:
            return FSM_PROVIDER_ANTHROPIC;
    }
    return -1;
}

/* The replicated service each probe stands for (same order but WASM). */
static int fsm_service_of(int service)
{
    switch (service) {
        case PROBE_DATABASE:
            return FSM_SVC_DATABASE;
        case PROBE_REDIS:
            return FSM_SVC_REDIS;
        case PROBE_OLLAMA:
            return FSM_SVC_OLLAMA;
        case PROBE_OPENAI:
            return FSM_SVC_OPENAI;
        case PROBE_ANTHROPIC:
            return FSM_SVC_ANTHROPIC;
        default:
            return FSM_SVC_APP;
    }
}

int health_service_status(const struct probe_result *r)
{
    switch (r->status) {
        case PROBE_UP:
            return FSM_SVC_UP;
        case PROBE_DOWN:
            return FSM_SVC_DOWN;
    }
    return FSM_SVC_UNKNOWN;
}

static void report_health(const struct health_report *r, int *health)
{
    const struct probe_result *app = &r->results[PROBE_APP];
    for (int i = 0; i < PROBE__COUNT; i++) {
        if (i != PROBE_PG_STANDBY) { /* not a region's service */
            health[fsm_service_of(i)] = health_service_status(&r->results[i]);
        }
    }
    health[FSM_SVC_WASM] =
        app->status == PROBE_UP && app->wasm_known
            ? (app->wasm_available ? FSM_SVC_UP : FSM_SVC_DOWN)
            : FSM_SVC_UNKNOWN;
}

static void prop_cb(struct raftnode_req *req,
                    int status,
                    const struct fsm_result *res)
{
    struct health_prop *p = req->data;
    struct health *h = p->h;

    h->proposals--;
    if (p->kind == PROP_REGION && p->index < (int)h->n_reports) {
        h->reports[p->index].proposing = false;
    } else if (p->kind == PROP_HALF_OPEN) {
        h->half_open_pending[p->index] = false;
    }
    if (status == 0 && res != NULL && res->code != DR_OK) {
        log_debug("health: proposal refused: %s", res->msg);
    }
    free(p);
}

static bool propose(struct health *h,
                    const struct fsm_cmd *cmd,
                    int kind,
                    int index)
{
    struct health_prop *p;

    if (h->proposals >= HEALTH_PROPOSALS_MAX) {
        return false;
    }
    p = malloc(sizeof(*p));
    if (p == NULL) {
        return false;
    }
    p->h = h;
    p->kind = kind;
    p->index = index;
    p->req.data = p;
    if (raftnode_propose(h->node, &p->req, cmd, prop_cb) != DR_OK) {
        free(p);
        return false;
    }
    h->proposals++;
    return true;
}

static struct health_report *report_slot(struct health *h, const char *region)
{
    for (size_t i = 0; i < h->n_reports; i++) {
        if (strcmp(h->reports[i].region, region) == 0) {
            return &h->reports[i];
        }
    }
    if (h->n_reports >= FSM_REGIONS_MAX) {
        return NULL;
    }
    memset(&h->reports[h->n_reports], 0, sizeof(h->reports[0]));
    return &h->reports[h->n_reports++];
}

/* Commit health for the region of slot if it differs from the replicated
 * one (health NULL: what the slot's reports say, once two in a row agree,
 * so that nodes that disagree or a probe on the edge of its timeout do not
 * flap the region). */
static void sync_region(struct health *h,
                        struct health_report *slot,
                        const int *health,
                        const char *actor)
{
    const struct fsm_region *r =
        fsm_region_get(raftnode_state(h->node), slot->region);
    struct fsm_cmd cmd = {.type = FSM_CMD_REGION_HEALTH, .actor = actor};

    if (r == NULL || slot->proposing || (health == NULL && !slot->confirmed)) {
        return;
    }
    if (health != NULL) {
        memcpy(cmd.u.health.health, health, sizeof(cmd.u.health.health));
    } else {
        memcpy(cmd.u.health.health, slot->last, sizeof(slot->last));
    }
    if (memcmp(cmd.u.health.health, r->health, sizeof(r->health)) == 0) {
        return;
    }
    cmd.u.health.region = slot->region;
    slot->proposing = propose(h, &cmd, PROP_REGION, (int)(slot - h->reports));
}

static uint64_t fresh_ms(const struct health *h)
{
    return 3ull * h->cfg->probe_interval_ms + h->cfg->probe_timeout_ms;
}

/* How long a report stays fresh: three of its sender's probe intervals. */
static uint64_t report_fresh_ms(const struct health *h,
                                const struct health_report *r)
{
    return r->interval_ms != 0 ? 3ull * r->interval_ms + r->timeout_ms
                               : fresh_ms(h);
}

static void note_member(struct health *h, const struct health_report *r)
{
    struct health_member *m = NULL;
    for (size_t i = 0; i < h->n_members; i++) {
        if (h->members[i].id == r->node) {
            m = &h->members[i];
        }
    }
    if (m == NULL && h->n_members < FSM_MEMBERS_MAX) {
        m = &h->members[h->n_members++];
    }
    if (m != NULL) {
        m->id = r->node;
        m->applied_index = r->applied_index;
        m->received = uv_now(h->loop);
        m->fresh = report_fresh_ms(h, r);
        m->fenced_epoch = r->fenced_epoch;
    }
}

bool health_region_fenced(const struct health *h,
                          const struct fsm *st,
                          const char *region,
                          uint64_t epoch)
{
    size_t n = 0;
    uint64_t now = uv_now(h->loop);

    for (size_t i = 0; i < st->n_members; i++) {
        const struct fsm_member *fm = &st->members[i];
        bool ok = false;
        if (strcmp(fm->region, region) != 0) {
            continue;
        }
        n++;
        for (size_t k = 0; k < h->n_members; k++) {
            const struct health_member *m = &h->members[k];
            if (m->id == fm->id) {
                ok = m->fenced_epoch >= epoch && now - m->received <= m->fresh;
            }
        }
        if (!ok) {
            return false;
        }
    }
    return n > 0;
}

/* Keep what r says of the other regions' endpoints, per (node, region). */
static void note_evidence(struct health *h, const struct health_report *r)
{
    for (size_t k = 0; k < r->n_remote; k++) {
        struct health_evidence *e = NULL;
        for (size_t i = 0; i < h->n_evidence; i++) {
            if (h->evidence[i].node == r->node &&
                strcmp(h->evidence[i].region, r->remote[k].region) == 0) {
                e = &h->evidence[i];
                break;
            }
        }
        if (e == NULL) {
            if (h->n_evidence == FSM_MEMBERS_MAX) {
                /* Full: reuse the stalest slot. */
                e = &h->evidence[0];
                for (size_t i = 1; i < h->n_evidence; i++) {
                    if (h->evidence[i].received < e->received) {
                        e = &h->evidence[i];
                    }
                }
            } else {
                e = &h->evidence[h->n_evidence++];
            }
        }
        e->node = r->node;
        snprintf(e->reporter_region, sizeof(e->reporter_region), "%s",
                 r->region);
        snprintf(e->region, sizeof(e->region), "%s", r->remote[k].region);
        e->down_ms = r->remote[k].down_ms;
        e->received = uv_now(h->loop);
        e->fresh = report_fresh_ms(h, r);
    }
}

int health_endpoints_down(const struct health *h,
                          const char *region,
                          uint64_t window_ms,
                          char *why,
                          size_t size)
{
    uint64_t now = uv_now(h->loop);
    const struct health_evidence *best = NULL, *up = NULL;

    for (size_t i = 0; i < h->n_evidence; i++) {
        const struct health_evidence *e = &h->evidence[i];
        if (strcmp(e->region, region) != 0 ||
            strcmp(e->reporter_region, region) == 0 ||
            now - e->received > e->fresh) {
            continue;
        }
        if (e->down_ms == 0) {
            up = e;
        } else if (best == NULL || e->down_ms + (now - e->received) >
                                       best->down_ms + (now - best->received)) {
            best = e;
        }
    }
    if (up != NULL) {
        snprintf(why, size, "node %llu (%s) reaches its endpoints",
                 (unsigned long long)up->node, up->reporter_region);
        return 0;
    }
    if (best == NULL) {
        snprintf(why, size,
                 "no node of another region has a fresh verdict on its "
                 "endpoints");
        return -1;
    }
    snprintf(why, size,
             "node %llu (%s) finds none of its endpoints "
             "reachable for %llu ms",
             (unsigned long long)best->node, best->reporter_region,
             (unsigned long long)(best->down_ms + (now - best->received)));
    return best->down_ms + (now - best->received) >= window_ms ? 1 : 0;
}

int64_t health_member_lag(const struct health *h, uint64_t id)
{
    uint64_t commit = h->node->raft.commit_index;
    if (!raftnode_is_leader(h->node)) {
        return -1;
    }
    for (size_t i = 0; i < h->n_members; i++) {
        const struct health_member *m = &h->members[i];
        if (m->id == id && uv_now(h->loop) - m->received <= m->fresh) {
            return m->applied_index >= commit
                       ? 0
                       : (int64_t)(commit - m->applied_index);
        }
    }
    return -1;
}

int health_ingest(struct health *h, const struct health_report *r)
{
    struct health_report *slot;
    char actor[48];

    if (!raftnode_ready(h->node)) {
        return DR_ENOTLEADER;
    }
    if (fsm_region_get(raftnode_state(h->node), r->region) == NULL) {
        return DR_ENOTFOUND;
    }
    slot = report_slot(h, r->region);
    if (slot == NULL) {
        return DR_ELIMIT;
    }
    {
        /* Nodes of one region may probe different services: a service
         * this node does not probe keeps what another node reported, so
         * the region's view does not flap between reporters. */
        struct health_report prev = *slot;
        bool fresh = prev.received != 0 && uv_now(h->loop) - prev.received <=
                                               report_fresh_ms(h, &prev);
        int now_says[FSM_SERVICES];
        *slot = *r;
        for (int i = 0; fresh && i < PROBE__COUNT; i++) {
            if (r->results[i].status == PROBE_UNCONFIGURED) {
                slot->results[i] = prev.results[i];
            }
        }
        slot->proposing = prev.proposing;
        slot->received = uv_now(h->loop);
        report_health(slot, now_says);
        /* A repeat is the same probe round again: it keeps a
         * confirmation but is never the second report that makes one. */
        slot->confirmed = fresh &&
                          memcmp(now_says, prev.last, sizeof(now_says)) == 0 &&
                          (!r->repeat || prev.confirmed);
        memcpy(slot->last, now_says, sizeof(now_says));
    }
    h->reports_received++;
    note_member(h, r);
    note_evidence(h, r);
    snprintf(actor, sizeof(actor), "node:%llu", (unsigned long long)r->node);
    sync_region(h, slot, NULL, actor);
    /* Each LLM probe's outcome counts as a request to that provider; a
     * success only when it changes something (failures to reset, a
     * breaker to close), so a healthy provider costs the log nothing. */
    snprintf(actor, sizeof(actor), "probe:%llu", (unsigned long long)r->node);
    for (int i = 0; i < PROBE__COUNT; i++) {
        int p = provider_of(i);
        int st = r->results[i].status;
        int outcome;
        const struct fsm_breaker *b;
        struct fsm_cmd cmd = {.type = FSM_CMD_BREAKER_EVENTS, .actor = actor};
        if (r->repeat || p < 0 || (st != PROBE_UP && st != PROBE_DOWN)) {
            continue;
        }
        b = &raftnode_state(h->node)->breakers[p];
        if ((st == PROBE_UP && b->state == FSM_BREAKER_CLOSED &&
             b->failures == 0) ||
            (st == PROBE_DOWN && b->state == FSM_BREAKER_OPEN)) {
            continue; /* would change nothing but a counter */
        }
        outcome = st == PROBE_UP;
        cmd.u.breaker.provider = p;
        cmd.u.breaker.outcomes = &outcome; /* copied by the proposal */
        cmd.u.breaker.n_outcomes = 1;
        propose(h, &cmd, PROP_EVENTS, p);
    }
    return DR_OK;
}

const struct health_report *health_view(const struct health *h,
                                        const char *region)
{
    if (!raftnode_is_leader(h->node)) {
        return NULL;
    }
    for (size_t i = 0; i < h->n_reports; i++) {
        const struct health_report *r = &h->reports[i];
        if (strcmp(r->region, region) == 0) {
            return r->received != 0 && uv_now(h->loop) - r->received <=
                                           report_fresh_ms(h, r)
                       ? r
                       : NULL;
        }
    }
    return NULL;
}

/* A region none of whose nodes has reported for a while (once this node
 * has led long enough to have heard them): its services are unknown now,
 * not as they were last seen. */
static void forget_silent_regions(struct health *h, const struct fsm *f)
{
    static const int unknown[FSM_SERVICES];
    bool new_leader = uv_now(h->loop) - h->ready_since <= fresh_ms(h);

    for (size_t i = 0; i < f->n_regions; i++) {
        const struct fsm_region *r = &f->regions[i];
        struct health_report *slot;
        if (memcmp(r->health, unknown, sizeof(unknown)) == 0 ||
            health_view(h, r->name) != NULL) {
            continue;
        }
        slot = report_slot(h, r->name);
        /* Never heard from since this node leads: give them time. */
        if (slot == NULL || (slot->received == 0 && new_leader)) {
            continue;
        }
        if (slot->region[0] == '\0') {
            snprintf(slot->region, sizeof(slot->region), "%s", r->name);
        }
        slot->confirmed = false;
        sync_region(h, slot, unknown, "leader");
    }
}

static void send_report(struct health *h, bool urgent);

/* A new leader knows nothing of the endpoints' reachability, the members'
 * applied indexes or their fences until reports reach it: give it this
 * node's at once rather than at the next probe round (up to an interval
 * later, while a region may be burning). Retried every tick until the new
 * leader takes it (it refuses until its first barrier commits). */
static void report_to_new_leader(struct health *h)
{
    raft_id leader = raftnode_leader(h->node);

    if (leader != h->seen_leader) {
        h->seen_leader = leader;
        h->leader_report_due = leader != 0;
    }
    if (!h->leader_report_due || !h->probing || h->prober.rounds == 0 ||
        h->report_inflight) {
        return;
    }
    if (leader == h->cfg->id && !raftnode_ready(h->node)) {
        return;
    }
    send_report(h, false);
}

/* Leader: half-open every breaker whose reset timeout is over, and keep
 * committed region health in line with the reports (a refused or lost
 * proposal is retried here). */
static void tick_cb(uv_timer_t *t)
{
    struct health *h = t->data;
    const struct fsm *f = raftnode_state(h->node);
    uint64_t now;

    if (h->stopping) {
        return;
    }
    report_to_new_leader(h);
    if (!raftnode_ready(h->node) || !f->initialized) {
        h->ready_since = 0;
        return;
    }
    if (h->ready_since == 0) {
        h->ready_since = uv_now(h->loop);
    }
    now = raftnode_wall_ms();
    for (int p = 0; p < FSM_PROVIDERS; p++) {
        uint64_t due = fsm_breaker_due(f, p);
        struct fsm_cmd cmd = {.type = FSM_CMD_BREAKER_HALF_OPEN,
                              .actor = "leader"};
        if (due == 0 || now < due || h->half_open_pending[p]) {
            continue;
        }
        cmd.u.breaker.provider = p;
        h->half_open_pending[p] = propose(h, &cmd, PROP_HALF_OPEN, p);
    }
    for (size_t i = 0; i < h->n_reports; i++) {
        if (health_view(h, h->reports[i].region) != NULL) {
            sync_region(h, &h->reports[i], NULL, "leader");
        }
    }
    forget_silent_regions(h, f);
}

/* Reports: every node's own region, after each probe round. */

static void report_done_cb(struct httpc_req *r,
                           long status,
                           const char *body,
                           size_t len,
                           const char *err)
{
    struct health *h = r->data;
    (void)len;
    h->report_inflight = false;
    if (status == 200) {
        h->counted_round = h->inflight_round;
        if (h->inflight_leader == h->seen_leader) {
            h->leader_report_due = false;
        }
    }
    if (h->report_again && !h->stopping) {
        h->report_again = false;
        send_report(h, false); /* what changed while this was on its way */
    }
    if (status == 200) {
        h->reports_sent++;
        return;
    }
    h->reports_failed++;
    if (!h->stopping) {
        log_debug("health: report to the leader failed: %s",
                  status == 0 ? err : body);
    }
}

/* The region's services whose failures count only in a row
 * ([probes] down_after): what makes a region degraded. */
static const int debounced[] = {PROBE_DATABASE, PROBE_REDIS};

static void own_report(struct health *h, struct health_report *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->region, sizeof(r->region), "%s", h->cfg->region);
    r->node = h->cfg->id;
    r->applied_index = raft_last_applied(&h->node->raft);
    r->interval_ms = h->cfg->probe_interval_ms;
    r->timeout_ms = h->cfg->probe_timeout_ms;
    memcpy(r->results, h->prober.results, sizeof(r->results));
    /* One failed round is not an outage (a timeout under load, a
     * restart): PostgreSQL and Redis count as down for the region only
     * after [probes] down_after failed rounds in a row, as Sentinel's
     * down-after. Until then the last round that found them up stands.
     * A service never seen up is reported as it is. */
    for (size_t i = 0; i < sizeof(debounced) / sizeof(debounced[0]); i++) {
        int s = debounced[i];
        if (r->results[s].status == PROBE_DOWN &&
            h->last_up[s].status == PROBE_UP &&
            h->down_rounds[s] < h->cfg->probe_down_after) {
            r->results[s] = h->last_up[s];
        }
    }
    r->fenced_epoch = h->fenced_epoch;
    r->repeat = h->prober.rounds == h->counted_round;
    for (size_t i = 0; i < h->reach.n_regions && i < REACH_REGIONS_MAX; i++) {
        int64_t down = reach_down_ms(&h->reach, h->reach.regions[i].name);
        if (down < 0) {
            continue;
        }
        snprintf(r->remote[r->n_remote].region, sizeof(r->remote[0].region),
                 "%s", h->reach.regions[i].name);
        r->remote[r->n_remote++].down_ms = (uint64_t)down;
    }
}

/* Send this node's report now (to itself when it leads); an urgent one
 * asked for while another is on its way follows it. */
static void send_report(struct health *h, bool urgent)
{
    struct health_report r;
    struct jout j;
    char url[320];

    if (h->stopping) {
        return;
    }
    own_report(h, &r);
    if (raftnode_ready(h->node)) {
        if (health_ingest(h, &r) == DR_OK) {
            h->counted_round = h->prober.rounds;
            h->leader_report_due = false;
        }
        return;
    }
    if (h->report_inflight) {
        h->report_again = h->report_again || urgent;
        return;
    }
    if (!raftnode_leader_url(h->node, "/api/probes", url, sizeof(url))) {
        return;
    }
    jout_init(&j);
    health_report_write(&j, &r);
    if (!j.oom) {
        h->inflight_round = h->prober.rounds;
        h->inflight_leader = h->seen_leader;
        h->report_req.data = h;
        h->report_inflight =
            httpc_post(&h->http, &h->report_req, url, h->token, j.buf,
                       HEALTH_REPORT_TIMEOUT_MS, report_done_cb) == 0;
    }
    jout_free(&j);
}

/* The WAL stream's replication slot holds WAL for as long as it exists:
 * once the catalog wants no stream from this region (wal.stream off, or
 * another region is primary) and no stream has read the slot for two
 * stream leases (wal.stream_lease_ms), the next round drops it, as Patroni
 * drops the slots it no longer manages. The wait lets this node's copy of
 * the catalog catch up and a stream between two attempts take the slot
 * again. */

/* Asked again by the probe just before it drops: the catalog may have
 * changed since the round that decided (wal.stream on again, this region
 * primary again). */
static bool slot_still_unwanted(struct prober *p)
{
    struct health *h = p->data;
    const struct fsm *f = raftnode_state(h->node);

    return f->initialized && !fsm_wal_stream_slot_wanted(f, h->cfg->region);
}

static void slot_upkeep(struct health *h)
{
    const struct probe_result *db = &h->prober.results[PROBE_DATABASE];
    const struct fsm *f = raftnode_state(h->node);
    uint64_t now = uv_now(h->loop);

    if (db->stream_slot_dropped) {
        log_info("dropped the replication slot " DR_WAL_STREAM_SLOT
                 " of this region's PostgreSQL (it held %lld bytes of WAL): "
                 "%s",
                 (long long)db->stream_slot_held,
                 fsm_setting(f, "wal.stream") != NULL &&
                         fsm_setting(f, "wal.stream")->b
                     ? "this region is not primary"
                     : "wal.stream is off");
    } else if (db->stream_slot_drop_error[0] != '\0' &&
               (h->slot_drop_warned_ms == 0 ||
                now - h->slot_drop_warned_ms >= 600000)) {
        /* Every ten minutes at most: a role without the right keeps
         * failing the same way. */
        h->slot_drop_warned_ms = now;
        log_warn("could not drop the replication slot " DR_WAL_STREAM_SLOT
                 " (it keeps WAL on the server): %s",
                 db->stream_slot_drop_error);
    }
    if (f->initialized && db->status == PROBE_UP && db->stream_slot_lag >= 0 &&
        !db->stream_slot_active &&
        !fsm_wal_stream_slot_wanted(f, h->cfg->region)) {
        if (h->slot_unwanted_since == 0) {
            h->slot_unwanted_since = now;
        }
    } else {
        h->slot_unwanted_since = 0;
    }
    h->prober.drop_stream_slot =
        h->slot_unwanted_since != 0 &&
        now - h->slot_unwanted_since >=
            2 * (uint64_t)fsm_setting_int(f, "wal.stream_lease_ms");
}

/* Count each debounced service's failed rounds in a row (own_report). */
static void count_rounds(struct health *h)
{
    for (size_t i = 0; i < sizeof(debounced) / sizeof(debounced[0]); i++) {
        int s = debounced[i];
        const struct probe_result *r = &h->prober.results[s];
        h->down_rounds[s] = r->status == PROBE_DOWN ? h->down_rounds[s] + 1 : 0;
        if (r->status == PROBE_UP) {
            h->last_up[s] = *r;
        }
    }
}

static void round_cb(struct prober *p)
{
    count_rounds(p->data);
    slot_upkeep(p->data);
    send_report(p->data, false);
}

void health_report_soon(struct health *h)
{
    if (h->probing) {
        send_report(h, true);
    }
}

/* Lifecycle. */

static void part_closed(struct health *h)
{
    if (--h->open_parts == 0 && h->stopped_cb != NULL) {
        h->stopped_cb(h);
    }
}

static void prober_stopped_cb(struct prober *p)
{
    part_closed(p->data);
}

static void reach_stopped_cb(struct reach *r)
{
    part_closed((struct health *)((char *)r - offsetof(struct health, reach)));
}

static void http_closed_cb(struct httpc *c)
{
    part_closed((struct health *)((char *)c - offsetof(struct health, http)));
}

static void tick_closed_cb(uv_handle_t *handle)
{
    part_closed(handle->data);
}

int health_start(struct health *h,
                 uv_loop_t *loop,
                 const struct config *cfg,
                 struct raftnode *node,
                 const char *token,
                 char *errmsg)
{
    int rv;

    memset(h, 0, sizeof(*h));
    h->loop = loop;
    h->cfg = cfg;
    h->node = node;
    snprintf(h->token, sizeof(h->token), "%s", token ? token : "");
    if (httpc_init(&h->http, loop) != 0) {
        snprintf(errmsg, 256, "health: could not start the HTTP client");
        return DR_ENOMEM;
    }
    if (cfg->tls_cert[0] != '\0') {
        httpc_set_tls(&h->http, cfg->tls_ca, cfg->tls_cert, cfg->tls_key);
    }
    h->open_parts++;
    h->prober.data = h;
    h->prober.round_cb = round_cb;
    h->prober.may_drop_stream_slot = slot_still_unwanted;
    rv = prober_start(&h->prober, loop, cfg, errmsg);
    if (rv != DR_OK) {
        h->stopping = true;
        httpc_close(&h->http, NULL);
        return rv;
    }
    h->probing = true;
    h->open_parts++;
    reach_start(&h->reach, loop, cfg, node);
    h->open_parts++;
    uv_timer_init(loop, &h->tick);
    h->tick.data = h;
    uv_timer_start(&h->tick, tick_cb, HEALTH_TICK_MS, HEALTH_TICK_MS);
    h->open_parts++;
    return DR_OK;
}

void health_stop(struct health *h, void (*cb)(struct health *h))
{
    if (h->stopping) {
        return;
    }
    h->stopping = true;
    h->stopped_cb = cb;
    uv_timer_stop(&h->tick);
    uv_close((uv_handle_t *)&h->tick, tick_closed_cb);
    prober_stop(&h->prober, prober_stopped_cb);
    reach_stop(&h->reach, reach_stopped_cb);
    httpc_close(&h->http, http_closed_cb);
}
