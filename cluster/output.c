/* drctl human and JSON output: aligned tables and value formatting. */
#include "drctl.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void drctl_print_json(const json_t *v)
{
    json_dumpf(v, stdout,
               JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    fputc('\n', stdout);
}

json_t *drctl_split_list(const char *list)
{
    json_t *arr = json_array();
    const char *p = list;

    if (arr == NULL) {
        return NULL;
    }
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        const char *end = comma != NULL ? comma : p + strlen(p);
        const char *s = p, *e = end;

        while (s < e && (*s == ' ' || *s == '\t')) {
            s++;
        }
        while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }
        if (e > s &&
            json_array_append_new(arr, json_stringn(s, (size_t)(e - s))) != 0) {
            json_decref(arr);
            return NULL;
        }
        if (comma == NULL) {
            break;
        }
        p = comma + 1;
    }
    return arr;
}

const char *drctl_fmt_value(const json_t *v, char *buf, size_t size)
{
    switch (json_typeof(v)) {
        case JSON_STRING:
            snprintf(buf, size, "%s", json_string_value(v));
            break;
        case JSON_INTEGER:
            snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            break;
        case JSON_REAL:
            snprintf(buf, size, "%g", json_real_value(v));
            break;
        case JSON_TRUE:
            snprintf(buf, size, "true");
            break;
        case JSON_FALSE:
            snprintf(buf, size, "false");
            break;
        case JSON_ARRAY: {
            size_t i, used = 0;
            json_t *item;
            buf[0] = '\0';
            json_array_foreach(v, i, item)
            {
                char one[512];
                int n =
                    snprintf(buf + used, size - used, "%s%s", i > 0 ? "," : "",
                             drctl_fmt_value(item, one, sizeof(one)));
                if (n < 0 || (size_t)n >= size - used) {
                    break;
                }
                used += (size_t)n;
            }
            if (i == 0) {
                snprintf(buf, size, "-");
            }
            break;
        }
        default:
            snprintf(buf, size, "-");
            break;
    }
    return buf;
}

const char *drctl_fmt_time_ms(const json_t *v, char *buf, size_t size)
{
    json_int_t ms;
    time_t secs;
    struct tm tm;

    if (!json_is_integer(v)) {
        return drctl_fmt_value(v, buf, size);
    }
    ms = json_integer_value(v);
    secs = (time_t)(ms / 1000);
    if (ms < 0 || gmtime_r(&secs, &tm) == NULL) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, ms);
        return buf;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return buf;
}

const char *drctl_fmt_ago_ms(const json_t *v, char *buf, size_t size)
{
    json_int_t ms;

    if (!json_is_integer(v)) {
        snprintf(buf, size, "-");
        return buf;
    }
    ms = json_integer_value(v);
    if (ms < 10000) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT "ms", ms);
    } else {
        snprintf(buf, size, "%.1fs", (double)ms / 1000.0);
    }
    return buf;
}

const char *drctl_fmt_yes_no(const json_t *v, char *buf, size_t size)
{
    snprintf(buf, size, "%s", json_is_true(v) ? "yes" : "no");
    return buf;
}

void drctl_table_init(struct drctl_table *t, size_t n_cols)
{
    memset(t, 0, sizeof(*t));
    t->n_cols = n_cols;
}

void drctl_table_cell(struct drctl_table *t, const char *text)
{
    char *copy;

    if (t->n_cells == t->cap) {
        size_t cap = t->cap == 0 ? 64 : t->cap * 2;
        char **grown = realloc(t->cells, cap * sizeof(*grown));
        if (grown == NULL) {
            fprintf(stderr, "drctl: out of memory\n");
            exit(DRCTL_EXIT_FAIL);
        }
        t->cells = grown;
        t->cap = cap;
    }
    copy = strdup(text != NULL && text[0] != '\0' ? text : "-");
    if (copy == NULL) {
        fprintf(stderr, "drctl: out of memory\n");
        exit(DRCTL_EXIT_FAIL);
    }
    t->cells[t->n_cells++] = copy;
}

void drctl_table_cellf(struct drctl_table *t, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    drctl_table_cell(t, buf);
}

void drctl_table_print(struct drctl_table *t)
{
    size_t widths[16] = {0};
    size_t i;

    for (i = 0; i < t->n_cells; i++) {
        size_t col = i % t->n_cols, len = strlen(t->cells[i]);
        if (col < 16 && len > widths[col]) {
            widths[col] = len;
        }
    }
    for (i = 0; i < t->n_cells; i++) {
        size_t col = i % t->n_cols;
        bool last = col + 1 == t->n_cols || i + 1 == t->n_cells;
        if (last) {
            printf("%s\n", t->cells[i]);
        } else {
            printf("%-*s  ", (int)widths[col], t->cells[i]);
        }
    }
    for (i = 0; i < t->n_cells; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

/* One cell of column col showing v. */
static void drctl__column_cell(struct drctl_table *t,
                               const struct drctl_column *col,
                               const json_t *v)
{
    drctl_fmt_cb fmt = col->fmt != NULL ? col->fmt : drctl_fmt_value;
    char buf[4096];

    assert(col->size <= sizeof(buf));
    if (col->fmt == NULL && (json_is_object(v) || json_is_array(v))) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
        drctl_table_cell(t, text);
        free(text);
        return;
    }
    drctl_table_cell(t, fmt(v, buf, col->size));
}

void drctl_print_objects(const json_t *rows, const struct drctl_column *cols)
{
    struct drctl_table t;
    const json_t *row;
    size_t n_cols, i, k;

    for (n_cols = 0; cols[n_cols].title != NULL; n_cols++) {
    }
    drctl_table_init(&t, n_cols);
    for (k = 0; k < n_cols; k++) {
        drctl_table_cell(&t, cols[k].title);
    }
    json_array_foreach(rows, i, row)
    {
        for (k = 0; k < n_cols; k++) {
            drctl__column_cell(&t, &cols[k], json_object_get(row, cols[k].key));
        }
    }
    drctl_table_print(&t);
}

/* Append s to buf, single-quoted for a POSIX shell when it needs it. */
void drctl_shell_word(char *buf, size_t size, const char *s)
{
    size_t used = strlen(buf);
    const char *p;

    if (strspn(s,
               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/"
               "._-+:,@%=") == strlen(s)) {
        snprintf(buf + used, size - used, "%s", s);
        return;
    }
    if (used + 1 < size) {
        buf[used++] = '\'';
    }
    for (p = s; *p != '\0' && used + 5 < size; p++) {
        if (*p == '\'') {
            memcpy(buf + used, "'\\''", 4);
            used += 4;
        } else {
            buf[used++] = *p;
        }
    }
    if (used + 1 < size) {
        buf[used++] = '\'';
    }
    buf[used] = '\0';
}
