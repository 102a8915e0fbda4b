/* The file:// object store: one file per key under a root directory. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/err.h"
#include "store/internal.h"

/* Temporary files live in ROOT/#tmp-UID, one directory per user that
 * writes (a drnode as root and PostgreSQL's wal-push as postgres share a
 * store; a shared directory would be owned by whichever came first and
 * closed to the other): '#' is not a key character, so no key can name
 * these directories and listings skip them. */
#define FILE_TMPDIR "#tmp-%u"
#define FILE_DIR_MODE 0750
#define FILE_MODE 0640
#define FILE_FLUSH_AFTER (8 << 20) /* bytes between writeback starts */
#define FILE_COPY_CHUNK (8 << 20)  /* bytes per copy_file_range call */
#define FILE_HASH_BUF (1 << 20)

struct file_store
{
    char root[STORE__URL_MAX]; /* no trailing '/' ("" for "/") */
    const char *url;           /* borrowed from struct store */
    /* Run as root in a store whose root directory another user owns (a
     * node beside PostgreSQL's wal-push and wal-fetch, which run as
     * postgres): what root creates is handed to that owner, so that both
     * can read and write every object and directory. */
    bool adopt;
    uid_t uid;
    gid_t gid;
};

struct file_writer
{
    struct file_store *fs;
    int fd;
    off_t written, flushed; /* bytes written; handed to writeback */
    char tmp[PATH_MAX];
    char final[PATH_MAX];
    char key[STORE_KEY_MAX];
};

struct file_reader
{
    int fd;
    char key[STORE_KEY_MAX];
    const char *url;
};

static int errno_code(int e)
{
    return e == ENOMEM ? DR_ENOMEM : DR_EIO;
}

/* fsync a directory so that entries created or renamed in it are durable. */
static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rv = 0;

    if (fd < 0) {
        return -1;
    }
    if (fsync(fd) != 0 && errno != EINVAL) {
        rv = -1;
    }
    close(fd);
    return rv;
}

/* Create every missing directory of path (not the last component unless
 * whole is set), syncing the parent of each directory made, owned as
 * fs->adopt says (fs NULL: by whoever runs). */
static int mkdir_parents(const struct file_store *fs, char *path, int whole)
{
    char *p;
    size_t len = strlen(path);

    for (p = path + 1; p <= path + len; p++) {
        if (*p != '/' && *p != '\0') {
            continue;
        }
        if (*p == '\0' && !whole) {
            break;
        }
        char saved = *p;
        *p = '\0';
        if (mkdir(path, FILE_DIR_MODE) == 0) {
            char *slash = strrchr(path, '/');
            if (fs != NULL && fs->adopt && chown(path, fs->uid, fs->gid) != 0) {
                int e = errno;
                *p = saved;
                errno = e;
                return -1;
            }
            if (slash != NULL && slash != path) {
                *slash = '\0';
                fsync_dir(path);
                *slash = '/';
            } else {
                fsync_dir("/");
            }
        } else if (errno != EEXIST) {
            int e = errno;
            *p = saved;
            errno = e;
            return -1;
        }
        *p = saved;
    }
    return 0;
}

static int file_path(struct file_store *fs,
                     const char *key,
                     char *out,
                     char *errmsg)
{
    int len = snprintf(out, PATH_MAX, "%s/%s", fs->root, key);

    if (len < 0 || len >= PATH_MAX) {
        snprintf(errmsg, 256, "object %.100s: path too long in %.100s", key,
                 fs->url);
        return DR_EINVAL;
    }
    return 0;
}

