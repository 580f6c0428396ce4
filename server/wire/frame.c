/* keyd frames (see frame.h): the header codec, which checks a header
 * against the message table before any payload byte is read, and blocking
 * frame I/O for the clients and tests. */
#include "wire/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/secmem.h"
#include "wire/msg_table.h"

/* ---- header */

int vst_frame_hdr_decode(const uint8_t in[VST_FRAME_HDR_LEN], uint32_t max, vst_frame_hdr *out)
{
    if (in[0] != VST_PROTO_VERSION)
        return VST_PROTO_E_VERSION;
    if (in[2] != 0 || in[3] != 0)
        return VST_PROTO_E_RESERVED;
    const vst_msg_info *mi = vst_msg_lookup(in[1]);
    if (mi == NULL)
        return VST_PROTO_E_TYPE;
    uint32_t len = (uint32_t)vst_be_get(in + 4, 4);
    uint32_t lim = max < VST_FRAME_MAX ? max : VST_FRAME_MAX;
    if (len > lim || len < mi->min_len || len > mi->max_len)
        return VST_PROTO_E_LENGTH;
    out->version = in[0];
    out->type = in[1];
    out->len = len;
    return 0;
}

int vst_frame_hdr_encode(uint8_t type, uint32_t len, uint8_t out[VST_FRAME_HDR_LEN])
{
    const vst_msg_info *mi = vst_msg_lookup(type);
    if (mi == NULL)
        return VST_PROTO_E_TYPE;
    if (len < mi->min_len || len > mi->max_len)
        return VST_PROTO_E_LENGTH;
    out[0] = VST_PROTO_VERSION;
    out[1] = type;
    out[2] = 0;
    out[3] = 0;
    vst_be_put(out + 4, len, 4);
    return 0;
}

/* ---- blocking I/O */

/* Reads exactly n bytes. *got tells a clean EOF (0 bytes) from a cut one. */
static int read_full(int fd, uint8_t *p, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        ssize_t k = read(fd, p + *got, n - *got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? VST_PROTO_E_TIMEOUT : VST_PROTO_E_IO;
        if (k == 0)
            return *got == 0 ? VST_PROTO_E_EOF : VST_PROTO_E_SHORT;
        *got += (size_t)k;
    }
    return 0;
}

/* sendmsg(MSG_NOSIGNAL) so a vanished peer is an error, not a SIGPIPE;
 * writev for descriptors that are not sockets (pipes in tests). */
static ssize_t write_iov(int fd, struct iovec *iov, int n)
{
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    ssize_t k = sendmsg(fd, &mh, MSG_NOSIGNAL);
    if (k < 0 && errno == ENOTSOCK)
        k = writev(fd, iov, n);
    return k;
}

static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t k = write_iov(fd, iov, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return VST_PROTO_E_TIMEOUT;
        if (k <= 0)
            return VST_PROTO_E_IO;
        size_t done = (size_t)k;
        while (n > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

int vst_frame_send(int fd, uint8_t type, const void *payload, size_t len)
{
    uint8_t hdr[VST_FRAME_HDR_LEN];
    if (len > VST_FRAME_MAX || (payload == NULL && len > 0))
        return VST_PROTO_E_LENGTH;
    int rc = vst_frame_hdr_encode(type, (uint32_t)len, hdr);
    if (rc != 0)
        return rc;
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)payload, len}};
    return write_all(fd, iov, len > 0 ? 2 : 1);
}

int vst_frame_recv(int fd, uint32_t max, vst_frame_hdr *hdr, uint8_t **buf)
{
    uint8_t h[VST_FRAME_HDR_LEN];
    size_t got;
    *buf = NULL;
    int rc = read_full(fd, h, sizeof h, &got);
    if (rc == 0)
        rc = vst_frame_hdr_decode(h, max, hdr);
    if (rc != 0)
        return rc;
    uint8_t *p = malloc(hdr->len > 0 ? hdr->len : 1);
    if (p == NULL)
        return VST_PROTO_E_NOMEM;
    rc = read_full(fd, p, hdr->len, &got);
    if (rc != 0) {
        vst_frame_free(p, got);
        return rc == VST_PROTO_E_EOF ? VST_PROTO_E_SHORT : rc;
    }
    *buf = p;
    return 0;
}

void vst_frame_free(uint8_t *buf, size_t len)
{
    vst_wipe(buf, len);
    free(buf);
}
