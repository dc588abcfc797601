// Packed Q8_0 weights: the layout (shared by every ISA) and the reference gemm over it.
//
// Rows go in groups of G = kPackRows (16). A group is one contiguous panel; inside it the
// 32-element blocks of its 16 rows come in pairs (a last odd block is paired with zeros):
//
//   pair p (blocks b = 2p, 2p+1), 1088 bytes, 64-byte aligned when the panel is:
//     fp16 d[2][16]          64 B   scale of block 2p + i, row l at d[i][l]
//     int8 q[2][8][16][4]  1024 B   q[i][j][l][0..3] = row l's elements 4j..4j+3 of block 2p + i
//
// So the 64 bytes q[i][j] hold four consecutive elements of each of the 16 rows: one
// zmm, and one vpdpbusd against a broadcast group of 4 activation bytes adds row l's
// 4-product partial sum into lane l. Eight of them finish a block for 16 rows, each
// lane an exact int32 block sum; no horizontal reduction is ever needed. Scales stay
// fp16: one vcvtph2ps per block serves every token of a tile, and f32 scales would add
// 6% to the bytes a memory-bound GEMV streams. Pairs keep every 64-byte load aligned.
// Rows past n_rows in the last group are zero (scale 0, q 0).
//
// The dot of row r with an activation row a (q8_0 blocks), in this exact order:
//   s = 0; for b: s = fma(float(isum_b), d_w[b] * d_a[b], s)
// with isum_b the exact int32 block sum. Every packed kernel does exactly these float
// operations per output (the int sums are exact in any order), so packed results are
// bit-identical across ISAs, tile shapes, m and row splits. They differ from the
// unpacked gemm only in fp32 summation order.
#include "base/fp16.h"
#include "kernels/kernels.h"
#include "kernels/packed_layout.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace deepcpu::kernels {

namespace {

using packed::G;
using packed::kPairBytes;

size_t group_bytes(int64_t k) { return packed::group_bytes(k / kQ8_0Block); }

size_t packed_bytes_q8_0(int64_t n_rows, int64_t k) {
  return static_cast<size_t>((n_rows + G - 1) / G) * group_bytes(k);
}

// Packs rows [0, n) of one group (n <= G) into the panel at dst, writing it front to
// back (16 rows read as 16 streams; every destination byte written once).
void pack_group(const uint8_t* src, size_t srb, int n, int64_t k, uint8_t* dst) {
  const int64_t nb = k / kQ8_0Block;
  const BlockQ8_0* rows[G];
  for (int l = 0; l < G; ++l) rows[l] = reinterpret_cast<const BlockQ8_0*>(src + std::min(l, n - 1) * srb);
  for (int64_t p = 0; p < (nb + 1) / 2; ++p) {
    uint8_t* pair = dst + p * kPairBytes;
    for (int i = 0; i < 2; ++i) {
      const int64_t b = 2 * p + i;
      auto* d = reinterpret_cast<uint16_t*>(pair + i * 2 * G);
      uint8_t* q = pair + 64 + i * (8 * G * 4);
      if (b >= nb) {
        std::memset(d, 0, 2 * G);
        std::memset(q, 0, 8 * G * 4);
        continue;
      }
      for (int l = 0; l < G; ++l) d[l] = l < n ? rows[l][b].d : 0;
      for (int j = 0; j < 8; ++j) {
        for (int l = 0; l < G; ++l) {
          uint32_t v = 0;
          if (l < n) std::memcpy(&v, rows[l][b].qs + 4 * j, 4);
          std::memcpy(q + (j * G + l) * 4, &v, 4);
        }
      }
    }
  }
}

void pack_rows_q8_0(const void* src, size_t src_row_bytes, int64_t n_rows, int64_t k, void* dst) {
  const auto* s = static_cast<const uint8_t*>(src);
  auto* d = static_cast<uint8_t*>(dst);
  const size_t gb = group_bytes(k);
  for (int64_t g = 0; g * G < n_rows; ++g) {
    const int n = static_cast<int>(std::min<int64_t>(G, n_rows - g * G));
    pack_group(s + g * G * src_row_bytes, src_row_bytes, n, k, d + g * gb);
  }
}

void unpack_rows_q8_0(const void* packed, int64_t n_rows, int64_t k, void* dst, size_t dst_row_bytes) {
  const auto* p = static_cast<const uint8_t*>(packed);
  const int64_t nb = k / kQ8_0Block;
  const size_t gb = group_bytes(k);
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* grp = p + (r / G) * gb;
    const int l = static_cast<int>(r % G);
    auto* row = reinterpret_cast<BlockQ8_0*>(static_cast<uint8_t*>(dst) + r * dst_row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* pair = grp + (b / 2) * kPairBytes;
      const int i = static_cast<int>(b % 2);
      std::memcpy(&row[b].d, pair + (i * G + l) * 2, 2);
      const uint8_t* q = pair + 64 + i * (8 * G * 4);
      for (int j = 0; j < 8; ++j) std::memcpy(row[b].qs + 4 * j, q + (j * G + l) * 4, 4);
    }
  }
}

// The reference: one output at a time, exactly the order in the header comment.
void gemm_packed_q8_0(const void* wp, int64_t k, const void* a, size_t a_row_bytes, int64_t r0, int64_t r1,
                      int64_t m, float* c, int64_t ldc) {
  const auto* p = static_cast<const uint8_t*>(wp);
  const int64_t nb = k / kQ8_0Block;
  const size_t gb = group_bytes(k);
  for (int64_t it = 0; it < m; ++it) {
    const auto* arow = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) + it * a_row_bytes);
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* grp = p + (r / G) * gb;
      const int l = static_cast<int>(r % G);
      float s = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* pair = grp + (b / 2) * kPairBytes;
        const int i = static_cast<int>(b % 2);
        uint16_t dw;
        std::memcpy(&dw, pair + (i * G + l) * 2, 2);
        const auto* q = reinterpret_cast<const int8_t*>(pair + 64 + i * (8 * G * 4));
        int32_t isum = 0;
        for (int j = 0; j < 8; ++j) {
          for (int e = 0; e < 4; ++e) isum += static_cast<int32_t>(q[(j * G + l) * 4 + e]) * arow[b].qs[4 * j + e];
        }
        const float d = fp16_to_f32(dw) * fp16_to_f32(arow[b].d);
        s = std::fma(static_cast<float>(isum), d, s);
      }
      c[it * ldc + r] = s;
    }
  }
}

}  // namespace

void pack_q8_0_row_into_group(const void* row, int slot, int64_t k, void* group) {
  const auto* blocks = static_cast<const BlockQ8_0*>(row);
  auto* grp = static_cast<uint8_t*>(group);
  for (int64_t b = 0; b < k / kQ8_0Block; ++b) {
    std::memcpy(grp + packed::block_d_offset(b) + slot * 2, &blocks[b].d, 2);
    uint8_t* q = grp + packed::block_q_offset(b);
    for (int j = 0; j < 8; ++j) std::memcpy(q + (j * G + slot) * 4, blocks[b].qs + 4 * j, 4);
  }
}

void fill_packed_q8_0_scalar(MatmulKernels& q8) {
  q8.packed_bytes = packed_bytes_q8_0;
  q8.pack_rows = pack_rows_q8_0;
  q8.unpack_rows = unpack_rows_q8_0;
  q8.gemm_packed = gemm_packed_q8_0;
}

}  // namespace deepcpu::kernels
