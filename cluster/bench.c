/* drctl bench: committed writes per second through the public API. */
#include "drctl.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

#define BENCH_REGIONS 16
#define BENCH_VARIANTS 4 /* bodies per region, so each write changes it */
#define BENCH_TARGETS_MAX 16
#define BENCH_NAME_MAX 253
#define BENCH_LABEL_MAX 63
#define BENCH_SIZE_MAX 4096
#define BENCH_CLIENTS_MAX 4096
#define BENCH_PREFIX_MAX 40

static volatile sig_atomic_t bench_stop;

static void bench__on_signal(int sig)
{
    (void)sig;
    bench_stop = 1;
}

/* A valid DNS name of len characters (1..253) into out: letters, with a
 * dot every 64th character so that no label exceeds 63. k varies it. */
static void bench__dns_name(char *out, size_t len, unsigned k)
{
    size_t i;

    for (i = 0; i < len; i++) {
        bool dot = i % (BENCH_LABEL_MAX + 1) == BENCH_LABEL_MAX;
        if (len % (BENCH_LABEL_MAX + 1) == 0) {
            /* The last label would be empty: end on one letter instead. */
            dot = (dot && i != len - 1) || i == len - 2;
        }
        out[i] = dot ? '.' : (char)('a' + (k * 5 + i * 7) % 26);
    }
}

/* Build a PUT body of about size bytes into buf (cap bytes); returns its
 * length. */
static size_t bench__body(char *buf, size_t cap, int priority, size_t size)
{
    static const char tail[] = "],\"object_store\":\"\"}";
    size_t base, need, names, per, extra, off, k, nt;
    int n;

    n = snprintf(buf, cap, "{\"priority\":%d,\"dns_targets\":[", priority);
    off = (size_t)n;
    base = off + sizeof(tail) - 1;
    need = size > base + 3 ? size - base : 0;
    nt = need == 0 ? 0 : (need + 255) / 256; /* name + quotes + comma */
    if (nt > BENCH_TARGETS_MAX) {
        nt = BENCH_TARGETS_MAX;
    }
    names = nt == 0 ? 0 : need - 2 * nt - (nt - 1);
    per = nt == 0 ? 0 : names / nt;
    extra = nt == 0 ? 0 : names % nt;
    for (k = 0; k < nt; k++) {
        size_t len = per + (k < extra);
        if (len > BENCH_NAME_MAX) {
            len = BENCH_NAME_MAX;
        }
        if (len == 0) {
            len = 1;
        }
        if (k > 0) {
            buf[off++] = ',';
        }
        buf[off++] = '"';
        bench__dns_name(buf + off, len, (unsigned)k);
        off += len;
        buf[off++] = '"';
    }
    memcpy(buf + off, tail, sizeof(tail));
    return off + sizeof(tail) - 1;
}

static int bench__cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Latency percentile in ms of a sorted array. */
static double bench__pct_ms(const uint32_t *v, size_t n, double pct)
{
    size_t rank;

    if (n == 0) {
        return 0;
    }
    rank = (size_t)(pct / 100.0 * (double)n + 0.999999);
    if (rank == 0) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return (double)v[rank - 1] / 1000.0;
}

/* Create the bench regions; 409 (left from an earlier run) is fine. */
static int bench__setup(struct drctl *d, char names[][64])
{
    struct client_response r;
    size_t i;
    int rv;

    for (i = 0; i < BENCH_REGIONS; i++) {
        json_t *body = json_pack("{s:s,s:i}", "name", names[i], "priority", 0);
        if (body == NULL) {
            return drctl_fail(d, "out of memory");
        }
        rv = drctl_request(d, "POST", "/api/regions", body, &r);
        json_decref(body);
        if (rv != 0) {
            return rv;
        }
        if (r.status != 201 && r.status != 409) {
            rv = drctl_fail_response(d, &r);
            client_response_clear(&r);
            return rv;
        }
        client_response_clear(&r);
    }
    return 0;
}

