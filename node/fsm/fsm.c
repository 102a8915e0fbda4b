/* The coordinator's replicated state machine: commands in, state out. */
#include "fsm/fsm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fsm/internal.h"
#include "fsm/settings.h"
#include "fsm/sm.h"

int fsm__reject(struct fsm_result *res, int code, const char *fmt, ...)
{
    va_list ap;
    res->code = code;
    va_start(ap, fmt);
    vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
    va_end(ap);
    return code;
}

char *fsm__dup_str(const char *s)
{
    return strdup(s != NULL ? s : "");
}

int fsm__set_str(char **dst, const char *src)
{
    char *s = fsm__dup_str(src);
    if (s == NULL) {
        return DR_ENOMEM;
    }
    free(*dst);
    *dst = s;
    return DR_OK;
}

int fsm__dup_strs(char **const *fields, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        *fields[i] = fsm__dup_str(*fields[i]);
        ok = ok && *fields[i] != NULL;
    }
    if (!ok) {
        fsm__free_strs(fields, n);
        return DR_ENOMEM;
    }
    return DR_OK;
}

void fsm__free_strs(char **const *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
}

/* Regions and members. */

/* Copy n strings into a new array *dst; on failure *dn says how many were
 * copied, for free_list. */
static int dup_list(char *const *src, size_t n, char ***dst, size_t *dn)
{
    *dn = 0;
    *dst = NULL;
    if (n == 0) {
        return DR_OK;
    }
    *dst = calloc(n, sizeof(char *));
    if (*dst == NULL) {
        return DR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        (*dst)[i] = fsm__dup_str(src[i]);
        (*dn)++;
        if ((*dst)[i] == NULL) {
            return DR_ENOMEM;
        }
    }
    return DR_OK;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i]);
    }
    free(list);
}

int fsm_region_copy(struct fsm_region *dst, const struct fsm_region *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->priority = src->priority;
    dst->status = src->status;
    dst->created_ms = src->created_ms;
    dst->updated_ms = src->updated_ms;
    memcpy(dst->health, src->health, sizeof(dst->health));
    dst->health_ms = src->health_ms;
    dst->name = fsm__dup_str(src->name);
    dst->object_store = fsm__dup_str(src->object_store);
    if (dst->name == NULL || dst->object_store == NULL) {
        goto err_nomem;
    }
    if (dup_list(src->dns_targets, src->n_dns_targets, &dst->dns_targets,
                 &dst->n_dns_targets) != DR_OK ||
        dup_list(src->endpoints, src->n_endpoints, &dst->endpoints,
                 &dst->n_endpoints) != DR_OK) {
        goto err_nomem;
    }
    return DR_OK;

err_nomem:
    fsm_region_free(dst);
    return DR_ENOMEM;
}

void fsm_region_free(struct fsm_region *r)
{
    free_list(r->dns_targets, r->n_dns_targets);
    free_list(r->endpoints, r->n_endpoints);
    free(r->name);
    free(r->object_store);
    memset(r, 0, sizeof(*r));
}

int fsm_member_copy(struct fsm_member *dst, const struct fsm_member *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->id = src->id;
    dst->added_ms = src->added_ms;
    dst->region = fsm__dup_str(src->region);
    dst->raft_address = fsm__dup_str(src->raft_address);
    dst->api_address = fsm__dup_str(src->api_address);
    if (dst->region == NULL || dst->raft_address == NULL ||
        dst->api_address == NULL) {
        fsm_member_free(dst);
        return DR_ENOMEM;
    }
    return DR_OK;
}

void fsm_member_free(struct fsm_member *m)
{
    free(m->region);
    free(m->raft_address);
    free(m->api_address);
    memset(m, 0, sizeof(*m));
}

/* Binary search; returns the index of name or where it would go. */
size_t fsm__search(const void *base,
                   size_t n,
                   size_t size,
                   const void *key,
                   int (*cmp)(const void *key, const void *elem),
                   int *found)
{
    size_t lo = 0, hi = n;

    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp(key, (const char *)base + mid * size);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c > 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

int fsm__cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

static int region_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct fsm_region *)elem)->name);
}

static int member_cmp(const void *key, const void *elem)
{
    return fsm__cmp_u64(*(const uint64_t *)key,
                        ((const struct fsm_member *)elem)->id);
}

static size_t region_pos(const struct fsm *f, const char *name, int *found)
{
    return fsm__search(f->regions, f->n_regions, sizeof(*f->regions), name,
                       region_cmp, found);
}

static size_t member_pos(const struct fsm *f, uint64_t id, int *found)
{
    return fsm__search(f->members, f->n_members, sizeof(*f->members), &id,
                       member_cmp, found);
}

const struct fsm_region *fsm_region_get(const struct fsm *f, const char *name)
{
    int found;
    size_t i;
    if (name == NULL) {
        return NULL;
    }
    i = region_pos(f, name, &found);
    return found ? &f->regions[i] : NULL;
}

const struct fsm_member *fsm_member_get(const struct fsm *f, uint64_t id)
{
    int found;
    size_t i = member_pos(f, id, &found);
    return found ? &f->members[i] : NULL;
}

/* Settings. */

static int value_set(struct fsm_value *dst, const struct fsm_value *src)
{
    char *s = NULL;
    if (src->type == FSM_SETTING_STRING) {
        s = fsm__dup_str(src->s);
        if (s == NULL) {
            return DR_ENOMEM;
        }
    }
    /* Keep only the field of the value's type, so that the state equals the
     * one decoded from a snapshot, which carries only that field. */
    free(dst->s);
    memset(dst, 0, sizeof(*dst));
    dst->type = src->type;
    if (src->type == FSM_SETTING_INT) {
        dst->i = src->i;
    } else if (src->type == FSM_SETTING_BOOL) {
        dst->b = src->b;
    }
    dst->s = s;
    return DR_OK;
}

