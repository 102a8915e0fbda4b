/* API routes: status, health, regions, members, leader, settings, site. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "fsm/settings.h"

/* Reads. */

static void do_status(struct api_call *c)
{
    struct jout j;
    jout_init(&j);
    api_view_status(&j, c->api);
    api_reply_jout(c, 200, &j);
}

/* {"KEY": VIEW} */
static void reply_wrapped(struct api_call *c,
                          const char *key,
                          void (*view)(struct jout *, struct api *))
{
    struct jout j;
    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, key);
    view(&j, c->api);
    jout_end(&j, '}');
    api_reply_jout(c, 200, &j);
}

static void do_regions_list(struct api_call *c)
{
    reply_wrapped(c, "regions", api_view_regions);
}

static void do_region_get(struct api_call *c)
{
    const struct fsm_region *r = fsm_region_get(api_state(c), c->arg);
    struct jout j;
    if (r == NULL) {
        api_reply_error(c, 404, "not_found", "region \"%s\" does not exist",
                        c->arg);
        return;
    }
    jout_init(&j);
    api_view_region(&j, c->api, r);
    api_reply_jout(c, c->created ? 201 : 200, &j);
}

static void do_members_list(struct api_call *c)
{
    reply_wrapped(c, "members", api_view_members);
}

static void settings_view(struct jout *j, struct api *a)
{
    jout_begin(j, '[');
    for (size_t i = 0; i < fsm_settings_count(); i++) {
        api_view_setting(j, raftnode_state(a->node), (int)i);
    }
    jout_end(j, ']');
}

static void do_settings_list(struct api_call *c)
{
    reply_wrapped(c, "settings", settings_view);
}

static void do_setting_get(struct api_call *c)
{
    int i = fsm_setting_index(c->arg);
    struct jout j;
    if (i < 0) {
        api_reply_error(c, 404, "not_found", "unknown setting \"%s\"", c->arg);
        return;
    }
    jout_init(&j);
    api_view_setting(&j, api_state(c), i);
    api_reply_jout(c, 200, &j);
}

static void do_site(struct api_call *c)
{
    struct jout j;
    jout_init(&j);
    api_view_site(&j, api_state(c));
    api_reply_jout(c, 200, &j);
}

static void history_view(struct jout *j, struct api *a)
{
    api_view_history(j, raftnode_state(a->node));
}

static void do_history(struct api_call *c)
{
    reply_wrapped(c, "history", history_view);
}

/* Writes. */

static int parse_body(struct api_call *c, bool allow_empty)
{
    h2o_req_t *req = c->req;
    char err[256];
    size_t max = c->api->cfg->max_body_bytes;

    if (req->entity.len > max) {
        api_reply_error(c, 413, "payload_too_large",
                        "request body of %zu bytes is over the %zu byte limit",
                        req->entity.len, max);
        return -1;
    }
    if (req->entity.base == NULL || req->entity.len == 0) {
        if (allow_empty) {
            c->doc.root.type = JIN_OBJECT;
            c->body = &c->doc.root;
            return 0;
        }
        api_reply_error(c, 400, "invalid_argument",
                        "request body is empty; a JSON object is required");
        return -1;
    }
    if (jin_parse(&c->doc, req->entity.base, req->entity.len, err) != 0) {
        api_reply_error(c, 400, "invalid_argument", "%s", err);
        return -1;
    }
    c->body = &c->doc.root;
    return 0;
}

int api__check_body(struct api_call *c,
                    const struct api_field *fields,
                    size_t n)
{
    char err[256];
    if (api_check_fields(c->body, fields, n, err) != DR_OK) {
        api_reply_error(c, 400, "invalid_argument", "%s", err);
        return -1;
    }
    return 0;
}

/* The body's string array field key (if given) into buf (max + 1
 * pointers, borrowing the body's strings) and *out and *n; -1 after replying
 * 400 when it holds more than max. */
static int string_list(struct api_call *c,
                       const char *key,
                       size_t max,
                       char **buf,
                       char ***out,
                       size_t *n)
{
    const struct jin *v = jin_get(c->body, key);
    if (v == NULL) {
        return 0;
    }
    if (v->u.arr.n > max) {
        api_reply_error(c, 400, "invalid_argument",
                        "field \"%s\" has %zu entries, at most %zu allowed",
                        key, v->u.arr.n, max);
        return -1;
    }
    for (size_t i = 0; i < v->u.arr.n; i++) {
        buf[i] = (char *)v->u.arr.items[i].u.str.s;
    }
    *out = buf;
    *n = v->u.arr.n;
    return 0;
}

