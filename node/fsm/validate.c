/* Validators of names, addresses and URLs shared by the FSM, config and API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm/fsm.h"

int fsm_valid_name(const char *what, const char *name, char *errmsg)
{
    size_t len;
    size_t i;

    if (name == NULL || name[0] == '\0') {
        snprintf(errmsg, 256, "%s is empty", what);
        return DR_EINVAL;
    }
    len = strlen(name);
    if (len > FSM_NAME_MAX) {
        snprintf(errmsg, 256, "%s is longer than %d characters", what,
                 FSM_NAME_MAX);
        return DR_EINVAL;
    }
    if (name[0] < 'a' || name[0] > 'z') {
        snprintf(errmsg, 256, "%s \"%.64s\" must start with a letter a-z", what,
                 name);
        return DR_EINVAL;
    }
    for (i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
            snprintf(errmsg, 256, "%s \"%.64s\" may hold only a-z, 0-9 and '-'",
                     what, name);
            return DR_EINVAL;
        }
    }
    return DR_OK;
}

static int valid_port(const char *p)
{
    char *end;
    long v;

    if (*p == '\0' || strlen(p) > 5) {
        return 0;
    }
    for (const char *q = p; *q != '\0'; q++) {
        if (*q < '0' || *q > '9') {
            return 0;
        }
    }
    v = strtol(p, &end, 10);
    return *end == '\0' && v >= 1 && v <= 65535;
}

int fsm_valid_host_port(const char *what, const char *addr, char *errmsg)
{
    const char *colon;
    size_t hostlen;

    if (addr == NULL || addr[0] == '\0') {
        snprintf(errmsg, 256, "%s is empty", what);
        return DR_EINVAL;
    }
    if (strlen(addr) > FSM_ADDR_MAX) {
        snprintf(errmsg, 256, "%s is longer than %d characters", what,
                 FSM_ADDR_MAX);
        return DR_EINVAL;
    }
    colon = strrchr(addr, ':');
    if (colon == NULL) {
        snprintf(errmsg, 256, "%s \"%.64s\" is not host:port", what, addr);
        return DR_EINVAL;
    }
    hostlen = (size_t)(colon - addr);
    if (hostlen == 0) {
        snprintf(errmsg, 256, "%s \"%.64s\" has an empty host", what, addr);
        return DR_EINVAL;
    }
    for (size_t i = 0; i < hostlen; i++) {
        char c = addr[i];
        if (c <= ' ' || c == '/' || c == '?' || c == '#' || c == '@' ||
            (unsigned char)c >= 0x7f) {
            snprintf(errmsg, 256, "%s \"%.64s\" has an invalid host", what,
                     addr);
            return DR_EINVAL;
        }
    }
    if (!valid_port(colon + 1)) {
        snprintf(errmsg, 256, "%s \"%.64s\" needs a port from 1 to 65535", what,
                 addr);
        return DR_EINVAL;
    }
    return DR_OK;
}

/* A host name (RFC 1123 labels) or an IPv4/IPv6 literal. */
int fsm_valid_dns_target(const char *target, char *errmsg)
{
    size_t len;
    size_t label = 0;
    int colons = 0;

    if (target == NULL || target[0] == '\0') {
        snprintf(errmsg, 256, "DNS target is empty");
        return DR_EINVAL;
    }
    len = strlen(target);
    if (len > 253) {
        snprintf(errmsg, 256, "DNS target \"%.32s...\" is longer than 253",
                 target);
        return DR_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if (target[i] == ':') {
            colons++;
        }
    }
    if (colons >= 2) { /* IPv6 literal: hex digits, ':' and '.' */
        for (size_t i = 0; i < len; i++) {
            char c = target[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                  (c >= 'A' && c <= 'F') || c == ':' || c == '.')) {
                snprintf(errmsg, 256, "DNS target \"%.64s\" is not valid",
                         target);
                return DR_EINVAL;
            }
        }
        return DR_OK;
    }
    for (size_t i = 0; i <= len; i++) {
        char c = target[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || target[i - 1] == '-' ||
                target[i - label] == '-') {
                snprintf(errmsg, 256,
                         "DNS target \"%.64s\" has an empty, over-long or "
                         "hyphen-edged label",
                         target);
                return DR_EINVAL;
            }
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-')) {
            snprintf(errmsg, 256,
                     "DNS target \"%.64s\" may hold only letters, digits, "
                     "'-' and '.'",
                     target);
            return DR_EINVAL;
        }
        label++;
    }
    return DR_OK;
}

