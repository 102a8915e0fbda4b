/* Protobuf encoding of commands, log entries and snapshots. */
#include "codec/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_catalog.h"
#include "codec/codec_health.h"
#include "dr.pb-c.h"
#include "fsm/settings.h"

/* Plain structs to protobuf messages. The messages borrow the strings. */

static void region_to_pb(const struct fsm_region *r, Dr__Region *pb)
{
    dr__region__init(pb);
    pb->name = r->name ? r->name : "";
    pb->priority = r->priority;
    pb->n_dns_targets = r->n_dns_targets;
    pb->dns_targets = r->dns_targets;
    pb->object_store = r->object_store ? r->object_store : "";
    pb->status = (Dr__RegionStatus)r->status;
    pb->created_ms = r->created_ms;
    pb->updated_ms = r->updated_ms;
    pb->health = codec__health_pack(r->health);
    pb->health_ms = r->health_ms;
    pb->n_endpoints = r->n_endpoints;
    pb->endpoints = r->endpoints;
}

static void region_from_pb(const Dr__Region *pb, struct fsm_region *r)
{
    memset(r, 0, sizeof(*r));
    r->name = pb->name;
    r->priority = pb->priority;
    r->n_dns_targets = pb->n_dns_targets;
    r->dns_targets = pb->dns_targets;
    r->object_store = pb->object_store;
    r->status = (int)pb->status;
    r->created_ms = pb->created_ms;
    r->updated_ms = pb->updated_ms;
    r->health_ms = pb->health_ms;
    r->n_endpoints = pb->n_endpoints;
    r->endpoints = pb->endpoints;
    if (!codec__health_unpack(pb->health, r->health)) {
        r->health[0] = -1; /* refused by check_region */
    }
}

static void member_to_pb(const struct fsm_member *m, Dr__Member *pb)
{
    dr__member__init(pb);
    pb->id = m->id;
    pb->region = m->region ? m->region : "";
    pb->raft_address = m->raft_address ? m->raft_address : "";
    pb->api_address = m->api_address ? m->api_address : "";
    pb->added_ms = m->added_ms;
}

static void member_from_pb(const Dr__Member *pb, struct fsm_member *m)
{
    m->id = pb->id;
    m->region = pb->region;
    m->raft_address = pb->raft_address;
    m->api_address = pb->api_address;
    m->added_ms = pb->added_ms;
}

static void value_to_pb(const char *key,
                        const struct fsm_value *v,
                        Dr__Setting *pb)
{
    dr__setting__init(pb);
    pb->key = (char *)key;
    switch (v->type) {
        case FSM_SETTING_INT:
            pb->value_case = DR__SETTING__VALUE_INT_VALUE;
            pb->int_value = v->i;
            break;
        case FSM_SETTING_BOOL:
            pb->value_case = DR__SETTING__VALUE_BOOL_VALUE;
            pb->bool_value = v->b;
            break;
        case FSM_SETTING_STRING:
            pb->value_case = DR__SETTING__VALUE_STRING_VALUE;
            pb->string_value = v->s ? v->s : "";
            break;
        default:
            break;
    }
}

/* Returns 0 when the setting has no value. */
static int value_from_pb(const Dr__Setting *pb, struct fsm_value *v)
{
    memset(v, 0, sizeof(*v));
    switch (pb->value_case) {
        case DR__SETTING__VALUE_INT_VALUE:
            v->type = FSM_SETTING_INT;
            v->i = pb->int_value;
            return 1;
        case DR__SETTING__VALUE_BOOL_VALUE:
            v->type = FSM_SETTING_BOOL;
            v->b = pb->bool_value;
            return 1;
        case DR__SETTING__VALUE_STRING_VALUE:
            v->type = FSM_SETTING_STRING;
            v->s = pb->string_value;
            return 1;
        default:
            return 0;
    }
}

/* Commands. */

