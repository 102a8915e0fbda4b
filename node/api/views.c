/* JSON views of the replicated state, written with jout. */
#include <string.h>

#include "api/internal.h"
#include "fsm/settings.h"

void api_view_region(struct jout *j, struct api *a, const struct fsm_region *r)
{
    const struct fsm *f = raftnode_state(a->node);
    jout_begin(j, '{');
    jout_key(j, "name");
    jout_str(j, r->name);
    jout_key(j, "priority");
    jout_int(j, r->priority);
    jout_key(j, "dns_targets");
    jout_begin(j, '[');
    for (size_t i = 0; i < r->n_dns_targets; i++) {
        jout_str(j, r->dns_targets[i]);
    }
    jout_end(j, ']');
    jout_key(j, "object_store");
    jout_str(j, r->object_store);
    jout_key(j, "endpoints");
    jout_begin(j, '[');
    for (size_t i = 0; i < r->n_endpoints; i++) {
        jout_str(j, r->endpoints[i]);
    }
    jout_end(j, ']');
    jout_key(j, "status");
    jout_str(j, fsm_region_status_name(r->status));
    jout_key(j, "primary");
    jout_bool(j, f->site.primary_region != NULL &&
                     strcmp(f->site.primary_region, r->name) == 0);
    jout_key(j, "services");
    jout_begin(j, '{');
    for (int i = 0; i < FSM_SERVICES; i++) {
        jout_key(j, fsm_service_name(i));
        jout_str(j, fsm_service_status_name(r->health[i]));
    }
    jout_end(j, '}');
    jout_key(j, "health_ms");
    jout_uint(j, r->health_ms);
    jout_key(j, "created_ms");
    jout_uint(j, r->created_ms);
    jout_key(j, "updated_ms");
    jout_uint(j, r->updated_ms);
    jout_end(j, '}');
}

void api_view_regions(struct jout *j, struct api *a)
{
    const struct fsm *f = raftnode_state(a->node);
    jout_begin(j, '[');
    for (size_t i = 0; i < f->n_regions; i++) {
        api_view_region(j, a, &f->regions[i]);
    }
    jout_end(j, ']');
}

static const char *role_name(int role)
{
    switch (role) {
        case RAFT_VOTER:
            return "voter";
        case RAFT_STANDBY:
            return "standby";
        case RAFT_SPARE:
            return "spare";
    }
    return "none";
}

bool api_view_member(struct jout *j, struct api *a, uint64_t id)
{
    struct raftnode *n = a->node;
    const struct fsm_member *m = fsm_member_get(raftnode_state(n), id);
    const char *raft_addr = m ? m->raft_address : NULL;
    int role = raftnode_role_of(n, id);
    int64_t contact = raftnode_contact_ms(n, id);
    raft_index match;

    for (unsigned i = 0; i < n->raft.configuration.n; i++) {
        if (n->raft.configuration.servers[i].id == id) {
            raft_addr = n->raft.configuration.servers[i].address;
        }
    }
    if (m == NULL && role < 0) {
        return false;
    }
    jout_begin(j, '{');
    jout_key(j, "id");
    jout_uint(j, id);
    jout_key(j, "region");
    jout_str(j, m ? m->region : NULL);
    jout_key(j, "raft_address");
    jout_str(j, raft_addr);
    jout_key(j, "api_address");
    jout_str(j, m ? m->api_address : NULL);
    jout_key(j, "voter");
    jout_bool(j, role == RAFT_VOTER);
    jout_key(j, "role");
    jout_str(j, role_name(role));
    jout_key(j, "last_contact_ms");
    if (contact >= 0) {
        jout_int(j, contact);
    } else {
        jout_str(j, NULL);
    }
    /* How far the leader knows the member's log matches its own: a member
     * being added or left behind shows here. Only the leader knows. */
    jout_key(j, "match_index");
    if (id != a->cfg->id && raft_match_index(&n->raft, id, &match) == 0) {
        jout_uint(j, match);
    } else {
        jout_str(j, NULL);
    }
    jout_end(j, '}');
    return true;
}

void api_view_members(struct jout *j, struct api *a)
{
    struct raftnode *n = a->node;
    const struct fsm *f = raftnode_state(n);
    uint64_t ids[2 * FSM_MEMBERS_MAX];
    size_t n_ids = 0;

    /* Union of the raft configuration and the metadata, sorted by id. */
    for (unsigned i = 0; i < n->raft.configuration.n && n_ids < 64; i++) {
        ids[n_ids++] = n->raft.configuration.servers[i].id;
    }
    for (size_t i = 0; i < f->n_members; i++) {
        size_t k;
        for (k = 0; k < n_ids && ids[k] != f->members[i].id; k++) {
        }
        if (k == n_ids) {
            ids[n_ids++] = f->members[i].id;
        }
    }
    for (size_t i = 1; i < n_ids; i++) {
        for (size_t k = i; k > 0 && ids[k - 1] > ids[k]; k--) {
            uint64_t t = ids[k];
            ids[k] = ids[k - 1];
            ids[k - 1] = t;
        }
    }
    jout_begin(j, '[');
    for (size_t i = 0; i < n_ids; i++) {
        api_view_member(j, a, ids[i]);
    }
    jout_end(j, ']');
}

