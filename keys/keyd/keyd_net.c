/* keyd's sockets: two listening UNIX sockets (data for vst-httpd, admin for
 * vst-admin), each with an allowlist of peer uids checked with SO_PEERCRED
 * on accept, and non-blocking framed I/O on every connection.
 *
 * The data-socket peer is untrusted. A frame is read in two steps: the
 * 8-byte header, which vst_frame_hdr_decode checks (version, type, a length
 * possible for that type) before a single payload byte is buffered, then
 * exactly that many payload bytes. A bad header, a bad payload, a message
 * not allowed on the socket, or a frame that takes longer than
 * frame_timeout to arrive gets an error answer (best effort) and the
 * connection is closed and counted; the daemon keeps serving everyone.
 *
 * What one peer may hold is bounded, so that the data peer cannot lock the
 * operators out or pin keyd's (locked) memory:
 *  - each socket has its own connection limit: data peers never take the
 *    admin socket's slots;
 *  - a connection that sits between frames for idle_timeout is closed (the
 *    clients reconnect lazily), and one that does not take its reply within
 *    frame_timeout is dropped;
 *  - the bytes held for data peers — payloads being received and replies
 *    not yet sent — are capped: a frame that would cross the cap is refused
 *    with `busy` before its payload is buffered; its bytes are read and
 *    dropped, and the connection stays usable. */
#define _GNU_SOURCE /* accept4, SO_PEERCRED */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/secmem.h"
#include "keyd/keyd.h"

#define MAX_CONNS_HARD 1024
/* A reply buffer up to this size is kept for the next request; a larger
 * one is released once sent, so an idle connection holds little. */
#define KEEP_REPLY_BUF 4096

static int lfd[2] = {-1, -1}; /* [0] data, [1] admin */
static keyd_conn *conns[MAX_CONNS_HARD];
static size_t nconns;
static size_t nopen[2]; /* open connections per socket, [0] data, [1] admin */
static uint64_t rejected;
static uint64_t buffered;      /* sum of the data connections' held bytes */
static uint8_t scratch[65536]; /* where a refused frame's payload is dropped */

uint64_t keyd_net_rejected(void)
{
    return rejected;
}

static int listen_on(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "socket path too long: %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    struct stat st;
    /* A stale socket from a previous run is replaced; any other file is not. */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket", path);
            return -1;
        }
        /* Never take the socket of a keyd that is still running. */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (probe >= 0)
            close(probe);
        if (live) {
            snprintf(err, errlen, "%s is in use: another vst-keyd is running", path);
            return -1;
        }
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    mode_t old = umask(0177); /* never world-connectable, even for an instant */
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc != 0 || chmod(path, g_cfg.socket_mode) != 0 || listen(fd, 64) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int keyd_net_listen(char *err, size_t errlen)
{
    if (g_cfg.max_data_connections < 1 || g_cfg.max_admin_connections < 1 ||
        g_cfg.max_data_connections + g_cfg.max_admin_connections > MAX_CONNS_HARD) {
        snprintf(err, errlen,
                 "max-data-connections and max-admin-connections must be at least 1 and "
                 "together at most %d",
                 MAX_CONNS_HARD);
        return -1;
    }
    if (g_cfg.max_buffered_mib < 1 || g_cfg.max_buffered_mib > 65536) {
        snprintf(err, errlen, "max-buffered-mib must be 1..65536");
        return -1;
    }
    if ((lfd[0] = listen_on(g_cfg.data_socket, err, errlen)) < 0)
        return -1;
    if ((lfd[1] = listen_on(g_cfg.admin_socket, err, errlen)) < 0)
        return -1;
    return 0;
}

static int sock_index(unsigned sock)
{
    return sock == VST_SOCK_DATA ? 0 : 1;
}

/* Sets what a connection counts against max_buffered_mib (data socket only:
 * admin peers are trusted and bounded by their own connection limit). */
static void set_held(keyd_conn *c, size_t n)
{
    if (c->sock != VST_SOCK_DATA)
        return;
    buffered = buffered - c->held + n;
    c->held = n;
}