int codec_cmd_encode(const struct fsm_cmd *cmd, uint8_t **out, size_t *len)
{
    Dr__Command c;
    Dr__CmdBootstrap boot;
    Dr__CmdRegionAdd radd;
    Dr__CmdRegionUpdate rupd;
    Dr__CmdRegionRemove rrem;
    Dr__CmdMemberPut mput;
    Dr__CmdMemberRemove mrem;
    Dr__CmdSetPrimary sp;
    Dr__CmdSettingSet ss;
    Dr__Region region;
    Dr__Member member;
    Dr__Setting setting;
    struct codec__catalog_scratch cat;
    struct codec__health_scratch health;
    Dr__Region *bregions = NULL;
    Dr__Region **bregion_ptrs = NULL;
    Dr__Member *bmembers = NULL;
    Dr__Member **bmember_ptrs = NULL;
    int rv = DR_OK;

    dr__command__init(&c);
    c.actor = (char *)(cmd->actor ? cmd->actor : "");
    switch (cmd->type) {
        case FSM_CMD_BOOTSTRAP: {
            const struct fsm_cmd_bootstrap *b = &cmd->u.bootstrap;
            dr__cmd_bootstrap__init(&boot);
            bregions = calloc(b->n_regions + 1, sizeof(*bregions));
            bregion_ptrs = calloc(b->n_regions + 1, sizeof(*bregion_ptrs));
            bmembers = calloc(b->n_members + 1, sizeof(*bmembers));
            bmember_ptrs = calloc(b->n_members + 1, sizeof(*bmember_ptrs));
            if (!bregions || !bregion_ptrs || !bmembers || !bmember_ptrs) {
                rv = DR_ENOMEM;
                goto out;
            }
            for (size_t i = 0; i < b->n_regions; i++) {
                region_to_pb(&b->regions[i], &bregions[i]);
                bregion_ptrs[i] = &bregions[i];
            }
            for (size_t i = 0; i < b->n_members; i++) {
                member_to_pb(&b->members[i], &bmembers[i]);
                bmember_ptrs[i] = &bmembers[i];
            }
            boot.n_regions = b->n_regions;
            boot.regions = bregion_ptrs;
            boot.n_members = b->n_members;
            boot.members = bmember_ptrs;
            boot.primary_region =
                (char *)(b->primary_region ? b->primary_region : "");
            c.kind_case = DR__COMMAND__KIND_BOOTSTRAP;
            c.bootstrap = &boot;
            break;
        }
        case FSM_CMD_REGION_ADD:
            dr__cmd_region_add__init(&radd);
            region_to_pb(&cmd->u.region, &region);
            radd.region = &region;
            c.kind_case = DR__COMMAND__KIND_REGION_ADD;
            c.region_add = &radd;
            break;
        case FSM_CMD_REGION_UPDATE:
            dr__cmd_region_update__init(&rupd);
            region_to_pb(&cmd->u.region, &region);
            rupd.region = &region;
            rupd.fields = cmd->fields;
            c.kind_case = DR__COMMAND__KIND_REGION_UPDATE;
            c.region_update = &rupd;
            break;
        case FSM_CMD_REGION_REMOVE:
            dr__cmd_region_remove__init(&rrem);
            rrem.name = (char *)(cmd->u.region_name ? cmd->u.region_name : "");
            c.kind_case = DR__COMMAND__KIND_REGION_REMOVE;
            c.region_remove = &rrem;
            break;
        case FSM_CMD_MEMBER_PUT:
            dr__cmd_member_put__init(&mput);
            member_to_pb(&cmd->u.member, &member);
            mput.member = &member;
            c.kind_case = DR__COMMAND__KIND_MEMBER_PUT;
            c.member_put = &mput;
            break;
        case FSM_CMD_MEMBER_REMOVE:
            dr__cmd_member_remove__init(&mrem);
            mrem.id = cmd->u.member_id;
            c.kind_case = DR__COMMAND__KIND_MEMBER_REMOVE;
            c.member_remove = &mrem;
            break;
        case FSM_CMD_SET_PRIMARY:
            dr__cmd_set_primary__init(&sp);
            sp.region =
                (char *)(cmd->u.set_primary.region ? cmd->u.set_primary.region
                                                   : "");
            sp.reason =
                (char *)(cmd->u.set_primary.reason ? cmd->u.set_primary.reason
                                                   : "");
            if (cmd->u.set_primary.has_expected_epoch) {
                sp.expected_case = DR__CMD_SET_PRIMARY__EXPECTED_EXPECTED_EPOCH;
                sp.expected_epoch = cmd->u.set_primary.expected_epoch;
            }
            c.kind_case = DR__COMMAND__KIND_SET_PRIMARY;
            c.set_primary = &sp;
            break;
        case FSM_CMD_SETTING_SET:
            dr__cmd_setting_set__init(&ss);
            value_to_pb(cmd->u.setting.key ? cmd->u.setting.key : "",
                        &cmd->u.setting.value, &setting);
            ss.setting = &setting;
            c.kind_case = DR__COMMAND__KIND_SETTING_SET;
            c.setting_set = &ss;
            break;
        default:
            rv = codec__catalog_cmd_to_pb(cmd, &c, &cat);
            if (rv != DR_OK) {
                rv = codec__health_cmd_to_pb(cmd, &c, &health);
            }
            if (rv != DR_OK) {
                goto out;
            }
            break;
    }
    *len = dr__command__get_packed_size(&c);
    *out = malloc(*len ? *len : 1);
    if (*out == NULL) {
        rv = DR_ENOMEM;
        goto out;
    }
    dr__command__pack(&c, *out);
out:
    free(bregions);
    free(bregion_ptrs);
    free(bmembers);
    free(bmember_ptrs);
    return rv;
}

