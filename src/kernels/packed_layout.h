// Geometry of the packed Q8_0 layout (documented in scalar/packed_q8_0.cpp), shared by
// every ISA's kernels so that the offsets are written once.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"

namespace deepcpu::kernels::packed {

constexpr int G = kPackRows;                            // rows per group (one panel)
constexpr size_t kScaleBytes = 2 * 2 * G;               // fp16 d[2][16] of a block pair
constexpr size_t kBlockQBytes = 8 * G * 4;              // int8 q[8][16][4] of one block
constexpr size_t kPairBytes = kScaleBytes + 2 * kBlockQBytes;

// Bytes of one group of `nb` blocks per row (an odd last block is paired with zeros).
constexpr size_t group_bytes(int64_t nb) { return static_cast<size_t>((nb + 1) / 2) * kPairBytes; }
// Where block b's quants and its 16 scales start inside a group.
constexpr size_t block_q_offset(int64_t b) {
  return static_cast<size_t>(b >> 1) * kPairBytes + kScaleBytes + static_cast<size_t>(b & 1) * kBlockQBytes;
}
constexpr size_t block_d_offset(int64_t b) {
  return static_cast<size_t>(b >> 1) * kPairBytes + static_cast<size_t>(b & 1) * 2 * G;
}

}  // namespace deepcpu::kernels::packed
