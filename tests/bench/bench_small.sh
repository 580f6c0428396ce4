#!/usr/bin/env bash
# Many small deliveries on a durable cluster (issue 14; a script, not a test):
# see docs/benchmarks.md.
#
#   tests/bench/bench_small.sh [--duration SECONDS] [--clients "1 8 32 128"]
#                              [--new-clients 8] [--ceiling-clients 32]
#                              [--httpd-opt "--option value"]...
#
# In a throwaway directory it starts its own PostgreSQL 15 cluster
# (vst_pg_start, then vst_pg_durable: fsync, synchronous_commit and
# full_page_writes on, printed as the cluster reports them) and on it the
# stack of tests/e2e/stack.sh with the release binaries: vst-keyd, vst-httpd
# (--rate-limit 0, and --client-slots / --per-ip-connections lifted so that C
# clients sharing the one insurer certificate and 127.0.0.1 are not capped by
# the per-client limits; the workers stay at their default), client certificates.
# Then, for each C of --clients (default 1 8 32 128), in this order:
#   1. small_load (tests/bench/small_load.c, libcurl): C clients, each sending
#      1-record deliveries (one valid sgb5 record from vst-gen, a unique
#      delivery id each) one after the other over its kept-alive mTLS
#      connection for --duration seconds (default 10): deliveries/s (201
#      answers), p50/p90/p99/max latency, other answers by status, transport
#      errors; around it vst-httpd's /metrics (monitor certificate): the
#      server's own mean time per delivery (request to answer);
#   2. pgbench on the same cluster: a custom script of one single-row INSERT
#      per transaction into a scratch table (in a database of its own),
#      -c C -j 2 -T duration: commits/s; the ratio deliveries/s / commits/s.
# Around each run PostgreSQL's own counters (pg_stat_wal with
# track_wal_io_timing on, pg_stat_database) give per delivery the store and
# trust-DB commits, the WAL syncs and their time, the WAL volume; and per
# pgbench commit the same, for comparison; and the CPU time per delivery of
# vst-httpd, vst-keyd and the cluster (/proc), with the machine's busy share.
# Then one small_load run with a new TCP + TLS connection per delivery at
# C = --new-clients (default 8). Last, the machine's ceiling for any request
# of this size of stack: small_load --get /healthz at C = --ceiling-clients
# (default 32; 0 skips it) over kept-alive mTLS connections — TLS, HTTP and
# the load generator, without a worker, a database or keyd — with vst-httpd's
# CPU per request and the machine's busy share; the summary sets the goal's
# 0.5 x pgbench against it. A CHECKPOINT precedes every run. Prints a
# summary table with the goals of issue 14 next to the figures.
#
# Per run it prints the mean of vst-httpd's delivery-duration histogram,
# the mean time per stored delivery of each phase of
# vst_delivery_phase_seconds_total (slot, keyd, copy, prepare, decide,
# commit, sign, group), the number and mean size of the commit groups and
# the committer's time per group (prepare, decide, commit, sign).
#
# Runs as root. Everything is stopped and removed on exit. Binaries come from
# BUILD_DIR (default build/release), built there with cmake if missing
# (small_load needs libcurl4-openssl-dev, in deploy/lib/common.sh's list).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/deploy/lib/common.sh"

DURATION=10 CLIENTS="1 8 32 128" NEW_CLIENTS=8 CEILING_CLIENTS=32 EXTRA_OPTS=()
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --new-clients) NEW_CLIENTS=$2; shift 2 ;;
    --ceiling-clients) CEILING_CLIENTS=$2; shift 2 ;;
    --httpd-opt) read -ra o <<<"$2"; EXTRA_OPTS+=("${o[@]}"); shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "bench_small.sh: unknown argument $1 (see --help)" ;;
    esac
done
[[ "$DURATION" =~ ^[0-9]+$ ]] && [ "$DURATION" -ge 1 ] || die "--duration must be a whole number of seconds >= 1"
for c in $CLIENTS $NEW_CLIENTS; do [[ "$c" =~ ^[0-9]+$ ]] && [ "$c" -ge 1 ] || die "client counts must be numbers >= 1"; done
[[ "$CEILING_CLIENTS" =~ ^[0-9]+$ ]] || die "--ceiling-clients must be a number (0: no ceiling run)"
[ "$(id -u)" -eq 0 ] || die "bench_small.sh runs as root (like tests/run.sh)"
[ -x "$PGBIN/pgbench" ] || die "pgbench not found in $PGBIN (postgresql-15)"