/* Fill a region from the body; strings and arrays borrow from the body.
 * targets and endpoints hold FSM_DNS_TARGETS_MAX + 1 and FSM_ENDPOINTS_MAX
 * + 1 pointers. */
static int region_from_body(struct api_call *c,
                            struct fsm_region *r,
                            char **targets,
                            char **endpoints)
{
    const struct jin *v;
    if ((v = jin_get(c->body, "priority")) != NULL) {
        int64_t p = v->u.i;
        if (p < INT32_MIN || p > INT32_MAX) {
            api_reply_error(c, 400, "invalid_argument",
                            "field \"priority\" must fit in 32 bits");
            return -1;
        }
        r->priority = (int32_t)p;
    }
    if (string_list(c, "dns_targets", FSM_DNS_TARGETS_MAX, targets,
                    &r->dns_targets, &r->n_dns_targets) != 0) {
        return -1;
    }
    if ((v = jin_get(c->body, "object_store")) != NULL) {
        r->object_store = (char *)v->u.str.s;
    }
    if (string_list(c, "endpoints", FSM_ENDPOINTS_MAX, endpoints, &r->endpoints,
                    &r->n_endpoints) != 0) {
        return -1;
    }
    return 0;
}

static void after_region_written(struct api_call *c)
{
    do_region_get(c);
}

static void do_region_add(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"name", JT_STRING, true},
        {"priority", JT_INT, false},
        {"dns_targets", JT_STRING_ARRAY, false},
        {"object_store", JT_STRING, false},
        {"endpoints", JT_STRING_ARRAY, false},
    };
    char *targets[FSM_DNS_TARGETS_MAX + 1], *endpoints[FSM_ENDPOINTS_MAX + 1];
    struct fsm_cmd cmd;

    if (api__check_body(c, fields, 5) != 0) {
        return;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_REGION_ADD;
    cmd.actor = c->actor;
    cmd.u.region.name = (char *)jin_get(c->body, "name")->u.str.s;
    cmd.u.region.object_store = "";
    if (region_from_body(c, &cmd.u.region, targets, endpoints) != 0) {
        return;
    }
    snprintf(c->arg, sizeof(c->arg), "%s", cmd.u.region.name);
    c->created = true;
    api_propose_then(c, &cmd, after_region_written);
}

static void do_region_update(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"priority", JT_INT, false},
        {"dns_targets", JT_STRING_ARRAY, false},
        {"object_store", JT_STRING, false},
        {"endpoints", JT_STRING_ARRAY, false},
    };
    char *targets[FSM_DNS_TARGETS_MAX + 1], *endpoints[FSM_ENDPOINTS_MAX + 1];
    struct fsm_cmd cmd;

    if (api__check_body(c, fields, 4) != 0) {
        return;
    }
    /* Only the fields given change; the FSM merges them with the region
     * as it is when the command applies, so concurrent updates of
     * different fields both land. */
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_REGION_UPDATE;
    cmd.actor = c->actor;
    cmd.u.region.name = c->arg;
    cmd.u.region.object_store = "";
    if (jin_get(c->body, "priority") != NULL) {
        cmd.fields |= FSM_REGION_F_PRIORITY;
    }
    if (jin_get(c->body, "dns_targets") != NULL) {
        cmd.fields |= FSM_REGION_F_DNS_TARGETS;
    }
    if (jin_get(c->body, "object_store") != NULL) {
        cmd.fields |= FSM_REGION_F_OBJECT_STORE;
    }
    if (jin_get(c->body, "endpoints") != NULL) {
        cmd.fields |= FSM_REGION_F_ENDPOINTS;
    }
    if (cmd.fields == 0) {
        api_reply_error(c, 400, "invalid_argument",
                        "nothing to update: give priority, dns_targets, "
                        "object_store or endpoints");
        return;
    }
    if (region_from_body(c, &cmd.u.region, targets, endpoints) != 0) {
        return;
    }
    api_propose_then(c, &cmd, after_region_written);
}

static void after_region_removed(struct api_call *c)
{
    struct jout j;
    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "deleted");
    jout_str(&j, c->arg);
    jout_end(&j, '}');
    api_reply_jout(c, 200, &j);
}

