#!/usr/bin/env bash
# End-to-end delivery benchmark (a script, not a test): see docs/benchmarks.md.
#
#   tests/bench/bench_delivery.sh [--records N] [--perf FILE] [--store-tcp]
#                                 [--httpd-opt "--option value"]...
#
# In a throwaway directory it starts its own PostgreSQL 15 cluster (fsync
# off, like the test cluster) and on it a complete stack with the release
# binaries, through tests/e2e/stack.sh: two migrated databases, a dev CA and
# certificates, a dev keystore, vst-keyd, and vst-httpd with --rate-limit 0.
#   1. generates N sgb5 records with vst-gen (default 1,000,000; --persons
#      N/3), not timed;
#   2. delivers them as one delivery with vst-send (timed, wall clock):
#      records/s and MB/s; samples vst-httpd's RSS during the delivery and
#      reads its peak (VmHWM) right after;
#   3. baseline, same run: exports the very rows that were stored, creates
#      an identical empty table (LIKE sgb5.records INCLUDING ALL) and times
#      psql's \copy of those rows into it: records/s of raw COPY, and the
#      ratio end-to-end / raw COPY;
#   4. latency with bench_http: 1 client x 200 single-record deliveries, then
#      32 clients x 20, each over kept-alive connections and with a new TLS
#      connection per request: p50/p90/p99/max and deliveries/s;
#   5. prints a summary with the goals next to the figures.
# --perf FILE records `perf record -a -g` into FILE during step 2 (the
# figures of such a run include perf's overhead). --store-tcp points
# vst-httpd's store DSN at 127.0.0.1 (TCP loopback) instead of the
# cluster's Unix socket; --httpd-opt passes options to vst-httpd (e.g.
# "--batch-records 512"). Both are for diagnosis: the default run is the
# stack as tests/e2e/stack.sh builds it. Runs as root. Everything is
# stopped and removed on exit. Binaries come from BUILD_DIR (default
# build/release), built there with cmake if missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/deploy/lib/common.sh"

RECORDS=1000000 PERF_OUT='' STORE_TCP='' EXTRA_OPTS=()
while [ $# -gt 0 ]; do
    case "$1" in
    --records) RECORDS=$2; shift 2 ;;
    --perf) PERF_OUT=$(realpath -m "$2"); shift 2 ;;
    --store-tcp) STORE_TCP=1; shift ;;
    --httpd-opt) read -ra o <<<"$2"; EXTRA_OPTS+=("${o[@]}"); shift 2 ;;
    -h | --help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "bench_delivery.sh: unknown argument $1 (see --help)" ;;
    esac
done
if ! [[ "$RECORDS" =~ ^[0-9]+$ ]] || [ "$RECORDS" -lt 3 ]; then die "--records must be a number >= 3"; fi
[ "$(id -u)" -eq 0 ] || die "bench_delivery.sh runs as root (like tests/run.sh)"
[ -z "$PERF_OUT" ] || command -v perf >/dev/null || die "--perf needs perf (apt-get install linux-perf)"

BUILD_DIR=$(realpath -m "${BUILD_DIR:-$ROOT/build/release}")
export VST_SOURCE_DIR=$ROOT
export VST_KEYD=$BUILD_DIR/bin/vst-keyd
export VST_ADMIN=$BUILD_DIR/bin/vst-admin
export VST_HTTPD=$BUILD_DIR/bin/vst-httpd
export VST_GEN=$BUILD_DIR/bin/vst-gen
export VST_SEND=$BUILD_DIR/bin/vst-send
BENCH_HTTP=$BUILD_DIR/tests/bench_http
need_build=
for b in "$VST_KEYD" "$VST_ADMIN" "$VST_HTTPD" "$VST_GEN" "$VST_SEND" "$BENCH_HTTP"; do
    [ -x "$b" ] || need_build=1