BUILD_DIR=$(realpath -m "${BUILD_DIR:-$ROOT/build/release}")
export VST_SOURCE_DIR=$ROOT
export VST_KEYD=$BUILD_DIR/bin/vst-keyd
export VST_ADMIN=$BUILD_DIR/bin/vst-admin
export VST_HTTPD=$BUILD_DIR/bin/vst-httpd
export VST_GEN=$BUILD_DIR/bin/vst-gen
export VST_SEND=$BUILD_DIR/bin/vst-send
SMALL_LOAD=$BUILD_DIR/tests/small_load
need_build=
for b in "$VST_KEYD" "$VST_ADMIN" "$VST_HTTPD" "$VST_GEN" "$VST_SEND" "$SMALL_LOAD"; do
    [ -x "$b" ] || need_build=1
done
if [ -n "$need_build" ]; then
    log "building the release binaries in $BUILD_DIR"
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD_DIR" -j"$(nproc)" \
        --target vst-keyd vst-admin vst-httpd vst-gen vst-send small_load >/dev/null ||
        die "the build failed (small_load needs libcurl4-openssl-dev)"
fi

TMP=$(mktemp -d /tmp/vst-bench-small.XXXXXX)
chmod 755 "$TMP"
STACK_UP=''
cleanup() {
    set +e
    [ -z "$STACK_UP" ] || stack_down >/dev/null 2>&1
    vst_pg_stop "$TMP/pg/data"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
goal() { awk -v v="$1" -v g="$2" -v op="$3" 'BEGIN { ok = op == "ge" ? v >= g : v <= g; print ok ? "met" : "NOT met" }'; }

CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
MEM=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
DISK=$(df -h --output=source,fstype /tmp | tail -1 | awk '{ print $1 " (" $2 ")" }')
MACHINE="$CPU, $(nproc) cores, $MEM, $(uname -sr), $(curl --version | head -1 | awk '{ print "libcurl " $2 }'), PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'), data on $DISK"
LOAD_BEFORE=$(cut -d" " -f1-3 /proc/loadavg)
echo "machine: $MACHINE; load average before: $LOAD_BEFORE"

# --- the durable cluster and the stack ------------------------------------------
mkdir "$TMP/pg"
vst_pg_start "$TMP/pg" "$(vst_free_port 57632)" 2>/dev/null
vst_pg_durable "$TMP/pg"
# WAL sync time per delivery (pg_stat_wal.wal_sync_time) needs the timing on.
psql -qX -v ON_ERROR_STOP=1 -d postgres -c "ALTER SYSTEM SET track_wal_io_timing = on" -c "SELECT pg_reload_conf()" >/dev/null
source "$ROOT/tests/e2e/stack.sh"
set -e
HTTPD_OPTS=(--rate-limit 0 --client-slots 1024 --per-ip-connections 1024 "${EXTRA_OPTS[@]}")
STACK_UP=1
stack_up >"$TMP/stack.log" 2>&1 || { cat "$TMP/stack.log" >&2; die "the stack did not come up"; }
CERTS=$STACK/certs
SETTINGS=$(sql_store "SELECT string_agg(name || ' = ' || setting || coalesce(unit, ''), ', ' ORDER BY name)
                        FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes',
                          'wal_sync_method', 'commit_delay', 'shared_buffers', 'max_wal_size', 'max_connections', 'track_wal_io_timing')")
case "$SETTINGS" in
*"fsync = on"*"full_page_writes = on"*"synchronous_commit = on"*) ;;
*) die "the cluster is not durable: $SETTINGS" ;;
esac
echo "PostgreSQL: private durable cluster: $SETTINGS"
HTTPD_WORKERS=$(sed -n 's/.*serving .*, \([0-9]*\) workers).*/\1/p' "$STACK/httpd.log" | tail -1)
echo "stack: vst-keyd + vst-httpd (${HTTPD_WORKERS:-?} workers; ${HTTPD_OPTS[*]}) at $URL; binaries from $BUILD_DIR"

# pgbench's scratch table, in a database of its own on the same cluster.
PGB_DB=vst_bench_pgbench_$$
psql -qX -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $PGB_DB" >/dev/null
psql -qX -v ON_ERROR_STOP=1 -d "$PGB_DB" \
    -c "CREATE TABLE scratch (id bigserial PRIMARY KEY, v integer NOT NULL, at timestamptz NOT NULL DEFAULT now())" >/dev/null
