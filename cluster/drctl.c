/* drctl: command-line client of a drnode cluster; entry point and dispatch. */
#include "drctl.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define DRCTL_TIMEOUT_DEFAULT_MS 10000

static const char drctl_usage_head[] =
    "Usage: drctl [GLOBAL OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Global options (anywhere before \"--\"):\n"
    "  --endpoints URL,...  API endpoints, http(s)://host:port or host:port\n"
    "                       (default: $DRCTL_ENDPOINTS)\n"
    "  --token-file FILE    file holding the bearer token used for writes\n"
    "                       (default: $DRCTL_TOKEN_FILE)\n"
    "  --cacert FILE        CA that signed the nodes' certificates; host:port\n"
    "                       endpoints then mean https (default: "
    "$DRCTL_CACERT)\n"
    "  --cert FILE, --key FILE\n"
    "                       client certificate and key, for nodes with\n"
    "                       [tls] client_ca (default: $DRCTL_CERT, "
    "$DRCTL_KEY)\n"
    "  --json               print the API's JSON instead of tables\n"
    "  --timeout SECONDS    bound of each request, retries included (default "
    "10)\n"
    "  --endpoint-timeout SECONDS\n"
    "                       bound of one endpoint's answer while others "
    "remain\n"
    "                       (default 2): a frozen node is passed over\n"
    "\n"
    "Commands:\n";

static const char drctl_usage_tail[] =
    "\n"
    "Exit status: 0 success, 1 the operation failed, 2 bad usage (nothing "
    "was sent).\n"
    "See docs/cli.md for details.\n";

