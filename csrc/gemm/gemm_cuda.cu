// CUDA tiled GEMM, C = act(A @ B + bias + residual): double-buffered shared-memory tiles, register tiles, fused epilogue.
#include <cstdint>

#include "core/cuda_compat.h"
#include "gemm/gemm_common.h"

// Full unrolling of the constant-trip tile loops (nvcc's spelling; the host compiler of the
// emulator only knows GCC's).
#if PDK_EMULATED
#define PDK_GEMM_UNROLL _Pragma("GCC unroll 16")
#else
#define PDK_GEMM_UNROLL _Pragma("unroll")
#endif

namespace pdk::cuda {
namespace {

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
// Row padding of the shared tiles. Operands whose contiguous dimension is k (A not transposed,
// B transposed) are stored transposed, k-major: a float warp writes 16 k-rows of 2 columns at
// once; unpadded (stride 64 words) the 16 rows share one bank (16-way conflict), with stride 68
// it is 2-way. 4 keeps rows 16-byte aligned, so the compute loop's TM/TN consecutive reads become
// vector loads (ld.shared.v4.f32 / v2.f64 in the PTX).
constexpr int kPad = 4;
// Block-index swizzle: runs of kGroupM tile-rows walk the tile-columns together, so blocks that
// are resident at the same time share A rows and B columns in L2.
constexpr int64_t kGroupM = 8;

template <class T, bool TransA, bool TransB>
__global__ void __launch_bounds__(kThreads, Tile<T>::kMinBlocks)
gemm_kernel(GemmParams p, const T* __restrict__ a, const T* __restrict__ b, const T* __restrict__ bias,
            const T* residual, T* c, int64_t tiles_m, int64_t tiles_n) {
  // residual and c are not __restrict__: the contract lets C alias the residual exactly (each
  // element is read and then written by the same thread).
  using Cfg = Tile<T>;
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, TM = Cfg::TM, TN = Cfg::TN;
  constexpr int kThreadsN = BN / TN;
  static_assert((BM / TM) * (BN / TN) == kThreads, "one register tile per thread");
  constexpr int LA = BM * BK / kThreads, LB = BK * BN / kThreads;  // staged elements per thread
  static_assert(LA * kThreads == BM * BK && LB * kThreads == BK * BN, "tiles split evenly");

  __shared__ __align__(16) T as[2][BK][BM + kPad];
  __shared__ __align__(16) T bs[2][BK][BN + kPad];

  // Grouped ordering of the 1-D grid (no 65535 limit on either tile count).
  const int64_t bid = blockIdx.x, per_group = kGroupM * tiles_n;
  const int64_t first_m = bid / per_group * kGroupM;
  const int64_t rows_in_group = tiles_m - first_m < kGroupM ? tiles_m - first_m : kGroupM;
  const int64_t in_group = bid % per_group;
  const int64_t m0 = (first_m + in_group % rows_in_group) * BM;
  const int64_t n0 = in_group / rows_in_group * BN;

  const int tid = threadIdx.x;
  const int tx = tid % kThreadsN, ty = tid / kThreadsN;
  const int64_t M = p.M, N = p.N, K = p.K;

  // Staging element r of this thread: consecutive threads take consecutive addresses along the
  // operand's contiguous dimension (coalesced global loads).
  auto a_coord = [&](int r, int& mm, int& kk) {
    const int e = tid + r * kThreads;
    if constexpr (TransA) { mm = e % BM; kk = e / BM; }
    else { kk = e % BK; mm = e / BK; }
  };
  auto b_coord = [&](int r, int& kk, int& nn) {
    const int e = tid + r * kThreads;
    if constexpr (TransB) { kk = e % BK; nn = e / BK; }
    else { nn = e % BN; kk = e / BN; }
  };
  // Global -> registers for the k-tile at k0; zero outside the matrices (edges in M, N and K).
  T ra[LA], rb[LB];
  auto load_tile = [&](int64_t k0) {
PDK_GEMM_UNROLL
    for (int r = 0; r < LA; ++r) {
      int mm, kk;
      a_coord(r, mm, kk);
      const int64_t gm = m0 + mm, gk = k0 + kk;
      ra[r] = T(0);
      if (gm < M && gk < K) ra[r] = __ldg(a + (TransA ? gk * p.lda + gm : gm * p.lda + gk));
    }
PDK_GEMM_UNROLL
    for (int r = 0; r < LB; ++r) {
      int kk, nn;
      b_coord(r, kk, nn);
      const int64_t gk = k0 + kk, gn = n0 + nn;
      rb[r] = T(0);
      if (gk < K && gn < N) rb[r] = __ldg(b + (TransB ? gn * p.ldb + gk : gk * p.ldb + gn));
    }
  };
  auto store_tile = [&](int stage) {
PDK_GEMM_UNROLL
    for (int r = 0; r < LA; ++r) {
      int mm, kk;
      a_coord(r, mm, kk);
      as[stage][kk][mm] = ra[r];
    }
PDK_GEMM_UNROLL
    for (int r = 0; r < LB; ++r) {
      int kk, nn;
      b_coord(r, kk, nn);
      bs[stage][kk][nn] = rb[r];
    }
  };

  T acc[TM][TN];
PDK_GEMM_UNROLL
  for (int i = 0; i < TM; ++i)
PDK_GEMM_UNROLL
    for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

  // Double buffering, one barrier per k-step: while stage s is read, the next tile's global loads
  // are in flight (registers) and land in stage s^1 afterwards. Writing s^1 at step t is safe
  // because every thread finished reading s^1 (step t-1) before the barrier that ended step t-1;
  // the barrier that ends step t publishes s^1 for step t+1 and orders step t's reads of s before
  // step t+1 overwrites s. The loop bounds and `more` are block-uniform, so every thread reaches
  // every barrier. K == 0: no k-tiles, the epilogue alone gives act(bias + residual).
  const int64_t k_tiles = (K + BK - 1) / BK;
  if (k_tiles > 0) {
    load_tile(0);
    store_tile(0);
    __syncthreads();
  }
  for (int64_t t = 0; t < k_tiles; ++t) {
    const int s = static_cast<int>(t & 1);
    const bool more = t + 1 < k_tiles;
    if (more) load_tile((t + 1) * BK);
PDK_GEMM_UNROLL
    for (int kk = 0; kk < BK; ++kk) {
      T fa[TM], fb[TN];
PDK_GEMM_UNROLL
      for (int i = 0; i < TM; ++i) fa[i] = as[s][kk][ty * TM + i];
PDK_GEMM_UNROLL
      for (int j = 0; j < TN; ++j) fb[j] = bs[s][kk][tx * TN + j];
PDK_GEMM_UNROLL
      for (int i = 0; i < TM; ++i)
PDK_GEMM_UNROLL
        for (int j = 0; j < TN; ++j) acc[i][j] += fa[i] * fb[j];
    }
    if (more) {
      store_tile(s ^ 1);
      __syncthreads();
    }
  }

  // Fused epilogue: bias (per column or per row), residual, activation, one store per element.
  // A warp owns 16 x TN = 64 consecutive columns of 2 x TM rows; its TN stores per row fill the
  // same 32-byte sectors, which L2 merges (rows of C need not be vector-aligned: ldc is arbitrary).
  const T slope = static_cast<T>(p.negative_slope);
PDK_GEMM_UNROLL
  for (int i = 0; i < TM; ++i) {
    const int64_t m = m0 + ty * TM + i;
    if (m >= M) break;
    const T row_bias = p.bias_mode == BiasMode::per_row ? __ldg(bias + m) : T(0);
PDK_GEMM_UNROLL
    for (int j = 0; j < TN; ++j) {
      const int64_t n = n0 + tx * TN + j;
      if (n >= N) break;
      T v = acc[i][j] + row_bias;
      if (p.bias_mode == BiasMode::per_column) v += __ldg(bias + n);
      if (p.ldr != 0) v += residual[m * p.ldr + n];
      c[m * p.ldc + n] = apply_activation(v, p.activation, slope);
    }
  }
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
  PDK_CHECK(act >= 0 && act <= 5, "gemm: unknown activation ", act);
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
