#!/usr/bin/env bash
# Runs schemathesis, with all of its checks and its stateful phase, against a node started here
# on the embedded default (sqlite) or on PostgreSQL + Redis + NATS (postgres), with the demo
# data so reads find things, and an organiser-and-venue-owner account's token:
#
#   bash scripts/openapi/check.sh sqlite|postgres
#
# The schemathesis version is pinned; it is installed into a virtualenv under the target dir.
# scripts/openapi/schemathesis.toml lists the rules JSON Schema cannot express. Exits non-zero
# on any failure. Environment: BIN (the boxoffice binary; the debug build by default),
# EXAMPLES (examples per operation, 25), PG (PostgreSQL server URL without a database).
set -euo pipefail
cd "$(dirname "$0")/../.."
BACKEND=${1:-sqlite}
VERSION=4.32.5
TARGET=${CARGO_TARGET_DIR:-target}
BIN=${BIN:-$TARGET/debug/boxoffice}
VENV=${SCHEMATHESIS_VENV:-$TARGET/schemathesis-$VERSION}
PG=${PG:-postgres://postgres@127.0.0.1:5432}

if [ ! -x "$VENV/bin/schemathesis" ]; then
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q "schemathesis==$VERSION"
fi
[ -x "$BIN" ] || cargo build

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
dir=$(mktemp -d)
tag="st$$$(date +%s)"
node_env=(BOXOFFICE_DATA_DIR="$dir" BOXOFFICE_RATE_LIMITS=false BOXOFFICE_ACCESS_TOKEN_SECONDS=3600 RUST_LOG=warn)
demo=()
case "$BACKEND" in
  sqlite) ;;
  postgres)
    psql -q "$PG/postgres" -c "CREATE DATABASE $tag"
    node_env+=(DATABASE_URL="$PG/$tag" REDIS_URL=redis://127.0.0.1:6379 BOXOFFICE_REDIS_PREFIX="$tag"
      NATS_URL=nats://127.0.0.1:4222 BOXOFFICE_NATS_STREAM="${tag^^}" BOXOFFICE_NATS_SUBJECT_PREFIX="$tag")
    demo=(--demo)
    ;;
  *) echo "usage: $0 sqlite|postgres" >&2; exit 2 ;;
esac
env "${node_env[@]}" "$BIN" serve --bind "127.0.0.1:$port" "${demo[@]}" >"$dir/node.log" 2>&1 &
node=$!
cleanup() {
  kill "$node" 2>/dev/null || true
  wait "$node" 2>/dev/null || true
  if [ "$BACKEND" = postgres ]; then
    psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $tag WITH (FORCE)" || true
    redis-cli --scan --pattern "{$tag:*" | xargs -r -n 1000 redis-cli del >/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 1 150); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "$base/readyz" >/dev/null || { cat "$dir/node.log" >&2; exit 1; }

email="schemathesis-$tag@example.com"
curl -sf -X POST "$base/api/v1/auth/register" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"schemathesis pw\",\"name\":\"Schemathesis\",\"roles\":[\"organiser\",\"venue_owner\"]}" >/dev/null
token=$(curl -sf -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"schemathesis pw\"}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

echo "schemathesis $VERSION against $base ($BACKEND)"
"$VENV/bin/schemathesis" --config-file scripts/openapi/schemathesis.toml run "$base/api/v1/openapi.json" \
  --url "$base" --checks all -H "Authorization: Bearer $token" \
  --max-examples "${EXAMPLES:-25}" --generation-deterministic --report-dir "$dir/report" \
  --no-color
