#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ with clang (libFuzzer, ASan,
# UBSan) — directly, not through the main CMake build, which may use gcc —
# and runs each on a copy of its seed corpus (tests/fuzz/corpus/<harness>/)
# plus its regression inputs (tests/fuzz/regressions/<harness>/), one
# harness after the other. See docs/fuzzing.md.
#
#   tests/fuzz/run_all.sh [--build DIR] [--seconds N | --minutes N] [--keep-corpus]
#                         [harness...]          build and fuzz (default: all, 60 s each)
#   tests/fuzz/run_all.sh --build-only [--build DIR] [harness...]
#                                               only build (CTest's fuzz_build)
#   tests/fuzz/run_all.sh --list                the harness names
#   tests/fuzz/run_all.sh --make-corpus [--build DIR]
#                                               rewrite the generated seeds (fuzz_frame)
#
# --build DIR    binaries and work files go to DIR/fuzz (default: build, so build/fuzz)
# --keep-corpus  continue from DIR/fuzz/work/<harness> (what earlier runs found)
#                instead of a fresh copy of the seeds
#
# A crash, leak, sanitizer report, timeout or violated property stops that
# harness with a non-zero exit status; the failing input is written to
# DIR/fuzz/crashes/<harness>-crash-<sha1>. Reproduce it with
#   DIR/fuzz/bin/<harness> FILE
# and, once fixed, commit it to tests/fuzz/regressions/<harness>/.
# Every harness prints one summary line; all of them also go to
# DIR/fuzz/summary.tsv (harness, seconds, executions, exec/s, cov, ft,
# corpus units, result).
#
# CLANG selects the compiler (default: clang); FUZZ_ARGS adds libFuzzer flags.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FZ="$ROOT/tests/fuzz"
CLANG=${CLANG:-clang}

ALL=(profile_line http lines frame response profile_file keyfiles audit_copy)

usage() {
    sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

BUILD="$ROOT/build"
SECS=60
KEEP=0
MODE=fuzz
NAMES=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --build) BUILD=${2:?}; shift 2 ;;
    --seconds) SECS=${2:?}; shift 2 ;;
    --minutes) SECS=$((${2:?} * 60)); shift 2 ;;
    --keep-corpus) KEEP=1; shift ;;
    --list) printf '%s\n' "${ALL[@]}"; exit 0 ;;
    --make-corpus) MODE=corpus; shift ;;
    --build-only) MODE=build; shift ;;
    -h | --help) usage ;;
    -*) usage ;;
    *) NAMES+=("${1#fuzz_}"); shift ;;
    esac
