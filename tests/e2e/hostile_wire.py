"""Raw HTTP/1.1 over mTLS for tests/e2e/hostile.py: send exactly the bytes
a case gives, read back every response and how the connection ended.

No HTTP library is used on purpose: the cases send what a library would
refuse to produce (broken framing, lies about lengths, bytes no client
would write), and the answer is read byte for byte, so that a second
response smuggled behind the first, a reset or a hang is seen as such."""
import select
import socket
import ssl
import time


class Outcome:
    """What came back on one connection.

    responses: list of (status, headers dict with lower-case names, body).
    end: "closed" (orderly close or TLS close_notify), "reset" (TCP RST
    or a TLS error after the handshake), "open" (the deadline passed and
    the connection was still open), or "refused" (no TLS session).
    raw: every byte received (for the marker checks).
    send_error: the sender was stopped by a write error (after what it
    had sent) -- normal when the server answered early and closed.
    seconds: from the first byte sent to the end of reading."""

    def __init__(self):
        self.responses = []
        self.end = None
        self.raw = b""
        self.send_error = None
        self.seconds = 0.0
        self.garbage = b""

    def statuses(self):
        return [r[0] for r in self.responses]

    def final(self):
        """The responses without interim (1xx) ones."""
        return [r for r in self.responses if r[0] >= 200]

    def describe(self):
        s = ",".join(str(x) for x in self.statuses()) or "no response"
        extra = f", send stopped: {self.send_error}" if self.send_error else ""
        junk = f", {len(self.garbage)} unparsable bytes" if self.garbage else ""
        return f"{s}, then {self.end} after {self.seconds:.1f} s{extra}{junk}"


