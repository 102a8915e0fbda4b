/* storetool: drive the object-store layer from integration tests.
 *
 *   storetool [OPTIONS] URL put KEY FILE          -> "SHA256 SIZE"
 *   storetool [OPTIONS] URL get KEY [SHA|-] [OUT] -> object to OUT or stdout
 *   storetool [OPTIONS] URL head KEY              -> {"key","size","mtime_ms"}
 *   storetool [OPTIONS] URL list PREFIX [PAGE]    -> "KEY SIZE" lines
 *   storetool [OPTIONS] URL delete KEY
 *   storetool [OPTIONS] URL sha KEY               -> "SHA256 SIZE"
 *   storetool [OPTIONS] URL zput KEY FILE [LEVEL] -> zio stats as JSON
 *   storetool [OPTIONS] URL zget KEY SHA|- [OUT]  -> raw bytes; stats on
 *                                                   stderr as JSON
 *   storetool [OPTIONS] URL copy SRC_URL KEY SHA SIZE
 *                                              -> server-side copy of KEY
 *                                                 from SRC_URL into URL
 *   storetool [OPTIONS] URL putknown KEY FILE SHA SIZE
 *                                              -> "SHA256 SIZE" (a writer
 *                                                 told the hash and size)
 *   storetool sign METHOD PATH QUERY AMZDATE REGION PAYLOAD [NAME:VALUE...]
 *        -> {"canonical_request","string_to_sign","authorization"} signed
 *           with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
 *
 * OPTIONS: --credentials FILE, --part-bytes N, --copy-max N, --timeout-ms N,
 * --retries N.
 * S3 credentials otherwise come from AWS_ACCESS_KEY_ID and friends. On
 * failure: exit 1 and "storetool: CODE: MESSAGE" on stderr (CODE as in
 * dr_errcode_name); usage errors exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/sigv4.h"
#include "common/err.h"
#include "store/internal.h"
#include "store/store.h"
#include "store/zio.h"

static int usage(void)
{
    fprintf(
        stderr,
        "usage: storetool [--credentials FILE] [--part-bytes N] [--timeout-ms "
        "N] [--retries N] [--copy-max N] URL "
        "put|get|head|list|delete|sha|zput|zget|copy|putknown ARGS\n"
        "       storetool sign METHOD PATH QUERY AMZDATE REGION PAYLOAD "
        "[NAME:VALUE...]\n");
    return 2;
}

static int fail(int rv, const char *errmsg)
{
    fprintf(stderr, "storetool: %s: %s\n", dr_errcode_name(rv), errmsg);
    return 1;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

static int cmd_sign(int argc, char **argv)
{
    struct sigv4_header h[32];
    struct sigv4_key key;
    struct sigv4_request req;
    struct sigv4_result res;
    char names[32][128];
    int i, n = 0, rv;

    if (argc < 7 || argc - 7 > 32) {
        return usage();
    }
    key.access_key_id = getenv("AWS_ACCESS_KEY_ID");
    key.secret_access_key = getenv("AWS_SECRET_ACCESS_KEY");
    key.region = argv[5];
    key.service = "s3";
    if (key.access_key_id == NULL || key.secret_access_key == NULL) {
        fprintf(stderr,
                "storetool: sign needs AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY\n");
        return 2;
    }
    for (i = 7; i < argc; i++) {
        const char *colon = strchr(argv[i], ':');
        size_t len = colon != NULL ? (size_t)(colon - argv[i]) : 0;
        if (colon == NULL || len >= sizeof(names[0])) {
            return usage();
        }
        memcpy(names[n], argv[i], len);
        names[n][len] = '\0';
        h[n].name = names[n];
        h[n].value = colon + 1;
        n++;
    }
    req.method = argv[1];
    req.path = argv[2];
    req.query = argv[3];
    req.headers = h;
    req.n_headers = (size_t)n;
    req.payload_sha256 = argv[6];
    rv = sigv4_sign(&req, &key, argv[4], &res);
    if (rv != 0) {
        return fail(rv, "sigv4_sign failed");
    }
    printf("{\"canonical_request\": ");
    json_str(stdout, res.canonical_request);
    printf(", \"string_to_sign\": ");
    json_str(stdout, res.string_to_sign);
    printf(", \"authorization\": ");
    json_str(stdout, res.authorization);
    printf("}\n");
    sigv4_result_free(&res);
    return 0;
}

static int cmd_put(struct store *s,
                   const char *key,
                   const char *file,
                   char *errmsg)
{
    char buf[65536], sha[STORE_SHA256_HEX];
    struct store_writer *w;
    uint64_t size;
    size_t n;
    FILE *f;
    int rv;

    f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
    if (f == NULL) {
        snprintf(errmsg, 256, "cannot open %.200s", file);
        return DR_EIO;
    }
    rv = store_put_begin(s, key, &w, errmsg);
    if (rv != 0) {
        goto out;
    }
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        rv = store_write(w, buf, n, errmsg);
        if (rv != 0) {
            store_put_abort(w);
            goto out;
        }
    }
    rv = store_put_commit(w, sha, &size, errmsg);
    if (rv == 0) {
        printf("%s %llu\n", sha, (unsigned long long)size);
    }
out:
    if (f != stdin) {
        fclose(f);
    }
    return rv;
}

static int cmd_get(struct store *s,
                   const char *key,
                   const char *sha,
                   const char *out,
                   char *errmsg)
{
    struct store_reader *r;
    char buf[65536];
    size_t n;
    FILE *f;
    int rv;

    rv = store_get_begin(s, key, sha, &r, errmsg);
    if (rv != 0) {
        return rv;
    }
    f = out != NULL ? fopen(out, "wb") : stdout;
    if (f == NULL) {
        store_get_end(r);
        snprintf(errmsg, 256, "cannot create %.200s", out);
        return DR_EIO;
    }
    for (;;) {
        rv = store_read(r, buf, sizeof(buf), &n, errmsg);
        if (rv != 0 || n == 0) {
            break;
        }
        fwrite(buf, 1, n, f);
    }
    store_get_end(r);
    if (f != stdout) {
        fclose(f);
    } else {
        fflush(stdout);
    }
    return rv;
}

static int cmd_list(struct store *s,
                    const char *prefix,
                    const char *page,
                    char *errmsg)
{
    struct store_object *objs;
    char *next, *after = NULL;
    size_t n, i;
    int rv, pages = 0;

    if (page != NULL) {
        store__set_page_size(s, (size_t)strtoul(page, NULL, 10));
    }
    do {
        rv = store_list(s, prefix, after, &objs, &n, &next, errmsg);
        free(after);
        after = NULL;
        if (rv != 0) {
            return rv;
        }
        pages++;
        for (i = 0; i < n; i++) {
            printf("%s %llu\n", objs[i].key, (unsigned long long)objs[i].size);
        }
        store_objects_free(objs, n);
        after = next;
    } while (after != NULL);
    fprintf(stderr, "pages %d\n", pages);
    return 0;
}

static void print_stats(FILE *f, const struct zio_stats *st)
{
    fprintf(f,
            "{\"raw_bytes\": %llu, \"raw_sha256\": \"%s\", \"stored_bytes\": "
            "%llu, \"stored_sha256\": \"%s\"}\n",
            (unsigned long long)st->raw_bytes, st->raw_sha256,
            (unsigned long long)st->stored_bytes, st->stored_sha256);
}

static int cmd_zput(struct store *s,
                    const char *key,
                    const char *file,
                    int level,
                    char *errmsg)
{
    struct zio_writer *w;
    struct zio_stats st;
    char buf[65536];
    size_t n;
    FILE *f;
    int rv;

    f = fopen(file, "rb");
    if (f == NULL) {
        snprintf(errmsg, 256, "cannot open %.200s", file);
        return DR_EIO;
    }
    rv = zio_writer_open(s, key, level, &w, errmsg);
    if (rv != 0) {
        goto out;
    }
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        rv = zio_write(w, buf, n, errmsg);
        if (rv != 0) {
            zio_writer_abort(w);
            goto out;
        }
    }
    rv = zio_writer_commit(w, &st, errmsg);
    if (rv == 0) {
        print_stats(stdout, &st);
    }
out:
    fclose(f);
    return rv;
}

static int cmd_zget(struct store *s,
                    const char *key,
                    const char *sha,
                    const char *out,
                    char *errmsg)
{
    struct zio_reader *r;
    struct zio_stats st;
    char buf[65536];
    size_t n;
    FILE *f;
    int rv;

    rv = zio_reader_open(s, key, sha, &r, errmsg);
    if (rv != 0) {
        return rv;
    }
    f = out != NULL ? fopen(out, "wb") : stdout;
    if (f == NULL) {
        zio_reader_close(r);
        snprintf(errmsg, 256, "cannot create %.200s", out);
        return DR_EIO;
    }
    for (;;) {
        rv = zio_read(r, buf, sizeof(buf), &n, errmsg);
        if (rv != 0 || n == 0) {
            break;
        }
        fwrite(buf, 1, n, f);
    }
    if (rv == 0) {
        zio_reader_stats(r, &st);
        print_stats(stderr, &st);
    }
    zio_reader_close(r);
    if (f != stdout) {
        fclose(f);
    }
    return rv;
}

/* copy SRC_URL KEY SHA SIZE */
static int cmd_copy(struct store *dst,
                    const struct store_options *opts,
                    char **args,
                    char *errmsg)
{
    struct store *src;
    int rv = store_open(args[0], opts, &src, errmsg);

    if (rv != 0) {
        return rv;
    }
    rv = store_copy(dst, src, args[1], args[2], strtoull(args[3], NULL, 10),
                    errmsg);
    store_close(src);
    return rv;
}