int store__file_open(const char *path,
                     const char *url,
                     void **impl,
                     char *errmsg)
{
    struct file_store *fs;
    struct stat st;
    size_t len;

    fs = calloc(1, sizeof(*fs));
    if (fs == NULL) {
        snprintf(errmsg, 256, "store %.100s: out of memory", url);
        return DR_ENOMEM;
    }
    fs->url = url;
    snprintf(fs->root, sizeof(fs->root), "%s", path);
    len = strlen(fs->root);
    while (len > 0 && fs->root[len - 1] == '/') {
        fs->root[--len] = '\0';
    }
    if (len > 0 && mkdir_parents(NULL, fs->root, 1) != 0) {
        snprintf(errmsg, 256, "store %.100s: cannot create the directory: %s",
                 url, strerror(errno));
        free(fs);
        return DR_EIO;
    }
    if (stat(len > 0 ? fs->root : "/", &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(errmsg, 256, "store %.100s: not a directory", url);
        free(fs);
        return DR_EINVAL;
    }
    fs->adopt = geteuid() == 0 && st.st_uid != 0;
    fs->uid = st.st_uid;
    fs->gid = st.st_gid;
    *impl = fs;
    return 0;
}

static void file_close(void *impl)
{
    free(impl);
}

static int file_put_begin(void *impl, const char *key, void **out, char *errmsg)
{
    struct file_store *fs = impl;
    struct file_writer *w;
    int rv;

    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        snprintf(errmsg, 256, "object %.100s: out of memory", key);
        return DR_ENOMEM;
    }
    w->fs = fs;
    w->fd = -1;
    snprintf(w->key, sizeof(w->key), "%s", key);
    rv = file_path(fs, key, w->final, errmsg);
    if (rv != 0) {
        goto err_after_alloc;
    }
    snprintf(w->tmp, sizeof(w->tmp), "%s/" FILE_TMPDIR, fs->root,
             (unsigned)geteuid());
    if (mkdir(w->tmp, FILE_DIR_MODE) != 0 && errno != EEXIST) {
        snprintf(errmsg, 256,
                 "object %.100s in %.100s: create the temporary directory: %s",
                 key, fs->url, strerror(errno));
        rv = errno_code(errno);
        goto err_after_alloc;
    }
    snprintf(w->tmp, sizeof(w->tmp), "%s/" FILE_TMPDIR "/put-XXXXXX", fs->root,
             (unsigned)geteuid());
    w->fd = mkostemp(w->tmp, O_CLOEXEC);
    if (w->fd < 0 || (fs->adopt && fchown(w->fd, fs->uid, fs->gid) != 0)) {
        snprintf(errmsg, 256,
                 "object %.100s in %.100s: create a temporary file: %s", key,
                 fs->url, strerror(errno));
        rv = errno_code(errno);
        if (w->fd >= 0) {
            close(w->fd);
            unlink(w->tmp);
            w->fd = -1;
        }
        goto err_after_alloc;
    }
    fchmod(w->fd, FILE_MODE);
    *out = w;
    return 0;

err_after_alloc:
    free(w);
    return rv;
}

static int file_write(void *wp, const void *buf, size_t len, char *errmsg)
{
    struct file_writer *w = wp;
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(w->fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            snprintf(errmsg, 256, "object %.100s in %.100s: write: %s", w->key,
                     w->fs->url, strerror(errno));
            return errno_code(errno);
        }
        p += n;
        len -= (size_t)n;
        w->written += n;
    }
    /* Start writing back what is written so far, without waiting for it:
     * the fsync at the commit then waits for the tail only, not the whole
     * object (the disk works while the caller reads and hashes the next
     * bytes). Advisory: an error here shows again at fsync. */
    if (w->written - w->flushed >= FILE_FLUSH_AFTER) {
        (void)sync_file_range(w->fd, w->flushed, w->written - w->flushed,
                              SYNC_FILE_RANGE_WRITE);
        w->flushed = w->written;
    }
    return 0;
}

static void file_put_abort(void *wp)
{
    struct file_writer *w = wp;

    if (w == NULL) {
        return;
    }
    if (w->fd >= 0) {
        close(w->fd);
        unlink(w->tmp);
    }
    free(w);
}