static const struct drctl_command drctl_commands[] = {
    {"status", drctl_cmd_status,
     "  status\n"
     "      Raft state, primary region and members as seen by one node.\n"},
    {"version", drctl_cmd_version,
     "  version\n"
     "      drctl's version, and each member's drnode and libraft versions "
     "(members\n"
     "      that do not answer are named; exit 1 then).\n"},
    {"members", drctl_cmd_members,
     "  members list\n"
     "      List raft members.\n"
     "  members add --id N --region R --raft-address HOST:PORT --api-address "
     "HOST:PORT\n"
     "      Add a started node (with join = true) as a voter.\n"
     "  members remove ID\n"
     "      Remove a member from the raft configuration.\n"},
    {"leader", drctl_cmd_leader,
     "  leader transfer [--to ID]\n"
     "      Hand leadership to member ID, or to any other voter.\n"},
    {"regions", drctl_cmd_regions,
     "  regions list\n"
     "      List regions with priority, health and targets.\n"
     "  regions add NAME [--priority N] [--dns-targets A,B] [--object-store "
     "URL]\n"
     "              [--endpoints URL,URL]\n"
     "      Create a region.\n"
     "  regions update NAME [--priority N] [--dns-targets A,B] [--object-store "
     "URL]\n"
     "                 [--endpoints URL,URL]\n"
     "      Change the given fields of a region. --endpoints: its public\n"
     "      endpoints (tcp://HOST:PORT, http(s)://, postgres://, redis://) "
     "the\n"
     "      other regions probe before a silent region counts as lost.\n"
     "  regions remove NAME\n"
     "      Delete a region (not the primary, nor one with members).\n"},
    {"site", drctl_cmd_site,
     "  site show\n"
     "      Primary region, epoch and site state.\n"
     "  site set-primary REGION [--reason TEXT] [--expected-epoch N]\n"
     "      Make REGION primary; with --expected-epoch only if the epoch is "
     "still N.\n"},
    {"settings", drctl_cmd_settings,
     "  settings get [KEY]\n"
     "      Show all settings, or one.\n"
     "  settings set KEY VALUE\n"
     "      Change a setting; VALUE is parsed as the setting's type "
     "(int, bool, string).\n"},
    {"backups", drctl_cmd_backups,
     "  backups list\n"
     "      The catalog, newest first.\n"
     "  backups show ID\n"
     "      One backup: sizes, manifest, verification, and its copies per "
     "region.\n"
     "  backups run --kind pg|redis|pg_base [--region R] [--wait S] "
     "[--no-wait]\n"
     "      Take a backup now (in the primary region by default) and wait "
     "for it.\n"
     "      pg_base: a physical base backup, for restore --pitr.\n"
     "  backups verify ID [--region R] [--restore-to CONNINFO|HOST:PORT]\n"
     "          [--credentials FILE]\n"
     "      Check every object's SHA-256 in region R's copy (default: the "
     "copy\n"
     "      this node's region restores from); with --restore-to, restore "
     "into\n"
     "      that scratch database too and compare contents with the "
     "manifest.\n"
     "  backups delete ID\n"
     "      Mark a backup deleted; a job removes its objects, then its entry.\n"
     "  backups jobs\n"
     "      Backup, delete and cleanup jobs, newest first.\n"},
    {"restore", drctl_cmd_restore,
     "  restore --backup ID|latest [--pg CONNINFO] [--redis HOST:PORT] "
     "[--clean]\n"
     "          [--redis-rdb-file PATH] [--region R] [--credentials FILE]\n"
     "      Restore a backup (latest: the newest of each kind asked for) into\n"
     "      the given targets; every object is checked before anything is "
     "written;\n"
     "      a non-empty target is refused without --clean. Reads region R's\n"
     "      verified copy (default: this node's region), else the origin's.\n"
     "      --redis-rdb-file writes the Redis backup as an RDB file for a\n"
     "      stopped server to start on (faster than RESTORE into a running\n"
     "      one); an existing file is replaced only with --clean.\n"
     "  restore --pitr --target-time TIME|--target-lsn LSN|--target "
     "latest|--standby\n"
     "          --pgdata DIR [--backup ID] [--region R] [--start --port P]\n"
     "          [--wait S] [--wal-store URL|--wal-config FILE] "
     "[--keep-archiving]\n"
     "          [--drnode PATH] [--credentials FILE]\n"
     "      Point-in-time restore: the newest base backup that ends before "
     "the\n"
     "      target, unpacked into the empty DIR and checked, with recovery "
     "set\n"
     "      to replay the WAL archive (drnode wal-fetch) to the target and\n"
     "      promote. A TIME needs a zone (2026-12-06T03:14:00Z); a target "
     "outside\n"
     "      the window (oldest base backup to now), or after the newest file\n"
     "      of the WAL archive, is refused. --start runs\n"
     "      PostgreSQL there on port P and waits until it has promoted.\n"
     "      The WAL archive: the backup's origin region's store by default.\n"
     "      The server does not archive unless --keep-archiving. --standby:\n"
     "      a standby (standby.signal) that keeps replaying the archive as "
     "it\n"
     "      grows, read-only, until promoted.\n"},
    {"failover", drctl_cmd_failover,
     "  failover status\n"
     "      The current or last failover runbook: steps with times, "
     "RTO/RPO, error.\n"
     "  failover --to REGION [--force] [--reason TEXT]\n"
     "      Fail over to REGION now (--force: even if it is degraded, and "
     "without\n"
     "      waiting for the old primary's fence deadline).\n"
     "  failover resume | abort\n"
     "      Go on with a blocked runbook, or call it off.\n"},
    {"switchover", drctl_cmd_switchover,
     "  switchover --to REGION [--force] [--reason TEXT]\n"
     "      Planned move of the primary to REGION: fence the primary (every "
     "node must\n"
     "      confirm its fence hook), take final backups, wait until REGION "
     "verified\n"
     "      their copies, then restore, check, DNS: RPO 0. --force: REGION "
     "may be\n"
     "      degraded.\n"},
    {"failback", drctl_cmd_failback,
     "  failback\n"
     "      Switch over back to the region the last completed failover left "
     "(the\n"
     "      current primary is fenced and backed up a last time: RPO 0).\n"},
    {"replication", drctl_cmd_replication,
     "  replication status\n"
     "      Per region: copies pending, running, failed and verified, bytes\n"
     "      copied, throughput, and lag (age of the oldest backup it "
     "lacks).\n"},
    {"jobs", drctl_cmd_jobs,
     "  jobs list\n"
     "      Same as backups jobs.\n"},
    {"wal", drctl_cmd_wal,
     "  wal status [--region R|--store URL] [--credentials FILE] "
     "[--segment-size BYTES]\n"
     "      What region R's WAL archive holds (default: this node's region),\n"
     "      read from its store: per timeline the runs of whole segments with\n"
     "      their LSNs, the streamed partial past the newest, and every gap,\n"
     "      where a point-in-time restore would stop (exit 1 when there is\n"
     "      one). --segment-size: the server's WAL segment size (16 MiB).\n"
     "  wal catalog\n"
     "      The cluster's record of every region's archive, from the last\n"
     "      scan of each (every wal.scan_interval_s): its WAL ranges, newest\n"
     "      file and gaps, without reading a store.\n"},
    {"health", drctl_cmd_health,
     "  health [--region R]\n"
     "      Services, breakers and coordinator as /api/health shows them; "
     "exit 1\n"
     "      when unhealthy (database down, or no leader).\n"},
    {"breakers", drctl_cmd_breakers,
     "  breakers list\n"
     "      Circuit breakers of the LLM providers, fallback chain, queue "
     "mode.\n"
     "  breakers reset [PROVIDER]\n"
     "      Close one breaker, or all (POST "
     "/api/admin/circuit-breakers/reset).\n"
     "  breakers route\n"
     "      The provider a request should use now (GET /api/llm/route).\n"},
    {"drill", drctl_cmd_drill,
     "  drill restore [--region R] [--wait S] [--no-wait]\n"
     "      Restore the newest backups into scratch databases in R (default:\n"
     "      drill.region, else the DR region), check them against their\n"
     "      manifests, drop them; exit 1 when the drill fails.\n"
     "  drill failover [--to R] [--wait S] [--no-wait]\n"
     "      Practise the failover runbook in R (default: the region a "
     "failover\n"
     "      would pick) without touching production: restore R's verified "
     "copies\n"
     "      into scratch databases, check them, publish R's dns_targets "
     "under\n"
     "      failover.practice_name, confirm the answer, remove it; RTO and "
     "RPO.\n"
     "  drill list\n"
     "      Past drills with RTO and RPO, newest first.\n"
     "  drill show ID\n"
     "      One drill, with the worker's report.\n"},
    {"history", drctl_cmd_history,
     "  history\n"
     "      Audit log of changes, oldest first.\n"},
    {"local", drctl_cmd_local,
     "  local up --dir DIR [--regions A,B,C] [--nodes-per-region N] [--drnode "
     "PATH]\n"
     "           [--store file|s3] [--no-services] [--no-standbys]\n"
     "           [--probe-interval-ms N] [--tls]\n"
     "      Configure and start a cluster on loopback in DIR (default regions\n"
     "      eu-west,us-east,ap-south, one node each); restart it if DIR holds "
     "one.\n"
     "      Each region gets a PostgreSQL and a Redis (unless --no-services) "
     "and\n"
     "      a file store, or a bucket of a local S3 endpoint with --store s3.\n"
     "      Every region's PostgreSQL but the first's becomes a standby that\n"
     "      replays its own store's WAL copies, from the first base backup\n"
     "      (unless --no-standbys); the failover promotes it.\n"
     "      Writes DIR/env with DRCTL_ENDPOINTS and DRCTL_TOKEN_FILE, and\n"
     "      DIR/services.json. --probe-interval-ms: the nodes' [probes]\n"
     "      interval_ms (how soon a lost region's endpoints are noticed).\n"
     "      --tls: a CA and certificates in DIR/tls; the nodes serve HTTPS "
     "only\n"
     "      and ask every client for a certificate (DIR/env names drctl's).\n"
     "  local down --dir DIR\n"
     "      Stop every node and service of the local cluster (SIGTERM, then "
     "SIGKILL).\n"
     "  local status --dir DIR\n"
     "      Which local nodes and services run.\n"
     "  local kill --dir DIR NODE | --region R\n"
     "      SIGKILL node NODE; with --region, every node of R and then its\n"
     "      PostgreSQL and Redis (the data center is gone).\n"
     "  local start --dir DIR NODE | --region R [--drnode PATH]\n"
     "      Start node NODE again with its existing config; with --region,\n"
     "      R's PostgreSQL and Redis and then its nodes.\n"},
    {"certs", drctl_cmd_certs,
     "  certs init --dir D [--days N] [--name CN]\n"
     "      Create a cluster CA: D/ca.crt and D/ca.key (ECDSA P-256, mode "
     "0600).\n"
     "  certs issue --dir D --id N --region R --ip A[,B] [--dns N[,M]]\n"
     "              [--days N] [--out NAME]\n"
     "      A node certificate signed by D's CA (server and client use; "
     "URI\n"
     "      urn:drnode:member:N): D/node-N.crt and D/node-N.key.\n"
     "  certs issue --dir D --client NAME [--days N] [--out NAME]\n"
     "      A client certificate (drctl, monitoring): D/client-NAME.crt and "
     ".key.\n"
     "      Existing files are never overwritten.\n"},
    {"bench", drctl_cmd_bench,
     "  bench [--clients C] [--duration S] [--size B] [--regions-prefix P]\n"
     "      Committed writes/s through the API: C requests in flight "
     "(default 64)\n"
     "      for S seconds (default 10) of about B bytes each (default "
     "1024), on\n"
     "      regions P-00..P-15 (default prefix bench), removed "
     "afterwards.\n"},
};

