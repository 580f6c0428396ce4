#!/usr/bin/env bash
# Size limits of the product code (server/, keys/; issue 9): no C file
# (.c or .h) over 600 lines, no function over 80 lines, except what
# tests/style/size_exemptions.txt lists, each entry with its reason.
#
# A function is found as clang-format lays it out (style_clang_format keeps
# it so): its name on a line that starts at column 0, its body from a "{"
# alone at column 0 to the next "}" at column 0; its length counts the body
# with both braces. Tables (initialisers) are not functions and have no
# limit. An exemption that no longer matches a violation fails too, so that
# the list only shrinks.
#
# Control first: the same check run on a planted tree must report exactly
# the planted violations, honour an exemption, and refuse an exemption
# without a reason or one that exempts nothing.
set -uo pipefail
cd "${VST_SOURCE_DIR:?}" || exit 1

MAX_FILE=600
MAX_FUNC=80

# Prints "file<TAB>lines" for files over the limit and
# "file:function<TAB>lines" for functions over it, for every .c/.h under
# server/ and keys/ of the tree at $1.
violations() {
    local root=$1
    (cd "$root" && find server keys -name '*.[ch]' -type f | LC_ALL=C sort) |
        while read -r f; do
            awk -v f="$f" -v maxf="$MAX_FILE" -v maxfn="$MAX_FUNC" '
            # The first identifier followed by "(" that is not __attribute__.
            function name_of(s,    i, c, id, depth) {
                id = ""
                for (i = 1; i <= length(s); i++) {
                    c = substr(s, i, 1)
                    if (c ~ /[A-Za-z0-9_]/) { id = id c; continue }
                    if (c == "(" && id == "__attribute__") {
                        depth = 0
                        for (; i <= length(s); i++) {
                            c = substr(s, i, 1)
                            if (c == "(") depth++
                            else if (c == ")" && --depth == 0) break
                        }
                        id = ""
                        continue
                    }
                    if (c == "(" && id != "" && id !~ /^[0-9]/) return id
                    id = ""
                }
                return "?"
            }
            !infn && /^[A-Za-z_].*\(/ { sig = $0 }
            !infn && /^\{[ \t]*$/ { infn = 1; start = NR; name = name_of(sig); next }
            infn && /^\}/ {
                infn = 0
                if (NR - start + 1 > maxfn) printf "%s:%s\t%d\n", f, name, NR - start + 1
            }
            END { if (NR > maxf) printf "%s\t%d\n", f, NR }
            ' "$root/$f"
        done
}

# Checks the tree at $1 against the exemptions file $2. Prints one
# "not ok" line per problem and returns how many there were.
check() {
    local root=$1 exfile=$2 bad=0 target reason lines
    declare -A exempt=() used=()
    if [ -f "$exfile" ]; then
        while IFS= read -r line; do
            [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
            target=${line%%[[:space:]]*}
            reason=${line#"$target"}
            reason=${reason#"${reason%%[![:space:]]*}"}
            if [ -z "$reason" ]; then
                echo "not ok - exemption without a reason: $target"
                bad=$((bad + 1))
                continue
            fi
            exempt[$target]=$reason
        done <"$exfile"
    fi
    while IFS=$'\t' read -r target lines; do
        [ -n "$target" ] || continue
        if [ -n "${exempt[$target]:-}" ]; then
            used[$target]=1
            echo "# exempt: $target ($lines lines): ${exempt[$target]}"
            continue
        fi
        if [[ $target == *:* ]]; then
            echo "not ok - function ${target#*:} in ${target%%:*} has $lines lines (limit $MAX_FUNC)"
        else
            echo "not ok - $target has $lines lines (limit $MAX_FILE)"
        fi
        bad=$((bad + 1))
    done < <(violations "$root")
    for target in "${!exempt[@]}"; do
        if [ -z "${used[$target]:-}" ]; then
            echo "not ok - exemption $target exempts nothing any more: remove it from the list"
            bad=$((bad + 1))
        fi
    done
    return $((bad > 255 ? 255 : bad))
}

# ---- control ----------------------------------------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/server/x" "$tmp/keys"
{
    echo '/* planted */'
    echo 'static const int table[] = {'
    for i in $(seq 1 150); do echo "    $i,"; done
    echo '};'
    printf '__attribute__((format(printf, 1, 2))) static int long_one(const char *f,\n'
    printf '                                                            ...)\n{\n'
    for i in $(seq 1 79); do echo "    (void)f;"; done
    printf '}\n\nint fine(void)\n{\n'
    for i in $(seq 1 78); do echo "    (void)0;"; done
    printf '}\n'
} >"$tmp/server/x/planted.c"
for i in $(seq 1 $((MAX_FILE + 1))); do echo "/* $i */"; done >"$tmp/keys/long.h"
control() { # $1: exemptions text; $2: the expected output, sorted
    printf '%s' "$1" >"$tmp/exempt.txt"
    local got
    got=$(check "$tmp" "$tmp/exempt.txt" | grep -v '^# ' | LC_ALL=C sort)
    [ "$got" = "$2" ] || {
        printf 'got:\n%s\nwanted:\n%s\n' "$got" "$2"
        return 1
    }
}
want='not ok - function long_one in server/x/planted.c has 81 lines (limit 80)
not ok - keys/long.h has 601 lines (limit 600)'
if control "" "$want" &&
    control $'server/x/planted.c:long_one  a planted table\nkeys/long.h  planted\n' "" &&
    control $'keys/long.h\n' "not ok - exemption without a reason: keys/long.h
not ok - function long_one in server/x/planted.c has 81 lines (limit 80)
not ok - keys/long.h has 601 lines (limit 600)" &&
    control $'server/x/planted.c:long_one  x\nkeys/long.h  x\nserver/x/planted.c:fine  x\n' \
        "not ok - exemption server/x/planted.c:fine exempts nothing any more: remove it from the list"
then
    echo "ok - a planted 601-line file and 81-line function are found, exemptions are honoured and checked (control)"
else
    echo "not ok - the size check misses planted violations"
    echo "0 passed, 1 failed"
    exit 1
fi

# ---- the product code ---------------------------------------------------------
nfiles=$(find server keys -name '*.[ch]' -type f | wc -l)
out=$(check . tests/style/size_exemptions.txt)
n=$?
echo "$out"
if [ "$nfiles" -eq 0 ]; then
    echo "not ok - no C file found under server/ and keys/"
    echo "1 passed, 1 failed"
    exit 1
fi
if [ "$n" -eq 0 ]; then
    echo "ok - $nfiles files in server/ and keys/: none over $MAX_FILE lines, no function over $MAX_FUNC (but the exemptions)"
    echo "2 passed, 0 failed"
    exit 0
fi
echo "not ok - $n size problem(s) in server/ and keys/"
echo "1 passed, 1 failed"
exit 1