static int file_put_commit(void *wp, char *errmsg)
{
    struct file_writer *w = wp;
    char dir[PATH_MAX];
    char *slash;
    int attempt, rv;

    if (fsync(w->fd) != 0) {
        snprintf(errmsg, 256, "object %.100s in %.100s: fsync: %s", w->key,
                 w->fs->url, strerror(errno));
        rv = errno_code(errno);
        goto err;
    }
    if (close(w->fd) != 0) {
        w->fd = -1;
        unlink(w->tmp);
        snprintf(errmsg, 256, "object %.100s in %.100s: close: %s", w->key,
                 w->fs->url, strerror(errno));
        rv = DR_EIO;
        goto err;
    }
    w->fd = -1;
    snprintf(dir, sizeof(dir), "%s", w->final);
    slash = strrchr(dir, '/');
    *slash = '\0';
    /* A concurrent delete may prune a directory while the path is made
     * (mkdir of a child, or chown, finds its parent gone) or between mkdir
     * and rename: try again a few times. */
    for (attempt = 0;; attempt++) {
        if (mkdir_parents(w->fs, w->final, 0) != 0) {
            if (errno == ENOENT && attempt < 8) {
                continue;
            }
            snprintf(errmsg, 256,
                     "object %.100s in %.100s: create directories: %s", w->key,
                     w->fs->url, strerror(errno));
            rv = errno_code(errno);
            goto err_unlink;
        }
        if (rename(w->tmp, w->final) == 0) {
            break;
        }
        if (errno == ENOTDIR || errno == EISDIR) {
            snprintf(errmsg, 256,
                     "object %.80s in %.80s: conflicts with another key (a "
                     "file store cannot hold both \"x\" and \"x/y\")",
                     w->key, w->fs->url);
            rv = DR_ECONFLICT;
            goto err_unlink;
        }
        if (errno != ENOENT || attempt >= 8) {
            snprintf(errmsg, 256, "object %.100s in %.100s: rename: %s", w->key,
                     w->fs->url, strerror(errno));
            rv = errno_code(errno);
            goto err_unlink;
        }
    }
    if (fsync_dir(dir[0] != '\0' ? dir : "/") != 0) {
        snprintf(errmsg, 256,
                 "object %.100s in %.100s: fsync the directory: %s", w->key,
                 w->fs->url, strerror(errno));
        free(w);
        return DR_EIO;
    }
    free(w);
    return 0;

err_unlink:
    unlink(w->tmp);
err:
    file_put_abort(w);
    return rv;
}

static int file_get_begin(void *impl, const char *key, void **out, char *errmsg)
{
    struct file_store *fs = impl;
    struct file_reader *r;
    char path[PATH_MAX];
    struct stat st;
    int rv;

    rv = file_path(fs, key, path, errmsg);
    if (rv != 0) {
        return rv;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(errmsg, 256, "object %.100s: out of memory", key);
        return DR_ENOMEM;
    }
    r->url = fs->url;
    snprintf(r->key, sizeof(r->key), "%s", key);
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            snprintf(errmsg, 256, "object %.100s: not found in %.100s", key,
                     fs->url);
            rv = DR_ENOTFOUND;
        } else {
            snprintf(errmsg, 256, "object %.100s in %.100s: open: %s", key,
                     fs->url, strerror(errno));
            rv = errno_code(errno);
        }
        goto err_after_alloc;
    }
    if (fstat(r->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(errmsg, 256, "object %.100s: not found in %.100s", key,
                 fs->url);
        rv = DR_ENOTFOUND;
        goto err_after_open;
    }
    *out = r;
    return 0;

err_after_open:
    close(r->fd);
err_after_alloc:
    free(r);
    return rv;
}

