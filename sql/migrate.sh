#!/usr/bin/env bash
# Applies the numbered schema migrations of one vst database.
#
#   sql/migrate.sh trust|store DSN
#
# Runs sql/<target>/NNNN_name.sql in numeric order, each file together with
# its bookkeeping row in one transaction, so a migration is either applied and
# recorded or not applied at all. Applied versions are recorded in
# vst_meta.schema_migrations (keyed by target, so both targets may share one
# database) with the file's SHA-256; they are skipped on later runs, and a
# run refuses to go on if an applied file has since been edited or if the
# database holds a version this tree does not know (newer schema, older code).
# A migration file may be a symbolic link into sql/shared/ (a migration both
# targets run, e.g. 0001_roles.sql): its target's bytes are run and hashed.
#
# Concurrency: every transaction first takes a transaction-level advisory
# lock and re-checks the bookkeeping table under it, so two runners against
# the same database serialise per migration and neither applies a version
# twice. Advisory locks are per database, which is the scope that matters.
#
# Environment:
#   VST_SQL_DIR   directory holding trust/, store/, shared/ (default: this script's
#                 directory); tests point it at an altered copy.
#
# Needs a role that may create roles and own-transfer objects: in practice the
# cluster's superuser (see docs/database.md). Prints one line per applied
# migration and a summary; on error one line on stderr and a non-zero exit.
set -euo pipefail

PROG=migrate.sh
# Advisory-lock key of the runner: the pair ('vst\0' as int4, 1). The audit
# appender uses ('vst\0', 2); see docs/database.md.
LOCK_CLASS=1987277824
LOCK_MIGRATE=1

usage() {
    cat <<'EOF'
usage: sql/migrate.sh trust|store DSN

Applies the numbered migrations sql/<target>/NNNN_name.sql that the database
named by DSN (a libpq connection string or URI) has not had yet, each in its
own transaction, and records them in vst_meta.schema_migrations.

  trust   the trust DB: clients, receipts, key metadata, audit log
  store   the data-preparation store: pseudonymized records

Applying twice is a no-op. A run refuses to continue if a recorded
migration's file changed since it was applied, or if the database holds a
version this tree does not have.

Environment: VST_SQL_DIR overrides the directory holding trust/ and store/.
Exit status: 0 on success, 1 on any error (one line on stderr).
EOF
}

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

# Collapses psql's stderr to one line: the first ERROR/FATAL line if any,
# otherwise the first non-empty line.
first_error() {
    local f=$1 line
    line=$(grep -m1 -E '(ERROR|FATAL|error):' "$f" || true)
    [ -n "$line" ] || line=$(grep -m1 -v '^[[:space:]]*$' "$f" || true)
    printf '%s' "${line:-psql failed without a message}"
}