/* Largest PSEUDONYMIZE reply a payload of len bytes can ask for (each
 * identifier is at least one byte and brings back 16, and 4 more if it is
 * withheld), doubled for the reply writer's growth: the one request whose
 * reply outgrows it. */
static size_t pseud_reply_bound(uint32_t len)
{
    size_t ids = len < VST_BATCH_MAX ? len : VST_BATCH_MAX;
    return 2 * (VST_FRAME_HDR_LEN + 4 + 2 + VST_SECTIONS_MAX * 8 + ids * (VST_PSEUDONYM_LEN + 4));
}

/* The same for CV_DERIVE: each person is at least 14 bytes and brings
 * back 96. */
static size_t cv_reply_bound(uint32_t len)
{
    size_t persons = len / 14 < VST_CV_BATCH_MAX ? len / 14 : VST_CV_BATCH_MAX;
    return 2 * (VST_FRAME_HDR_LEN + 8 + persons * VST_CV_RECORD_LEN);
}

static void conn_free(keyd_conn *c)
{
    keyd_conn_rekey_flush(c);
    keyd_release_close(c); /* its event; the release key wiped */
    keyd_overlap_close(c); /* a query cut off mid-way: its values wiped */
    close(c->fd);
    if (c->payload != NULL)
        vst_frame_free(c->payload, c->h.len);
    vst_wr_free(&c->out);
    set_held(c, 0);
    nopen[sock_index(c->sock)]--;
    free(c);
}

static void drop(size_t i)
{
    conn_free(conns[i]);
    conns[i] = conns[--nconns];
}

void keyd_net_close_all(void)
{
    while (nconns > 0)
        drop(nconns - 1);
    for (int i = 0; i < 2; i++)
        if (lfd[i] >= 0) {
            close(lfd[i]);
            unlink(i == 0 ? g_cfg.data_socket : g_cfg.admin_socket);
            lfd[i] = -1;
        }
}

static const char *sock_name(unsigned sock)
{
    return sock == VST_SOCK_DATA ? "data" : "admin";
}

/* Rejected frames are counted always; their events are rate-limited so
 * that a peer reconnecting in a loop cannot flood the audit log. */
static void note_refusal(const keyd_conn *c, unsigned code, const char *why)
{
    static int64_t window = -1;
    static unsigned in_window, suppressed;
    int64_t minute = keyd_now_ms() / 60000;
    rejected++;
    if (minute != window) {
        window = minute;
        in_window = 0;
    }
    if (in_window++ < 10) {
        keyd_event(c->uid, "keyd.frame_rejected",
                   "{\"socket\":\"%s\",\"reason\":\"%s\",\"code\":\"%s\",\"suppressed\":%u}",
                   sock_name(c->sock), why, vst_keyd_err_name(code), suppressed);
        suppressed = 0;
    } else {
        suppressed++;
    }
}

void keyd_conn_reject(keyd_conn *c, unsigned code, const char *why)
{
    note_refusal(c, code, why);
    keyd_reply_error(c, code);
    c->closing = 1;
}

static void accept_on(int which)
{
    unsigned sock = which == 0 ? VST_SOCK_DATA : VST_SOCK_ADMIN;
    for (;;) {
        int fd = accept4(lfd[which], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: poll again */
        struct ucred cr;
        socklen_t len = sizeof cr;
        const vst_uid_list *allow = sock == VST_SOCK_DATA ? &g_cfg.data_uids : &g_cfg.admin_uids;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 ||
            !vst_uid_allowed(allow, cr.uid)) {
            rejected++;
            keyd_event(len == sizeof cr ? cr.uid : UINT32_MAX, "keyd.peer_refused",
                       "{\"socket\":\"%s\",\"uid\":%u}", sock_name(sock),
                       len == sizeof cr ? cr.uid : UINT32_MAX);
            close(fd);
            continue;
        }
        uint64_t limit =
            sock == VST_SOCK_DATA ? g_cfg.max_data_connections : g_cfg.max_admin_connections;
        if (nopen[which] >= limit || nconns >= MAX_CONNS_HARD) {
            keyd_log("warning", "%s connection limit %llu reached; refusing a peer",
                     sock_name(sock), (unsigned long long)limit);
            close(fd);
            continue;
        }
        keyd_conn *c = calloc(1, sizeof *c);
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->sock = sock;
        c->uid = cr.uid;
        c->pid = cr.pid;
        c->last_active = keyd_now_ms();
        vst_wr_init(&c->out);
        conns[nconns++] = c;
        nopen[which]++;
    }
}

