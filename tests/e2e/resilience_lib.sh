# Helpers for the resilience, crash and residue suites (test_resilience.sh,
# test_crash.sh, test_residue.sh). Sourced after stack.sh; uses its $STACK,
# $URL, $HTTPD_PID, $TRUST_DB, $STORE_DB and the PostgreSQL cluster of
# tests/run.sh ($PGHOST is its directory, $PGHOST/data its data directory,
# $PGHOST/postgres.log its log).

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

# ---- the cluster

pg_as() { # the cluster's OS user (tests/run.sh: postgres when run as root)
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Restarts the whole cluster (fast shutdown: open transactions are aborted,
# prepared ones survive). Its output keeps going to the cluster's log, never
# to our stdout (CTest would wait for a pipe held by the postmaster).
pg_restart() {
    pg_as "$PGBIN/pg_ctl" -D "$PGHOST/data" -l "$PGHOST/postgres.log" -w -t 120 restart \
        -m fast >/dev/null 2>&1
}

# Whatever happened, the cluster is running when a suite ends: the suites
# after this one need it.
pg_ensure_running() {
    pg_as "$PGBIN/pg_ctl" -D "$PGHOST/data" status >/dev/null 2>&1 && return 0
    echo "# PostgreSQL was down: starting it again" >&2
    pg_as "$PGBIN/pg_ctl" -D "$PGHOST/data" -l "$PGHOST/postgres.log" -w -t 120 start \
        >/dev/null 2>&1
}

# Waits until the cluster accepts connections (up to $1 seconds).
pg_wait() {
    local i
    for i in $(seq 1 $((${1:-60} * 10))); do
        psql -qAtX -d postgres -c 'SELECT 1' >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# ---- the store and the trust DB (as the superuser)

store_total() { sql_store "SELECT count(*) FROM sgb5.records"; }
store_rows_of() { sql_store "SELECT count(*) FROM sgb5.records WHERE delivery_ref = '$1'"; }
# Prepared transactions of the stack's store (any owner, any gid).
prepared_count() {
    psql -qAtX -d "$STORE_DB" -c \
        "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()"
}
prepared_exists() {
    [ "$(psql -qAtX -d "$STORE_DB" -c "SELECT count(*) FROM pg_prepared_xacts
         WHERE database = current_database() AND gid = '$1'")" = 1 ]
}
receipt_count() { sql_trust "SELECT count(*) FROM vst.receipts"; }
receipt_ref() { # receipt_ref DELIVERY_ID (of client "insurer")
    sql_trust "SELECT r.delivery_ref FROM vst.receipts r JOIN vst.clients c ON c.id = r.client_id
               WHERE c.name = 'insurer' AND r.delivery_id = '$1'"
}
receipt_sum() { sql_trust "SELECT coalesce(sum(record_count), 0) FROM vst.receipts"; }

# Every store row belongs to a receipt and every receipt has exactly its
# record_count rows: no half, no double, no orphan of a failed attempt.
store_matches_receipts() {
    local want got
    want=$(sql_trust "SELECT delivery_ref || ' ' || record_count FROM vst.receipts
                      WHERE record_count > 0 ORDER BY 1") || return 1
    got=$(sql_store "SELECT delivery_ref || ' ' || count(*) FROM sgb5.records
                     GROUP BY delivery_ref ORDER BY 1") || return 1
    if [ "$want" != "$got" ]; then
        echo "# receipts (ref count):" >&2
        sed 's/^/#   /' <<<"$want" >&2
        echo "# store rows by delivery_ref:" >&2
        sed 's/^/#   /' <<<"$got" >&2
        return 1
    fi
}

# both CMD1 -- CMD2: true when both commands succeed (for check).
both() {
    local a=()
    while [ "$1" != -- ]; do a+=("$1"); shift; done
    shift
    "${a[@]}" && "$@"
}

# ---- HTTP

# http_status PATH: status of a GET without a client certificate.
http_status() {
    curl -s -o "$STACK/http.out" -w '%{http_code}' --max-time 30 --cacert "$STACK/certs/ca.pem" \
        "$URL$1"
}

# wait_ready SECONDS: polls /readyz until 200; prints how long it took.
wait_ready() {
    local t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$1" ]; do
        if [ "$(http_status /readyz)" = 200 ]; then
            echo "# /readyz 200 after $((SECONDS - t0)) s"
            return 0
        fi
        sleep 0.5
    done
    return 1
}

# deliver_h WHO ID FILE: like deliver, also keeps the headers in $STACK/last.hdr.
deliver_h() {
    local who=$1 id=$2 file=$3
    shift 3
    deliver "$who" "$id" "$file" -D "$STACK/last.hdr" "$@"
}

# json_field FILE FIELD: a top-level field of a JSON document ("" if none).
json_field() {
    python3 - "$1" "$2" <<'PY'
import json, sys
try:
    v = json.load(open(sys.argv[1])).get(sys.argv[2], "")
except Exception:
    v = ""
print(v)
PY
}

header_of() { # header_of NAME: from $STACK/last.hdr, value only
    tr -d '\r' <"$STACK/last.hdr" | awk -v h="$(tr 'A-Z' 'a-z' <<<"$1")" -F': ' \
        'tolower($1) == h { print $2 }' | tail -1
}

# is_503_problem: the last response was a 503 problem+json with a positive
# Retry-After and the code service_unavailable.
is_503_problem() {
    local ra ct code
    ra=$(header_of Retry-After)
    ct=$(header_of Content-Type)
    code=$(json_field "$STACK/last.json" code)
    [ -n "$ra" ] && [ "$ra" -gt 0 ] 2>/dev/null && [ "$ct" = application/problem+json ] &&
        [ "$code" = service_unavailable ] ||
        { echo "# Retry-After='$ra' Content-Type='$ct' code='$code'" >&2; return 1; }
}

# ---- manual prepared transactions (as vst_httpd, the owner recovery looks for)

# prepare_manual UUID ROWS: a store transaction of vst_httpd with ROWS
# pseudonymized-looking rows under delivery_ref UUID, prepared as vst:UUID.
prepare_manual() {
    local ref=$1 n=$2
    psql -qAtX -v ON_ERROR_STOP=1 \
        "host=$PGHOST port=$PGPORT user=vst_httpd dbname=$STORE_DB" <<SQL >/dev/null
BEGIN;
INSERT INTO sgb5.records (delivery_ref, pseudonym, key_version, birth_year, sex,
                          insurance_status, postal_prefix, service)
SELECT '$ref', md5('manual' || g), 1, 1970, 'W', 1, '10', '{"period":"2024Q1"}'::jsonb
  FROM generate_series(1, $n) g;
PREPARE TRANSACTION 'vst:$ref';
SQL
}

# fake_receipt UUID DELIVERY_ID COUNT: a receipt row for delivery_ref UUID,
# copied from an existing receipt (as the superuser, with the foreign key
# to the audit log switched off for this session).
fake_receipt() {
    psql -qAtX -v ON_ERROR_STOP=1 -d "$TRUST_DB" <<SQL >/dev/null
SET session_replication_role = replica;
INSERT INTO vst.receipts (client_id, delivery_id, delivery_ref, profile, record_count,
                          body_bytes, body_sha256, key_version, received_at, stored_at,
                          audit_seq, signature, sign_key_id)
SELECT client_id, '$2', '$1', profile, $3, body_bytes, body_sha256, key_version,
       received_at, stored_at, (SELECT max(audit_seq) + 100000 FROM vst.receipts),
       signature, sign_key_id
  FROM vst.receipts ORDER BY audit_seq LIMIT 1;
SQL
}

new_uuid() { python3 -c 'import uuid; print(uuid.uuid4())'; }

# ---- timing

now_ms() { date +%s%3N; }

# httpd_restart: httpd_start again after a kill. If another process took
# the port meanwhile (other stacks on a shared machine), move to a free one.
httpd_restart() {
    local n
    for n in 1 2 3; do
        httpd_start "${HTTPD_OPTS[@]}" 2>>"$STACK/restart.err" && return 0
        HTTPD_PID=
        if (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            PORT=$(stack_free_port $((PORT + 1)))
            URL=https://127.0.0.1:$PORT
            echo "# port taken by another process: vst-httpd moves to $PORT"
        fi
    done
    cat "$STACK/restart.err" >&2
    return 1
}
