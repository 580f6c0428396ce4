/* keyd frames (docs/keyd-protocol.md, "Frames"): the 8-byte header and
 * blocking frame I/O.
 *
 * A frame is an 8-byte big-endian header (u8 version = 1, u8 type,
 * u16 reserved = 0, u32 payload length) and a payload. vst_frame_hdr_decode
 * rejects a bad header before any payload byte is read, including a length
 * that cannot be right for the type (the bounds of messages.def). */
#ifndef VST_WIRE_FRAME_H
#define VST_WIRE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/vst_error.h"

#define VST_PROTO_VERSION 1
#define VST_FRAME_HDR_LEN 8
#define VST_FRAME_MAX (8u * 1024 * 1024) /* payload bytes */
_Static_assert(VST_FRAME_MAX == VST_BUF_MAX, "a frame's payload is built in one vst_wr");

typedef struct {
    uint8_t version;
    uint8_t type;
    uint32_t len; /* payload length */
} vst_frame_hdr;

/* Checks version, reserved, type, len <= min(max, VST_FRAME_MAX) and that
 * len is possible for the type (vst_msg_info's min_len..max_len). */
int vst_frame_hdr_decode(const uint8_t in[VST_FRAME_HDR_LEN], uint32_t max, vst_frame_hdr *out);
int vst_frame_hdr_encode(uint8_t type, uint32_t len, uint8_t out[VST_FRAME_HDR_LEN]);

/* Blocking frame I/O for vst-admin, vst-httpd's client and tests (keyd
 * runs its own non-blocking loop with the same header decoder). Both retry
 * on EINTR and on short reads and writes; both return VST_PROTO_E_TIMEOUT
 * when a socket timeout (SO_RCVTIMEO/SO_SNDTIMEO) expires.
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
