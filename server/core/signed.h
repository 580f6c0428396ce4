/* The byte strings vst-keyd signs with Ed25519, and their verification
 * (DESIGN.md §3, §6, §8). Lives in vstcore so that verifiers (vst-send,
 * vst-audit, vst-httpd) check signatures without linking keyd's code.
 *
 * keyd signs only structures it builds itself, never caller-supplied bytes:
 *
 *   receipt    TBS = "vst-receipt-v2\0"    || receipt fields || u64 withheld
 *                                             (the same bytes as the
 *                                             SIGN_RECEIPT payload)
 *              v1: "vst-receipt-v1\0"     || receipt fields: receipts
 *                                             signed before issue 12, still
 *                                             verified, never made any more
 *   checkpoint TBS = "vst-checkpoint-v1\0" || u64 seq || head[32] || i64 time
 *   report     TBS = context(kind) "\0"    || digest[32]
 *                    kind 1 (cells): context "vst/cells/1"
 *
 * (core/usage.h adds "vst/usage/1\0" || the usage report.)
 *
 * The two receipt prefixes differ at byte 13 ('1', '2'), so a v2 receipt
 * stripped of its withheld count (or a v1 receipt given one) does not
 * verify: the version is signed. The receipt and checkpoint prefixes
 * differ at byte 4 ('r', 'c'); the report and usage contexts differ from
 * both at byte 3 ('/' against '-') and from each other at byte 4 ('c',
 * 'u'). A TBS begins with its prefix,
 * so no byte string is the TBS of two kinds: a signature over one never
 * verifies as another. The terminating NUL keeps every prefix free of
 * every other (a future "vst-receipt-v10" cannot collide with
 * "vst-receipt-v1", nor "vst/cells/10" with "vst/cells/1").
 *
 * A report (vst-admin cells, DESIGN.md §11) is the one structure keyd
 * does not build: vst-admin builds it and sends its SHA-256. keyd still
 * never signs arbitrary bytes: the peer names a kind, keyd chooses the
 * context for it (an unknown kind is refused), and the digest is the only
 * thing the peer supplies — 32 bytes after a context that nothing else
 * keyd signs begins with. All integers are big-endian. */
#ifndef VST_SIGNED_H
#define VST_SIGNED_H

#include <stddef.h>
#include <stdint.h>

#define VST_ED25519_PUB_LEN 32
#define VST_ED25519_SIG_LEN 64
#define VST_SHA256_LEN 32

#define VST_RECEIPT_PREFIX_V1 "vst-receipt-v1"    /* signed with its NUL */
#define VST_RECEIPT_PREFIX_V2 "vst-receipt-v2"    /* signed with its NUL */
#define VST_RECEIPT_PREFIX VST_RECEIPT_PREFIX_V2  /* what new receipts are signed under */
#define VST_CHECKPOINT_PREFIX "vst-checkpoint-v1" /* signed with its NUL */

#define VST_DELIVERY_ID_MAX 128 /* [A-Za-z0-9._-] */
#define VST_CLIENT_NAME_MAX 128 /* bytes of UTF-8; see vst_client_name_ok */
#define VST_PROFILE_NAME_MAX 32 /* [a-z0-9_] */

/* Receipt versions (vst_receipt_fields.version). */
#define VST_RECEIPT_V1 1 /* before issue 12: no withheld count */
#define VST_RECEIPT_V2 2 /* with withheld_count: every new receipt */

/* u8 len + delivery_id, u8 len + client, u8 len + profile, u64 record_count,
 * u8[32] body_sha256, u32 key_version, i64 received_at, i64 stored_at,
 * u64 audit_seq; in v2 then u64 withheld_count. The three strings fix the
 * length of the rest: VST_RECEIPT_FIXED_LEN bytes in v1, 8 more in v2.
 * ENC_MIN and ENC_MAX bound the v2 encoding: SIGN_RECEIPT's payload (keyd
 * signs v2 receipts only). */
#define VST_RECEIPT_FIXED_LEN (8 + VST_SHA256_LEN + 4 + 8 + 8 + 8)
#define VST_RECEIPT_FIXED_LEN_V2 (VST_RECEIPT_FIXED_LEN + 8)
#define VST_RECEIPT_ENC_MIN (3 + 3 + VST_RECEIPT_FIXED_LEN_V2)
#define VST_RECEIPT_ENC_MAX                                                                        \
    (3 + VST_DELIVERY_ID_MAX + VST_CLIENT_NAME_MAX + VST_PROFILE_NAME_MAX +                        \
     VST_RECEIPT_FIXED_LEN_V2)
#define VST_RECEIPT_TBS_MAX (sizeof VST_RECEIPT_PREFIX + VST_RECEIPT_ENC_MAX)

#define VST_CHECKPOINT_ENC_LEN (8 + VST_SHA256_LEN + 8)
#define VST_CHECKPOINT_TBS_LEN (sizeof VST_CHECKPOINT_PREFIX + VST_CHECKPOINT_ENC_LEN)

/* Report kinds (SIGN_REPORT's kind byte) and their contexts. Kind 2 is
 * reserved for the overlap report (DESIGN.md §13) and has no context yet:
 * it is refused like any other unknown kind. */
