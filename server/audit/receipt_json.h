/* The delivery receipt as a JSON document (DESIGN.md §6, docs/audit.md
 * "Receipt JSON"): built by vst-httpd, verified by vst-send and
 * `vst-audit verify-receipt`. Library vstreceipt: vstcore and jansson only,
 * no libpq, no keyd client, so every program can link it.
 *
 * The document is one JSON object with exactly these members:
 *
 *   "delivery_id"   string   [A-Za-z0-9._-]{1,128}
 *   "client"        string   client name, UTF-8, 1..128 bytes (vst_client_name_ok)
 *   "profile"       string   [a-z][a-z0-9_]{0,31}
 *   "record_count"  integer  0 .. 2^63-1: the records stored
 *   "withheld_count" integer 0 .. 2^63-1: the valid records not stored
 *                            because their person objected (DESIGN.md
 *                            §12). Present: a v2 receipt; absent: a v1
 *                            receipt (issued before issue 12)
 *   "body_sha256"   string   64 lower-case hex digits
 *   "key_version"   integer  1 .. 2^32-1
 *   "received_at"   string   YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC, 6 digits)
 *   "stored_at"     string   same form, >= received_at
 *   "audit_seq"     integer  1 .. 2^63-1
 *   "signature"     string   128 lower-case hex digits: Ed25519 over
 *                            vst_receipt_tbs() of the fields above,
 *                            under the v2 or v1 prefix (signed.h)
 *   "public_key"    string   optional: 64 lower-case hex digits, the raw
 *                            Ed25519 key that signed (informative only: a
 *                            verifier trusts its own copy of the key)
 *
 * The builder writes the members in this order, compact (no spaces), on one
 * line; withheld_count exactly when the fields are v2 (every new receipt;
 * a v1 receipt is rebuilt as it was signed). The parser accepts any member
 * order and JSON whitespace but nothing else: no unknown or duplicate
 * member, no missing required one, no other type, no upper-case hex, no
 * other time form; it sets the version from withheld_count's presence.
 * Stripping the member from a v2 receipt (or adding it to a v1 one) makes
 * a document that parses but whose signature does not verify: the version
 * is part of the signed bytes. */
#ifndef VST_RECEIPT_JSON_H
#define VST_RECEIPT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "core/signed.h"
#include "core/civil_time.h" /* received_at, stored_at: vst_time_format_us */

/* Longest document the builder writes (and the parser accepts). */
#define VST_RECEIPT_JSON_MAX 4096

typedef struct {
    vst_receipt_fields f;
    uint8_t signature[VST_ED25519_SIG_LEN];
    int has_public_key;
    uint8_t public_key[VST_ED25519_PUB_LEN];
} vst_receipt;

/* The receipt document for fields f and signature sig; public_key may be
 * NULL (member omitted). Returns a malloc'd NUL-terminated string without a
 * trailing newline (free with free()), or NULL if a field is outside its
 * grammar (vst_receipt_fields_ok, stored_at < received_at, a count above
 * 2^63-1, a time outside years 0001..9999) or memory ran out. */
char *vst_receipt_json_build(const vst_receipt_fields *f, const uint8_t sig[VST_ED25519_SIG_LEN],
                             const uint8_t *public_key);

/* Parses a receipt document text[0..len). Returns 0 and fills *out, or -1
 * with one line in err naming the offending member. Does not check the
 * signature: call vst_receipt_verify(key, &out->f, out->signature) with a
 * key the caller trusts. */
int vst_receipt_json_parse(const char *text, size_t len, vst_receipt *out, char *err,
                           size_t errlen);

#endif
