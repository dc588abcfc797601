#!/usr/bin/env bash
# Builds and runs the whole test suite:
#   1. release build + every test (ctest);
#   2. AddressSanitizer + UBSan build running the bad-input and fuzz tests (Gguf*);
#   3. the ARM kernels cross-compiled and checked under qemu-aarch64, when available;
#   4. the server's black-box tests in Node (openai client, web page in Chromium).
# Set DEEPCPU_SKIP_DEPS=1 to skip the apt-get step.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
if [ "${DEEPCPU_SKIP_DEPS:-0}" != 1 ]; then scripts/install-deps.sh; fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j "$JOBS"

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDEEPCPU_SANITIZE=ON >/dev/null
ninja -C build-asan -j "$JOBS" deepcpu deepcpu_tests
echo "== AddressSanitizer + UBSan: bad-input and fuzz tests, scratch arena, file reader, KV cache panels"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  build-asan/tests/deepcpu_tests --gtest_filter='Gguf*:Arena*:FileReader*:KvCache*' --gtest_brief=1

if [ -x tests/arm/run_arm_tests.sh ] && command -v aarch64-linux-gnu-g++ >/dev/null && command -v qemu-aarch64 >/dev/null; then
  echo "== ARM kernels under qemu-aarch64"
  tests/arm/run_arm_tests.sh
fi

echo "== server black-box tests: official openai npm client, web UI in headless Chromium"
DEEPCPU_BINARY="$PWD/build/deepcpu" tests/node/run.sh

echo "== full suite (release)"
cd build && ctest -j "$JOBS" --output-on-failure
