#!/usr/bin/env bash
# Release protection (issue 11, DESIGN.md §11) on real daemons
# (tests/e2e/stack.sh): planted deliveries with known class sizes, then
#   - vst-admin cells: every count equals the test's own GROUP BY
#     (release_check.py), the planted small classes are named, no pseudonym
#     in any output, the signature verifies with the published key and a
#     changed count does not, --k 1 is refused, the run is audited;
#   - vst-admin release create: no class below k, the planted small cells
#     and the person spread over two classes gone (with the class that fell
#     below k because of it), same person -> one release pseudonym, no
#     release pseudonym equals a store pseudonym or another release's;
#     vst_researcher reads releases and nothing else; list and drop;
#   - a kill -9 of vst-admin in the middle of writing a release leaves
#     nothing visible to researchers, and the next create finishes.
set -uo pipefail
. "$(dirname "$0")/stack.sh"
. "$(dirname "$0")/api_lib.sh"
trap stack_down EXIT

stack_up_or_bail
CHECK="$(dirname "$0")/release_check.py"
QI=birth_year,sex,postal_prefix,insurance_status

# Planted persons (k = 5): class -> persons; rows per person in brackets.
#   A 1950 W 10 1: a1..a4 and X            (5 persons: at k)
#   E 1950 W 40 1: X (moved) and e1..e3    (4: below k; X spans A and E)
#   B 1960 M 20 3: 5 persons, 1..5 rows     (5: at k)
#   C 1970 W 30 5: 3 persons                (3: below)
#   D 1935 D 99 1: 1 person                 (1: below)
#   F 1990 W 50 1: 12 persons, 6..17 rows   (12; two hold Q87.1, one E84.0)
# A release at k = 5 suppresses E, C, D (round 1), then A, which fell to 4
# persons without X (round 2): B and F remain.
python3 - >"$STACK/planted.nd" <<'PY'
import json

def kvnr(n):
    body = "K%08d" % n
    digits = "%02d" % (ord(body[0]) - 64) + body[1:]
    s = 0
    for i, d in enumerate(digits):
        p = int(d) * (1 if i % 2 == 0 else 2)
        s += p // 10 + p % 10
    return body + str(s % 10)

def rec(n, year, sex, plz, status, icd):
    return json.dumps({"insured": {"kvnr": kvnr(n), "birth_date": "%d-06-15" % year,
                                   "sex": sex, "insurance_status": str(status),
                                   "postal_code": plz + "123"},
                       "service": {"period": "2024Q1", "icd10": icd}})

n = 100
def persons(count, year, sex, plz, status, rows=lambda i: 1, icd=lambda i: ["J06.9"]):
    global n
    for i in range(count):
        n += 1
        for _ in range(rows(i)):
            print(rec(n, year, sex, plz, status, icd(i)))

persons(4, 1950, "W", "10", 1)                               # a1..a4
print(rec(99, 1950, "W", "10", 1, ["J06.9"]))                # X in A
print(rec(99, 1950, "W", "40", 1, ["J06.9"]))                # X in E
persons(3, 1950, "W", "40", 1)                               # e1..e3
persons(5, 1960, "M", "20", 3, rows=lambda i: i + 1)         # B
persons(3, 1970, "W", "30", 5)                               # C
persons(1, 1935, "D", "99", 1)                               # D
persons(12, 1990, "W", "50", 1, rows=lambda i: i + 6,
        icd=lambda i: ["J06.9", "Q87.1"] if i < 2 else ["J06.9", "E84.0"] if i == 2 else ["J06.9"])
PY
st=$(deliver insurer planted-1 "$STACK/planted.nd")
check "the planted delivery is stored (got $st)" [ "$st" = 201 ]
check "29 planted persons" [ "$(sql_store "SELECT count(DISTINCT pseudonym) FROM sgb5.records")" = 29 ]

# ---- cells
# A linkage profile (DESIGN.md §13) has no pseudonym, so no persons to count:
# one clear line, exit 2, before anything is read or audited.
link_refused() { # RC: exit 2, nothing on stdout, one line on stderr saying why
    [ "$1" -eq 2 ] && [ ! -s "$STACK/cells-link.out" ] &&
        [ "$(wc -l <"$STACK/cells-link.err")" -eq 1 ] &&
        grep -q "has no pseudonym column.*vst-admin overlap" "$STACK/cells-link.err"
}
for prof in measles_case school_entry; do
    "$VST_ADMIN" cells --profile "$prof" --by sex >"$STACK/cells-link.out" 2>"$STACK/cells-link.err"
    rc=$?
    check "cells --profile $prof is refused with one line naming vst-admin overlap (rc $rc)" \
        link_refused $rc
