#!/usr/bin/env bash
# DESIGN.md §2: vst-httpd links no code that can read the keystore or derive
# a pseudonym — nor do vst-audit and vst-send. The build keeps the key
# material in one library (vstkeys, keys/); this checks the binaries: no
# global symbol that vstkeys defines may be in them. vst-admin (key init)
# and vst-keyd must have them: the positive control that the check sees.
#
#   tests/keyd/symbols_check.sh LIBVSTKEYS.a VST_HTTPD VST_AUDIT VST_SEND -- VST_ADMIN VST_KEYD
set -uo pipefail

lib=${1:?usage: $0 LIBVSTKEYS.a FREE... -- HOLDERS...}
shift
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "not ok - $*"; }

keysyms=$(nm -g --defined-only "$lib" 2>/dev/null | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort -u)
n=$(wc -l <<<"$keysyms")
if [ -n "$keysyms" ] && [ "$n" -ge 20 ]; then
    ok "vstkeys defines $n global symbols (vst_keystore_open, vst_inner_value, ...)"
else
    bad "no symbols read from $lib"
fi
free=() holders=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do free+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
holders=("$@")

for bin in "${free[@]}"; do
    have=$(nm "$bin" 2>/dev/null | awk '{print $NF}' | sort -u)
    if [ -z "$have" ]; then
        bad "$(basename "$bin"): no symbol table (stripped?)"
        continue
    fi
    leaked=$(comm -12 <(echo "$keysyms") <(echo "$have") | head -5 | xargs)
    if [ -z "$leaked" ]; then
        ok "$(basename "$bin") holds none of them"
    else
        bad "$(basename "$bin") holds key-material code: $leaked"
    fi
done
for bin in "${holders[@]}"; do
    have=$(nm "$bin" 2>/dev/null | awk '{print $NF}' | sort -u)
    if comm -12 <(echo "$keysyms") <(echo "$have") | grep -q .; then
        ok "$(basename "$bin") holds them (control)"
    else
        bad "$(basename "$bin") holds no vstkeys symbol: the check would see nothing"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
