#!/usr/bin/env bash
# One authenticated insurer cannot stop everyone (issue 8, finding 5):
#   - a client holds at most --client-slots workers; more of its requests
#     get 429 at once, other clients are still served;
#   - a body slower than --min-transfer-rate (after --min-rate-grace) is
#     answered 408 and the connection closed, its worker freed;
#   - a second attempt at a delivery id in progress gets 409
#     delivery_in_progress at once instead of parking a worker on a lock;
#   - a body growing past --max-delivery-bytes is answered 413 and the
#     connection closed while the sender is still sending (not drained);
#   - each client has its own daily identifier budget in vst-httpd
#     (--client-identifiers-day), so that one cannot spend keyd's global
#     budget for everybody;
#   - the request rate belongs to the client's registration (issue 14,
#     DESIGN.md §14): `vst-admin client add --rate-limit 5` holds the client
#     to 5 requests a minute, `client set NAME --rate-limit 0` lifts it for
#     the next request without restarting vst-httpd, audited as
#     client.updated; a client without one keeps vst-httpd's --rate-limit.
set -uo pipefail
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
source "$E2E_DIR/stack.sh"
# recovered: waits (at most 20 s) until vst-httpd's start-up crash recovery
# is done. /healthz answers before it; a delivery meanwhile gets 503
# "crash recovery is still running", which on a loaded machine can take a
# few seconds after a restart.
recovered() {
    local i
    for i in $(seq 1 200); do
        [ "$(api insurer -o /dev/null -w '%{http_code}' "$URL/v1/deliveries/fairness-probe")" = 503 ] || return 0
        sleep 0.1
    done
}
source "$E2E_DIR/api_lib.sh"
source "$E2E_DIR/resilience_lib.sh"

BG=()
cleanup() {
    for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
    stack_down
}
trap cleanup EXIT

