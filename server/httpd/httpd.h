/* vst-httpd, the data process: HTTPS for insurers, the profile engine,
 * pseudonyms from vst-keyd, rows into the store. It holds no key.
 *
 * This header declares what the files share; a file's own header (lines.h,
 * batch.h, request.h, client_limits.h, receipt.h, store.h, sql.h,
 * delivery.h, tls_policy.h) what only its users need.
 *
 *   main.c             options, start-up, privilege drop, the MHD daemons
 *   routes.c           the route table: method, path, access, handler;
 *                      404/405 with Allow, HEAD for GET; per-request state
 *   request.c          checks of path and headers (raw delivery id, id screen)
 *   auth.c             client certificate verification and registration lookup
 *   client_limits.c    per-client fairness: request rate, identifier budget
 *   watchdog.c         closes connections whose headers or body are too slow
 *   delivery_put.c     PUT /v1/deliveries/{id}: headers, stream, batch,
 *                      commit, reply
 *   delivery_events.c  the audit events of a delivery
 *   delivery_get.c     GET /v1/deliveries/{id}: the stored receipt
 *   lines.c            the request body cut into lines, in bounded memory
 *   batch.c            rows as COPY text with holes for keyd's pseudonyms
 *   store.c            the commit protocol across the two databases: COPY,
 *                      PREPARE, the decision, COMMIT PREPARED, recovery,
 *                      the advisory locks
 *   receipt.c          receipts: load, sign after the commit, answer with one
 *   sql.c              every parameterised SQL statement, named, prepared
 *                      once per connection
 *   pool.c             worker slots: one trust PGconn, store PGconn, keyd each
 *   health.c           /healthz, /readyz (cached readiness), /metrics
 *   reply.c            problem+json and JSON responses
 *   metrics.c          counters and the latency histogram
 *   background.c       background thread: readiness probes, recovery,
 *                      receipts left unsigned, keyd events, checkpoints
 *   log.c              JSON-lines log (never an identifier) and clocks */
#ifndef VST_HTTPD_H
#define VST_HTTPD_H

#include <libpq-fe.h>
#include <microhttpd.h>
#include <stdint.h>

#include "core/vst_error.h"
#include "httpd/client_limits.h"
#include "wire/keyd_client.h"
#include "profile/profile.h"

typedef struct {
    char *listen_address;
    uint64_t port;
    char *tls_cert, *tls_key, *client_ca, *tls_priorities;
    char *trust_dsn, *store_dsn, *keyd_socket;
    char *profiles, *default_profile;
    uint64_t workers, max_connections, connection_timeout, per_ip_connections, rate_limit;
    uint64_t client_slots;           /* requests in progress per client */
    uint64_t header_timeout;         /* seconds for a request's headers */
    uint64_t min_transfer_rate;      /* body bytes/s, averaged after the grace */
    uint64_t min_rate_grace;         /* seconds before the rate is enforced */
    uint64_t client_identifiers_day; /* identifiers per client per 24 h (0 = off) */
    uint64_t keyd_timeout_ms;        /* every keyd call */
    uint64_t db_lock_timeout_ms;     /* lock_timeout of every session */
    uint64_t max_delivery_bytes, batch_records, max_errors;
    uint64_t group_max_records; /* deliveries up to this size commit in groups */
    uint64_t commit_threads;    /* committers of those groups (group_commit.c) */
    uint64_t checkpoint_events, checkpoint_seconds;
    char *monitor_address;      /* plain-HTTP loopback listener for monitoring */
    uint64_t monitor_port;      /* 0 = none */
    char *monitor_fingerprints; /* certificates that may read /metrics over HTTPS */
    char *user, *pid_file;
} httpd_config;

extern httpd_config g_hcfg;

