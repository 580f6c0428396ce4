/* What keyd signs on request (docs/keyd-protocol.md, "Signed
 * structures"): receipts, one (SIGN_RECEIPT) or a commit group's in one
 * round trip (SIGN_RECEIPTS), checkpoints of the audit chain
 * (SIGN_CHECKPOINT) and report digests (SIGN_REPORT). keyd builds every
 * TBS itself from decoded fields (core/signed.h), never from the peer's
 * bytes; each signature is admitted and counted by keyd_usage.c. */
#include "core/usage.h"
#include "keyd/keyd.h"

/* A decoded receipt's TBS under the rules SIGN_RECEIPT and SIGN_RECEIPTS
 * share: a key version keyd has or had (a retired one still signs), and
 * fields that have a TBS. 0, or the error to answer with. */
static unsigned receipt_tbs(const vst_receipt_fields *f, uint8_t tbs[VST_RECEIPT_TBS_MAX],
                            size_t *n)
{
    unsigned kerr = 0;
    if (f->key_version > keyd_current_version() ||
        (keyd_version(f->key_version, &kerr) == NULL && kerr == VST_KERR_UNKNOWN_VERSION))
        return VST_KERR_UNKNOWN_VERSION;
    *n = vst_receipt_tbs(f, tbs);
    return *n == 0 ? VST_KERR_INVALID_ARGUMENT : 0;
}

void h_sign_receipt(keyd_conn *c)
{
    vst_receipt_fields f;
    uint8_t tbs[VST_RECEIPT_TBS_MAX];
    size_t n = 0;
    int rc = vst_receipt_req_decode(c->payload, c->h.len, &f);
    if (rc != 0)
        return keyd_bad_payload(c, rc);
    keyd_charge ch = {.n = 1, .domain = {""}, .count = {1}};
    unsigned e = receipt_tbs(&f, tbs, &n);
    if (e == 0)
        e = keyd_usage_admit(c, VST_USAGE_OP_SIGN_RECEIPT, &ch);
    if (e != 0)
        return keyd_reply_error(c, e);
    if (keyd_reply_signature(c, VST_MSG_SIGN_RECEIPT, tbs, n) == 0)
        keyd_usage_done(c, VST_USAGE_OP_SIGN_RECEIPT, &ch);
}

/* The receipts of a decoded SIGN_RECEIPTS request in order, each under
 * SIGN_RECEIPT's rules and signed into sigs (64 bytes each) unless sigs is
 * NULL (a check only). 0, or the error to answer with. Decoding a receipt
 * again costs far less than signing it. */
static unsigned receipts_sign(const vst_receipts_req *rq, uint8_t *sigs)
{
    const uint8_t *at = rq->items, *end = rq->items + rq->items_len;
    vst_receipt_fields f;
    uint8_t tbs[VST_RECEIPT_TBS_MAX];
    size_t n = 0;
    unsigned e = 0;
    for (uint32_t i = 0; e == 0 && i < rq->count; i++) {
        if (vst_receipts_item_decode(&at, end, &f) != 0)
            e = VST_KERR_INTERNAL; /* cannot be: the request decoded whole */
        else if ((e = receipt_tbs(&f, tbs, &n)) == 0 && sigs != NULL &&
                 keyd_sign(tbs, n, sigs + (size_t)i * VST_ED25519_SIG_LEN) != 0)
            e = VST_KERR_INTERNAL;
    }
    return e;
}

/* A commit group's receipts in one round trip. Every receipt is checked
 * before any is admitted or signed, so a batch with one receipt that
 * SIGN_RECEIPT would refuse is refused whole, with that refusal; the
 * signatures are made straight into the response and counted as n
 * sign_receipt. */
void h_sign_receipts(keyd_conn *c)
{
    vst_receipts_req rq;
    int rc = vst_receipts_req_decode(c->payload, c->h.len, &rq);
    if (rc != 0)
        return keyd_bad_payload(c, rc);
    keyd_charge ch = {.n = 1, .domain = {""}, .count = {rq.count}};
    unsigned e = receipts_sign(&rq, NULL);
    if (e == 0)
        e = keyd_usage_admit(c, VST_USAGE_OP_SIGN_RECEIPT, &ch);
    uint8_t *sigs = NULL;
    if (e == 0 && (keyd_reply_begin(c) != 0 || vst_wr_u16(&c->out, rq.count) != 0 ||
                   vst_wr_reserve(&c->out, (size_t)rq.count * VST_ED25519_SIG_LEN, &sigs) != 0 ||
                   receipts_sign(&rq, sigs) != 0)) {
        vst_wr_reset(&c->out);
        e = VST_KERR_INTERNAL;
    }
    if (e != 0)
        return keyd_reply_error(c, e);
    keyd_reply_finish(c, VST_MSG_RESP(VST_MSG_SIGN_RECEIPTS));
    keyd_usage_done(c, VST_USAGE_OP_SIGN_RECEIPT, &ch);
}

/* Only heads that move forward (keyd_checkpoint.c). */
void h_sign_checkpoint(keyd_conn *c)
{
    vst_checkpoint_req rq;
    uint8_t tbs[VST_CHECKPOINT_TBS_LEN];
    int rc = vst_checkpoint_req_decode(c->payload, c->h.len, &rq);
    if (rc != 0)
        return keyd_bad_payload(c, rc);
    keyd_charge ch = {.n = 1, .domain = {""}, .count = {1}};
    int repeat;
    unsigned deny = keyd_checkpoint_admit(rq.seq, rq.head, &repeat);
    if (deny == 0)
        deny = keyd_usage_admit(c, VST_USAGE_OP_SIGN_CHECKPOINT, &ch);
    if (deny != 0)
        return keyd_reply_error(c, deny);
    vst_checkpoint_tbs(rq.seq, rq.head, rq.time_us, tbs);
    if (keyd_reply_signature(c, VST_MSG_SIGN_CHECKPOINT, tbs, sizeof tbs) != 0)
        return;
    keyd_usage_done(c, VST_USAGE_OP_SIGN_CHECKPOINT, &ch);
    if (!repeat)
        keyd_checkpoint_signed(c->uid, rq.seq, rq.head, rq.time_us);
}

/* A report's digest under the context of its kind (core/signed.h): the
 * peer chooses the kind, keyd the context; a kind without one is refused.
 * Each report is audited by vst-admin itself, so keyd only counts it. */
void h_sign_report(keyd_conn *c)
{
    vst_report_req rq;
    uint8_t tbs[VST_REPORT_TBS_MAX];
    int rc = vst_report_req_decode(c->payload, c->h.len, &rq);
    if (rc != 0)
        return keyd_bad_payload(c, rc);
    size_t n = vst_report_tbs(rq.kind, rq.digest, tbs);
    if (n == 0)
        return keyd_reply_error(c, VST_KERR_INVALID_ARGUMENT);
    keyd_charge ch = {.n = 1, .domain = {""}, .count = {1}};
    unsigned deny = keyd_usage_admit(c, VST_USAGE_OP_SIGN_REPORT, &ch);
    if (deny != 0)
        return keyd_reply_error(c, deny);
    if (keyd_reply_signature(c, VST_MSG_SIGN_REPORT, tbs, n) == 0)
        keyd_usage_done(c, VST_USAGE_OP_SIGN_REPORT, &ch);
}