done
"$VST_ADMIN" cells --json --rare-codes --html "$STACK/cells.html" >"$STACK/cells.json" 2>"$STACK/cells.err"
check "cells --json --rare-codes --html exits 0" [ $? -eq 0 ]
py_checks "cells: " python3 "$CHECK" cells "$STACK/cells.json" "$STORE_DB" 5 "$QI"
check "cells: k=5, 6 classes, 3 below k, 8 persons below k (the planted ones)" \
    [ "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["k"], r["classes"], r["classes_below_k"], r["persons_below_k"])' "$STACK/cells.json")" = "5 6 3 8" ]
check "cells: the planted small classes are named: 1935/D/99 (1), 1970/W/30 (3), 1950/W/40 (4)" \
    [ "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(";".join("%s/%s/%s:%d" % (s["values"]["birth_year"], s["values"]["sex"], s["values"]["postal_prefix"], s["persons"]) for s in r["smallest"]))' "$STACK/cells.json")" = "1935/D/99:1;1970/W/30:3;1950/W/40:4" ]
check "cells: rare codes E84.0 (1) and Q87.1 (2), not J06.9" \
    [ "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(" ".join("%s:%d" % (c["code"], c["persons"]) for c in r["rare_codes"]))' "$STACK/cells.json")" = "E84.0:1 Q87.1:2" ]
check "cells: the report verifies with the published key (vst-audit verify-report)" \
    "$VST_AUDIT" verify-report --public-key "$SIGNING_KEY" "$STACK/cells.json"
sed 's/"persons_below_k": 8/"persons_below_k": 7/' "$STACK/cells.json" >"$STACK/cells-changed.json"
check "cells: a report with one count changed does not verify" \
    eval '! "$VST_AUDIT" verify-report --public-key "$SIGNING_KEY" "$STACK/cells-changed.json" 2>/dev/null'
seq=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["audit_seq"])' "$STACK/cells.json")
check "cells: audited as release.cells at the report's audit_seq, with its counts" \
    [ "$(sql_trust "SELECT action || ' ' || (details->>'persons_below_k') || ' ' || (details->>'k') FROM vst.audit_log WHERE seq = $seq")" = "release.cells 8 5" ]
"$VST_ADMIN" cells >"$STACK/cells.txt" 2>&1
check "cells (text): a one-line verdict first" \
    grep -q '^cells sgb5 k=5: NOT k-anonymous, 8 of 29 persons (27.5 %) in 3 of 6 classes below k' "$STACK/cells.txt"
check "cells --html: one page with the charts (inline SVG), no network reference" \
    eval 'grep -q "<svg" "$STACK/cells.html" && ! grep -Eq "(src|href)=\"https?:" "$STACK/cells.html"'
sql_store "SELECT pseudonym FROM sgb5.records" | sort -u >"$STACK/pseud.txt"
check "cells: no store pseudonym in the text, JSON or HTML output" \
    absent "$STACK/pseud.txt" "$STACK/cells.txt" "$STACK/cells.json" "$STACK/cells.html"
# refused "description" PATTERN COMMAND...: fails, one line on stderr matching PATTERN.
refused() {
    local d=$1 pat=$2 out rc
    shift 2
    out=$("$@" 2>&1 >/dev/null)
    rc=$?
    if [ $rc -ne 0 ] && grep -q -- "$pat" <<<"$out" && [ "$(wc -l <<<"$out")" -eq 1 ]; then
        ok "$d"
    else
        not_ok "$d"
        echo "#   exit $rc: $out"
    fi
}
refused "cells --k 1 is refused with one clear line" "k must be an integer from 2" \
    "$VST_ADMIN" cells --k 1
refused "cells --by pseudonym is refused by the store (a report never groups by pseudonyms)" \
    "cannot be a quasi-identifier" "$VST_ADMIN" cells --by pseudonym
refused "cells --by a json column is refused" "neither integer nor text" \
    "$VST_ADMIN" cells --by birth_year,service
"$VST_ADMIN" cells --json --generalize postal_prefix=prefix:1,birth_year=band:10 >"$STACK/cells-g.json"
check "cells --generalize: classes over the generalized columns (the test's own count)" \
    [ "$(jget "$STACK/cells-g.json" classes)" = "$(sql_store "SELECT count(*) FROM (SELECT DISTINCT birth_year / 10, sex, left(postal_prefix, 1), insurance_status FROM sgb5.records) c")" ]
