/* vst-keyd, the key process: shared state of its modules.
 *
 *   keyd_main.c      options, start-up order, the poll loop, shutdown
 *   keyd_net.c       listening sockets, peer-uid check, framed non-blocking I/O
 *   keyd_handlers.c  one handler per request type; the dispatch table
 *                    generated from server/wire/messages.def
 *   keyd_keys.c      sealed/unsealed state, shares, key contexts, signing
 *   keyd_release.c   a connection's release key (RELEASE_OPEN/_MAP)
 *   keyd_cases.c     the exception list: lookup tables, substitution,
 *                    DISCLOSE and OBJECT (DESIGN.md §12)
 *   keyd_link.c      control values: CV_DERIVE, CV_REKEY (DESIGN.md §13)
 *   keyd_overlap.c   a connection's count-only overlap query
 *                    (OVERLAP_OPEN/FEED/RUN/SIGN) and the per-pair budget
 *   keyd_budget.c    the pseudonymization budget (per domain: minute, day)
 *   keyd_usage.c     what each peer was served: counters, signed usage events
 *   keyd_checkpoint.c  the last signed checkpoint: no regression, no fork
 *   keyd_state.c     authenticated state files that survive restarts
 *   keyd_events.c    the event stream (file + ring served by EVENTS)
 *   keyd_sandbox.c   privilege drop, memory locking
 *   keyd_seccomp.c   the seccomp allowlist
 *
 * keyd is single-threaded: one request is handled at a time, so key
 * contexts need no locks and a batch of 65536 identifiers takes ~10 ms. */
#ifndef VST_KEYD_H
#define VST_KEYD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"
#include "derive.h"
#include "keystore.h"
#include "link_derive.h"
#include "wire/proto.h"
#include "shamir.h"

/* ---- configuration (keyd_main.c) */
typedef struct {
    char *keystore;     /* keystore directory */
    char *data_socket;  /* path of the data socket (vst-httpd) */
    char *admin_socket; /* path of the admin socket (vst-admin) */
    vst_uid_list data_uids;
    vst_uid_list admin_uids;
    unsigned socket_mode;
    char *events_file;
    char *dev_master_key; /* development only: unseal from a master-key file */
    char *domains;        /* comma-separated allowlist of pseudonym domains */
    uint64_t budget_minute, budget_day;
    uint64_t budget_minute_soft, budget_day_soft; /* 0: a quarter of the hard limit */
    uint64_t usage_interval;                      /* seconds between usage events */
    char *state_dir;                              /* "": the events file's directory */
    uint64_t max_data_connections;                /* open data-socket connections at most */
    uint64_t max_admin_connections;               /* admin slots that data peers can never take */
    uint64_t frame_timeout;                       /* seconds to receive a started frame */
    uint64_t idle_timeout;      /* seconds between frames before a close; 0: never */
    uint64_t max_buffered_mib;  /* data-socket payloads and replies held at once */
    uint64_t accept_generation; /* an older keystore generation to accept; 0: none */
    char *user;                 /* when started as root: drop to this user */
    int seccomp;
    char *pid_file;
    uint64_t overlap_budget;      /* overlap queries per collection pair per UTC day */
    uint64_t overlap_max_records; /* records per side of one overlap query */
} keyd_config;

extern keyd_config g_cfg;

/* ---- logging: one JSON line per message on stderr. Never an identifier,
 * inner value, pseudonym or key: callers pass counts, names and codes. */