const struct fsm_value *fsm_setting(const struct fsm *f, const char *key)
{
    int i = fsm_setting_index(key);
    return i < 0 ? NULL : &f->settings[i];
}

int64_t fsm_setting_int(const struct fsm *f, const char *key)
{
    const struct fsm_value *v = fsm_setting(f, key);
    return v != NULL ? v->i : 0;
}

/* Audit ring. */

const struct fsm_audit *fsm_audit_at(const struct fsm *f, size_t i)
{
    if (i >= f->n_audit) {
        return NULL;
    }
    return &f->audit[(f->audit_head + i) % f->cap_audit];
}

static void audit_free(struct fsm_audit *a)
{
    free(a->actor);
    free(a->action);
    free(a->detail);
    memset(a, 0, sizeof(*a));
}

/* Resize the ring to cap entries, dropping the oldest ones that no longer
 * fit. */
static int audit_resize(struct fsm *f, size_t cap)
{
    struct fsm_audit *a = calloc(cap, sizeof(*a));
    size_t keep = f->n_audit < cap ? f->n_audit : cap;
    size_t drop = f->n_audit - keep;

    if (a == NULL) {
        return DR_ENOMEM;
    }
    for (size_t i = 0; i < f->n_audit; i++) {
        struct fsm_audit *e = &f->audit[(f->audit_head + i) % f->cap_audit];
        if (i < drop) {
            audit_free(e);
        } else {
            a[i - drop] = *e;
        }
    }
    free(f->audit);
    f->audit = a;
    f->cap_audit = cap;
    f->audit_head = 0;
    f->n_audit = keep;
    return DR_OK;
}

/* Record an audit entry. Memory failure drops the entry rather than the
 * command: the log stays the source of truth. */
void fsm__audit_add(struct fsm *f,
                    uint64_t now,
                    const char *actor,
                    const char *action,
                    const char *fmt,
                    ...)
{
    struct fsm_audit e;
    char detail[FSM_TEXT_MAX + 256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);

    f->audit_seq++;
    e.seq = f->audit_seq;
    e.time_ms = now;
    e.actor = fsm__dup_str(actor);
    e.action = fsm__dup_str(action);
    e.detail = fsm__dup_str(detail);
    if (e.actor == NULL || e.action == NULL || e.detail == NULL) {
        audit_free(&e);
        f->broken = true; /* the history would differ from other nodes' */
        return;
    }
    if (f->n_audit == f->cap_audit) {
        struct fsm_audit *old = &f->audit[f->audit_head];
        audit_free(old);
        *old = e;
        f->audit_head = (f->audit_head + 1) % f->cap_audit;
    } else {
        f->audit[(f->audit_head + f->n_audit) % f->cap_audit] = e;
        f->n_audit++;
    }
}

/* Life cycle. */

int fsm_init(struct fsm *f)
{
    size_t n = fsm_settings_count();

    memset(f, 0, sizeof(*f));
    f->settings = calloc(n, sizeof(*f->settings));
    if (f->settings == NULL) {
        return DR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct fsm_value v;
        fsm_setting_default((int)i, &v);
        if (value_set(&f->settings[i], &v) != DR_OK) {
            fsm_close(f);
            return DR_ENOMEM;
        }
    }
    f->cap_audit = (size_t)fsm_setting_int(f, "history.max_entries");
    f->audit = calloc(f->cap_audit, sizeof(*f->audit));
    if (f->audit == NULL) {
        fsm_close(f);
        return DR_ENOMEM;
    }
    return DR_OK;
}

void fsm_close(struct fsm *f)
{
    for (size_t i = 0; i < f->n_regions; i++) {
        fsm_region_free(&f->regions[i]);
    }
    free(f->regions);
    for (size_t i = 0; i < f->n_members; i++) {
        fsm_member_free(&f->members[i]);
    }
    free(f->members);
    if (f->settings != NULL) {
        for (size_t i = 0; i < fsm_settings_count(); i++) {
            free(f->settings[i].s);
        }
    }
    free(f->settings);
    for (size_t i = 0; i < f->n_audit; i++) {
        audit_free(&f->audit[(f->audit_head + i) % f->cap_audit]);
    }
    free(f->audit);
    free(f->site.primary_region);
    fsm__catalog_close(f);
    fsm__drill_close(f);
    fsm__wal_archive_close(f);
    fsm__runbook_free(&f->site.runbook);
    memset(f, 0, sizeof(*f));
}

void fsm_replace(struct fsm *f, struct fsm *src)
{
    fsm_close(f);
    *f = *src;
    memset(src, 0, sizeof(*src));
}

const char *fsm_region_status_name(int status)
{
    switch (status) {
        case FSM_REGION_HEALTHY:
            return "healthy";
        case FSM_REGION_DEGRADED:
            return "degraded";
        case FSM_REGION_LOST:
            return "lost";
    }
    return "unknown";
}

const char *fsm_site_state_name(int state)
{
    return fsm_sm_name(&fsm_site_sm, state);
}

/* Checks: validate a command against the state, change nothing. */

/* The region an update would leave: cur with the command's chosen fields.
 * Shallow: borrows from both. */
