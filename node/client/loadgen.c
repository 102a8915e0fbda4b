/* Closed-loop HTTP load generator: one curl multi handle, one thread. */
#include "client/loadgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "common/err.h"

#define LOADGEN__CLIENTS_MAX 4096
#define LOADGEN__SNIPPET 256 /* body bytes kept to describe an error */

/* One client: an easy handle reused for every request it sends. */
struct loadgen__slot
{
    CURL *easy;
    uint64_t started_us;
    int active;
    size_t snippet_len;
    char snippet[LOADGEN__SNIPPET];
};

static uint64_t loadgen__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static size_t loadgen__body_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    struct loadgen__slot *s = arg;
    size_t n = size * nmemb;
    size_t room = sizeof(s->snippet) - 1 - s->snippet_len;
    size_t take = n < room ? n : room;

    memcpy(s->snippet + s->snippet_len, data, take);
    s->snippet_len += take;
    s->snippet[s->snippet_len] = '\0';
    return n;
}

static int loadgen__record(struct loadgen_result *res, size_t *cap, uint64_t us)
{
    if (res->n_latency == *cap) {
        size_t grown_cap = *cap * 2;
        uint32_t *grown =
            realloc(res->latency_us, grown_cap * sizeof(*res->latency_us));
        if (grown == NULL) {
            return DR_ENOMEM;
        }
        res->latency_us = grown;
        *cap = grown_cap;
    }
    res->latency_us[res->n_latency++] =
        us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    return 0;
}

/* Point s at the next request and hand it to the multi handle. */
static int loadgen__start(CURLM *m,
                          struct loadgen__slot *s,
                          const struct loadgen_request *rq)
{
    curl_easy_setopt(s->easy, CURLOPT_URL, rq->url);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, rq->body);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE,
                     (long)(rq->body != NULL ? rq->body_len : 0));
    s->snippet_len = 0;
    s->snippet[0] = '\0';
    s->started_us = loadgen__now_us();
    if (curl_multi_add_handle(m, s->easy) != CURLM_OK) {
        return DR_ENOMEM;
    }
    s->active = 1;
    return 0;
}

static void loadgen__note_error(struct loadgen_result *res,
                                const struct loadgen__slot *s,
                                CURLcode rc,
                                long status)
{
    if (res->first_error[0] != '\0') {
        return;
    }
    if (rc != CURLE_OK) {
        snprintf(res->first_error, sizeof(res->first_error), "%s",
                 curl_easy_strerror(rc));
    } else {
        size_t len = 0;
        while (len < s->snippet_len && s->snippet[len] != '\n') {
            len++;
        }
        snprintf(res->first_error, sizeof(res->first_error), "HTTP %ld: %.*s",
                 status, (int)len, s->snippet);
    }
}