check "cells --generalize: the report says which" \
    [ "$(jget "$STACK/cells-g.json" generalize)" = '{"postal_prefix": "prefix:1", "birth_year": "band:10"}' ]
check "cells --check exits 3 when a class is below k" eval '"$VST_ADMIN" cells --check >/dev/null; [ $? -eq 3 ]'
check "cells --check --k 2 --by insurance_status exits 0 (each status held by 2+ persons)" \
    eval '"$VST_ADMIN" cells --check --k 2 --by insurance_status >/dev/null'

# ---- releases
"$VST_ADMIN" release create r_planted >"$STACK/rel1.out" 2>&1
check "release create r_planted exits 0" [ $? -eq 0 ]
cat "$STACK/rel1.out" | sed 's/^/# /'
"$VST_ADMIN" release create r_second >>"$STACK/admin.log" 2>&1
check "release create r_second exits 0" [ $? -eq 0 ]
py_checks "release: " python3 "$CHECK" release "$STORE_DB" r_planted 5 "$QI" r_second \
    "postal_prefix IN ('20', '50')"
check "release: only classes B and F remain (17 persons), planted small cells and class A gone" \
    [ "$(sql_store "SELECT string_agg(DISTINCT postal_prefix, ',' ORDER BY postal_prefix) || ' ' || count(DISTINCT pseudonym) FROM release.r_planted")" = "20,50 17" ]
check "release: the catalog records k, 12 suppressed persons" \
    [ "$(sql_store "SELECT k || ' ' || suppressed_persons || ' ' || keep_pseudonyms FROM release.catalog WHERE name = 'r_planted'")" = "5 12 false" ]
check "release: audited as release.created (counts, k), no pseudonym in the audit log" \
    [ "$(sql_trust "SELECT count(*) FROM vst.audit_log WHERE action = 'release.created' AND details->>'name' = 'r_planted' AND (details->>'suppressed_persons')::int = 12 AND (details->>'k')::int = 5")" = 1 ]
sql_trust "SELECT details::text FROM vst.audit_log" >"$STACK/audit.txt"
sql_store "SELECT pseudonym FROM release.r_planted UNION SELECT pseudonym FROM release.r_second" >>"$STACK/pseud.txt"
check "no store or release pseudonym in the audit log or vst-admin's output" \
    absent "$STACK/pseud.txt" "$STACK/audit.txt" "$STACK/rel1.out"
"$VST_ADMIN" release create r_kept --keep-pseudonyms --generalize postal_prefix=prefix:1 >>"$STACK/admin.log" 2>&1
check "release --keep-pseudonyms: store pseudonyms, audited as such" \
    eval '[ "$(sql_store "SELECT count(*) FROM release.r_kept WHERE pseudonym NOT IN (SELECT pseudonym FROM sgb5.records)")" = 0 ] &&
          [ "$(sql_trust "SELECT details->>'"'"'keep_pseudonyms'"'"' FROM vst.audit_log WHERE action = '"'"'release.created'"'"' AND details->>'"'"'name'"'"' = '"'"'r_kept'"'"'")" = true ]'
check "release --generalize postal_prefix=prefix:1: the column holds one digit" \
    [ "$(sql_store "SELECT max(length(postal_prefix)) FROM release.r_kept")" = 1 ]

researcher() { psql -qAtX -v ON_ERROR_STOP=1 -U vst_researcher -d "$STORE_DB" -c "$1" 2>&1; }
# denied ROLE SQL: the statement fails with "permission denied".
denied() {
    local out
    out=$(psql -qAtX -v ON_ERROR_STOP=1 -U "$1" -d "$STORE_DB" -c "$2" 2>&1)
    [ $? -ne 0 ] && [[ $out == *"permission denied"* ]]
}
check "vst_researcher reads a release" [ "$(researcher "SELECT count(*) > 0 FROM release.r_planted")" = t ]
check "vst_researcher reads the catalog's public columns" \
    [ "$(researcher "SELECT string_agg(name, ',' ORDER BY name) FROM release.catalog")" = "r_kept,r_planted,r_second" ]
check "vst_researcher cannot read sgb5.records" denied vst_researcher "SELECT 1 FROM sgb5.records LIMIT 1"
check "vst_researcher cannot read the catalog's release_id" \
    denied vst_researcher "SELECT release_id FROM release.catalog"
check "vst_researcher cannot call the release functions" \
    denied vst_researcher "SELECT vst.release_drop('r_planted')"
