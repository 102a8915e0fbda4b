/* drctl internals shared by its command files. */
#ifndef DRCTL_H
#define DRCTL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "client/client.h"

#define DRCTL_EXIT_OK 0
#define DRCTL_EXIT_FAIL 1  /* the operation failed */
#define DRCTL_EXIT_USAGE 2 /* bad command line; nothing was sent */

#define DRCTL_POS_MAX 8 /* positional arguments a command may take */

/* The state of one drctl invocation. */
struct drctl
{
    const char *endpoints;  /* --endpoints or $DRCTL_ENDPOINTS, or NULL */
    const char *token_file; /* --token-file or $DRCTL_TOKEN_FILE, or NULL */
    const char *cacert, *cert, *key; /* --cacert ... or $DRCTL_CACERT ... */
    bool json;                       /* --json: print the API's JSON */
    unsigned timeout_ms;             /* --timeout, per request */
    unsigned try_ms;   /* --endpoint-timeout: one endpoint's answer */
    const char *cmd;   /* "regions add": prefix of messages */
    const char *group; /* "regions": for the usage hint */
    char cmd_buf[64];  /* cmd of a subcommand, set by drctl_dispatch */
    struct client client;
    bool connected; /* client is initialised */
};

/* One option a command accepts. value receives the argument of an option
 * that takes one (borrowed from argv); flag is set for one that does not. */
struct drctl_opt
{
    const char *name; /* "--priority" */
    const char **value;
    bool *flag;
};

/* A command group: "regions", with its handler and usage lines. argv
 * starts after the group word. Returns a DRCTL_EXIT_* code. */
struct drctl_command
{
    const char *name;
    int (*run)(struct drctl *d, int argc, char **argv);
    const char *usage;
};

/* A subcommand of a group: "add" of "regions". argv starts after its name.
 * Returns a DRCTL_EXIT_* code, or -1 when --help was printed. */
struct drctl_subcommand
{
    const char *name;
    int (*run)(struct drctl *d, int argc, char **argv);
};

/* Prints an answer of the API for humans; v (may be NULL) and arg are
 * borrowed during the call. */
typedef void (*drctl_print_cb)(const json_t *v, const void *arg);

/* Formats a JSON value into buf (size bytes) and returns buf. */
typedef const char *(*drctl_fmt_cb)(const json_t *v, char *buf, size_t size);

/* One column of a table of JSON objects. */
struct drctl_column
{
    const char *title; /* "NAME"; NULL ends a list of columns */
    const char *key;   /* the member of each object shown */
    drctl_fmt_cb fmt;  /* NULL: objects and arrays as compact JSON, whole,
                          other values as drctl_fmt_value */
    size_t size;       /* buffer of fmt, at most 4096: longest text + 1 */
};

/* Print "drctl: CMD: MESSAGE; see 'drctl help GROUP'" to stderr and return
 * DRCTL_EXIT_USAGE. */
