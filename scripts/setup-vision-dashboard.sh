#!/usr/bin/env bash
# Gets examples/vision/dashboard ready for the browser test: Debian's chromium (apt-get, as
# root, only when /usr/bin/chromium is missing), `npm ci` from package-lock.json (skipped when
# node_modules already matches the lock file), and `npm run build` (skipped when dist/ is newer
# than every source). Idempotent. Needs Node 20.19+ and npm (Vite 8's floor).
# WEIR_SKIP_CHROMIUM=1 (demo.sh) skips the browser: the demo needs only the built assets.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/examples/vision/dashboard"

if [[ -z "${WEIR_SKIP_CHROMIUM:-}" && ! -x /usr/bin/chromium ]]; then
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "setup-vision-dashboard: /usr/bin/chromium is missing; run as root or: apt-get install chromium" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi

node -e 'const [a, b] = process.versions.node.split(".").map(Number);
  if (a < 20 || (a === 20 && b < 19)) { console.error(`setup-vision-dashboard: Node ${process.version}, need 20.19+`); process.exit(1); }'

cd "$dir"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp=node_modules/.weir-setup-stamp
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "setup-vision-dashboard: node_modules is up to date"
else
    npm ci --no-audit --no-fund
    echo "$want" > "$stamp"
fi

# dist/index.html is rewritten by every build (Vite empties dist/ first), so its mtime is the
# build's; anything newer among the inputs means a rebuild.
if [[ -f dist/index.html ]] &&
    [[ -z "$(find src index.html vite.config.ts tsconfig.json package-lock.json -newer dist/index.html -print -quit)" ]]; then
    echo "setup-vision-dashboard: dist/ is up to date"
else
    npm run build
fi
echo "setup-vision-dashboard: ready in $dir"