/* putknown KEY FILE SHA SIZE */
static int cmd_putknown(struct store *s, char **args, char *errmsg)
{
    struct store_writer *w;
    char buf[65536], sha[STORE_SHA256_HEX];
    uint64_t size = 0;
    size_t n;
    FILE *f = fopen(args[1], "rb");
    int rv;

    if (f == NULL) {
        snprintf(errmsg, 256, "cannot open %.200s", args[1]);
        return DR_EIO;
    }
    rv = store_put_begin_known(s, args[0], args[2], strtoull(args[3], NULL, 10),
                               &w, errmsg);
    while (rv == 0 && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
        rv = store_write(w, buf, n, errmsg);
    }
    fclose(f);
    if (rv != 0) {
        if (w != NULL) {
            store_put_abort(w);
        }
        return rv;
    }
    rv = store_put_commit(w, sha, &size, errmsg);
    if (rv == 0) {
        printf("%s %llu\n", sha, (unsigned long long)size);
    }
    return rv;
}

int main(int argc, char **argv)
{
    struct store_options opts;
    struct store_object obj;
    struct store *s;
    char errmsg[256] = "", sha[STORE_SHA256_HEX];
    const char *url, *cmd;
    uint64_t size;
    int i = 1, rv, nargs;
    char **args;

    if (argc >= 2 && strcmp(argv[1], "sign") == 0) {
        return cmd_sign(argc - 1, argv + 1);
    }
    memset(&opts, 0, sizeof(opts));
    opts.max_retries = -1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--credentials") == 0) {
            opts.credentials_file = argv[i + 1];
        } else if (strcmp(argv[i], "--part-bytes") == 0) {
            opts.part_bytes = (size_t)strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--copy-max") == 0) {
            opts.copy_max_bytes = strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--timeout-ms") == 0) {
            opts.timeout_ms = strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--retries") == 0) {
            opts.max_retries = atoi(argv[i + 1]);
        } else {
            return usage();
        }
    }
    if (argc - i < 2) {
        return usage();
    }
    url = argv[i];
    cmd = argv[i + 1];
    args = argv + i + 2;
    nargs = argc - i - 2;

    rv = store_open(url, &opts, &s, errmsg);
    if (rv != 0) {
        return fail(rv, errmsg);
    }
    if (strcmp(cmd, "put") == 0 && nargs == 2) {
        rv = cmd_put(s, args[0], args[1], errmsg);
    } else if (strcmp(cmd, "get") == 0 && nargs >= 1 && nargs <= 3) {
        const char *want =
            nargs >= 2 && strcmp(args[1], "-") != 0 ? args[1] : NULL;
        rv = cmd_get(s, args[0], want, nargs == 3 ? args[2] : NULL, errmsg);
    } else if (strcmp(cmd, "head") == 0 && nargs == 1) {
        rv = store_head(s, args[0], &obj, errmsg);
        if (rv == 0) {
            printf("{\"key\": ");
            json_str(stdout, obj.key);
            printf(", \"size\": %llu, \"mtime_ms\": %lld}\n",
                   (unsigned long long)obj.size, (long long)obj.mtime_ms);
            store_object_free(&obj);
        }
    } else if (strcmp(cmd, "list") == 0 && nargs >= 1 && nargs <= 2) {
        rv = cmd_list(s, args[0], nargs == 2 ? args[1] : NULL, errmsg);
    } else if (strcmp(cmd, "delete") == 0 && nargs == 1) {
        rv = store_delete(s, args[0], errmsg);
    } else if (strcmp(cmd, "sha") == 0 && nargs == 1) {
        rv = store_sha256(s, args[0], sha, &size, errmsg);
        if (rv == 0) {
            printf("%s %llu\n", sha, (unsigned long long)size);
        }
    } else if (strcmp(cmd, "zput") == 0 && (nargs == 2 || nargs == 3)) {
        rv = cmd_zput(s, args[0], args[1], nargs == 3 ? atoi(args[2]) : 0,
                      errmsg);
    } else if (strcmp(cmd, "zget") == 0 && (nargs == 2 || nargs == 3)) {
        rv = cmd_zget(s, args[0], strcmp(args[1], "-") != 0 ? args[1] : NULL,
                      nargs == 3 ? args[2] : NULL, errmsg);
    } else if (strcmp(cmd, "copy") == 0 && nargs == 4) {
        rv = cmd_copy(s, &opts, args, errmsg);
    } else if (strcmp(cmd, "putknown") == 0 && nargs == 4) {
        rv = cmd_putknown(s, args, errmsg);
    } else {
        store_close(s);
        return usage();
    }
    store_close(s);
    if (rv != 0) {
        return fail(rv, errmsg);
    }
    return 0;
}
