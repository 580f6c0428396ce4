#!/usr/bin/env bash
# Providers as the law pseudonymizes them (issue 10, DESIGN.md §5), on real
# daemons (tests/e2e/stack.sh) with the shipped sgb5 profile:
#   - one physician under two specialty groups: one provider_pseudonym, two
#     provider_group values (the LANR pseudonym is of digits 1-7);
#   - the three placeholder LANR kinds and the substitute BSNR: NULL
#     pseudonym, the placeholder's name, the describing columns kept;
#   - a death date: death_year; a death before birth: 422 date_order,
#     without the value;
#   - vst-admin rekey: placeholder rows keep their NULLs and names, every
#     other pseudonym is re-keyed and equals a fresh delivery's under the
#     new key.
# Identifiers are synthetic, with valid check digits (DESIGN.md §4).
set -uo pipefail
. "$(dirname "$0")/stack.sh"
trap stack_down EXIT

stack_up_or_bail

check "vst-httpd's load log line names the profile, without a warning" \
    grep -q '"profile sgb5 loaded from .*sgb5.json"' "$STACK/httpd.log"
check "... and no re-identification warning for sgb5's 2 postal digits" \
    eval '! grep -q "re-identification" "$STACK/httpd.log"'

# KVNRs J10000001x..: check digits computed by DESIGN.md §4's rule.
# LANRs: 314159 (check 3) under groups 01 and 23; 271828 (check 3).
rec() { # KVNR BIRTH PROVIDER-JSON [EXTRA-INSURED-JSON]
    printf '{"insured":{"kvnr":"%s","birth_date":"%s","sex":"W","insurance_status":"1","postal_code":"10115"%s},"provider":{%s},"service":{"period":"2024Q1"}}\n' \
        "$1" "$2" "${4:-}" "$3"
}
{
    rec J100000014 1950-01-01 '"lanr":"314159301","bsnr":"721234500"'
    rec J100000026 1960-02-02 '"lanr":"314159323","bsnr":"721234500"'
    rec J100000038 1970-03-03 '"lanr":"271828301"'
    rec J100000040 1980-04-04 '"lanr":"999999900","bsnr":"721234500"'
    rec J100000053 1990-05-05 '"lanr":"999999991"'
    rec J100000065 1945-06-06 '"lanr":"444444470","postal_code":"20095"'
    rec J100000077 1955-07-07 '"lanr":"314159301","bsnr":"179999900"'
    rec J100000089 1935-08-08 '"lanr":"999999900","bsnr":"179999900"' ',"death_date":"2023-09-30"'
} >"$STACK/providers.nd"

st=$(deliver insurer prov-1 "$STACK/providers.nd")
check "the delivery is stored (got $st)" [ "$st" = 201 ]

rows() {
    sql_store "SELECT concat_ws('|', coalesce(provider_pseudonym, '-'), coalesce(provider_group, '-'),
        coalesce(provider_region, '-'), coalesce(provider_placeholder, '-'),
        coalesce(practice_pseudonym, '-'), coalesce(practice_placeholder, '-'),
        coalesce(provider_postal_prefix, '-'), coalesce(death_year::text, '-'), birth_year,
        key_version) FROM sgb5.records ORDER BY id"
}
mapfile -t R < <(rows)
check "8 rows" [ "${#R[@]}" = 8 ]
field() { cut -d'|' -f"$2" <<<"${R[$1]}"; }
# Placeholders and pseudonyms masked: what each row must hold exactly.
masked() {
    local i out=()
    for i in "${!R[@]}"; do
        out+=("$(sed -E 's/[0-9a-f]{32}/P/g' <<<"${R[$i]}")")
    done
    printf '%s\n' "${out[@]}"
}
want='P|01|72|-|P|-|-|-|1950|1
P|23|72|-|P|-|-|-|1960|1
P|01|-|-|-|-|-|-|1970|1
-|00|72|non_physician|P|-|-|-|1980|1
-|91|-|unassigned_physician|-|-|-|-|1990|1
-|70|-|hospital_discharge|-|-|20|-|1945|1
P|01|17|-|-|substitute_practice|-|-|1955|1
-|00|17|non_physician|-|substitute_practice|-|2023|1935|1'
got=$(masked)
check "the store rows hold exactly the expected columns" [ "$got" = "$want" ]
[ "$got" = "$want" ] || diff <(echo "$want") <(echo "$got") | sed 's/^/# /'

check "one physician under groups 01 and 23: one provider_pseudonym" \
    [ "$(field 0 1)" = "$(field 1 1)" ]
check "... the same as under the substitute practice" [ "$(field 0 1)" = "$(field 6 1)" ]
check "another physician: another provider_pseudonym" [ "$(field 0 1)" != "$(field 2 1)" ]
check "the same BSNR: one practice_pseudonym" [ "$(field 0 5)" = "$(field 3 5)" ]
check "no placeholder row has a provider or practice pseudonym" [ "$(sql_store "SELECT count(*)
    FROM sgb5.records WHERE (provider_placeholder IS NOT NULL AND provider_pseudonym IS NOT NULL)
       OR (practice_placeholder IS NOT NULL AND practice_pseudonym IS NOT NULL)")" = 0 ]

