/* PLACEHOLDER: replaced by the real implementation. */
#include <stdio.h>
#include "backup/job.h"
#include "common/err.h"
int pgjob_backup(const json_t *spec, json_t **result, char *errmsg) { (void)spec; *result = NULL; snprintf(errmsg, 256, "not implemented yet"); return DR_EUNAVAILABLE; }
int pgjob_restore(const json_t *spec, json_t **result, char *errmsg) { (void)spec; *result = NULL; snprintf(errmsg, 256, "not implemented yet"); return DR_EUNAVAILABLE; }
int pgjob_verify(const json_t *spec, json_t **result, char *errmsg) { (void)spec; *result = NULL; snprintf(errmsg, 256, "not implemented yet"); return DR_EUNAVAILABLE; }
