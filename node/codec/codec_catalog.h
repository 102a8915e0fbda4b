/* Protobuf mapping of the catalog and job commands and state (internal to
 * node/codec/). */
#ifndef DR_CODEC_CATALOG_H
#define DR_CODEC_CATALOG_H

#include "dr.pb-c.h"
#include "fsm/fsm.h"

/* Storage for the sub-messages of one encoded catalog command. */
struct codec__catalog_scratch
{
    Dr__CmdJobCreate create;
    Dr__CmdJobClaim claim;
    Dr__CmdJobRenew renew;
    Dr__CmdJobFinish finish;
    Dr__CmdJobExpire expire;
    Dr__CmdBackupDelete del;
    Dr__CmdBackupVerified verified;
    Dr__CmdDrillStart drill;
    Dr__CmdDrillDns drill_dns;
    Dr__Backup backup;
    Dr__BackupCopy copy;
    Dr__CmdFailoverStart failover;
    Dr__CmdRunbook runbook;
    Dr__WalArchive wal;
    Dr__WalRange wal_ranges[FSM_WAL_RANGES_MAX];
    Dr__WalRange *wal_range_ptrs[FSM_WAL_RANGES_MAX];
};

/* The site's runbook to and from protobuf (pb borrows from rb; rb borrows
 * from pb). step_ms must have FSM_RB_STEPS entries. */
void codec__runbook_to_pb(const struct fsm_runbook *rb,
                          Dr__Runbook *pb,
                          uint64_t *step_ms);
void codec__runbook_from_pb(const Dr__Runbook *pb, struct fsm_runbook *rb);

/* Fill c's kind for a catalog command; DR_EINVAL when cmd is not one. c
 * borrows from cmd and scratch. */
int codec__catalog_cmd_to_pb(const struct fsm_cmd *cmd,
                             Dr__Command *c,
                             struct codec__catalog_scratch *s);
/* Fill cmd from a catalog kind of c (borrowing c's strings); returns false
 * when c is not a catalog command; leaves type 0 when it is malformed. */
bool codec__catalog_cmd_from_pb(const Dr__Command *c, struct fsm_cmd *cmd);

/* Snapshot parts. to_pb allocates arrays freed by codec__catalog_pb_free. */
struct codec__catalog_pb
{
    Dr__Backup *backups;
    Dr__Backup **backup_ptrs;
    Dr__Job *jobs;
    Dr__Job **job_ptrs;
    Dr__Drill *drills;
    Dr__Drill **drill_ptrs;
    Dr__BackupCopy *copies; /* every backup's, in a row */
    Dr__BackupCopy **copy_ptrs;
    Dr__WalArchive *wal;
    Dr__WalArchive **wal_ptrs;
    Dr__WalRange *wal_ranges; /* every archive's, in a row */
    Dr__WalRange **wal_range_ptrs;
};
int codec__catalog_to_pb(const struct fsm *f,
                         Dr__Snapshot *s,
                         struct codec__catalog_pb *pb);
void codec__catalog_pb_free(struct codec__catalog_pb *pb);
/* Validate and load s's catalog into f (after regions and members). */
int codec__catalog_from_pb(const Dr__Snapshot *s, struct fsm *f, char *errmsg);

#endif /* DR_CODEC_CATALOG_H */
