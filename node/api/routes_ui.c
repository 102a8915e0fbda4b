/* The status page and what only it needs:
 *
 *   GET /                 the page (HTML; its script and style under /ui/)
 *   GET /ui/NAME          status.js, status.css
 *   GET /api/dns          where dns.name points now, as each server of
 *                         dns.servers answers this node's last lookup
 *                         (control/dnswatch.c), against the primary
 *                         region's dns_targets
 *
 * The page's files are compiled in (ui_assets.c, generated from
 * node/api/ui/ by the build): no build step, nothing fetched from outside,
 * so it works on an air-gapped network. */
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "control/failover.h"

/* Generated from node/api/ui/ (node/api/ui/embed.cmake). */
struct api_asset
{
    const char *name;
    const unsigned char *data;
    size_t len;
};
extern const struct api_asset api_ui_assets[];
extern const size_t api_ui_n_assets;

static const struct api_asset *asset(const char *name)
{
    for (size_t i = 0; i < api_ui_n_assets; i++) {
        if (strcmp(api_ui_assets[i].name, name) == 0) {
            return &api_ui_assets[i];
        }
    }
    return NULL;
}

static const char *ctype_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot != NULL && strcmp(dot, ".js") == 0) {
        return "text/javascript; charset=utf-8";
    }
    if (dot != NULL && strcmp(dot, ".css") == 0) {
        return "text/css; charset=utf-8";
    }
    return "text/html; charset=utf-8";
}

static void add_header(struct api_call *c, const char *name, const char *v)
{
    if (c->req != NULL) {
        h2o_add_header_by_str(&c->req->pool, &c->req->res.headers, name,
                              strlen(name), 0, NULL, v, strlen(v));
    }
}

static void serve(struct api_call *c, const struct api_asset *a)
{
    /* The page talks only to the cluster's own API addresses, which it
     * learns at run time: no inline script, nothing from elsewhere. */
    add_header(c, "content-security-policy",
               "default-src 'none'; script-src 'self'; style-src 'self'; "
               "img-src 'self' data:; connect-src http: https:; "
               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    add_header(c, "x-content-type-options", "nosniff");
    add_header(c, "cache-control", "no-cache");
    api_reply_text(c, 200, ctype_of(a->name), (const char *)a->data, a->len);
}

static void do_page(struct api_call *c)
{
    serve(c, asset("index.html")); /* compiled in: always there */
}

static bool asset_name_ok(struct api_call *c)
{
    if (asset(c->arg) == NULL) {
        api_reply_error(c, 404, "not_found",
                        "no such file of the status page: %s", c->arg);
        return false;
    }
    return true;
}

static void do_asset(struct api_call *c)
{
    serve(c, asset(c->arg)); /* asset_name_ok checked it */
}

static void view_answers(struct jout *j, const struct dns_lookup_result *r)
{
    jout_key(j, "addresses");
    jout_begin(j, '[');
    for (size_t k = 0; k < r->n_answers; k++) {
        if (r->answers[k].type == DNS_TYPE_A ||
            r->answers[k].type == DNS_TYPE_AAAA) {
            jout_str(j, r->answers[k].text);
        }
    }
    jout_end(j, ']');
    jout_key(j, "cname");
    {
        const char *cname = NULL;
        for (size_t k = 0; k < r->n_answers; k++) {
            if (r->answers[k].type == DNS_TYPE_CNAME) {
                cname = r->answers[k].text;
            }
        }
        jout_str(j, cname);
    }
    jout_key(j, "txt");
    jout_begin(j, '[');
    for (size_t k = 0; k < r->n_answers; k++) {
        if (r->answers[k].type == DNS_TYPE_TXT) {
            jout_str(j, r->answers[k].text);
        }
    }
    jout_end(j, ']');
}

static void do_dns(struct api_call *c)
{
    const struct fsm *st = api_state(c);
    const struct failover *fo = c->api->failover;
    const struct fsm_value *name = fsm_setting(st, "dns.name");
    const struct fsm_value *provider = fsm_setting(st, "dns.provider");
    bool all = fo != NULL && fo->watch_n > 0;
    char want[1024];
    struct jout j;

    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "name");
    jout_str(&j, name != NULL && name->s != NULL && name->s[0] != '\0' ? name->s
                                                                       : NULL);
    jout_key(&j, "provider");
    jout_str(&j, provider != NULL ? provider->s : NULL);
    jout_key(&j, "node");
    jout_uint(&j, c->api->cfg->id);
    jout_key(&j, "primary_region");
    jout_str(&j, st->site.primary_region);
    jout_key(&j, "epoch");
    jout_uint(&j, st->site.epoch);
    jout_key(&j, "checked_ms");
    jout_uint(&j, fo != NULL ? fo->watch_at_ms : 0);
    jout_key(&j, "error");
    jout_str(&j, fo == NULL                   ? "this node runs no DNS watch"
                 : fo->watch_error[0] != '\0' ? fo->watch_error
                                              : NULL);
    jout_key(&j, "servers");
    jout_begin(&j, '[');
    for (size_t i = 0; fo != NULL && i < fo->watch_n; i++) {
        const struct dns_lookup_result *r = &fo->watch_last[i];
        bool ok = failover_dns_matches(fo, st, i, want, sizeof(want));
        all = all && ok;
        jout_begin(&j, '{');
        jout_key(&j, "server");
        jout_str(&j, r->server);
        jout_key(&j, "error");
        jout_str(&j, r->error[0] != '\0' ? r->error : NULL);
        jout_key(&j, "nxdomain");
        jout_bool(&j, r->error[0] == '\0' && r->rcode == DNS_RCODE_NXDOMAIN);
        jout_key(&j, "ms");
        jout_uint(&j, r->ms);
        view_answers(&j, r);
        jout_key(&j, "matches_primary");
        jout_bool(&j, ok);
        jout_end(&j, '}');
    }
    jout_end(&j, ']');
    jout_key(&j, "expected");
    jout_begin(&j, '[');
    {
        const struct fsm_region *r =
            st->site.primary_region != NULL
                ? fsm_region_get(st, st->site.primary_region)
                : NULL;
        for (size_t k = 0; r != NULL && k < r->n_dns_targets; k++) {
            jout_str(&j, r->dns_targets[k]);
        }
    }
    jout_end(&j, ']');
    jout_key(&j, "matches_primary");
    jout_bool(&j, all);
    jout_end(&j, '}');
    api_reply_jout(c, 200, &j);
}

static const struct api_route_def routes[] = {
    {"GET", "/", NULL, ROUTE_UI, API_DIRECT, API_ROLE_OPEN, 0, do_page, NULL},
    {"GET", "/ui/", NULL, ROUTE_UI, API_DIRECT, API_ROLE_OPEN, 0, do_asset,
     asset_name_ok},
    {"GET", "/api/dns", NULL, ROUTE_DNS, API_DIRECT, API_ROLE_READER, 0, do_dns,
     NULL},
};

const struct api_route_table api_routes_ui = API_ROUTE_TABLE(routes);
