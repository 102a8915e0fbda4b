/* Typed cluster settings: the table and validation (pure). */
#ifndef DR_FSM_SETTINGS_H
#define DR_FSM_SETTINGS_H

#include "fsm/fsm.h"

/* Check a value for a key: DR_ENOTFOUND for an unknown key, DR_EINVAL for a
 * wrong type or a value out of range; errmsg (256 bytes) says which. */
int fsm_setting_check(const char *key, const struct fsm_value *v, char *errmsg);

/* Default of setting i; v->s is borrowed from the static table. */
void fsm_setting_default(int i, struct fsm_value *v);

const char *fsm_setting_type_name(int type);

/* Syntax of replication.targets (replicate.c): DR_OK or DR_EINVAL with
 * errmsg naming the bad item. */
int fsm__targets_check(const char *s, char *errmsg);

#endif
