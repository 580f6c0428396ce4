/* Fixture of the vst-keyd suites (test_keyd, test_rekey): everything runs
 * against real processes.
 *
 *  - temporary directories, removed at suite clean-up and at exit;
 *  - programs run to completion with stdout/stderr captured (vst-admin);
 *  - keystores made with `vst-admin key init` (dev master key or shares);
 *  - vst-keyd started as a child with a configuration, waited for until it
 *    serves, stopped with SIGTERM and required to exit 0 (not killed by a
 *    signal: seccomp kills with SIGSYS, ASan aborts, LeakSanitizer exits 23);
 *  - keyd's events file parsed (jansson);
 *  - clients on the data/admin socket, raw frames for hostile peers, and
 *    work done as another uid in a forked child.
 *
 * Every identifier and pseudonym the tests hand to or get from keyd is noted
 * (fx_secret); stopping a keyd scans its events file and its log for them,
 * and fx_admin scans what vst-admin printed.
 *
 * Helpers that can fail report through CUnit (CU_FAIL with a message) and
 * return an error value; callers assert on it (usually _FATAL). */
#ifndef VST_TEST_KEYD_FIXTURE_H
#define VST_TEST_KEYD_FIXTURE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire/keyd_client.h"

#define FX_PATH 320

/* ---- processes and files */

/* Kills every child still running and removes every temp dir; the suites'
 * clean-up and atexit call it (only in the test process, never in a fork). */
void fx_cleanup(void);
int fx_suite_cleanup(void); /* CUnit suite clean-up: fx_cleanup, returns 0 */

/* A new private directory (0700) under /tmp, removed by fx_cleanup. NULL on
 * failure. */
const char *fx_tmpdir(void);
/* Path of a program under test from the environment (VST_KEYD, VST_ADMIN). */
const char *fx_prog(const char *var);

/* Malloc'd, NUL-terminated file contents (NULL if unreadable). */
char *fx_read_file(const char *path, size_t *len);
int fx_write_file(const char *path, const char *text, unsigned mode);
/* 1 if s is exactly one non-empty line ending in '\n'. */
int fx_one_line(const char *s);
double fx_now(void); /* monotonic seconds */
int fx_is_root(void);
/* uid (and gid) of a user, or (uid_t)-1. */
uid_t fx_user_uid(const char *name, gid_t *gid);

/* Starts argv[0] with stdout and stderr to the given files (NULL: /dev/null;
 * stderr appended) and the extra "NAME=value" environment entries (NULL
 * terminated, may be NULL). Returns the pid (registered for clean-up). */
pid_t fx_spawn(const char *const argv[], const char *out_path, const char *err_path,
               const char *const env[]);
/* Waits for a spawned child: its exit code, 128 + signal if killed, or -2
 * after timeout_s (the child is then killed). */
int fx_wait(pid_t pid, double timeout_s);

typedef struct {
    int status; /* as fx_wait */
    char *out, *err;
} fx_result;
/* Runs a program to completion (timeout 120 s) and captures its output. */
int fx_run(fx_result *r, const char *const argv[], const char *const env[]);
void fx_result_free(fx_result *r);

/* ---- keystores */

typedef struct {
    char dir[FX_PATH];      /* private temp dir of this keystore */
    char keystore[FX_PATH]; /* dir/ks */
    char master[FX_PATH];   /* dev master-key file, "" in Shamir mode */
    char share[8][FX_PATH]; /* share files (share-I-of-N.txt), Shamir mode */
    unsigned nshares, threshold;
    char pubkey_hex[65]; /* as printed by key init */
} fx_store;

/* `vst-admin key init --dev-master-key` (owner: --owner, and the master-key
 * file is given to that user too; NULL: root). 0 on success. */
int fx_store_dev(fx_store *s, const char *owner);
/* `vst-admin key init --shares n --threshold m --share-dir`. */
int fx_store_shamir(fx_store *s, unsigned n, unsigned m, const char *owner);

/* ---- vst-keyd */

typedef struct {
    const fx_store *store;
    int dev;                        /* --dev-master-key store->master */
    const char *data_uids;          /* default "0" */
    const char *admin_uids;         /* default "0" */
    const char *socket_mode;        /* default "0660" */
    uint64_t budget_minute;         /* 0: keyd's default */
    uint64_t budget_day;            /* 0: keyd's default */
    unsigned frame_timeout;         /* 0: keyd's default */
    unsigned max_connections;       /* --max-data-connections; 0: keyd's default */
    const char *domains;            /* NULL: keyd's default */
    const char *user;               /* NULL: --user "" (stay root) */
    int seccomp;                    /* --seccomp yes|no */
    int no_leak_check;              /* ASAN_OPTIONS ...:detect_leaks=0 */
    int traversable;                /* the run dir 0711 (other uids reach the sockets) */
    unsigned max_admin_connections; /* 0: keyd's default */
    unsigned idle_timeout;          /* 0: keyd's default */
    unsigned max_buffered_mib;      /* 0: keyd's default */
    const char *prog;               /* the keyd binary; NULL: $VST_KEYD */
    unsigned accept_generation;     /* --accept-generation; 0: not given */
    const char *const *extra;       /* more "--option", "value" pairs, NULL-terminated */
} fx_keyd_opts;

