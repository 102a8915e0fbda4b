/* The HTTP probes: the LLM providers' model lists (Ollama /api/tags, OpenAI
 * and Anthropic /models) and the Cogitator app's /api/health, over the
 * prober's libcurl multi client. API keys go in headers, never in errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "config/config.h"
#include "probe/internal.h"

struct http_run
{
    struct probe__run run; /* first */
    struct httpc_req req;
    char url[320];
};

static void free_run(struct http_run *r)
{
    struct prober_impl *impl = r->run.impl;

    free(r);
    probe__run_freed(impl);
}

/* Model names from an array of objects, each with a string field. */
static int take_models(struct http_run *r,
                       json_t *root,
                       const char *array,
                       const char *field,
                       char *why,
                       size_t cap)
{
    struct probe_result *res = &r->run.res;
    json_t *list = json_object_get(root, array);
    json_t *item;
    size_t i;

    if (!json_is_array(list)) {
        snprintf(why, cap, "the answer has no \"%s\" array", array);
        return DR_EMALFORMED;
    }
    res->n_models = 0;
    json_array_foreach(list, i, item)
    {
        const char *name = json_string_value(json_object_get(item, field));
        if (name == NULL) {
            snprintf(why, cap, "%s[%zu] has no \"%s\" string", array, i, field);
            return DR_EMALFORMED;
        }
        if (res->n_models < PROBE_MODELS_MAX) {
            snprintf(res->models[res->n_models], sizeof(res->models[0]), "%s",
                     name);
            res->n_models++;
        }
    }
    return DR_OK;
}

/* services.wasm.available of the app's health answer, when it says. */
static int take_app_health(struct http_run *r,
                           json_t *root,
                           char *why,
                           size_t cap)
{
    struct probe_result *res = &r->run.res;
    json_t *services = json_object_get(root, "services");
    json_t *wasm;
    json_t *available;

    res->wasm_known = false;
    res->wasm_available = false;
    if (services == NULL) {
        return DR_OK;
    }
    if (!json_is_object(services)) {
        snprintf(why, cap, "\"services\" is not an object");
        return DR_EMALFORMED;
    }
    wasm = json_object_get(services, "wasm");
    if (wasm == NULL) {
        return DR_OK;
    }
    if (!json_is_object(wasm)) {
        snprintf(why, cap, "\"services.wasm\" is not an object");
        return DR_EMALFORMED;
    }
    available = json_object_get(wasm, "available");
    if (available == NULL) {
        return DR_OK;
    }
    if (!json_is_boolean(available)) {
        snprintf(why, cap, "\"services.wasm.available\" is not a boolean");
        return DR_EMALFORMED;
    }
    res->wasm_known = true;
    res->wasm_available = json_is_true(available);
    return DR_OK;
}

static void answer_cb(struct httpc_req *req,
                      long status,
                      const char *body,
                      size_t len,
                      const char *err)
{
    struct http_run *r = req->data;
    json_error_t jerr;
    json_t *root;
    char why[200];
    int rv;

    if (r->run.over) { /* not expected: cancel takes the request away */
        free_run(r);
        return;
    }
    if (status == 0) {
        char line[200];
        probe__one_line(line, sizeof(line), err != NULL ? err : "no answer");
        probe__fail(&r->run, "GET %s: %s", r->url, line);
        free_run(r);
        return;
    }
    if (status < 200 || status > 299) {
        probe__fail(&r->run, "GET %s: HTTP %ld", r->url, status);
        free_run(r);
        return;
    }
    root = json_loadb(body, len, 0, &jerr);
    if (root == NULL) {
        probe__fail(&r->run, "GET %s: the answer is not JSON (%s)", r->url,
                    jerr.text);
        free_run(r);
        return;
    }
    if (!json_is_object(root)) {
        snprintf(why, sizeof(why), "the answer is not a JSON object");
        rv = DR_EMALFORMED;
    } else if (r->run.service == PROBE_OLLAMA) {
        rv = take_models(r, root, "models", "name", why, sizeof(why));
    } else if (r->run.service == PROBE_APP) {
        rv = take_app_health(r, root, why, sizeof(why));
    } else {
        rv = take_models(r, root, "data", "id", why, sizeof(why));
    }
    json_decref(root);
    if (rv != DR_OK) {
        probe__fail(&r->run, "GET %s: %s", r->url, why);
        free_run(r);
        return;
    }
    r->run.res.latency_ms = probe__elapsed_ms(&r->run);
    r->run.res.status = PROBE_UP;
    probe__report(&r->run);
    free_run(r);
}

static void cancel(struct probe__run *run)
{
    struct http_run *r = (struct http_run *)(void *)run;

    httpc_cancel(&r->req);
    free_run(r);
}

/* base without its trailing slashes, then path. */
static void join_url(char *out, size_t cap, const char *base, const char *path)
{
    size_t n = strlen(base);

    while (n > 0 && base[n - 1] == '/') {
        n--;
    }
    snprintf(out, cap, "%.*s%s", (int)n, base, path);
}

int httpprobe_start(struct prober_impl *impl, int service)
{
    const struct config *cfg = impl->cfg;
    struct http_run *r = calloc(1, sizeof(*r));
    char auth[PROBE__SECRET_MAX + 64] = "";
    const char *headers[4] = {"Accept: application/json", NULL, NULL, NULL};
    int rv;

    if (r == NULL) {
        return DR_ENOMEM;
    }
    probe__run_init(&r->run, impl, service);
    r->run.cancel = cancel;
    switch (service) {
        case PROBE_OLLAMA:
            join_url(r->url, sizeof(r->url), cfg->probe_ollama_url,
                     "/api/tags");
            break;
        case PROBE_OPENAI:
            join_url(r->url, sizeof(r->url), cfg->probe_openai_url, "/models");
            if (impl->openai_key[0] != '\0') {
                snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
                         impl->openai_key);
                headers[1] = auth;
            }
            break;
        case PROBE_ANTHROPIC:
            join_url(r->url, sizeof(r->url), cfg->probe_anthropic_url,
                     "/models");
            headers[1] = "anthropic-version: 2023-06-01";
            if (impl->anthropic_key[0] != '\0') {
                snprintf(auth, sizeof(auth), "x-api-key: %s",
                         impl->anthropic_key);
                headers[2] = auth;
            }
            break;
        default:
            join_url(r->url, sizeof(r->url), cfg->probe_app_url, "/api/health");
            break;
    }
    snprintf(r->run.phase, sizeof(r->run.phase), "GET %s", r->url);
    r->req.data = r;
    rv = httpc_request(
        &impl->http, &r->req, r->url, headers, PROBE__HTTP_MAX_BODY,
        (long)cfg->probe_timeout_ms + PROBE__HTTP_SLACK_MS, answer_cb);
    explicit_bzero(auth, sizeof(auth));
    if (rv != DR_OK) {
        probe__fail(&r->run, "GET %s: %s", r->url, dr_strerror(rv));
        free_run(r);
    }
    return DR_OK;
}
