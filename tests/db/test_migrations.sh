#!/usr/bin/env bash
# Tests sql/migrate.sh and the schema it builds: idempotence, refusal of an
# edited migration, rollback of a failing one, concurrent runners, object
# ownership, every role's grants on both databases, the append-only audit log
# and its hash chain (recomputed here independently, from the fetched
# columns, exactly as docs/database.md specifies it for vst-audit).
#
# Needs a PostgreSQL 15 cluster reachable through PGHOST/PGPORT/PGUSER as a
# superuser, with trust authentication for the vst roles (tests/run.sh starts
# one). Creates its own databases and drops them on exit. Prints one
# "ok - ..." / "not ok - ..." line per check and "N passed, N failed".
set -uo pipefail

ROOT=${VST_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MIGRATE=$ROOT/sql/migrate.sh
PASS=0
FAIL=0

ok() { PASS=$((PASS + 1)); printf 'ok - %s\n' "$1"; }
nok() {
    FAIL=$((FAIL + 1))
    printf 'not ok - %s\n' "$1"
    [ -z "${2:-}" ] || printf '#   %s\n' "${2//$'\n'/$'\n#   '}"
}
finish() {
    printf '%d passed, %d failed\n' "$PASS" "$FAIL"
    [ "$FAIL" -eq 0 ]
    exit
}

if [ -z "${PGHOST:-}" ] || [ -z "${PGPORT:-}" ] || [ -z "${PGUSER:-}" ]; then
    nok "PGHOST, PGPORT and PGUSER name a superuser connection (run via tests/run.sh)"
    finish
fi

TAG=$$
# Byte-exact round trips of non-ASCII text, whatever the locale of the caller.
export PGCLIENTENCODING=UTF8
TRUST_DB=vst_mt_trust_$TAG
STORE_DB=vst_mt_store_$TAG
CONC_DB=vst_mt_conc_$TAG
UP_DB=vst_mt_up_$TAG
DSN_BASE="host=$PGHOST port=$PGPORT user=$PGUSER"
TRUST_DSN="$DSN_BASE dbname=$TRUST_DB"
STORE_DSN="$DSN_BASE dbname=$STORE_DB"
CONC_DSN="$DSN_BASE dbname=$CONC_DB"
UP_DSN="$DSN_BASE dbname=$UP_DB"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vst-mt.XXXXXX")
ERR=$TMP/err

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local db gid
    for db in "$TRUST_DB" "$STORE_DB" "$CONC_DB" "$UP_DB"; do
        # A left-over prepared transaction would keep the database alive.
        for gid in $(psql -X -qAt -d postgres -c \
            "SELECT gid FROM pg_prepared_xacts WHERE database = '$db'" 2>/dev/null); do
            psql -X -q -d "$db" -c "ROLLBACK PREPARED '$gid'" >/dev/null 2>&1
        done
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

# q ROLE DB SQL...: runs SQL as ROLE, prints tuples unaligned, stderr to $ERR.
q() {
    local role=$1 db=$2
    shift 2
    local args=()
    for s in "$@"; do args+=(-c "$s"); done
    psql -X -qAt -v ON_ERROR_STOP=1 -U "$role" -d "$db" "${args[@]}" 2>"$ERR"
}
# asu DB SQL...: as the cluster superuser.
asu() { local db=$1; shift; q "$PGUSER" "$db" "$@"; }

expect_ok() {   # DESC ROLE DB SQL...
    local desc=$1
    shift
    if q "$@" >/dev/null; then ok "$desc"; else nok "$desc" "$(cat "$ERR")"; fi
}
expect_fail() { # DESC PATTERN ROLE DB SQL...: must fail with stderr matching PATTERN
    local desc=$1 pat=$2
    shift 2
    if q "$@" >/dev/null; then
        nok "$desc" "succeeded but should have failed"
    elif grep -qiE "$pat" "$ERR"; then
        ok "$desc"
    else
        nok "$desc" "failed for another reason: $(cat "$ERR")"
    fi
}
expect_eq() {   # DESC EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then ok "$1"; else nok "$1" "expected [$2], got [$3]"; fi
}
DENIED='permission denied'
APPEND_ONLY='append-only'

# --- the runner --------------------------------------------------------------
if out=$("$MIGRATE" --help 2>&1) && [[ $out == usage:* ]]; then
    ok "migrate.sh --help prints usage and exits 0"
else
    nok "migrate.sh --help prints usage and exits 0" "$out"
fi
for args in "" "bogus $TRUST_DSN" "trust"; do
    # shellcheck disable=SC2086
    if "$MIGRATE" $args >/dev/null 2>"$ERR"; then
        nok "migrate.sh refuses arguments '$args'" "exit 0"
    elif [ "$(wc -l <"$ERR")" -eq 1 ]; then
        ok "migrate.sh refuses arguments '$args' with one line"
    else
        nok "migrate.sh refuses arguments '$args' with one line" "$(cat "$ERR")"
    fi
done
if "$MIGRATE" store "$DSN_BASE dbname=postgres" >/dev/null 2>"$ERR"; then
    nok "migrate.sh refuses the cluster's postgres database" "exit 0"
elif [ "$(wc -l <"$ERR")" -eq 1 ] && grep -q "refusing" "$ERR"; then
    ok "migrate.sh refuses the cluster's postgres database with one line"
else
    nok "migrate.sh refuses the cluster's postgres database with one line" "$(cat "$ERR")"
fi
if cmp -s "$ROOT/sql/trust/0001_roles.sql" "$ROOT/sql/store/0001_roles.sql"; then
    ok "0001_roles.sql is the same in trust and store"
else
    nok "0001_roles.sql is the same in trust and store"
fi
# One source, two migrations: both 0001_roles.sql are links to
# sql/shared/0001_roles.sql, so that the text cannot drift apart while each
# target's runner still hashes (and records) the same bytes as before.
shared=$(readlink -f "$ROOT/sql/shared/0001_roles.sql")
if [ -L "$ROOT/sql/trust/0001_roles.sql" ] && [ -L "$ROOT/sql/store/0001_roles.sql" ] &&
    [ "$(readlink -f "$ROOT/sql/trust/0001_roles.sql")" = "$shared" ] &&
    [ "$(readlink -f "$ROOT/sql/store/0001_roles.sql")" = "$shared" ]; then
    ok "trust and store 0001_roles.sql are sql/shared/0001_roles.sql"
else
    nok "trust and store 0001_roles.sql are sql/shared/0001_roles.sql"
fi
# A released migration keeps its bytes: the sum vst_meta.schema_migrations
# holds for it on every installation (tests/db/migrations.sha256).
bad_sums=() pinned=()
while read -r sum file; do
    [[ -z $sum || $sum == \#* ]] && continue
    pinned+=("$file")
    have=$(sha256sum <"$ROOT/sql/$file" 2>/dev/null | cut -d' ' -f1)
    [ "$have" = "$sum" ] || bad_sums+=("$file")
done <"$ROOT/tests/db/migrations.sha256"
if [ ${#pinned[@]} -gt 0 ] && [ ${#bad_sums[@]} -eq 0 ]; then
    ok "the ${#pinned[@]} released migrations keep their SHA-256"
else
    nok "the ${#pinned[@]} released migrations keep their SHA-256" "changed: ${bad_sums[*]}"
fi
for f in "$ROOT"/sql/trust/*.sql "$ROOT"/sql/store/*.sql; do
    rel=${f#"$ROOT/sql/"}
    [[ " ${pinned[*]} " == *" $rel "* ]] ||
        printf '# %s is not in tests/db/migrations.sha256 yet (add it once released)\n' "$rel"
done

for db in "$TRUST_DB" "$STORE_DB" "$CONC_DB"; do
    asu postgres "CREATE DATABASE $db" >/dev/null || { nok "create database $db" "$(cat "$ERR")"; finish; }
done

n_trust=$(find "$ROOT/sql/trust" -name '[0-9][0-9][0-9][0-9]_*.sql' | wc -l)
n_store=$(find "$ROOT/sql/store" -name '[0-9][0-9][0-9][0-9]_*.sql' | wc -l)
for t in trust store; do
    dsn=$TRUST_DSN n=$n_trust
    [ $t = store ] && dsn=$STORE_DSN n=$n_store
    if out=$("$MIGRATE" $t "$dsn" 2>"$ERR"); then
        got=$(grep -c "^$t: applied [0-9]\{4\}_" <<<"$out")
        expect_eq "first run applies all $n $t migrations" "$n" "$got"
    else
        nok "first run of $t migrations" "$(cat "$ERR")"
        finish
    fi
done

BOOK="SELECT target, version, name, sha256, applied_at FROM vst_meta.schema_migrations ORDER BY 1, 2"
book_trust=$(asu "$TRUST_DB" "$BOOK")
book_store=$(asu "$STORE_DB" "$BOOK")
expect_eq "trust bookkeeping has one row per migration" "$n_trust" "$(wc -l <<<"$book_trust")"

for t in trust store; do
    dsn=$TRUST_DSN
    [ $t = store ] && dsn=$STORE_DSN
    out=$("$MIGRATE" $t "$dsn" 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && ! grep -q "^$t: applied [0-9]" <<<"$out" &&
        grep -q "nothing to apply" <<<"$out"; then
        ok "second run of $t applies nothing and says so"
    else
        nok "second run of $t applies nothing and says so" "rc=$rc: $out"
    fi
done
expect_eq "trust bookkeeping unchanged by the second run" "$book_trust" "$(asu "$TRUST_DB" "$BOOK")"
expect_eq "store bookkeeping unchanged by the second run" "$book_store" "$(asu "$STORE_DB" "$BOOK")"

# An applied migration edited afterwards is refused.
cp -r "$ROOT/sql" "$TMP/edited"
edited=$(find "$TMP/edited/trust" -name '0002_*.sql' | head -1)
printf '\n-- edited after it was applied\n' >>"$edited"
if VST_SQL_DIR=$TMP/edited "$MIGRATE" trust "$TRUST_DSN" >/dev/null 2>"$ERR"; then
    nok "an edited applied migration is refused" "exit 0"
elif [ "$(wc -l <"$ERR")" -eq 1 ] && grep -q "changed after it was applied" "$ERR"; then
    ok "an edited applied migration is refused with one line"
else
    nok "an edited applied migration is refused with one line" "$(cat "$ERR")"
fi
expect_eq "a refused run records nothing" "$book_trust" "$(asu "$TRUST_DB" "$BOOK")"

# A failing migration leaves no trace, not even its earlier statements.
cp -r "$ROOT/sql" "$TMP/broken"
cat >"$TMP/broken/trust/0900_broken.sql" <<'SQL'
SET LOCAL ROLE vst_owner;
CREATE TABLE vst.mt_junk (x integer);
SELECT 1 / 0;
SQL
if VST_SQL_DIR=$TMP/broken "$MIGRATE" trust "$TRUST_DSN" >/dev/null 2>"$ERR"; then
    nok "a failing migration makes the runner fail" "exit 0"
elif [ "$(wc -l <"$ERR")" -eq 1 ] && grep -q "0900_broken.sql" "$ERR"; then
    ok "a failing migration fails the run with one line naming the file"
else
    nok "a failing migration fails the run with one line naming the file" "$(cat "$ERR")"
fi
expect_eq "a failing migration is rolled back and not recorded" "|0" \
    "$(asu "$TRUST_DB" "SELECT to_regclass('vst.mt_junk'),
        (SELECT count(*) FROM vst_meta.schema_migrations WHERE version = 900)")"

# Two runners at once: each version is applied exactly once, both succeed.
"$MIGRATE" store "$CONC_DSN" >"$TMP/c1" 2>&1 &
p1=$!
"$MIGRATE" store "$CONC_DSN" >"$TMP/c2" 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
if [ $r1 -eq 0 ] && [ $r2 -eq 0 ]; then
    ok "two concurrent runners both succeed"
else
    nok "two concurrent runners both succeed" "$(cat "$TMP/c1" "$TMP/c2")"
fi
expect_eq "concurrent runners apply each version once" "$n_store" \
    "$(cat "$TMP/c1" "$TMP/c2" | grep -c '^store: applied [0-9]\{4\}_')"
expect_eq "concurrent runners record each version once" "$n_store" \
    "$(asu "$CONC_DB" "SELECT count(DISTINCT version) FROM vst_meta.schema_migrations")"

# --- roles and ownership -----------------------------------------------------
expect_eq "vst_owner cannot log in; the four others can, none is privileged" \
    "vst_admin|t|f vst_auditor|t|f vst_httpd|t|f vst_owner|f|f vst_researcher|t|f" \
    "$(asu postgres "SELECT rolname, rolcanlogin, rolsuper OR rolcreaterole OR rolcreatedb
                      OR rolreplication OR rolbypassrls FROM pg_roles
                     WHERE rolname LIKE 'vst\_%' ORDER BY 1" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "no login role is a member of vst_owner" "0" \
    "$(asu postgres "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
                     WHERE m.roleid = 'vst_owner'::regrole AND r.rolcanlogin")"
OWNERS="SELECT count(*) FILTER (WHERE owner <> 'vst_owner'), count(*) FROM (
          SELECT pg_get_userbyid(relowner) AS owner FROM pg_class
           WHERE relnamespace::regnamespace::text IN ('vst', 'sgb5', 'measles', 'release',
                                                      'release_build', 'measles_case',
                                                      'school_entry')
          UNION ALL
          SELECT pg_get_userbyid(proowner) FROM pg_proc
           WHERE pronamespace::regnamespace::text IN ('vst', 'sgb5', 'measles')
          UNION ALL
          SELECT pg_get_userbyid(nspowner) FROM pg_namespace
           WHERE nspname IN ('vst', 'sgb5', 'measles', 'release', 'release_build',
                             'measles_case', 'school_entry')) o"
r=$(asu "$TRUST_DB" "$OWNERS")
if [ "${r%%|*}" = 0 ] && [ "${r##*|}" -gt 20 ]; then
    ok "vst_owner owns every object of the trust DB (${r##*|})"
else
    nok "vst_owner owns every object of the trust DB" "not owned|total: $r"
fi
r=$(asu "$STORE_DB" "$OWNERS")
if [ "${r%%|*}" = 0 ] && [ "${r##*|}" -gt 5 ]; then
    ok "vst_owner owns every object of the store (${r##*|})"
else
    nok "vst_owner owns every object of the store" "not owned|total: $r"
fi
expect_eq "PUBLIC may not connect to the trust DB, create in public, or use vst" "f|f|f|f|f" \
    "$(asu "$TRUST_DB" "SELECT has_database_privilege('public', current_database(), 'CONNECT'),
        has_database_privilege('public', current_database(), 'TEMP'),
        has_schema_privilege('public', 'public', 'CREATE'),
        has_schema_privilege('public', 'vst', 'USAGE'),
        has_function_privilege('public', 'vst.audit_append(text,text,text,jsonb)', 'EXECUTE')")"
expect_eq "PUBLIC may not connect to the store or use its schemas" "f|f|f|f" \
    "$(asu "$STORE_DB" "SELECT has_database_privilege('public', current_database(), 'CONNECT'),
        has_schema_privilege('public', 'public', 'CREATE'),
        has_schema_privilege('public', 'sgb5', 'USAGE'),
        has_schema_privilege('public', 'measles', 'USAGE')")"

# --- store grants ------------------------------------------------------------
P1=0123456789abcdef0123456789abcdef
P2=fedcba9876543210fedcba9876543210
REF=4b0c3c52-6f6a-4a53-9d1e-2f1f0c7f2a10
ROW="('$REF', '$P1', 1, 1970, 'W', 1, '10', '$P1', '26', '03', '$P2', '20',
      '{\"period\": \"2024Q1\", \"icd10\": [\"J06.9\"]}')"
COLS="(delivery_ref, pseudonym, key_version, birth_year, sex, insurance_status, postal_prefix,
       provider_pseudonym, provider_group, provider_region, practice_pseudonym,
       provider_postal_prefix, service)"
expect_ok "vst_httpd may INSERT into sgb5.records (identity id needs no grant)" \
    vst_httpd "$STORE_DB" "INSERT INTO sgb5.records $COLS VALUES $ROW"
if printf '%s\t%s\t1\t1985\tM\t3\t80\t\\N\t\\N\t\\N\t\\N\t\\N\t{}\n' "$REF" "$P2" |
    psql -X -q -v ON_ERROR_STOP=1 -U vst_httpd -d "$STORE_DB" \
        -c "\\copy sgb5.records $(tr -d '\n' <<<"$COLS") FROM STDIN" >/dev/null 2>"$ERR"; then
    ok "vst_httpd may COPY into sgb5.records"
else
    nok "vst_httpd may COPY into sgb5.records" "$(cat "$ERR")"
fi
expect_ok "vst_httpd may INSERT into measles.records" vst_httpd "$STORE_DB" \
    "INSERT INTO measles.records (delivery_ref, pseudonym, key_version, birth_year, sex,
       postal_prefix, report) VALUES ('$REF', '$P1', 1, 2015, 'D', '60', '{\"vaccinated\": 2}')"
expect_fail "vst_httpd may not SELECT sgb5.records" "$DENIED" vst_httpd "$STORE_DB" \
    "SELECT count(*) FROM sgb5.records"
expect_fail "vst_httpd may not SELECT measles.records" "$DENIED" vst_httpd "$STORE_DB" \
    "SELECT count(*) FROM measles.records"
expect_fail "vst_httpd may not read back through INSERT ... RETURNING" "$DENIED" vst_httpd "$STORE_DB" \
    "INSERT INTO sgb5.records $COLS VALUES $ROW RETURNING id"
expect_fail "vst_httpd may not UPDATE sgb5.records" "$DENIED" vst_httpd "$STORE_DB" \
    "UPDATE sgb5.records SET sex = 'X'"
expect_fail "vst_httpd may not DELETE from sgb5.records" "$DENIED" vst_httpd "$STORE_DB" \
    "DELETE FROM sgb5.records"
expect_fail "vst_httpd may not TRUNCATE sgb5.records" "$DENIED" vst_httpd "$STORE_DB" \
    "TRUNCATE sgb5.records"
expect_fail "vst_httpd may not DELETE from measles.records" "$DENIED" vst_httpd "$STORE_DB" \
    "DELETE FROM measles.records"
expect_fail "vst_httpd may not create tables in the store" "$DENIED" vst_httpd "$STORE_DB" \
    "CREATE TABLE sgb5.mt_x (x int)"
expect_fail "the store refuses a KVNR where a pseudonym belongs" "check constraint" \
    vst_httpd "$STORE_DB" "INSERT INTO sgb5.records $COLS VALUES
      ('$REF', 'A123456780', 1, 1970, 'W', 1, '10', NULL, NULL, NULL, NULL, NULL, '{}')"
expect_fail "the store refuses a full postal code" "check constraint|too long" \
    vst_httpd "$STORE_DB" "INSERT INTO sgb5.records $COLS VALUES
      ('$REF', '$P1', 1, 1970, 'W', 1, '10115', NULL, NULL, NULL, NULL, NULL, '{}')"
# 0007 (issue 10): placeholder names and the year of death, with their CHECKs.
PCOLS="(delivery_ref, pseudonym, key_version, birth_year, sex, insurance_status, postal_prefix,
        provider_pseudonym, provider_group, provider_placeholder, practice_pseudonym,
        practice_placeholder, provider_region, death_year, service)"
expect_ok "vst_httpd may INSERT placeholder rows and a death year" vst_httpd "$STORE_DB" \
    "INSERT INTO sgb5.records $PCOLS VALUES
      ('$REF', '$P1', 1, 1950, 'W', 1, '10', NULL, '01', 'hospital_discharge', NULL,
       'substitute_practice', '17', 2020, '{}')" \
    "INSERT INTO sgb5.records $PCOLS VALUES
      ('$REF', '$P1', 1, 1950, 'W', 1, '10', NULL, '00', 'non_physician', '$P2', NULL, '72',
       NULL, '{}')"
expect_fail "the store refuses an unknown placeholder name" "check constraint" \
    vst_httpd "$STORE_DB" "INSERT INTO sgb5.records $PCOLS VALUES
      ('$REF', '$P1', 1, 1950, 'W', 1, '10', NULL, '01', 'dentist', NULL, NULL, NULL, NULL, '{}')"
expect_fail "the store refuses a practice placeholder name for a provider" "check constraint" \
    vst_httpd "$STORE_DB" "INSERT INTO sgb5.records $PCOLS VALUES
      ('$REF', '$P1', 1, 1950, 'W', 1, '10', NULL, '01', 'substitute_practice', NULL, NULL,
       NULL, NULL, '{}')"
expect_fail "the store refuses a placeholder next to a provider pseudonym" "check constraint" \
    vst_httpd "$STORE_DB" "INSERT INTO sgb5.records $PCOLS VALUES
      ('$REF', '$P1', 1, 1950, 'W', 1, '10', '$P2', '00', 'non_physician', NULL, NULL, NULL,
       NULL, '{}')"
expect_fail "the store refuses a placeholder next to a practice pseudonym" "check constraint" \
    vst_httpd "$STORE_DB" "INSERT INTO sgb5.records $PCOLS VALUES
      ('$REF', '$P1', 1, 1950, 'W', 1, '10', NULL, NULL, NULL, '$P2', 'substitute_practice',
       '17', NULL, '{}')"
expect_fail "the store refuses a death year before the birth year" "check constraint" \
    vst_httpd "$STORE_DB" "INSERT INTO sgb5.records $PCOLS VALUES
      ('$REF', '$P1', 1, 1950, 'W', 1, '10', NULL, NULL, NULL, NULL, NULL, NULL, 1949, '{}')"
for c in provider_placeholder practice_placeholder death_year; do
    expect_fail "vst_admin may not read $c" "$DENIED" vst_admin "$STORE_DB" \
        "SELECT $c FROM sgb5.records"
done
# The delivery commit protocol of DESIGN.md §7, as vst_httpd does it.
GID=vst-mt-$TAG
before=$(asu "$STORE_DB" "SELECT count(*) FROM sgb5.records")
expect_ok "vst_httpd may PREPARE TRANSACTION a delivery" vst_httpd "$STORE_DB" \
    "BEGIN" "INSERT INTO sgb5.records $COLS VALUES $ROW, $ROW" "PREPARE TRANSACTION '$GID'"
expect_eq "a prepared delivery is invisible until committed" "$before" \
    "$(asu "$STORE_DB" "SELECT count(*) FROM sgb5.records")"
expect_ok "vst_httpd may COMMIT PREPARED its delivery" vst_httpd "$STORE_DB" "COMMIT PREPARED '$GID'"
expect_eq "the committed delivery's rows are there" "$((before + 2))" \
    "$(asu "$STORE_DB" "SELECT count(*) FROM sgb5.records")"

expect_ok "vst_admin may SELECT what re-keying needs (row id, key version, pseudonyms)" \
    vst_admin "$STORE_DB" \
    "SELECT id, key_version, pseudonym, provider_pseudonym, practice_pseudonym FROM sgb5.records" \
    "SELECT id, key_version, pseudonym FROM measles.records"
# Issue 8, finding 1: an operator who can ask keyd's admin socket must not
# read what a pseudonym points to. Every column of every store table beyond
# the re-key set (ids, key versions, pseudonyms and the linkage tables'
# control values, encrypted per collection) is closed to vst_admin (checked
# from the catalog, so a later table or column is covered too).
expect_fail "vst_admin may not SELECT * from sgb5.records (payload)" "$DENIED" vst_admin \
    "$STORE_DB" "SELECT * FROM sgb5.records"
expect_fail "vst_admin may not read birth_year, service of sgb5.records" "$DENIED" vst_admin \
    "$STORE_DB" "SELECT pseudonym, birth_year, service FROM sgb5.records"
expect_fail "vst_admin may not read the measles report" "$DENIED" vst_admin "$STORE_DB" \
    "SELECT pseudonym, report FROM measles.records"
expect_eq "no payload column of any store table is readable by vst_admin" "" \
    "$(asu "$STORE_DB" "SELECT string_agg(table_schema || '.' || table_name || '.' || column_name, ' ')
        FROM information_schema.columns
       WHERE table_schema NOT IN ('pg_catalog', 'information_schema', 'vst')
         AND column_name NOT IN ('id', 'key_version', 'pseudonym', 'provider_pseudonym',
                                 'practice_pseudonym', 'cv_exact', 'cv_phonetic', 'cv_swapped',
                                 'cv_daymonth', 'cv_year', 'cv_birthname')
         AND has_column_privilege('vst_admin',
               quote_ident(table_schema) || '.' || quote_ident(table_name), column_name,
               'SELECT')")"
expect_ok "vst_admin may re-key (UPDATE pseudonyms and key_version)" vst_admin "$STORE_DB" \
    "UPDATE sgb5.records SET pseudonym = '$P2', provider_pseudonym = '$P1',
       practice_pseudonym = '$P1', key_version = 2 WHERE id = (SELECT min(id) FROM sgb5.records)" \
    "UPDATE measles.records SET pseudonym = '$P2', key_version = 2"
expect_fail "vst_admin may not UPDATE other columns" "$DENIED" vst_admin "$STORE_DB" \
    "UPDATE sgb5.records SET birth_year = 1971"
expect_fail "vst_admin may not INSERT into the store" "$DENIED" vst_admin "$STORE_DB" \
    "INSERT INTO sgb5.records $COLS VALUES $ROW"
expect_fail "vst_admin may not DELETE from the store" "$DENIED" vst_admin "$STORE_DB" \
    "DELETE FROM sgb5.records"
expect_fail "vst_auditor may not even connect to the store" "$DENIED" vst_auditor "$STORE_DB" \
    "SELECT count(*) FROM sgb5.records"

# --- releases (issue 11, DESIGN.md §11) -------------------------------------
expect_eq "PUBLIC may not use schema release or release_build" "f|f" \
    "$(asu "$STORE_DB" "SELECT has_schema_privilege('public', 'release', 'USAGE'),
        has_schema_privilege('public', 'release_build', 'USAGE')")"
expect_eq "vst_researcher: CONNECT to the store, USAGE on release, nothing on the others" \
    "t|t|f|f|f|f|f" \
    "$(asu "$STORE_DB" "SELECT has_database_privilege('vst_researcher', current_database(), 'CONNECT'),
        has_schema_privilege('vst_researcher', 'release', 'USAGE'),
        has_schema_privilege('vst_researcher', 'release_build', 'USAGE'),
        has_schema_privilege('vst_researcher', 'sgb5', 'USAGE'),
        has_schema_privilege('vst_researcher', 'measles', 'USAGE'),
        has_schema_privilege('vst_researcher', 'vst', 'USAGE'),
        has_database_privilege('vst_researcher', current_database(), 'TEMP')")"
expect_fail "vst_researcher may not connect to the trust DB" "$DENIED" vst_researcher "$TRUST_DB" \
    "SELECT 1"
expect_fail "vst_researcher may not read sgb5.records" "$DENIED" vst_researcher "$STORE_DB" \
    "SELECT count(*) FROM sgb5.records"
expect_ok "vst_researcher may read the catalog's public columns" vst_researcher "$STORE_DB" \
    "SELECT name, profile, k, quasi_identifiers, generalizations, keep_pseudonyms, rows, persons,
            suppressed_persons, created FROM release.catalog"
expect_fail "vst_researcher may not read the catalog's internals (release_id)" "$DENIED" \
    vst_researcher "$STORE_DB" "SELECT release_id FROM release.catalog"
expect_eq "vst_researcher reads no table outside schema release, no function of vst's" "|" \
    "$(asu "$STORE_DB" "SELECT (SELECT string_agg(n.nspname || '.' || c.relname, ' ')
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'v', 'm', 'p') AND n.nspname NOT IN ('pg_catalog',
               'information_schema', 'release')
           AND has_table_privilege('vst_researcher', c.oid, 'SELECT')),
       (SELECT string_agg(p.oid::regprocedure::text, ' ') FROM pg_proc p
         WHERE p.pronamespace = 'vst'::regnamespace
           AND has_function_privilege('vst_researcher', p.oid, 'EXECUTE'))")"
expect_eq "vst_admin may run the release functions; vst_httpd may not" "t|t|f|f" \
    "$(asu "$STORE_DB" "SELECT
        has_function_privilege('vst_admin', 'vst.release_cells(regclass,text[],text[],text[],integer,integer)', 'EXECUTE'),
        has_function_privilege('vst_admin', 'vst.release_publish(text)', 'EXECUTE'),
        has_function_privilege('vst_httpd', 'vst.release_cells(regclass,text[],text[],text[],integer,integer)', 'EXECUTE'),
        has_function_privilege('vst_admin', 'vst.release_rule_sql(text,text,text,boolean)', 'EXECUTE')")"
expect_eq "the release functions are SECURITY DEFINER with a fixed search_path" "0" \
    "$(asu "$STORE_DB" "SELECT count(*) FROM pg_proc WHERE proname LIKE 'release\_%'
        AND pronamespace = 'vst'::regnamespace AND prosecdef
        AND NOT coalesce(proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)")"
expect_fail "vst_admin may not group a report by a pseudonym column" "cannot be a quasi-identifier" \
    vst_admin "$STORE_DB" "SELECT vst.release_cells('sgb5.records', '{pseudonym}', '{\"\"}', '{\"\"}', 5)"
expect_fail "vst_admin may not point the report at a table that is not a profile table" \
    "not a profile table" vst_admin "$STORE_DB" \
    "SELECT vst.release_cells('release.catalog', '{k}', '{\"\"}', '{\"\"}', 5)"
expect_fail "k below 2 is refused by the store too" "k must be at least 2" vst_admin "$STORE_DB" \
    "SELECT vst.release_cells('sgb5.records', '{sex}', '{\"\"}', '{\"\"}', 1)"
expect_ok "vst_admin may count cells (counts only)" vst_admin "$STORE_DB" \
    "SELECT vst.release_cells('sgb5.records', '{birth_year,sex}', '{\"\",\"\"}', '{band:5,drop}', 2)"

# --- cases: disclosed pseudonyms and objections (issue 12, DESIGN.md §12) ---
CASE=0123456789abcdef
expect_eq "vst_admin gains no UPDATE or DELETE on the store beyond re-keying's columns" "f|f|f" \
    "$(asu "$STORE_DB" "SELECT has_table_privilege('vst_admin', 'sgb5.records', 'DELETE'),
        has_column_privilege('vst_admin', 'sgb5.records', 'birth_year', 'UPDATE'),
        has_table_privilege('vst_admin', 'vst.case_actions', 'SELECT')")"
expect_eq "the case functions are SECURITY DEFINER with a fixed search_path" "0" \
    "$(asu "$STORE_DB" "SELECT count(*) FROM pg_proc WHERE proname LIKE 'case\_%'
        AND pronamespace = 'vst'::regnamespace AND prosecdef
        AND NOT coalesce(proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)")"
expect_eq "vst_httpd and vst_researcher may not run the case functions" "f|f" \
    "$(asu "$STORE_DB" "SELECT
        has_function_privilege('vst_httpd', 'vst.case_delete(text,regclass,integer,text,integer)', 'EXECUTE'),
        has_function_privilege('vst_researcher', 'vst.case_move(text,regclass,integer,text,text,integer)', 'EXECUTE')")"
before=$(asu "$STORE_DB" "SELECT count(*) FROM sgb5.records WHERE pseudonym = '$P2' AND key_version = 2")
expect_eq "vst_admin: case_rows counts a pseudonym's rows" "$before" \
    "$(q vst_admin "$STORE_DB" "SELECT vst.case_rows('sgb5.records', 2, '$P2')")"
expect_eq "vst_admin: case_move moves at most the limit, then the rest" "1 $((before - 1))" \
    "$(q vst_admin "$STORE_DB" "SELECT vst.case_move('$CASE', 'sgb5.records', 2, '$P2', '$P1', 1)") $(q vst_admin "$STORE_DB" "SELECT vst.case_move('$CASE', 'sgb5.records', 2, '$P2', '$P1', 1000)")"
expect_eq "... and counts them per case, without a pseudonym" "$before" \
    "$(q vst_admin "$STORE_DB" "SELECT vst.case_total('$CASE')")"
expect_eq "vst_admin: case_delete deletes the person's rows" "$before|0" \
    "$(q vst_admin "$STORE_DB" "SELECT vst.case_delete('$CASE', 'sgb5.records', 2, '$P1', 1000)")|$(asu "$STORE_DB" "SELECT count(*) FROM sgb5.records WHERE pseudonym = '$P1' AND key_version = 2")"
expect_fail "case_move refuses a malformed pseudonym" "32 lower-case hex" vst_admin "$STORE_DB" \
    "SELECT vst.case_move('$CASE', 'sgb5.records', 2, 'A123456780', '$P1', 10)"
expect_fail "case_delete refuses a table that is not a profile table" "not a profile table" \
    vst_admin "$STORE_DB" "SELECT vst.case_delete('$CASE', 'release.catalog', 1, '$P1', 10)"
expect_ok "vst_admin may record a case in the trust DB" vst_admin "$TRUST_DB" \
    "INSERT INTO vst.cases (case_id, kind, profile, reason) VALUES ('$CASE', 'disclosed', 'sgb5', 'a leak')"
expect_fail "a case reason may not hold a pseudonym" "check constraint" vst_admin "$TRUST_DB" \
    "INSERT INTO vst.cases (case_id, kind, profile, reason) VALUES ('1123456789abcdef', 'disclosed', 'sgb5', 'leak of $P1')"
expect_fail "a case reason may not hold a KVNR" "check constraint" vst_admin "$TRUST_DB" \
    "INSERT INTO vst.cases (case_id, kind, profile, reason) VALUES ('2123456789abcdef', 'objection', 'sgb5', 'A123456780 objects')"
expect_fail "vst_admin may not delete a case" "$DENIED" vst_admin "$TRUST_DB" "DELETE FROM vst.cases"

# --- linkage without a KVNR (issue 13, DESIGN.md §13, 0010) ---------------
H1=00112233445566778899aabbccddeeff
H2=ffeeddccbbaa99887766554433221100
LCOLS="(delivery_ref, key_version, birth_year, sex, postal_prefix, \"case\", cv_exact,
        cv_phonetic, cv_swapped, cv_daymonth, cv_year, cv_birthname)"
ECOLS="(delivery_ref, key_version, birth_year, sex, postal_prefix, exam, cv_exact,
        cv_phonetic, cv_swapped, cv_daymonth, cv_year, cv_birthname)"
lrow() { # YEAR DISTRICT FIRST-CV: a measles_case row
    printf "('%s', 1, 2019, 'W', '60', '{\"year\": %s, \"district\": \"%s\", \"follow_up\": true}', '%s', '%s', '%s', '%s', '%s', '%s')" \
        "$REF" "$1" "$2" "$3" "$H2" "$H1" "$H2" "$H1" "$H2"
}
expect_ok "vst_httpd may INSERT into measles_case.records and school_entry.records" \
    vst_httpd "$STORE_DB" \
    "INSERT INTO measles_case.records $LCOLS VALUES $(lrow 2025 06412 "$H1"), $(lrow 2024 06412 "$H2"), $(lrow 2025 06411 "$H1")" \
    "INSERT INTO school_entry.records $ECOLS VALUES ('$REF', 1, 2019, 'M', '06',
       '{\"school_year\": 2025, \"district\": \"06412\", \"measles_doses\": 2}',
       '$H1', '$H1', '$H1', '$H1', '$H1', '$H1')"
expect_fail "the store refuses a control value that is not 32 lower-case hex" "check constraint" \
    vst_httpd "$STORE_DB" "INSERT INTO measles_case.records $LCOLS VALUES $(lrow 2025 06412 "${H1^^}")"
expect_fail "the store refuses a record without control values" "not-null|null value" \
    vst_httpd "$STORE_DB" "INSERT INTO measles_case.records (delivery_ref, key_version, birth_year,
       sex, postal_prefix, \"case\") VALUES ('$REF', 1, 2019, 'W', '60', '{}')"
expect_fail "vst_httpd may not SELECT measles_case.records" "$DENIED" vst_httpd "$STORE_DB" \
    "SELECT count(*) FROM measles_case.records"
for t in measles_case.records school_entry.records; do
    expect_fail "vst_admin may not SELECT * from $t" "$DENIED" vst_admin "$STORE_DB" \
        "SELECT * FROM $t"
    expect_ok "vst_admin may read and re-key the control values of $t (vst-admin rekey, CV_REKEY)" \
        vst_admin "$STORE_DB" "SELECT id, key_version, cv_exact, cv_birthname FROM $t" \
        "UPDATE $t SET key_version = key_version, cv_exact = cv_exact WHERE false"
    expect_fail "vst_admin may not UPDATE anything else of $t" "$DENIED" vst_admin "$STORE_DB" \
        "UPDATE $t SET birth_year = 2000 WHERE false"
    expect_fail "vst_admin may not DELETE from $t" "$DENIED" vst_admin "$STORE_DB" \
        "DELETE FROM $t WHERE false"
    expect_fail "vst_researcher may not read $t" "$DENIED" vst_researcher "$STORE_DB" \
        "SELECT count(*) FROM $t"
done
expect_fail "vst_admin may not read the measles_case payload" "$DENIED" vst_admin "$STORE_DB" \
    "SELECT \"case\" FROM measles_case.records"
expect_ok "vst_admin may count rows per key version (key list, key retire)" vst_admin "$STORE_DB" \
    "SELECT key_version, count(*) FROM measles_case.records GROUP BY key_version" \
    "SELECT key_version, count(*) FROM school_entry.records GROUP BY key_version"
expect_eq "vst_admin may EXECUTE vst.link_values; vst_httpd, vst_researcher, PUBLIC may not" \
    "t|f|f|f" \
    "$(asu "$STORE_DB" "SELECT
        has_function_privilege('vst_admin', 'vst.link_values(text,text,text)', 'EXECUTE'),
        has_function_privilege('vst_httpd', 'vst.link_values(text,text,text)', 'EXECUTE'),
        has_function_privilege('vst_researcher', 'vst.link_values(text,text,text)', 'EXECUTE'),
        has_function_privilege('public', 'vst.link_values(text,text,text)', 'EXECUTE')")"
expect_fail "vst_httpd may not run vst.link_values" "$DENIED" vst_httpd "$STORE_DB" \
    "SELECT count(*) FROM vst.link_values('measles_case', NULL, NULL)"
expect_eq "vst.link_values is SECURITY DEFINER, owned by vst_owner, with a fixed search_path" \
    "t|vst_owner|t" \
    "$(asu "$STORE_DB" "SELECT prosecdef, pg_get_userbyid(proowner),
        coalesce(proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
        FROM pg_proc WHERE oid = 'vst.link_values(text,text,text)'::regprocedure")"
expect_eq "vst_admin may not read vst.link_strata itself" "f" \
    "$(asu "$STORE_DB" "SELECT has_table_privilege('vst_admin', 'vst.link_strata', 'SELECT')")"
expect_eq "link_values: every record, key version and 96 bytes in key order" \
    "3 1|96|$H2$H2$H1$H2$H1$H2" \
    "$(q vst_admin "$STORE_DB" "SELECT count(*) FROM vst.link_values('measles_case', NULL, NULL)") $(q vst_admin "$STORE_DB" "SELECT key_version, length(cv), encode(cv, 'hex') FROM vst.link_values('measles_case', 'year', '2024')")"
expect_eq "link_values filters on a stratum (year 2025: 2; district 06412: 2; school_year 2025: 1)" \
    "2 2 1" \
    "$(q vst_admin "$STORE_DB" "SELECT count(*) FROM vst.link_values('measles_case', 'year', '2025')") $(q vst_admin "$STORE_DB" "SELECT count(*) FROM vst.link_values('measles_case', 'district', '06412')") $(q vst_admin "$STORE_DB" "SELECT count(*) FROM vst.link_values('school_entry', 'school_year', '2025')")"
expect_fail "link_values refuses a key that is not a stratum (22023)" \
    "22023.*'follow_up' is not a stratum of profile measles_case; its strata: district, year" \
    vst_admin "$STORE_DB" "\\set VERBOSITY verbose" \
    "SELECT count(*) FROM vst.link_values('measles_case', 'follow_up', 'true')"
expect_fail "link_values refuses a column name as a stratum (22023)" "22023.*not a stratum" \
    vst_admin "$STORE_DB" "\\set VERBOSITY verbose" \
    "SELECT count(*) FROM vst.link_values('measles_case', 'cv_exact', 'x')"
expect_fail "link_values refuses a stratum of the other profile (22023)" "22023.*not a stratum" \
    vst_admin "$STORE_DB" "\\set VERBOSITY verbose" \
    "SELECT count(*) FROM vst.link_values('measles_case', 'school_year', '2025')"
expect_fail "link_values refuses a profile without control values (22023)" \
    "22023.*stores no control values" vst_admin "$STORE_DB" "\\set VERBOSITY verbose" \
    "SELECT count(*) FROM vst.link_values('sgb5', NULL, NULL)"
expect_fail "link_values refuses a stratum filter without a value" "needs a value" \
    vst_admin "$STORE_DB" "SELECT count(*) FROM vst.link_values('measles_case', 'year', NULL)"
expect_fail "the release and case functions refuse a linkage table" "not a profile table" \
    vst_admin "$STORE_DB" \
    "SELECT vst.release_cells('measles_case.records', '{sex}', '{\"\"}', '{\"\"}', 5)"

# --- trust DB: clients, keys, re-key runs ------------------------------------
FP=$(printf 'a%.0s' {1..64})
expect_ok "vst_admin may register a client" vst_admin "$TRUST_DB" \
    "INSERT INTO vst.clients (name, ik, cert_fingerprint)
     VALUES ('Test insurer', '260326822', '\\x$FP'::bytea)"
CID=$(q vst_admin "$TRUST_DB" "SELECT id FROM vst.clients WHERE name = 'Test insurer'")
expect_ok "vst_admin may register a second client" vst_admin "$TRUST_DB" \
    "INSERT INTO vst.clients (name, ik, cert_fingerprint)
     VALUES ('Revoked insurer', '260326822', sha256('x'))"
expect_ok "vst_admin may revoke a client" vst_admin "$TRUST_DB" \
    "UPDATE vst.clients SET state = 'revoked', revoked_at = now() WHERE name = 'Revoked insurer'"
expect_fail "vst_admin may not rename a client" "$DENIED" vst_admin "$TRUST_DB" \
    "UPDATE vst.clients SET name = 'x'"
expect_fail "vst_admin may not DELETE a client" "$DENIED" vst_admin "$TRUST_DB" \
    "DELETE FROM vst.clients"
expect_fail "a fingerprint must be 32 bytes" "check constraint" vst_admin "$TRUST_DB" \
    "INSERT INTO vst.clients (name, ik, cert_fingerprint) VALUES ('Short', '260326822', '\\x00')"
expect_ok "vst_httpd may look a client up by fingerprint" vst_httpd "$TRUST_DB" \
    "SELECT id, state FROM vst.clients WHERE cert_fingerprint = '\\x$FP'"
expect_fail "vst_httpd may not INSERT a client" "$DENIED" vst_httpd "$TRUST_DB" \
    "INSERT INTO vst.clients (name, ik, cert_fingerprint) VALUES ('x', '260326822', sha256('y'))"
expect_fail "vst_httpd may not revoke or re-activate a client" "$DENIED" vst_httpd "$TRUST_DB" \
    "UPDATE vst.clients SET state = 'active', revoked_at = NULL"
# The per-client request rate belongs to the registration (issue 14, 0011).
expect_eq "a client registered without a rate has rate_limit NULL (vst-httpd's default)" "t" \
    "$(q vst_admin "$TRUST_DB" "SELECT rate_limit IS NULL FROM vst.clients WHERE id = $CID")"
expect_ok "vst_admin may register a client with a rate limit" vst_admin "$TRUST_DB" \
    "INSERT INTO vst.clients (name, ik, cert_fingerprint, rate_limit)
     VALUES ('Rated insurer', '260326822', sha256('rated'), 5)"
expect_ok "vst_admin may change a client's rate limit (to unlimited and back to the default)" \
    vst_admin "$TRUST_DB" "UPDATE vst.clients SET rate_limit = 0 WHERE name = 'Rated insurer'" \
    "UPDATE vst.clients SET rate_limit = NULL WHERE name = 'Rated insurer'"
expect_fail "a negative rate limit is refused" "check constraint" vst_admin "$TRUST_DB" \
    "UPDATE vst.clients SET rate_limit = -1 WHERE name = 'Rated insurer'"
expect_fail "a rate limit above 1000000 is refused" "check constraint" vst_admin "$TRUST_DB" \
    "UPDATE vst.clients SET rate_limit = 1000001 WHERE name = 'Rated insurer'"
expect_eq "vst_httpd reads rate_limit with the registration" "5|t" \
    "$(asu "$TRUST_DB" "UPDATE vst.clients SET rate_limit = 5 WHERE name = 'Rated insurer'" &&
        q vst_httpd "$TRUST_DB" "SELECT rate_limit, state = 'active' FROM vst.clients
                                  WHERE cert_fingerprint = sha256('rated')")"
expect_fail "vst_httpd may not change a rate limit" "$DENIED" vst_httpd "$TRUST_DB" \
    "UPDATE vst.clients SET rate_limit = 0"
# 0014: every committed change of the registry is announced on "vst_clients"
# (vst-httpd's registration cache listens); a session hears its own too.
NOTE='Asynchronous notification "vst_clients"'
notified() { # ROLE SQL...: the notifications a LISTENing session of ROLE got
    q "$1" "$TRUST_DB" "LISTEN vst_clients" "${@:2}" "SELECT 'done'" |
        grep -cE "^$NOTE received from server process with PID [0-9]+\.$" # no payload
}
expect_eq "a change of a rate by vst_admin notifies vst_clients once, with an empty payload" \
    "1" "$(notified vst_admin "UPDATE vst.clients SET rate_limit = 6 WHERE name = 'Rated insurer'")"
expect_eq "... and so does a new client, and a revocation" "1 1" \
    "$(notified vst_admin "INSERT INTO vst.clients (name, ik, cert_fingerprint)
                             VALUES ('Notified insurer', '109500969', sha256('notified'))") $(
       notified vst_admin "UPDATE vst.clients SET state = 'revoked', revoked_at = now()
                             WHERE name = 'Notified insurer'")"
expect_eq "a rolled-back change notifies nothing" "0" \
    "$(notified vst_admin "BEGIN" "UPDATE vst.clients SET rate_limit = 7 WHERE name = 'Rated insurer'" \
        "ROLLBACK")"
q vst_httpd "$TRUST_DB" "LISTEN vst_clients" "SELECT pg_sleep(1.5)" "SELECT 'done'" \
    >"$TMP/listen.out" &
LISTENER=$!
sleep 0.5
asu "$TRUST_DB" "UPDATE vst.clients SET rate_limit = 8 WHERE name = 'Rated insurer'" >/dev/null
wait "$LISTENER"
expect_eq "vst_httpd may listen (its watcher's session) and hears a change committed by another" \
    "1" "$(grep -c "$NOTE" "$TMP/listen.out")"
expect_eq "rate_limit: UPDATE for vst_admin only, SELECT for vst_httpd, nothing for vst_auditor" \
    "t|f|t|f|f" \
    "$(asu "$TRUST_DB" "SELECT has_column_privilege('vst_admin', 'vst.clients', 'rate_limit', 'UPDATE'),
                               has_column_privilege('vst_httpd', 'vst.clients', 'rate_limit', 'UPDATE'),
                               has_column_privilege('vst_httpd', 'vst.clients', 'rate_limit', 'SELECT'),
                               has_column_privilege('vst_auditor', 'vst.clients', 'rate_limit', 'SELECT'),
                               has_column_privilege('vst_admin', 'vst.clients', 'name', 'UPDATE')")"

expect_ok "vst_admin may record key version 1 as current" vst_admin "$TRUST_DB" \
    "INSERT INTO vst.key_versions (version, state) VALUES (1, 'current')"
expect_fail "two current key versions are impossible" "key_versions_one_current" vst_admin "$TRUST_DB" \
    "INSERT INTO vst.key_versions (version, state) VALUES (2, 'current')"
expect_ok "vst_admin may rotate (demote 1, add 2 as current)" vst_admin "$TRUST_DB" \
    "BEGIN" "UPDATE vst.key_versions SET state = 'active' WHERE version = 1" \
    "INSERT INTO vst.key_versions (version, state) VALUES (2, 'current')" "COMMIT"
expect_ok "vst_httpd may read the current key version" vst_httpd "$TRUST_DB" \
    "SELECT version FROM vst.key_versions WHERE state = 'current'"
expect_fail "vst_httpd may not change key metadata" "$DENIED" vst_httpd "$TRUST_DB" \
    "UPDATE vst.key_versions SET state = 'retired', retired_at = now()"
expect_ok "vst_admin may start a re-key run" vst_admin "$TRUST_DB" \
    "INSERT INTO vst.rekey_runs (from_version, to_version) VALUES (1, 2)"
expect_fail "a second concurrent re-key run is impossible" "rekey_runs_one_running" vst_admin "$TRUST_DB" \
    "INSERT INTO vst.rekey_runs (from_version, to_version) VALUES (1, 2)"
expect_ok "vst_admin may record re-key progress and finish the run" vst_admin "$TRUST_DB" \
    "UPDATE vst.rekey_runs SET rows_done = 5, cursor_table = 'sgb5.records', cursor_id = 5" \
    "UPDATE vst.rekey_runs SET state = 'done', finished_at = now()"

# --- audit log: append, chain, canonical form --------------------------------
ZERO=$(printf '0%.0s' {1..64})
S1=$(q vst_httpd "$TRUST_DB" "SELECT vst.audit_append('vst-httpd', 'delivery.stored', 'Test insurer',
       '{\"records\": 3, \"body_sha256\": \"ab\", \"note\": \"line\\nbreak ü\"}')")
S2=$(q vst_admin "$TRUST_DB" "SELECT vst.audit_append('vst-admin', 'key.rotated', NULL, '{\"to\": 2}')")
expect_eq "audit_append by vst_httpd and vst_admin returns seq 1 and 2" "1 2" "$S1 $S2"
expect_eq "row 1 chains to 32 zero bytes" "$ZERO" \
    "$(asu "$TRUST_DB" "SELECT encode(prev_hash, 'hex') FROM vst.audit_log WHERE seq = 1")"
expect_eq "row 2's prev_hash is row 1's hash" "t" \
    "$(asu "$TRUST_DB" "SELECT (SELECT prev_hash FROM vst.audit_log WHERE seq = 2)
                            = (SELECT hash FROM vst.audit_log WHERE seq = 1)")"
expect_eq "audit rows record the database login that appended them" "vst_httpd vst_admin" \
    "$(asu "$TRUST_DB" "SELECT db_user FROM vst.audit_log ORDER BY seq" | tr '\n' ' ' | sed 's/ $//')"

# Recompute both hashes outside the database, from the columns as vst-audit
# fetches them (docs/database.md), with sha256sum: canonical text is
#   seq \n at(UTC, ISO 8601, microseconds, Z) \n db_user \n actor \n action \n client \n details
FETCH="SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), db_user,
              actor, action, coalesce(client, ''), details::text,
              encode(prev_hash, 'hex'), encode(hash, 'hex')
         FROM vst.audit_log ORDER BY seq"
psql -X -qAt -F $'\x1f' -U vst_auditor -d "$TRUST_DB" -c "$FETCH" >"$TMP/chain" 2>"$ERR" ||
    nok "vst_auditor may fetch the audit log" "$(cat "$ERR")"
prev=$ZERO rows=0 good=0
while IFS=$'\x1f' read -r seq at dbu actor action client details prev_hex hash_hex; do
    rows=$((rows + 1))
    [ "$prev_hex" = "$prev" ] || break
    mine=$({ xxd -r -p <<<"$prev_hex"
             printf '%s\n%s\n%s\n%s\n%s\n%s\n%s' "$seq" "$at" "$dbu" "$actor" "$action" \
                 "$client" "$details"; } | sha256sum | cut -d' ' -f1)
    [ "$mine" = "$hash_hex" ] || break
    good=$((good + 1))
    prev=$hash_hex
done <"$TMP/chain"
if [ "$rows" -eq 2 ] && [ "$good" -eq 2 ]; then
    ok "the chain recomputes with sha256sum from the documented canonical form"
else
    nok "the chain recomputes with sha256sum from the documented canonical form" \
        "rows=$rows good=$good: $(cat "$TMP/chain")"
fi
expect_eq "row 2's hash = sha256(prev_hash || canonical text) in SQL too" "t" \
    "$(asu "$TRUST_DB" "SELECT hash = sha256(prev_hash || convert_to(seq::text || E'\n' ||
         to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || E'\n' ||
         db_user || E'\n' || actor || E'\n' || action || E'\n' || coalesce(client, '') || E'\n' ||
         details::text, 'UTF8')) FROM vst.audit_log WHERE seq = 2")"

expect_ok "a rolled-back append" vst_httpd "$TRUST_DB" \
    "BEGIN" "SELECT vst.audit_append('vst-httpd', 'delivery.rejected', NULL, '{}')" "ROLLBACK"
expect_eq "leaves no gap in seq" "3" \
    "$(q vst_httpd "$TRUST_DB" "SELECT vst.audit_append('vst-httpd', 'auth.failed', NULL, '{}')")"
expect_fail "audit_append refuses a newline in actor" "check constraint" vst_httpd "$TRUST_DB" \
    "SELECT vst.audit_append(E'vst-httpd\nx', 'a', NULL, '{}')"
expect_fail "audit_append refuses an empty client name" "check constraint" vst_httpd "$TRUST_DB" \
    "SELECT vst.audit_append('vst-httpd', 'a', '', '{}')"
expect_fail "audit_append refuses non-object details" "check constraint" vst_httpd "$TRUST_DB" \
    "SELECT vst.audit_append('vst-httpd', 'a', NULL, '[1]')"
expect_fail "audit_append refuses REPEATABLE READ" "READ COMMITTED" vst_httpd "$TRUST_DB" \
    "BEGIN ISOLATION LEVEL REPEATABLE READ" "SELECT vst.audit_append('vst-httpd', 'a', NULL, '{}')"

expect_fail "vst_httpd may not INSERT into audit_log directly" "$DENIED" vst_httpd "$TRUST_DB" \
    "INSERT INTO vst.audit_log VALUES (99, now(), 'x', 'x', 'x', NULL, '{}', sha256(''), sha256(''))"
expect_fail "vst_httpd may not read the audit log" "$DENIED" vst_httpd "$TRUST_DB" \
    "SELECT count(*) FROM vst.audit_log"
for role in vst_httpd vst_admin vst_auditor; do
    expect_fail "$role may not UPDATE audit_log" "$DENIED" $role "$TRUST_DB" \
        "UPDATE vst.audit_log SET actor = 'x'"
    expect_fail "$role may not DELETE from audit_log" "$DENIED" $role "$TRUST_DB" \
        "DELETE FROM vst.audit_log"
    expect_fail "$role may not TRUNCATE audit_log" "$DENIED" $role "$TRUST_DB" \
        "TRUNCATE vst.audit_log"
done
expect_fail "the trigger stops the superuser's UPDATE of audit_log" "$APPEND_ONLY" "$PGUSER" "$TRUST_DB" \
    "UPDATE vst.audit_log SET actor = 'x' WHERE seq = 1"
expect_fail "the trigger stops the superuser's DELETE from audit_log" "$APPEND_ONLY" "$PGUSER" "$TRUST_DB" \
    "DELETE FROM vst.audit_log WHERE seq = 3"
# TRUNCATE needs CASCADE (receipts and checkpoints refer to the log); the
# checkpoints' own trigger is disabled in this rolled-back transaction so
# that the log's trigger is the one being tested.
expect_fail "the trigger stops the superuser's TRUNCATE of audit_log" "audit_log is $APPEND_ONLY" \
    "$PGUSER" "$TRUST_DB" "BEGIN" \
    "ALTER TABLE vst.audit_checkpoints DISABLE TRIGGER audit_checkpoints_no_truncate" \
    "TRUNCATE vst.audit_log CASCADE"
expect_ok "only disabling triggers (replica mode) lets a superuser tamper" "$PGUSER" "$TRUST_DB" \
    "BEGIN" "SET LOCAL session_replication_role = replica" \
    "UPDATE vst.audit_log SET actor = 'x' WHERE seq = 1" "ROLLBACK"

# --- checkpoints ---------------------------------------------------------------
head=$(q vst_httpd "$TRUST_DB" "SELECT seq || ' ' || encode(hash, 'hex') FROM vst.audit_head()")
hseq=${head%% *} hhash=${head#* }
expect_eq "audit_head gives vst_httpd the chain head" "3" "$hseq"
SIG="'\\x$(printf '11%.0s' {1..64})'::bytea"
KID="'\\x$(printf '22%.0s' {1..32})'::bytea"
expect_eq "audit_checkpoint stores a checkpoint of the head" "t" \
    "$(q vst_httpd "$TRUST_DB" "SELECT vst.audit_checkpoint($hseq, '\\x$hhash', $SIG, $KID)")"
expect_eq "a second checkpoint of the same seq is a no-op" "f" \
    "$(q vst_admin "$TRUST_DB" "SELECT vst.audit_checkpoint($hseq, '\\x$hhash', $SIG, $KID)")"
expect_fail "a checkpoint whose head is not the chain's is refused" "does not match" vst_httpd "$TRUST_DB" \
    "SELECT vst.audit_checkpoint(2, '\\x$hhash', $SIG, $KID)"
expect_fail "vst_httpd may not INSERT checkpoints directly" "$DENIED" vst_httpd "$TRUST_DB" \
    "INSERT INTO vst.audit_checkpoints (seq, head, signature, key_id) VALUES (1, sha256(''), $SIG, $KID)"
expect_fail "the trigger stops the superuser's UPDATE of audit_checkpoints" "$APPEND_ONLY" "$PGUSER" \
    "$TRUST_DB" "UPDATE vst.audit_checkpoints SET at = now()"
expect_fail "the trigger stops the superuser's DELETE from audit_checkpoints" "$APPEND_ONLY" "$PGUSER" \
    "$TRUST_DB" "DELETE FROM vst.audit_checkpoints"
expect_fail "the trigger stops the superuser's TRUNCATE of audit_checkpoints" "$APPEND_ONLY" "$PGUSER" \
    "$TRUST_DB" "TRUNCATE vst.audit_checkpoints"
expect_fail "vst_auditor may not DELETE checkpoints" "$DENIED" vst_auditor "$TRUST_DB" \
    "DELETE FROM vst.audit_checkpoints"

# --- receipts ------------------------------------------------------------------
RCOLS="(client_id, delivery_id, delivery_ref, profile, record_count, body_sha256, key_version,
        received_at, stored_at, audit_seq, signature)"
RCOLS_V="${RCOLS%)}, withheld_count, receipt_version)"
expect_ok "vst_httpd may store a receipt" vst_httpd "$TRUST_DB" \
    "INSERT INTO vst.receipts $RCOLS VALUES ($CID, '2024-Q1.part_1', '$REF', 'sgb5', 3,
       sha256('body'), 2, now(), now(), 1, $SIG)"
expect_fail "a second receipt for the same client and delivery id is refused" "receipts_pkey" \
    vst_httpd "$TRUST_DB" "INSERT INTO vst.receipts $RCOLS VALUES ($CID, '2024-Q1.part_1',
       gen_random_uuid(), 'sgb5', 3, sha256('body'), 2, now(), now(), 2, $SIG)"
expect_fail "a delivery id outside [A-Za-z0-9._-] is refused" "check constraint" \
    vst_httpd "$TRUST_DB" "INSERT INTO vst.receipts $RCOLS VALUES ($CID, '../x',
       gen_random_uuid(), 'sgb5', 3, sha256('body'), 2, now(), now(), 2, $SIG)"
expect_fail "a receipt must point at an existing audit event" "foreign key" \
    vst_httpd "$TRUST_DB" "INSERT INTO vst.receipts $RCOLS VALUES ($CID, 'other',
       gen_random_uuid(), 'sgb5', 3, sha256('body'), 2, now(), now(), 999, $SIG)"
# vst-httpd's decision writes the row through vst.receipt_insert (0008;
# since 0009 with the withheld count, a v2 receipt), with the signed times in
# microseconds since the epoch.
RI="SELECT vst.receipt_insert($CID, 'via-function', gen_random_uuid(), 'sgb5', 3, 42,
       sha256('body'), 2, 1700000000123456, 1700000000123457, 3, 5)"
expect_ok "vst_httpd may store a receipt through vst.receipt_insert" vst_httpd "$TRUST_DB" "$RI"
expect_eq "vst.receipt_insert keeps the microseconds and every column" \
    "1700000000123456|1700000000123457|sgb5|3|42|2|3|t|t|5|2" \
    "$(asu "$TRUST_DB" "SELECT (extract(epoch FROM received_at) * 1000000)::bigint,
         (extract(epoch FROM stored_at) * 1000000)::bigint, profile, record_count, body_bytes,
         key_version, audit_seq, body_sha256 = sha256('body'), signature IS NULL,
         withheld_count, receipt_version
         FROM vst.receipts WHERE delivery_id = 'via-function'")"
expect_fail "vst.receipt_insert refuses a second receipt for the same delivery" "receipts_pkey" \
    vst_httpd "$TRUST_DB" "${RI/, 3, 5)/, 2, 5)}"
expect_fail "vst.receipt_insert refuses a negative withheld count" "check constraint" \
    vst_httpd "$TRUST_DB" "SELECT vst.receipt_insert($CID, 'negative', gen_random_uuid(), 'sgb5',
       3, 42, sha256('body'), 2, 1700000000123456, 1700000000123457, 2, -1)"
expect_fail "the v1 vst.receipt_insert (0008, 11 arguments) is gone" "does not exist" \
    vst_httpd "$TRUST_DB" "${RI/, 3, 5)/, 2)}"
expect_eq "a receipt stored without a version is v2 without withheld records" "2|0" \
    "$(asu "$TRUST_DB" "SELECT receipt_version, withheld_count FROM vst.receipts
                         WHERE delivery_id = '2024-Q1.part_1'")"
expect_fail "a v1 receipt must be signed (none is signed any more)" "receipts_v1_signed" \
    vst_httpd "$TRUST_DB" "INSERT INTO vst.receipts (client_id, delivery_id, delivery_ref, profile,
       record_count, body_sha256, key_version, received_at, stored_at, audit_seq, receipt_version)
       VALUES ($CID, 'v1-unsigned', gen_random_uuid(), 'sgb5', 3, sha256('body'), 2, now(), now(),
       2, 1)"
expect_fail "a v1 receipt states no withheld records" "receipts_v1_signed" \
    vst_httpd "$TRUST_DB" "INSERT INTO vst.receipts $RCOLS_V VALUES ($CID, 'v1-withheld',
       gen_random_uuid(), 'sgb5', 3, sha256('body'), 2, now(), now(), 2, $SIG, 1, 1)"
expect_fail "a receipt version other than 1 and 2 is refused" "check constraint" \
    vst_httpd "$TRUST_DB" "INSERT INTO vst.receipts $RCOLS_V VALUES ($CID, 'v3',
       gen_random_uuid(), 'sgb5', 3, sha256('body'), 2, now(), now(), 2, $SIG, 0, 3)"
# The immutability trigger (0006) covers the new columns (0009): attaching
# the signature cannot change the count or the version with it.
for change in "withheld_count = 1" "receipt_version = 1"; do
    expect_fail "attaching a signature cannot also set $change" "immutable" "$PGUSER" "$TRUST_DB" \
        "UPDATE vst.receipts SET signature = $SIG, $change WHERE delivery_id = 'via-function'"
done
expect_eq "vst.receipt_attach_signature still attaches the signature alone" "t|5|2" \
    "$(q vst_httpd "$TRUST_DB" "SELECT vst.receipt_attach_signature(delivery_ref, $SIG, $KID)
         FROM vst.receipts WHERE delivery_id = 'via-function'" >/dev/null &&
       asu "$TRUST_DB" "SELECT signature IS NOT NULL, withheld_count, receipt_version
         FROM vst.receipts WHERE delivery_id = 'via-function'")"
for role in vst_admin vst_auditor; do
    expect_fail "$role may not call vst.receipt_insert" "$DENIED" $role "$TRUST_DB" "$RI"
done
expect_eq "vst.receipt_insert runs as its owner with a fixed search_path" \
    "t|vst_owner|{\"search_path=pg_catalog, pg_temp\"}" \
    "$(asu "$TRUST_DB" "SELECT prosecdef, pg_get_userbyid(proowner), proconfig FROM pg_proc
                         WHERE oid = 'vst.receipt_insert'::regproc")"
expect_ok "vst_httpd may look a receipt up by delivery_ref (recovery)" vst_httpd "$TRUST_DB" \
    "SELECT 1 FROM vst.receipts WHERE delivery_ref = '$REF'"
# --- commit groups (0012, issue 14): a group's decision in one statement ----------
GREF=$(python3 -c 'import uuid; print(uuid.uuid4())')
gmember() { # DELIVERY_ID COUNT: one element of vst.deliveries_stored's array
    printf '{"client_id":%s,"client":"Test insurer","delivery_id":"%s","ref":"%s",' "$CID" "$1" \
        "$(python3 -c 'import uuid; print(uuid.uuid4())')"
    printf '"profile":"sgb5","record_count":%s,"withheld_count":0,"body_bytes":10,' "$2"
    printf '"body_sha256":"%s","key_version":2,"received_us":1700000000000001,' "$(printf %064d 7)"
    printf '"stored_us":1700000000000002,"received":{"delivery_id":"%s","profile":"sgb5"},' "$1"
    printf '"stored":{"delivery_id":"%s","profile":"sgb5","record_count":%s}}' "$1" "$2"
}
DS="SELECT array_to_string(vst.deliveries_stored('$GREF', 'vst-httpd',
      '[$(gmember group-1 2),$(gmember group-2 3)]'), ',')"
SEQ0=$(asu "$TRUST_DB" "SELECT max(seq) FROM vst.audit_log")
expect_eq "vst_httpd decides a group: the two stored events' seqs" "$((SEQ0 + 2)),$((SEQ0 + 4))" \
    "$(q vst_httpd "$TRUST_DB" "$DS")"
expect_eq "the group's events, chained in order: received and stored per delivery" \
    "delivery.received|group-1,delivery.stored|group-1,delivery.received|group-2,delivery.stored|group-2" \
    "$(asu "$TRUST_DB" "SELECT string_agg(action || '|' || (details->>'delivery_id'), ',' ORDER BY seq)
                         FROM vst.audit_log WHERE seq > $SEQ0")"
expect_eq "each event's prev_hash is the hash before it, and its hash the documented one" "4" \
    "$(asu "$TRUST_DB" "SELECT count(*) FROM vst.audit_log l
         JOIN vst.audit_log p ON p.seq = l.seq - 1
        WHERE l.seq > $SEQ0 AND l.prev_hash = p.hash
          AND l.hash = vst.audit_row_hash(l.prev_hash, l.seq, l.at, l.db_user, l.actor, l.action,
                                          l.client, l.details)")"
expect_eq "the group's receipts: v2, unsigned, their stored event's seq, the group as commit_ref" \
    "group-1|2|$((SEQ0 + 2))|2|1|$GREF,group-2|3|$((SEQ0 + 4))|2|1|$GREF" \
    "$(asu "$TRUST_DB" "SELECT string_agg(delivery_id || '|' || record_count || '|' || audit_seq
         || '|' || receipt_version || '|' || (signature IS NULL)::int || '|' || commit_ref, ','
         ORDER BY delivery_id) FROM vst.receipts WHERE delivery_id LIKE 'group-%'")"
expect_eq "recovery finds a group's decision by its commit_ref" "1" \
    "$(q vst_httpd "$TRUST_DB" "SELECT 1 FROM vst.receipts WHERE delivery_ref = '$GREF'
                                OR commit_ref = '$GREF' LIMIT 1")"
expect_fail "vst.deliveries_stored refuses an empty group" "non-empty array" vst_httpd "$TRUST_DB" \
    "SELECT vst.deliveries_stored('$GREF', 'vst-httpd', '[]')"
SEQ1=$(asu "$TRUST_DB" "SELECT max(seq) FROM vst.audit_log")
expect_fail "a delivery without delivery.stored details refuses the whole group" \
    "no delivery.stored details" vst_httpd "$TRUST_DB" \
    "SELECT vst.deliveries_stored('$GREF', 'vst-httpd',
       '[$(gmember group-3 1), {\"client_id\": $CID, \"delivery_id\": \"group-4\"}]')"
expect_eq "... and writes nothing of it" "$SEQ1|0" \
    "$(asu "$TRUST_DB" "SELECT max(seq), (SELECT count(*) FROM vst.receipts
                                          WHERE delivery_id IN ('group-3', 'group-4'))
                         FROM vst.audit_log")"
expect_fail "a second decision for a delivery of the group is refused" "receipts_pkey" \
    vst_httpd "$TRUST_DB" "SELECT vst.deliveries_stored('$GREF', 'vst-httpd', '[$(gmember group-1 2)]')"
expect_fail "vst.deliveries_stored needs READ COMMITTED" "READ COMMITTED" vst_httpd "$TRUST_DB" \
    "BEGIN ISOLATION LEVEL REPEATABLE READ; ${DS/group-1/group-5}; COMMIT"
for role in vst_admin vst_auditor; do
    expect_fail "$role may not call vst.deliveries_stored" "$DENIED" $role "$TRUST_DB" "$DS"
done
expect_eq "vst.deliveries_stored runs as its owner with a fixed search_path" \
    "t|vst_owner|{\"search_path=pg_catalog, pg_temp\"}" \
    "$(asu "$TRUST_DB" "SELECT prosecdef, pg_get_userbyid(proowner), proconfig FROM pg_proc
                         WHERE oid = 'vst.deliveries_stored'::regproc")"
expect_fail "attaching a signature cannot also change commit_ref" "immutable" "$PGUSER" "$TRUST_DB" \
    "UPDATE vst.receipts SET signature = $SIG, commit_ref = gen_random_uuid()
      WHERE delivery_id = 'group-1'"
# --- the decision's cost (0013, issue 14): one chain extender for many events ------
expect_eq "every row of the chain, by audit_append or a group, has audit_row_hash's hash" "0" \
    "$(asu "$TRUST_DB" "SELECT count(*) FROM vst.audit_log l LEFT JOIN vst.audit_log p ON p.seq = l.seq - 1
        WHERE l.prev_hash IS DISTINCT FROM coalesce(p.hash, decode(repeat('00', 32), 'hex'))
           OR l.hash <> vst.audit_row_hash(l.prev_hash, l.seq, l.at, l.db_user, l.actor, l.action,
                                           l.client, l.details)")"
expect_eq "a group's events share the time the chain's lock was granted" "1" \
    "$(asu "$TRUST_DB" "SELECT count(DISTINCT at) FROM vst.audit_log WHERE seq > $SEQ0 AND seq <= $((SEQ0 + 4))")"
for role in vst_httpd vst_admin vst_auditor; do
    expect_fail "$role may not call vst.audit_append_many directly" "$DENIED" $role "$TRUST_DB" \
        "SELECT vst.audit_append_many('x', '{a}', '{NULL}', ARRAY['{}'::jsonb])"
done
expect_fail "vst.audit_append_many refuses arrays of different lengths" "one client and details" \
    "$PGUSER" "$TRUST_DB" "SELECT vst.audit_append_many('x', '{a,b}', '{NULL}', ARRAY['{}'::jsonb])"
expect_fail "vst.audit_append_many refuses no events" "one client and details" \
    "$PGUSER" "$TRUST_DB" "SELECT vst.audit_append_many('x', '{}', '{}', '{}')"
SEQ2=$(asu "$TRUST_DB" "SELECT max(seq) FROM vst.audit_log")
expect_eq "vst.audit_append still appends one event and returns its seq" "$((SEQ2 + 1))" \
    "$(q vst_httpd "$TRUST_DB" "SELECT vst.audit_append('vst-httpd', 'auth.failed', NULL, '{}')")"
SIG2="'\\x$(printf '33%.0s' {1..64})'::bytea"
attach() { # SIGNATURES: group-1's and group-2's, in one statement
    echo "SELECT vst.receipts_attach_signatures(ARRAY(SELECT delivery_ref FROM vst.receipts
            WHERE delivery_id IN ('group-1', 'group-2') ORDER BY delivery_id), ARRAY[$1], $KID)"
}
for role in vst_admin vst_auditor; do
    expect_fail "$role may not call vst.receipts_attach_signatures" "$DENIED" $role "$TRUST_DB" \
        "$(attach "$SIG, $SIG2")"
done
expect_fail "vst.receipts_attach_signatures needs a signature per receipt" "a signature per receipt" \
    vst_httpd "$TRUST_DB" "$(attach "$SIG")"
expect_eq "vst_httpd attaches a group's signatures in one statement, each to its receipt" \
    "2|group-1:11,group-2:33" \
    "$(q vst_httpd "$TRUST_DB" "$(attach "$SIG, $SIG2")")|$(asu "$TRUST_DB" "SELECT string_agg(delivery_id || ':' ||
         left(encode(signature, 'hex'), 2), ',' ORDER BY delivery_id) FROM vst.receipts
         WHERE delivery_id IN ('group-1', 'group-2') AND sign_key_id = $KID")"
expect_eq "... and never over a signature that is there" "0|group-1:11" \
    "$(q vst_httpd "$TRUST_DB" "$(attach "$SIG2, $SIG2")")|$(asu "$TRUST_DB" \
         "SELECT delivery_id || ':' || left(encode(signature, 'hex'), 2) FROM vst.receipts
           WHERE delivery_id = 'group-1'")"

expect_fail "vst_httpd may not UPDATE receipts" "$DENIED" vst_httpd "$TRUST_DB" \
    "UPDATE vst.receipts SET record_count = 0"
expect_fail "vst_httpd may not DELETE receipts" "$DENIED" vst_httpd "$TRUST_DB" \
    "DELETE FROM vst.receipts"
expect_ok "vst_admin may read receipts" vst_admin "$TRUST_DB" "SELECT count(*) FROM vst.receipts"
expect_fail "vst_admin may not read the audit log" "$DENIED" vst_admin "$TRUST_DB" \
    "SELECT count(*) FROM vst.audit_log"

# --- receipts from before 0009 (issue 12) ----------------------------------------
# A database at 0008 holds a signed receipt (v1: its signature covers no
# withheld count, and must keep verifying as such) and one whose decision was
# committed but which was not signed yet (never handed out: it becomes v2,
# with nothing withheld, and is signed as that).
cp -r "$ROOT/sql" "$TMP/pre0009"
for f in "$TMP"/pre0009/trust/[0-9][0-9][0-9][0-9]_*.sql; do
    n=${f##*/}
    [ $((10#${n%%_*})) -lt 9 ] || rm -f "$f"
done
if asu postgres "CREATE DATABASE $UP_DB" >/dev/null &&
    VST_SQL_DIR=$TMP/pre0009 "$MIGRATE" trust "$UP_DSN" >/dev/null 2>"$ERR" &&
    asu "$UP_DB" "INSERT INTO vst.clients (name, ik, cert_fingerprint)
                  VALUES ('Old insurer', '260326822', sha256('old'))" \
        "SELECT vst.audit_append('vst-httpd', 'delivery.stored', 'Old insurer', '{}')" \
        "SELECT vst.audit_append('vst-httpd', 'delivery.stored', 'Old insurer', '{}')" \
        "SELECT vst.receipt_insert(1, 'old-signed', gen_random_uuid(), 'sgb5', 3, 42,
           sha256('a'), 1, 1700000000000000, 1700000000000001, 1)" \
        "SELECT vst.receipt_insert(1, 'old-unsigned', gen_random_uuid(), 'sgb5', 4, 42,
           sha256('b'), 1, 1700000000000000, 1700000000000001, 2)" \
        "SELECT vst.receipt_attach_signature(delivery_ref, $SIG, $KID) FROM vst.receipts
          WHERE delivery_id = 'old-signed'" >/dev/null &&
    "$MIGRATE" trust "$UP_DSN" >/dev/null 2>>"$ERR"; then
    expect_eq "0009 on old receipts: the signed one is v1, the unsigned one v2, none withheld" \
        "old-signed|1|0|t old-unsigned|2|0|f" \
        "$(asu "$UP_DB" "SELECT delivery_id, receipt_version, withheld_count, signature IS NOT NULL
                          FROM vst.receipts ORDER BY delivery_id" | tr '\n' ' ' | sed 's/ $//')"
    expect_fail "0009 leaves the immutability trigger enabled" "immutable" "$PGUSER" "$UP_DB" \
        "UPDATE vst.receipts SET record_count = 1 WHERE delivery_id = 'old-signed'"
    expect_eq "the unsigned old receipt takes its signature as a v2 receipt" "t|2" \
        "$(asu "$UP_DB" "SELECT vst.receipt_attach_signature(delivery_ref, $SIG, $KID),
                                receipt_version FROM vst.receipts
                          WHERE delivery_id = 'old-unsigned'")"
else
    nok "a database at 0008 with receipts migrates to 0009" "$(cat "$ERR")"
fi

# --- the auditor reads the audit tables and nothing else ------------------------
expect_ok "vst_auditor may SELECT audit_log and audit_checkpoints" vst_auditor "$TRUST_DB" \
    "SELECT count(*) FROM vst.audit_log" "SELECT count(*) FROM vst.audit_checkpoints"
for t in clients receipts key_versions rekey_runs; do
    expect_fail "vst_auditor may not SELECT vst.$t" "$DENIED" vst_auditor "$TRUST_DB" \
        "SELECT count(*) FROM vst.$t"
done
expect_fail "vst_auditor may not append to the audit log" "$DENIED" vst_auditor "$TRUST_DB" \
    "SELECT vst.audit_append('vst-audit', 'x', NULL, '{}')"
expect_fail "vst_auditor may not store checkpoints" "$DENIED" vst_auditor "$TRUST_DB" \
    "SELECT vst.audit_checkpoint(1, sha256(''), $SIG, $KID)"

# --- a later migration; a database newer than the tree ---------------------------
cp -r "$ROOT/sql" "$TMP/newer"
cat >"$TMP/newer/trust/0900_extra.sql" <<'SQL'
SET LOCAL ROLE vst_owner;
CREATE TABLE vst.mt_extra (x integer);
SQL
if out=$(VST_SQL_DIR=$TMP/newer "$MIGRATE" trust "$TRUST_DSN" 2>"$ERR") &&
    grep -q '^trust: applied 0900_extra.sql' <<<"$out"; then
    ok "a new migration is applied on top"
else
    nok "a new migration is applied on top" "$out $(cat "$ERR")"
fi
expect_eq "objects of a migration that sets vst_owner are owned by it" "vst_owner" \
    "$(asu "$TRUST_DB" "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'vst.mt_extra'::regclass")"
if "$MIGRATE" trust "$TRUST_DSN" >/dev/null 2>"$ERR"; then
    nok "a tree older than the database is refused" "exit 0"
elif [ "$(wc -l <"$ERR")" -eq 1 ] && grep -q "version 900" "$ERR"; then
    ok "a tree older than the database is refused with one line"
else
    nok "a tree older than the database is refused with one line" "$(cat "$ERR")"
fi

finish
