/* Any keyd message by its type (codec_any.h): the codec of each type, and
 * the re-encoding of the two list responses from their decoded entries. */
#include "wire/codec_any.h"

#include "core/secmem.h"

#include "wire/codec_fields.h"
#include "wire/msg_table.h"

static int req_decode(uint8_t type, const uint8_t *p, size_t len, vst_msg *out)
{
    switch (type) {
    case VST_MSG_STATUS:
    case VST_MSG_PUBKEY:
    case VST_MSG_ROTATE:
    case VST_MSG_RELEASE_OPEN:
    case VST_MSG_OVERLAP_RUN:
        return vst_empty_decode(p, len);
    case VST_MSG_UNSEAL:
        return vst_unseal_req_decode(p, len, &out->unseal_req);
    case VST_MSG_PSEUDONYMIZE:
        return vst_pseud_req_decode(p, len, &out->pseud_req);
    case VST_MSG_REKEY:
        return vst_rekey_req_decode(p, len, &out->rekey_req);
    case VST_MSG_RETIRE:
        return vst_keyver_decode(p, len, &out->keyver);
    case VST_MSG_RELEASE_MAP:
        return vst_release_map_req_decode(p, len, &out->release_map_req);
    case VST_MSG_DISCLOSE:
        return vst_disclose_req_decode(p, len, &out->disclose_req);
    case VST_MSG_OBJECT:
        return vst_object_req_decode(p, len, &out->object_req);
    case VST_MSG_CV_DERIVE:
        return vst_cv_req_decode(p, len, &out->cv_req);
    case VST_MSG_CV_REKEY:
        return vst_cv_rekey_req_decode(p, len, &out->cv_rekey_req);
    case VST_MSG_OVERLAP_OPEN:
        return vst_overlap_open_req_decode(p, len, &out->overlap_open_req);
    case VST_MSG_OVERLAP_FEED:
        return vst_overlap_feed_req_decode(p, len, &out->overlap_feed_req);
    case VST_MSG_OVERLAP_SIGN:
        return vst_overlap_sign_req_decode(p, len, &out->overlap_sign_seq);
    case VST_MSG_SIGN_RECEIPT:
        return vst_receipt_req_decode(p, len, &out->receipt_req);
    case VST_MSG_SIGN_RECEIPTS:
        return vst_receipts_req_decode(p, len, &out->receipts_req);
    case VST_MSG_SIGN_CHECKPOINT:
        return vst_checkpoint_req_decode(p, len, &out->checkpoint_req);
    case VST_MSG_SIGN_REPORT:
        return vst_report_req_decode(p, len, &out->report_req);
    case VST_MSG_EVENTS:
        return vst_events_req_decode(p, len, &out->events_req);
    default:
        return VST_PROTO_E_TYPE;
    }
}

