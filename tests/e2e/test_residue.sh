#!/usr/bin/env bash
# "The originals are deleted immediately" (DESIGN.md §7, issue 5): after
# deliveries of every outcome — stored, replayed, conflicting, stored with
# vst-send, rejected early and late (422), refused (401/403/415/400), cut
# by a stopped vst-keyd (503) — no KVNR, LANR, BSNR, IK, name, street, city
# or birth date of the input appears anywhere: not in a plain pg_dump of
# either database, not in any log (vst-keyd, vst-httpd, keyd's events file,
# vst-admin, vst-send, the responses, PostgreSQL's log) and not in the raw
# bytes of the PostgreSQL data directory, WAL included, after a CHECKPOINT.
#
# The search is proven to work: a marker inserted into a table is found in
# the table's file, in pg_wal and in the dump; a KVNR-shaped marker is found
# in a file under the stack directory and in the data directory.
#
# The cluster is shared with the suites that ran before: values that occur
# there before this suite delivers anything (a chance collision with
# another suite's data or a catalog string) are left out of the search,
# and there must be very few of them.
#
# Env: as stack.sh. Seeds 987654... are this suite's: no other suite may
# use them.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/stack.sh"
source "$HERE/resilience_lib.sh"
SCAN="python3 $HERE/residue_scan.py"

