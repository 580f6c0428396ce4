# Shared shell helpers for tests/run.sh and deploy/quickstart.sh: dependency
# installation and a private PostgreSQL cluster. Source, don't execute.

log() { printf '[vst] %s\n' "$*" >&2; }
die() { printf '[vst] error: %s\n' "$*" >&2; exit 1; }

# Debian 12 packages needed to build, test and run vst.
VST_DEBS=(build-essential cmake pkg-config clang libclang-rt-14-dev
    libssl-dev openssl libmicrohttpd-dev gnutls-bin libpq-dev postgresql-15
    postgresql-client-15 libjansson-dev libcunit1-dev libgfshare-dev libgfshare-bin
    libseccomp-dev curl libcurl4-openssl-dev python3 clang-format cppcheck testssl.sh)

# Installs whatever of VST_DEBS is missing; a no-op (and fast) otherwise.
vst_install_deps() {
    local missing=() p
    for p in "${VST_DEBS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root or install them"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

PGBIN=/usr/lib/postgresql/15/bin

# First free TCP port at or above $1 on loopback.
vst_free_port() {
    local p=$1
    while (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    echo "$p"
}

# Runs a command as the cluster's OS user: initdb refuses root.
vst_pg_as() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# vst_pg_start DIR PORT: initdb in DIR/data (if new) and start it listening on
# 127.0.0.1:PORT and a socket in DIR. Exports PGHOST, PGPORT, PGUSER and the
# superuser DSN VST_ADMIN_DSN.
vst_pg_start() {
    local dir=$1 port=$2 su
    su=$(if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi)
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        vst_pg_as "$PGBIN/initdb" -D "$dir/data" -U "$su" -A trust -E UTF8 \
            --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; return 1; }
        cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_prepared_transactions = 64
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
# Keep WAL segments instead of recycling them at checkpoints: e2e_residue
# scans pg_wal for its control marker right after a CHECKPOINT.
wal_keep_size = 1GB
CONF
    fi
    vst_pg_as "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null ||
        { cat "$dir/postgres.log"; return 1; }
    export PGHOST=$dir PGPORT=$port PGUSER=$su
    export VST_ADMIN_DSN="host=$dir port=$port user=$su dbname=postgres"
    log "PostgreSQL 15 up on port $port (socket in $dir)"
}

# vst_pg_durable DIR: makes the cluster in DIR/data (started by vst_pg_start,
# which tunes it for throwaway test runs) crash-safe again: fsync,
# synchronous_commit and full_page_writes on, appended once and reloaded (all
# three are reloadable). Used by deploy/quickstart.sh and the durable
# benchmark tests/bench/bench_small.sh.
vst_pg_durable() {
    local data=$1/data
    grep -q '^# vst: durable' "$data/postgresql.conf" && return 0
    vst_pg_as tee -a "$data/postgresql.conf" >/dev/null <<'CONF'
# vst: durable (overrides the test settings above)
fsync = on
synchronous_commit = on
full_page_writes = on
CONF
    vst_pg_as "$PGBIN/pg_ctl" -D "$data" reload >/dev/null
}

vst_pg_stop() {
    local data=$1
    [ -f "$data/postmaster.pid" ] || return 0
    vst_pg_as "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
}

# Creates the trust DB and the store (if missing) and exports their
# superuser DSNs VST_TRUST_ADMIN_DSN and VST_STORE_ADMIN_DSN.
vst_create_databases() {
    local db
    for db in vst_trust vst_store; do
        psql -qAtX -d postgres -c "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 ||
            psql -qX -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db"
    done
    export VST_TRUST_ADMIN_DSN="host=$PGHOST port=$PGPORT user=$PGUSER dbname=vst_trust"
    export VST_STORE_ADMIN_DSN="host=$PGHOST port=$PGPORT user=$PGUSER dbname=vst_store"
}

# The daemons' own system users (DESIGN.md §2): vst-key runs vst-keyd,
# vst-data runs vst-httpd. Idempotent; needs root.
vst_ensure_users() {
    local u
    [ "$(id -u)" -eq 0 ] || return 0
    for u in vst-key vst-data; do
        id "$u" >/dev/null 2>&1 ||
            useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$u"
    done
}