/* ---- log (log.c) */
void hlog(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int64_t now_us(void);  /* wall clock */
int64_t mono_ms(void); /* monotonic */
int64_t mono_us(void); /* monotonic microseconds */
struct timespec;
/* now + ms on CLOCK_REALTIME, for pthread_cond_timedwait. */
void deadline_in(int ms, struct timespec *until);

/* ---- profiles (main.c) */
const vst_profile *httpd_profile(const char *name);

/* ---- worker slots (pool.c) */
typedef struct {
    PGconn *trust;
    PGconn *store;
    vst_keyd *keyd;
    /* Statements (sql.h) prepared on the current connections: one bit per
     * statement, cleared whenever a connection is replaced. */
    unsigned trust_prepared, store_prepared;
    /* Statements sent on the trust connection without waiting for their
     * answers (sql_post); taken before the connection's next use. */
    unsigned trust_posted;
} slot;

int pool_init(size_t n);
void pool_free(void);
/* Waits up to timeout_ms for a free slot; NULL when none. A client that
 * holds client-slots slots waits for one of its own to be released (NULL
 * and *busy set when that does not happen in time): one insurer cannot
 * occupy every worker. client_id 0 is not capped. */
slot *pool_acquire(int client_id, int timeout_ms, int *busy);
void pool_release(slot *s);
/* For /metrics: the workers, those taken, the requests waiting for one,
 * and the slots handed to a request that had waited long (slot_queue.h). */
void pool_stats(size_t *workers, size_t *busy, size_t *waiting, uint64_t *handed);
/* The background thread's own slot, outside the pool: housekeeping never
 * waits for a worker, and never takes one from the insurers. */
slot *pool_background(void);
/* Ensure a live connection; 0 or -1 (the caller answers 503). */
int slot_trust(slot *s);
int slot_store(slot *s);
int slot_keyd(slot *s);
/* Forget a connection that failed, so that the next use reconnects. */
void slot_drop_trust(slot *s);
void slot_drop_store(slot *s);
void slot_drop_keyd(slot *s);

/* ---- metrics (metrics.c) */
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
/* Valid records of stored deliveries not written: their person objected
 * (DESIGN.md §12). */
void metrics_withheld(uint64_t n);
/* Where a stored delivery's time went (issue 14): microseconds per phase,
 * summed over stored deliveries, so that /metrics shows the mean of each
 * (vst_delivery_phase_seconds_total / vst_deliveries_total{result="stored"}). */
typedef enum {
    PHASE_SLOT,    /* a worker slot, the attempt lock, the receipt lookup */
    PHASE_KEYD,    /* vst-keyd round trips: pseudonyms or control values */
    PHASE_COPY,    /* COPY into the store */
    PHASE_PREPARE, /* end of COPY and PREPARE TRANSACTION */
    PHASE_DECIDE,  /* the trust DB: receipt and delivery.stored, committed */
    PHASE_COMMIT,  /* COMMIT PREPARED */
    PHASE_SIGN,    /* the receipt signed by vst-keyd and recorded */
    PHASE_GROUP,   /* a small delivery: queued for and committed by its commit group */
    PHASE__COUNT
} delivery_phase;
void metrics_phases(const uint64_t us[PHASE__COUNT]);
/* Commit groups (group_commit.c): one more group of n deliveries, and the
 * time since t0_us (mono_us) of one of its phases. */
typedef enum {
    GPHASE_PREPARE, /* the rows COPYed, PREPARE TRANSACTION */
    GPHASE_DECIDE,  /* events and receipts, committed: the decision */
    GPHASE_COMMIT,  /* COMMIT PREPARED */
    GPHASE_SIGN,    /* keyd's signatures, attached */
    GPHASE__COUNT
} group_phase;
void metrics_group(size_t n);
/* A group whose rows the store refused, retried one delivery at a time. */
void metrics_group_split(void);
void metrics_group_phase(group_phase ph, int64_t t0_us);
/* A client's registration: hit 1 from the registration cache, 0 looked
 * up in the trust DB; whether the cache serves. */
void metrics_registration(int hit);
void metrics_registration_listening(int on);
void metrics_keyd_error(void);
void metrics_db_error(void);
void metrics_http(unsigned status);
/* Prometheus text; malloc'd. */
char *metrics_render(void);

/* ---- responses (reply.c). All return an MHD_Result. */
enum MHD_Result reply_problem(struct MHD_Connection *c, vst_err code, const char *detail,
                              unsigned retry_after);
/* 405 with the Allow header of the resource. */
enum MHD_Result reply_not_allowed(struct MHD_Connection *c, const char *allow);
/* Answers and closes the connection afterwards (the rest of a body is not
 * read): 413, a refused upload. */
enum MHD_Result reply_problem_close(struct MHD_Connection *c, vst_err code, const char *detail,
                                    unsigned retry_after);
enum MHD_Result reply_invalid_records(struct MHD_Connection *c, const vst_errors *errs);
enum MHD_Result reply_body(struct MHD_Connection *c, unsigned status, const char *type,
                           const char *body, size_t len);
/* The problem+json bodies of reply_problem and reply_invalid_records
 * (malloc'd text, or NULL when out of memory); test_reply pins them. */
char *reply_problem_json(vst_err code, const char *detail);
char *reply_invalid_records_json(const vst_errors *errs);

/* ---- clients (auth.c) */
/* Per TLS connection (MHD's socket context): the verified client
 * certificate — verifying the chain is done once per connection, not once
 * per request on a kept-alive one; the registration and revocation lookup
 * still happens on every request — and what the watchdog
 * (watchdog.c) needs to cut off a peer that sends its headers or
 * its body too slowly. */
typedef struct peer_cache {
    int done;  /* verification ran */
    vst_err e; /* its result */
    uint8_t fp[32];
    int fd;
    _Atomic int64_t headers_due_ms; /* the next request's headers by then; 0: they came */
    _Atomic int64_t body_t0_ms;     /* a delivery body is streaming since; 0: none */
    _Atomic uint64_t body_bytes;
    _Atomic int64_t close_at_ms;    /* a refused body: close by then if not ended; 0: none */
    _Atomic int cut_slow;           /* the watchdog closed it: its body was too slow */
    struct peer_cache *prev, *next; /* the watchdog's list */
} peer_cache;

/* ---- watchdog (watchdog.c): libmicrohttpd's connection timeout
 * only measures idleness, so a peer sending a byte now and then could hold
 * a connection (and, with a body, a worker) for ever. */
void watchdog_add(peer_cache *pc);
void watchdog_remove(peer_cache *pc);
/* The watchdog's thread: closes connections that missed a deadline. */
int watchdog_start(void);
void watchdog_stop(void);
/* The connection of c, or NULL. */
peer_cache *peer_of(struct MHD_Connection *c);
typedef struct {
    int id;
    char name[VST_CLIENT_NAME_MAX + 1];
    int have_fp; /* the certificate verified and its fingerprint is known */
    uint8_t fp[32];
    int monitor; /* the certificate is one of monitor-fingerprints */
    /* Requests per minute from the registration (vst.clients.rate_limit,
     * read with it on every request, so a change needs no restart); 0 =
     * unlimited, -1 = NULL there: the configured --rate-limit applies. */
    int64_t rate_limit;
} client_info;
int auth_init(void);
void auth_free(void);
/* Verifies the TLS client certificate (chain, validity, the clientAuth
 * purpose) and looks its key up in vst.clients on the authentication
 * connection — before the request takes a worker slot, so that peers that
 * are not registered insurers never occupy one. VST_E_OK, CERT_REQUIRED,
 * CLIENT_UNKNOWN, CLIENT_REVOKED, UNAVAILABLE. A monitoring certificate
 * (monitor-fingerprints) verifies with ci->monitor = 1 and id 0; it is
 * CLIENT_UNKNOWN for anything but monitoring. */
vst_err auth_client(struct MHD_Connection *c, client_info *out);
/* Audits a failed authentication (auth.failed: the code, the request
 * method and the certificate's fingerprint when one verified) and logs it.
 * Throttled: at most 30 events and log lines a minute, the rest counted
 * into the next one, so that unauthenticated peers can flood neither the
 * hash chain nor the log. */
void auth_audit_failure(vst_err e, const client_info *ci, const char *method);
/* Monitoring certificates from the option: 0, or -1 when malformed. */
int auth_monitor_init(const char *list, char *err, size_t errlen);

/* ---- routes (routes.c) */
/* What a route's handler gets besides the connection: the {id} segment of
 * the path (a checked delivery id), and for PUT this call's body bytes and
 * the handler's state across libmicrohttpd's calls for one request. */
typedef struct {
    const char *id;
    const char *upload;
    size_t *upload_size;
    void **state;
} http_call;
typedef enum MHD_Result http_handler(struct MHD_Connection *c, const http_call *call);

/* MHD_OPTION_URI_LOG_CALLBACK: the request object, with the raw
 * (undecoded) URI, before MHD decodes it. */
void *httpd_request_new(void *cls, const char *uri, struct MHD_Connection *c);
enum MHD_Result httpd_dispatch(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls);
void httpd_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                     enum MHD_RequestTerminationCode toe);

