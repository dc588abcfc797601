#!/bin/bash
# Cross-builds the kernel library and tests/arm/arm_kernels_check for aarch64 into
# build-arm/ and runs it under qemu (-cpu max: NEON, dotprod, i8mm, SVE). Needs
#   apt-get install g++-aarch64-linux-gnu qemu-user cmake ninja-build
# Usage: tests/arm/run_arm_tests.sh [sve vector length in bytes, default 64 = 512-bit]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build-arm}"
SVE_BYTES="${1:-64}"
cmake -S "$ROOT/tests/arm" -B "$BUILD" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/aarch64-toolchain.cmake" >/dev/null
ninja -C "$BUILD" arm_kernels_check
run() { echo "== qemu-aarch64 -cpu $1"; qemu-aarch64 -cpu "$1" -L /usr/aarch64-linux-gnu "$BUILD/arm_kernels_check"; }
run "max,sve-default-vector-length=$SVE_BYTES"
run "max,sve-default-vector-length=16"   # 128-bit SVE: a block takes two predicated loads
