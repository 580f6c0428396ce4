#!/usr/bin/env bash
# The concurrency acceptance test of issue 14 (DESIGN.md §14, §6-§8): 64
# concurrent clients over kept-alive mTLS (mixed_load.py, threads) send for
# a while a mix of many small deliveries (1-3 records), a few large ones
# that overlap them, identical replays, conflicting bodies under a stored
# id, invalid deliveries, and the same id sent twice at once (same body:
# one 201 and one 200 with the same receipt; another body: one 201 and one
# 409). 8 registered clients (rate limit 0 in their registration), 8
# threads each. Then, through public interfaces only (HTTP answers, the
# command lines, the tables as the superuser):
#   - every answer is the expected one (mixed_load.py judges each: status,
#     problem code, receipt fields, a replay's receipt identical to the
#     stored one, a 422 listing exactly the bad line, field and code);
#   - the receipts verify with vst-audit verify-receipt (pinned key; every
#     large one and an even spread of VERIFY others: ~0.2 s each under
#     ASan), and vst-audit verify passes on the whole chain;
#   - the trust DB holds exactly the acknowledged receipts (client, id,
#     record_count, body SHA-256, audit_seq) and none for a 422;
#   - no prepared store transaction is left;
#   - the store holds exactly the acknowledged rows: each receipt's
#     delivery_ref has record_count rows, no row without a receipt;
#   - exactly one delivery.stored event per receipt, and no other;
#   - vst-keyd and vst-httpd are the same live processes, no sanitizer
#     report in their logs.
# Prints the load's counts per answer and deliveries/s.
#
# Env: as stack.sh. VST_E2E_CONC_THREADS (64), VST_E2E_CONC_LARGE (records of
# a large delivery, 30000), VST_E2E_CONC_SECONDS (minimum load time, 12;
# the load stops after the large deliveries and at most 35 s),
# VST_E2E_CONC_SEED, VST_E2E_CONC_VERIFY (receipts checked with
# verify-receipt besides the large ones, 150), VST_E2E_CONC_HTTPD_OPTS.
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
source "$E2E_DIR/stack.sh"
source "$E2E_DIR/resilience_lib.sh"
trap stack_down EXIT

THREADS=${VST_E2E_CONC_THREADS:-64}
LARGE=${VST_E2E_CONC_LARGE:-30000}
MIN_S=${VST_E2E_CONC_SECONDS:-12}
SEED=${VST_E2E_CONC_SEED:-$$}
NCLIENTS=8
T0=$SECONDS

# 64 threads x 2 connections from 127.0.0.1; 8 threads of a client (two
# requests each at a race) may all be in progress at once.
# VST_E2E_CONC_HTTPD_OPTS adds options (e.g. "--db-lock-timeout 1" makes
# the racing attempts meet 409 delivery_in_progress, retried).
read -ra EXTRA <<<"${VST_E2E_CONC_HTTPD_OPTS:-}"
HTTPD_OPTS=(--per-ip-connections 256 --client-slots 16 "${EXTRA[@]}")
stack_up_or_bail
D=$STACK/conc
mkdir -p "$D"
AUDIT_DSN="host=$PGHOST port=$PGPORT user=vst_auditor dbname=$TRUST_DB"
echo "# stack in $STACK, https on $URL; seed $SEED"

# ---- 8 clients, each with its own certificate from the stack's CA
CLIENT_ARGS=()
for i in $(seq 1 $NCLIENTS); do
    c=conc$i
    (
        cd "$STACK/certs" &&
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$c.key" 2>/dev/null &&
            openssl req -new -key "$c.key" -subj "/CN=$c" -out "$c.csr" 2>/dev/null &&
            openssl x509 -req -in "$c.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
                -out "$c.pem" 2>/dev/null
    ) && "$VST_ADMIN" client add --name "$c" --ik 260326822 --cert "$STACK/certs/$c.pem" \
        --rate-limit 0 >>"$STACK/admin.log" 2>&1 ||
        { not_ok "client $c registered"; e2e_summary; exit 1; }
    CLIENT_ARGS+=(--client "$c:$STACK/certs/$c.pem:$STACK/certs/$c.key")
