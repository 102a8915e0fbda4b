/* PLACEHOLDER: replaced by the real implementation. */
#include <stdio.h>
#include "backup/job.h"
#include "common/err.h"
int redisjob_backup(const json_t *spec, json_t **result, char *errmsg) { (void)spec; *result = NULL; snprintf(errmsg, 256, "not implemented yet"); return DR_EUNAVAILABLE; }
int redisjob_restore(const json_t *spec, json_t **result, char *errmsg) { (void)spec; *result = NULL; snprintf(errmsg, 256, "not implemented yet"); return DR_EUNAVAILABLE; }
int redisjob_verify(const json_t *spec, json_t **result, char *errmsg) { (void)spec; *result = NULL; snprintf(errmsg, 256, "not implemented yet"); return DR_EUNAVAILABLE; }