int fsm_valid_store_url(const char *url, char *errmsg)
{
    size_t len;

    if (url == NULL || url[0] == '\0') {
        return DR_OK; /* no store configured yet */
    }
    len = strlen(url);
    if (len > FSM_ADDR_MAX) {
        snprintf(errmsg, 256, "object store URL is longer than %d characters",
                 FSM_ADDR_MAX);
        return DR_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)url[i] <= ' ' || (unsigned char)url[i] >= 0x7f) {
            snprintf(errmsg, 256,
                     "object store URL \"%.64s\" holds a space or control "
                     "character",
                     url);
            return DR_EINVAL;
        }
    }
    if (strncmp(url, "file://", 7) == 0) {
        if (url[7] != '/') {
            snprintf(errmsg, 256,
                     "object store URL \"%.64s\" needs an absolute path "
                     "(file:///...)",
                     url);
            return DR_EINVAL;
        }
        return DR_OK;
    }
    if (strncmp(url, "s3://", 5) == 0) {
        const char *b = url + 5;
        size_t blen = strcspn(b, "/?");
        if (blen < 3 || blen > 63) {
            snprintf(errmsg, 256,
                     "object store URL \"%.64s\" needs a bucket name of 3 to "
                     "63 characters",
                     url);
            return DR_EINVAL;
        }
        for (size_t i = 0; i < blen; i++) {
            char c = b[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.')) {
                snprintf(errmsg, 256,
                         "object store URL \"%.64s\" has an invalid bucket "
                         "name",
                         url);
                return DR_EINVAL;
            }
        }
        return DR_OK;
    }
    snprintf(errmsg, 256,
             "object store URL \"%.64s\" must start with file:// or s3://",
             url);
    return DR_EINVAL;
}

int fsm_endpoint_parse(const char *url,
                       char *host,
                       unsigned *port,
                       char *errmsg)
{
    static const struct
    {
        const char *scheme;
        unsigned port; /* 0: the URL must give one */
    } schemes[] = {
        {"tcp://", 0},         {"http://", 80},         {"https://", 443},
        {"postgres://", 5432}, {"postgresql://", 5432}, {"redis://", 6379},
    };
    const char *p = NULL, *end, *colon = NULL;
    char h[FSM_HOST_MAX + 1];
    unsigned def = 0;
    size_t hlen;

    if (url == NULL || url[0] == '\0') {
        snprintf(errmsg, 256, "endpoint is empty");
        return DR_EINVAL;
    }
    if (strlen(url) > 512) {
        snprintf(errmsg, 256, "endpoint \"%.32s...\" is longer than 512", url);
        return DR_EINVAL;
    }
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i].scheme);
        if (strncmp(url, schemes[i].scheme, n) == 0) {
            p = url + n;
            def = schemes[i].port;
            break;
        }
    }
    if (p == NULL) {
        snprintf(errmsg, 256,
                 "endpoint \"%.64s\" must start with tcp://, http://, "
                 "https://, postgres://, postgresql:// or redis://",
                 url);
        return DR_EINVAL;
    }
    if (strchr(p, '@') != NULL) {
        snprintf(errmsg, 256,
                 "endpoint \"%.64s\" holds credentials: give only where to "
                 "connect",
                 url);
        return DR_EINVAL;
    }
    end = p + strcspn(p, "/?#");
    if (*p == '[') { /* [IPv6]:port */
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (rb == NULL) {
            snprintf(errmsg, 256, "endpoint \"%.64s\": unclosed '['", url);
            return DR_EINVAL;
        }
        hlen = (size_t)(rb - p - 1);
        if (hlen == 0 || hlen > FSM_HOST_MAX) {
            snprintf(errmsg, 256, "endpoint \"%.64s\": bad host", url);
            return DR_EINVAL;
        }
        memcpy(h, p + 1, hlen);
        h[hlen] = '\0';
        if (rb + 1 < end) {
            if (rb[1] != ':') {
                snprintf(errmsg, 256, "endpoint \"%.64s\": bad host", url);
                return DR_EINVAL;
            }
            colon = rb + 1;
        }
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        hlen = (size_t)((colon != NULL ? colon : end) - p);
        if (hlen == 0 || hlen > FSM_HOST_MAX) {
            snprintf(errmsg, 256, "endpoint \"%.64s\" has no host", url);
            return DR_EINVAL;
        }
        memcpy(h, p, hlen);
        h[hlen] = '\0';
        if (fsm_valid_dns_target(h, errmsg) != DR_OK) {
            snprintf(errmsg, 256, "endpoint \"%.64s\": bad host \"%.64s\"", url,
                     h);
            return DR_EINVAL;
        }
    }
    if (colon != NULL) {
        char *e;
        unsigned long v;
        if (colon + 1 == end) {
            snprintf(errmsg, 256, "endpoint \"%.64s\": empty port", url);
            return DR_EINVAL;
        }
        v = strtoul(colon + 1, &e, 10);
        if (e != end || v == 0 || v > 65535 || colon[1] == '+' ||
            colon[1] == '-') {
            snprintf(errmsg, 256, "endpoint \"%.64s\": port must be 1 to 65535",
                     url);
            return DR_EINVAL;
        }
        def = (unsigned)v;
    } else if (def == 0) {
        snprintf(errmsg, 256, "endpoint \"%.64s\": tcp:// needs a port", url);
        return DR_EINVAL;
    }
    if (host != NULL) {
        memcpy(host, h, hlen + 1);
    }
    if (port != NULL) {
        *port = def;
    }
    return DR_OK;
}
