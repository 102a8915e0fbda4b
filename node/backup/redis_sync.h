/* A Redis snapshot through the replication handshake: SYNC on an open
 * connection, the RDB parsed as it streams in (rdb.h), and each key of one
 * database handed to a callback as the DUMP payload the server would give
 * for it. Used by backups (one point in time, no round trip per key) and
 * by verify and the restore's read-back. Blocking; workers only. */
#ifndef DR_REDIS_SYNC_H
#define DR_REDIS_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "backup/redis_conn.h"

struct rsync_stats
{
    int64_t snapshot_ms; /* when the server forked (its reply to SYNC) */
    uint64_t rdb_bytes;  /* read from the connection */
    uint64_t expired;    /* keys of db already expired at snapshot_ms */
    int rdb_version;
};

/* One key: payload is DUMP's reply for it, expire_at_ms absolute unix ms
 * (0: none). All borrowed until the call returns. Non-zero stops. */
typedef int (*rsync_key_fn)(void *arg,
                            const uint8_t *key,
                            size_t klen,
                            const uint8_t *payload,
                            size_t plen,
                            int64_t expire_at_ms,
                            char *errmsg);

/* The whole snapshot of rc's server, keys of database db only (those
 * expired when it forked are counted, not handed over). A refusal (see
 * rconn_sync_start) sets *refused; the connection then still takes
 * commands. A stream that ends early is DR_EUNAVAILABLE; one that is
 * damaged (RDB checksum, end mark, length) DR_ECORRUPT, one that holds
 * what the walker cannot read (module data, a newer type or version)
 * DR_EVERSION, with errmsg naming the offset: SCAN + DUMP can still take
 * that snapshot. After success the server has closed or
 * will close rc. */
int rsync_snapshot(struct rconn *rc,
                   uint32_t db,
                   rsync_key_fn fn,
                   void *arg,
                   struct rsync_stats *st,
                   int *refused,
                   char *errmsg);

#endif /* DR_REDIS_SYNC_H */