cat >"$TMP/insert.sql" <<'SQL'
\set v random(1, 1000000000)
INSERT INTO scratch (v) VALUES (:v);
SQL
chmod 644 "$TMP/insert.sql"

ONE=$TMP/one.ndjson
"$VST_GEN" --records 1 --seed 7 -o "$ONE"
echo "body: one sgb5 record from vst-gen --records 1 --seed 7 ($(stat -c %s "$ONE") bytes); a unique delivery id per request"
echo "runs: $DURATION s each; C = $CLIENTS kept-alive, then C = $NEW_CLIENTS with a new connection per delivery"
echo

# /metrics (monitor certificate): "count sum" of the delivery-duration histogram.
# Then the phases of stored deliveries (vst_delivery_phase_seconds_total, in
# PHASES' order), the commit groups and their deliveries, and the
# committer's phases (vst_commit_group_phase_seconds_total, in GPHASES' order).
PHASES="slot keyd copy prepare decide commit sign group"
GPHASES="prepare decide commit sign"
server_time() {
    curl -sS --cacert "$CERTS/ca.pem" --cert "$CERTS/monitor.pem" --key "$CERTS/monitor.key" "$URL/metrics" |
        awk -v ph="$PHASES" -v gph="$GPHASES" '
             $1 == "vst_delivery_duration_seconds_count" { c = $2 } $1 == "vst_delivery_duration_seconds_sum" { s = $2 }
             $1 == "vst_commit_groups_total" { g = $2 } $1 == "vst_commit_group_deliveries_total" { gd = $2 }
             match($1, /^vst_delivery_phase_seconds_total\{phase="[a-z]+"\}$/) { split($1, q, "\""); p[q[2]] = $2 }
             match($1, /^vst_commit_group_phase_seconds_total\{phase="[a-z]+"\}$/) { split($1, q, "\""); gp[q[2]] = $2 }
             END { printf "%s %s", c + 0, s + 0; n = split(ph, a, " "); for (i = 1; i <= n; i++) printf " %s", p[a[i]] + 0
                   printf " %s %s", g + 0, gd + 0; n = split(gph, a, " "); for (i = 1; i <= n; i++) printf " %s", gp[a[i]] + 0
                   print "" }'
}
# phase_line BEFORE AFTER: where the stored deliveries' time went inside
# vst-httpd (mean ms per stored delivery and phase), and the commit groups.
phase_line() {
    awk -v b="$1" -v a="$2" -v ph="$PHASES" -v gph="$GPHASES" 'BEGIN {
        split(b, x, " "); split(a, y, " "); n = y[1] - x[1]; if (n < 1) n = 1
        np = split(ph, names, " "); printf "phases ms per delivery:"
        for (i = 1; i <= np; i++) printf " %s %.2f", names[i], (y[2 + i] - x[2 + i]) * 1000 / n
        g = y[3 + np] - x[3 + np]; gd = y[4 + np] - x[4 + np]; if (g < 1) { print "; no commit groups"; exit }
        printf "; %d commit groups, mean %.1f deliveries; committer ms per group:", g, gd / g
        ng = split(gph, gn, " ")
        for (i = 1; i <= ng; i++) printf " %s %.2f", gn[i], (y[4 + np + i] - x[4 + np + i]) * 1000 / g
        print "" }'
}
# Cumulative counters of the cluster (pg_stat_wal, pg_stat_database):
# "wal_sync wal_sync_time_ms wal_bytes trust_commits store_commits pgbench_commits".
# Backends publish them when idle, at most PGSTAT_WAIT seconds late (PostgreSQL
# 15: PGSTAT_IDLE_INTERVAL, 10 s), hence the wait before the second reading.
PGSTAT_WAIT=11
pg_counters() {
    psql -qAtX -F' ' -d postgres -c "SELECT w.wal_sync, w.wal_sync_time, w.wal_bytes,
        (SELECT xact_commit FROM pg_stat_database WHERE datname = '$TRUST_DB'),
        (SELECT xact_commit FROM pg_stat_database WHERE datname = '$STORE_DB'),
        (SELECT xact_commit FROM pg_stat_database WHERE datname = '$PGB_DB') FROM pg_stat_wal w"
}
# per_op BEFORE AFTER N: the counters' differences per operation, as fields.
per_op() {
    awk -v b="$1" -v a="$2" -v n="$3" 'BEGIN {
        split(b, x, " "); split(a, y, " "); if (n < 1) n = 1;
        printf "wal_syncs=%.2f wal_sync_ms=%.2f wal_kb=%.1f trust_commits=%.2f store_commits=%.2f pgb_commits=%d",
            (y[1] - x[1]) / n, (y[2] - x[2]) / n, (y[3] - x[3]) / n / 1024,
            (y[4] - x[4]) / n, (y[5] - x[5]) / n, y[6] - x[6] }'
}
# CPU: "machine_total machine_idle httpd keyd postgres" in clock ticks. The
# cluster's share is its postmaster with the children it has reaped (cutime,
# cstime: exited backends) plus its live children.
CLK_TCK=$(getconf CLK_TCK)
PM_PID=$(head -1 "$TMP/pg/data/postmaster.pid")
cpu_ticks() {
    local pg=0 p t
    t=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$PM_PID/stat")
    pg=$((pg + t))
    for p in $(pgrep -P "$PM_PID"); do
        t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || continue
        pg=$((pg + ${t:-0}))
    done
    echo "$(awk '$1 == "cpu" { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6 }' /proc/stat)" \
        "$(awk '{ print $14 + $15 }' "/proc/$HTTPD_PID/stat")" "$(awk '{ print $14 + $15 }' "/proc/$KEYD_PID/stat")" "$pg"
}
# cpu_per_op BEFORE AFTER N: machine busy % and CPU ms per delivery, as fields.
cpu_per_op() {
    awk -v b="$1" -v a="$2" -v n="$3" -v hz="$CLK_TCK" 'BEGIN {
        split(b, x, " "); split(a, y, " "); if (n < 1) n = 1; tot = y[1] - x[1];
        printf "busy=%.0f cpu_httpd=%.2f cpu_keyd=%.2f cpu_pg=%.2f",
            (tot > 0 ? 100 * (tot - (y[2] - x[2])) / tot : 0),
            (y[3] - x[3]) * 1000 / hz / n, (y[4] - x[4]) * 1000 / hz / n, (y[5] - x[5]) * 1000 / hz / n }'
}
declare -A R PG PGW
field() { echo "${R[$1]}" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
pfield() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
load() { # load KEY MODE CLIENTS
    local before after out pc0 pc1 cpu0 cpu1
    sql_store "CHECKPOINT"
    pc0=$(pg_counters)
    before=$(server_time)
    cpu0=$(cpu_ticks)
    out=$("$SMALL_LOAD" --url "$URL" --ca "$CERTS/ca.pem" --cert "$CERTS/insurer.pem" --key "$CERTS/insurer.key" \
        --body "$ONE" --mode "$2" --clients "$3" --duration "$DURATION" --prefix "s$1-$$" \
        --latencies "$TMP/lat-$1.txt") || die "small_load failed"
    cpu1=$(cpu_ticks)
    after=$(server_time)
    sleep "$PGSTAT_WAIT"
    pc1=$(pg_counters)
    echo "$out" | grep -v '^RESULT ' | sed 's/^/  vst:     /'
    echo "  vst-httpd $(phase_line "$before" "$after")"
    R[$1]="$(echo "$out" | grep '^RESULT ') $(awk -v b="$before" -v a="$after" 'BEGIN {
        split(b, x, " "); split(a, y, " "); n = y[1] - x[1];
        printf "srv_n=%d srv_ms=%.2f", n, (n > 0 ? (y[2] - x[2]) / n * 1000 : 0) }')"
    R[$1]="${R[$1]} $(per_op "$pc0" "$pc1" "$(field "$1" srv_n)") $(cpu_per_op "$cpu0" "$cpu1" "$(field "$1" srv_n)")"
    echo "  vst-httpd /metrics: $(field "$1" srv_n) deliveries answered, mean $(field "$1" srv_ms) ms from request to answer inside vst-httpd"
    echo "  PostgreSQL per delivery: $(field "$1" store_commits) store and $(field "$1" trust_commits) trust-DB commits, $(field "$1" wal_syncs) WAL syncs taking $(field "$1" wal_sync_ms) ms, $(field "$1" wal_kb) kB of WAL"
    echo "  CPU per delivery: vst-httpd $(field "$1" cpu_httpd) ms, vst-keyd $(field "$1" cpu_keyd) ms, PostgreSQL $(field "$1" cpu_pg) ms; machine $(field "$1" busy) % busy (all processes)"
}
pgb() { # pgb C: commits/s into PG[C], WAL per commit into PGW[C]
    local out tps pc0 pc1
    psql -qX -d "$PGB_DB" -c "CHECKPOINT" >/dev/null
    pc0=$(pg_counters)
    out=$("$PGBIN/pgbench" -n -f "$TMP/insert.sql" -c "$1" -j 2 -T "$DURATION" "$PGB_DB" 2>&1) ||
        { echo "$out" >&2; die "pgbench failed"; }
    sleep 1 # its backends have exited (and published); vst's were idle
    pc1=$(pg_counters)
    tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p')
    PG[$1]=$(printf '%.0f' "$tps")
    PGW[$1]=$(per_op "$pc0" "$pc1" "$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')")
    echo "  pgbench: -c $1 -j 2 -T $DURATION, one single-row INSERT per transaction: $tps commits/s ($(echo "$out" | sed -n 's/^latency average = //p') average latency); per commit $(pfield "${PGW[$1]}" wal_syncs) WAL syncs taking $(pfield "${PGW[$1]}" wal_sync_ms) ms, $(pfield "${PGW[$1]}" wal_kb) kB of WAL"
}

