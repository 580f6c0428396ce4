/* Where the master key comes from (DESIGN.md §3; docs/keystore.md):
 *
 *  - production: m-of-n Shamir shares over GF(2^8) (libgfshare), one text
 *    share file per custodian, recombined at unseal;
 *  - development: one master-key file (64 hex digits), which makes the
 *    keystore exactly as safe as that file.
 *
 * Randomness: libgfshare's global gfshare_fill_rand is set to an OpenSSL
 * RAND_bytes filler (aborting on RNG failure) before any libgfshare call;
 * share x coordinates are distinct, nonzero and random.
 *
 * Share text (vst-share-v1), LF or CRLF line ends:
 *
 *   vst-share-v1
 *   keystore: <32 hex keystore id>
 *   index: <x coordinate, 1..255>
 *   threshold: <m>
 *   shares: <n>
 *   share: <64 hex>
 *   check: <16 hex>
 *
 * check = first 8 bytes of SHA-256("vst-share-v1" || id[16] || index[1] ||
 * threshold[1] || shares[1] || share[32]): it catches a mistyped or damaged
 * share on its own, before combining. It is not a MAC: the keystore's key
 * check value and GCM tag (vst_keystore_open) are what reject a wrong master
 * key, including the wrong key that too few shares silently produce. */
#ifndef VST_SHAMIR_H
#define VST_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#include "keystore.h"

#define VST_SHARE_MAX_COUNT 255
/* Enough for the formatted share text including the terminating NUL. */
#define VST_SHARE_TEXT_MAX 256

/* One share. y is secret: wipe with vst_share_wipe when done. */
typedef struct {
    uint8_t keystore_id[VST_KS_ID_LEN];
    uint8_t index;     /* x coordinate, 1..255 */
    uint8_t threshold; /* m */
    uint8_t shares;    /* n */
    uint8_t y[VST_KEY_LEN];
} vst_share;

void vst_share_wipe(vst_share *shares, size_t count);

/* The share's check value (the `check:` line of its file, and what
 * keystore.info records per share): 1 on success, 0 if OpenSSL failed. */
int vst_share_check(const vst_share *s, uint8_t out[VST_KS_SHARE_CHECK_LEN]);

/* Splits master into n shares of which any m recombine it
 * (2 <= m <= n <= 255). out must hold n shares. */
vst_ks_status vst_shamir_split(const uint8_t master[VST_KEY_LEN],
                               const uint8_t keystore_id[VST_KS_ID_LEN], unsigned m, unsigned n,
                               vst_share *out, char *err, size_t errlen);

/* Recombines the master key from k shares after checking them: all from one
 * keystore (and from expect_id when not NULL: else VST_KS_SHARE_FOREIGN),
 * agreeing on m and n (VST_KS_SHARE_MISMATCH), distinct indices
 * (VST_KS_SHARE_DUPLICATE), k >= m (VST_KS_SHARE_TOO_FEW). A result is only
 * known to be right once vst_keystore_open accepts it. */
vst_ks_status vst_shamir_combine(const vst_share *shares, size_t k,
                                 const uint8_t expect_id[VST_KS_ID_LEN],
                                 uint8_t master[VST_KEY_LEN], char *err, size_t errlen);

/* Plain Lagrange interpolation at x = 0 over the k shares given, without the
 * policy checks above (only index 0 and duplicate indices are refused).
 * Fewer than m shares yield a wrong key without any error: for tests and
 * recovery tools that show exactly that. */
vst_ks_status vst_shamir_combine_raw(const vst_share *shares, size_t k, uint8_t master[VST_KEY_LEN],
                                     char *err, size_t errlen);

/* Share text <-> struct. format writes at most buflen bytes (>=
 * VST_SHARE_TEXT_MAX is always enough). parse verifies syntax, ranges and the
 * check value (VST_KS_SHARE_CORRUPT), then the keystore id against expect_id
 * when not NULL (VST_KS_SHARE_FOREIGN). */
vst_ks_status vst_share_format(const vst_share *s, char *buf, size_t buflen);
vst_ks_status vst_share_parse(const char *text, size_t len, const uint8_t expect_id[VST_KS_ID_LEN],
                              vst_share *out, char *err, size_t errlen);

/* Writes one share file: 0600, O_EXCL (an existing file is never
 * overwritten: VST_KS_EXISTS), fsync'd. */
vst_ks_status vst_share_file_write(const char *path, const vst_share *s, char *err, size_t errlen);
/* Reads and parses one share file; errors name the file. */
vst_ks_status vst_share_file_read(const char *path, const uint8_t expect_id[VST_KS_ID_LEN],
                                  vst_share *out, char *err, size_t errlen);

/* Development master-key file: 64 lower-case hex digits and a newline.
 * create: random key, 0600, O_EXCL (VST_KS_EXISTS if the file exists), the
 * key is also returned in master when not NULL.
 * read: refuses (VST_KS_INSECURE) a file that group or others may read or
 * write, or that is not a regular file; VST_KS_CORRUPT on bad content. */
vst_ks_status vst_master_file_create(const char *path, uint8_t master[VST_KEY_LEN], char *err,
                                     size_t errlen);
vst_ks_status vst_master_file_read(const char *path, uint8_t master[VST_KEY_LEN], char *err,
                                   size_t errlen);

#endif
