#!/usr/bin/env bash
# Crash safety of the delivery commit protocol (issue 5, DESIGN.md §7):
# vst-httpd killed with SIGKILL at random moments of a large delivery and
# at the moments of the commit protocol, restarted, the delivery retried
# with the same id -> exactly one copy stored, the receipt consistent, no
# prepared transaction left, no row of a failed attempt surviving. Then the
# two states between PREPARE TRANSACTION and COMMIT PREPARED made by hand:
# prepared without receipt -> rolled back at start-up; prepared with a
# receipt -> committed at start-up; a foreign prepared transaction is left
# alone. The same for commit groups (DESIGN.md §14): a group's prepared
# transaction without its decision -> rolled back, with it -> committed,
# each delivery with its rows. Last, a second vst-httpd started while a delivery waits between
# PREPARE and its decision: its start-up recovery must not take the
# delivery's rows away from under a 201. Then many small deliveries at
# once (issue 14, DESIGN.md §14): concurrent senders (crash_senders.py),
# vst-httpd killed at random instants among them and vst-keyd once; every
# acknowledged delivery and every one whose outcome a kill made unknown is
# stored exactly once, whole, under the receipt its sender got.
#
# Env: as stack.sh. VST_E2E_CRASH_RECORDS (default 60000) sizes the
# delivery; VST_E2E_CRASH_SEED makes the kill times (and the senders'
# delivery sizes) reproducible; VST_E2E_CRASH_SENDERS (default 24) and
# VST_E2E_CRASH_KILLS (vst-httpd kills, default 5) size the last part.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/stack.sh"
source "$HERE/resilience_lib.sh"
source "$HERE/api_lib.sh" # py_checks

N=${VST_E2E_CRASH_RECORDS:-60000}
SEED=${VST_E2E_CRASH_SEED:-$$}
RANDOM=$SEED
BG_PID=
cleanup() {
    [ -n "$BG_PID" ] && kill "$BG_PID" 2>/dev/null
    [ -n "${HTTPD2_PID:-}" ] && kill -KILL "$HTTPD2_PID" 2>/dev/null
    [ -n "${LOCK_PID:-}" ] && kill "$LOCK_PID" 2>/dev/null
    [ -n "${CC_PID:-}" ] && kill "$CC_PID" 2>/dev/null
    pg_ensure_running
    stack_down
}
trap cleanup EXIT

rows_are() { [ -n "$1" ] && [ "$(store_rows_of "$1")" = "$2" ]; }
no_prepared_within() { # SECONDS: the start-up recovery emptied pg_prepared_xacts
    local i
    for i in $(seq 1 $(($1 * 10))); do
        [ "$(prepared_count)" = 0 ] && return 0
        sleep 0.1
    done
    psql -qAtX -d "$STORE_DB" -c "SELECT gid, owner, prepared FROM pg_prepared_xacts" | sed 's/^/# left: /'
    return 1
}
# same_receipt A B: two receipt documents with the same content.
same_receipt() {
    python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
sys.exit(0 if a == b and "signature" in a else 1)
PY
}
verify_receipt() {
    "$VST_AUDIT" --dsn "host=$PGHOST port=$PGPORT user=vst_auditor dbname=$TRUST_DB" \
        verify-receipt "$1" --public-key "$SIGNING_KEY" >/dev/null
}
kill_httpd() {
    kill -KILL "$HTTPD_PID" 2>/dev/null
    wait "$HTTPD_PID" 2>/dev/null
    HTTPD_PID=
}

stack_up || { echo "Bail out! the test stack did not come up"; exit 1; }
echo "# stack in $STACK, https on $URL; kill-time seed $SEED"
FILE=$STACK/big.ndjson
"$VST_GEN" --records "$N" --seed 42042 -o "$FILE" || exit 1
SHA=$(sha256sum "$FILE" | cut -d' ' -f1)

# ---- a full delivery, timed: the kill times are spread across it

t=$(now_ms)
st=$(deliver insurer crash-0 "$FILE")
D=$(($(now_ms) - t))
echo "# a delivery of $N records takes $D ms"
check "an uninterrupted delivery of $N records is stored (201, got $st)" [ "$st" = 201 ]
check "its $N rows are in the store" rows_are "$(receipt_ref crash-0)" "$N"

