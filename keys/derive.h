/* Pseudonym derivation (DESIGN.md §3), the code behind vst-keyd's
 * PSEUDONYMIZE and REKEY. Of the programs only vst-keyd links it (vst-admin
 * includes this header for its sizes alone; tests/keyd/symbols_check.sh
 * keeps it out of vst-httpd, vst-audit and vst-send).
 *
 *   K_d = HKDF-SHA256(K_root, salt = empty, info = "vst/domain/" || d)
 *   I   = first 16 bytes of HMAC-SHA256(K_d, canonical identifier)
 *   P   = AES-256_{K_v}(I)            one block, no mode
 *   P'  = AES_{K_w}(AES^-1_{K_v}(P))  re-keying without the original
 *   R   = AES_{K_r}(AES^-1_{K_v}(P))  a release pseudonym (DESIGN.md §11):
 *                                     K_r is a random key of one release,
 *                                     so R is one per person and release
 *                                     whatever version P is under
 *   I*  = HMAC-SHA256(S, "vst/substitute/1" || I)[0..16)
 *                                     the substitute inner value of a
 *                                     disclosed person (DESIGN.md §12): S
 *                                     is the case's random secret, so I*
 *                                     is stable for the person and cannot
 *                                     be computed from P
 *
 * Contexts are built once per domain / key version and reused for every
 * identifier: the hot path allocates nothing. Key material is wiped when a
 * context is freed; an inner value exists only in the caller's buffer, where
 * it is encrypted in place. The sizes of a domain name and a pseudonym
 * (VST_DOMAIN_MAXLEN, VST_PSEUDONYM_LEN) are core/domain.h's: profiles, the
 * keyd protocol and this code share them. */
#ifndef VST_DERIVE_H
#define VST_DERIVE_H

#include <stddef.h>
#include <stdint.h>

#include "core/domain.h"
#include "core/hex.h"

#define VST_KEY_LEN 32
#define VST_INNER_LEN 16

typedef struct vst_domain_key vst_domain_key;
typedef struct vst_version_key vst_version_key;

/* K_d for one domain, kept as precomputed HMAC pad states. NULL on error
 * (bad domain name, OpenSSL failure). */
vst_domain_key *vst_domain_key_new(const uint8_t root[VST_KEY_LEN], const char *domain);
void vst_domain_key_free(vst_domain_key *dk);
const char *vst_domain_key_name(const vst_domain_key *dk);

/* HKDF-SHA256(K_root, salt = empty, info) for one of keyd's own keys
 * (e.g. "vst/keyd-state/1", docs/crypto.md); 0 or -1. */
int vst_hkdf_info(const uint8_t root[VST_KEY_LEN], const char *info, uint8_t out[VST_KEY_LEN]);

/* HKDF-SHA256(key, info = prefix || name) for a name of the domain grammar
 * (core/domain.h: domains, collections); 0 or -1 (a bad name). */
int vst_hkdf_named(const uint8_t key[VST_KEY_LEN], const char *prefix, const char *name,
                   uint8_t out[VST_KEY_LEN]);

/* The raw HKDF output K_d; exposed for tests against independent tools. */
int vst_hkdf_domain(const uint8_t root[VST_KEY_LEN], const char *domain, uint8_t out[VST_KEY_LEN]);

/* I = HMAC-SHA256(K_d, id)[0..16). */
void vst_inner_value(const vst_domain_key *dk, const char *id, size_t len,
                     uint8_t out[VST_INNER_LEN]);

#define VST_CASE_SECRET_LEN 32
#define VST_SUBSTITUTE_LABEL "vst/substitute/1"

/* I* of inner under a case secret (above); 0 or -1 (OpenSSL failed). */
int vst_substitute(const uint8_t secret[VST_CASE_SECRET_LEN], const uint8_t inner[VST_INNER_LEN],
                   uint8_t out[VST_INNER_LEN]);

/* AES-256 encryption and decryption contexts for one key version. */
vst_version_key *vst_version_key_new(uint32_t version, const uint8_t key[VST_KEY_LEN]);
void vst_version_key_free(vst_version_key *vk);
uint32_t vst_version_key_version(const vst_version_key *vk);

/* Encrypt / decrypt n consecutive 16-byte blocks (in may equal out).
 * Return 0 on success, -1 on an OpenSSL failure. */
int vst_pseudonym_encrypt(vst_version_key *vk, const uint8_t *in, uint8_t *out, size_t n);
int vst_pseudonym_decrypt(vst_version_key *vk, const uint8_t *in, uint8_t *out, size_t n);

/* Pseudonymize n identifiers of one domain under one key version: out gets
 * n * 16 bytes. The inner values exist only in out before encryption. */
int vst_pseudonymize(const vst_domain_key *dk, vst_version_key *vk, const char *const *ids,
                     const size_t *lens, size_t n, uint8_t *out);

/* Re-key n pseudonyms from one version to another in place: the inner
 * values exist only in buf between the two steps. */
int vst_rekey(vst_version_key *from, vst_version_key *to, uint8_t *buf, size_t n);

/* Maps n pseudonyms of one version to release pseudonyms in place: each
 * decrypted under `from`, then encrypted under release_key (a raw AES-256
 * key). The inner values exist only in buf between the two steps; the
 * release key's schedule exists only during the call (and is wiped). On
 * failure buf is wiped. 0 or -1. */
int vst_release_map(vst_version_key *from, const uint8_t release_key[VST_KEY_LEN], uint8_t *buf,
                    size_t n);

#endif
