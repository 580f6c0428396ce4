#!/usr/bin/env bash
# End-to-end suite of the delivery API (issue 5, DESIGN.md §5, §6, §7, §9):
# real vst-keyd and vst-httpd, real TLS, real PostgreSQL (the stack of
# stack.sh). Checks the store rows field by field against the profile's
# transformation (expect_rows.py), receipts and their signatures, replay,
# conflict, every 4xx of §6 with nothing stored, health and metrics, the
# audit log, the logs and concurrent deliveries. The TLS policy has its own
# suite, tests/e2e/test_tls.sh.
#
# Run by CTest (e2e_api) with the environment of tests/CMakeLists.txt; by
# hand: PGHOST=... PGPORT=... PGUSER=... VST_HTTPD=... ./tests/e2e/test_api.sh
# (KEEP_STACK=1 keeps the temporary directory for a post-mortem).
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
source "$E2E_DIR/stack.sh"
source "$E2E_DIR/api_lib.sh"

trap stack_down EXIT

T0=$SECONDS
stack_up_or_bail
D=$STACK/data
mkdir -p "$D"
C=$STACK/certs
AUDIT_DSN="host=$PGHOST port=$PGPORT user=vst_auditor dbname=$TRUST_DB"

verify_receipt() { # FILE: vst-audit verify-receipt with the pinned key
    "$VST_AUDIT" --dsn "$AUDIT_DSN" verify-receipt "$1" --public-key "$SIGNING_KEY" \
        >"$D/verify.out" 2>&1
}

# ---------------------------------------------------------------------------
# Test data: vst-gen records with repeated persons, plus hand-made records
# for the corners (the same digits as LANR, IK and BSNR; a KVNR with blanks
# and a lower-case letter; IK providers; no provider; integer status; edges).
"$VST_GEN" --records 300 --seed 20261 --persons 120 -o "$D/gen.nd" &&
    python3 "$EXPECT" hand-sgb5 "$D/hand.nd" &&
    python3 "$EXPECT" hand-measles "$D/measles.nd" &&
    python3 "$EXPECT" bad "$D/bad.nd" "$D/bad.expected" "$D/bad.values" ||
    { not_ok "test data written"; e2e_summary; exit 1; }
cat "$D/gen.nd" "$D/hand.nd" >"$D/main.nd"
N_MAIN=$(wc -l <"$D/main.nd")
SHA_MAIN=$(sha256sum "$D/main.nd" | cut -d' ' -f1)

# ---------------------------------------------------------------------------
echo "# a valid delivery with curl"
ID0=$(max_id sgb5.records)
st=$(put insurer api-curl-1 "$D/main.nd")
cp "$STACK/resp.body" "$D/r-curl.json"
check "PUT valid delivery ($N_MAIN records, curl) -> 201" [ "$st" = 201 ]
check "201 is application/json" [ "$(hdr Content-Type)" = application/json ]
R=$D/r-curl.json
check "receipt: delivery_id" jeq "$R" delivery_id api-curl-1
check "receipt: client" jeq "$R" client insurer
check "receipt: profile sgb5" jeq "$R" profile sgb5
check "receipt: record_count $N_MAIN" jeq "$R" record_count "$N_MAIN"
check "receipt: body_sha256 = sha256sum of the file" jeq "$R" body_sha256 "$SHA_MAIN"
check "receipt: key_version 1" jeq "$R" key_version 1
check "receipt v2: withheld_count 0, right after record_count (issue 12)" \
    grep -q "\"record_count\":$N_MAIN,\"withheld_count\":0," "$R"
