#!/usr/bin/env bash
# Ironcart benchmarks, all on loopback, every load bounded in time:
#   1. GET /api/v1/products through the whole pipeline, against a bare axum handler
#      serving the same bytes (examples/bare.rs);
#   2. the same while a distributed login flood offers ten times the hashing capacity;
#   3. checkouts per second on PostgreSQL (examples/checkout_load.rs);
#   4. resident memory of one instance holding 10,000 idle keep-alive connections
#      (measured before the flood), and its resident memory before and after the flood;
#   5. field encryption on the checkout path against a plaintext baseline measured
#      in the same run (examples/checkout_encryption.rs, SQLite file and PostgreSQL).
# The instance runs as when scaled out: PostgreSQL, a private Redis, plain HTTP
# behind a (here absent) proxy trusted at 127.0.0.1. Results go to stdout; see
# docs/PERFORMANCE.md for recorded figures.
#
# usage: bench/run.sh            (DURATION=10 seconds per run, at most 30)
set -euo pipefail
cd "$(dirname "$0")/.."

PG="${IRONCART_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
DURATION="${DURATION:-10}"
[ "$DURATION" -le 30 ] || DURATION=30
CATALOG="../shared/data/catalogs/shopify-apparel.csv"
# Login capacity: one Argon2id verification is ~15.5 ms of one core (MEASURED.md), and
# the instance hashes on one thread fewer than the cores (one on two cores), so ~64
# logins a second. The flood offers 1000 a second, over ten times that.
FLOOD_CONNECTIONS=400
FLOOD_DELAY_MS=400   # 400 connections x (1000 / 400 ms) = 1000 logins/s offered

for tool in wrk redis-server psql python3 curl; do
  command -v "$tool" >/dev/null || { echo "bench needs $tool (apt-get install -y wrk redis-server postgresql-client)" >&2; exit 1; }
done

echo "== release build"
cargo build --release --locked -q -p ironcart --bin ironcart --example bare --example checkout_load \
  --example checkout_encryption
BIN=target/release/ironcart
EXAMPLES=target/release/examples

WORK=$(mktemp -d)
DB="ironcart_bench_$(date +%s)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_ready() {
  for _ in $(seq 1 100); do
    curl -sf "$1" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "not ready: $1" >&2
  exit 1
}
# "requests/s p50_ms p99_ms" from a wrk --latency report.
summarise() {
  awk '/Requests\/sec/ {rps=$2}
       function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
       $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)}
       END {printf "%.0f %.2f %.2f\n", rps, p50, p99}' "$1"
}

echo "== services: PostgreSQL database $DB, private Redis, one instance, the bare handler"
psql "$PG/postgres" -qc "CREATE DATABASE $DB"
DATABASE_URL="$PG/$DB"
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
PIDS+=($!)

# One load generator address must not be rate limited as a client would be: raise the
# per-address and per-account quotas. Logins keep a per-address quota; the flood
# comes from thousands of addresses, so it meets the hashing limit instead.
cat > "$WORK/bench.toml" <<TOML
[rate_limits.address]
per_minute = 100000000
burst = 10000000
[rate_limits.register-address]
per_minute = 600
burst = 100
[rate_limits.login-address]
per_minute = 600
burst = 100
[rate_limits.checkout]
per_minute = 100000000
burst = 10000000
[rate_limits.write]
per_minute = 100000000
burst = 10000000
TOML

"$BIN" import shopify "$CATALOG" --database-url "$DATABASE_URL" --data-dir "$WORK/data" >/dev/null
APP_PORT=$(free_port)
# 10,000 idle connections need as many descriptors on each side.
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 11000 ] || { echo "bench needs ulimit -n of at least 11000" >&2; exit 1; }
RUST_LOG=warn "$BIN" serve --insecure-plain-http --listen "127.0.0.1:$APP_PORT" \
  --trusted-proxy 127.0.0.1 --data-dir "$WORK/data" --database-url "$DATABASE_URL" \
  --redis-url "redis://127.0.0.1:$REDIS_PORT" --config "$WORK/bench.toml" >"$WORK/app.log" 2>&1 &
APP_PID=$!
PIDS+=($APP_PID)
APP="http://127.0.0.1:$APP_PORT"
wait_ready "$APP/readyz"

curl -sf "$APP/api/v1/products" -o "$WORK/products.json"
BARE_PORT=$(free_port)
"$EXAMPLES/bare" "127.0.0.1:$BARE_PORT" "$WORK/products.json" &
PIDS+=($!)
BARE="http://127.0.0.1:$BARE_PORT"
wait_ready "$BARE/api/v1/products"
cmp -s <(curl -sf "$BARE/api/v1/products") "$WORK/products.json"
echo "catalog page: $(wc -c <"$WORK/products.json") bytes, the same from both servers"