# after_kill ID: restart, recovery, retry with the same id, and every
# invariant. $1 the delivery id; $2 what the kill interrupted (for output).
after_kill() {
    local id=$1 what=$2 had_receipt st expect
    sleep 0.5 # a COMMIT the killed process had sent completes meanwhile
    had_receipt=$([ -n "$(receipt_ref "$id")" ] && echo yes || echo no)
    echo "# $id ($what): after the kill, receipt: $had_receipt, prepared: $(prepared_count)"
    httpd_restart || { not_ok "$id: vst-httpd restarts after SIGKILL"; return; }
    check "$id: no prepared transaction left after the restart's recovery" no_prepared_within 15
    if [ "$had_receipt" = yes ]; then
        check "$id: the decided delivery was committed by the recovery ($N rows)" \
            rows_are "$(receipt_ref "$id")" "$N"
        expect=200
    else
        expect=201
    fi
    check "$id: no row of the killed attempt survives (store = receipts)" store_matches_receipts
    st=$(deliver insurer "$id" "$FILE")
    cp "$STACK/last.json" "$STACK/$id.put.json"
    check "$id: the retry with the same id answers $expect (got $st)" [ "$st" = "$expect" ]
    check "$id: exactly one copy stored ($N rows under the receipt's delivery_ref)" \
        rows_are "$(receipt_ref "$id")" "$N"
    check "$id: the receipt counts $N records and the body's SHA-256" \
        [ "$(json_field "$STACK/$id.put.json" record_count)/$(json_field "$STACK/$id.put.json" body_sha256)" = "$N/$SHA" ]
    api insurer -o "$STACK/$id.get.json" "$URL/v1/deliveries/$id"
    check "$id: GET returns the same receipt" same_receipt "$STACK/$id.put.json" "$STACK/$id.get.json"
    check "$id: the receipt verifies (signature, audit row)" verify_receipt "$STACK/$id.get.json"
    check "$id: store rows = sum of the receipts' record counts" \
        [ "$(store_total)" = "$(receipt_sum)" ]
}