static void bench__cleanup(struct drctl *d, char names[][64])
{
    struct client_response r;
    char path[128], desc[512];
    size_t i;

    for (i = 0; i < BENCH_REGIONS; i++) {
        snprintf(path, sizeof(path), "/api/regions/%s", names[i]);
        if (drctl_request(d, "DELETE", path, NULL, &r) != 0) {
            drctl_warn(d, "could not remove region %s", names[i]);
            continue;
        }
        if (r.status != 200 && r.status != 404) {
            client_response_describe(&r, desc, sizeof(desc));
            drctl_warn(d, "removing region %s: %s", names[i], desc);
        }
        client_response_clear(&r);
    }
}

/* The leader's base URL: a linearizable read is redirected to the leader
 * and only answered there once its barrier commits, so the node that
 * answers it is the leader now, not one a follower remembered. */
static int bench__leader(struct drctl *d, char *url, size_t size)
{
    struct client_response r;
    int rv;

    memset(&r, 0, sizeof(r));
    rv = drctl_request(d, "GET", "/api/site", NULL, &r);
    if (rv != 0) {
        return rv;
    }
    if (r.status != 200) {
        rv = drctl_fail_response(d, &r);
        client_response_clear(&r);
        return rv;
    }
    snprintf(url, size, "%s", r.url);
    client_response_clear(&r);
    return 0;
}

/* x (not negative) rounded to 1/scale. */
static double bench__round(double x, double scale)
{
    return (double)(uint64_t)(x * scale + 0.5) / scale;
}

static void bench__report(const struct drctl *d,
                          unsigned clients,
                          int64_t size,
                          const char *duration,
                          unsigned duration_ms,
                          struct loadgen_result *res)
{
    double secs = (double)res->elapsed_us / 1e6;
    double wps = secs > 0 ? (double)res->ok / secs : 0;
    double p50, p99, max;

    qsort(res->latency_us, res->n_latency, sizeof(res->latency_us[0]),
          bench__cmp_u32);
    p50 = bench__pct_ms(res->latency_us, res->n_latency, 50);
    p99 = bench__pct_ms(res->latency_us, res->n_latency, 99);
    max = bench__pct_ms(res->latency_us, res->n_latency, 100);
    if (d->json) {
        json_t *o = json_pack(
            "{s:i,s:I,s:o,s:I,s:I,s:f,s:f,s:f,s:f}", "clients", (int)clients,
            "size", (json_int_t)size, "duration",
            duration_ms % 1000 == 0 ? json_integer(duration_ms / 1000)
                                    : json_real(duration_ms / 1000.0),
            "writes", (json_int_t)res->ok, "errors", (json_int_t)res->errors,
            "writes_per_sec", bench__round(wps, 10), "p50_ms",
            bench__round(p50, 1000), "p99_ms", bench__round(p99, 1000),
            "max_ms", bench__round(max, 1000));
        drctl_print_json(o);
        json_decref(o);
    } else {
        printf(
            "clients=%u size=%lld duration=%s writes=%llu errors=%llu "
            "writes_per_sec=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
            clients, (long long)size, duration, (unsigned long long)res->ok,
            (unsigned long long)res->errors, wps, p50, p99, max);
    }
    if (bench_stop) {
        drctl_warn(d, "interrupted: the load ran for %.1f s", secs);
    }
    if (res->errors > 0) {
        drctl_warn(d, "%llu requests failed; the first: %s",
                   (unsigned long long)res->errors, res->first_error);
    }
}

