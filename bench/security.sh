#!/usr/bin/env bash
# FluxSecurity's cost and its flood memory, on release builds:
#   1. wrk against one trivial POST route, bare and behind the whole FluxSecurity stack (headers with a CSP
#      nonce, CORS, a rate limit, CSRF verified on every request), in one run; prints the ratio of
#      requests/s and that of the server's CPU time per request. STACK (for
#      example STACK=csrf) limits the stack to some parts, to see what each costs. No target: the ratio
#      swings by ±10 points with the machine.
#      Then each part's own cost, timed in process without a network (bench/SecurityBench/InProcess.swift).
#      Guard: the whole stack adds no more than 75 % of the bare in-process request's own cost (its `none`
#      line, same run).
#   2. flux itself with 100k distinct client addresses hitting a rate-limited route; prints peak RSS above
#      idle. Target: <= 64 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
swift build -c release --product flux --scratch-path .build-release >/dev/null
swift build -c release --product SecurityBench --scratch-path .build-release >/dev/null
bin=.build-release/release
duration=${DURATION:-3s}
rounds=${ROUNDS:-10}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rps() { awk '/Requests\/sec/ { print $2 }'; }
kib() { awk -v key="$1:" '$1 == key { print $2 }' "/proc/$2/status"; }

# The server gets core 0 and wrk core 1, so the ratio compares the server's own cost, not how the two
# share a core. Each app is warmed first (connections, buffer pools, the rate limiter's bucket); then ROUNDS
# short rounds (ten of 3 s by default) each load both apps, alternating which goes first so a drift in the
# machine's speed during a round does not always fall on the same side, and the median ratio is reported
# with its quartiles: single rounds on this shared virtual machine swing by ±10 points.
bare_port=$(free_port); hardened_port=$(free_port)
PORT_BARE=$bare_port PORT_HARDENED=$hardened_port STACK=${STACK:-headers,cors,ratelimit,csrf} taskset -c 0 "$bin/SecurityBench" > /tmp/security-bench.log 2>&1 &
bench_pid=$!
trap 'kill $bench_pid 2>/dev/null || true' EXIT
until grep -q ready /tmp/security-bench.log 2>/dev/null; do sleep 0.1; done
token=$(curl -s "http://127.0.0.1:$hardened_port/csrf" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
load() { CSRF_TOKEN=$token taskset -c 1 wrk -t1 -c32 -d"$duration" -s bench/csrf-post.lua "http://127.0.0.1:$1/submit"; }
# Requests/s fall when the server gets less of its core or when each request costs more; the server's CPU
# time per request (user + system, from /proc, both apps being one process loaded in turn) only in the second
# case, so both are printed.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$bench_pid/stat"; }
ticks_per_second=$(getconf CLK_TCK)
measure() { # port; prints "requests/s µs-per-request non-2xx"
  local before after out
  before=$(cpu_ticks); out=$(load "$1"); after=$(cpu_ticks)
  echo "$out" | awk -v t="$((after - before))" -v hz="$ticks_per_second" '
    /requests in/ { n = $1 } /Requests\/sec/ { r = $2 } /Non-2xx/ { x = $NF }
    END { printf "%s %.1f %d\n", r, t / hz / n * 1e6, x }'
}
load "$bare_port" >/dev/null; load "$hardened_port" >/dev/null
ratios=(); cpu_ratios=()
for round in $(seq "$rounds"); do
  if (( round % 2 )); then
    read -r bare bare_cpu _ < <(measure "$bare_port")
    read -r hardened hardened_cpu non2xx < <(measure "$hardened_port")
  else
    read -r hardened hardened_cpu non2xx < <(measure "$hardened_port")
    read -r bare bare_cpu _ < <(measure "$bare_port")
  fi
  ratio=$(python3 -c "print(f'{float($hardened) / float($bare):.3f}')")
  cpu_ratio=$(python3 -c "print(f'{$bare_cpu / $hardened_cpu:.3f}')")
  ratios+=("$ratio"); cpu_ratios+=("$cpu_ratio")
  echo "round $round: bare $bare requests/s ($bare_cpu µs CPU each), FluxSecurity stack $hardened requests/s ($hardened_cpu µs; non-2xx: $non2xx), ratio $ratio (by CPU $cpu_ratio)"
done
kill $bench_pid; wait $bench_pid 2>/dev/null || true
# The same stacks timed in this process without a network: what each part costs, with far less noise.
IN_PROCESS=1 ROUNDS=6 taskset -c 0 "$bin/SecurityBench"
python3 - "${ratios[*]}" "${cpu_ratios[*]}" <<'EOF'
import statistics, sys
ratios, cpu = ([float(x) for x in arg.split()] for arg in sys.argv[1:])
low, _, high = statistics.quantiles(ratios, n=4)
print(f"ratio (median of {len(ratios)}): {statistics.median(ratios):.1%} of the bare route, "
      f"quartiles {low:.1%}-{high:.1%}; by CPU per request {statistics.median(cpu):.1%}")
EOF

data=$(mktemp -d); port=$(free_port)
(cd "$data" && PORT=$port TRUSTED_PROXIES=127.0.0.1 LOG_LEVEL=error RATE_LIMIT_STORE=memory "$OLDPWD/$bin/flux" serve > flux.log 2>&1) &
sleep 0.2
flux_pid=$(pgrep -n -f "$bin/flux serve")
trap 'kill $flux_pid 2>/dev/null || true; rm -rf "$data"' EXIT
until curl -sf "http://127.0.0.1:$port/api/health/live" >/dev/null; do sleep 0.1; done
sleep 1
idle=$(kib VmRSS "$flux_pid")
flood=$(ADDRESSES=100000 THREADS=2 wrk -t2 -c64 -d"${FLOOD_DURATION:-30s}" -s bench/distinct-addresses.lua "http://127.0.0.1:$port/api/csrf")
peak=$(kib VmHWM "$flux_pid")
echo "flood: $(echo "$flood" | awk '/requests in/ { print $1 }') requests from 100000 addresses, $(echo "$flood" | rps) requests/s"
python3 -c "print(f'flood memory: idle {$idle / 1024:.1f} MiB, peak {$peak / 1024:.1f} MiB, peak above idle {($peak - $idle) / 1024:.1f} MiB (target <= 64 MB)')"