# ---- SIGKILL at random moments: one in each slice of the delivery, the
# last ones near and after the end of the upload, where the commit
# protocol runs.
slices="0 20 20 40 40 60 60 80 80 95 95 103"
set -- $slices
run=0
while [ $# -ge 2 ]; do
    lo=$1 hi=$2
    shift 2
    run=$((run + 1))
    ms=$((D * (lo * 100 + RANDOM % ((hi - lo) * 100 + 1)) / 10000))
    [ "$ms" -lt 200 ] && ms=$((200 + RANDOM % 200))
    id=crash-$run
    deliver insurer "$id" "$FILE" >"$STACK/bg.status" 2>/dev/null &
    BG_PID=$!
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    kill_httpd
    wait "$BG_PID"
    BG_PID=
    echo "# $id: SIGKILL after $ms ms of $D ($((ms * 100 / D))%); the client saw HTTP $(cat "$STACK/bg.status")"
    after_kill "$id" "random, $((ms * 100 / D))%"
done

# ---- SIGKILL in the two states of the commit protocol, reached for sure
# by holding a lock on vst.receipts: vst-httpd PREPAREs the store
# transaction and then waits to insert the receipt.
lock_receipts() {
    PGAPPNAME=vst-crash-lock psql -qAtX -d "$TRUST_DB" \
        -c "BEGIN; LOCK TABLE vst.receipts IN EXCLUSIVE MODE; SELECT pg_sleep(600);" \
        >/dev/null 2>&1 &
    LOCK_PID=$!
    local i
    for i in $(seq 1 100); do
        [ "$(psql -qAtX -d postgres -c "SELECT count(*) FROM pg_stat_activity
              WHERE application_name = 'vst-crash-lock' AND wait_event = 'PgSleep'")" = 1 ] &&
            return 0
        sleep 0.1
    done
    return 1
}
unlock_receipts() {
    psql -qAtX -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                               WHERE application_name = 'vst-crash-lock'" >/dev/null
    wait "$LOCK_PID" 2>/dev/null
}
wait_prepared() { # until vst-httpd has prepared a store transaction
    local i
    for i in $(seq 1 $((D / 50 + 600))); do
        [ "$(psql -qAtX -d "$STORE_DB" -c "SELECT count(*) FROM pg_prepared_xacts
              WHERE gid LIKE 'vst:%' AND database = current_database()")" = 1 ] && return 0
        sleep 0.1
    done
    return 1
}

# Prepared, not decided: killed while it waits to insert the receipt.
lock_receipts || not_ok "LOCK TABLE vst.receipts"
deliver insurer crash-prepared "$FILE" >"$STACK/bg.status" 2>/dev/null &
BG_PID=$!
check "crash-prepared: vst-httpd prepared the store transaction and waits for the receipt" \
    wait_prepared
kill_httpd
unlock_receipts
wait "$BG_PID"
BG_PID=
check "crash-prepared: killed between PREPARE and the decision (no receipt, 1 prepared)" \
    [ "$(receipt_ref crash-prepared)/$(prepared_count)" = "/1" ]
after_kill crash-prepared "after PREPARE TRANSACTION, before the receipt"

# Decided, store connection lost: the store connection is cut after
# PREPARE, the receipt is committed (the decision). vst-httpd retries COMMIT
# PREPARED on a fresh connection, so the rows appear at once (the state
# "decided, not committed" is made by hand below and left to recovery).
lock_receipts || not_ok "LOCK TABLE vst.receipts"
deliver insurer crash-decided "$FILE" >"$STACK/bg.status" 2>/dev/null &
BG_PID=$!
check "crash-decided: vst-httpd prepared the store transaction and waits for the receipt" \
    wait_prepared
psql -qAtX -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                           WHERE usename = 'vst_httpd' AND datname = '$STORE_DB'" >/dev/null
unlock_receipts
wait "$BG_PID"
BG_PID=
cp "$STACK/last.json" "$STACK/crash-decided.first.json"
check "crash-decided: the client got its 201 (got $(cat "$STACK/bg.status"))" \
    [ "$(cat "$STACK/bg.status")" = 201 ]
check "crash-decided: decided and committed on a fresh store connection (receipt, 0 prepared, rows visible)" \
    eval '[ -n "$(receipt_ref crash-decided)" ] && [ "$(prepared_count)" = 0 ] &&
          [ "$(store_rows_of "$(receipt_ref crash-decided)")" != 0 ]'
kill_httpd
after_kill crash-decided "after the decision, before COMMIT PREPARED"
check "crash-decided: the retry's receipt is the one the client got first" \
    same_receipt "$STACK/crash-decided.first.json" "$STACK/crash-decided.put.json"

# ---- the states between PREPARE and COMMIT PREPARED, made by hand

REF_A=$(new_uuid) # prepared, no receipt: must be rolled back
REF_B=$(new_uuid) # prepared, receipt committed: must be committed
REF_C=$(new_uuid) # someone else's prepared transaction: left alone
prepare_manual "$REF_A" 5 || not_ok "PREPARE TRANSACTION as vst_httpd (A)"
prepare_manual "$REF_B" 7 && fake_receipt "$REF_B" manual-b 7 ||
    not_ok "PREPARE TRANSACTION as vst_httpd with a receipt (B)"
psql -qAtX -v ON_ERROR_STOP=1 -d "$STORE_DB" >/dev/null <<SQL || not_ok "foreign PREPARE (C)"
BEGIN;
INSERT INTO sgb5.records (delivery_ref, pseudonym, key_version, birth_year, sex,
                          insurance_status, postal_prefix, service)
VALUES ('$REF_C', md5('c'), 1, 1980, 'M', 1, '20', '{}');
PREPARE TRANSACTION 'maintenance:$REF_C';
SQL
check "by hand: three prepared transactions, their rows invisible" \
    [ "$(prepared_count)/$(store_rows_of "$REF_A")/$(store_rows_of "$REF_B")" = "3/0/0" ]
kill_httpd
httpd_restart || not_ok "vst-httpd restarts"
for i in $(seq 1 100); do
    prepared_exists "vst:$REF_A" || prepared_exists "vst:$REF_B" || break
    sleep 0.1
done
check "by hand, no receipt: rolled back at start-up" \
    eval '! prepared_exists "vst:$REF_A" && [ "$(store_rows_of "$REF_A")" = 0 ]'
check "by hand, receipt committed: committed at start-up (7 rows visible)" \
    eval '! prepared_exists "vst:$REF_B" && [ "$(store_rows_of "$REF_B")" = 7 ]'
check "by hand: a prepared transaction that is not vst-httpd's is left alone" \
    prepared_exists "maintenance:$REF_C"
check "the start-up recovery logged both decisions" \
    eval 'grep -q "rolled back (no receipt)" "$STACK/httpd.log" && grep -q "committed (its receipt exists)" "$STACK/httpd.log"'
check "no log line names a delivery_ref" \
    eval '! grep -q -e "$REF_A" -e "$REF_B" "$STACK/httpd.log"'
sql_store "ROLLBACK PREPARED 'maintenance:$REF_C'" || not_ok "ROLLBACK PREPARED (C)"

# ---- commit groups (DESIGN.md §14): a group's prepared transaction holds
# the rows of several deliveries and is named by the group's commit_ref,
# which their receipts carry. Made by hand as vst-httpd makes them:
# G_A prepared with the rows of two deliveries and no decision -> rolled
# back at start-up; G_B prepared with the rows of two deliveries whose
# receipts and events vst.deliveries_stored committed -> committed.
prepare_group_manual() { # GROUP REF1 N1 REF2 N2
    psql -qAtX -v ON_ERROR_STOP=1 \
        "host=$PGHOST port=$PGPORT user=vst_httpd dbname=$STORE_DB" <<SQL >/dev/null
BEGIN;
INSERT INTO sgb5.records (delivery_ref, pseudonym, key_version, birth_year, sex,
                          insurance_status, postal_prefix, service)
SELECT CASE WHEN g <= $3 THEN '$2' ELSE '$4' END::uuid, md5('group' || g || '$1'), 1, 1970, 'W', 1,
       '10', '{"period":"2024Q1"}'::jsonb
  FROM generate_series(1, $3 + $5) g;
PREPARE TRANSACTION 'vst:$1';
SQL
}
group_member() { # REF DELIVERY_ID COUNT: one delivery of vst.deliveries_stored's array
    local cid now
    cid=$(sql_trust "SELECT id FROM vst.clients WHERE name = 'insurer'")
    now=$(date +%s%6N)
    printf '{"client_id":%s,"client":"insurer","delivery_id":"%s","ref":"%s","profile":"sgb5",' \
        "$cid" "$2" "$1"
    printf '"record_count":%s,"withheld_count":0,"body_bytes":100,"body_sha256":"%064d",' "$3" 0
    printf '"key_version":1,"received_us":%s,"stored_us":%s,' "$now" "$now"
    printf '"received":{"delivery_id":"%s","profile":"sgb5"},' "$2"
    printf '"stored":{"delivery_id":"%s","profile":"sgb5","record_count":%s}}' "$2" "$3"
}
G_A=$(new_uuid) G_B=$(new_uuid)
GA_1=$(new_uuid) GA_2=$(new_uuid) GB_1=$(new_uuid) GB_2=$(new_uuid)
prepare_group_manual "$G_A" "$GA_1" 2 "$GA_2" 3 || not_ok "a group's PREPARE as vst_httpd (G_A)"
prepare_group_manual "$G_B" "$GB_1" 4 "$GB_2" 1 || not_ok "a group's PREPARE as vst_httpd (G_B)"
psql -qAtX -v ON_ERROR_STOP=1 "host=$PGHOST port=$PGPORT user=vst_httpd dbname=$TRUST_DB" \
    -c "SELECT vst.deliveries_stored('$G_B', 'vst-httpd',
          '[$(group_member "$GB_1" manual-gb-1 4),$(group_member "$GB_2" manual-gb-2 1)]')" \
    >/dev/null || not_ok "the decision of G_B (vst.deliveries_stored as vst_httpd)"
