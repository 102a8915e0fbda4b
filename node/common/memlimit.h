/* Memory limits as an operator writes them in the config ("max", "75%",
 * "512M", "2G", a byte count) and what they come to once the memory they
 * are a share of is known. Pure. */
#ifndef DR_MEMLIMIT_H
#define DR_MEMLIMIT_H

#include <stddef.h>
#include <stdint.h>

/* An absolute limit below it is refused. */
#define DR_MEMLIMIT_MIN (16u << 20)

enum dr_memlimit_kind {
    DR_MEMLIMIT_NONE,    /* "max": no limit */
    DR_MEMLIMIT_BYTES,   /* value bytes */
    DR_MEMLIMIT_PERCENT, /* value percent (1..100) of the available memory */
};

struct dr_memlimit
{
    enum dr_memlimit_kind kind;
    uint64_t value;
};

/* Parse text: "max", "N%" with N from 1 to 100, or a number of bytes with
 * an optional K, M, G or T suffix (powers of 1024) of at least
 * DR_MEMLIMIT_MIN. 0, or DR_EINVAL with err (errlen bytes) saying why. */
int dr_memlimit_parse(const char *text,
                      struct dr_memlimit *out,
                      char *err,
                      size_t errlen);

/* What the limit comes to out of total bytes: UINT64_MAX for "max"; a
 * percentage is rounded down to a multiple of 4096 (a page). */
uint64_t dr_memlimit_bytes(const struct dr_memlimit *l, uint64_t total);

#endif /* DR_MEMLIMIT_H */