done
if [ -n "$need_build" ]; then
    log "building the release binaries in $BUILD_DIR"
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD_DIR" -j"$(nproc)" \
        --target vst-keyd vst-admin vst-httpd vst-gen vst-send bench_http >/dev/null
fi

TMP=$(mktemp -d /tmp/vst-bench-delivery.XXXXXX)
chmod 755 "$TMP"
SAMPLER_PID='' PERF_PID='' STACK_UP=''
cleanup() {
    set +e
    if [ -n "$SAMPLER_PID" ]; then kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null; fi
    if [ -n "$PERF_PID" ]; then kill -INT "$PERF_PID" 2>/dev/null; wait "$PERF_PID" 2>/dev/null; fi
    [ -z "$STACK_UP" ] || stack_down >/dev/null 2>&1
    vst_pg_stop "$TMP/pg/data"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_now() { echo "${EPOCHREALTIME/[.,]/}"; } # microseconds
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e6 }'; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / ((b - a) / 1e6) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; } # from kB
goal() { awk -v v="$1" -v g="$2" -v op="$3" 'BEGIN { ok = op == "ge" ? v >= g : v < g; print ok ? "met" : "NOT met" }'; }
proc_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
MACHINE="$CPU, $(nproc) cores, $(uname -sr), $(openssl version | awk '{print $1, $2}'), PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}')"
echo "machine: $MACHINE"

# --- the stack ----------------------------------------------------------------
mkdir "$TMP/pg"
vst_pg_start "$TMP/pg" "$(vst_free_port 57432)" 2>/dev/null
echo "PostgreSQL: a private cluster with fsync = off, synchronous_commit = off, full_page_writes = off (CPU figures, no WAL flush cost)"
source "$ROOT/tests/e2e/stack.sh"
set -e
HTTPD_OPTS=(--rate-limit 0 "${EXTRA_OPTS[@]}")
# stack_up names the store vst_e2e_store_<this shell's pid>; a later option
# overrides the DSN stack.sh passes.
[ -z "$STORE_TCP" ] ||
    HTTPD_OPTS+=(--store-dsn "host=127.0.0.1 port=$PGPORT user=vst_httpd dbname=vst_e2e_store_$$")
STACK_UP=1
stack_up >"$TMP/stack.log" 2>&1 || { cat "$TMP/stack.log" >&2; die "the stack did not come up"; }
[ -z "$STORE_TCP" ] || [ "$STORE_DB" = "vst_e2e_store_$$" ] || die "stack.sh named the store $STORE_DB"
CERTS=$STACK/certs
HTTPD_WORKERS=$(sed -n 's/.*serving .*, \([0-9]*\) workers).*/\1/p' "$STACK/httpd.log" | tail -1)
STORE_VIA="Unix socket"
[ -z "$STORE_TCP" ] || STORE_VIA="TCP loopback, 127.0.0.1 (--store-tcp)"
echo "stack: vst-keyd + vst-httpd (pid $HTTPD_PID, ${HTTPD_WORKERS:-?} workers, --rate-limit 0${EXTRA_OPTS[*]:+ ${EXTRA_OPTS[*]}}) at $URL; store reached via $STORE_VIA; binaries from $BUILD_DIR"

# --- 1. records -----------------------------------------------------------------
DATA=$TMP/delivery.ndjson
"$VST_GEN" --records "$RECORDS" --seed 1 --persons $((RECORDS / 3)) -o "$DATA"
BYTES=$(stat -c %s "$DATA")
echo "generated: $RECORDS sgb5 records (vst-gen --seed 1 --persons $((RECORDS / 3))), $(awk -v b="$BYTES" 'BEGIN { printf "%.1f MB, %.0f bytes/record", b / 1e6, b / '"$RECORDS"' }')"

