/* The WAL catalog: per region, the WAL ranges its store held at the last
 * scan (fsm.h, struct fsm_wal_archive), and when the next scan is due. */
#include <stdlib.h>
#include <string.h>

#include "fsm/internal.h"

static int archive_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct fsm_wal_archive *)elem)->region);
}

const struct fsm_wal_archive *fsm_wal_archive_get(const struct fsm *f,
                                                  const char *region)
{
    int found;
    size_t pos;

    if (region == NULL) {
        return NULL;
    }
    pos = fsm__search(f->wal_archives, f->n_wal_archives,
                      sizeof(*f->wal_archives), region, archive_cmp, &found);
    return found ? &f->wal_archives[pos] : NULL;
}

int fsm_wal_archive_copy(struct fsm_wal_archive *dst,
                         const struct fsm_wal_archive *src)
{
    char **const strs[] = {&dst->region, &dst->store};

    *dst = *src;
    if (dst->n_ranges > FSM_WAL_RANGES_MAX) {
        dst->n_ranges = FSM_WAL_RANGES_MAX;
    }
    if (fsm__dup_strs(strs, sizeof(strs) / sizeof(strs[0])) != DR_OK) {
        memset(dst, 0, sizeof(*dst));
        return DR_ENOMEM;
    }
    return DR_OK;
}

void fsm_wal_archive_free(struct fsm_wal_archive *a)
{
    char **const strs[] = {&a->region, &a->store};

    fsm__free_strs(strs, sizeof(strs) / sizeof(strs[0]));
}

void fsm__wal_archive_close(struct fsm *f)
{
    for (size_t i = 0; i < f->n_wal_archives; i++) {
        fsm_wal_archive_free(&f->wal_archives[i]);
    }
    free(f->wal_archives);
    f->wal_archives = NULL;
    f->n_wal_archives = 0;
}

/* The newest range of an archive: by timeline, then end; NULL when it
 * has none. */
static const struct fsm_wal_range *wal_head(const struct fsm_wal_archive *a)
{
    const struct fsm_wal_range *head = NULL;

    for (size_t i = 0; i < a->n_ranges; i++) {
        const struct fsm_wal_range *r = &a->ranges[i];
        if (head == NULL || r->timeline > head->timeline ||
            (r->timeline == head->timeline && r->end_lsn > head->end_lsn)) {
            head = r;
        }
    }
    return head;
}

bool fsm_wal_archive_end(const struct fsm *f,
                         const char *region,
                         uint64_t *end_lsn)
{
    const struct fsm_wal_archive *a = fsm_wal_archive_get(f, region);
    const struct fsm_wal_range *head = a != NULL ? wal_head(a) : NULL;

    *end_lsn = head != NULL ? head->end_lsn : 0;
    return head != NULL;
}

bool fsm_wal_lag_bytes(const struct fsm *f, const char *region, uint64_t *bytes)
{
    const char *primary = f->site.primary_region;
    const struct fsm_wal_archive *p, *w;
    const struct fsm_wal_range *head;
    uint64_t reached;

    *bytes = 0;
    if (primary == NULL || strcmp(primary, region) == 0 ||
        (p = fsm_wal_archive_get(f, primary)) == NULL ||
        (w = fsm_wal_archive_get(f, region)) == NULL ||
        (head = wal_head(p)) == NULL) {
        return false;
    }
    reached = head->start_lsn;
    for (size_t i = 0; i < w->n_ranges; i++) {
        const struct fsm_wal_range *r = &w->ranges[i];
        if (r->sysid == head->sysid && r->timeline == head->timeline &&
            r->end_lsn > reached) {
            reached = r->end_lsn;
        }
    }
    *bytes = head->end_lsn > reached ? head->end_lsn - reached : 0;
    return true;
}

bool fsm_wal_scan_due(const struct fsm *f, const char *region, uint64_t now)
{
    const struct fsm_region *r = fsm_region_get(f, region);
    uint64_t every = (uint64_t)fsm_setting_int(f, "wal.scan_interval_s");

    if (r == NULL || r->object_store == NULL || r->object_store[0] == '\0' ||
        every == 0) {
        return false;
    }
    for (size_t i = f->n_jobs; i-- > 0;) {
        const struct fsm_job *j = &f->jobs[i];
        if (j->kind != FSM_JOB_WAL_SCAN || strcmp(j->region, region) != 0) {
            continue;
        }
        /* The newest scan of the region decides. */
        return j->state != FSM_JOB_PENDING && j->state != FSM_JOB_RUNNING &&
               now >= j->created_ms + every * 1000;
    }
    return true;
}

