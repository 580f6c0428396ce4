/* The vst-keyd wire protocol (docs/keyd-protocol.md), as its users include
 * it: all of the parts below. Every untrusted keyd frame is parsed by them
 * and nowhere else: the header is checked against the message table before
 * a payload byte is read, then the payload by its family's codec.
 *
 *   messages.def    the one list of message types: codes, names, size
 *                   bounds, permissions, vst-keyd's handler per request
 *   msg_table.h     the VST_MSG_* codes and table generated from it;
 *                   vst_msg_permit (which socket may send what, when)
 *   frame.h         the 8-byte frame header; blocking frame I/O
 *   codec.h         what the codecs share: calling convention, list builder
 *   codec_keys.h    STATUS, UNSEAL, PUBKEY, ROTATE, RETIRE
 *   codec_pseud.h   PSEUDONYMIZE, REKEY
 *   codec_sign.h    SIGN_RECEIPT, SIGN_RECEIPTS, SIGN_CHECKPOINT, SIGN_REPORT
 *   codec_release.h RELEASE_OPEN, RELEASE_MAP
 *   codec_case.h    DISCLOSE, OBJECT
 *   codec_link.h    CV_DERIVE, CV_REKEY, OVERLAP_OPEN/FEED/RUN/SIGN
 *   overlap_tbs.h   the signed form of an overlap answer
 *   codec_events.h  EVENTS
 *   codec_error.h   the error frame
 *   codec_any.h     any message by type (vst_msg)
 *
 * keyd's error codes (VST_KERR_*) and the local results of this code
 * (VST_PROTO_E_*) live in the error registry, core/vst_error.def. The
 * client is wire/keyd_client.h. */
#ifndef VST_PROTO_H
#define VST_PROTO_H

#include "core/vst_error.h"
#include "wire/codec.h"
#include "wire/codec_any.h"
#include "wire/codec_case.h"
#include "wire/codec_error.h"
#include "wire/codec_events.h"
#include "wire/codec_keys.h"
#include "wire/codec_link.h"
#include "wire/codec_pseud.h"
#include "wire/codec_release.h"
#include "wire/codec_sign.h"
#include "wire/frame.h"
#include "wire/msg_table.h"
#include "wire/overlap_tbs.h"

#endif
