#!/usr/bin/env bash
# vst-httpd against vst-keyd's connection limits (issue 8, finding 8):
#  - keyd closes idle connections (--idle-timeout): vst-httpd's pooled keyd
#    connections go away between deliveries, and it reconnects by itself;
#  - keyd's cap on buffered data-peer bytes (--max-buffered-mib): while a
#    hostile data peer holds most of it with a half frame, a delivery whose
#    batch does not fit is answered 503 problem+json with Retry-After (keyd's
#    `busy`), nothing is stored, and the same delivery is stored once the
#    peer lets go.
# Env: as stack.sh.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/stack.sh"
source "$HERE/resilience_lib.sh"

HOLDER=
cleanup() {
    [ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null
    stack_down
}
trap cleanup EXIT

stack_up || { echo "Bail out! the test stack did not come up"; exit 1; }
"$VST_GEN" --records 50 --seed 8101 -o "$STACK/small1.ndjson" || exit 1
"$VST_GEN" --records 50 --seed 8102 -o "$STACK/small2.ndjson" || exit 1
"$VST_GEN" --records 5000 --seed 8103 -o "$STACK/batch.ndjson" || exit 1

keyd_stop
keyd_start --idle-timeout 1 --max-buffered-mib 3 || { echo "Bail out! keyd restart"; exit 1; }

# ---- idle connections

check "a delivery is stored (201)" [ "$(deliver insurer idle-1 "$STACK/small1.ndjson")" = 201 ]
sleep 2.5 # keyd has closed vst-httpd's idle keyd connections meanwhile
check "after keyd closed the idle connections, the next delivery is stored (201)" \
    [ "$(deliver insurer idle-2 "$STACK/small2.ndjson")" = 201 ]
check "/readyz reaches keyd again (200)" \
    [ "$(api insurer -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ]
check "keyd logged no refusal for the idle closes" \
    [ "$(grep -c 'keyd.frame_rejected' "$STACK/events.jsonl")" = 0 ]

# ---- the buffer cap

# A data peer (root is on data-uids here) announces a 256 KiB PSEUDONYMIZE
# frame and sends all of it but one byte: keyd holds its payload and the
# room for its reply, twice 20 bytes for each of up to 65536 identifiers
# (2.75 MiB of the 3 MiB).
python3 - "$STACK/run/data.sock" "$STACK/holder.ready" <<'PY' &
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
n = 256 * 1024
s.sendall(struct.pack(">BBHI", 1, 0x10, 0, n) + b"\0" * (n - 1))
open(sys.argv[2], "w").close()
time.sleep(60)
PY
HOLDER=$!
for _ in $(seq 1 50); do [ -e "$STACK/holder.ready" ] && break; sleep 0.1; done
check "the hostile peer holds its half frame" [ -e "$STACK/holder.ready" ]

T0=$(store_total)
st=$(deliver_h insurer busy-1 "$STACK/batch.ndjson")
check "a delivery whose batch does not fit keyd's cap gets 503 (got $st)" [ "$st" = 503 ]
check "... as problem+json with Retry-After" is_503_problem
check "... and nothing of it is stored" [ "$(store_total)" = "$T0" ]
check "... no receipt, no prepared transaction" \
    [ -z "$(receipt_ref busy-1)" ] && [ "$(prepared_count)" = 0 ]
check "keyd refused the frame as busy (buffer_limit event)" \
    grep -q '"reason":"buffer_limit","code":"busy"' "$STACK/events.jsonl"
check "small deliveries still fit beside the half frame (201)" \
    [ "$(deliver insurer busy-small "$STACK/small1.ndjson")" = 201 ]

kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null
HOLDER=
sleep 0.5
check "once the peer is gone, the same delivery is stored (201)" \
    [ "$(deliver insurer busy-1 "$STACK/batch.ndjson")" = 201 ]
check "keyd is still the same process" kill -0 "$KEYD_PID"

e2e_summary
