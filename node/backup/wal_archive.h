/* What a WAL archive holds (job op "wal_status", drctl wal status): per
 * database system and timeline, the runs of consecutive whole segments,
 * the streamed partial that extends the last one, and the gaps between
 * runs, read from the store's object names. A gap is where recovery stops:
 * replay cannot pass a segment the archive lacks. */
#ifndef DR_WAL_ARCHIVE_H
#define DR_WAL_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

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

/* Parse the key of an object under wal/ (wal/SYSID/DIR/FILE). DR_EINVAL
 * for a key that is not an archive object's (left out of the picture). */
int wal_archive_parse_key(const char *key,
                          uint64_t seg_size,
                          struct wal_archive_file *out);

/* The archive's picture from its n files (in any order; sorted here) as a
 * JSON object: {"systems": [{"sysid", "timelines": [{"timeline",
 * "history", "ranges": [{"first", "last", "segments", "bytes",
 * "start_lsn", "end_lsn", "streamed"?: {"segment", "bytes"}}], "gaps":
 * [{"after", "first_missing", "last_missing", "segments"}], "ends_with"?:
 * NAME.partial}]}], "files", "gaps", "newest_ms"}. NULL when out of
 * memory. */
json_t *wal_archive_picture(struct wal_archive_file *files,
                            size_t n,
                            uint64_t seg_size);

#endif /* DR_WAL_ARCHIVE_H */
