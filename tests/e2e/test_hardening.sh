#!/usr/bin/env bash
# vst-httpd findings of the issue-8 review, each shown against real
# daemons over real mutual TLS:
#   finding 7  a client with a UTF-8 name ("AOK Baden-Württemberg")
#              delivers end to end (before: every delivery a retried 503);
#   finding 9  a percent-encoded NUL (or any encoding) in the delivery id
#              is refused, not truncated into another id;
#   low        a certificate whose extended key usage excludes clientAuth is
#              refused; an id with a KVNR glued into it is refused; a replay
#              with another ?profile= is a conflict, not the old receipt;
#              replays and conflicts are audited; refusals are logged
#              throttled.
set -uo pipefail
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
source "$E2E_DIR/stack.sh"
source "$E2E_DIR/api_lib.sh"
source "$E2E_DIR/resilience_lib.sh"
trap stack_down EXIT

stack_up_or_bail
D=$STACK/data
mkdir -p "$D"
C=$STACK/certs
AUDIT_DSN="host=$PGHOST port=$PGPORT user=vst_auditor dbname=$TRUST_DB"
"$VST_GEN" --records 20 --seed 7707 -o "$D/20.nd" || not_ok "test data"
audit_count() { # ACTION CLIENT ID
    sql_trust "SELECT count(*) FROM vst.audit_log WHERE action = '$1'
               AND client IS NOT DISTINCT FROM $2 AND details->>'delivery_id' = '$3'"
}

# ---- finding 9: the delivery id is the raw path segment
R0=$(receipt_count)
T0=$(store_total)
st=$(call insurer PUT '/v1/deliveries/abc%00def' -H 'Content-Type: application/x-ndjson' \
    --data-binary "@$D/20.nd")
check "PUT /v1/deliveries/abc%00def -> 400 malformed_request (got $st)" \
    is_problem "$st" 400 malformed_request
check "... no receipt for \"abc\" or anything else, nothing stored" \
    [ "$(receipt_count)/$(store_total)" = "$R0/$T0" ]
for enc in 'abc%2Edef' 'abc%41' '%61bc' 'abc%2Fdef' 'abc%25'; do
    st=$(call insurer PUT "/v1/deliveries/$enc" -H 'Content-Type: application/x-ndjson' \
        --data-binary "@$D/20.nd")
    check "PUT /v1/deliveries/$enc (percent-encoded) -> 400 or 404, never stored (got $st)" \
        both grep -qE '^(400|404)$' <<<"$st" -- [ "$(receipt_count)" = "$R0" ]
done
st=$(call insurer GET '/v1/deliveries/abc%00def')
check "GET /v1/deliveries/abc%00def -> 400 (got $st)" is_problem "$st" 400 malformed_request

# ---- low: ids that carry an identifier, also glued to other characters
for id in AOKA123456780x x-A123456780-y 0123456789abcdef0123456789abcdefZ x123456601y \
    lanr-123456601 birth-1964-08-12 d12.08.1964 19640812x t1733326400; do
    st=$(put insurer "$id" "$D/20.nd")
    check "an id with an identifier inside ($id) -> 400 (got $st)" \
        is_problem "$st" 400 malformed_request
done
check "... none of them reached the audit log" \
    [ "$(sql_trust "SELECT count(*) FROM vst.audit_log WHERE details::text ~ 'A123456780|0123456789abcdef0123456789abcdef|123456601|1964|1733326400'")" = 0 ]
check "... nor the log" bash -c "! grep -qE 'A123456780|123456601|1964|1733326400' '$STACK/httpd.log'"
st=$(put insurer 2026Q4-2026-12.part_7 "$D/20.nd")
check "an id with periods and a month is fine (201, got $st)" [ "$st" = 201 ]

# ---- finding 7: a client with a UTF-8 name, end to end
NAME='AOK Baden-Württemberg'
"$VST_ADMIN" client add --name "$NAME" --ik 260326822 --cert "$C/unknown.pem" \
    >>"$STACK/admin.log" 2>&1 || not_ok "client add with a UTF-8 name"
st=$(put unknown utf8-1 "$D/20.nd")
cp "$STACK/resp.body" "$D/utf8.json"
check "a client named \"$NAME\" delivers: 201 (got $st: $(head -c 200 "$D/utf8.json"))" [ "$st" = 201 ]
check "... the receipt names the client exactly" jeq "$D/utf8.json" client "$NAME"
check "... the receipt verifies (vst-audit verify-receipt)" \
    "$VST_AUDIT" --dsn "$AUDIT_DSN" verify-receipt "$D/utf8.json" --public-key "$SIGNING_KEY"
check "... vst-send delivers and verifies its receipt" \
    "$VST_SEND" --url "$URL" --ca "$C/ca.pem" --cert "$C/unknown.pem" --key "$C/unknown.key" \
    --public-key "$SIGNING_KEY" --quiet utf8-2 "$D/20.nd"