static void do_region_remove(struct api_call *c)
{
    struct fsm_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_REGION_REMOVE;
    cmd.actor = c->actor;
    cmd.u.region_name = c->arg;
    api_propose_then(c, &cmd, after_region_removed);
}

static void after_setting_set(struct api_call *c)
{
    do_setting_get(c);
}

/* "a.b.c.d:port" (port optional when port_optional) with an IPv4
 * address and a port of 1..65535. */
static bool ipv4_port(const char *s, size_t len, bool port_optional)
{
    unsigned a, b, c4, d, port = 53;
    char tail[2];
    char buf[64];
    int n;

    if (len == 0 || len >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    n = sscanf(buf, "%3u.%3u.%3u.%3u:%5u%1s", &a, &b, &c4, &d, &port, tail);
    if (n == 4 && port_optional && strchr(buf, ':') == NULL) {
        n = 5;
    }
    return n == 5 && a < 256 && b < 256 && c4 < 256 && d < 256 && port > 0 &&
           port < 65536;
}

/* What the DNS step would refuse only when a failover runs: refused when
 * set, with the reason (the state machine accepts any string: a check
 * there would judge old log entries anew). */
static const char *dns_setting_problem(const char *key, const char *v)
{
    if (v[0] == '\0') {
        return NULL;
    }
    if (strcmp(key, "dns.update_server") == 0 &&
        !ipv4_port(v, strlen(v), false)) {
        return "must be an IPv4 address with a port (10.0.0.53:53)";
    }
    if (strcmp(key, "dns.servers") == 0) {
        const char *p = v;
        size_t n = 0;
        while (*p != '\0') {
            size_t len = strcspn(p, ",");
            while (len > 0 && *p == ' ') {
                p++;
                len--;
            }
            if (!ipv4_port(p, len, true) || ++n > 4) {
                return "must be at most 4 IPv4 addresses, each with an "
                       "optional port (10.0.0.53:53,10.0.1.53), comma-"
                       "separated";
            }
            p += len;
            p += *p == ',';
        }
    }
    if (strcmp(key, "dns.zone_id") == 0) {
        size_t len = strlen(v);
        for (size_t i = 0; i < len; i++) {
            if (!isupper((unsigned char)v[i]) &&
                !isdigit((unsigned char)v[i])) {
                return "must be a Route 53 hosted zone id (Z0123456789ABC: "
                       "capital letters and digits)";
            }
        }
        if (len > 32) {
            return "must be a Route 53 hosted zone id of at most 32 characters";
        }
    }
    return NULL;
}

static void do_setting_set(struct api_call *c)
{
    static const struct api_field fields[] = {{"value", JT_ANY, true}};
    struct fsm_cmd cmd;
    const struct jin *v;

    if (api__check_body(c, fields, 1) != 0) {
        return;
    }
    if (fsm_setting_index(c->arg) < 0) {
        api_reply_error(c, 404, "not_found", "unknown setting \"%s\"", c->arg);
        return;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_SETTING_SET;
    cmd.actor = c->actor;
    cmd.u.setting.key = c->arg;
    v = jin_get(c->body, "value");
    if (v->type == JIN_INT) {
        cmd.u.setting.value.type = FSM_SETTING_INT;
        cmd.u.setting.value.i = v->u.i;
    } else if (v->type == JIN_BOOL) {
        cmd.u.setting.value.type = FSM_SETTING_BOOL;
        cmd.u.setting.value.b = v->u.b;
    } else if (v->type == JIN_STRING) {
        const char *why = dns_setting_problem(c->arg, v->u.str.s);
        if (why != NULL) {
            api_reply_error(c, 400, "invalid_argument", "setting %s: %s",
                            c->arg, why);
            return;
        }
        cmd.u.setting.value.type = FSM_SETTING_STRING;
        cmd.u.setting.value.s = (char *)v->u.str.s;
    } else {
        api_reply_error(c, 400, "invalid_argument",
                        "field \"value\" must be an integer, a boolean or a "
                        "string");
        return;
    }
    api_propose_then(c, &cmd, after_setting_set);
}

/* The answer describes this command's own outcome (its epoch is the
 * fencing token the caller holds), not the state after the whole batch,
 * which may hold another primary change. */
static void after_primary_set(struct api_call *c)
{
    struct jout j;
    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "primary_region");
    jout_str(&j, jin_get(c->body, "region")->u.str.s);
    jout_key(&j, "epoch");
    jout_uint(&j, c->result.epoch);
    jout_key(&j, "state");
    jout_str(&j, fsm_site_state_name(FSM_SITE_ACTIVE));
    jout_key(&j, "changed_ms");
    jout_uint(&j, c->result.time_ms);
    jout_end(&j, '}');
    api_reply_jout(c, 200, &j);
}

static void do_set_primary(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"region", JT_STRING, true},
        {"reason", JT_STRING, false},
        {"expected_epoch", JT_INT, false},
    };
    struct fsm_cmd cmd;
    const struct jin *v;

    if (api__check_body(c, fields, 3) != 0) {
        return;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_SET_PRIMARY;
    cmd.actor = c->actor;
    cmd.u.set_primary.region = jin_get(c->body, "region")->u.str.s;
    v = jin_get(c->body, "reason");
    cmd.u.set_primary.reason = v ? v->u.str.s : "";
    v = jin_get(c->body, "expected_epoch");
    if (v != NULL) {
        if (v->u.i < 0) {
            api_reply_error(c, 400, "invalid_argument",
                            "field \"expected_epoch\" must not be negative");
            return;
        }
        cmd.u.set_primary.has_expected_epoch = true;
        cmd.u.set_primary.expected_epoch = (uint64_t)v->u.i;
    }
    api_propose_then(c, &cmd, after_primary_set);
}