void api_view_leader(struct jout *j, struct api *a)
{
    raft_id lid = raftnode_leader(a->node);
    const struct fsm_member *m;
    if (lid == 0) {
        jout_str(j, NULL);
        return;
    }
    m = fsm_member_get(raftnode_state(a->node), lid);
    jout_begin(j, '{');
    jout_key(j, "id");
    jout_uint(j, lid);
    jout_key(j, "api");
    jout_str(j, m ? m->api_address : NULL);
    jout_end(j, '}');
}

/* Fields shared by /api/status and the health's coordinator section. */
void api_view_coordinator(struct jout *j, struct api *a)
{
    struct raftnode *n = a->node;
    const struct fsm *f = raftnode_state(n);
    jout_key(j, "node");
    jout_uint(j, a->cfg->id);
    jout_key(j, "region");
    jout_str(j, a->cfg->region);
    jout_key(j, "role");
    jout_str(j, raftnode_state_name(raft_state(&n->raft)));
    jout_key(j, "leader");
    api_view_leader(j, a);
    jout_key(j, "term");
    jout_uint(j, n->raft.current_term);
    jout_key(j, "primary_region");
    jout_str(j, f->site.primary_region);
    jout_key(j, "epoch");
    jout_uint(j, f->site.epoch);
}

void api_view_status(struct jout *j, struct api *a)
{
    struct raftnode *n = a->node;
    const struct fsm *f = raftnode_state(n);
    jout_begin(j, '{');
    api_view_coordinator(j, a);
    jout_key(j, "version");
    jout_str(j, DR_VERSION);
    jout_key(j, "libraft");
    jout_str(j, raftnode_libraft_version());
    jout_key(j, "libuv");
    jout_str(j, raftnode_libuv_version());
    jout_key(j, "commit_index");
    jout_uint(j, n->raft.commit_index);
    jout_key(j, "applied_index");
    jout_uint(j, raft_last_applied(&n->raft));
    jout_key(j, "site_state");
    jout_str(j, fsm_site_state_name(f->site.state));
    jout_key(j, "initialized");
    jout_bool(j, f->initialized);
    jout_key(j, "members");
    api_view_members(j, a);
    jout_key(j, "regions");
    api_view_regions(j, a);
    jout_end(j, '}');
}

static void view_value(struct jout *j,
                       int type,
                       int64_t i,
                       bool b,
                       const char *s)
{
    switch (type) {
        case FSM_SETTING_INT:
            jout_int(j, i);
            break;
        case FSM_SETTING_BOOL:
            jout_bool(j, b);
            break;
        default:
            jout_str(j, s);
            break;
    }
}

void api_view_setting(struct jout *j, const struct fsm *f, int i)
{
    const struct fsm_setting_desc *d = &fsm_settings_table()[i];
    const struct fsm_value *v = &f->settings[i];
    jout_begin(j, '{');
    jout_key(j, "key");
    jout_str(j, d->key);
    jout_key(j, "type");
    jout_str(j, fsm_setting_type_name(d->type));
    jout_key(j, "value");
    view_value(j, d->type, v->i, v->b, v->s);
    jout_key(j, "default");
    view_value(j, d->type, d->def_int, d->def_bool, d->def_string);
    jout_key(j, "description");
    jout_str(j, d->description);
    jout_end(j, '}');
}

void api_view_site(struct jout *j, const struct fsm *f)
{
    jout_begin(j, '{');
    jout_key(j, "primary_region");
    jout_str(j, f->site.primary_region);
    jout_key(j, "epoch");
    jout_uint(j, f->site.epoch);
    jout_key(j, "state");
    jout_str(j, fsm_site_state_name(f->site.state));
    jout_key(j, "changed_ms");
    jout_uint(j, f->site.changed_ms);
    jout_end(j, '}');
}

void api_view_history(struct jout *j, const struct fsm *f)
{
    jout_begin(j, '[');
    for (size_t i = 0; i < f->n_audit; i++) {
        const struct fsm_audit *e = fsm_audit_at(f, i);
        jout_begin(j, '{');
        jout_key(j, "seq");
        jout_uint(j, e->seq);
        jout_key(j, "time_ms");
        jout_uint(j, e->time_ms);
        jout_key(j, "actor");
        jout_str(j, e->actor);
        jout_key(j, "action");
        jout_str(j, e->action);
        jout_key(j, "detail");
        jout_str(j, e->detail);
        jout_end(j, '}');
    }
    jout_end(j, ']');
}
