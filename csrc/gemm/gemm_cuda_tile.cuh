// The CUDA tiled-GEMM block shared by the GEMM and the implicit-GEMM convolution: double-buffered shared tiles, register tiles, loader and epilogue policies.
#pragma once
#include <cstdint>

#include "core/cuda_compat.h"

// Full unrolling of the constant-trip tile loops (nvcc's spelling; the host compiler of the
// emulator only knows GCC's).
#if PDK_EMULATED
#define PDK_TILE_UNROLL _Pragma("GCC unroll 16")
#else
#define PDK_TILE_UNROLL _Pragma("unroll")
#endif

namespace pdk::cuda::tile {

// Block tile BM x BN, k-step BK, each thread owns a TM x TN register tile: (BM/TM) x (BN/TN) = 256
// threads. double halves BK so both types stage the same 17 KiB of shared memory (two stages of
// A and B, padded) and keep the per-thread staging registers low (4 + 4 floats, 2 + 2 doubles).
template <class T>
struct Tile;
template <>
struct Tile<float> {
  static constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4;
  static constexpr int kMinBlocks = 3;  // <= 80 registers: 3 x 256 threads per SM
};
template <>
struct Tile<double> {
  static constexpr int BM = 64, BN = 64, BK = 8, TM = 4, TN = 4;
  static constexpr int kMinBlocks = 2;  // <= 128 registers: 2 x 256 threads per SM
};

constexpr int kThreads = 256;
// Row padding of the shared tiles. Operands whose contiguous dimension is k are stored
// transposed, k-major: a float warp writes 16 k-rows of 2 columns at once; unpadded (stride 64
// words) the 16 rows share one bank (16-way conflict), with stride 68 it is 2-way. 4 keeps rows
// 16-byte aligned, so the compute loop's TM/TN consecutive reads become vector loads
// (ld.shared.v4.f32 / v2.f64 in the PTX).
constexpr int kPad = 4;
// Block-index swizzle: runs of kGroupM tile-rows walk the tile-columns together, so blocks that
// are resident at the same time share A rows and B columns in L2.
constexpr int64_t kGroupM = 8;

// The first row and column of the tile that block `bid` of a 1-D grid computes, in the grouped
// order (no 65535 limit on either tile count).
__device__ __forceinline__ void tile_origin(int64_t bid, int64_t tiles_m, int64_t tiles_n, int64_t bm, int64_t bn,
                                            int64_t& m0, int64_t& n0) {
  const int64_t per_group = kGroupM * tiles_n;
  const int64_t first_m = bid / per_group * kGroupM;
  const int64_t rows_in_group = tiles_m - first_m < kGroupM ? tiles_m - first_m : kGroupM;
  const int64_t in_group = bid % per_group;
  m0 = (first_m + in_group % rows_in_group) * bm;
  n0 = in_group / rows_in_group * bn;
}

// Which element of an operand tile staging register r of thread `tid` holds: `x` along the
// operand's M (A) or N (B) side of extent Extent, `kk` along k. Consecutive threads take
// consecutive elements along the operand's contiguous dimension (KFastest: k), so the global
// loads coalesce. Loaders and the shared-memory store use this one mapping.
template <int Extent, int BK, bool KFastest>
__device__ __forceinline__ void stage_coord(int tid, int r, int& x, int& kk) {
  const int e = tid + r * kThreads;
  if constexpr (KFastest) {
    kk = e % BK;
    x = e / BK;
  } else {
    x = e % Extent;
    kk = e / Extent;
  }
}

// A row-major matrix operand (or its transpose) as a tile loader: A [M, K] (Side = 'A') or
// B [K, N] (Side = 'B'); Trans: stored as the transpose, row stride `ld` in elements.
template <class T, char Side, bool Trans>
struct MatrixLoader {
  static constexpr bool kIsA = Side == 'A';
  // A's contiguous dimension is k unless transposed; B's is n unless transposed.
  static constexpr bool kKFastest = kIsA != Trans;
  static constexpr int kExtent = kIsA ? Tile<T>::BM : Tile<T>::BN;
  const T* __restrict__ data;
  int64_t ld, rows, cols;  // rows x cols of the logical operand (M x K or K x N)
  int64_t origin;          // first row (A) or column (B) of the block's tile

