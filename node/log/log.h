/* Leveled log lines to stderr: "TIME LEVEL message". */
#ifndef DR_LOG_H
#define DR_LOG_H

/* Lines below this level are dropped (enum config_log_level). */
void log_set_level(int level);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