static int file_read(void *rp, void *buf, size_t cap, size_t *n, char *errmsg)
{
    struct file_reader *r = rp;
    ssize_t got;

    do {
        got = read(r->fd, buf, cap);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
        snprintf(errmsg, 256, "object %.100s in %.100s: read: %s", r->key,
                 r->url, strerror(errno));
        return errno_code(errno);
    }
    *n = (size_t)got;
    return 0;
}

static void file_get_end(void *rp)
{
    struct file_reader *r = rp;

    if (r != NULL) {
        close(r->fd);
        free(r);
    }
}

static int file_head(void *impl,
                     const char *key,
                     struct store_object *obj,
                     char *errmsg)
{
    struct file_store *fs = impl;
    char path[PATH_MAX];
    struct stat st;
    int rv;

    rv = file_path(fs, key, path, errmsg);
    if (rv != 0) {
        return rv;
    }
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            snprintf(errmsg, 256, "object %.100s: not found in %.100s", key,
                     fs->url);
            return DR_ENOTFOUND;
        }
        snprintf(errmsg, 256, "object %.100s in %.100s: stat: %s", key, fs->url,
                 strerror(errno));
        return errno_code(errno);
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(errmsg, 256, "object %.100s: not found in %.100s", key,
                 fs->url);
        return DR_ENOTFOUND;
    }
    obj->size = (uint64_t)st.st_size;
    obj->mtime_ms =
        (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    return 0;
}

/* Listing: a depth-first walk that visits entries in key order. A
 * directory "d" holds the keys "d/...", so it sorts as "d/". */

struct walk
{
    struct file_store *fs;
    const char *prefix;
    const char *after; /* NULL: from the start */
    size_t limit;      /* stop after this many objects */
    struct store_object *objs;
    size_t n, cap;
    char *errmsg;
};

struct walk_entry
{
    char name[NAME_MAX + 2]; /* with a trailing '/' for directories */
    int is_dir;
};

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct walk_entry *)a)->name,
                  ((const struct walk_entry *)b)->name);
}

static int name_ok(const char *name)
{
    const char *p;

    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        return 0;
    }
    for (p = name; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Walk the directory holding keys that start with key (key "" or ending in
 * '/'). Returns 0, 1 when the page is full, or a DR_* code. */
static int walk_dir(struct walk *wk, char *key, size_t keylen)
{
    char path[PATH_MAX];
    struct walk_entry *ents = NULL, *grown;
    size_t nents = 0, cap = 0, i, namelen;
    struct dirent *de;
    struct stat st;
    DIR *d;
    int rv = 0;

    snprintf(path, sizeof(path), "%s/%s", wk->fs->root, key);
    d = opendir(path);
    if (d == NULL) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return 0; /* pruned meanwhile */
        }
        snprintf(wk->errmsg, 256, "store %.100s: list %.80s: %s", wk->fs->url,
                 key, strerror(errno));
        return errno_code(errno);
    }
    while ((de = readdir(d)) != NULL) {
        int is_dir;
        if (!name_ok(de->d_name)) {
            continue;
        }
        namelen = strlen(de->d_name);
        if (keylen + namelen + 2 >= STORE_KEY_MAX) {
            continue;
        }
        if (de->d_type == DT_DIR) {
            is_dir = 1;
        } else if (de->d_type == DT_REG) {
            is_dir = 0;
        } else {
            char p[PATH_MAX];
            snprintf(p, sizeof(p), "%s/%s%s", wk->fs->root, key, de->d_name);
            if (lstat(p, &st) != 0 ||
                !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
                continue;
            }
            is_dir = S_ISDIR(st.st_mode);
        }
        if (nents == cap) {
            cap = cap == 0 ? 64 : cap * 2;
            grown = realloc(ents, cap * sizeof(*ents));
            if (grown == NULL) {
                snprintf(wk->errmsg, 256, "store %.100s: list: out of memory",
                         wk->fs->url);
                rv = DR_ENOMEM;
                goto out;
            }
            ents = grown;
        }
        memcpy(ents[nents].name, de->d_name, namelen + 1);
        if (is_dir) {
            ents[nents].name[namelen] = '/';
            ents[nents].name[namelen + 1] = '\0';
        }
        ents[nents].is_dir = is_dir;
        nents++;
    }
    closedir(d);
    d = NULL;
    if (nents > 0) {
        qsort(ents, nents, sizeof(*ents), entry_cmp);
    }
    for (i = 0; i < nents; i++) {
        size_t len = strlen(ents[i].name);
        memcpy(key + keylen, ents[i].name, len + 1);
        if (ents[i].is_dir) {
            /* Every key below starts with key: skip the subtree unless it
             * can hold prefix matches after wk->after. */
            if (!starts_with(key, wk->prefix) &&
                !starts_with(wk->prefix, key)) {
                continue;
            }
            if (wk->after != NULL &&
                strncmp(key, wk->after, keylen + len) < 0) {
                continue;
            }
            rv = walk_dir(wk, key, keylen + len);
            if (rv != 0) {
                goto out;
            }
        } else {
            char p[PATH_MAX];
            if (!starts_with(key, wk->prefix) ||
                (wk->after != NULL && strcmp(key, wk->after) <= 0)) {
                continue;
            }
            snprintf(p, sizeof(p), "%s/%s", wk->fs->root, key);
            if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
                continue; /* deleted meanwhile */
            }
            if (store__objs_push(&wk->objs, &wk->n, &wk->cap, key,
                                 (uint64_t)st.st_size,
                                 (int64_t)st.st_mtim.tv_sec * 1000 +
                                     st.st_mtim.tv_nsec / 1000000) != 0) {
                snprintf(wk->errmsg, 256, "store %.100s: list: out of memory",
                         wk->fs->url);
                rv = DR_ENOMEM;
                goto out;
            }
            if (wk->n >= wk->limit) {
                rv = 1;
                goto out;
            }
        }
    }
