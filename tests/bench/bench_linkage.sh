#!/usr/bin/env bash
# Linkage benchmark, issue 13 (a script, not a test): see docs/benchmarks.md
# "Linkage (issue 13)".
#
#   tests/bench/bench_linkage.sh [--sizes N,N,...] [--errors RATE] [--seed S]
#                                [--no-keyd]
#
# For N in --sizes (default 10000,100000,1000000 records per side):
#   A. bench_linkage --sizes: vst_link_match on N x N random records with a
#      planted overlap of N/2, beside a plain in-process hash join of N x N
#      16-byte values in the same run, and their ratio; the matcher's
#      working memory and ru_maxrss growth;
#   B. vst-gen --profile measles_case and --profile school_entry, N records
#      each, --overlap N/2, --errors RATE (default: vst-gen's, 0.05), with
#      truth files; bench_linkage --quality normalizes every child
#      (vst_person_normalize), derives the control values in process under a
#      random root key (keys/link_derive.h) and links: per pass links,
#      precision, cumulative precision and recall; overall true and found
#      overlap, error, precision, recall;
#   C. unless --no-keyd or this tree's vst-keyd has no overlap query: a
#      fresh dev keystore and vst-keyd per N, the same children through
#      CV_DERIVE (data socket) and OVERLAP_OPEN/FEED/RUN (admin socket):
#      times, keyd's VmHWM/VmRSS (/proc/PID/status), and keyd's answer
#      against Part B's.
# Ends with a summary against the goals of issue 13 (10^6 x 10^6 in under
# 60 s; recall >= 97 %, precision >= 99.5 % at the default error rate).
# Generated files live in a throwaway directory, removed on exit. Binaries
# come from BUILD_DIR (default build/release), built there if missing. Use
# `nice -n 10` on a shared machine; at 10^6 it needs about 2 GB of memory.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/deploy/lib/common.sh"

SIZES=10000,100000,1000000 ERRORS= SEED=13 NO_KEYD=0
while [ $# -gt 0 ]; do
    case "$1" in
    --sizes) SIZES=$2; shift 2 ;;
    --errors) ERRORS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --no-keyd) NO_KEYD=1; shift ;;
    -h | --help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "bench_linkage.sh: unknown argument $1 (see --help)" ;;
    esac
done

BUILD_DIR=${BUILD_DIR:-$ROOT/build/release}
BENCH=$BUILD_DIR/tests/bench_linkage
GEN=$BUILD_DIR/bin/vst-gen
KEYD=$BUILD_DIR/bin/vst-keyd
ADMIN=$BUILD_DIR/bin/vst-admin
if [ ! -x "$BENCH" ] || [ ! -x "$GEN" ]; then
    log "building bench_linkage, vst-gen (release) in $BUILD_DIR"
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD_DIR" -j"$(nproc)" --target bench_linkage vst-gen >/dev/null
fi
if [ "$NO_KEYD" = 0 ] && { [ ! -x "$KEYD" ] || [ ! -x "$ADMIN" ]; }; then
    log "building vst-keyd, vst-admin (release) in $BUILD_DIR"
    cmake --build "$BUILD_DIR" -j"$(nproc)" --target vst-keyd vst-admin >/dev/null 2>&1 ||
        { log "Part C skipped: vst-keyd or vst-admin does not build in this tree"; NO_KEYD=1; }
fi

TMP=$(mktemp -d /tmp/vst-bench-linkage.XXXXXX)
KEYD_PID=
stop_keyd() {
    if [ -n "$KEYD_PID" ]; then
        kill "$KEYD_PID" 2>/dev/null || true
        wait "$KEYD_PID" 2>/dev/null || true
        KEYD_PID=
    fi
}
cleanup() {
    stop_keyd
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_now() { echo "${EPOCHREALTIME/[.,]/}"; } # microseconds
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e6 }'; }

# Part C needs a vst-keyd that serves the overlap query.
if [ "$NO_KEYD" = 0 ] && ! "$KEYD" --help 2>&1 | grep -qi overlap; then
    log "Part C skipped: this vst-keyd has no overlap query (no overlap option in --help)"
    NO_KEYD=1
fi

