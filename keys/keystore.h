/* The sealed keystore of vst-keyd (DESIGN.md §3; formats in docs/keystore.md).
 *
 * A keystore directory holds two files:
 *
 *   keystore.info    public header (text): keystore id, format, how the master
 *                    key is held (Shamir m of n, or a development file), the
 *                    Ed25519 public key, a key check value and (Shamir
 *                    keystores made since issue 8) one check value per share,
 *                    so that a wrong share is refused on its own. Readable
 *                    while sealed; written once at creation.
 *   keystore.sealed  every secret (K_root, each live K_v, the Ed25519 private
 *                    key), the version metadata and the exception list of
 *                    disclosed and objecting persons (DESIGN.md §12), sealed
 *                    with AES-256-GCM
 *                    under a key derived from the 32-byte master key. The
 *                    whole of keystore.info is part of the GCM AAD, so a
 *                    modified header is detected at open. Rewritten
 *                    atomically (temp file, fsync, rename, fsync dir) with a
 *                    fresh nonce on every change.
 *
 * An open keystore holds an exclusive flock on its directory: a second
 * vst_keystore_open / _create of the same directory fails with VST_KS_BUSY.
 * Secret material lives in OpenSSL's secure heap when the process has
 * initialised it (CRYPTO_secure_malloc_init), otherwise on the ordinary heap;
 * it is wiped when freed either way. Nothing here prints key material; error
 * messages name files and versions only.
 *
 * Every function that can fail returns a vst_ks_status and, when err is not
 * NULL, writes one human-readable line (no trailing newline) into err. */
#ifndef VST_KEYSTORE_H
#define VST_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/key_state.h"
#include "derive.h" /* VST_KEY_LEN */

#define VST_KS_ID_LEN 16
#define VST_KS_ID_HEX (2 * VST_KS_ID_LEN)
#define VST_KS_KCV_LEN 16
#define VST_KS_SHARE_CHECK_LEN 8 /* == the share file's `check:` value */
#define VST_KS_FORMAT 1
#define VST_ED25519_LEN 32
#define VST_KS_MAX_VERSIONS 65535u
#define VST_KS_INFO_FILE "keystore.info"
#define VST_KS_SEALED_FILE "keystore.sealed"

typedef enum {
    VST_KS_OK = 0,
    VST_KS_INVALID,         /* bad argument (NULL, threshold out of range, ...) */
    VST_KS_IO,              /* file-system error (message carries strerror) */
    VST_KS_NOT_FOUND,       /* no keystore in the directory */
    VST_KS_EXISTS,          /* create: a keystore (or the output file) already exists */
    VST_KS_CORRUPT,         /* malformed, truncated or tampered keystore file */
    VST_KS_WRONG_KEY,       /* the master key does not open this keystore */
    VST_KS_BUSY,            /* the keystore is open in another process */
    VST_KS_INSECURE,        /* group/world permissions on a key directory or file */
    VST_KS_REFUSED,         /* operation not allowed (retire current/unknown version) */
    VST_KS_CRYPTO,          /* OpenSSL failure (RNG, cipher) */
    VST_KS_NOMEM,           /* out of memory */
    VST_KS_SHARE_CORRUPT,   /* share text malformed, truncated or check value wrong */
    VST_KS_SHARE_FOREIGN,   /* share belongs to another keystore */
    VST_KS_SHARE_DUPLICATE, /* two shares with the same index */
    VST_KS_SHARE_MISMATCH,  /* shares disagree on keystore, threshold or count */
    VST_KS_SHARE_TOO_FEW,   /* fewer shares than the threshold */
} vst_ks_status;

/* Stable short name, e.g. "wrong_key". Never NULL. */
const char *vst_ks_status_name(vst_ks_status st);

typedef enum {
    VST_KS_MODE_SHAMIR = 1,   /* master key split into m-of-n Shamir shares */
    VST_KS_MODE_DEV_FILE = 2, /* master key in one file: development only */
} vst_ks_mode;

typedef struct {
    vst_ks_mode mode;
    unsigned threshold; /* Shamir m (2..shares); 0 for DEV_FILE */
    unsigned shares;    /* Shamir n (threshold..255); 0 for DEV_FILE */
} vst_ks_mode_info;

/* The check value of Shamir share number `index` (shamir.h's
 * vst_share_check: SHA-256 over the share, truncated; it says nothing about
 * the share's secret bytes). */
typedef struct {
    uint8_t index;
    uint8_t check[VST_KS_SHARE_CHECK_LEN];
} vst_ks_share_check;

