/* What keyd served, per peer: every operation that maps a chosen input to
 * an output — PSEUDONYMIZE and CV_DERIVE per domain, REKEY, CV_REKEY,
 * RELEASE_MAP, OVERLAP_FEED, SIGN_RECEIPT(S), SIGN_CHECKPOINT, SIGN_REPORT
 * (OVERLAP_SIGN counts as one) — is counted per (socket, uid, operation,
 * domain), and the counts are reported in signed `keyd.usage` events
 * (server/core/usage.h) every usage-interval seconds and at shutdown.
 * vst-audit verify reconciles them with the delivery events (docs/audit.md
 * "keyd's usage").
 *
 * The counters and the budget's minute buckets (keyd_budget.c) live in the
 * authenticated state file "usage" (keyd_state.c) and survive restarts.
 * Writing it for every batch would cost an fsync per request, so it is
 * written ahead in chunks: before serving, keyd makes sure the file already
 * holds at least the count it will reach (the reservation) and, if not,
 * raises the reservation by the batch plus a chunk and writes it. A keyd
 * that crashes resumes at the reservations — at or above what it served —
 * and reports the difference as `slack` so the reconciliation can allow for
 * it. A clean shutdown writes the exact counts. A state file that cannot
 * be written makes keyd refuse counted operations until it can (fail
 * closed).
 *
 * Payload of "usage" (big-endian): u32 format = 1, u8 clean, u64 usage_seq,
 * i64 last_report_us, u32 n, n x (u8 socket, u32 uid, u8 op, str8 domain,
 * u64 reserved, u64 actual, u64 reported, u64 slack), then the budget's
 * buckets (keyd_budget_save). */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/usage.h"
#include "keyd/keyd.h"

#define STATE_NAME "usage"
#define STATE_FORMAT 1
/* > 16 uids x (32 domains + 2 signatures) on the data socket + 16 uids x
 * 5 operations on the admin socket (REKEY, RELEASE_MAP, three signatures) */
#define MAX_COUNTERS 1024
#define SIGN_CHUNK 4096 /* signatures: one write per 4096 receipts at most */

typedef struct {
    uint8_t sock, op;
    uint32_t uid;
    char domain[VST_DOMAIN_MAXLEN + 1];
    uint64_t total;    /* served */
    uint64_t reserved; /* written to the state file, >= total */
    uint64_t reported; /* total at the last usage event */
    uint64_t slack;    /* overstatement added by crash recoveries */
} counter;

static counter *ctr;
static size_t nctr;
static int loaded; /* state loaded (keyd unsealed) */
static int broken; /* the last state write failed */
static uint64_t usage_seq;
static int64_t last_report_us;
static uint64_t interval_s = 300;
static uint64_t id_chunk = 1;

void keyd_usage_init(uint64_t interval_seconds, uint64_t budget_minute)
{
    interval_s = interval_seconds;
    id_chunk = budget_minute / 16 > 0 ? budget_minute / 16 : 1;
}

static uint64_t chunk_for(uint8_t op)
{
    return op == VST_USAGE_OP_SIGN_RECEIPT || op == VST_USAGE_OP_SIGN_CHECKPOINT ||
                   op == VST_USAGE_OP_SIGN_REPORT
               ? SIGN_CHUNK
               : id_chunk;
}

static counter *find(uint8_t sock, uint32_t uid, uint8_t op, const char *domain, int create)
{
    for (size_t i = 0; i < nctr; i++)
        if (ctr[i].sock == sock && ctr[i].uid == uid && ctr[i].op == op &&
            strcmp(ctr[i].domain, domain) == 0)
            return &ctr[i];
    if (!create || nctr == MAX_COUNTERS)
        return NULL;
    if (ctr == NULL && (ctr = calloc(MAX_COUNTERS, sizeof *ctr)) == NULL)
        return NULL;
    counter *c = &ctr[nctr++];
    *c = (counter){.sock = sock, .op = op, .uid = uid};
    snprintf(c->domain, sizeof c->domain, "%s", domain);
    return c;
}

static uint8_t sock_of(const keyd_conn *c)
{
    return c->sock == VST_SOCK_DATA ? VST_USAGE_SOCK_DATA : VST_USAGE_SOCK_ADMIN;
}

/* ---- the state file */