check "vst_admin cannot read a release's payload" denied vst_admin "SELECT * FROM release.r_planted"
check "vst_admin cannot read the catalog directly" denied vst_admin "SELECT * FROM release.catalog"

"$VST_ADMIN" release list >"$STACK/list.txt" 2>&1
check "release list names the three releases with k and persons" \
    eval 'grep -Eq "^r_planted +sgb5 +5 +153 +17 +12 " "$STACK/list.txt" && grep -q "^r_second" "$STACK/list.txt" && grep -q "r_kept.*store pseudonyms" "$STACK/list.txt"'
refused "release create of an existing name is refused" 'release "r_planted" exists' \
    "$VST_ADMIN" release create r_planted
"$VST_ADMIN" release drop r_second >>"$STACK/admin.log" 2>&1
check "release drop removes table and catalog entry" \
    [ "$(sql_store "SELECT (to_regclass('release.r_second') IS NULL) || ' ' || count(*) FROM release.catalog WHERE name = 'r_second'")" = "true 0" ]
check "release drop is audited" [ "$(sql_trust "SELECT count(*) FROM vst.audit_log WHERE action = 'release.dropped' AND details->>'name' = 'r_second'")" = 1 ]
refused "release drop of a missing release fails clearly" "there is no release r_second" \
    "$VST_ADMIN" release drop r_second

# ---- what vst_admin can and cannot get from the store's functions directly
adm() { psql -qAtX -v ON_ERROR_STOP=1 -U vst_admin -d "$STORE_DB" "$@" 2>&1; }
out=$(adm -c "SELECT vst.release_begin('probe', 'sgb5', 'sgb5.records', 2, '{sex}', '{}', true, NULL)" \
    -c "SELECT vst.release_plan('probe')" -c "SELECT vst.release_fill('probe', 3)" \
    -c "SELECT vst.release_publish('probe')")
check "release_fill answers an id, not a row count, and a partly written release is not published" \
    eval 'grep -q "not written to its end" <<<"$out" && [ "$(sql_store "SELECT count(*) FROM release.catalog WHERE name = '"'"'probe'"'"'")" = 0 ]'
sql_store "SELECT vst.release_drop('probe')" >/dev/null
out=$(adm -c "SELECT vst.release_begin('fake', 'sgb5', 'sgb5.records', 2, '{sex}', '{}', false, NULL)" \
    -c "SELECT vst.release_key_id('fake', '0011223344556677')" \
    -c "INSERT INTO release_build.fake__map SELECT DISTINCT key_version, pseudonym, pseudonym FROM sgb5.records" \
    -c "SELECT vst.release_plan('fake')" -c "SELECT vst.release_fill('fake', 1000000000)" \
    -c "SELECT vst.release_publish('fake')")
check "a map that keeps store pseudonyms is refused at publish" \
    eval 'grep -q "its map keeps store pseudonyms" <<<"$out" && [ "$(sql_store "SELECT to_regclass('"'"'release.fake'"'"') IS NULL")" = t ]'
"$VST_ADMIN" release drop fake >"$STACK/dropfake.out" 2>&1
check "dropping an interrupted build is audited" \
    eval 'grep -q "interrupted build fake removed" "$STACK/dropfake.out" && [ "$(sql_trust "SELECT count(*) FROM vst.audit_log WHERE action = '"'"'release.dropped'"'"' AND details->>'"'"'name'"'"' = '"'"'fake'"'"' AND details->>'"'"'interrupted_build'"'"' = '"'"'true'"'"'")" = 1 ]'
"$VST_ADMIN" release create r_dropcols --generalize death_year=drop,service=drop,provider_postal_prefix=prefix:1 >>"$STACK/admin.log" 2>&1
check "release --generalize may drop nullable and json columns and generalize nullable ones" \
    [ "$(sql_store "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_schema = 'release' AND table_name = 'r_dropcols' AND column_name IN ('death_year', 'service', 'provider_postal_prefix')")" = provider_postal_prefix ]
refused "cells --generalize drop of a column that is no quasi-identifier is refused" \
    "not a quasi-identifier here" "$VST_ADMIN" cells --generalize provider_group=drop
check "vst-admin release --help lists its commands" eval '"$VST_ADMIN" release --help | grep -q "release create"'

