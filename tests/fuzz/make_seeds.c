/* Writes the seed corpora of the codec, manifest and DNS fuzz harnesses
 * (tests/data/fuzz/NAME/) with the project's own encoders: a raft log entry
 * per command kind and batches, snapshots of states from empty to a busy
 * catalog, PostgreSQL and Redis manifests, DNS replies and an update
 * answer; then a few malformed variants of each (cut short, a flipped
 * byte). Run by hand when a format changes: fuzz_make_seeds DIR. A few
 * commands are refused on purpose or by the state (they say so on
 * stderr): a refused command is a seed too. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "codec/codec.h"
#include "codec/pg_manifest.h"
#include "codec/redis_manifest.h"
#include "dns/update.h"
#include "dns/wire.h"
#include "fsm/fsm.h"
#include "fsm_helpers.h"

static const char *root;

static void put_file(const char *dir,
                     const char *name,
                     const void *p,
                     size_t len)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", root, dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", root, dir, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* The seed, and two malformed variants: cut in half, one byte flipped. */
static void put_seed(const char *dir,
                     const char *name,
                     const void *p,
                     size_t len,
                     int variants)
{
    char vname[160];

    put_file(dir, name, p, len);
    if (variants && len > 4) {
        uint8_t *copy = malloc(len);
        memcpy(copy, p, len);
        snprintf(vname, sizeof(vname), "bad-cut-%s", name);
        put_file(dir, vname, copy, len / 2);
        copy[len / 3] ^= 0x5a;
        snprintf(vname, sizeof(vname), "bad-flip-%s", name);
        put_file(dir, vname, copy, len);
        free(copy);
    }
}

static int n_entries;

/* Apply c at now (reporting a refusal), and write it as an entry. */
static void step(struct fsm *f, const struct fsm_cmd *c, uint64_t now)
{
    struct fsm_result res;
    struct codec_piece piece;
    uint8_t *enc;
    void *entry;
    size_t len;
    char name[96];

    memset(&res, 0, sizeof(res));
    if (fsm_apply(f, c, now, &res) != DR_OK) {
        fprintf(stderr, "make_seeds: %s refused: %s\n", fsm_cmd_name(c->type),
                res.msg);
    }
    if (codec_cmd_encode(c, &enc, &piece.len) != DR_OK) {
        fprintf(stderr, "make_seeds: cannot encode %s\n",
                fsm_cmd_name(c->type));
        exit(1);
    }
    piece.base = enc;
    if (codec_entry_assemble(FSM_VERSION, now, &piece, 1, malloc, &entry,
                             &len) != DR_OK) {
        exit(1);
    }
    snprintf(name, sizeof(name), "%02d-%s.entry", n_entries++,
             fsm_cmd_name(c->type));
    put_seed("codec_entry", name, entry, len, n_entries % 4 == 0);
    free(entry);
    free(enc);
}

static void snapshot(const struct fsm *f, const char *name)
{
    void *s;
    size_t len;

    if (codec_snapshot_encode(f, malloc, &s, &len) != DR_OK) {
        exit(1);
    }
    put_seed("codec_snapshot", name, s, len, 1);
    free(s);
}

