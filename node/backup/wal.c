/* PostgreSQL's WAL archive in an object store (see wal.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "backup/wal.h"
#include "common/err.h"
#include "store/store.h"
#include "store/zio.h"

#define WAL_HEADER_LEN 40          /* XLogLongPageHeaderData */
#define WAL_XLP_LONG_HEADER 0x0002 /* xlp_info: the long header follows */
#define WAL_SMALL_MAX (16u << 20)  /* .history and .backup files */
#define WAL_BUF (1u << 20)
#define WAL_MEM_MAX                                        \
    (64u << 20) /* files read whole: hashed and compressed \
                   from one read */

/* n hex digits, in the case of a ('A' or 'a'): WAL names are upper case,
 * SHA-256 digests lower. */
static bool all_hex(const char *s, size_t n, char a)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= a && s[i] <= a + 5))) {
            return false;
        }
    }
    return true;
}

static uint32_t hex32(const char *s)
{
    char buf[9];
    memcpy(buf, s, 8);
    buf[8] = '\0';
    return (uint32_t)strtoul(buf, NULL, 16);
}

int wal_name_parse(const char *name, struct wal_name *out, char *errmsg)
{
    size_t len = strlen(name);

    memset(out, 0, sizeof(*out));
    if (len == 16 && all_hex(name, 8, 'A') &&
        strcmp(name + 8, ".history") == 0) {
        out->kind = WAL_HISTORY;
        out->tli = hex32(name);
        snprintf(out->dir, sizeof(out->dir), "history");
    } else if (len >= 24 && all_hex(name, 24, 'A') &&
               (len == 24 || strcmp(name + 24, ".partial") == 0 ||
                (len == 40 && name[24] == '.' && all_hex(name + 25, 8, 'A') &&
                 strcmp(name + 33, ".backup") == 0))) {
        out->kind = len == 24   ? WAL_SEGMENT
                    : len == 40 ? WAL_BACKUP
                                : WAL_PARTIAL;
        out->tli = hex32(name);
        out->log = hex32(name + 8);
        out->seg = hex32(name + 16);
        memcpy(out->dir, name, 16);
        out->dir[16] = '\0';
    } else {
        snprintf(errmsg, 256,
                 "\"%.80s\" is not the name of a WAL segment, a .partial, "
                 ".backup or .history file",
                 name);
        return DR_EINVAL;
    }
    if (out->tli == 0) {
        snprintf(errmsg, 256, "%.80s: timeline 0 does not exist", name);
        return DR_EINVAL;
    }
    return DR_OK;
}

/* WAL is written in the server's byte order; drnode runs beside it. */
static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

void wal_segment_name(uint32_t tli,
                      uint64_t segno,
                      uint64_t seg_size,
                      char *out)
{
    uint64_t per_log = 0x100000000ull / seg_size;

    snprintf(out, 25, "%08X%08X%08X", tli, (unsigned)(segno / per_log),
             (unsigned)(segno % per_log));
}

/* The number of segment n, of seg_size bytes: its first LSN / seg_size. */
static uint64_t segno_of(const struct wal_name *n, uint64_t seg_size)
{
    return (uint64_t)n->log * (0x100000000ull / seg_size) + n->seg;
}

int wal_check_header(const unsigned char *hdr,
                     size_t hdr_len,
                     uint64_t file_size,
                     const struct wal_name *n,
                     uint64_t sysid,
                     char *errmsg)
{
    uint64_t info, tli, pageaddr, hsysid, seg_size, per_log, want;

    if (hdr_len < WAL_HEADER_LEN) {
        snprintf(errmsg, 256,
                 "%llu bytes: too short for a WAL segment's header",
                 (unsigned long long)hdr_len);
        return DR_ECORRUPT;
    }
    info = le(hdr + 2, 2);
    tli = le(hdr + 4, 4);
    pageaddr = le(hdr + 8, 8);
    hsysid = le(hdr + 24, 8);
    seg_size = le(hdr + 32, 4);
    if ((info & WAL_XLP_LONG_HEADER) == 0) {
        snprintf(errmsg, 256,
                 "no long page header at its start (xlp_info 0x%04llx): not "
                 "a WAL segment",
                 (unsigned long long)info);
        return DR_ECORRUPT;
    }
    if (seg_size < (1u << 20) || seg_size > (1u << 30) ||
        (seg_size & (seg_size - 1)) != 0) {
        snprintf(errmsg, 256,
                 "its header gives a segment size of %llu bytes (a power of "
                 "two from 1 MiB to 1 GiB)",
                 (unsigned long long)seg_size);
        return DR_ECORRUPT;
    }
    if (file_size != seg_size) {
        snprintf(errmsg, 256,
                 "%llu bytes where its header says segments have %llu: a "
                 "torn or truncated segment",
                 (unsigned long long)file_size, (unsigned long long)seg_size);
        return DR_ECORRUPT;
    }
    if (hsysid != sysid) {
        snprintf(errmsg, 256,
                 "written by database system %llu, not %llu (this data "
                 "directory's global/pg_control)",
                 (unsigned long long)hsysid, (unsigned long long)sysid);
        return DR_ECORRUPT;
    }
    /* A new timeline's first segment is a copy of the old one's: its
     * first page may still carry the older timeline. */
    if (tli == 0 || tli > n->tli) {
        snprintf(errmsg, 256, "its header names timeline %llu, its name %u",
                 (unsigned long long)tli, n->tli);
        return DR_ECORRUPT;
    }
    per_log = 0x100000000ull / seg_size;
    want = ((uint64_t)n->log * per_log + n->seg) * seg_size;
    if (n->seg >= per_log || pageaddr != want) {
        snprintf(errmsg, 256,
                 "its header starts at LSN %llX/%llX, its name at "
                 "%X/%llX",
                 (unsigned long long)(pageaddr >> 32),
                 (unsigned long long)(pageaddr & 0xffffffffu), n->log,
                 (unsigned long long)((uint64_t)n->seg * seg_size));
        return DR_ECORRUPT;
    }
    return DR_OK;
}

