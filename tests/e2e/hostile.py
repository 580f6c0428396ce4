#!/usr/bin/env python3
"""The hostile-input suite of tests/e2e/test_hostile.sh (issue 8): raw bytes
over mTLS against a running stack, case by case, and after each case the
invariants that must hold whatever was sent.

Every case states the answer it wants and why (DESIGN.md §6, RFC 9110,
RFC 9112, RFC 8259). An answer is one of
  - a status: the first final response must have it;
  - "close": the server closes without a response within the case's
    bound (the right answer only where no response is due, or where
    RFC 9112 allows dropping the connection);
and, for every case, whatever else it says:
  - no 500, no hang (an answer or a close within the bound), no reset
    where an answer is due, no bytes after the response that are no HTTP
    response, no second final response unless the case allows one, and a
    close after the response where RFC 9112 says MUST close;
  - a 422 body lists line, field and code only: every error has exactly
    those keys, the field is a profile path, the code a registered one;
  - no planted value (synthetic KVNR, LANR, BSNR, names, street, city,
    birth date from vst-gen, and a unique planted string per case) in the
    response, in the new part of httpd.log, keyd.log and events.jsonl, or
    in new rows of vst.audit_log.
After each case (one more "ok"/"not ok" line): vst-keyd and vst-httpd are
the same live processes, GET /healthz answers 200, and the store rows,
prepared store transactions, receipts and delivery.stored events are
unchanged; no sanitizer report appeared in the logs.

Output: one "PASS name" / "FAIL name: detail" line per check (the shell
turns them into TAP lines), "# ..." lines for information.

  hostile.py --group main|slow [--list] ...   (see test_hostile.sh)
"""
import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_wire import Wire, exchange  # noqa: E402

NDJSON = b"application/x-ndjson"
PATH_RE = re.compile(r"^[A-Za-z0-9_.|<>#\[\] -]*$")  # profile field paths
SANITIZER = re.compile(rb"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|"
                       rb"runtime error:|ThreadSanitizer|SUMMARY: ")


# ---------------------------------------------------------------------------
# Requests


def request(method, target, headers=(), body=b"", version=b"HTTP/1.1", host=True):
    """A request head as given (no normalisation) followed by body."""
    out = method + b" " + target + b" " + version + b"\r\n"
    if host:
        out += b"Host: 127.0.0.1\r\n"
    for h in headers:
        out += h + b"\r\n"
    return out + b"\r\n" + body


def put(did, body, ct=NDJSON, headers=(), cl=True, method=b"PUT"):
    """PUT /v1/deliveries/{did} with a correct Content-Length unless cl=False."""
    hs = []
    if ct is not None:
        hs.append(b"Content-Type: " + ct)
    if cl:
        hs.append(b"Content-Length: %d" % len(body))
    return request(method, b"/v1/deliveries/" + did, hs + list(headers), body)


def chunked(*parts):
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


TE = b"Transfer-Encoding: chunked"


# ---------------------------------------------------------------------------
# Test data: synthetic records from vst-gen, one (or more) per case, so that
# each case has its own values to look for.


class Records:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.lines = [ln for ln in f.read().split(b"\n") if ln.strip()]
        self.i = 0

    def take(self):
        ln = self.lines[self.i % len(self.lines)]
        self.i += 1
        return json.loads(ln.decode("utf-8"))


def values(rec):
    """The values of a record that must never be echoed or logged."""
    out = []
    ins, prov = rec.get("insured", {}), rec.get("provider", {})
    for k in ("kvnr", "last_name", "first_name", "street", "city", "birth_date"):
        if isinstance(ins.get(k), str):
            out.append(ins[k])
    for k in ("lanr", "ik", "bsnr", "name"):
        if isinstance(prov.get(k), str):
            out.append(prov[k])
    return [v for v in out if len(v) >= 6]


def dump(rec):
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def with_raw(rec, section, field, raw):
    """The record's line with section.field replaced by raw bytes (which
    may be anything: invalid UTF-8, NUL, a huge number)."""
    r = json.loads(json.dumps(rec))
    r[section][field] = "@@RAW@@"
    return dump(r).replace(b'"@@RAW@@"', raw)


def in_string(rec, section, field, raw):
    """raw bytes inside the string value of section.field."""
    return with_raw(rec, section, field, b'"' + raw + b'"')


# ---------------------------------------------------------------------------
# Cases


class Case:
    def __init__(self, name, send, want, why, markers=(), within=8.0, then=(), must_close=False,
                 problem=None, errs=None, codes=None, check=None, who="insurer", head=False,
                 timeout=None, library=None):
        self.name, self.send, self.want, self.why = name, send, tuple(want), why
        self.markers = [m for m in markers if m]
        self.within, self.then, self.must_close = within, tuple(then), must_close
        self.problem, self.errs, self.codes, self.check = problem, errs, codes, check
        self.who, self.head = who, head
        self.timeout = timeout if timeout is not None else within + 1.0
        # A known defect of libmicrohttpd 0.9.75 (Debian 12) that vst cannot
        # reach, because the library answers before any vst code runs: its
        # own error responses carry a Content-Length shorter than their
        # body. Tolerated only as exactly that: the library's error status,
        # then a closed connection (so nothing behind it is read as a
        # request). docs/security.md lists these.
        self.library = library

    def want_text(self):
        return " or ".join(str(w) for w in self.want)


