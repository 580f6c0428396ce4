#!/usr/bin/env bash
# Disclosed pseudonyms and objections (issue 12, DESIGN.md §12) on real
# daemons (tests/e2e/stack.sh), through HTTPS, psql and the CLIs:
#   - disclosed add: every row of P moves to P*, P occurs nowhere, a later
#     delivery of the person yields P*, a second person gets another P*, a
#     pseudonym no row carries is refused (--force records it), audited
#     without P or P*, listed; survives a keyd restart and a rotation +
#     rekey; a release made afterwards leaves the person out, one made
#     before is marked affected;
#   - objection add: the identifier file must be the owner's only; the
#     person's rows are deleted, later deliveries withhold them
#     (withheld_count), the identifier is in no table, dump, log, WAL or
#     temp file;
#   - a kill -9 of vst-admin while it moves rows: the re-run finishes, no
#     row keeps P, none is duplicated;
#   - the audit chain verifies.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/stack.sh"
. "$HERE/api_lib.sh"
WORK=$(mktemp -d /tmp/vst-cases.XXXXXX)
cleanup() {
    stack_down
    [ -n "${KEEP_STACK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
stack_up_or_bail

kvnr() { # kvnr N: a valid synthetic KVNR "C" + 8 digits + check digit
    python3 - "$1" <<'PY'
import sys
body = "C%08d" % int(sys.argv[1])
digits = "%02d" % (ord(body[0]) - 64) + body[1:]
s = sum((lambda p: p // 10 + p % 10)(int(d) * (1 if i % 2 == 0 else 2)) for i, d in enumerate(digits))
print(body + str(s % 10))
PY
}
rec() { # rec KVNR YEAR
    printf '{"insured":{"kvnr":"%s","birth_date":"%s-03-04","sex":"W","insurance_status":"1","postal_code":"10115"},"service":{"period":"2024Q1"}}\n' "$1" "$2"
}
A=$(kvnr 1001) B=$(kvnr 1002) C=$(kvnr 1003) D=$(kvnr 1004)
n=0
send() { # send NAME RECORDS...: one delivery; prints the status
    local name=$1
    shift
    printf '%s\n' "$@" >"$WORK/$name.nd"
    deliver insurer "$name" "$WORK/$name.nd"
}
ref_of() { sql_trust "SELECT delivery_ref FROM vst.receipts WHERE delivery_id = '$1'"; }
p_of() { sql_store "SELECT DISTINCT pseudonym FROM sgb5.records WHERE delivery_ref = '$(ref_of "$1")'"; }

check "person A: 3 rows" [ "$(send a1 "$(rec "$A" 1950)" "$(rec "$A" 1950)" "$(rec "$A" 1950)")" = 201 ]
check "person B: 2 rows" [ "$(send b1 "$(rec "$B" 1960)" "$(rec "$B" 1960)")" = 201 ]
check "person C: 4 rows" [ "$(send c1 "$(rec "$C" 1970)" "$(rec "$C" 1970)" "$(rec "$C" 1970)" "$(rec "$C" 1970)")" = 201 ]
PA=$(p_of a1) PB=$(p_of b1) PC=$(p_of c1)
rows_with() { sql_store "SELECT count(*) FROM sgb5.records WHERE '$1' IN (pseudonym, provider_pseudonym, practice_pseudonym)"; }

# A release before any case (it will be affected).
"$VST_ADMIN" release create before_cases --k 2 >>"$WORK/admin.log" 2>&1
check "a release made before the cases" [ $? -eq 0 ]

# ---- disclosed add
out=$("$VST_ADMIN" disclosed add --pseudonym "$PA" --reason "published in a paper" 2>"$WORK/err"); rc=$?
check "disclosed add exits 0 and prints a case id" eval '[ $rc -eq 0 ] && grep -Eq "^disclosed case [0-9a-f]{16}: 3 row\(s\) moved" <<<"$out"'
echo "# $out"
CASE_A=$(grep -Eo '[0-9a-f]{16}' <<<"$out" | head -1)
PA2=$(p_of a1)
check "no row carries P any more" [ "$(rows_with "$PA")" = 0 ]
check "A's 3 rows carry one new pseudonym P*" eval '[ "$(rows_with "$PA2")" = 3 ] && [ "$PA2" != "$PA" ] && [ ${#PA2} = 32 ]'
check "a later delivery of A yields P*" eval '[ "$(send a2 "$(rec "$A" 1950)")" = 201 ] && [ "$(p_of a2)" = "$PA2" ]'
out=$("$VST_ADMIN" disclosed add --pseudonym "$PB" --reason "re-identified by a journalist" 2>&1); rc=$?
PB2=$(p_of b1)
check "a second disclosed person gets another P*" eval '[ "$PB2" != "$PA2" ] && [ "$PB2" != "$PB" ] && [ "$(rows_with "$PB2")" = 2 ]'
out=$("$VST_ADMIN" disclosed add --pseudonym 0123456789abcdef0123456789abcdef --reason "typo" 2>&1 >/dev/null); rc=$?
check "a pseudonym no row carries is refused with one line" \
    eval '[ $rc -ne 0 ] && grep -q "no stored row carries this pseudonym" <<<"$out" && [ "$(wc -l <<<"$out")" = 1 ]'
out=$("$VST_ADMIN" disclosed add --pseudonym 0123456789abcdef0123456789abcdef --reason "typo" --force 2>&1 >/dev/null); rc=$?
check "--force for a pseudonym no row carries wants its --key-version (no case for nobody)" \
    eval '[ $rc -ne 0 ] && grep -q "also give --key-version" <<<"$out" && [ "$(sql_trust "SELECT count(*) FROM vst.cases")" = 2 ]'
out=$("$VST_ADMIN" disclosed add --pseudonym "$PB" --reason "ticket A123456789" 2>&1 >/dev/null); rc=$?
check "a reason holding a KVNR shape is refused before keyd records anything" \
    eval '[ $rc -ne 0 ] && grep -q "may not hold a pseudonym or an identifier" <<<"$out"'
out=$("$VST_ADMIN" disclosed add --pseudonym "$PA2" --reason "holds $PA2" 2>&1 >/dev/null); rc=$?
check "a reason holding a pseudonym is refused" eval '[ $rc -ne 0 ] && grep -q "may not hold a pseudonym" <<<"$out"'
check "pseudonym.disclosed audited with case id and rows, never P or P*" \
    [ "$(sql_trust "SELECT count(*) FROM vst.audit_log WHERE action = 'pseudonym.disclosed' AND details->>'case_id' = '$CASE_A' AND (details->>'rows_moved')::int = 3 AND details->>'reason' = 'published in a paper'")" = 1 ]
"$VST_ADMIN" disclosed list >"$WORK/dlist.txt" 2>&1
check "disclosed list shows both cases" eval 'grep -q "$CASE_A .* done .* 3  published in a paper" "$WORK/dlist.txt" && [ "$(grep -c "  done  " "$WORK/dlist.txt")" = 2 ]'

# ---- a release after the disclosure leaves the disclosed persons out
"$VST_ADMIN" release create after_cases --k 2 >>"$WORK/admin.log" 2>&1
check "release after the disclosures: A's and B's rows are not in it" \
    [ "$(sql_store "SELECT count(*) FROM release.after_cases WHERE birth_year IN (1950, 1960)")" = 0 ]
"$VST_ADMIN" release list >"$WORK/rlist.txt" 2>&1
check "release list marks the release made before the disclosure as affected" \
    eval 'grep -E "^before_cases .*AFFECTED" "$WORK/rlist.txt" >/dev/null && ! grep -E "^after_cases .*AFFECTED" "$WORK/rlist.txt" >/dev/null'

# ---- objection add
printf '%s\n' "$C" >"$WORK/c.id"
chmod 644 "$WORK/c.id"
out=$("$VST_ADMIN" objection add --identifier-file "$WORK/c.id" 2>&1 >/dev/null); rc=$?
check "an identifier file readable by others is refused" eval '[ $rc -ne 0 ] && grep -q "readable by others" <<<"$out"'
mkfifo -m 600 "$WORK/fifo"
out=$(timeout 10 "$VST_ADMIN" objection add --identifier-file "$WORK/fifo" 2>&1 >/dev/null); rc=$?
check "a FIFO as identifier file is refused at once (not waited on)" \
    eval '[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "not a regular file" <<<"$out"'
chmod 600 "$WORK/c.id"
out=$("$VST_ADMIN" objection add --identifier-file "$WORK/c.id" 2>&1); rc=$?
check "objection add: C's 4 rows deleted" eval '[ $rc -eq 0 ] && grep -q "4 row(s) deleted" <<<"$out" && [ "$(rows_with "$PC")" = 0 ]'
CASE_C=$(grep -Eo '[0-9a-f]{16}' <<<"$out" | head -1)
st=$(send c2 "$(rec "$C" 1970)" "$(rec "$D" 1980)")
check "a later delivery with C and D: 201, stores D only, withheld_count 1" \
    eval '[ "$st" = 201 ] && [ "$(jget "$STACK/last.json" record_count)" = 1 ] && [ "$(jget "$STACK/last.json" withheld_count)" = 1 ] && [ "$(sql_store "SELECT count(*) FROM sgb5.records WHERE delivery_ref = '"'"'$(ref_of c2)'"'"'")" = 1 ]'
cp "$STACK/last.json" "$WORK/c2.receipt.json"
check "its receipt verifies (withheld_count signed)" \
    "$VST_AUDIT" --dsn "host=$PGHOST port=$PGPORT user=vst_auditor dbname=$TRUST_DB" verify-receipt --public-key "$SIGNING_KEY" "$WORK/c2.receipt.json"
check "person.objection audited with the case id and rows deleted" \
    [ "$(sql_trust "SELECT count(*) FROM vst.audit_log WHERE action = 'person.objection' AND details->>'case_id' = '$CASE_C' AND (details->>'rows_deleted')::int = 4")" = 1 ]
check "objection list shows the case" eval '"$VST_ADMIN" objection list | grep -q "^$CASE_C "'

# ---- restart, rotation and re-key carry the cases along
keyd_stop
keyd_start
check "after a keyd restart: A still gets P*, C is still withheld" \
    eval '[ "$(send a3 "$(rec "$A" 1950)")" = 201 ] && [ "$(p_of a3)" = "$PA2" ] && [ "$(send c3 "$(rec "$C" 1970)")" = 201 ] && [ "$(jget "$STACK/last.json" withheld_count)" = 1 ]'
"$VST_ADMIN" key rotate >>"$WORK/admin.log" 2>&1 && "$VST_ADMIN" rekey >>"$WORK/admin.log" 2>&1
check "rotate + rekey" [ $? -eq 0 ]
PA3=$(p_of a1)
check "after rotate + rekey: A's rows share one pseudonym, and a new delivery of A gets it" \
    eval '[ "$(send a4 "$(rec "$A" 1950)")" = 201 ] && [ "$(p_of a4)" = "$PA3" ] && [ "$(rows_with "$PA3")" = 6 ] && [ "$PA3" != "$PA2" ]'
check "after rotate + rekey: C is still withheld" \
    eval '[ "$(send c4 "$(rec "$C" 1970)")" = 201 ] && [ "$(jget "$STACK/last.json" withheld_count)" = 1 ]'

# ---- a kill while rows are moved
PE=fedcba98765432100123456789abcdef
sql_store "INSERT INTO sgb5.records (delivery_ref, pseudonym, key_version, birth_year, sex,
             insurance_status, postal_prefix, service)
           SELECT '00000000-0000-0000-0000-000000000002', '$PE', 2, 1990, 'M', 1, '20', '{}'
             FROM generate_series(1, 30000)"
"$VST_ADMIN" disclosed add --pseudonym "$PE" --reason "crash test" --batch 300 >"$WORK/crash.out" 2>&1 &
pid=$!
for _ in $(seq 1 400); do
    left=$(rows_with "$PE")
    [ "$left" -lt 29000 ] && break
    sleep 0.05
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
left=$(rows_with "$PE")
check "the kill landed while rows were moved ($left of 30000 left)" eval '[ "$left" -gt 0 ] && [ "$left" -lt 30000 ]'
out=$("$VST_ADMIN" disclosed add --pseudonym "$PE" --reason "crash test" --force 2>&1); rc=$?
check "the re-run (--force) finishes the case" eval '[ $rc -eq 0 ] && grep -q "30000 row(s) moved.*finishing an earlier run" <<<"$out"'
echo "# $out"
check "no row keeps P, none is duplicated" \
    eval '[ "$(rows_with "$PE")" = 0 ] && [ "$(sql_store "SELECT count(*) FROM sgb5.records WHERE delivery_ref = '"'"'00000000-0000-0000-0000-000000000002'"'"'")" = 30000 ] && [ "$(sql_store "SELECT count(DISTINCT pseudonym) FROM sgb5.records WHERE delivery_ref = '"'"'00000000-0000-0000-0000-000000000002'"'"'")" = 1 ]'

# ---- nothing of the objecting person or the disclosed pseudonyms remains
"$VST_ADMIN" audit sync >/dev/null 2>&1
pg_dump -d "$TRUST_DB" -f "$STACK/dump-trust.sql" && pg_dump -d "$STORE_DB" -f "$STACK/dump-store.sql"
psql -qX -d postgres -c CHECKPOINT >/dev/null
printf '%s\n' "$C" >"$WORK/patterns"
python3 "$HERE/residue_scan.py" scan "$WORK/patterns" "$WORK/scan.json" "$STACK" "$PGHOST"
check "C's KVNR is in no table, dump, log, WAL or temp file" \
    [ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["hits"]))' "$WORK/scan.json")" = 0 ]
printf '%s\n%s\n%s\n%s\n' "$PA" "$PA2" "$PB" "$PB2" >"$WORK/pseud"
sql_trust "SELECT details::text FROM vst.audit_log" >"$WORK/audit.txt"
check "no disclosed P or P* in the audit log, keyd's events or the logs" \
    absent "$WORK/pseud" "$WORK/audit.txt" "$STACK/events.jsonl" "$STACK/keyd.log" "$STACK/httpd.log" "$WORK/admin.log"
check "the audit chain verifies" "$VST_AUDIT" --dsn "host=$PGHOST port=$PGPORT user=vst_auditor dbname=$TRUST_DB" \
    verify --public-key "$SIGNING_KEY"
e2e_summary