for c in $CLIENTS; do
    echo "C = $c:"
    load "ka$c" keepalive "$c"
    pgb "$c"
    echo "  ratio deliveries/s / pgbench commits/s: $(ratio "$(field "ka$c" rate)" "${PG[$c]}")"
done
echo "C = $NEW_CLIENTS, new connection per delivery:"
load "new$NEW_CLIENTS" new "$NEW_CLIENTS"
STORED=$(sql_store "SELECT count(*) FROM sgb5.records")
# The ceiling: GET /healthz over the same kind of connection. No worker, no
# database, no keyd: what a request costs the machine before any delivery
# work, vst-httpd's share of it, and the rest (the load generator, the kernel).
CEIL=''
if [ "$CEILING_CLIENTS" -gt 0 ]; then
    echo "C = $CEILING_CLIENTS, GET /healthz (the ceiling: TLS and HTTP only):"
    cpu0=$(cpu_ticks)
    out=$("$SMALL_LOAD" --url "$URL" --ca "$CERTS/ca.pem" --cert "$CERTS/insurer.pem" --key "$CERTS/insurer.key" \
        --get /healthz --mode keepalive --clients "$CEILING_CLIENTS" --duration "$DURATION") || die "small_load failed"
    cpu1=$(cpu_ticks)
    echo "$out" | grep -v '^RESULT ' | sed 's/^/  vst:     /'
    R[ceil]="$(echo "$out" | grep '^RESULT ')"
    R[ceil]="${R[ceil]} $(cpu_per_op "$cpu0" "$cpu1" "$(field ceil ok)")"
    echo "  CPU per request: vst-httpd $(field ceil cpu_httpd) ms; machine $(field ceil busy) % busy (all processes)"
    CEIL=1