SEQ=$(sql_trust "SELECT seq FROM vst.audit_log WHERE action = 'delivery.stored'
                 AND client = 'insurer' AND details->>'delivery_id' = 'api-curl-1'")
check "receipt: audit_seq is the delivery.stored audit row" \
    eval '[ -n "$SEQ" ] && jeq "$R" audit_seq "$SEQ" && [ "$(receipt_col insurer api-curl-1 audit_seq)" = "$SEQ" ]'
check "receipt: received_at <= stored_at" \
    eval '[ -n "$(jget "$R" received_at)" ] && ! [[ "$(jget "$R" stored_at)" < "$(jget "$R" received_at)" ]]'
check "receipt: signature verifies (vst-audit verify-receipt, pinned key)" verify_receipt "$R"
sed 's/"record_count":[0-9]*/"record_count":1/' "$R" >"$D/r-forged.json"
check "receipt: a forged record_count does not verify" eval '! verify_receipt "$D/r-forged.json"'
sed 's/"withheld_count":0/"withheld_count":1/' "$R" >"$D/r-forged.json"
check "receipt: a forged withheld_count does not verify" eval '! verify_receipt "$D/r-forged.json"'
sed 's/"withheld_count":0,//' "$R" >"$D/r-forged.json"
check "receipt: without its withheld_count (passed off as v1) it does not verify" \
    eval '! verify_receipt "$D/r-forged.json"'
check "the receipt row: v2, withheld_count 0" \
    eval '[ "$(receipt_col insurer api-curl-1 "receipt_version || '\''/'\'' || r.withheld_count")" = 2/0 ]'
check "delivery.stored carries withheld_count 0" \
    eval '[ "$(sql_trust "SELECT details->>'\''withheld_count'\'' FROM vst.audit_log WHERE seq = $SEQ")" = 0 ]'
check "the delivery stored $N_MAIN rows" \
    eval '[ "$(sql_store "SELECT count(*) FROM sgb5.records WHERE id > $ID0")" = "$N_MAIN" ]'
REF=$(receipt_col insurer api-curl-1 delivery_ref)
sgb5_rows "$ID0" >"$D/rows-curl.json"
py_checks "store rows (curl): " python3 "$EXPECT" sgb5 "$D/main.nd" "$D/rows-curl.json" "$REF"
# The row checker itself: a changed birth year and a swapped pseudonym fail it.
python3 - "$D/rows-curl.json" "$D/rows-tampered.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rows[5]["birth_year"] += 1
rows[7]["pseudonym"], rows[8]["pseudonym"] = rows[8]["pseudonym"], rows[7]["pseudonym"]
with open(sys.argv[2], "w") as f:
    f.write("".join(json.dumps(r) + "\n" for r in rows))
PY
check "the row checker detects a changed row" \
    eval '! python3 "$EXPECT" sgb5 "$D/main.nd" "$D/rows-tampered.json" "$REF" >/dev/null'

# ---------------------------------------------------------------------------
echo "# the same file with vst-send"
SEND=(--url "$URL" --ca "$C/ca.pem" --cert "$C/insurer.pem" --key "$C/insurer.key"
    --public-key "$SIGNING_KEY")
ID1=$(max_id sgb5.records)
"$VST_SEND" "${SEND[@]}" --receipt-out "$D/r-send.json" api-send-1 "$D/main.nd" \
    >"$D/send.out" 2>"$D/send.err"
rc=$?
check "vst-send -> exit 0" [ "$rc" = 0 ]
check "vst-send: stored (201) and the receipt verified with the pinned key" \
    eval 'grep -q "stored (201" "$D/send.out" && grep -q "signature valid (pinned" "$D/send.out"'
check "vst-send's receipt verifies with vst-audit verify-receipt" verify_receipt "$D/r-send.json"
check "vst-send's receipt: record_count $N_MAIN, same body_sha256" \
    eval 'jeq "$D/r-send.json" record_count "$N_MAIN" && jeq "$D/r-send.json" body_sha256 "$SHA_MAIN"'
sgb5_rows "$ID1" >"$D/rows-send.json"
REF_SEND=$(receipt_col insurer api-send-1 delivery_ref)
check "store rows (vst-send) equal the profile's transformation (all sub-checks)" \
    eval 'python3 "$EXPECT" sgb5 "$D/main.nd" "$D/rows-send.json" "$REF_SEND" >"$D/rows-send.out"'