static void codec_seeds(void)
{
    struct fsm f;
    struct boot b;
    struct fsm_cmd c;
    uint64_t t = 90061000, job;
    static const int outcomes[] = {0, 0, 0, 0, 0, 1};
    static char *endpoints[] = {"tcp://10.1.0.9:5432",
                                "https://app.example.com/health"};
    struct fsm_cmd batch[3];
    struct codec_piece pieces[3];
    uint8_t *enc[3];
    void *entry;
    size_t len;

    fsm_init(&f);
    snapshot(&f, "empty.snap");
    boot_make(&b);
    step(&f, &b.cmd, t);
    snapshot(&f, "booted.snap");

    c = setting_int_cmd("history.max_entries", 64);
    step(&f, &c, t += 10);
    c = setting_str_cmd("llm.fallback_chain", "ollama,openai");
    step(&f, &c, t += 10);
    c = setting_bool_cmd("queue_mode", true);
    step(&f, &c, t += 10);
    b.regions[2].endpoints = endpoints;
    b.regions[2].n_endpoints = 2;
    c = region_cmd(FSM_CMD_REGION_UPDATE, b.regions[2]);
    c.fields = FSM_REGION_F_ENDPOINTS;
    step(&f, &c, t += 10);
    c = region_cmd(FSM_CMD_REGION_ADD, region("sa-east", 2, NULL, 0, ""));
    step(&f, &c, t += 10);
    c = member_put_cmd(member(4, "sa-east", "10.4.0.1:7000", "10.4.0.1:8000"));
    step(&f, &c, t += 10);

    /* A PostgreSQL and a Redis backup, each created, claimed, finished. */
    for (int kind = FSM_BACKUP_PG_LOGICAL; kind <= FSM_BACKUP_REDIS; kind++) {
        memset(&c, 0, sizeof(c));
        c.type = FSM_CMD_JOB_CREATE;
        c.actor = "scheduler";
        c.u.job.kind = FSM_JOB_BACKUP;
        c.u.job.backup_kind = kind;
        step(&f, &c, t += 1000);
        job = f.job_seq;
        c = claim_cmd(job, 1);
        step(&f, &c, t += 1000);
        c.type = FSM_CMD_JOB_RENEW;
        c.u.job.attempt = 1;
        step(&f, &c, t += 1000);
        c = finish_base_cmd(job, 1, 1);
        c.u.job.backup.stored_bytes = 1234;
        c.u.job.backup.raw_bytes = 99999;
        c.u.job.backup.snapshot_ms = t - 500;
        c.u.job.backup.detail = "{\"tables\":3}";
        step(&f, &c, t += 1000);
    }
    snapshot(&f, "backups.snap");

    /* A job that fails, one that expires. */
    memset(&c, 0, sizeof(c));
    c.type = FSM_CMD_JOB_CREATE;
    c.actor = "api:admin";
    c.u.job.kind = FSM_JOB_BACKUP;
    c.u.job.backup_kind = FSM_BACKUP_PG_LOGICAL;
    step(&f, &c, t += 1000);
    job = f.job_seq;
    c = claim_cmd(job, 1);
    step(&f, &c, t += 1000);
    memset(&c, 0, sizeof(c));
    c.type = FSM_CMD_JOB_EXPIRE;
    c.actor = "leader";
    c.u.job.job_id = job;
    c.u.job.attempt = 1;
    step(&f, &c, t += 60000);
    c = claim_cmd(job, 1);
    step(&f, &c, t += 5000);        /* after the retry's back-off */
    c = finish_base_cmd(job, 1, 2); /* the second attempt */
    c.u.job.ok = false;
    c.u.job.error = "pg: COPY agent_runs: connection reset";
    step(&f, &c, t += 1000);

    memset(&c, 0, sizeof(c));
    c.type = FSM_CMD_BACKUP_VERIFIED;
    c.actor = "node:1";
    c.u.verified.id = f.n_backups > 0 ? f.backups[0].id : "x";
    c.u.verified.ok = true;
    c.u.verified.region = "eu-west";
    step(&f, &c, t += 1000);

    memset(&c, 0, sizeof(c));
    c.type = FSM_CMD_BREAKER_EVENTS;
    c.actor = "node:2";
    c.u.breaker.provider = 0;
    c.u.breaker.outcomes = outcomes;
    c.u.breaker.n_outcomes = 6;
    step(&f, &c, t += 1000);
    c.type = FSM_CMD_BREAKER_HALF_OPEN;
    c.u.breaker.n_outcomes = 0;
    c.u.breaker.outcomes = NULL;
    step(&f, &c, t += 60000);
    c.type = FSM_CMD_BREAKER_TRIAL;
    step(&f, &c, t += 10);
    c.type = FSM_CMD_BREAKER_RESET;
    c.u.breaker.provider = -1;
    step(&f, &c, t += 10);

    memset(&c, 0, sizeof(c));
    c.type = FSM_CMD_REGION_HEALTH;
    c.actor = "leader";
    c.u.health.region = "us-east";
    c.u.health.health[0] = FSM_SVC_UP;
    c.u.health.health[1] = FSM_SVC_DOWN;
    step(&f, &c, t += 1000);

    memset(&c, 0, sizeof(c));
    c.type = FSM_CMD_DRILL_START;
    c.actor = "api:admin";
    c.u.drill.kind = FSM_DRILL_RESTORE;
    c.u.drill.region = "us-east";
    step(&f, &c, t += 1000);
    memset(&c, 0, sizeof(c));
    c.type = FSM_CMD_DRILL_DNS_DONE;
    c.actor = "leader";
    c.u.drill_dns.drill_id = f.drill_seq;
    c.u.drill_dns.ok = true;
    c.u.drill_dns.confirmed_ms = t;
    step(&f, &c, t += 1000);
    /* A WAL scan of eu-west's store: two ranges of one system, the
     * second on timeline 2 and ending in a streamed partial. */
    memset(&c, 0, sizeof(c));
    c.type = FSM_CMD_JOB_CREATE;
    c.actor = "scheduler";
    c.u.job.kind = FSM_JOB_WAL_SCAN;
    c.u.job.region = "eu-west";
    step(&f, &c, t += 1000);
    job = f.job_seq;
    c = claim_cmd(job, 1);
    step(&f, &c, t += 1000);
    c = finish_base_cmd(job, 1, 1);
    c.u.job.wal.newest_ms = t - 2000;
    c.u.job.wal.files = 5;
    c.u.job.wal.gaps = 1;
    c.u.job.wal.ranges_total = 2;
    c.u.job.wal.ranges[0] =
        (struct fsm_wal_range){0x7a1b, 1, 0x3000000, 0x6000000, 3, 3000, false};
    c.u.job.wal.ranges[1] =
        (struct fsm_wal_range){0x7a1b, 2, 0x6000000, 0x7000800, 1, 1000, true};
    c.u.job.wal.n_ranges = 2;
    step(&f, &c, t += 1000);
    snapshot(&f, "catalog.snap");

    memset(&c, 0, sizeof(c));
    c.type = FSM_CMD_FAILOVER_START;
    c.actor = "api:admin";
    c.u.failover.to = "us-east";
    c.u.failover.reason = "drill of the runbook";
    c.u.failover.force = true;
    step(&f, &c, t += 1000);
    memset(&c, 0, sizeof(c));
    c.type = FSM_CMD_RUNBOOK_STEP;
    c.actor = "leader";
    c.u.runbook.epoch = f.site.epoch;
    c.u.runbook.from = f.site.runbook.step;
    c.u.runbook.to = f.site.runbook.step + 1;
    step(&f, &c, t += 1000);
    snapshot(&f, "failover.snap");
    c.type = FSM_CMD_RUNBOOK_ABORT;
    c.u.runbook.error = "aborted by the operator";
    step(&f, &c, t += 1000);
    c = primary_cas_cmd("us-east", f.site.epoch);
    step(&f, &c, t += 1000);
    memset(&c, 0, sizeof(c));
    c.type = FSM_CMD_BACKUP_DELETE;
    c.actor = "retention";
    c.u.backup_id = f.n_backups > 0 ? f.backups[0].id : "x";
    step(&f, &c, t += 1000);
    c = member_remove_cmd(4);
    step(&f, &c, t += 1000);
    c = region_remove_cmd("sa-east");
    step(&f, &c, t += 1000);
    snapshot(&f, "busy.snap");
    fsm_close(&f);

    /* A batch of three commands, and one of a newer version. */
    batch[0] = setting_int_cmd("rpo.pg_s", 300);
    batch[1] = region_remove_cmd("ap-south");
    batch[2] = member_remove_cmd(3);
    for (int i = 0; i < 3; i++) {
        codec_cmd_encode(&batch[i], &enc[i], &pieces[i].len);
        pieces[i].base = enc[i];
    }
    codec_entry_assemble(FSM_VERSION, t, pieces, 3, malloc, &entry, &len);
    put_seed("codec_entry", "batch.entry", entry, len, 1);
    free(entry);
    codec_entry_assemble(FSM_VERSION + 1, t, pieces, 1, malloc, &entry, &len);
    put_seed("codec_entry", "newer-version.entry", entry, len, 0);
    free(entry);
    for (int i = 0; i < 3; i++) {
        free(enc[i]);
    }
}