#define DRCTL_N_COMMANDS (sizeof(drctl_commands) / sizeof(drctl_commands[0]))

static const char drctl_usage_help[] =
    "  help [COMMAND]\n"
    "      This text, or the usage of one command.\n";

int drctl_print_usage(const char *name, FILE *f)
{
    size_t i;

    if (name != NULL) {
        for (i = 0; i < DRCTL_N_COMMANDS; i++) {
            if (strcmp(drctl_commands[i].name, name) == 0) {
                fprintf(f, "Usage: drctl [GLOBAL OPTIONS] ...\n%s",
                        drctl_commands[i].usage);
                return 0;
            }
        }
        if (strcmp(name, "help") == 0) {
            fputs(drctl_usage_help, f);
            return 0;
        }
        return -1;
    }
    fputs(drctl_usage_head, f);
    for (i = 0; i < DRCTL_N_COMMANDS; i++) {
        fputs(drctl_commands[i].usage, f);
    }
    fputs(drctl_usage_help, f);
    fputs(drctl_usage_tail, f);
    return 0;
}

__attribute__((format(printf, 3, 0))) static void drctl__vmsg(
    const struct drctl *d,
    const char *kind,
    const char *fmt,
    va_list ap)
{
    char msg[1024];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (d != NULL && d->cmd != NULL) {
        fprintf(stderr, "drctl: %s: %s%s\n", d->cmd, kind, msg);
    } else {
        fprintf(stderr, "drctl: %s%s\n", kind, msg);
    }
}