grep '^FAIL' "$D/rows-send.out" | sed 's/^/#   /'
py_checks "" python3 "$EXPECT" same-pseudonyms "$D/rows-curl.json" "$D/rows-send.json"
S=$(snapshot)
"$VST_SEND" "${SEND[@]}" --resume api-send-1 "$D/main.nd" >"$D/resume.out" 2>"$D/resume.err"
rc=$?
check "vst-send --resume of a stored delivery -> exit 0" [ "$rc" = 0 ]
check "vst-send --resume: found, verified, nothing sent" \
    eval 'grep -q "already stored (found by --resume)" "$D/resume.out" && grep -q "signature valid" "$D/resume.out"'
check "vst-send --resume: no second copy" same_snapshot "$S"

# ---------------------------------------------------------------------------
echo "# replay, conflict, GET"
S=$(snapshot)
st=$(put insurer api-curl-1 "$D/main.nd")
check "replay (same id, same body) -> 200" [ "$st" = 200 ]
check "replay: byte-identical receipt" cmp -s "$STACK/resp.body" "$D/r-curl.json"
check "replay: nothing stored" same_snapshot "$S"
head -n -1 "$D/main.nd" >"$D/changed.nd"
refused "same id, changed body" 409 delivery_conflict insurer PUT /v1/deliveries/api-curl-1 \
    -H 'Content-Type: application/x-ndjson' --data-binary "@$D/changed.nd"
check "after the 409 the original rows are untouched" \
    eval '[ "$(sql_store "SELECT count(*) FROM sgb5.records WHERE delivery_ref = '\''$REF'\''")" = "$N_MAIN" ]'
st=$(call insurer GET /v1/deliveries/api-curl-1)
check "GET /v1/deliveries/{id} -> 200" [ "$st" = 200 ]
check "GET: byte-identical receipt" cmp -s "$STACK/resp.body" "$D/r-curl.json"
st=$(call second GET /v1/deliveries/api-curl-1)
check "GET of another client's delivery -> 404 not_found" is_problem "$st" 404 not_found
st=$(call insurer GET /v1/deliveries/no-such-delivery)
check "GET of an unknown id -> 404 not_found" is_problem "$st" 404 not_found
# One connection for several requests: libmicrohttpd closed it after every
# GET answered in the access handler's first call (each receipt poll a new
# TLS handshake). curl prints, per URL, the connections it had to open.
conns() { api "$@" -o /dev/null -o /dev/null -o /dev/null -w '%{num_connects} ' 2>>"$STACK/curl.err"; }
check "GETs of receipts (200 and 404) share one kept-alive connection" \
    eval '[ "$(conns insurer "$URL/v1/deliveries/api-curl-1" "$URL/v1/deliveries/no-such-delivery" "$URL/v1/deliveries/api-curl-1")" = "1 0 0 " ]'
# (--next: the PUT's options apply to the second transfer only.)
get_then_put() {
    local tls=(--cacert "$STACK/certs/ca.pem" --cert "$STACK/certs/insurer.pem"
        --key "$STACK/certs/insurer.key" -o /dev/null -w '%{num_connects} ')
    curl -sS "${tls[@]}" "$URL/v1/deliveries/api-curl-1" --next "${tls[@]}" -X PUT \
        -H "Content-Type: application/x-ndjson" --data-binary @"$D/main.nd" \
        "$URL/v1/deliveries/api-curl-1" 2>>"$STACK/curl.err"
}
check "a PUT after a GET goes on the same connection" eval '[ "$(get_then_put)" = "1 0 " ]'
check "/healthz twice on one connection" \
    eval '[ "$(conns none "$URL/healthz" "$URL/healthz")" = "1 0 " ]'

