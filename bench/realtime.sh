#!/usr/bin/env bash
# Portal real time on a release build of flux (SQLite, server on core 0, clients on core 1), RUNS runs (3) on a
# fresh server each, then the medians. Each run (bench/realtime.py): a join storm of SOCKETS (1,000) sockets on
# one conversation, MESSAGES (100) messages 100 ms apart, a burst of BURST (300) messages from POSTERS (4)
# posters, a join storm of twice as many sockets; and 100 portal users (wrk -c100, DURATION 10s) reading a
# conversation's newest 50 messages.
# Targets (issue 34): 0 sockets closed by the server; join storm <= 1 s of server CPU and <= 20 MB at 1,000,
# about twice that at 2,000; send-to-receive p99 <= 20 ms; POST p99 <= 60 ms during the burst; <= 7 us of
# server CPU per delivery. API (issue 6): 100 users p95 <= 200 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
python3 -c 'import websockets' 2>/dev/null || pip install -q websockets
swift build -c release --product flux --scratch-path .build-release >/dev/null
bin=$(pwd)/.build-release/release/flux
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Thousands of sockets each side: raise the descriptor limit as far as this shell may.
ulimit -n "$(ulimit -Hn)"
figures=$(mktemp)
trap 'rm -f "$figures"' EXIT

run() {
  local data port url flux_pid jar csrf client engineer thread password
  data=$(mktemp -d); port=$(free_port); url="http://127.0.0.1:$port"
  password="bench passphrase $(date +%s)"
  export DATA_DIR=$data/data PORT=$port TRUSTED_PROXIES=127.0.0.1 LOG_LEVEL=error
  echo "$password" | "$bin" create-admin --email engineer@bench.example --role engineer >/dev/null
  taskset -c 0 "$bin" serve > "$data/flux.log" 2>&1 &
  flux_pid=$!
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
  taskset -c 1 python3 bench/realtime.py "$url" "$client" "$engineer" "$thread" "$flux_pid" | tee -a "$figures"
  ACCESS_TOKEN=$client taskset -c 1 wrk -t1 -c100 -d"${DURATION:-10s}" --latency -s bench/auth-me.lua \
    "$url/api/portal/conversations/$thread/messages?limit=50" | awk '/^p95/ { print "{\"api_p95_ms\": " $2 + 0 "}" }' | tee -a "$figures"
  echo "{\"peak_rss_mib\": $(awk '/VmHWM/ { print $2 / 1024 }' /proc/$flux_pid/status)}" | tee -a "$figures"
  kill $flux_pid; wait $flux_pid 2>/dev/null || true
  rm -rf "$data"
}

for n in $(seq "${RUNS:-3}"); do
  echo "== run $n"
  run
done
python3 - "$figures" <<'EOF'
import json, statistics, sys
runs, current = [], None
for line in open(sys.argv[1]):
    figures = json.loads(line)
    if "join" in figures:
        current = dict(figures)
        runs.append(current)
    else:
        current.update(figures)
med = lambda f: statistics.median(f(run) for run in runs)
print(f"== medians of {len(runs)} runs")
print(f"sockets closed by the server: {[run['closed_by_server'] for run in runs]} (target 0)")
print("deliveries: " + ", ".join(f"{run['deliveries']} of {run['expected']}" for run in runs))
for key, label in (("join", "join storm"), ("join_double", "join storm")):
    print(f"{label}, {runs[0][key]['sockets']} sockets: server CPU {med(lambda r: r[key]['cpu_s']):.2f} s, written {med(lambda r: r[key]['written_mb']):.2f} MB, "
          f"all subscribed in {med(lambda r: r[key]['subscribed_s']):.1f} s")
print("send-to-receive ms p50 / p95 / p99: " + " / ".join(f"{med(lambda r: r['send_to_receive_ms'][i]):.1f}" for i in range(3)) + " (target p99 <= 20)")
print("server fan-out (hub to every socket written), histogram buckets, ms p50 / p99: " + " / ".join(f"<= {med(lambda r: r['server_fanout_ms'][i]):g}" for i in range(2)))
print(f"burst deliveries/s: {med(lambda r: r['burst_deliveries_per_s']):.0f}")
print("POST during the burst ms p50 / p99: " + " / ".join(f"{med(lambda r: r['post_ms'][i]):.1f}" for i in range(2)) + " (target p99 <= 60)")
print(f"server CPU per delivery: {med(lambda r: r['cpu_us_per_delivery']):.1f} us (target <= 7)")
print(f"100 portal users, newest 50 messages: p95 {med(lambda r: r['api_p95_ms']):.0f} ms (target <= 200)")
print(f"flux peak RSS: {med(lambda r: r['peak_rss_mib']):.0f} MiB")
EOF
