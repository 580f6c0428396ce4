/* vst-keyd, the key process: shared state of its modules.
 *
 *   keyd_main.c      options, start-up order, the poll loop, shutdown
 *   keyd_net.c       listening sockets, peer-uid check, framed non-blocking I/O
 *   keyd_handlers.c  the dispatch table: one handler per request type
 *   keyd_keys.c      sealed/unsealed state, shares, key contexts, signing
 *   keyd_budget.c    the pseudonymization budget (per minute, per day)
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

#include "common/config.h"
#include "derive.h"
#include "keystore.h"
#include "proto.h"
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
    uint64_t max_data_connections;  /* open data-socket connections at most */
    uint64_t max_admin_connections; /* admin slots that data peers can never take */
    uint64_t frame_timeout;         /* seconds to receive a started frame */
    uint64_t idle_timeout;          /* seconds between frames before a close; 0: never */
    uint64_t max_buffered_mib;      /* data-socket payloads and replies held at once */
    uint64_t accept_generation;     /* an older keystore generation to accept; 0: none */
    char *user;                     /* when started as root: drop to this user */
    int seccomp;
    char *pid_file;
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

/* ---- budget (keyd_budget.c) */
void keyd_budget_init(uint64_t per_minute, uint64_t per_day);
/* Charges n identifiers at time now; 0 if within budget, else -1 (nothing
 * charged) and an alarm event is emitted (at most one per window). */
int keyd_budget_charge(uint64_t n, uint32_t actor_uid);
void keyd_budget_usage(uint64_t *minute_used, uint64_t *minute_limit, uint64_t *day_used,
                       uint64_t *day_limit);

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
/* Version key context; *kerr set to unknown/retired when NULL. */
vst_version_key *keyd_version(uint32_t v, unsigned *kerr);
unsigned keyd_rotate(uint32_t *new_version);
unsigned keyd_retire(uint32_t version);
int keyd_sign(const uint8_t *msg, size_t len, uint8_t sig[64]);

/* ---- network (keyd_net.c) */
typedef struct keyd_conn keyd_conn;
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

/* ---- sandbox (keyd_sandbox.c, keyd_seccomp.c) */
int keyd_drop_privileges(const char *user, char *err, size_t errlen);
int keyd_harden_process(char *err, size_t errlen);
/* Sets NO_NEW_PRIVS and installs the allowlist (kill on anything else). */
int keyd_seccomp(char *err, size_t errlen);

int64_t keyd_now_ms(void);  /* monotonic */
int64_t keyd_wall_us(void); /* wall clock */

#endif
