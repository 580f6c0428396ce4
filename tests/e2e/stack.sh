# End-to-end test stack: sourced by the tests/e2e/*.sh suites. Builds a
# complete trust center in a temporary directory on the PostgreSQL cluster
# that tests/run.sh started: its own two databases (migrated), a dev CA
# with server, insurer, second-insurer, revoked and foreign-CA
# certificates, a dev keystore, vst-keyd and vst-httpd on a free port, and
# a registered insurer. Everything is torn down by stack_down (trap it).
#
# Needs: PGHOST PGPORT PGUSER (superuser), VST_KEYD VST_ADMIN VST_HTTPD
# VST_GEN VST_SEND (program paths, from CTest), VST_SOURCE_DIR.

set -uo pipefail
E2E_PASS=0
E2E_FAIL=0

ok() { E2E_PASS=$((E2E_PASS + 1)); echo "ok - $*"; }
not_ok() { E2E_FAIL=$((E2E_FAIL + 1)); echo "not ok - $*"; }
check() { # check "description" command...
    local d=$1
    shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
e2e_summary() {
    echo "$E2E_PASS passed, $E2E_FAIL failed"
    [ "$E2E_FAIL" -eq 0 ]
}

# psql as the superuser on one of the stack's databases.
sql_trust() { psql -qAtX -v ON_ERROR_STOP=1 -d "$TRUST_DB" -c "$1"; }
sql_store() { psql -qAtX -v ON_ERROR_STOP=1 -d "$STORE_DB" -c "$1"; }

stack_certs() {
    local d=$STACK/certs
    mkdir -p "$d"
    (
        cd "$d" || exit 1
        gen() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
        gen ca && openssl req -x509 -new -key ca.key -subj "/CN=vst test CA" -days 30 -out ca.pem 2>/dev/null
        gen other-ca && openssl req -x509 -new -key other-ca.key -subj "/CN=foreign CA" -days 30 -out other-ca.pem 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
        gen server && openssl req -new -key server.key -subj "/CN=localhost" -out server.csr 2>/dev/null &&
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
                -extfile server.ext -out server.pem 2>/dev/null
        for c in insurer second revoked unknown monitor; do
            gen "$c" && openssl req -new -key "$c.key" -subj "/CN=$c" -out "$c.csr" 2>/dev/null &&
                openssl x509 -req -in "$c.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
                    -out "$c.pem" 2>/dev/null
        done
        gen foreign && openssl req -new -key foreign.key -subj "/CN=foreign" -out foreign.csr 2>/dev/null &&
            openssl x509 -req -in foreign.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial \
                -days 30 -out foreign.pem 2>/dev/null
    ) || return 1
}

stack_free_port() {
    local p=$1
    while (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    echo "$p"
}

# Starts vst-keyd (dev master key) in the background; pid in $KEYD_PID.
keyd_start() {
    "$VST_KEYD" --keystore "$STACK/keystore" --dev-master-key "$STACK/master.key" \
        --data-socket "$STACK/run/data.sock" --admin-socket "$STACK/run/admin.sock" \
        --events-file "$STACK/events.jsonl" --data-uids 0 --admin-uids 0 --user "" \
        --seccomp no "$@" >>"$STACK/keyd.log" 2>&1 &
    KEYD_PID=$!
    local i
    for i in $(seq 1 100); do
        [ -S "$STACK/run/admin.sock" ] && "$VST_ADMIN" key status >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "vst-keyd did not start:" >&2
    tail -5 "$STACK/keyd.log" >&2
    return 1
}

keyd_stop() {
    [ -n "${KEYD_PID:-}" ] || return 0
    kill -TERM "$KEYD_PID" 2>/dev/null
    wait "$KEYD_PID" 2>/dev/null
    KEYD_PID=
}

# SHA-256 of a certificate's SubjectPublicKeyInfo, hex (vst's fingerprint).
cert_fingerprint() {
    openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
}

# Starts vst-httpd; pid in $HTTPD_PID; extra options pass through. The
# stack's "monitor" certificate may read /metrics.
httpd_start() {
    local mon=()
    # (The check lets these suites run against a build from before the
    # option existed, to show what they catch there.)
    "$VST_HTTPD" --help | grep -q -- --monitor-fingerprints &&
        mon=(--monitor-fingerprints "$(cert_fingerprint "$STACK/certs/monitor.pem")")
    "$VST_HTTPD" --port "$PORT" --tls-cert "$STACK/certs/server.pem" "${mon[@]}" \
        --tls-key "$STACK/certs/server.key" --client-ca "$STACK/certs/ca.pem" \
        --trust-dsn "host=$PGHOST port=$PGPORT user=vst_httpd dbname=$TRUST_DB" \
        --store-dsn "host=$PGHOST port=$PGPORT user=vst_httpd dbname=$STORE_DB" \
        --keyd-socket "$STACK/run/data.sock" --user "" "$@" >>"$STACK/httpd.log" 2>&1 &
    HTTPD_PID=$!
    local i
    for i in $(seq 1 100); do
        curl -s -o /dev/null --cacert "$STACK/certs/ca.pem" "$URL/healthz" && return 0
        kill -0 "$HTTPD_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "vst-httpd did not start:" >&2
    tail -5 "$STACK/httpd.log" >&2
    return 1
}

httpd_stop() {
    [ -n "${HTTPD_PID:-}" ] || return 0
    kill -TERM "$HTTPD_PID" 2>/dev/null
    wait "$HTTPD_PID" 2>/dev/null
    HTTPD_PID=
}

# curl as a client: cert name (insurer, second, revoked, unknown, foreign)
# or "none"; the rest are curl arguments.
api() {
    local who=$1
    shift
    local auth=()
    [ "$who" = none ] || auth=(--cert "$STACK/certs/$who.pem" --key "$STACK/certs/$who.key")
    curl -sS --cacert "$STACK/certs/ca.pem" "${auth[@]}" "$@"
}

# deliver WHO ID FILE [curl args...]: prints "STATUS" and writes the body
# to $STACK/last.json.
deliver() {
    local who=$1 id=$2 file=$3
    shift 3
    api "$who" -o "$STACK/last.json" -w '%{http_code}' -X PUT \
        -H 'Content-Type: application/x-ndjson' --data-binary "@$file" "$@" \
        "$URL/v1/deliveries/$id"
}

stack_up() {
    STACK=$(mktemp -d /tmp/vst-e2e.XXXXXX)
    chmod 755 "$STACK"
    mkdir -p "$STACK/run"
    TRUST_DB=vst_e2e_trust_$$
    STORE_DB=vst_e2e_store_$$
    psql -qX -d postgres -c "CREATE DATABASE $TRUST_DB" -c "CREATE DATABASE $STORE_DB" || return 1
    "$VST_SOURCE_DIR/sql/migrate.sh" trust "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$TRUST_DB" >/dev/null &&
        "$VST_SOURCE_DIR/sql/migrate.sh" store "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$STORE_DB" >/dev/null ||
        return 1
    stack_certs || return 1
    export VST_KEYD_ADMIN_SOCKET=$STACK/run/admin.sock
    export VST_TRUST_DSN="host=$PGHOST port=$PGPORT user=vst_admin dbname=$TRUST_DB"
    export VST_STORE_DSN="host=$PGHOST port=$PGPORT user=vst_admin dbname=$STORE_DB"
    "$VST_ADMIN" --keystore "$STACK/keystore" key init --dev-master-key "$STACK/master.key" \
        >"$STACK/init.log" || return 1
    keyd_start || return 1
    for c in insurer second revoked; do
        "$VST_ADMIN" client add --name "$c" --ik 260326822 --cert "$STACK/certs/$c.pem" \
            >>"$STACK/admin.log" || return 1
    done
    "$VST_ADMIN" client revoke revoked >>"$STACK/admin.log" || return 1
    PORT=$(stack_free_port 18443)
    URL=https://127.0.0.1:$PORT
    httpd_start "${HTTPD_OPTS[@]}" || return 1
    SIGNING_KEY=$(sed -n 's/^signing public key: //p' "$STACK/init.log")
}

# stack_up, or one "not ok" line, the summary and exit 1.
stack_up_or_bail() {
    stack_up && return 0
    not_ok "the stack comes up"
    e2e_summary
    exit 1
}

stack_down() {
    httpd_stop
    keyd_stop
    if [ -n "${TRUST_DB:-}" ]; then
        # Prepared transactions would block DROP DATABASE.
        local g
        for g in $(psql -qAtX -d "$STORE_DB" -c "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()" 2>/dev/null); do
            psql -qX -d "$STORE_DB" -c "ROLLBACK PREPARED '$g'" >/dev/null 2>&1
        done
        psql -qX -d postgres -c "DROP DATABASE IF EXISTS $TRUST_DB WITH (FORCE)" \
            -c "DROP DATABASE IF EXISTS $STORE_DB WITH (FORCE)" >/dev/null 2>&1
    fi
    [ -n "${KEEP_STACK:-}" ] || rm -rf "${STACK:-/nonexistent}"
}
HTTPD_OPTS=()
