/* What a WAL archive holds (job op "wal_status", drctl wal status): per
 * database system and timeline, the runs of consecutive whole segments,
 * the streamed partial that extends the last one, and the gaps between
 * runs, read from the store's object names. A gap is where recovery stops:
 * replay cannot pass a segment the archive lacks. */
#ifndef DR_WAL_ARCHIVE_H
#define DR_WAL_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "backup/wal.h"

/* Ranges a wal_scan reports at most: the catalog's bound
 * (FSM_WAL_RANGES_MAX; the FSM refuses more). */
#define WAL_SCAN_RANGES_MAX 16

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

/* Where the archive of system sysid in the store ends in time: the upload
 * time (ms, as the store lists it) of its newest file, streamed partials
 * included, and that file's key (*newest_ms 0, key "" when it holds none of
 * sysid's WAL); holds says whether segment `segment` (a 24-character name)
 * is among them, whole (a streamed partial does not count, as for the
 * restore's choice of archive). */
struct wal_archive_end
{
    int64_t newest_ms;
    char newest_key[256];
    bool holds;
};
int wal_archive_end(const char *store_url,
                    const char *credentials_file,
                    uint64_t sysid,
                    const char *segment,
                    struct wal_archive_end *out,
                    char *errmsg);

#endif /* DR_WAL_ARCHIVE_H */
