#!/usr/bin/env bash
# Validates docs/openapi.yaml (see check_openapi.js for what is checked).
#
# The validator (@apidevtools/swagger-parser, exact versions pinned in
# tests/docs/package.json and package-lock.json) is installed with `npm ci`
# into build/npm the first time, from the npm registry; later runs find the
# install stamp and work offline. swagger-parser sends no telemetry.
#
#   tests/docs/check_openapi.sh [SPEC]      default: docs/openapi.yaml
#
# Environment: VST_SOURCE_DIR (the source tree), VST_NPM_DIR (install
# directory, default $VST_SOURCE_DIR/build/npm). Needs node >= 16 and npm;
# as root it installs Debian's nodejs and npm when they are missing.
set -euo pipefail

ROOT=${VST_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
HERE=$ROOT/tests/docs
NPM_DIR=${VST_NPM_DIR:-$ROOT/build/npm}
SPEC=${1:-$ROOT/docs/openapi.yaml}

die() { printf 'not ok - %s\n0 passed, 1 failed\n' "$*"; exit 1; }

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    [ "$(id -u)" -eq 0 ] || die "node and npm are needed (apt-get install nodejs npm)"
    echo "# installing nodejs and npm"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm \
        >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; } ||
        die "cannot install nodejs and npm"
fi
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 16 ? 0 : 1)' ||
    die "node $(node --version) is too old; the validator needs node >= 16"

# Install when the lockfile changed since the last install (or never was).
mkdir -p "$NPM_DIR"
want=$(cat "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -d' ' -f1)
stamp=$NPM_DIR/node_modules/.vst-installed
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    (
        # Two concurrent runs must not install over each other.
        flock 9
        if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
            echo "# installing the OpenAPI validator into $NPM_DIR (npm ci)"
            cp "$HERE/package.json" "$HERE/package-lock.json" "$NPM_DIR/"
            npm ci --prefix "$NPM_DIR" --ignore-scripts --no-audit --no-fund \
                --loglevel=error --update-notifier=false >"$NPM_DIR/npm-ci.log" 2>&1 ||
                { sed 's/^/#   /' "$NPM_DIR/npm-ci.log"; exit 1; }
            echo "$want" >"$stamp"
        fi
    ) 9>"$NPM_DIR/.lock" || die "npm ci failed (see above)"
fi

if NODE_PATH=$NPM_DIR/node_modules node "$HERE/check_openapi.js" "$SPEC" \
    "$ROOT/server/core/vst_error.def"; then
    echo "1 passed, 0 failed"
else
    echo "0 passed, 1 failed"
    exit 1
fi
