/* The vst-keyd wire protocol (docs/keyd-protocol.md): frames, typed
 * messages, their exact size checks, and which socket may send what.
 *
 * Every untrusted keyd frame is parsed here and nowhere else. A frame is an
 * 8-byte big-endian header (u8 version = 1, u8 type, u16 reserved = 0,
 * u32 payload length) and a payload. vst_frame_hdr_decode rejects a bad
 * header before any payload byte is read, including a length that cannot be
 * right for the type; each payload decoder then checks the exact size (or,
 * for batches, the size its counts describe) before it trusts a field, reads
 * through a bounds-checked cursor (vst_rd) and rejects trailing bytes.
 * Decoders point into the payload for bulk arrays (identifiers, pseudonyms,
 * the share) rather than copying: the payload must outlive the struct, and
 * must be wiped when freed (vst_frame_free, vst_wr_free).
 *
 * Encoders apply the same rules as the decoders, so nothing this module
 * writes is refused by this module. Functions returning int return 0 or a
 * negative VST_PROTO_E_* value; vst_proto_strerror names it. */
#ifndef VST_PROTO_H
#define VST_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/signed.h"

#define VST_PROTO_VERSION 1
#define VST_FRAME_HDR_LEN 8
#define VST_FRAME_MAX (8u * 1024 * 1024) /* payload bytes */
_Static_assert(VST_FRAME_MAX == VST_BUF_MAX, "a frame's payload is built in one vst_wr");
#define VST_BATCH_MAX 65536u /* identifiers or pseudonyms per frame */
#define VST_SECTIONS_MAX 16
#define VST_ID_LEN_MAX 16
#define VST_DOMAIN_LEN_MAX 64 /* == VST_DOMAIN_MAXLEN of derive.h */
#define VST_PSEUDONYM_BYTES 16
#define VST_KEYSTORE_ID_LEN 16
#define VST_SHARE_LEN 32
#define VST_ACTION_LEN_MAX 255
#define VST_DETAILS_LEN_MAX 4096
#define VST_VERSION_ENTRY_LEN 13 /* u32 version, u8 state, u64 reserved */
#define VST_STATUS_FIXED_LEN 74  /* up to and including u16 nversions */

/* Message types. A response carries the request's type | 0x80. */
enum {
    VST_MSG_STATUS = 0x01,
    VST_MSG_UNSEAL = 0x02,
    VST_MSG_PUBKEY = 0x03,
    VST_MSG_PSEUDONYMIZE = 0x10,
    VST_MSG_REKEY = 0x11,
    VST_MSG_ROTATE = 0x12,
    VST_MSG_RETIRE = 0x13,
    VST_MSG_SIGN_RECEIPT = 0x20,
    VST_MSG_SIGN_CHECKPOINT = 0x21,
    VST_MSG_EVENTS = 0x30,
    VST_MSG_ERROR = 0x7f,
    VST_MSG_RESPONSE = 0x80,
};
#define VST_MSG_RESP(t) ((uint8_t)((t) | VST_MSG_RESPONSE))

/* Local results of this module (never on the wire). */
enum {
    VST_PROTO_OK = 0,
    VST_PROTO_E_SHORT = -1,    /* a read past the end of the payload */
    VST_PROTO_E_TRAILING = -2, /* bytes left after the last field */
    VST_PROTO_E_RANGE = -3,    /* a count, length or enum value out of range */
    VST_PROTO_E_CHARSET = -4,  /* a string with a byte its grammar forbids */
    VST_PROTO_E_VERSION = -5,  /* header: protocol version is not 1 */
    VST_PROTO_E_RESERVED = -6, /* header or field: reserved bits not zero */
    VST_PROTO_E_TYPE = -7,     /* header: unknown message type */
    VST_PROTO_E_LENGTH = -8,   /* payload too long, or impossible for the type */
    VST_PROTO_E_NOMEM = -9,
    VST_PROTO_E_IO = -10,      /* read/write failed; errno says why */
    VST_PROTO_E_EOF = -11,     /* peer closed between frames */
    VST_PROTO_E_ARG = -12,     /* caller error: NULL where a value is needed */
    VST_PROTO_E_TIMEOUT = -13, /* the peer did not answer within the timeout */
};
const char *vst_proto_strerror(int rc);

/* Error codes carried by an error response (type 0x7f, payload u16 code).
 * Stable numbers: never renumber or reuse. */