done
[[ $SECS =~ ^[0-9]+$ && $SECS -gt 0 ]] || usage
[[ ${#NAMES[@]} -gt 0 ]] || NAMES=("${ALL[@]}")
for n in "${NAMES[@]}"; do
    [[ " ${ALL[*]} " == *" $n "* ]] || { echo "run_all.sh: no harness '$n' (--list)" >&2; exit 2; }
done
command -v "$CLANG" >/dev/null || { echo "run_all.sh: $CLANG not found" >&2; exit 1; }

OUT="$BUILD/fuzz"
mkdir -p "$OUT/bin" "$OUT/obj" "$OUT/work" "$OUT/crashes" "$OUT/log"

CFLAGS=(
    -std=c11 -g -O1 -fno-omit-frame-pointer
    -Wall -Wextra -Werror -Wshadow -Wvla -Wstrict-prototypes
    -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
    -DVST_FUZZ_ROOT="\"$ROOT\""
    -I"$ROOT/server" -I"$ROOT/keys" -I"$FZ"
)
SAN=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)

S="$ROOT/server"
COMMON=("$S/core/vst_error.c" "$S/core/buf.c" "$S/core/secmem.c" "$S/core/hex.c" "$S/core/domain.c"
    "$S/core/signed.c" "$S/core/utf8.c")
KEYSTORE=("$ROOT/keys/keystore_object.c" "$ROOT/keys/keystore_open.c" "$ROOT/keys/keystore_seal.c"
    "$ROOT/keys/keystore_info.c" "$ROOT/keys/keystore_file.c" "$ROOT/keys/keystore_case.c")
PROFILE=("$S/profile/json_scan.c" "$S/profile/profile_load.c" "$S/profile/profile_apply.c"
    "$S/profile/profile_rules.c" "$S/core/ident.c")
COMMON+=("$S/core/civil_time.c" "$S/core/kv_file.c")
PROFILE+=("$S/profile/profile_fields.c" "$S/profile/profile_placeholders.c"
    "$S/profile/profile_release.c" "$S/profile/profile_row.c")

# Per harness: sources (besides tests/fuzz/fuzz_<name>.c), pkg-config
# packages, extra link flags, -max_len.
harness() {
    SRC=() PKGS=(jansson libcrypto) LIBS=() MAXLEN=4096
    case $1 in
    profile_line) SRC=("${COMMON[@]}" "${PROFILE[@]}") MAXLEN=20000 ;;
    profile_file) SRC=("${COMMON[@]}" "${PROFILE[@]}") MAXLEN=16384 ;;
    http)
        SRC=("${COMMON[@]}" "${PROFILE[@]}" "$S/httpd/lines.c" "$S/httpd/reply.c"
            "$S/httpd/request.c")
        PKGS+=(libmicrohttpd libpq) MAXLEN=16384 ;;
    lines) SRC=("$S/httpd/lines.c" "$S/core/secmem.c") MAXLEN=8192 ;;
    frame)
        SRC=("$S/wire/msg_table.c" "$S/wire/frame.c" "$S/wire/codec_keys.c" "$S/wire/codec_pseud.c"
            "$S/wire/codec_sign.c" "$S/wire/codec_release.c" "$S/wire/codec_case.c"
            "$S/wire/codec_events.c" "$S/wire/codec_error.c" "$S/wire/codec_any.c"
            "$S/wire/codec_link.c" "$S/wire/overlap_tbs.c" "${COMMON[@]}") ;;
    response) SRC=("$S/cli/send/http_response.c" "$S/core/secmem.c") MAXLEN=16384 ;;
    keyfiles) SRC=("${KEYSTORE[@]}" "$ROOT/keys/shamir.c" "${COMMON[@]}") LIBS=(-lgfshare) ;;
    audit_copy)
        SRC=("$S/audit/audit_copy.c" "$S/audit/audit_chain.c" "$S/audit/receipt_json.c"
            "${COMMON[@]}")
        PKGS+=(libpq) MAXLEN=65536 ;;
    esac
}

# True when no source, header or this script is newer than $1.
fresh() {
    [[ -e $1 && -z $(find "$ROOT/server" "$ROOT/keys" "$FZ" -newer "$1" \
        \( -name '*.c' -o -name '*.h' -o -name '*.def' -o -name run_all.sh \) -print -quit) ]]
}

obj_of() {
    echo "$OUT/obj/$(sed "s|^$ROOT/||; s|/|_|g" <<<"$1").o"
}