static void region_merge(struct fsm_region *out,
                         const struct fsm_region *cur,
                         const struct fsm_cmd *cmd)
{
    const struct fsm_region *in = &cmd->u.region;
    unsigned fields = cmd->fields != 0
                          ? cmd->fields
                          : FSM_REGION_F_PRIORITY | FSM_REGION_F_DNS_TARGETS |
                                FSM_REGION_F_OBJECT_STORE;
    *out = *cur;
    if (fields & FSM_REGION_F_PRIORITY) {
        out->priority = in->priority;
    }
    if (fields & FSM_REGION_F_DNS_TARGETS) {
        out->dns_targets = in->dns_targets;
        out->n_dns_targets = in->n_dns_targets;
    }
    if (fields & FSM_REGION_F_OBJECT_STORE) {
        out->object_store = in->object_store;
    }
    /* Only when named: "all" (0) predates endpoints. */
    if (cmd->fields & FSM_REGION_F_ENDPOINTS) {
        out->endpoints = in->endpoints;
        out->n_endpoints = in->n_endpoints;
    }
}

static int check_region_fields(const struct fsm_region *r,
                               struct fsm_result *res)
{
    char err[256];
    if (fsm_valid_name("region name", r->name, err) != DR_OK) {
        return fsm__reject(res, DR_EINVAL, "%s", err);
    }
    if (r->n_dns_targets > FSM_DNS_TARGETS_MAX) {
        return fsm__reject(res, DR_EINVAL,
                           "region %s: %zu DNS targets, at most %d allowed",
                           r->name, r->n_dns_targets, FSM_DNS_TARGETS_MAX);
    }
    for (size_t i = 0; i < r->n_dns_targets; i++) {
        if (fsm_valid_dns_target(r->dns_targets[i], err) != DR_OK) {
            return fsm__reject(res, DR_EINVAL, "region %s: %s", r->name, err);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcasecmp(r->dns_targets[i], r->dns_targets[j]) == 0) {
                return fsm__reject(res, DR_EINVAL,
                                   "region %s: DNS target \"%.64s\" is listed "
                                   "twice",
                                   r->name, r->dns_targets[i]);
            }
        }
    }
    if (fsm_valid_store_url(r->object_store, err) != DR_OK) {
        return fsm__reject(res, DR_EINVAL, "region %s: %s", r->name, err);
    }
    if (r->n_endpoints > FSM_ENDPOINTS_MAX) {
        return fsm__reject(res, DR_EINVAL,
                           "region %s: %zu endpoints, at most %d allowed",
                           r->name, r->n_endpoints, FSM_ENDPOINTS_MAX);
    }
    for (size_t i = 0; i < r->n_endpoints; i++) {
        if (fsm_endpoint_parse(r->endpoints[i], NULL, NULL, err) != DR_OK) {
            return fsm__reject(res, DR_EINVAL, "region %s: %s", r->name, err);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(r->endpoints[i], r->endpoints[j]) == 0) {
                return fsm__reject(res, DR_EINVAL,
                                   "region %s: endpoint \"%.64s\" is listed "
                                   "twice",
                                   r->name, r->endpoints[i]);
            }
        }
    }
    return DR_OK;
}

static int check_member_fields(const struct fsm_member *m,
                               struct fsm_result *res)
{
    char err[256];
    if (m->id == 0) {
        return fsm__reject(res, DR_EINVAL,
                           "member id must be a positive integer");
    }
    if (fsm_valid_name("member region", m->region, err) != DR_OK ||
        fsm_valid_host_port("raft_address", m->raft_address, err) != DR_OK ||
        fsm_valid_host_port("api_address", m->api_address, err) != DR_OK) {
        return fsm__reject(res, DR_EINVAL, "member %llu: %s",
                           (unsigned long long)m->id, err);
    }
    return DR_OK;
}

/* Another member (not id) already using this address? */
static const struct fsm_member *member_with_address(const struct fsm *f,
                                                    uint64_t id,
                                                    const struct fsm_member *m)
{
    for (size_t i = 0; i < f->n_members; i++) {
        const struct fsm_member *o = &f->members[i];
        if (o->id == id) {
            continue;
        }
        if (strcmp(o->raft_address, m->raft_address) == 0 ||
            strcmp(o->api_address, m->api_address) == 0) {
            return o;
        }
    }
    return NULL;
}

static int check_bootstrap(const struct fsm *f,
                           const struct fsm_cmd_bootstrap *b,
                           struct fsm_result *res)
{
    if (f->initialized) {
        return fsm__reject(res, DR_ECONFLICT,
                           "cluster is already bootstrapped");
    }
    if (b->n_regions == 0 || b->n_members == 0) {
        return fsm__reject(
            res, DR_EINVAL,
            "bootstrap needs at least one region and one member");
    }
    if (b->n_regions > FSM_REGIONS_MAX || b->n_members > FSM_MEMBERS_MAX) {
        return fsm__reject(res, DR_ELIMIT,
                           "bootstrap has too many regions or "
                           "members");
    }
    for (size_t i = 0; i < b->n_regions; i++) {
        if (check_region_fields(&b->regions[i], res) != DR_OK) {
            return res->code;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(b->regions[i].name, b->regions[j].name) == 0) {
                return fsm__reject(res, DR_EINVAL,
                                   "bootstrap lists region %s twice",
                                   b->regions[i].name);
            }
        }
    }
    for (size_t i = 0; i < b->n_members; i++) {
        const struct fsm_member *m = &b->members[i];
        int known = 0;
        if (check_member_fields(m, res) != DR_OK) {
            return res->code;
        }
        for (size_t j = 0; j < b->n_regions; j++) {
            known |= strcmp(b->regions[j].name, m->region) == 0;
        }
        if (!known) {
            return fsm__reject(res, DR_EINVAL,
                               "bootstrap member %llu is in unknown region %s",
                               (unsigned long long)m->id, m->region);
        }
        for (size_t j = 0; j < i; j++) {
            const struct fsm_member *o = &b->members[j];
            if (o->id == m->id ||
                strcmp(o->raft_address, m->raft_address) == 0 ||
                strcmp(o->api_address, m->api_address) == 0) {
                return fsm__reject(
                    res, DR_EINVAL,
                    "bootstrap members %llu and %llu share an id "
                    "or an address",
                    (unsigned long long)o->id, (unsigned long long)m->id);
            }
        }
    }
    for (size_t j = 0; j < b->n_regions; j++) {
        if (b->primary_region != NULL &&
            strcmp(b->regions[j].name, b->primary_region) == 0) {
            return DR_OK;
        }
    }
    return fsm__reject(res, DR_EINVAL,
                       "bootstrap primary region %s is not listed",
                       b->primary_region ? b->primary_region : "(none)");
}

