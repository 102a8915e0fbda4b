/* PLACEHOLDER: replaced by the real implementation. */
#include <stdio.h>
#include "common/err.h"
#include "store/store.h"
int store_open(const char *url, const struct store_options *opts,
               struct store **out, char *errmsg)
{
    (void)url; (void)opts; *out = NULL;
    snprintf(errmsg, 256, "not implemented yet");
    return DR_EUNAVAILABLE;
}