int loadgen_run(const struct client *c,
                const struct loadgen_params *p,
                struct loadgen_result *res,
                char *errmsg)
{
    struct loadgen__slot *slots;
    struct curl_slist *headers = NULL, *grown;
    char auth[CLIENT_TOKEN_MAX + 32];
    uint64_t start_us, end_us, last_us;
    size_t cap = 1u << 16, next = 0, active = 0;
    CURLM *m;
    unsigned i;
    int rv = 0;

    memset(res, 0, sizeof(*res));
    if (p->clients == 0 || p->clients > LOADGEN__CLIENTS_MAX ||
        p->n_requests == 0) {
        snprintf(errmsg, CLIENT_ERRMSG_MAX,
                 "load: need 1..%d clients and at least one request",
                 LOADGEN__CLIENTS_MAX);
        return DR_EINVAL;
    }
    res->latency_us = malloc(cap * sizeof(*res->latency_us));
    slots = calloc(p->clients, sizeof(*slots));
    m = curl_multi_init();
    if (res->latency_us == NULL || slots == NULL || m == NULL) {
        rv = DR_ENOMEM;
        goto out_after_alloc;
    }
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)p->clients);
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)p->clients);

    grown = curl_slist_append(headers, "Expect:");
    if (grown == NULL) {
        rv = DR_ENOMEM;
        goto out_after_alloc;
    }
    headers = grown;
    grown = curl_slist_append(headers, "Content-Type: application/json");
    if (grown == NULL) {
        rv = DR_ENOMEM;
        goto out_after_headers;
    }
    headers = grown;
    if (c->token[0] != '\0') {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
        grown = curl_slist_append(headers, auth);
        memset(auth, 0, sizeof(auth));
        if (grown == NULL) {
            rv = DR_ENOMEM;
            goto out_after_headers;
        }
        headers = grown;
    }

    for (i = 0; i < p->clients; i++) {
        CURL *e = curl_easy_init();
        if (e == NULL) {
            rv = DR_ENOMEM;
            goto out_after_easy;
        }
        slots[i].easy = e;
        curl_easy_setopt(e, CURLOPT_PRIVATE, &slots[i]);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, p->method);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->request_timeout_ms);
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "drctl-bench");
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, loadgen__body_cb);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &slots[i]);
    }

    start_us = loadgen__now_us();
    end_us = start_us + (uint64_t)p->duration_ms * 1000u;
    last_us = start_us;
    for (i = 0; i < p->clients; i++) {
        rv = loadgen__start(m, &slots[i], &p->requests[next]);
        if (rv != 0) {
            goto out_after_easy;
        }
        next = (next + 1) % p->n_requests;
        active++;
    }

    while (active > 0) {
        CURLMsg *msg;
        int running, queued;
        uint64_t now;
        int wait_ms;

        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &queued)) != NULL) {
            struct loadgen__slot *s;
            char *priv = NULL;
            long status = 0;

            if (msg->msg != CURLMSG_DONE) {
                continue;
            }
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            s = (struct loadgen__slot *)(void *)priv;
            curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
            now = loadgen__now_us();
            last_us = now;
            if (msg->data.result == CURLE_OK && status == p->ok_status) {
                res->ok++;
                rv = loadgen__record(res, &cap, now - s->started_us);
                if (rv != 0) {
                    goto out_after_easy;
                }
            } else {
                res->errors++;
                loadgen__note_error(res, s, msg->data.result, status);
            }
            curl_multi_remove_handle(m, s->easy);
            s->active = 0;
            active--;
            if (now < end_us && (p->stop == NULL || *p->stop == 0)) {
                rv = loadgen__start(m, s, &p->requests[next]);
                if (rv != 0) {
                    goto out_after_easy;
                }
                next = (next + 1) % p->n_requests;
                active++;
            }
        }
        if (active == 0) {
            break;
        }
        now = loadgen__now_us();
        wait_ms = now < end_us ? (int)((end_us - now) / 1000u) + 1 : 100;
        if (wait_ms > 100) {
            wait_ms = 100;
        }
        curl_multi_poll(m, NULL, 0, wait_ms, NULL);
    }
    res->elapsed_us = last_us - start_us;

out_after_easy:
    for (i = 0; i < p->clients; i++) {
        if (slots[i].easy == NULL) {
            continue;
        }
        if (slots[i].active) {
            curl_multi_remove_handle(m, slots[i].easy);
        }
        curl_easy_cleanup(slots[i].easy);
    }
out_after_headers:
    curl_slist_free_all(headers);
out_after_alloc:
    if (m != NULL) {
        curl_multi_cleanup(m);
    }
    free(slots);
    if (rv != 0) {
        snprintf(errmsg, CLIENT_ERRMSG_MAX, "load: %s", dr_strerror(rv));
        loadgen_result_clear(res);
    }
    return rv;
}

void loadgen_result_clear(struct loadgen_result *res)
{
    free(res->latency_us);
    res->latency_us = NULL;
    res->n_latency = 0;
}