int drctl_usage_error(const struct drctl *d, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (d != NULL && d->cmd != NULL) {
        fprintf(stderr, "drctl: %s: %s; see 'drctl help %s'\n", d->cmd, msg,
                d->group != NULL ? d->group : "");
    } else {
        fprintf(stderr, "drctl: %s; see 'drctl help'\n", msg);
    }
    return DRCTL_EXIT_USAGE;
}

int drctl_fail(const struct drctl *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    drctl__vmsg(d, "", fmt, ap);
    va_end(ap);
    return DRCTL_EXIT_FAIL;
}

void drctl_warn(const struct drctl *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    drctl__vmsg(d, "warning: ", fmt, ap);
    va_end(ap);
}

void drctl_note(const struct drctl *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    drctl__vmsg(d, "note: ", fmt, ap);
    va_end(ap);
}

int drctl_parse_args(const struct drctl *d,
                     int argc,
                     char **argv,
                     const struct drctl_opt *opts,
                     const char **pos,
                     int min_pos,
                     int max_pos,
                     const char *pos_names,
                     int *n_pos)
{
    bool seen[32] = {false};
    bool options_done = false;
    int i, n = 0;

    for (i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq, *val = NULL;
        size_t name_len, k;

        if (options_done || arg[0] != '-' || arg[1] == '\0' ||
            (arg[1] >= '0' && arg[1] <= '9')) { /* "-5": a value */
            if (n == max_pos) {
                return drctl_usage_error(d, "unexpected argument \"%s\"", arg);
            }
            pos[n++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            drctl_print_usage(d->group, stdout);
            return -1;
        }
        eq = strchr(arg, '=');
        name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        for (k = 0; opts != NULL && opts[k].name != NULL; k++) {
            if (strlen(opts[k].name) == name_len &&
                strncmp(opts[k].name, arg, name_len) == 0) {
                break;
            }
        }
        if (opts == NULL || opts[k].name == NULL) {
            return drctl_usage_error(d, "unknown option %.*s", (int)name_len,
                                     arg);
        }
        if (k < sizeof(seen) / sizeof(seen[0])) {
            if (seen[k]) {
                return drctl_usage_error(d, "option %s given twice",
                                         opts[k].name);
            }
            seen[k] = true;
        }
        if (opts[k].value == NULL) {
            if (eq != NULL) {
                return drctl_usage_error(d, "option %s takes no value",
                                         opts[k].name);
            }
            *opts[k].flag = true;
            continue;
        }
        if (eq != NULL) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            return drctl_usage_error(d, "option %s needs a value",
                                     opts[k].name);
        }
        *opts[k].value = val;
    }
    if (n < min_pos) {
        if (pos_names != NULL) {
            return drctl_usage_error(d, "missing argument: expected %s",
                                     pos_names);
        }
        return drctl_usage_error(d, "missing argument");
    }
    *n_pos = n;
    return 0;
}