/* The public header: everything in keystore.info. */
typedef struct {
    unsigned format; /* VST_KS_FORMAT */
    uint8_t id[VST_KS_ID_LEN];
    char id_hex[VST_KS_ID_HEX + 1];
    int64_t created; /* Unix seconds, UTC */
    vst_ks_mode_info mode;
    uint8_t sign_public[VST_ED25519_LEN];
    uint8_t key_check[VST_KS_KCV_LEN];
    /* One per share (mode.shares of them, ascending by index), or none for
     * a development keystore and for Shamir keystores made before. */
    unsigned nshare_checks;
    vst_ks_share_check share_checks[255];
} vst_keystore_info;

/* vst_key_state: VST_KEY_CURRENT, VST_KEY_ACTIVE, VST_KEY_RETIRED (core/key_state.h). */

typedef struct {
    uint32_t version;
    vst_key_state state;
    int64_t created; /* Unix seconds */
    int64_t retired; /* Unix seconds, 0 unless retired */
} vst_key_version;

typedef struct vst_keystore vst_keystore;

/* "current" / "active" / "retired". */
const char *vst_key_state_name(vst_key_state s);

/* A fresh random master key (RAND_bytes). */
vst_ks_status vst_master_generate(uint8_t master[VST_KEY_LEN]);

/* Creates a keystore in dir: mkdir 0700 when missing (an existing directory
 * must not be group/world accessible), refuses (VST_KS_EXISTS) when a
 * keystore.info or keystore.sealed is already there, generates K_root, K_1
 * (current), the Ed25519 key and a random keystore id, and writes both files
 * (0600). On success *out is the open keystore (locked); on failure *out is
 * NULL and nothing usable is left behind. */
vst_ks_status vst_keystore_create(const char *dir, const uint8_t master[VST_KEY_LEN],
                                  const vst_ks_mode_info *mode, vst_keystore **out, char *err,
                                  size_t errlen);

/* As vst_keystore_create, with a keystore id chosen by the caller (id not
 * NULL: the id its shares were split for) and the check value of every
 * Shamir share (nchecks == mode->shares, distinct nonzero indices; 0 for a
 * development keystore), recorded in keystore.info. */
vst_ks_status vst_keystore_create_ex(const char *dir, const uint8_t master[VST_KEY_LEN],
                                     const vst_ks_mode_info *mode, const uint8_t id[VST_KS_ID_LEN],
                                     const vst_ks_share_check *checks, size_t nchecks,
                                     vst_keystore **out, char *err, size_t errlen);

/* Whether master is this keystore's master key, by the key check value of
 * its header alone (no file is read): 1 yes, 0 no, -1 OpenSSL failed. For
 * trying combinations of shares cheaply; vst_keystore_open still decides. */
int vst_keystore_check_master(const vst_keystore_info *info, const uint8_t master[VST_KEY_LEN]);

/* The recorded check value of share number index, NULL if the header has
 * none for it. */
const vst_ks_share_check *vst_keystore_share_check(const vst_keystore_info *info, uint8_t index);

/* Reads and parses keystore.info without any key: VST_KS_NOT_FOUND when the
 * directory holds no keystore, VST_KS_CORRUPT when the header is malformed.
 * The header is only authenticated by vst_keystore_open. */
vst_ks_status vst_keystore_read_info(const char *dir, vst_keystore_info *info, char *err,
                                     size_t errlen);

/* Opens (unseals) the keystore with the master key. A master key that does
 * not belong to this keystore (wrong file, too few or wrong shares) gives
 * VST_KS_WRONG_KEY; a right key with a modified or damaged file gives
 * VST_KS_CORRUPT. On any failure *out is NULL. */
vst_ks_status vst_keystore_open(const char *dir, const uint8_t master[VST_KEY_LEN],
                                vst_keystore **out, char *err, size_t errlen);

/* Wipes every key, releases the lock. NULL is fine. */
void vst_keystore_free(vst_keystore *ks);

/* The verified header of an open keystore. */
const vst_keystore_info *vst_keystore_get_info(const vst_keystore *ks);
/* Incremented by every write of keystore.sealed (1 after create). */
uint64_t vst_keystore_generation(const vst_keystore *ks);

const uint8_t *vst_keystore_root_key(const vst_keystore *ks); /* VST_KEY_LEN bytes */
uint32_t vst_keystore_current(const vst_keystore *ks);
/* Copies up to max entries (ascending by version) into out; returns the
 * total number of versions (out may be NULL to ask for the count). */
size_t vst_keystore_versions(const vst_keystore *ks, vst_key_version *out, size_t max);
/* 0 on success with *state set; -1 when version is unknown. */
int vst_keystore_version_state(const vst_keystore *ks, uint32_t version, vst_key_state *state);
/* K_v (VST_KEY_LEN bytes), NULL when v is unknown or retired. */
const uint8_t *vst_keystore_version_key(const vst_keystore *ks, uint32_t version);
const uint8_t *vst_keystore_sign_private(const vst_keystore *ks); /* raw Ed25519, 32 bytes */
const uint8_t *vst_keystore_sign_public(const vst_keystore *ks);  /* raw Ed25519, 32 bytes */

