/* The physical replication slot the WAL stream (backup/wal_stream.c)
 * reads from on the primary, and the PostgreSQL probe watches. */
#ifndef DR_WALSLOT_H
#define DR_WALSLOT_H

#define DR_WAL_STREAM_SLOT "drnode_wal"

#endif /* DR_WALSLOT_H */
