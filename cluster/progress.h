/* drctl's one-line progress display for long work that runs in drctl's own
 * process (restores, verifications): bytes and objects read from the
 * store, rate and ETA, redrawn twice a second on stderr. Only when stdout
 * is a terminal and --json is not given. */
#ifndef DRCTL_PROGRESS_H
#define DRCTL_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

/* Start showing progress of what (copied, e.g. "restore pg-..."); total:
 * the bytes the work will read (0 when unknown: no ETA). No-op when show
 * is false. */
void drctl_progress_start(bool show, const char *what, uint64_t total);
/* Stop and erase the line. Safe when not started. */
void drctl_progress_stop(void);

#endif /* DRCTL_PROGRESS_H */
