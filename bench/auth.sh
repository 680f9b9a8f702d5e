#!/usr/bin/env bash
# Identity's cost on a release build of flux (SQLite, one process):
#   1. wrk on GET /api/auth/me (JWT check, session revocation check, rate limit, security headers, one
#      database read) and on the plain JSON route GET /api/health/live of the same binary, alternating, at
#      64 connections; prints requests/s, p99 and the ratio. Targets: ratio >= 70 %, p99 <= 15 ms.
#   2. /api/health p99 while 50 connections flood POST /api/auth/login (each a bcrypt check). Target <= 20 ms.
#   3. Vapor's own floor for the ratio (bench/FloorBench): a bare Vapor app's plain JSON route against a route
#      doing nothing but a one-row SQLite read by primary key through Fluent, same pinning and load.
# The server gets core 0 and wrk core 1, as in bench/security.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
swift build -c release --product flux --scratch-path .build-release >/dev/null
swift build -c release --product FloorBench --scratch-path .build-release >/dev/null
bin=$(pwd)/.build-release/release/flux
duration=${DURATION:-10s}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rps() { awk '/Requests\/sec/ { print $2 }'; }
p99() { awk '$1 == "99%" { print $2 }'; }

data=$(mktemp -d); port=$(free_port); url="http://127.0.0.1:$port"
export DATA_DIR=$data/data PORT=$port TRUSTED_PROXIES=127.0.0.1 LOG_LEVEL=error
password="bench passphrase $(date +%s)"
echo "$password" | "$bin" create-admin --email bench@example.com --role engineer >/dev/null
taskset -c 0 "$bin" serve > "$data/flux.log" 2>&1 &
flux_pid=$!
trap 'kill $flux_pid 2>/dev/null || true; rm -rf "$data"' EXIT
until curl -sf "$url/api/health/live" >/dev/null; do sleep 0.1; done
jar=$data/jar
csrf=$(curl -s -c "$jar" "$url/api/csrf" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
access=$(curl -s -b "$jar" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
  -d "{\"email\":\"bench@example.com\",\"password\":\"$password\"}" "$url/api/auth/login" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["accessToken"])')
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $access" "$url/api/auth/me")" = 200 ]

# The same requests for every route measured (the bare Vapor app below ignores the token and the address).
load() { ACCESS_TOKEN=$access taskset -c 1 wrk -t1 -c64 -d"$1" --latency -s bench/auth-me.lua "$2"; }
# Three alternating rounds of $duration on $1$2 (the reference) and $1$3, each printed; leaves the median of
# the second's requests/s over the first's in $median.
compare() {
  local base=$1 reference=$2 measured=$3 ratios=() round reference_out measured_out reference_rps measured_rps non2xx ratio
  for round in 1 2 3; do
    reference_out=$(load "$duration" "$base$reference"); measured_out=$(load "$duration" "$base$measured")
    reference_rps=$(echo "$reference_out" | rps); measured_rps=$(echo "$measured_out" | rps)
    non2xx=$(echo "$measured_out" | awk '/Non-2xx/ { print $NF }')
    ratio=$(python3 -c "print(f'{float($measured_rps) / float($reference_rps):.3f}')")
    ratios+=("$ratio")
    echo "round $round: $reference $reference_rps requests/s (p99 $(echo "$reference_out" | p99)), $measured $measured_rps requests/s (p99 $(echo "$measured_out" | p99), non-2xx: ${non2xx:-0}), ratio $ratio"
  done
  median=$(python3 -c "import statistics; print(f'{statistics.median([$(IFS=,; echo "${ratios[*]}")]):.1%}')")
}
compare "$url" /api/health/live /api/auth/me
echo "ratio (median of 3): $median of the plain JSON route (target >= 70%)"

flood_seconds=${FLOOD_SECONDS:-20}
CSRF_TOKEN=$csrf taskset -c 1 wrk -t1 -c50 -d"${flood_seconds}s" -s bench/login-flood.lua "$url" > "$data/flood.txt" &
flood_pid=$!
sleep 2
health=$(taskset -c 1 wrk -t1 -c2 -d"$((flood_seconds - 4))s" --latency "$url/api/health")
wait $flood_pid
echo "login flood: $(awk '/requests in/ { print $1 }' "$data/flood.txt") logins, $(rps < "$data/flood.txt") logins/s, non-2xx $(awk '/Non-2xx/ { print $NF }' "$data/flood.txt") (401 expected)"
echo "/api/health during the flood: $(echo "$health" | rps) requests/s, p50 $(echo "$health" | awk '$1 == "50%" { print $2 }'), p99 $(echo "$health" | p99) (target <= 20 ms)"

kill $flux_pid; wait $flux_pid 2>/dev/null || true
floor_port=$(free_port)
PORT=$floor_port DB_PATH=$data/floor.sqlite taskset -c 0 .build-release/release/FloorBench > "$data/floor.log" 2>&1 &
floor_pid=$!
trap 'kill $floor_pid 2>/dev/null || true; rm -rf "$data"' EXIT
until grep -q ready "$data/floor.log" 2>/dev/null; do sleep 0.1; done
# Warm both routes (connection pools, caches) so the first round is not the odd one out.
for route in /plain /read; do load 2s "http://127.0.0.1:$floor_port$route" >/dev/null; done
echo "bare Vapor (bench/FloorBench):"
compare "http://127.0.0.1:$floor_port" /plain /read
echo "bare Vapor floor (median of 3): one SQLite read keeps $median of its plain route"