static void hexfill(char *hex, int seed)
{
    for (int i = 0; i < 64; i++) {
        hex[i] = "0123456789abcdef"[(i * 7 + seed) % 16];
    }
    hex[64] = '\0';
}

static void manifest_seeds(void)
{
    struct pgman m;
    struct pgman_table tables[2];
    struct pgman_chunk chunks[3];
    struct pgman_sequence seq = {"public", "runs_id_seq", 42, true};
    char *cols0[] = {"id", "agent", "payload"}, *cols1[] = {"k", "v"};
    struct redis_manifest r;
    struct redis_manifest_type types[2] = {{"string", 3}, {"hash", 2}};
    struct redis_manifest_object data[2];
    uint8_t *out;
    size_t len;
    char err[256];

    memset(&m, 0, sizeof(m));
    memset(tables, 0, sizeof(tables));
    memset(chunks, 0, sizeof(chunks));
    m.version = PGMAN_VERSION;
    m.database = "cogitator";
    m.server_version = "15.8";
    m.server_version_num = 150008;
    m.encoding = "UTF8";
    m.snapshot_id = "00000003-0000001B-1";
    m.snapshot_time_ms = 1700000000000;
    m.created_ms = 1700000001000;
    m.digest_alg = PGMAN_ROWSUM_XXH3;
    m.pre_data.key = "backups/pg-1/1/pre-data.sql.zst";
    m.post_data.key = "backups/pg-1/1/post-data.sql.zst";
    hexfill(m.pre_data.raw_sha256, 1);
    hexfill(m.pre_data.stored_sha256, 2);
    hexfill(m.post_data.raw_sha256, 3);
    hexfill(m.post_data.stored_sha256, 4);
    for (int i = 0; i < 3; i++) {
        static char *keys[] = {"backups/pg-1/1/t0-0.copy.zst",
                               "backups/pg-1/1/t0-1.copy.zst",
                               "backups/pg-1/1/t1-0.copy.zst"};
        chunks[i].object.key = keys[i];
        chunks[i].object.raw_bytes = 1000u * (unsigned)(i + 1);
        chunks[i].object.stored_bytes = 300u * (unsigned)(i + 1);
        hexfill(chunks[i].object.raw_sha256, 5 + i);
        hexfill(chunks[i].object.stored_sha256, 9 + i);
        chunks[i].rows = 10u * (unsigned)(i + 1);
        chunks[i].digest[31] = (uint8_t)(i + 1);
        chunks[i].digest[0] = 0xf0;
    }
    chunks[0].first_block = 0;
    chunks[0].end_block = 128;
    chunks[1].first_block = 128;
    chunks[1].end_block = 0;
    tables[0].schema = "public";
    tables[0].name = "agent_runs";
    tables[0].columns = cols0;
    tables[0].n_columns = 3;
    tables[0].chunks = chunks;
    tables[0].n_chunks = 2;
    tables[1].schema = "public";
    tables[1].name = "kv";
    tables[1].columns = cols1;
    tables[1].n_columns = 2;
    tables[1].chunks = &chunks[2];
    tables[1].n_chunks = 1;
    tables[1].partition = true;
    for (int t = 0; t < 2; t++) {
        for (size_t k = 0; k < tables[t].n_chunks; k++) {
            tables[t].rows += tables[t].chunks[k].rows;
            tables[t].raw_bytes += tables[t].chunks[k].object.raw_bytes;
            pgman_digest_add(tables[t].digest, tables[t].chunks[k].digest);
        }
    }
    m.tables = tables;
    m.n_tables = 2;
    m.sequences = &seq;
    m.n_sequences = 1;
    if (pgman_encode(&m, &out, &len, err) != 0) {
        fprintf(stderr, "make_seeds: %s\n", err);
        exit(1);
    }
    put_seed("pg_manifest", "two-tables.pb", out, len, 1);
    free(out);
    m.digest_alg = PGMAN_ROWSUM_SHA256;
    m.n_tables = 0;
    m.n_sequences = 0;
    pgman_encode(&m, &out, &len, err);
    put_seed("pg_manifest", "empty-sha256.pb", out, len, 0);
    free(out);

    memset(&r, 0, sizeof(r));
    memset(data, 0, sizeof(data));
    r.format_version = REDIS_MANIFEST_VERSION;
    r.record_version = 1;
    r.redis_address = "10.1.0.5:6379";
    r.redis_version = "7.0.15";
    r.db = 0;
    r.started_ms = 1700000000000;
    r.finished_ms = 1700000002000;
    r.keys = 5;
    r.expiring_keys = 1;
    r.types = types;
    r.n_types = 2;
    for (int i = 0; i < 32; i++) {
        r.digest[i] = (uint8_t)(i * 13);
    }
    data[0].key = "backups/redis-1/1/data-0.zst";
    data[0].keys = 4;
    data[1].key = "backups/redis-1/1/data-1.zst";
    data[1].keys = 1;
    for (int i = 0; i < 2; i++) {
        data[i].raw_bytes = 4096;
        data[i].stored_bytes = 900;
        hexfill(data[i].raw_sha256, 20 + i);
        hexfill(data[i].stored_sha256, 30 + i);
    }
    r.data = data;
    r.n_data = 2;
    r.key_index.key = "backups/redis-1/1/keys.zst";
    r.key_index.keys = 5;
    hexfill(r.key_index.raw_sha256, 40);
    hexfill(r.key_index.stored_sha256, 41);
    r.raw_bytes = 8192;
    if (redis_manifest_encode(&r, &out, &len) != 0) {
        exit(1);
    }
    put_seed("redis_manifest", "two-objects.pb", out, len, 1);
    free(out);
}

