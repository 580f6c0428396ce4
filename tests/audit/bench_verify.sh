#!/usr/bin/env bash
# Benchmark of `vst-audit verify`: builds an audit log of ROWS rows (default
# 1,000,000) with vst.audit_append in a throwaway trust DB, signs a
# checkpoint of its head with a fresh Ed25519 key (openssl, standing in for
# vst-keyd: the same "vst-checkpoint-v1" structure), runs
# `vst-audit verify --strict` as vst_auditor and prints its rows/s.
#
#   tests/audit/bench_verify.sh [ROWS]
#
# Needs a PostgreSQL 15 cluster reachable as superuser through PGHOST,
# PGPORT, PGUSER (tests/run.sh's, or `deploy/quickstart.sh`'s) and the
# vst-audit binary in VST_AUDIT (default: build/release). CTest runs it with
# 20000 rows; the 1,000,000-row figure of docs/audit.md comes from a manual
# run. Prints "N passed, N failed" like the other scripted suites.
set -uo pipefail

ROOT=${VST_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
ROWS=${1:-1000000}
AUDIT=${VST_AUDIT:-$ROOT/build/release/bin/vst-audit}
BATCH=100000
DB=vst_audit_bench_$$
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vst-bench-audit.XXXXXX")
PASS=0 FAIL=0

finish() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$TMP"
    printf '%d passed, %d failed\n' "$PASS" "$FAIL"
    [ "$FAIL" -eq 0 ]
}
trap 'finish; exit $?' EXIT
die() {
    FAIL=$((FAIL + 1))
    printf 'not ok - %s\n' "$*"
    exit 1
}

[ -n "${PGHOST:-}" ] && [ -n "${PGPORT:-}" ] && [ -n "${PGUSER:-}" ] ||
    die "PGHOST, PGPORT and PGUSER must name a superuser connection"
[ -x "$AUDIT" ] || die "no vst-audit at $AUDIT (set VST_AUDIT)"
[[ $ROWS =~ ^[1-9][0-9]*$ ]] || die "ROWS must be a positive integer"
DSN="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB"
AUDITOR_DSN="host=$PGHOST port=$PGPORT user=vst_auditor dbname=$DB"

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB" >/dev/null || die "create $DB"
"$ROOT/sql/migrate.sh" trust "$DSN" >/dev/null || die "migrate $DB"

# The log: delivery-like events, ~200 bytes of details each.
start=${EPOCHREALTIME/[.,]/}
done_rows=0
while [ "$done_rows" -lt "$ROWS" ]; do
    n=$((ROWS - done_rows < BATCH ? ROWS - done_rows : BATCH))
    psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "
        SELECT count(vst.audit_append('vst-httpd', 'delivery.stored', 'Bench insurer ' || (i % 7),
               jsonb_build_object('delivery_id', 'D-' || i, 'profile', 'sgb5',
                                  'record_count', i % 100000, 'key_version', 2,
                                  'body_sha256', encode(sha256(i::text::bytea), 'hex'))))
          FROM generate_series($done_rows + 1, $done_rows + $n) AS i" >/dev/null ||
        die "appending rows"
    done_rows=$((done_rows + n))
done
gen_ms=$(((${EPOCHREALTIME/[.,]/} - start) / 1000))
printf 'generated %d rows with vst.audit_append in %d.%03d s\n' "$ROWS" $((gen_ms / 1000)) $((gen_ms % 1000))

# A checkpoint of the head, signed like vst-keyd signs one:
#   "vst-checkpoint-v1" 0x00 || u64 seq || head[32] || i64 time_us (big-endian)
openssl genpkey -algorithm ed25519 -out "$TMP/key.pem" 2>/dev/null || die "openssl genpkey"
PUB=$(openssl pkey -in "$TMP/key.pem" -pubout -outform DER | tail -c 32 | od -An -tx1 -v | tr -d ' \n')
read -r SEQ TBS AT < <(psql -X -qAt -F ' ' -d "$DB" -c "
    SELECT h.seq,
           encode(convert_to('vst-checkpoint-v1', 'UTF8') || '\\x00'::bytea
                  || int8send(h.seq) || h.hash || int8send(1700000000000000), 'hex'),
           '2023-11-14T22:13:20Z'
      FROM vst.audit_head() h") || die "reading the head"
printf '%b' "$(sed 's/../\\x&/g' <<<"$TBS")" >"$TMP/tbs.bin"
openssl pkeyutl -sign -inkey "$TMP/key.pem" -rawin -in "$TMP/tbs.bin" -out "$TMP/sig.bin" ||
    die "openssl pkeyutl -sign"
SIG=$(od -An -tx1 -v "$TMP/sig.bin" | tr -d ' \n')
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "
    SELECT vst.audit_checkpoint($SEQ, hash, decode('$SIG', 'hex'),
                                sha256(decode('$PUB', 'hex')), '$AT')
      FROM vst.audit_head()" >/dev/null || die "storing the checkpoint"

# The measurement, as the auditor.
if out=$("$AUDIT" --dsn "$AUDITOR_DSN" verify --strict --public-key "$PUB" 2>&1); then
    printf '%s\n' "$out" | sed 's/^/    /'
    rate=$(grep -o '([0-9]* rows/s)' <<<"$out" | tr -d '()')
    PASS=$((PASS + 1))
    printf 'ok - vst-audit verify --strict: %d rows, %s\n' "$ROWS" "$rate"
else
    printf '%s\n' "$out" | sed 's/^/    /'
    die "vst-audit verify failed on the generated log"
fi
# One changed row in the middle is found.
mid=$((ROWS / 2 + 1))
psql -X -q -d "$DB" -c "BEGIN; SET LOCAL session_replication_role = replica;
    UPDATE vst.audit_log SET details = details || '{\"record_count\": 0}' WHERE seq = $mid; COMMIT" \
    >/dev/null || die "tampering"
if out=$("$AUDIT" --dsn "$AUDITOR_DSN" verify --public-key "$PUB" 2>&1); then
    die "a changed row $mid went unnoticed"
elif grep -q "row $mid: hash mismatch" <<<"$out"; then
    PASS=$((PASS + 1))
    printf 'ok - a changed row %d is named\n' "$mid"
else
    die "unexpected verify output: $out"
fi