# ---------------------------------------------------------------------------
echo "# a receipt signed before issue 12 (v1) is answered as it was signed"
old_receipt "$D" && st=$(call insurer GET /v1/deliveries/api-old-v1)
cp "$STACK/resp.body" "$D/r-old.json"
check "GET of a v1 receipt -> 200" [ "${st:-}" = 200 ]
check "the v1 receipt has no withheld_count and no public_key (another key signed it)" \
    eval '! grep -q withheld "$D/r-old.json" && ! grep -q public_key "$D/r-old.json"'
check "the v1 receipt verifies with its key (vst-audit verify-receipt, event matched)" \
    eval '"$VST_AUDIT" --dsn "$AUDIT_DSN" verify-receipt "$D/r-old.json" --public-key \
          "$(cat "$D/old.pub")" >"$D/verify-old.out" 2>&1 && grep -q "receipt v1" "$D/verify-old.out"'
check "the v1 receipt is not the stack key's" eval '! verify_receipt "$D/r-old.json"'

# ---------------------------------------------------------------------------
echo "# every 4xx of §6 stores nothing"
"$VST_GEN" --records 3 --seed 77 -o "$D/small.nd"
NDJSON=(-H 'Content-Type: application/x-ndjson' --data-binary "@$D/small.nd")
refused "delivery id with a blank (bad%20id)" 400 malformed_request insurer PUT \
    /v1/deliveries/bad%20id "${NDJSON[@]}"
refused "delivery id of 129 characters" 400 malformed_request insurer PUT \
    "/v1/deliveries/$(printf 'x%.0s' $(seq 129))" "${NDJSON[@]}"
refused "delivery id shaped like a pseudonym (32 hex)" 400 malformed_request insurer PUT \
    /v1/deliveries/0123456789abcdef0123456789abcdef "${NDJSON[@]}"
refused "delivery id shaped like a KVNR" 400 malformed_request insurer PUT \
    /v1/deliveries/A123456780 "${NDJSON[@]}"
: >"$D/empty.nd"
refused "empty body" 400 empty_delivery insurer PUT /v1/deliveries/api-empty-1 \
    -H 'Content-Type: application/x-ndjson' --data-binary "@$D/empty.nd"
refused "unknown ?profile=" 400 unknown_profile insurer PUT \
    "/v1/deliveries/api-prof-1?profile=nosuchprofile" "${NDJSON[@]}"
refused "no client certificate" 401 client_certificate_required none PUT \
    /v1/deliveries/api-auth-1 "${NDJSON[@]}"
refused "client certificate of a foreign CA" 401 client_certificate_required foreign PUT \
    /v1/deliveries/api-auth-1 "${NDJSON[@]}"
refused "valid but unregistered certificate" 403 client_unknown unknown PUT \
    /v1/deliveries/api-auth-1 "${NDJSON[@]}"
refused "revoked certificate" 403 client_revoked revoked PUT \
    /v1/deliveries/api-auth-1 "${NDJSON[@]}"
refused "GET with a revoked certificate" 403 client_revoked revoked GET \
    /v1/deliveries/api-curl-1
check "authentication failures are audited (DESIGN.md §8)" \
    eval '[ "$(sql_trust "SELECT count(*) FROM vst.audit_log WHERE action ILIKE '\''%auth%'\''")" -gt 0 ]'
refused "Content-Type text/plain" 415 unsupported_media_type insurer PUT \
    /v1/deliveries/api-type-1 -H 'Content-Type: text/plain' --data-binary "@$D/small.nd"
refused "curl's default form Content-Type" 415 unsupported_media_type insurer PUT \
    /v1/deliveries/api-type-2 --data-binary "@$D/small.nd"
refused "DELETE on a delivery" 405 method_not_allowed insurer DELETE /v1/deliveries/api-curl-1
check "405 names the allowed methods" eval '[ -n "$(hdr Allow)" ]'
check "the delivery is still there after DELETE" \
    eval '[ "$(call insurer GET /v1/deliveries/api-curl-1)" = 200 ]'