/* A reply to a query (dns_wire_query with QR set) followed by answers. */
struct msg
{
    uint8_t b[DNS_MSG_MAX];
    size_t n;
};

static void reply_begin(struct msg *m, uint16_t id, const char *name, int type)
{
    m->n = dns_wire_query(id, name, (uint16_t)type, m->b);
    m->b[2] |= 0x84; /* QR, AA */
}

static void answer(struct msg *m, int type, const void *rdata, size_t rdlen)
{
    uint8_t *p = m->b + m->n;
    p[0] = 0xc0; /* a pointer to the question's name */
    p[1] = 12;
    p[2] = 0;
    p[3] = (uint8_t)type;
    p[4] = 0;
    p[5] = 1;
    p[6] = p[7] = p[8] = 0;
    p[9] = 60;
    p[10] = (uint8_t)(rdlen >> 8);
    p[11] = (uint8_t)rdlen;
    memcpy(p + 12, rdata, rdlen);
    m->n += 12 + rdlen;
    m->b[7]++; /* ANCOUNT */
}

static void dns_seeds(void)
{
    struct msg m;
    static const uint8_t v4[4] = {10, 1, 0, 1}, v4b[4] = {10, 2, 0, 1};
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    static const uint8_t cname[] = {3, 'w', 'e', 'b', 0xc0, 12};
    static const uint8_t txt[] = {14,  'p', 'r', 'i', 'm', 'a', 'r', 'y',
                                  '=', 'e', 'u', '-', 'w', 'e', 's', 't'};
    const char *targets[] = {"10.1.0.1"};
    struct dns_tsig_key key;
    struct dns_update u = {0x4242,
                           "example.com",
                           "app.example.com",
                           DNS_TYPE_A,
                           targets,
                           1,
                           "primary=eu-west",
                           60,
                           false};
    uint8_t mac[DNS_TSIG_MAC_MAX];
    size_t mac_len, len;
    char err[256];
    static const char keytext[] =
        "hmac-sha256:drnode-key:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    reply_begin(&m, 0x1234, "app.example.com", DNS_TYPE_A);
    answer(&m, DNS_TYPE_A, v4, 4);
    answer(&m, DNS_TYPE_A, v4b, 4);
    put_seed("dns", "a.reply", m.b, m.n, 1);
    reply_begin(&m, 0x0102, "app.example.com", DNS_TYPE_AAAA);
    answer(&m, DNS_TYPE_AAAA, v6, 16);
    put_seed("dns", "aaaa.reply", m.b, m.n, 0);
    reply_begin(&m, 0x7777, "www.example.com", DNS_TYPE_A);
    answer(&m, DNS_TYPE_CNAME, cname, sizeof(cname));
    answer(&m, DNS_TYPE_A, v4, 4);
    put_seed("dns", "cname-a.reply", m.b, m.n, 1);
    reply_begin(&m, 0x0001, "_dr.example.com", DNS_TYPE_TXT);
    answer(&m, DNS_TYPE_TXT, txt, sizeof(txt));
    put_seed("dns", "txt.reply", m.b, m.n, 0);
    reply_begin(&m, 0xbeef, "gone.example.com", DNS_TYPE_A);
    m.b[3] |= DNS_RCODE_NXDOMAIN;
    put_seed("dns", "nxdomain.reply", m.b, m.n, 0);

    /* An update as sent, and shaped as its answer (QR set): signed with
     * the key, but over no request MAC the harness knows. */
    if (dns_tsig_key_parse(keytext, &key, err) != 0) {
        fprintf(stderr, "make_seeds: %s\n", err);
        exit(1);
    }
    len = dns_update_encode(&u, &key, 1700000000, m.b, sizeof(m.b), mac,
                            &mac_len, err);
    if (len == 0) {
        fprintf(stderr, "make_seeds: %s\n", err);
        exit(1);
    }
    put_seed("dns", "update.request", m.b, len, 0);
    m.b[2] |= 0x80;
    put_seed("dns", "update.answer", m.b, len, 1);
    put_seed("dns", "tsig.key", keytext, strlen(keytext), 0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_make_seeds DIR (tests/data/fuzz)\n");
        return 2;
    }
    root = argv[1];
    codec_seeds();
    manifest_seeds();
    dns_seeds();
    return 0;
}