void keyd_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- events (keyd_events.c) */
int keyd_events_open(const char *path, char *err, size_t errlen);
void keyd_events_close(void);
/* details: a JSON object text built from counts/names only. */
void keyd_event(uint32_t actor_uid, const char *action, const char *details_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends events with seq > after (at most max) to an EVENTS response. */
int keyd_events_serve(uint64_t after, uint16_t max, vst_wr *w);
uint64_t keyd_events_last_seq(void);

/* ---- budget (keyd_budget.c): per pseudonym domain */
#define KEYD_MAX_DOMAINS 64 /* budget windows kept: the allowlist holds at most 32 */
void keyd_budget_init(uint64_t per_minute, uint64_t per_day, uint64_t soft_minute,
                      uint64_t soft_day);
uint64_t keyd_budget_limit(int day);
uint64_t keyd_budget_soft(int day);
/* 0 if n more identifiers of the domain fit both windows now; else -1 and
 * a keyd.budget_alarm (at most one per window and domain). */
int keyd_budget_check(const char *domain, uint64_t n, uint32_t actor_uid);
/* Raises the current minute bucket's reservation to count + n + chunk if
 * count + n is above it: 1 if raised (the state must be written), 0 if not,
 * -1 on error. */
int keyd_budget_reserve(const char *domain, uint64_t n, uint64_t chunk);
/* Counts n served identifiers; raises keyd.budget_soft_alarm above a soft
 * limit (at most once per window and domain). */
void keyd_budget_charge(const char *domain, uint64_t n, uint32_t actor_uid);
/* STATUS: the most used domain's windows. */
void keyd_budget_usage(uint64_t *minute_used, uint64_t *minute_limit, uint64_t *day_used,
                       uint64_t *day_limit);
/* The minute buckets in the usage state file (keyd_usage.c). */
int keyd_budget_save(vst_wr *w, int exact);
int keyd_budget_load(vst_rd *r);
void keyd_budget_free(void);

/* ---- usage (keyd_usage.c) */
typedef struct keyd_conn keyd_conn;
/* What one request maps, per domain ("" for operations without one). */
typedef struct {
    size_t n;
    const char *domain[VST_SECTIONS_MAX];
    uint64_t count[VST_SECTIONS_MAX];
} keyd_charge;
void keyd_usage_init(uint64_t interval_seconds, uint64_t budget_minute);
/* Loads the usage state (at unseal): "loaded", "missing", "invalid" or
 * "error"; anything but "loaded" starts from zero. */
const char *keyd_usage_load(void);
/* Before serving op (VST_USAGE_OP_*): the budget (PSEUDONYMIZE) and the
 * write-ahead reservation. 0, or the error code to answer with. */
unsigned keyd_usage_admit(const keyd_conn *c, uint8_t op, const keyd_charge *ch);
/* After serving: the counts. */
void keyd_usage_done(const keyd_conn *c, uint8_t op, const keyd_charge *ch);
/* From the poll loop: periodic usage events, retried state writes. */
void keyd_usage_tick(void);
/* At shutdown: the last usage event and the exact counts on disk. */
void keyd_usage_shutdown(void);
void keyd_usage_free(void);

/* ---- checkpoints (keyd_checkpoint.c) */
const char *keyd_checkpoint_load(void); /* as keyd_usage_load */
/* 0 to sign (the new last (seq, head) is on disk; *repeat = 1 for the
 * same (seq, head) again), or checkpoint_regression / checkpoint_fork /
 * internal. */
unsigned keyd_checkpoint_admit(uint64_t seq, const uint8_t head[VST_SHA256_LEN], int *repeat);
/* Records a forward signature (keyd.checkpoint_signed, rate-limited). */
void keyd_checkpoint_signed(uint32_t uid, uint64_t seq, const uint8_t head[VST_SHA256_LEN],
                            int64_t time_us);
/* From the poll loop (and at shutdown: shutdown = 1, no rate limit). */
void keyd_checkpoint_tick(int shutdown);

/* ---- state files (keyd_state.c) */
typedef enum {
    KEYD_STATE_OK = 0,
    KEYD_STATE_MISSING = 1,
    KEYD_STATE_INVALID = 2, /* unreadable, malformed or MAC mismatch */
    KEYD_STATE_ERROR = -1,  /* no directory or key */
} keyd_state_rc;
/* Opens the state directory (at start-up, before the sandbox). */
int keyd_state_open(const char *dir, char *err, size_t errlen);
void keyd_state_close(void);
/* Derives the files' MAC key from the root key: once unsealed. */
int keyd_state_unlock(void);
/* The payload of a valid file (malloc'd, free it). */
keyd_state_rc keyd_state_load(const char *name, uint8_t **payload, size_t *len);
/* Replaces the file atomically (temp, fsync, rename, fsync dir); 0 or -1. */
int keyd_state_save(const char *name, const uint8_t *payload, size_t len);
/* Renames an invalid file to NAME.rejected (kept for inspection). */
void keyd_state_set_aside(const char *name);
/* At unseal: unlock, load every state, audit what was missing or invalid. */
void keyd_state_unsealed(void);

/* ---- keys (keyd_keys.c) */
int keyd_keys_init(const char *keystore_dir, const char *domains, char *err, size_t errlen);
void keyd_keys_free(void);
int keyd_sealed(void);
int keyd_dev_master(void);
void keyd_share_counts(uint8_t *have, uint8_t *need);
/* Unseals from a development master-key file. */
int keyd_unseal_dev(const char *path, char *err, size_t errlen);
/* Adds one share; result VST_UNSEAL_*. A share that fails its own checks
 * is refused alone (the others stay); a keystore older than the highest
 * generation recorded for it is refused (VST_UNSEAL_ROLLBACK). */
int keyd_unseal_share(const vst_unseal_req *rq, uint32_t actor_uid, vst_unseal_ok *out);
/* From the events file at start (keyd_events.c): the keystore with this
 * id was at this generation. Needs keyd_keys_init first. */
void keyd_keys_note_generation(const char *keystore_hex, uint64_t generation);
const char *keyd_keystore_id(void);      /* hex, from keystore.info */
uint64_t keyd_keystore_generation(void); /* 0 while sealed */
uint32_t keyd_current_version(void);
size_t keyd_versions(vst_key_version *out, size_t max);
const uint8_t *keyd_sign_public(void);
/* Domain key for an allowed domain (created on first use); NULL if the
 * domain is not allowed. */
const vst_domain_key *keyd_domain(const char *name);
/* 1 if the domain is on keyd's allowlist. */
int keyd_domain_allowed(const char *name);
/* K_link,d of an allowed domain (link_derive.h), new for the caller
 * (vst_link_key_free); NULL if not allowed or sealed. */
vst_link_key *keyd_link_key_new(const char *domain);
/* The collection layer K_v,c of a live version (vst_version_key_free);
 * NULL with *kerr unknown_version, retired_version or internal. */
vst_version_key *keyd_collection_key_new(uint32_t v, const char *collection, unsigned *kerr);
/* Version key context; *kerr set to unknown/retired when NULL. */
vst_version_key *keyd_version(uint32_t v, unsigned *kerr);
unsigned keyd_rotate(uint32_t *new_version);
unsigned keyd_retire(uint32_t version);
int keyd_sign(const uint8_t *msg, size_t len, uint8_t sig[64]);
/* HKDF of the root key with keyd's own info string (e.g. the state files'
 * MAC key); -1 while sealed. Wipe out after use. */
int keyd_derive_key(const char *info, uint8_t out[VST_KEY_LEN]);
/* The open keystore (NULL while sealed). */
vst_keystore *keyd_keystore(void);
/* After keyd_cases.c wrote the keystore: its generation is the one seen. */
void keyd_keys_written(void);

/* ---- the exception list (keyd_cases.c) */
typedef struct keyd_case_table keyd_case_table;
/* (Re)builds the tables from the keystore's list: at unseal and after
 * every change. 0, or -1 (keyd_cases_broken then). */
int keyd_cases_load(const vst_keystore *ks);
void keyd_cases_free(void);
/* 1 after a failed rebuild: serve no pseudonym until a rebuild succeeds. */
int keyd_cases_broken(void);
/* The table of a domain; NULL when the domain has no entry (skip it). */
const keyd_case_table *keyd_cases_table(const char *domain);
/* PSEUDONYMIZE's hot path for one section: the inner values of n
 * identifiers (id_len bytes each) into out, and, with t (the domain's
 * table, NULL when it has none), a substitute's I replaced by the person's
 * current value (I*, chains followed) and a withheld identifier's index
 * listed in withheld (ascending; room for n), its value left as it was.
 * Returns how many were withheld. */
uint32_t keyd_cases_derive(const vst_domain_key *dk, const keyd_case_table *t, const uint8_t *ids,
                           uint8_t id_len, uint32_t n, uint8_t *out, uint32_t *withheld);
/* 1 if the list has an entry. */
int keyd_cases_any(void);
/* 1 if v (an inner value of any domain) is an entry's I or I*: a person
 * with a case, whose rows never enter a release. */
int keyd_cases_excluded(const uint8_t v[VST_INNER_LEN]);
/* What DISCLOSE and OBJECT answer, as inner values: DISCLOSE the disclosed
 * I and its I*; OBJECT the value the person's rows carry (in both). */
typedef struct {
    uint8_t case_id[VST_CASE_ID_LEN];
    int existed;
    uint8_t p_inner[VST_INNER_LEN];
    uint8_t star_inner[VST_INNER_LEN];
} keyd_case_result;
/* A substitute case for (domain, I), or the one recorded before: 0,
 * withheld, case_limit or internal. */
unsigned keyd_case_disclose(const char *domain, const uint8_t inner[VST_INNER_LEN],
                            keyd_case_result *out);
/* A withhold for (domain, I) — a substitute becomes one — or the one
 * recorded before: 0, case_limit or internal. Both seal the change as a
 * new keystore generation before they return. */
unsigned keyd_case_object(const char *domain, const uint8_t inner[VST_INNER_LEN],
                          keyd_case_result *out);

/* ---- network (keyd_net.c) */
struct keyd_conn {
    int fd;
    unsigned sock; /* VST_SOCK_DATA or VST_SOCK_ADMIN */
    uint32_t uid;
    pid_t pid;
    uint8_t hdr[VST_FRAME_HDR_LEN];
    size_t hdr_have;
    vst_frame_hdr h;
    uint8_t *payload; /* h.len bytes once the header is valid */
    size_t payload_have;
    int64_t frame_started; /* monotonic ms; 0 between frames */
    vst_wr out;            /* pending response (header + payload) */
    size_t out_sent;
    int closing; /* close after the response is sent */
    /* re-key totals of this connection, reported as one event at close */
    uint64_t rekeyed;
    uint32_t rekey_from, rekey_to;
    /* the open release (keyd_release.c): its key, VST_KEY_LEN bytes in the
     * secure heap, NULL when none is open; its id; pseudonyms mapped */
    uint8_t *release_key;
    uint8_t release_id[VST_RELEASE_ID_LEN];
    uint64_t release_mapped;
    /* the connection's overlap query (keyd_overlap.c), NULL when none */
    struct keyd_overlap *overlap;
    /* keyd_net.c's bookkeeping (docs/keyd-protocol.md, "Limits") */
    int64_t last_active;   /* monotonic ms of accept or of the last frame/reply done */
    int64_t reply_started; /* monotonic ms a pending reply was queued; 0: none */
    size_t held;           /* data socket: bytes counted against max_buffered_mib */
    uint32_t discard;      /* payload bytes of a refused frame still to be dropped */
};

int keyd_net_listen(char *err, size_t errlen);
/* One iteration of the loop: waits at most timeout_ms. */
void keyd_net_poll(int timeout_ms);
void keyd_net_close_all(void);
/* Answers with an error, closes the connection after it, counts it and
 * emits a (rate-limited) event. */
void keyd_conn_reject(keyd_conn *c, unsigned code, const char *why);
uint64_t keyd_net_rejected(void);

/* ---- handlers (keyd_handlers.c): fills c->out with one response frame
 * for the complete request in c->h / c->payload. */
void keyd_dispatch(keyd_conn *c);
/* An error response frame. */
void keyd_reply_error(keyd_conn *c, unsigned code);
void keyd_conn_rekey_flush(keyd_conn *c);
/* For handlers in other files: a payload that fails its codec (the
 * connection is closed); a response begun (its header reserved: 0 or -1)
 * and finished; a signature over tbs as the answer (0 if it went out,
 * else internal was answered). */
void keyd_bad_payload(keyd_conn *c, int rc);
int keyd_reply_begin(keyd_conn *c);
void keyd_reply_finish(keyd_conn *c, uint8_t type);
int keyd_reply_signature(keyd_conn *c, uint8_t type, const uint8_t *tbs, size_t len);

/* ---- signatures (keyd_sign.c): handlers named by wire/messages.def */
void h_sign_receipt(keyd_conn *c);
void h_sign_receipts(keyd_conn *c);
void h_sign_checkpoint(keyd_conn *c);
void h_sign_report(keyd_conn *c);

/* ---- linkage (keyd_link.c, keyd_overlap.c): handlers named by
 * wire/messages.def */
void h_cv_derive(keyd_conn *c);
void h_cv_rekey(keyd_conn *c);
void h_overlap_open(keyd_conn *c);
void h_overlap_feed(keyd_conn *c);
void h_overlap_run(keyd_conn *c);
void h_overlap_sign(keyd_conn *c);
/* At close: the connection's query, if any, wiped and freed. */
void keyd_overlap_close(keyd_conn *c);
/* The pair budgets' state file, at unseal: as keyd_usage_load. */
const char *keyd_overlap_load(void);

/* ---- release keys (keyd_release.c) */
/* Closes the connection's release, if any (its keyd.release_map event,
 * the key wiped and freed), then draws a new key and id: 0, or -1 (none
 * open then). */
int keyd_release_open(keyd_conn *c);
/* Maps n pseudonyms of `from` in buf in place under the open release's
 * key and counts them: 0, or -1 (buf wiped). The caller checked that a
 * release is open. */
int keyd_release_map(keyd_conn *c, vst_version_key *from, uint8_t *buf, uint32_t n);
/* The event of what was mapped, the key wiped: at close and before a new
 * RELEASE_OPEN. Nothing is left from which the mapping could be redone. */
void keyd_release_close(keyd_conn *c);

/* ---- sandbox (keyd_sandbox.c, keyd_seccomp.c) */
int keyd_drop_privileges(const char *user, char *err, size_t errlen);
int keyd_harden_process(char *err, size_t errlen);
/* Sets NO_NEW_PRIVS and installs the allowlist (kill on anything else). */
int keyd_seccomp(char *err, size_t errlen);

int64_t keyd_now_ms(void);  /* monotonic */
int64_t keyd_wall_us(void); /* wall clock */

#endif