refused "unknown path" 404 not_found insurer GET /v1/nothing-here
refused "PUT on an unknown path" 404 not_found insurer PUT /v1/deliveries/a/b "${NDJSON[@]}"

echo "# 422: several bad lines"
refused "a delivery with 8 bad lines among 2 good ones" 422 invalid_records insurer PUT \
    /v1/deliveries/api-bad-1 -H 'Content-Type: application/x-ndjson' --data-binary "@$D/bad.nd"
cp "$STACK/resp.body" "$D/r-bad.json"
py_checks "" python3 "$EXPECT" errors "$D/r-bad.json" "$D/bad.expected"
check "422 body holds no value of the input (KVNRs, names, dates, LANR, IK, BSNR, key)" \
    absent "$D/bad.values" "$D/r-bad.json"
check "422: delivery.rejected audit event of client insurer with errors_total 8" \
    eval '[ "$(audit_events delivery.rejected insurer api-bad-1 "AND details->>'\''errors_total'\'' = '\''8'\''")" = 1 ]'

# ---------------------------------------------------------------------------
echo "# profile measles"
M0=$(max_id measles.records)
st=$(put insurer "api-measles-1?profile=measles" "$D/measles.nd")
cp "$STACK/resp.body" "$D/r-measles.json"
check "?profile=measles with valid records -> 201" [ "$st" = 201 ]
check "measles receipt: profile measles, 3 records" \
    eval 'jeq "$D/r-measles.json" profile measles && jeq "$D/r-measles.json" record_count 3'
check "measles receipt verifies" verify_receipt "$D/r-measles.json"
measles_rows "$M0" >"$D/rows-measles.json"
py_checks "" python3 "$EXPECT" measles "$D/measles.nd" "$D/rows-measles.json" \
    "$(receipt_col insurer api-measles-1 delivery_ref)"
py_checks "" python3 "$EXPECT" disjoint "$D/rows-curl.json" "$D/rows-measles.json"

# ---------------------------------------------------------------------------
echo "# TLS"
# The policy (versions, suites, groups, signatures) is tests/e2e/test_tls.sh.
check "a delivery GET over TLS 1.2 (curl) works" \
    eval '[ "$(call insurer GET /v1/deliveries/api-curl-1 --tlsv1.2 --tls-max 1.2)" = 200 ]'

# ---------------------------------------------------------------------------
echo "# health and metrics"
check "/healthz -> 200" eval '[ "$(call none GET /healthz)" = 200 ]'
check "/readyz -> 200" eval '[ "$(call none GET /readyz)" = 200 ]'
check "/metrics without a client certificate -> 401" \
    eval '[ "$(call none GET /metrics)" = 401 ]'
check "/metrics with an insurer's certificate -> 403 monitoring_only" \
    eval 'is_problem "$(call insurer GET /metrics)" 403 monitoring_only'
st=$(call monitor GET /metrics)
cp "$STACK/resp.body" "$D/metrics.txt"
check "/metrics -> 200 text/plain" eval '[ "$st" = 200 ] && [[ "$(hdr Content-Type)" == text/plain* ]]'
metric() { # NAME{LABELS}: its value, or empty
    awk -v k="$1" '$1 == k {print $2}' "$D/metrics.txt"
}
check "/metrics: vst_deliveries_total{result=\"stored\"} > 0" \
    eval 'v=$(metric "vst_deliveries_total{result=\"stored\"}"); [ -n "$v" ] && [ "$v" -gt 0 ]'
check "/metrics: vst_records_stored_total >= 2 x $N_MAIN" \
    eval 'v=$(metric vst_records_stored_total); [ -n "$v" ] && [ "$v" -ge $((2 * N_MAIN)) ]'
check "/metrics: vst_records_withheld_total 0 (no objection)" \
    eval '[ "$(metric vst_records_withheld_total)" = 0 ]'
