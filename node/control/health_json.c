/* Probe reports on the wire: a node's round of results as JSON, and the
 * leader's strict parser of it. */
#include <stdio.h>
#include <string.h>

#include "control/health.h"

static const char *const status_names[] = {"unconfigured", "unknown", "up",
                                           "down"};

static void write_result(struct jout *j,
                         int service,
                         const struct probe_result *r)
{
    jout_begin(j, '{');
    jout_key(j, "status");
    jout_str(j, status_names[r->status]);
    jout_key(j, "latency_us");
    jout_uint(j, (uint64_t)(r->latency_ms * 1000.0));
    jout_key(j, "error");
    jout_str(j, r->error);
    switch (service) {
        case PROBE_DATABASE:
            jout_key(j, "connections");
            jout_int(j, r->connections);
            jout_key(j, "max_connections");
            jout_int(j, r->max_connections);
            break;
        case PROBE_REDIS:
            jout_key(j, "used_memory");
            jout_int(j, r->used_memory);
            jout_key(j, "maxmemory");
            jout_int(j, r->maxmemory);
            break;
        case PROBE_APP:
            if (r->wasm_known) {
                jout_key(j, "wasm_available");
                jout_bool(j, r->wasm_available);
            }
            break;
        default:
            health_write_models(j, r);
            break;
    }
    jout_end(j, '}');
}

void health_write_models(struct jout *j, const struct probe_result *r)
{
    jout_key(j, "models");
    jout_begin(j, '[');
    for (unsigned i = 0; i < r->n_models; i++) {
        jout_str(j, r->models[i]);
    }
    jout_end(j, ']');
}

void health_report_write(struct jout *j, const struct health_report *r)
{
    jout_begin(j, '{');
    jout_key(j, "node");
    jout_uint(j, r->node);
    jout_key(j, "region");
    jout_str(j, r->region);
    jout_key(j, "applied_index");
    jout_uint(j, r->applied_index);
    jout_key(j, "interval_ms");
    jout_uint(j, r->interval_ms);
    jout_key(j, "timeout_ms");
    jout_uint(j, r->timeout_ms);
    jout_key(j, "services");
    jout_begin(j, '{');
    for (int i = 0; i < PROBE__COUNT; i++) {
        if (i == PROBE_PG_STANDBY) {
            continue; /* this node's metrics, not the region's health */
        }
        jout_key(j, probe_service_name(i));
        write_result(j, i, &r->results[i]);
    }
    jout_end(j, '}');
    if (r->fenced_epoch > 0) {
        jout_key(j, "fenced_epoch");
        jout_uint(j, r->fenced_epoch);
    }
    if (r->repeat) {
        jout_key(j, "repeat");
        jout_bool(j, true);
    }
    if (r->n_remote > 0) {
        jout_key(j, "remote");
        jout_begin(j, '{');
        for (size_t i = 0; i < r->n_remote; i++) {
            jout_key(j, r->remote[i].region);
            jout_begin(j, '{');
            jout_key(j, "down_ms");
            jout_uint(j, r->remote[i].down_ms);
            jout_end(j, '}');
        }
        jout_end(j, '}');
    }
    jout_end(j, '}');
}

static int bad(char *errmsg, const char *svc, const char *what)
{
    snprintf(errmsg, 256, "%s%s%s", svc ? svc : "", svc ? ": " : "", what);
    return DR_EINVAL;
}

static int get_int(const struct jin *o,
                   const char *key,
                   int64_t *out,
                   const char *svc,
                   char *errmsg)
{
    const struct jin *v = jin_get(o, key);
    char msg[96];
    if (v == NULL) {
        *out = 0;
        return DR_OK;
    }
    if (v->type != JIN_INT || v->u.i < 0) {
        snprintf(msg, sizeof(msg), "%s must be a non-negative integer", key);
        return bad(errmsg, svc, msg);
    }
    *out = v->u.i;
    return DR_OK;
}

static int parse_result(const struct jin *o,
                        const char *svc,
                        struct probe_result *r,
                        char *errmsg)
{
    const struct jin *v;
    int64_t us;

    memset(r, 0, sizeof(*r));
    if (o->type != JIN_OBJECT) {
        return bad(errmsg, svc, "must be an object");
    }
    v = jin_get(o, "status");
    r->status = -1;
    for (int i = 0; v != NULL && v->type == JIN_STRING && i < 4; i++) {
        if (strcmp(v->u.str.s, status_names[i]) == 0) {
            r->status = i;
        }
    }
    if (r->status < 0) {
        return bad(errmsg, svc,
                   "status must be unconfigured, unknown, up or "
                   "down");
    }
    if (get_int(o, "latency_us", &us, svc, errmsg) != DR_OK ||
        get_int(o, "connections", &r->connections, svc, errmsg) != DR_OK ||
        get_int(o, "max_connections", &r->max_connections, svc, errmsg) !=
            DR_OK ||
        get_int(o, "used_memory", &r->used_memory, svc, errmsg) != DR_OK ||
        get_int(o, "maxmemory", &r->maxmemory, svc, errmsg) != DR_OK) {
        return DR_EINVAL;
    }
    r->latency_ms = (double)us / 1000.0;
    v = jin_get(o, "error");
    if (v != NULL) {
        if (v->type != JIN_STRING) {
            return bad(errmsg, svc, "error must be a string");
        }
        snprintf(r->error, sizeof(r->error), "%s", v->u.str.s);
    }
    v = jin_get(o, "wasm_available");
    if (v != NULL) {
        if (v->type != JIN_BOOL) {
            return bad(errmsg, svc, "wasm_available must be a boolean");
        }
        r->wasm_known = true;
        r->wasm_available = v->u.b;
    }
    v = jin_get(o, "models");
    if (v != NULL) {
        if (v->type != JIN_ARRAY) {
            return bad(errmsg, svc, "models must be an array of strings");
        }
        for (size_t i = 0; i < v->u.arr.n; i++) {
            const struct jin *m = &v->u.arr.items[i];
            if (m->type != JIN_STRING) {
                return bad(errmsg, svc, "models must be an array of strings");
            }
            if (r->n_models < PROBE_MODELS_MAX) {
                snprintf(r->models[r->n_models++], sizeof(r->models[0]), "%s",
                         m->u.str.s);
            }
        }
    }
    return DR_OK;
}

