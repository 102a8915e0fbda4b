/* SYNC and the RDB stream it brings, parsed as it arrives. */
#include "backup/redis_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/rdb.h"
#include "backup/redis_check.h"
#include "common/err.h"

#define RSYNC_CHUNK (1u << 20)

/* A key of the RDB: its DUMP payload rebuilt and handed over, unless it
 * is in another database or had expired when the server forked. */
static int one_key(const struct rdb_item *it,
                   uint32_t db,
                   struct rsync_stats *st,
                   rsync_key_fn fn,
                   void *arg,
                   uint8_t **pl,
                   size_t *plcap,
                   char *errmsg)
{
    size_t need = it->vlen + 1 + RDB_DUMP_TRAILER, plen;

    if (it->db != db) {
        return 0;
    }
    if (it->expire_at_ms != 0 && it->expire_at_ms <= st->snapshot_ms) {
        st->expired++;
        return 0;
    }
    if (need > *plcap) {
        uint8_t *n = realloc(*pl, need);
        if (n == NULL) {
            snprintf(errmsg, 256, "out of memory");
            return DR_ENOMEM;
        }
        *pl = n;
        *plcap = need;
    }
    plen =
        rdb_dump_payload(st->rdb_version, it->type, it->value, it->vlen, *pl);
    return fn(arg, it->key, it->klen, *pl, plen, it->expire_at_ms, errmsg);
}

/* The RDB parsed as it arrives: a key whose value spans reads is parsed
 * again from its start once twice as many bytes are there, so a huge
 * value costs linear time. */
int rsync_snapshot(struct rconn *rc,
                   uint32_t db,
                   rsync_key_fn fn,
                   void *arg,
                   struct rsync_stats *st,
                   int *refused,
                   char *errmsg)
{
    struct rconn_sync sync;
    struct rdb_parser p;
    struct rdb_item it;
    uint8_t *buf = NULL, *pl = NULL, mark[RCONN_EOF_MARK];
    size_t cap = RSYNC_CHUNK, have = 0, off = 0, want = 1, used, got;
    size_t plcap = 0;
    int rv, ended = 0;

    memset(st, 0, sizeof(*st));
    rdb_parser_init(&p);
    rv = rconn_sync_start(rc, &sync, refused, errmsg);
    if (rv != 0) {
        return rv;
    }
    st->snapshot_ms = rcheck_now_ms(); /* the server forks as it answers */
    buf = malloc(cap);
    if (buf == NULL) {
        snprintf(errmsg, 256, "out of memory");
        rv = DR_ENOMEM;
        goto out;
    }
    for (;;) {
        rv = have > off
                 ? rdb_next(&p, buf + off, have - off, &used, &it, errmsg)
                 : RDB_MORE;
        if (rv == 0) {
            off += used;
            if (p.version != 0 && st->rdb_version == 0) {
                st->rdb_version = p.version;
            }
            if (it.kind == RDB_ITEM_KEY) {
                rv = one_key(&it, db, st, fn, arg, &pl, &plcap, errmsg);
            } else if (it.kind == RDB_ITEM_END) {
                break;
            }
            if (rv != 0) {
                goto out;
            }
            continue;
        }
        if (rv == RDB_MORE && ended) {
            snprintf(
                errmsg, 256,
                "redis %s: SYNC: the RDB stops at offset %llu in the "
                "middle of an item (%s)",
                rc->addr, (unsigned long long)p.offset,
                sync.diskless ? "connection closed" : "its announced length");
            rv = DR_EUNAVAILABLE;
            goto out;
        }
        if (rv != RDB_MORE) {
            char inner[256];
            snprintf(inner, sizeof(inner), "%s", errmsg);
            snprintf(errmsg, 256, "redis %.80s: SYNC: %.150s", rc->addr, inner);
            if (rv == DR_EINVAL) { /* DR_EVERSION: beyond the walker */
                rv = DR_ECORRUPT;
            }
            goto out;
        }
        /* Keep the unparsed tail; read until twice as much is there. */
        memmove(buf, buf + off, have - off);
        have -= off;
        off = 0;
        want = have * 2 > RSYNC_CHUNK / 16 ? have * 2 : RSYNC_CHUNK / 16;
        if (want > cap) {
            uint8_t *n = realloc(buf, want);
            if (n == NULL) {
                snprintf(errmsg, 256, "out of memory");
                rv = DR_ENOMEM;
                goto out;
            }
            buf = n;
            cap = want;
        }
        while (have < want) {
            size_t room = cap - have;
            if (!sync.diskless && st->rdb_bytes + room > sync.len) {
                room = (size_t)(sync.len - st->rdb_bytes);
            }
            if (room == 0) {
                ended = 1; /* parse what is there once more */
                break;
            }
            rv = rconn_read_raw(rc, buf + have, room, &got, "SYNC", errmsg);
            if (rv != 0) {
                goto out;
            }
            if (got == 0) {
                ended = 1;
                break;
            }
            have += got;
            st->rdb_bytes += got;
        }
    }
    /* Past the end: the diskless mark, nothing more for a sized RDB. */
    if (!sync.diskless) {
        if (have - off != 0 || st->rdb_bytes != sync.len) {
            snprintf(errmsg, 256,
                     "redis %s: SYNC: the RDB's end at offset %llu is not "
                     "the announced %llu bytes",
                     rc->addr, (unsigned long long)p.offset,
                     (unsigned long long)sync.len);
            rv = DR_ECORRUPT;
        }
        goto out;
    }
    got = have - off < RCONN_EOF_MARK ? have - off : RCONN_EOF_MARK;
    memcpy(mark, buf + off, got);
    while (got < RCONN_EOF_MARK) {
        size_t n;
        rv = rconn_read_raw(rc, mark + got, RCONN_EOF_MARK - got, &n, "SYNC",
                            errmsg);
        if (rv != 0) {
            goto out;
        }
        if (n == 0) {
            break; /* the mark is cut short: named below */
        }
        got += n;
    }
    if (got < RCONN_EOF_MARK || memcmp(mark, sync.mark, RCONN_EOF_MARK) != 0) {
        snprintf(errmsg, 256,
                 "redis %s: SYNC: the RDB's end is not followed by its mark",
                 rc->addr);
        rv = DR_ECORRUPT;
    }
out:
    rdb_parser_free(&p);
    free(buf);
    free(pl);
    return rv;
}
