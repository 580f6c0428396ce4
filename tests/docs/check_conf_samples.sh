#!/usr/bin/env bash
# Keeps deploy/vst-keyd.conf.sample and deploy/vst-httpd.conf.sample in step
# with the daemons: every option of `--help` is documented in the sample
# (as an active `option value` line or a commented `# option value` one),
# and the daemon accepts the whole sample, commented options included.
#
#   tests/docs/check_conf_samples.sh VST_KEYD VST_HTTPD
#
# Prints "ok - ..." / "not ok - ..." and "N passed, N failed".
set -uo pipefail

ROOT=${VST_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); printf 'ok - %s\n' "$1"; }
nok() {
    FAIL=$((FAIL + 1))
    printf 'not ok - %s\n' "$1"
    [ -z "${2:-}" ] || printf '#   %s\n' "${2//$'\n'/$'\n#   '}"
}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vst-conf.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

check() { # NAME BINARY
    local name=$1 bin=$2 sample=$ROOT/deploy/$1.conf.sample opts missing=() o
    if [ ! -x "$bin" ]; then
        nok "$name: binary $bin exists"
        return
    fi
    opts=$("$bin" --help | sed -n 's/^  --\([a-z][a-z0-9-]*\) .*/\1/p' | grep -vx -e config -e help)
    [ -n "$opts" ] || { nok "$name --help lists options"; return; }
    for o in $opts; do
        grep -qE "^(# )?$o( |$)" "$sample" || missing+=("$o")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        ok "$name.conf.sample documents all $(wc -w <<<"$opts") options"
    else
        nok "$name.conf.sample documents every option" "missing: ${missing[*]}"
    fi
    # Uncomment the documented-but-off options; users that may not exist on
    # this machine become uid 0.
    local re
    re=$(tr '\n' '|' <<<"$opts")
    sed -E -e "s/^# (${re%|}) /\1 /" -e 's/^(data-uids|admin-uids) .*/\1 0/' \
        "$sample" >"$TMP/$name.conf"
    if out=$("$bin" --config "$TMP/$name.conf" --help 2>&1 >/dev/null); then
        ok "$name accepts its sample configuration"
    else
        nok "$name accepts its sample configuration" "$out"
    fi
}

check vst-keyd "${1:-${VST_KEYD:-}}"
check vst-httpd "${2:-${VST_HTTPD:-}}"
printf '%d passed, %d failed\n' "$PASS" "$FAIL"
[ "$FAIL" -eq 0 ]
