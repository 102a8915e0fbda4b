/* PLACEHOLDER: replaced by the real implementation. */
#include <stdio.h>
#include "backup/job.h"
#include "common/err.h"
int storejob_delete(const json_t *spec, json_t **result, char *errmsg) { (void)spec; *result = NULL; snprintf(errmsg, 256, "not implemented yet"); return DR_EUNAVAILABLE; }
int storejob_verify(const json_t *spec, json_t **result, char *errmsg) { (void)spec; *result = NULL; snprintf(errmsg, 256, "not implemented yet"); return DR_EUNAVAILABLE; }