static int check_set_primary(const struct fsm *f,
                             const struct fsm_cmd_set_primary *sp,
                             struct fsm_result *res)
{
    const struct fsm_region *r = fsm_region_get(f, sp->region);
    if (sp->reason != NULL && strlen(sp->reason) > FSM_TEXT_MAX) {
        return fsm__reject(res, DR_EINVAL,
                           "reason is longer than %d characters", FSM_TEXT_MAX);
    }
    if (r == NULL) {
        return fsm__reject(res, DR_ENOTFOUND, "region \"%.64s\" does not exist",
                           sp->region ? sp->region : "");
    }
    if (fsm_runbook_active(f)) {
        return fsm__reject(res, DR_ECONFLICT,
                           "a failover to %s runs (step %s): resume or abort "
                           "it first",
                           f->site.runbook.to_region,
                           fsm_rb_step_name(f->site.runbook.step));
    }
    if (sp->has_expected_epoch && sp->expected_epoch != f->site.epoch) {
        return fsm__reject(res, DR_ECONFLICT,
                           "epoch is %llu, not the expected %llu",
                           (unsigned long long)f->site.epoch,
                           (unsigned long long)sp->expected_epoch);
    }
    if (f->site.state != FSM_SITE_ACTIVE) {
        return fsm__reject(res, DR_ECONFLICT,
                           "site is %s: finish or abort that runbook first",
                           fsm_site_state_name(f->site.state));
    }
    if (f->site.primary_region != NULL &&
        strcmp(f->site.primary_region, r->name) == 0) {
        return fsm__reject(res, DR_ECONFLICT,
                           "region %s is already primary (epoch %llu)", r->name,
                           (unsigned long long)f->site.epoch);
    }
    if (r->status == FSM_REGION_LOST) {
        return fsm__reject(res, DR_ECONFLICT,
                           "region %s is lost and cannot become primary",
                           r->name);
    }
    return DR_OK;
}

/* Checks of the commands of this file (regions, members, site, settings):
 * none depends on time. */
static int check_base(const struct fsm *f,
                      const struct fsm_cmd *cmd,
                      uint64_t now,
                      struct fsm_result *res)
{
    char err[256];
    int found;

    (void)now;
    switch (cmd->type) {
        case FSM_CMD_BOOTSTRAP:
            return check_bootstrap(f, &cmd->u.bootstrap, res);
        case FSM_CMD_REGION_ADD:
            if (check_region_fields(&cmd->u.region, res) != DR_OK) {
                return res->code;
            }
            region_pos(f, cmd->u.region.name, &found);
            if (found) {
                return fsm__reject(res, DR_EEXIST, "region %s already exists",
                                   cmd->u.region.name);
            }
            if (f->n_regions >= FSM_REGIONS_MAX) {
                return fsm__reject(res, DR_ELIMIT, "at most %d regions",
                                   FSM_REGIONS_MAX);
            }
            return DR_OK;
        case FSM_CMD_REGION_UPDATE: {
            const struct fsm_region *cur;
            struct fsm_region merged;
            if (fsm_valid_name("region name", cmd->u.region.name, err) !=
                DR_OK) {
                return fsm__reject(res, DR_EINVAL, "%s", err);
            }
            if (cmd->fields &
                ~(FSM_REGION_F_PRIORITY | FSM_REGION_F_DNS_TARGETS |
                  FSM_REGION_F_OBJECT_STORE | FSM_REGION_F_ENDPOINTS)) {
                return fsm__reject(res, DR_EINVAL,
                                   "region update names unknown fields (0x%x)",
                                   cmd->fields);
            }
            cur = fsm_region_get(f, cmd->u.region.name);
            if (cur == NULL) {
                return fsm__reject(res, DR_ENOTFOUND,
                                   "region %s does not exist",
                                   cmd->u.region.name);
            }
            region_merge(&merged, cur, cmd);
            return check_region_fields(&merged, res);
        }
        case FSM_CMD_REGION_REMOVE: {
            const char *name = cmd->u.region_name;
            if (fsm_region_get(f, name) == NULL) {
                return fsm__reject(res, DR_ENOTFOUND,
                                   "region \"%.64s\" does not exist",
                                   name ? name : "");
            }
            if (f->site.primary_region != NULL &&
                strcmp(f->site.primary_region, name) == 0) {
                return fsm__reject(
                    res, DR_ECONFLICT,
                    "region %s is the primary site; make another "
                    "region primary first",
                    name);
            }
            for (size_t i = 0; i < f->n_members; i++) {
                if (strcmp(f->members[i].region, name) == 0) {
                    return fsm__reject(
                        res, DR_ECONFLICT,
                        "region %s still has member %llu; remove "
                        "its members first",
                        name, (unsigned long long)f->members[i].id);
                }
            }
            return DR_OK;
        }
        case FSM_CMD_MEMBER_PUT: {
            const struct fsm_member *m = &cmd->u.member;
            const struct fsm_member *o;
            if (check_member_fields(m, res) != DR_OK) {
                return res->code;
            }
            if (fsm_region_get(f, m->region) == NULL) {
                return fsm__reject(res, DR_ENOTFOUND,
                                   "member %llu: region %s does not exist",
                                   (unsigned long long)m->id, m->region);
            }
            o = member_with_address(f, m->id, m);
            if (o != NULL) {
                return fsm__reject(res, DR_ECONFLICT,
                                   "member %llu already uses that raft or API "
                                   "address",
                                   (unsigned long long)o->id);
            }
            member_pos(f, m->id, &found);
            if (!found && f->n_members >= FSM_MEMBERS_MAX) {
                return fsm__reject(res, DR_ELIMIT, "at most %d members",
                                   FSM_MEMBERS_MAX);
            }
            return DR_OK;
        }
        case FSM_CMD_MEMBER_REMOVE:
            if (fsm_member_get(f, cmd->u.member_id) == NULL) {
                return fsm__reject(res, DR_ENOTFOUND,
                                   "member %llu does not exist",
                                   (unsigned long long)cmd->u.member_id);
            }
            return DR_OK;
        case FSM_CMD_SET_PRIMARY:
            return check_set_primary(f, &cmd->u.set_primary, res);
        case FSM_CMD_SETTING_SET: {
            int rv = fsm_setting_check(cmd->u.setting.key,
                                       &cmd->u.setting.value, err);
            if (rv != DR_OK) {
                return fsm__reject(res, rv, "%s", err);
            }
            return DR_OK;
        }
    }
    return fsm__reject(res, DR_EINVAL, "unknown or malformed command (type %d)",
                       cmd->type);
}

