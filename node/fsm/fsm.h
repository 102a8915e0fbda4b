/* The coordinator's replicated state machine: pure, no I/O, no clock. */
#ifndef DR_FSM_H
#define DR_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define FSM_VERSION 1           /* newest Entry.version this code applies */
#define FSM_NAME_MAX 63         /* region names, setting keys */
#define FSM_ADDR_MAX 255        /* host:port, URLs */
#define FSM_TEXT_MAX 1024       /* reasons, audit details */
#define FSM_DNS_TARGETS_MAX 16  /* DNS targets per region */
#define FSM_REGIONS_MAX 64
#define FSM_MEMBERS_MAX 64

enum fsm_region_status {
    FSM_REGION_HEALTHY = 0,
    FSM_REGION_DEGRADED = 1,
    FSM_REGION_LOST = 2,
};

enum fsm_site_state {
    FSM_SITE_ACTIVE = 0,
    FSM_SITE_FAILING_OVER = 1,
    FSM_SITE_SWITCHING_OVER = 2,
    FSM_SITE_BLOCKED = 3,
};

struct fsm_region {
    char *name;
    int32_t priority;      /* higher is preferred as DR target */
    char **dns_targets;    /* host names or IP addresses */
    size_t n_dns_targets;
    char *object_store;    /* file:// or s3:// URL, may be "" */
    int status;            /* enum fsm_region_status */
    uint64_t created_ms;
    uint64_t updated_ms;
};

struct fsm_member {
    uint64_t id;
    char *region;
    char *raft_address;
    char *api_address;
    uint64_t added_ms;
};

enum fsm_setting_type {
    FSM_SETTING_INT = 1,
    FSM_SETTING_BOOL = 2,
    FSM_SETTING_STRING = 3,
};

struct fsm_value {
    int type; /* enum fsm_setting_type */
    int64_t i;
    bool b;
    char *s;
};

/* Static description of one cluster setting. */
struct fsm_setting_desc {
    const char *key;
    int type;
    int64_t min, max;          /* FSM_SETTING_INT bounds */
    int64_t def_int;
    bool def_bool;
    const char *def_string;
    const char *const *choices; /* NULL-terminated allowed strings */
    bool is_list;               /* comma-separated list of choices */
    const char *description;
};

struct fsm_audit {
    uint64_t seq;
    uint64_t time_ms;
    char *actor;
    char *action;
    char *detail;
};

struct fsm_site {
    char *primary_region; /* NULL before bootstrap */
    uint64_t epoch;       /* bumped by every primary change */
    int state;            /* enum fsm_site_state */
    uint64_t changed_ms;
};

struct fsm {
    bool initialized;          /* the bootstrap command has been applied */
    uint64_t time_ms;          /* newest command time seen, never decreases */
    struct fsm_site site;
    struct fsm_region *regions; /* sorted by name */
    size_t n_regions;
    struct fsm_member *members; /* sorted by id */
    size_t n_members;
    struct fsm_value *settings; /* indexed like fsm_settings_table() */
    struct fsm_audit *audit;    /* ring, oldest at audit_head */
    size_t n_audit, cap_audit, audit_head;
    uint64_t audit_seq;         /* seq of the newest audit entry */
    bool broken;                /* an allocation failed mid-command: the
                                   state can no longer be trusted */
};

/* Commands. Pointers inside are borrowed for the duration of fsm_apply. */
enum fsm_cmd_type {
    FSM_CMD_BOOTSTRAP = 1,
    FSM_CMD_REGION_ADD,
    FSM_CMD_REGION_UPDATE,
    FSM_CMD_REGION_REMOVE,
    FSM_CMD_MEMBER_PUT,
    FSM_CMD_MEMBER_REMOVE,
    FSM_CMD_SET_PRIMARY,
    FSM_CMD_SETTING_SET,
};

struct fsm_cmd_bootstrap {
    struct fsm_region *regions;
    size_t n_regions;
    struct fsm_member *members;
    size_t n_members;
    const char *primary_region;
};

struct fsm_cmd_set_primary {
    const char *region;
    const char *reason;
    bool has_expected_epoch;
    uint64_t expected_epoch;
};

