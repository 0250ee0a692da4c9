#!/usr/bin/env bash
# Validates the deployment files with what this machine has (no container engine here):
#   - deploy/nginx.conf with `nginx -t` (the compose service names resolved to loopback);
#   - deploy/boxoffice.service with `systemd-analyze verify`;
#   - the compose files with `docker compose config` when docker exists, else as YAML;
#   - Dockerfile: every path it copies exists, and the stub benches it builds match Cargo.toml.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== nginx -t"
sed -e 's/server node[123]:8080/server 127.0.0.1:8080/' deploy/nginx.conf >"$tmp/nginx.conf"
nginx -t -q -c "$tmp/nginx.conf" -g "pid $tmp/nginx.pid; error_log $tmp/error.log;" && echo "nginx.conf: ok"

echo "== systemd-analyze verify"
if command -v systemd-analyze >/dev/null; then
  # The unit names a binary and env file of the target host; stand-ins make it checkable here.
  mkdir -p "$tmp/unit"
  sed -e "s|/usr/local/bin/boxoffice|$(command -v true)|" \
      -e "s|EnvironmentFile=/etc/boxoffice/boxoffice.env|EnvironmentFile=-/etc/boxoffice/boxoffice.env|" \
      deploy/boxoffice.service >"$tmp/unit/boxoffice.service"
  out=$(systemd-analyze verify "$tmp/unit/boxoffice.service" 2>&1 || true)
  # Without a running systemd (containers, CI) it can only parse; report what it says.
  if echo "$out" | grep -qiE "unknown (key|section)|invalid|failed to parse"; then
    echo "$out" >&2; exit 1
  fi
  echo "boxoffice.service: parsed${out:+ (notes: $(echo "$out" | head -3 | tr '\n' ' '))}"
fi

echo "== compose files"
if command -v docker >/dev/null && docker compose version >/dev/null 2>&1; then
  POSTGRES_PASSWORD=x BOXOFFICE_JWT_SECRET=x BOXOFFICE_TICKET_SIGNING_KEY=x \
    docker compose -f deploy/compose.cluster.yaml config -q
  docker compose -f deploy/compose.yaml config -q
  echo "compose: ok"
else
  python3 - <<'PY'
import sys
try:
    import yaml
except ImportError:
    print("compose: no docker and no PyYAML here; not checked")
    sys.exit(0)
for f in ("deploy/compose.yaml", "deploy/compose.cluster.yaml"):
    doc = yaml.safe_load(open(f))
    assert "services" in doc, f
    print(f"{f}: YAML ok, services: {', '.join(doc['services'])}")
PY
fi

echo "== Dockerfile"
for path in $(awk '/^COPY [^-]/ { for (i = 2; i < NF; i++) print $i }' Dockerfile); do
  [ -e "$path" ] || { echo "Dockerfile copies $path, which does not exist" >&2; exit 1; }
done
declared=$(awk -F'"' '/^\[\[bench\]\]/ { b = 1; next } b && /^name/ { print $2; b = 0 }' Cargo.toml | sort | tr '\n' ' ')
stubbed=$(grep -o 'for b in [a-z ]*;' Dockerfile | sed 's/for b in //; s/;//' | tr ' ' '\n' | grep . | sort | tr '\n' ' ')
[ "$declared" = "$stubbed" ] || { echo "Dockerfile stubs benches '$stubbed' but Cargo.toml declares '$declared'" >&2; exit 1; }
echo "Dockerfile: copied paths exist; stub benches match Cargo.toml ($declared)"