int drctl_usage_error(const struct drctl *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print "drctl: CMD: MESSAGE" to stderr and return DRCTL_EXIT_FAIL. */
int drctl_fail(const struct drctl *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Warning to stderr ("drctl: CMD: warning: ..."), no exit code. */
void drctl_warn(const struct drctl *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Note to stderr ("drctl: CMD: note: ..."): what drctl chose for the
 * operator. */
void drctl_note(const struct drctl *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Split argv into options from opts (a NULL-name terminated table; "--x V"
 * and "--x=V" forms, "--" ends options) and positionals into pos[]. Fails
 * with a usage error (DRCTL_EXIT_USAGE, printed) on an unknown option, a
 * missing value, a repeated option, or a positional count outside
 * [min_pos, max_pos]; pos_names ("KEY VALUE", may be NULL) names the
 * expected positionals in that message. "-h"/"--help" prints the group's usage
 * and returns -1: the caller returns DRCTL_EXIT_OK. */
int drctl_parse_args(const struct drctl *d,
                     int argc,
                     char **argv,
                     const struct drctl_opt *opts,
                     const char **pos,
                     int min_pos,
                     int max_pos,
                     const char *pos_names,
                     int *n_pos);

/* drctl_parse_args for a command that takes no positional arguments; opts
 * may be NULL. */
int drctl_parse_opts(const struct drctl *d,
                     int argc,
                     char **argv,
                     const struct drctl_opt *opts);

/* drctl_parse_args for a command that takes one positional argument, a
 * name that must not be empty (a usage error "WHAT: empty"). *name gets it,
 * borrowed from argv. */
int drctl_parse_name(const struct drctl *d,
                     int argc,
                     char **argv,
                     const struct drctl_opt *opts,
                     const char *what,
                     const char **name);

/* A usage error "WHAT: empty" when text is empty; 0 otherwise. */
int drctl_check_name(const struct drctl *d, const char *what, const char *text);

/* Run the subcommand of subs (ended by a NULL name) that argv[0] names,
 * with d->cmd set to "GROUP NAME". A usage error when argv names none;
 * "-h"/"--help" prints the group's usage and returns -1. */
int drctl_dispatch(struct drctl *d,
                   int argc,
                   char **argv,
                   const struct drctl_subcommand *subs);

/* Parse a whole decimal integer in [min, max]; a usage error naming what
 * otherwise. */
int drctl_parse_int(const struct drctl *d,
                    const char *what,
                    const char *text,
                    int64_t min,
                    int64_t max,
                    int64_t *out);

/* Parse a positive decimal number of seconds into milliseconds. */
int drctl_parse_seconds(const struct drctl *d,
                        const char *what,
                        const char *text,
                        double max_s,
                        unsigned *out_ms);

/* Initialise d->client from the global options if not done yet. Returns 0,
 * DRCTL_EXIT_USAGE when no endpoints are configured, or DRCTL_EXIT_FAIL
 * (printed). */
int drctl_connect(struct drctl *d);

/* Send a request and require a 2xx answer. On success *out (may be NULL)
 * receives the parsed JSON body, owned by the caller. On failure the
 * transport error or the API error is printed and DRCTL_EXIT_FAIL is
 * returned. */
int drctl_call(struct drctl *d,
               const char *method,
               const char *path,
               const json_t *body,
               json_t **out);

/* drctl_call, then print the answer: its JSON with --json, otherwise
 * through print, given arg. body is borrowed during the call. Returns 0 or
 * DRCTL_EXIT_FAIL (printed). */
int drctl_show(struct drctl *d,
               const char *method,
               const char *path,
               const json_t *body,
               drctl_print_cb print,
               const void *arg);

/* A whole command that takes no arguments (argv as for drctl_parse_opts)
 * and shows the answer to GET path, as drctl_show does. */
int drctl_show_get(struct drctl *d,
                   int argc,
                   char **argv,
                   const char *path,
                   drctl_print_cb print);

/* Like drctl_call but returns any HTTP answer in r (then clear it);
 * only transport failures are printed (DRCTL_EXIT_FAIL). */
int drctl_request(struct drctl *d,
                  const char *method,
                  const char *path,
                  const json_t *body,
                  struct client_response *r);

/* Print the API error of r as "drctl: CMD: CODE: MESSAGE (HTTP N)" and
 * return DRCTL_EXIT_FAIL. */
int drctl_fail_response(const struct drctl *d, const struct client_response *r);

/* Build "/api/PREFIX/ESCAPED(name)" into buf; a usage error when too long. */
int drctl_path(const struct drctl *d,
               char *buf,
               size_t size,
               const char *prefix,
               const char *name);

/* Pretty-print v to stdout with a trailing newline. */
void drctl_print_json(const json_t *v);
/* Append s to buf (NUL-terminated, size bytes in all), single-quoted for a
 * POSIX shell when it needs it. */
void drctl_shell_word(char *buf, size_t size, const char *s);

/* Split "a,b,c" into a new JSON array of strings (empty items dropped). */
json_t *drctl_split_list(const char *list);

/* Format helpers for human output; they write into buf and return it. */
const char *drctl_fmt_value(const json_t *v, char *buf, size_t size);
const char *drctl_fmt_time_ms(const json_t *v, char *buf, size_t size);
const char *drctl_fmt_ago_ms(const json_t *v, char *buf, size_t size);
/* A time, or "never" for 0 (or not an integer). */
const char *drctl_fmt_when(const json_t *v, char *buf, size_t size);
/* Sleep; a monotonic clock in ms (for --wait loops). */
void drctl_sleep_ms(unsigned ms);
uint64_t drctl_mono_ms(void);
/* "yes" for true, "no" for anything else. */
const char *drctl_fmt_yes_no(const json_t *v, char *buf, size_t size);

/* An aligned text table, built row by row. Cells are copied. */
struct drctl_table
{
    size_t n_cols;
    size_t n_cells;
    size_t cap;
    char **cells;
};

void drctl_table_init(struct drctl_table *t, size_t n_cols);
/* Append one cell; rows wrap every n_cols cells. NULL prints "-". */
void drctl_table_cell(struct drctl_table *t, const char *text);
void drctl_table_cellf(struct drctl_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print with two spaces between columns, the last column unpadded; then
 * free the cells. */
void drctl_table_print(struct drctl_table *t);

/* Print the objects of the array rows (borrowed) as a table with a header
 * line, one column per entry of cols. */
void drctl_print_objects(const json_t *rows, const struct drctl_column *cols);

/* The command groups, one handler per group. */
int drctl_cmd_status(struct drctl *d, int argc, char **argv);
int drctl_cmd_version(struct drctl *d, int argc, char **argv);
int drctl_cmd_members(struct drctl *d, int argc, char **argv);
int drctl_cmd_leader(struct drctl *d, int argc, char **argv);
int drctl_cmd_regions(struct drctl *d, int argc, char **argv);
int drctl_cmd_site(struct drctl *d, int argc, char **argv);
int drctl_cmd_settings(struct drctl *d, int argc, char **argv);
int drctl_cmd_history(struct drctl *d, int argc, char **argv);
int drctl_cmd_local(struct drctl *d, int argc, char **argv);
int drctl_cmd_bench(struct drctl *d, int argc, char **argv);
int drctl_cmd_backups(struct drctl *d, int argc, char **argv);
int drctl_cmd_jobs(struct drctl *d, int argc, char **argv);
int drctl_cmd_wal(struct drctl *d, int argc, char **argv);

/* The region of the node drctl reaches first into buf ("" when it
 * cannot be told; cmd_backups.c). */
void drctl_caller_region(struct drctl *d, char *buf, size_t size);
int drctl_cmd_replication(struct drctl *d, int argc, char **argv);
int drctl_cmd_failover(struct drctl *d, int argc, char **argv);
int drctl_cmd_failback(struct drctl *d, int argc, char **argv);
int drctl_cmd_switchover(struct drctl *d, int argc, char **argv);
int drctl_cmd_restore(struct drctl *d, int argc, char **argv);
int drctl_cmd_breakers(struct drctl *d, int argc, char **argv);
int drctl_cmd_health(struct drctl *d, int argc, char **argv);
int drctl_cmd_drill(struct drctl *d, int argc, char **argv);
int drctl_cmd_certs(struct drctl *d, int argc, char **argv);

/* Print the usage of one group (name) or of all (NULL) to f. Returns 0, or
 * -1 when name is unknown. */
int drctl_print_usage(const char *name, FILE *f);

#endif /* DRCTL_H */