/* Members: metadata through the FSM, the server itself through raft. */

/* One membership request at a time through this API, held until its
 * answer: a second add of the same id would otherwise undo the metadata
 * of the first one when raft refuses it. Released by call_free. */
static bool member_lock(struct api_call *c)
{
    if (c->api->member_busy) {
        return false;
    }
    c->api->member_busy = true;
    c->holds_member_lock = true;
    return true;
}

static void member_reply(struct api_call *c, int status)
{
    struct jout j;
    jout_init(&j);
    if (!api_view_member(&j, c->api, c->id)) {
        jout_begin(&j, '{');
        jout_key(&j, "id");
        jout_uint(&j, c->id);
        jout_end(&j, '}');
    }
    api_reply_jout(c, status, &j);
}

static void member_cleanup_cb(struct raftnode_req *r,
                              int status,
                              const struct fsm_result *res)
{
    (void)status;
    (void)res;
    free(r);
}

/* Undo the metadata of a member raft refused; best effort. */
static void member_forget(struct api_call *c)
{
    struct raftnode_req *r = calloc(1, sizeof(*r));
    struct fsm_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_MEMBER_REMOVE;
    cmd.actor = c->actor;
    cmd.u.member_id = c->id;
    if (r == NULL ||
        raftnode_propose(c->api->node, r, &cmd, member_cleanup_cb) != DR_OK) {
        free(r);
    }
}

static void member_added_cb(struct raftnode_change *ch,
                            int status,
                            const char *errmsg)
{
    struct api_call *c = ch->data;
    if (status != 0) {
        if (raftnode_is_leader(c->api->node)) {
            member_forget(c);
        }
        api_reply_error(c, 503, "unavailable",
                        "member %llu could not join: %s (is it running with "
                        "join = true and reachable at its raft address?)",
                        (unsigned long long)c->id, errmsg);
        return;
    }
    member_reply(c, 201);
}

static void after_member_meta(struct api_call *c)
{
    char err[256];
    const struct fsm_member *m = fsm_member_get(api_state(c), c->id);
    int rv;

    if (m == NULL) {
        api_reply_error(c, 409, "conflict",
                        "member %llu was removed concurrently",
                        (unsigned long long)c->id);
        return;
    }
    c->change.data = c;
    if (raftnode_role_of(c->api->node, c->id) == RAFT_SPARE) {
        /* An earlier add joined it as spare, then lost leadership before
         * the promotion: finish that add. */
        rv = raftnode_promote(c->api->node, &c->change, c->id, member_added_cb,
                              err);
    } else {
        rv = raftnode_add(c->api->node, &c->change, c->id, m->raft_address,
                          member_added_cb, err);
    }
    if (rv != DR_OK) {
        member_forget(c);
        api_reply_code(c, rv, err);
    }
}

/* Server c->id is a spare at address in raft's configuration: an add of
 * it was cut short after it joined, and may be finished. */
