#!/usr/bin/env bash
# Release build, then boot-to-healthy time and idle RSS (bench/boot.py). Targets: <= 1 s, <= 50 MB.
# The release build has its own scratch folder so it never disturbs the debug build the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product flux --scratch-path .build-release
python3 bench/boot.py .build-release/release/flux "${RUNS:-10}"