int drctl_parse_opts(const struct drctl *d,
                     int argc,
                     char **argv,
                     const struct drctl_opt *opts)
{
    const char *pos[DRCTL_POS_MAX];
    int n;

    return drctl_parse_args(d, argc, argv, opts, pos, 0, 0, NULL, &n);
}

int drctl_check_name(const struct drctl *d, const char *what, const char *text)
{
    if (text[0] == '\0') {
        return drctl_usage_error(d, "%s: empty", what);
    }
    return 0;
}

int drctl_parse_name(const struct drctl *d,
                     int argc,
                     char **argv,
                     const struct drctl_opt *opts,
                     const char *what,
                     const char **name)
{
    const char *pos[DRCTL_POS_MAX];
    int n, rv;

    rv = drctl_parse_args(d, argc, argv, opts, pos, 1, 1, what, &n);
    if (rv == 0) {
        rv = drctl_check_name(d, what, pos[0]);
    }
    if (rv == 0) {
        *name = pos[0];
    }
    return rv;
}

int drctl_dispatch(struct drctl *d,
                   int argc,
                   char **argv,
                   const struct drctl_subcommand *subs)
{
    char names[256];
    size_t i, used = 0;

    if (argc < 1) {
        names[0] = '\0';
        for (i = 0; subs[i].name != NULL && used < sizeof(names); i++) {
            int n = snprintf(names + used, sizeof(names) - used, "%s%s",
                             i > 0 ? ", " : "", subs[i].name);
            used += n > 0 ? (size_t)n : 0;
        }
        return drctl_usage_error(d, "missing subcommand (%s)", names);
    }
    for (i = 0; subs[i].name != NULL; i++) {
        if (strcmp(argv[0], subs[i].name) == 0) {
            snprintf(d->cmd_buf, sizeof(d->cmd_buf), "%s %s", d->group,
                     subs[i].name);
            d->cmd = d->cmd_buf;
            return subs[i].run(d, argc - 1, argv + 1);
        }
    }
    if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
        drctl_print_usage(d->group, stdout);
        return -1;
    }
    return drctl_usage_error(d, "unknown subcommand \"%s\"", argv[0]);
}