static size_t varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Entry fields: 1 version (varint), 2 time_ms (varint), 3 commands (bytes),
 * 15 pad (bytes):
 * the wire form of a repeated message is its elements one after another,
 * so a batch is assembled without re-encoding each command. */
int codec_entry_assemble(uint32_t version,
                         uint64_t time_ms,
                         const struct codec_piece *cmds,
                         size_t n,
                         codec_alloc_fn alloc,
                         void **out,
                         size_t *len)
{
    size_t size = 1 + 10 + 1 + 10 + 2 + 8;
    uint8_t *p;
    size_t off = 0;
    size_t pad;

    for (size_t i = 0; i < n; i++) {
        size += 1 + 10 + cmds[i].len;
    }
    p = alloc(size);
    if (p == NULL) {
        return DR_ENOMEM;
    }
    p[off++] = 0x08;
    off += varint_put(p + off, version);
    p[off++] = 0x10;
    off += varint_put(p + off, time_ms);
    for (size_t i = 0; i < n; i++) {
        p[off++] = 0x1a;
        off += varint_put(p + off, cmds[i].len);
        memcpy(p + off, cmds[i].base, cmds[i].len);
        off += cmds[i].len;
    }
    /* Field 15 (bytes) of 0..7 bytes, so that the whole is 8-aligned. */
    pad = (8 - (off + 2) % 8) % 8;
    p[off++] = 0x7a;
    p[off++] = (uint8_t)pad;
    memset(p + off, 0, pad);
    off += pad;
    *out = p;
    *len = off;
    return DR_OK;
}

struct entry_priv
{
    Dr__Entry *msg;
    struct fsm_cmd *cmds;
    struct fsm_region **boot_regions; /* per command, bootstrap only */
    struct fsm_member **boot_members;
};

