/* One round of probes on a fresh loop, printed as JSON (drnode
 * --probe-once). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config/config.h"
#include "probe/probe.h"
#include "probe/probe_once.h"

struct once
{
    int exit_code;
    bool printed;
};

/* The JSON of one service's result. */
static json_t *result_json(int service, const struct probe_result *r)
{
    json_t *o = json_object();
    json_t *models;
    unsigned i;

    json_object_set_new(o, "status", json_string(probe_status_name(r->status)));
    json_object_set_new(o, "latency_ms", json_real(r->latency_ms));
    switch (service) {
        case PROBE_DATABASE:
            json_object_set_new(o, "connections", json_integer(r->connections));
            json_object_set_new(o, "max_connections",
                                json_integer(r->max_connections));
            if (r->archiving) {
                json_t *a = json_object();
                json_object_set_new(a, "archived", json_integer(r->archived));
                json_object_set_new(a, "failed",
                                    json_integer(r->archive_failed));
                json_object_set_new(a, "last_archived_age_s",
                                    json_integer(r->archived_age_s));
                json_object_set_new(a, "failing",
                                    json_boolean(r->archive_failing));
                json_object_set_new(a, "last_failed_wal",
                                    json_string(r->archive_failed_wal));
                json_object_set_new(o, "wal_archive", a);
            }
            if (r->stream_slot_lag >= 0) {
                json_object_set_new(o, "wal_stream_slot",
                                    json_pack("{sI sb}", "bytes",
                                              (json_int_t)r->stream_slot_lag,
                                              "active", r->stream_slot_active));
            }
            break;
        case PROBE_PG_STANDBY:
            json_object_set_new(o, "in_recovery", json_boolean(r->in_recovery));
            json_object_set_new(o, "replay_delay_s",
                                json_integer(r->replay_delay_s));
            json_object_set_new(o, "replay_lsn", json_integer(r->replay_lsn));
            break;
        case PROBE_REDIS:
            json_object_set_new(o, "used_memory", json_integer(r->used_memory));
            json_object_set_new(o, "maxmemory", json_integer(r->maxmemory));
            break;
        case PROBE_APP:
            json_object_set_new(
                o, "wasm_available",
                r->wasm_known ? json_boolean(r->wasm_available) : json_null());
            break;
        default:
            models = json_array();
            for (i = 0; i < r->n_models; i++) {
                json_array_append_new(models, json_string(r->models[i]));
            }
            json_object_set_new(o, "models", models);
            break;
    }
    json_object_set_new(o, "error", json_string(r->error));
    return o;
}

static void round_cb(struct prober *p)
{
    struct once *once = p->data;
    json_t *root = json_object();
    char *text;
    int s;

    once->exit_code = 0;
    for (s = 0; s < PROBE__COUNT; s++) {
        const struct probe_result *r = &p->results[s];
        json_object_set_new(root, probe_service_name(s), result_json(s, r));
        if (r->status != PROBE_UNCONFIGURED && r->status != PROBE_UP) {
            once->exit_code = 1;
        }
    }
    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (text == NULL) {
        fprintf(stderr, "drnode: out of memory\n");
        once->exit_code = 1;
    } else {
        printf("%s\n", text);
        fflush(stdout);
        free(text);
        once->printed = true;
    }
    prober_stop(p, NULL);
}

int probe_once_main(const char *path)
{
    struct config_problems probs;
    struct config *cfg = malloc(sizeof(*cfg));
    struct prober p;
    struct once once = {1, false};
    uv_loop_t loop;
    char errmsg[256];
    int rv;

    if (cfg == NULL) {
        fprintf(stderr, "drnode: out of memory\n");
        return 1;
    }
    memset(&probs, 0, sizeof(probs));
    if (config_load(cfg, path, &probs) != 0) {
        config_print_problems(stderr, path, &probs);
        free(cfg);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    rv = uv_loop_init(&loop);
    if (rv != 0) {
        fprintf(stderr, "drnode: cannot start a loop: %s\n", uv_strerror(rv));
        free(cfg);
        return 1;
    }
    memset(&p, 0, sizeof(p));
    p.data = &once;
    p.round_cb = round_cb;
    rv = prober_start(&p, &loop, cfg, errmsg);
    if (rv != 0) {
        fprintf(stderr, "%s: %s\n", path, errmsg);
        uv_loop_close(&loop);
        free(cfg);
        return 2;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    rv = uv_loop_close(&loop);
    free(cfg);
    if (rv != 0 || p.impl != NULL) {
        fprintf(stderr, "drnode: the probe loop did not close cleanly (%s)\n",
                rv != 0 ? uv_strerror(rv) : "prober still open");
        return 1;
    }
    if (!once.printed) {
        return 1;
    }
    return once.exit_code;
}
