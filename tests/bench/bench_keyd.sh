#!/usr/bin/env bash
# keyd and re-key benchmark (a script, not a test): see docs/benchmarks.md.
#
#   tests/bench/bench_keyd.sh [--rows N] [--ids N] [--rekey-batch N] [--plant N]
#                             [--keyd-only]
#
# In a throwaway directory it starts its own PostgreSQL 15 cluster (trust DB
# and store, migrated), a dev keystore and an unsealed vst-keyd, then
#   1. runs bench_keyd: identifiers/s through the data socket (batches of
#      16384 and 65536, 1 and 2 connections) against the in-process
#      derivation of the same identifiers;
#   2. fills sgb5.records with N rows (default 1,000,000) whose pseudonyms
#      are real keyd pseudonyms under key version 1 (bench_keyd --emit-rows
#      piped into COPY);
#   3. baseline: a plain UPDATE, as vst_admin, that rewrites the same
#      columns of the same rows with their own values (the raw database
#      cost of rewriting every row: no keyd, no client), on J connections
#      (disjoint id ranges), right before
#   4. vst-admin key rotate + vst-admin rekey (as vst_admin) with J jobs,
#      timed: J = 2, the default (1 -> 2), then J = 1 (2 -> 3); prints
#      rows/s and the ratio rekey/baseline for each J;
#   5. checks that every row is now at version 3 and that a sample of rows
#      equals a fresh pseudonymization under version 3.
# --plant N first records N objections in keyd's exception list (issue 12:
# bench_keyd --plant-objections, other identifiers than step 1's), so that
# step 1 measures the round trip with the list's lookup in the hot path;
# --keyd-only stops after step 1 (no PostgreSQL is started).
# Everything is stopped and removed on exit. Binaries come from BUILD_DIR
# (default build/release), built there with cmake if missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/deploy/lib/common.sh"

ROWS=1000000 IDS=4000000 REKEY_BATCH= PLANT=0 KEYD_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --ids) IDS=$2; shift 2 ;;
    --rekey-batch) REKEY_BATCH=$2; shift 2 ;;
    --plant) PLANT=$2; shift 2 ;;
    --keyd-only) KEYD_ONLY=1; shift ;;
    -h | --help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "bench_keyd.sh: unknown argument $1 (see --help)" ;;
    esac
done

BUILD_DIR=${BUILD_DIR:-$ROOT/build/release}
KEYD=$BUILD_DIR/bin/vst-keyd
ADMIN=$BUILD_DIR/bin/vst-admin
BENCH=$BUILD_DIR/tests/bench_keyd
if [ ! -x "$KEYD" ] || [ ! -x "$ADMIN" ] || [ ! -x "$BENCH" ]; then
    log "building vst-keyd, vst-admin, bench_keyd (release) in $BUILD_DIR"
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD_DIR" -j"$(nproc)" --target vst-keyd vst-admin bench_keyd >/dev/null
fi

TMP=$(mktemp -d /tmp/vst-bench-keyd.XXXXXX)
chmod 755 "$TMP"
KEYD_PID=
cleanup() {
    if [ -n "$KEYD_PID" ]; then
        kill "$KEYD_PID" 2>/dev/null || true
        wait "$KEYD_PID" 2>/dev/null || true
    fi
    [ ! -d "$TMP/pg/data" ] || vst_pg_stop "$TMP/pg/data" || true
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_now() { echo "${EPOCHREALTIME/[.,]/}"; } # microseconds
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e6 }'; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / ((b - a) / 1e6) }'; }

echo "machine: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, $(uname -sr), PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}')"