static void cmd_from_pb(const Dr__Command *c,
                        struct fsm_cmd *cmd,
                        struct fsm_region **boot_regions,
                        struct fsm_member **boot_members)
{
    memset(cmd, 0, sizeof(*cmd));
    cmd->actor = c->actor;
    switch (c->kind_case) {
        case DR__COMMAND__KIND_BOOTSTRAP: {
            const Dr__CmdBootstrap *b = c->bootstrap;
            struct fsm_region *rs = calloc(b->n_regions + 1, sizeof(*rs));
            struct fsm_member *ms = calloc(b->n_members + 1, sizeof(*ms));
            *boot_regions = rs;
            *boot_members = ms;
            if (rs == NULL || ms == NULL) {
                return; /* type 0: rejected */
            }
            for (size_t i = 0; i < b->n_regions; i++) {
                region_from_pb(b->regions[i], &rs[i]);
            }
            for (size_t i = 0; i < b->n_members; i++) {
                member_from_pb(b->members[i], &ms[i]);
            }
            cmd->u.bootstrap.regions = rs;
            cmd->u.bootstrap.n_regions = b->n_regions;
            cmd->u.bootstrap.members = ms;
            cmd->u.bootstrap.n_members = b->n_members;
            cmd->u.bootstrap.primary_region = b->primary_region;
            cmd->type = FSM_CMD_BOOTSTRAP;
            return;
        }
        case DR__COMMAND__KIND_REGION_ADD:
            if (c->region_add->region == NULL) {
                return;
            }
            region_from_pb(c->region_add->region, &cmd->u.region);
            cmd->type = FSM_CMD_REGION_ADD;
            return;
        case DR__COMMAND__KIND_REGION_UPDATE:
            if (c->region_update->region == NULL) {
                return;
            }
            region_from_pb(c->region_update->region, &cmd->u.region);
            cmd->fields = c->region_update->fields;
            cmd->type = FSM_CMD_REGION_UPDATE;
            return;
        case DR__COMMAND__KIND_REGION_REMOVE:
            cmd->u.region_name = c->region_remove->name;
            cmd->type = FSM_CMD_REGION_REMOVE;
            return;
        case DR__COMMAND__KIND_MEMBER_PUT:
            if (c->member_put->member == NULL) {
                return;
            }
            member_from_pb(c->member_put->member, &cmd->u.member);
            cmd->type = FSM_CMD_MEMBER_PUT;
            return;
        case DR__COMMAND__KIND_MEMBER_REMOVE:
            cmd->u.member_id = c->member_remove->id;
            cmd->type = FSM_CMD_MEMBER_REMOVE;
            return;
        case DR__COMMAND__KIND_SET_PRIMARY: {
            const Dr__CmdSetPrimary *sp = c->set_primary;
            cmd->u.set_primary.region = sp->region;
            cmd->u.set_primary.reason = sp->reason;
            cmd->u.set_primary.has_expected_epoch =
                sp->expected_case ==
                DR__CMD_SET_PRIMARY__EXPECTED_EXPECTED_EPOCH;
            cmd->u.set_primary.expected_epoch = sp->expected_epoch;
            cmd->type = FSM_CMD_SET_PRIMARY;
            return;
        }
        case DR__COMMAND__KIND_SETTING_SET:
            if (c->setting_set->setting == NULL ||
                !value_from_pb(c->setting_set->setting,
                               &cmd->u.setting.value)) {
                return;
            }
            cmd->u.setting.key = c->setting_set->setting->key;
            cmd->type = FSM_CMD_SETTING_SET;
            return;
        default:
            /* a catalog command, or an unknown kind from a newer node:
             * type 0 */
            if (!codec__catalog_cmd_from_pb(c, cmd)) {
                codec__health_cmd_from_pb(c, cmd);
            }
            return;
    }
}

int codec_entry_decode(const uint8_t *buf, size_t len, struct codec_entry **out)
{
    struct codec_entry *ce = calloc(1, sizeof(*ce));
    struct entry_priv *p = calloc(1, sizeof(*p));
    Dr__Entry *msg;

    if (ce == NULL || p == NULL) {
        free(ce);
        free(p);
        return DR_ENOMEM;
    }
    ce->priv = p;
    msg = dr__entry__unpack(NULL, len, buf);
    if (msg == NULL) {
        codec_entry_free(ce);
        return DR_EMALFORMED;
    }
    p->msg = msg;
    p->cmds = calloc(msg->n_commands + 1, sizeof(*p->cmds));
    p->boot_regions = calloc(msg->n_commands + 1, sizeof(*p->boot_regions));
    p->boot_members = calloc(msg->n_commands + 1, sizeof(*p->boot_members));
    if (p->cmds == NULL || p->boot_regions == NULL || p->boot_members == NULL) {
        codec_entry_free(ce);
        return DR_ENOMEM;
    }
    for (size_t i = 0; i < msg->n_commands; i++) {
        cmd_from_pb(msg->commands[i], &p->cmds[i], &p->boot_regions[i],
                    &p->boot_members[i]);
    }
    ce->e.version = msg->version;
    ce->e.time_ms = msg->time_ms;
    ce->e.cmds = p->cmds;
    ce->e.n_cmds = msg->n_commands;
    *out = ce;
    return DR_OK;
}

