/* A streaming reader of ustar archives (what pg_basebackup writes): fed
 * bytes in pieces of any size, it calls back for each member's start, its
 * data and its end. Pure: no I/O. */
#ifndef DR_TAR_H
#define DR_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAR_NAME_MAX 256

enum tar_type {
    TAR_FILE,
    TAR_DIR,
    TAR_SYMLINK,
};

struct tar_member
{
    char name[TAR_NAME_MAX]; /* without a trailing slash */
    char link[101];          /* TAR_SYMLINK: the target */
    int type;                /* enum tar_type */
    uint32_t mode;
    uint64_t size;
};

struct tar_cb
{
    /* Each returns 0, or an error code with errmsg (256 bytes) set. */
    int (*begin)(void *ctx, const struct tar_member *m, char *errmsg);
    int (*data)(void *ctx, const void *buf, size_t len, char *errmsg);
    int (*end)(void *ctx, char *errmsg);
};

struct tar_reader
{
    uint8_t hdr[512];
    size_t hdr_fill;
    uint64_t left;   /* data bytes of the current member still to come */
    uint64_t pad;    /* padding bytes after them */
    uint64_t offset; /* bytes consumed so far, for messages */
    int zero_blocks; /* consecutive all-zero headers */
    bool in_member;
    bool done; /* the end-of-archive blocks were seen */
};

void tar_reader_init(struct tar_reader *t);

/* Feed len bytes. Returns 0, DR_EMALFORMED for a bad header (its offset
 * and what is wrong in errmsg), or what a callback returned. Bytes after
 * the end of the archive must be zero. */
int tar_feed(struct tar_reader *t,
             const void *buf,
             size_t len,
             const struct tar_cb *cb,
             void *ctx,
             char *errmsg);

/* After the last byte: DR_EMALFORMED unless the archive ended cleanly. */
int tar_finish(const struct tar_reader *t, char *errmsg);

#endif /* DR_TAR_H */
