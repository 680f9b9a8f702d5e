#!/usr/bin/env bash
# FluxAI and uploads on a release build of flux, one run:
#   1. POST /api/chat with the offline assistant (wrk, 4 connections, 2000 conversations, SQLite): p50 and p99
#      of the whole turn, and from /metrics what recording cost each turn (flux_chat_telemetry_duration:
#      loading the conversation and queueing the turn; the batched database writes run beside, and their
#      count and mean duration are printed too). p50 without telemetry = p50 minus that mean cost.
#      Target: telemetry <= 1 ms a turn.
#   2. Event ingest: `flux seed-demo` (batched event creates in transactions, as a chat turn writes them) on
#      a fresh SQLite database and on a throwaway PostgreSQL cluster. Target >= 20k events/s on each.
#   3. A 100 MB upload: growth of flux's peak RSS (VmHWM). Target <= 32 MB.
# The server gets core 0 and wrk core 1, as in bench/security.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
swift build -c release --product flux --scratch-path .build-release >/dev/null
bin=$(pwd)/.build-release/release/flux
duration=${DURATION:-15s}
conversations=${CONVERSATIONS:-20000}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
cluster=""
flux_pid=""
cleanup() {
  [ -n "$flux_pid" ] && kill "$flux_pid" 2>/dev/null || true
  [ -n "$cluster" ] && scripts/pg-throwaway stop "$cluster" || true
  rm -rf "$work"
}
trap cleanup EXIT

start_flux() { # DATA_DIR-relative env already exported; waits until live
  port=$(free_port); url="http://127.0.0.1:$port"
  PORT=$port taskset -c 0 "$bin" serve > "$work/flux.log" 2>&1 &
  flux_pid=$!
  until curl -sf "$url/api/health/live" >/dev/null; do sleep 0.1; done
}
stop_flux() { kill "$flux_pid"; wait "$flux_pid" 2>/dev/null || true; flux_pid=""; }

echo "== chat turn, offline assistant, SQLite"
export DATA_DIR=$work/chat TRUSTED_PROXIES=127.0.0.1 LOG_LEVEL=error
start_flux
csrf=$(curl -s -c "$work/jar" "$url/api/csrf" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
CSRF_TOKEN=$csrf taskset -c 1 wrk -t1 -c4 -d5s -s bench/chat.lua "$url" >/dev/null  # warm up: conversations exist
before=$(curl -s "$url/metrics")
out=$(CSRF_TOKEN=$csrf taskset -c 1 wrk -t1 -c4 -d"$duration" --latency -s bench/chat.lua "$url")
after=$(curl -s "$url/metrics")
stop_flux
p50=$(echo "$out" | awk '$1 == "50%" { print $2 }')
echo "$out" | awk '/Requests\/sec/ { print "turns/s: " $2 } /Non-2xx/ { print "non-2xx: " $NF } $1 == "50%" || $1 == "99%" { print $1 " " $2 }'
BEFORE=$before AFTER=$after P50=$p50 python3 - <<'PY'
import os, re
def figures(text):
    found = {}
    for kind, step, value in re.findall(r'flux_chat_telemetry_duration_seconds_(sum|count)\{step="(\w+)"\} ([0-9.e+-]+)', text):
        found[(kind, step)] = float(value)
    return found
before, after = figures(os.environ["BEFORE"]), figures(os.environ["AFTER"])
total = 0.0
for step in ("load", "record"):  # what a turn waits for; "flush" is the writer's batch
    count = after[("count", step)] - before.get(("count", step), 0)
    mean = (after[("sum", step)] - before.get(("sum", step), 0)) / count * 1000
    total += mean
    print(f"telemetry {step}: {mean:.3f} ms a turn over {int(count)} turns")
count = after[("count", "flush")] - before.get(("count", "flush"), 0)
flush_ms = (after[("sum", "flush")] - before.get(("sum", "flush"), 0)) / count * 1000
print(f"background writes: {int(count)} batches, {flush_ms:.3f} ms each on average, off the visitors' wait")
p50 = os.environ["P50"]
p50_ms = float(p50[:-2]) if p50.endswith("ms") else float(p50[:-2]) / 1000 if p50.endswith("us") else float(p50[:-1]) * 1000
print(f"telemetry per turn: {total:.3f} ms (target <= 1 ms); chat p50 with telemetry {p50_ms:.3f} ms, without {p50_ms - total:.3f} ms")
PY

echo "== event ingest (flux seed-demo --conversations $conversations)"
DATA_DIR=$work/ingest-sqlite "$bin" seed-demo --conversations "$conversations" 2>/dev/null | sed 's/^/SQLite: /' | grep -v '^SQLite: {'
cluster=$(mktemp -d /tmp/flux-pg.XXXXXX)
settings=$(scripts/pg-throwaway start "$cluster")
pg_url=$(echo "$settings" | sed -n 's/^FLUX_TEST_DATABASE_URL=//p')
DATA_DIR=$work/ingest-pg DATABASE_URL=$pg_url "$bin" seed-demo --conversations "$conversations" 2>/dev/null \
  | sed 's/^/PostgreSQL: /' | grep -v '^PostgreSQL: {'

echo "== 100 MB upload"
export DATA_DIR=$work/upload UPLOAD_MAX_BYTES=$((200 * 1024 * 1024))
start_flux
FLUX_PID=$flux_pid URL=$url python3 - <<'PY'
import os, uuid, requests
pid, url, mib = int(os.environ["FLUX_PID"]), os.environ["URL"], 1024 * 1024
def hwm():
    return next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmHWM:")) / 1024
def body(size, boundary):
    yield (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="clip.mp4"\r\n'
           'Content-Type: video/mp4\r\n\r\n').encode()
    header = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    yield header
    left, piece = size - len(header), b"\x01" * mib
    while left > 0:
        yield piece[:min(left, mib)]
        left -= mib
    yield f"\r\n--{boundary}--\r\n".encode()
session = requests.Session()
token = session.get(url + "/api/csrf").json()["token"]
before = hwm()
boundary = "b" + uuid.uuid4().hex
response = session.post(url + "/api/public-upload", data=body(100 * mib, boundary),
                        headers={"X-CSRF-Token": token, "Content-Type": f"multipart/form-data; boundary={boundary}"})
assert response.status_code == 201, response.text
print(f"100 MB upload: {response.json()['size'] / mib:.0f} MiB stored, peak RSS {before:.1f} -> {hwm():.1f} MiB, "
      f"grew {hwm() - before:.1f} MiB (target <= 32 MB)")
PY
stop_flux