out:
    key[keylen] = '\0';
    if (d != NULL) {
        closedir(d);
    }
    free(ents);
    return rv;
}

static int file_list(void *impl,
                     const char *prefix,
                     const char *start_after,
                     size_t page,
                     struct store_object **objs,
                     size_t *n,
                     char **next,
                     char *errmsg)
{
    struct walk wk;
    char key[STORE_KEY_MAX];
    int rv;

    memset(&wk, 0, sizeof(wk));
    wk.fs = impl;
    wk.prefix = prefix;
    wk.after = start_after;
    wk.limit = page + 1;
    wk.errmsg = errmsg;
    key[0] = '\0';
    rv = walk_dir(&wk, key, 0);
    if (rv > 1) {
        store_objects_free(wk.objs, wk.n);
        return rv;
    }
    if (wk.n > page) {
        free(wk.objs[page].key);
        wk.n = page;
        *next = strdup(wk.objs[page - 1].key);
        if (*next == NULL) {
            store_objects_free(wk.objs, wk.n);
            snprintf(errmsg, 256, "store %.100s: list: out of memory",
                     wk.fs->url);
            return DR_ENOMEM;
        }
    }
    *objs = wk.objs;
    *n = wk.n;
    return 0;
}

static int file_delete(void *impl, const char *key, char *errmsg)
{
    struct file_store *fs = impl;
    char path[PATH_MAX];
    char *slash;
    int rv;

    rv = file_path(fs, key, path, errmsg);
    if (rv != 0) {
        return rv;
    }
    if (unlink(path) != 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR) {
            return 0;
        }
        snprintf(errmsg, 256, "object %.100s in %.100s: unlink: %s", key,
                 fs->url, strerror(errno));
        return errno_code(errno);
    }
    slash = strrchr(path, '/');
    *slash = '\0';
    if (fsync_dir(path[0] != '\0' ? path : "/") != 0) {
        snprintf(errmsg, 256,
                 "object %.100s in %.100s: fsync the directory: %s", key,
                 fs->url, strerror(errno));
        return DR_EIO;
    }
    /* Prune directories left empty, up to the root. */
    while (strlen(path) > strlen(fs->root) && rmdir(path) == 0) {
        slash = strrchr(path, '/');
        *slash = '\0';
    }
    return 0;
}