static int resp_decode(uint8_t type, const uint8_t *p, size_t len, vst_msg *out)
{
    switch (type) {
    case VST_MSG_RESP(VST_MSG_STATUS):
        return vst_status_ok_decode(p, len, &out->status_ok);
    case VST_MSG_RESP(VST_MSG_UNSEAL):
        return vst_unseal_ok_decode(p, len, &out->unseal_ok);
    case VST_MSG_RESP(VST_MSG_PUBKEY):
        return vst_pubkey_ok_decode(p, len, &out->pubkey_ok);
    case VST_MSG_RESP(VST_MSG_PSEUDONYMIZE):
        return vst_pseud_ok_decode(p, len, &out->pseud_ok);
    case VST_MSG_RESP(VST_MSG_REKEY):
        return vst_rekey_ok_decode(p, len, &out->rekey_ok);
    case VST_MSG_RESP(VST_MSG_ROTATE):
    case VST_MSG_RESP(VST_MSG_RETIRE):
        return vst_keyver_decode(p, len, &out->keyver);
    case VST_MSG_RESP(VST_MSG_RELEASE_OPEN):
        return vst_release_open_ok_decode(p, len, &out->release_open_ok);
    case VST_MSG_RESP(VST_MSG_RELEASE_MAP):
        return vst_release_map_ok_decode(p, len, &out->release_map_ok);
    case VST_MSG_RESP(VST_MSG_DISCLOSE):
        return vst_disclose_ok_decode(p, len, &out->case_ok);
    case VST_MSG_RESP(VST_MSG_OBJECT):
        return vst_object_ok_decode(p, len, &out->case_ok);
    case VST_MSG_RESP(VST_MSG_CV_DERIVE):
        return vst_cv_ok_decode(p, len, &out->cv_ok);
    case VST_MSG_RESP(VST_MSG_CV_REKEY):
        return vst_cv_rekey_ok_decode(p, len, &out->cv_rekey_ok);
    case VST_MSG_RESP(VST_MSG_OVERLAP_OPEN):
        return vst_overlap_open_ok_decode(p, len, &out->overlap_open_ok);
    case VST_MSG_RESP(VST_MSG_OVERLAP_FEED):
        return vst_overlap_feed_ok_decode(p, len, &out->overlap_feed_ok);
    case VST_MSG_RESP(VST_MSG_OVERLAP_RUN):
        return vst_overlap_result_decode(p, len, &out->overlap_result);
    case VST_MSG_RESP(VST_MSG_SIGN_RECEIPT):
    case VST_MSG_RESP(VST_MSG_SIGN_CHECKPOINT):
    case VST_MSG_RESP(VST_MSG_SIGN_REPORT):
    case VST_MSG_RESP(VST_MSG_OVERLAP_SIGN):
        return vst_sig_ok_decode(p, len, &out->sig_ok);
    case VST_MSG_RESP(VST_MSG_SIGN_RECEIPTS):
        return vst_sigs_ok_decode(p, len, &out->sigs_ok);
    case VST_MSG_RESP(VST_MSG_EVENTS):
        return vst_events_ok_decode(p, len, &out->events_ok);
    case VST_MSG_ERROR:
        return vst_error_decode(p, len, &out->error);
    default:
        return VST_PROTO_E_TYPE;
    }
}

int vst_msg_decode(uint8_t type, const uint8_t *p, size_t len, vst_msg *out)
{
    return type & VST_MSG_RESPONSE || type == VST_MSG_ERROR ? resp_decode(type, p, len, out)
                                                            : req_decode(type, p, len, out);
}

static int put_status_ok(vst_wr *w, const vst_status_ok *m)
{
    vst_list_builder b;
    vst_version_info v;
    TRY(vst_status_ok_begin(&b, w, m));
    for (size_t i = 0; i < m->nversions; i++) {
        TRY(vst_status_version(m, i, &v));
        TRY(vst_status_ok_add(&b, &v));
    }
    return 0;
}

static int put_events_ok(vst_wr *w, const vst_events_ok *m)
{
    vst_list_builder b;
    vst_events_iter it;
    vst_event ev;
    int rc;
    TRY(vst_events_ok_begin(&b, w));
    vst_events_iter_init(&it, m);
    while ((rc = vst_events_next(&it, &ev)) == 1)
        TRY(vst_events_ok_add(&b, &ev));
    return rc;
}

static int status_ok_reencode(vst_wr *w, const vst_status_ok *m)
{
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_status_ok(w, m));
}

static int events_ok_reencode(vst_wr *w, const vst_events_ok *m)
{
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_events_ok(w, m));
}

/* A decoded CV_DERIVE request: the names and count, then its persons
 * decoded one by one (into a scratch struct, wiped) and encoded again. */
