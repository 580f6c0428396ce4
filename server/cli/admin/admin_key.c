/* vst-admin key status | rotate | retire, and unseal: vst-keyd's keys at
 * run time (key init, which creates the keystore, is admin_key_init.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/admin/admin.h"
#include "core/hex.h"
#include "core/secmem.h"
#include "keystore.h"
#include "shamir.h"

/* Store rows per key version, when a store connection was given. */
typedef struct {
    admin_version_rows *vr;
    size_t nvr;
    int have;
} row_counts;

static void print_status_json(const vst_status_ok *s, const char *pub, const row_counts *c)
{
    json_t *versions = json_array();
    for (size_t i = 0; versions != NULL && i < s->nversions; i++) {
        vst_version_info vi;
        vst_status_version(s, i, &vi);
        json_t *v = json_pack("{s:I, s:s}", "version", (json_int_t)vi.version, "state",
                              vst_key_state_name((vst_key_state)vi.state));
        if (v != NULL && c->have)
            json_object_set_new(v, "store_rows",
                                json_integer((json_int_t)admin_rows_of(c->vr, c->nvr, vi.version)));
        json_array_append_new(versions, v);
    }
    json_t *o = json_pack(
        "{s:b, s:b, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:s, s:o}", "sealed", s->sealed,
        "dev_master", s->dev_master, "shares_have", (json_int_t)s->shares_have, "shares_need",
        (json_int_t)s->shares_need, "current_version", (json_int_t)s->current_version, "budget",
        "minute_used", (json_int_t)s->minute_used, "minute_limit", (json_int_t)s->minute_limit,
        "day_used", (json_int_t)s->day_used, "day_limit", (json_int_t)s->day_limit,
        "signing_public_key", s->sealed ? "" : pub, "versions", versions);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (text == NULL) {
        fprintf(stderr, "vst-admin: key status: out of memory\n");
        return;
    }
    printf("%s\n", text);
    vst_secure_free(text);
}

static void print_status_text(const vst_status_ok *s, const char *pub, const row_counts *c)
{
    if (s->sealed)
        printf("state: SEALED (%u of %u shares received; vst-admin unseal SHARE-FILE)\n",
               s->shares_have, s->shares_need);
    else
        printf("state: unsealed%s\n",
               s->dev_master ? " — WARNING: development master-key file in use" : "");
    if (!s->sealed) {
        printf("current version: %u\nversions:\n", s->current_version);
        for (size_t i = 0; i < s->nversions; i++) {
            vst_version_info vi;
            vst_status_version(s, i, &vi);
            printf("  %5u  %-8s", vi.version, vst_key_state_name((vst_key_state)vi.state));
            if (c->have)
                printf("  %" PRIu64 " store rows", admin_rows_of(c->vr, c->nvr, vi.version));
            printf("\n");
        }
        printf("signing public key: %s\n", pub);
    }
    printf("budget: %" PRIu64 " / %" PRIu64 " this minute, %" PRIu64 " / %" PRIu64 " today\n",
           s->minute_used, s->minute_limit, s->day_used, s->day_limit);
}

/* With --store-dsn: the store rows of each key version. 0 or -1. */
static int count_rows(row_counts *c)
{
    if (g_opt.store_dsn == NULL)
        return 0;
    admin_table t[16];
    size_t nt;
    PGconn *db = admin_db(g_opt.store_dsn, "store");
    int rc = db == NULL || admin_store_tables(t, 16, &nt) != 0 ||
                     admin_rows_per_version(db, t, nt, &c->vr, &c->nvr) != 0
                 ? -1
                 : 0;
    PQfinish(db);
    c->have = rc == 0;
    return rc;
}

