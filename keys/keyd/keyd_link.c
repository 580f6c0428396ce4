/* Control values (DESIGN.md §13, docs/keyd-protocol.md "CV_DERIVE",
 * "CV_REKEY"; the crypto is keys/link_derive.c).
 *
 * CV_DERIVE is vst-httpd's: normalized persons in, the six stored values
 * of each out, under the current key version and the collection layer of
 * the named collection. The link domain must be on keyd's allowlist, and
 * every person is charged to that domain's pseudonymization budget and
 * counted in the usage report (op derive_cv): a control value of a chosen
 * name is as much a lookup as a pseudonym. The inner values exist only in
 * the response buffer, where they are encrypted in place; each decoded
 * person is wiped at once, the payload when the frame is freed.
 *
 * CV_REKEY is the operator's: stored records of one collection moved
 * forward to the current version without the names (vst-admin rekey). */
#include <openssl/crypto.h>
#include <string.h>

#include "core/usage.h"
#include "keyd/keyd.h"

/* The inner values of the request's persons into out (count * 96 bytes),
 * then the collection layer. 0, or -1 (out wiped). */
static int derive_into(const vst_link_key *lk, vst_version_key *ck, const vst_cv_req *rq,
                       uint8_t *out)
{
    const uint8_t *at = rq->persons, *end = rq->persons + rq->persons_len;
    vst_person p;
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < rq->count; i++)
        rc = vst_person_decode(&at, end, &p) == 0 &&
                     vst_link_inner(lk, &p, out + (size_t)i * VST_CV_RECORD_LEN) == 0
                 ? 0
                 : -1;
    OPENSSL_cleanse(&p, sizeof p);
    if (rc == 0)
        return vst_link_encrypt(ck, out, rq->count);
    OPENSSL_cleanse(out, (size_t)rq->count * VST_CV_RECORD_LEN);
    return -1;
}

void h_cv_derive(keyd_conn *c)
{
    vst_cv_req rq;
    int rc = vst_cv_req_decode(c->payload, c->h.len, &rq);
    if (rc != 0)
        return keyd_bad_payload(c, rc);
    if (!keyd_domain_allowed(rq.domain))
        return keyd_reply_error(c, VST_KERR_INVALID_ARGUMENT);
    unsigned kerr = 0;
    uint32_t v = keyd_current_version();
    vst_link_key *lk = keyd_link_key_new(rq.domain);
    vst_version_key *ck = keyd_collection_key_new(v, rq.collection, &kerr);
    if (lk == NULL || ck == NULL) {
        vst_link_key_free(lk);
        vst_version_key_free(ck);
        return keyd_reply_error(c, VST_KERR_INTERNAL);
    }
    keyd_charge ch = {.n = 1, .domain = {rq.domain}, .count = {rq.count}};
    unsigned deny = keyd_usage_admit(c, VST_USAGE_OP_DERIVE_CV, &ch);
    uint8_t *out = NULL;
    if (deny == 0 && (keyd_reply_begin(c) != 0 || vst_wr_u32(&c->out, v) != 0 ||
                      vst_wr_u32(&c->out, rq.count) != 0 ||
                      vst_wr_reserve(&c->out, (size_t)rq.count * VST_CV_RECORD_LEN, &out) != 0 ||
                      derive_into(lk, ck, &rq, out) != 0)) {
        vst_wr_reset(&c->out);
        deny = VST_KERR_INTERNAL;
    }
    vst_link_key_free(lk);
    vst_version_key_free(ck);
    if (deny != 0)
        return keyd_reply_error(c, deny);
    keyd_reply_finish(c, VST_MSG_RESP(VST_MSG_CV_DERIVE));
    keyd_usage_done(c, VST_USAGE_OP_DERIVE_CV, &ch);
}

void h_cv_rekey(keyd_conn *c)
{
    vst_cv_rekey_req rq;
    int rc = vst_cv_rekey_req_decode(c->payload, c->h.len, &rq);
    if (rc != 0)
        return keyd_bad_payload(c, rc);
    /* As REKEY: stored values only ever move forward to the current version. */
    if (rq.to_version != keyd_current_version() || rq.from_version >= rq.to_version)
        return keyd_reply_error(c, VST_KERR_INVALID_ARGUMENT);
    unsigned kerr = 0;
    vst_version_key *from = keyd_collection_key_new(rq.from_version, rq.collection, &kerr);
    vst_version_key *to =
        from != NULL ? keyd_collection_key_new(rq.to_version, rq.collection, &kerr) : NULL;
    keyd_charge ch = {.n = 1, .domain = {""}, .count = {rq.count}};
    unsigned e = to == NULL ? kerr : keyd_usage_admit(c, VST_USAGE_OP_CV_REKEY, &ch);
    uint8_t *out = NULL;
    if (e == 0 && (keyd_reply_begin(c) != 0 || vst_wr_u32(&c->out, rq.count) != 0 ||
                   vst_wr_reserve(&c->out, (size_t)rq.count * VST_CV_RECORD_LEN, &out) != 0 ||
                   (memcpy(out, rq.values, (size_t)rq.count * VST_CV_RECORD_LEN),
                    vst_link_rekey(from, to, out, rq.count) != 0))) {
        vst_wr_reset(&c->out);
        e = VST_KERR_INTERNAL;
    }
    vst_version_key_free(from);
    vst_version_key_free(to);
    if (e != 0)
        return keyd_reply_error(c, e);
    keyd_reply_finish(c, VST_MSG_RESP(VST_MSG_CV_REKEY));
    keyd_usage_done(c, VST_USAGE_OP_CV_REKEY, &ch);
}