int drctl_parse_int(const struct drctl *d,
                    const char *what,
                    const char *text,
                    int64_t min,
                    int64_t max,
                    int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno == ERANGE ||
        (text[0] != '-' && (text[0] < '0' || text[0] > '9')) || v < min ||
        v > max) {
        if (min == INT64_MIN && max == INT64_MAX) {
            return drctl_usage_error(d, "%s: \"%s\" is not a 64-bit integer",
                                     what, text);
        }
        return drctl_usage_error(d,
                                 "%s: \"%s\" is not an integer in [%lld, %lld]",
                                 what, text, (long long)min, (long long)max);
    }
    *out = v;
    return 0;
}

int drctl_parse_seconds(const struct drctl *d,
                        const char *what,
                        const char *text,
                        double max_s,
                        unsigned *out_ms)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(text, &end);
    if (text[0] == '\0' || *end != '\0' || errno == ERANGE || !isfinite(v) ||
        v <= 0 || v > max_s ||
        ((text[0] < '0' || text[0] > '9') && text[0] != '.')) {
        return drctl_usage_error(
            d, "%s: \"%s\" is not a number of seconds in (0, %g]", what, text,
            max_s);
    }
    *out_ms = (unsigned)(v * 1000.0 + 0.5);
    if (*out_ms == 0) {
        *out_ms = 1;
    }
    return 0;
}

int drctl_connect(struct drctl *d)
{
    char errmsg[CLIENT_ERRMSG_MAX];
    int rv;

    if (d->connected) {
        return 0;
    }
    if (d->endpoints == NULL) {
        return drctl_usage_error(
            d,
            "no endpoints: pass --endpoints or set DRCTL_ENDPOINTS (drctl "
            "local up writes them to DIR/env)");
    }
    {
        struct client_tls tls = {d->cacert, d->cert, d->key};
        rv = client_init_tls(&d->client, d->endpoints, d->token_file, &tls,
                             d->timeout_ms, errmsg);
    }
    if (rv == DR_EINVAL && strncmp(errmsg, "token file", 10) != 0) {
        return drctl_usage_error(d, "%s", errmsg);
    }
    if (rv != 0) {
        return drctl_fail(d, "%s", errmsg);
    }
    d->client.try_ms = d->try_ms;
    d->connected = true;
    return 0;
}

int drctl_request(struct drctl *d,
                  const char *method,
                  const char *path,
                  const json_t *body,
                  struct client_response *r)
{
    int rv = drctl_connect(d);

    if (rv != 0) {
        return rv;
    }
    if (client_request(&d->client, method, path, body, r) != 0) {
        fprintf(stderr, "drctl: %s\n", d->client.errmsg);
        return DRCTL_EXIT_FAIL;
    }
    return 0;
}

int drctl_fail_response(const struct drctl *d, const struct client_response *r)
{
    char desc[1024];

    client_response_describe(r, desc, sizeof(desc));
    if (r->status == 401 && d->client.token[0] == '\0') {
        return drctl_fail(d, "%s; pass --token-file or set DRCTL_TOKEN_FILE",
                          desc);
    }
    return drctl_fail(d, "%s", desc);
}