/* ---- deliveries (delivery_put.c, delivery_get.c) */
typedef struct delivery delivery;
http_handler delivery_put;
/* Frees delivery_put's state when the request ends, also when the client
 * went away mid-body: the store transaction is rolled back and the slot
 * returned. */
void delivery_put_done(void *state);
http_handler delivery_get; /* HEAD too: libmicrohttpd omits the body */

/* ---- health (health.c). Readiness is probed by the background
 * thread every second and served from that cache: /readyz costs no slot
 * and no query or keyd call of its own. A keyd that stopped answering is
 * remembered as stalled until it answers a probe again, and deliveries are
 * refused at once meanwhile. */
http_handler health_healthz;
http_handler health_readyz;
http_handler health_metrics;
/* Probes the databases and keyd on s and caches the result. */
void health_probe(slot *s);
/* NULL when ready, else why not (a constant string). */
const char *health_not_ready(void);
/* A dependency failed on a request's path: not ready until the next
 * successful probe. */
void health_mark_down(const char *why);
/* A keyd call timed out: stalled until a probe gets an answer. */
void health_mark_keyd_stalled(void);
int health_keyd_stalled(void);
/* The background thread's pause: ms, or less when /readyz wants a probe. */
void health_wait_tick(int ms);
/* Ends a health_wait_tick at once (shutdown). */
void health_wake(void);

/* ---- crash recovery (store.c, store_recover; main.c, background.c).
 * Set once start-up recovery has resolved every prepared store
 * transaction; deliveries are answered 503 until then. */
extern volatile int g_recovered;

/* ---- the background thread (background.c) */
int background_start(void);
void background_stop(void);

#endif
