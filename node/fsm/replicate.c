/* Cross-region copies of backups: the policy (replication.* settings),
 * which copies the leader should start, which copy a reader uses, and
 * the replication lag. Pure: times come from the caller. The commands
 * that change copies are in catalog.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm/internal.h"
#include "fsm/settings.h"

const char *fsm_copy_state_name(int state)
{
    switch (state) {
        case FSM_COPY_COPYING:
            return "copying";
        case FSM_COPY_VERIFIED:
            return "verified";
        case FSM_COPY_FAILED:
            return "failed";
        case FSM_COPY_DELETING:
            return "deleting";
    }
    return "unknown";
}

const struct fsm_copy *fsm_copy_get(const struct fsm_backup *b,
                                    const char *region)
{
    for (size_t i = 0; region != NULL && i < b->n_copies; i++) {
        if (strcmp(b->copies[i].region, region) == 0) {
            return &b->copies[i];
        }
    }
    return NULL;
}

size_t fsm_backup_verified_copies(const struct fsm_backup *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n_copies; i++) {
        n += b->copies[i].state == FSM_COPY_VERIFIED;
    }
    return n;
}

/* replication.targets. */

/* Whether the item kinds text p[0..len) (after ':') names kind. */
static bool kinds_have(const char *p, size_t len, int kind)
{
    while (len > 0) {
        size_t n = 0;
        char name[32];
        while (n < len && p[n] != '+') {
            n++;
        }
        if (n < sizeof(name)) {
            memcpy(name, p, n);
            name[n] = '\0';
            if (fsm_backup_kind_parse(name) == kind) {
                return true;
            }
        }
        p += n < len ? n + 1 : n;
        len -= n < len ? n + 1 : n;
    }
    return false;
}

int fsm__targets_check(const char *s, char *errmsg)
{
    const char *p = s;

    if (s[0] == '\0' || strcmp(s, "none") == 0) {
        return DR_OK;
    }
    for (;;) {
        size_t len = strcspn(p, ",");
        size_t rlen = strcspn(p, ":,");
        char region[FSM_NAME_MAX + 1], err[256];

        if (len == 0 || rlen == 0) {
            snprintf(errmsg, 256,
                     "setting replication.targets: empty item in \"%.64s\"", s);
            return DR_EINVAL;
        }
        if (rlen > FSM_NAME_MAX) {
            snprintf(errmsg, 256,
                     "setting replication.targets: region name too long in "
                     "\"%.40s...\"",
                     p);
            return DR_EINVAL;
        }
        memcpy(region, p, rlen);
        region[rlen] = '\0';
        if (strcmp(region, "*") != 0 &&
            fsm_valid_name("region", region, err) != DR_OK) {
            snprintf(errmsg, 256, "setting replication.targets: %.200s", err);
            return DR_EINVAL;
        }
        if (rlen < len) { /* ":KIND+KIND" */
            const char *k = p + rlen + 1;
            size_t klen = len - rlen - 1;
            while (true) {
                size_t n = strcspn(k, "+,");
                char name[32];
                if (n > klen) {
                    n = klen;
                }
                if (n == 0 || n >= sizeof(name)) {
                    snprintf(errmsg, 256,
                             "setting replication.targets: item \"%.*s\" "
                             "needs kinds like pg or pg+redis after ':'",
                             (int)(len > 64 ? 64 : len), p);
                    return DR_EINVAL;
                }
                memcpy(name, k, n);
                name[n] = '\0';
                if (fsm_backup_kind_parse(name) < 0) {
                    snprintf(errmsg, 256,
                             "setting replication.targets: unknown backup "
                             "kind \"%s\" (pg or redis)",
                             name);
                    return DR_EINVAL;
                }
                if (n == klen) {
                    break;
                }
                k += n + 1;
                klen -= n + 1;
            }
        }
        if (p[len] == '\0') {
            return DR_OK;
        }
        p += len + 1;
    }
}

