#!/usr/bin/env python3
"""Concurrent senders of small deliveries for tests/e2e/test_crash.sh (issue
14: "kill during a group, every acknowledged delivery stored once, none
half"). Python 3 stdlib only: http.client over ssl, mutual TLS with the
stack's insurer certificate, one kept-alive connection per sender.

  crash_senders.py send  --control DIR --certs DIR --records FILE --out FILE
                         [--threads N] [--seed S]
  crash_senders.py check --control DIR --certs DIR --records FILE --results FILE
                         --receipts TSV --store TSV --sample-dir DIR [--replays N] [--seed S]

send: N senders, each a stream of deliveries of 1-5 records (consecutive
lines of FILE, vst-gen output) under unique ids cc-TT-NNNNN, until the file
DIR/stop exists. DIR/state is the test's word on vst-httpd: "up K PORT"
(running, after K kills) or "down K PORT" (the K-th kill is under way; the
test writes it before it kills). A sender does what vst-send does:
  - an HTTP answer 201/200 ends the delivery (its receipt is kept);
  - 503/502/504/429 and 409 delivery_in_progress: the same id and body
    again after Retry-After (capped) - the server said "not done";
  - any other answer ends the delivery as a failure (the check reports it);
  - no answer (connection reset, refused, TLS or protocol error): the
    outcome is unknown. The sender does not retry blindly: if a kill is
    under way it waits until the test has restarted vst-httpd ("up" with a
    higher K), then sends the same id with the same body again, which must
    answer 201 (it was not stored) or 200 with the receipt (it was).
Every attempt is recorded (the state it started in, its answer); the
results (per id: line range of the body, its SHA-256, attempts, final
answer, receipt) go to --out as JSON.

check: the end state against the results. --receipts is the trust DB's
vst.receipts of the insurer (delivery_id, delivery_ref, record_count,
hex body_sha256, audit_seq; tab-separated), --store the store's rows per
delivery_ref (delivery_ref, count), --all-refs every receipt's
delivery_ref, --store-before the store's delivery_refs before the senders
started. Then every delivery's receipt is fetched
again (GET) and a sample is replayed (PUT, same body): both must give the
receipt the sender got. Receipts to verify with vst-audit verify-receipt
(the unknown-outcome ones first, then ones acknowledged before a later
kill) are written to --sample-dir. Output: "PASS ..." / "FAIL ..." lines
(api_lib.sh's py_checks turns them into TAP), other lines are comments.
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import ssl
import sys
import threading
import time

HOST = "127.0.0.1"
RETRYABLE = (429, 502, 503, 504)
DELIVERY_DEADLINE_S = 120  # one delivery, retries included
RESTART_WAIT_S = 60  # for the test to bring vst-httpd back


def read_state(control):
    """("up"|"down", K, port) from DIR/state (written by rename: atomic)."""
    with open(os.path.join(control, "state")) as f:
        word, k, port = f.read().split()
    return word, int(k), int(port)


def tls_context(certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(certs, "ca.pem"))
    ctx.load_cert_chain(os.path.join(certs, "insurer.pem"), os.path.join(certs, "insurer.key"))
    return ctx


def read_records(path):
    with open(path, "rb") as f:
        lines = [ln if ln.endswith(b"\n") else ln + b"\n" for ln in f if ln.strip()]
    if not lines:
        sys.exit("no records in " + path)
    return lines


def body_of(lines, a, n):
    return b"".join(lines[a:a + n])


class Client:
    """One kept-alive connection; reopened (to the current port) when lost."""

    def __init__(self, ctx, control):
        self.ctx, self.control, self.conn, self.port = ctx, control, None, None

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def request(self, method, target, body=None):
        """(status, headers, body bytes); raises OSError/HTTPException if no answer."""
        port = read_state(self.control)[2]
        if self.conn is None or port != self.port:
            self.close()
            self.conn = http.client.HTTPSConnection(HOST, port, context=self.ctx, timeout=60)
            self.port = port
        headers = {"Content-Type": "application/x-ndjson"} if body is not None else {}
        try:
            self.conn.request(method, target, body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except BaseException:
            self.close()
            raise
        return resp.status, resp, data


def same_receipt(a, b):
    """The same receipt: every member equal, except that "public_key" may
    be missing from one of them. It is no part of what is signed; vst-httpd
    names it only when vst-keyd confirms at answer time that it is the key
    that signed (server/httpd/receipt.c), so an answer given while vst-keyd
    is being killed may lack it."""
    if not isinstance(a, dict) or not isinstance(b, dict) or "signature" not in a:
        return False
    if "public_key" in a and "public_key" in b and a["public_key"] != b["public_key"]:
        return False
    strip = ("public_key",)
    return ({k: v for k, v in a.items() if k not in strip}
            == {k: v for k, v in b.items() if k not in strip})


def problem_code(data):
    try:
        return json.loads(data).get("code", "")
    except (ValueError, AttributeError):
        return ""


def retry_after(resp, attempt):
    """Seconds to wait before the same request again: Retry-After, capped
    (the test's time is bounded), or a short backoff without one."""
    try:
        ra = float(resp.getheader("Retry-After"))
    except (TypeError, ValueError):
        ra = 0.2 * (attempt + 1)
    return min(max(ra, 0.1), 3.0)


def wait_restart(control, before, stop_at):
    """After an attempt without an answer. before: the state the attempt
    started in. Returns what happened: "restarted" (a kill was announced and
    vst-httpd is up again), "no-kill" (nothing announced: the connection was
    lost for another reason; a short pause), "timeout"."""
    word, k, _ = read_state(control)
    if word == "up" and (word, k) == before[:2]:
        time.sleep(0.2)
        return "no-kill"
    # A kill was announced after the attempt started, or one was under way
    # when it started: wait until vst-httpd is back after it.
    need = k
    while time.monotonic() < stop_at:
        word, k, _ = read_state(control)
        if word == "up" and k >= need:
            return "restarted"
        time.sleep(0.05)
    return "timeout"


def deliver(client, control, did, body):
    """One delivery until it has a final answer. Returns its record."""
    rec = {"attempts": [], "final": None, "receipt": None}
    stop_at = time.monotonic() + DELIVERY_DEADLINE_S
    target = "/v1/deliveries/" + did
    attempt = 0
    while True:
        state = read_state(control)
        try:
            status, resp, data = client.request("PUT", target, body)
        except (OSError, http.client.HTTPException) as e:
            a = {"state": "%s %d" % state[:2], "answer": "unknown", "error": type(e).__name__}
            a["then"] = wait_restart(control, state, stop_at)
            rec["attempts"].append(a)
            if a["then"] == "timeout":
                rec["final"] = "gave-up"
                return rec
            attempt += 1
            continue
        a = {"state": "%s %d" % state[:2], "answer": status}
        code = problem_code(data) if status >= 400 else ""
        if code:
            a["code"] = code
        if resp.getheader("Connection"):
            a["connection"] = resp.getheader("Connection")
        rec["attempts"].append(a)
        if status in (200, 201):
            rec["final"] = status
            try:
                rec["receipt"] = json.loads(data)
            except ValueError:
                rec["final"] = "bad-receipt"
            # The kills that had happened when the receipt came back.
            rec["acked_after_kills"] = read_state(control)[1]
            return rec
        if (status in RETRYABLE and code != "identifier_budget_exhausted") or (
                status == 409 and code == "delivery_in_progress"):
            if time.monotonic() >= stop_at:
                rec["final"] = status
                return rec
            time.sleep(retry_after(resp, attempt))
            attempt += 1
            continue
        rec["final"] = status
        return rec


def cmd_send(args):
    lines = read_records(args.records)
    ctx = tls_context(args.certs)
    results, lock = {}, threading.Lock()
    pos = [0]

    def take(n):  # the next n lines of the file (from the start again at its end)
        with lock:
            if pos[0] + n > len(lines):
                pos[0] = 0
            a = pos[0]
            pos[0] += n
            return a

    crashed = []

    def sender(tid):
        rng = random.Random(args.seed * 1000 + tid)
        client = Client(ctx, args.control)
        i = 0
        try:
            while not os.path.exists(os.path.join(args.control, "stop")):
                n = rng.randint(1, 5)
                a = take(n)
                body = body_of(lines, a, n)
                did = "cc-%02d-%05d" % (tid, i)
                i += 1
                rec = deliver(client, args.control, did, body)
                rec.update(first_line=a, lines=n, sha256=hashlib.sha256(body).hexdigest())
                with lock:
                    results[did] = rec
        except Exception as e:  # a sender's own failure: the run does not count
            with lock:
                crashed.append("sender %d: %s" % (tid, type(e).__name__))
        client.close()

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(args.out + ".tmp", "w") as f:
        json.dump(results, f)
    os.replace(args.out + ".tmp", args.out)
    unknown = sum(any(a["answer"] == "unknown" for a in r["attempts"]) for r in results.values())
    print("%d deliveries by %d senders, %d with an unknown outcome at first"
          % (len(results), args.threads, unknown))
    if crashed:
        sys.exit("; ".join(crashed))


# ---------------------------------------------------------------------------
# check


def check(ok, what, detail=""):
    if ok:
        print("PASS " + what)
    else:
        print("FAIL %s%s" % (what, ": " + detail if detail else ""))
    return ok


def first_bad(items, limit=5):
    items = list(items)
    return "%d, e.g. %s" % (len(items), "; ".join(items[:limit]))


def cmd_check(args):
    lines = read_records(args.records)
    with open(args.results) as f:
        res = json.load(f)
    receipts = {}  # delivery_id -> list of (ref, count, sha, audit_seq)
    for ln in open(args.receipts):
        if not ln.strip():
            continue
        did, ref, count, sha, seq = ln.rstrip("\n").split("\t")
        receipts.setdefault(did, []).append((ref, int(count), sha, int(seq)))
    store = {}
    for ln in open(args.store):
        if ln.strip():
            ref, n = ln.split("\t")
            store[ref] = int(n)

    ids = sorted(res)
    unknown = [d for d in ids if any(a["answer"] == "unknown" for a in res[d]["attempts"])]
    kills = read_state(args.control)[1]
    before_kill = [d for d in ids if res[d]["final"] in (200, 201)
                   and res[d].get("acked_after_kills", kills) < kills]
    n201 = sum(res[d]["final"] == 201 for d in ids)
    print("%d deliveries (%d answered 201, %d 200), %d with an unknown outcome first, "
          "%d acknowledged before a later kill" % (len(ids), n201, len(ids) - n201, len(unknown),
                                                   len(before_kill)))
    for d in unknown[:8]:
        print("  %s: %s" % (d, ", ".join(
            str(a["answer"]) + ("(" + a["error"] + ", then " + a["then"] + ")" if "error" in a else "")
            for a in res[d]["attempts"])))
    print("after an unknown outcome, the retry answered 200 (stored before the kill) %d times, "
          "201 %d times" % (sum(res[d]["final"] == 200 for d in unknown),
                            sum(res[d]["final"] == 201 for d in unknown)))
    spurious = sum(a.get("then") == "no-kill" for d in ids for a in res[d]["attempts"])
    if spurious:
        print("%d attempts lost their connection with no kill announced" % spurious)

    check(len(ids) > 0 and len(before_kill) > 0 and len(unknown) > 0,
          "concurrent senders: deliveries acknowledged before a kill and deliveries whose "
          "outcome a kill made unknown (%d, %d)" % (len(before_kill), len(unknown)))
    check(all(res[d]["final"] in (200, 201) and isinstance(res[d]["receipt"], dict) for d in ids),
          "concurrent senders: every delivery ends with 201 or 200 and a receipt",
          first_bad("%s: %s %s" % (d, res[d]["final"], res[d]["attempts"][-1].get("code", ""))
                    for d in ids if res[d]["final"] not in (200, 201)))
    check(all(res[d]["final"] in (200, 201) for d in unknown),
          "concurrent senders: every delivery with an unknown outcome answers 201 or 200 "
          "when retried after the restart (%d)" % len(unknown),
          first_bad(d for d in unknown if res[d]["final"] not in (200, 201)))
    twice = [d for d in ids if sum(a["answer"] == 201 for a in res[d]["attempts"]) > 1]
    check(not twice, "concurrent senders: no delivery answered 201 twice", first_bad(twice))
    acked = [d for d in ids if res[d]["final"] in (200, 201) and isinstance(res[d]["receipt"], dict)]

    def receipt_fits(d):
        r, rec = res[d]["receipt"], res[d]
        return (r.get("delivery_id") == d and r.get("client") == "insurer"
                and r.get("record_count", -1) + r.get("withheld_count", 0) == rec["lines"]
                and r.get("body_sha256") == rec["sha256"])
    bad = [d for d in acked if not receipt_fits(d)]
    check(not bad, "receipts: each names its delivery id and counts the records and the SHA-256 "
          "of the body sent", first_bad(bad))

    def one_receipt(d):
        rows = receipts.get(d, [])
        if len(rows) != 1:
            return "%s: %d receipt rows" % (d, len(rows))
        ref, count, sha, seq = rows[0]
        r = res[d]["receipt"]
        if (count, sha, seq) != (r.get("record_count"), r.get("body_sha256"), r.get("audit_seq")):
            return "%s: the trust DB's receipt is not the one the client got" % d
        return None
    for name, group in (("acknowledged without incident", [d for d in acked if d not in unknown]),
                        ("acknowledged after an unknown outcome", [d for d in acked if d in unknown])):
        bad = [m for m in map(one_receipt, group) if m]
        check(not bad, "trust DB: every delivery %s has exactly one receipt row, the one the "
              "client got (%d)" % (name, len(group)), first_bad(bad))
        bad = ["%s: %s rows, record_count %s" % (d, store.get(receipts[d][0][0], 0),
                                                 receipts[d][0][1])
               for d in group if len(receipts.get(d, [])) == 1
               and store.get(receipts[d][0][0], 0) != receipts[d][0][1]]
        check(not bad, "store: every delivery %s is stored exactly once, whole (rows under its "
              "delivery_ref = record_count) (%d)" % (name, len(group)), first_bad(bad))
    stray = [d for d in receipts if d.startswith("cc-") and d not in res]
    check(not stray, "trust DB: no receipt for an id no sender got an answer for",
          first_bad(stray))
    refs = [row[0] for rows in receipts.values() for row in rows]
    check(len(refs) == len(set(refs)), "trust DB: every receipt has its own delivery_ref")
    # Rows that no receipt owns, new since the senders started: the rows of
    # an attempt that was never decided, committed anyway (an orphan), or
    # rows of a second copy.
    all_refs = set(ln.strip() for ln in open(args.all_refs) if ln.strip())
    before = set(ln.strip() for ln in open(args.store_before) if ln.strip())
    orphans = ["%d rows" % n for ref, n in store.items() if ref not in all_refs and ref not in before]
    check(not orphans, "store: no rows of the senders' time under a delivery_ref without a receipt "
          "(no orphan of a killed attempt)", first_bad(orphans))

    # GET every receipt, replay a sample: the receipt the sender got (before
    # later kills, or after its retry) is the one the service keeps.
    ctx = tls_context(args.certs)
    rng = random.Random(args.seed)
    acked_first = [d for d in before_kill if d not in unknown]
    replay = set(rng.sample(acked_first, min(len(acked_first), args.replays // 2)))
    rest = [d for d in unknown if d not in replay]
    replay |= set(rng.sample(rest, min(len(rest), args.replays - len(replay))))
    mism, lock = [], threading.Lock()
    queue = list(ids)

    def getter():
        client = Client(ctx, args.control)
        while True:
            with lock:
                if not queue:
                    break
                d = queue.pop()
            msg = None
            try:
                st, _, data = client.request("GET", "/v1/deliveries/" + d)
                if st != 200 or not same_receipt(json.loads(data), res[d]["receipt"]):
                    msg = "%s: GET %d, another receipt" % (d, st)
                elif d in replay:
                    rec = res[d]
                    st, _, data = client.request("PUT", "/v1/deliveries/" + d,
                                                 body_of(lines, rec["first_line"], rec["lines"]))
                    if st != 200 or not same_receipt(json.loads(data), rec["receipt"]):
                        msg = "%s: replay PUT %d, another receipt" % (d, st)
            except (OSError, http.client.HTTPException, ValueError) as e:
                msg = "%s: %s" % (d, type(e).__name__)
            if msg:
                with lock:
                    mism.append(msg)
        client.close()

    threads = [threading.Thread(target=getter) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not mism, "receipts: GET of every delivery (%d) and a replay of %d (%d acknowledged "
          "before a later kill, %d after an unknown outcome) return the receipt the sender got"
          % (len(ids), len(replay), len(replay - set(unknown)), len(replay & set(unknown))),
          first_bad(mism))

    # For vst-audit verify-receipt: the unknown-outcome ones answered 200
    # (signed by the killed process, committed by the recovery) first.
    os.makedirs(args.sample_dir, exist_ok=True)
    sample = sorted(unknown, key=lambda d: (res[d]["final"] != 200, d))[:20]
    sample += [d for d in rng.sample(before_kill, min(len(before_kill), 10)) if d not in sample]
    for d in sample:
        if isinstance(res[d]["receipt"], dict):
            with open(os.path.join(args.sample_dir, d + ".json"), "w") as f:
                json.dump(res[d]["receipt"], f)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cmd", choices=("send", "check"))
    p.add_argument("--control", required=True)
    p.add_argument("--certs", required=True)
    p.add_argument("--records", required=True)
    p.add_argument("--out")
    p.add_argument("--threads", type=int, default=24)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--results")
    p.add_argument("--receipts")
    p.add_argument("--store")
    p.add_argument("--store-before")
    p.add_argument("--all-refs")
    p.add_argument("--sample-dir")
    p.add_argument("--replays", type=int, default=60)
    args = p.parse_args()
    if args.cmd == "send":
        cmd_send(args)
    else:
        cmd_check(args)


if __name__ == "__main__":
    main()