# The inputs and the search's own files live outside the searched places.
WORK=$(mktemp -d /tmp/vst-residue.XXXXXX)
cleanup() {
    pg_ensure_running
    stack_down
    [ -n "${KEEP_STACK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

stack_up || { echo "Bail out! the test stack did not come up"; exit 1; }
echo "# stack in $STACK, https on $URL"
IN=$WORK/in
mkdir -p "$IN"
gen() { "$VST_GEN" --seed "$1" --records "$2" ${3:+--persons "$3"} -o "$IN/$4.ndjson"; }
gen 987654 3000 2000 valid &&
    gen 987655 300 "" conflict &&
    gen 987656 1000 "" send &&
    gen 987657 200 "" bad-early &&
    gen 987658 6000 "" bad-late &&
    gen 987659 300 "" revoked &&
    gen 987660 300 "" unknown &&
    gen 987661 300 "" nocert &&
    gen 987662 300 "" wrongtype &&
    gen 987663 1000 "" keyd-down || exit 1
# Children of the linkage profiles (DESIGN.md §13), 5 % with errors: their
# names and birth dates are only normalized in vst-httpd and sent to keyd.
"$VST_GEN" --profile measles_case --records 1500 --overlap 500 --seed 987664 \
    -o "$IN/children-a.ndjson" 2>/dev/null &&
    "$VST_GEN" --profile school_entry --records 1500 --overlap 500 --seed 987664 \
        -o "$IN/children-b.ndjson" 2>/dev/null || exit 1

# Invalid records that carry identifiers: a wrong sex, a KVNR with a wrong
# check digit, a non-date birth date, a field the profile does not know
# holding a name (late: the last of 6000 lines, after rows were COPYed).
python3 - "$IN/bad-early.ndjson" "$IN/bad-late.ndjson" <<'PY'
import json, sys
def corrupt(path, edits):
    lines = open(path).read().splitlines()
    for idx, fn in edits:
        r = json.loads(lines[idx])
        fn(r)
        lines[idx] = json.dumps(r, separators=(",", ":"))
    open(path, "w").write("\n".join(lines) + "\n")
def bad_kvnr(r):
    k = r["insured"]["kvnr"]
    r["insured"]["kvnr"] = k[:9] + str((int(k[9]) + 1) % 10)
def bad_sex(r): r["insured"]["sex"] = "Q"
def bad_date(r): r["insured"]["birth_date"] = r["insured"]["birth_date"].replace("-", ".")
def extra(r): r["insured"]["note"] = r["insured"]["last_name"] + " " + r["insured"]["city"]
corrupt(sys.argv[1], [(2, bad_sex), (49, bad_kvnr), (119, bad_date), (150, extra)])
corrupt(sys.argv[2], [(5999, bad_kvnr)])
PY

# ---- what to look for

$SCAN patterns "$WORK/values.tsv" "$IN"/*.ndjson
cut -f2 "$WORK/values.tsv" | grep -vx '260326822' >"$WORK/patterns.all" # the clients' IK
for k in kvnr lanr bsnr ik last_name first_name street city birth_date provider_name \
    child_given child_family child_birth; do
    printf '# %-14s %6d values\n' "$k" "$(grep -c "^$k	" "$WORK/values.tsv")"
done
check "the inputs give a search value of every kind" \
    bash -c 'for k in kvnr lanr bsnr ik last_name first_name street city birth_date child_given child_family child_birth; do
                 grep -q "^$k	" "$0" || { echo "# no $k" >&2; exit 1; }; done' "$WORK/values.tsv"
# A delivery id that is a KVNR of the input (refused with 400).
ID_KVNR=$(awk -F'\t' '$1 == "kvnr" { print $2; exit }' "$WORK/values.tsv")

dumps() {
    pg_dump -d "$TRUST_DB" -f "$STACK/dump-trust.sql" &&
        pg_dump -d "$STORE_DB" -f "$STACK/dump-store.sql"
}
scan_all() { # scan_all PATTERNS OUT.json
    psql -qX -d postgres -c CHECKPOINT >/dev/null
    dumps || return 1
    $SCAN scan "$1" "$2" "$STACK" "$PGHOST"
}

# Baseline before this suite delivers anything.
scan_all "$WORK/patterns.all" "$WORK/scan-base.json" || not_ok "baseline scan"
python3 - "$WORK/scan-base.json" "$WORK/patterns.all" "$WORK/patterns" <<'PY'
import json, sys
hits = json.load(open(sys.argv[1]))["hits"]
pats = [p for p in open(sys.argv[2]).read().split("\n") if p]
with open(sys.argv[3], "w") as fh:
    fh.writelines(p + "\n" for p in pats if p not in hits)
for p, h in list(hits.items())[:20]:
    print(f"# before any delivery, already present: {p!r} x{h['count']} e.g. {h['where'][0]}")
PY
NALL=$(wc -l <"$WORK/patterns.all")
NUSE=$(wc -l <"$WORK/patterns")
echo "# searching for $NUSE values ($((NALL - NUSE)) present before this suite's deliveries)"
check "at most 1% of the values occur in the cluster before any delivery" \
    [ $(((NALL - NUSE) * 100)) -le "$NALL" ]

# ---- deliveries of every outcome

check "valid delivery: 201" [ "$(deliver insurer residue-valid "$IN/valid.ndjson")" = 201 ]
check "replay: 200" [ "$(deliver insurer residue-valid "$IN/valid.ndjson")" = 200 ]
check "same id, different body: 409" [ "$(deliver insurer residue-valid "$IN/conflict.ndjson")" = 409 ]
"$VST_SEND" --url "$URL" --ca "$STACK/certs/ca.pem" --cert "$STACK/certs/insurer.pem" \
    --key "$STACK/certs/insurer.key" --public-key "$SIGNING_KEY" --quiet \
    residue-send "$IN/send.ndjson" >"$STACK/send.out" 2>&1
check "vst-send delivery: exit 0" [ $? = 0 ]
st=$(deliver insurer residue-bad-early "$IN/bad-early.ndjson")
cp "$STACK/last.json" "$STACK/bad-early.json"
check "invalid records: 422 (got $st)" [ "$st" = 422 ]
check "the 422 lists the 4 bad lines" \
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if sorted({e["line"] for e in d["errors"]}) == [3, 50, 120, 151] else 1)' \
    "$STACK/bad-early.json"
st=$(deliver insurer residue-bad-late "$IN/bad-late.ndjson")
cp "$STACK/last.json" "$STACK/bad-late.json"
check "an invalid last record after 5999 valid ones: 422 (got $st)" [ "$st" = 422 ]
check "revoked client: 403" [ "$(deliver revoked residue-revoked "$IN/revoked.ndjson")" = 403 ]
st=$(deliver unknown residue-unknown "$IN/unknown.ndjson")
check "unknown client: 401/403 (got $st)" [ "${st:0:2}" = 40 ]
st=$(deliver none residue-nocert "$IN/nocert.ndjson")
check "no client certificate: 401 (got $st)" [ "$st" = 401 ]
st=$(api insurer -o "$STACK/last.json" -w '%{http_code}' -X PUT -H 'Content-Type: text/plain' \
    --data-binary "@$IN/wrongtype.ndjson" "$URL/v1/deliveries/residue-wrongtype")
check "wrong content type: 415 (got $st)" [ "$st" = 415 ]
st=$(deliver insurer "$ID_KVNR" "$IN/conflict.ndjson")
check "a KVNR as delivery id: 400 (got $st)" [ "$st" = 400 ]
st=$(api insurer -o "$STACK/last.json" -w '%{http_code}' "$URL/v1/deliveries/$ID_KVNR")
check "GET with a KVNR as delivery id: 404 (got $st)" [ "$st" = 404 ]
keyd_stop
st=$(deliver insurer residue-keyd-down "$IN/keyd-down.ndjson")
check "vst-keyd stopped: 503 (got $st)" [ "$st" = 503 ]
keyd_start || not_ok "vst-keyd did not start again"
check "store rows = the two stored deliveries (3000 + 1000)" [ "$(store_total)" = 4000 ]
check "every store row belongs to a receipt" store_matches_receipts
check "no prepared transaction left" [ "$(prepared_count)" = 0 ]
st=$(deliver insurer "residue-children-a?profile=measles_case" "$IN/children-a.ndjson")
st2=$(deliver insurer "residue-children-b?profile=school_entry" "$IN/children-b.ndjson")
check "children of both linkage profiles stored ($st, $st2)" [ "$st $st2" = "201 201" ]
"$VST_ADMIN" overlap --a measles_case --b school_entry >"$STACK/overlap.txt" 2>&1
check "an overlap query over them runs (its values pass through vst-admin and keyd)" \
    grep -q "in common of 1500 and 1500 records" "$STACK/overlap.txt"
httpd_stop # flushes its logs; a final audit checkpoint
keyd_stop

# ---- positive controls: markers the search must find

MARK=VSTRESIDUEPROBE$(openssl rand -hex 8 | tr a-f A-F)
MARK_KVNR=Q$(printf "%09d" $(((RANDOM * 32768 + RANDOM) % 1000000000)))
grep -qxF "$MARK_KVNR" "$WORK/patterns.all" && MARK_KVNR=Q000000017
echo "a leaked identifier would look like $MARK_KVNR here" >"$STACK/probe.txt"
sql_store "CREATE TABLE public.residue_probe (t text); INSERT INTO public.residue_probe
           VALUES ('$MARK'), ('$MARK_KVNR')" || not_ok "inserting the markers"
{ cat "$WORK/patterns"; echo "$MARK"; echo "$MARK_KVNR"; } >"$WORK/patterns.final"

# ---- the search

scan_all "$WORK/patterns.final" "$WORK/scan-final.json" || not_ok "final scan"
python3 - "$WORK/scan-final.json" "$WORK/values.tsv" "$STACK" "$PGHOST" "$MARK" "$MARK_KVNR" \
    >"$WORK/report.txt" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
hits = res["hits"]
kind = dict(reversed(l.split("\t", 1)) for l in open(sys.argv[2]).read().splitlines() if l)
stack, pghost, mark, mark_kvnr = sys.argv[3:7]
def area(path):
    if path.startswith(stack + "/dump-"):
        return "dump"
    if path.startswith(stack + "/"):
        return "stack"  # logs, responses, vst-send output, probe.txt
    if path.startswith(pghost + "/data/pg_wal/"):
        return "wal"
    if path.startswith(pghost + "/data/"):
        return "datadir"
    return "pglog"
for m, name in ((mark, "MARK"), (mark_kvnr, "MARK_KVNR")):
    areas = sorted({area(w[0]) for w in hits.pop(m, {"where": []})["where"]})
    print(name, " ".join(areas) or "-")
by_area, by_kind = {}, {}
for p, h in hits.items():
    k = kind.get(p, "?")
    for w in h["where"]:
        by_area.setdefault(area(w[0]), []).append(f"{k} {p!r} in {w[0]} @{w[1]}")
    by_kind[k] = by_kind.get(k, 0) + h["count"]
for a in ("dump", "stack", "pglog", "datadir", "wal"):
    print("AREA", a, len(by_area.get(a, [])))
    for line in by_area.get(a, [])[:10]:
        print("#   ", line)
for k in ("kvnr", "lanr", "bsnr", "ik", "last_name", "first_name", "street", "city",
          "birth_date", "provider_name", "child_given", "child_family", "child_birth"):
    print("KIND", k, by_kind.get(k, 0))
print("EXEMPT", res["exempt"])
PY
grep '^#' "$WORK/report.txt"
area_count() { awk -v a="$1" '$1 == "AREA" && $2 == a { print $3 }' "$WORK/report.txt"; }
kind_count() { awk -v k="$1" '$1 == "KIND" && $2 == k { print $3 }' "$WORK/report.txt"; }
found_in() { grep "^$1 " "$WORK/report.txt" | grep -qw "$2"; }
echo "# numeric values seen only inside hex strings (pseudonyms, hashes): $(awk '$1 == "EXEMPT" { print $2 }' "$WORK/report.txt")"

check "control: the table marker is found in the data directory's table files" found_in MARK datadir
check "control: the table marker is found in pg_wal" found_in MARK wal
check "control: the table marker is found in the store's dump" found_in MARK dump
check "control: the KVNR-shaped marker is found in a file of the stack directory" found_in MARK_KVNR stack
check "control: the KVNR-shaped marker is found in the data directory" found_in MARK_KVNR datadir

check "no input value in the pg_dump of either database" [ "$(area_count dump)" = 0 ]
check "no input value in any log or response of the stack (keyd, httpd, events, admin, vst-send)" \
    [ "$(area_count stack)" = 0 ]
check "no input value in PostgreSQL's log" [ "$(area_count pglog)" = 0 ]
check "no input value in the data directory's files (tables, indexes, catalogs)" \
    [ "$(area_count datadir)" = 0 ]
check "no input value in pg_wal" [ "$(area_count wal)" = 0 ]
for k in kvnr lanr bsnr ik last_name first_name street city birth_date provider_name \
    child_given child_family child_birth; do
    check "no $k of the input anywhere" [ "$(kind_count "$k")" = 0 ]
done
check "the 422 responses name lines, fields and codes, never a value" \
    bash -c '! grep -F -f "$0" "$1" "$2"' "$WORK/patterns.all" "$STACK/bad-early.json" "$STACK/bad-late.json"
check "no sanitizer report in the daemons' logs (after a clean shutdown)" \
    bash -c "! grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' '$STACK/httpd.log' '$STACK/keyd.log'"
sql_store "DROP TABLE public.residue_probe" >/dev/null
e2e_summary