bool fsm_region_receives(const struct fsm *f,
                         const struct fsm_region *r,
                         int kind,
                         const char **why_not)
{
    const struct fsm_value *v = fsm_setting(f, "replication.targets");
    const char *t = v != NULL && v->s != NULL ? v->s : "";
    const char *dummy;

    if (why_not == NULL) {
        why_not = &dummy;
    }
    if (r->object_store[0] == '\0') {
        *why_not = "no object store";
        return false;
    }
    if (t[0] == '\0') {
        return true;
    }
    if (strcmp(t, "none") == 0) {
        *why_not = "replication.targets is \"none\"";
        return false;
    }
    for (const char *p = t;;) {
        size_t len = strcspn(p, ",");
        size_t rlen = strcspn(p, ":,");
        bool match =
            (rlen == 1 && p[0] == '*') ||
            (strlen(r->name) == rlen && strncmp(p, r->name, rlen) == 0);
        if (match) {
            if (rlen == len || kinds_have(p + rlen + 1, len - rlen - 1, kind)) {
                return true;
            }
            *why_not = "replication.targets leaves out this kind";
            return false;
        }
        if (p[len] == '\0') {
            break;
        }
        p += len + 1;
    }
    *why_not = "not in replication.targets";
    return false;
}

size_t fsm_replication_min_copies(const struct fsm *f,
                                  const struct fsm_backup *b)
{
    int64_t set = fsm_setting_int(f, "replication.min_copies");
    size_t n = 1; /* the origin */

    if (set > 0) {
        return (size_t)set;
    }
    for (size_t i = 0; i < f->n_regions; i++) {
        const struct fsm_region *r = &f->regions[i];
        if (strcmp(r->name, b->origin_region) != 0 &&
            fsm_region_receives(f, r, b->kind, NULL)) {
            n++;
        }
    }
    return n;
}

bool fsm_backup_safe(const struct fsm *f, const struct fsm_backup *b)
{
    return b->state == FSM_BACKUP_COMPLETE &&
           fsm_backup_verified_copies(b) >= fsm_replication_min_copies(f, b);
}

const struct fsm_copy *fsm_copy_pick(const struct fsm *f,
                                     const struct fsm_backup *b,
                                     const char *region,
                                     const char **why)
{
    const struct fsm_copy *c = fsm_copy_get(b, region), *best = NULL;
    int32_t best_prio = 0;
    const char *dummy;

    if (why == NULL) {
        why = &dummy;
    }
    if (c != NULL && c->state == FSM_COPY_VERIFIED) {
        *why = "local";
        return c;
    }
    c = fsm_copy_get(b, b->origin_region);
    if (c != NULL && c->state == FSM_COPY_VERIFIED) {
        *why = "origin";
        return c;
    }
    for (size_t i = 0; i < b->n_copies; i++) {
        const struct fsm_region *r = fsm_region_get(f, b->copies[i].region);
        int32_t prio = r != NULL ? r->priority : INT32_MIN;
        if (b->copies[i].state == FSM_COPY_VERIFIED &&
            (best == NULL || prio > best_prio)) {
            best = &b->copies[i];
            best_prio = prio;
        }
    }
    *why = "nearest";
    return best;
}

/* Complete backups, newest first. */
static int newest_first(const void *a, const void *b)
{
    const struct fsm_backup *x = *(const struct fsm_backup *const *)a;
    const struct fsm_backup *y = *(const struct fsm_backup *const *)b;

    if (x->created_ms != y->created_ms) {
        return x->created_ms > y->created_ms ? -1 : 1;
    }
    return strcmp(y->id, x->id);
}

/* Whether some copy of b in another store than region r's is verified: a
 * source to copy from. */
static bool has_source(const struct fsm_backup *b, const struct fsm_region *r)
{
    for (size_t i = 0; i < b->n_copies; i++) {
        if (b->copies[i].state == FSM_COPY_VERIFIED &&
            strcmp(b->copies[i].region, r->name) != 0) {
            return true;
        }
    }
    return false;
}

bool fsm__store_shared(const struct fsm_backup *b, const struct fsm_region *r)
{
    for (size_t i = 0; i < b->n_copies; i++) {
        if (strcmp(b->copies[i].region, r->name) != 0 &&
            strcmp(b->copies[i].store, r->object_store) == 0) {
            return true;
        }
    }
    return false;
}

static size_t pending_replicas(const struct fsm *f, const char *region)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n_jobs; i++) {
        const struct fsm_job *j = &f->jobs[i];
        n += j->kind == FSM_JOB_REPLICATE && j->state == FSM_JOB_PENDING &&
             strcmp(j->region, region) == 0;
    }
    return n;
}

