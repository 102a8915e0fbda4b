/* Protobuf encoding of commands, log entries and snapshots (the only module
 * that sees protobuf-c). */
#ifndef DR_CODEC_H
#define DR_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "fsm/fsm.h"

/* Allocator for buffers handed to another owner (raft_malloc for raft). */
typedef void *(*codec_alloc_fn)(size_t size);

/* Encode one command into a malloc'd buffer (*out, *len). */
int codec_cmd_encode(const struct fsm_cmd *cmd, uint8_t **out, size_t *len);

/* Assemble a log entry from already encoded commands. The buffer comes from
 * alloc and is transferred to the caller. */
struct codec_piece
{
    const uint8_t *base;
    size_t len;
};
int codec_entry_assemble(uint32_t version,
                         uint64_t time_ms,
                         const struct codec_piece *cmds,
                         size_t n,
                         codec_alloc_fn alloc,
                         void **out,
                         size_t *len);

/* A decoded entry: e's commands borrow memory owned by this object. */
struct codec_entry
{
    struct fsm_entry e;
    void *priv;
};

/* Decode an entry. A command whose payload is missing or unknown decodes as
 * type 0, which the FSM rejects. Returns DR_EMALFORMED when the bytes are not
 * an entry at all. */
int codec_entry_decode(const uint8_t *buf,
                       size_t len,
                       struct codec_entry **out);
void codec_entry_free(struct codec_entry *ce);

/* Encode the whole state into a buffer from alloc. */
int codec_snapshot_encode(const struct fsm *f,
                          codec_alloc_fn alloc,
                          void **out,
                          size_t *len);

/* Decode and validate a snapshot into out (initialized here; on error out is
 * left empty and errmsg, 256 bytes, says what is wrong). */
int codec_snapshot_decode(const uint8_t *buf,
                          size_t len,
                          struct fsm *out,
                          char *errmsg);

#endif /* DR_CODEC_H */
