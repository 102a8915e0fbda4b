/* Leveled log lines to stderr: "TIME LEVEL message". */
#include "log/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static int min_level = 1;

void log_set_level(int level)
{
    min_level = level;
}

static void emit(int level, const char *name, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void emit(int level, const char *name, const char *fmt, va_list ap)
{
    char ts[32];
    struct timespec now;
    struct tm tm;
    char line[1024];

    if (level < min_level) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    vsnprintf(line, sizeof(line), fmt, ap);
    fprintf(stderr, "%s.%03ldZ %s %s\n", ts, now.tv_nsec / 1000000L, name,
            line);
}

#define LOG_FN(fn, level, name)     \
    void fn(const char *fmt, ...)   \
    {                               \
        va_list ap;                 \
        va_start(ap, fmt);          \
        emit(level, name, fmt, ap); \
        va_end(ap);                 \
    }

LOG_FN(log_debug, 0, "DEBUG")
LOG_FN(log_info, 1, "INFO")
LOG_FN(log_warn, 2, "WARN")
LOG_FN(log_error, 3, "ERROR")