int cmd_key_status(int argc, char **argv)
{
    if (admin_is_help(argc, argv)) {
        printf("usage: vst-admin [--json] key status\n\nShows whether vst-keyd is sealed, its "
               "key versions and (with a store\nconnection) how many store rows each still "
               "has, the pseudonymization budget\nand the signing public key.\n");
        return 0;
    }
    if (argc > 1)
        return admin_fail("key status: unexpected argument %s", argv[1]);
    vst_keyd *k = admin_keyd();
    if (k == NULL)
        return 1;
    vst_status_ok s;
    uint8_t *buf;
    size_t len;
    int rc = vst_keyd_status(k, &s, &buf, &len);
    vst_keyd_close(k);
    if (rc != 0)
        return admin_fail("status: %s", vst_keyd_strerror(rc));
    row_counts c = {0};
    if (count_rows(&c) != 0) {
        vst_frame_free(buf, len);
        return 1;
    }
    char pub[2 * VST_ED25519_PUB_LEN + 1];
    vst_hex(s.signing_pubkey, VST_ED25519_PUB_LEN, pub);
    if (g_opt.json)
        print_status_json(&s, pub, &c);
    else
        print_status_text(&s, pub, &c);
    free(c.vr);
    vst_frame_free(buf, len);
    return 0;
}

int cmd_key_rotate(int argc, char **argv)
{
    if (admin_is_help(argc, argv)) {
        printf("usage: vst-admin key rotate\n\nMakes a new key version current for new "
               "deliveries. Existing store rows keep\ntheir version until `vst-admin rekey`.\n");
        return 0;
    }
    if (argc > 1)
        return admin_fail("key rotate: unexpected argument %s", argv[1]);
    vst_keyd *k = admin_keyd();
    if (k == NULL)
        return 1;
    uint32_t v;
    int rc = vst_keyd_rotate(k, &v);
    vst_keyd_close(k);
    if (rc != 0)
        return admin_fail("rotate: %s", vst_keyd_strerror(rc));
    admin_note_version(v, "current");
    printf("key version %u is current; run `vst-admin rekey` to move the store to it\n", v);
    return admin_audit_sync(1);
}

/* When rows of version v stopped being made, as a timestamptz text for the
 * store: the creation of the next version in the trust DB (vst-admin
 * records it just after keyd rotated), plus 5 s for the two servers'
 * clocks. "" if unknown: the store then counts every open delivery. */