int wal_read_sysid(const char *pgdata, uint64_t *sysid, char *errmsg)
{
    char path[1100];
    unsigned char b[8];
    ssize_t got;
    int fd;

    snprintf(path, sizeof(path), "%s/global/pg_control",
             pgdata != NULL ? pgdata : ".");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errmsg, 256,
                 "%.160s: %s (PostgreSQL runs archive and restore commands "
                 "in its data directory)",
                 path, strerror(errno));
        return DR_EIO;
    }
    got = read(fd, b, sizeof(b));
    close(fd);
    if (got != (ssize_t)sizeof(b) || le(b, 8) == 0) {
        snprintf(errmsg, 256, "%.160s: no system identifier in it", path);
        return DR_ECORRUPT;
    }
    *sysid = le(b, 8);
    return DR_OK;
}

static void to_hex(const unsigned char *md, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

/* Read fd from offset 0, hashing its first limit bytes (all of it when
 * shorter). */
static int hash_fd(int fd,
                   uint64_t limit,
                   const char *name,
                   unsigned char *buf,
                   char *hex,
                   char *errmsg)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char out[32];
    off_t off = 0;
    ssize_t n = 0;

    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        snprintf(errmsg, 256, "%.80s: SHA-256: out of memory", name);
        return DR_ENOMEM;
    }
    while ((uint64_t)off < limit) {
        uint64_t left = limit - (uint64_t)off;
        n = pread(fd, buf, left < WAL_BUF ? (size_t)left : WAL_BUF, off);
        if (n <= 0) {
            break;
        }
        EVP_DigestUpdate(md, buf, (size_t)n);
        off += n;
    }
    if (n < 0) {
        snprintf(errmsg, 256, "%.80s: read: %s", name, strerror(errno));
        EVP_MD_CTX_free(md);
        return DR_EIO;
    }
    EVP_DigestFinal_ex(md, out, NULL);
    EVP_MD_CTX_free(md);
    to_hex(out, hex);
    return DR_OK;
}

/* The objects archived under name: *key gets the only one's key, and
 * *count how many there are (0, 1, or more: refused by the callers). */