# --- PostgreSQL, keystore, keyd ----------------------------------------------
STORE_DSN= TRUST_DSN=
if [ "$KEYD_ONLY" = 0 ]; then
    mkdir "$TMP/pg"
    vst_pg_start "$TMP/pg" "$(vst_free_port 56432)"
    vst_create_databases
    "$ROOT/sql/migrate.sh" trust "$VST_TRUST_ADMIN_DSN" >/dev/null
    "$ROOT/sql/migrate.sh" store "$VST_STORE_ADMIN_DSN" >/dev/null 2>&1
    STORE_DSN="host=$PGHOST port=$PGPORT user=vst_admin dbname=vst_store"
    TRUST_DSN="host=$PGHOST port=$PGPORT user=vst_admin dbname=vst_trust"
fi

K=$TMP/keyd
mkdir "$K"
admin() {
    "$ADMIN" --keystore "$K/keystore" --admin-socket "$K/admin.sock" \
        --store-dsn "$STORE_DSN" --trust-dsn "$TRUST_DSN" "$@"
}
admin key init --dev-master-key "$K/master.key" >/dev/null 2>&1
"$KEYD" --keystore "$K/keystore" --dev-master-key "$K/master.key" \
    --data-socket "$K/data.sock" --admin-socket "$K/admin.sock" --events-file "$K/events" \
    --data-uids "$(id -u)" --admin-uids "$(id -u)" --user "" --seccomp no \
    --budget-minute 1000000000000 --budget-day 1000000000000 2>"$K/keyd.log" &
KEYD_PID=$!
for _ in $(seq 100); do
    [ -S "$K/data.sock" ] && [ -S "$K/admin.sock" ] && break
    kill -0 "$KEYD_PID" 2>/dev/null || { cat "$K/keyd.log" >&2; die "vst-keyd did not start"; }
    sleep 0.1
done
[ -S "$K/data.sock" ] || die "vst-keyd did not open its sockets"

# --- 1. keyd round trip -------------------------------------------------------
if [ "$PLANT" -gt 0 ]; then
    echo
    "$BENCH" --socket "$K/admin.sock" --plant-objections "$PLANT"
fi
echo
"$BENCH" --socket "$K/data.sock" --ids "$IDS"
[ "$KEYD_ONLY" = 0 ] || exit 0

# --- 2. store rows under version 1 ------------------------------------------
echo
COLS="delivery_ref, pseudonym, key_version, birth_year, sex, insurance_status, postal_prefix,
      provider_pseudonym, provider_group, provider_region, practice_pseudonym,
      provider_postal_prefix, service"
sq() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
t0=$(t_now)
"$BENCH" --socket "$K/data.sock" --emit-rows "$ROWS" |
    sq "$VST_STORE_ADMIN_DSN" "COPY sgb5.records ($COLS) FROM STDIN"
t1=$(t_now)
sq "$VST_STORE_ADMIN_DSN" "VACUUM ANALYZE sgb5.records"
size=$(sq "$VST_STORE_ADMIN_DSN" "SELECT pg_size_pretty(pg_total_relation_size('sgb5.records'))")
pseud=$(sq "$VST_STORE_ADMIN_DSN" "SELECT count(pseudonym) + count(provider_pseudonym) + count(practice_pseudonym) FROM sgb5.records")
echo "store: $ROWS sgb5.records rows ($pseud pseudonyms, $size with indexes) loaded in $(secs "$t0" "$t1") s ($(rate "$ROWS" "$t0" "$t1") rows/s, keyd + COPY)"