start_keyd() { # $1: directory
    local K=$1
    mkdir "$K"
    "$ADMIN" --keystore "$K/keystore" key init --dev-master-key "$K/master.key" >/dev/null 2>&1
    "$KEYD" --keystore "$K/keystore" --dev-master-key "$K/master.key" \
        --data-socket "$K/data.sock" --admin-socket "$K/admin.sock" --events-file "$K/events" \
        --data-uids "$(id -u)" --admin-uids "$(id -u)" --user "" --seccomp no \
        --domains ph/child --budget-minute 1000000000000 --budget-day 1000000000000 \
        2>"$K/keyd.log" &
    KEYD_PID=$!
    for _ in $(seq 100); do
        [ -S "$K/data.sock" ] && [ -S "$K/admin.sock" ] && return 0
        kill -0 "$KEYD_PID" 2>/dev/null || { cat "$K/keyd.log" >&2; die "vst-keyd did not start"; }
        sleep 0.1
    done
    die "vst-keyd did not open its sockets"
}

# --- A. the matcher in process ------------------------------------------------
echo "== A. vst_link_match in process, N x N random records, planted overlap N/2"
"$BENCH" --sizes "$SIZES" | tee "$TMP/a.out"

# --- B./C. generated sides, quality, keyd ---------------------------------------
declare -A RECALL PRECISION ERR KEYD_S
for n in ${SIZES//,/ }; do
    ov=$((n / 2))
    echo
    echo "== B. quality, N=$n per side, overlap $ov, errors ${ERRORS:-default}, seed $SEED"
    t0=$(t_now)
    "$GEN" --profile measles_case --records "$n" --overlap "$ov" ${ERRORS:+--errors "$ERRORS"} \
        --seed "$SEED" --truth "$TMP/a.tsv" -o "$TMP/a.ndjson" 2>"$TMP/gen_a.err"
    "$GEN" --profile school_entry --records "$n" --overlap "$ov" ${ERRORS:+--errors "$ERRORS"} \
        --seed "$SEED" --truth "$TMP/b.tsv" -o "$TMP/b.ndjson" 2>"$TMP/gen_b.err"
    t1=$(t_now)
    echo "vst-gen: both sides in $(secs "$t0" "$t1") s; $(sed 's/^vst-gen: //' "$TMP/gen_a.err") (a)"
    keyd_args=()
    if [ "$NO_KEYD" = 0 ]; then
        start_keyd "$TMP/keyd-$n"
        keyd_args=(--keyd-data "$TMP/keyd-$n/data.sock" --keyd-admin "$TMP/keyd-$n/admin.sock"
            --keyd-pid "$KEYD_PID")
    fi
    t0=$(t_now)
    "$BENCH" --quality --a "$TMP/a.ndjson" --truth-a "$TMP/a.tsv" \
        --b "$TMP/b.ndjson" --truth-b "$TMP/b.tsv" "${keyd_args[@]}" | grep -v '^machine:' |
        tee "$TMP/b-$n.out"
    t1=$(t_now)
    stop_keyd
    rm -rf "$TMP/keyd-$n" "$TMP"/*.ndjson "$TMP"/*.tsv
    echo "bench_linkage --quality: $(secs "$t0" "$t1") s wall"
    line=$(grep '^B  overall' "$TMP/b-$n.out")
    RECALL[$n]=$(sed -n 's/.*recall \([0-9.]*\) %.*/\1/p' <<<"$line")
    PRECISION[$n]=$(sed -n 's/.*precision \([0-9.]*\) %.*/\1/p' <<<"$line")
    ERR[$n]=$(sed -n 's/.*(error \([-+0-9.]*\) %).*/\1/p' <<<"$line")
    KEYD_S[$n]=$(sed -n 's/.*total \([0-9.]*\) s;.*/\1/p' "$TMP/b-$n.out")
done

# --- summary ------------------------------------------------------------------
echo
echo "== summary (goals of issue 13: 10^6 x 10^6 in under 60 s; recall >= 97 %, precision >= 99.5 %)"
for n in ${SIZES//,/ }; do
    match=$(awk -v n="$n" '$2 == "N=" n { print $4 }' "$TMP/a.out")
    ratio=$(awk -v n="$n" '$2 == "N=" n { print $10 }' "$TMP/a.out")
    ok=$(awk -v r="${RECALL[$n]}" -v p="${PRECISION[$n]}" \
        'BEGIN { print (r >= 97 && p >= 99.5) ? "met" : "NOT met" }')
    echo "N=$n: match ${match} s (${ratio} a plain join), keyd query ${KEYD_S[$n]:-n/a} s;" \
        "overlap error ${ERR[$n]} %, precision ${PRECISION[$n]} %, recall ${RECALL[$n]} %: quality goal $ok"
done
