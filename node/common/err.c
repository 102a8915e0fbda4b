/* Text for project error codes, derived from the table in err.h. */
#include "common/err.h"

const char *dr_strerror(int code)
{
    switch (code) {
#define DR__TEXT(name, value, text, id) \
    case name:                          \
        return text;
        DR_ERRORS(DR__TEXT)
#undef DR__TEXT
    }
    return "unknown error";
}

const char *dr_errcode_name(int code)
{
    switch (code) {
#define DR__ID(name, value, text, id) \
    case name:                        \
        return id;
        DR_ERRORS(DR__ID)
#undef DR__ID
    }
    return "unknown";
}