void codec_entry_free(struct codec_entry *ce)
{
    struct entry_priv *p;
    if (ce == NULL) {
        return;
    }
    p = ce->priv;
    if (p != NULL) {
        if (p->msg != NULL) {
            for (size_t i = 0; i < p->msg->n_commands; i++) {
                if (p->boot_regions != NULL) {
                    free(p->boot_regions[i]);
                }
                if (p->boot_members != NULL) {
                    free(p->boot_members[i]);
                }
            }
            dr__entry__free_unpacked(p->msg, NULL);
        }
        free(p->boot_regions);
        free(p->boot_members);
        free(p->cmds);
        free(p);
    }
    free(ce);
}

/* Snapshots. */

int codec_snapshot_encode(const struct fsm *f,
                          codec_alloc_fn alloc,
                          void **out,
                          size_t *len)
{
    Dr__Snapshot s;
    Dr__Site site;
    Dr__Runbook runbook;
    uint64_t step_ms[FSM_RB_STEPS];
    size_t n_settings = fsm_settings_count();
    const struct fsm_setting_desc *table = fsm_settings_table();
    Dr__Region *regions = calloc(f->n_regions + 1, sizeof(*regions));
    Dr__Region **region_ptrs = calloc(f->n_regions + 1, sizeof(*region_ptrs));
    Dr__Member *members = calloc(f->n_members + 1, sizeof(*members));
    Dr__Member **member_ptrs = calloc(f->n_members + 1, sizeof(*member_ptrs));
    Dr__Setting *settings = calloc(n_settings + 1, sizeof(*settings));
    Dr__Setting **setting_ptrs = calloc(n_settings + 1, sizeof(*setting_ptrs));
    Dr__AuditEntry *audit = calloc(f->n_audit + 1, sizeof(*audit));
    Dr__AuditEntry **audit_ptrs = calloc(f->n_audit + 1, sizeof(*audit_ptrs));
    struct codec__catalog_pb cat = {0};
    Dr__Breaker breakers[FSM_PROVIDERS];
    Dr__Breaker *breaker_ptrs[FSM_PROVIDERS];
    int rv = DR_OK;

    if (!regions || !region_ptrs || !members || !member_ptrs || !settings ||
        !setting_ptrs || !audit || !audit_ptrs) {
        rv = DR_ENOMEM;
        goto out;
    }
    dr__snapshot__init(&s);
    dr__site__init(&site);
    site.primary_region = f->site.primary_region ? f->site.primary_region : "";
    site.epoch = f->site.epoch;
    site.state = (Dr__SiteState)f->site.state;
    site.changed_ms = f->site.changed_ms;
    if (f->site.runbook.id != 0) {
        codec__runbook_to_pb(&f->site.runbook, &runbook, step_ms);
        site.runbook = &runbook;
    }
    s.version = FSM_VERSION;
    s.time_ms = f->time_ms;
    s.initialized = f->initialized;
    s.site = &site;
    for (size_t i = 0; i < f->n_regions; i++) {
        region_to_pb(&f->regions[i], &regions[i]);
        region_ptrs[i] = &regions[i];
    }
    s.n_regions = f->n_regions;
    s.regions = region_ptrs;
    for (size_t i = 0; i < f->n_members; i++) {
        member_to_pb(&f->members[i], &members[i]);
        member_ptrs[i] = &members[i];
    }
    s.n_members = f->n_members;
    s.members = member_ptrs;
    for (size_t i = 0; i < n_settings; i++) {
        value_to_pb(table[i].key, &f->settings[i], &settings[i]);
        setting_ptrs[i] = &settings[i];
    }
    s.n_settings = n_settings;
    s.settings = setting_ptrs;
    for (size_t i = 0; i < f->n_audit; i++) {
        const struct fsm_audit *a = fsm_audit_at(f, i);
        dr__audit_entry__init(&audit[i]);
        audit[i].seq = a->seq;
        audit[i].time_ms = a->time_ms;
        audit[i].actor = a->actor;
        audit[i].action = a->action;
        audit[i].detail = a->detail;
        audit_ptrs[i] = &audit[i];
    }
    s.n_audit = f->n_audit;
    s.audit = audit_ptrs;
    s.audit_seq = f->audit_seq;
    if (codec__catalog_to_pb(f, &s, &cat) != DR_OK) {
        rv = DR_ENOMEM;
        goto out;
    }
    codec__health_to_pb(f, &s, breakers, breaker_ptrs);

    *len = dr__snapshot__get_packed_size(&s);
    *out = alloc(*len ? *len : 1);
    if (*out == NULL) {
        rv = DR_ENOMEM;
        goto out;
    }
    dr__snapshot__pack(&s, *out);
out:
    free(regions);
    free(region_ptrs);
    free(members);
    free(member_ptrs);
    free(settings);
    free(setting_ptrs);
    free(audit);
    free(audit_ptrs);
    codec__catalog_pb_free(&cat);
    return rv;
}