typedef enum {
    VST_KERR_BAD_FRAME = 1,
    VST_KERR_FORBIDDEN = 2, /* message not allowed on this socket */
    VST_KERR_SEALED = 3,
    VST_KERR_BUDGET_EXCEEDED = 4,
    VST_KERR_UNKNOWN_VERSION = 5,
    VST_KERR_RETIRED_VERSION = 6,
    VST_KERR_INVALID_ARGUMENT = 7,
    VST_KERR_INTERNAL = 8,
    VST_KERR_NOT_CURRENT = 9, /* retire of the current version */
    VST_KERR_UNSEAL_REJECTED = 10,
    VST_KERR_BUSY = 11,                  /* keyd's buffer cap is reached: retry later */
    VST_KERR_CHECKPOINT_REGRESSION = 12, /* a lower seq than keyd last signed */
    VST_KERR_CHECKPOINT_FORK = 13,       /* another head for the seq keyd last signed */
} vst_keyd_err;
#define VST_KERR_MAX 13
/* "bad_frame", "forbidden", ...; NULL for a code outside 1..VST_KERR_MAX. */
const char *vst_keyd_err_name(unsigned code);

/* ---- frame header */
typedef struct {
    uint8_t version;
    uint8_t type;
    uint32_t len; /* payload length */
} vst_frame_hdr;

/* Checks version, reserved, type, len <= min(max, VST_FRAME_MAX) and that
 * len is possible for the type (vst_msg_info's min_len..max_len). */
int vst_frame_hdr_decode(const uint8_t in[VST_FRAME_HDR_LEN], uint32_t max, vst_frame_hdr *out);
int vst_frame_hdr_encode(uint8_t type, uint32_t len, uint8_t out[VST_FRAME_HDR_LEN]);

/* ---- the message table: names, possible sizes, permissions */
enum { VST_SOCK_DATA = 1, VST_SOCK_ADMIN = 2 };        /* socket mask bits */
enum { VST_STATE_SEALED = 1, VST_STATE_UNSEALED = 2 }; /* state mask bits */

typedef struct {
    uint8_t type;
    const char *name; /* "status", "status_ok", "error", ... */
    uint32_t min_len; /* payload bounds; the decoder checks exactly */
    uint32_t max_len;
    unsigned sockets; /* requests: sockets that may send it; else 0 */
    unsigned states;  /* requests: keyd states in which it is served */
} vst_msg_info;

/* NULL for a type that is not in the protocol. */
const vst_msg_info *vst_msg_lookup(uint8_t type);
const char *vst_msg_name(uint8_t type); /* "unknown" if not in the table */
/* Whether keyd serves a request of this type from this socket in this
 * state: 0 if it does, else the error code to answer with: bad_frame (not a
 * request type), forbidden (not on this socket; checked first), sealed. */
unsigned vst_msg_permit(unsigned sock, int sealed, uint8_t type);

/* ---- messages. decode(p, len, out) fills out from payload p[0..len)
 * (out is unspecified on failure); encode(w, in) appends the payload to w,
 * or on failure leaves w as it was. */

/* STATUS, PUBKEY and ROTATE requests carry no payload. */
int vst_empty_decode(const uint8_t *p, size_t len);

/* Key version states, numbered as keystore.h's vst_key_state. */
enum { VST_KEYSTATE_CURRENT = 1, VST_KEYSTATE_ACTIVE = 2, VST_KEYSTATE_RETIRED = 3 };
typedef struct {
    uint32_t version; /* >= 1 */
    uint8_t state;    /* VST_KEYSTATE_* */
} vst_version_info;

/* STATUS response. sealed, dev_master in {0,1}; a sealed keyd reports
 * current_version 0 and no versions. */
typedef struct {
    uint8_t sealed, dev_master, shares_have, shares_need;
    uint32_t current_version;
    uint64_t minute_used, minute_limit, day_used, day_limit;
    uint8_t signing_pubkey[VST_ED25519_PUB_LEN];
    /* Set by decode; read entries with vst_status_version. The encoder
     * ignores both and counts what vst_status_ok_add appends. */
    uint16_t nversions;
    const uint8_t *versions;
} vst_status_ok;

int vst_status_ok_decode(const uint8_t *p, size_t len, vst_status_ok *out);
int vst_status_version(const vst_status_ok *m, size_t i, vst_version_info *out);

/* Builder for responses that end in a list: begin writes the fixed part
 * and a zero count; every add appends one entry and patches the count, so
 * the payload is complete after each successful add. An add that would
 * overflow the count or the frame fails without writing (stop there). */