# Builds the named harnesses. The sources they share are compiled once
# (instrumented for coverage, not linked with libFuzzer's main) into
# DIR/fuzz/obj; compiles and links run $JOBS at a time.
JOBS=$(nproc 2>/dev/null || echo 2)
build() {
    local name src srcs=() todo=() pkgs=() pids=() cflags_deps rc=0
    for name in "$@"; do
        fresh "$OUT/bin/fuzz_$name" && continue
        todo+=("$name")
        harness "$name"
        srcs+=("${SRC[@]}")
        pkgs+=("${PKGS[@]}")
    done
    [[ ${#todo[@]} -gt 0 ]] || return 0
    echo "== building ${todo[*]}"
    read -r -a cflags_deps <<<"$(pkg-config --cflags "${pkgs[@]}")"
    run_job() {
        while [[ $(jobs -rp | wc -l) -ge $JOBS ]]; do wait -n || rc=1; done
        "$@" &
    }
    for src in $(printf '%s\n' "${srcs[@]}" | sort -u); do
        fresh "$(obj_of "$src")" && continue
        run_job "$CLANG" "${CFLAGS[@]}" -fsanitize=fuzzer-no-link,address,undefined \
            -fno-sanitize-recover=undefined "${cflags_deps[@]}" -c -o "$(obj_of "$src")" "$src"
    done
    while [[ $(jobs -rp | wc -l) -gt 0 ]]; do wait -n || rc=1; done
    [[ $rc == 0 ]] || { echo "run_all.sh: compiling failed" >&2; exit 1; }
    for name in "${todo[@]}"; do
        harness "$name"
        local libs objs=() bin="$OUT/bin/fuzz_$name"
        read -r -a libs <<<"$(pkg-config --libs "${PKGS[@]}")"
        for src in "${SRC[@]}"; do objs+=("$(obj_of "$src")"); done
        run_job bash -c '"$@" && mv "$0.tmp" "$0"' "$bin" "$CLANG" "${CFLAGS[@]}" "${SAN[@]}" \
            "${cflags_deps[@]}" -o "$bin.tmp" "$FZ/fuzz_$name.c" "${objs[@]}" "${libs[@]}" \
            "${LIBS[@]}"
    done
    while [[ $(jobs -rp | wc -l) -gt 0 ]]; do wait -n || rc=1; done
    [[ $rc == 0 ]] || { echo "run_all.sh: building failed" >&2; exit 1; }
}

if [[ $MODE == corpus ]]; then
    harness frame
    read -r -a deps <<<"$(pkg-config --cflags --libs "${PKGS[@]}")"
    "$CLANG" "${CFLAGS[@]}" -fsanitize=address,undefined -DVST_FUZZ_MAKE_CORPUS \
        -o "$OUT/bin/make_frame_corpus" "$FZ/fuzz_frame.c" "${SRC[@]}" "${deps[@]}"
    rm -rf "$FZ/corpus/frame"
    mkdir -p "$FZ/corpus/frame"
    "$OUT/bin/make_frame_corpus" "$FZ/corpus/frame"
    echo "seeds written: $(ls "$FZ/corpus/frame" | wc -l) (tests/fuzz/corpus/frame)"
    exit 0
fi

build "${NAMES[@]}"
[[ $MODE == build ]] && exit 0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
printf 'harness\tseconds\texecs\texec_per_s\tcov\tft\tcorpus\tresult\n' >"$OUT/summary.tsv.new"
status=0
for name in "${NAMES[@]}"; do
    harness "$name"
    work="$OUT/work/$name"
    if [[ $KEEP == 0 || ! -d $work ]]; then
        rm -rf "$work"
        mkdir -p "$work"
    fi
    dirs=("$work" "$FZ/corpus/$name")
    [[ -d $FZ/regressions/$name ]] && dirs+=("$FZ/regressions/$name")
    dict=()
    [[ -f $FZ/dict/$name.dict ]] && dict=(-dict="$FZ/dict/$name.dict")
    log="$OUT/log/$name.log"
    echo "== fuzz_$name: ${SECS} s"
    rc=0
    # shellcheck disable=SC2086
    "$OUT/bin/fuzz_$name" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$MAXLEN" -print_final_stats=1 -artifact_prefix="$OUT/crashes/$name-" \
        "${dict[@]}" ${FUZZ_ARGS:-} "${dirs[@]}" >"$log" 2>&1 || rc=$?
    # The last status line has the coverage: "#N DONE cov: C ft: F corp: U/..."
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
    corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$last")
    execs=$(sed -nE 's/^stat::number_of_executed_units:[[:space:]]+([0-9]+)/\1/p' "$log")
    eps=$(sed -nE 's/^stat::average_exec_per_sec:[[:space:]]+([0-9]+)/\1/p' "$log")
    result=ok
    if [[ $rc != 0 ]]; then
        result=FAILED
        status=1
        tail -n 60 "$log"
        ls -t "$OUT/crashes/$name-"* 2>/dev/null | head -n 1 | sed 's/^/failing input: /'
    fi
    printf 'fuzz_%s: %s executions, %s exec/s, cov %s, ft %s, corpus %s: %s\n' "$name" \
        "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$SECS" "${execs:-}" "${eps:-}" \
        "${cov:-}" "${ft:-}" "${corp:-}" "$result" >>"$OUT/summary.tsv.new"
done
mv "$OUT/summary.tsv.new" "$OUT/summary.tsv"
exit "$status"
