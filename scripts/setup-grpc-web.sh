#!/usr/bin/env bash
# Installs the gRPC-Web test clients in examples/grpc-web-client (connect-web, grpc-web, xhr2,
# @bufbuild/protobuf) from its package-lock.json. Idempotent: skips the install when
# node_modules already matches the lock file. Needs Node 20+ and npm.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/examples/grpc-web-client"
cd "$dir"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp=node_modules/.weir-setup-stamp
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "setup-grpc-web: $dir/node_modules is up to date"
    exit 0
fi
npm ci --no-audit --no-fund
echo "$want" > "$stamp"
echo "setup-grpc-web: installed in $dir"