static int find_archived(struct store *s,
                         const char *prefix,
                         char *key,
                         size_t *count,
                         char *errmsg)
{
    struct store_object *objs = NULL;
    size_t n = 0;
    char *next = NULL;
    size_t plen = strlen(prefix);
    int rv = store_list(s, prefix, NULL, &objs, &n, &next, errmsg);

    *count = 0;
    if (rv != 0) {
        return rv;
    }
    for (size_t i = 0; i < n; i++) {
        const char *k = objs[i].key;
        /* NAME-<64 hex>.zst exactly: NAME.partial and the like share the
         * prefix only up to NAME, never the '-'. */
        if (strlen(k) == plen + 64 + 4 && strcmp(k + plen + 64, ".zst") == 0) {
            if (*count == 0) {
                snprintf(key, STORE_KEY_MAX, "%s", k);
            }
            (*count)++;
        }
    }
    store_objects_free(objs, n);
    free(next);
    return DR_OK;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

static int open_store_at(const struct wal_options *o,
                         const char *url,
                         struct store **s,
                         char *errmsg)
{
    struct store_options so;
    memset(&so, 0, sizeof(so));
    so.credentials_file = o->credentials_file;
    so.max_retries = -1;
    return store_open(url, &so, s, errmsg);
}

static int open_store(const struct wal_options *o,
                      struct store **s,
                      char *errmsg)
{
    return open_store_at(o, o->store_url, s, errmsg);
}

static int upload(struct store *s,
                  int fd,
                  const char *name,
                  const char *key,
                  const char *sha,
                  int level,
                  unsigned char *buf,
                  char *errmsg)
{
    struct zio_writer *w = NULL;
    struct zio_stats st;
    char why[256];
    off_t off = 0;
    ssize_t n;
    int rv = zio_writer_open(s, key, level > 0 ? level : 3, &w, why);

    while (rv == 0 && (n = pread(fd, buf, WAL_BUF, off)) != 0) {
        if (n < 0) {
            snprintf(why, sizeof(why), "read: %s", strerror(errno));
            rv = DR_EIO;
            break;
        }
        off += n;
        rv = zio_write(w, buf, (size_t)n, why);
    }
    if (rv != 0) {
        if (w != NULL) {
            zio_writer_abort(w);
        }
        snprintf(errmsg, 256, "%.40s: %.200s", name, why);
        return rv;
    }
    rv = zio_writer_commit(w, &st, why);
    if (rv != 0) {
        snprintf(errmsg, 256, "%.40s: %.200s", name, why);
        return rv;
    }
    if (strcmp(st.raw_sha256, sha) != 0) {
        /* Its name would lie about its contents: take it back. */
        store_delete(s, key, why);
        snprintf(errmsg, 256,
                 "%.40s changed while it was archived (SHA-256 %.16s… then "
                 "%.16s…): not archived",
                 name, sha, st.raw_sha256);
        return DR_ECONFLICT;
    }
    return DR_OK;
}

/* A file read whole: one zstd frame, one put. The bytes compressed are
 * those hashed, so nothing is hashed twice. */
static int upload_mem(struct store *s,
                      const char *name,
                      const char *key,
                      const unsigned char *data,
                      size_t len,
                      int level,
                      char *errmsg)
{
    size_t cap = ZSTD_compressBound(len), zn;
    void *z = malloc(cap);
    char why[256], stored[STORE_SHA256_HEX];
    int rv;

    if (z == NULL) {
        snprintf(errmsg, 256, "%.40s: out of memory", name);
        return DR_ENOMEM;
    }
    zn = ZSTD_compress(z, cap, data, len, level > 0 ? level : 3);
    if (ZSTD_isError(zn)) {
        snprintf(errmsg, 256, "%.40s: zstd: %s", name, ZSTD_getErrorName(zn));
        free(z);
        return DR_EIO;
    }
    rv = store_put_buf(s, key, z, zn, stored, why);
    free(z);
    if (rv != 0) {
        snprintf(errmsg, 256, "%.40s: %.200s", name, why);
    }
    return rv;
}

/* The whole file into *out (malloc'ed), or DR_EIO. */
static int read_whole(int fd,
                      const char *name,
                      size_t len,
                      unsigned char **out,
                      char *errmsg)
{
    unsigned char *b = malloc(len > 0 ? len : 1);
    size_t got = 0;

    *out = NULL;
    if (b == NULL) {
        snprintf(errmsg, 256, "%.40s: out of memory", name);
        return DR_ENOMEM;
    }
    while (got < len) {
        ssize_t n = pread(fd, b + got, len - got, (off_t)got);
        if (n <= 0) {
            snprintf(errmsg, 256, "%.40s: read: %s", name,
                     n < 0 ? strerror(errno) : "shorter than it was");
            free(b);
            return DR_EIO;
        }
        got += (size_t)n;
    }
    *out = b;
    return DR_OK;
}

/* Archive one file (its SHA-256 sha, from fd or whole) into the store s:
 * *here when an identical copy already was there. */
static int push_to(struct store *s,
                   int zstd_level,
                   const char *name,
                   const char *prefix,
                   const char *sha,
                   int fd,
                   const unsigned char *whole,
                   uint64_t size,
                   unsigned char *buf,
                   bool *here,
                   char *errmsg)
{
    char key[STORE_KEY_MAX];
    size_t count;
    int rv;

    *here = false;
    if ((rv = find_archived(s, prefix, key, &count, errmsg)) != 0) {
        return rv;
    }
    if (count > 0) {
        if (count == 1 && strncmp(key + strlen(prefix), sha, 64) == 0) {
            *here = true; /* PostgreSQL retries after a crash */
            return 0;
        }
        snprintf(errmsg, 256,
                 "%.40s is already archived with other contents (SHA-256 "
                 "%.16s…, this file %.16s…): refusing to overwrite it; was "
                 "this store used by another cluster with the same system "
                 "identifier?",
                 name, key + strlen(prefix), sha);
        return DR_ECONFLICT;
    }
    snprintf(key, sizeof(key), "%s%s.zst", prefix, sha);
    return whole != NULL
               ? upload_mem(s, name, key, whole, (size_t)size, zstd_level,
                            errmsg)
               : upload(s, fd, name, key, sha, zstd_level, buf, errmsg);
}

int wal_store_put(struct store *s,
                  uint64_t sysid,
                  const char *name,
                  const unsigned char *data,
                  size_t len,
                  int zstd_level,
                  bool *already,
                  char *errmsg)
{
    struct wal_name wn;
    unsigned char md[32];
    char sha[STORE_SHA256_HEX], prefix[128];
    int rv;

    if ((rv = wal_name_parse(name, &wn, errmsg)) != 0) {
        return rv;
    }
    EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
    to_hex(md, sha);
    snprintf(prefix, sizeof(prefix), "wal/%016llx/%s/%s-",
             (unsigned long long)sysid, wn.dir, name);
    return push_to(s, zstd_level, name, prefix, sha, -1, data, (uint64_t)len,
                   NULL, already, errmsg);
}

/* Streamed partial segments: wal/SYSID/DIR/NAME.stream-LEN-SHA256.zst,
 * LEN the bytes it holds (8 hex digits), SHA256 theirs. */
#define WAL_STREAM_TAG ".stream-"

static void stream_prefix(uint64_t sysid,
                          const char *name,
                          char *out,
                          size_t size)
{
    snprintf(out, size, "wal/%016llx/%.16s/%s" WAL_STREAM_TAG,
             (unsigned long long)sysid, name, name);
}

int wal_stream_put(struct store *s,
                   uint64_t sysid,
                   const char *name,
                   const unsigned char *data,
                   size_t len,
                   int zstd_level,
                   char *key,
                   char *errmsg)
{
    unsigned char md[32];
    char sha[STORE_SHA256_HEX], prefix[128];

    EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
    to_hex(md, sha);
    stream_prefix(sysid, name, prefix, sizeof(prefix));
    snprintf(key, STORE_KEY_MAX, "%s%08llx-%s.zst", prefix,
             (unsigned long long)len, sha);
    return upload_mem(s, name, key, data, len, zstd_level, errmsg);
}

int wal_stream_clear(struct store *s,
                     uint64_t sysid,
                     const char *name,
                     char *errmsg)
{
    struct store_object *objs = NULL;
    size_t n = 0;
    char prefix[128], *next = NULL;
    int rv;

    stream_prefix(sysid, name, prefix, sizeof(prefix));
    rv = store_list(s, prefix, NULL, &objs, &n, &next, errmsg);
    for (size_t i = 0; rv == 0 && i < n; i++) {
        rv = store_delete(s, objs[i].key, errmsg);
    }
    store_objects_free(objs, n);
    free(next);
    return rv;
}

/* The longest streamed partial of name: *key and its length and SHA-256
 * (from the key); *found false when there is none. */
static int find_streamed(struct store *s,
                         uint64_t sysid,
                         const char *name,
                         char *key,
                         uint64_t *len,
                         char *sha,
                         bool *found,
                         char *errmsg)
{
    struct store_object *objs = NULL;
    size_t n = 0, plen;
    char prefix[128], *next = NULL;
    int rv;

    *found = false;
    stream_prefix(sysid, name, prefix, sizeof(prefix));
    plen = strlen(prefix);
    rv = store_list(s, prefix, NULL, &objs, &n, &next, errmsg);
    for (size_t i = 0; rv == 0 && i < n; i++) {
        const char *k = objs[i].key + plen;
        uint64_t l;
        /* LEN-SHA.zst: 8 + 1 + 64 + 4 */
        if (strlen(k) != 77 || !all_hex(k, 8, 'a') || k[8] != '-' ||
            !all_hex(k + 9, 64, 'a') || strcmp(k + 73, ".zst") != 0) {
            continue; /* not ours */
        }
        l = hex32(k);
        if (!*found || l > *len) {
            *found = true;
            *len = l;
            snprintf(key, STORE_KEY_MAX, "%s", objs[i].key);
            memcpy(sha, k + 9, 64);
            sha[64] = '\0';
        }
    }
    store_objects_free(objs, n);
    free(next);
    return rv;
}

int wal_push(const struct wal_options *o,
             const char *path,
             bool *already,
             char *errmsg)
{
    const char *name = base_name(path);
    struct wal_name wn;
    struct store *s = NULL;
    struct stat sb;
    unsigned char *buf = NULL, *whole = NULL;
    char sha[STORE_SHA256_HEX], prefix[128];
    char why[256];
    uint64_t sysid;
    int fd = -1, rv;

    *already = false;
    if ((rv = wal_name_parse(name, &wn, errmsg)) != 0 ||
        (rv = wal_read_sysid(o->pgdata, &sysid, errmsg)) != 0) {
        return rv;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(errmsg, 256, "%.200s: %s", path,
                 fd < 0 ? strerror(errno) : "not a regular file");
        rv = DR_EIO;
        goto out;
    }
    buf = malloc(WAL_BUF);
    if (buf == NULL) {
        snprintf(errmsg, 256, "%.80s: out of memory", name);
        rv = DR_ENOMEM;
        goto out;
    }
    if (wn.kind == WAL_SEGMENT || wn.kind == WAL_PARTIAL) {
        ssize_t got = pread(fd, buf, WAL_HEADER_LEN, 0);
        rv = wal_check_header(buf, got > 0 ? (size_t)got : 0,
                              (uint64_t)sb.st_size, &wn, sysid, why);
        if (rv != 0) {
            snprintf(errmsg, 256, "%.40s: %.200s", name, why);
            goto out;
        }
    } else if ((uint64_t)sb.st_size > WAL_SMALL_MAX) {
        snprintf(errmsg, 256, "%.40s: %llu bytes, more than a %s file has",
                 name, (unsigned long long)sb.st_size,
                 wn.kind == WAL_HISTORY ? "history" : "backup label");
        rv = DR_EINVAL;
        goto out;
    }
    if ((uint64_t)sb.st_size <= WAL_MEM_MAX) {
        unsigned char md[32];
        rv = read_whole(fd, name, (size_t)sb.st_size, &whole, errmsg);
        if (rv != 0) {
            goto out;
        }
        EVP_Digest(whole, (size_t)sb.st_size, md, NULL, EVP_sha256(), NULL);
        to_hex(md, sha);
    } else if ((rv = hash_fd(fd, UINT64_MAX, name, buf, sha, errmsg)) != 0) {
        goto out;
    }
    snprintf(prefix, sizeof(prefix), "wal/%016llx/%s/%s-",
             (unsigned long long)sysid, wn.dir, name);
    /* This region's store first, then each copy: PostgreSQL's retry after
     * a failed copy finds the file where it already is and goes on. */
    *already = true;
    for (size_t i = 0; i <= o->n_copies; i++) {
        const char *url = i == 0 ? o->store_url : o->copies[i - 1].store_url;
        bool here = false;
        char why_copy[256];
        char *e = i == 0 ? errmsg : why_copy;
        rv = open_store_at(o, url, &s, e);
        if (rv == 0) {
            rv = push_to(s, o->zstd_level, name, prefix, sha, fd, whole,
                         (uint64_t)sb.st_size, buf, &here, e);
        }
        store_close(s);
        s = NULL;
        if (rv != 0) {
            if (i > 0) {
                snprintf(errmsg, 256, "copy in %.40s: %.200s",
                         o->copies[i - 1].region, why_copy);
            }
            *already = false;
            goto out;
        }
        *already = *already && here;
    }
out:
    if (fd >= 0) {
        close(fd);
    }
    free(whole);
    free(buf);
    store_close(s);
    return rv;
}

int wal_archived(const struct wal_options *o,
                 uint64_t sysid,
                 const char *name,
                 bool *found,
                 char *errmsg)
{
    struct wal_name wn;
    struct store *s = NULL;
    char prefix[128], key[STORE_KEY_MAX];
    size_t count = 0;
    int rv;

    *found = false;
    if ((rv = wal_name_parse(name, &wn, errmsg)) != 0 ||
        (rv = open_store(o, &s, errmsg)) != 0) {
        return rv;
    }
    snprintf(prefix, sizeof(prefix), "wal/%016llx/%s/%s-",
             (unsigned long long)sysid, wn.dir, name);
    rv = find_archived(s, prefix, key, &count, errmsg);
    *found = rv == 0 && count > 0;
    store_close(s);
    return rv;
}

/* Read the object into fd; *hdr gets the first WAL_HEADER_LEN bytes (for
 * segments) and hex the SHA-256 of all it wrote (zio hashes as it
 * decompresses). */
static int download(struct store *s,
                    const char *key,
                    int fd,
                    unsigned char *buf,
                    unsigned char *hdr,
                    size_t *hdr_len,
                    uint64_t *total,
                    char *hex,
                    char *errmsg)
{
    struct zio_reader *r = NULL;
    struct zio_stats st;
    size_t n;
    int rv;

    *hdr_len = 0;
    *total = 0;
    hex[0] = '\0';
    rv = zio_reader_open(s, key, NULL, &r, errmsg);
    while (rv == 0) {
        rv = zio_read(r, buf, WAL_BUF, &n, errmsg);
        if (rv != 0 || n == 0) {
            break;
        }
        if (*hdr_len < WAL_HEADER_LEN) {
            size_t k = WAL_HEADER_LEN - *hdr_len;
            k = k < n ? k : n;
            memcpy(hdr + *hdr_len, buf, k);
            *hdr_len += k;
        }
        *total += n;
        for (size_t done = 0; done < n;) {
            ssize_t w = write(fd, buf + done, n - done);
            if (w < 0) {
                snprintf(errmsg, 256, "write: %s", strerror(errno));
                rv = DR_EIO;
                break;
            }
            done += (size_t)w;
        }
    }
    if (r != NULL) {
        if (rv == 0) {
            zio_reader_stats(r, &st);
            snprintf(hex, STORE_SHA256_HEX, "%s", st.raw_sha256);
        }
        zio_reader_close(r);
    }
    return rv;
}

/* A streamed partial of a segment is the end of the WAL only while the
 * next segment (of seg_size bytes) is not archived, whole or streamed:
 * DR_ECORRUPT naming the gap when it is, so that recovery never stops
 * short of WAL the archive holds. */
static int later_archived(struct store *s,
                          const char *name,
                          const struct wal_name *wn,
                          uint64_t sysid,
                          uint64_t seg_size,
                          char *errmsg)
{
    char next[32], prefix[128], key[STORE_KEY_MAX], sha[STORE_SHA256_HEX];
    char why[256];
    uint64_t l;
    size_t count = 0;
    bool found = false;
    int rv;

    wal_segment_name(wn->tli, segno_of(wn, seg_size) + 1, seg_size, next);
    snprintf(prefix, sizeof(prefix), "wal/%016llx/%.16s/%s-",
             (unsigned long long)sysid, next, next);
    rv = find_archived(s, prefix, key, &count, why);
    if (rv == 0 && count == 0) {
        rv = find_streamed(s, sysid, next, key, &l, sha, &found, why);
    }
    if (rv != 0) {
        snprintf(errmsg, 256, "%.40s: %.200s", name, why);
        return rv;
    }
    if (count > 0 || found) {
        snprintf(errmsg, 256,
                 "%.32s is missing from the archive while %.24s is there: a "
                 "gap in the WAL; restore to a point before it, or put the "
                 "segment back (another region's copy?)",
                 name, next);
        return DR_ECORRUPT;
    }
    return DR_OK;
}

/* A standby at the end of the archive asks for the segment in progress
 * every wal_retrieve_retry_interval, and PostgreSQL keeps what
 * restore_command gave it as pg_wal/name. When that file already begins
 * with the stream's longest partial (len bytes hashing to sha), PostgreSQL
 * has replayed all of it: serving it again would only rewrite 16 MiB every
 * few seconds. */
static bool served_already(const struct wal_options *o,
                           const char *name,
                           uint64_t len,
                           const char *sha,
                           unsigned char *buf)
{
    char path[1200], got[STORE_SHA256_HEX], why[256];
    struct stat st;
    bool same;
    int fd;

    snprintf(path, sizeof(path), "%s/pg_wal/%s",
             o->pgdata != NULL ? o->pgdata : ".", name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
           (uint64_t)st.st_size > len &&
           hash_fd(fd, len, name, buf, got, why) == 0 && strcmp(got, sha) == 0;
    close(fd);
    return same;
}

/* The segment name that the archive lacks, from the WAL stream's longest
 * partial of it, into the temporary file tmp (fd), the rest zeros as in
 * a segment PostgreSQL has not filled yet: recovery replays what it holds
 * and stops at the zeros. DR_ENOTFOUND when the stream has none, or
 * with *unchanged when PostgreSQL holds it already (served_already). */
static int fetch_streamed(const struct wal_options *o,
                          struct store *s,
                          const char *name,
                          const struct wal_name *wn,
                          uint64_t sysid,
                          int fd,
                          unsigned char *buf,
                          bool *unchanged,
                          char *errmsg)
{
    unsigned char hdr[WAL_HEADER_LEN];
    char key[STORE_KEY_MAX], sha[STORE_SHA256_HEX], got[STORE_SHA256_HEX];
    char why[256];
    uint64_t len = 0, total = 0, seg_size;
    size_t hdr_len;
    bool found;
    int rv = find_streamed(s, sysid, name, key, &len, sha, &found, why);

    if (rv != 0 || !found) {
        snprintf(errmsg, 256, "%.40s: %.200s", name,
                 rv != 0 ? why : "not in the archive");
        return rv != 0 ? rv : DR_ENOTFOUND;
    }
    if (served_already(o, name, len, sha, buf)) {
        *unchanged = true;
        snprintf(errmsg, 256,
                 "%.40s: nothing new (the WAL stream's %llu bytes of it were "
                 "fetched before, PostgreSQL holds them in pg_wal)",
                 name, (unsigned long long)len);
        return DR_ENOTFOUND;
    }
    rv = download(s, key, fd, buf, hdr, &hdr_len, &total, got, why);
    if (rv != 0) {
        snprintf(errmsg, 256, "%.40s (streamed): %.200s", name, why);
        return rv;
    }
    if (strcmp(got, sha) != 0 || total != len) {
        snprintf(errmsg, 256,
                 "%.40s: the streamed part is corrupt: %llu bytes hashing "
                 "to %.16s…, its name says %llu bytes, %.16s…",
                 name, (unsigned long long)total, got, (unsigned long long)len,
                 sha);
        return DR_ECORRUPT;
    }
    seg_size = hdr_len >= WAL_HEADER_LEN ? le(hdr + 32, 4) : 0;
    rv = wal_check_header(hdr, hdr_len, seg_size, wn, sysid, why);
    if (rv == 0 && total >= seg_size) {
        snprintf(why, sizeof(why), "%llu bytes, a whole segment's worth",
                 (unsigned long long)total);
        rv = DR_ECORRUPT;
    }
    if (rv != 0) {
        snprintf(errmsg, 256, "%.40s (streamed): %.200s", name, why);
        return rv;
    }
    if ((rv = later_archived(s, name, wn, sysid, seg_size, errmsg)) != 0) {
        return rv;
    }
    if (ftruncate(fd, (off_t)seg_size) != 0) {
        snprintf(errmsg, 256, "%.40s: %s", name, strerror(errno));
        return DR_EIO;
    }
    fprintf(stderr,
            "drnode wal-fetch: %s is not archived whole yet: the first %llu "
            "bytes come from the WAL stream (its segment in progress)\n",
            name, (unsigned long long)total);
    return DR_OK;
}

/* One archived file into path, checked (see wal_fetch); a segment the
 * archive lacks from the WAL stream when streamed. */
static int fetch_one(const struct wal_options *o,
                     const char *name,
                     const struct wal_name *np,
                     uint64_t sysid,
                     const char *path,
                     bool streamed,
                     char *errmsg)
{
    struct wal_name wn = *np;
    struct store *s = NULL;
    unsigned char *buf = NULL, hdr[WAL_HEADER_LEN];
    char prefix[128], key[STORE_KEY_MAX], tmp[1200];
    char got[STORE_SHA256_HEX], why[256];
    size_t count, hdr_len;
    uint64_t total;
    int fd = -1, rv;

    tmp[0] = '\0';
    if ((rv = open_store(o, &s, errmsg)) != 0) {
        goto out;
    }
    snprintf(prefix, sizeof(prefix), "wal/%016llx/%s/%s-",
             (unsigned long long)sysid, wn.dir, name);
    if ((rv = find_archived(s, prefix, key, &count, why)) != 0) {
        snprintf(errmsg, 256, "%.40s: %.200s", name, why);
        goto out;
    }
    /* None archived: a segment may come from the stream (below). */
    if (count != 1 && !(count == 0 && streamed && wn.kind == WAL_SEGMENT)) {
        if (count == 0) {
            snprintf(errmsg, 256, "%.40s: not in the archive (%.180s)", name,
                     store_url(s));
        } else {
            snprintf(errmsg, 256,
                     "%.40s: %zu archived copies with different contents: "
                     "which one is right is not known",
                     name, count);
        }
        rv = count == 0 ? DR_ENOTFOUND : DR_ECORRUPT;
        goto out;
    }
    buf = malloc(WAL_BUF);
    snprintf(tmp, sizeof(tmp), "%.1000s.drnode-tmp", path);
    fd = buf == NULL
             ? -1
             : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(errmsg, 256, "%.40s: %.160s: %s", name, tmp,
                 buf == NULL ? "out of memory" : strerror(errno));
        rv = DR_EIO;
        tmp[0] = '\0'; /* nothing of ours to remove */
        goto out;
    }
    if (count == 0) {
        bool unchanged = false;
        rv =
            fetch_streamed(o, s, name, &wn, sysid, fd, buf, &unchanged, errmsg);
        if (rv != 0) {
            if (rv == DR_ENOTFOUND && !unchanged) {
                snprintf(errmsg, 256, "%.40s: not in the archive (%.180s)",
                         name, store_url(s));
            }
            goto out;
        }
        goto durable;
    }
    rv = download(s, key, fd, buf, hdr, &hdr_len, &total, got, why);
    if (rv != 0) {
        snprintf(errmsg, 256, "%.40s: %.200s", name, why);
        goto out;
    }
    if (strncmp(key + strlen(prefix), got, 64) != 0) {
        snprintf(errmsg, 256,
                 "%.40s: the archived copy is corrupt: its contents hash to "
                 "%.16s…, its name says %.16s…",
                 name, got, key + strlen(prefix));
        rv = DR_ECORRUPT;
        goto out;
    }
    if ((wn.kind == WAL_SEGMENT || wn.kind == WAL_PARTIAL) &&
        (rv = wal_check_header(hdr, hdr_len, total, &wn, sysid, why)) != 0) {
        snprintf(errmsg, 256, "%.40s: %.200s", name, why);
        goto out;
    }
durable:
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        snprintf(errmsg, 256, "%.40s: %.160s: %s", name, tmp, strerror(errno));
        rv = DR_EIO;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        snprintf(errmsg, 256, "%.40s: rename to %.160s: %s", name, path,
                 strerror(errno));
        rv = DR_EIO;
        goto out;
    }
    tmp[0] = '\0';
out:
    if (fd >= 0) {
        close(fd);
    }
    if (tmp[0] != '\0') {
        unlink(tmp);
    }
    free(buf);
    store_close(s);
    return rv;
}

