#!/usr/bin/env bash
# Node black-box tests of `deepcpu serve` (official openai client, web UI in Chromium).
# Installs the locked npm packages, then runs every tests/node/*.test.mjs with node's test
# runner; exits non-zero if any test fails. Uses build/deepcpu unless DEEPCPU_BINARY is set.
#   tests/node/run.sh                     # all files
#   tests/node/run.sh openai_client       # only files whose name contains the word
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "tests/node/run.sh: node and npm are needed (apt-get install nodejs npm)" >&2
  exit 1
fi
# --prefer-offline: the npm cache is enough once the packages were fetched one time.
npm ci --no-audit --no-fund --prefer-offline --loglevel=error

files=()
for f in *.test.mjs; do
  if [ $# -eq 0 ] || [[ "$f" == *"$1"* ]]; then files+=("$f"); fi
done
if [ ${#files[@]} -eq 0 ]; then
  echo "tests/node/run.sh: no *.test.mjs file matches '${1:-}'" >&2
  exit 1
fi
# One file at a time: every file starts its own servers, and the timing-sensitive checks
# (busy slots, queueing) should not compete with another file for the CPUs.
# The spec reporter prints each test and node's summary (tests / pass / fail / duration).
exec node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