static int snapshot_fail(char *errmsg, int code, const char *what)
{
    snprintf(errmsg, 256, "snapshot: %.240s", what);
    return code;
}

/* A region as the FSM would have accepted and stored it. */
static int check_region(const struct fsm_region *r, char *err)
{
    char why[256];
    if (fsm_valid_name("region name", r->name, err) != DR_OK) {
        return DR_EINVAL;
    }
    if (r->status < FSM_REGION_HEALTHY || r->status > FSM_REGION_LOST) {
        snprintf(err, 256, "region %s has an unknown status", r->name);
        return DR_EINVAL;
    }
    if (r->health[0] < 0) {
        snprintf(err, 256, "region %s has an invalid service health", r->name);
        return DR_EINVAL;
    }
    if (r->n_dns_targets > FSM_DNS_TARGETS_MAX) {
        snprintf(err, 256, "region %s has too many DNS targets", r->name);
        return DR_EINVAL;
    }
    for (size_t i = 0; i < r->n_dns_targets; i++) {
        if (fsm_valid_dns_target(r->dns_targets[i], why) != DR_OK) {
            snprintf(err, 256, "region %s: %.200s", r->name, why);
            return DR_EINVAL;
        }
    }
    if (fsm_valid_store_url(r->object_store, why) != DR_OK) {
        snprintf(err, 256, "region %s: %.200s", r->name, why);
        return DR_EINVAL;
    }
    if (r->n_endpoints > FSM_ENDPOINTS_MAX) {
        snprintf(err, 256, "region %s has too many endpoints", r->name);
        return DR_EINVAL;
    }
    for (size_t i = 0; i < r->n_endpoints; i++) {
        if (fsm_endpoint_parse(r->endpoints[i], NULL, NULL, why) != DR_OK) {
            snprintf(err, 256, "region %s: %.200s", r->name, why);
            return DR_EINVAL;
        }
    }
    return DR_OK;
}

/* A member as the FSM would have accepted it; its region is in f. */
static int check_member(const struct fsm *f,
                        const struct fsm_member *m,
                        char *err)
{
    char why[256];
    if (m->id == 0) {
        snprintf(err, 256, "member with id 0");
        return DR_EINVAL;
    }
    if (fsm_valid_host_port("raft_address", m->raft_address, why) != DR_OK ||
        fsm_valid_host_port("api_address", m->api_address, why) != DR_OK) {
        snprintf(err, 256, "member %llu: %.200s", (unsigned long long)m->id,
                 why);
        return DR_EINVAL;
    }
    if (fsm_region_get(f, m->region) == NULL) {
        snprintf(err, 256, "member %llu is in unknown region \"%.64s\"",
                 (unsigned long long)m->id, m->region);
        return DR_EINVAL;
    }
    return DR_OK;
}