class Wire:
    def __init__(self, host, port, certs):
        self.host, self.port, self.certs = host, port, certs

    def context(self, who="insurer"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(f"{self.certs}/ca.pem")
        if who != "none":
            ctx.load_cert_chain(f"{self.certs}/{who}.pem", f"{self.certs}/{who}.key")
        return ctx

    def connect(self, who="insurer", timeout=10):
        raw = socket.create_connection((self.host, self.port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            return self.context(who).wrap_socket(raw, server_hostname=self.host)
        except (ssl.SSLError, OSError):
            raw.close()
            raise


def _recv_some(sock, deadline):
    """Bytes, b"" at an orderly end, or raises ConnectionResetError /
    TimeoutError."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        if sock.pending() == 0:
            r, _, _ = select.select([sock], [], [], min(left, 0.5))
            if not r:
                continue
        try:
            return sock.recv(65536)
        except ssl.SSLWantReadError:
            continue
        except ssl.SSLZeroReturnError:
            return b""
        except ssl.SSLEOFError:
            return b""  # TCP FIN without close_notify: still a close
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
            raise ConnectionResetError(str(e)) from e


class _Reader:
    def __init__(self, sock, deadline, out):
        self.sock, self.deadline, self.out = sock, deadline, out
        self.buf = b""
        self.eof = False
        self.reset = False

    def fill(self):
        if self.eof:
            return False
        if self.reset:
            raise ConnectionResetError("reset while the request was written")
        data = _recv_some(self.sock, self.deadline)
        if not data:
            self.eof = True
            return False
        self.out.raw += data
        self.buf += data
        return True

    def until(self, sep):
        while sep not in self.buf:
            if not self.fill():
                return None
        i = self.buf.index(sep) + len(sep)
        head, self.buf = self.buf[:i], self.buf[i:]
        return head

    def take(self, n):
        while len(self.buf) < n:
            if not self.fill():
                return None
        head, self.buf = self.buf[:n], self.buf[n:]
        return head


def _read_one(rd, head_request):
    """One response; None at a clean end before its first byte. Raises
    ValueError on bytes that are no HTTP/1.x response."""
    while rd.buf == b"":
        if not rd.fill():
            return None
    head = rd.until(b"\r\n\r\n")
    if head is None:
        raise ValueError("truncated response head")
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ValueError("not an HTTP/1.x status line")
    status = int(parts[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    body = b""
    if status < 200 or status in (204, 304) or head_request:
        return status, headers, body
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            sz = rd.until(b"\r\n")
            if sz is None:
                raise ValueError("truncated chunked response")
            n = int(sz.split(b";")[0].strip(), 16)
            if n == 0:
                rd.until(b"\r\n")
                break
            body += rd.take(n) or b""
            rd.take(2)
    elif "content-length" in headers:
        body = rd.take(int(headers["content-length"]))
        if body is None:
            raise ValueError("truncated response body")
    else:
        while rd.fill():
            pass
        body, rd.buf = rd.buf, b""
    return status, headers, body


class Conn:
    """A TLS connection being written to; bytes the server sends early are
    kept for the reader."""

    def __init__(self, sock):
        self.sock = sock
        self.early = b""
        self.closed = False
        self.reset = False

    def answered(self):
        """Whether the server has answered or closed. Reads without
        blocking: a readable socket may hold only TLS 1.3 session tickets."""
        if self.closed or self.reset or self.early:
            return True
        r, _, _ = select.select([self.sock], [], [], 0)
        if not r and not self.sock.pending():
            return False
        self.sock.setblocking(False)
        try:
            data = self.sock.recv(65536)
            if data:
                self.early += data
            else:
                self.closed = True
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            pass
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            self.closed = True
        except (ssl.SSLError, OSError):
            self.reset = True
        finally:
            self.sock.setblocking(True)
        return self.closed or self.reset or bool(self.early)

    def send(self, data, piece=65536):
        """Writes data in pieces, stopping early once the server has said
        something (an early answer, or a close): what a careful client
        does. Returns whether everything was written."""
        view = memoryview(data)
        for i in range(0, len(view), piece):
            if self.answered():
                return False
            self.sock.sendall(view[i:i + piece])
        return True

    def trickle(self, data, per_second, until):
        """Writes data a few bytes at a time at per_second bytes a second,
        until everything is written, the server answers or closes, or
        `until` (monotonic) passes. Returns the bytes written."""
        step = max(1, per_second // 4)
        sent = 0
        while sent < len(data) and time.monotonic() < until:
            if self.answered():
                break
            self.sock.sendall(data[sent:sent + step])
            sent += step
            time.sleep(0.25)
        return sent


def exchange(wire, send, timeout=10.0, who="insurer", head_request=False, max_responses=50,
             after_response=1.0):
    """Connects, runs send (bytes, or a callable given the Conn that writes
    what and when it likes), then reads responses until the connection
    ends or timeout seconds pass with it still open. After the first final
    response, waits at most after_response seconds for more (a smuggled
    second response, or the close)."""
    out = Outcome()
    t0 = time.monotonic()
    try:
        sock = wire.connect(who)
    except (ssl.SSLError, OSError) as e:
        out.end = "refused"
        out.send_error = str(e)
        return out
    conn = Conn(sock)
    try:
        try:
            if callable(send):
                send(conn)
            else:
                conn.send(send)
        except (OSError, ssl.SSLError) as e:
            out.send_error = type(e).__name__
        rd = _Reader(sock, time.monotonic() + timeout, out)
        rd.buf = conn.early
        out.raw += conn.early
        rd.eof = conn.closed
        rd.reset = conn.reset
        deadline = rd.deadline
        try:
            while len(out.responses) < max_responses:
                if out.final():
                    rd.deadline = min(deadline, time.monotonic() + after_response)
                r = _read_one(rd, head_request)
                if r is None:
                    break
                out.responses.append(r)
            out.end = "closed" if rd.eof else "open"
        except TimeoutError:
            out.end = "open"
        except ConnectionResetError:
            out.end = "reset"
        except ValueError:
            out.garbage = rd.buf
            out.end = "garbage"
    finally:
        out.seconds = time.monotonic() - t0
        try:
            sock.close()
        except OSError:
            pass
    return out
