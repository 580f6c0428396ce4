#!/usr/bin/env bash
# Static analysis of the product code (server/, keys/) with cppcheck: the
# warning, portability and performance checks; any finding fails the test.
# Suppressions live in .cppcheck-suppressions, each with its reason.
set -uo pipefail
cd "${VST_SOURCE_DIR:?}" || exit 1
command -v cppcheck >/dev/null || { echo "cppcheck is not installed"; exit 1; }
# Control: the same invocation reports a planted defect.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'int f(void)\n{\n    char a[2];\n    a[3] = 0;\n    return a[0];\n}\n' >"$tmp/planted.c"
# (Output captured first: `cppcheck | grep -q` under pipefail fails at
# random when grep exits on the match and cppcheck then dies of SIGPIPE.)
control=$(cppcheck --quiet --std=c11 --enable=warning,portability,performance "$tmp/planted.c" 2>&1)
if grep -q arrayIndexOutOfBounds <<<"$control"; then
    echo "ok - cppcheck reports a planted out-of-bounds write (control)"
else
    echo "not ok - cppcheck did not report a planted defect"
    echo "0 passed, 1 failed"
    exit 1
fi
out=$(cppcheck --quiet --std=c11 --enable=warning,portability,performance --inline-suppr \
    --suppressions-list=.cppcheck-suppressions -I server -I keys \
    -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -j"$(nproc)" server keys 2>&1)
rc=$?
n=$(grep -cE '^[^ ].*: (warning|error|portability|performance|style):' <<<"$out")
if [ "$rc" -eq 0 ] && [ "$n" -eq 0 ]; then
    echo "ok - cppcheck: no finding in server/ and keys/"
    echo "2 passed, 0 failed"
    exit 0
fi
echo "$out"
echo "not ok - cppcheck: $n finding(s)"
echo "1 passed, 1 failed"
exit 1