/* K_{v+1} (v = highest version ever, retired ones included: numbers are
 * never reused) becomes current, the previous current becomes active. The
 * sealed file is rewritten atomically before this returns. On failure the
 * in-memory state is unchanged, with one exception: when the new file was
 * already renamed into place and only the directory fsync failed, the error
 * is VST_KS_IO but memory follows the file (check vst_keystore_current). */
vst_ks_status vst_keystore_rotate(vst_keystore *ks, uint32_t *new_version, char *err,
                                  size_t errlen);

/* Destroys K_v: refuses (VST_KS_REFUSED) the current version, an unknown or
 * an already retired one. The sealed file is rewritten without the key
 * (state 'retired' and the time are kept) before this returns, then the key
 * is wiped from memory (same failure rule as rotate). Whether any pseudonym
 * still uses v is the caller's check (DESIGN.md §3: retire only after
 * re-keying). */
vst_ks_status vst_keystore_retire(vst_keystore *ks, uint32_t version, char *err, size_t errlen);

/* ---- The exception list (DESIGN.md §12, docs/crypto.md "Disclosed
 * pseudonyms and objections"): one entry per person and domain, keyed by
 * the person's inner value I, never by a pseudonym, so rotation and
 * re-keying carry it along. It is part of the sealed state: every change
 * is a new generation of keystore.sealed, written before the call returns,
 * with the same failure rule as rotate. Nothing here is ever logged; I and
 * the secrets never leave vst-keyd. */

#define VST_KS_MAX_CASES 65536u      /* entries, all domains together */
#define VST_KS_MAX_CASE_DOMAINS 255u /* distinct domains with an entry */

typedef enum {
    VST_CASE_SUBSTITUTE = 1, /* the identifier yields I* = vst_substitute(secret, I) */
    VST_CASE_WITHHOLD = 2,   /* the identifier yields no pseudonym */
} vst_case_action;

typedef struct {
    uint8_t domain; /* index: vst_keystore_case_domain */
    uint8_t action; /* vst_case_action */
    /* 1: secret is the case secret (a substitute, or a withhold that was
     * one: its rows carry P*, and an objection answers P*). */
    uint8_t has_secret;
    uint8_t inner[VST_INNER_LEN]; /* I */
    uint8_t case_id[VST_CASE_ID_LEN];
    int64_t created_us; /* of the latest action (Unix µs) */
    uint8_t secret[VST_CASE_SECRET_LEN];
} vst_ks_case;

/* The list (in the order the entries were added) into *list; returns its
 * length. Valid until the next change. */
size_t vst_keystore_cases(const vst_keystore *ks, const vst_ks_case **list);
/* The name of a case's domain. */
const char *vst_keystore_case_domain(const vst_keystore *ks, const vst_ks_case *c);
/* Appends c (its domain field is ignored: domain names it) and seals.
 * VST_KS_INVALID for a bad domain name or action, a substitute without a
 * secret; VST_KS_REFUSED when the list or its domain table is full. The
 * caller checks that (domain, I) has no entry yet. */
vst_ks_status vst_keystore_case_add(vst_keystore *ks, const char *domain, const vst_ks_case *c,
                                    char *err, size_t errlen);
/* Turns entry i into a withhold under a new case id and time (its secret,
 * if any, is kept) and seals. VST_KS_INVALID for no such entry. */
vst_ks_status vst_keystore_case_withhold(vst_keystore *ks, size_t i,
                                         const uint8_t case_id[VST_CASE_ID_LEN], int64_t created_us,
                                         char *err, size_t errlen);

/* ---- Helpers shared by the keystore (keystore_*.c) and shamir.c, usable by tools ---- */

/* Formats one line into err (when err != NULL and errlen > 0); returns st. */
vst_ks_status vst_ks_fail(char *err, size_t errlen, vst_ks_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Creates path with O_EXCL|O_NOFOLLOW, mode exactly 0600, writes len bytes,
 * fsyncs the file and its directory. VST_KS_EXISTS when path exists; on any
 * other failure the partial file is removed. */
vst_ks_status vst_ks_write_new_file(const char *path, const void *data, size_t len, char *err,
                                    size_t errlen);

/* Reads a regular file of at most cap - 1 bytes into buf (NUL-terminated),
 * *len = its size, *mode = its st_mode when mode != NULL. VST_KS_NOT_FOUND
 * when missing, VST_KS_CORRUPT when larger than that. Callers wipe buf if
 * it held a secret. */
vst_ks_status vst_ks_read_small_file(const char *path, char *buf, size_t cap, size_t *len,
                                     unsigned *mode, char *err, size_t errlen);

#endif
