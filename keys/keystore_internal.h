/* What the keystore's files share and nothing else may use (keystore.h is
 * the API): the on-disk format's constants, the in-memory keystore, and the
 * functions each file offers the others.
 *
 *   keystore_object.c  the in-memory keystore: allocation, versions, lookup,
 *                      accessors, rotate and retire, status names
 *   keystore_open.c    create and open: the directory, its lock, both files
 *   keystore_seal.c    keystore.sealed: K_seal and the key check value, the
 *                      plaintext's encoding, AES-256-GCM
 *   keystore_info.c    keystore.info: the public header's text
 *   keystore_file.c    file I/O: whole-file reads, atomic replace, new
 *                      0600 files, directory lock
 *   keystore_case.c    the exception list: entries, changes, its part of
 *                      the plaintext
 *
 * keystore.sealed = magic[8] "VSTSEAL1" || generation[8] || nonce[12] ||
 *                   AES-256-GCM(K_seal, plaintext) || tag[16]
 *   AAD       = magic || generation || the exact bytes of keystore.info
 *   K_seal    = HKDF-SHA256(master, salt = keystore id, info = "vst/keystore/seal/v1")
 *   key check = HKDF-SHA256(master, salt = keystore id, info = "vst/keystore/check/v1")[0..16)
 *
 * plaintext = "VSTKEYS1" || keys                 an empty exception list
 *           | "VSTKEYS2" || keys || cases        (written since issue 12)
 * keys      = K_root[32] || Ed25519 private[32] || current[4] || count[4] || count * entry
 * entry     = version[4] || state[1] || created[8] || retired[8] || K_v[32] (absent if retired)
 * cases     = ndomains[1] (1..255) || ndomains * (len[1] (1..64) || name) ||
 *             ncases[4] (1..65536) || ncases * case
 * case      = domain[1] (< ndomains) || I[16] || action[1] (1 substitute, 2 withhold) ||
 *             case_id[8] || created_us[8] || secret_len[1] (0 or 32; 32 for a
 *             substitute) || secret[secret_len]
 * A keystore with no exception is written as VSTKEYS1, byte for byte as
 * before, so a keystore stays readable by older code until its first case.
 * All integers big-endian (core/buf). docs/keystore.md is the reference;
 * tests/data/keystore-v1 holds the bytes to it. */
#ifndef VST_KEYSTORE_INTERNAL_H
#define VST_KEYSTORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "keystore.h"

#define VST_KS_SEAL_MAGIC "VSTSEAL1"
#define VST_KS_PT_MAGIC "VSTKEYS1"
#define VST_KS_PT_MAGIC2 "VSTKEYS2"
#define VST_KS_MAGIC_LEN 8
#define VST_KS_SEAL_HDR_LEN (VST_KS_MAGIC_LEN + 8)
#define VST_KS_NONCE_LEN 12
#define VST_KS_TAG_LEN 16
#define VST_KS_PT_FIXED_LEN (VST_KS_MAGIC_LEN + VST_KEY_LEN + VST_ED25519_LEN + 4 + 4)
#define VST_KS_ENTRY_META_LEN (4 + 1 + 8 + 8)
#define VST_KS_SEALED_OVERHEAD (VST_KS_SEAL_HDR_LEN + VST_KS_NONCE_LEN + VST_KS_TAG_LEN)
#define VST_KS_CASE_META_LEN (1 + VST_INNER_LEN + 1 + VST_CASE_ID_LEN + 8 + 1)
#define VST_KS_CASES_MAX                                                                           \
    (1 + (size_t)VST_KS_MAX_CASE_DOMAINS * (1 + VST_DOMAIN_MAXLEN) + 4 +                           \
     (size_t)VST_KS_MAX_CASES * (VST_KS_CASE_META_LEN + VST_CASE_SECRET_LEN))
#define VST_KS_SEALED_MAX                                                                          \
    (VST_KS_SEALED_OVERHEAD + VST_KS_PT_FIXED_LEN +                                                \
     (size_t)VST_KS_MAX_VERSIONS * (VST_KS_ENTRY_META_LEN + VST_KEY_LEN) + VST_KS_CASES_MAX)
#define VST_KS_INFO_MAX 8192 /* 6 lines, and up to 255 share checks */
#define VST_KS_INFO_MAGIC "vst-keystore-v1"

/* The secrets block: K_seal | K_root | Ed25519 private key. */
#define VST_KS_SECRETS_LEN (3 * VST_KEY_LEN)

typedef struct {
    uint32_t version;
    vst_key_state state;
    int64_t created;
    int64_t retired;
    uint8_t *key; /* VST_KEY_LEN bytes, secure heap; NULL once retired */
} vst_ks_entry;

struct vst_keystore {
    char *dir;
    int dirfd; /* holds the flock */
    vst_keystore_info info;
    char *info_raw; /* exact bytes of keystore.info: part of the AAD */
    size_t info_len;
    uint8_t *secrets; /* VST_KS_SECRETS_LEN bytes, secure heap */
    uint64_t generation;
    uint32_t current;
    vst_ks_entry *v; /* ascending by version */
    size_t nv, capv;
    /* the exception list: entries in secure memory, in the order added */
    vst_ks_case *cases;
    size_t ncases, capcases;
    char case_domains[VST_KS_MAX_CASE_DOMAINS][VST_DOMAIN_MAXLEN + 1];
    unsigned ncase_domains;
};