#define VST_REPORT_KIND_CELLS 1
#define VST_REPORT_CONTEXT_CELLS "vst/cells/1" /* signed with its NUL */
/* The longest context of any kind, with its NUL, plus the digest. */
#define VST_REPORT_TBS_MAX (sizeof VST_REPORT_CONTEXT_CELLS + VST_SHA256_LEN)

/* What a delivery receipt states (DESIGN.md §6, §12). Strings are
 * NUL-terminated within their arrays; times are microseconds since the Unix
 * epoch. record_count counts the records stored, withheld_count the valid
 * records not stored because their person objected (DESIGN.md §12). */
typedef struct {
    char delivery_id[VST_DELIVERY_ID_MAX + 1];
    char client[VST_CLIENT_NAME_MAX + 1];
    char profile[VST_PROFILE_NAME_MAX + 1];
    uint64_t record_count;
    uint8_t body_sha256[VST_SHA256_LEN];
    uint32_t key_version; /* >= 1 */
    int64_t received_at_us;
    int64_t stored_at_us;
    uint64_t audit_seq;
    uint64_t withheld_count; /* v2; always 0 in a v1 receipt */
    int version;             /* VST_RECEIPT_V2 for every new receipt; VST_RECEIPT_V1 (old
                                receipts) to verify or re-sign; anything else is invalid */
} vst_receipt_fields;

/* Field grammars, over s[0..n): 1 if s is a valid value, else 0.
 * A client name is 1..128 bytes of well-formed UTF-8 ("AOK Baden-Württemberg")
 * without control characters (C0, DEL, C1), zero-width or bidirectional
 * formatting characters, soft hyphen or BOM, and without a blank at either
 * end. It is the one grammar for names: vst-admin, the trust DB, receipts,
 * their signatures and their verifiers all apply it. */
int vst_delivery_id_ok(const char *s, size_t n);
int vst_client_name_ok(const char *s, size_t n);
int vst_profile_name_ok(const char *s, size_t n);

/* 1 if every field is within its grammar, the strings are terminated, the
 * version is 1 or 2, and a v1 receipt has no withheld records. */
int vst_receipt_fields_ok(const vst_receipt_fields *r);

/* The receipt's field encoding, of its version (v2: SIGN_RECEIPT's
 * payload). Returns its length, or 0 if the fields are invalid. */
size_t vst_receipt_encode(const vst_receipt_fields *r, uint8_t out[VST_RECEIPT_ENC_MAX]);

/* The version's prefix || field encoding. Returns its length, or 0 if the
 * fields are invalid. */
size_t vst_receipt_tbs(const vst_receipt_fields *r, uint8_t out[VST_RECEIPT_TBS_MAX]);

/* SIGN_CHECKPOINT's payload: u64 seq || head || i64 time_us. */
void vst_checkpoint_encode(uint64_t seq, const uint8_t head[VST_SHA256_LEN], int64_t time_us,
                           uint8_t out[VST_CHECKPOINT_ENC_LEN]);

/* prefix || checkpoint encoding; always VST_CHECKPOINT_TBS_LEN bytes. */
void vst_checkpoint_tbs(uint64_t seq, const uint8_t head[VST_SHA256_LEN], int64_t time_us,
                        uint8_t out[VST_CHECKPOINT_TBS_LEN]);

/* The context a report kind is signed under ("vst/cells/1"), or NULL for
 * a kind keyd does not sign. */
const char *vst_report_context(uint8_t kind);

/* context(kind) with its NUL || digest. Returns its length, or 0 for a
 * kind keyd does not sign. */
size_t vst_report_tbs(uint8_t kind, const uint8_t digest[VST_SHA256_LEN],
                      uint8_t out[VST_REPORT_TBS_MAX]);

/* Ed25519 verification of sig over msg[0..len) with a raw 32-byte public key.
 * Returns 1 if the signature is valid, 0 otherwise (any failure). */
int vst_ed25519_verify(const uint8_t pub[VST_ED25519_PUB_LEN], const uint8_t *msg, size_t len,
                       const uint8_t sig[VST_ED25519_SIG_LEN]);

/* Convenience: build the TBS and verify. 1 valid, 0 otherwise. */
int vst_receipt_verify(const uint8_t pub[VST_ED25519_PUB_LEN], const vst_receipt_fields *r,
                       const uint8_t sig[VST_ED25519_SIG_LEN]);
int vst_checkpoint_verify(const uint8_t pub[VST_ED25519_PUB_LEN], uint64_t seq,
                          const uint8_t head[VST_SHA256_LEN], int64_t time_us,
                          const uint8_t sig[VST_ED25519_SIG_LEN]);
/* The report's signature: 1 if sig is pub's signature over
 * vst_report_tbs(kind, digest), 0 otherwise (an unknown kind included).
 * Note the order: the signed values first, the key last. */
int vst_report_verify(uint8_t kind, const uint8_t digest[VST_SHA256_LEN],
                      const uint8_t sig[VST_ED25519_SIG_LEN],
                      const uint8_t pub[VST_ED25519_PUB_LEN]);

#endif