/* Mutations: run only after a successful check. */

static int insert_region(struct fsm *f,
                         const struct fsm_region *src,
                         uint64_t now)
{
    struct fsm_region r;
    struct fsm_region *grown;
    int found;
    size_t pos = region_pos(f, src->name, &found);

    if (fsm_region_copy(&r, src) != DR_OK) {
        return DR_ENOMEM;
    }
    grown = realloc(f->regions, (f->n_regions + 1) * sizeof(*grown));
    if (grown == NULL) {
        fsm_region_free(&r);
        return DR_ENOMEM;
    }
    f->regions = grown;
    memmove(&f->regions[pos + 1], &f->regions[pos],
            (f->n_regions - pos) * sizeof(*grown));
    r.status = FSM_REGION_HEALTHY;
    memset(r.health, 0, sizeof(r.health));
    r.health_ms = 0;
    r.created_ms = now;
    r.updated_ms = now;
    f->regions[pos] = r;
    f->n_regions++;
    return DR_OK;
}

static int put_member(struct fsm *f, const struct fsm_member *src, uint64_t now)
{
    struct fsm_member m;
    struct fsm_member *grown;
    int found;
    size_t pos = member_pos(f, src->id, &found);

    if (fsm_member_copy(&m, src) != DR_OK) {
        return DR_ENOMEM;
    }
    if (found) {
        m.added_ms = f->members[pos].added_ms;
        fsm_member_free(&f->members[pos]);
        f->members[pos] = m;
        return DR_OK;
    }
    grown = realloc(f->members, (f->n_members + 1) * sizeof(*grown));
    if (grown == NULL) {
        fsm_member_free(&m);
        return DR_ENOMEM;
    }
    f->members = grown;
    memmove(&f->members[pos + 1], &f->members[pos],
            (f->n_members - pos) * sizeof(*grown));
    m.added_ms = now;
    f->members[pos] = m;
    f->n_members++;
    return DR_OK;
}

static int apply_bootstrap(struct fsm *f,
                           const struct fsm_cmd *cmd,
                           uint64_t now)
{
    const struct fsm_cmd_bootstrap *b = &cmd->u.bootstrap;
    struct fsm tmp = *f; /* build on copies so failure leaves f as it was */
    char *primary = fsm__dup_str(b->primary_region);

    tmp.regions = NULL;
    tmp.n_regions = 0;
    tmp.members = NULL;
    tmp.n_members = 0;
    if (primary == NULL) {
        return DR_ENOMEM;
    }
    for (size_t i = 0; i < b->n_regions; i++) {
        if (insert_region(&tmp, &b->regions[i], now) != DR_OK) {
            goto err_nomem;
        }
    }
    for (size_t i = 0; i < b->n_members; i++) {
        if (put_member(&tmp, &b->members[i], now) != DR_OK) {
            goto err_nomem;
        }
    }
    for (size_t i = 0; i < f->n_regions; i++) {
        fsm_region_free(&f->regions[i]);
    }
    free(f->regions);
    for (size_t i = 0; i < f->n_members; i++) {
        fsm_member_free(&f->members[i]);
    }
    free(f->members);
    f->regions = tmp.regions;
    f->n_regions = tmp.n_regions;
    f->members = tmp.members;
    f->n_members = tmp.n_members;
    free(f->site.primary_region);
    f->site.primary_region = primary;
    f->site.epoch = 1;
    f->site.state = FSM_SITE_ACTIVE;
    f->site.changed_ms = now;
    f->initialized = true;
    fsm__audit_add(f, now, cmd->actor, "bootstrap",
                   "%zu regions, %zu members, primary %s (epoch 1)",
                   f->n_regions, f->n_members, primary);
    return DR_OK;

err_nomem:
    for (size_t i = 0; i < tmp.n_regions; i++) {
        fsm_region_free(&tmp.regions[i]);
    }
    free(tmp.regions);
    for (size_t i = 0; i < tmp.n_members; i++) {
        fsm_member_free(&tmp.members[i]);
    }
    free(tmp.members);
    free(primary);
    return DR_ENOMEM;
}