/* Rebuild the state by validating each part as the FSM would. */
static int snapshot_fill(const Dr__Snapshot *s, struct fsm *f, char *errmsg)
{
    char err[256];
    char msg[300];

    if (s->version == 0 || s->version > FSM_VERSION) {
        snprintf(msg, sizeof(msg), "version %u is not supported (up to %d)",
                 (unsigned)s->version, FSM_VERSION);
        return snapshot_fail(errmsg, DR_EVERSION, msg);
    }
    f->initialized = s->initialized;
    f->time_ms = s->time_ms;
    if (s->site != NULL) {
        f->site.epoch = s->site->epoch;
        f->site.state = (int)s->site->state;
        f->site.changed_ms = s->site->changed_ms;
        if (s->site->primary_region[0] != '\0') {
            f->site.primary_region = strdup(s->site->primary_region);
            if (f->site.primary_region == NULL) {
                return DR_ENOMEM;
            }
        }
        if (s->site->runbook != NULL) {
            struct fsm_runbook rb;
            codec__runbook_from_pb(s->site->runbook, &rb);
            if (rb.step < FSM_RB_NONE || rb.step >= FSM_RB_STEPS ||
                rb.blocked_step < FSM_RB_NONE ||
                rb.blocked_step >= FSM_RB_STEPS) {
                return snapshot_fail(errmsg, DR_EMALFORMED,
                                     "unknown runbook step");
            }
            {
                char **const strs[] = {
                    &rb.from_region, &rb.to_region,    &rb.reason, &rb.actor,
                    &rb.pg_backup,   &rb.redis_backup, &rb.error,  &rb.detail};
                /* Deep copies; on failure every field is NULL again. */
                for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
                    char *d = strdup(*strs[i] != NULL ? *strs[i] : "");
                    if (d == NULL) {
                        for (size_t k = 0; k < i; k++) {
                            free(*strs[k]);
                        }
                        return DR_ENOMEM;
                    }
                    *strs[i] = d;
                }
            }
            f->site.runbook = rb;
        }
    }
    if (f->site.state < FSM_SITE_ACTIVE || f->site.state > FSM_SITE_BLOCKED) {
        return snapshot_fail(errmsg, DR_EMALFORMED, "unknown site state");
    }
    if (s->n_regions > FSM_REGIONS_MAX || s->n_members > FSM_MEMBERS_MAX) {
        return snapshot_fail(errmsg, DR_EMALFORMED,
                             "more regions or members than allowed");
    }
    f->regions = calloc(s->n_regions + 1, sizeof(*f->regions));
    f->members = calloc(s->n_members + 1, sizeof(*f->members));
    if (f->regions == NULL || f->members == NULL) {
        return DR_ENOMEM;
    }
    for (size_t i = 0; i < s->n_regions; i++) {
        struct fsm_region r;
        region_from_pb(s->regions[i], &r);
        if (check_region(&r, err) != DR_OK) {
            return snapshot_fail(errmsg, DR_EMALFORMED, err);
        }
        if (i > 0 && strcmp(f->regions[i - 1].name, r.name) >= 0) {
            return snapshot_fail(errmsg, DR_EMALFORMED,
                                 "regions out of order or duplicated");
        }
        if (fsm_region_copy(&f->regions[i], &r) != DR_OK) {
            return DR_ENOMEM;
        }
        f->n_regions++;
    }
    for (size_t i = 0; i < s->n_members; i++) {
        struct fsm_member m;
        member_from_pb(s->members[i], &m);
        if (check_member(f, &m, err) != DR_OK) {
            return snapshot_fail(errmsg, DR_EMALFORMED, err);
        }
        if (i > 0 && f->members[i - 1].id >= m.id) {
            return snapshot_fail(errmsg, DR_EMALFORMED,
                                 "members out of order or duplicated");
        }
        if (fsm_member_copy(&f->members[i], &m) != DR_OK) {
            return DR_ENOMEM;
        }
        f->n_members++;
    }
    for (size_t i = 0; i < s->n_settings; i++) {
        struct fsm_value v;
        int idx = fsm_setting_index(s->settings[i]->key);
        if (idx < 0) {
            snprintf(msg, sizeof(msg),
                     "unknown setting \"%.64s\" (written by a newer node?)",
                     s->settings[i]->key);
            return snapshot_fail(errmsg, DR_EVERSION, msg);
        }
        if (!value_from_pb(s->settings[i], &v)) {
            snprintf(msg, sizeof(msg), "setting \"%.64s\" has no value",
                     s->settings[i]->key);
            return snapshot_fail(errmsg, DR_EMALFORMED, msg);
        }
        if (fsm_setting_check(s->settings[i]->key, &v, err) != DR_OK) {
            return snapshot_fail(errmsg, DR_EMALFORMED, err);
        }
        free(f->settings[idx].s);
        f->settings[idx] = v;
        f->settings[idx].s = NULL;
        if (v.type == FSM_SETTING_STRING) {
            f->settings[idx].s = strdup(v.s);
            if (f->settings[idx].s == NULL) {
                return DR_ENOMEM;
            }
        }
    }
    if (f->initialized != (f->site.primary_region != NULL)) {
        return snapshot_fail(errmsg, DR_EMALFORMED,
                             f->initialized
                                 ? "bootstrapped but no primary region"
                                 : "primary region before bootstrap");
    }
    if (f->initialized && (fsm_region_get(f, f->site.primary_region) == NULL ||
                           f->site.epoch == 0)) {
        return snapshot_fail(errmsg, DR_EMALFORMED,
                             "primary region is not listed or epoch is 0");
    }
    if (!f->initialized && (f->n_regions > 0 || f->n_members > 0)) {
        return snapshot_fail(errmsg, DR_EMALFORMED,
                             "regions or members before bootstrap");
    }
    free(f->audit);
    f->cap_audit = (size_t)fsm_setting_int(f, "history.max_entries");
    f->audit = calloc(f->cap_audit, sizeof(*f->audit));
    if (f->audit == NULL) {
        return DR_ENOMEM;
    }
    if (s->n_audit > f->cap_audit) {
        return snapshot_fail(errmsg, DR_EMALFORMED,
                             "more history entries than history.max_entries");
    }
    for (size_t i = 0; i < s->n_audit; i++) {
        struct fsm_audit *a = &f->audit[i];
        if (s->audit[i]->seq > s->audit_seq ||
            (i > 0 && s->audit[i]->seq <= f->audit[i - 1].seq)) {
            return snapshot_fail(errmsg, DR_EMALFORMED,
                                 "history entries out of order");
        }
        a->seq = s->audit[i]->seq;
        a->time_ms = s->audit[i]->time_ms;
        a->actor = strdup(s->audit[i]->actor);
        a->action = strdup(s->audit[i]->action);
        a->detail = strdup(s->audit[i]->detail);
        f->n_audit++;
        if (a->actor == NULL || a->action == NULL || a->detail == NULL) {
            return DR_ENOMEM;
        }
    }
    f->audit_seq = s->audit_seq;
    int rv = codec__health_from_pb(s, f, errmsg);
    if (rv != DR_OK) {
        return rv;
    }
    return codec__catalog_from_pb(s, f, errmsg);
}

int codec_snapshot_decode(const uint8_t *buf,
                          size_t len,
                          struct fsm *out,
                          char *errmsg)
{
    Dr__Snapshot *s;
    int rv;

    rv = fsm_init(out);
    if (rv != DR_OK) {
        snprintf(errmsg, 256, "snapshot: out of memory");
        return rv;
    }
    s = dr__snapshot__unpack(NULL, len, buf);
    if (s == NULL) {
        fsm_close(out); /* left empty, as on every other error */
        return snapshot_fail(errmsg, DR_EMALFORMED,
                             "not a valid snapshot message");
    }
    rv = snapshot_fill(s, out, errmsg);
    dr__snapshot__free_unpacked(s, NULL);
    if (rv != DR_OK) {
        if (rv == DR_ENOMEM) {
            snprintf(errmsg, 256, "snapshot: out of memory");
        }
        fsm_close(out);
    }
    return rv;
}