/* A reply (or error) is now waiting in c->out. */
static void reply_queued(keyd_conn *c)
{
    if (c->out.len > 0 && c->reply_started == 0)
        c->reply_started = keyd_now_ms();
}

static void frame_done(keyd_conn *c)
{
    c->hdr_have = 0;
    c->frame_started = 0;
    c->last_active = keyd_now_ms();
}

/* The header is in and valid: refuse the frame before its payload is
 * buffered, or make room for the payload. 0 to go on reading, -1 to drop
 * the connection now. */
static int on_header(keyd_conn *c)
{
    unsigned deny = vst_msg_permit(c->sock, keyd_sealed(), c->h.type);
    if (deny == VST_KERR_BAD_FRAME || deny == VST_KERR_FORBIDDEN) {
        /* Refused before its payload is buffered. */
        keyd_conn_reject(c, deny, deny == VST_KERR_FORBIDDEN ? "forbidden" : "not_a_request");
        return 0;
    }
    size_t need = c->h.len + c->out.cap; /* the payload, the reply buffer kept */
    if (c->h.type == VST_MSG_PSEUDONYMIZE)
        need += pseud_reply_bound(c->h.len);
    if (c->h.type == VST_MSG_CV_DERIVE)
        need += cv_reply_bound(c->h.len);
    if (c->sock == VST_SOCK_DATA && buffered - c->held + need > g_cfg.max_buffered_mib << 20) {
        /* Answered at once (the peer may read it while it still sends);
         * the payload is read and dropped, never held. */
        note_refusal(c, VST_KERR_BUSY, "buffer_limit");
        keyd_reply_error(c, VST_KERR_BUSY);
        reply_queued(c);
        c->discard = c->h.len;
        if (c->discard == 0)
            frame_done(c);
        return 0;
    }
    set_held(c, need);
    c->payload = malloc(c->h.len ? c->h.len : 1);
    if (c->payload == NULL)
        return -1;
    c->payload_have = 0;
    return 0;
}

/* Reads what is available; dispatches once a whole frame is in. Returns -1
 * when the connection should be dropped now. */
static int on_readable(keyd_conn *c)
{
    for (;;) {
        if (c->out.len > 0 || c->closing)
            return 0; /* one request at a time: answer first */
        ssize_t n;
        if (c->discard > 0) {
            size_t want = c->discard < sizeof scratch ? c->discard : sizeof scratch;
            n = read(c->fd, scratch, want);
            if (n > 0)
                vst_wipe(scratch, (size_t)n); /* identifiers, maybe */
        } else if (c->hdr_have < VST_FRAME_HDR_LEN) {
            n = read(c->fd, c->hdr + c->hdr_have, VST_FRAME_HDR_LEN - c->hdr_have);
        } else {
            n = read(c->fd, c->payload + c->payload_have, c->h.len - c->payload_have);
        }
        if (n == 0) {
            /* Peer closed. Between frames that is a normal goodbye; inside
             * a frame it is a truncated frame: counted like any bad one. */
            if (c->frame_started != 0)
                keyd_conn_reject(c, VST_KERR_BAD_FRAME, "truncated_frame");
            return -1;
        }
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        if (c->frame_started == 0)
            c->frame_started = keyd_now_ms();
        if (c->discard > 0) {
            c->discard -= (uint32_t)n;
            if (c->discard == 0)
                frame_done(c);
            continue;
        }
        if (c->hdr_have < VST_FRAME_HDR_LEN) {
            c->hdr_have += (size_t)n;
            if (c->hdr_have < VST_FRAME_HDR_LEN)
                continue;
            int rc = vst_frame_hdr_decode(c->hdr, VST_FRAME_MAX, &c->h);
            if (rc != 0) {
                keyd_conn_reject(c, VST_KERR_BAD_FRAME, vst_proto_strerror(rc));
                return 0;
            }
            if (on_header(c) != 0)
                return -1;
            if (c->payload == NULL)
                continue; /* refused: its answer goes out first */
        } else {
            c->payload_have += (size_t)n;
        }
        if (c->payload_have == c->h.len) {
            keyd_dispatch(c);
            vst_frame_free(c->payload, c->h.len);
            c->payload = NULL;
            set_held(c, c->out.cap); /* the reply's memory, until it is sent */
            reply_queued(c);
            frame_done(c);
        }
    }
}

