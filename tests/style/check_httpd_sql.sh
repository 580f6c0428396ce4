#!/usr/bin/env bash
# vst-httpd runs SQL in two places only (issue 9): sql.c, where every
# statement with parameters is named and prepared once per connection, and
# store.c, which builds the two kinds of statement that cannot be prepared
# with parameters (the COPY of a profile's table; PREPARE TRANSACTION and
# COMMIT/ROLLBACK PREPARED of a checked "vst:<uuid>"). Fails, naming the
# file and line, when any other file of server/httpd calls libpq's query
# functions, or store.c gains a call beyond those two.
set -uo pipefail
cd "${VST_SOURCE_DIR:?}" || exit 1
CALLS='\<PQ(exec|execParams|prepare|sendQuery|sendQueryParams|sendPrepare|execPrepared)\>[[:space:]]*\('

# Findings for one directory: "file:line: text" of every call outside sql.c,
# and store.c's if it has more than two.
scan() {
    local dir=$1 f n
    for f in "$dir"/*.c; do
        case ${f##*/} in
        sql.c) continue ;;
        store.c)
            n=$(grep -cE "$CALLS" "$f")
            [ "$n" -le 2 ] || grep -nE "$CALLS" "$f" | sed "s|^|$f:|"
            ;;
        *) grep -nE "$CALLS" "$f" | sed "s|^|$f:|" ;;
        esac
    done
}

# Control: the same scan finds a query planted in a handler.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp server/httpd/*.c "$tmp/"
printf 'void f(PGconn *db)\n{\n    PQclear(PQexecParams(db, "SELECT 1", 0, NULL, NULL, NULL, NULL, 0));\n}\n' \
    >>"$tmp/delivery_get.c"
if [ -n "$(scan "$tmp")" ]; then
    echo "ok - a query planted in delivery_get.c is found (control)"
else
    echo "not ok - the scan misses a planted query"
    echo "0 passed, 1 failed"
    exit 1
fi
found=$(scan server/httpd)
if [ -z "$found" ]; then
    echo "ok - vst-httpd runs SQL only through sql.c and store.c's two built statements"
    echo "2 passed, 0 failed"
    exit 0
fi
echo "$found"
echo "not ok - SQL outside sql.c (name the statement in sql.h instead)"
echo "1 passed, 1 failed"
exit 1
