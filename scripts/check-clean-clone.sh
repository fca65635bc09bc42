#!/usr/bin/env bash
# Runs CI exactly as it runs on a submission: a fresh clone of the committed HEAD, `.ci/run` in it.
# Uncommitted changes are not included, which is the point: it shows what a clean clone does.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
git clone -q "$repo" "$dir/raft-signer"
cd "$dir/raft-signer"
CI=true bash .ci/run
