/* Any keyd message by its type, for dispatch loops, tests and the fuzzer:
 * one union of every family's struct and one decode/encode that choose the
 * codec by type. */
#ifndef VST_WIRE_CODEC_ANY_H
#define VST_WIRE_CODEC_ANY_H

#include "wire/codec_case.h"
#include "wire/codec_error.h"
#include "wire/codec_events.h"
#include "wire/codec_keys.h"
#include "wire/codec_link.h"
#include "wire/codec_pseud.h"
#include "wire/codec_release.h"
#include "wire/codec_sign.h"

/* A message with no payload uses none of the union. */
typedef union {
    vst_status_ok status_ok;
    vst_unseal_req unseal_req;
    vst_unseal_ok unseal_ok;
    vst_pubkey_ok pubkey_ok;
    vst_pseud_req pseud_req;
    vst_pseud_ok pseud_ok;
    vst_rekey_req rekey_req;
    vst_rekey_ok rekey_ok;
    vst_keyver_msg keyver;
    vst_receipt_fields receipt_req;
    vst_receipts_req receipts_req;
    vst_checkpoint_req checkpoint_req;
    vst_report_req report_req;
    vst_release_open_ok release_open_ok;
    vst_release_map_req release_map_req;
    vst_release_map_ok release_map_ok;
    vst_disclose_req disclose_req;
    vst_object_req object_req;
    vst_case_ok case_ok; /* the answers of DISCLOSE and OBJECT */
    vst_cv_req cv_req;
    vst_cv_ok cv_ok;
    vst_cv_rekey_req cv_rekey_req;
    vst_cv_rekey_ok cv_rekey_ok;
    vst_overlap_open_req overlap_open_req;
    vst_overlap_open_ok overlap_open_ok;
    vst_overlap_feed_req overlap_feed_req;
    vst_overlap_feed_ok overlap_feed_ok;
    vst_overlap_result overlap_result;
    uint64_t overlap_sign_seq; /* OVERLAP_SIGN's audit_seq */
    vst_sig_ok sig_ok;
    vst_sigs_ok sigs_ok;
    vst_events_req events_req;
    vst_events_ok events_ok;
    vst_error_msg error;
} vst_msg;

/* VST_PROTO_E_TYPE for a type not in the protocol. */
int vst_msg_decode(uint8_t type, const uint8_t *p, size_t len, vst_msg *out);
/* Encodes a message of any type; STATUS and EVENTS responses are
 * re-encoded from their decoded entries (build new ones with the list
 * builders instead), a CV_DERIVE request from its encoded persons and a
 * SIGN_RECEIPTS request from its encoded receipts (both are decoded again
 * on the way). */
int vst_msg_encode(vst_wr *w, uint8_t type, const vst_msg *in);

#endif
