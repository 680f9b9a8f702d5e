#!/usr/bin/env bash
# Connection floods against `flux serve` with its default deadlines (bench/flood.py does the work):
#   1. 20,000 slow-header connections from 100 loopback addresses: each must get its 408 and close within
#      HTTP_HEADER_TIMEOUT (30 s) + 1 s of its first byte;
#   2. 20,000 body-dribble connections (a byte a second): each cut off within the 5 s grace + 2 s.
# During each, health's p99 on a fresh connection must stay <= 50 ms, and after each the server's open
# descriptors must be back to their idle count. Exits non-zero when a target is missed.
# Binary: FLUX_BIN, else the release build in .build-release (bench/boot.sh builds it), else the debug build.
# Bounded in time: each flood gives up 90 s after its last connection opened; the whole run stops by 600 s.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FLUX_BIN:-}
if [[ -z "$BIN" ]]; then
    BIN=.build-release/release/flux
    [[ -x "$BIN" ]] || BIN=.build/debug/flux
fi
CONNECTIONS=${FLOOD_CONNECTIONS:-20000}
ADDRESSES=${FLOOD_ADDRESSES:-100}

# Raise the hard descriptor limit when allowed (CAP_SYS_RESOURCE), then the soft one to it. The flood is
# shared by enough client processes that each stays under the limit; the server keeps its own cap below it
# (the descriptor limit less an eighth) and closes connections past it at once.
ulimit -Hn 200000 2>/dev/null || true
ulimit -Sn "$(ulimit -Hn)"
WORKERS=$(( (CONNECTIONS + $(ulimit -Sn) - 1001) / ($(ulimit -Sn) - 1000) ))

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
FLUX_ENV=development DATA_DIR="$work/data" PORT="$port" "$BIN" serve >"$work/flux.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/api/health/live" >/dev/null && break
    sleep 0.1
done

echo "flux: $BIN (built $(date -u -r "$BIN" +%FT%TZ); HEAD $(git rev-parse --short HEAD)), $(nproc) cores, descriptor limit $(ulimit -Sn), $WORKERS client processes"
status=0
timeout 300 python3 bench/flood.py --port "$port" --pid "$pid" --mode slow-headers --connections "$CONNECTIONS" \
    --addresses "$ADDRESSES" --workers "$WORKERS" --bound 31 --limit 90 || status=1
timeout 300 python3 bench/flood.py --port "$port" --pid "$pid" --mode body-dribble --connections "$CONNECTIONS" \
    --addresses "$ADDRESSES" --workers "$WORKERS" --bound 7 --limit 90 || status=1
kill -0 "$pid" || { echo "flood.sh: flux exited" >&2; status=1; }
exit "$status"