typedef struct {
    pid_t pid;
    char dir[FX_PATH]; /* run dir: sockets, events file, log */
    char data_sock[FX_PATH], admin_sock[FX_PATH], events[FX_PATH], log[FX_PATH];
} fx_keyd;

/* Starts keyd and waits until it logs "serving on". A fresh fx_keyd (zeroed)
 * gets a new run dir; a stopped one is restarted in its dir (same events
 * file, log appended). 0 on success. */
int fx_keyd_start(fx_keyd *k, const fx_keyd_opts *o);
/* SIGTERM, then asserts exit status 0, and that neither the events file
 * nor the log holds a noted secret. Returns the exit status. */
int fx_keyd_stop(fx_keyd *k);
/* SIGKILL without checks (clean-up paths). */
void fx_keyd_kill(fx_keyd *k);
/* Runs vst-admin [--admin-socket k's] [--store-dsn fx_store_dsn] ARGS...
 * (NULL-terminated). k may be NULL. */
int fx_admin(fx_result *r, const fx_keyd *k, ...);
/* Global store DSN for fx_admin (NULL: none). */
void fx_set_store_dsn(const char *dsn);

/* ---- events */

/* Every event of the events file, in order (a JSON array; json_decref). */
json_t *fx_events(const fx_keyd *k);
size_t fx_event_count(const fx_keyd *k, const char *action);
/* The last event of that action (a new reference), or NULL. */
json_t *fx_event_last(const fx_keyd *k, const char *action);
/* details.KEY of an event: integer (-1 if absent), string (NULL). */
long long fx_ev_int(const json_t *ev, const char *key);
const char *fx_ev_str(const json_t *ev, const char *key);
long long fx_ev_actor(const json_t *ev);

/* ---- secrets: identifiers and pseudonyms that must never be logged */

void fx_secret(const char *s, size_t len);
/* Number of noted secrets found in the file as whole alphanumeric tokens;
 * prints each (at most 5). */
size_t fx_secret_scan(const char *path);
/* The same over a buffer; report: print the hits. */
size_t fx_secret_scan_text(const char *what, const char *text, size_t len, int report);

/* ---- clients */

/* Connects (with 30 s send/receive timeouts); NULL and CU_FAIL on error. */
vst_keyd *fx_connect(const char *sock);
/* PSEUDONYMIZE n identifiers of id_len bytes each (ids concatenated) in one
 * domain, in frames of at most VST_BATCH_MAX; out gets n * 16 bytes. Notes
 * every identifier and pseudonym as a secret. Returns the client result. */
int fx_pseud(vst_keyd *c, const char *domain, const char *ids, size_t id_len, size_t n,
             uint8_t *out, uint32_t *key_version);
void fx_hex16(const uint8_t p[16], char out[33]);

typedef struct {
    vst_status_ok s; /* versions/nversions: use v[] */
    vst_version_info v[32];
    size_t nv;
} fx_status_t;
/* STATUS on a new connection; returns the client result. */
int fx_status(const char *sock, fx_status_t *out);
/* State of version v in a status (vst_key_state), 0 if not listed. */
int fx_version_state(const fx_status_t *st, uint32_t v);

/* ---- raw peers */

/* Raw connection with 10 s timeouts; -1 on failure. */
int fx_raw_connect(const char *sock);
/* Writes all bytes (MSG_NOSIGNAL); 0, or -1 if the peer is gone. */
int fx_raw_send(int fd, const void *p, size_t n);
/* header (+ payload) with explicit fields; returns the total length. */
size_t fx_frame(uint8_t *out, uint8_t version, uint8_t type, uint16_t reserved, uint32_t len,
                const void *payload, size_t plen);
/* Reads until the peer closes (EOF or reset) or timeout_s passes: the bytes
 * in buf (*got of them), 0 if closed, -1 on timeout. */
int fx_raw_drain(int fd, double timeout_s, uint8_t *buf, size_t cap, size_t *got);
/* Expects the answer to a rejected frame: one error frame, then the close.
 * Returns its error code; 0 if closed with no answer; -1 for anything else
 * (other bytes, or still open after timeout_s). */
int fx_raw_rejected(int fd, double timeout_s);

/* ---- other uids */

/* Runs fn(arg) in a forked child that has dropped to uid/gid (groups
 * cleared); returns fn's result (its exit code, 0..125), 126 if the drop
 * failed, 128 + signal if killed, -1 if the fork failed. */
int fx_as_uid(uid_t uid, gid_t gid, int (*fn)(void *), void *arg);

#endif
