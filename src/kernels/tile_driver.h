// The tile driver shared by the ISA folders' unpacked gemms. A tile body Tile<R, T>::run
// computes R weight rows x T tokens over the whole k and writes c[t * ldc + r]; the driver
// walks tokens in blocks of about kTokenBlockBytes of activations while weight panels of
// NR rows stream past, and covers ragged edges with smaller instantiations. A single token
// (GEMV, decode) may take taller tiles of kGemvRows rows: more independent weight streams
// in flight, same per-element arithmetic.
//
// Everything here is in an anonymous namespace on purpose: each ISA file instantiates it
// with its own compile flags, so no instantiation may be shared between files.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace deepcpu::kernels {
namespace {

using TileFn = void (*)(const uint8_t* w, size_t wrb, const uint8_t* a, size_t arb, int64_t k, float* c,
                        int64_t ldc);

template <template <int, int> class Tile, int NR, int NT>
constexpr std::array<std::array<TileFn, NT>, NR> make_tiles() {
  std::array<std::array<TileFn, NT>, NR> t{};
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((t[I / NT][I % NT] = &Tile<I / NT + 1, I % NT + 1>::run), ...);
  }(std::make_integer_sequence<int, NR * NT>{});
  return t;
}

template <template <int, int> class Tile, int NR, int NT, int kGemvRows = NR, size_t kTokenBlockBytes = 256 * 1024>
void gemm_tiled(const void* w, size_t wrb, const void* a, size_t arb, int64_t k, int64_t r0, int64_t r1, int64_t m,
                float* c, int64_t ldc) {
  static constexpr auto kTiles = make_tiles<Tile, NR, NT>();
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  if constexpr (kGemvRows != NR) {
    if (m == 1) {
      static constexpr auto kGemv = make_tiles<Tile, kGemvRows, 1>();
      for (int64_t ir = r0; ir < r1; ir += kGemvRows) {
        const int nr = static_cast<int>(std::min<int64_t>(kGemvRows, r1 - ir));
        kGemv[nr - 1][0](wb + ir * wrb, wrb, ab, arb, k, c + ir, ldc);
      }
      return;
    }
  }
  int64_t token_block = static_cast<int64_t>(kTokenBlockBytes / std::max<size_t>(arb, 1));
  token_block = std::max<int64_t>(NT, token_block / NT * NT);
  for (int64_t t0 = 0; t0 < m; t0 += token_block) {
    const int64_t t1 = std::min(m, t0 + token_block);
    for (int64_t ir = r0; ir < r1; ir += NR) {
      const int nr = static_cast<int>(std::min<int64_t>(NR, r1 - ir));
      for (int64_t it = t0; it < t1; it += NT) {
        const int nt = static_cast<int>(std::min<int64_t>(NT, t1 - it));
        kTiles[nr - 1][nt - 1](wb + ir * wrb, wrb, ab + it * arb, arb, k, c + it * ldc + ir, ldc);
      }
    }
  }
}

}  // namespace
}  // namespace deepcpu::kernels