typedef struct {
    vst_wr *w;
    size_t count_off;
    uint32_t n;
} vst_list_builder;

int vst_status_ok_begin(vst_list_builder *b, vst_wr *w, const vst_status_ok *m);
int vst_status_ok_add(vst_list_builder *b, const vst_version_info *v);

/* UNSEAL */
typedef struct {
    uint8_t index; /* Shamir share number, 1..255 */
    uint8_t keystore_id[VST_KEYSTORE_ID_LEN];
    const uint8_t *share; /* VST_SHARE_LEN bytes: points into the payload */
} vst_unseal_req;
enum {
    VST_UNSEAL_NEED_MORE = 0,
    VST_UNSEAL_DONE = 1,
    VST_UNSEAL_REJECTED = 2,      /* the shares do not rebuild the key (have: kept) */
    VST_UNSEAL_SHARE_REFUSED = 3, /* this share alone: bad, duplicate or foreign */
    VST_UNSEAL_ROLLBACK = 4,      /* the keystore is older than one keyd has used */
};
typedef struct {
    uint8_t result; /* VST_UNSEAL_* */
    uint8_t have, need;
} vst_unseal_ok;

int vst_unseal_req_decode(const uint8_t *p, size_t len, vst_unseal_req *out);
int vst_unseal_req_encode(vst_wr *w, const vst_unseal_req *in);
int vst_unseal_ok_decode(const uint8_t *p, size_t len, vst_unseal_ok *out);
int vst_unseal_ok_encode(vst_wr *w, const vst_unseal_ok *in);

/* PUBKEY response, also the two SIGN_* responses' shape. */
typedef struct {
    uint8_t key[VST_ED25519_PUB_LEN];
} vst_pubkey_ok;
typedef struct {
    uint8_t sig[VST_ED25519_SIG_LEN];
} vst_sig_ok;

int vst_pubkey_ok_decode(const uint8_t *p, size_t len, vst_pubkey_ok *out);
int vst_pubkey_ok_encode(vst_wr *w, const vst_pubkey_ok *in);
int vst_sig_ok_decode(const uint8_t *p, size_t len, vst_sig_ok *out);
int vst_sig_ok_encode(vst_wr *w, const vst_sig_ok *in);

/* PSEUDONYMIZE: 1..16 sections, each count >= 1 identifiers of id_len
 * bytes in one domain; counts total <= VST_BATCH_MAX. */
typedef struct {
    char domain[VST_DOMAIN_LEN_MAX + 1]; /* NUL-terminated, [a-z0-9_./-] */
    uint8_t id_len;                      /* 1..16 */
    uint32_t count;                      /* >= 1 */
    const uint8_t *ids;                  /* count * id_len bytes */
} vst_pseud_section;
typedef struct {
    uint16_t nsections; /* 1..16 */
    vst_pseud_section sec[VST_SECTIONS_MAX];
} vst_pseud_req;

typedef struct {
    uint32_t count;
    const uint8_t *pseudonyms; /* count * 16 bytes */
} vst_pseud_out;
typedef struct {
    uint32_t key_version; /* >= 1 */
    uint16_t nsections;   /* 1..16 */
    vst_pseud_out sec[VST_SECTIONS_MAX];
} vst_pseud_ok;

int vst_pseud_req_decode(const uint8_t *p, size_t len, vst_pseud_req *out);
int vst_pseud_req_encode(vst_wr *w, const vst_pseud_req *in);
int vst_pseud_ok_decode(const uint8_t *p, size_t len, vst_pseud_ok *out);
int vst_pseud_ok_encode(vst_wr *w, const vst_pseud_ok *in);
/* Total identifiers of a decoded request (for keyd's budget). */
uint32_t vst_pseud_req_total(const vst_pseud_req *m);
/* 1 if the response has the request's sections and counts, else 0. */
int vst_pseud_ok_matches(const vst_pseud_req *rq, const vst_pseud_ok *rs);

/* REKEY: count 1..65536 pseudonyms from one version to another. */
typedef struct {
    uint32_t from_version, to_version; /* >= 1 */
    uint32_t count;
    const uint8_t *pseudonyms; /* count * 16 bytes */
} vst_rekey_req;
typedef struct {
    uint32_t count;
    const uint8_t *pseudonyms;
} vst_rekey_ok;