# --- 3./4. baseline and re-key, in pairs ------------------------------------
# Baseline: one UPDATE per connection over disjoint id ranges, on J
# connections. Then rotate and time vst-admin rekey with J jobs: first the
# default (2 jobs; a PostgreSQL backend uses one core), then --jobs 1. Each
# baseline runs right before its re-key, so that both see the same machine
# load, and every run starts from a compact table.
compact() { sq "$VST_STORE_ADMIN_DSN" "VACUUM FULL ANALYZE sgb5.records"; sq "$VST_STORE_ADMIN_DSN" "CHECKPOINT"; }
maxid=$(sq "$VST_STORE_ADMIN_DSN" "SELECT max(id) FROM sgb5.records")
declare -A BASE_S BASE_RATE RK_S RK_RATE RK_LINE
for j in 2 1; do
    compact
    t0=$(t_now)
    pids=()
    for ((k = 0; k < j; k++)); do
        lo=$((maxid * k / j)) hi=$((maxid * (k + 1) / j))
        sq "$STORE_DSN" "UPDATE sgb5.records SET pseudonym = pseudonym,
                           provider_pseudonym = provider_pseudonym,
                           practice_pseudonym = practice_pseudonym, key_version = key_version + 0
                         WHERE id > $lo AND id <= $hi" >/dev/null &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || die "baseline UPDATE failed"; done
    t1=$(t_now)
    BASE_S[$j]=$(secs "$t0" "$t1")
    BASE_RATE[$j]=$(rate "$ROWS" "$t0" "$t1")

    compact
    admin key rotate >/dev/null
    jobs_opt=()
    [ "$j" = 2 ] || jobs_opt=(--jobs "$j")
    t0=$(t_now)
    admin rekey ${REKEY_BATCH:+--batch "$REKEY_BATCH"} "${jobs_opt[@]}" >"$TMP/rekey.out" 2>"$TMP/rekey.err" ||
        { cat "$TMP/rekey.err" "$TMP/rekey.out" >&2; die "vst-admin rekey failed"; }
    t1=$(t_now)
    RK_S[$j]=$(secs "$t0" "$t1")
    RK_RATE[$j]=$(rate "$ROWS" "$t0" "$t1")
    RK_LINE[$j]=$(cat "$TMP/rekey.out")
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "vst-admin rekey (default, 2 jobs): $ROWS rows in ${RK_S[2]} s = ${RK_RATE[2]} rows/s (batch ${REKEY_BATCH:-default 20000})"
echo "  baseline, plain UPDATE of the same columns of the same rows, 2 connections: ${BASE_S[2]} s = ${BASE_RATE[2]} rows/s"
echo "  rekey/baseline = $(ratio "${RK_RATE[2]}" "${BASE_RATE[2]}"); goal >= 100000 rows/s: $([ "${RK_RATE[2]}" -ge 100000 ] && echo met || echo 'NOT met')"
echo "vst-admin rekey --jobs 1: ${RK_S[1]} s = ${RK_RATE[1]} rows/s"
echo "  baseline, same UPDATE, 1 connection: ${BASE_S[1]} s = ${BASE_RATE[1]} rows/s; rekey/baseline = $(ratio "${RK_RATE[1]}" "${BASE_RATE[1]}")"
echo "  (vst-admin's own lines: ${RK_LINE[2]} | ${RK_LINE[1]})"

# --- 5. sanity ----------------------------------------------------------------
left=$(sq "$VST_STORE_ADMIN_DSN" "SELECT count(*) FROM sgb5.records WHERE key_version <> 3")
[ "$left" = 0 ] || die "$left rows are not at key version 3 after the re-keys"
"$BENCH" --socket "$K/data.sock" --expect-rows "$ROWS" --sample 1000 >"$TMP/expect"
ids=$(cut -d'|' -f1 "$TMP/expect" | paste -sd,)
sq "$VST_STORE_ADMIN_DSN" "SELECT id, pseudonym, coalesce(provider_pseudonym, ''),
        coalesce(practice_pseudonym, ''), key_version FROM sgb5.records
     WHERE id = ANY('{$ids}'::bigint[]) ORDER BY id" | tr -d ' ' >"$TMP/got"
if ! cmp -s "$TMP/expect" "$TMP/got"; then
    diff "$TMP/expect" "$TMP/got" | head -5 >&2
    die "re-keyed rows differ from a fresh pseudonymization under version 3"
fi
echo "sanity: all $ROWS rows at version 3 (1 -> 2 -> 3); $(wc -l <"$TMP/expect") sampled rows equal a fresh pseudonymization under version 3"