/* Copies between two file stores: the kernel copies (copy_file_range, as
 * cp does: no bytes through user space, a reflink where the file system
 * offers one), while a second thread reads back and hashes what has
 * landed in the destination's temporary file, trailing the copy. So the
 * SHA-256 is of the bytes that will be committed, and a copy that differs
 * from expect is never renamed into place. */

struct trail
{
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd;       /* the destination's temporary file */
    off_t copied; /* bytes in it so far */
    bool done;    /* the copy ended (copied is final) */
    int err;      /* errno of a failed read-back */
    char hex[STORE_SHA256_HEX];
};

static void *trail_hash(void *arg)
{
    struct trail *t = arg;
    EVP_MD_CTX *ctx = store__sha_new();
    char *buf = malloc(FILE_HASH_BUF);
    off_t off = 0;

    if (ctx == NULL || buf == NULL) {
        t->err = ENOMEM;
    }
    while (t->err == 0) {
        off_t ready;
        ssize_t n;
        pthread_mutex_lock(&t->mu);
        while (t->copied == off && !t->done) {
            pthread_cond_wait(&t->cv, &t->mu);
        }
        ready = t->copied;
        pthread_mutex_unlock(&t->mu);
        if (ready == off) {
            break; /* done, all hashed */
        }
        n = pread(
            t->fd, buf,
            ready - off < FILE_HASH_BUF ? (size_t)(ready - off) : FILE_HASH_BUF,
            off);
        if (n <= 0) {
            t->err = n < 0 ? errno : EIO;
            break;
        }
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        off += n;
    }
    if (t->err == 0) {
        store__sha_hex(ctx, t->hex);
    }
    EVP_MD_CTX_free(ctx);
    free(buf);
    return NULL;
}

/* Copy up to len bytes at *in_off of in to the end of w; the kernel's
 * copy_file_range, else read and write (another file system, an old
 * kernel). */
static ssize_t copy_chunk(int in,
                          off_t *in_off,
                          struct file_writer *w,
                          size_t len,
                          char *bounce)
{
    off_t out_off = w->written;
    ssize_t n = copy_file_range(in, in_off, w->fd, &out_off, len, 0);

    if (n >= 0 || (errno != EXDEV && errno != ENOSYS && errno != EINVAL &&
                   errno != EOPNOTSUPP)) {
        return n;
    }
    n = pread(in, bounce, len < FILE_HASH_BUF ? len : FILE_HASH_BUF, *in_off);
    if (n > 0) {
        ssize_t m = pwrite(w->fd, bounce, (size_t)n, w->written);
        if (m != n) {
            return m < 0 ? m : (errno = EIO, -1);
        }
        *in_off += n;
    }
    return n;
}

static int file_can_copy(const void *dst, const void *src)
{
    (void)dst;
    (void)src;
    return 1; /* one machine's file systems */
}