  // Registers for the k-tile at k0; zero outside the matrix (edges in M, N and K).
  template <int L>
  __device__ __forceinline__ void load(T (&v)[L], int64_t k0) const {
    constexpr int BK = Tile<T>::BK;
PDK_TILE_UNROLL
    for (int r = 0; r < L; ++r) {
      int x, kk;
      stage_coord<kExtent, BK, kKFastest>(threadIdx.x, r, x, kk);
      const int64_t gx = origin + x, gk = k0 + kk;
      const int64_t row = kIsA ? gx : gk, col = kIsA ? gk : gx;
      v[r] = T(0);
      if (row < rows && col < cols) v[r] = __ldg(data + (Trans ? col * ld + row : row * ld + col));
    }
  }
};

// One block's BM x BN tile of A @ B, handed to `epilogue` as each thread's TM x TN register tile.
//
// LoadA / LoadB policies: `static constexpr bool kKFastest` (the staging order, see stage_coord)
// and `template <int L> void load(T (&v)[L], int64_t k0)`, which fills the thread's L staged
// elements of the k-tile starting at k0 (zero outside the operand). load is called for
// k0 = 0, BK, 2 BK, ... in this order, once each, so a loader may advance its own state.
// Epilogue: `template <int TM, int TN> void operator()(const T (&acc)[TM][TN], int64_t m, int64_t n)`
// for rows m.. and columns n.. (it checks the edges itself).
// Every thread of the block must call this (it contains barriers); K is block-uniform.
template <class T, class LoadA, class LoadB, class Epilogue>
__device__ __forceinline__ void gemm_block_tile(LoadA& load_a, LoadB& load_b, const Epilogue& epilogue, int64_t K,
                                                int64_t m0, int64_t n0) {
  using Cfg = Tile<T>;
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, TM = Cfg::TM, TN = Cfg::TN;
  constexpr int kThreadsN = BN / TN;
  static_assert((BM / TM) * (BN / TN) == kThreads, "one register tile per thread");
  constexpr int LA = BM * BK / kThreads, LB = BK * BN / kThreads;  // staged elements per thread
  static_assert(LA * kThreads == BM * BK && LB * kThreads == BK * BN, "tiles split evenly");

  __shared__ __align__(16) T as[2][BK][BM + kPad];
  __shared__ __align__(16) T bs[2][BK][BN + kPad];

  const int tid = threadIdx.x;
  const int tx = tid % kThreadsN, ty = tid / kThreadsN;

  T ra[LA], rb[LB];
  auto store_tile = [&](int stage) {
PDK_TILE_UNROLL
    for (int r = 0; r < LA; ++r) {
      int mm, kk;
      stage_coord<BM, BK, LoadA::kKFastest>(tid, r, mm, kk);
      as[stage][kk][mm] = ra[r];
    }
PDK_TILE_UNROLL
    for (int r = 0; r < LB; ++r) {
      int nn, kk;
      stage_coord<BN, BK, LoadB::kKFastest>(tid, r, nn, kk);
      bs[stage][kk][nn] = rb[r];
    }
  };

  T acc[TM][TN];
PDK_TILE_UNROLL
  for (int i = 0; i < TM; ++i)
PDK_TILE_UNROLL
    for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

  // Double buffering, one barrier per k-step: while stage s is read, the next tile's global loads
  // are in flight (registers) and land in stage s^1 afterwards. Writing s^1 at step t is safe
  // because every thread finished reading s^1 (step t-1) before the barrier that ended step t-1;
  // the barrier that ends step t publishes s^1 for step t+1 and orders step t's reads of s before
  // step t+1 overwrites s. The loop bounds and `more` are block-uniform, so every thread reaches
  // every barrier. K == 0: no k-tiles, the epilogue alone gives act(bias + residual).
  const int64_t k_tiles = (K + BK - 1) / BK;
  if (k_tiles > 0) {
    load_a.load(ra, 0);
    load_b.load(rb, 0);
    store_tile(0);
    __syncthreads();
  }
  for (int64_t t = 0; t < k_tiles; ++t) {
    const int s = static_cast<int>(t & 1);
    const bool more = t + 1 < k_tiles;
    if (more) {
      load_a.load(ra, (t + 1) * BK);
      load_b.load(rb, (t + 1) * BK);
    }
PDK_TILE_UNROLL
    for (int kk = 0; kk < BK; ++kk) {
      T fa[TM], fb[TN];
PDK_TILE_UNROLL
      for (int i = 0; i < TM; ++i) fa[i] = as[s][kk][ty * TM + i];
PDK_TILE_UNROLL
      for (int j = 0; j < TN; ++j) fb[j] = bs[s][kk][tx * TN + j];
PDK_TILE_UNROLL
      for (int i = 0; i < TM; ++i)
PDK_TILE_UNROLL
        for (int j = 0; j < TN; ++j) acc[i][j] += fa[i] * fb[j];
    }
    if (more) {
      store_tile(s ^ 1);
      __syncthreads();
    }
  }

  epilogue(acc, m0 + ty * TM, n0 + tx * TN);
}

}  // namespace pdk::cuda::tile
