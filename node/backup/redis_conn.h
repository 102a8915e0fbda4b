/* Blocking Redis connections for the backup worker (hiredis 0.14): connect
 * with a timeout, AUTH from a file, SELECT, and hiredis errors translated
 * once into DR_* codes and "redis HOST:PORT: WHAT: detail" messages. Only
 * for job workers, never for drnode's loop thread. */
#ifndef DR_REDIS_CONN_H
#define DR_REDIS_CONN_H

#include <hiredis/hiredis.h>
#include <stdint.h>

#define RCONN_DEFAULT_TIMEOUT_MS 30000
#define RCONN_CONNECT_TIMEOUT_MS 5000

struct rconn
{
    redisContext *c;
    char addr[80];   /* "HOST:PORT", for messages */
    long timeout_ms; /* per reply */
    /* what rconn_reopen needs (borrowed) */
    const char *password_file;
    unsigned db;
};

/* Connect to addr ("IPv4:PORT" or "[IPv6]:PORT"; no host names, so no
 * blocking DNS), AUTH with the password read from password_file (NULL: no
 * AUTH; the file must not be readable by group or others; the password is
 * never put in a message), and SELECT db. All strings are borrowed. Errors:
 * DR_EINVAL (address, file), DR_EUNAVAILABLE (refused, reset), DR_ETIMEOUT,
 * DR_EAUTH (password refused or required). On error rc holds nothing. */
int rconn_open(struct rconn *rc,
               const char *addr,
               const char *password_file,
               unsigned db,
               long timeout_ms,
               char *errmsg);
void rconn_close(struct rconn *rc);
/* Close and open again as rconn_open did (the same address, password file,
 * database and timeout): after a SYNC, for commands again. */
int rconn_reopen(struct rconn *rc, char *errmsg);

/* Queue one command (argv style; lengths in lens) for the pipeline. */
int rconn_append(struct rconn *rc,
                 int argc,
                 const char **argv,
                 const size_t *lens,
                 const char *what,
                 char *errmsg);

/* Send every queued command now, without waiting for replies. */
int rconn_flush(struct rconn *rc, const char *what, char *errmsg);

/* Next reply of the pipeline into *reply (caller frees with
 * freeReplyObject). A connection failure is DR_EUNAVAILABLE or
 * DR_ETIMEOUT; an error reply is returned as a reply, not as a failure. */
int rconn_reply(struct rconn *rc,
                redisReply **reply,
                const char *what,
                char *errmsg);

/* One command and its reply; an error reply becomes a failure (DR_EAUTH
 * for NOAUTH/WRONGPASS, DR_EIO otherwise) naming what. */
int rconn_command(struct rconn *rc,
                  redisReply **reply,
                  const char *what,
                  char *errmsg,
                  int argc,
                  const char **argv,
                  const size_t *lens);

/* The error code and message for an error reply to what. */
int rconn_reply_error(struct rconn *rc,
                      const redisReply *r,
                      const char *what,
                      char *errmsg);

/* "redis_version" from INFO server into buf (cap bytes). */
int rconn_server_version(struct rconn *rc, char *buf, size_t cap, char *errmsg);

/* DBSIZE of the selected database. */
int rconn_dbsize(struct rconn *rc, long long *n, char *errmsg);

/* A full synchronisation started as a replica would, for the RDB only:
 * REPLCONF capa eof (the server may stream it without touching its
 * disk), REPLCONF rdb-only 1 (7.0+: no replication stream after it;
 * older servers' refusal is ignored), SYNC, then the reply's header.
 * Diskless transfers end with the 40-byte mark; others are len bytes.
 * A server that refuses (an error reply: renamed or unknown command, ACL,
 * a managed service) sets *refused and names why in errmsg. */
#define RCONN_EOF_MARK 40
struct rconn_sync
{
    int diskless;
    uint64_t len; /* !diskless */
    uint8_t mark[RCONN_EOF_MARK];
};
int rconn_sync_start(struct rconn *rc,
                     struct rconn_sync *s,
                     int *refused,
                     char *errmsg);

/* Up to cap bytes of the raw stream that follows (*got == 0: the server
 * closed the connection), or an error: DR_ETIMEOUT, DR_EUNAVAILABLE. */
int rconn_read_raw(struct rconn *rc,
                   uint8_t *buf,
                   size_t cap,
                   size_t *got,
                   const char *what,
                   char *errmsg);

#endif /* DR_REDIS_CONN_H */