static int save(int clean)
{
    vst_wr w;
    vst_wr_init(&w);
    int rc = vst_wr_u32(&w, STATE_FORMAT) || vst_wr_u8(&w, (uint8_t)clean) ||
             vst_wr_u64(&w, usage_seq) || vst_wr_i64(&w, last_report_us) ||
             vst_wr_u32(&w, (uint32_t)nctr);
    for (size_t i = 0; rc == 0 && i < nctr; i++) {
        counter *c = &ctr[i];
        if (clean)
            c->reserved = c->total;
        rc = vst_wr_u8(&w, c->sock) || vst_wr_u32(&w, c->uid) || vst_wr_u8(&w, c->op) ||
             vst_wr_str8(&w, c->domain, strlen(c->domain)) || vst_wr_u64(&w, c->reserved) ||
             vst_wr_u64(&w, c->total) || vst_wr_u64(&w, c->reported) || vst_wr_u64(&w, c->slack);
    }
    if (rc == 0)
        rc = keyd_budget_save(&w, clean);
    if (rc == 0)
        rc = keyd_state_save(STATE_NAME, vst_wr_data(&w), vst_wr_len(&w));
    vst_wr_free(&w);
    if (rc != 0 && !broken)
        keyd_event((uint32_t)getuid(), "keyd.state_write_failed", "{\"file\":\"%s\"}", STATE_NAME);
    broken = rc != 0;
    return rc ? -1 : 0;
}

/* Parses the payload; *slack_added gets what a crash recovery added. */
static int parse(const uint8_t *p, size_t len, uint64_t *slack_added)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    uint32_t fmt, n;
    uint8_t clean;
    if (vst_rd_u32(&r, &fmt) || fmt != STATE_FORMAT || vst_rd_u8(&r, &clean) ||
        vst_rd_u64(&r, &usage_seq) || vst_rd_i64(&r, &last_report_us) || vst_rd_u32(&r, &n) ||
        n > MAX_COUNTERS)
        return -1;
    *slack_added = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t sock, op;
        uint32_t uid;
        uint64_t reserved, actual, reported, slack;
        char dom[VST_DOMAIN_MAXLEN + 1];
        if (vst_rd_u8(&r, &sock) || vst_rd_u32(&r, &uid) || vst_rd_u8(&r, &op) ||
            vst_rd_str8(&r, dom, sizeof dom) || vst_rd_u64(&r, &reserved) ||
            vst_rd_u64(&r, &actual) || vst_rd_u64(&r, &reported) || vst_rd_u64(&r, &slack) ||
            actual > reserved || reported > reserved)
            return -1;
        counter *c = find(sock, uid, op, dom, 1);
        if (c == NULL || vst_usage_sock_name(sock) == NULL || vst_usage_op_name(op) == NULL)
            return -1;
        /* Resume at the reservation: never below what was served. */
        c->total = c->reserved = reserved;
        c->reported = reported;
        c->slack = slack + (reserved - actual);
        *slack_added += reserved - actual;
    }
    return keyd_budget_load(&r) == 0 && vst_rd_left(&r) == 0 ? 0 : -1;
}

static void reset_counters(void)
{
    nctr = 0;
    usage_seq = 0;
    last_report_us = keyd_wall_us();
}

const char *keyd_usage_load(void)
{
    uint8_t *p = NULL;
    size_t len = 0;
    uint64_t slack = 0;
    const char *how = "loaded";
    keyd_state_rc st = keyd_state_load(STATE_NAME, &p, &len);
    if (st == KEYD_STATE_OK && parse(p, len, &slack) != 0)
        st = KEYD_STATE_INVALID;
    free(p);
    if (st != KEYD_STATE_OK) {
        reset_counters();
        keyd_budget_free();
        if (st == KEYD_STATE_INVALID)
            keyd_state_set_aside(STATE_NAME);
        how = st == KEYD_STATE_MISSING ? "missing" : st == KEYD_STATE_INVALID ? "invalid" : "error";
    } else if (slack > 0) {
        keyd_event((uint32_t)getuid(), "keyd.state_recovered",
                   "{\"file\":\"%s\",\"slack_added\":%llu}", STATE_NAME, (unsigned long long)slack);
    }
    loaded = 1;
    /* Written at once: the reservations become the counts, so a second
     * crash adds no slack twice, and a fresh file exists. */
    save(0);
    return how;
}

/* ---- counting */

/* Operations charged to a domain's pseudonymization budget: a control
 * value of a chosen person is as much a lookup as a pseudonym. */
static int budgeted(uint8_t op)
{
    return op == VST_USAGE_OP_PSEUDONYMIZE || op == VST_USAGE_OP_DERIVE_CV;
}

unsigned keyd_usage_admit(const keyd_conn *c, uint8_t op, const keyd_charge *ch)
{
    if (!loaded)
        return VST_KERR_INTERNAL;
    int need = broken;
    for (size_t i = 0; i < ch->n; i++) {
        if (budgeted(op) && keyd_budget_check(ch->domain[i], ch->count[i], c->uid))
            return VST_KERR_BUDGET_EXCEEDED;
        counter *k = find(sock_of(c), c->uid, op, ch->domain[i], 1);
        if (k == NULL) {
            keyd_log("error", "usage counter table full");
            return VST_KERR_INTERNAL;
        }
    }
    for (size_t i = 0; i < ch->n; i++) {
        counter *k = find(sock_of(c), c->uid, op, ch->domain[i], 0);
        if (k->total + ch->count[i] > k->reserved) {
            k->reserved = k->total + ch->count[i] + chunk_for(op);
            need = 1;
        }
        if (budgeted(op)) {
            int r = keyd_budget_reserve(ch->domain[i], ch->count[i], id_chunk);
            if (r < 0)
                return VST_KERR_INTERNAL;
            need |= r;
        }
    }
    if (need && save(0) != 0)
        return VST_KERR_INTERNAL;
    return 0;
}