fi

# --- summary ------------------------------------------------------------------
row() { # row KEY C MODE PGB
    local k=$1 st
    st=$(field "$k" statuses)
    [ "$st" != - ] || st=''
    printf '| %4s | %-10s | %8s | %6s | %6s | %7s | %7s | %8s | %8s | %-18s | %8s |\n' \
        "$2" "$3" "$(field "$k" rate)" "$(field "$k" p50)" "$(field "$k" p90)" "$(field "$k" p99)" \
        "$(field "$k" srv_ms)" "${4:--}" "$(if [ -n "$4" ]; then ratio "$(field "$k" rate)" "$4"; else echo -; fi)" \
        "$(field "$k" non201)${st:+ ($st)}, $(field "$k" errors)" "$(field "$k" conns)"
}
cat <<EOF

==== summary: many small deliveries (issue 14), durable cluster ====
machine:    $MACHINE; load average before: $LOAD_BEFORE, after: $(cut -d" " -f1-3 /proc/loadavg)
PostgreSQL: $SETTINGS
vst-httpd:  ${HTTPD_WORKERS:-?} workers, ${HTTPD_OPTS[*]}
runs:       $DURATION s each, 1-record deliveries ($(stat -c %s "$ONE") bytes), mTLS; $STORED rows stored in all

