/* Helpers shared by the FSM's files; not for use outside node/fsm/. */
#ifndef DR_FSM_INTERNAL_H
#define DR_FSM_INTERNAL_H

#include "fsm/fsm.h"

/* Fill res with code and a formatted message; returns code. */
int fsm__reject(struct fsm_result *res, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* strdup of s, "" for NULL; NULL when out of memory. */
char *fsm__dup_str(const char *s);

/* Replace *dst by a copy of src ("" for NULL); DR_ENOMEM leaves *dst. */
int fsm__set_str(char **dst, const char *src);

/* Replace each string *fields[i] (borrowed) by a copy ("" for NULL).
 * DR_ENOMEM when one failed: then every field is freed and NULL. */
int fsm__dup_strs(char **const *fields, size_t n);
/* Free each *fields[i] and set it NULL. */
void fsm__free_strs(char **const *fields, size_t n);

/* Lower-bound binary search of key in base[0..n) (elements of size bytes,
 * sorted by cmp(key, elem)): the position of key, *found set when it is
 * there, else where it would go. */
size_t fsm__search(const void *base,
                   size_t n,
                   size_t size,
                   const void *key,
                   int (*cmp)(const void *key, const void *elem),
                   int *found);
/* -1, 0 or 1 as a is below, equal to or above b. */
int fsm__cmp_u64(uint64_t a, uint64_t b);

/* Record an audit entry (memory failure marks the state broken). */
void fsm__audit_add(struct fsm *f,
                    uint64_t now,
                    const char *actor,
                    const char *action,
                    const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));

/* Catalog and jobs (catalog.c), called from fsm_check / mutate / close.
 * now == 0: skip the checks that depend on time (leases, back-off). */
int fsm__catalog_check(const struct fsm *f,
                       const struct fsm_cmd *cmd,
                       uint64_t now,
                       struct fsm_result *res);
int fsm__catalog_mutate(struct fsm *f,
                        const struct fsm_cmd *cmd,
                        uint64_t now,
                        struct fsm_result *res);
void fsm__catalog_close(struct fsm *f);

/* Breakers and region health (health.c); same contract as the catalog's.
 * now == 0: skip the checks that depend on time. */
int fsm__health_check(const struct fsm *f,
                      const struct fsm_cmd *cmd,
                      uint64_t now,
                      struct fsm_result *res);
int fsm__health_mutate(struct fsm *f,
                       const struct fsm_cmd *cmd,
                       uint64_t now,
                       struct fsm_result *res);

/* Drills (drill.c). check/mutate of DRILL_START; the catalog calls
 * drill_job_done when a drill job ends (ok: it ran, drill_ok: its checks
 * passed; !ok: no attempts left, error says why). */
int fsm__drill_check(const struct fsm *f,
                     const struct fsm_cmd *cmd,
                     uint64_t now,
                     struct fsm_result *res);
int fsm__drill_mutate(struct fsm *f,
                      const struct fsm_cmd *cmd,
                      uint64_t now,
                      struct fsm_result *res);
int fsm__drill_job_done(struct fsm *f,
                        const struct fsm_job *j,
                        bool ok,
                        const struct fsm_cmd_job *c,
                        const char *error,
                        uint64_t now,
                        const char *actor);
void fsm__drill_close(struct fsm *f);
/* The WAL catalog (walcat.c): a wal_scan job's result recorded as its
 * region's entry when the job finishes; a removed region's entry
 * forgotten. */
int fsm__wal_scan_done(struct fsm *f,
                       const struct fsm_job *j,
                       const struct fsm_wal_archive *scan,
                       uint64_t now);
void fsm__wal_archive_forget(struct fsm *f, const char *region);
void fsm__wal_archive_close(struct fsm *f);
/* Copy lists of backups (replicate.c). */
int fsm__copies_dup(struct fsm_copy **dst,
                    const struct fsm_copy *src,
                    size_t n);
void fsm__copy_free(struct fsm_copy *c);
void fsm__copies_free(struct fsm_copy *copies, size_t n);
/* Whether another copy of b than region r's lives in r's store (the same
 * objects: copying there would copy a backup onto itself, and cleaning up
 * there would delete the other copy). */
bool fsm__store_shared(const struct fsm_backup *b, const struct fsm_region *r);
/* The failover runbook (runbook.c). */
int fsm__runbook_check(const struct fsm *f,
                       const struct fsm_cmd *cmd,
                       uint64_t now,
                       struct fsm_result *res);
int fsm__runbook_mutate(struct fsm *f,
                        const struct fsm_cmd *cmd,
                        uint64_t now,
                        struct fsm_result *res);
/* The runbook's restore job ended (ok: it ran, c->drill_ok: its checks
 * passed; !ok: no attempts left, error says why). */
int fsm__runbook_job_done(struct fsm *f,
                          const struct fsm_job *j,
                          bool ok,
                          const struct fsm_cmd_job *c,
                          const char *error,
                          uint64_t now,
                          const char *actor);
/* The worker of the runbook's restore job finished step c->phase (a
 * JOB_RENEW with a phase): checked, then the runbook moves on in this
 * commit, so a next attempt starts at the step after it. */
int fsm__runbook_check_phase(const struct fsm *f,
                             const struct fsm_job *j,
                             const struct fsm_cmd_job *c,
                             struct fsm_result *res);
int fsm__runbook_phase_done(struct fsm *f,
                            const struct fsm_job *j,
                            const struct fsm_cmd_job *c,
                            uint64_t now,
                            const char *actor);
void fsm__runbook_free(struct fsm_runbook *rb);
/* Shared with drill.c (catalog.c). */
struct fsm_job *fsm__job_add(struct fsm *f, const struct fsm_job *tmpl);
/* End every pending or running wal_stream job outside keep_region (NULL:
 * all of them), saying why (catalog.c; fsm.c when wal.stream goes off). */
void fsm__wal_stream_close(struct fsm *f,
                           const char *keep_region,
                           const char *why,
                           uint64_t now,
                           const char *actor);

#endif /* DR_FSM_INTERNAL_H */