static int file_copy(void *dstp,
                     void *srcp,
                     const char *key,
                     uint64_t size,
                     const char *expect,
                     char *sha256_hex,
                     char *errmsg)
{
    struct file_store *src = srcp, *dst = dstp;
    struct file_writer *w = NULL;
    struct trail t;
    struct stat st;
    pthread_t th;
    char path[PATH_MAX], *bounce = NULL;
    off_t in_off = 0;
    int in, rv;

    sha256_hex[0] = '\0';
    rv = file_path(src, key, path, errmsg);
    if (rv != 0) {
        return rv;
    }
    in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        snprintf(errmsg, 256, "object %.100s: %s in %.100s", key,
                 errno == ENOENT ? "not found" : strerror(errno), src->url);
        return errno == ENOENT ? DR_ENOTFOUND : errno_code(errno);
    }
    if (fstat(in, &st) != 0 || (uint64_t)st.st_size != size) {
        snprintf(errmsg, 256,
                 "object %.100s in %.80s has %lld bytes, the manifest says "
                 "%llu",
                 key, src->url, (long long)st.st_size,
                 (unsigned long long)size);
        close(in);
        return DR_ECORRUPT;
    }
    rv = file_put_begin(dst, key, (void **)&w, errmsg);
    if (rv != 0) {
        close(in);
        return rv;
    }
    memset(&t, 0, sizeof(t));
    t.fd = w->fd;
    pthread_mutex_init(&t.mu, NULL);
    pthread_cond_init(&t.cv, NULL);
    bounce = malloc(FILE_HASH_BUF);
    if (bounce == NULL || pthread_create(&th, NULL, trail_hash, &t) != 0) {
        snprintf(errmsg, 256, "object %.100s: out of memory", key);
        pthread_cond_destroy(&t.cv);
        pthread_mutex_destroy(&t.mu);
        free(bounce);
        close(in);
        file_put_abort(w);
        return DR_ENOMEM;
    }
    while ((uint64_t)w->written < size && rv == 0) {
        uint64_t left = size - (uint64_t)w->written;
        ssize_t n =
            copy_chunk(in, &in_off, w,
                       left < FILE_COPY_CHUNK ? left : FILE_COPY_CHUNK, bounce);
        if (n <= 0) {
            snprintf(errmsg, 256, "object %.100s: copy into %.100s: %s", key,
                     dst->url, n < 0 ? strerror(errno) : "source shrank");
            rv = n < 0 ? errno_code(errno) : DR_ECORRUPT;
            break;
        }
        w->written += n;
        if (w->written - w->flushed >= FILE_FLUSH_AFTER) {
            (void)sync_file_range(w->fd, w->flushed, w->written - w->flushed,
                                  SYNC_FILE_RANGE_WRITE);
            w->flushed = w->written;
        }
        pthread_mutex_lock(&t.mu);
        t.copied = w->written;
        pthread_cond_signal(&t.cv);
        pthread_mutex_unlock(&t.mu);
    }
    pthread_mutex_lock(&t.mu);
    t.done = true;
    pthread_cond_signal(&t.cv);
    pthread_mutex_unlock(&t.mu);
    pthread_join(th, NULL);
    pthread_cond_destroy(&t.cv);
    pthread_mutex_destroy(&t.mu);
    free(bounce);
    close(in);
    if (rv == 0 && t.err != 0) {
        snprintf(errmsg, 256, "object %.100s: read back from %.100s: %s", key,
                 dst->url, strerror(t.err));
        rv = errno_code(t.err);
    }
    if (rv == 0 && strcmp(t.hex, expect) != 0) {
        snprintf(errmsg, 256,
                 "object %.60s: the copy in %.50s has SHA-256 %.16s... "
                 "(%llu bytes), not %.16s...: not committed",
                 key, dst->url, t.hex, (unsigned long long)size, expect);
        rv = DR_ECORRUPT;
    }
    if (rv != 0) {
        file_put_abort(w);
        return rv;
    }
    rv = file_put_commit(w, errmsg); /* frees w */
    if (rv == 0) {
        memcpy(sha256_hex, t.hex, STORE_SHA256_HEX);
    }
    return rv;
}

const struct store__ops store__file_ops = {
    .close = file_close,
    .put_begin = file_put_begin,
    .write = file_write,
    .put_commit = file_put_commit,
    .put_abort = file_put_abort,
    .get_begin = file_get_begin,
    .read = file_read,
    .get_end = file_get_end,
    .head = file_head,
    .list = file_list,
    .del = file_delete,
    .can_copy = file_can_copy,
    .copy = file_copy,
};