int health_report_parse(const struct jin *root,
                        struct health_report *out,
                        char *errmsg)
{
    const struct jin *v, *svcs;

    memset(out, 0, sizeof(*out));
    if (root == NULL || root->type != JIN_OBJECT) {
        return bad(errmsg, NULL, "a report must be a JSON object");
    }
    v = jin_get(root, "node");
    if (v == NULL || v->type != JIN_INT || v->u.i <= 0) {
        return bad(errmsg, NULL, "node must be a positive integer");
    }
    out->node = (uint64_t)v->u.i;
    v = jin_get(root, "region");
    if (v == NULL || v->type != JIN_STRING || v->u.str.len == 0 ||
        v->u.str.len >= sizeof(out->region)) {
        return bad(errmsg, NULL, "region must be a region name");
    }
    memcpy(out->region, v->u.str.s, v->u.str.len + 1);
    v = jin_get(root, "applied_index");
    if (v != NULL) {
        if (v->type != JIN_INT || v->u.i < 0) {
            return bad(errmsg, NULL,
                       "applied_index must be a non-negative integer");
        }
        out->applied_index = (uint64_t)v->u.i;
    }
    {
        int64_t iv = 0, to = 0;
        if (get_int(root, "interval_ms", &iv, NULL, errmsg) != DR_OK ||
            get_int(root, "timeout_ms", &to, NULL, errmsg) != DR_OK) {
            return DR_EINVAL;
        }
        if (iv > 3600000 || to > 60000) {
            return bad(errmsg, NULL, "interval_ms or timeout_ms out of range");
        }
        out->interval_ms = (uint32_t)iv;
        out->timeout_ms = (uint32_t)to;
    }
    svcs = jin_get(root, "services");
    if (svcs == NULL || svcs->type != JIN_OBJECT) {
        return bad(errmsg, NULL, "services must be an object");
    }
    for (size_t i = 0; i < svcs->u.obj.n; i++) {
        const char *key = svcs->u.obj.members[i].key;
        int s = -1;
        for (int k = 0; k < PROBE__COUNT; k++) {
            if (strcmp(key, probe_service_name(k)) == 0) {
                s = k;
            }
        }
        if (s < 0) {
            char msg[128];
            snprintf(msg, sizeof(msg), "unknown service \"%.64s\"", key);
            return bad(errmsg, NULL, msg);
        }
        if (parse_result(&svcs->u.obj.members[i].value, key, &out->results[s],
                         errmsg) != DR_OK) {
            return DR_EINVAL;
        }
    }
    {
        int64_t fe = 0;
        if (get_int(root, "fenced_epoch", &fe, NULL, errmsg) != DR_OK) {
            return DR_EINVAL;
        }
        out->fenced_epoch = (uint64_t)fe;
    }
    v = jin_get(root, "repeat");
    if (v != NULL) {
        if (v->type != JIN_BOOL) {
            return bad(errmsg, NULL, "repeat must be true or false");
        }
        out->repeat = v->u.b;
    }
    v = jin_get(root, "remote");
    if (v != NULL) {
        if (v->type != JIN_OBJECT || v->u.obj.n > REACH_REGIONS_MAX) {
            return bad(errmsg, NULL,
                       "remote must be an object of at most 16 regions");
        }
        for (size_t i = 0; i < v->u.obj.n; i++) {
            const char *key = v->u.obj.members[i].key;
            const struct jin *o = &v->u.obj.members[i].value;
            int64_t down = 0;
            char msg[128];
            if (key[0] == '\0' ||
                strlen(key) >= sizeof(out->remote[0].region)) {
                return bad(errmsg, NULL, "remote: a key is not a region name");
            }
            snprintf(msg, sizeof(msg), "remote %.64s", key);
            if (o->type != JIN_OBJECT || jin_get(o, "down_ms") == NULL) {
                return bad(errmsg, msg, "must be {\"down_ms\": N}");
            }
            if (get_int(o, "down_ms", &down, msg, errmsg) != DR_OK) {
                return DR_EINVAL;
            }
            snprintf(out->remote[out->n_remote].region,
                     sizeof(out->remote[0].region), "%s", key);
            out->remote[out->n_remote++].down_ms = (uint64_t)down;
        }
    }
    return DR_OK;
}