# --- 2. the delivery --------------------------------------------------------------
sample_rss() { # every 0.2 s: "ms rss_kB" into $TMP/rss
    local t0=$EPOCHREALTIME
    while kill -0 "$HTTPD_PID" 2>/dev/null; do
        echo "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }') $(proc_kb "$HTTPD_PID" VmRSS)"
        sleep 0.2
    done >"$TMP/rss"
}
RSS_IDLE=$(proc_kb "$HTTPD_PID" VmRSS)
sql_store "CHECKPOINT"
DELIVERY_ID=bench-$RECORDS-$$
sample_rss &
SAMPLER_PID=$!
if [ -n "$PERF_OUT" ]; then
    perf record -a -g -o "$PERF_OUT" >"$TMP/perf.log" 2>&1 &
    PERF_PID=$!
    sleep 1
fi
t0=$(t_now)
"$VST_SEND" --url "$URL" --ca "$CERTS/ca.pem" --cert "$CERTS/insurer.pem" --key "$CERTS/insurer.key" \
    --public-key "$SIGNING_KEY" --quiet "$DELIVERY_ID" "$DATA" >"$TMP/send.out" 2>"$TMP/send.err" ||
    { cat "$TMP/send.err" >&2; tail -5 "$STACK/httpd.log" >&2; die "vst-send failed"; }
t1=$(t_now)
if [ -n "$PERF_PID" ]; then
    kill -INT "$PERF_PID"
    wait "$PERF_PID" || true
    PERF_PID=
fi
HWM=$(proc_kb "$HTTPD_PID" VmHWM)
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=
E2E_S=$(secs "$t0" "$t1")
E2E_RATE=$(rate "$RECORDS" "$t0" "$t1")
E2E_MBS=$(awk -v b="$BYTES" -v a="$t0" -v c="$t1" 'BEGIN { printf "%.1f", b / 1e6 / ((c - a) / 1e6) }')
RSS_STATS=$(sort -n -k2 "$TMP/rss" | awk '{ v[NR] = $2 } END { if (NR) printf "%d samples, median %.1f MiB, max %.1f MiB", NR, v[int((NR + 1) / 2)] / 1024, v[NR] / 1024 }')
STORED=$(sql_store "SELECT count(*) FROM sgb5.records")
REF=$(sql_trust "SELECT delivery_ref FROM vst.receipts WHERE delivery_id = '$DELIVERY_ID'")
[ "$STORED" = "$RECORDS" ] || die "the store holds $STORED rows, not $RECORDS"
echo "end to end (vst-send -> vst-httpd -> keyd + COPY, one delivery, answered after commit):"
echo "  $RECORDS records in $E2E_S s = $E2E_RATE records/s, $E2E_MBS MB/s of NDJSON; $STORED rows stored"
echo "  vst-httpd RSS: idle $(mib "$RSS_IDLE") MiB; during the delivery $RSS_STATS; peak (VmHWM) $(mib "$HWM") MiB"
[ -z "$PERF_OUT" ] || echo "  perf record -a -g of the delivery: $PERF_OUT (figures include perf's overhead)"