int vst_rekey_req_decode(const uint8_t *p, size_t len, vst_rekey_req *out);
int vst_rekey_req_encode(vst_wr *w, const vst_rekey_req *in);
int vst_rekey_ok_decode(const uint8_t *p, size_t len, vst_rekey_ok *out);
int vst_rekey_ok_encode(vst_wr *w, const vst_rekey_ok *in);

/* A lone u32 key version >= 1: ROTATE response, RETIRE request and
 * response. */
typedef struct {
    uint32_t version;
} vst_keyver_msg;

int vst_keyver_decode(const uint8_t *p, size_t len, vst_keyver_msg *out);
int vst_keyver_encode(vst_wr *w, const vst_keyver_msg *in);

/* SIGN_RECEIPT request: the receipt fields of signed.h, in the encoding
 * that is also signed (vst_receipt_encode). */
int vst_receipt_req_decode(const uint8_t *p, size_t len, vst_receipt_fields *out);
int vst_receipt_req_encode(vst_wr *w, const vst_receipt_fields *in);

/* SIGN_CHECKPOINT request. */
typedef struct {
    uint64_t seq;
    uint8_t head[VST_SHA256_LEN];
    int64_t time_us;
} vst_checkpoint_req;

int vst_checkpoint_req_decode(const uint8_t *p, size_t len, vst_checkpoint_req *out);
int vst_checkpoint_req_encode(vst_wr *w, const vst_checkpoint_req *in);

/* EVENTS: keyd's event stream after a sequence number, at most max >= 1
 * events per response (fewer if they would not fit in one frame). */
typedef struct {
    uint64_t after_seq;
    uint16_t max;
} vst_events_req;
typedef struct {
    uint64_t seq;
    int64_t time_us;
    uint32_t actor_uid;
    const char *action; /* [a-z_.], 1..255 bytes, not NUL-terminated */
    size_t action_len;
    const char *details; /* one JSON text, 1..4096 bytes, not NUL-terminated */
    size_t details_len;
} vst_event;
typedef struct {
    uint16_t n;
    const uint8_t *entries; /* set by decode; walk with vst_events_next */
    size_t entries_len;
} vst_events_ok;
typedef struct {
    vst_rd rd;
    uint32_t left;
} vst_events_iter;

int vst_events_req_decode(const uint8_t *p, size_t len, vst_events_req *out);
int vst_events_req_encode(vst_wr *w, const vst_events_req *in);
int vst_events_ok_decode(const uint8_t *p, size_t len, vst_events_ok *out);
void vst_events_iter_init(vst_events_iter *it, const vst_events_ok *m);
/* 1 and *ev filled, 0 at the end, < 0 on a malformed entry. */
int vst_events_next(vst_events_iter *it, vst_event *ev);
int vst_events_ok_begin(vst_list_builder *b, vst_wr *w);
int vst_events_ok_add(vst_list_builder *b, const vst_event *ev);

/* Error response. */
typedef struct {
    uint16_t code; /* vst_keyd_err */
} vst_error_msg;

int vst_error_decode(const uint8_t *p, size_t len, vst_error_msg *out);
int vst_error_encode(vst_wr *w, const vst_error_msg *in);

/* ---- any message by type, for dispatch loops and tests. A message with
 * no payload uses none of the union. */
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
    vst_checkpoint_req checkpoint_req;
    vst_sig_ok sig_ok;
    vst_events_req events_req;
    vst_events_ok events_ok;
    vst_error_msg error;
} vst_msg;

int vst_msg_decode(uint8_t type, const uint8_t *p, size_t len, vst_msg *out);
/* Encodes a message of any type; STATUS and EVENTS responses are
 * re-encoded from their decoded entries (build new ones with the list
 * builders instead). */
int vst_msg_encode(vst_wr *w, uint8_t type, const vst_msg *in);

/* ---- blocking frame I/O for vst-admin and tests (keyd runs its own
 * non-blocking loop). Both retry on EINTR and on short reads and writes.
 *
 * send writes header and payload; SIGPIPE is suppressed on sockets.
 * recv reads one frame of at most max payload bytes into *buf (malloc'd,
 * also for an empty payload); free it with vst_frame_free. A clean close
 * before the first header byte is VST_PROTO_E_EOF, a close inside a frame
 * VST_PROTO_E_SHORT. */
int vst_frame_send(int fd, uint8_t type, const void *payload, size_t len);
int vst_frame_recv(int fd, uint32_t max, vst_frame_hdr *hdr, uint8_t **buf);
void vst_frame_free(uint8_t *buf, size_t len); /* wipes, then frees */

#endif