void keyd_usage_done(const keyd_conn *c, uint8_t op, const keyd_charge *ch)
{
    for (size_t i = 0; i < ch->n; i++) {
        counter *k = find(sock_of(c), c->uid, op, ch->domain[i], 0);
        if (k != NULL)
            k->total += ch->count[i];
        if (budgeted(op))
            keyd_budget_charge(ch->domain[i], ch->count[i], c->uid);
    }
}

/* ---- usage events */

static int changed(const counter *c)
{
    return c->total != c->reported;
}

/* One keyd.usage event for u (already numbered), signed by keyd over the
 * structure it built itself. */
static void emit(vst_usage *u)
{
    uint8_t tbs[VST_USAGE_TBS_MAX], sig[VST_ED25519_SIG_LEN], kid[VST_SHA256_LEN];
    char json[VST_USAGE_JSON_MAX];
    size_t n = vst_usage_tbs(u, tbs);
    if (n == 0 || keyd_sign(tbs, n, sig) != 0 ||
        EVP_Digest(keyd_sign_public(), VST_ED25519_PUB_LEN, kid, NULL, EVP_sha256(), NULL) != 1 ||
        vst_usage_json(u, kid, sig, json, sizeof json) == 0) {
        keyd_log("error", "cannot build usage report %llu", (unsigned long long)u->seq);
        return;
    }
    keyd_event((uint32_t)getuid(), "keyd.usage", "%s", json);
}

/* Reports every changed counter in events of at most VST_USAGE_MAX_ENTRIES
 * entries. Checkpoint signatures alone do not make a report unless
 * with_checkpoints (shutdown): each report is a row in the audit log, the
 * next checkpoint signs it, and an idle keyd would otherwise report that
 * signature, and so on for ever. */
static void report(int with_checkpoints)
{
    size_t todo = 0, others = 0;
    for (size_t i = 0; i < nctr; i++) {
        todo += changed(&ctr[i]);
        others += changed(&ctr[i]) && ctr[i].op != VST_USAGE_OP_SIGN_CHECKPOINT;
    }
    if (todo == 0 || (!with_checkpoints && others == 0))
        return;
    int64_t now = keyd_wall_us();
    vst_usage *batch =
        calloc((todo + VST_USAGE_MAX_ENTRIES - 1) / VST_USAGE_MAX_ENTRIES, sizeof *batch);
    if (batch == NULL)
        return;
    size_t nb = 0;
    for (size_t i = 0; i < nctr; i++) {
        counter *c = &ctr[i];
        if (!changed(c))
            continue;
        vst_usage *u = &batch[nb];
        if (u->n == VST_USAGE_MAX_ENTRIES)
            u = &batch[++nb];
        vst_usage_entry *e = &u->e[u->n++];
        *e = (vst_usage_entry){.sock = c->sock,
                               .uid = c->uid,
                               .op = c->op,
                               .count = c->total - c->reported,
                               .total = c->total,
                               .slack = c->slack};
        snprintf(e->domain, sizeof e->domain, "%s", c->domain);
        c->reported = c->total;
    }
    nb++;
    for (size_t b = 0; b < nb; b++) {
        batch[b].seq = ++usage_seq;
        batch[b].from_us = last_report_us < now ? last_report_us : now;
        batch[b].to_us = now;
    }
    last_report_us = now;
    /* The numbers and reported totals are on disk before any event names
     * them: a crash after this never reuses a usage_seq. */
    save(0);
    for (size_t b = 0; b < nb; b++)
        emit(&batch[b]);
    free(batch);
}

void keyd_usage_tick(void)
{
    if (!loaded)
        return;
    if (broken)
        save(0); /* retry: counted operations are refused meanwhile */
    int64_t since = keyd_wall_us() - last_report_us;
    /* A clock set back reports at once rather than an interval late. */
    if (interval_s > 0 && (since >= (int64_t)interval_s * 1000000 || since < 0))
        report(0);
}

void keyd_usage_shutdown(void)
{
    if (!loaded)
        return;
    report(1);
    save(1);
}

void keyd_usage_free(void)
{
    free(ctr);
    ctr = NULL;
    nctr = 0;
    keyd_budget_free();
}
