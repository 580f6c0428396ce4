/* vst-httpd, the data process: HTTPS for insurers, the profile engine,
 * pseudonyms from vst-keyd, rows into the store. It holds no key.
 *
 *   httpd_main.c      options, start-up, privilege drop, the MHD daemon
 *   httpd_routes.c    the route table and per-request state
 *   httpd_auth.c      client certificate verification and lookup, rate limit
 *   httpd_delivery.c  PUT/GET /v1/deliveries/{id}: streaming, batching
 *   httpd_lines.c     the request body cut into lines, in bounded memory
 *   httpd_store.c     COPY into the store and the two-database commit
 *   httpd_pool.c      worker slots: one trust PGconn, store PGconn, keyd each
 *   httpd_health.c    /healthz, /readyz, /metrics
 *   httpd_problem.c   problem+json and JSON responses
 *   httpd_metrics.c   counters and the latency histogram
 *   httpd_audit.c     background thread: keyd events, checkpoints, recovery
 *   httpd_log.c       JSON-lines log (never an identifier) */
#ifndef VST_HTTPD_H
#define VST_HTTPD_H

#include <libpq-fe.h>
#include <microhttpd.h>
#include <stdint.h>

#include "common/vst_error.h"
#include "keyd_client.h"
#include "profile/profile.h"

typedef struct {
    char *listen_address;
    uint64_t port;
    char *tls_cert, *tls_key, *client_ca, *tls_priorities;
    char *trust_dsn, *store_dsn, *keyd_socket;
    char *profiles, *default_profile;
    uint64_t workers, connection_timeout, per_ip_connections, rate_limit;
    uint64_t max_delivery_bytes, batch_records, max_errors;
    uint64_t checkpoint_events, checkpoint_seconds;
    char *user, *pid_file;
} httpd_config;

extern httpd_config g_hcfg;

/* ---- log (httpd_log.c) */
void hlog(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int64_t now_us(void);  /* wall clock */
int64_t mono_ms(void); /* monotonic */

/* ---- profiles (httpd_main.c) */
const vst_profile *httpd_profile(const char *name);

/* ---- worker slots (httpd_pool.c) */
typedef struct {
    PGconn *trust;
    PGconn *store;
    vst_keyd *keyd;
    int in_use;
} slot;

int pool_init(size_t n);
void pool_free(void);
/* Waits up to timeout_ms for a free slot; NULL when none. */
slot *pool_acquire(int timeout_ms);
void pool_release(slot *s);
/* Ensure a live connection; 0 or -1 (the caller answers 503). */
int slot_trust(slot *s);
int slot_store(slot *s);
int slot_keyd(slot *s);
/* Forget a connection that failed, so that the next use reconnects. */
void slot_drop_trust(slot *s);
void slot_drop_store(slot *s);
void slot_drop_keyd(slot *s);

/* ---- metrics (httpd_metrics.c) */
typedef enum {
    M_STORED,
    M_REPLAYED,
    M_REJECTED,
    M_CONFLICT,
    M_UNAVAILABLE,
    M_REFUSED, /* auth, size, type, rate */
    M__RESULTS
} metric_result;
void metrics_delivery(metric_result r, uint64_t records, double seconds);
void metrics_rejection(vst_err code, uint64_t n);
void metrics_keyd_error(void);
void metrics_db_error(void);
void metrics_http(unsigned status);
/* Prometheus text; malloc'd. */
char *metrics_render(void);

/* ---- responses (httpd_problem.c). All return an MHD_Result. */
enum MHD_Result reply_problem(struct MHD_Connection *c, vst_err code, const char *detail,
                              unsigned retry_after);
enum MHD_Result reply_invalid_records(struct MHD_Connection *c, const vst_errors *errs);
enum MHD_Result reply_body(struct MHD_Connection *c, unsigned status, const char *type,
                           const char *body, size_t len);

/* ---- clients (httpd_auth.c) */
/* A TLS connection's verified client certificate: verifying the chain is
 * done once per connection, not once per request on a kept-alive one. The
 * registration and revocation lookup still happens on every request. */
typedef struct {
    int done;  /* verification ran */
    vst_err e; /* its result */
    uint8_t fp[32];
} peer_cache;
typedef struct {
    int id;
    char name[129];
    int have_fp; /* the certificate verified and its fingerprint is known */
    uint8_t fp[32];
} client_info;
/* Verifies the TLS client certificate and looks it up (needs s->trust).
 * VST_E_OK, CERT_REQUIRED, CLIENT_UNKNOWN, CLIENT_REVOKED, UNAVAILABLE. */
vst_err auth_client(struct MHD_Connection *c, slot *s, client_info *out);
/* Audits a failed authentication (auth.failed: the code, the request
 * method and the certificate's fingerprint when one verified). Throttled:
 * at most 30 events a minute, the rest counted into the next one, so that
 * unauthenticated peers cannot flood the hash chain. */
void auth_audit_failure(slot *s, vst_err e, const client_info *ci, const char *method);
/* Token bucket per client: 0 if allowed, else seconds to wait. */
unsigned rate_check(int client_id);

/* ---- routes (httpd_routes.c) */
enum MHD_Result httpd_dispatch(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls);
void httpd_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                     enum MHD_RequestTerminationCode toe);

/* ---- deliveries (httpd_delivery.c) */
typedef struct delivery delivery;
enum MHD_Result delivery_put(struct MHD_Connection *c, const char *id, const char *upload,
                             size_t *upload_size, void **state);
enum MHD_Result delivery_get(struct MHD_Connection *c, const char *id);
void delivery_free(delivery *d);

/* ---- health (httpd_health.c) */
enum MHD_Result health_healthz(struct MHD_Connection *c);
enum MHD_Result health_readyz(struct MHD_Connection *c);
enum MHD_Result health_metrics(struct MHD_Connection *c);

/* ---- store (httpd_store.c) */
/* Resolves prepared store transactions left by a crash: commit those whose
 * receipt exists, roll back the others. min_age_s protects transactions of
 * deliveries still in flight (0 at start-up). Returns resolved count or -1. */
int store_recover(slot *s, int min_age_s);

/* Set once start-up recovery has resolved every prepared store
 * transaction; deliveries are answered 503 until then. */
extern volatile int g_recovered;

/* ---- audit thread (httpd_audit.c) */
int audit_thread_start(void);
void audit_thread_stop(void);

#endif
