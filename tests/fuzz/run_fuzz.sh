#!/usr/bin/env bash
# Builds the keyd frame fuzzer (tests/fuzz/fuzz_frame.c) with clang, libFuzzer,
# ASan and UBSan — directly, not through the main CMake build, which may use
# gcc — and runs it on a copy of the seed corpus for a bounded time. Exits
# non-zero on any crash, leak, sanitizer report or round-trip mismatch; the
# failing input is left in BUILD_DIR/fuzz/.
#
#   tests/fuzz/run_fuzz.sh BUILD_DIR [SECONDS]      build and fuzz (default 20 s)
#   tests/fuzz/run_fuzz.sh --make-corpus BUILD_DIR  rewrite tests/fuzz/corpus/
#
# CLANG selects the compiler (default: clang); FUZZ_ARGS adds libFuzzer flags.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLANG=${CLANG:-clang}

usage() {
    echo "usage: $0 BUILD_DIR [SECONDS] | $0 --make-corpus BUILD_DIR" >&2
    exit 2
}

MODE=fuzz
if [[ ${1:-} == --make-corpus ]]; then
    MODE=corpus
    shift
fi
[[ $# -ge 1 && $# -le 2 ]] || usage
OUT="$1/fuzz"
SECONDS_MAX=${2:-20}
[[ $SECONDS_MAX =~ ^[0-9]+$ ]] || usage
mkdir -p "$OUT"

command -v "$CLANG" >/dev/null || { echo "run_fuzz.sh: $CLANG not found" >&2; exit 1; }
read -r -a DEPS <<<"$(pkg-config --cflags --libs jansson libcrypto)"

SOURCES=(
    "$ROOT/tests/fuzz/fuzz_frame.c"
    "$ROOT/keys/proto.c"
    "$ROOT/server/common/domain.c"
    "$ROOT/server/common/signed.c"
    "$ROOT/server/common/utf8.c"
    "$ROOT/server/common/secmem.c"
)
CFLAGS=(
    -std=c11 -g -O1 -fno-omit-frame-pointer
    -Wall -Wextra -Werror -Wshadow -Wvla
    -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
    -I"$ROOT/keys" -I"$ROOT/server"
)

if [[ $MODE == corpus ]]; then
    "$CLANG" "${CFLAGS[@]}" -fsanitize=address,undefined -DVST_FUZZ_MAKE_CORPUS \
        -o "$OUT/make_corpus" "${SOURCES[@]}" "${DEPS[@]}"
    rm -rf "$ROOT/tests/fuzz/corpus"
    mkdir -p "$ROOT/tests/fuzz/corpus"
    "$OUT/make_corpus" "$ROOT/tests/fuzz/corpus"
    ls "$ROOT/tests/fuzz/corpus" | wc -l | xargs echo "seeds written:"
    exit 0
fi

"$CLANG" "${CFLAGS[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -o "$OUT/fuzz_frame" "${SOURCES[@]}" "${DEPS[@]}"

# libFuzzer adds what it finds to its corpus directory: give it a copy so
# the committed seeds stay as they are.
rm -rf "$OUT/corpus"
mkdir -p "$OUT/corpus"
cp "$ROOT"/tests/fuzz/corpus/* "$OUT/corpus/"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# shellcheck disable=SC2086
"$OUT/fuzz_frame" -max_total_time="$SECONDS_MAX" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$OUT/" ${FUZZ_ARGS:-} \
    "$OUT/corpus"
