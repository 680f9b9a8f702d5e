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

# 20,000 client sockets in this shell's children and as many on the server: raise the hard limit when
# allowed (root), then the soft one to it.
ulimit -Hn 200000 2>/dev/null || true
ulimit -Sn "$(ulimit -Hn)"
if (( $(ulimit -Sn) < CONNECTIONS + 1000 )); then
    echo "flood.sh: the descriptor limit ($(ulimit -Sn)) is too low for $CONNECTIONS connections" >&2
    exit 1
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
FLUX_ENV=development DATA_DIR="$work/data" PORT="$port" LOG_LEVEL=notice "$BIN" serve >"$work/flux.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/api/health/live" >/dev/null && break
    sleep 0.1
done

echo "flux: $BIN ($(git rev-parse --short HEAD)), $(nproc) cores, descriptor limit $(ulimit -Sn)"
status=0
timeout 300 python3 bench/flood.py --port "$port" --pid "$pid" --mode slow-headers --connections "$CONNECTIONS" \
    --addresses "$ADDRESSES" --bound 31 --limit 90 || status=1
timeout 300 python3 bench/flood.py --port "$port" --pid "$pid" --mode body-dribble --connections "$CONNECTIONS" \
    --addresses "$ADDRESSES" --bound 7 --limit 90 || status=1
kill -0 "$pid" || { echo "flood.sh: flux exited" >&2; status=1; }
exit "$status"
