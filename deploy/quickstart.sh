#!/usr/bin/env bash
# The README's first command: a complete local vst stack for development
# (DESIGN.md §10). NOT for real data: the master key is a plain file, the
# databases trust every local user, and the CA's key lies next to it.
#
#   ./deploy/quickstart.sh          start (or complete) the stack, deliver a sample
#   ./deploy/quickstart.sh stop     stop vst-httpd, vst-keyd and PostgreSQL
#   ./deploy/quickstart.sh status   what is running
#
# Start installs the missing Debian packages (as root), builds build/release,
# starts a PostgreSQL 15 cluster under var/pg, creates and migrates vst_trust
# and vst_store, makes a dev CA with a server and an insurer certificate, a
# dev keystore, registers the insurer, starts vst-keyd and vst-httpd on
# https://127.0.0.1:8443, delivers a generated sample with vst-send and shows
# the receipt, a few store rows and `vst-audit verify`. Everything stays
# running; var/quickstart.env holds the coordinates (shell KEY=value lines).
#
# Running it again is safe: keys, certificates and data are kept, daemons
# that are not running are brought back, the client is not registered twice,
# and each run delivers under a new delivery id.
#
# Environment (for tests; the defaults are what the README promises):
#   VST_QUICKSTART_VAR      state directory            (default: <repo>/var)
#   VST_QUICKSTART_BUILD    build directory            (default: <repo>/build/release)
#   VST_QUICKSTART_PORT     HTTPS port                 (default: 8443)
#   VST_QUICKSTART_RECORDS  records in the sample      (default: 1000)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=deploy/lib/common.sh
source "$ROOT/deploy/lib/common.sh"

VAR=${VST_QUICKSTART_VAR:-$ROOT/var}
BUILD=${VST_QUICKSTART_BUILD:-$ROOT/build/release}
WANT_PORT=${VST_QUICKSTART_PORT:-8443}
RECORDS=${VST_QUICKSTART_RECORDS:-1000}
CLIENT=demo-insurer
CLIENT_IK=260326822              # a valid IK (DESIGN.md §4's example)
PROGRAMS=(vst-keyd vst-admin vst-gen vst-httpd vst-send vst-audit)

BIN=$BUILD/bin
CERTS=$VAR/certs
KEYS=$VAR/keys
RUN=$VAR/run
LOGS=$VAR/log
CONF=$VAR/conf
DELIV=$VAR/deliveries
ENVFILE=$VAR/quickstart.env
KEYD_CONF=$CONF/vst-keyd.conf
HTTPD_CONF=$CONF/vst-httpd.conf
DATA_SOCK=$RUN/keyd-data.sock
ADMIN_SOCK=$RUN/keyd-admin.sock

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

if [ -t 1 ]; then
    step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    step() { printf '\n== %s\n' "$*"; }
fi

# ---- PostgreSQL ---------------------------------------------------------------
# The cluster directory: var/pg, unless the cluster's OS user (postgres, when
# we are root) cannot reach it or its socket path would be too long; then a
# directory under /var/tmp, with var/pg a symlink to it.
pg_dir() {   # where the cluster is (or would be); creates nothing
    if [ -L "$VAR/pg" ]; then
        readlink -f "$VAR/pg"
    else
        echo "$VAR/pg"
    fi
}