#define VST_KS_SEAL_KEY(ks) ((ks)->secrets)
#define VST_KS_ROOT_KEY(ks) ((ks)->secrets + VST_KEY_LEN)
#define VST_KS_SIGN_KEY(ks) ((ks)->secrets + 2 * VST_KEY_LEN)

/* Every file reports failures through vst_ks_fail into (err, errlen). */
#define VST_KS_FAIL(st, ...) vst_ks_fail(err, errlen, (st), __VA_ARGS__)

/* ---- keystore_object.c */

/* Secret memory: OpenSSL's secure heap when initialised (and not
 * exhausted), else the ordinary heap; zeroed, and wiped on free. */
void *vst_ks_sec_zalloc(size_t n);
void vst_ks_sec_free(void *p, size_t n);

/* An empty keystore for dir (no versions, dirfd -1, secrets zeroed); NULL
 * when out of memory. vst_keystore_free releases it. */
vst_keystore *vst_ks_new(const char *dir);
/* Room for n versions; 0 when out of memory (nothing changed). */
int vst_ks_reserve(vst_keystore *ks, size_t n);
/* The entry of version, NULL when unknown (binary search: ks->v ascends). */
vst_ks_entry *vst_ks_find(const vst_keystore *ks, uint32_t version);

/* ---- keystore_seal.c */

/* K_seal (into seal, may be NULL) and the key check value (into kcv);
 * 0 when OpenSSL failed. */
int vst_ks_derive_master(const uint8_t master[VST_KEY_LEN], const uint8_t id[VST_KS_ID_LEN],
                         uint8_t *seal, uint8_t kcv[VST_KS_KCV_LEN]);
/* The raw Ed25519 public key of priv; 0 when OpenSSL failed. */
int vst_ks_ed25519_public(const uint8_t priv[VST_ED25519_LEN], uint8_t pub[VST_ED25519_LEN]);
/* Seals pt under ks's K_seal and info_raw as the given generation, with a
 * fresh nonce: *file (OPENSSL_malloc'd, *file_len bytes) is the content of
 * keystore.sealed. */
vst_ks_status vst_ks_seal(const vst_keystore *ks, uint64_t generation, const uint8_t *pt,
                          size_t pt_len, uint8_t **file, size_t *file_len, char *err,
                          size_t errlen);
/* Seals the in-memory state as the given generation and replaces
 * keystore.sealed. *renamed: see vst_ks_write_atomic. */
vst_ks_status vst_ks_seal_and_write(vst_keystore *ks, uint64_t generation, int *renamed, char *err,
                                    size_t errlen);
/* Opens the content of keystore.sealed with ks's K_seal and info_raw into
 * ks (versions, current, K_root, signing key, generation); VST_KS_CORRUPT
 * when it does not authenticate or is inconsistent. */
vst_ks_status vst_ks_unseal(vst_keystore *ks, const uint8_t *file, size_t len, char *err,
                            size_t errlen);

/* ---- keystore_case.c */

/* Bytes the exception list adds to the plaintext after the versions: 0
 * for an empty list (the plaintext is then VSTKEYS1). */
size_t vst_ks_cases_len(const vst_keystore *ks);
/* Writes that part; nonzero when w is too small. */
int vst_ks_cases_encode(const vst_keystore *ks, vst_wr *w);
/* Parses that part of a VSTKEYS2 plaintext from r into ks. */
vst_ks_status vst_ks_cases_parse(vst_keystore *ks, vst_rd *r, char *err, size_t errlen);
/* Wipes and frees the list. */
void vst_ks_cases_free(vst_keystore *ks);

/* ---- keystore_info.c */

/* keystore.info's text for in into buf (NUL-terminated); its length, 0
 * when it does not fit in cap. */
size_t vst_ks_info_format(const vst_keystore_info *in, char *buf, size_t cap);
/* Parses keystore.info's text (len bytes) into *out; dir names the keystore
 * in messages. VST_KS_CORRUPT when malformed. */
vst_ks_status vst_ks_info_parse(const char *buf, size_t len, vst_keystore_info *out,
                                const char *dir, char *err, size_t errlen);
/* Reads and parses dir's keystore.info; *raw (when raw != NULL) gets its
 * exact bytes (OPENSSL_malloc'd, NUL-terminated). */
vst_ks_status vst_ks_info_load(int dirfd, const char *dir, vst_keystore_info *info, char **raw,
                               size_t *rawlen, char *err, size_t errlen);

/* ---- keystore_file.c */

/* The directory as an O_DIRECTORY descriptor; -1 with errno set. */
int vst_ks_open_dir(const char *dir);
/* An exclusive, non-blocking flock on the directory: VST_KS_BUSY when
 * another process holds it. */
vst_ks_status vst_ks_lock_dir(int dirfd, const char *dir, char *err, size_t errlen);
/* Reads the regular file dir/name (at most max bytes, no symlink) into a
 * fresh OPENSSL_malloc'd buffer with a terminating NUL. VST_KS_NOT_FOUND
 * when missing, VST_KS_CORRUPT when larger than max. */
vst_ks_status vst_ks_read_at(int dirfd, const char *dir, const char *name, size_t max, char **out,
                             size_t *outlen, char *err, size_t errlen);
/* Atomic replace of dir/name: temp file (0600, O_EXCL, same directory),
 * fsync, rename, fsync(dir). *renamed (when not NULL) tells whether the new
 * content is in place: only the final directory fsync can fail after that. */
vst_ks_status vst_ks_write_atomic(int dirfd, const char *dir, const char *name, const void *data,
                                  size_t len, int *renamed, char *err, size_t errlen);

#endif
