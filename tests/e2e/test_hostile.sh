#!/usr/bin/env bash
# The hostile-input suite (issue 8, "Make it permanent"): raw bytes over
# mTLS against real vst-keyd and vst-httpd (the stack of stack.sh), sent by
# tests/e2e/hostile.py (Python 3 stdlib: ssl + socket; no HTTP library, so
# that framing lies, smuggled requests, resets and hangs are seen as such).
#
# Every case states the one answer (or the short list of answers) it
# accepts and why, from DESIGN.md §6, RFC 9110/9112 and RFC 8259; see
# tests/e2e/README.md for the table, or `hostile.py --list --records FILE`.
# The groups:
#   request line and framing  garbage and binary request lines, HTTP/0.9 and
#       2.0, bare LF/CR, missing and duplicate Host, absolute/asterisk/
#       authority forms, 100 KB and 1 MB targets, 300 KB header, 20,000
#       headers, a field line without colon, obs-fold, whitespace before the
#       colon (with a PUT smuggled in the body), NUL in a field name and
#       value, pipelining, Expect, PUT without any length
#   Content-Length lies  shorter and longer than the body (waiting, and
#       half-closed), negative, non-numeric, +N, junk, empty, "N N", lists,
#       > 2^64, duplicates differing and equal, leading zeros
#   chunked abuse  non-hex, > 2^64 and 2^63-1 sizes, missing CRLF, negative,
#       0x, leading space, extensions (normal and 1 MB), trailers, no last
#       chunk, TE + CL with a PUT smuggled behind, gzip, "gzip, chunked",
#       identity, "chunked, chunked", two TE fields, CHUNKED, TE on
#       HTTP/1.0, 40 leading zeros, 100,000 one-byte chunks
#   size limits  Content-Length above --max-delivery-bytes (with and without
#       Expect), a chunked body past the limit (413 and closed, not drained),
#       a large body without a client certificate (401, not read)
#   methods  put, POST, PATCH, DELETE, FOO, P@T, a 10,000-byte method, TRACE
#       (nothing echoed), OPTIONS, GET with a body -- each with a valid record
#       that must never be stored
#   content types  missing, text/plain, application/json, multipart,
#       prefix look-alike, empty, a list, charset and case variants,
#       charset=iso-8859-1 with Latin-1 bytes, two Content-Type fields
#   delivery ids  %00 (issue 8 finding 9), %2F, .., %2E%2E, ../x, 10,000
#       characters, percent-encoded and raw UTF-8, %C0%80, %zz, trailing %,
#       #fragment, dots; ids holding a KVNR, a glued KVNR, a LANR, a glued
#       LANR, a birth date; ?profile= with a KVNR, a path, a NUL
#   the body  invalid UTF-8 (FF, C0 80, E0 80 80, ED A0 80, F4 90 80 80,
#       truncated, lone continuation, between tokens), lone and reversed
#       surrogates, a valid pair, \u0000, raw NUL in and between strings,
#       escaped enum values (finding 3), nesting 10^5 and 8,000 deep,
#       objects 2,000 deep, 1e999999, 400-digit numbers, 1.0 for an
#       integer, duplicate keys (plain and escaped), 3,000 and 200,000 items,
#       1,000 members, keys shaped like a KVNR or a name, a 10 MB line, BOM,
#       CRLF, empty body, only newlines, a blank line, 10^5 bad lines
#       (bounded error list), a valid record then garbage, non-objects,
#       comments, a bad check digit and date, a 15,000-character string,
#       5,000 valid records then one bad line (all or nothing)
#   slow clients (a vst-httpd started with --min-transfer-rate)  a body and
#       a request head trickled at 8 bytes/s are cut off within a bound, a
#       client at full speed is not disturbed
#
# After every case: vst-keyd and vst-httpd are the same live processes,
# GET /healthz answers 200, the store rows, prepared store transactions,
# receipts and delivery.stored events are unchanged, the answer, httpd.log,
# keyd.log, events.jsonl and the new audit rows hold none of the planted
# values (synthetic KVNR, LANR, BSNR, names, street, city, birth date from
# vst-gen, a unique planted string per case), and no sanitizer report
# appeared. At the end the same over everything, once more.
#
# Options the daemon does not know yet (--min-transfer-rate) fail as one
# "not ok" line. HOSTILE_SLOW_OPTS adds options to the slow instance (e.g. a
# grace period); HOSTILE_ONLY=regex runs only the matching cases.
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
source "$E2E_DIR/stack.sh"
source "$E2E_DIR/api_lib.sh"
trap stack_down EXIT