static void join_list(char *const *items, size_t n, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && off < size; i++) {
        int k = snprintf(buf + off, size - off, "%s%s", i ? "," : "", items[i]);
        if (k < 0) {
            break;
        }
        off += (size_t)k;
    }
}

static void join_targets(const struct fsm_region *r, char *buf, size_t size)
{
    join_list(r->dns_targets, r->n_dns_targets, buf, size);
}

/* " endpoints=[...]" when the region has any (nothing for older ones, so
 * their audit text stays what older releases wrote). */
static void join_endpoints(const struct fsm_region *r, char *buf, size_t size)
{
    char list[512];
    buf[0] = '\0';
    if (r->n_endpoints > 0) {
        join_list(r->endpoints, r->n_endpoints, list, sizeof(list));
        snprintf(buf, size, " endpoints=[%.500s]", list);
    }
}

static int mutate_base(struct fsm *f,
                       const struct fsm_cmd *cmd,
                       uint64_t now,
                       struct fsm_result *res)
{
    char targets[512], endpoints[600];

    (void)res;
    int found;
    size_t pos;

    switch (cmd->type) {
        case FSM_CMD_BOOTSTRAP:
            return apply_bootstrap(f, cmd, now);
        case FSM_CMD_REGION_ADD:
            if (insert_region(f, &cmd->u.region, now) != DR_OK) {
                return DR_ENOMEM;
            }
            join_targets(&cmd->u.region, targets, sizeof(targets));
            join_endpoints(&cmd->u.region, endpoints, sizeof(endpoints));
            fsm__audit_add(
                f, now, cmd->actor, "region-add",
                "%s priority=%d dns=[%s] store=%s%s", cmd->u.region.name,
                (int)cmd->u.region.priority, targets,
                cmd->u.region.object_store ? cmd->u.region.object_store : "",
                endpoints);
            return DR_OK;
        case FSM_CMD_REGION_UPDATE: {
            struct fsm_region r, merged;
            pos = region_pos(f, cmd->u.region.name, &found);
            region_merge(&merged, &f->regions[pos], cmd);
            if (fsm_region_copy(&r, &merged) != DR_OK) {
                return DR_ENOMEM;
            }
            r.status = f->regions[pos].status;
            memcpy(r.health, f->regions[pos].health, sizeof(r.health));
            r.health_ms = f->regions[pos].health_ms;
            r.created_ms = f->regions[pos].created_ms;
            r.updated_ms = now;
            fsm_region_free(&f->regions[pos]);
            f->regions[pos] = r;
            join_targets(&r, targets, sizeof(targets));
            join_endpoints(&r, endpoints, sizeof(endpoints));
            fsm__audit_add(f, now, cmd->actor, "region-update",
                           "%s priority=%d dns=[%s] store=%s%s", r.name,
                           (int)r.priority, targets, r.object_store, endpoints);
            return DR_OK;
        }
        case FSM_CMD_REGION_REMOVE:
            pos = region_pos(f, cmd->u.region_name, &found);
            fsm__audit_add(f, now, cmd->actor, "region-remove", "%s",
                           f->regions[pos].name);
            fsm__wal_archive_forget(f, f->regions[pos].name);
            fsm_region_free(&f->regions[pos]);
            memmove(&f->regions[pos], &f->regions[pos + 1],
                    (f->n_regions - pos - 1) * sizeof(*f->regions));
            f->n_regions--;
            return DR_OK;
        case FSM_CMD_MEMBER_PUT:
            if (put_member(f, &cmd->u.member, now) != DR_OK) {
                return DR_ENOMEM;
            }
            fsm__audit_add(f, now, cmd->actor, "member-put",
                           "%llu region=%s raft=%s api=%s",
                           (unsigned long long)cmd->u.member.id,
                           cmd->u.member.region, cmd->u.member.raft_address,
                           cmd->u.member.api_address);
            return DR_OK;
        case FSM_CMD_MEMBER_REMOVE:
            pos = member_pos(f, cmd->u.member_id, &found);
            fsm_member_free(&f->members[pos]);
            memmove(&f->members[pos], &f->members[pos + 1],
                    (f->n_members - pos - 1) * sizeof(*f->members));
            f->n_members--;
            fsm__audit_add(f, now, cmd->actor, "member-remove", "%llu",
                           (unsigned long long)cmd->u.member_id);
            return DR_OK;
        case FSM_CMD_SET_PRIMARY: {
            const struct fsm_cmd_set_primary *sp = &cmd->u.set_primary;
            char *region = fsm__dup_str(sp->region);
            char *old = f->site.primary_region;
            if (region == NULL) {
                return DR_ENOMEM;
            }
            f->site.primary_region = region;
            f->site.epoch++;
            f->site.changed_ms = now;
            fsm__audit_add(f, now, cmd->actor, "set-primary",
                           "%s -> %s (epoch %llu)%s%s", old ? old : "(none)",
                           region, (unsigned long long)f->site.epoch,
                           sp->reason && sp->reason[0] ? ": " : "",
                           sp->reason ? sp->reason : "");
            free(old);
            return DR_OK;
        }
        case FSM_CMD_SETTING_SET: {
            int i = fsm_setting_index(cmd->u.setting.key);
            const struct fsm_value *v = &cmd->u.setting.value;
            if (strcmp(cmd->u.setting.key, "history.max_entries") == 0 &&
                audit_resize(f, (size_t)v->i) != DR_OK) {
                return DR_ENOMEM;
            }
            if (value_set(&f->settings[i], v) != DR_OK) {
                return DR_ENOMEM;
            }
            if (v->type == FSM_SETTING_INT) {
                fsm__audit_add(f, now, cmd->actor, "setting-set", "%s=%lld",
                               cmd->u.setting.key, (long long)v->i);
            } else if (v->type == FSM_SETTING_BOOL) {
                fsm__audit_add(f, now, cmd->actor, "setting-set", "%s=%s",
                               cmd->u.setting.key, v->b ? "true" : "false");
            } else {
                fsm__audit_add(f, now, cmd->actor, "setting-set", "%s=%s",
                               cmd->u.setting.key, v->s);
            }
            if (strcmp(cmd->u.setting.key, "wal.stream") == 0 && !v->b) {
                fsm__wal_stream_close(f, NULL, "wal.stream was turned off", now,
                                      cmd->actor != NULL ? cmd->actor : "");
            }
            return DR_OK;
        }
    }
    return DR_EINVAL;
}

