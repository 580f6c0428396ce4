#!/usr/bin/env bash
# Every C source and header follows .clang-format (STYLE.md): fails, naming
# the files, if clang-format would change any of them.
set -uo pipefail
cd "${VST_SOURCE_DIR:?}" || exit 1
command -v clang-format >/dev/null || { echo "clang-format is not installed"; exit 1; }
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find server keys tests -name '*.[ch]')
bad=0
for f in "${files[@]}"; do
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f"
        bad=$((bad + 1))
    fi
done
echo "$((${#files[@]} - bad)) passed, $bad failed"
[ "$bad" -eq 0 ]
