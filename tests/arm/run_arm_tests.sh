#!/bin/bash
# Cross-builds the kernel library and the check programs of tests/arm for aarch64 into
# build-arm/ and runs them under qemu in several CPU configurations:
#   -cpu max at the given SVE vector length (NEON, dotprod, i8mm, SVE),
#   -cpu max at 128-bit SVE (Neoverse N2, Yitian 710: a block takes two predicated loads,
#     and the SVE table keeps the NEON packed gemm),
#   -cpu max at 256-bit SVE (Neoverse V1, Graviton 3: two row chunks per packed group),
#   -cpu max at 1024-bit SVE (vectors wider than a packed line: predicated loads),
#   -cpu max without SVE (only the NEON table, as on Graviton 2 / Ampere Altra).
# Needs
#   apt-get install g++-aarch64-linux-gnu qemu-user cmake ninja-build
# Usage: tests/arm/run_arm_tests.sh [sve vector length in bytes, default 64 = 512-bit]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build-arm}"
SVE_BYTES="${1:-64}"
cmake -S "$ROOT/tests/arm" -B "$BUILD" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/aarch64-toolchain.cmake" >/dev/null
ninja -C "$BUILD" arm_kernels_check arm_packed_check
run() {
  for prog in arm_kernels_check arm_packed_check; do
    echo "== qemu-aarch64 -cpu $1: $prog"
    qemu-aarch64 -cpu "$1" -L /usr/aarch64-linux-gnu "$BUILD/$prog"
  done
}
run "max,sve-default-vector-length=$SVE_BYTES"
run "max,sve-default-vector-length=16"
run "max,sve-default-vector-length=32"
run "max,sve-default-vector-length=128"
run "max,sve=off"