for code in id_check_digit:2 invalid_date:1 unknown_field:2 line_too_long:1 invalid_utf8:1 \
    duplicate_key:1; do
    check "/metrics: vst_record_rejections_total{code=\"${code%:*}\"} = ${code#*:}" \
        eval '[ "$(metric "vst_record_rejections_total{code=\"${code%:*}\"}")" = "${code#*:}" ]'
done
check "/metrics: a latency histogram" grep -q '^vst_delivery_duration_seconds_bucket{le="+Inf"} [1-9]' "$D/metrics.txt"
# Where a stored delivery's time went (issue 14): every phase has been
# timed, and the phases add up to no more than the deliveries' total time.
check "/metrics: vst_delivery_phase_seconds_total for slot, keyd, copy, prepare, decide, commit, sign, each > 0" \
    python3 -c 'import re, sys
t = open(sys.argv[1]).read()
v = dict(re.findall(r"^vst_delivery_phase_seconds_total\{phase=\"(\w+)\"\} (\S+)$", t, re.M))
names = "slot keyd copy prepare decide commit sign".split()
sys.exit(not all(float(v.get(n, 0)) > 0 for n in names))' "$D/metrics.txt"
check "/metrics: the phases sum to at most the total time of all deliveries" \
    python3 -c 'import re, sys
t = open(sys.argv[1]).read()
ph = sum(float(v) for v in re.findall(r"^vst_delivery_phase_seconds_total\{[^}]*\} (\S+)$", t, re.M))
tot = float(re.search(r"^vst_delivery_duration_seconds_sum (\S+)$", t, re.M).group(1))
sys.exit(not 0 < ph <= tot * 1.001 + 0.001)' "$D/metrics.txt"

# ---------------------------------------------------------------------------
echo "# concurrency"
S_ROWS=$(sql_store "SELECT count(*) FROM sgb5.records")
S_REC=$(sql_trust "SELECT count(*) FROM vst.receipts")
pids=()
for i in 1 2 3 4 5 6 7 8; do
    "$VST_GEN" --records 150 --seed $((500 + i)) -o "$D/par-$i.nd"
done
for i in 1 2 3 4 5 6 7 8; do
    api insurer -o "$D/par-$i.json" -w '%{http_code}' -X PUT \
        -H 'Content-Type: application/x-ndjson' --data-binary "@$D/par-$i.nd" \
        "$URL/v1/deliveries/api-par-$i" >"$D/par-$i.status" 2>>"$STACK/curl.err" &
    pids+=($!)
done
wait "${pids[@]}"
statuses() { # FILE...: the HTTP statuses, sorted, on one line
    local f
    for f in "$@"; do cat "$f"; echo; done | sort | tr '\n' ' '
}
check "8 different deliveries in parallel -> all 201" \
    eval '[ "$(statuses "$D"/par-?.status)" = "201 201 201 201 201 201 201 201 " ]'
check "8 parallel deliveries: 8 x 150 rows and 8 receipts more" \
    eval '[ "$(sql_store "SELECT count(*) FROM sgb5.records")" = $((S_ROWS + 1200)) ] &&
          [ "$(sql_trust "SELECT count(*) FROM vst.receipts")" = $((S_REC + 8)) ]'
par_rows_ok() {
    local i ref
    for i in 1 2 3 4 5 6 7 8; do
        ref=$(receipt_col insurer "api-par-$i" delivery_ref)
        [ -n "$ref" ] && jeq "$D/par-$i.json" record_count 150 &&
            [ "$(sql_store "SELECT count(*) FROM sgb5.records WHERE delivery_ref = '$ref'")" = 150 ] ||
            return 1
    done
}
check "8 parallel deliveries: each receipt and delivery_ref has its own 150 rows" par_rows_ok
"$VST_GEN" --records 3000 --seed 909 --persons 500 -o "$D/twice.nd"
S_ROWS=$(sql_store "SELECT count(*) FROM sgb5.records")
S_REC=$(sql_trust "SELECT count(*) FROM vst.receipts")
pids=()
for k in a b; do
    api insurer -o "$D/twice-$k.json" -w '%{http_code}' -X PUT \
        -H 'Content-Type: application/x-ndjson' --data-binary "@$D/twice.nd" \
        "$URL/v1/deliveries/api-twice-1" >"$D/twice-$k.status" 2>>"$STACK/curl.err" &
    pids+=($!)
