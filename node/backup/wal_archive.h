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

#include "backup/wal.h"

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
