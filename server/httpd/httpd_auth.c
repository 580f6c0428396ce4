/* Client authentication. libmicrohttpd only *requests* a client
 * certificate during the handshake; it is verified here, per request:
 * the chain must verify against the configured client CA (GnuTLS checks
 * signature and validity period), and the SHA-256 of its
 * SubjectPublicKeyInfo must be registered in vst.clients and not revoked.
 * Also the per-client rate limit (a token bucket). */
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "common/hex.h"
#include "httpd.h"

/* SHA-256 of the DER SubjectPublicKeyInfo of the verified peer certificate. */
static vst_err peer_fingerprint(struct MHD_Connection *c, uint8_t fp[32])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci == NULL || ci->tls_session == NULL)
        return VST_E_CERT_REQUIRED;
    gnutls_session_t tls = (gnutls_session_t)ci->tls_session;
    unsigned status = 0;
    if (gnutls_certificate_type_get(tls) != GNUTLS_CRT_X509 ||
        gnutls_certificate_verify_peers2(tls, &status) != GNUTLS_E_SUCCESS || status != 0)
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

vst_err auth_client(struct MHD_Connection *c, slot *s, client_info *out)
{
    uint8_t fp[32];
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
    out->have_fp = 0;
    if (e != VST_E_OK)
        return e;
    memcpy(out->fp, fp, sizeof fp);
    out->have_fp = 1;
    if (slot_trust(s) != 0)
        return VST_E_UNAVAILABLE;
    const char *params[] = {(const char *)fp};
    int lens[] = {32}, fmts[] = {1};
    PGresult *r = PQexecParams(
        s->trust, "SELECT id, name, state FROM vst.clients WHERE cert_fingerprint = $1", 1, NULL,
        params, lens, fmts, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        slot_drop_trust(s);
        metrics_db_error();
        return VST_E_UNAVAILABLE;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        return VST_E_CLIENT_UNKNOWN;
    }
    out->id = atoi(PQgetvalue(r, 0, 0));
    snprintf(out->name, sizeof out->name, "%s", PQgetvalue(r, 0, 1));
    e = strcmp(PQgetvalue(r, 0, 2), "active") == 0 ? VST_E_OK : VST_E_CLIENT_REVOKED;
    PQclear(r);
    return e;
}

void auth_audit_failure(slot *s, vst_err e, const client_info *ci, const char *method)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static int64_t window = -1;
    static unsigned in_window, suppressed;
    if (e == VST_E_UNAVAILABLE)
        return; /* not an authentication failure */
    int64_t minute = mono_ms() / 60000;
    unsigned skipped = 0;
    pthread_mutex_lock(&mu);
    if (minute != window) {
        window = minute;
        in_window = 0;
    }
    int write = in_window++ < 30;
    if (write) {
        skipped = suppressed;
        suppressed = 0;
    } else {
        suppressed++;
    }
    pthread_mutex_unlock(&mu);
    hlog("warning", "%s refused: %s", method, vst_err_code(e));
    if (!write || slot_trust(s) != 0)
        return;
    char fp[65] = "";
    if (ci->have_fp)
        vst_hex(ci->fp, 32, fp);
    char details[256];
    snprintf(details, sizeof details,
             "{\"code\":\"%s\",\"method\":\"%s\",\"cert_fingerprint\":%s%s%s,"
             "\"suppressed\":%u}",
             vst_err_code(e), method, ci->have_fp ? "\"" : "", ci->have_fp ? fp : "null",
             ci->have_fp ? "\"" : "", skipped);
    if (vst_audit_append(s->trust, "vst-httpd", "auth.failed", NULL, details, NULL) != 0)
        metrics_db_error();
}

/* Token bucket per client: capacity = rate per minute, refilled
 * continuously. A small open-addressed table; clients are few. */
#define BUCKETS 1024
static struct {
    int id;
    double tokens;
    int64_t at_ms;
} bucket[BUCKETS];
static pthread_mutex_t rate_mu = PTHREAD_MUTEX_INITIALIZER;

unsigned rate_check(int client_id)
{
    if (g_hcfg.rate_limit == 0)
        return 0;
    double cap = (double)g_hcfg.rate_limit, per_ms = cap / 60000.0;
    int64_t now = mono_ms();
    unsigned wait = 0;
    pthread_mutex_lock(&rate_mu);
    size_t i = (size_t)client_id % BUCKETS;
    for (size_t k = 0; k < BUCKETS; k++, i = (i + 1) % BUCKETS)
        if (bucket[i].id == client_id || bucket[i].id == 0)
            break;
    if (bucket[i].id == 0) {
        bucket[i].id = client_id;
        bucket[i].tokens = cap;
        bucket[i].at_ms = now;
    }
    bucket[i].tokens += (double)(now - bucket[i].at_ms) * per_ms;
    if (bucket[i].tokens > cap)
        bucket[i].tokens = cap;
    bucket[i].at_ms = now;
    if (bucket[i].tokens >= 1.0)
        bucket[i].tokens -= 1.0;
    else
        wait = (unsigned)((1.0 - bucket[i].tokens) / per_ms / 1000.0) + 1;
    pthread_mutex_unlock(&rate_mu);
    return wait;
}
