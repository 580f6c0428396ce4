/* Receipt checks and refusal reports, see send_result.h. */
#include "cli/send/send_result.h"

#include <jansson.h>
#include <string.h>

#include "core/civil_time.h"
#include "core/hex.h"
#include "core/msg.h"

vst_rcpt_check vst_receipt_check(const char *json, size_t len, const vst_rcpt_expect *e,
                                 vst_receipt *out, char *msg, size_t msglen)
{
    char perr[256];
    if (json == NULL || vst_receipt_json_parse(json, len, out, perr, sizeof perr) != 0) {
        vst_msg(msg, msglen, "the server's receipt is malformed: %s", json ? perr : "empty body");
        return VST_RCPT_MALFORMED;
    }
    const uint8_t *key = e->pinned_key;
    if (key == NULL && !out->has_public_key) {
        vst_msg(msg, msglen,
                "cannot verify the receipt: no signing key (pass --public-key or set "
                "VST_SIGNING_KEY)");
        return VST_RCPT_NO_KEY;
    }
    if (key == NULL)
        key = out->public_key;
    if (!vst_receipt_verify(key, &out->f, out->signature)) {
        vst_msg(msg, msglen, "the receipt's signature is NOT valid%s",
                e->pinned_key ? " for the pinned trust-center key" : "");
        return VST_RCPT_BAD_SIGNATURE;
    }
    if (strcmp(out->f.delivery_id, e->delivery_id) != 0) {
        vst_msg(msg, msglen, "the receipt is for delivery id %s, not %s", out->f.delivery_id,
                e->delivery_id);
        return VST_RCPT_ID_MISMATCH;
    }
    if (e->profile != NULL && strcmp(out->f.profile, e->profile) != 0) {
        vst_msg(msg, msglen, "the receipt is for profile %s, not %s", out->f.profile, e->profile);
        return VST_RCPT_PROFILE_MISMATCH;
    }
    if (memcmp(out->f.body_sha256, e->body_sha256, VST_SHA256_LEN) != 0) {
        char got[2 * VST_SHA256_LEN + 1], want[2 * VST_SHA256_LEN + 1];
        vst_hex(out->f.body_sha256, VST_SHA256_LEN, got);
        vst_hex(e->body_sha256, VST_SHA256_LEN, want);
        vst_msg(msg, msglen, "the receipt's body_sha256 %s is not the file's SHA-256 %s", got,
                want);
        return VST_RCPT_SHA_MISMATCH;
    }
    return VST_RCPT_OK;
}

void vst_receipt_print(FILE *out, const vst_receipt *r, const char *how, const char *key_note)
{
    const vst_receipt_fields *f = &r->f;
    char sha[2 * VST_SHA256_LEN + 1], sig[2 * VST_ED25519_SIG_LEN + 1];
    char recv[VST_TIME_TEXT_LEN + 1] = "?", stor[VST_TIME_TEXT_LEN + 1] = "?";
    vst_hex(f->body_sha256, VST_SHA256_LEN, sha);
    vst_hex(r->signature, VST_ED25519_SIG_LEN, sig);
    vst_time_format_us(f->received_at_us, recv);
    vst_time_format_us(f->stored_at_us, stor);
    /* Records validated but not stored because their person objected
     * (DESIGN.md §12): shown only when there are any. */
    char wh[96] = "";
    if (f->withheld_count > 0)
        snprintf(wh, sizeof wh, "withheld      %llu (objections: validated, not stored)\n",
                 (unsigned long long)f->withheld_count);
    fprintf(out,
            "status        %s\n"
            "delivery_id   %s\n"
            "client        %s\n"
            "profile       %s\n"
            "record_count  %llu\n"
            "%s"
            "body_sha256   %s\n"
            "key_version   %u\n"
            "received_at   %s\n"
            "stored_at     %s\n"
            "audit_seq     %llu\n"
            "signature     %s\n"
            "verified      Ed25519 signature valid (%s)\n",
            how, f->delivery_id, f->client, f->profile, (unsigned long long)f->record_count, wh,
            sha, f->key_version, recv, stor, (unsigned long long)f->audit_seq, sig, key_note);
}

void vst_sanitize(const char *s, char *out, size_t outlen)
{
    size_t k = 0, n = s ? strlen(s) : 0;
    if (outlen == 0)
        return;
    for (size_t i = 0; i < n && k + 1 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        out[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[k] = '\0';
    if (k < n && outlen >= 4)
        memcpy(out + outlen - 4, "...", 4);
}

static const char *str_member(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void report_errors(FILE *out, json_t *errors, size_t max_errors)
{
    size_t i, listed = 0;
    json_t *item;
    json_array_foreach(errors, i, item)
    {
        if (listed == max_errors)
            break;
        json_t *line = json_object_get(item, "line");
        const char *field = str_member(item, "field"), *code = str_member(item, "code");
        char f[160], c[80];
        vst_sanitize(field ? field : "", f, sizeof f);
        vst_sanitize(code ? code : "?", c, sizeof c);
        if (json_is_integer(line))
            fprintf(out, "vst-send:   line %lld: ", (long long)json_integer_value(line));
        else
            fprintf(out, "vst-send:   ");
        fprintf(out, "%s%s%s\n", f, f[0] ? ": " : "", c);
        listed++;
    }
    size_t n = json_array_size(errors);
    if (listed < n)
        fprintf(out, "vst-send:   ... %zu more not shown\n", n - listed);
}

void vst_problem_report(FILE *out, int status, const uint8_t *body, size_t len, size_t max_errors,
                        char *summary, size_t summary_len)
{
    json_t *doc = body ? json_loadb((const char *)body, len, 0, NULL) : NULL;
    char code[80] = "", title[300] = "", detail[300] = "";
    long long total = -1;
    if (json_is_object(doc)) {
        vst_sanitize(str_member(doc, "code"), code, sizeof code);
        vst_sanitize(str_member(doc, "title"), title, sizeof title);
        vst_sanitize(str_member(doc, "detail"), detail, sizeof detail);
        json_t *errors = json_object_get(doc, "errors");
        json_t *tot = json_object_get(doc, "errors_total");
        if (title[0] != '\0')
            fprintf(out, "vst-send: %s\n", title);
        if (detail[0] != '\0' && strcmp(detail, title) != 0)
            fprintf(out, "vst-send: %s\n", detail);
        if (json_is_array(errors)) {
            report_errors(out, errors, max_errors);
            total = (long long)json_array_size(errors);
            size_t listed = json_array_size(errors);
            if (json_is_integer(tot) && json_integer_value(tot) > (json_int_t)listed) {
                total = (long long)json_integer_value(tot);
                fprintf(out, "vst-send:   (%lld errors in total; the server listed %zu)\n", total,
                        listed);
            }
        }
    } else if (len > 0) {
        /* Not problem+json (a proxy's error page?): show its start. */
        char head[200], raw[200];
        size_t k = len < sizeof raw - 1 ? len : sizeof raw - 1;
        memcpy(raw, body, k);
        raw[k] = '\0';
        vst_sanitize(raw, head, sizeof head);
        fprintf(out, "vst-send: server said: %s\n", head);
    }
    json_decref(doc);
    char what[96];
    snprintf(what, sizeof what, "%d%s%s", status, code[0] ? " " : "", code);
    if (total >= 0)
        snprintf(summary, summary_len, "delivery refused (%s): %lld error%s", what, total,
                 total == 1 ? "" : "s");
    else
        snprintf(summary, summary_len, "delivery refused (%s)%s%s", what, title[0] ? ": " : "",
                 title);
}