/* Prefetch: PostgreSQL asks for one segment at a time and replays it before
 * it asks for the next, so each call leaves a detached process fetching the
 * next o->prefetch segments into PGDATA/pg_wal/drnode-prefetch (checked as
 * any fetch, renamed into place only when whole), and later calls take
 * theirs from there with a rename. One prefetcher at a time (a lock file);
 * a failure there only means the foreground fetches that segment itself
 * and reports what is wrong. The spool is emptied when PostgreSQL asks for
 * a segment the archive does not have (the end of recovery). */
#define WAL_SPOOL "pg_wal/drnode-prefetch"

static void spool_path(const struct wal_options *o,
                       const char *name,
                       char *out,
                       size_t size)
{
    snprintf(out, size, "%s/" WAL_SPOOL "%s%s",
             o->pgdata != NULL ? o->pgdata : ".", name[0] != '\0' ? "/" : "",
             name);
}

/* Remove spool entries: every one when below is NULL, else those whose
 * name sorts before below and leftovers of killed prefetchers. */
static void spool_clean(const struct wal_options *o, const char *below)
{
    char dir[1100], path[1400];
    struct dirent *de;
    DIR *d;

    spool_path(o, "", dir, sizeof(dir));
    d = opendir(dir);
    if (d == NULL) {
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue; /* ., .. and the lock */
        }
        if (below == NULL || strcmp(de->d_name, below) < 0 ||
            strstr(de->d_name, ".drnode-tmp") != NULL) {
            snprintf(path, sizeof(path), "%.1100s/%.255s", dir, de->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

/* The segment size from the long header of the file at path; 0 when it
 * cannot be read. */
static uint64_t seg_size_of(const char *path)
{
    unsigned char hdr[WAL_HEADER_LEN];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? pread(fd, hdr, sizeof(hdr), 0) : -1;

    if (fd >= 0) {
        close(fd);
    }
    return got == (ssize_t)sizeof(hdr) ? le(hdr + 32, 4) : 0;
}

static void prefetch_main(const struct wal_options *o,
                          const struct wal_name *wn,
                          const char *name,
                          uint64_t sysid,
                          uint64_t seg_size)
{
    char dir[1100], lock[1200], next[32], path[1200], err[256];
    uint64_t segno = segno_of(wn, seg_size);
    struct stat st;
    int fd;

    spool_path(o, "", dir, sizeof(dir));
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return;
    }
    snprintf(lock, sizeof(lock), "%s/.lock", dir);
    fd = open(lock, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        return; /* another prefetcher runs; fd closes at exit */
    }
    spool_clean(o, name);
    for (int i = 1; i <= o->prefetch; i++) {
        struct wal_name nn;
        wal_segment_name(wn->tli, segno + (uint64_t)i, seg_size, next);
        if (wal_name_parse(next, &nn, err) != 0) {
            break;
        }
        spool_path(o, next, path, sizeof(path));
        if (stat(path, &st) == 0) {
            continue;
        }
        if (fetch_one(o, next, &nn, sysid, path, false, err) != 0) {
            break; /* the end of the archive, or the foreground's to say */
        }
    }
}

/* Fork a detached prefetcher (double fork: PostgreSQL waits for this
 * process only, and nobody is left to reap). */
static void prefetch_start(const struct wal_options *o,
                           const struct wal_name *wn,
                           const char *name,
                           uint64_t sysid,
                           const char *path)
{
    uint64_t seg_size = seg_size_of(path);
    pid_t pid;

    if (seg_size < (1u << 20) || seg_size > (1u << 30)) {
        return;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        return;
    }
    if (pid > 0) {
        waitpid(pid, NULL, 0);
        return;
    }
    setsid();
    if (fork() == 0) {
        prefetch_main(o, wn, name, sysid, seg_size);
    }
    _exit(0);
}

int wal_fetch(const struct wal_options *o,
              const char *name,
              const char *path,
              char *errmsg)
{
    struct wal_name wn;
    char spooled[1200];
    uint64_t sysid;
    int rv;

    if ((rv = wal_name_parse(name, &wn, errmsg)) != 0 ||
        (rv = wal_read_sysid(o->pgdata, &sysid, errmsg)) != 0) {
        return rv;
    }
    if (wn.kind != WAL_SEGMENT || o->prefetch <= 0) {
        return fetch_one(o, name, &wn, sysid, path, true, errmsg);
    }
    spool_path(o, name, spooled, sizeof(spooled));
    rv = rename(spooled, path) == 0
             ? DR_OK
             : fetch_one(o, name, &wn, sysid, path, true, errmsg);
    if (rv == 0) {
        prefetch_start(o, &wn, name, sysid, path);
    } else if (rv == DR_ENOTFOUND) {
        spool_clean(o, NULL);
    }
    return rv;
}

int wal_archive_parse_key(const char *key,
                          uint64_t seg_size,
                          struct wal_archive_file *out)
{
    const char *dir, *file, *tag, *tail;
    char name[48], err[256];
    struct wal_name w;
    size_t nlen;

    memset(out, 0, sizeof(*out));
    /* wal/SYSID/ */
    if (strncmp(key, "wal/", 4) != 0 || strlen(key) < 21 ||
        !all_hex(key + 4, 16, 'a') || key[20] != '/') {
        return DR_EINVAL;
    }
    out->sysid = strtoull(key + 4, NULL, 16);
    dir = key + 21;
    file = strchr(dir, '/');
    if (file == NULL || strchr(file + 1, '/') != NULL) {
        return DR_EINVAL;
    }
    file++;
    /* NAME.stream-LEN-SHA256.zst or NAME-SHA256.zst */
    tag = strstr(file, WAL_STREAM_TAG);
    if (tag != NULL) {
        const char *len = tag + strlen(WAL_STREAM_TAG);
        if (strlen(len) != 8 + 1 + 64 + 4 || !all_hex(len, 8, 'a')) {
            return DR_EINVAL;
        }
        out->kind = WAL_ARCHIVE_STREAMED;
        out->len = hex32(len);
        tail = len + 8;
    } else {
        tail = strrchr(file, '-');
        if (tail == NULL) {
            return DR_EINVAL;
        }
        tag = tail;
    }
    if (strlen(tail) != 1 + 64 + 4 || tail[0] != '-' ||
        !all_hex(tail + 1, 64, 'a') || strcmp(tail + 65, ".zst") != 0) {
        return DR_EINVAL;
    }
    nlen = (size_t)(tag - file);
    if (nlen >= sizeof(name)) {
        return DR_EINVAL;
    }
    memcpy(name, file, nlen);
    name[nlen] = '\0';
    if (wal_name_parse(name, &w, err) != DR_OK ||
        strncmp(dir, w.dir, strlen(w.dir)) != 0 || dir[strlen(w.dir)] != '/') {
        return DR_EINVAL;
    }
    out->tli = w.tli;
    if (w.kind != WAL_HISTORY) {
        out->segno = segno_of(&w, seg_size);
    }
    if (out->kind == WAL_ARCHIVE_STREAMED) {
        return w.kind == WAL_SEGMENT && out->len > 0 && out->len <= seg_size
                   ? DR_OK
                   : DR_EINVAL;
    }
    out->kind = w.kind == WAL_SEGMENT   ? WAL_ARCHIVE_SEGMENT
                : w.kind == WAL_PARTIAL ? WAL_ARCHIVE_PARTIAL
                : w.kind == WAL_HISTORY ? WAL_ARCHIVE_HISTORY
                                        : WAL_ARCHIVE_OTHER;
    return DR_OK;
}

struct expire
{
    uint64_t sysid, seg_size, keep_seg;
    uint64_t *removed;
    struct store *s;
};

static int expire_one(const struct store_object *obj, void *arg, char *errmsg)
{
    struct expire *e = arg;
    struct wal_archive_file f;
    int rv;

    /* A streamed partial counts as its segment; history files stay:
     * timelines need them. */
    if (wal_archive_parse_key(obj->key, e->seg_size, &f) != DR_OK ||
        f.sysid != e->sysid || f.kind == WAL_ARCHIVE_HISTORY ||
        f.segno >= e->keep_seg) {
        return 0; /* not ours, or still needed */
    }
    rv = store_delete(e->s, obj->key, errmsg);
    *e->removed += rv == 0;
    return rv;
}

int wal_expire(const struct wal_options *o,
               uint64_t sysid,
               uint32_t seg_size,
               uint64_t keep_lsn,
               uint64_t *removed,
               char *errmsg)
{
    struct expire e = {sysid, seg_size, 0, removed, NULL};
    char prefix[64];
    int rv;

    *removed = 0;
    if (seg_size == 0 || (seg_size & (seg_size - 1)) != 0) {
        snprintf(errmsg, 256, "WAL segment size %u is not a power of two",
                 (unsigned)seg_size);
        return DR_EINVAL;
    }
    e.keep_seg = keep_lsn / seg_size;
    rv = open_store(o, &e.s, errmsg);
    if (rv != 0) {
        return rv;
    }
    snprintf(prefix, sizeof(prefix), "wal/%016llx/", (unsigned long long)sysid);
    rv = store_list_each(e.s, prefix, expire_one, &e, errmsg);
    store_close(e.s);
    return rv;
}