# ---- another profile, and an empty table
"$VST_ADMIN" cells --profile measles --json >"$STACK/measles.json" 2>"$STACK/measles.err"
check "cells --profile measles on its empty table: 0 persons, 0 classes, its own quasi-identifiers" \
    [ "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["persons"], r["classes"], ",".join(r["quasi_identifiers"]))' "$STACK/measles.json")" = "0 0 birth_year,sex,postal_prefix" ]
"$VST_ADMIN" release create m_empty --profile measles --generalize sex=drop >>"$STACK/admin.log" 2>&1
check "release create on an empty table: an empty release without the dropped column" \
    [ "$(sql_store "SELECT count(*) || ' ' || (SELECT count(*) FROM information_schema.columns WHERE table_schema = 'release' AND table_name = 'm_empty' AND column_name = 'sex') FROM release.m_empty")" = "0 0" ]
refused "cells --profile nosuch fails with one line" "profile nosuch" "$VST_ADMIN" cells --profile nosuch
refused "release create with a bad name is refused" "NAME is 1..48 characters" \
    "$VST_ADMIN" release create "Bad-Name"

# ---- a kill in the middle of writing a release
sql_store "INSERT INTO sgb5.records (delivery_ref, pseudonym, key_version, birth_year, sex,
             insurance_status, postal_prefix, service)
           SELECT '00000000-0000-0000-0000-000000000001', md5('bulk' || (i % 40000)), 1,
                  1940 + i % 60, 'W', 1, lpad((i % 7)::text, 2, '0'), '{\"period\":\"2024Q1\"}'
             FROM generate_series(1, 400000) i"
"$VST_ADMIN" release create r_crash --batch 10000 >"$STACK/crash.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    [ "$(sql_store "SELECT CASE WHEN to_regclass('release_build.r_crash') IS NULL THEN 0 ELSE 1 END")" = 1 ] &&
        [ "$(sql_store "SELECT count(*) > 0 FROM release_build.r_crash" 2>/dev/null)" = t ] && break
    sleep 0.05
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
check "the kill landed while rows were being written (not after publishing)" \
    [ "$(sql_store "SELECT count(*) FROM release.catalog WHERE name = 'r_crash'")" = 0 ]
sleep 1
check "after the kill: no release.r_crash, nothing in the catalog for researchers" \
    eval '[ "$(researcher "SELECT count(*) FROM pg_tables WHERE schemaname = '"'"'release'"'"' AND tablename = '"'"'r_crash'"'"'")" = 0 ] &&
          [ "$(researcher "SELECT count(*) FROM release.catalog WHERE name = '"'"'r_crash'"'"'")" = 0 ]'
check "vst_researcher cannot see the interrupted build" \
    denied vst_researcher "SELECT count(*) FROM release_build.r_crash"
check "release list shows the interrupted build" eval '"$VST_ADMIN" release list | grep -q "interrupted build: r_crash"'
"$VST_ADMIN" release create r_crash --batch 100000 >>"$STACK/admin.log" 2>&1
rc=$?
check "create again after the kill finishes" [ "$rc" -eq 0 ]
py_checks "release after the kill: " python3 "$CHECK" release "$STORE_DB" r_crash 5 "$QI" r_planted
check "the re-run left no build behind" [ "$(sql_store "SELECT count(*) FROM release_build.builds")" = 0 ]

# ---- a second session holding the name: vst-admin waits for it, says so once
psql -qAtX -d "$STORE_DB" -c "SELECT pg_advisory_lock(1987277824 + 3, hashtext('r_wait'))" \
    -c "SELECT pg_sleep(2)" >/dev/null 2>&1 &
holder=$!
for _ in $(seq 1 100); do
    [ "$(sql_store "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1987277827")" -gt 0 ] && break
    sleep 0.05
done
"$VST_ADMIN" release create r_wait >"$STACK/wait.out" 2>"$STACK/wait.err"
rc=$?
wait "$holder"
check "release create waits for a name another session holds, and then finishes" \
    eval '[ "$rc" -eq 0 ] && grep -q "another session holds release r_wait" "$STACK/wait.err" &&
          [ "$(grep -c waiting "$STACK/wait.err")" = 1 ]'

"$VST_ADMIN" audit sync >/dev/null 2>&1
check "the audit chain verifies" "$VST_AUDIT" --dsn "host=$PGHOST port=$PGPORT user=vst_auditor dbname=$TRUST_DB" \
    verify --public-key "$SIGNING_KEY"
check "keyd's release_map events reached the audit log without a pseudonym" \
    [ "$(sql_trust "SELECT count(*) FROM vst.audit_log WHERE action = 'keyd.release_map'")" -ge 3 ]
e2e_summary
