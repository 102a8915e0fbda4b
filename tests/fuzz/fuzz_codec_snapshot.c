/* libFuzzer harness for snapshot decoding (node/codec/codec.c,
 * codec_catalog.c, codec_health.c), also a replay program
 * (tests/fuzz/replay.c). A snapshot comes from a peer (InstallSnapshot) or
 * the disk, so any bytes may arrive. A refused one leaves the state empty
 * with a message; an accepted one encodes to bytes that decode and encode
 * to the same bytes again. The restored state then takes a few ordinary
 * commands (a backup, a claim, an expiry, a drill, a deletion, a region
 * removal): a refusal changes nothing, and the state after them still
 * makes a snapshot that round-trips. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "fsm/fsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_snapshot.h"

static void apply(struct fsm *f, const struct fsm_cmd *c)
{
    struct blob before = snap(f), after;
    struct fsm_result res;

    memset(&res, 0, sizeof(res));
    fsm_apply(f, c, f->time_ms + 1000, &res);
    after = snap(f);
    if (res.code != DR_OK) {
        CHECK(res.msg[0] != '\0', "a refusal without a message");
        if (!blob_same(&before, &after)) {
            fprintf(stderr, "fuzz: refused %s (%s) changed the state\n",
                    fsm_cmd_name(c->type), res.msg);
            abort();
        }
    }
    free(before.base);
    free(after.base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fsm f;
    struct blob s;
    struct fsm_cmd c;
    char err[256], *id;
    int rv;

    err[0] = '\0';
    rv = codec_snapshot_decode(data, size, &f, err);
    if (rv != DR_OK) {
        CHECK(rv == DR_EMALFORMED || rv == DR_EVERSION,
              "a refusal with an unexpected code");
        CHECK(strncmp(err, "snapshot: ", 10) == 0 &&
                  strlen(err) > strlen("snapshot: "),
              "a refusal without a message");
        CHECK(f.n_regions == 0 && f.n_members == 0 && f.n_backups == 0 &&
                  f.n_jobs == 0 && f.n_audit == 0,
              "a refused snapshot left state behind");
        return 0;
    }
    s = snap(&f);
    snapshot_round_trip(&s, "a re-encoded snapshot");
    free(s.base);

    memset(&c, 0, sizeof(c));
    c.type = FSM_CMD_JOB_CREATE;
    c.actor = "fuzz";
    c.u.job.kind = FSM_JOB_BACKUP;
    c.u.job.backup_kind = FSM_BACKUP_PG_LOGICAL;
    apply(&f, &c);
    memset(&c, 0, sizeof(c));
    c.type = FSM_CMD_JOB_CLAIM;
    c.actor = "fuzz";
    c.u.job.job_id = f.n_jobs > 0 ? f.jobs[0].id : 1;
    c.u.job.node = 1;
    c.u.job.lease_ms = 30000;
    apply(&f, &c);
    memset(&c, 0, sizeof(c));
    c.type = FSM_CMD_JOB_EXPIRE;
    c.actor = "fuzz";
    c.u.job.job_id = f.n_jobs > 0 ? f.jobs[f.n_jobs - 1].id : 1;
    c.u.job.attempt = f.n_jobs > 0 ? f.jobs[f.n_jobs - 1].attempt : 1;
    apply(&f, &c);
    memset(&c, 0, sizeof(c));
    c.type = FSM_CMD_DRILL_START;
    c.actor = "fuzz";
    c.u.drill.kind = FSM_DRILL_RESTORE;
    apply(&f, &c);
    if (f.n_backups > 0) {
        memset(&c, 0, sizeof(c));
        c.type = FSM_CMD_BACKUP_DELETE;
        c.actor = "fuzz";
        c.u.backup_id = id = strdup(f.backups[0].id); /* f may move it */
        CHECK(id != NULL, "out of memory");
        apply(&f, &c);
        free(id);
    }
    if (f.n_regions > 0) {
        memset(&c, 0, sizeof(c));
        c.type = FSM_CMD_REGION_REMOVE;
        c.actor = "fuzz";
        c.u.region_name = id = strdup(f.regions[f.n_regions - 1].name);
        CHECK(id != NULL, "out of memory");
        apply(&f, &c);
        free(id);
    }
    s = snap(&f);
    snapshot_round_trip(&s, "a re-encoded snapshot");
    free(s.base);
    fsm_close(&f);
    return 0;
}
