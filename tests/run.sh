#!/usr/bin/env bash
# The README's test command: installs what is missing, builds (sanitizer and
# release builds), starts a throwaway PostgreSQL 15 cluster, applies the
# migrations, runs every suite through CTest and stops the cluster on any
# exit. Exit status is non-zero on any failure.
#
#   ./tests/run.sh            everything
#   VST_TEST_FILTER=regex     only CTest tests whose name matches
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source "$ROOT/deploy/lib/common.sh"

# Test-only packages, not the deployment's: the cells page's render test
# (tests/admin/test_cells_html_render.sh) opens it in headless Chromium and
# reads the screenshot with PIL.
VST_DEBS+=(chromium python3-pil)
vst_install_deps
vst_ensure_users

mkdir -p build
log "building (ASan+UBSan) in build/asan"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DVST_SANITIZE=ON >build/asan.cmake.log 2>&1 ||
    { cat build/asan.cmake.log; exit 1; }
cmake --build build/asan -j"$(nproc)" -- --no-print-directory
# Release (-O3): also the guard that the optimizer's warnings stay clean
# under -Werror.
log "building (release) in build/release"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >build/release.cmake.log 2>&1 ||
    { cat build/release.cmake.log; exit 1; }
cmake --build build/release -j"$(nproc)" -- --no-print-directory

PGTMP=$(mktemp -d /tmp/vst-test-pg.XXXXXX)
cleanup() {
    vst_pg_stop "$PGTMP/data" || true
    rm -rf "$PGTMP"
}
trap cleanup EXIT
vst_pg_start "$PGTMP" "$(vst_free_port 55432)"

log "applying migrations"
vst_create_databases
"$ROOT/sql/migrate.sh" trust "$VST_TRUST_ADMIN_DSN"
"$ROOT/sql/migrate.sh" store "$VST_STORE_ADMIN_DSN"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export VST_BUILD_DIR="$ROOT/build/asan" VST_RELEASE_DIR="$ROOT/build/release"
log "running test suites"
status=0
ctest --test-dir build/asan --output-on-failure --timeout 600 ${VST_TEST_FILTER:+-R "$VST_TEST_FILTER"} ||
    status=$?
# CTest keeps each suite's output in its log: show every CUnit summary and
# the scripted suites' "N passed, N failed" lines.
log "per-suite counts"
awk '/^[0-9]+\/[0-9]+ Testing: /{name=$3} /Run Summary/{print "== " name; p=4} p>0{print; p--}
     /^[0-9]+ passed, [0-9]+ failed/{print "== " name ": " $0}' \
    build/asan/Testing/Temporary/LastTest.log
exit "$status"
