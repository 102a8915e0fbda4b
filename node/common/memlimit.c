/* Memory limits of the config (memlimit.h). Pure. */
#include "common/memlimit.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

int dr_memlimit_parse(const char *text,
                      struct dr_memlimit *out,
                      char *err,
                      size_t errlen)
{
    unsigned long long v;
    char *end;
    unsigned shift = 0;

    if (strcmp(text, "max") == 0) {
        out->kind = DR_MEMLIMIT_NONE;
        out->value = 0;
        return DR_OK;
    }
    if (!isdigit((unsigned char)text[0])) {
        snprintf(err, errlen,
                 "\"%.64s\" is not a memory limit (max, a percentage such as "
                 "75%%, or bytes such as 512M or 2G)",
                 text);
        return DR_EINVAL;
    }
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0) {
        snprintf(err, errlen, "\"%.64s\" is too large", text);
        return DR_EINVAL;
    }
    if (strcmp(end, "%") == 0) {
        if (v < 1 || v > 100) {
            snprintf(err, errlen, "\"%.64s\": a percentage from 1%% to 100%%",
                     text);
            return DR_EINVAL;
        }
        out->kind = DR_MEMLIMIT_PERCENT;
        out->value = v;
        return DR_OK;
    }
    switch (*end) {
        case '\0':
            break;
        case 'K':
        case 'k':
            shift = 10;
            break;
        case 'M':
        case 'm':
            shift = 20;
            break;
        case 'G':
        case 'g':
            shift = 30;
            break;
        case 'T':
        case 't':
            shift = 40;
            break;
        default:
            snprintf(err, errlen,
                     "\"%.64s\": unknown unit (K, M, G, T or %% after the "
                     "number)",
                     text);
            return DR_EINVAL;
    }
    if (*end != '\0' && end[1] != '\0') {
        snprintf(err, errlen, "\"%.64s\": nothing may follow the unit", text);
        return DR_EINVAL;
    }
    if (shift != 0 && v > (UINT64_MAX >> shift)) {
        snprintf(err, errlen, "\"%.64s\" is too large", text);
        return DR_EINVAL;
    }
    v <<= shift;
    if (v < DR_MEMLIMIT_MIN) {
        snprintf(err, errlen, "\"%.64s\" is below the %u MiB a job needs", text,
                 DR_MEMLIMIT_MIN >> 20);
        return DR_EINVAL;
    }
    out->kind = DR_MEMLIMIT_BYTES;
    out->value = v;
    return DR_OK;
}

uint64_t dr_memlimit_bytes(const struct dr_memlimit *l, uint64_t total)
{
    switch (l->kind) {
        case DR_MEMLIMIT_NONE:
            return UINT64_MAX;
        case DR_MEMLIMIT_BYTES:
            return l->value;
        case DR_MEMLIMIT_PERCENT:
            return (total / 100 * l->value + total % 100 * l->value / 100) &
                   ~(uint64_t)4095;
    }
    return UINT64_MAX;
}
