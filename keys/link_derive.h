/* Control values for linkage without a number (DESIGN.md §13,
 * docs/linkage.md, wire/codec_link.h): the code behind vst-keyd's
 * CV_DERIVE, CV_REKEY and OVERLAP_FEED. Pure crypto: no I/O, no keyd
 * state. Of the programs only vst-keyd links it.
 *
 *   K_link,d = HKDF-SHA256(K_root, info = "vst/link/" || d)
 *   I_k      = HMAC-SHA256(K_link,d, "vst/cv/1" 0x1F name_k 0x1F f1 0x1F f2 ...)[0..16)
 *   K_v,c    = HKDF-SHA256(K_v, info = "vst/collection/" || c)
 *   C_k      = AES-256_{K_v,c}(I_k)                    one block, no mode
 *   C'_k     = AES_{K_w,c}(AES^-1_{K_v,c}(C_k))        re-keying (CV_REKEY)
 *
 * with the fields of key k (G1/F1/B1 first token of given/family/birth
 * name, G+/F+ all tokens concatenated, phi the Kölner Phonetik of a token
 * (linkage/cologne.h; digits, may be empty), DATE = YYYYMMDD):
 *   0 exact      G+, F+, DATE, SEX
 *   1 phonetic   phi(G1), phi(F1), DATE, SEX
 *   2 swapped    min(phi(G1), phi(F1)), max(...) (strcmp order), DATE
 *   3 daymonth   phi(G1), phi(F1), YYYY, min(MM, DD), max(MM, DD), SEX
 *   4 year       phi(G1), phi(F1), MM, DD, SEX
 *   5 birthname  phi(G1), phi(B1, or F1 without a birth name), DATE
 *
 * The collection layer uses vst_version_key (derive.h): its AES contexts,
 * built once per request, serve every value of the batch. */
#ifndef VST_LINK_DERIVE_H
#define VST_LINK_DERIVE_H

#include <stddef.h>
#include <stdint.h>

#include "derive.h"
#include "linkage/person.h"
#include "wire/codec_link.h"

#define VST_LINK_LABEL "vst/cv/1"
#define VST_LINK_SEP 0x1F
/* The longest HMAC input: label, name, G+ and F+ of 8 x 40 letters each,
 * date and sex, and their separators. */
#define VST_LINK_INPUT_MAX 768

typedef struct vst_link_key vst_link_key;

/* K_link,d as precomputed HMAC pad states. NULL on error (bad domain
 * name, OpenSSL failure). */
vst_link_key *vst_link_key_new(const uint8_t root[VST_KEY_LEN], const char *domain);
void vst_link_key_free(vst_link_key *lk);

/* The raw keys, for tests against independent tools; 0 or -1. */
int vst_hkdf_link(const uint8_t root[VST_KEY_LEN], const char *domain, uint8_t out[VST_KEY_LEN]);
int vst_hkdf_collection(const uint8_t version_key[VST_KEY_LEN], const char *collection,
                        uint8_t out[VST_KEY_LEN]);

/* The collection layer of key version `version` for collection c: AES
 * contexts under K_v,c (free with vst_version_key_free). NULL on error. */
vst_version_key *vst_collection_key_new(uint32_t version, const uint8_t version_key[VST_KEY_LEN],
                                        const char *collection);

/* The HMAC input of key k (< VST_LINK_NKEYS) for p into buf: its length,
 * or 0 if p is not normalized or cap too small. Wipe buf after use. */
size_t vst_link_input(unsigned k, const vst_person *p, uint8_t *buf, size_t cap);

/* The VST_LINK_NKEYS inner values of p into out (96 bytes, key order):
 * 0, or -1 (p not normalized; out zeroed). */
int vst_link_inner(const vst_link_key *lk, const vst_person *p, uint8_t out[VST_CV_RECORD_LEN]);

/* Stored values of n records in place: encrypt (inner -> stored), strip
 * (stored -> inner: only keyd, to link) and rekey (stored under one
 * collection key -> stored under another). 0, or -1 (buf wiped). */
int vst_link_encrypt(vst_version_key *ck, uint8_t *buf, size_t n);
int vst_link_strip(vst_version_key *ck, uint8_t *buf, size_t n);
int vst_link_rekey(vst_version_key *from, vst_version_key *to, uint8_t *buf, size_t n);

#endif
