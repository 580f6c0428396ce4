/* The keyd message table, generated from messages.def (see msg_table.h):
 * names, payload bounds checked at the header, and the permissions keyd
 * checks before it dispatches a request. */
#include "wire/msg_table.h"

#include <stddef.h>

#include "wire/proto.h"

/* ---- the names messages.def uses for bounds, sockets and states */

#define UNSEAL_LEN (1 + VST_KEYSTORE_ID_LEN + VST_SHARE_LEN)
#define PSEUD_REQ_MIN (2 + 1 + 1 + 1 + 4 + 1)
#define PSEUD_REQ_MAX                                                                              \
    (2 + VST_SECTIONS_MAX * (1 + VST_DOMAIN_MAXLEN + 1 + 4) + VST_BATCH_MAX * VST_ID_LEN_MAX)
#define PSEUD_OK_MIN (4 + 2 + 4 + VST_PSEUDONYM_LEN + 4)
/* Per section count and nwithheld; per identifier a pseudonym, or (at
 * most) a zero pseudonym and its index. */
#define PSEUD_OK_MAX (4 + 2 + VST_SECTIONS_MAX * 8 + VST_BATCH_MAX * (VST_PSEUDONYM_LEN + 4))
#define BLOCKS_MAX (VST_BATCH_MAX * VST_PSEUDONYM_LEN)
#define REKEY_REQ_MIN (12 + VST_PSEUDONYM_LEN)
#define REKEY_REQ_MAX (12 + BLOCKS_MAX)
#define REKEY_OK_MIN (4 + VST_PSEUDONYM_LEN)
#define REKEY_OK_MAX (4 + BLOCKS_MAX)
#define RELEASE_MAP_REQ_MIN (8 + VST_PSEUDONYM_LEN)
#define RELEASE_MAP_REQ_MAX (8 + BLOCKS_MAX)
#define RELEASE_MAP_OK_MIN (4 + VST_PSEUDONYM_LEN + 4)
#define RELEASE_MAP_OK_MAX (4 + BLOCKS_MAX + 4 + VST_BATCH_MAX * 4)
#define DISCLOSE_REQ_MIN (1 + 1 + 4 + VST_PSEUDONYM_LEN)
#define DISCLOSE_REQ_MAX (1 + VST_DOMAIN_MAXLEN + 4 + VST_PSEUDONYM_LEN)
#define OBJECT_REQ_MIN (1 + 1 + 1 + 1)
#define OBJECT_REQ_MAX (1 + VST_DOMAIN_MAXLEN + 1 + VST_ID_LEN_MAX)
#define CASE_OK_FIXED (VST_CASE_ID_LEN + 1 + 2)
#define DISCLOSE_OK_MIN (CASE_OK_FIXED + VST_DISCLOSE_ENTRY_LEN)
#define DISCLOSE_OK_MAX (CASE_OK_FIXED + 0xffffu * VST_DISCLOSE_ENTRY_LEN)
#define OBJECT_OK_MIN (CASE_OK_FIXED + VST_OBJECT_ENTRY_LEN)
#define OBJECT_OK_MAX (CASE_OK_FIXED + 0xffffu * VST_OBJECT_ENTRY_LEN)
#define STATUS_OK_MAX (VST_STATUS_FIXED_LEN + 0xffffu * VST_VERSION_ENTRY_LEN)
/* Linkage (codec_link.h). A person is at least sex, date and three counts
 * with one one-letter token in given and family name; a frame of the
 * largest persons would exceed VST_FRAME_MAX, which bounds it first. */
#define PERSON_MIN (1 + 8 + 3 + 2 * 1)
#define CV_VALUES_MAX ((size_t)VST_CV_BATCH_MAX * VST_CV_RECORD_LEN)
#define CV_REQ_MIN (2 + 2 + 4 + PERSON_MIN)
#define CV_REQ_MAX VST_FRAME_MAX
#define CV_OK_MIN (8 + VST_CV_RECORD_LEN)
#define CV_OK_MAX (8 + CV_VALUES_MAX)
#define CV_REKEY_REQ_MIN (2 + 12 + VST_CV_RECORD_LEN)
#define CV_REKEY_REQ_MAX (1 + VST_COLLECTION_MAXLEN + 12 + CV_VALUES_MAX)
#define CV_REKEY_OK_MIN (4 + VST_CV_RECORD_LEN)
#define CV_REKEY_OK_MAX (4 + CV_VALUES_MAX)
#define OVERLAP_OPEN_REQ_MIN (3 * 2 + 2 * 1 + 2)
#define OVERLAP_OPEN_REQ_MAX                                                                       \
    (1 + VST_DOMAIN_MAXLEN + 2 * (1 + VST_COLLECTION_MAXLEN + 1 + VST_OVERLAP_FILTER_MAX) + 2)