static int put_cv_req(vst_wr *w, const vst_cv_req *m)
{
    const uint8_t *at = m->persons, *end = m->persons + m->persons_len;
    vst_person p;
    int rc = wr_str8(w, m->domain, strlen(m->domain));
    if (rc == 0)
        rc = wr_str8(w, m->collection, strlen(m->collection));
    if (rc == 0)
        rc = vst_wr_u32(w, m->count);
    for (uint32_t i = 0; rc == 0 && i < m->count; i++)
        if ((rc = vst_person_decode(&at, end, &p)) == 0)
            rc = vst_person_encode(w, &p);
    vst_wipe(&p, sizeof p);
    return rc == 0 && at != end ? VST_PROTO_E_TRAILING : rc;
}

static int cv_req_reencode(vst_wr *w, const vst_cv_req *m)
{
    if (m->persons == NULL || m->count < 1 || m->count > VST_CV_BATCH_MAX ||
        !vst_domain_name_ok(m->domain) || !vst_domain_name_ok(m->collection))
        return VST_PROTO_E_ARG;
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_cv_req(w, m));
}

/* A decoded SIGN_RECEIPTS request: the count, then its receipts decoded
 * one by one and encoded again. */
static int put_receipts_req(vst_wr *w, const vst_receipts_req *m)
{
    const uint8_t *at = m->items, *end = m->items + m->items_len;
    vst_receipt_fields f;
    int rc = vst_wr_u16(w, m->count);
    for (uint32_t i = 0; rc == 0 && i < m->count; i++)
        if ((rc = vst_receipts_item_decode(&at, end, &f)) == 0)
            rc = vst_receipts_item_encode(w, &f);
    return rc == 0 && at != end ? VST_PROTO_E_TRAILING : rc;
}

static int receipts_req_reencode(vst_wr *w, const vst_receipts_req *m)
{
    if (m->items == NULL || m->count < 1 || m->count > VST_SIGN_RECEIPTS_MAX)
        return VST_PROTO_E_ARG;
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_receipts_req(w, m));
}

static int req_encode(vst_wr *w, uint8_t type, const vst_msg *in)
{
    switch (type) {
    case VST_MSG_STATUS:
    case VST_MSG_PUBKEY:
    case VST_MSG_ROTATE:
    case VST_MSG_RELEASE_OPEN:
    case VST_MSG_OVERLAP_RUN:
        return 0;
    case VST_MSG_CV_DERIVE:
        return cv_req_reencode(w, &in->cv_req);
    case VST_MSG_CV_REKEY:
        return vst_cv_rekey_req_encode(w, &in->cv_rekey_req);
    case VST_MSG_OVERLAP_OPEN:
        return vst_overlap_open_req_encode(w, &in->overlap_open_req);
    case VST_MSG_OVERLAP_FEED:
        return vst_overlap_feed_req_encode(w, &in->overlap_feed_req);
    case VST_MSG_OVERLAP_SIGN:
        return vst_overlap_sign_req_encode(w, in->overlap_sign_seq);
    case VST_MSG_UNSEAL:
        return vst_unseal_req_encode(w, &in->unseal_req);
    case VST_MSG_PSEUDONYMIZE:
        return vst_pseud_req_encode(w, &in->pseud_req);
    case VST_MSG_REKEY:
        return vst_rekey_req_encode(w, &in->rekey_req);
    case VST_MSG_RETIRE:
        return vst_keyver_encode(w, &in->keyver);
    case VST_MSG_RELEASE_MAP:
        return vst_release_map_req_encode(w, &in->release_map_req);
    case VST_MSG_DISCLOSE:
        return vst_disclose_req_encode(w, &in->disclose_req);
    case VST_MSG_OBJECT:
        return vst_object_req_encode(w, &in->object_req);
    case VST_MSG_SIGN_RECEIPT:
        return vst_receipt_req_encode(w, &in->receipt_req);
    case VST_MSG_SIGN_RECEIPTS:
        return receipts_req_reencode(w, &in->receipts_req);
    case VST_MSG_SIGN_CHECKPOINT:
        return vst_checkpoint_req_encode(w, &in->checkpoint_req);
    case VST_MSG_SIGN_REPORT:
        return vst_report_req_encode(w, &in->report_req);
    case VST_MSG_EVENTS:
        return vst_events_req_encode(w, &in->events_req);
    default:
        return VST_PROTO_E_TYPE;
    }
}

