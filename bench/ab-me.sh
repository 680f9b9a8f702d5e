#!/usr/bin/env bash
# Signed-in GET /api/auth/me on two release builds of flux, A/B in one run: both serve from core 0 (each with
# its own SQLite data, one admin signed in), wrk on core 1 loads one then the other, ROUNDS pairs of DURATION,
# alternating which goes first. Prints each round and the median of B's requests/s over A's.
#   bash bench/ab-me.sh BASELINE_FLUX [MEASURED_FLUX]   (MEASURED_FLUX: this tree's release build by default)
# Build a baseline from another commit in a worktree: swift build -c release --product flux --scratch-path X
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
baseline=${1:?usage: bench/ab-me.sh BASELINE_FLUX [MEASURED_FLUX]}
measured=${2:-}
if [ -z "$measured" ]; then
  swift build -c release --product flux --scratch-path .build-release >/dev/null
  measured=$(pwd)/.build-release/release/flux
fi
duration=${DURATION:-10s}
rounds=${ROUNDS:-6}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Starts flux binary $1 as server $2 and prints its base URL and an access token, space-separated.
start() {
  local bin=$1 name=$2 port password jar csrf access
  port=$(free_port)
  password="bench passphrase $(date +%s) $name"
  mkdir -p "$work/$name"
  export DATA_DIR=$work/$name/data PORT=$port TRUSTED_PROXIES=127.0.0.1 LOG_LEVEL=error
  echo "$password" | "$bin" create-admin --email "bench-$name@example.com" --role engineer >/dev/null
  taskset -c 0 "$bin" serve > "$work/$name/flux.log" 2>&1 &
  pids+=($!)
  until curl -sf "http://127.0.0.1:$port/api/health/live" >/dev/null; do sleep 0.1; done
  jar=$work/$name/jar
  csrf=$(curl -s -c "$jar" "http://127.0.0.1:$port/api/csrf" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
  access=$(curl -s -b "$jar" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
    -d "{\"email\":\"bench-$name@example.com\",\"password\":\"$password\"}" "http://127.0.0.1:$port/api/auth/login" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["accessToken"])')
  echo "http://127.0.0.1:$port $access"
}
read -r url_a token_a <<< "$(start "$baseline" a)"
read -r url_b token_b <<< "$(start "$measured" b)"
for pair in "$url_a $token_a" "$url_b $token_b"; do
  set -- $pair
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" "$1/api/auth/me")" = 200 ]
done

load() { ACCESS_TOKEN=$2 taskset -c 1 wrk -t1 -c64 -d"$3" --latency -s bench/auth-me.lua "$1/api/auth/me"; }
rps() { awk '/Requests\/sec/ { print $2 }'; }
p99() { awk '$1 == "99%" { print $2 }'; }
load "$url_a" "$token_a" 3s >/dev/null; load "$url_b" "$token_b" 3s >/dev/null
ratios=()
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then
    out_a=$(load "$url_a" "$token_a" "$duration"); out_b=$(load "$url_b" "$token_b" "$duration")
  else
    out_b=$(load "$url_b" "$token_b" "$duration"); out_a=$(load "$url_a" "$token_a" "$duration")
  fi
  ratio=$(python3 -c "print(f'{float($(echo "$out_b" | rps)) / float($(echo "$out_a" | rps)):.3f}')")
  ratios+=("$ratio")
  echo "round $round: A $(echo "$out_a" | rps) requests/s (p99 $(echo "$out_a" | p99)), B $(echo "$out_b" | rps) requests/s (p99 $(echo "$out_b" | p99)), B/A $ratio"
done
echo "B/A, median of $rounds rounds: $(python3 -c "import statistics; print(f'{statistics.median([$(IFS=,; echo "${ratios[*]}")]):.1%}')")"
