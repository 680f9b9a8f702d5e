#!/usr/bin/env bash
# 1,000 workers long-polling one Flux (issue 29): how fast a desired-state change reaches all of them, and what
# they cost while they wait. Release build; the server on core 0, the client on core 1. See bench/workers.py.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product flux --scratch-path .build-release >/dev/null
python3 bench/workers.py .build-release/release/flux "${ROUNDS:-3}" "${TENANTS:-100}" "${PER_TENANT:-10}"
