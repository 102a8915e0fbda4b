/* Project-wide error codes: positive, so they never collide with libuv's. */
#ifndef DR_ERR_H
#define DR_ERR_H

/* name, value, text, stable identifier used in API errors */
#define DR_ERRORS(X)                                                \
    X(DR_OK, 0, "ok", "ok")                                         \
    X(DR_EINVAL, 1, "invalid argument", "invalid_argument")         \
    X(DR_ENOTFOUND, 2, "not found", "not_found")                    \
    X(DR_EEXIST, 3, "already exists", "already_exists")             \
    X(DR_ECONFLICT, 4, "conflict", "conflict")                      \
    X(DR_ENOMEM, 5, "out of memory", "out_of_memory")               \
    X(DR_EVERSION, 6, "unsupported version", "unsupported_version") \
    X(DR_EMALFORMED, 7, "malformed data", "malformed")              \
    X(DR_ENOTLEADER, 8, "not the leader", "not_leader")             \
    X(DR_EUNAVAILABLE, 9, "unavailable", "unavailable")             \
    X(DR_EIO, 10, "input/output error", "io_error")                 \
    X(DR_ETIMEOUT, 11, "timed out", "timeout")                      \
    X(DR_ESHUTDOWN, 12, "shutting down", "shutting_down")           \
    X(DR_ELIMIT, 13, "limit reached", "limit_reached")              \
    X(DR_EAUTH, 14, "not authorized", "unauthorized")               \
    X(DR_ECORRUPT, 15, "corrupt data", "corrupt")

enum {
#define DR__ENUM(name, value, text, id) name = value,
    DR_ERRORS(DR__ENUM)
#undef DR__ENUM
};

/* Static text for a project error code. */
const char *dr_strerror(int code);

/* Short stable identifier ("invalid_argument", ...) used in API errors. */
const char *dr_errcode_name(int code);

#endif /* DR_ERR_H */