check "by hand, groups: two prepared, their 10 rows invisible, G_B's receipts name it" \
    eval '[ "$(prepared_count)/$(store_rows_of "$GA_1")/$(store_rows_of "$GB_1")" = "2/0/0" ] &&
          [ "$(sql_trust "SELECT count(*) FROM vst.receipts WHERE commit_ref = '\''$G_B'\''")" = 2 ]'
kill_httpd
httpd_restart || not_ok "vst-httpd restarts"
for i in $(seq 1 100); do
    prepared_exists "vst:$G_A" || prepared_exists "vst:$G_B" || break
    sleep 0.1
done
check "by hand, group without a decision: rolled back at start-up, none of its rows" \
    eval '! prepared_exists "vst:$G_A" && [ "$(store_rows_of "$GA_1")/$(store_rows_of "$GA_2")" = 0/0 ]'
check "by hand, group decided: committed at start-up, each delivery its rows (4 and 1)" \
    eval '! prepared_exists "vst:$G_B" && [ "$(store_rows_of "$GB_1")/$(store_rows_of "$GB_2")" = 4/1 ]'
check "by hand, group decided: its events are in the chain in order (received, stored, received, stored)" \
    eval '[ "$(sql_trust "SELECT string_agg(action, '\'','\'' ORDER BY seq) FROM vst.audit_log
             WHERE details->>'\''delivery_id'\'' IN ('\''manual-gb-1'\'', '\''manual-gb-2'\'')")" = \
          "delivery.received,delivery.stored,delivery.received,delivery.stored" ]'