CT=4                 # --connection-timeout: the idle bound of the "close" cases
MAX_BYTES=12582912   # --max-delivery-bytes: 12 MiB, above the 10 MB line case
MIN_RATE=1024        # --min-transfer-rate for the slow group (bytes/s)
SLOW_BOUND=20        # seconds within which a slow client must be cut off
# --header-timeout 3: headers that never complete are cut off before the
# idle timeout (CT) would.
HTTPD_OPTS=(--connection-timeout "$CT" --max-delivery-bytes "$MAX_BYTES" --header-timeout 3)

T0=$SECONDS
if ! stack_up; then
    not_ok "the stack comes up"
    e2e_summary
    exit 1
fi
D=$STACK/hostile
mkdir -p "$D"
"$VST_GEN" --records 6000 --seed 80808 -o "$D/records.nd" ||
    { not_ok "test data written"; e2e_summary; exit 1; }

driver() { # GROUP [args...]
    local group=$1
    shift
    python3 "$E2E_DIR/hostile.py" --group "$group" --port "$PORT" --stack "$STACK" \
        --trust-db "$TRUST_DB" --store-db "$STORE_DB" --keyd-pid "$KEYD_PID" \
        --httpd-pid "$HTTPD_PID" --records "$D/records.nd" --ct "$CT" --max-bytes "$MAX_BYTES" \
        --slow-bound "$SLOW_BOUND" --error-def "$VST_SOURCE_DIR/server/core/vst_error.def" \
        --markers-out "$D/markers" ${HOSTILE_ONLY:+--only "$HOSTILE_ONLY"} "$@"
}

echo "# main group: vst-httpd ${HTTPD_OPTS[*]}"
py_checks "" driver main
HTTPD_FIRST=$HTTPD_PID

# The slow group needs a vst-httpd with a minimum transfer rate.
httpd_stop
# A grace of 5 s (default 30): the slow cases must be cut off within
# SLOW_BOUND.
read -r -a SLOW_EXTRA <<<"${HOSTILE_SLOW_OPTS:---min-rate-grace 5}"
echo "# slow group: vst-httpd ${HTTPD_OPTS[*]} --min-transfer-rate $MIN_RATE ${SLOW_EXTRA[*]}"
if httpd_start "${HTTPD_OPTS[@]}" --min-transfer-rate "$MIN_RATE" "${SLOW_EXTRA[@]}" \
    2>>"$D/slow-start.err"; then
    ok "vst-httpd starts with --min-transfer-rate $MIN_RATE"
    py_checks "" driver slow
else
    not_ok "vst-httpd starts with --min-transfer-rate $MIN_RATE (slow body and slow header" \
        "cases not run: $(tail -1 "$STACK/httpd.log" | head -c 200))"
    httpd_start "${HTTPD_OPTS[@]}" || not_ok "vst-httpd restarts without the option"
fi

# Once more over everything: nothing was ever stored, no planted value
# anywhere, no sanitizer report, and keyd is the process of the beginning
# (the script never restarts it).
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat")" != Z ]; }
check "vst-keyd of the beginning (pid $KEYD_PID) is still alive" alive "$KEYD_PID"
check "vst-httpd (pid $HTTPD_PID) is alive" alive "$HTTPD_PID"
check "the store holds no row and the trust DB no receipt" \
    eval '[ "$(snapshot)" = "0/0/0/0" ]'
sql_trust "SELECT concat_ws(' ', actor, action, client, details::text) FROM vst.audit_log" \
    >"$D/audit.txt"
sort -u "$D/markers" >"$D/markers.u"
check "no planted value in httpd.log, keyd.log, events.jsonl or the audit log ($(wc -l <"$D/markers.u") values)" \
    absent "$D/markers.u" "$STACK/httpd.log" "$STACK/keyd.log" "$STACK/events.jsonl" "$D/audit.txt"
check "no sanitizer report in httpd.log or keyd.log" \
    eval '! grep -a -q -E "AddressSanitizer|LeakSanitizer|runtime error:" "$STACK/httpd.log" "$STACK/keyd.log"'
check "the audit chain verifies" \
    "$VST_AUDIT" --dsn "host=$PGHOST port=$PGPORT user=vst_auditor dbname=$TRUST_DB" verify \
    --public-key "$SIGNING_KEY" >"$D/verify.out" 2>&1
echo "# vst-httpd pid $HTTPD_FIRST for the main group; $((SECONDS - T0)) s in all"
e2e_summary
