/* Text for project error codes. */
#include "common/err.h"

const char *dr_strerror(int code)
{
    switch (code) {
#define DR__TEXT(name, value, text) \
    case name:                      \
        return text;
        DR_ERRORS(DR__TEXT)
#undef DR__TEXT
    }
    return "unknown error";
}

const char *dr_errcode_name(int code)
{
    switch (code) {
        case DR_OK: return "ok";
        case DR_EINVAL: return "invalid_argument";
        case DR_ENOTFOUND: return "not_found";
        case DR_EEXIST: return "already_exists";
        case DR_ECONFLICT: return "conflict";
        case DR_ENOMEM: return "out_of_memory";
        case DR_EVERSION: return "unsupported_version";
        case DR_EMALFORMED: return "malformed";
        case DR_ENOTLEADER: return "not_leader";
        case DR_EUNAVAILABLE: return "unavailable";
        case DR_EIO: return "io_error";
        case DR_ETIMEOUT: return "timeout";
        case DR_ESHUTDOWN: return "shutting_down";
        case DR_ELIMIT: return "limit_reached";
        case DR_EAUTH: return "unauthorized";
        case DR_ECORRUPT: return "corrupt";
    }
    return "unknown";
}