/* Returns -1 when the connection should be dropped now. */
static int on_writable(keyd_conn *c)
{
    while (c->out_sent < c->out.len) {
        ssize_t n = send(c->fd, c->out.buf + c->out_sent, c->out.len - c->out_sent, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        c->out_sent += (size_t)n;
    }
    if (c->out.cap > KEEP_REPLY_BUF)
        vst_wr_free(&c->out);
    else
        vst_wr_reset(&c->out);
    c->out_sent = 0;
    c->reply_started = 0;
    c->last_active = keyd_now_ms();
    set_held(c, c->payload != NULL ? c->held : c->out.cap);
    return c->closing ? -1 : 0;
}

/* Whether a connection has outstayed a timer; rejects it (with an answer
 * where one still makes sense) and returns 1 to drop it. */
static int timed_out(keyd_conn *c, int64_t now)
{
    if (c->frame_started != 0 && now - c->frame_started > (int64_t)g_cfg.frame_timeout * 1000) {
        keyd_conn_reject(c, VST_KERR_BAD_FRAME, "frame_timeout");
        (void)on_writable(c); /* best effort: the peer may not read */
        return 1;
    }
    if (c->reply_started != 0 && now - c->reply_started > (int64_t)g_cfg.frame_timeout * 1000) {
        note_refusal(c, VST_KERR_BAD_FRAME, "reply_timeout"); /* it does not read */
        return 1;
    }
    /* Idle between frames: a normal close, not a refusal. */
    return g_cfg.idle_timeout > 0 && c->frame_started == 0 && c->out.len == 0 &&
           now - c->last_active > (int64_t)g_cfg.idle_timeout * 1000;
}

void keyd_net_poll(int timeout_ms)
{
    struct pollfd pfd[2 + MAX_CONNS_HARD];
    size_t n = 0;
    for (int i = 0; i < 2; i++)
        pfd[n++] = (struct pollfd){.fd = lfd[i], .events = POLLIN};
    for (size_t i = 0; i < nconns; i++)
        pfd[n++] =
            (struct pollfd){.fd = conns[i]->fd, .events = conns[i]->out.len ? POLLOUT : POLLIN};
    int rc = poll(pfd, n, timeout_ms);
    if (rc < 0)
        return; /* EINTR: a signal; the caller checks its flags */
    /* Connections first (their indices match pfd), newest last so that
     * drop()'s swap with the last entry never skips an unvisited one. */
    int64_t now = keyd_now_ms();
    for (size_t i = nconns; i-- > 0;) {
        keyd_conn *c = conns[i];
        short re = pfd[2 + i].revents;
        int bad = 0;
        if (re & (POLLIN | POLLHUP | POLLERR))
            bad = on_readable(c);
        if (!bad && c->out.len > 0)
            bad = on_writable(c);
        if (!bad && c->out.len == 0 && c->discard > 0 && (re & POLLIN))
            bad = on_readable(c); /* a refusal went out: drop the rest of its frame */
        if (!bad)
            bad = timed_out(c, now);
        if (bad)
            drop(i);
    }
    for (int i = 0; i < 2; i++)
        if (pfd[i].revents & POLLIN)
            accept_on(i);
}
