#!/usr/bin/env python3
"""Mixed concurrent delivery load for tests/e2e/test_concurrency.sh (issue 14).

THREADS threads (the "clients" of the acceptance test), each bound to one of
the registered client certificates and holding two kept-alive mTLS
connections (http.client + ssl, Python 3 standard library only), send for a
while a mix of deliveries and record every answer:

  small      a new id, 1-3 valid records                   -> 201 + receipt
  replay     an id of the same client already answered 201/200, the same
             body                                          -> 200 + the same receipt
  conflict   an id already stored, another body            -> 409 delivery_conflict
  invalid    a new id, 1-3 records, one of them bad        -> 422 invalid_records
             listing exactly that line, field and code; nothing stored
  race       a new id sent on both connections at once, the same body
                                                           -> one 201, one 200, the same receipt
  race-conflict  a new id sent on both connections at once, two bodies
                                                           -> one 201, one 409 delivery_conflict
  large      LARGE records (a few threads start with one, overlapping the
             small ones)                                   -> 201, then a replay -> 200
  large-invalid  LARGE records with one bad line near the end -> 422 naming it

Like vst-send, a retryable answer (409 delivery_in_progress, 429 other than
the identifier budget, 502/503/504) or a broken connection is retried with
the same id and body after Retry-After (capped at 5 s); the final answer is
the one judged, and retries are counted. The small load runs until the large
deliveries are done and at least --min-seconds passed, at most --max-seconds.

Judged afterwards (every delivery, in memory): the final status, problem
code, receipt fields (delivery_id, client, profile, record_count,
body_sha256) and, for replays, receipt identity with the stored one. Writes
to --out: summary.json (counts, rate, mismatches), acked.tsv (one line per
delivery the server acknowledged: client, id, record_count, body_sha256,
audit_seq), rejected.tsv (client and id of every 422: no receipt may exist),
receipts/NNNN.json (every distinct receipt, as received).

Test data only: vst-gen's synthetic records. Nothing of a record is printed.
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

RETRY_CAP_S = 5.0
MAX_ATTEMPTS = 30


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--client", action="append", required=True,
                   help="NAME:CERT:KEY, repeated (threads are spread over them)")
    p.add_argument("--records", required=True, help="vst-gen sgb5 NDJSON: pool for small bodies")
    p.add_argument("--large-file", required=True, help="vst-gen sgb5 NDJSON: the large body")
    p.add_argument("--large", type=int, default=2, help="large valid deliveries")
    p.add_argument("--large-invalid", type=int, default=1, help="large invalid deliveries")
    p.add_argument("--threads", type=int, default=64)
    p.add_argument("--min-seconds", type=float, default=10)
    p.add_argument("--max-seconds", type=float, default=35)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    return p.parse_args()


# ---- bodies ---------------------------------------------------------------

def corrupt(line, how):
    """A record line made invalid in one known way: (line, field, code)."""
    rec = json.loads(line)
    if how == "kvnr":
        k = rec["insured"]["kvnr"]
        rec["insured"]["kvnr"] = k[:-1] + str((int(k[-1]) + 1) % 10)
        return json.dumps(rec, ensure_ascii=False), "insured.kvnr", "id_check_digit"
    rec["unexpected"] = 1
    return json.dumps(rec, ensure_ascii=False), "unexpected", "unknown_field"


def body_of(lines):
    b = ("\n".join(lines) + "\n").encode()
    return b, hashlib.sha256(b).hexdigest()


# ---- HTTP -----------------------------------------------------------------

class Conn:
    """One kept-alive mTLS connection of a client; reconnects when broken."""

    def __init__(self, port, ctx):
        self.port, self.ctx, self.c = port, ctx, None

    def start(self, did, body):
        if self.c is None:
            self.c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                                 timeout=120)
        self.c.request("PUT", "/v1/deliveries/" + did, body=body,
                       headers={"Content-Type": "application/x-ndjson"})

    def finish(self):
        r = self.c.getresponse()
        data = r.read()
        if r.will_close:
            self.drop()
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            doc = None
        return {"status": r.status, "ctype": r.getheader("Content-Type", ""),
                "retry_after": r.getheader("Retry-After"), "doc": doc}

    def drop(self):
        if self.c is not None:
            self.c.close()
        self.c = None


def code_of(ans):
    d = ans.get("doc")
    return d.get("code", "") if isinstance(d, dict) else ""


def retryable(ans):
    s, c = ans["status"], code_of(ans)
    if s == 409:
        return c == "delivery_in_progress"
    if s == 429:
        return c != "identifier_budget_exhausted"
    return s in (502, 503, 504)


class Stats:
    def __init__(self):
        self.mu = threading.Lock()
        self.retries = {}
        self.requests = 0

    def retry(self, why):
        with self.mu:
            self.retries[why] = self.retries.get(why, 0) + 1


def complete(conn, did, body, stats, first):
    """Finishes an exchange started with conn.start (first: True) or starts
    one, retrying as vst-send does; returns the final answer with the number
    of attempts and whether a connection broke (then the outcome of an
    earlier attempt is unknown to the client)."""
    broke = False
    started = first
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            if not started:
                conn.start(did, body)
            started = False
            ans = conn.finish()
        except (OSError, http.client.HTTPException) as e:
            conn.drop()
            broke = True
            stats.retry("connection: " + type(e).__name__)
            time.sleep(0.2)
            continue
        with stats.mu:
            stats.requests += 1
        if not retryable(ans):
            ans["attempts"], ans["broke"] = attempt, broke
            return ans
        stats.retry("%d %s" % (ans["status"], code_of(ans)))
        try:
            wait = float(ans["retry_after"] or 1)
        except ValueError:
            wait = 1.0
        time.sleep(min(wait, RETRY_CAP_S) * random.uniform(0.5, 1.0))
    return {"status": 0, "doc": None, "ctype": "", "attempts": MAX_ATTEMPTS, "broke": broke}


# ---- the load -------------------------------------------------------------

class Load:
    def __init__(self, a):
        self.a = a
        with open(a.records, encoding="utf-8") as f:
            self.pool = [l.rstrip("\n") for l in f if l.strip()]
        with open(a.large_file, encoding="utf-8") as f:
            self.large_lines = [l.rstrip("\n") for l in f if l.strip()]
        self.clients = []
        for spec in a.client:
            name, cert, key = spec.split(":")
            ctx = ssl.create_default_context(cafile=a.ca)
            ctx.load_cert_chain(cert, key)
            self.clients.append((name, ctx))
        self.stats = Stats()
        self.mu = threading.Lock()
        self.stored = {name: [] for name, _ in self.clients}  # (id, body, sha, n)
        self.results = []  # one dict per delivery (a race is one)
        self.stop = threading.Event()
        self.large_left = a.large + a.large_invalid
        self.crashed = []
        self.large_done = set()
        self.small_during_large = 0

    def small_lines(self, rng):
        n = rng.randint(1, 3)
        i = rng.randrange(len(self.pool) - n)
        return self.pool[i:i + n]

    def note(self, r):
        with self.mu:
            self.results.append(r)
            if r["kind"] == "small" and r["answers"][0]["status"] == 201 and self.large_left > 0:
                self.small_during_large += 1
            if r["kind"] in ("small", "race", "race-conflict", "large") and r.get("acked"):
                self.stored[r["client"]].append(r["acked"])

    def run_thread(self, t):
        try:
            self.thread_body(t)
        except Exception as e:  # reported as a mismatch, never silently lost
            with self.mu:
                self.crashed.append("thread %d: %s: %s" % (t, type(e).__name__, e))
                if t < self.a.large + self.a.large_invalid and t not in self.large_done:
                    self.large_left -= 1

    def thread_body(self, t):
        a = self.a
        rng = random.Random(a.seed * 1000 + t)
        name, ctx = self.clients[t % len(self.clients)]
        c1, c2 = Conn(a.port, ctx), Conn(a.port, ctx)
        seq = 0

        def new_id(kind):
            nonlocal seq
            seq += 1
            return "%s-%d-%d" % (kind, t, seq)

        def one(kind, did, lines, expect=None, sha=None, body=None):
            if body is None:
                body, sha = body_of(lines)
            t0 = time.monotonic()
            ans = complete(c1, did, body, self.stats, False)
            ans["seconds"] = time.monotonic() - t0
            r = {"kind": kind, "client": name, "id": did, "sha": sha, "n": len(lines),
                 "answers": [ans], "expect": expect}
            if ans["status"] in (200, 201):
                r["acked"] = (did, body, sha, len(lines), ans["doc"])
            self.note(r)
            return r

        # A few threads begin with a large delivery; the small ones overlap it.
        if t < a.large + a.large_invalid:
            rot = (t * 7919) % len(self.large_lines)
            lines = self.large_lines[rot:] + self.large_lines[:rot]
            if t < a.large:
                r = one("large", new_id("large"), lines)
                if r["answers"][0]["status"] == 201:
                    body, sha = body_of(lines)
                    ans = complete(c1, r["id"], body, self.stats, False)
                    self.note({"kind": "large-replay", "client": name, "id": r["id"], "sha": sha,
                               "n": len(lines), "answers": [ans], "expect": r["acked"][4]})
            else:
                k = len(lines) - 3
                lines = list(lines)
                lines[k - 1], field, code = corrupt(lines[k - 1], "kvnr")
                one("large-invalid", new_id("large-invalid"), lines,
                    expect={"line": k, "field": field, "code": code})
            with self.mu:
                self.large_left -= 1
                self.large_done.add(t)

        while not self.stop.is_set():
            x = rng.random()
            with self.mu:
                mine = list(self.stored[name])
            if x < 0.10 and mine:
                did, body, sha, n, receipt = rng.choice(mine)
                ans = complete(c1, did, body, self.stats, False)
                self.note({"kind": "replay", "client": name, "id": did, "sha": sha, "n": n,
                           "answers": [ans], "expect": receipt})
            elif x < 0.16 and mine:
                did, body, sha, n, _ = rng.choice(mine)
                other, osha = body_of(self.small_lines(rng))
                if osha == sha:
                    continue
                ans = complete(c1, did, other, self.stats, False)
                self.note({"kind": "conflict", "client": name, "id": did, "sha": osha, "n": n,
                           "answers": [ans], "expect": sha})
            elif x < 0.24:
                lines = self.small_lines(rng)
                k = rng.randint(1, len(lines))
                lines[k - 1], field, code = corrupt(lines[k - 1], rng.choice(["kvnr", "field"]))
                one("invalid", new_id("invalid"), lines,
                    expect={"line": k, "field": field, "code": code})
            elif x < 0.32:
                self.race(name, c1, c2, new_id("race"), rng, conflict=x >= 0.29)
            else:
                one("small", new_id("small"), self.small_lines(rng))
        c1.drop()
        c2.drop()

    def race(self, name, c1, c2, did, rng, conflict):
        """The same id on both connections at once: both requests are on
        the wire before either answer is read."""
        la = self.small_lines(rng)
        lb = self.small_lines(rng) if conflict else la
        ba, sa = body_of(la)
        bb, sb = body_of(lb)
        if conflict and sa == sb:
            return
        ok = []
        for c, b in ((c1, ba), (c2, bb)):
            try:
                c.start(did, b)
                ok.append(True)
            except (OSError, http.client.HTTPException):
                c.drop()
                ok.append(False)
        ans = [complete(c1, did, ba, self.stats, ok[0]), complete(c2, did, bb, self.stats, ok[1])]
        kind = "race-conflict" if conflict else "race"
        r = {"kind": kind, "client": name, "id": did, "answers": ans,
             "bodies": [(sa, len(la)), (sb, len(lb))]}
        win = [i for i, x in enumerate(ans) if x["status"] == 201]
        if len(win) == 1:
            i = win[0]
            r["sha"], r["n"] = r["bodies"][i]
            r["acked"] = (did, (ba, bb)[i], r["sha"], r["n"], ans[i]["doc"])
        self.note(r)

    def run(self):
        a = self.a
        threads = [threading.Thread(target=self.run_thread, args=(t,), daemon=True)
                   for t in range(a.threads)]
        t0 = time.monotonic()
        for th in threads:
            th.start()
        while True:
            el = time.monotonic() - t0
            with self.mu:
                left = self.large_left
            if el >= a.max_seconds or (el >= a.min_seconds and left == 0):
                break
            time.sleep(0.2)
        self.stop.set()
        for th in threads:
            th.join(600)
        self.elapsed = time.monotonic() - t0
        self.hung = sum(th.is_alive() for th in threads)


# ---- judging --------------------------------------------------------------

def receipt_fits(doc, client, did, sha, n):
    """What is wrong with a receipt for (client, did, sha, n), or ""."""
    if not isinstance(doc, dict):
        return "no receipt"
    want = {"delivery_id": did, "client": client, "profile": "sgb5", "record_count": n,
            "body_sha256": sha}
    bad = [k for k, v in want.items() if doc.get(k) != v]
    if bad or not doc.get("signature") or not isinstance(doc.get("audit_seq"), int):
        return "receipt fields differ: " + ", ".join(bad or ["signature/audit_seq"])
    return ""


def judge(r):
    """The mismatch of one delivery with the contract, or ""."""
    k, ans = r["kind"], r["answers"]
    st = [x["status"] for x in ans]
    code = [code_of(x) for x in ans]
    if k in ("small", "large"):
        # After a broken connection the first attempt may have been stored:
        # then the retry is rightly a replay.
        if st[0] == 201 or (st[0] == 200 and ans[0]["broke"]):
            return receipt_fits(ans[0]["doc"], r["client"], r["id"], r["sha"], r["n"])
        return "expected 201, got %d %s" % (st[0], code[0])
    if k in ("replay", "large-replay"):
        if st[0] != 200:
            return "expected 200, got %d %s" % (st[0], code[0])
        return "" if ans[0]["doc"] == r["expect"] else "replay receipt differs from the stored one"
    if k == "conflict":
        if st[0] == 409 and code[0] == "delivery_conflict":
            return ""
        return "expected 409 delivery_conflict, got %d %s" % (st[0], code[0])
    if k in ("invalid", "large-invalid"):
        d = ans[0]["doc"]
        if st[0] != 422 or code[0] != "invalid_records":
            return "expected 422 invalid_records, got %d %s" % (st[0], code[0])
        if not ans[0]["ctype"].startswith("application/problem+json"):
            return "422 is not problem+json"
        if d.get("errors") != [r["expect"]] or d.get("errors_total") != 1:
            return "422 errors %s, expected [%s]" % (d.get("errors"), r["expect"])
        return ""
    if k == "race":
        if sorted(st) != [200, 201]:
            return "race: expected one 201 and one 200, got %s %s" % (st, code)
        if ans[0]["doc"] != ans[1]["doc"]:
            return "race: the 200 receipt differs from the 201 one"
        return receipt_fits(ans[0]["doc"], r["client"], r["id"], r["sha"], r["n"])
    if k == "race-conflict":
        if sorted(st) != [201, 409] or "delivery_conflict" not in code:
            return "race-conflict: expected one 201 and one 409 delivery_conflict, got %s %s" % (
                st, code)
        return receipt_fits(ans[st.index(201)]["doc"], r["client"], r["id"], r["sha"], r["n"])
    return "unknown kind " + k


def report(load):
    a = load.a
    os.makedirs(os.path.join(a.out, "receipts"), exist_ok=True)
    kinds, statuses, mismatches = {}, {}, list(load.crashed)
    acked, rejected, receipts = {}, [], {}
    for r in load.results:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
        for x in r["answers"]:
            key = "%d%s" % (x["status"], " " + code_of(x) if x["status"] >= 400 else "")
            statuses[key] = statuses.get(key, 0) + 1
            if x["status"] in (200, 201) and isinstance(x["doc"], dict):
                receipts.setdefault(json.dumps(x["doc"], sort_keys=True),
                                    (r["kind"].split("-")[0], x["doc"]))
        m = judge(r)
        if m:
            mismatches.append("%s %s/%s: %s" % (r["kind"], r["client"], r["id"], m))
        if r.get("acked"):
            did, _, sha, n, doc = r["acked"]
            acked[(r["client"], did)] = (n, sha, doc.get("audit_seq") if doc else None)
        if r["kind"] in ("invalid", "large-invalid"):
            rejected.append((r["client"], r["id"]))
    with open(os.path.join(a.out, "acked.tsv"), "w") as f:
        for (c, did), (n, sha, seq) in sorted(acked.items()):
            f.write("%s\t%s\t%d\t%s\t%s\n" % (c, did, n, sha, seq))
    with open(os.path.join(a.out, "rejected.tsv"), "w") as f:
        for c, did in sorted(rejected):
            f.write("%s\t%s\n" % (c, did))
    for i, (kind, doc) in enumerate(receipts.values()):
        with open(os.path.join(a.out, "receipts", "%s-%05d.json" % (kind, i)), "w") as f:
            json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
    stored = sum(1 for r in load.results
                 for x in r["answers"] if x["status"] == 201)
    summary = {
        "threads": a.threads, "clients": len(load.clients), "seconds": round(load.elapsed, 1),
        "deliveries": len(load.results), "requests": load.stats.requests,
        "stored": stored, "acked_ids": len(acked),
        "deliveries_per_s": round(load.stats.requests / load.elapsed, 1),
        "stored_per_s": round(stored / load.elapsed, 1),
        "kinds": kinds, "answers": statuses, "retries": load.stats.retries,
        "hung_threads": load.hung, "mismatches": mismatches,
        "large_seconds": sorted(round(r["answers"][0].get("seconds", 0), 1)
                                for r in load.results if r["kind"].startswith("large")
                                and r["kind"] != "large-replay"),
        "small_stored_during_large": load.small_during_large,
    }
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, ensure_ascii=False)
    return summary


def main():
    a = parse_args()
    load = Load(a)
    load.run()
    s = report(load)
    print("# %d threads over %d clients, %.1f s: %d deliveries (%d requests, %.1f/s; "
          "%d stored, %.1f/s)" % (s["threads"], s["clients"], s["seconds"], s["deliveries"],
                                  s["requests"], s["deliveries_per_s"], s["stored"],
                                  s["stored_per_s"]))
    print("# large deliveries took %s s; %d small ones were stored meanwhile" % (
        ", ".join(str(x) for x in s["large_seconds"]), s["small_stored_during_large"]))
    print("# kinds: " + " ".join("%s=%d" % kv for kv in sorted(s["kinds"].items())))
    print("# answers: " + ", ".join("%s: %d" % kv for kv in sorted(s["answers"].items())))
    print("# retries: " + (", ".join("%s: %d" % kv for kv in sorted(s["retries"].items()))
                           or "none"))
    for m in s["mismatches"][:20]:
        print("# mismatch: " + m)
    return 0


if __name__ == "__main__":
    sys.exit(main())