HTTPD_OPTS=(--workers 3 --client-slots 2 --min-transfer-rate 0 --db-lock-timeout 2000)
stack_up_or_bail
D=$STACK/data
mkdir -p "$D"
"$VST_GEN" --records 200 --seed 5151 -o "$D/200.nd" || not_ok "test data"
head -n 20 "$D/200.nd" >"$D/20.nd"
ms() { date +%s%3N; }
metric() { # metric NAME: its value on /metrics (monitor certificate)
    api monitor "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
# slow_put WHO ID SECONDS OUT: a delivery whose body trickles (one line a
# second) for SECONDS, in the background; its status goes to OUT.
slow_put() {
    local who=$1 id=$2 secs=$3 out=$4
    (
        for i in $(seq 1 "$secs"); do
            sed -n "${i}p" "$D/200.nd"
            sleep 1
        done | api "$who" -o "$out.body" -w '%{http_code}' --max-time 60 -X PUT \
            -H 'Content-Type: application/x-ndjson' -T - "$URL/v1/deliveries/$id" >"$out" 2>/dev/null
    ) &
    BG+=($!)
}
wait_file() { # wait_file FILE SECONDS
    local i
    for i in $(seq 1 $(($2 * 10))); do [ -s "$1" ] && return 0; sleep 0.1; done
    return 1
}

# ---- slots per client: 3 workers, at most 2 per client. Before the cap,
# an insurer's third request took the last worker and every other client
# waited 30 s for a 503.
slow_put insurer slots-1 8 "$D/s1"
slow_put insurer slots-2 8 "$D/s2"
sleep 2
# A third and a fourth: before the cap they took the last workers (3, and
# the background thread's spare), and every other client waited 30 s.
slow_put insurer slots-3 8 "$D/s3.status"
slow_put insurer slots-4 8 "$D/s4.status"
sleep 1
# What an operator sees meanwhile: two of three workers taken, two
# requests waiting for one (the capped client's third and fourth).
check "/metrics: vst_workers 3, vst_workers_busy 2, vst_worker_waiting 2 (got $(metric vst_workers), $(metric vst_workers_busy), $(metric vst_worker_waiting))" \
    [ "$(metric vst_workers)/$(metric vst_workers_busy)/$(metric vst_worker_waiting)" = 3/2/2 ]
H0=$(metric vst_worker_handoffs_total)
t=$(ms)
st=$(call second PUT /v1/deliveries/slots-other -H 'Content-Type: application/x-ndjson' \
    --data-binary "@$D/20.nd" --max-time 40 -o "$D/other.body")
check "another client is served at once while one client holds its slots (201, got $st in $(($(ms) - t)) ms)" \
    both [ "$st" = 201 ] -- [ $(($(ms) - t)) -lt 3000 ]
wait_file "$D/s1" 30 && wait_file "$D/s2" 30 && wait_file "$D/s3.status" 40 &&
    wait_file "$D/s4.status" 40
check "the capped client's third and fourth requests waited for its own slots, then were stored (201, 201; got $(cat "$D/s3.status" "$D/s4.status" | tr '\n' ' '))" \
    [ "$(cat "$D/s3.status")/$(cat "$D/s4.status")" = 201/201 ]
check "the slow deliveries themselves complete (201, 201; got $(cat "$D/s1" "$D/s2" | tr '\n' ' '))" \
    [ "$(cat "$D/s1")/$(cat "$D/s2")" = 201/201 ]
# They had waited seconds: each was handed the slot its client released,
# before anybody else could take it.
check "/metrics: both waiters were handed a slot (vst_worker_handoffs_total +2, got $H0 -> $(metric vst_worker_handoffs_total)), none waits now" \
    [ "$(($(metric vst_worker_handoffs_total) - H0))/$(metric vst_worker_waiting)" = 2/0 ]

# ---- the same delivery id twice at once: the second attempt waits for the
# first at most --db-lock-timeout (2 s), then 409 (before: parked for ever).
slow_put insurer same-id 8 "$D/same"
sleep 2
t=$(ms)
st=$(put insurer same-id "$D/20.nd" --max-time 40)
check "a second attempt at an id in progress: 409 delivery_in_progress after the lock timeout (got $st in $(($(ms) - t)) ms)" \
    both is_problem "$st" 409 delivery_in_progress -- [ $(($(ms) - t)) -lt 5000 ]
check "... with Retry-After" [ -n "$(hdr Retry-After)" ]
wait_file "$D/same" 30
check "the first attempt completes (201, got $(cat "$D/same"))" [ "$(cat "$D/same")" = 201 ]

# ---- minimum transfer rate
httpd_stop
httpd_start --min-transfer-rate 2000 --min-rate-grace 2 || not_ok "httpd restart"
recovered
T0=$(store_total)
t=$(ms)
slow_put insurer trickle 20 "$D/trickle"
wait_file "$D/trickle" 30
el=$(($(ms) - t))
# Closed mid-body: curl reports no final status (000, or the 100 Continue
# it got before).
check "a trickling body (~300 B/s < 2000 B/s) is cut off after the grace (got $(cat "$D/trickle") after $el ms)" \
    both grep -qE '^(000|100)$' "$D/trickle" -- [ "$el" -lt 10000 ]
check "... nothing stored" [ "$(store_total)" = "$T0" ]
check "... audited as delivery.aborted with transfer_too_slow" \
    [ "$(sql_trust "SELECT count(*) FROM vst.audit_log WHERE action = 'delivery.aborted'
                    AND details->>'delivery_id' = 'trickle'
                    AND details->>'code' = 'transfer_too_slow'")" = 1 ]
st=$(put insurer after-trickle "$D/20.nd")
check "its worker is free again: the next delivery is stored (201, got $st)" [ "$st" = 201 ]

# ---- 413 closes instead of draining
httpd_stop
httpd_start --max-delivery-bytes 100000 || not_ok "httpd restart"
recovered
st=$(call insurer PUT /v1/deliveries/too-big-cl -H 'Content-Type: application/x-ndjson' \
    -H 'Content-Length: 10000000000' --data-binary "@$D/20.nd" --max-time 20)
check "Content-Length above the limit: 413 (got $st)" is_problem "$st" 413 payload_too_large
t=$(ms)
st=$(
    for i in $(seq 1 40); do
        head -c 50000 /dev/zero | tr '\0' 'x'
        echo
        sleep 0.25
    done | api insurer -o "$D/big.body" -w '%{http_code}' --max-time 30 -X PUT \
        -H 'Content-Type: application/x-ndjson' -T - "$URL/v1/deliveries/too-big-chunked" 2>/dev/null
)
el=$(($(ms) - t))
# libmicrohttpd can answer only once a body has ended: past the limit the
# rest is discarded for at most 1 MiB or 2 s, then the connection closes.
check "a chunked body growing past the limit is cut off while the sender still sends (got $st after $el ms; the body takes 10 s)" \
    both grep -qE '^(413|000|100)$' <<<"$st" -- [ "$el" -lt 6000 ]
check "... audited as delivery.rejected payload_too_large" \
    [ "$(sql_trust "SELECT count(*) FROM vst.audit_log WHERE action = 'delivery.rejected'
                    AND details->>'delivery_id' = 'too-big-chunked'
                    AND details->>'code' = 'payload_too_large'")" = 1 ]
st=$(put insurer after-big "$D/20.nd")
check "the next delivery is stored (201, got $st)" [ "$st" = 201 ]

# ---- identifier budget per client
httpd_stop
httpd_start --client-identifiers-day 100 || not_ok "httpd restart"
# Records with the insured person only: one identifier each.
python3 - "$D/200.nd" "$D/one-id.nd" <<'PY'
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as o:
    for line in f:
        r = json.loads(line)
        r.pop("provider", None)
        o.write(json.dumps(r, ensure_ascii=False) + "\n")
PY
head -n 80 "$D/one-id.nd" >"$D/80.nd"
tail -n 30 "$D/one-id.nd" >"$D/30.nd"
st=$(put insurer budget-1 "$D/80.nd")
check "80 identifiers of a budget of 100: stored (201, got $st)" [ "$st" = 201 ]
check "... the delivery.stored event counts 80 identifiers of sgb5/insured" \
    [ "$(sql_trust "SELECT details->'identifiers'->>'sgb5/insured' FROM vst.audit_log
                    WHERE action = 'delivery.stored' AND details->>'delivery_id' = 'budget-1'")" = 80 ]
st=$(put insurer budget-2 "$D/30.nd")
check "30 more: 429 identifier_budget_exhausted (got $st)" \
    is_problem "$st" 429 identifier_budget_exhausted
check "... with a Retry-After of hours, not seconds ($(hdr Retry-After))" \
    [ "$(hdr Retry-After)" -gt 3600 ]
check "... its delivery.failed event names the code" \
    [ "$(sql_trust "SELECT count(*) FROM vst.audit_log WHERE action = 'delivery.failed'
                    AND details->>'delivery_id' = 'budget-2'
                    AND details->>'code' = 'identifier_budget_exhausted'")" = 1 ]
st=$(put second budget-other "$D/80.nd")
check "another client has its own budget (201, got $st)" [ "$st" = 201 ]

# ---- the rate of the registration (issue 14): no restart from here on
PID0=$HTTPD_PID
"$VST_ADMIN" client add --name rated --ik 260326822 --cert "$STACK/certs/unknown.pem" \
    --rate-limit 5 >"$D/add.out" 2>&1
check "client add --rate-limit 5 registers the client ($(tr '\n' ' ' <"$D/add.out"))" \
    [ "$(sql_trust "SELECT rate_limit FROM vst.clients WHERE name = 'rated'")" = 5 ]
sts=
for _ in 1 2 3 4 5; do sts+="$(put unknown rated-1 "$D/20.nd") "; done
check "5 requests of a client registered with --rate-limit 5: served (201 200 200 200 200, got $sts)" \
    [ "$sts" = "201 200 200 200 200 " ]
st=$(put unknown rated-1 "$D/20.nd")
check "the 6th within the minute: 429 rate_limited (got $st)" is_problem "$st" 429 rate_limited
check "... with Retry-After in seconds ($(hdr Retry-After))" \
    eval '[[ "$(hdr Retry-After)" =~ ^[1-9][0-9]*$ ]]'
"$VST_ADMIN" client set rated --rate-limit 0 >"$D/set.out" 2>&1
check "client set rated --rate-limit 0 ($(tr '\n' ' ' <"$D/set.out"))" \
    [ "$(sql_trust "SELECT rate_limit FROM vst.clients WHERE name = 'rated'")" = 0 ]
sts=
for _ in 1 2 3 4 5 6 7 8; do sts+="$(put unknown rated-1 "$D/20.nd") "; done
check "... the next requests are served, no longer limited (8 x 200, got $sts)" \
    [ "$sts" = "200 200 200 200 200 200 200 200 " ]
check "... without restarting vst-httpd (pid $PID0, now $HTTPD_PID)" \
    both [ "$HTTPD_PID" = "$PID0" ] -- kill -0 "$PID0"
# And down again: a bucket holds at most the new rate, so of 3 requests in
# quick succession at 2 a minute one is refused.
"$VST_ADMIN" client set rated --rate-limit 2 >"$D/set2.out" 2>&1
sts=
for _ in 1 2 3; do sts+="$(put unknown rated-1 "$D/20.nd") "; done
check "client set rated --rate-limit 2: of the next 3 requests one is 429 (got $sts), still pid $PID0" \
    both [ "${sts/429/}" != "$sts" ] -- [ "$HTTPD_PID" = "$PID0" ]
"$VST_ADMIN" client set rated --rate-limit 0 >/dev/null 2>&1
"$VST_ADMIN" client list --json >"$D/list.json" 2>&1
check "client list --json: rated has rate_limit 0, insurer null (the default)" \
    python3 -c 'import json,sys; c={x["name"]: x for x in json.load(open(sys.argv[1]))}
sys.exit(0 if c["rated"]["rate_limit"] == 0 and c["insurer"]["rate_limit"] is None
         and "rate_limit" in c["insurer"] else 1)' "$D/list.json"
check "audit: client.updated of rated with the old and the new rate, one per change (5>0, 0>2, 2>0)" \
    [ "$(sql_trust "SELECT string_agg(details->'rate_limit'->>'old' || '>'
                           || (details->'rate_limit'->>'new'), ',' ORDER BY seq)
                    FROM vst.audit_log WHERE action = 'client.updated' AND client = 'rated'")" = "5>0,0>2,2>0" ]
check "every store row belongs to a receipt with its record count" store_matches_receipts

# ---- the registration cache (issue 14, sql/trust/0014): registrations are
# served from memory while vst-httpd watches vst.clients, and a change
# applies to the next request — also after the watcher lost its session.
watcher_pid() {
    sql_trust "SELECT pid FROM pg_stat_activity WHERE datname = current_database()
                 AND usename = 'vst_httpd' AND query = 'LISTEN vst_clients'"
}
wait_for() { # wait_for SECONDS COMMAND...: until COMMAND succeeds
    local i
    for ((i = 0; i < $1 * 10; i++)); do "${@:2}" && return 0; sleep 0.1; done
    return 1
}
cache_on() { [ "$(metric vst_registration_cache_on)" = 1 ]; }
check "the registration cache is on: vst-httpd LISTENs on vst_clients ($(watcher_pid))" \
    both cache_on -- [ -n "$(watcher_pid)" ]
H0=$(metric 'vst_registration_lookups_total{source="cache"}')
sts=
for _ in 1 2 3 4; do sts+="$(put unknown cached-1 "$D/20.nd") "; done
H1=$(metric 'vst_registration_lookups_total{source="cache"}')
check "requests of a registered client are served ($sts) with its registration from the cache ($H0 -> $H1 hits)" \
    both [ "$sts" = "201 200 200 200 " ] -- [ "$((H1 - H0))" -ge 3 ]
# second's registration is in the cache too: its requests are refused
# (429: its rate), but only after their client was known.
"$VST_ADMIN" client revoke second >"$D/revoke.out" 2>&1
st=$(put second cached-2 "$D/20.nd")
check "a revocation applies to the very next request: 403 client_revoked (got $st)" \
    is_problem "$st" 403 client_revoked
# The watcher's session goes away: the cache is off until it is back, and a
# change made meanwhile applies at once all the same.
W0=$(watcher_pid)
sql_trust "SELECT pg_terminate_backend($W0)" >/dev/null
check "with the watcher's session terminated the cache turns off" wait_for 5 eval '! cache_on'
H2=$(metric 'vst_registration_lookups_total{source="cache"}')
st=$(put unknown cached-1 "$D/20.nd") # a replay: no identifiers of the budget spent
check "... meanwhile every request looks its client up in the trust DB (got $st, cache hits $H2 -> $(metric 'vst_registration_lookups_total{source="cache"}'))" \
    both [ "$st" = 200 ] -- [ "$(metric 'vst_registration_lookups_total{source="cache"}')" = "$H2" ]
check "the watcher comes back on a new session of its own and the cache on again" \
    wait_for 10 eval 'cache_on && [ -n "$(watcher_pid)" ] && [ "$(watcher_pid)" != "$W0" ]'
echo "# the watcher's session: $W0, then $(watcher_pid)"
"$VST_ADMIN" client revoke rated >/dev/null 2>&1
st=$(put unknown rated-9 "$D/20.nd")
check "... and a revocation then applies to the next request as before (got $st)" \
    is_problem "$st" 403 client_revoked
check "vst-httpd was not restarted for any of it (pid $PID0)" \
    both [ "$HTTPD_PID" = "$PID0" ] -- kill -0 "$PID0"

e2e_summary
