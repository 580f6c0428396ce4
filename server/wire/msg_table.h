/* The keyd protocol's message table, generated from messages.def: the
 * VST_MSG_* type codes, and per type its name, the payload sizes possible
 * at the header and, for requests, the sockets that may send it and the
 * keyd states in which it is served. */
#ifndef VST_WIRE_MSG_TABLE_H
#define VST_WIRE_MSG_TABLE_H

#include <stdint.h>

/* Message types. A response carries the request's type | 0x80. */
enum {
#define VST_WIRE_REQUEST(sym, code, name, min_len, max_len, sockets, states, handler)              \
    VST_MSG_##sym = code,
#define VST_WIRE_ERROR(sym, code, name, min_len, max_len) VST_MSG_##sym = code,
#include "wire/messages.def"
    VST_MSG_RESPONSE = 0x80,
};
#define VST_MSG_RESP(t) ((uint8_t)((t) | VST_MSG_RESPONSE))

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

#endif