static bool spare_at(struct api_call *c, const char *address)
{
    const struct raft_configuration *cf = &c->api->node->raft.configuration;
    for (unsigned i = 0; i < cf->n; i++) {
        if (cf->servers[i].id == c->id) {
            return cf->servers[i].role == RAFT_SPARE &&
                   strcmp(cf->servers[i].address, address) == 0;
        }
    }
    return false;
}

static void do_member_add(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"id", JT_INT, true},
        {"region", JT_STRING, true},
        {"raft_address", JT_STRING, true},
        {"api_address", JT_STRING, true},
    };
    struct fsm_cmd cmd;
    int64_t id;

    if (api__check_body(c, fields, 4) != 0) {
        return;
    }
    id = jin_get(c->body, "id")->u.i;
    if (id <= 0) {
        api_reply_error(c, 400, "invalid_argument",
                        "field \"id\" must be a positive integer");
        return;
    }
    c->id = (uint64_t)id;
    if (!raftnode_is_leader(c->api->node)) {
        api_reply_not_leader(c);
        return;
    }
    if (raftnode_role_of(c->api->node, c->id) >= 0 &&
        !spare_at(c, jin_get(c->body, "raft_address")->u.str.s)) {
        api_reply_error(c, 409, "already_exists",
                        "member %llu is already in the cluster; remove it "
                        "first to re-add it",
                        (unsigned long long)c->id);
        return;
    }
    if (raftnode_change_pending(c->api->node)) {
        char why[256];
        raftnode_change_pending_why(c->api->node, why, sizeof(why));
        api_reply_error(c, 409, "conflict", "%s", why);
        return;
    }
    if (!member_lock(c)) {
        api_reply_error(c, 409, "conflict",
                        "another membership change is in progress through "
                        "this API; retry later");
        return;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_MEMBER_PUT;
    cmd.actor = c->actor;
    cmd.u.member.id = c->id;
    cmd.u.member.region = (char *)jin_get(c->body, "region")->u.str.s;
    cmd.u.member.raft_address =
        (char *)jin_get(c->body, "raft_address")->u.str.s;
    cmd.u.member.api_address = (char *)jin_get(c->body, "api_address")->u.str.s;
    api_propose_then(c, &cmd, after_member_meta);
}

static void after_member_meta_removed(struct api_call *c)
{
    struct jout j;
    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "deleted");
    jout_uint(&j, c->id);
    jout_end(&j, '}');
    api_reply_jout(c, 200, &j);
}