done
ok "$NCLIENTS clients registered with --rate-limit 0"

"$VST_GEN" --records 3000 --seed 14001 -o "$D/pool.nd" &&
    "$VST_GEN" --records "$LARGE" --seed 14002 -o "$D/large.nd" ||
    { not_ok "test data"; e2e_summary; exit 1; }

HTTPD0=$HTTPD_PID KEYD0=$KEYD_PID
python3 "$E2E_DIR/mixed_load.py" --port "$PORT" --ca "$STACK/certs/ca.pem" "${CLIENT_ARGS[@]}" \
    --records "$D/pool.nd" --large-file "$D/large.nd" --large 2 --large-invalid 1 \
    --threads "$THREADS" --min-seconds "$MIN_S" --max-seconds 35 --seed "$SEED" --out "$D" \
    >"$D/load.out" 2>"$D/load.err"
rc=$?
cat "$D/load.out"
sed 's/^/# load: /' "$D/load.err" | head -20
S=$D/summary.json
jget() { python3 -c 'import json,sys; print(eval(sys.argv[2], json.load(open(sys.argv[1]))))' "$S" "$1"; }
check "the load ran to its end ($THREADS threads, exit $rc, $(jget hung_threads 2>/dev/null) threads hung)" \
    eval '[ "$rc" = 0 ] && [ "$(jget hung_threads)" = 0 ]'
check "... and sent every kind of delivery ($(jget '" ".join("%s=%d" % kv for kv in sorted(kinds.items()))'))" \
    eval '[ "$(jget "len([k for k in kinds if kinds[k] > 0])")" = 9 ]'
check "every answer is the expected one ($(jget 'len(mismatches)') mismatches of $(jget deliveries) deliveries)" \
    [ "$(jget 'len(mismatches)')" = 0 ]
check "small deliveries were stored while the large ones were in progress ($(jget small_stored_during_large))" \
    [ "$(jget small_stored_during_large)" -gt 0 ]