pg_choose_dir() {   # for start: pg_dir, or a reachable place made now
    local d=$VAR/pg
    if [ -L "$d" ] || [ -d "$d/data" ]; then
        pg_dir
        return
    fi
    if [ ${#d} -gt 90 ] ||
        { [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$VAR" 2>/dev/null; }; then
        d=/var/tmp/vst-quickstart-$(printf '%s' "$VAR" | sha256sum | cut -c1-12)/pg
        mkdir -p "$d"
        ln -sfn "$d" "$VAR/pg"
        log "var/pg is not reachable for the cluster's user; using $d" >&2
    fi
    echo "$d"
}

pg_running() { vst_pg_as "$PGBIN/pg_ctl" -D "$1/data" status >/dev/null 2>&1; }

pg_start() {
    PGDIR=$(pg_choose_dir)
    mkdir -p "$PGDIR"
    local port
    if [ -f "$PGDIR/data/postgresql.conf" ]; then
        port=$(sed -n 's/^port = \([0-9]*\).*/\1/p' "$PGDIR/data/postgresql.conf" | tail -1)
    else
        port=$(vst_free_port 5433)
    fi
    if pg_running "$PGDIR"; then
        export PGHOST=$PGDIR PGPORT=$port
        PGUSER=$(if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi)
        export PGUSER VST_ADMIN_DSN="host=$PGDIR port=$port user=$PGUSER dbname=postgres"
        log "PostgreSQL already running on port $port"
    else
        [ -f "$PGDIR/data/PG_VERSION" ] || log "creating a PostgreSQL cluster in $PGDIR"
        vst_pg_start "$PGDIR" "$port" 8>&- || die "PostgreSQL did not start (log: $PGDIR/postgres.log)"
    fi
    # common.sh tunes the cluster for throwaway test runs (fsync off); this
    # one keeps its data, so make it crash-safe again. (Clusters made before
    # vst_pg_durable carry the same three lines under an older marker.)
    grep -q '^# vst quickstart: durable' "$PGDIR/data/postgresql.conf" || vst_pg_durable "$PGDIR"
    vst_create_databases
    "$ROOT/sql/migrate.sh" trust "$VST_TRUST_ADMIN_DSN" >"$LOGS/migrate.log" 2>&1 ||
        { cat "$LOGS/migrate.log"; die "trust DB migrations failed"; }
    "$ROOT/sql/migrate.sh" store "$VST_STORE_ADMIN_DSN" >>"$LOGS/migrate.log" 2>&1 ||
        { cat "$LOGS/migrate.log"; die "store migrations failed"; }
    grep -E '^(trust|store): (applied [0-9]+, |nothing to apply)' "$LOGS/migrate.log" | sed 's/^/  /' || true
    local base="host=$PGHOST port=$PGPORT"
    TRUST_DSN_ADMIN="$base user=vst_admin dbname=vst_trust"
    STORE_DSN_ADMIN="$base user=vst_admin dbname=vst_store"
    TRUST_DSN_HTTPD="$base user=vst_httpd dbname=vst_trust"
    STORE_DSN_HTTPD="$base user=vst_httpd dbname=vst_store"
    AUDIT_DSN="$base user=vst_auditor dbname=vst_trust"
}

# ---- certificates -------------------------------------------------------------
# ecdsa_key FILE: a P-256 private key, 0600.
ecdsa_key() {
    (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null)
}
# sign NAME SUBJECT EXTENSIONS: NAME.key (new) and NAME.pem signed by the dev CA.
sign() {
    local n=$1 subj=$2 ext=$3
    ecdsa_key "$CERTS/$n.key"
    printf '%s\n' "$ext" >"$CERTS/$n.ext"
    openssl req -new -key "$CERTS/$n.key" -subj "$subj" 2>/dev/null |
        openssl x509 -req -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
            -days 825 -sha256 -extfile "$CERTS/$n.ext" -out "$CERTS/$n.pem" 2>/dev/null
    rm -f "$CERTS/$n.ext"
}
make_certs() {
    mkdir -p "$CERTS"
    if [ ! -f "$CERTS/ca.pem" ] || [ ! -f "$CERTS/ca.key" ]; then
        log "creating the development CA var/certs/ca.pem"
        ecdsa_key "$CERTS/ca.key"
        openssl req -x509 -new -key "$CERTS/ca.key" -sha256 -days 3650 \
            -subj "/O=vst quickstart/CN=vst quickstart development CA" \
            -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -out "$CERTS/ca.pem" 2>/dev/null || die "cannot create the CA"
        rm -f "$CERTS/server.pem" "$CERTS/insurer.pem"   # signed by an older CA
    fi
    if [ ! -f "$CERTS/server.pem" ] || [ ! -f "$CERTS/server.key" ]; then
        log "creating the server certificate for 127.0.0.1 and localhost"
        sign server "/O=vst quickstart/CN=localhost" \
            "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost" || die "cannot create the server certificate"
    fi
    if [ ! -f "$CERTS/insurer.pem" ] || [ ! -f "$CERTS/insurer.key" ]; then
        log "creating the insurer's client certificate var/certs/insurer.pem"
        sign insurer "/O=Demo Krankenkasse/CN=$CLIENT" \
            "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth" || die "cannot create the insurer certificate"
    fi
}

# ---- keys -----------------------------------------------------------------------
make_keys() {
    mkdir -p "$KEYS"
    chmod 700 "$KEYS"
    if [ ! -f "$KEYS/keystore/keystore.info" ]; then
        log "creating the development keystore (master key in a plain file: dev only)"
        "$BIN/vst-admin" --keystore "$KEYS/keystore" --trust-dsn "$TRUST_DSN_ADMIN" \
            key init --dev-master-key "$KEYS/master.key" | sed 's/^/  /'
    fi
    SIGNING_KEY=$(sed -n 's/^signing-public-key: //p' "$KEYS/keystore/keystore.info")
    [ ${#SIGNING_KEY} -eq 64 ] || die "no signing public key in $KEYS/keystore/keystore.info"
}

# ---- daemons --------------------------------------------------------------------
# pid_of NAME: the pid of our running daemon NAME (vst-keyd, vst-httpd), or
# nothing. Trusts the pid file only if that process is NAME with our config.
pid_of() {
    local name=$1 pid
    pid=$(cat "$RUN/$name.pid" 2>/dev/null) || true
    if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
        tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$CONF/$name.conf"; then
        echo "$pid"
        return
    fi
    # No (valid) pid file: look for a process started with our config file.
    local p
    for p in /proc/[0-9]*; do
        [ -r "$p/cmdline" ] || continue
        if tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF "$CONF/$name.conf" &&
            tr '\0' '\n' <"$p/cmdline" 2>/dev/null | head -1 | grep -q "$name\$"; then
            echo "${p#/proc/}"
            return
        fi
    done
}

# launch NAME ARGS...: starts a daemon in its own session, logs to var/log.
launch() {
    local name=$1
    shift
    # fd 8 is the quickstart's lock: the daemon must not inherit it.
    setsid "$BIN/$name" --config "$CONF/$name.conf" "$@" </dev/null >>"$LOGS/$name.log" 2>&1 8>&- &
    LAUNCHED=$!
}

write_keyd_conf() {
    cat >"$KEYD_CONF" <<EOF
# vst-keyd for the quickstart (generated by deploy/quickstart.sh; see
# deploy/vst-keyd.conf.sample for every option). Started with --user "".
keystore $KEYS/keystore
data-socket $DATA_SOCK
admin-socket $ADMIN_SOCK
data-uids $(id -u)
admin-uids $(id -u)
socket-mode 0600
events-file $VAR/keyd-events.jsonl
# DEVELOPMENT ONLY: unseals itself at start from this file.
dev-master-key $KEYS/master.key
seccomp yes
pid-file $RUN/vst-keyd.pid
EOF
}

start_keyd() {
    local pid
    pid=$(pid_of vst-keyd)
    if [ -n "$pid" ]; then
        log "vst-keyd already running (pid $pid)"
        return
    fi
    write_keyd_conf
    rm -f "$RUN/vst-keyd.pid"
    launch vst-keyd --user ""

    for _ in $(seq 150); do
        if VST_KEYD_ADMIN_SOCKET=$ADMIN_SOCK "$BIN/vst-admin" key status >/dev/null 2>&1; then
            log "vst-keyd started (pid $LAUNCHED), unsealed from the dev master key"
            return
        fi
        kill -0 "$LAUNCHED" 2>/dev/null || break
        sleep 0.2
    done
    tail -n 20 "$LOGS/vst-keyd.log" >&2
    die "vst-keyd did not come up (log: $LOGS/vst-keyd.log)"
}

https_port() {
    local pid port
    pid=$(pid_of vst-httpd)
    if [ -n "$pid" ] && [ -f "$HTTPD_CONF" ]; then
        sed -n 's/^port \([0-9]*\)$/\1/p' "$HTTPD_CONF"
        return
    fi
    port=$(vst_free_port "$WANT_PORT")
    [ "$port" = "$WANT_PORT" ] || log "port $WANT_PORT is taken; vst-httpd will listen on $port" >&2
    echo "$port"
}

write_httpd_conf() {
    cat >"$HTTPD_CONF" <<EOF
# vst-httpd for the quickstart (generated by deploy/quickstart.sh; see
# deploy/vst-httpd.conf.sample for every option). Started with --user "".
listen-address 127.0.0.1
port $PORT
tls-cert $CERTS/server.pem
tls-key $CERTS/server.key
client-ca $CERTS/ca.pem
trust-dsn $TRUST_DSN_HTTPD
store-dsn $STORE_DSN_HTTPD
keyd-socket $DATA_SOCK
profiles $ROOT/server/profiles
default-profile sgb5
pid-file $RUN/vst-httpd.pid
EOF
}

# curl with the insurer's certificate.
icurl() {
    curl -sS --max-time 10 --cacert "$CERTS/ca.pem" --cert "$CERTS/insurer.pem" \
        --key "$CERTS/insurer.key" "$@"
}

start_httpd() {
    local pid
    pid=$(pid_of vst-httpd)
    if [ -n "$pid" ]; then
        log "vst-httpd already running (pid $pid)"
    else
        write_httpd_conf
        rm -f "$RUN/vst-httpd.pid"
        launch vst-httpd --user ""
        pid=$LAUNCHED
        log "vst-httpd started (pid $pid)"
    fi
    local code=
    for _ in $(seq 300); do
        code=$(icurl -o /dev/null -w '%{http_code}' "$URL/readyz" 2>/dev/null) || true
        [ "$code" = 200 ] && { log "vst-httpd is ready on $URL"; return; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    tail -n 20 "$LOGS/vst-httpd.log" >&2
    die "vst-httpd is not ready (last /readyz answer: ${code:-none}; log: $LOGS/vst-httpd.log)"
}

# stop_daemon NAME: SIGTERM, wait up to 30 s, then SIGKILL.
stop_daemon() {
    local name=$1 pid
    pid=$(pid_of "$name")
    if [ -z "$pid" ]; then
        log "$name is not running"
        rm -f "$RUN/$name.pid"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do
        [ -d "/proc/$pid" ] || break
        sleep 0.1
    done
    if [ -d "/proc/$pid" ]; then
        log "$name (pid $pid) ignored SIGTERM for 30 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    fi
    rm -f "$RUN/$name.pid"
    log "$name stopped"
}

# ---- the rest -------------------------------------------------------------------
build() {
    vst_install_deps
    mkdir -p "$BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$LOGS/cmake.log" 2>&1 ||
        { cat "$LOGS/cmake.log"; die "cmake failed"; }
    cmake --build "$BUILD" -j"$(nproc)" --target "${PROGRAMS[@]}" -- --no-print-directory >"$LOGS/build.log" 2>&1 ||
        { tail -n 40 "$LOGS/build.log"; die "build failed (log: $LOGS/build.log)"; }
    # Every program lands in one folder of the build tree (VST_BIN).
    local p
    for p in "${PROGRAMS[@]}"; do
        [ -x "$BIN/$p" ] || die "$p was not built (expected in $BIN)"
    done
    log "built ${PROGRAMS[*]} (in $BIN)"
}

register_client() {
    if VST_TRUST_DSN=$TRUST_DSN_ADMIN "$BIN/vst-admin" client list --json |
        grep -q "\"name\":\"$CLIENT\""; then
        log "client $CLIENT already registered"
    else
        VST_TRUST_DSN=$TRUST_DSN_ADMIN "$BIN/vst-admin" client add --name "$CLIENT" \
            --ik "$CLIENT_IK" --cert "$CERTS/insurer.pem" | sed 's/^/  /'
    fi
}

write_env() {
    local tmp=$ENVFILE.tmp
    cat >"$tmp" <<EOF
# vst quickstart coordinates (deploy/quickstart.sh). Load with:
#   set -a; . $ENVFILE; set +a
VST_URL='$URL'
VST_CA_CERT='$CERTS/ca.pem'
VST_CLIENT_CERT='$CERTS/insurer.pem'
VST_CLIENT_KEY='$CERTS/insurer.key'
VST_SIGNING_KEY='$SIGNING_KEY'
VST_TRUST_DSN='$TRUST_DSN_ADMIN'
VST_STORE_DSN='$STORE_DSN_ADMIN'
VST_ADMIN_DSN='$VST_ADMIN_DSN'
VST_AUDIT_DSN='$AUDIT_DSN'
VST_AUDIT_PUBLIC_KEY='$SIGNING_KEY'
VST_KEYD_ADMIN_SOCKET='$ADMIN_SOCK'
VST_KEYD_DATA_SOCKET='$DATA_SOCK'
VST_KEYSTORE='$KEYS/keystore'
VST_PROFILE_DIR='$ROOT/server/profiles'
VST_BIN='$BIN'
EOF
    mv "$tmp" "$ENVFILE"
}

deliver_sample() {
    mkdir -p "$DELIV"
    local id n=1 base
    # No date with its day in a delivery id: vst-httpd refuses ids that
    # could carry a birth date (docs/vst-send.md).
    # (letters only in the random part: random digits can spell a date).
    base=quickstart-$(date -u +%Y-%m)-$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n' | tr '0-9' 'g-p')
    id=$base
    while [ -e "$DELIV/$id.ndjson" ]; do n=$((n + 1)); id=$base-$n; done
    step "delivering $RECORDS generated records as $id"
    # A small provider pool, as in one region's delivery: physicians recur,
    # under each of their specialty groups, within the sample.
    "$BIN/vst-gen" --records "$RECORDS" --seed "$(date +%s%N)" --providers 150 -o "$DELIV/$id.ndjson"
    (
        set -a
        # shellcheck disable=SC1090
        . "$ENVFILE"
        set +a
        "$BIN/vst-send" --receipt-out "$DELIV/$id.receipt.json" "$id" "$DELIV/$id.ndjson"
    ) >"$DELIV/$id.receipt.txt" || { cat "$DELIV/$id.receipt.txt"; die "vst-send failed for $id"; }
    step "receipt (also in var/deliveries/$id.receipt.json)"
    cat "$DELIV/$id.receipt.txt"

    local ref
    ref=$(psql -X -qAt -d vst_trust -v id="$id" -v client="$CLIENT" <<'SQL'
SELECT r.delivery_ref FROM vst.receipts r JOIN vst.clients c ON c.id = r.client_id
 WHERE c.name = :'client' AND r.delivery_id = :'id'
SQL
    )
    [ -n "$ref" ] || die "no receipt row for $id in vst_trust"
    step "store rows of this delivery (sgb5.records, first 5; delivery_ref $ref)"
    psql -X -q -d vst_store -P pager=off -v ref="$ref" <<'SQL'
SELECT pseudonym, key_version, birth_year, sex, postal_prefix, provider_group, service
  FROM sgb5.records WHERE delivery_ref = :'ref' ORDER BY id LIMIT 5;
SELECT count(*) AS rows_of_this_delivery FROM sgb5.records WHERE delivery_ref = :'ref';
-- Physicians by their LANR digits 1-7 (one pseudonym across specialty groups) and the
-- placeholder numbers, which have no pseudonym (docs/profiles.md "Placeholders").
SELECT left(provider_pseudonym, 12) AS physician, count(DISTINCT provider_group) AS groups,
       count(*) AS rows
  FROM sgb5.records WHERE delivery_ref = :'ref' AND provider_pseudonym IS NOT NULL
 GROUP BY provider_pseudonym ORDER BY groups DESC, rows DESC LIMIT 3;
SELECT coalesce(provider_placeholder, practice_placeholder) AS placeholder, count(*) AS rows
  FROM sgb5.records WHERE delivery_ref = :'ref'
   AND (provider_placeholder IS NOT NULL OR practice_placeholder IS NOT NULL)
 GROUP BY 1 ORDER BY 1;
SQL
    step "small cells over the whole store (vst-admin cells, k=5; docs/release.md)"
    # The one-line verdict; `vst-admin cells --html FILE` draws the whole report.
    VST_TRUST_DSN=$TRUST_DSN_ADMIN VST_STORE_DSN=$STORE_DSN_ADMIN VST_KEYD_ADMIN_SOCKET=$ADMIN_SOCK \
        VST_PROFILE_DIR=$ROOT/server/profiles "$BIN/vst-admin" cells >"$DELIV/cells.txt" ||
        die "vst-admin cells failed"
    head -1 "$DELIV/cells.txt"
    step "vst-admin audit sync: keyd's events into the log, a signed checkpoint"
    VST_TRUST_DSN=$TRUST_DSN_ADMIN VST_KEYD_ADMIN_SOCKET=$ADMIN_SOCK "$BIN/vst-admin" audit sync ||
        die "vst-admin audit sync failed"
    step "vst-audit verify (as vst_auditor)"
    "$BIN/vst-audit" --dsn "$AUDIT_DSN" verify --public-key "$SIGNING_KEY" ||
        die "vst-audit verify failed"
}

cmd_start() {
    mkdir -p "$VAR" "$RUN" "$LOGS" "$CONF"
    chmod 700 "$RUN"
    exec 8>"$VAR/.quickstart.lock"
    flock -n 8 || die "another quickstart.sh is running"
    [ ${#DATA_SOCK} -lt 100 ] || die "$VAR is too deep for UNIX socket paths; set VST_QUICKSTART_VAR"

    step "dependencies and build ($BUILD)"
    build
    step "PostgreSQL"
    pg_start
    step "certificates (var/certs)"
    make_certs
    log "CA $CERTS/ca.pem; server $CERTS/server.pem; insurer $CERTS/insurer.pem"
    step "keys (var/keys)"
    make_keys
    log "signing public key $SIGNING_KEY"
    step "client registration"
    register_client
    step "daemons"
    start_keyd
    PORT=$(https_port)
    URL=https://127.0.0.1:$PORT
    write_env
    start_httpd
    deliver_sample

    step "the stack is running"
    cat <<EOF
  API          $URL  (mutual TLS: var/certs/insurer.pem)
  environment  $ENVFILE
  programs     $BIN
  logs         $LOGS
  try          set -a; . $ENVFILE; set +a
               \$VST_BIN/vst-admin client list
               \$VST_BIN/vst-admin cells --html /tmp/cells.html
               \$VST_BIN/vst-gen --records 10 -o /tmp/ten.ndjson
               \$VST_BIN/vst-send my-first-delivery /tmp/ten.ndjson
  stop         $0 stop
EOF
}

cmd_stop() {
    stop_daemon vst-httpd
    stop_daemon vst-keyd
    local d
    d=$(pg_dir)
    if [ -d "$d/data" ] && pg_running "$d"; then
        vst_pg_stop "$d/data" || die "PostgreSQL did not stop"
        log "PostgreSQL stopped"
    else
        log "PostgreSQL is not running"
    fi
}

cmd_status() {
    local rc=0 pid d
    for n in vst-keyd vst-httpd; do
        pid=$(pid_of "$n")
        if [ -n "$pid" ]; then echo "$n: running (pid $pid)"; else echo "$n: stopped"; rc=3; fi
    done
    d=$(pg_dir)
    if [ -d "$d/data" ] && pg_running "$d"; then
        echo "postgresql: running ($d, port $(sed -n 's/^port = \([0-9]*\).*/\1/p' "$d/data/postgresql.conf" | tail -1))"
    else
        echo "postgresql: stopped"
        rc=3
    fi
    if [ -f "$ENVFILE" ] && [ -n "$(pid_of vst-httpd)" ]; then
        URL=$(sed -n "s/^VST_URL='\(.*\)'$/\1/p" "$ENVFILE")
        echo "readyz: $(icurl "$URL/readyz" 2>&1 | head -c 300)"
    fi
    return $rc
}

case ${1:-start} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
-h | --help | help) usage ;;
*)
    printf 'quickstart.sh: unknown command "%s" (start, stop, status; see --help)\n' "$1" >&2
    exit 2
    ;;
esac