size_t fsm_replication_wanted(const struct fsm *f,
                              uint64_t now,
                              struct fsm_repl_want *out,
                              size_t max)
{
    uint64_t retry_ms =
        (uint64_t)fsm_setting_int(f, "replication.retry_s") * 1000;
    size_t limit = (size_t)fsm_setting_int(f, "replication.max_concurrent");
    const struct fsm_backup **all;
    size_t n = 0, n_out = 0;

    if (!f->initialized || f->n_backups == 0 || max == 0) {
        return 0;
    }
    all = malloc(f->n_backups * sizeof(*all));
    if (all == NULL) {
        return 0; /* the next tick tries again */
    }
    for (size_t i = 0; i < f->n_backups; i++) {
        if (f->backups[i].state == FSM_BACKUP_COMPLETE) {
            all[n++] = &f->backups[i];
        }
    }
    qsort(all, n, sizeof(*all), newest_first);
    for (size_t ri = 0; ri < f->n_regions && n_out < max; ri++) {
        const struct fsm_region *r = &f->regions[ri];
        size_t pending = pending_replicas(f, r->name);
        bool receives[FSM_BACKUP_KINDS];

        /* The policy once per region, not once per backup. */
        for (int kind = 0; kind < FSM_BACKUP_KINDS; kind++) {
            receives[kind] = fsm_region_receives(f, r, kind, NULL);
        }
        for (size_t k = 0; k < n && n_out < max && pending < limit; k++) {
            const struct fsm_backup *b = all[k];
            const struct fsm_copy *c = fsm_copy_get(b, r->name);

            if (strcmp(b->origin_region, r->name) == 0 || !receives[b->kind] ||
                fsm__store_shared(b, r) || !has_source(b, r)) {
                continue;
            }
            if (c != NULL && (c->state != FSM_COPY_FAILED ||
                              now < c->changed_ms + retry_ms)) {
                continue;
            }
            out[n_out].backup_id = b->id;
            out[n_out].region = r->name;
            n_out++;
            pending++;
        }
    }
    free(all);
    return n_out;
}

uint64_t fsm_replication_lag_ms(const struct fsm *f,
                                const char *region,
                                int kind,
                                uint64_t now)
{
    const struct fsm_region *r = fsm_region_get(f, region);
    uint64_t have = 0, oldest_missing = UINT64_MAX;
    bool receives;

    if (r == NULL) {
        return 0;
    }
    receives = fsm_region_receives(f, r, kind, NULL);
    for (size_t i = 0; i < f->n_backups; i++) {
        const struct fsm_backup *b = &f->backups[i];
        const struct fsm_copy *c = fsm_copy_get(b, region);
        if (b->kind == kind && b->state == FSM_BACKUP_COMPLETE && c != NULL &&
            c->state == FSM_COPY_VERIFIED && b->created_ms > have) {
            have = b->created_ms;
        }
    }
    for (size_t i = 0; i < f->n_backups; i++) {
        const struct fsm_backup *b = &f->backups[i];
        if (b->kind != kind || b->state != FSM_BACKUP_COMPLETE ||
            b->created_ms <= have || b->created_ms >= oldest_missing) {
            continue;
        }
        if (!receives && strcmp(b->origin_region, region) != 0) {
            continue; /* this region is not meant to hold it */
        }
        oldest_missing = b->created_ms;
    }
    if (oldest_missing == UINT64_MAX) {
        return 0;
    }
    return now > oldest_missing ? now - oldest_missing : 0;
}

/* Deep copies of a copy list (catalog.c). */
int fsm__copies_dup(struct fsm_copy **dst, const struct fsm_copy *src, size_t n)
{
    *dst = NULL;
    if (n == 0) {
        return DR_OK;
    }
    *dst = calloc(n, sizeof(**dst));
    if (*dst == NULL) {
        return DR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct fsm_copy *c = &(*dst)[i];
        char **const strs[] = {&c->region, &c->store, &c->prefix,
                               &c->source_region, &c->error};
        *c = src[i];
        if (fsm__dup_strs(strs, sizeof(strs) / sizeof(strs[0])) != DR_OK) {
            memset(c, 0, sizeof(*c));
            fsm__copies_free(*dst, i);
            *dst = NULL;
            return DR_ENOMEM;
        }
    }
    return DR_OK;
}

void fsm__copy_free(struct fsm_copy *c)
{
    char **const strs[] = {&c->region, &c->store, &c->prefix, &c->source_region,
                           &c->error};
    fsm__free_strs(strs, sizeof(strs) / sizeof(strs[0]));
}

void fsm__copies_free(struct fsm_copy *copies, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fsm__copy_free(&copies[i]);
    }
    free(copies);
}
