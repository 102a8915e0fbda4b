/* Protobuf mapping of the circuit breakers and region health (internal to
 * node/codec/). */
#ifndef DR_CODEC_HEALTH_H
#define DR_CODEC_HEALTH_H

#include "dr.pb-c.h"
#include "fsm/fsm.h"

/* Storage for the sub-messages of one encoded health command. */
struct codec__health_scratch
{
    Dr__CmdBreakerEvents events;
    Dr__CmdBreakerTrial trial;
    Dr__CmdBreakerHalfOpen half_open;
    Dr__CmdBreakerReset reset;
    Dr__CmdRegionHealth region;
};

/* Region.health: 2 bits per service. */
uint32_t codec__health_pack(const int *health);
/* false when a service has the invalid value 3 or bits above the last
 * service are set; health is filled either way. */
bool codec__health_unpack(uint32_t bits, int *health);

/* Fill c's kind for a health command; DR_EINVAL when cmd is not one. c
 * borrows from cmd and scratch. */
int codec__health_cmd_to_pb(const struct fsm_cmd *cmd,
                            Dr__Command *c,
                            struct codec__health_scratch *s);
/* Fill cmd from a health kind of c (borrowing c's arrays and strings);
 * returns false when c is not a health command; leaves type 0 when it is
 * malformed. */
bool codec__health_cmd_from_pb(const Dr__Command *c, struct fsm_cmd *cmd);

/* Snapshot part: to_pb fills arrays the caller provides
 * (FSM_PROVIDERS entries each). */
void codec__health_to_pb(const struct fsm *f,
                         Dr__Snapshot *s,
                         Dr__Breaker *breakers,
                         Dr__Breaker **ptrs);
/* Validate and load s's breakers into f. */
int codec__health_from_pb(const Dr__Snapshot *s, struct fsm *f, char *errmsg);

#endif /* DR_CODEC_HEALTH_H */
