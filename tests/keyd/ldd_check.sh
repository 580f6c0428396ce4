#!/usr/bin/env bash
# DESIGN.md §2: vst-keyd links neither libpq nor libmicrohttpd (no database,
# no network front end in the process that holds the keys). Checks the
# dynamic dependencies ldd resolves, and the binary's own DT_NEEDED entries.
#
#   tests/keyd/ldd_check.sh PATH-TO-vst-keyd
set -uo pipefail

keyd=${1:?usage: $0 PATH-TO-vst-keyd}
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAILED: $*"; }

if [ -x "$keyd" ] && deps=$(ldd "$keyd" 2>&1); then
    ok "ldd $keyd"
else
    bad "ldd $keyd: ${deps:-not an executable}"
    deps=""
fi
needed=$(objdump -p "$keyd" 2>/dev/null | awk '$1 == "NEEDED" {print $2}')
# Positive control: the check sees the libraries keyd does link.
for lib in libcrypto libseccomp; do
    if grep -q "$lib" <<<"$deps"; then ok "links $lib (control)"; else bad "$lib not seen by ldd"; fi
done
for lib in libpq libmicrohttpd; do
    if grep -q "$lib" <<<"$deps$needed"; then
        bad "vst-keyd links $lib: $(grep "$lib" <<<"$deps$needed" | head -1 | xargs)"
    else
        ok "no $lib"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