int drctl_cmd_bench(struct drctl *d, int argc, char **argv)
{
    const char *clients_opt = NULL, *duration = "10", *size_opt = NULL;
    const char *prefix = "bench";
    const struct drctl_opt opts[] = {
        {"--clients", &clients_opt, NULL},
        {"--duration", &duration, NULL},
        {"--size", &size_opt, NULL},
        {"--regions-prefix", &prefix, NULL},
        {NULL, NULL, NULL},
    };
    char names[BENCH_REGIONS][64], leader[CLIENT_URL_MAX];
    char errmsg[CLIENT_ERRMSG_MAX];
    struct loadgen_request reqs[BENCH_REGIONS * BENCH_VARIANTS];
    struct loadgen_params params;
    struct loadgen_result res;
    struct sigaction sa, old_int, old_term;
    char *bodies = NULL, *urls = NULL;
    size_t body_cap = BENCH_SIZE_MAX + 512, url_cap = CLIENT_URL_MAX + 128;
    int64_t clients = 64, size = 1024;
    unsigned duration_ms;
    size_t i;
    int rv;

    rv = drctl_parse_opts(d, argc, argv, opts);
    if (rv != 0) {
        return rv;
    }
    if ((clients_opt != NULL &&
         (rv = drctl_parse_int(d, "--clients", clients_opt, 1,
                               BENCH_CLIENTS_MAX, &clients)) != 0) ||
        (size_opt != NULL &&
         (rv = drctl_parse_int(d, "--size", size_opt, 1, BENCH_SIZE_MAX,
                               &size)) != 0) ||
        (rv = drctl_parse_seconds(d, "--duration", duration, 3600,
                                  &duration_ms)) != 0) {
        return rv;
    }
    if (prefix[0] < 'a' || prefix[0] > 'z' ||
        strlen(prefix) > BENCH_PREFIX_MAX ||
        strspn(prefix, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
            strlen(prefix)) {
        return drctl_usage_error(
            d,
            "--regions-prefix: \"%s\" must start with a-z, hold only a-z, 0-9 "
            "and '-', and have at most %d characters",
            prefix, BENCH_PREFIX_MAX);
    }
    for (i = 0; i < BENCH_REGIONS; i++) {
        snprintf(names[i], sizeof(names[i]), "%s-%02zu", prefix, i);
    }

    rv = bench__leader(d, leader, sizeof(leader));
    if (rv != 0) {
        return rv;
    }
    bodies = malloc(BENCH_REGIONS * BENCH_VARIANTS * body_cap);
    urls = malloc(BENCH_REGIONS * url_cap);
    if (bodies == NULL || urls == NULL) {
        rv = drctl_fail(d, "out of memory");
        goto out;
    }
    for (i = 0; i < BENCH_REGIONS; i++) {
        int len = snprintf(urls + i * url_cap, url_cap, "%s/api/regions/%s",
                           leader, names[i]);
        if (len < 0 || (size_t)len >= url_cap) {
            rv = drctl_fail(d, "leader address %s is too long", leader);
            goto out;
        }
    }
    for (i = 0; i < BENCH_REGIONS * BENCH_VARIANTS; i++) {
        size_t region = i % BENCH_REGIONS, variant = i / BENCH_REGIONS;
        char *body = bodies + i * body_cap;
        reqs[i].url = urls + region * url_cap;
        reqs[i].body = body;
        reqs[i].body_len =
            bench__body(body, body_cap, (int)(variant * BENCH_REGIONS + region),
                        (size_t)size);
    }

    rv = bench__setup(d, names);
    if (rv != 0) {
        bench__cleanup(d, names);
        goto out;
    }

    memset(&params, 0, sizeof(params));
    params.method = "PUT";
    params.requests = reqs;
    params.n_requests = BENCH_REGIONS * BENCH_VARIANTS;
    params.clients = (unsigned)clients;
    params.duration_ms = duration_ms;
    params.request_timeout_ms = d->timeout_ms;
    params.ok_status = 200;
    params.stop = &bench_stop;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = bench__on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rv = loadgen_run(&d->client, &params, &res, errmsg);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);

    bench__cleanup(d, names);
    if (rv != 0) {
        rv = drctl_fail(d, "%s", errmsg);
        goto out;
    }
    bench__report(d, (unsigned)clients, size, duration, duration_ms, &res);
    if (res.ok == 0) {
        rv = drctl_fail(d, "no write succeeded");
    }
    loadgen_result_clear(&res);

out:
    free(bodies);
    free(urls);
    return rv;
}