/* One descriptor per command: what the FSM knows of it, in one place. */
struct cmd_desc
{
    const char *name; /* for messages */
    uint32_t version; /* the entry version that introduced it */
    bool before_init; /* accepted before the bootstrap */
    bool timed;       /* check again at the command's time (leases,
                         back-off, breaker timeouts) */
    /* now == 0: the checks that do not depend on time only. */
    int (*check)(const struct fsm *f,
                 const struct fsm_cmd *cmd,
                 uint64_t now,
                 struct fsm_result *res);
    int (*mutate)(struct fsm *f,
                  const struct fsm_cmd *cmd,
                  uint64_t now,
                  struct fsm_result *res);
};

#define BASE(name, v)                                  \
    {                                                  \
        name, v, false, false, check_base, mutate_base \
    }
#define CATALOG(name)                                                 \
    {                                                                 \
        name, 1, false, true, fsm__catalog_check, fsm__catalog_mutate \
    }
#define HEALTH(name)                                                \
    {                                                               \
        name, 2, false, true, fsm__health_check, fsm__health_mutate \
    }

static const struct cmd_desc cmds[] = {
    [FSM_CMD_BOOTSTRAP] = {"bootstrap", 1, true, false, check_base,
                           mutate_base},
    [FSM_CMD_REGION_ADD] = BASE("region-add", 1),
    [FSM_CMD_REGION_UPDATE] = BASE("region-update", 1),
    [FSM_CMD_REGION_REMOVE] = BASE("region-remove", 1),
    [FSM_CMD_MEMBER_PUT] = BASE("member-put", 1),
    [FSM_CMD_MEMBER_REMOVE] = BASE("member-remove", 1),
    [FSM_CMD_SET_PRIMARY] = BASE("set-primary", 1),
    [FSM_CMD_SETTING_SET] = BASE("setting-set", 1),
    [FSM_CMD_JOB_CREATE] = CATALOG("job-create"),
    [FSM_CMD_JOB_CLAIM] = CATALOG("job-claim"),
    [FSM_CMD_JOB_RENEW] = CATALOG("job-renew"),
    [FSM_CMD_JOB_FINISH] = CATALOG("job-finish"),
    [FSM_CMD_JOB_EXPIRE] = CATALOG("job-expire"),
    [FSM_CMD_BACKUP_DELETE] = CATALOG("backup-delete"),
    [FSM_CMD_BACKUP_VERIFIED] = CATALOG("backup-verified"),
    [FSM_CMD_BREAKER_EVENTS] = HEALTH("breaker-events"),
    [FSM_CMD_BREAKER_TRIAL] = HEALTH("breaker-trial"),
    [FSM_CMD_BREAKER_HALF_OPEN] = HEALTH("breaker-half-open"),
    [FSM_CMD_BREAKER_RESET] = HEALTH("breaker-reset"),
    [FSM_CMD_REGION_HEALTH] = HEALTH("region-health"),
    [FSM_CMD_DRILL_START] = {"drill-start", 2, false, true, fsm__drill_check,
                             fsm__drill_mutate},
    [FSM_CMD_FAILOVER_START] = {"failover-start", 3, false, false,
                                fsm__runbook_check, fsm__runbook_mutate},
    [FSM_CMD_RUNBOOK_STEP] = {"runbook-step", 3, false, false,
                              fsm__runbook_check, fsm__runbook_mutate},
    [FSM_CMD_RUNBOOK_RESUME] = {"runbook-resume", 3, false, false,
                                fsm__runbook_check, fsm__runbook_mutate},
    [FSM_CMD_RUNBOOK_ABORT] = {"runbook-abort", 3, false, false,
                               fsm__runbook_check, fsm__runbook_mutate},
    [FSM_CMD_DRILL_DNS_DONE] = {"drill-dns-done", 5, false, false,
                                fsm__drill_check, fsm__drill_mutate},
};

static const struct cmd_desc *desc_of(int type)
{
    if (type <= 0 || (size_t)type >= sizeof(cmds) / sizeof(cmds[0]) ||
        cmds[type].check == NULL) {
        return NULL;
    }
    return &cmds[type];
}

const char *fsm_cmd_name(int type)
{
    const struct cmd_desc *d = desc_of(type);
    return d != NULL ? d->name : "unknown";
}

int fsm_check(const struct fsm *f,
              const struct fsm_cmd *cmd,
              struct fsm_result *res)
{
    const struct cmd_desc *d = desc_of(cmd->type);