|    C | connection | deliv./s | p50 ms | p90 ms | p99 ms | srv ms¹ | pgbench² | ratio    | non-201, errors    | conns    |
|-----:|------------|---------:|-------:|-------:|-------:|--------:|---------:|---------:|--------------------|---------:|
EOF
for c in $CLIENTS; do row "ka$c" "$c" kept-alive "${PG[$c]}"; done
row "new$NEW_CLIENTS" "$NEW_CLIENTS" "new each" ''
cat <<EOF
¹ vst-httpd's own mean time from request to answer (/metrics histogram sum/count); where it
  went is printed per run above (vst_delivery_phase_seconds_total, the commit groups).
² pgbench commits/s, one single-row INSERT per transaction, -c C -j 2, same cluster, same run.
EOF
echo
echo "where the time goes, per delivery (PostgreSQL's counters around each run; pgbench: per commit):"
echo "|    C | connection | srv ms | store commits | trust commits | WAL syncs | WAL sync ms | WAL kB | CPU ms httpd, keyd, PG | busy % | pgbench: WAL syncs, ms, kB per commit |"
echo "|-----:|------------|-------:|--------------:|--------------:|----------:|------------:|-------:|------------------------|-------:|---------------------------------------|"
wrow() { # wrow KEY C MODE
    local p=${PGW[$2]:-}
    [ "$3" = kept-alive ] || p=''
    printf '| %4s | %-10s | %6s | %13s | %13s | %9s | %11s | %6s | %-22s | %6s | %-37s |\n' "$2" "$3" "$(field "$1" srv_ms)" \
        "$(field "$1" store_commits)" "$(field "$1" trust_commits)" "$(field "$1" wal_syncs)" \
        "$(field "$1" wal_sync_ms)" "$(field "$1" wal_kb)" \
        "$(field "$1" cpu_httpd), $(field "$1" cpu_keyd), $(field "$1" cpu_pg)" "$(field "$1" busy)" \
        "$(if [ -n "$p" ]; then echo "$(pfield "$p" wal_syncs), $(pfield "$p" wal_sync_ms), $(pfield "$p" wal_kb)"; else echo -; fi)"
}
for c in $CLIENTS; do wrow "ka$c" "$c" kept-alive; done
wrow "new$NEW_CLIENTS" "$NEW_CLIENTS" "new each"
has() { case " $CLIENTS " in *" $1 "*) return 0 ;; esac; return 1; }
echo "goals (issue 14):"
if has 32; then
    r32=$(ratio "$(field ka32 rate)" "${PG[32]}")
    echo "  32 clients >= 0.5 x pgbench: $r32 ($(goal "$r32" 0.5 ge)); p99 <= 25 ms: $(field ka32 p99) ms ($(goal "$(field ka32 p99)" 25 le))"
fi
if has 32 && has 128; then
    echo "  128 clients no worse than 32: $(field ka128 rate)/s vs $(field ka32 rate)/s ($(goal "$(field ka128 rate)" "$(field ka32 rate)" ge)), p99 $(field ka128 p99) vs $(field ka32 p99) ms ($(goal "$(field ka128 p99)" "$(field ka32 p99)" le))"
fi
if has 1; then
    echo "  1 client p50 <= 2 ms: $(field ka1 p50) ms ($(goal "$(field ka1 p50)" 2 le))"
fi
if [ -n "$CEIL" ]; then
    echo "ceiling (GET /healthz, $CEILING_CLIENTS clients, kept-alive mTLS, no worker, database or keyd): $(field ceil rate) requests/s," \
        "p50 $(field ceil p50) ms, p99 $(field ceil p99) ms; vst-httpd $(field ceil cpu_httpd) ms CPU per request; machine $(field ceil busy) % busy"
    if has 32; then
        echo "  0.5 x pgbench at 32 clients = $(awk -v p="${PG[32]}" 'BEGIN { printf "%.0f", p / 2 }') deliveries/s:" \
            "$(awk -v p="${PG[32]}" -v c="$(field ceil rate)" 'BEGIN { if (c > 0) printf "%.0f %%", 50 * p / c; else print "-" }') of the ceiling;" \
            "deliveries reach $(awk -v d="$(field ka32 rate)" -v c="$(field ceil rate)" 'BEGIN { if (c > 0) printf "%.0f %%", 100 * d / c; else print "-" }') of it"
    fi
fi