#define OVERLAP_FEED_REQ_MIN (9 + VST_CV_RECORD_LEN)
#define OVERLAP_FEED_REQ_MAX (9 + CV_VALUES_MAX)
#define OVERLAP_RUN_OK_LEN (8 + 8 + 1 + 8 + 2 + 1 + VST_LINK_NKEYS * 8 + 1)
/* SIGN_RECEIPTS (codec_sign.h): a count and 1..1024 length-prefixed
 * receipts; the answer, the count and a signature per receipt. The largest batch fits a
 * frame with room to spare (377 858 bytes). */
#define RECEIPTS_REQ_MIN (2 + VST_RECEIPTS_ITEM_MIN)
#define RECEIPTS_REQ_MAX (2 + VST_SIGN_RECEIPTS_MAX * VST_RECEIPTS_ITEM_MAX)
#define RECEIPTS_OK_MIN (2 + VST_ED25519_SIG_LEN)
#define RECEIPTS_OK_MAX (2 + VST_SIGN_RECEIPTS_MAX * VST_ED25519_SIG_LEN)
_Static_assert(RECEIPTS_REQ_MAX <= VST_FRAME_MAX, "the largest SIGN_RECEIPTS fits a frame");

enum { ANY_SOCK = VST_SOCK_DATA | VST_SOCK_ADMIN, ADMIN = VST_SOCK_ADMIN, DATA = VST_SOCK_DATA };
enum { ANY_STATE = VST_STATE_SEALED | VST_STATE_UNSEALED, UNSEALED = VST_STATE_UNSEALED };

/* Every request has a response line: RESPONSE_OF_<SYM> exists only for
 * those, and every request line names its own. */
enum {
#define VST_WIRE_RESPONSE(sym, name, min_len, max_len) RESPONSE_OF_##sym,
#include "wire/messages.def"
};
#define VST_WIRE_REQUEST(sym, code, name, min_len, max_len, sockets, states, handler)              \
    _Static_assert(RESPONSE_OF_##sym >= 0 && (code) < VST_MSG_ERROR, "request " #sym);
#include "wire/messages.def"

/* The table's rows, in messages.def's order. */
enum {
#define VST_WIRE_REQUEST(sym, code, name, min_len, max_len, sockets, states, handler) ROW_##sym,
#define VST_WIRE_RESPONSE(sym, name, min_len, max_len) ROW_RESPONSE_##sym,
#define VST_WIRE_ERROR(sym, code, name, min_len, max_len) ROW_##sym,
#include "wire/messages.def"
};

static const vst_msg_info msg_table[] = {
#define VST_WIRE_REQUEST(sym, code, name, min_len, max_len, sockets, states, handler)              \
    [ROW_##sym] = {VST_MSG_##sym, name, min_len, max_len, sockets, states},
#define VST_WIRE_RESPONSE(sym, name, min_len, max_len)                                             \
    [ROW_RESPONSE_##sym] = {VST_MSG_RESP(VST_MSG_##sym), name, min_len, max_len, 0, 0},
#define VST_WIRE_ERROR(sym, code, name, min_len, max_len)                                          \
    [ROW_##sym] = {VST_MSG_##sym, name, min_len, max_len, 0, 0},
#include "wire/messages.def"
};

/* A switch, so that two lines with one type code do not compile. */
const vst_msg_info *vst_msg_lookup(uint8_t type)
{
    switch (type) {
#define VST_WIRE_REQUEST(sym, code, name, min_len, max_len, sockets, states, handler)              \
    case VST_MSG_##sym:                                                                            \
        return &msg_table[ROW_##sym];
#define VST_WIRE_RESPONSE(sym, name, min_len, max_len)                                             \
    case VST_MSG_RESP(VST_MSG_##sym):                                                              \
        return &msg_table[ROW_RESPONSE_##sym];
#define VST_WIRE_ERROR(sym, code, name, min_len, max_len)                                          \
    case VST_MSG_##sym:                                                                            \
        return &msg_table[ROW_##sym];
#include "wire/messages.def"
    default:
        return NULL;
    }
}

const char *vst_msg_name(uint8_t type)
{
    const vst_msg_info *mi = vst_msg_lookup(type);
    return mi ? mi->name : "unknown";
}

unsigned vst_msg_permit(unsigned sock, int sealed, uint8_t type)
{
    const vst_msg_info *mi = vst_msg_lookup(type);
    if (mi == NULL || mi->sockets == 0)
        return VST_KERR_BAD_FRAME;
    if ((mi->sockets & sock) == 0 || (sock != VST_SOCK_DATA && sock != VST_SOCK_ADMIN))
        return VST_KERR_FORBIDDEN;
    if ((mi->states & (sealed ? VST_STATE_SEALED : VST_STATE_UNSEALED)) == 0)
        return VST_KERR_SEALED;
    return 0;
}
