/* Our own libuv adapter for hiredis 0.14's async API. Debian's
 * adapters/libuv.h ignores a poll error, so a connect to a Redis that is
 * down never calls back: here an error wakes hiredis up for the events it
 * asked for, and hiredis finds the error itself. */
#ifndef DR_REDIS_UV_H
#define DR_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

/* What the adapter tells its owner; both run on the loop, once each. */
struct redis_uv_hooks
{
    void *data;
    /* hiredis is freeing the context (its cleanup hook): stop using it. */
    void (*freed)(void *data);
    /* The adapter's poll handle is closed and its memory freed. */
    void (*closed)(void *data);
};

/* Drive ac (just connected with redisAsyncConnect, no command sent yet) from
 * loop with a uv_poll_t on its socket. hooks is copied. Returns 0, or a
 * libuv error code (UV_ENOMEM, or uv_poll_init's) when nothing was attached:
 * the caller still owns ac and frees it with redisAsyncFree. Once attached,
 * the context is freed by hiredis (redisAsyncFree, or on an error) and the
 * hooks then run: freed at once, closed once the poll handle is closed. */
int redis_uv_attach(redisAsyncContext *ac,
                    uv_loop_t *loop,
                    const struct redis_uv_hooks *hooks);

#endif /* DR_REDIS_UV_H */