int fsm_wal_archive_check(const struct fsm_wal_archive *scan,
                          struct fsm_result *res)
{
    if (scan->store != NULL && strlen(scan->store) > FSM_ADDR_MAX) {
        return fsm__reject(res, DR_EINVAL,
                           "the scanned store's URL is too "
                           "long");
    }
    if (scan->n_ranges > FSM_WAL_RANGES_MAX) {
        return fsm__reject(res, DR_ELIMIT, "at most %d WAL ranges, not %zu",
                           FSM_WAL_RANGES_MAX, scan->n_ranges);
    }
    if (scan->ranges_total < scan->n_ranges) {
        return fsm__reject(
            res, DR_EINVAL, "ranges_total %llu is below the %zu ranges given",
            (unsigned long long)scan->ranges_total, scan->n_ranges);
    }
    for (size_t i = 0; i < scan->n_ranges; i++) {
        const struct fsm_wal_range *w = &scan->ranges[i];
        if (w->timeline == 0) {
            return fsm__reject(res, DR_EINVAL, "WAL range %zu: timeline 0", i);
        }
        if (w->end_lsn <= w->start_lsn) {
            return fsm__reject(res, DR_EINVAL,
                               "WAL range %zu: it ends (%llX) at or before "
                               "its start (%llX)",
                               i, (unsigned long long)w->end_lsn,
                               (unsigned long long)w->start_lsn);
        }
        if (i > 0) {
            const struct fsm_wal_range *p = &scan->ranges[i - 1];
            if (p->sysid > w->sysid ||
                (p->sysid == w->sysid &&
                 (p->timeline > w->timeline ||
                  (p->timeline == w->timeline && p->end_lsn > w->start_lsn)))) {
                return fsm__reject(res, DR_EINVAL,
                                   "WAL range %zu is out of order or "
                                   "overlaps the one before",
                                   i);
            }
        }
    }
    return DR_OK;
}

int fsm__wal_scan_done(struct fsm *f,
                       const struct fsm_job *j,
                       const struct fsm_wal_archive *scan,
                       uint64_t now)
{
    struct fsm_wal_archive rec = *scan, *grown;
    int found;
    size_t pos;

    rec.region = j->region;
    /* The store the node read: its [services] wal_store may not be the
     * region's object store. */
    rec.store =
        scan->store != NULL && scan->store[0] != '\0' ? scan->store : j->store;
    rec.scanned_ms = now;
    rec.job_id = j->id;
    pos = fsm__search(f->wal_archives, f->n_wal_archives,
                      sizeof(*f->wal_archives), j->region, archive_cmp, &found);
    if (found) {
        struct fsm_wal_archive fresh;
        if (fsm_wal_archive_copy(&fresh, &rec) != DR_OK) {
            return DR_ENOMEM;
        }
        fsm_wal_archive_free(&f->wal_archives[pos]);
        f->wal_archives[pos] = fresh;
        return DR_OK;
    }
    grown = realloc(f->wal_archives,
                    (f->n_wal_archives + 1) * sizeof(*f->wal_archives));
    if (grown == NULL) {
        return DR_ENOMEM;
    }
    f->wal_archives = grown;
    memmove(&grown[pos + 1], &grown[pos],
            (f->n_wal_archives - pos) * sizeof(*grown));
    if (fsm_wal_archive_copy(&grown[pos], &rec) != DR_OK) {
        memmove(&grown[pos], &grown[pos + 1],
                (f->n_wal_archives - pos) * sizeof(*grown));
        return DR_ENOMEM;
    }
    f->n_wal_archives++;
    return DR_OK;
}

void fsm__wal_archive_forget(struct fsm *f, const char *region)
{
    int found;
    size_t pos =
        fsm__search(f->wal_archives, f->n_wal_archives,
                    sizeof(*f->wal_archives), region, archive_cmp, &found);

    if (!found) {
        return;
    }
    fsm_wal_archive_free(&f->wal_archives[pos]);
    memmove(&f->wal_archives[pos], &f->wal_archives[pos + 1],
            (f->n_wal_archives - pos - 1) * sizeof(*f->wal_archives));
    f->n_wal_archives--;
}
