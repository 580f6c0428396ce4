/* Client authentication. libmicrohttpd only *requests* a client
 * certificate during the handshake; it is verified here: the chain must
 * verify against the configured client CA for the TLS client purpose
 * (GnuTLS checks signatures, validity and, where present, the extended key
 * usage: a server certificate is no client certificate), and the SHA-256 of
 * its SubjectPublicKeyInfo must be registered in vst.clients and not
 * revoked — or be one of the monitoring certificates.
 *
 * The registration lookup runs on one authentication connection of its
 * own (or is answered by the registration cache, registry.h), before a
 * request takes a worker slot: a peer that is not a
 * registered insurer never holds a slot, a database connection of a
 * worker, or a keyd connection. */
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/hex.h"
#include "httpd/httpd.h"
#include "httpd/registry.h"
#include "httpd/sql.h"

/* ---- monitoring certificates */

#define MONITORS_MAX 16
static uint8_t monitors[MONITORS_MAX][32];
static size_t nmonitors;

int auth_monitor_init(const char *list, char *err, size_t errlen)
{
    char buf[MONITORS_MAX * 80];
    snprintf(buf, sizeof buf, "%s", list);
    nmonitors = 0;
    for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (nmonitors == MONITORS_MAX || strlen(t) != 64 ||
            vst_unhex(t, 32, monitors[nmonitors]) != 0) {
            snprintf(err, errlen,
                     "monitor-fingerprints: at most %d SHA-256 public-key fingerprints of 64 hex "
                     "digits (vst-admin client add prints the form)",
                     MONITORS_MAX);
            return -1;
        }
        nmonitors++;
    }
    return 0;
}

static int is_monitor(const uint8_t fp[32])
{
    for (size_t i = 0; i < nmonitors; i++)
        if (memcmp(monitors[i], fp, 32) == 0)
            return 1;
    return 0;
}

/* ---- the certificate */

/* SHA-256 of the DER SubjectPublicKeyInfo of the verified peer certificate. */
static vst_err peer_fingerprint(struct MHD_Connection *c, uint8_t fp[32])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci == NULL || ci->tls_session == NULL)
        return VST_E_CERT_REQUIRED;
    gnutls_session_t tls = (gnutls_session_t)ci->tls_session;
    unsigned status = 0;
    /* The TLS client purpose: a chain whose certificates carry an extended
     * key usage without clientAuth does not verify. */
    gnutls_typed_vdata_st purpose = {GNUTLS_DT_KEY_PURPOSE_OID,
                                     (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0};
    if (gnutls_certificate_type_get(tls) != GNUTLS_CRT_X509 ||
        gnutls_certificate_verify_peers(tls, &purpose, 1, &status) != GNUTLS_E_SUCCESS ||
        status != 0)
        return VST_E_CERT_REQUIRED;
    unsigned n = 0;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers(tls, &n);
    if (peers == NULL || n == 0)
        return VST_E_CERT_REQUIRED;
    gnutls_x509_crt_t crt = NULL;
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t spki = {NULL, 0};
    vst_err e = VST_E_CERT_REQUIRED;
    if (gnutls_x509_crt_init(&crt) == 0 &&
        gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) == 0 &&
        gnutls_pubkey_init(&pub) == 0 && gnutls_pubkey_import_x509(pub, crt, 0) == 0 &&
        gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki) == 0) {
        SHA256(spki.data, spki.size, fp);
        e = VST_E_OK;
    }
    gnutls_free(spki.data);
    if (pub)
        gnutls_pubkey_deinit(pub);
    if (crt)
        gnutls_x509_crt_deinit(crt);
    return e;
}

/* ---- the authentication connection */

static pthread_mutex_t db_mu = PTHREAD_MUTEX_INITIALIZER;
static slot auth_slot; /* only .trust is used */

int auth_init(void)
{
    return 0;
}

void auth_free(void)
{
    pthread_mutex_lock(&db_mu);
    slot_drop_trust(&auth_slot);
    pthread_mutex_unlock(&db_mu);
}

