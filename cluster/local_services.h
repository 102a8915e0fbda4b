/* drctl local: each region's PostgreSQL and Redis, and the S3 endpoint. */
#ifndef DRCTL_LOCAL_SERVICES_H
#define DRCTL_LOCAL_SERVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "local.h"

struct config;
struct drctl;

/* libpq conninfo of a region's PostgreSQL, given its port. */
#define LOCAL_PG_CONNINFO_FMT \
    "host=127.0.0.1 port=%u user=postgres dbname=cogitator"
#define LOCAL_S3_CREDENTIALS "s3-credentials" /* in DIR, mode 0600 */
#define LOCAL_STORE_DIR "store"               /* DIR/store/REGION */
#define LOCAL_SERVICES_DIR "services"         /* DIR/services/REGION */
#define LOCAL_DNS_DIR "services/dns" /* PowerDNS: pdns.conf, api-key, db */
#define LOCAL_DNS_ZONE "dr.local."
#define LOCAL_DNS_NAME "app.dr.local." /* the service name failovers move */
/* Region i's DNS target on loopback: 127.0.1.(i+1). */
#define LOCAL_DNS_TARGET_FMT "127.0.1.%zu"

/* Write DIR/services/dns/pdns.conf and api-key for lc's DNS ports. */
int local_dns_write_files(const struct local_cluster *lc, char *errmsg);
/* Read the DNS ports back from DIR/services/dns/pdns.conf (none: 0). */
void local_dns_load(struct local_cluster *lc);
#define LOCAL_SERVICES_JSON "services.json" /* in DIR */

/* The object store URL of region (borrowed) into buf (size bytes): the
 * directory DIR/store/REGION, or the bucket dr-REGION of the local S3
 * endpoint when lc->s3_port is set. Returns 0, or -1 when it does not
 * fit. */
int local_services_store_url(const struct local_cluster *lc,
                             const char *region,
                             char *buf,
                             size_t size);

/* Whether region (borrowed) gives a valid bucket name dr-REGION for
 * --store s3; otherwise -1 with errmsg (LOCAL_ERRMSG_MAX) saying why. */
int local_services_check_bucket(const char *region, char *errmsg);

/* Record in lc the regions, stores and services that the config c of one
 * node (the first one loaded names the regions) points at on loopback.
 * Called by local_load for each node before it counts the node. */
void local_services_note(struct local_cluster *lc, const struct config *c);

/* Whether lc's configs name any service that drctl local runs. */
bool local_services_configured(const struct local_cluster *lc);

/* Whether a service of lc runs: its pid file names a live process with the
 * service's command line. what gets its name, *pid its pid. */
bool local_services_running(const struct local_cluster *lc,
                            char *what,
                            size_t size,
                            pid_t *pid);

/* Start every service that lc's configs name (only region's PostgreSQL and
 * Redis when region is not NULL) (initdb and the cogitator
 * database the first time, the S3 buckets every time), wait until each
 * answers, then write DIR/services.json. Progress goes to stdout unless
 * --json. Each PostgreSQL archives its WAL with drnode (the binary at
 * drnode) into its region's store (local__wal_setup). On failure the error (and
 * the failing service's log tail) is printed, whatever started is stopped
 * again, and DRCTL_EXIT_FAIL is returned. */
int local_services_start(struct drctl *d,
                         const struct local_cluster *lc,
                         const char *region,
                         const char *drnode);

/* Stop the running services of lc (only region's when not NULL): SIGINT to
 * PostgreSQL (fast shutdown), SIGTERM to the others, SIGKILL after a
 * bounded wait (at once when abrupt: a data center losing power); only pids
 * from our pid files whose command line is the expected service's. Removes the
 * pid files. Returns how many were running. */
size_t local_services_stop(const struct drctl *d,
                           const struct local_cluster *lc,
                           const char *region,
                           bool abrupt,
                           bool verbose);

/* Make the PostgreSQL of each of regions[n_regions] a standby replaying
 * its region's own WAL copies: stop them, replace their data directories
 * (drctl restore --pitr --standby --backup backup_id --region R, children
 * run at once with the DRCTL_* variables of the environment; each log in
 * DIR/services/R/standby-restore.log) and start them again. On failure
 * the error (and a log's tail) is printed and DRCTL_EXIT_FAIL returned. */
int local_services_standbys(struct drctl *d,
                            const struct local_cluster *lc,
                            const char *const *regions,
                            size_t n_regions,
                            const char *backup_id,
                            const char *drnode);

/* A new JSON array of {"service", "region", "address", "pid", "running"}
 * for local status. */
json_t *local_services_status(const struct local_cluster *lc);

/* A new JSON object, the contents of DIR/services.json: region ->
 * {"pg": CONNINFO|null, "redis": "127.0.0.1:PORT"|null, "store": URL}
 * (with "store_credentials": PATH for an S3 store). */
json_t *local_services_json(const struct local_cluster *lc);

/* Write local_services_json(lc) to DIR/services.json, atomically. */
int local_services_write_json(const struct local_cluster *lc, char *errmsg);

/* As root with the services on (they run as the postgres user): DR_EINVAL
 * with errmsg (LOCAL_ERRMSG_MAX) naming the fix when a directory above dir
 * does not let other users through (mktemp -d makes 0700 ones). 0 else. */
int local_services_check_path(const char *dir, char *errmsg);

#endif /* DRCTL_LOCAL_SERVICES_H */