# Placeholders never reach keyd: the delivery's audit event counts what keyd
# pseudonymized per domain (8 KVNRs, 4 LANR stems, 3 BSNRs), and keyd's
# own usage, synced into the log, reconciles with it (vst-audit verify).
check "the delivery event counts no placeholder among keyd's identifiers" [ "$(sql_trust "SELECT
    (details->'identifiers')::jsonb = '{\"sgb5/ik\": 0, \"sgb5/bsnr\": 3, \"sgb5/insured\": 8,
    \"sgb5/lanr-stem\": 4}'::jsonb FROM vst.audit_log WHERE action = 'delivery.stored'
    AND details->>'delivery_id' = 'prov-1'")" = t ]
"$VST_ADMIN" audit sync >>"$STACK/admin.log" 2>&1
AUDIT_DSN="host=$PGHOST port=$PGPORT user=vst_auditor dbname=$TRUST_DB"
check "keyd's usage reconciles with the delivery events (vst-audit verify)" \
    "$VST_AUDIT" --dsn "$AUDIT_DSN" verify --public-key "$SIGNING_KEY"

# Death before birth: 422 with the path and the code, never the value.
rec J100000014 1950-01-01 '"lanr":"314159301"' ',"death_date":"1949-12-24"' >"$STACK/bad.nd"
st=$(deliver insurer prov-bad "$STACK/bad.nd")
check "a death before birth is refused (got $st)" [ "$st" = 422 ]
check "... as insured.death_date date_order" \
    python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["errors"];
sys.exit(0 if [(x["line"], x["field"], x["code"]) for x in e] == [(1, "insured.death_date", "date_order")] else 1)' \
    "$STACK/last.json"
check "... and the 422 body holds neither date" \
    eval '! grep -qE "1949-12-24|1950-01-01" "$STACK/last.json"'

# Re-key: placeholder rows keep their NULLs and names; the rest move to v2.
# A linkage table's row (control values, DESIGN.md §13) is re-keyed too,
# by keyd's CV_REKEY under its collection: version 2, every value changed
# (e2e_linkage shows that re-keyed values still link).
CV=0123456789abcdef0123456789abcdef
sql_store "INSERT INTO measles_case.records (delivery_ref, key_version, birth_year, sex,
    postal_prefix, \"case\", cv_exact, cv_phonetic, cv_swapped, cv_daymonth, cv_year,
    cv_birthname) VALUES (gen_random_uuid(), 1, 2019, 'W', '60',
    '{\"year\": 2025, \"district\": \"06412\", \"follow_up\": true}',
    '$CV', '$CV', '$CV', '$CV', '$CV', '$CV')"
before=$(masked)
"$VST_ADMIN" key rotate >>"$STACK/admin.log" 2>&1
"$VST_ADMIN" rekey >"$STACK/rekey.log" 2>&1
check "vst-admin rekey succeeds" [ $? = 0 ]
check "... and re-keys the linkage table's row: version 2, all six control values changed" \
    [ "$(sql_store "SELECT key_version || ' ' || (cv_exact <> '$CV' AND cv_phonetic <> '$CV' AND
        cv_swapped <> '$CV' AND cv_daymonth <> '$CV' AND cv_year <> '$CV' AND cv_birthname <> '$CV')
        FROM measles_case.records")" = "2 true" ]
mapfile -t R2 < <(rows)
after=$(printf '%s\n' "${R2[@]}" | sed -E 's/[0-9a-f]{32}/P/g')
check "rekey leaves placeholder columns and NULL pseudonyms as they were (key_version 2)" \
    [ "$after" = "$(sed 's/|1$/|2/' <<<"$before")" ]
check "rekey changed the physician's pseudonym" [ "$(cut -d'|' -f1 <<<"${R2[0]}")" != "$(field 0 1)" ]
check "... and the two groups still share it" \
    [ "$(cut -d'|' -f1 <<<"${R2[0]}")" = "$(cut -d'|' -f1 <<<"${R2[1]}")" ]
# A fresh delivery under v2 gives the re-keyed pseudonyms.
n0=$(sql_store "SELECT max(id) FROM sgb5.records")
st=$(deliver insurer prov-2 "$STACK/providers.nd")
check "the same records delivered again under v2 (got $st)" [ "$st" = 201 ]
check "... give exactly the re-keyed rows" [ "$(sql_store "SELECT string_agg(concat_ws('|',
    pseudonym, provider_pseudonym, practice_pseudonym, provider_placeholder, practice_placeholder,
    key_version), ',' ORDER BY id) FROM sgb5.records WHERE id > $n0")" = "$(sql_store "SELECT
    string_agg(concat_ws('|', pseudonym, provider_pseudonym, practice_pseudonym,
    provider_placeholder, practice_placeholder, key_version), ',' ORDER BY id)
    FROM sgb5.records WHERE id <= $n0")" ]
e2e_summary
