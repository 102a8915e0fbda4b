/* Reading Redis snapshots back: the manifest, a full check of every object
 * (before any of it is used), and the per-key comparison with a live Redis.
 * Shared by redis_restore and redis_verify. Blocking; workers only. */
#ifndef DR_REDIS_CHECK_H
#define DR_REDIS_CHECK_H

#include <jansson.h>
#include <stdint.h>

#include "backup/redis_conn.h"
#include "backup/redis_format.h"
#include "codec/redis_manifest.h"
#include "store/store.h"

#define RCHECK_MANIFEST_MAX (64 * 1024 * 1024)
#define RCHECK_LIST_MAX 100 /* key names listed per category */

/* Fetch the manifest (its SHA-256 checked against expect_sha256, borrowed)
 * and decode it into *m (free with redis_manifest_free). */
int rcheck_load_manifest(struct store *s,
                         const char *key,
                         const char *expect_sha256,
                         struct redis_manifest *m,
                         char *errmsg);

/* Read every data object and the key index in full: stored and raw
 * SHA-256 and sizes, record streams, per-object and per-type counts and
 * the snapshot digest against the manifest, the index against the data.
 * Fills keys (initialized by the caller) with every key of the data.
 * objects (may be NULL) gets one {"key", "ok", "error"?} per object. Goes
 * on past a bad object when objects is given (a verify reports them all);
 * returns the first failure (DR_ECORRUPT, DR_ENOTFOUND, DR_EMALFORMED...)
 * with errmsg naming the object. */
int rcheck_objects(struct store *s,
                   const struct redis_manifest *m,
                   struct rkeytab *keys,
                   json_t *objects,
                   char *errmsg);

/* The same check, handing each data record to fn as it passes (in object
 * order; non-zero stops). What fn wrote is only good once this returns 0:
 * the whole-snapshot checks come last. */
typedef int (*rcheck_record_fn)(void *arg,
                                const struct rfmt_rec *rec,
                                char *errmsg);
int rcheck_objects_each(struct store *s,
                        const struct redis_manifest *m,
                        struct rkeytab *keys,
                        json_t *objects,
                        rcheck_record_fn fn,
                        void *arg,
                        char *errmsg);

/* What a comparison with a live Redis found. */
struct rcheck_diff
{
    uint64_t keys; /* keys on the server */
    uint64_t matched;
    uint64_t mismatched; /* present, different value */
    uint64_t missing;    /* in the snapshot, not on the server */
    uint64_t expired;    /* in the snapshot, expired since */
    uint64_t extra;      /* on the server, not in the snapshot */
    json_t *mismatched_keys, *missing_keys, *extra_keys; /* up to 100 each */
    const char *method; /* "rdb" or "scan": how the server was read */
    char fallback[256]; /* why auto did not use rdb ("": it did) */
};

/* Compare every key of database db on rc's server with keys (flags are
 * updated) by digest. method "rdb" reads the server's snapshot through
 * SYNC (one point in time, no round trip per key), "scan" SCANs and DUMPs
 * key by key, "auto" tries rdb and falls back when SYNC is refused. now_ms
 * decides which snapshot keys count as expired. */
int rcheck_compare(struct rconn *rc,
                   struct rkeytab *keys,
                   int64_t now_ms,
                   unsigned batch,
                   const char *method,
                   uint32_t db,
                   struct rcheck_diff *d,
                   char *errmsg);
void rcheck_diff_init(struct rcheck_diff *d);
void rcheck_diff_free(struct rcheck_diff *d);
/* Add the diff's fields to o. */
void rcheck_diff_report(const struct rcheck_diff *d, json_t *o);

int64_t rcheck_now_ms(void);

/* The spec's "method" (auto, rdb or scan; absent: auto), or DR_EINVAL. */
int rcheck_spec_method(const json_t *spec, const char **method, char *errmsg);

#endif /* DR_REDIS_CHECK_H */