struct fsm_cmd_setting_set {
    const char *key;
    struct fsm_value value;
};

/* Fields of a REGION_UPDATE; 0 means all. */
#define FSM_REGION_F_PRIORITY 1u
#define FSM_REGION_F_DNS_TARGETS 2u
#define FSM_REGION_F_OBJECT_STORE 4u

struct fsm_cmd {
    int type;          /* enum fsm_cmd_type */
    const char *actor; /* who asked, for the audit log */
    unsigned fields;   /* REGION_UPDATE: FSM_REGION_F_* to change, 0 = all */
    union {
        struct fsm_cmd_bootstrap bootstrap;
        struct fsm_region region;       /* REGION_ADD, REGION_UPDATE */
        const char *region_name;        /* REGION_REMOVE */
        struct fsm_member member;       /* MEMBER_PUT */
        uint64_t member_id;             /* MEMBER_REMOVE */
        struct fsm_cmd_set_primary set_primary;
        struct fsm_cmd_setting_set setting;
    } u;
};

/* One raft log entry: a batch of commands stamped with the leader's time. */
struct fsm_entry {
    uint32_t version;
    uint64_t time_ms;
    struct fsm_cmd *cmds;
    size_t n_cmds;
};

/* Outcome of one command. code is DR_OK or the reason it was rejected. */
struct fsm_result {
    int code;
    char msg[256];
    uint64_t epoch;   /* site epoch after the command */
    uint64_t time_ms; /* command time the FSM used */
};

/* Initialize an empty (not yet bootstrapped) state with default settings. */
int fsm_init(struct fsm *f);
void fsm_close(struct fsm *f);

/* Apply one command at time now_ms. On rejection the state is unchanged and
 * res says why. Returns res->code. */
int fsm_apply(struct fsm *f, const struct fsm_cmd *cmd, uint64_t now_ms,
              struct fsm_result *res);

/* Apply every command of an entry, filling results[i] for cmds[i]. An entry
 * of a newer version than FSM_VERSION is refused whole with DR_EVERSION and
 * changes nothing. */
int fsm_apply_entry(struct fsm *f, const struct fsm_entry *e,
                    struct fsm_result *results);

/* Validate a command against the current state without applying it, so the
 * API can reject bad requests before they reach the log. */
int fsm_check(const struct fsm *f, const struct fsm_cmd *cmd,
              struct fsm_result *res);

/* Look-ups; the returned pointers are valid until the next change. */
const struct fsm_region *fsm_region_get(const struct fsm *f, const char *name);
const struct fsm_member *fsm_member_get(const struct fsm *f, uint64_t id);

/* Settings table: fsm_settings_count() entries, in a fixed order. */
size_t fsm_settings_count(void);
const struct fsm_setting_desc *fsm_settings_table(void);
/* Index of a setting key, or -1. */
int fsm_setting_index(const char *key);
const struct fsm_value *fsm_setting(const struct fsm *f, const char *key);
int64_t fsm_setting_int(const struct fsm *f, const char *key);

/* Audit entry i, 0 being the oldest retained. */
const struct fsm_audit *fsm_audit_at(const struct fsm *f, size_t i);

/* Validators shared with the config loader and the API. Each returns DR_OK
 * or DR_EINVAL with errmsg (256 bytes) saying what is wrong. */
int fsm_valid_name(const char *what, const char *name, char *errmsg);
int fsm_valid_host_port(const char *what, const char *addr, char *errmsg);
int fsm_valid_dns_target(const char *target, char *errmsg);
int fsm_valid_store_url(const char *url, char *errmsg);

/* Deep copies and frees of the plain structs, used by the codec and tests. */
int fsm_region_copy(struct fsm_region *dst, const struct fsm_region *src);
void fsm_region_free(struct fsm_region *r);
int fsm_member_copy(struct fsm_member *dst, const struct fsm_member *src);
void fsm_member_free(struct fsm_member *m);

/* Replace the whole state (snapshot restore): takes ownership of src's
 * contents and leaves src empty. */
void fsm_replace(struct fsm *f, struct fsm *src);

const char *fsm_region_status_name(int status);
const char *fsm_site_state_name(int state);

#endif /* DR_FSM_H */