check "... the audit log's delivery.stored event carries the name" \
    [ "$(audit_count delivery.stored "'$NAME'" utf8-1)" = 1 ]
check "... vst-audit verify is clean" "$VST_AUDIT" --dsn "$AUDIT_DSN" verify --public-key "$SIGNING_KEY"

# ---- low: a replay for another profile is a conflict; replays and
# conflicts are audited
st=$(put insurer replay-1 "$D/20.nd")
check "a delivery (201, got $st)" [ "$st" = 201 ]
st=$(put insurer replay-1 "$D/20.nd")
check "its identical replay -> 200 (got $st)" [ "$st" = 200 ]
check "... audited as delivery.replayed" [ "$(audit_count delivery.replayed "'insurer'" replay-1)" = 1 ]
st=$(put insurer 'replay-1?profile=measles' "$D/20.nd")
check "the same id and body for another ?profile= -> 409 delivery_conflict (got $st)" \
    is_problem "$st" 409 delivery_conflict
st=$(put insurer replay-1 "$D/20.nd" --data-binary $'\n')
check "the same id with another body -> 409 (got $st)" is_problem "$st" 409 delivery_conflict
check "... both conflicts are audited as delivery.conflict" \
    [ "$(audit_count delivery.conflict "'insurer'" replay-1)" = 2 ]

# ---- low: the client certificate's purpose
(
    cd "$C" || exit 1
    for p in serverAuth clientAuth; do
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "eku-$p.key" 2>/dev/null &&
            openssl req -new -key "eku-$p.key" -subj "/CN=eku-$p" -out "eku-$p.csr" 2>/dev/null &&
            printf 'extendedKeyUsage=%s\n' "$p" >"eku-$p.ext" &&
            openssl x509 -req -in "eku-$p.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
                -extfile "eku-$p.ext" -out "eku-$p.pem" 2>/dev/null || exit 1
    done
) || not_ok "EKU test certificates"
for p in serverAuth clientAuth; do
    "$VST_ADMIN" client add --name "eku-$p" --ik 260326822 --cert "$C/eku-$p.pem" \
        >>"$STACK/admin.log" 2>&1 || not_ok "client add eku-$p"
done
st=$(put eku-serverAuth eku-1 "$D/20.nd")
check "a registered certificate for serverAuth only (not a client certificate) -> 401 (got $st)" \
    is_problem "$st" 401 client_certificate_required
st=$(put eku-clientAuth eku-2 "$D/20.nd")
check "a registered certificate for clientAuth -> 201 (got $st)" [ "$st" = 201 ]

# ---- low: refusals are logged throttled (at most 30 a minute)
before=$(grep -c 'refused' "$STACK/httpd.log")
for i in $(seq 1 60); do
    api none -o /dev/null "$URL/v1/deliveries/x$i" 2>/dev/null
done
after=$(grep -c 'refused' "$STACK/httpd.log")
check "60 unauthenticated requests leave at most 31 log lines (got $((after - before)))" \
    [ $((after - before)) -le 31 ]
check "... and every one was still answered 401" \
    [ "$(api none -o /dev/null -w '%{http_code}' "$URL/v1/deliveries/x61")" = 401 ]

# ---- finding 4: /metrics only for monitoring; the loopback listener
MP=$(stack_free_port 19400)
httpd_stop
httpd_start --monitor-port "$MP" || not_ok "httpd with a monitoring listener"
mon() { curl -s -o "$D/mon.body" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$MP$1"; }
check "monitoring listener: /metrics 200 in plain HTTP on loopback" \
    both [ "$(mon /metrics)" = 200 ] -- grep -q '^vst_deliveries_total' "$D/mon.body"
check "monitoring listener: /readyz 200, /healthz 200" \
    [ "$(mon /readyz)/$(mon /healthz)" = 200/200 ]
check "monitoring listener: no delivery API there (404)" [ "$(mon /v1/deliveries/utf8-1)" = 404 ]
check "the HTTPS listener still refuses /metrics without a monitoring certificate (401)" \
    [ "$(api none -o /dev/null -w '%{http_code}' "$URL/metrics")" = 401 ]
check "/readyz needs no certificate and answers from the cached probe (200)" \
    [ "$(api none -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ]
if "$VST_HTTPD" --port "$(stack_free_port 19500)" --tls-cert "$C/server.pem" \
    --tls-key "$C/server.key" --client-ca "$C/ca.pem" --monitor-address 0.0.0.0 \
    --monitor-port "$(stack_free_port 19600)" --user "" >"$D/mon-any.out" 2>&1; then
    not_ok "a monitoring listener on a non-loopback address is refused at start"
else
    check "a monitoring listener on a non-loopback address is refused at start, in one line" \
        grep -q 'monitor-address must be a loopback' "$D/mon-any.out"
fi

check "vst-keyd and vst-httpd are still the same processes" \
    both kill -0 "$KEYD_PID" -- kill -0 "$HTTPD_PID"
e2e_summary
