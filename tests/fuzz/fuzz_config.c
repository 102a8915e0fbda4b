/* libFuzzer harness for the configuration parsers (node/config), also a
 * replay program (tests/fuzz/replay.c). The input is parsed as drnode's
 * INI file from memory (config_parse: problems are reported exactly when
 * it refuses, each with a message and a line inside the text), then
 * written to a private temporary file and read as an [api] tokens_file
 * (config_read_tokens) and as a token file (config_read_token): what they
 * accept obeys their rules, and no error message ever quotes a token.
 * Nothing may crash, leak or read outside the buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

static char tmp_path[64];

static void remove_tmp(void)
{
    unlink(tmp_path);
}

/* The private file the file readers get, holding the input. */
static const char *write_tmp(const uint8_t *data, size_t size)
{
    FILE *f;

    if (tmp_path[0] == '\0') {
        int fd;
        snprintf(tmp_path, sizeof(tmp_path), "/tmp/fuzz_config.XXXXXX");
        fd = mkstemp(tmp_path); /* mode 0600, as a secret file must be */
        CHECK(fd >= 0, "mkstemp failed");
        close(fd);
        atexit(remove_tmp);
    }
    f = fopen(tmp_path, "wb");
    CHECK(f != NULL && fwrite(data, 1, size, f) == size && fclose(f) == 0,
          "cannot write the temporary file");
    return tmp_path;
}

/* The second and third words of each line (where a token goes, and where
 * it lands when the columns are swapped) must not appear in msg: an error
 * names the file, the line and the reason, never the secret. Words
 * shorter than a valid token are not secrets. */
static void no_token_in(const uint8_t *data, size_t size, const char *msg)
{
    char *text = malloc(size + 1), *line, *next;

    CHECK(text != NULL, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0';
    for (line = text; line != NULL; line = next) {
        char a[200], b[200], tok[200];
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        if (sscanf(line, "%199s %199s %199s", a, b, tok) != 3) {
            continue;
        }
        if ((strlen(tok) >= CONFIG_TOKEN_MIN && strcmp(tok, a) != 0 &&
             strcmp(tok, b) != 0 && strstr(msg, tok) != NULL) ||
            (strlen(b) >= CONFIG_TOKEN_MIN && strcmp(b, a) != 0 &&
             strstr(msg, b) != NULL)) {
            fprintf(stderr, "fuzz: the message quotes a token: %s\n", msg);
            abort();
        }
    }
    free(text);
}

static void tokens_file(const uint8_t *data, size_t size, const char *path)
{
    static struct config_token toks[CONFIG_TOKENS_MAX];
    char err[256];
    size_t n = 99;
    int rv;

    err[0] = '\0';
    rv = config_read_tokens(path, toks, CONFIG_TOKENS_MAX, &n, err);
    if (rv != DR_OK) {
        CHECK(rv == DR_EINVAL || rv == DR_EIO, "unexpected error code");
        CHECK(n == 0 && err[0] != '\0', "a refusal without a message");
        no_token_in(data, size, err);
        return;
    }
    CHECK(n >= 1 && n <= CONFIG_TOKENS_MAX, "token count out of range");
    for (size_t i = 0; i < n; i++) {
        size_t tl = strlen(toks[i].token);
        CHECK(tl >= CONFIG_TOKEN_MIN && tl <= CONFIG_TOKEN_MAX,
              "a token of the wrong length accepted");
        CHECK(toks[i].name[0] != '\0' &&
                  strlen(toks[i].name) < CONFIG_TOKEN_NAME_MAX,
              "a bad token name accepted");
        CHECK(toks[i].role >= CONFIG_ROLE_READER &&
                  toks[i].role <= CONFIG_ROLE_ADMIN,
              "a token without a role accepted");
        for (size_t k = 0; k < i; k++) {
            CHECK(strcmp(toks[i].name, toks[k].name) != 0 &&
                      strcmp(toks[i].token, toks[k].token) != 0,
                  "a repeated name or token accepted");
        }
    }
}

static void token_file(const uint8_t *data, size_t size, const char *path)
{
    char buf[129], err[256];
    int rv;

    err[0] = '\0';
    rv = config_read_token(path, buf, sizeof(buf), err);
    if (rv != DR_OK) {
        char *text = malloc(size + 1);
        CHECK(text != NULL, "out of memory");
        CHECK(err[0] != '\0', "a refusal without a message");
        memcpy(text, data, size);
        text[size] = '\0';
        /* The first line, trimmed, is what a token would be. */
        text[strcspn(text, "\r\n")] = '\0';
        CHECK(strlen(text) < 8 || strstr(err, text) == NULL,
              "the message quotes the token");
        free(text);
        return;
    }
    CHECK(buf[0] != '\0' && strlen(buf) < sizeof(buf), "bad token accepted");
    for (const char *p = buf; *p != '\0'; p++) {
        CHECK((unsigned char)*p > ' ' && *p != 0x7f,
              "a token with a space or control character accepted");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config c;
    static struct config_problems probs;
    char *text = malloc(size ? size : 1);
    size_t lines = 1;
    int rv;

    CHECK(text != NULL, "out of memory");
    memcpy(text, data, size); /* exactly size bytes: no NUL after them */
    for (size_t i = 0; i < size; i++) {
        lines += data[i] == '\n';
    }
    config_defaults(&c);
    probs.n = 0;
    rv = config_parse(&c, text, size, &probs);
    free(text);
    CHECK(rv == DR_OK || rv == DR_EINVAL, "unexpected return code");
    CHECK((rv == DR_OK) == (probs.n == 0),
          "problems reported but accepted, or refused without one");
    CHECK(probs.n <= CONFIG_PROBLEMS_MAX, "too many problems");
    for (size_t i = 0; i < probs.n; i++) {
        size_t ml = strnlen(probs.items[i].msg, sizeof(probs.items[i].msg));
        CHECK(ml > 0 && ml < sizeof(probs.items[i].msg),
              "a problem without a message");
        CHECK(probs.items[i].line >= 0 && (size_t)probs.items[i].line <= lines,
              "a problem on a line the text does not have");
    }
    if (rv == DR_OK) {
        CHECK(c.n_members <= 64 && c.n_regions <= 64, "too many sections");
    }

    if (size <= 65536 + 16) {
        const char *path = write_tmp(data, size);
        tokens_file(data, size, path);
        token_file(data, size, path);
    }
    return 0;
}