# ---- the end state

check "no prepared transaction left in the store" [ "$(prepared_count)" = 0 ]
check "every store row belongs to a receipt, each receipt has its record_count rows" \
    store_matches_receipts
check "store rows = sum of the receipts' record counts" [ "$(store_total)" = "$(receipt_sum)" ]
replay_all() {
    local id
    for id in crash-0 crash-1 crash-2 crash-3 crash-4 crash-5 crash-6 crash-prepared crash-decided; do
        [ "$(deliver insurer "$id" "$FILE")" = 200 ] || { echo "# $id: $(cat "$STACK/last.json")"; return 1; }
    done
}
check "a replay of every delivery answers 200" replay_all

# ---- a second vst-httpd starting on the same databases while a delivery
# is between PREPARE and its decision. Its start-up recovery must not roll
# the delivery back under it: whatever happens, a 201 means the rows are
# stored (DESIGN.md §7: exactly once; an acknowledged delivery is never
# lost).
"$VST_GEN" --records 2000 --seed 42043 -o "$STACK/small.ndjson" || exit 1
lock_receipts || not_ok "LOCK TABLE vst.receipts"
deliver insurer crash-second "$STACK/small.ndjson" >"$STACK/bg.status" 2>/dev/null &
BG_PID=$!
check "second instance: the delivery is prepared and waits for its receipt" wait_prepared
PORT2=$(stack_free_port $((PORT + 1)))
"$VST_HTTPD" --port "$PORT2" --tls-cert "$STACK/certs/server.pem" \
    --tls-key "$STACK/certs/server.key" --client-ca "$STACK/certs/ca.pem" \
    --trust-dsn "host=$PGHOST port=$PGPORT user=vst_httpd dbname=$TRUST_DB" \
    --store-dsn "host=$PGHOST port=$PGPORT user=vst_httpd dbname=$STORE_DB" \
    --keyd-socket "$STACK/run/data.sock" --user "" >>"$STACK/httpd2.log" 2>&1 &
HTTPD2_PID=$!
for i in $(seq 1 100); do # until its start-up recovery has run
    grep -q '"serving https' "$STACK/httpd2.log" 2>/dev/null && break
    sleep 0.1
done
sleep 1
check "second instance: the in-flight prepared transaction survives its start-up" \
    [ "$(prepared_count)" = 1 ]
kill -KILL "$HTTPD2_PID" 2>/dev/null
wait "$HTTPD2_PID" 2>/dev/null
unlock_receipts
wait "$BG_PID"
BG_PID=
st=$(cat "$STACK/bg.status")
cp "$STACK/last.json" "$STACK/crash-second.first.json"
echo "# second instance: the delivery answered $st"
for i in $(seq 1 50); do [ "$(prepared_count)" = 0 ] && break; sleep 0.1; done
if [ "$st" = 201 ]; then
    check "second instance: the delivery answered 201, so its 2000 rows are stored" \
        rows_are "$(receipt_ref crash-second)" 2000
