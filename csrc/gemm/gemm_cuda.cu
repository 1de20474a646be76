// CUDA tiled GEMM, C = act(A @ B + bias + residual): the shared tile block (gemm_cuda_tile.cuh) with matrix loaders and the fused epilogue.
#include <cstdint>

#include "core/cuda_compat.h"
#include "gemm/gemm_common.h"
#include "gemm/gemm_cuda_tile.cuh"

namespace pdk::cuda {
namespace {

using tile::kThreads;
using tile::Tile;

// C's side of the block tile: bias (per column or per row), residual, activation, one store per
// element. A warp owns 16 x TN = 64 consecutive columns of 2 x TM rows; its TN stores per row fill
// the same 32-byte sectors, which L2 merges (rows of C need not be vector-aligned: ldc is arbitrary).
template <class T>
struct GemmEpilogue {
  const GemmParams& p;
  const T* __restrict__ bias;
  const T* residual;  // may alias c (store_fused)
  T* c;

  template <int TM, int TN>
  __device__ __forceinline__ void operator()(const T (&acc)[TM][TN], int64_t m_first, int64_t n_first) const {
    const T slope = static_cast<T>(p.negative_slope);
PDK_TILE_UNROLL
    for (int i = 0; i < TM; ++i) {
      const int64_t m = m_first + i;
      if (m >= p.M) break;
      const T row_bias = p.bias_mode == BiasMode::per_row ? __ldg(bias + m) : T(0);
PDK_TILE_UNROLL
      for (int j = 0; j < TN; ++j) {
        const int64_t n = n_first + j;
        if (n >= p.N) break;
        const T b = p.bias_mode == BiasMode::per_column ? __ldg(bias + n) : row_bias;
        store_fused(c + m * p.ldc + n, acc[i][j], b, p.ldr != 0 ? residual + m * p.ldr + n : nullptr, p.activation,
                    slope);
      }
    }
  }
};

template <class T, bool TransA, bool TransB>
__global__ void __launch_bounds__(kThreads, Tile<T>::kMinBlocks)
gemm_kernel(GemmParams p, const T* __restrict__ a, const T* __restrict__ b, const T* __restrict__ bias,
            const T* residual, T* c, int64_t tiles_m, int64_t tiles_n) {
  int64_t m0, n0;
  tile::tile_origin(blockIdx.x, tiles_m, tiles_n, Tile<T>::BM, Tile<T>::BN, m0, n0);
  tile::MatrixLoader<T, 'A', TransA> load_a{a, p.lda, p.M, p.K, m0};
  tile::MatrixLoader<T, 'B', TransB> load_b{b, p.ldb, p.K, p.N, n0};
  const GemmEpilogue<T> epilogue{p, bias, residual, c};
  tile::gemm_block_tile<T>(load_a, load_b, epilogue, p.K, m0, n0);
}

template <class T, bool TransA, bool TransB>
void launch_gemm(const GemmParams& p, const T* a, const T* b, const T* bias, const T* residual, T* c,
                 cudaStream_t stream) {
  using Cfg = Tile<T>;
  const int64_t tiles_m = (p.M + Cfg::BM - 1) / Cfg::BM, tiles_n = (p.N + Cfg::BN - 1) / Cfg::BN;
  const int64_t blocks = tiles_m * tiles_n;
  PDK_CHECK(blocks <= 2147483647, "gemm: ", p.M, " x ", p.N, " needs ", blocks, " blocks, over the grid limit");
  auto* kernel = &gemm_kernel<T, TransA, TransB>;
  PDK_LAUNCH(kernel, dim3(static_cast<unsigned>(blocks)), kThreads, 0, stream)
  (p, a, b, bias, residual, c, tiles_m, tiles_n);
}

}  // namespace

void gemm_forward(const GemmParams& p, std::uintptr_t a, std::uintptr_t b, std::uintptr_t bias,
                  std::uintptr_t residual, std::uintptr_t c, DType dtype, std::uintptr_t stream) {
  check_gemm_params(p);
  const int bias_mode = static_cast<int>(p.bias_mode), act = static_cast<int>(p.activation);
  PDK_CHECK(bias_mode >= 0 && bias_mode <= 2, "gemm: unknown bias mode ", bias_mode);
  PDK_CHECK(act >= 0 && act < kActivationCount, "gemm: unknown activation ", act);
  PDK_CHECK((bias != 0) == (p.bias_mode != BiasMode::none), "gemm: a bias pointer goes with a bias mode");
  PDK_CHECK(p.ldr == 0 || residual != 0, "gemm: ldr != 0 needs a residual pointer");
  if (p.M == 0 || p.N == 0) return;
  const cudaStream_t s = as_stream(stream);
  PDK_DISPATCH_FLOATING(dtype, "gemm", [&] {
    const auto* ap = reinterpret_cast<const scalar_t*>(a);
    const auto* bp = reinterpret_cast<const scalar_t*>(b);
    const auto* biasp = reinterpret_cast<const scalar_t*>(bias);
    const auto* rp = p.ldr != 0 ? reinterpret_cast<const scalar_t*>(residual) : nullptr;
    auto* cp = reinterpret_cast<scalar_t*>(c);
    if (p.trans_a) {
      if (p.trans_b) launch_gemm<scalar_t, true, true>(p, ap, bp, biasp, rp, cp, s);
      else launch_gemm<scalar_t, true, false>(p, ap, bp, biasp, rp, cp, s);
    } else {
      if (p.trans_b) launch_gemm<scalar_t, false, true>(p, ap, bp, biasp, rp, cp, s);
      else launch_gemm<scalar_t, false, false>(p, ap, bp, biasp, rp, cp, s);
    }
  });
  check_cuda_launch("gemm");
}

}  // namespace pdk::cuda
