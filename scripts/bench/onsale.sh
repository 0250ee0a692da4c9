#!/usr/bin/env bash
# Runs one node (or NODES of them) of a production build (`cargo build --profile production`)
# on PostgreSQL + Redis + NATS and the onsale benchmarks against it, then the yardsticks of the
# same run: pgbench TPC-B and redis-benchmark EVAL, and /healthz under wrk. Needs the services of
# README's production mode on loopback.
#
#   scripts/bench/onsale.sh book     # `boxoffice bench`: reserves, then bookings of 2-4 seats
#   scripts/bench/onsale.sh stadium  # `boxoffice bench --onsale`: 50,000 seats, 25,000 visitors
#
# Environment: NODES (1), SEATS, USERS, CONCURRENCY, SECONDS, ADMIT (per minute), BIN (the
# binary the nodes run), CLIENT (the binary that runs the bench; BIN by default), PG
# (server URL without database), GROUP (true: group commit on), DATA_ROOT (where each node's
# data dir goes: /dev/shm, a tmpfs, by default; see below), REDIS_CLUSTER (1: the nodes use a
# three-master Redis Cluster started here on ports 17001-17003, `redis+cluster://`, instead of
# the Redis on 6379).
#
# Without SMTP_URL a node writes each confirmation email as an .eml file under its data dir.
# That outbox stands in for the SMTP relay a deployment has. On this machine's ext4, creating
# 20,000 files (after the last run deleted as many) was 22% of the node's CPU in perf, kernel
# inode allocation that a deployment sending through SMTP never pays; so the data dirs go on
# tmpfs unless DATA_ROOT says otherwise. Set SMTP_URL to send through a real relay instead.
#
# At the end it says where the machine's CPU went from the start of the bench to the end of the
# drain: the nodes, PostgreSQL, Redis, NATS and the bench client itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=${1:-book}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/production/boxoffice}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=boxoffice_bench
NODES=${NODES:-1}
SECRET=bench-secret-bench-secret-bench-secret-0123
[ -x "$BIN" ] || cargo build --profile production
CLIENT=${CLIENT:-$BIN}
# CPU seconds used so far by every process named $1 (with its reaped children: PostgreSQL's
# backends that exited).
cpu_of() { awk -v c="($1)" '$2 == c { s += $14 + $15 + $16 + $17 } END { printf "%.1f", s / 100 }' /proc/[0-9]*/stat 2>/dev/null; }
# ... and by the nodes started here.
cpu_of_nodes() { for pid in "${pids[@]}"; do cat "/proc/$pid/stat"; done | awk '{ s += $14 + $15 } END { printf "%.1f", s / 100 }'; }

psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
redis-cli --scan --pattern '{bench:*' | xargs -r -n 1000 redis-cli del >/dev/null
DATA_ROOT=${DATA_ROOT:-/dev/shm}
[ -d "$DATA_ROOT" ] && [ -w "$DATA_ROOT" ] || DATA_ROOT=/tmp
rm -rf "$DATA_ROOT"/boxoffice-bench-node-*
REDIS_URL=redis://127.0.0.1:6379
cluster_dir="$DATA_ROOT/boxoffice-bench-redis-cluster"
stop_cluster() {
  for p in 17001 17002 17003; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "$cluster_dir"
}
if [ "${REDIS_CLUSTER:-0}" = 1 ]; then
  stop_cluster
  mkdir -p "$cluster_dir"
  for p in 17001 17002 17003; do
    redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
      --cluster-enabled yes --cluster-config-file "$cluster_dir/nodes-$p.conf" \
      --dir "$cluster_dir" --logfile "$cluster_dir/$p.log"
  done
  for p in 17001 17002 17003; do
    for _ in $(seq 1 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  redis-cli --cluster create 127.0.0.1:17001 127.0.0.1:17002 127.0.0.1:17003 \
    --cluster-replicas 0 --cluster-yes >/dev/null
  for p in 17001 17002 17003; do
    for _ in $(seq 1 100); do
      redis-cli -p "$p" cluster info | grep -q cluster_state:ok && break; sleep 0.1
    done
  done
  REDIS_URL=redis+cluster://127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003
fi
pids=()
urls=()
for n in $(seq 1 "$NODES"); do
  port=$((18090 + n))
  # Without the per-request access log (tower_http at info), as in the figures before it
  # existed; RUST_LOG overrides.
  RUST_LOG=${RUST_LOG:-info,sqlx=warn,tower_http=warn} "$BIN" serve --bind "127.0.0.1:$port" --no-demo --rate-limits false \
    --group-commit "${GROUP:-true}" --database-url "$PG/$DB" --redis-url "$REDIS_URL" \
    --data-dir "$DATA_ROOT/boxoffice-bench-node-$n" --redis-prefix bench --nats-url nats://127.0.0.1:4222 --nats-stream BENCH \
    --nats-subject-prefix bench --jwt-secret "$SECRET" >"/tmp/boxoffice-bench-$n.log" 2>&1 &
  pids+=($!)
  urls+=("http://127.0.0.1:$port")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
done
trap 'kill "${pids[@]}" 2>/dev/null || true; sleep 0.5; rm -rf "$DATA_ROOT"/boxoffice-bench-node-*; [ "${REDIS_CLUSTER:-0}" = 1 ] && stop_cluster' EXIT
url=$(IFS=,; echo "${urls[*]}")
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; nodes: $NODES; Redis: $REDIS_URL"
cpu_before=("$(cpu_of_nodes)" "$(cpu_of postgres)" "$(cpu_of redis-server)" "$(cpu_of nats-server)")
run_started=$(date +%s.%N)
case "$MODE" in
  book)
    /usr/bin/time -f "bench client: %U s user, %S s system CPU" "$CLIENT" bench --url "${urls[0]}" --seats "${SEATS:-20000}" --users "${USERS:-400}" \
      --concurrency "${CONCURRENCY:-64}" --seconds "${SECONDS_EACH:-15}" --database-url "$PG/$DB" \
      --server-pid "${pids[0]}"
    ;;
  stadium)
    /usr/bin/time -f "bench client: %U s user, %S s system CPU" "$CLIENT" bench --onsale --url "$url" --seats "${SEATS:-50000}" --users "${USERS:-25000}" \
      --concurrency "${CONCURRENCY:-64}" --admit-per-minute "${ADMIT:-60000}" \
      --jwt-secret "$SECRET" --database-url "$PG/$DB" --server-pid "${pids[0]}"
    ;;
  *) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