WRK="wrk -t2 -c64 -d${DURATION}s --latency"
echo "== warm-up"
wrk -t2 -c64 -d2s "$APP/api/v1/products" >/dev/null
wrk -t2 -c64 -d2s "$BARE/api/v1/products" >/dev/null

echo "== 1. catalog: bare handler, then the full pipeline ($WRK)"
$WRK "$BARE/api/v1/products" >"$WORK/bare.txt"
$WRK "$APP/api/v1/products" >"$WORK/full.txt"
read -r BARE_RPS BARE_P50 BARE_P99 < <(summarise "$WORK/bare.txt")
read -r FULL_RPS FULL_P50 FULL_P99 < <(summarise "$WORK/full.txt")

rss() { awk '/VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$APP_PID/status"; }
RSS_START=$(rss)
echo "== 4. 10,000 idle keep-alive connections (before the flood: the flood's hashing grows the heap)"
IDLE=$(python3 bench/idle_connections.py "$APP_PORT" "$APP_PID" 10000 12)

RSS_BEFORE_FLOOD=$(rss)
echo "== 2. catalog under a login flood ($FLOOD_CONNECTIONS connections, ${FLOOD_DELAY_MS} ms apart each)"
wrk -t1 -c"$FLOOD_CONNECTIONS" -d"$((DURATION + 3))s" --timeout 10s -s bench/login_flood.lua \
  "$APP/api/v1/auth/login" -- "$FLOOD_DELAY_MS" >"$WORK/flood.txt" &
FLOOD_PID=$!
PIDS+=($FLOOD_PID)
sleep 2
$WRK "$APP/api/v1/products" >"$WORK/flooded.txt"
wait "$FLOOD_PID"
read -r FLOODED_RPS FLOODED_P50 FLOODED_P99 < <(summarise "$WORK/flooded.txt")
FLOOD_RPS=$(awk '/Requests\/sec/ {print $2}' "$WORK/flood.txt")
FLOOD_STATUSES=$(grep '^flood statuses' "$WORK/flood.txt" || true)
FLOOD_TOTAL=$(awk '/requests in/ {print $1}' "$WORK/flood.txt")

RSS_AFTER_FLOOD=$(rss)

echo "== 3. checkouts on PostgreSQL (32 shoppers, ${DURATION} s)"
ADMIN_PASSWORD=$(cat "$WORK/data/initial-admin-password")
ADMIN=$(curl -sf "$APP/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"admin@ironcart.local\",\"password\":\"$ADMIN_PASSWORD\"}" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
VARIANT=$(curl -sf "$APP/api/v1/admin/products" -H "authorization: Bearer $ADMIN" \
  -H 'content-type: application/json' \
  -d '{"handle":"bench-mug","title":"Bench mug","published":true,"variants":[{"sku":"BENCH-1","price":1250,"inventory_quantity":10000000}]}' \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["variants"][0]["id"])')
CHECKOUT=$("$EXAMPLES/checkout_load" "$APP" "$VARIANT" 32 "$DURATION")
RSS_AFTER_CHECKOUTS=$(rss)

echo "== 5. field encryption on the checkout path"
ENCRYPTION=$(IRONCART_BENCH_POSTGRES="$PG" "$EXAMPLES/checkout_encryption" 300)


echo
echo "== results ($(nproc) cores, load generators on the same cores, loopback)"
printf '%-44s %10s %9s %9s\n' "GET /api/v1/products" "req/s" "p50 ms" "p99 ms"
printf '%-44s %10s %9s %9s\n' "bare axum handler, same bytes" "$BARE_RPS" "$BARE_P50" "$BARE_P99"
printf '%-44s %10s %9s %9s\n' "full pipeline (PostgreSQL + Redis)" "$FULL_RPS" "$FULL_P50" "$FULL_P99"
printf '%-44s %10s %9s %9s\n' "full pipeline, login flood running" "$FLOODED_RPS" "$FLOODED_P50" "$FLOODED_P99"
python3 - "$BARE_RPS" "$FULL_RPS" "$FULL_P99" "$FLOODED_RPS" "$FLOODED_P99" <<'PY'
import sys
bare, full, full_p99, flooded, flooded_p99 = map(float, sys.argv[1:])
print(f"full / bare throughput: {full / bare:.3f}")
print(f"under flood: throughput {flooded / full:.2f}x, p99 {flooded_p99 / full_p99:.2f}x the no-flood figures")
PY
echo "login flood: ${FLOOD_RPS} answered/s, ${FLOOD_TOTAL} requests; ${FLOOD_STATUSES} (401: password checked, 503: hashing busy, 429: limited)"
echo "$CHECKOUT"
echo "$IDLE"
echo "instance VmRSS: after the catalog runs $RSS_START; before the login flood (after the idle connections closed) $RSS_BEFORE_FLOOD; after the flood $RSS_AFTER_FLOOD; after the checkouts $RSS_AFTER_CHECKOUTS"
echo "$ENCRYPTION"