# --- 3. baseline: raw COPY of the very rows -----------------------------------
COLS=$(sql_store "SELECT string_agg(column_name, ', ' ORDER BY ordinal_position) FROM information_schema.columns
                   WHERE table_schema = 'sgb5' AND table_name = 'records' AND column_name <> 'id'")
ROWS_FILE=$TMP/rows.copy
psql -qX -v ON_ERROR_STOP=1 -d "$STORE_DB" \
    -c "\\copy (SELECT $COLS FROM sgb5.records WHERE delivery_ref = '$REF' ORDER BY id) TO '$ROWS_FILE'"
sql_store "CREATE TABLE public.bench_copy (LIKE sgb5.records INCLUDING ALL)"
sql_store "CHECKPOINT"
t0=$(t_now)
psql -qX -v ON_ERROR_STOP=1 -d "$STORE_DB" -c "\\copy public.bench_copy ($COLS) FROM '$ROWS_FILE'"
t1=$(t_now)
COPIED=$(sql_store "SELECT count(*) FROM public.bench_copy")
[ "$COPIED" = "$RECORDS" ] || die "raw COPY loaded $COPIED rows, not $RECORDS"
COPY_S=$(secs "$t0" "$t1")
COPY_RATE=$(rate "$RECORDS" "$t0" "$t1")
RATIO=$(ratio "$E2E_RATE" "$COPY_RATE")
echo "baseline, same run: psql \\copy of the same $COPIED rows ($(awk -v b="$(stat -c %s "$ROWS_FILE")" 'BEGIN { printf "%.1f MB", b / 1e6 }') of COPY text) into an empty copy of sgb5.records (LIKE ... INCLUDING ALL):"
echo "  $COPY_S s = $COPY_RATE records/s; end to end / raw COPY = $RATIO"

# --- 4. latency -------------------------------------------------------------------
ONE=$TMP/one.ndjson
"$VST_GEN" --records 1 --seed 7 -o "$ONE"
declare -A R
lat() { # lat KEY MODE THREADS REQUESTS
    local out
    out=$("$BENCH_HTTP" --url "$URL" --ca "$CERTS/ca.pem" --cert "$CERTS/insurer.pem" \
        --key "$CERTS/insurer.key" --body "$ONE" --mode "$2" --threads "$3" --requests "$4" \
        --prefix "lat-$1-$$") || true
    echo "$out" | grep -v '^RESULT ' | sed 's/^/  /'
    R[$1]=$(echo "$out" | grep '^RESULT ')
}
field() { echo "${R[$1]}" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
echo "single-record deliveries ($(stat -c %s "$ONE") bytes each) with bench_http:"
lat ka1 keepalive 1 200
lat new1 new 1 200
lat ka32 keepalive 32 20
lat new32 new 32 20
HWM_END=$(proc_kb "$HTTPD_PID" VmHWM)
echo "  vst-httpd VmHWM after the latency runs: $(mib "$HWM_END") MiB"
# The default figures: kept-alive connections if the server kept them open.
if [ "$(field ka1 conns)" = 1 ] && [ "$(field ka1 ok)" = 200 ]; then M=ka MODE="kept-alive connection"; else M=new MODE="new connection per request"; fi
NON2XX=0 FAILED=
for k in ka1 new1 ka32 new32; do
    [ -n "${R[$k]}" ] || { FAILED="$FAILED (bench_http run $k failed)"; continue; }
    NON2XX=$((NON2XX + $(field $k non2xx) + $(field $k errors)))
done

# --- 5. summary ---------------------------------------------------------------
P50=$(field ${M}1 p50) P99=$(field ${M}1 p99) D32=$(field ${M}32 rate)
cat <<EOF

==== summary: end-to-end delivery benchmark ====
machine:                      $MACHINE
PostgreSQL:                   private cluster, fsync/synchronous_commit/full_page_writes off; vst-httpd -> store via $STORE_VIA
records (one delivery):       $RECORDS ($(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1e6 }') MB NDJSON)
end to end (vst-send):        $E2E_RATE records/s ($E2E_S s, $E2E_MBS MB/s)   goal >= 100000: $(goal "$E2E_RATE" 100000 ge)
raw COPY, same rows:          $COPY_RATE records/s ($COPY_S s)
ratio end to end / raw COPY:  $RATIO   goal >= 0.6: $(goal "$RATIO" 0.6 ge)
vst-httpd peak RSS (VmHWM):   $(mib "$HWM") MiB   goal < 100 MiB: $(goal "$(mib "$HWM")" 100 lt)
single record, 1 client:      p50 $P50 ms, p99 $P99 ms ($MODE; new connection each: p50 $(field new1 p50) ms, p99 $(field new1 p99) ms)
32 concurrent clients:        $D32 deliveries/s, p50 $(field ${M}32 p50) ms, p99 $(field ${M}32 p99) ms ($MODE; new connection each: $(field new32 rate)/s)
non-2xx answers or errors:    $NON2XX$FAILED (of 1680 single-record deliveries)
EOF