else
    check "second instance: the delivery failed ($st), so it has no receipt" \
        [ -z "$(receipt_ref crash-second)" ]
fi
kill_httpd # the first instance's start-up recovery resolves what is left
httpd_restart || not_ok "vst-httpd restarts"
no_prepared_within 15 >/dev/null
check "second instance: after a restart, store = receipts (nothing lost, nothing orphaned)" \
    store_matches_receipts
check "second instance: store rows = sum of the receipts' record counts" \
    [ "$(store_total)" = "$(receipt_sum)" ]

# ---- many small deliveries from concurrent senders, vst-httpd killed
# during them (issue 14: "kill during a group, every acknowledged delivery
# stored once, none half"). crash_senders.py runs $CC_THREADS senders over
# kept-alive mTLS connections, each a stream of 1-5-record deliveries under
# unique ids. vst-httpd is killed $CC_KILLS times at random instants (and
# vst-keyd once, in the middle), restarted each time; a sender whose
# delivery lost its connection records an unknown outcome, waits for the
# restart and sends the same id and body again (as vst-send does). Only
# public interfaces are looked at: answers, receipts, the tables, pg_prepared_xacts.
CC=$STACK/cc
CC_THREADS=${VST_E2E_CRASH_SENDERS:-24}
CC_KILLS=${VST_E2E_CRASH_KILLS:-5}
mkdir -p "$CC"
"$VST_GEN" --records 6000 --seed 42044 -o "$CC/records.ndjson" || exit 1
cc_state() { # WORD K: what the senders read in $CC/state (rename: atomic)
    echo "$1 $2 $PORT" >"$CC/state.tmp" && mv "$CC/state.tmp" "$CC/state"
}
# Prepared store transactions (their xids: unique, whatever the gid).
prepared_xids() {
    psql -qAtX -d "$STORE_DB" -c "SELECT transaction FROM pg_prepared_xacts
                                  WHERE database = current_database() ORDER BY transaction::text" | tr '\n' ' '
}
resolved_within() { # SECONDS XIDS...: none of XIDS is still prepared
    local secs=$1 i left
    shift
    [ $# -eq 0 ] && return 0
    for i in $(seq 1 $((secs * 10))); do
        left=$(psql -qAtX -d "$STORE_DB" -c "SELECT count(*) FROM pg_prepared_xacts
                 WHERE transaction::text IN ($(printf "'%s'," "$@" | sed 's/,$//'))")
        [ "$left" = 0 ] && return 0
        sleep 0.1
    done
    echo "# still prepared: $left of $#" >&2
    return 1
}
# No rate limit and as many requests in progress as there are senders: the
# senders are one client; what is tested is the commit, not the limits.
HTTPD_OPTS=(--rate-limit 0 --client-slots "$CC_THREADS")
kill_httpd
httpd_restart || not_ok "concurrent senders: vst-httpd restarts with ${HTTPD_OPTS[*]}"
no_prepared_within 15 >/dev/null
cc_state up 0
sql_store "SELECT DISTINCT delivery_ref FROM sgb5.records" >"$CC/store.before"
cc_t0=$SECONDS
python3 "$HERE/crash_senders.py" send --control "$CC" --certs "$STACK/certs" \
    --records "$CC/records.ndjson" --threads "$CC_THREADS" --seed "$SEED" \
    --out "$CC/results.json" >"$CC/send.out" 2>&1 &
CC_PID=$!
sleep 2 # every sender has deliveries acknowledged before the first kill
keyd_round=$((CC_KILLS / 2 + 2)) # the one round that kills vst-keyd instead
k=0
httpd_kills=0
while [ "$httpd_kills" -lt "$CC_KILLS" ]; do
    ms=$((200 + RANDOM % 1301))
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    k=$((k + 1))
    cc_state down "$k"
    if [ "$k" = "$keyd_round" ]; then
        kill -KILL "$KEYD_PID" 2>/dev/null
        wait "$KEYD_PID" 2>/dev/null
        KEYD_PID=
        echo "# kill $k: vst-keyd SIGKILL after $ms ms"
        keyd_start || not_ok "concurrent senders: vst-keyd restarts after SIGKILL"
        cc_state up "$k"
        continue
    fi
    kill_httpd
    httpd_kills=$((httpd_kills + 1))
    sleep 0.2 # a COMMIT the killed process had sent completes meanwhile
    xids=$(prepared_xids)
    echo "# kill $k: vst-httpd SIGKILL after $ms ms; $(wc -w <<<"$xids") store transactions left prepared"
    httpd_restart || not_ok "concurrent senders: vst-httpd restarts after SIGKILL $k"
    cc_state up "$k"
    # The senders keep going meanwhile: new prepared transactions may come
    # and go; those of the killed process must be resolved by the recovery.
    # shellcheck disable=SC2086
    check "concurrent senders, kill $k: every store transaction the killed vst-httpd left prepared is resolved by the restart" \
        resolved_within 15 $xids
done
sleep 1
touch "$CC/stop"
for i in $(seq 1 600); do kill -0 "$CC_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$CC_PID" 2>/dev/null; then
    kill "$CC_PID"
    not_ok "concurrent senders: they finish within 60 s of the stop"
fi
wait "$CC_PID"
cc_rc=$?
check "concurrent senders: the senders ran to the end (exit $cc_rc)" [ "$cc_rc" = 0 ]
sed 's/^/# /' "$CC/send.out"
CC_PID=
echo "# concurrent senders: $k kills in $((SECONDS - cc_t0)) s (seed $SEED)"
check "concurrent senders: no prepared transaction left once the senders are done" \
    no_prepared_within 15
check "concurrent senders: every store row belongs to a receipt, each receipt has its record_count rows (none half, none orphaned)" \
    store_matches_receipts
psql -qAtX -F $'\t' -d "$TRUST_DB" -o "$CC/receipts.tsv" -c \
    "SELECT r.delivery_id, r.delivery_ref, r.record_count, encode(r.body_sha256, 'hex'), r.audit_seq
       FROM vst.receipts r JOIN vst.clients c ON c.id = r.client_id
      WHERE c.name = 'insurer' AND r.delivery_id LIKE 'cc-%'"
sql_trust "SELECT delivery_ref FROM vst.receipts" >"$CC/refs.all"
psql -qAtX -F $'\t' -d "$STORE_DB" -o "$CC/store.tsv" -c \
    "SELECT delivery_ref, count(*) FROM sgb5.records GROUP BY delivery_ref"
py_checks "" python3 "$HERE/crash_senders.py" check --control "$CC" --certs "$STACK/certs" \
    --records "$CC/records.ndjson" --results "$CC/results.json" --receipts "$CC/receipts.tsv" \
    --store "$CC/store.tsv" --store-before "$CC/store.before" --all-refs "$CC/refs.all" \
    --sample-dir "$CC/sample" --seed "$SEED"
verify_sample() {
    local f n=0
    for f in "$CC"/sample/*.json; do
        verify_receipt "$f" || { echo "# $(basename "$f"): does not verify" >&2; return 1; }
        n=$((n + 1))
    done
    echo "# $n receipts verified" >&2
    [ "$n" -gt 0 ]
}
check "concurrent senders: the receipts of deliveries retried after an unknown outcome, and of deliveries acknowledged before a later kill, verify (vst-audit verify-receipt)" \
    verify_sample
audit_verify() {
    "$VST_AUDIT" --dsn "host=$PGHOST port=$PGPORT user=vst_auditor dbname=$TRUST_DB" verify \
        --public-key "$SIGNING_KEY" >"$CC/verify.out" 2>&1 || { sed 's/^/# /' "$CC/verify.out"; return 1; }
}
check "concurrent senders: vst-audit verify passes (hash chain, checkpoint signatures)" audit_verify
echo "# concurrent senders: $((SECONDS - cc_t0)) s for the whole part"

httpd_stop # a clean shutdown: LeakSanitizer reports now, if at all
keyd_stop
check "no sanitizer report in the daemons' logs (after a clean shutdown)" \
    bash -c "! grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' '$STACK/httpd.log' '$STACK/keyd.log'"
e2e_summary
