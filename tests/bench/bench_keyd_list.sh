#!/usr/bin/env bash
# The keyd round trip with and without the exception list (issue 12; a
# script, not a test; docs/benchmarks.md "The exception list in the hot
# path"):
#
#   BEFORE=build-of-main/ tests/bench/bench_keyd_list.sh [ROUNDS] [IDS] [PLANT]
#
# Starts vst-keyds side by side, each with its own dev keystore: the build
# in $BEFORE (optional: e.g. a release build of main before the change), this
# tree's build/release with an empty list, and the same with PLANT (10000)
# objections planted (bench_keyd --plant-objections). Then ROUNDS (5) times,
# for batches of 16384 and 65536, one connection, runs bench_keyd with IDS
# (2000000) KVNRs against each in turn — interleaved, so that other load on
# the machine falls on all of them alike — and prints its line with keyd's
# CPU time for the run (utime + stime, clock ticks). Runs as any user.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NEW=${BUILD_DIR:-$ROOT/build/release} BASE=${BEFORE:-}
ROUNDS=${1:-5} IDS=${2:-2000000} PLANT=${3:-10000}
T=$(mktemp -d /tmp/vst-bench-list.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT
declare -A PID BIN
start() { # name build-dir
    local d=$T/$1
    mkdir "$d"
    "$2/bin/vst-admin" --keystore "$d/ks" key init --dev-master-key "$d/master.key" >/dev/null 2>&1
    "$2/bin/vst-keyd" --keystore "$d/ks" --dev-master-key "$d/master.key" \
        --data-socket "$d/data.sock" --admin-socket "$d/admin.sock" --events-file "$d/events" \
        --data-uids "$(id -u)" --admin-uids "$(id -u)" --user "" --seccomp no \
        --budget-minute 1000000000000 --budget-day 1000000000000 2>"$d/log" &
    PIDS+=($!)
    PID[$1]=$!
    BIN[$1]=$2/tests/bench_keyd
    for _ in $(seq 100); do
        [ -S "$d/data.sock" ] && [ -S "$d/admin.sock" ] && return 0
        sleep 0.1
    done
    cat "$d/log" >&2
    exit 1
}
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
NAMES=(empty list)
[ -z "$BASE" ] || { start before "$BASE"; NAMES=(before empty list); }
start empty "$NEW"
start list "$NEW"
"$NEW/tests/bench_keyd" --socket "$T/list/admin.sock" --plant-objections "$PLANT"
for r in $(seq "$ROUNDS"); do
    for b in 16384 65536; do
        for c in "${NAMES[@]}"; do
            c0=$(cpu "${PID[$c]}")
            line=$("${BIN[$c]}" --socket "$T/$c/data.sock" --ids "$IDS" --batch "$b" --conns 1 |
                grep 'conns 1  socket')
            echo "round $r $c $line keyd_cpu_ticks $(($(cpu "${PID[$c]}") - c0))"
        done
    done
done