    memset(res, 0, sizeof(*res));
    res->epoch = f->site.epoch;
    if (cmd->actor != NULL && strlen(cmd->actor) > FSM_ADDR_MAX) {
        return fsm__reject(res, DR_EINVAL, "actor is too long");
    }
    if (d == NULL) {
        return fsm__reject(res, DR_EINVAL,
                           "unknown or malformed command (type %d)", cmd->type);
    }
    if (!d->before_init && !f->initialized) {
        return fsm__reject(res, DR_EUNAVAILABLE,
                           "cluster is not bootstrapped yet");
    }
    return d->check(f, cmd, 0, res);
}

int fsm_apply(struct fsm *f,
              const struct fsm_cmd *cmd,
              uint64_t now_ms,
              struct fsm_result *res)
{
    /* Command time never runs backwards, whatever the leaders' clocks. */
    uint64_t now = now_ms > f->time_ms ? now_ms : f->time_ms;
    const struct cmd_desc *d;

    if (fsm_check(f, cmd, res) != DR_OK) {
        res->epoch = f->site.epoch;
        return res->code;
    }
    d = desc_of(cmd->type);
    /* Leases and back-offs are judged at the command's own time. */
    if (d->timed && d->check(f, cmd, now, res) != DR_OK) {
        res->epoch = f->site.epoch;
        return res->code;
    }
    if (d->mutate(f, cmd, now, res) != DR_OK || f->broken) {
        f->broken = true;
        return fsm__reject(res, DR_ENOMEM, "out of memory applying command");
    }
    f->time_ms = now;
    res->epoch = f->site.epoch;
    res->time_ms = now;
    return DR_OK;
}

uint32_t fsm_cmd_version(const struct fsm_cmd *cmd)
{
    const struct cmd_desc *d = desc_of(cmd->type);
    uint32_t v = d != NULL ? d->version : 1;

    /* Switchovers (and their final_backup step) and failover drills came
     * with version 5. */
    if ((cmd->type == FSM_CMD_FAILOVER_START && cmd->u.failover.planned) ||
        (cmd->type == FSM_CMD_DRILL_START &&
         cmd->u.drill.kind == FSM_DRILL_FAILOVER) ||
        (cmd->type == FSM_CMD_RUNBOOK_STEP &&
         (cmd->u.runbook.from == FSM_RB_FINAL_BACKUP ||
          cmd->u.runbook.to == FSM_RB_FINAL_BACKUP))) {
        v = v > 5 ? v : 5;
    }
    /* Streaming WAL and the WAL catalog came with version 5 (a finish with
     * WAL ranges is only ever a wal_scan job's). */
    if ((cmd->type == FSM_CMD_JOB_CREATE &&
         (cmd->u.job.kind == FSM_JOB_WAL_STREAM ||
          cmd->u.job.kind == FSM_JOB_WAL_SCAN)) ||
        (cmd->type == FSM_CMD_JOB_FINISH &&
         (cmd->u.job.wal.ranges_total != 0 || cmd->u.job.wal.files != 0 ||
          (cmd->u.job.wal.store != NULL && cmd->u.job.wal.store[0] != '\0')))) {
        v = v > 5 ? v : 5;
    }
    /* Base backups came with version 5. */
    if (cmd->type == FSM_CMD_JOB_CREATE && cmd->u.job.kind == FSM_JOB_BACKUP &&
        cmd->u.job.backup_kind == FSM_BACKUP_PG_BASE) {
        v = v > 5 ? v : 5;
    }
    /* A restore point from a promoted standby came with version 5 (only
     * restore jobs that ran their checks, drill_ok, carry one). */
    if (cmd->type == FSM_CMD_JOB_FINISH && cmd->u.job.drill_ok &&
        cmd->u.job.backup.snapshot_ms != 0) {
        v = v > 5 ? v : 5;
    }
    /* Restore, verify and activate committed one by one came with 5. */
    if (cmd->type == FSM_CMD_JOB_RENEW && cmd->u.job.phase != 0) {
        v = v > 5 ? v : 5;
    }
    /* Region endpoints came with version 4. */
    if ((cmd->type == FSM_CMD_REGION_ADD ||
         cmd->type == FSM_CMD_REGION_UPDATE) &&
        (cmd->u.region.n_endpoints > 0 ||
         (cmd->fields & FSM_REGION_F_ENDPOINTS))) {
        v = v > 4 ? v : 4;
    }
    /* Copies came with version 3. */
    if ((cmd->type == FSM_CMD_JOB_CREATE &&
         cmd->u.job.kind == FSM_JOB_REPLICATE) ||
        (cmd->type == FSM_CMD_BACKUP_VERIFIED &&
         cmd->u.verified.region != NULL && cmd->u.verified.region[0] != '\0')) {
        v = v > 3 ? v : 3;
    }
    /* A setting added later needs the version that added it. */
    if (cmd->type == FSM_CMD_SETTING_SET && cmd->u.setting.key != NULL) {
        uint32_t sv = fsm_setting_version(cmd->u.setting.key);
        v = sv > v ? sv : v;
    }
    return v;
}

int fsm_apply_entry(struct fsm *f,
                    const struct fsm_entry *e,
                    struct fsm_result *results)
{
    if (e->version > FSM_VERSION || e->version == 0) {
        for (size_t i = 0; i < e->n_cmds; i++) {
            memset(&results[i], 0, sizeof(results[i]));
            fsm__reject(&results[i], DR_EVERSION,
                        "entry version %u is not supported (this node applies "
                        "up to %d)",
                        (unsigned)e->version, FSM_VERSION);
        }
        return DR_EVERSION;
    }
    for (size_t i = 0; i < e->n_cmds; i++) {
        fsm_apply(f, &e->cmds[i], e->time_ms, &results[i]);
    }
    return DR_OK;
}