done
wait "${pids[@]}"
check "the same id twice in parallel -> one 201 and one 200" \
    eval '[ "$(statuses "$D"/twice-?.status)" = "200 201 " ]'
check "the same id twice in parallel: identical receipts" cmp -s "$D/twice-a.json" "$D/twice-b.json"
check "the same id twice in parallel: exactly one copy stored" \
    eval '[ "$(sql_store "SELECT count(*) FROM sgb5.records")" = $((S_ROWS + 3000)) ] &&
          [ "$(sql_trust "SELECT count(*) FROM vst.receipts")" = $((S_REC + 1)) ]'

# ---------------------------------------------------------------------------
echo "# 413 (--max-delivery-bytes 2000)"
httpd_stop
if httpd_start --max-delivery-bytes 2000; then
    "$VST_GEN" --records 12 --seed 31 -o "$D/big.nd"
    "$VST_GEN" --records 1 --seed 32 -o "$D/tiny.nd"
    refused "$(stat -c %s "$D/big.nd")-byte body with Content-Length" 413 payload_too_large \
        insurer PUT /v1/deliveries/api-big-1 -H 'Content-Type: application/x-ndjson' \
        --data-binary "@$D/big.nd"
    refused "$(stat -c %s "$D/big.nd")-byte body, chunked" 413 payload_too_large \
        insurer PUT /v1/deliveries/api-big-2 -H 'Content-Type: application/x-ndjson' \
        -H 'Transfer-Encoding: chunked' --data-binary "@$D/big.nd"
    check "a $(stat -c %s "$D/tiny.nd")-byte delivery under the limit -> 201" \
        eval '[ "$(put insurer api-tiny-1 "$D/tiny.nd")" = 201 ]'
else
    not_ok "vst-httpd restarts with --max-delivery-bytes 2000"
fi

echo "# 429 (--rate-limit 3)"
httpd_stop
if httpd_start --rate-limit 3; then
    for k in 1 2 3; do
        check "rate limit 3/min: request $k -> 200 (replay)" \
            eval '[ "$(put insurer api-tiny-1 "$D/tiny.nd")" = 200 ]'
    done
    refused "4th request in quick succession" 429 rate_limited insurer PUT \
        /v1/deliveries/api-rate-1 -H 'Content-Type: application/x-ndjson' \
        --data-binary "@$D/tiny.nd"
    check "429 carries Retry-After (seconds > 0)" eval '[[ "$(hdr Retry-After)" =~ ^[1-9][0-9]*$ ]]'
    check "the rate is per client: another client is not limited" \
        eval '[ "$(put second api-rate-2 "$D/tiny.nd")" = 201 ]'
else
    not_ok "vst-httpd restarts with --rate-limit 3"
fi

# ---------------------------------------------------------------------------
echo "# audit log and logs: no identifier, no pseudonym"
check "audit: delivery.received of client insurer for api-curl-1" \
    eval '[ "$(audit_events delivery.received insurer api-curl-1)" = 1 ]'
check "audit: delivery.stored of client insurer for api-curl-1 (once: not for the replay or the 409)" \
    eval '[ "$(audit_events delivery.stored insurer api-curl-1)" = 1 ]'
check "audit: delivery.stored of client insurer for api-send-1" \
    eval '[ "$(audit_events delivery.stored insurer api-send-1)" = 1 ]'
