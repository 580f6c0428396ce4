/* What vst-send makes of the server's answer: the receipt, checked against
 * what was sent and against the trust center's signing key; and a refusal
 * (RFC 9457 problem+json), turned into lines for the operator. The server's
 * text is untrusted: everything printed from it is reduced to printable
 * ASCII and capped in length, so a hostile or broken server cannot write
 * terminal control sequences. */
#ifndef VST_SEND_RESULT_H
#define VST_SEND_RESULT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "audit/receipt_json.h"
#include "core/signed.h"

typedef enum {
    VST_RCPT_OK = 0,
    VST_RCPT_MALFORMED,        /* not a receipt document */
    VST_RCPT_NO_KEY,           /* no pinned key and none in the receipt */
    VST_RCPT_BAD_SIGNATURE,    /* the signature does not verify */
    VST_RCPT_ID_MISMATCH,      /* signed, but for another delivery id */
    VST_RCPT_PROFILE_MISMATCH, /* signed, but for another profile */
    VST_RCPT_SHA_MISMATCH,     /* signed, but for another body */
} vst_rcpt_check;

typedef struct {
    const char *delivery_id;    /* required */
    const char *profile;        /* NULL: whatever the server chose */
    const uint8_t *body_sha256; /* required, VST_SHA256_LEN bytes */
    const uint8_t *pinned_key;  /* NULL: use the receipt's own "public_key" */
} vst_rcpt_expect;

/* Parse json[0..len) and check it: signature first (so that every later
 * mismatch is a statement the trust center signed), then id, profile, body
 * hash. Fills *out as far as parsing got; msg gets one line for anything
 * but VST_RCPT_OK. */
vst_rcpt_check vst_receipt_check(const char *json, size_t len, const vst_rcpt_expect *e,
                                 vst_receipt *out, char *msg, size_t msglen);

/* Human-readable receipt, one "name  value" line per field, on out (the
 * withheld count only when it is above 0). how: e.g. "stored (201
 * Created)". key_note: e.g. "pinned". */
void vst_receipt_print(FILE *out, const vst_receipt *r, const char *how, const char *key_note);

/* The refusal body[0..len) of a status: writes "vst-send: " lines to out —
 * title, detail, and for each listed record error "line N: FIELD: CODE" (at
 * most max_errors of them) — and composes the summary for the last line,
 * e.g. "delivery refused (422 invalid_records): 3 errors". Works with any
 * body, JSON or not. */
void vst_problem_report(FILE *out, int status, const uint8_t *body, size_t len, size_t max_errors,
                        char *summary, size_t summary_len);

/* Copy s into out (outlen > 0) keeping printable ASCII, replacing anything
 * else with '?', truncating with "..." beyond outlen-1 characters. */
void vst_sanitize(const char *s, char *out, size_t outlen);

#endif