static void member_meta_remove(struct api_call *c)
{
    struct fsm_cmd cmd;
    if (fsm_member_get(api_state(c), c->id) == NULL) {
        after_member_meta_removed(c);
        return;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_MEMBER_REMOVE;
    cmd.actor = c->actor;
    cmd.u.member_id = c->id;
    api_propose_then(c, &cmd, after_member_meta_removed);
}

static void member_removed_cb(struct raftnode_change *ch,
                              int status,
                              const char *errmsg)
{
    struct api_call *c = ch->data;
    if (status != 0) {
        api_reply_error(c, 503, "unavailable",
                        "removing member %llu failed: %s",
                        (unsigned long long)c->id, errmsg);
        return;
    }
    member_meta_remove(c);
}

static void do_member_remove(struct api_call *c)
{
    char err[256];
    char *end;
    unsigned long long id = strtoull(c->arg, &end, 10);
    int rv;

    if (c->arg[0] == '\0' || *end != '\0' || id == 0) {
        api_reply_error(c, 400, "invalid_argument",
                        "member id \"%s\" is not a positive integer", c->arg);
        return;
    }
    c->id = id;
    if (!raftnode_is_leader(c->api->node)) {
        api_reply_not_leader(c);
        return;
    }
    if (id == c->api->cfg->id) {
        api_reply_error(c, 409, "conflict",
                        "member %llu is the leader; transfer leadership "
                        "first",
                        id);
        return;
    }
    if (!member_lock(c)) {
        api_reply_error(c, 409, "conflict",
                        "another membership change is in progress; retry "
                        "later");
        return;
    }
    if (raftnode_role_of(c->api->node, id) < 0) {
        if (fsm_member_get(api_state(c), id) == NULL) {
            api_reply_error(c, 404, "not_found", "member %llu does not exist",
                            id);
            return;
        }
        member_meta_remove(c);
        return;
    }
    c->change.data = c;
    rv = raftnode_remove(c->api->node, &c->change, id, member_removed_cb, err);
    if (rv != DR_OK) {
        api_reply_code(c, rv, err);
    }
}

static void transfer_done_cb(struct raftnode_change *ch,
                             int status,
                             const char *errmsg)
{
    struct api_call *c = ch->data;
    raft_id lid = raftnode_leader(c->api->node);
    (void)errmsg;
    if (status != 0 || lid == 0 || lid == c->prev_leader ||
        (c->id != 0 && lid != c->id)) {
        api_reply_error(c, 504, "timeout",
                        "leadership did not move within the election "
                        "timeout (leader is now %llu)",
                        (unsigned long long)lid);
        return;
    }
    reply_wrapped(c, "leader", api_view_leader);
}

static void do_leader_transfer(struct api_call *c)
{
    static const struct api_field fields[] = {{"to", JT_INT, false}};
    char err[256];
    const struct jin *v;
    int rv;

    if (api__check_body(c, fields, 1) != 0) {
        return;
    }
    v = jin_get(c->body, "to");
    if (v != NULL && v->u.i <= 0) {
        api_reply_error(c, 400, "invalid_argument",
                        "field \"to\" must be a positive member id");
        return;
    }
    c->id = v ? (uint64_t)v->u.i : 0;
    if (!raftnode_is_leader(c->api->node)) {
        api_reply_not_leader(c);
        return;
    }
    if (c->id == c->api->cfg->id) {
        reply_wrapped(c, "leader", api_view_leader);
        return;
    }
    c->prev_leader = c->api->cfg->id;
    c->change.data = c;
    rv = raftnode_transfer(c->api->node, &c->change, c->id, transfer_done_cb,
                           err);
    if (rv != DR_OK) {
        api_reply_code(c, rv, err);
    }
}

/* Routing. */

static const struct api_route_def routes[] = {
    {"GET", "/api/status", NULL, ROUTE_STATUS, API_DIRECT, API_ROLE_READER, 0,
     do_status, NULL},
    {"GET", "/metrics", NULL, ROUTE_METRICS, API_DIRECT, API_ROLE_READER, 0,
     api_metrics, NULL},
    {"GET", "/api/regions", NULL, ROUTE_REGIONS, API_READ, API_ROLE_READER, 0,
     do_regions_list, NULL},
    {"POST", "/api/regions", NULL, ROUTE_REGIONS, API_WRITE, API_ROLE_ADMIN,
     API_BODY, do_region_add, NULL},
    {"GET", "/api/regions/", NULL, ROUTE_REGION, API_READ, API_ROLE_READER, 0,
     do_region_get, NULL},
    {"PUT", "/api/regions/", NULL, ROUTE_REGION, API_WRITE, API_ROLE_ADMIN,
     API_BODY, do_region_update, NULL},
    {"DELETE", "/api/regions/", NULL, ROUTE_REGION, API_WRITE, API_ROLE_ADMIN,
     0, do_region_remove, NULL},
    {"GET", "/api/members", NULL, ROUTE_MEMBERS, API_READ, API_ROLE_READER, 0,
     do_members_list, NULL},
    {"POST", "/api/members", NULL, ROUTE_MEMBERS, API_WRITE, API_ROLE_ADMIN,
     API_BODY, do_member_add, NULL},
    {"DELETE", "/api/members/", NULL, ROUTE_MEMBER, API_WRITE, API_ROLE_ADMIN,
     0, do_member_remove, NULL},
    {"POST", "/api/leader/transfer", NULL, ROUTE_LEADER_TRANSFER, API_WRITE,
     API_ROLE_ADMIN, API_BODY | API_EMPTY_OK, do_leader_transfer, NULL},
    {"GET", "/api/settings", NULL, ROUTE_SETTINGS, API_READ, API_ROLE_READER, 0,
     do_settings_list, NULL},
    {"GET", "/api/settings/", NULL, ROUTE_SETTING, API_READ, API_ROLE_READER, 0,
     do_setting_get, NULL},
    {"PUT", "/api/settings/", NULL, ROUTE_SETTING, API_WRITE, API_ROLE_ADMIN,
     API_BODY, do_setting_set, NULL},
    {"GET", "/api/site", NULL, ROUTE_SITE, API_READ, API_ROLE_READER, 0,
     do_site, NULL},
    {"POST", "/api/site/primary", NULL, ROUTE_SITE_PRIMARY, API_WRITE,
     API_ROLE_ADMIN, API_BODY, do_set_primary, NULL},
    {"GET", "/api/history", NULL, ROUTE_HISTORY, API_READ, API_ROLE_READER, 0,
     do_history, NULL},
};

const struct api_route_table api_routes_core = API_ROUTE_TABLE(routes);

static const struct api_route_table *const tables[] = {
    &api_routes_core,   &api_routes_catalog,     &api_routes_health,
    &api_routes_drills, &api_routes_replication, &api_routes_failover,
    &api_routes_ui,
};
#define N_TABLES (sizeof(tables) / sizeof(tables[0]))

/* Route k of all the tables in order, or NULL past the last. */
static const struct api_route_def *route_at(size_t k)
{
    for (size_t t = 0; t < N_TABLES; t++) {
        if (k < tables[t]->n) {
            return &tables[t]->routes[k];
        }
        k -= tables[t]->n;
    }
    return NULL;
}

static bool path_takes_action(const char *path);

/* Does the request path p fall under pattern (exact, or prefix + one
 * argument + at most one action, where the pattern's routes take one)?
 * Fills c->arg and c->sub when it does. */
static bool path_matches(struct api_call *c, h2o_iovec_t p, const char *path)
{
    size_t len = strlen(path);
    const char *slash;
    size_t alen;

    if (path[len - 1] != '/' || len == 1) { /* "/" is the page, exactly */
        return p.len == len && memcmp(p.base, path, len) == 0;
    }
    if (p.len <= len || memcmp(p.base, path, len) != 0) {
        return false;
    }
    slash = memchr(p.base + len, '/', p.len - len);
    alen = p.len - len;
    c->sub[0] = '\0';
    if (slash != NULL) {
        size_t slen = p.len - (size_t)(slash + 1 - p.base);
        if (slen == 0 || slen >= sizeof(c->sub) ||
            memchr(slash + 1, '/', slen) != NULL || !path_takes_action(path)) {
            return false;
        }
        memcpy(c->sub, slash + 1, slen);
        c->sub[slen] = '\0';
        alen = (size_t)(slash - (p.base + len));
    }
    if (alen >= sizeof(c->arg)) {
        alen = sizeof(c->arg) - 1;
    }
    memcpy(c->arg, p.base + len, alen);
    c->arg[alen] = '\0';
    return true;
}

/* Whether any route of path takes an action segment. */
static bool path_takes_action(const char *path)
{
    const struct api_route_def *r;
    for (size_t k = 0; (r = route_at(k)) != NULL; k++) {
        if (r->action != NULL && strcmp(r->path, path) == 0) {
            return true;
        }
    }
    return false;
}

/* The first route whose path pattern matches the request, or NULL. */
static const struct api_route_def *match_path(struct api_call *c)
{
    const struct api_route_def *r;
    for (size_t k = 0; (r = route_at(k)) != NULL; k++) {
        if (path_matches(c, c->req->path_normalized, r->path)) {
            return r;
        }
    }
    return NULL;
}

static bool same(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* "GET, PUT, DELETE" or "GET, POST (/claim, /renew)": every method the
 * routes of path take, in table order, each followed by its actions. */
static void allowed_methods(const char *path, char *out, size_t size)
{
    const struct api_route_def *r, *a;
    size_t len = 0;

    out[0] = '\0';
    for (size_t k = 0; (r = route_at(k)) != NULL && len < size; k++) {
        bool seen = false, first = true;
        if (strcmp(r->path, path) != 0) {
            continue;
        }
        for (size_t i = 0; i < k; i++) {
            a = route_at(i);
            seen = seen || (strcmp(a->path, path) == 0 &&
                            strcmp(a->method, r->method) == 0);
        }
        if (seen) {
            continue;
        }
        len += (size_t)snprintf(out + len, size - len, "%s%s",
                                len > 0 ? ", " : "", r->method);
        for (size_t i = k; (a = route_at(i)) != NULL && len < size; i++) {
            if (a->action != NULL && strcmp(a->path, path) == 0 &&
                strcmp(a->method, r->method) == 0) {
                len += (size_t)snprintf(out + len, size - len, "%s/%s",
                                        first ? " (" : ", ", a->action);
                first = false;
            }
        }
        if (!first && len < size) {
            len += (size_t)snprintf(out + len, size - len, ")");
        }
    }
    if (len >= size) {
        out[size - 1] = '\0';
    }
}

int api_routes_check(char *errmsg)
{
    const struct api_route_def *r, *o;
    for (size_t k = 0; (r = route_at(k)) != NULL; k++) {
        if (r->how == API_WRITE &&
            (r->role == API_ROLE_OPEN || r->role == API_ROLE_READER)) {
            snprintf(errmsg, 256,
                     "route %s %s: a write must need an operator, node or "
                     "admin token",
                     r->method, r->path);
            return -1;
        }
        for (size_t i = k + 1; (o = route_at(i)) != NULL; i++) {
            if (strcmp(o->method, r->method) == 0 &&
                strcmp(o->path, r->path) == 0 && same(o->action, r->action)) {
                snprintf(errmsg, 256, "route %s %s declared twice", r->method,
                         r->path);
                return -1;
            }
        }
    }
    return 0;
}

/* Writes: authenticate, then parse the body, then the handler. */
void api__write_route(struct api_call *c,
                      api_handler_fn fn,
                      int need,
                      bool has_body,
                      bool allow_empty)
{
    if (api__auth(c, need) != 0) {
        return;
    }
    if (has_body && parse_body(c, allow_empty) != 0) {
        return;
    }
    fn(c);
}

void api_route(struct api_call *c, const char *method)
{
    const struct api_route_def *family = match_path(c), *r;
    char allow[128];

    if (family == NULL) {
        c->route = ROUTE_UNKNOWN;
        c->api->requests[ROUTE_UNKNOWN]++;
        api_reply_error(c, 404, "not_found", "no such route: %s %.*s", method,
                        (int)c->req->path_normalized.len,
                        c->req->path_normalized.base);
        return;
    }
    c->route = family->route;
    c->api->requests[family->route]++;
    if (strcmp(method, "OPTIONS") == 0) {
        /* A browser's preflight before a read with a token (cors() in
         * http.c decided whether the origin may read at all). */
        if (c->req != NULL) {
            h2o_add_header_by_str(&c->req->pool, &c->req->res.headers,
                                  H2O_STRLIT("access-control-allow-methods"), 0,
                                  NULL, H2O_STRLIT("GET"));
            h2o_add_header_by_str(&c->req->pool, &c->req->res.headers,
                                  H2O_STRLIT("access-control-allow-headers"), 0,
                                  NULL, H2O_STRLIT("Authorization"));
            h2o_add_header_by_str(&c->req->pool, &c->req->res.headers,
                                  H2O_STRLIT("access-control-max-age"), 0, NULL,
                                  H2O_STRLIT("600"));
        }
        api_reply_text(c, 204, "text/plain", "", 0);
        return;
    }
    if (family->arg_ok != NULL && !family->arg_ok(c)) {
        return;
    }
    for (size_t k = 0; (r = route_at(k)) != NULL; k++) {
        if (strcmp(r->path, family->path) != 0 ||
            strcmp(r->method, method) != 0 ||
            (!same(r->action, c->sub[0] != '\0' ? c->sub : NULL) &&
             (r->flags & API_ANY_ACTION) == 0)) {
            continue;
        }
        if (r->how != API_WRITE) {
            /* Health and metrics stay open for probes and Prometheus
             * unless [api] open_health / open_metrics say otherwise. */
            const struct config *cfg = c->api->cfg;
            int need =
                (r->route == ROUTE_HEALTH && cfg->api_open_health) ||
                        (r->route == ROUTE_METRICS && cfg->api_open_metrics)
                    ? API_ROLE_OPEN
                    : r->role;
            if (api__auth(c, need) != 0) {
                return;
            }
        }
        switch (r->how) {
            case API_DIRECT:
                r->fn(c);
                return;
            case API_READ:
                api_read_then(c, r->fn);
                return;
            default:
                api__write_route(c, r->fn, r->role, (r->flags & API_BODY) != 0,
                                 (r->flags & API_EMPTY_OK) != 0);
                return;
        }
    }
    allowed_methods(family->path, allow, sizeof(allow));
    if (c->req != NULL) {
        h2o_add_header(&c->req->pool, &c->req->res.headers, H2O_TOKEN_ALLOW,
                       NULL, allow, strlen(allow));
    }
    api_reply_error(c, 405, "method_not_allowed",
                    "%s is not allowed on %s (allowed: %s)", method,
                    family->path, allow);
}