static void retire_since(unsigned long v, char *out, size_t cap)
{
    out[0] = '\0';
    if (g_opt.trust_dsn == NULL)
        return;
    PGconn *db = admin_db(g_opt.trust_dsn, "trust");
    if (db == NULL)
        return;
    char vs[16];
    snprintf(vs, sizeof vs, "%lu", v);
    const char *params[] = {vs};
    PGresult *r = PQexecParams(db,
                               "SELECT (min(created_at) + interval '5 seconds')::text FROM "
                               "vst.key_versions WHERE version > $1::bigint",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(db);
}

/* Waits up to wait_s for what may still bring rows of version v into the
 * store: vst-httpd's delivery transactions that began before `since` (their
 * pseudonyms may be of v) and prepared delivery transactions (whose rows
 * nobody can see yet). 0 when there are none, else one line is printed. */
static int retire_wait(PGconn *db, unsigned long v, const char *since, double wait_s)
{
    const char *params[] = {since[0] ? since : NULL};
    double end = (double)time(NULL) + wait_s;
    long long in_flight = 0, prepared = 0;
    for (;;) {
        PGresult *r = PQexecParams(db, "SELECT in_flight, prepared FROM vst.retire_blockers($1)", 1,
                                   NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
            msg[strcspn(msg, "\n")] = '\0';
            PQclear(r);
            return admin_fail("key retire: checking for deliveries in flight: %s", msg);
        }
        in_flight = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        prepared = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        PQclear(r);
        if ((in_flight == 0 && prepared == 0) || (double)time(NULL) >= end)
            break;
        usleep(200000);
    }
    if (in_flight == 0 && prepared == 0)
        return 0;
    return admin_fail("key retire: rows of version %lu may still arrive: %lld delivery "
                      "transaction%s begun before version %lu stopped being current %s open and "
                      "%lld prepared delivery transaction%s pending; retry once they have "
                      "finished",
                      v, in_flight, in_flight == 1 ? "" : "s", v, in_flight == 1 ? "is" : "are",
                      prepared, prepared == 1 ? " is" : "s are");
}

/* VERSION and --wait. 0, or the exit status. */
static int parse_retire_args(int argc, char **argv, unsigned long *v, double *wait_s)
{
    const char *vtext = NULL;
    *wait_s = 10;
    for (int i = 1; i < argc; i++) {
        const char *w;
        char *e;
        if (strcmp(argv[i], "--wait") == 0 && (w = admin_optarg(argc, argv, &i))) {
            *wait_s = strtod(w, &e);
            if (*e != '\0' || !(*wait_s >= 0 && *wait_s <= 86400))
                return admin_fail("key retire: --wait needs 0..86400 seconds");
        } else if (vtext == NULL && argv[i][0] != '-') {
            vtext = argv[i];
        } else {
            return admin_fail("key retire: give exactly one VERSION (see --help)");
        }
    }
    if (vtext == NULL)
        return admin_fail("key retire: give exactly one VERSION");
    char *end;
    *v = strtoul(vtext, &end, 10);
    if (*end != '\0' || *v == 0 || *v > UINT32_MAX || vtext[0] == '+' || vtext[0] == ' ')
        return admin_fail("key retire: \"%s\" is not a key version", vtext);
    return 0;
}

/* Asks keyd first: the current version is refused whatever the store
 * holds (its rows are not "to be re-keyed first"). 0, or the exit status. */
static int refuse_current(unsigned long v)
{
    vst_keyd *k = admin_keyd();
    if (k == NULL)
        return 1;
    vst_status_ok s;
    uint8_t *sbuf;
    size_t slen;
    int rc = vst_keyd_status(k, &s, &sbuf, &slen);
    /* The checks that follow may take longer than keyd's idle-timeout:
     * RETIRE goes on a connection of its own. */
    vst_keyd_close(k);
    if (rc != 0)
        return admin_fail("key retire: status: %s", vst_keyd_strerror(rc));
    uint32_t current = s.current_version;
    vst_frame_free(sbuf, slen);
    if (current == v)
        return admin_fail("key retire: version %lu is the current version", v);
    return 0;
}

/* First what may still bring rows of v, then the rows: a delivery that
 * ends between the two has its rows counted. 0 when the store holds none,
 * or the exit status. */
static int refuse_rows(unsigned long v, double wait_s)
{
    char since[64];
    retire_since(v, since, sizeof since);
    admin_table t[16];
    size_t nt;
    admin_version_rows *vr = NULL;
    size_t nvr = 0;
    PGconn *db = admin_db(g_opt.store_dsn, "store");
    if (db == NULL || retire_wait(db, v, since, wait_s) != 0 ||
        admin_store_tables(t, 16, &nt) != 0 || admin_rows_per_version(db, t, nt, &vr, &nvr) != 0) {
        PQfinish(db);
        return 1;
    }
    PQfinish(db);
    uint64_t rows = admin_rows_of(vr, nvr, (uint32_t)v);
    free(vr);
    if (rows > 0)
        return admin_fail("key retire: the store still holds %" PRIu64
                          " rows of version %lu; run `vst-admin rekey` first",
                          rows, v);
    return 0;
}

int cmd_key_retire(int argc, char **argv)
{
    if (admin_is_help(argc, argv)) {
        printf("usage: vst-admin key retire VERSION [--wait SECONDS]\n\nDestroys the key of "
               "VERSION. Refused for the current version, while the store\nholds rows of that "
               "version (run `vst-admin rekey` first), and while rows of it\nmay still arrive: "
               "a delivery transaction of vst-httpd that began before the\nversion stopped "
               "being current, or a prepared delivery transaction. Waits up\nto --wait seconds "
               "(10) for those to finish. Needs the store connection; the\ntrust connection "
               "tells when the version stopped being current (without it\nevery open delivery "
               "counts).\n");
        return 0;
    }
    unsigned long v = 0;
    double wait_s = 10;
    int rc = parse_retire_args(argc, argv, &v, &wait_s);
    if (rc != 0 || (rc = refuse_current(v)) != 0 || (rc = refuse_rows(v, wait_s)) != 0)
        return rc;
    vst_keyd *k = admin_keyd();
    if (k == NULL)
        return 1;
    rc = vst_keyd_retire(k, (uint32_t)v);
    vst_keyd_close(k);
    if (rc == VST_KERR_NOT_CURRENT)
        return admin_fail("key retire: version %lu is the current version", v);
    if (rc != 0)
        return admin_fail("key retire: %s", vst_keyd_strerror(rc));
    admin_note_version((uint32_t)v, "retired");
    printf("key version %lu retired: its key is destroyed\n", v);
    return admin_audit_sync(1);
}

int cmd_unseal(int argc, char **argv)
{
    if (admin_is_help(argc, argv)) {
        printf("usage: vst-admin unseal SHARE-FILE\n\nGives vst-keyd one Shamir share. Once "
               "enough shares have arrived, keyd\nrebuilds the master key and opens the "
               "keystore; wrong or too few shares\nare detected and refused.\n");
        return 0;
    }
    if (argc != 2)
        return admin_fail("unseal: give exactly one SHARE-FILE");
    char err[512];
    vst_share sh;
    if (vst_share_file_read(argv[1], NULL, &sh, err, sizeof err) != VST_KS_OK)
        return admin_fail("%s", err);
    vst_unseal_req rq = {.index = sh.index, .share = sh.y};
    memcpy(rq.keystore_id, sh.keystore_id, sizeof rq.keystore_id);
    vst_keyd *k = admin_keyd();
    if (k == NULL) {
        vst_share_wipe(&sh, 1);
        return 1;
    }
    vst_unseal_ok rs;
    int rc = vst_keyd_unseal(k, &rq, &rs);
    vst_share_wipe(&sh, 1);
    vst_keyd_close(k);
    if (rc != 0)
        return admin_fail("unseal: %s", vst_keyd_strerror(rc));
    switch (rs.result) {
    case VST_UNSEAL_NEED_MORE:
        printf("share accepted: %u of %u; vst-keyd stays sealed until %u more arrive\n", rs.have,
               rs.need, (unsigned)(rs.need - rs.have));
        return 0;
    case VST_UNSEAL_DONE:
        printf("vst-keyd is unsealed\n");
        return admin_audit_sync(1);
    case VST_UNSEAL_SHARE_REFUSED:
        /* Refused on its own: keyd keeps the good shares it has, so "start
         * again" would only be refused too. */
        return admin_fail("unseal refused: this share is wrong for this keystore (its check "
                          "value does not match), a duplicate, or of another keystore; "
                          "vst-keyd keeps the %u good share%s it has and needs %u more",
                          rs.have, rs.have == 1 ? "" : "s",
                          rs.need > rs.have ? rs.need - rs.have : 0);
    case VST_UNSEAL_ROLLBACK:
        return admin_fail("unseal refused: the keystore is an older copy than the one this "
                          "vst-keyd has used (a restored backup?); put the newest keystore back "
                          "(vst-keyd's log names both generations) and unseal again");
    default:
        if (rs.have > 0)
            return admin_fail("unseal refused: the %u shares collected do not rebuild the master "
                              "key, so one of them is wrong; vst-keyd keeps them and tries every "
                              "combination when the next share arrives",
                              rs.have);
        return admin_fail("unseal refused: the shares do not rebuild the master key, or the "
                          "keystore could not be opened (vst-keyd's log says which); start again "
                          "with %u good shares",
                          rs.need);
    }
}
