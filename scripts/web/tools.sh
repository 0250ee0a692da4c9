#!/usr/bin/env bash
# The web app's test tools from npm, pinned, under target/webtools: axe-core (injected by the
# browser tests to check every key page for WCAG 2.x A/AA violations) and Lighthouse
# (scripts/web/lighthouse.sh). Installs once; later runs find them in place.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=target/webtools
want_axe=4.14.1
want_lh=12.8.2
have() { [ -f "$dir/node_modules/$1/package.json" ] && grep -q "\"version\": \"$2\"" "$dir/node_modules/$1/package.json"; }
if have axe-core "$want_axe" && have lighthouse "$want_lh"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "installing node and npm for the web app's test tools"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{"private": true}' > "$dir/package.json"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
  "axe-core@$want_axe" "lighthouse@$want_lh"
