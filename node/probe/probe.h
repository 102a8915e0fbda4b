/* Health probes of this node's region, on the node's loop: PostgreSQL
 * (libpq async), Redis (hiredis async), the LLM providers' model lists and
 * the Cogitator app's own /api/health (libcurl multi). One round probes
 * every configured service at once, each with its own timeout. */
#ifndef DR_PROBE_H
#define DR_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"

enum probe_service {
    PROBE_DATABASE = 0,
    PROBE_REDIS,
    PROBE_OLLAMA,
    PROBE_OPENAI,
    PROBE_ANTHROPIC,
    PROBE_APP,        /* the Cogitator app's /api/health */
    PROBE_PG_STANDBY, /* a standby of the archive: this node's metrics only,
                         not a region's health */
    PROBE__COUNT
};

enum probe_status {
    PROBE_UNCONFIGURED = 0, /* nothing to probe (no address in the config) */
    PROBE_UNKNOWN,          /* configured, no round finished yet */
    PROBE_UP,
    PROBE_DOWN,
};

#define PROBE_MODELS_MAX 16

/* The last outcome of one service's probe. When a probe fails, status,
 * error and at_ms change, latency_ms keeps the last success's value and
 * every other detail is cleared. */
struct probe_result
{
    int status;        /* enum probe_status */
    double latency_ms; /* of the last successful probe */
    uint64_t at_ms;    /* uv_now() when the probe finished */
    char error[256];   /* why it is down: "connect 127.0.0.1:5432:
                          Connection refused", "timed out after 2000 ms" */
    /* PROBE_DATABASE: pg_stat_activity count, max_connections */
    int64_t connections, max_connections;
    /* PROBE_DATABASE: pg_stat_archiver, when archive_mode is not off:
     * files archived and failed (PostgreSQL's counters), seconds since the
     * last success (-1: none yet), whether the last attempt failed (and
     * which file) */
    bool archiving, archive_failing;
    int64_t archived, archive_failed, archived_age_s;
    char archive_failed_wal[64];
    /* PROBE_DATABASE: the WAL stream's replication slot: bytes of WAL the
     * server keeps for it (-1: no such slot, or the server is a standby)
     * and whether a stream reads from it now */
    int64_t stream_slot_lag;
    bool stream_slot_active;
    /* PROBE_DATABASE, when the round was asked to drop the slot (struct
     * prober's drop_stream_slot) and no stream read it: dropped (with the
     * bytes it held in stream_slot_held), or why not; a failed drop leaves
     * the probe's status alone */
    bool stream_slot_dropped;
    int64_t stream_slot_held;
    char stream_slot_drop_error[200];
    /* PROBE_PG_STANDBY: pg_is_in_recovery(), seconds since the last
     * transaction it replayed was committed (-1: none replayed yet), and
     * the end of the last WAL record it replayed (-1: not in recovery) */
    bool in_recovery;
    int64_t replay_delay_s;
    int64_t replay_lsn;
    /* PROBE_REDIS: INFO memory; maxmemory 0 = no limit */
    int64_t used_memory, maxmemory;
    /* LLM providers: model names from the models endpoint */
    char models[PROBE_MODELS_MAX][128];
    unsigned n_models;
    /* PROBE_APP: services.wasm.available of the app's /api/health
     * (wasm_known false when the app did not say) */
    bool wasm_known, wasm_available;
};

struct prober;
/* Called on the loop after every round, when every probe of the round
 * finished or timed out; p->results hold the outcome. */
typedef void (*prober_round_cb)(struct prober *p);

struct prober
{
    void *data;
    prober_round_cb round_cb;
    /* Set by the owner between rounds: the database probe drops the WAL
     * stream's replication slot when it finds it unread, and when
     * may_drop_stream_slot (if set) still says yes at that moment. */
    bool drop_stream_slot;
    bool (*may_drop_stream_slot)(struct prober *p);
    struct probe_result results[PROBE__COUNT];
    uint64_t rounds;          /* rounds completed */
    struct prober_impl *impl; /* private */
};

/* Start probing every cfg->probe_interval_ms (first round at once). cfg is
 * borrowed for the prober's life. Returns 0, or DR_ENOMEM / DR_EINVAL with
 * errmsg (256 bytes) saying why (an unreadable API key file, say). */
int prober_start(struct prober *p,
                 uv_loop_t *loop,
                 const struct config *cfg,
                 char *errmsg);
/* Cancel probes in flight, close every handle, then call cb (may be
 * NULL). No round_cb after this call. */
void prober_stop(struct prober *p, void (*cb)(struct prober *p));

const char *probe_service_name(int service); /* "database", "redis", ... */
const char *probe_status_name(int status);   /* "up", "down", ... */

#endif /* DR_PROBE_H */