# ---- receipts: signatures and audit rows. One vst-audit process per
# receipt costs 0.1-0.5 s under ASan on a busy 2-core machine (all of them
# would take minutes): every large receipt and an even spread of
# VERIFY of the others (all of them when fewer), two at a time. The
# cross-check with the trust DB below covers every receipt's fields.
VERIFY=${VST_E2E_CONC_VERIFY:-150}
verify_one() {
    "$VST_AUDIT" --dsn "$AUDIT_DSN" verify-receipt "$1" --public-key "$SIGNING_KEY" \
        >"$1.verify" 2>&1 || { echo "$1" >>"$D/verify.bad"; sed 's/^/# /' "$1.verify" >&2; }
}
export -f verify_one
export AUDIT_DSN SIGNING_KEY D VST_AUDIT
verify_sample() {
    local all n
    rm -f "$D/verify.bad"
    ls "$D"/receipts/large-*.json >"$D/verify.list" 2>/dev/null
    all=$(ls "$D"/receipts/*.json | grep -v /large- | wc -l)
    ls "$D"/receipts/*.json | grep -v /large- |
        awk -v n="$all" -v k="$VERIFY" 'n <= k || int(NR * k / n) != int((NR - 1) * k / n)' \
            >>"$D/verify.list"
    n=$(wc -l <"$D/verify.list")
    xargs -P 2 -I{} bash -c 'verify_one {}' <"$D/verify.list" 2>&1 | head -9
    echo "# verify-receipt: $n of $((all + $(grep -c /large- "$D/verify.list"))) receipts checked," \
        "$( [ -f "$D/verify.bad" ] && wc -l <"$D/verify.bad" || echo 0) failed"
    [ "$n" -gt 0 ] && [ ! -f "$D/verify.bad" ]
}
t=$(now_ms)
check "the receipts answered (201 and 200, every large one and $VERIFY others) verify with vst-audit verify-receipt" \
    verify_sample
echo "# verify-receipt took $(($(now_ms) - t)) ms"
check "vst-audit verify: the whole audit chain verifies" \
    eval '"$VST_AUDIT" --dsn "$AUDIT_DSN" verify --public-key "$SIGNING_KEY" >"$D/verify-chain.out" 2>&1 ||
          { sed "s/^/# /" "$D/verify-chain.out" | tail -5; false; }'

# ---- the trust DB: exactly the acknowledged receipts
CONC_CLIENTS="c.name LIKE 'conc%'"
db_receipts() {
    sql_trust "SELECT c.name || E'\t' || r.delivery_id || E'\t' || r.record_count || E'\t'
                      || encode(r.body_sha256, 'hex') || E'\t' || r.audit_seq
                 FROM vst.receipts r JOIN vst.clients c ON c.id = r.client_id
                WHERE $CONC_CLIENTS ORDER BY 1"
}
same_receipts() {
    db_receipts >"$D/db.tsv" || return 1
    LC_ALL=C sort "$D/acked.tsv" >"$D/acked.sorted"
    LC_ALL=C sort "$D/db.tsv" >"$D/db.sorted"
    cmp -s "$D/acked.sorted" "$D/db.sorted" && return 0
    echo "# acknowledged but no such receipt: $(comm -23 "$D/acked.sorted" "$D/db.sorted" | wc -l)," \
        "a receipt never acknowledged: $(comm -13 "$D/acked.sorted" "$D/db.sorted" | wc -l)"
    comm -3 "$D/acked.sorted" "$D/db.sorted" | head -5 | sed 's/^/#   /'
    return 1
}
check "the trust DB holds exactly the acknowledged receipts ($(wc -l <"$D/acked.tsv") deliveries: client, id, record_count, body SHA-256, audit_seq)" \
    same_receipts
no_receipt_for_rejected() {
    local n
    n=$(python3 - "$D/rejected.tsv" "$D/db.tsv" <<'PY'
import sys
rej = {tuple(l.rstrip("\n").split("\t")) for l in open(sys.argv[1]) if l.strip()}
db = {tuple(l.split("\t")[:2]) for l in open(sys.argv[2]) if l.strip()}
print(len(rej & db))
PY
    )
    [ "$n" = 0 ]
}
check "no receipt for any of the $(wc -l <"$D/rejected.tsv") deliveries answered 422" \
    both [ -s "$D/rejected.tsv" ] -- no_receipt_for_rejected

# ---- the store: nothing left prepared, exactly the acknowledged rows
no_prepared() { # waits up to 15 s: a decided transaction may still be committing
    local i
    for i in $(seq 1 150); do
        [ "$(prepared_count)" = 0 ] && return 0
        sleep 0.1
    done
    psql -qAtX -d "$STORE_DB" -c "SELECT gid, prepared FROM pg_prepared_xacts" | sed 's/^/# left: /'
    return 1
}
check "no prepared store transaction is left" no_prepared
# Like resilience_lib's store_matches_receipts, but with thousands of
# deliveries only the lines that differ are shown.
store_is_receipts() {
    sql_trust "SELECT delivery_ref || ' ' || record_count FROM vst.receipts
                WHERE record_count > 0" | LC_ALL=C sort >"$D/want.refs" &&
        sql_store "SELECT delivery_ref || ' ' || count(*) FROM sgb5.records
                    GROUP BY delivery_ref" | LC_ALL=C sort >"$D/got.refs" || return 1
    cmp -s "$D/want.refs" "$D/got.refs" && return 0
    echo "# receipt (delivery_ref record_count) without those rows: $(comm -23 "$D/want.refs" "$D/got.refs" | wc -l)," \
        "store rows (delivery_ref count) without such a receipt: $(comm -13 "$D/want.refs" "$D/got.refs" | wc -l)"
    comm -3 "$D/want.refs" "$D/got.refs" | head -5 | sed 's/^/#   /'
    return 1
}
check "the store holds exactly the acknowledged rows: each receipt's delivery_ref has record_count rows, no row without a receipt" \
    store_is_receipts
check "store rows = the sum of the receipts' record counts ($(receipt_sum))" \
    [ "$(store_total)" = "$(receipt_sum)" ]

# ---- the audit log: one delivery.stored per receipt
stored_events_ok() {
    local bad total recs
    bad=$(sql_trust "SELECT count(*) FROM vst.receipts r JOIN vst.clients c ON c.id = r.client_id
                      WHERE (SELECT count(*) FROM vst.audit_log a
                              WHERE a.action = 'delivery.stored' AND a.client = c.name
                                AND a.details->>'delivery_id' = r.delivery_id) <> 1
                         OR NOT EXISTS (SELECT 1 FROM vst.audit_log a
                                         WHERE a.seq = r.audit_seq AND a.action = 'delivery.stored'
                                           AND a.client = c.name
                                           AND a.details->>'delivery_id' = r.delivery_id)")
    total=$(sql_trust "SELECT count(*) FROM vst.audit_log WHERE action = 'delivery.stored'")
    recs=$(receipt_count)
    echo "# $recs receipts, $total delivery.stored events, $bad receipts without exactly one"
    [ "$bad" = 0 ] && [ "$total" = "$recs" ]
}
check "exactly one delivery.stored event per receipt (at the receipt's audit_seq), none without a receipt" \
    stored_events_ok

# ---- one delivery whose rows the store refuses, among others at once
# (DESIGN.md §14): its commit group is retried one delivery at a time, so
# that only that delivery fails (503) and every other one is stored. A
# trigger planted as the superuser refuses rows with postal prefix 00
# (no German postal code starts with 00); while the requests arrive the
# audit chain's lock is held for a moment, so that they queue up for a
# group; the round is repeated until a group held the refused delivery
# together with others (vst_commit_group_splits_total grows).
store_rows_matching_receipts_like() { # PATTERN: store rows under the refs of those receipts
    local refs
    refs=$(sql_trust "SELECT string_agg(quote_literal(delivery_ref::text), ',') FROM vst.receipts
                      WHERE delivery_id LIKE '$1'")
    sql_store "SELECT count(*) FROM sgb5.records WHERE delivery_ref::text IN (${refs:-NULL})"
}
metric_of() { # NAME: its value on /metrics (monitor certificate)
    api monitor "$URL/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}
sql_store "CREATE FUNCTION public.vst_test_refuse() RETURNS trigger LANGUAGE plpgsql AS
    \$\$ BEGIN IF NEW.postal_prefix = '00' THEN RAISE EXCEPTION 'refused by the test'; END IF;
    RETURN NEW; END \$\$;
    CREATE TRIGGER vst_test_refuse BEFORE INSERT ON sgb5.records
    FOR EACH ROW EXECUTE FUNCTION public.vst_test_refuse()" >/dev/null ||
    not_ok "the refusing trigger planted"
grep -v '"postal_code": *"00' "$D/pool.nd" | head -15 >"$D/spoil-good.nd"
head -1 "$D/spoil-good.nd" |
    python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r["insured"]["postal_code"]="00001"; print(json.dumps(r))' \
        >"$D/spoil-bad.nd"
splits0=$(metric_of vst_commit_group_splits_total)
rounds=0 bad_answers="" good_answers=""
while [ $rounds -lt 8 ]; do
    rounds=$((rounds + 1))
    mkdir -p "$D/spoil-$rounds"
    # The audit appenders' lock (sql/trust/0003) held for a moment: the
    # first groups wait in their decision while the others queue up, so
    # that the next group takes several deliveries at once.
    psql -qAtX -d "$TRUST_DB" -c "SELECT pg_advisory_lock(1987277824, 2), pg_sleep(1.5)" \
        >/dev/null 2>&1 &
    holder=$!
    sleep 0.3
    pids=()
    for k in $(seq 1 15); do
        sed -n "${k}p" "$D/spoil-good.nd" >"$D/spoil-$rounds/g$k.nd"
        api insurer -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/x-ndjson' \
            --data-binary "@$D/spoil-$rounds/g$k.nd" "$URL/v1/deliveries/spoil-$rounds-g$k" \
            >"$D/spoil-$rounds/g$k.status" &
        pids+=($!)
        if [ "$k" = 8 ]; then
            api insurer -o /dev/null -w '%{http_code}' -X PUT \
                -H 'Content-Type: application/x-ndjson' --data-binary "@$D/spoil-bad.nd" \
                "$URL/v1/deliveries/spoil-$rounds-bad" >"$D/spoil-$rounds/bad.status" &
            pids+=($!)
        fi
    done
    wait "${pids[@]}" "$holder" # not the daemons, which are this shell's children too
    bad_answers="$bad_answers $(cat "$D/spoil-$rounds/bad.status")"
    for f in "$D/spoil-$rounds"/g*.status; do good_answers="$good_answers $(cat "$f")"; done
    [ "$(metric_of vst_commit_group_splits_total)" -gt "$splits0" ] && break
done
echo "# $rounds round(s); the refused delivery answered:$bad_answers; the others:" \
    "$(echo $good_answers | tr ' ' '\n' | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
check "a commit group holding the refused delivery and others was split" \
    [ "$(metric_of vst_commit_group_splits_total)" -gt "$splits0" ]
check "the refused delivery answered 503 every time, and has no receipt and no row" \
    eval '[ -z "$(echo $bad_answers | tr " " "\n" | grep -vx 503)" ] &&
          [ "$(sql_trust "SELECT count(*) FROM vst.receipts WHERE delivery_id LIKE '\''spoil-%-bad'\''")" = 0 ] &&
          [ "$(sql_store "SELECT count(*) FROM sgb5.records WHERE postal_prefix = '\''00'\''")" = 0 ]'
check "every other delivery of those rounds was stored (201), once, with its row" \
    eval '[ -z "$(echo $good_answers | tr " " "\n" | grep -vx 201)" ] &&
          [ "$(sql_trust "SELECT count(*) FROM vst.receipts WHERE delivery_id LIKE '\''spoil-%-g%'\''")" = $((rounds * 15)) ] &&
          [ "$(store_rows_matching_receipts_like "spoil-%-g%")" = $((rounds * 15)) ]'
sql_store "DROP TRIGGER vst_test_refuse ON sgb5.records; DROP FUNCTION public.vst_test_refuse()" \
    >/dev/null || not_ok "the refusing trigger dropped"

# ---- the daemons
check "vst-httpd and vst-keyd are the same live processes" \
    eval '[ "$HTTPD_PID" = "$HTTPD0" ] && kill -0 "$HTTPD0" && [ "$KEYD_PID" = "$KEYD0" ] && kill -0 "$KEYD0"'
check "no sanitizer report in httpd.log or keyd.log" \
    eval '! grep -lE "ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:" "$STACK/httpd.log" "$STACK/keyd.log"'

echo "# summary: $(jget '", ".join("%s: %d" % kv for kv in sorted(answers.items()))');" \
    "$(jget deliveries) deliveries, $(jget requests) requests in $(jget seconds) s" \
    "= $(jget deliveries_per_s) requests/s, $(jget stored) stored = $(jget stored_per_s)/s;" \
    "retries: $(jget '", ".join("%s: %d" % kv for kv in sorted(retries.items())) or "none"');" \
    "suite $((SECONDS - T0)) s"
e2e_summary
