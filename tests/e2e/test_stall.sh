#!/usr/bin/env bash
# A stalled vst-keyd must not take vst-httpd down (issue 8, finding 4).
#
# vst-keyd is stopped with SIGSTOP (it keeps its sockets: connections are
# accepted by the kernel, nothing is answered) at two moments of a
# delivery streamed through a pipe:
#   1. in the middle of the body: the delivery gets 503 within the keyd
#      timeout, nothing is stored;
#   2. after its last batch: the delivery is decided (receipt and audit
#      event committed without any keyd call under the audit appenders'
#      lock), its receipt cannot be signed, the answer is a prompt 503 that
#      says so; after SIGCONT the same request returns the signed receipt,
#      and the rows are stored exactly once.
# While keyd is stopped: new deliveries get 503 at once, /readyz 503, and
# other audit writers (an authentication failure) are not blocked.
# After SIGCONT everything recovers without a restart.
set -uo pipefail
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
source "$E2E_DIR/stack.sh"
source "$E2E_DIR/api_lib.sh"
source "$E2E_DIR/resilience_lib.sh"

cleanup() {
    [ -n "${KEYD_PID:-}" ] && kill -CONT "$KEYD_PID" 2>/dev/null
    stack_down
}
trap cleanup EXIT

HTTPD_OPTS=(--keyd-timeout 2000 --batch-records 50)
stack_up_or_bail
D=$STACK/data
mkdir -p "$D"
AUDIT_DSN="host=$PGHOST port=$PGPORT user=vst_auditor dbname=$TRUST_DB"
"$VST_GEN" --records 1000 --seed 8101 -o "$D/all.nd" || not_ok "test data"
head -n 500 "$D/all.nd" >"$D/first.nd"
tail -n +501 "$D/all.nd" >"$D/rest.nd"

# stream_put ID OUT: PUT with a chunked body read from stdin; prints the
# status; body in OUT.
stream_put() {
    api insurer -o "$2" -w '%{http_code}' --max-time 40 -X PUT \
        -H 'Content-Type: application/x-ndjson' -T - "$URL/v1/deliveries/$1" 2>/dev/null
}
ms() { date +%s%3N; }

# ---- 1. keyd stops in the middle of a delivery
T0=$(store_total)
R0=$(receipt_count)
{
    cat "$D/first.nd"
    sleep 2
    kill -STOP "$KEYD_PID"
    ms >"$D/stopped1"
    cat "$D/rest.nd"
} | stream_put stall-mid "$D/mid.json" >"$D/mid.status"
END=$(ms)
ST=$(cat "$D/mid.status")
WAIT=$((END - $(cat "$D/stopped1")))
check "stopped mid-delivery: 503 (got $ST: $(json_field "$D/mid.json" detail))" [ "$ST" = 503 ]
check "stopped mid-delivery: answered within the keyd timeout, not hung (${WAIT} ms)" \
    [ "$WAIT" -lt 8000 ]
check "stopped mid-delivery: nothing stored, no receipt" \
    [ "$(store_total)/$(receipt_count)" = "$T0/$R0" ]

t=$(ms)
st=$(deliver insurer stall-new "$D/first.nd" --max-time 30)
check "while stopped: a new delivery gets 503 at once (got $st in $(($(ms) - t)) ms)" \
    both [ "$st" = 503 ] -- [ $(($(ms) - t)) -lt 1500 ]
t=$(ms)
st=$(http_status /readyz)
check "while stopped: /readyz 503 promptly (got $st in $(($(ms) - t)) ms)" \
    both [ "$st" = 503 ] -- [ $(($(ms) - t)) -lt 4000 ]

kill -CONT "$KEYD_PID"
check "after SIGCONT: /readyz 200 again" wait_ready 15

# ---- 2. keyd stops after the last batch: decided, not yet signed
T0=$(store_total)
{
    cat "$D/first.nd" # 500 lines: ten full batches, all sent to keyd
    sleep 2
    kill -STOP "$KEYD_PID"
    ms >"$D/stopped2"
} | stream_put stall-end "$D/end.json" >"$D/end.status"
END=$(ms)
ST=$(cat "$D/end.status")
WAIT=$((END - $(cat "$D/stopped2")))
check "stopped before signing: 503 promptly (got $ST in ${WAIT} ms)" \
    both [ "$ST" = 503 ] -- [ "$WAIT" -lt 8000 ]
check "stopped before signing: the 503 says the delivery is stored" \
    grep -q 'is stored' "$D/end.json"
check "stopped before signing: the delivery was decided (receipt committed, unsigned)" \
    [ "$(sql_trust "SELECT count(*) FROM vst.receipts r JOIN vst.clients c ON c.id = r.client_id
                    WHERE c.name = 'insurer' AND delivery_id = 'stall-end'
                      AND signature IS NULL")" = 1 ]
check "stopped before signing: its 500 rows are stored" \
    [ "$(store_total)" = $((T0 + 500)) ]

# Other audit writers go on while keyd stays stopped: wait past the
# background thread's pull (every 5 s), then an authentication failure
# must be audited and answered at once.
sleep 6
t=$(ms)
st=$(api unknown -o /dev/null -w '%{http_code}' --max-time 30 -X PUT \
    -H 'Content-Type: application/x-ndjson' --data-binary "@$D/first.nd" \
    "$URL/v1/deliveries/stall-unknown")
check "while stopped: an unknown certificate gets 403 at once (got $st in $(($(ms) - t)) ms)" \
    both [ "$st" = 403 ] -- [ $(($(ms) - t)) -lt 3000 ]
check "while stopped: its auth.failed event reached the audit log" \
    [ "$(sql_trust "SELECT count(*) FROM vst.audit_log WHERE action = 'auth.failed'
                    AND at > now() - interval '20 seconds'")" -ge 1 ]
t=$(ms)
st=$(deliver insurer stall-new2 "$D/first.nd" --max-time 30)
check "while stopped: deliveries get 503 at once (got $st in $(($(ms) - t)) ms)" \
    both [ "$st" = 503 ] -- [ $(($(ms) - t)) -lt 1500 ]

kill -CONT "$KEYD_PID"
check "after SIGCONT: /readyz 200" wait_ready 15
st=$(deliver insurer stall-end "$D/first.nd")
cp "$STACK/last.json" "$D/end-receipt.json"
check "after SIGCONT: the same request returns the receipt (200, got $st)" [ "$st" = 200 ]
check "after SIGCONT: the receipt verifies (vst-audit verify-receipt)" \
    "$VST_AUDIT" --dsn "$AUDIT_DSN" verify-receipt "$D/end-receipt.json" \
    --public-key "$SIGNING_KEY"
check "after SIGCONT: the receipt counts 500 records" \
    [ "$(json_field "$D/end-receipt.json" record_count)" = 500 ]
check "after SIGCONT: the stored receipt is signed" \
    [ "$(sql_trust "SELECT count(*) FROM vst.receipts WHERE signature IS NULL")" = 0 ]
check "the delivery is stored exactly once" \
    [ "$(store_rows_of "$(receipt_ref stall-end)")" = 500 ]
check "every store row belongs to a receipt with its record count" store_matches_receipts
st=$(deliver insurer stall-after "$D/rest.nd")
check "after SIGCONT: new deliveries are stored (201, got $st)" [ "$st" = 201 ]
check "no prepared transaction is left" [ "$(prepared_count)" = 0 ]
check "vst-keyd and vst-httpd were never restarted" \
    both kill -0 "$KEYD_PID" -- kill -0 "$HTTPD_PID"

e2e_summary
