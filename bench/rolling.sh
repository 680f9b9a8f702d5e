#!/usr/bin/env bash
# Flux behind nginx on release builds: requests/s through nginx vs direct (goal >= 0.8), like for like (one
# replica) and with three replicas, with each process's CPU per request; and failed requests during a
# three-replica rolling restart under load (goal 0). See bench/rolling.py.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { apt-get update -qq && apt-get install -y -qq nginx; }
export PATH="$PATH:/usr/sbin"
swift build -c release --product flux --scratch-path .build-release >/dev/null
python3 bench/rolling.py .build-release/release/flux