static int resp_encode(vst_wr *w, uint8_t type, const vst_msg *in)
{
    switch (type) {
    case VST_MSG_RESP(VST_MSG_CV_DERIVE):
        return vst_cv_ok_encode(w, &in->cv_ok);
    case VST_MSG_RESP(VST_MSG_CV_REKEY):
        return vst_cv_rekey_ok_encode(w, &in->cv_rekey_ok);
    case VST_MSG_RESP(VST_MSG_OVERLAP_OPEN):
        return vst_overlap_open_ok_encode(w, &in->overlap_open_ok);
    case VST_MSG_RESP(VST_MSG_OVERLAP_FEED):
        return vst_overlap_feed_ok_encode(w, &in->overlap_feed_ok);
    case VST_MSG_RESP(VST_MSG_OVERLAP_RUN):
        return vst_overlap_result_encode(w, &in->overlap_result);
    case VST_MSG_RESP(VST_MSG_OVERLAP_SIGN):
        return vst_sig_ok_encode(w, &in->sig_ok);
    case VST_MSG_RESP(VST_MSG_STATUS):
        return status_ok_reencode(w, &in->status_ok);
    case VST_MSG_RESP(VST_MSG_UNSEAL):
        return vst_unseal_ok_encode(w, &in->unseal_ok);
    case VST_MSG_RESP(VST_MSG_PUBKEY):
        return vst_pubkey_ok_encode(w, &in->pubkey_ok);
    case VST_MSG_RESP(VST_MSG_PSEUDONYMIZE):
        return vst_pseud_ok_encode(w, &in->pseud_ok);
    case VST_MSG_RESP(VST_MSG_REKEY):
        return vst_rekey_ok_encode(w, &in->rekey_ok);
    case VST_MSG_RESP(VST_MSG_ROTATE):
    case VST_MSG_RESP(VST_MSG_RETIRE):
        return vst_keyver_encode(w, &in->keyver);
    case VST_MSG_RESP(VST_MSG_RELEASE_OPEN):
        return vst_release_open_ok_encode(w, &in->release_open_ok);
    case VST_MSG_RESP(VST_MSG_RELEASE_MAP):
        return vst_release_map_ok_encode(w, &in->release_map_ok);
    case VST_MSG_RESP(VST_MSG_DISCLOSE):
    case VST_MSG_RESP(VST_MSG_OBJECT):
        /* the struct's with_star, not the type, says the layout */
        if ((in->case_ok.with_star != 0) != (type == VST_MSG_RESP(VST_MSG_DISCLOSE)))
            return VST_PROTO_E_ARG;
        return vst_case_ok_encode(w, &in->case_ok);
    case VST_MSG_RESP(VST_MSG_SIGN_RECEIPT):
    case VST_MSG_RESP(VST_MSG_SIGN_CHECKPOINT):
    case VST_MSG_RESP(VST_MSG_SIGN_REPORT):
        return vst_sig_ok_encode(w, &in->sig_ok);
    case VST_MSG_RESP(VST_MSG_SIGN_RECEIPTS):
        return vst_sigs_ok_encode(w, &in->sigs_ok);
    case VST_MSG_RESP(VST_MSG_EVENTS):
        return events_ok_reencode(w, &in->events_ok);
    case VST_MSG_ERROR:
        return vst_error_encode(w, &in->error);
    default:
        return VST_PROTO_E_TYPE;
    }
}

int vst_msg_encode(vst_wr *w, uint8_t type, const vst_msg *in)
{
    return type & VST_MSG_RESPONSE || type == VST_MSG_ERROR ? resp_encode(w, type, in)
                                                            : req_encode(w, type, in);
}