check "audit: delivery.rejected of client insurer for api-bad-1" \
    eval '[ "$(audit_events delivery.rejected insurer api-bad-1)" = 1 ]'
check "audit: the received event of the measles delivery names its profile" \
    eval '[ "$(audit_events delivery.received insurer api-measles-1 "AND details->>'\''profile'\'' = '\''measles'\''")" = 1 ]'
# Every delivery that was received has an outcome event (stored or
# rejected), so that an auditor can tell a refusal from a crash.
no_outcome() {
    sql_trust "SELECT string_agg(r.details->>'delivery_id', ' ' ORDER BY r.seq)
               FROM vst.audit_log r WHERE r.action = 'delivery.received' AND NOT EXISTS
               (SELECT FROM vst.audit_log o WHERE o.action IN ('delivery.stored', 'delivery.rejected')
                AND o.client IS NOT DISTINCT FROM r.client AND o.seq > r.seq
                AND o.details->>'delivery_id' = r.details->>'delivery_id')"
}
check "audit: every delivery.received has a delivery.stored or delivery.rejected event (DESIGN.md §8)" \
    eval 'l=$(no_outcome); [ -z "$l" ] || { echo "#   received without outcome: $l" >&2; false; }'
python3 "$EXPECT" values "$D"/main.nd "$D"/measles.nd "$D"/par-?.nd "$D"/twice.nd "$D"/small.nd \
    "$D"/big.nd "$D"/tiny.nd >"$D/values.txt"
cat "$D/bad.values" >>"$D/values.txt"
python3 "$EXPECT" stems "$D"/main.nd "$D"/par-?.nd "$D"/twice.nd "$D"/small.nd "$D"/big.nd \
    "$D"/tiny.nd >"$D/stems.txt"
# The input's values anywhere; a LANR's identifying digits as a word.
no_values() { absent "$D/values.txt" "$@" && absent_words "$D/stems.txt" "$@"; }
sql_store "SELECT pseudonym FROM sgb5.records UNION SELECT provider_pseudonym FROM sgb5.records
           WHERE provider_pseudonym IS NOT NULL UNION SELECT practice_pseudonym FROM sgb5.records
           WHERE practice_pseudonym IS NOT NULL UNION SELECT pseudonym FROM measles.records" \
    >"$D/pseudonyms.txt"
check "test values collected ($(wc -l <"$D/values.txt") values, $(wc -l <"$D/pseudonyms.txt") pseudonyms)" \
    eval '[ "$(wc -l <"$D/values.txt")" -gt 1000 ] && [ "$(wc -l <"$D/pseudonyms.txt")" -gt 1000 ]'
psql -qAtX -d "$TRUST_DB" -c "SELECT * FROM vst.audit_log ORDER BY seq" >"$D/audit.txt"
check "audit: $(wc -l <"$D/audit.txt") rows hold no KVNR, LANR, IK, BSNR, name or date of the input" \
    no_values "$D/audit.txt"
check "audit: no pseudonym of the store" absent "$D/pseudonyms.txt" "$D/audit.txt"
check "vst-httpd and vst-keyd logs are not empty" \
    eval '[ -s "$STACK/httpd.log" ] && [ -s "$STACK/keyd.log" ]'
check "vst-httpd's log holds no identifier, name, street, city or birth date" \
    no_values "$STACK/httpd.log"
check "vst-keyd's log holds no identifier, name, street, city or birth date" \
    no_values "$STACK/keyd.log" "$STACK/events.jsonl"
check "the logs hold no pseudonym" absent "$D/pseudonyms.txt" "$STACK/httpd.log" "$STACK/keyd.log"
check "vst-httpd stayed up (no sanitizer report)" \
    eval 'kill -0 "$HTTPD_PID" 2>/dev/null && ! grep -q "ERROR: [A-Za-z]*Sanitizer\|runtime error:" "$STACK/httpd.log" "$STACK/keyd.log"'

echo "# $((SECONDS - T0)) s"
e2e_summary