def build(env, recs):
    C = []
    CT = env.ct
    prompt = 2.0  # seconds: a prompt answer or close (well below the idle timeout)
    idle = CT + 4.0  # seconds: a close by the idle timeout
    n = [0]

    def plant():
        """A unique planted string (upper case: never in hex or a log word)."""
        n[0] += 1
        return "ZQPLANT%03d%s" % (n[0], "".join(random.choice("BCDFGHJKLMNPQRSTVWXZ")
                                               for _ in range(8)))

    def did(tag):
        return b"h-%d-%s" % (len(C) + 1, tag.encode())

    def add(name, send, want, why, **kw):
        C.append(Case(name, send, want, why, **kw))

    def rec():
        r = recs.take()
        return r, dump(r), values(r)

    # A line that no profile accepts, for bodies the server may process:
    # the delivery is then rejected (422) and nothing can be stored.
    BAD = b'{"not":"a record"}'

    # ---- request line and framing -----------------------------------------
    p = plant()
    add("request line without method/target/version", b"GARBAGE" + p.encode() + b"\r\n\r\n",
        [400, "close"], "RFC 9112 §3: an invalid request-line SHOULD get 400; an immediate "
        "close is deliberate too -- waiting for the idle timeout is not", within=prompt,
        markers=[p])
    p = plant()
    add("binary request line with NUL bytes", b"\x00\x01\x02 /" + p.encode() +
        b" HTTP/1.1\r\n\r\n", [400, "close"], "a complete but invalid request-line: answered "
        "(400) or closed; libmicrohttpd 0.9.75 reads a NUL as the end of the line and waits "
        "for more, so vst's header-timeout closes it (the suite runs with 3 s)",
        within=idle, markers=[p])
    add("TLS ClientHello bytes inside TLS (no line end)",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(256)) * 2,
        [400, "close"], "not HTTP at all; without a line end the server may wait for one, "
        "but no longer than the idle timeout", within=idle)
    add("HTTP/0.9 request (no version)", b"GET /healthz\r\n\r\n", [400],
        "RFC 9112 has no HTTP/0.9; the request-line is invalid: 400")
    add("HTTP/2.0 in an HTTP/1 request line", request(b"GET", b"/healthz", version=b"HTTP/2.0"),
        [505], "RFC 9110 §15.6.6: major version not supported -> 505")
    add("malformed version HTTX/1.1", request(b"GET", b"/healthz", version=b"HTTX/1.1"),
        [400, 505], "not an HTTP-version: 400 (or 505)")
    add("double spaces in the request line",
        b"GET  /healthz  HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", [400, 200, 404],
        "RFC 9112 §3: reject (400) or parse on whitespace (200); a 404 for a target that "
        "names nothing is deliberate too")
    add("bare LF line ends", b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\n\n", [200, 400],
        "RFC 9112 §2.2: a recipient MAY accept a bare LF as line end")
    add("bare CR inside the request-target", b"GET /heal\rthz HTTP/1.1\r\nHost: x\r\n\r\n",
        [400, 404], "RFC 9112 §2.2: a bare CR makes the element invalid (400); a 404 for a "
        "target that names nothing is deliberate too")
    add("HTTP/1.1 request without Host", request(b"GET", b"/healthz", host=False), [400],
        "RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host")
    add("two Host header fields", request(b"GET", b"/healthz", [b"Host: other.example"]), [400],
        "RFC 9112 §3.2: MUST answer 400 to more than one Host field line")
    r, line, m = rec()
    add("absolute-form request-target",
        request(b"PUT", b"https://evil.example/v1/deliveries/" + did("abs"),
                [b"Content-Type: " + NDJSON, b"Content-Length: %d" % (len(line) + len(BAD) + 2)],
                line + b"\n" + BAD + b"\n"),
        [422, 404, 400], "RFC 9112 §3.2.2: absolute-form must be accepted (then 422 for the bad "
        "line) or refused; never stored", markers=m)
    add("asterisk-form OPTIONS *", request(b"OPTIONS", b"*"), [400, 404, 405, 501],
        "no resource is *: refused deliberately")
    add("authority-form CONNECT", request(b"CONNECT", b"127.0.0.1:443"), [400, 404, 405, 501],
        "vst-httpd is no proxy: CONNECT is refused")
    p = plant()
    add("request-target of 100 KB", request(b"GET", b"/" + p.encode() + b"a" * 100000),
        [404, 414], "a long target that names nothing: 404, or 414 URI Too Long",
        markers=[p])
    p = plant()
    add("request-target of 1 MB", request(b"GET", b"/" + p.encode() + b"a" * 1000000),
        [414, 431, 400], "beyond the connection's memory: 414 (RFC 9110 §15.5.15)", markers=[p])
    p = plant()
    add("header value of 300 KB", request(b"GET", b"/healthz", [b"X-Note: " + p.encode() +
                                                               b"a" * 300000]),
        [431], "RFC 6585 §5: header fields too large -> 431", markers=[p])
    add("20,000 header fields", request(b"GET", b"/healthz", [b"X-A: b"] * 20000), [431],
        "RFC 6585 §5: too many header fields -> 431")
    p = plant()
    add("header field without colon", request(b"GET", b"/healthz", [b"X-Note" + p.encode()]),
        [400], "RFC 9112 §5: an invalid field line -> 400", markers=[p])
    p = plant()
    r, line, m = rec()
    add("obs-fold in a header (continuation line)",
        put(did("fold"), line + b"\n" + BAD + b"\n",
            headers=[b"X-Note: a", b" " + p.encode()]),
        [400, 422], "RFC 9112 §5.2: reject obs-fold (400) or replace it with SP (then 422 for "
        "the bad line)", markers=m + [p])
    r, line, m = rec()
    smuggled = put(did("smuggled-ws"), line + b"\n")
    add("whitespace between field name and colon (Content-Length : N)",
        request(b"PUT", b"/v1/deliveries/" + did("ws"),
                [b"Content-Type: " + NDJSON, b"Content-Length : %d" % len(smuggled)], smuggled),
        [400], "RFC 9112 §5.1: a server MUST reject whitespace before the colon with 400 -- "
        "else the body (here a whole PUT of a valid record) is read as the next request",
        must_close=True, markers=m)
    p = plant()
    add("NUL in a header name", request(b"GET", b"/healthz", [b"X\x00" + p.encode() + b": v"]),
        [400], "RFC 9110 §5.1: a field name is a token -> 400", markers=[p])
    p = plant()
    add("NUL in a header value", request(b"GET", b"/healthz", [b"X-Note: a\x00" + p.encode()]),
        [400, 200], "RFC 9110 §5.5: reject, or replace the NUL with SP", markers=[p])
    p = plant()
    add("space inside a header name", request(b"GET", b"/healthz",
                                              [b"X Note: " + p.encode()]),
        [400], "RFC 9110 §5.1: a field name is a token; an invalid field line -> 400",
        markers=[p])
    add("three pipelined requests in one write",
        request(b"GET", b"/healthz") * 3, [200],
        "answered in order, or closed after the first (Connection: close)", then=(200,))
    r, line, m = rec()
    add("Expect: 100-continue with a wrong media type",
        put(did("expect-415"), line + b"\n", ct=b"text/plain",
            headers=[b"Expect: 100-continue"]),
        [415], "RFC 9110 §10.1.1: the final status may be sent instead of 100", markers=m,
        problem="unsupported_media_type")
    r, line, m = rec()
    add("Expect: something unknown",
        put(did("expect-x"), line + b"\n" + BAD + b"\n", headers=[b"Expect: fly-to-the-moon"]),
        [417, 422], "RFC 9110 §10.1.1: MAY answer 417; else the body is processed (422)",
        markers=m)
    r, line, m = rec()
    add("HTTP/1.1 PUT with a body but neither Content-Length nor Transfer-Encoding",
        put(did("nolength"), line + b"\n", cl=False), [400, 411],
        "RFC 9112 §6.3: the body length is 0 -> an empty delivery (400) or 411 Length Required;"
        " the bytes that follow are no request (400 or a close)", then=(400,), markers=m)
    r, line, m = rec()
    add("HTTP/1.0 PUT without Content-Length",
        request(b"PUT", b"/v1/deliveries/" + did("http10"), [b"Content-Type: " + NDJSON],
                line + b"\n", version=b"HTTP/1.0"),
        [400, 411], "RFC 9112 §6.3: no Content-Length on a request means length 0 (400 "
        "empty_delivery) or 411", then=(400,), markers=m)

    # ---- Content-Length lies ----------------------------------------------
    r, line, m = rec()
    body = line + b"\n"
    add("Content-Length shorter than the body",
        request(b"PUT", b"/v1/deliveries/" + did("cl-short"),
                [b"Content-Type: " + NDJSON, b"Content-Length: 40"], body),
        [422], "the server reads 40 bytes (an incomplete record: 422); the rest is no valid "
        "request (400 or a close)", then=(400,), markers=m,
        errs={(1, "invalid_json")})
    r, line, m = rec()
    add("Content-Length longer than the body (client waits)",
        request(b"PUT", b"/v1/deliveries/" + did("cl-long"),
                [b"Content-Type: " + NDJSON, b"Content-Length: %d" % (len(line) + 1000)],
                line + b"\n"),
        [408, "close"], "the body never completes: closed by the idle timeout (or 408)",
        within=idle, markers=m)

    r, line, m = rec()

    def half_close(conn, data=request(b"PUT", b"/v1/deliveries/" + did("cl-eof"),
                                      [b"Content-Type: " + NDJSON,
                                       b"Content-Length: %d" % (len(line) + 1000)],
                                      line + b"\n")):
        conn.send(data)
        socket.socket.shutdown(conn.sock, socket.SHUT_WR)  # TCP FIN, TLS state kept

    add("Content-Length longer than the body, then the client half-closes", half_close,
        [400, "close"], "RFC 9112 §8: an incomplete request -- a close, or a 400 before it; "
        "never stored", within=prompt, markers=m)
    for tag, val, want, why in (
            ("negative", b"-1", [400], "RFC 9110 §8.6: Content-Length is 1*DIGIT -> 400"),
            ("non-numeric", b"abc", [400], "not 1*DIGIT -> 400"),
            ("plus sign", b"+%d", [400], "not 1*DIGIT -> 400"),
            ("trailing junk", b"%dabc", [400], "not 1*DIGIT -> 400"),
            ("empty", b"", [400], "not 1*DIGIT -> 400"),
            ("two numbers with a space", b"%d %d", [400], "not 1*DIGIT -> 400"),
            ("list of different values", b"%d, 7", [400],
             "RFC 9112 §6.3: an invalid Content-Length MUST be answered 400 and closed"),
            ("beyond 2^64", b"99999999999999999999999", [400, 413],
             "RFC 9110 §8.6: overflow must not be misparsed: 400 or 413")):
        r, line, m = rec()
        body = line + b"\n"
        v = val.replace(b"%d", b"%d" % len(body)) if b"%d" in val else val
        add("Content-Length " + tag, request(b"PUT", b"/v1/deliveries/" + did("cl"),
                                             [b"Content-Type: " + NDJSON,
                                              b"Content-Length: " + v], body),
            want, why, must_close=True, markers=m,
            library="libmicrohttpd answers these itself (400/413) with a short Content-Length")
    r, line, m = rec()
    body = line + b"\n"
    add("two Content-Length fields with different values",
        request(b"PUT", b"/v1/deliveries/" + did("cl-dup"),
                [b"Content-Type: " + NDJSON, b"Content-Length: %d" % len(body),
                 b"Content-Length: %d" % (len(body) - 30)], body),
        [400], "RFC 9112 §6.3: differing Content-Length values are an unrecoverable framing "
        "error: 400 and close", must_close=True, markers=m)
    r, line, m = rec()
    body = line + b"\n" + BAD + b"\n"
    add("two Content-Length fields with the same value",
        request(b"PUT", b"/v1/deliveries/" + did("cl-same"),
                [b"Content-Type: " + NDJSON, b"Content-Length: %d" % len(body),
                 b"Content-Length: %d" % len(body)], body),
        [400, 422], "RFC 9110 §8.6: reject, or take the one value (then 422)", markers=m)
    r, line, m = rec()
    body = line + b"\n" + BAD + b"\n"
    add("Content-Length with leading zeros",
        request(b"PUT", b"/v1/deliveries/" + did("cl-zeros"),
                [b"Content-Type: " + NDJSON, b"Content-Length: 000%d" % len(body)], body),
        [422, 400], "1*DIGIT allows leading zeros: processed (422), or refused", markers=m)

    # ---- Transfer-Encoding: chunked ---------------------------------------
    def te_put(tag, raw, headers=(TE,)):
        return request(b"PUT", b"/v1/deliveries/" + did(tag),
                       [b"Content-Type: " + NDJSON] + list(headers), raw)

    r, line, m = rec()
    add("chunk size not hex", te_put("te-hex", b"zz\r\n" + line + b"\r\n0\r\n\r\n"), [400],
        "RFC 9112 §7.1: chunk-size is 1*HEXDIG -> 400", must_close=True, markers=m)
    r, line, m = rec()
    add("chunk size beyond 2^64", te_put("te-ovf", b"FFFFFFFFFFFFFFFFFFFF\r\n" + line +
                                         b"\r\n0\r\n\r\n"), [400, 413],
        "RFC 9112 §7.1: MUST anticipate overflow -> 400 or 413", must_close=True, markers=m)
    r, line, m = rec()
    add("chunk size of 2^63-1, a few bytes, then nothing",
        te_put("te-huge", b"7FFFFFFFFFFFFFFF\r\n" + line), [413, 400, "close"],
        "larger than any delivery may be: 413 at once, or the idle timeout closes",
        within=idle, markers=m)
    r, line, m = rec()
    add("chunk data without its CRLF", te_put("te-crlf", b"%x\r\n" % 5 + line[:5] + line[5:] +
                                              b"0\r\n\r\n"), [400],
        "RFC 9112 §7.1: chunk-data is followed by CRLF -> 400", must_close=True, markers=m)
    r, line, m = rec()
    add("negative chunk size", te_put("te-neg", b"-5\r\n" + line[:5] + b"\r\n0\r\n\r\n"),
        [400], "not 1*HEXDIG -> 400", must_close=True, markers=m)
    r, line, m = rec()
    add("chunk size with 0x prefix", te_put("te-0x", b"0x5\r\n" + line[:5] + b"\r\n0\r\n\r\n"),
        [400], "not 1*HEXDIG -> 400", must_close=True, markers=m)
    r, line, m = rec()
    add("chunk size with leading space", te_put("te-sp", b" 5\r\n" + line[:5] +
                                                b"\r\n0\r\n\r\n"),
        [400], "not 1*HEXDIG -> 400", must_close=True, markers=m)
    p = plant()
    r, line, m = rec()
    body = line + b"\n" + BAD + b"\n"
    add("chunk extensions (ignored)", te_put("te-ext", b"%x;note=%s;q=\"x y\"\r\n" %
                                             (len(body), p.encode()) + body +
                                             b"\r\n0;last\r\n\r\n"),
        [422], "RFC 9112 §7.1.1: unknown extensions are ignored: the body is processed (422)",
        markers=m + [p], errs=BAD_ON(2))
    r, line, m = rec()
    add("chunk extension of 1 MB", te_put("te-ext-1m", b"5;x=" + b"e" * 1000000 + b"\r\n" +
                                          line[:5] + b"\r\n0\r\n\r\n"),
        [400, 413, 500], "RFC 9112 §7.1.1: over-long extensions get a 4xx; libmicrohttpd "
        "0.9.75 refuses a chunk line longer than its connection buffer with its own 500 "
        "before any vst code runs (a defect of the library, docs/security.md): tolerated "
        "as long as the connection is closed and nothing stored", must_close=True,
        markers=m, library="libmicrohttpd's own 500 for a line beyond its buffer")
    p = plant()
    r, line, m = rec()
    body = line + b"\n" + BAD + b"\n"
    add("trailer fields after the last chunk",
        te_put("te-trailer", chunked(body)[:-2] + b"X-Note: " + p.encode() +
               b"\r\nContent-Length: 0\r\n\r\n"),
        [422], "RFC 9112 §7.1.2: trailers are processed or ignored, never framing: 422",
        markers=m + [p], errs=BAD_ON(2))
    r, line, m = rec()
    add("chunked body without the last chunk (client waits)",
        te_put("te-nolast", b"%x\r\n%s\r\n" % (len(line) + 1, line + b"\n")),
        [408, "close"], "the body never completes: closed by the idle timeout (or 408)",
        within=idle, markers=m)
    r, line, m = rec()
    smuggled = put(did("smuggled-te"), line + b"\n")
    body = BAD + b"\n"
    add("Transfer-Encoding and Content-Length together, a PUT smuggled behind",
        te_put("te-cl", chunked(body) + smuggled,
               headers=(TE, b"Content-Length: %d" % len(chunked(body)[:4]))),
        [400, 422], "RFC 9112 §6.1: reject, or frame by Transfer-Encoding alone (422), and "
        "MUST close the connection after responding: the PUT behind is never processed",
        must_close=True, markers=m)
    r, line, m = rec()
    add("Transfer-Encoding: gzip (chunked not final)",
        te_put("te-gzip", line + b"\n", headers=(b"Transfer-Encoding: gzip",
                                                 b"Content-Length: %d" % (len(line) + 1))),
        [400], "RFC 9112 §6.3: chunked not final in a request -> MUST answer 400 and close",
        must_close=True, markers=m)
    r, line, m = rec()
    add("Transfer-Encoding: gzip, chunked",
        te_put("te-gzip-chunked", chunked(line + b"\n"),
               headers=(b"Transfer-Encoding: gzip, chunked",)),
        [501, 400], "RFC 9112 §6.1: an unknown transfer coding SHOULD get 501",
        must_close=True, markers=m)
    r, line, m = rec()
    add("Transfer-Encoding: identity",
        te_put("te-identity", line + b"\n", headers=(b"Transfer-Encoding: identity",
                                                     b"Content-Length: %d" % (len(line) + 1))),
        [501, 400], "'identity' is no registered transfer coding any more: 501 or 400",
        must_close=True, markers=m)
    r, line, m = rec()
    add("Transfer-Encoding: chunked, chunked",
        te_put("te-twice", chunked(line + b"\n"),
               headers=(b"Transfer-Encoding: chunked, chunked",)),
        [400], "RFC 9112 §6.1: chunked MUST NOT be applied twice; chunked not understood "
        "as final -> 400", must_close=True, markers=m)
    r, line, m = rec()
    add("two Transfer-Encoding: chunked fields",
        te_put("te-two", chunked(line + b"\n"), headers=(TE, TE)),
        [400], "RFC 9110 §5.3: two field lines are the list 'chunked, chunked' -> 400",
        must_close=True, markers=m)
    r, line, m = rec()
    body = line + b"\n" + BAD + b"\n"
    add("Transfer-Encoding: CHUNKED (case)",
        te_put("te-case", chunked(body), headers=(b"Transfer-Encoding: CHUNKED",)),
        [422], "RFC 9112 §7: transfer-coding names are case-insensitive: processed (422)",
        markers=m)
    r, line, m = rec()
    body = line + b"\n" + BAD + b"\n"
    add("Transfer-Encoding on HTTP/1.0",
        request(b"PUT", b"/v1/deliveries/" + did("te-10"), [b"Content-Type: " + NDJSON, TE],
                chunked(body), version=b"HTTP/1.0"),
        [400, 422], "RFC 9112 §6.1: faulty framing on 1.0: refuse, or process and close",
        must_close=True, markers=m)
    r, line, m = rec()
    body = line + b"\n" + BAD + b"\n"
    add("chunk size with 40 leading zeros",
        te_put("te-zeros", b"0" * 40 + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"),
        [422, 400], "1*HEXDIG: processed (422), or an over-long size line refused", markers=m)
    r, line, m = rec()
    body = line + b"\n" + BAD + b"\n"
    add("100,000 one-byte chunks",
        te_put("te-tiny", b"".join(b"1\r\n%c\r\n" % c for c in body * (100000 // len(body)))
               + b"0\r\n\r\n"),
        [422], "valid framing: processed, every record checked (422)", markers=m, within=30)

    # ---- size limits: 413 and closed, not drained ---------------------------
    r, line, m = rec()
    add("Content-Length above --max-delivery-bytes",
        request(b"PUT", b"/v1/deliveries/" + did("big-cl"),
                [b"Content-Type: " + NDJSON, b"Content-Length: %d" % (env.max_bytes + 1)],
                line + b"\n"),
        [413], "DESIGN.md §6: 413, decided from the header before any body", must_close=True,
        problem="payload_too_large", markers=m)
    r, line, m = rec()
    add("Expect: 100-continue with Content-Length above the limit",
        request(b"PUT", b"/v1/deliveries/" + did("big-expect"),
                [b"Content-Type: " + NDJSON, b"Content-Length: %d" % (env.max_bytes + 1),
                 b"Expect: 100-continue"]),
        [413], "RFC 9110 §10.1.1: the final 413 instead of 100 Continue", must_close=True,
        problem="payload_too_large", markers=m,
        check=lambda o: ["a 100 Continue was sent for a body that is refused"]
        if 100 in o.statuses() else [])

    r, line, m = rec()
    big_line = (line + b"\n") * (env.max_bytes // (len(line) + 1) + 20)

    def oversize(conn, data=big_line, tag="big-chunked"):
        conn.send(te_put(tag, b""))
        for i in range(0, len(data), 1 << 20):
            if not conn.send(b"%x\r\n" % len(data[i:i + (1 << 20)]) + data[i:i + (1 << 20)] +
                             b"\r\n"):
                return
        # Past the limit; the body is not finished: the answer must not
        # wait for the rest.

    add("chunked body past --max-delivery-bytes, then the client waits", oversize,
        [413, "close"], "issue 8 (5): no draining of the rest: libmicrohttpd answers only "
        "once a body has ended, so vst discards at most 1 MiB or 2 s more and then closes "
        "(the watchdog closes a sender that stops); a 413 when the body ends within that",
        must_close=True, markers=m, within=60, timeout=min(CT - 0.5, 3.5))

    r, line, m = rec()

    def unauth_big(conn, data=(line + b"\n") * 20000, tag="noauth-big"):
        conn.send(te_put(tag, b""))
        for i in range(0, len(data), 1 << 16):
            if not conn.send(b"%x\r\n" % len(data[i:i + (1 << 16)]) + data[i:i + (1 << 16)] +
                             b"\r\n"):
                return

    add("no client certificate, large chunked body", unauth_big, [401],
        "DESIGN.md §6: 401 from the headers; the body is not read", who="none",
        problem="client_certificate_required", markers=m, within=30, timeout=min(CT - 1.0, 2.0))

    # ---- methods ----------------------------------------------------------
    for meth, want, why in (
            (b"put", [405, 501], "RFC 9110 §9.1: methods are case-sensitive; 'put' is no PUT"),
            (b"POST", [405], "DESIGN.md §6: only GET and PUT on a delivery"),
            (b"PATCH", [405], "only GET and PUT on a delivery"),
            (b"DELETE", [405], "only GET and PUT on a delivery"),
            (b"FOO", [405, 501], "RFC 9110 §9.1: unknown method -> 501 or 405"),
            (b"P@T", [400, 405, 501], "not a token: 400; else an unknown method"),
            (b"G" * 10000, [400, 405, 501, 414], "an absurd method name is refused")):
        r, line, m = rec()
        add("method %s on a delivery with a valid record" % meth[:12].decode(),
            put(did("meth"), line + b"\n", method=meth), want,
            why + "; the valid record is never stored", markers=m)
    p = plant()
    add("TRACE /healthz with a planted header",
        request(b"TRACE", b"/healthz", [b"X-Note: " + p.encode()]), [405],
        "TRACE would echo the request: refused, nothing echoed", markers=[p])
    r, line, m = rec()
    add("TRACE on a delivery", request(b"TRACE", b"/v1/deliveries/" + did("trace"),
                                       [b"X-Insured: " + m[0].encode()]),
        [405], "only GET and PUT on a delivery; the header's value is not echoed", markers=m)
    add("OPTIONS on a delivery", request(b"OPTIONS", b"/v1/deliveries/" + did("options")),
        [405, 200, 204], "405 with Allow, or an OPTIONS answer")
    r, line, m = rec()
    add("GET of a delivery with a body", put(did("get-body"), line + b"\n", method=b"GET"),
        [404], "no such delivery; the body is ignored (never a delivery)", markers=m,
        problem="not_found")

    # ---- content types ------------------------------------------------------
    for ct, want, why, good in (
            (None, [415], "DESIGN.md §6: the body must be application/x-ndjson", True),
            (b"text/plain", [415], "wrong type", True),
            (b"application/json", [415], "wrong type", True),
            (b"multipart/form-data; boundary=ZZ", [415], "wrong type (a form upload)", True),
            (b"application/x-ndjson-evil", [415], "another type with our name as prefix", True),
            (b"", [415], "an empty type", True),
            (b"application/x-ndjson, text/plain", [415, 400], "a list is no media type", True),
            (b"application/x-ndjson; charset=utf-8", [422], "a parameter is allowed "
             "(RFC 9110 §8.3): processed", False),
            (b"Application/X-NDJSON", [422], "RFC 9110 §8.3.1: type names are "
             "case-insensitive: processed", False)):
        r, line, m = rec()
        body = line + b"\n" if good else line + b"\n" + BAD + b"\n"
        if ct is not None and ct.startswith(b"multipart"):
            body = (b"--ZZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n" + line +
                    b"\n\r\n--ZZ--\r\n")
        add("Content-Type %s" % ("missing" if ct is None else repr(ct.decode())),
            put(did("ct"), body, ct=ct), want, why, markers=m,
            problem="unsupported_media_type" if want == [415] else None)
    r, line, m = rec()
    latin = in_string(r, "insured", "last_name", "M\xfcller".encode("latin-1")) + b"\n"
    add("charset=iso-8859-1 with a Latin-1 body",
        put(did("ct-latin1"), latin, ct=NDJSON + b"; charset=iso-8859-1"), [415, 422],
        "records are UTF-8: refuse the charset (415) or find the bytes invalid (422)",
        markers=m, codes={"invalid_utf8"})
    r, line, m = rec()
    add("two Content-Type fields",
        put(did("ct-two"), line + b"\n", headers=[b"Content-Type: text/plain"]), [400, 415],
        "RFC 9110 §8.3: Content-Type is a single value; two are no media type", markers=m)

    # ---- delivery ids -------------------------------------------------------
    kvnr_rec, _, _ = rec()
    while "lanr" not in kvnr_rec["provider"]:
        kvnr_rec, _, _ = rec()
    for tag, raw_id, want, why, good in (
            ("percent-encoded NUL", b"abc%00def", [400], "issue 8 (9): a NUL in the decoded id "
             "must be refused, not cut to another id", True),
            ("percent-encoded slash", b"abc%2Fdef", [400, 404], "not in the id alphabet", True),
            ("dot-dot", b"..", [400], "names no resource", True),
            ("percent-encoded dot-dot", b"%2E%2E", [400], "decodes to ..", True),
            ("path with dot-dot segments", b"../deliveries/x", [400, 404], "not an id", True),
            ("10,000 characters", b"x" * 10000, [400, 414], "ids are at most 128", True),
            ("percent-encoded UTF-8", b"caf%C3%A9", [400], "not in the id alphabet", True),
            ("raw UTF-8 bytes", b"caf\xc3\xa9", [400], "RFC 3986: no raw non-ASCII", True),
            ("overlong NUL %C0%80", b"x%C0%80y", [400], "not in the id alphabet", True),
            ("invalid escape %zz", b"ab%zz", [400], "not in the id alphabet", True),
            ("trailing %", b"ab%", [400], "not in the id alphabet", True),
            ("fragment", b"ab#frag", [400], "not in the id alphabet", True),
            ("only dots", b"...", [400], "names no resource", True)):
        r, line, m = rec()
        body = line + b"\n" if good else line + b"\n" + BAD + b"\n"
        add("delivery id: " + tag, put(raw_id, body), want,
            why + "; the valid record is never stored", markers=m,
            problem="malformed_request" if want == [400] else None)
    kv = kvnr_rec["insured"]["kvnr"].encode()
    lanr = kvnr_rec["provider"]["lanr"].encode()
    bdate = kvnr_rec["insured"]["birth_date"].encode()
    r, line, m = rec()
    add("delivery id shaped like a KVNR", put(kv, line + b"\n"), [400],
        "the id would carry an identifier into logs and the audit log", markers=m + [kv.decode()],
        problem="malformed_request")
    for tag, raw_id in (("a KVNR glued into it", b"d-" + kv + b"-x"),
                        ("a LANR", lanr), ("a LANR glued into it", b"batch" + lanr),
                        ("a birth date", bdate)):
        r, line, m = rec()
        add("delivery id holding " + tag, put(raw_id, line + b"\n" + BAD + b"\n"), [400, 422],
            "issue 8 (Low): refused, or accepted with the id kept out of logs and the audit "
            "log (keyed hash): the identifier must appear in neither",
            markers=m + [raw_id.decode()])
    r, line, m = rec()
    add("?profile= holding a KVNR", put(did("prof") + b"?profile=" + kv, line + b"\n"), [400],
        "no such profile; the value is not logged", markers=m + [kv.decode()],
        problem="unknown_profile")
    r, line, m = rec()
    add("?profile= a path", put(did("prof") + b"?profile=../../etc/passwd", line + b"\n"),
        [400], "no such profile", markers=m, problem="unknown_profile")
    r, line, m = rec()
    add("?profile= percent-encoded NUL", put(did("prof") + b"?profile=sgb5%00x", line + b"\n"),
        [400], "no such profile (not sgb5 cut at the NUL)", markers=m,
        problem="unknown_profile")

    # ---- the body: UTF-8, JSON and the profile ------------------------------
    def body_case(name, lines, errs=None, codes=None, why="", want=(422,), extra_m=(), **kw):
        rr, _, mm = rec()
        data = lines(rr)
        add("body: " + name, put(did("body"), data), list(want), why, markers=mm + list(extra_m),
            errs=errs, codes=codes, **kw)

    for tag, raw in (("invalid byte FF", b"M\xffller"),
                     ("overlong C0 80", b"a\xc0\x80b"),
                     ("overlong E0 80 80", b"a\xe0\x80\x80b"),
                     ("UTF-8 encoded surrogate ED A0 80", b"a\xed\xa0\x80b"),
                     ("above U+10FFFF (F4 90 80 80)", b"a\xf4\x90\x80\x80b"),
                     ("truncated sequence", b"ab\xc3"),
                     ("lone continuation byte", b"a\x80b")):
        body_case("invalid UTF-8, " + tag,
                  lambda rr, raw=raw: in_string(rr, "insured", "last_name", raw) + b"\n",
                  errs={(1, "invalid_utf8")}, why="RFC 8259 §8.1: JSON text is UTF-8")
    body_case("invalid UTF-8 between tokens",
              lambda rr: dump(rr)[:-1] + b"\xff}\n", codes={"invalid_utf8", "invalid_json"},
              why="not JSON")
    for tag, esc in (("lone high surrogate \\ud800", b"\\ud800"),
                     ("lone low surrogate \\udc00", b"\\udc00"),
                     ("high surrogate then a letter", b"\\ud800x"),
                     ("reversed pair \\udc00\\ud800", b"\\udc00\\ud800")):
        body_case(tag, lambda rr, esc=esc: in_string(rr, "insured", "last_name", esc) + b"\n",
                  codes={"invalid_utf8", "invalid_json"},
                  why="RFC 8259 §8.2: no UTF-8 can hold a lone surrogate")
    body_case("a surrogate pair (valid) on line 1, a bad line 2",
              lambda rr: in_string(rr, "insured", "last_name", b"\\ud83d\\ude00") + b"\n" +
              BAD + b"\n", errs=BAD_ON(2),
              why="a pair is a valid character: only line 2 is wrong")
    body_case("\\u0000 in a string", lambda rr: in_string(rr, "insured", "last_name",
                                                         b"a\\u0000b") + b"\n",
              errs={(1, "invalid_json")}, why="NUL would cut C strings: refused")
    body_case("raw NUL in a string", lambda rr: in_string(rr, "insured", "last_name",
                                                          b"a\x00b") + b"\n",
              errs={(1, "invalid_json")}, why="RFC 8259 §7: control characters are escaped")
    body_case("raw NUL between tokens", lambda rr: b"\x00" + dump(rr) + b"\n",
              errs={(1, "invalid_json")}, why="not JSON")
    def escaped_enums(rr):
        ins = rr["insured"]
        out = dump(rr)
        for k in ("insurance_status", "sex"):
            v = ins[k].encode()
            esc = b"".join(b"\\u%04x" % c for c in v)
            out = out.replace(b'"%s":"%s"' % (k.encode(), v), b'"%s":"%s"' % (k.encode(), esc))
        return out

    body_case("escaped digits and enum values (\\u0031 etc.), then a bad line",
              lambda rr: escaped_enums(rr) + b"\n" + BAD + b"\n", errs=BAD_ON(2),
              why="issue 8 (3): escaped forms are decoded, bounded, and line 1 is valid")
    body_case("nesting 100,000 deep ([[[...]]])",
              lambda rr: b"[" * 100000 + b"]" * 100000 + b"\n" + dump(rr) + b"x\n",
              errs={(1, "line_too_long"), (2, "invalid_json")},
              why="longer than the profile's line limit; nothing recursed")
    body_case("nesting 8,000 deep within the line limit",
              lambda rr: b"[" * 8000 + b"]" * 8000 + b"\n" + dump(rr) + b"x\n",
              errs={(1, "invalid_json"), (2, "invalid_json")}, why="deeper than the scanner "
              "allows: refused without deep recursion")
    body_case("objects nested 2,000 deep",
              lambda rr: b'{"a":' * 2000 + b"1" + b"}" * 2000 + b"\n",
              errs={(1, "invalid_json")}, why="deeper than the scanner allows")
    body_case("number 1e999999",
              lambda rr: with_raw(rr, "service", "cost_cents", b"1e999999") + b"\n",
              codes={"out_of_range", "wrong_type"}, why="no integer; never converted to inf")
    body_case("400-digit integer",
              lambda rr: with_raw(rr, "service", "cost_cents", b"9" * 400) + b"\n",
              codes={"out_of_range", "wrong_type"}, why="beyond int64: out of range")
    body_case("400-digit negative integer as the insurance status",
              lambda rr: with_raw(rr, "insured", "insurance_status", b"-" + b"9" * 400) + b"\n",
              codes={"out_of_range", "wrong_type", "value_not_allowed"}, why="not an allowed "
              "value")
    body_case("number 1.0 as days",
              lambda rr: with_raw(rr, "service", "days", b"1.0") + b"\n",
              codes={"wrong_type", "out_of_range"}, why="an integer field")
    body_case("duplicate key at the top",
              lambda rr: dump(rr)[:-1] + b',"insured":' + dump(rr["insured"]) + b"}\n",
              errs={(1, "duplicate_key")}, why="an object with the same key twice is refused")
    body_case("duplicate key through an escape (kvnr / kv\\u006er)",
              lambda rr: dump(rr).replace(b'"kvnr":', b'"kv\\u006er":"A000000000","kvnr":')
              + b"\n", errs={(1, "duplicate_key")}, why="keys compare after unescaping")
    body_case("array of 2,000 items (within the line limit)",
              lambda rr: with_raw(rr, "service", "icd10", b"[" + b",".join([b'"A00"'] * 2000)
                                  + b"]") + b"\n",
              errs={(1, "too_many_items")}, why="the profile allows 64")
    body_case("array of 200,000 items (past the line limit)",
              lambda rr: with_raw(rr, "service", "icd10", b"[" + b",".join([b"1"] * 200000)
                                  + b"]") + b"\n",
              errs={(1, "line_too_long")}, why="the profile's line limit")
    body_case("object of 1,000 members",
              lambda rr: b"{" + b",".join(b'"k%d":%d' % (i, i) for i in range(1000)) + b"}\n",
              errs={(1, "too_many_items")}, why="the scanner's member limit")
    body_case("keys shaped like a KVNR and a name",
              lambda rr: dump(rr)[:-1] + b',"' + rr["insured"]["kvnr"].encode() + b'":1,"' +
              rr["insured"]["last_name"].encode() + b'":2}\n',
              errs={(1, "unknown_field")}, why="unknown keys are named by position, never by "
              "a value-like name")
    body_case("a single 10 MB line",
              lambda rr: dump(rr)[:-1] + b',"x":"' + b"a" * 10000000 + b'"}\n' + dump(rr) +
              b"\n", errs={(1, "line_too_long")},
              why="the line limit, in bounded memory; line 2 (valid) still checked",
              within=60)
    body_case("BOM before the first record",
              lambda rr: b"\xef\xbb\xbf" + dump(rr) + b"\n" + BAD + b"\n",
              codes={"invalid_json", "unknown_field", "missing_field"},
              check=lambda o: lines_with_errors(o) - {1, 2} and ["errors outside lines 1-2"] or
              (2 not in lines_with_errors(o) and ["line 2 not reported"] or []),
              why="RFC 8259 §8.1: a parser MAY ignore a BOM or refuse it; line 2 is bad")
    body_case("CRLF line ends",
              lambda rr: dump(rr) + b"\r\n" + BAD + b"\r\n",
              errs=BAD_ON(2), why="a CR before LF is part of the "
              "line end: line 1 is valid")
    body_case("empty body", lambda rr: b"", want=(400,), problem="empty_delivery",
              why="DESIGN.md §6: no records -> 400 empty_delivery")
    body_case("a body of only newlines", lambda rr: b"\n" * 1000,
              want=(400, 422), codes={"empty_line"},
              why="no records: 400 empty_delivery, or 422 for each empty line")
    body_case("whitespace-only line, then a valid record",
              lambda rr: b" \t \n" + dump(rr) + b"\n", errs={(1, "empty_line")},
              why="a blank line is an error of its own")
    body_case("100,000 bad lines", lambda rr: b"x\n" * 100000 + dump(rr) + b"\n",
              codes={"invalid_json"},
              check=lambda o: bounded_422(o, 100000, env.max_errors),
              why="every line checked; the error list bounded (--max-errors), the total exact")
    body_case("a valid record followed by garbage (no newline)",
              lambda rr: dump(rr) + b"\n\x01\x02garbage\x00",
              errs={(2, "invalid_json")}, why="the last line counts even without a newline")
    body_case("top-level array, string, number, null",
              lambda rr: b"[]\n\"" + rr["insured"]["kvnr"].encode() + b"\"\n42\nnull\n",
              errs={(i, "not_an_object") for i in (1, 2, 3, 4)}, why="a record is an object")
    body_case("comment and trailing bytes",
              lambda rr: dump(rr) + b" // note\n" + dump(rr) + b",\n",
              errs={(1, "invalid_json"), (2, "invalid_json")}, why="strict RFC 8259")
    body_case("a wrong KVNR check digit and a bad date",
              lambda rr: dump(rr).replace(rr["insured"]["kvnr"].encode(),
                                          rr["insured"]["kvnr"][:-1].encode() +
                                          str((int(rr["insured"]["kvnr"][-1]) + 1) % 10)
                                          .encode())
              .replace(rr["insured"]["birth_date"].encode(), b"2001-02-30") + b"\n",
              errs={(1, "id_check_digit"), (1, "invalid_date")},
              why="errors name the field, never the value")
    body_case("a string of 20,000 characters in a dropped field",
              lambda rr: in_string(rr, "insured", "city", b"Z" * 15000) + b"\n",
              errs={(1, "value_too_long")}, why="the profile's max_length")

    r, line, m = rec()
    many = b"".join(dump(recs.take()) + b"\n" for _ in range(5000))
    add("body: 5,000 valid records (more than a batch), then one bad line",
        put(did("body-batch"), many + BAD + b"\n"), [422],
        "all or nothing: batches already sent to keyd and COPY are rolled back",
        markers=m, errs=BAD_ON(5001), within=60)

    return C


def BAD_ON(n):
    """The errors of the line {"not":"a record"} as line n."""
    return {(n, "unknown_field"), (n, "missing_field")}


def lines_with_errors(o):
    try:
        return {e["line"] for e in json.loads(o.final()[0][2])["errors"]}
    except Exception:  # noqa: BLE001 - judged elsewhere
        return set()


def bounded_422(o, total, max_errors):
    try:
        d = json.loads(o.final()[0][2])
    except Exception:  # noqa: BLE001
        return ["no JSON 422 body"]
    out = []
    if d.get("errors_total") != total:
        out.append(f"errors_total {d.get('errors_total')}, want {total}")
    if len(d.get("errors", [])) > max_errors:
        out.append(f"{len(d['errors'])} errors listed, more than --max-errors {max_errors}")
    if len(o.final()[0][2]) > 400 * max_errors + 1024:
        out.append(f"422 body of {len(o.final()[0][2])} bytes")
    return out


def slow_cases(env, recs):
    """Run against an instance started with --min-transfer-rate."""
    C = []
    bound = env.slow_bound
    r = recs.take()
    line, m = dump(r), values(r)
    head = request(b"PUT", b"/v1/deliveries/h-slow-body",
                   [b"Content-Type: " + NDJSON, b"Content-Length: 100000"])
    body = (line + b"\n") * (100000 // (len(line) + 1) + 1)

    def slow_body(conn):
        conn.send(head)
        conn.trickle(body, 8, time.monotonic() + bound + 5)

    C.append(Case("slow body: 8 bytes/s under --min-transfer-rate", slow_body,
                  [408, "close"], "issue 8 (5): a body slower than the minimum rate loses its "
                  "connection (and its worker slot) after the grace period",
                  markers=m, within=bound, timeout=1.0))
    r = recs.take()
    line, m = dump(r), values(r)
    head = request(b"PUT", b"/v1/deliveries/h-slow-head",
                   [b"Content-Type: " + NDJSON, b"Content-Length: %d" % (len(line) + 1),
                    b"X-Note: " + b"a" * 5000])

    def slow_head(conn):
        conn.trickle(head, 8, time.monotonic() + bound + 5)

    C.append(Case("slow header: 8 bytes/s under --min-transfer-rate", slow_head,
                  [408, "close"], "a request head trickled in keeps a connection for ever "
                  "unless the minimum rate covers it too", markers=m, within=bound, timeout=1.0))
    r = recs.take()
    line, m = dump(r), values(r)
    C.append(Case("a normal delivery under --min-transfer-rate",
                  put(b"h-slow-normal", line + b"\n" + b'{"not":"a record"}\n'), [422],
                  "the option does not disturb a client at full speed", markers=m,
                  errs=BAD_ON(2)))
    return C


# ---------------------------------------------------------------------------
# Judging one outcome


def judge(case, out, codes_known):
    probs = []
    finals = out.final()
    first = finals[0][0] if finals else None
    if first is None:
        if "close" not in case.want or out.end not in ("closed", "reset"):
            what = {"open": "a hang (no answer, connection still open)",
                    "reset": "a reset where an answer is due",
                    "refused": "no TLS session",
                    "garbage": "bytes that are no HTTP response"}.get(out.end, "no answer")
            probs.append(f"{what}: {out.describe()}; want {case.want_text()}")
    elif first not in case.want:
        probs.append(f"got {out.describe()}; want {case.want_text()}")
    if out.seconds > case.within + 0.5:
        probs.append(f"took {out.seconds:.1f} s, bound {case.within:.0f} s")
    if out.garbage and not (case.library and out.end != "open"):
        probs.append(f"{len(out.garbage)} bytes after the response are no HTTP response "
                     f"(starting {out.garbage[:40]!r})")
    for st, _, _ in finals[1:]:
        if st not in case.then:
            probs.append(f"a second response ({st}): bytes after the request were taken as "
                         "another request")
            break
    if case.must_close and finals and out.end == "open":
        probs.append("the connection stayed open after the response (RFC 9112: MUST close)")
    for st, hdrs, body in finals:
        if st >= 500 and st not in case.want:
            probs.append(f"a {st}")
    if first is not None and first in case.want:
        st, hdrs, body = finals[0]
        if case.problem is not None:
            ctype = hdrs.get("content-type", "")
            try:
                code = json.loads(body).get("code")
            except Exception:  # noqa: BLE001
                code = None
            if not ctype.startswith("application/problem+json") or code != case.problem:
                probs.append(f"want problem+json code {case.problem}, got {ctype!r} code {code}")
        if st == 422:
            if not hdrs.get("content-type", "").startswith("application/problem+json"):
                probs.append("a 422 that is not application/problem+json")
            probs += check_422(body, case, codes_known)
    if case.check and first is not None and first in case.want:
        probs += case.check(out)
    leaked = [mk for mk in case.markers if mk.encode("utf-8") in out.raw]
    if leaked:
        probs.append(f"{len(leaked)} planted value(s) echoed in the response")
    return probs


def check_422(body, case, codes_known):
    try:
        d = json.loads(body)
    except Exception:  # noqa: BLE001
        return ["the 422 body is not JSON"]
    probs = []
    allowed = {"type", "title", "status", "code", "detail", "errors_total", "errors"}
    if set(d) - allowed:
        probs.append(f"unexpected 422 members {sorted(set(d) - allowed)}")
    errs = d.get("errors")
    if not isinstance(errs, list) or not errs:
        return probs + ["the 422 lists no errors"]
    got = set()
    for e in errs:
        if not isinstance(e, dict) or set(e) != {"line", "field", "code"}:
            probs.append(f"an error entry is not exactly line/field/code: {sorted(e)}")
            break
        if not isinstance(e["line"], int) or not PATH_RE.match(str(e["field"])) or \
                e["code"] not in codes_known:
            probs.append("an error entry has a field or code outside the grammar")
            break
        got.add((e["line"], e["code"]))
    if case.errs is not None and got != set(case.errs):
        probs.append(f"errors {sorted(got)[:6]}, want {sorted(case.errs)}")
    if case.codes is not None:
        stray = {c for _, c in got} - set(case.codes)
        if stray:
            probs.append(f"codes {sorted(stray)} not among {sorted(case.codes)}")
    return probs


# ---------------------------------------------------------------------------
# Invariants


class Stack:
    def __init__(self, a):
        self.a = a
        self.sessions = {}
        self.logs = [os.path.join(a.stack, f) for f in ("httpd.log", "keyd.log", "events.jsonl")]
        self.pos = {p: self.size(p) for p in self.logs}
        self.seq = self.audit_seq()

    @staticmethod
    def size(p):
        try:
            return os.path.getsize(p)
        except OSError:
            return 0

    def sql(self, db, q):
        """One query on a long-lived psql per database (a process per query
        would cost more than most cases)."""
        if db not in self.sessions:
            self.sessions[db] = subprocess.Popen(
                ["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", "-d", db], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        p = self.sessions[db]
        p.stdin.write(q.encode() + b";\n\\echo @@END@@\n")
        p.stdin.flush()
        out = b""
        while True:
            ln = p.stdout.readline()
            if not ln:
                raise RuntimeError("psql ended: " + out.decode(errors="replace")[-200:])
            if ln == b"@@END@@\n":
                return out
            out += ln

    def snapshot(self):
        s = self.sql(self.a.store_db,
                     "SELECT (SELECT count(*) FROM sgb5.records) + "
                     "(SELECT count(*) FROM measles.records), (SELECT count(*) FROM "
                     "pg_prepared_xacts WHERE database = current_database())").strip()
        t = self.sql(self.a.trust_db,
                     "SELECT (SELECT count(*) FROM vst.receipts), (SELECT count(*) FROM "
                     "vst.audit_log WHERE action = 'delivery.stored')").strip()
        return "rows|prepared %s, receipts|stored-events %s" % (s.decode(), t.decode())

    def audit_seq(self):
        return int(self.sql(self.a.trust_db,
                            "SELECT coalesce(max(seq), 0) FROM vst.audit_log").strip() or 0)

    def new_audit(self):
        out = self.sql(self.a.trust_db,
                       "SELECT concat_ws(' ', actor, action, client, details::text) FROM "
                       "vst.audit_log WHERE seq > %d" % self.seq)
        self.seq = self.audit_seq()
        return out

    def new_logs(self):
        out = b""
        for p in self.logs:
            try:
                with open(p, "rb") as f:
                    f.seek(self.pos[p])
                    data = f.read()
            except OSError:
                data = b""
            self.pos[p] += len(data)
            out += data
        return out

    @staticmethod
    def alive(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except OSError:
            return False


def invariants(st, wire, before, markers, settle=0.1):
    time.sleep(settle)  # let the server finish what the client walked away from
    probs = []
    for name, pid in (("vst-keyd", st.a.keyd_pid), ("vst-httpd", st.a.httpd_pid)):
        if not st.alive(pid):
            probs.append(f"{name} (pid {pid}) is gone")
    # A probe: its answer is all it wants (the connection stays open since
    # GETs are kept alive; waiting for more would cost a second per case).
    o = exchange(wire, request(b"GET", b"/healthz"), timeout=10, after_response=0.0)
    if o.statuses()[:1] != [200]:
        probs.append(f"GET /healthz: {o.describe()}")
    after = st.snapshot()
    if after != before:
        probs.append(f"something was stored: before {before}, after {after}")
    st.last = after
    logs = st.new_logs()
    if SANITIZER.search(logs):
        probs.append("a sanitizer report in the logs")
    audit = st.new_audit()
    for where, data in (("the logs", logs), ("the audit log", audit)):
        leaked = [mk for mk in markers if mk.encode("utf-8") in data]
        if leaked:
            probs.append(f"{len(leaked)} planted value(s) in {where}")
    return probs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--group", choices=("main", "slow"), default="main")
    ap.add_argument("--list", action="store_true", help="print the cases and exit")
    ap.add_argument("--only", default="", help="regex: run only matching cases")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--stack", default="")
    ap.add_argument("--trust-db", default="")
    ap.add_argument("--store-db", default="")
    ap.add_argument("--keyd-pid", type=int, default=0)
    ap.add_argument("--httpd-pid", type=int, default=0)
    ap.add_argument("--records", required=True)
    ap.add_argument("--ct", type=float, default=3.0, help="--connection-timeout of vst-httpd")
    ap.add_argument("--max-bytes", type=int, default=12 << 20)
    ap.add_argument("--max-errors", type=int, default=1000)
    ap.add_argument("--slow-bound", type=float, default=20.0)
    ap.add_argument("--error-def", default="")
    ap.add_argument("--markers-out", default="")
    ap.add_argument("--seed", type=int, default=8)
    a = ap.parse_args()
    random.seed(a.seed)
    recs = Records(a.records)
    cases = build(a, recs) if a.group == "main" else slow_cases(a, recs)
    if a.only:
        cases = [c for c in cases if re.search(a.only, c.name)]
    if a.list:  # a Markdown table (tests/e2e/README.md)
        print("| case | answer | why |\n|---|---|---|")
        for c in cases:
            print("| %s | %s | %s |" % (c.name.replace("|", "\\|"), c.want_text(),
                                        c.why.replace("|", "\\|")))
        return 0
    codes_known = set(re.findall(r'^VST_ERR\(\w+, "(\w+)"', open(a.error_def).read(), re.M))
    wire = Wire("127.0.0.1", a.port, os.path.join(a.stack, "certs"))
    st = Stack(a)
    if a.markers_out:
        with open(a.markers_out, "a", encoding="utf-8") as f:
            for c in cases:
                for mk in c.markers:
                    f.write(mk + "\n")
    t_all = time.monotonic()
    st.last = st.snapshot()
    try:
        run(cases, wire, st, codes_known)
    except Exception as e:  # noqa: BLE001 - the suite must say so, not just stop
        print(f"FAIL the driver ran every case: {type(e).__name__}: {e}")
        return 1
    print(f"{len(cases)} cases in {time.monotonic() - t_all:.0f} s")
    return 0


def run(cases, wire, st, codes_known):
    for c in cases:
        before = st.last
        t0 = time.monotonic()
        try:
            out = exchange(wire, c.send, timeout=c.timeout, who=c.who, head_request=c.head,
                           after_response=1.0 if (c.must_close or c.then) else 0.3)
            probs = judge(c, out, codes_known)
            got = out.describe()
        except Exception as e:  # noqa: BLE001 - a driver fault is a failure, not a crash
            probs, got = [f"driver error: {type(e).__name__}: {e}"], "?"
        if probs:
            print(f"FAIL {c.name} -> want {c.want_text()}: " + "; ".join(probs))
            print(f"  why: {c.why}")
        else:
            print(f"PASS {c.name} -> {got.split(',')[0] if got else got} "
                  f"({time.monotonic() - t0:.1f} s)")
        inv = invariants(st, wire, before, c.markers)
        if inv:
            print(f"FAIL {c.name}: afterwards " + "; ".join(inv))
        else:
            print(f"PASS {c.name}: afterwards daemons alive, /healthz 200, nothing stored, "
                  "no planted value logged or audited")
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