case "${1:-}" in
-h | --help) usage; exit 0 ;;
trust | store) ;;
"") die "missing target: usage: sql/migrate.sh trust|store DSN (see --help)" ;;
*) die "unknown target '$1' (expected trust or store; see --help)" ;;
esac
[ $# -eq 2 ] || die "expected exactly two arguments: trust|store DSN (see --help)"
TARGET=$1
DSN=$2
[ -n "$DSN" ] || die "empty DSN: give the $TARGET database's connection string (see --help)"
SQL_DIR=${VST_SQL_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
DIR="$SQL_DIR/$TARGET"
[ -d "$DIR" ] || die "no migration directory $DIR"
command -v psql >/dev/null || die "psql not found (install postgresql-client-15)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vst-migrate.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# psql as the runner uses it: no ~/.psqlrc, stop at the first error, terse
# one-line errors, unaligned tuples-only output, no NOTICE chatter.
run_psql() {
    PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
        psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=terse -d "$DSN" "$@"
}

# --- the migration files of this tree ---------------------------------------
declare -a VERSIONS=() NAMES=() SUMS=()
declare -A SEEN=()
shopt -s nullglob
for f in "$DIR"/*.sql; do
    base=${f##*/}
    [[ $base =~ ^([0-9]{4})_[a-z0-9_]+\.sql$ ]] ||
        die "$TARGET/$base: migration files are named NNNN_lowercase_name.sql"
    v=$((10#${BASH_REMATCH[1]}))
    [ "$v" -gt 0 ] || die "$TARGET/$base: versions start at 0001"
    [ -z "${SEEN[$v]:-}" ] || die "$TARGET: version $v appears twice (${SEEN[$v]} and $base)"
    SEEN[$v]=$base
done
shopt -u nullglob
[ ${#SEEN[@]} -gt 0 ] || die "no migrations in $DIR"
for v in $(printf '%s\n' "${!SEEN[@]}" | sort -n); do
    VERSIONS+=("$v")
    NAMES+=("${SEEN[$v]}")
    SUMS+=("$(sha256sum <"$DIR/${SEEN[$v]}" | cut -d' ' -f1)")
done

# --- the database ------------------------------------------------------------
db=$(run_psql -c 'SELECT current_database()' 2>"$TMP/err") ||
    die "cannot connect for $TARGET: $(first_error "$TMP/err")"
# The maintenance databases are shared by everything in the cluster; vst's
# revocations (CONNECT from PUBLIC) would lock other users out of them.
case "$db" in
postgres | template0 | template1)
    die "refusing to migrate the cluster's '$db' database; point the DSN at the $TARGET database (dbname=...)" ;;
esac

# --- bookkeeping table (created under the runner's lock) --------------------
run_psql --single-transaction -f - >/dev/null 2>"$TMP/err" <<SQL ||
SELECT pg_advisory_xact_lock($LOCK_CLASS, $LOCK_MIGRATE) \gset vst_lock_
CREATE SCHEMA IF NOT EXISTS vst_meta;
-- Only the migrating (admin) role needs this; nothing is granted on it.
REVOKE ALL ON SCHEMA vst_meta FROM PUBLIC;
CREATE TABLE IF NOT EXISTS vst_meta.schema_migrations (
    target     text        NOT NULL CHECK (target IN ('trust', 'store')),
    version    integer     NOT NULL CHECK (version > 0),
    name       text        NOT NULL,
    sha256     text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}\$'),
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by name        NOT NULL DEFAULT session_user,
    PRIMARY KEY (target, version)
);
SQL
    die "cannot prepare $TARGET database: $(first_error "$TMP/err")"

# --- what the database already has ------------------------------------------
run_psql -F ' ' -c "SELECT version, sha256, name FROM vst_meta.schema_migrations
                    WHERE target = '$TARGET' ORDER BY version" >"$TMP/applied" 2>"$TMP/err" ||
    die "cannot read vst_meta.schema_migrations: $(first_error "$TMP/err")"
declare -A APPLIED_SUM=() APPLIED_NAME=()
while read -r v sum name; do
    [ -n "$v" ] || continue
    APPLIED_SUM[$v]=$sum
    APPLIED_NAME[$v]=$name
done <"$TMP/applied"

# Refuse before touching anything: an edited applied file means the tree and
# the database disagree about what the schema is.
for i in "${!VERSIONS[@]}"; do
    v=${VERSIONS[$i]}
    [ -n "${APPLIED_SUM[$v]:-}" ] || continue
    [ "${APPLIED_SUM[$v]}" = "${SUMS[$i]}" ] ||
        die "$TARGET/${NAMES[$i]} was changed after it was applied (sha256 ${SUMS[$i]:0:12}… != recorded ${APPLIED_SUM[$v]:0:12}…); add a new migration instead of editing an applied one"
done
for v in "${!APPLIED_SUM[@]}"; do
    [ -n "${SEEN[$v]:-}" ] ||
        die "$TARGET database has version $v (${APPLIED_NAME[$v]}) that $DIR lacks; is this tree older than the database?"
done

# --- apply what is missing --------------------------------------------------
applied=0 skipped=0
for i in "${!VERSIONS[@]}"; do
    v=${VERSIONS[$i]} name=${NAMES[$i]} sum=${SUMS[$i]}
    if [ -n "${APPLIED_SUM[$v]:-}" ]; then
        skipped=$((skipped + 1))
        continue
    fi
    start=${EPOCHREALTIME/[.,]/}
    # The re-check under the lock covers a concurrent runner that applied
    # this version after we read the table above. RESET ROLE undoes a
    # migration's SET LOCAL ROLE so the bookkeeping row is written by us.
    if ! run_psql --single-transaction -f - \
        -v "vst_mig_target=$TARGET" -v "vst_mig_version=$v" -v "vst_mig_name=$name" \
        -v "vst_mig_sha=$sum" -v "vst_mig_file=$DIR/$name" \
        >"$TMP/out" 2>"$TMP/err" <<SQL; then
SELECT pg_advisory_xact_lock($LOCK_CLASS, $LOCK_MIGRATE) \gset vst_lock_
SELECT count(*) = 0 AS vst_mig_todo, coalesce(max(sha256), '') AS vst_mig_have
  FROM vst_meta.schema_migrations
 WHERE target = :'vst_mig_target' AND version = :vst_mig_version \gset
\if :vst_mig_todo
\i :vst_mig_file
RESET ROLE;
INSERT INTO vst_meta.schema_migrations (target, version, name, sha256)
VALUES (:'vst_mig_target', :vst_mig_version, :'vst_mig_name', :'vst_mig_sha');
\echo vst-migrate: applied
\else
\echo vst-migrate: present :vst_mig_have
\endif
SQL
        die "$TARGET/$name failed, nothing of it was applied: $(first_error "$TMP/err")"
    fi
    # Warnings a migration raised (e.g. about role memberships) are worth
    # the operator's eye even when it succeeded.
    sed "s|^|$PROG: $TARGET/$name: |" "$TMP/err" >&2
    result=$(grep -m1 '^vst-migrate: ' "$TMP/out" || true)
    case "$result" in
    "vst-migrate: applied")
        ms=$(((${EPOCHREALTIME/[.,]/} - start) / 1000))
        printf '%s: applied %s (%d ms)\n' "$TARGET" "$name" "$ms"
        applied=$((applied + 1))
        ;;
    "vst-migrate: present $sum")
        printf '%s: %s was applied meanwhile by another runner\n' "$TARGET" "$name"
        skipped=$((skipped + 1))
        ;;
    "vst-migrate: present "*)
        die "$TARGET/$name was applied meanwhile by another runner from a different file (sha256 differs)"
        ;;
    *) die "$TARGET/$name: unexpected runner output: ${result:-none}" ;;
    esac
done

last=${VERSIONS[${#VERSIONS[@]} - 1]}
if [ "$applied" -eq 0 ]; then
    printf '%s: nothing to apply, all %d migrations already applied (schema version %d)\n' \
        "$TARGET" "$skipped" "$last"
else
    printf '%s: applied %d, already applied %d (schema version %d)\n' \
        "$TARGET" "$applied" "$skipped" "$last"
fi

# The delivery commit protocol (DESIGN.md §7) prepares store transactions.
if [ "$TARGET" = store ]; then
    mpt=$(run_psql -c 'SHOW max_prepared_transactions' 2>/dev/null || echo '?')
    if [ "$mpt" = 0 ]; then
        printf '%s: warning: max_prepared_transactions is 0; vst-httpd cannot commit deliveries until it is raised (restart needed)\n' \
            "$PROG" >&2
    fi
fi
