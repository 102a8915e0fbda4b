/* PostgreSQL's WAL archive in an object store: `drnode wal-push` as
 * archive_command and `drnode wal-fetch` as restore_command.
 *
 * Layout: wal/SYSID/DIR/NAME-SHA256.zst, where SYSID is the database
 * system identifier (16 hex digits, so two clusters never mix their
 * segments), DIR the first 16 characters of a segment's name (timeline and
 * log) or "history" for timeline history files, and SHA256 that of the
 * uncompressed file: an archived file carries its own checksum, and a
 * second push of the same name with other contents is refused, as
 * pgBackRest does.
 *
 * Blocking (files, the store): run by PostgreSQL as a child process, never
 * on drnode's loop. */
#ifndef DR_WAL_H
#define DR_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum wal_kind {
    WAL_SEGMENT, /* 000000010000000000000003 */
    WAL_PARTIAL, /* 000000010000000000000003.partial (after a promote) */
    WAL_BACKUP,  /* 000000010000000000000003.00000028.backup */
    WAL_HISTORY  /* 00000002.history */
};

struct wal_name
{
    enum wal_kind kind;
    uint32_t tli;
    uint32_t log; /* segments and what names one */
    uint32_t seg;
    char dir[17]; /* the folder under wal/SYSID/ */
};

/* Parse a file name PostgreSQL archives (no directory part). DR_EINVAL
 * naming the problem for anything else. */
int wal_name_parse(const char *name, struct wal_name *out, char *errmsg);

/* Check the long page header at the start of a segment (or .partial) file
 * of file_size bytes against its name and the cluster's system
 * identifier: the header's size, timeline, address and sysid must be
 * those the name and pg_control imply. hdr holds the first hdr_len bytes
 * (at least 40). DR_ECORRUPT naming the field that differs. */
int wal_check_header(const unsigned char *hdr,
                     size_t hdr_len,
                     uint64_t file_size,
                     const struct wal_name *n,
                     uint64_t sysid,
                     char *errmsg);

/* The database system identifier of the data directory pgdata ("." is
 * where PostgreSQL runs its archive and restore commands): the first field
 * of global/pg_control. */
int wal_read_sysid(const char *pgdata, uint64_t *sysid, char *errmsg);

struct wal_options
{
    const char *store_url;
    const char *credentials_file; /* NULL: the environment's */
    const char *pgdata;           /* where global/pg_control is; NULL "." */
    int zstd_level;               /* 0: 3 */
    /* wal-fetch: segments fetched ahead into PGDATA/pg_wal/drnode-prefetch
     * by a detached process while PostgreSQL replays (0: none) */
    int prefetch;
    /* wal-push: other regions' stores that also receive every file, after
     * store_url (the push succeeds only once each holds it) */
    const struct wal_copy
    {
        const char *region;
        const char *store_url;
    } * copies;
    size_t n_copies;
};

#define WAL_PREFETCH_DEFAULT 8 /* 128 MiB of 16 MiB segments */

/* archive_command: archive the file at path (PostgreSQL's %p) into the
 * store, then into each copy's. Returns 0 only once the object is durable
 * in every one (or an identical copy already was: PostgreSQL retries after
 * a crash or a failed copy); anything else and PostgreSQL keeps the file
 * and retries, errmsg naming the region of a copy that failed. *already:
 * every store already held it. */
int wal_push(const struct wal_options *o,
             const char *path,
             bool *already,
             char *errmsg);

/* restore_command: the archived file name (%f) into path (%p), its
 * SHA-256 checked before it is renamed into place (or taken from the
 * prefetch spool, where it was checked the same way). A segment not yet
 * archived whole comes from the WAL stream's partial of it when there is
 * one (wal_stream_put), zero-padded: what was streamed is replayed.
 * DR_ENOTFOUND when the archive has no such file (PostgreSQL then ends or
 * waits); any other error means the archive cannot be trusted and recovery must
 * stop. */
int wal_fetch(const struct wal_options *o,
              const char *name,
              const char *path,
              char *errmsg);

/* Whether the store holds the archived file name (a WAL file name, no
 * directory part) of the cluster sysid: *found. */
int wal_archived(const struct wal_options *o,
                 uint64_t sysid,
                 const char *name,
                 bool *found,
                 char *errmsg);

/* The streamer's side (backup/wal_stream.c), on an open store. */
struct store;
/* Archive the whole file name (data, len bytes) into s as wal-push does:
 * 0 when it is durable there or an identical copy already was (*already);
 * DR_ECONFLICT when one with other contents is. */
int wal_store_put(struct store *s,
                  uint64_t sysid,
                  const char *name,
                  const unsigned char *data,
                  size_t len,
                  int zstd_level,
                  bool *already,
                  char *errmsg);
/* Streamed partial segments, the segment in progress (the first len bytes
 * of segment name), at wal/SYSID/DIR/NAME.stream-LEN-SHA256.zst: put one
 * (*key, STORE_KEY_MAX bytes, gets its key), or delete every one of name.
 * wal_fetch falls back to the longest one of a
 * segment the archive lacks, padded with zeros; expiry treats them as
 * their segment. */
int wal_stream_put(struct store *s,
                   uint64_t sysid,
                   const char *name,
                   const unsigned char *data,
                   size_t len,
                   int zstd_level,
                   char *key,
                   char *errmsg);
int wal_stream_clear(struct store *s,
                     uint64_t sysid,
                     const char *name,
                     char *errmsg);
/* The name of segment number segno (its first LSN / seg_size) on timeline
 * tli: 24 characters and the NUL into out. */
void wal_segment_name(uint32_t tli,
                      uint64_t segno,
                      uint64_t seg_size,
                      char *out);

/* One archive object, as the store lists it. */
struct wal_archive_file
{
    uint64_t sysid;
    uint32_t tli;
    uint64_t segno;   /* of a segment or streamed partial; 0 otherwise */
    int kind;         /* enum wal_archive_file_kind */
    uint64_t len;     /* streamed partial: the bytes it holds */
    uint64_t stored;  /* bytes in the store */
    int64_t mtime_ms; /* as listed, 0 when unknown */
};

enum wal_archive_file_kind {
    WAL_ARCHIVE_SEGMENT,  /* NAME-SHA256.zst */
    WAL_ARCHIVE_STREAMED, /* NAME.stream-LEN-SHA256.zst */
    WAL_ARCHIVE_PARTIAL,  /* NAME.partial-SHA256.zst: a timeline's end */
    WAL_ARCHIVE_HISTORY,  /* TLI.history-SHA256.zst */
    WAL_ARCHIVE_OTHER,    /* .backup labels */
};

/* Parse the key of an object under wal/ (wal/SYSID/DIR/FILE, as this
 * module writes them; segment numbers for seg_size bytes). DR_EINVAL for a
 * key that is not an archive object's: expiry and drctl wal status leave
 * those alone. */
int wal_archive_parse_key(const char *key,
                          uint64_t seg_size,
                          struct wal_archive_file *out);

/* Expire what no base backup needs: every segment, .partial and .backup
 * file of the cluster sysid whose segment (of seg_size bytes) is below
 * the one holding keep_lsn, on any timeline; .history files stay. *removed
 * counts the objects deleted (also on error). */
int wal_expire(const struct wal_options *o,
               uint64_t sysid,
               uint32_t seg_size,
               uint64_t keep_lsn,
               uint64_t *removed,
               char *errmsg);

#endif /* DR_WAL_H */