/* Under db_mu. */
static vst_err lookup(const uint8_t fp[32], client_info *out)
{
    if (slot_trust(&auth_slot) != 0)
        return VST_E_UNAVAILABLE;
    const char *params[] = {(const char *)fp};
    int lens[] = {32}, fmts[] = {1};
    PGresult *r = sql_run(&auth_slot, SQL_CLIENT_BY_FINGERPRINT, params, lens, fmts);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        slot_drop_trust(&auth_slot);
        metrics_db_error();
        health_mark_down("the trust DB is unreachable");
        return VST_E_UNAVAILABLE;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        return VST_E_CLIENT_UNKNOWN;
    }
    out->id = atoi(PQgetvalue(r, 0, 0));
    snprintf(out->name, sizeof out->name, "%s", PQgetvalue(r, 0, 1));
    out->rate_limit = PQgetisnull(r, 0, 3) ? -1 : strtoll(PQgetvalue(r, 0, 3), NULL, 10);
    vst_err e = strcmp(PQgetvalue(r, 0, 2), "active") == 0 ? VST_E_OK : VST_E_CLIENT_REVOKED;
    PQclear(r);
    return e;
}

vst_err auth_client(struct MHD_Connection *c, client_info *out)
{
    uint8_t fp[32];
    memset(out, 0, sizeof *out);
    out->rate_limit = -1;
    /* Verifying the chain once per TLS connection, not per request on a
     * kept-alive one; the registration is looked up for every request —
     * in the registration cache while vst.clients is watched (registry.h),
     * so a revocation takes effect as soon as it commits. */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    peer_cache *pc = ci ? ci->socket_context : NULL;
    vst_err e;
    if (pc != NULL && pc->done) {
        e = pc->e;
        memcpy(fp, pc->fp, sizeof fp);
    } else {
        e = peer_fingerprint(c, fp);
        if (pc != NULL) {
            pc->done = 1;
            pc->e = e;
            memcpy(pc->fp, fp, sizeof fp);
        }
    }
    if (e != VST_E_OK)
        return e;
    memcpy(out->fp, fp, sizeof fp);
    out->have_fp = 1;
    if (is_monitor(fp)) {
        out->monitor = 1;
        return VST_E_OK;
    }
    if (registry_get(fp, out, &e))
        return e;
    uint64_t gen = registry_generation();
    pthread_mutex_lock(&db_mu);
    e = lookup(fp, out);
    pthread_mutex_unlock(&db_mu);
    registry_put(fp, out, e, gen);
    return e;
}

/* Refusals written to the log and the audit trail: at most THROTTLE_MAX in
 * any THROTTLE_MS (a sliding window over the times of the last
 * THROTTLE_MAX written: a fixed per-minute window would let twice as many
 * through around a minute's boundary). */
#define THROTTLE_MAX 30
#define THROTTLE_MS 60000
typedef struct {
    pthread_mutex_t mu;
    int64_t written[THROTTLE_MAX]; /* ring of the last times written; 0: free */
    unsigned next;                 /* the oldest of them */
    unsigned suppressed;           /* since the last one written */
} throttle_state;

/* Returns 1 and the number suppressed since the last one written when this
 * one may be written. */
static int throttle(throttle_state *t, unsigned *skipped)
{
    int64_t now = mono_ms();
    pthread_mutex_lock(&t->mu);
    int write = t->written[t->next] == 0 || now - t->written[t->next] >= THROTTLE_MS;
    if (write) {
        t->written[t->next] = now > 0 ? now : 1;
        t->next = (t->next + 1) % THROTTLE_MAX;
        *skipped = t->suppressed;
        t->suppressed = 0;
    } else {
        t->suppressed++;
    }
    pthread_mutex_unlock(&t->mu);
    return write;
}

void auth_audit_failure(vst_err e, const client_info *ci, const char *method)
{
    static throttle_state t = {.mu = PTHREAD_MUTEX_INITIALIZER};
    if (e == VST_E_UNAVAILABLE)
        return; /* not an authentication failure */
    unsigned skipped = 0;
    if (!throttle(&t, &skipped))
        return;
    hlog("warning", "%s refused: %s (%u similar refusals not logged)", method, vst_err_code(e),
         skipped);
    char fp[65] = "";
    if (ci->have_fp)
        vst_hex(ci->fp, 32, fp);
    char details[256];
    snprintf(details, sizeof details,
             "{\"code\":\"%s\",\"method\":\"%s\",\"cert_fingerprint\":%s%s%s,"
             "\"suppressed\":%u}",
             vst_err_code(e), method, ci->have_fp ? "\"" : "", ci->have_fp ? fp : "null",
             ci->have_fp ? "\"" : "", skipped);
    pthread_mutex_lock(&db_mu);
    if (slot_trust(&auth_slot) != 0 ||
        vst_audit_append(auth_slot.trust, "vst-httpd", "auth.failed", NULL, details, NULL) != 0)
        metrics_db_error();
    pthread_mutex_unlock(&db_mu);
}
