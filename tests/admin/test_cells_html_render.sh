#!/usr/bin/env bash
# The cells page (vst-admin cells --html, issue 11) in a real browser: the
# page of tests/data/cells/report.json, written by the test-only driver
# (tests/admin/cells_html_driver.c, no database), rendered by headless
# Chromium. Checks that the screenshot is not blank and shows both colours
# of the class-size chart (so the inline SVG was drawn), that the DOM
# Chromium parsed holds the three charts and the verdict, and that a page
# of hostile values parses into no script element and no extra markup.
#
#   test_cells_html_render.sh DRIVER
#
# Needs chromium and python3-pil (tests/run.sh installs both); without
# them the test fails, it does not skip. VST_CELLS_SCREENSHOT=FILE keeps
# the screenshot (docs/img/cells-report.png is made that way).
# Prints "ok - ..." / "not ok - ..." per check and "N passed, N failed".
set -uo pipefail

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); printf 'ok - %s\n' "$1"; }
nok() {
    FAIL=$((FAIL + 1))
    printf 'not ok - %s\n' "$1"
    [ -z "${2:-}" ] || printf '#   %s\n' "${2//$'\n'/$'\n#   '}"
}
finish() {
    printf '%d passed, %d failed\n' "$PASS" "$FAIL"
    [ "$FAIL" -eq 0 ]
    exit
}
check() { if [ "$2" = "$3" ]; then ok "$1"; else nok "$1" "expected [$2], got [$3]"; fi; }

DRIVER=${1:-}
SRC=${VST_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# Debian's interpreter: python3-pil is installed for it, whatever python3
# comes first on PATH.
PY=/usr/bin/python3
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -x "$DRIVER" ] || { nok "the driver is given and executable" "[$DRIVER]"; finish; }
[ -n "$CHROMIUM" ] || { nok "chromium is installed (tests/run.sh installs it)"; finish; }
"$PY" -c 'import PIL' 2>/dev/null || { nok "python3-pil is installed for $PY"; finish; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vst-cells-html.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# Chromium as root needs --no-sandbox; its own profile directory keeps
# concurrent runs apart; nothing is fetched (the page names no URL).
browse() {
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --no-first-run --no-default-browser-check --disable-extensions \
        --disable-background-networking --user-data-dir="$TMP/profile" "$@" 2>>"$TMP/chromium.log"
}

if "$DRIVER" "$SRC/tests/data/cells/report.json" "$TMP/page.html"; then
    ok "the driver writes the page of the sample report"
else
    nok "the driver writes the page of the sample report"
    finish
fi

# ---- the screenshot: 1280 px wide, not blank, both bar colours drawn
browse --screenshot="$TMP/page.png" --window-size=1280,2000 "file://$TMP/page.html" >/dev/null
if [ -s "$TMP/page.png" ]; then
    ok "chromium writes a screenshot"
else
    nok "chromium writes a screenshot" "$(tail -5 "$TMP/chromium.log")"
    finish
fi
stats=$("$PY" - "$TMP/page.png" <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
colours = im.getcolors(1 << 24)
def near(c, t):
    return all(abs(a - b) <= 24 for a, b in zip(c, t))
# The class-size chart: at-risk bars #c2410c (hatched), the others #2563a8.
risk = sum(n for n, c in colours if near(c, (0xc2, 0x41, 0x0c)))
safe = sum(n for n, c in colours if near(c, (0x25, 0x63, 0xa8)))
print(im.size[0], im.size[1], len(colours), int(risk > 2000), int(safe > 2000))
PY
)
read -r width height ncolours risk safe <<<"$stats"
check "the screenshot is 1280x2000" "1280x2000" "${width:-}x${height:-}"
if [ "${ncolours:-0}" -gt 64 ]; then
    ok "the screenshot is not blank ($ncolours colours)"
else
    nok "the screenshot is not blank" "$ncolours colours"
fi
check "bars at risk are drawn (orange)" 1 "${risk:-}"
check "bars at or above k are drawn (blue)" 1 "${safe:-}"
[ -z "${VST_CELLS_SCREENSHOT:-}" ] || cp "$TMP/page.png" "$VST_CELLS_SCREENSHOT"

# ---- the DOM as Chromium parsed it
browse --dump-dom "file://$TMP/page.html" >"$TMP/dom.html"
check "the DOM holds three charts" 3 "$(grep -o '<svg ' "$TMP/dom.html" | wc -l)"
check "each chart is closed" 3 "$(grep -o '</svg>' "$TMP/dom.html" | wc -l)"
# k=5: buckets 1 to 4 at risk, 5-9 on not; each colour also in the legend.
sizes=$(sed -n '/<svg[^>]*sizes-t/,/<\/svg>/p' "$TMP/dom.html")
check "the class-size chart has four bars at risk" 5 "$(grep -o 'fill="url(#sizes-hatch)"' <<<"$sizes" | wc -l)"
check "the class-size chart has three bars at or above k" 4 "$(grep -o 'fill="#2563a8"' <<<"$sizes" | wc -l)"
check "each chart has its title" 3 "$(grep -oE '<title id="(sizes|per-qi-c|next-c)-t">' "$TMP/dom.html" | wc -l)"
check "the verdict is there" 1 "$(grep -c 'k-anonymous at k=5: <strong>no</strong>' "$TMP/dom.html")"
check "the page loads nothing" 0 "$(grep -cE '<(script|img|link|iframe)' "$TMP/dom.html")"

# ---- hostile values: text in the DOM, no element of their own
"$PY" - "$SRC/tests/data/cells/report.json" "$TMP/evil.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
evil = '<script>document.title="x"</script><img src=x onerror=1>"&\''
r["table"] = evil
r["quasi_identifiers"][0] = evil
r["per_quasi_identifier"][0]["column"] = evil
r["smallest"][0]["values"]["sex"] = evil
r["suggestions"][0]["rule"] = evil
r["histogram"][0]["size"] = evil
json.dump(r, open(sys.argv[2], "w"))
PY
"$DRIVER" "$TMP/evil.json" "$TMP/evil.html" || nok "the driver writes the hostile page"
browse --dump-dom "file://$TMP/evil.html" >"$TMP/evil-dom.html"
check "hostile values make no script or img element" 0 \
    "$(grep -cE '<(script|img)' "$TMP/evil-dom.html")"
if grep -q '&lt;script&gt;document.title="x"&lt;/script&gt;&lt;img src=x' "$TMP/evil-dom.html"; then
    ok "hostile values are text"
else
    nok "hostile values are text"
fi
check "the hostile page still has its three charts" 3 "$(grep -o '<svg ' "$TMP/evil-dom.html" | wc -l)"
finish
