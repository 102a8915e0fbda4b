/* hiredis async on libuv: one uv_poll_t per connection, closed when hiredis
 * cleans the connection up. */
#include <stdlib.h>
#include <string.h>

#include "probe/redis_uv.h"

struct redis_uv
{
    uv_poll_t poll;
    redisAsyncContext *ac; /* NULL once hiredis cleaned up */
    int events;            /* UV_READABLE | UV_WRITABLE that hiredis wants */
    struct redis_uv_hooks hooks;
};

static void poll_cb(uv_poll_t *handle, int status, int events);

/* Watch what hiredis wants now (nothing: stop). */
static void arm(struct redis_uv *e)
{
    if (e->ac == NULL) {
        return;
    }
    if (e->events != 0) {
        uv_poll_start(&e->poll, e->events, poll_cb);
    } else {
        uv_poll_stop(&e->poll);
    }
}

static void poll_cb(uv_poll_t *handle, int status, int events)
{
    struct redis_uv *e = handle->data;
    /* libuv reports EPOLLERR (a refused connect, a reset) as a status with
     * no events, and stops the handle: hand hiredis the events it asked for
     * so that it reads or writes, meets the error and reports it. */
    int ev = status < 0 ? e->events : events;

    if (e->ac != NULL && (ev & UV_READABLE)) {
        redisAsyncHandleRead(e->ac);
    }
    if (e->ac != NULL && (ev & UV_WRITABLE)) {
        redisAsyncHandleWrite(e->ac);
    }
    if (status < 0) {
        arm(e); /* libuv stopped the handle; hiredis may still want it */
    }
}

static void add_read(void *privdata)
{
    struct redis_uv *e = privdata;
    e->events |= UV_READABLE;
    arm(e);
}

static void del_read(void *privdata)
{
    struct redis_uv *e = privdata;
    e->events &= ~UV_READABLE;
    arm(e);
}

static void add_write(void *privdata)
{
    struct redis_uv *e = privdata;
    e->events |= UV_WRITABLE;
    arm(e);
}

static void del_write(void *privdata)
{
    struct redis_uv *e = privdata;
    e->events &= ~UV_WRITABLE;
    arm(e);
}

static void closed_cb(uv_handle_t *handle)
{
    struct redis_uv *e = handle->data;
    struct redis_uv_hooks hooks = e->hooks;

    free(e);
    if (hooks.closed != NULL) {
        hooks.closed(hooks.data);
    }
}

static void cleanup(void *privdata)
{
    struct redis_uv *e = privdata;

    if (e->ac == NULL) {
        return; /* hiredis versions differ in how often they call this */
    }
    e->ac->ev.data = NULL;
    e->ac->ev.cleanup = NULL;
    e->ac = NULL;
    uv_poll_stop(&e->poll);
    uv_close((uv_handle_t *)&e->poll, closed_cb);
    if (e->hooks.freed != NULL) {
        e->hooks.freed(e->hooks.data);
    }
}

int redis_uv_attach(redisAsyncContext *ac,
                    uv_loop_t *loop,
                    const struct redis_uv_hooks *hooks)
{
    struct redis_uv *e;
    int rv;

    if (ac->ev.data != NULL) {
        return UV_EBUSY;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return UV_ENOMEM;
    }
    rv = uv_poll_init_socket(loop, &e->poll, ac->c.fd);
    if (rv != 0) {
        free(e);
        return rv;
    }
    e->poll.data = e;
    e->ac = ac;
    e->hooks = *hooks;
    ac->ev.data = e;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return 0;
}