for pid in "${pids[@]}"; do
  echo "server $pid RSS after the run: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status")"
done
# The after-booking work (ticket codes, emails, search) drains after the last booking: wait
# until every node has been idle (< 5% of a core) for two seconds, and say how long it took.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
drain_start=$(date +%s)
idle=0
while [ "$idle" -lt 2 ] && [ $(( $(date +%s) - drain_start )) -lt 300 ]; do
  before=0; for pid in "${pids[@]}"; do before=$((before + $(cpu "$pid"))); done
  sleep 1
  after=0; for pid in "${pids[@]}"; do after=$((after + $(cpu "$pid"))); done
  if [ $((after - before)) -lt 5 ]; then idle=$((idle + 1)); else idle=0; fi
done
echo "nodes busy for $(( $(date +%s) - drain_start - 2 )) s after the run (after-booking work draining)"
cpu_after=("$(cpu_of_nodes)" "$(cpu_of postgres)" "$(cpu_of redis-server)" "$(cpu_of nats-server)")
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
wall=$(minus "$(date +%s.%N)" "$run_started")
echo "CPU seconds from the bench's start to the end of the drain ($wall s of wall time, $(nproc) cores):"
echo "  nodes: $(minus "${cpu_after[0]}" "${cpu_before[0]}") (the bench client's is printed above)"
echo "  postgres: $(minus "${cpu_after[1]}" "${cpu_before[1]}")"
echo "  redis-server: $(minus "${cpu_after[2]}" "${cpu_before[2]}")"
echo "  nats-server: $(minus "${cpu_after[3]}" "${cpu_before[3]}")"
echo "== yardsticks, same run"
redis-benchmark -q -c 50 -n 200000 eval "return redis.call('TIME')" 0 | tr '\r' '\n' | tail -n 2
psql -q "$PG/postgres" -tc "SELECT 1 FROM pg_database WHERE datname = 'pgb'" | grep -q 1 \
  || { psql -q "$PG/postgres" -c "CREATE DATABASE pgb" && pgbench -q -i -s 10 "$PG/pgb"; }
pgbench -c 16 -j 2 -T 10 "$PG/pgb" 2>/dev/null | grep -E "^tps|latency average"
# The HTTP ceiling: the first node's /healthz under wrk (the same client count as the bench's
# in-flight bound, capped at 512).
if command -v wrk >/dev/null; then
  c=${CONCURRENCY:-64}; [ "$c" -gt 512 ] && c=512
  echo "wrk /healthz ($c connections, 10 s): $(wrk -t 2 -c "$c" -d 10s "${urls[0]}/healthz" | awk '/Requests\/sec/ {print $2 " requests/s"}')"
else
  echo "wrk /healthz: wrk is not installed (apt-get install wrk)"
fi
