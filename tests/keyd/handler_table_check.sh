#!/usr/bin/env bash
# The one list of keyd message types (server/wire/messages.def) is a guard,
# not a convention: compiled against altered copies of the list, vst-keyd's
# handler table (keys/keyd/keyd_handlers.c) and the wire's message table
# (server/wire/msg_table.c) refuse what would otherwise surface at run time.
#
#   handler_table_check.sh CC
#
# Each case compiles (no link) with a copy of the list placed first on
# the include path, so "wire/messages.def" resolves to the copy.
set -uo pipefail
ROOT=${VST_SOURCE_DIR:?}
CC=${1:?usage: handler_table_check.sh CC}
DEF="$ROOT/server/wire/messages.def"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/wire"
read -r -a DEPS <<<"$(pkg-config --cflags jansson libcrypto)"
CFLAGS=(-std=c11 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
    -I"$tmp" -I"$ROOT/server" -I"$ROOT/keys" "${DEPS[@]}" -c -o "$tmp/out.o")
pass=0 fail=0

ok() { echo "ok - $1"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $1"; sed 's/^/#   /' "$tmp/out" | head -n 20; fail=$((fail + 1)); }

# compile FILE: 0 if it compiles against the current copy; output in $tmp/out.
compile() { "$CC" "${CFLAGS[@]}" "$ROOT/$1" >"$tmp/out" 2>&1; }

# The list with extra lines before its closing #undefs.
with_lines() {
    sed "/^#undef VST_WIRE_REQUEST/i $1" "$DEF" >"$tmp/wire/messages.def"
}

# Control: the list as it is compiles on both sides.
cp "$DEF" "$tmp/wire/messages.def"
if compile keys/keyd/keyd_handlers.c && compile server/wire/msg_table.c; then
    ok "the list as it is compiles (keyd_handlers.c, msg_table.c)"
else
    not_ok "the list as it is does not compile"
fi

# A request whose handler keyd does not have.
with_lines 'VST_WIRE_REQUEST(PROBE, 0x40, "probe", 0, 0, ANY_SOCK, ANY_STATE, h_probe)\nVST_WIRE_RESPONSE(PROBE, "probe_ok", 0, 0)'
if ! compile keys/keyd/keyd_handlers.c && grep -q "h_probe" "$tmp/out"; then
    ok "a request without a keyd handler does not compile"
else
    not_ok "a request without a keyd handler compiled (or failed for another reason)"
fi
# ... while the wire's side needs no symbol of keyd's.
if compile server/wire/msg_table.c; then
    ok "the wire's table compiles without keyd's handlers"
else
    not_ok "the wire's table needs keyd's handlers"
fi

# A handler that no request names (EVENTS served by another handler).
sed 's/^\(VST_WIRE_REQUEST(EVENTS,.*\)h_events)$/\1h_status)/' "$DEF" >"$tmp/wire/messages.def"
if ! compile keys/keyd/keyd_handlers.c && grep "h_events" "$tmp/out" | grep -q unused; then
    ok "a handler without a request does not compile"
else
    not_ok "a handler without a request compiled (or failed for another reason)"
fi

# A request without a response line.
with_lines 'VST_WIRE_REQUEST(PROBE, 0x40, "probe", 0, 0, ANY_SOCK, ANY_STATE, h_probe)'
if ! compile server/wire/msg_table.c && grep -q "RESPONSE_OF_PROBE" "$tmp/out"; then
    ok "a request without a response does not compile"
else
    not_ok "a request without a response compiled (or failed for another reason)"
fi

# Two lines with one type code.
with_lines 'VST_WIRE_REQUEST(PROBE, 0x21, "probe", 0, 0, ANY_SOCK, ANY_STATE, h_probe)\nVST_WIRE_RESPONSE(PROBE, "probe_ok", 0, 0)'
if ! compile server/wire/msg_table.c && grep -q "duplicate case" "$tmp/out"; then
    ok "two messages with one type code do not compile"
else
    not_ok "two messages with one type code compiled (or failed for another reason)"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