int drctl_call(struct drctl *d,
               const char *method,
               const char *path,
               const json_t *body,
               json_t **out)
{
    struct client_response r;
    int rv;

    if (out != NULL) {
        *out = NULL;
    }
    rv = drctl_request(d, method, path, body, &r);
    if (rv != 0) {
        return rv;
    }
    if (r.status < 200 || r.status > 299) {
        rv = drctl_fail_response(d, &r);
        client_response_clear(&r);
        return rv;
    }
    if (r.json == NULL && r.body_len > 0) {
        client_response_clear(&r);
        return drctl_fail(d,
                          "%s answered HTTP %ld with a body that is not JSON",
                          client_url_hostport(r.url), r.status);
    }
    if (out != NULL) {
        *out = r.json;
        r.json = NULL;
    }
    client_response_clear(&r);
    return 0;
}

int drctl_show(struct drctl *d,
               const char *method,
               const char *path,
               const json_t *body,
               drctl_print_cb print,
               const void *arg)
{
    json_t *v;
    int rv = drctl_call(d, method, path, body, &v);

    if (rv != 0) {
        return rv;
    }
    if (d->json) {
        drctl_print_json(v);
    } else {
        print(v, arg);
    }
    json_decref(v);
    return 0;
}

int drctl_show_get(struct drctl *d,
                   int argc,
                   char **argv,
                   const char *path,
                   drctl_print_cb print)
{
    int rv = drctl_parse_opts(d, argc, argv, NULL);

    if (rv != 0) {
        return rv;
    }
    return drctl_show(d, "GET", path, NULL, print, NULL);
}

int drctl_path(const struct drctl *d,
               char *buf,
               size_t size,
               const char *prefix,
               const char *name)
{
    char esc[1024];
    int n;

    if (client_path_escape(name, esc, sizeof(esc)) != 0) {
        return drctl_usage_error(d, "\"%.40s...\" is too long", name);
    }
    n = snprintf(buf, size, "/api/%s/%s", prefix, esc);
    if (n < 0 || (size_t)n >= size) {
        return drctl_usage_error(d, "\"%.40s...\" is too long", name);
    }
    return 0;
}

/* Value of a global option at argv[*i] ("--x V" or "--x=V"), or NULL. */
static const char *drctl__global_value(int argc,
                                       char **argv,
                                       int *i,
                                       const char *name,
                                       bool *missing)
{
    size_t len = strlen(name);
    const char *arg = argv[*i];

    if (strncmp(arg, name, len) != 0) {
        return NULL;
    }
    if (arg[len] == '=') {
        return arg + len + 1;
    }
    if (arg[len] != '\0') {
        return NULL;
    }
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

static const char *drctl__env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* A global option with a value at argv[*i] ("--opt V" or "--opt=V"):
 * stored in d (timeouts in *timeout / *endpoint_timeout, parsed later).
 * Returns true when it was one; *missing when it had no value. */
static bool drctl__take_global(struct drctl *d,
                               int argc,
                               char **argv,
                               int *i,
                               bool *missing,
                               const char **timeout,
                               const char **endpoint_timeout)
{
    static const char *const names[] = {
        "--endpoints", "--token-file", "--timeout", "--endpoint-timeout",
        "--cacert",    "--cert",       "--key",
    };
    const char **slots[] = {
        &d->endpoints, &d->token_file, timeout, endpoint_timeout,
        &d->cacert,    &d->cert,       &d->key,
    };

    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        const char *v = drctl__global_value(argc, argv, i, names[k], missing);
        if (v != NULL) {
            *slots[k] = v;
            return true;
        }
        if (*missing) {
            return false;
        }
    }
    return false;
}

