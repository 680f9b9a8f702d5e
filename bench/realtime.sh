#!/usr/bin/env bash
# Portal real time and API on a release build of flux (SQLite, server on core 0, clients on core 1):
#   1. bench/realtime.py: 1,000 WebSocket clients on one conversation, 100 messages posted 100 ms apart:
#      send-to-receive p95 (target <= 100 ms), the clients' first-to-last spread, and the server's own
#      fan-out time over the messages, from /metrics (target p99 <= 20 ms).
#   2. 100 concurrent portal users (wrk -c100) reading a conversation's newest 50 messages: p95 (target <= 200 ms).
# SOCKETS, MESSAGES, PROCESSES and DURATION override the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
python3 -c 'import websockets' 2>/dev/null || pip install -q websockets
swift build -c release --product flux --scratch-path .build-release >/dev/null
bin=$(pwd)/.build-release/release/flux
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
data=$(mktemp -d); port=$(free_port); url="http://127.0.0.1:$port"
export DATA_DIR=$data/data PORT=$port TRUSTED_PROXIES=127.0.0.1 LOG_LEVEL=error
password="bench passphrase $(date +%s)"
echo "$password" | "$bin" create-admin --email engineer@bench.example --role engineer >/dev/null
# 1,000 sockets each side: raise the descriptor limit as far as this shell may.
ulimit -n "$(ulimit -Hn)"
taskset -c 0 "$bin" serve > "$data/flux.log" 2>&1 &
flux_pid=$!
trap 'kill $flux_pid 2>/dev/null || true; rm -rf "$data"' EXIT
until curl -sf "$url/api/health/live" >/dev/null; do sleep 0.1; done

jar=$data/jar
csrf=$(curl -s -c "$jar" "$url/api/csrf" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
post() { curl -s -b "$jar" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' -d "$2" "$url$1"; }
token() { post /api/auth/login "{\"email\":\"$1\",\"password\":\"$password\"}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["accessToken"])'; }
post /api/auth/register "{\"email\":\"client@bench.example\",\"password\":\"$password\",\"name\":\"Bench\",\"company\":\"Bench Co\"}" >/dev/null
client=$(token client@bench.example)
engineer=$(token engineer@bench.example)
thread=$(curl -s -H "Authorization: Bearer $client" -H 'Content-Type: application/json' -d '{"kind":"channel","title":"Bench"}' \
  "$url/api/portal/conversations" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')

echo "== fan-out: ${SOCKETS:-1000} sockets, ${MESSAGES:-100} messages"
taskset -c 1 python3 bench/realtime.py "$url" "$client" "$engineer" "$thread"

echo "== 100 portal users: GET /api/portal/conversations/:id/messages?limit=50"
out=$(ACCESS_TOKEN=$client taskset -c 1 wrk -t1 -c100 -d"${DURATION:-15s}" --latency -s bench/auth-me.lua \
  "$url/api/portal/conversations/$thread/messages?limit=50")
echo "$out" | awk '/Requests\/sec/ { print "requests/s: " $2 } /Non-2xx/ { print "non-2xx: " $NF } $1 == "50%" || $1 == "99%" { print $1 " " $2 } /^p95/ { print $0 " (target <= 200ms)" }'
echo "flux peak RSS: $(awk '/VmHWM/ { print $2 " " $3 }' /proc/$flux_pid/status)"