int main(int argc, char **argv)
{
    struct drctl d;
    const char *timeout = NULL, *endpoint_timeout = NULL;
    size_t k;
    int i, rv;

    signal(SIGPIPE, SIG_IGN);
    memset(&d, 0, sizeof(d));
    d.timeout_ms = DRCTL_TIMEOUT_DEFAULT_MS;
    d.try_ms = CLIENT_TRY_MS_DEFAULT;
    d.endpoints = drctl__env("DRCTL_ENDPOINTS");
    d.token_file = drctl__env("DRCTL_TOKEN_FILE");
    d.cacert = drctl__env("DRCTL_CACERT");
    d.cert = drctl__env("DRCTL_CERT");
    d.key = drctl__env("DRCTL_KEY");

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        bool missing = false;

        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            drctl_print_usage(NULL, stdout);
            return DRCTL_EXIT_OK;
        }
        if (strcmp(argv[i], "--json") == 0) {
            d.json = true;
            continue;
        }
        if (drctl__take_global(&d, argc, argv, &i, &missing, &timeout,
                               &endpoint_timeout)) {
            continue;
        } else if (missing) {
            return drctl_usage_error(NULL, "option %s needs a value", argv[i]);
        } else {
            return drctl_usage_error(NULL, "unknown option %s", argv[i]);
        }
    }
    if (i >= argc) {
        return drctl_usage_error(NULL, "missing command");
    }

    if (strcmp(argv[i], "help") == 0) {
        if (i + 2 < argc) {
            return drctl_usage_error(NULL, "help: unexpected argument \"%s\"",
                                     argv[i + 2]);
        }
        if (drctl_print_usage(i + 1 < argc ? argv[i + 1] : NULL, stdout) != 0) {
            return drctl_usage_error(NULL, "help: unknown command \"%s\"",
                                     argv[i + 1]);
        }
        return DRCTL_EXIT_OK;
    }
    for (k = 0; k < DRCTL_N_COMMANDS; k++) {
        if (strcmp(drctl_commands[k].name, argv[i]) == 0) {
            break;
        }
    }
    if (k == DRCTL_N_COMMANDS) {
        return drctl_usage_error(NULL, "unknown command \"%s\"", argv[i]);
    }

    /* Global options may also follow the command, anywhere before "--"
     * ("drctl status --endpoints URL --json"), as with etcdctl. */
    {
        int j, n = 0;
        for (j = i + 1; j < argc && strcmp(argv[j], "--") != 0; j++) {
            bool missing = false;

            if (strcmp(argv[j], "--json") == 0) {
                d.json = true;
            } else if (drctl__take_global(&d, argc, argv, &j, &missing,
                                          &timeout, &endpoint_timeout)) {
                continue;
            } else if (missing) {
                return drctl_usage_error(NULL, "option %s needs a value",
                                         argv[j]);
            } else {
                argv[i + 1 + n++] = argv[j];
            }
        }
        for (; j < argc; j++) {
            argv[i + 1 + n++] = argv[j];
        }
        argc = i + 1 + n;
    }
    if (timeout != NULL && drctl_parse_seconds(NULL, "--timeout", timeout,
                                               86400, &d.timeout_ms) != 0) {
        return DRCTL_EXIT_USAGE;
    }
    if (endpoint_timeout != NULL &&
        drctl_parse_seconds(NULL, "--endpoint-timeout", endpoint_timeout, 86400,
                            &d.try_ms) != 0) {
        return DRCTL_EXIT_USAGE;
    }
    if (d.endpoints != NULL && d.endpoints[0] == '\0') {
        return drctl_usage_error(NULL, "--endpoints: empty list");
    }
    if (d.token_file != NULL && d.token_file[0] == '\0') {
        d.token_file = NULL;
    }

    d.cmd = drctl_commands[k].name;
    d.group = drctl_commands[k].name;
    rv = drctl_commands[k].run(&d, argc - i - 1, argv + i + 1);
    if (rv < 0) {
        rv = DRCTL_EXIT_OK; /* --help was printed */
    }
    if (d.connected && d.client.skipped[0] != '\0') {
        /* Say which endpoints did not answer: they need a look. */
        fprintf(stderr, "drctl: note: passed over %s\n", d.client.skipped);
    }
    if (d.connected) {
        client_close(&d.client);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "drctl: writing output: %s\n", strerror(errno));
        return DRCTL_EXIT_FAIL;
    }
    return rv;
}
