// Per-ISA CPU GEMM kernels: BLIS-style packing of A/B panels, register-blocked micro-kernels, fused epilogue.
//
// This file is compiled three times (base, AVX2+FMA, AVX-512) into pdk::PDK_ISA_NAMESPACE and
// gemm_cpu.cpp picks one copy at run time. ODR: the linker keeps ONE copy of every weak (inline or
// template) symbol for all three objects, possibly the AVX-512 one, which would then run on CPUs
// without AVX-512. So everything here lives in pdk::PDK_ISA_NAMESPACE (helpers in an anonymous
// namespace inside it), nothing instantiates a std:: template, there is no PDK_CHECK (gemm_cpu.cpp
// validates and allocates; the kernels return status codes) and the one shared template,
// apply_activation from gemm_common.h, is only called from the flatten-ed epilogue below, which
// forces it inline (`nm -C --defined-only` on the three objects shows no weak symbol outside
// pdk::isa_*).
//
// Loop nest (BLIS): jc over N in nc blocks, pc over K in kc blocks (the kc x nc B block is packed
// once per step by all threads together and shared), then the (M, N) block is cut into items
// (an mc-row A block x a chunk of NR panels) that threads take dynamically: each packs its A block
// into its own buffer, then jr over NR panels, ir over MR panels, and the micro-kernel multiplies
// an MR x kc A panel by a kc x NR B panel in registers. The B panel is reused across the ir loop
// from L1/L2, the mc x kc A block stays in L2, the B block in the outer caches. Dynamic items
// (rather than a static split) because these 2-core machines are shared: a thread the OS
// preempts then delays a step by a fraction of an item, not by half of the step.
#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "gemm/gemm_common.h"
#include "gemm/gemm_cpu_kernels.h"

namespace pdk::PDK_ISA_NAMESPACE {
namespace {

// Vector width of this object's instruction set, and the register tile per dtype: MR rows of A
// broadcast against NV vectors of B; MR * NV accumulators + NV B vectors + 1 broadcast fit the
// register file (AVX-512: 32 zmm -> 14 x 2 = 28 accumulators; AVX2 and SSE: 16 registers ->
// 6 x 2 = 12).
#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
constexpr int kMR = 14;
#elif defined(__AVX2__)
constexpr int kVectorBytes = 32;
constexpr int kMR = 6;
#else
constexpr int kVectorBytes = 16;
constexpr int kMR = 6;
#endif
constexpr int kNV = 2;

template <class T>
struct Vec;
template <>
struct Vec<float> {
  typedef float type __attribute__((vector_size(kVectorBytes)));
  // Unaligned, aliasing view of C rows.
  typedef float utype __attribute__((vector_size(kVectorBytes), aligned(4), may_alias));
};
template <>
struct Vec<double> {
  typedef double type __attribute__((vector_size(kVectorBytes)));
  typedef double utype __attribute__((vector_size(kVectorBytes), aligned(8), may_alias));
};
template <class T>
constexpr int kLanes = kVectorBytes / static_cast<int>(sizeof(T));
template <class T>
constexpr int kNR = kNV * kLanes<T>;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Element (i, k) of A and (k, j) of B, whatever their storage order.
template <class T>
struct Operands {
  const T* a;
  const T* b;
  int64_t lda, ldb;
  bool ta, tb;
};

// Packs one R-wide panel of depth kc: dst[k * R + i] = src[k * ks + i * is] for i < width, zero
// for width <= i < R, so the micro-kernel always runs a full tile. A's row panels and B's column
// panels are the same operation with the strides swapped.
template <class T, int R>
void pack_panel(const T* src, int64_t is, int64_t ks, int64_t width, int64_t kc, T* dst) {
  if (is == 1) {  // the panel's R elements are contiguous for each k
    for (int64_t k = 0; k < kc; ++k) {
      const T* s = src + k * ks;
      T* d = dst + k * R;
      int64_t i = 0;
      for (; i < width; ++i) d[i] = s[i];
      for (; i < R; ++i) d[i] = T(0);
    }
  } else if (width == R) {  // full panel, contiguous along k: R streams, contiguous stores
    const T* s[R];
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) s[i] = src + i * is;
    for (int64_t k = 0; k < kc; ++k) {
      T* d = dst + k * R;
#pragma GCC unroll 16
      for (int i = 0; i < R; ++i) d[i] = s[i][k * ks];
    }
  } else {  // edge panel, contiguous along k: read each line contiguously, write with stride R
    for (int64_t i = 0; i < width; ++i)
      for (int64_t k = 0; k < kc; ++k) dst[k * R + i] = src[i * is + k * ks];
    for (int64_t i = width; i < R; ++i)
      for (int64_t k = 0; k < kc; ++k) dst[k * R + i] = T(0);
  }
}

// Packs rows [i0, i0 + m) x columns [p0, p0 + kc) of A into MR-row panels: panel r holds
// dst[k * MR + i] = A(i0 + r * MR + i, p0 + k).
template <class T>
void pack_a(const Operands<T>& o, int64_t i0, int64_t m, int64_t p0, int64_t kc, T* dst) {
  const int64_t is = o.ta ? 1 : o.lda, ks = o.ta ? o.lda : 1;  // strides of row i and column k
  for (int64_t r0 = 0; r0 < m; r0 += kMR, dst += kMR * kc)
    pack_panel<T, kMR>(o.a + (i0 + r0) * is + p0 * ks, is, ks, min64(kMR, m - r0), kc, dst);
}

// Packs NR-column panels [q0, q1) of B rows [p0, p0 + kc) x columns [j0, j0 + n): panel q holds
// dst[q * kc * NR + k * NR + j] = B(p0 + k, j0 + q * NR + j), zero past column n.
template <class T>
void pack_b(const Operands<T>& o, int64_t p0, int64_t kc, int64_t j0, int64_t n, int64_t q0, int64_t q1,
            T* dst) {
  constexpr int NR = kNR<T>;
  const int64_t js = o.tb ? o.ldb : 1, ks = o.tb ? 1 : o.ldb;  // strides of column j and row k
  for (int64_t q = q0; q < q1; ++q)
    pack_panel<T, NR>(o.b + (j0 + q * NR) * js + p0 * ks, js, ks, min64(NR, n - q * NR), kc,
                      dst + q * kc * NR);
}

// The MR x NR register tile: acc = A panel (MR x kc) @ B panel (kc x NR), then C = acc
// (accumulate false) or C += acc. Full tiles store straight into C; edge tiles (m < MR or
// n < NR) go through a local tile so the kernel itself never branches on the shape.
template <class T>
void micro_kernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c, int64_t ldc,
                  int64_t m, int64_t n, bool accumulate) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  constexpr int MR = kMR, NV = kNV, L = kLanes<T>, NR = kNR<T>;
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    // The C tile is read (accumulate) and written at the end: start fetching it now so the
    // stores do not wait on memory.
    __builtin_prefetch(c + i * ldc, 1, 3);
    __builtin_prefetch(c + i * ldc + NR - 1, 1, 3);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = V{};
  }
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = *reinterpret_cast<const V*>(b + k * NR + v * L);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const T ai = a[k * MR + i];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] += bv[v] * ai;
    }
  }
  if (m == MR && n == NR) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        VU* p = reinterpret_cast<VU*>(c + i * ldc + v * L);
        if (accumulate) *p += acc[i][v];
        else *p = acc[i][v];
      }
    return;
  }
  alignas(64) T tile[MR * NR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) *reinterpret_cast<V*>(tile + i * NR + v * L) = acc[i][v];
  for (int64_t i = 0; i < m; ++i) {
    T* crow = c + i * ldc;
    const T* trow = tile + i * NR;
    if (accumulate)
      for (int64_t j = 0; j < n; ++j) crow[j] += trow[j];
    else
      for (int64_t j = 0; j < n; ++j) crow[j] = trow[j];
  }
}

// The fused epilogue on C rows [i0, i0 + m) x columns [j0, j0 + n), run once the last K block is
// in: C = act(C + bias + residual). flatten inlines apply_activation (see the ODR note above).
template <class T>
struct Epilogue {
  const T* bias;
  const T* residual;  // null: none (or already accumulated into C when C aliases it)
  int64_t ldr;
  BiasMode bias_mode;
  Activation act;
  T slope;
};

template <class T>
__attribute__((flatten)) void epilogue(const Epilogue<T>& e, T* c, int64_t ldc, int64_t i0, int64_t m,
                                       int64_t j0, int64_t n) {
  const bool col_bias = e.bias_mode == BiasMode::per_column && e.bias;
  const bool row_bias = e.bias_mode == BiasMode::per_row && e.bias;
  for (int64_t i = i0; i < i0 + m; ++i) {
    T* __restrict crow = c + i * ldc + j0;
    const T rb = row_bias ? e.bias[i] : T(0);
    if (col_bias) {
      const T* bcol = e.bias + j0;
      for (int64_t j = 0; j < n; ++j) crow[j] += bcol[j];
    }
    if (rb != T(0))
      for (int64_t j = 0; j < n; ++j) crow[j] += rb;
    if (e.residual) {
      const T* rrow = e.residual + i * e.ldr + j0;
      for (int64_t j = 0; j < n; ++j) crow[j] += rrow[j];
    }
    switch (e.act) {
      case Activation::none: break;
      case Activation::relu:
        for (int64_t j = 0; j < n; ++j) crow[j] = apply_activation(crow[j], Activation::relu, e.slope);
        break;
      case Activation::leaky_relu:
        for (int64_t j = 0; j < n; ++j) crow[j] = apply_activation(crow[j], Activation::leaky_relu, e.slope);
        break;
      default:
        for (int64_t j = 0; j < n; ++j) crow[j] = apply_activation(crow[j], e.act, e.slope);
    }
  }
}

// Splits [0, total) into `parts` contiguous ranges; returns range `index`.
inline void split(int64_t total, int64_t parts, int64_t index, int64_t* begin, int64_t* end) {
  *begin = total * index / parts;
  *end = total * (index + 1) / parts;
}

// Work items per (jc, pc) step handed out dynamically: about this many per thread. More items
// balance better under preemption, but every item repacks its A block (measured at 2048^3: 4 per
// thread ran ~8% faster than 8 on an idle machine).
constexpr int64_t kItemsPerThread = 4;
// NR panels of B packed per work item.
constexpr int64_t kPackPanels = 4;

// One thread's part of the whole product (tid of plan.threads): all threads run the same jc/pc
// loop; each step packs the shared B block, then hands out (A block, N chunk)
// items with a dynamic schedule. The implicit barrier of the item loop keeps B alive until every
// thread is done with it.
template <class T>
void gemm_thread(const GemmCpuPlan& plan, const Operands<T>& o, const Epilogue<T>& e, T* c, bool c_preloaded,
                 int64_t tid) {
  constexpr int MR = kMR, NR = kNR<T>;
  const GemmParams& p = plan.p;
  const int64_t nt = plan.threads, M = p.M, N = p.N, K = p.K, ldc = p.ldc;
  T* const apack = static_cast<T*>(plan.a_pack) + tid * plan.mc * plan.kc;
  T* const bpack = static_cast<T*>(plan.b_pack);
  const int64_t mblocks = (M + plan.mc - 1) / plan.mc;
  for (int64_t jc = 0; jc < N; jc += plan.nc) {
    const int64_t nb = min64(plan.nc, N - jc), panels = (nb + NR - 1) / NR;
    // N chunks per A block: enough items for the dynamic schedule; A is repacked per item, which
    // costs 1 / (chunk width) of the item's work.
    int64_t nchunks = (kItemsPerThread * nt + mblocks - 1) / mblocks;
    nchunks = nt == 1 ? 1 : (nchunks < panels ? nchunks : panels);
    const int64_t items = mblocks * nchunks;
    for (int64_t pc = 0; pc < K; pc += plan.kc) {
      const int64_t kb = min64(plan.kc, K - pc);
      const bool first = pc == 0, last = pc + kb == K;
      // The threads pack the B block's panels in groups, dynamically too; the implicit barrier
      // of the loop publishes the block before anyone multiplies with it.
      const int64_t groups = (panels + kPackPanels - 1) / kPackPanels;
      if (nt > 1) {
#pragma omp for schedule(dynamic, 1)
        for (int64_t g = 0; g < groups; ++g)
          pack_b(o, pc, kb, jc, nb, g * kPackPanels, min64(panels, (g + 1) * kPackPanels), bpack);
      } else {
        pack_b(o, pc, kb, jc, nb, 0, panels, bpack);
      }
      int64_t packed_ic = -1;  // the A block in apack (this step), to skip repacking it
      auto run_item = [&](int64_t item) {
        const int64_t ic = item / nchunks * plan.mc, mb = min64(plan.mc, M - ic);
        int64_t q0, q1;
        split(panels, nchunks, item % nchunks, &q0, &q1);
        if (packed_ic != ic) {
          pack_a(o, ic, mb, pc, kb, apack);
          packed_ic = ic;
        }
        for (int64_t q = q0; q < q1; ++q) {
          const int64_t j = q * NR, n = min64(NR, nb - j);
          const T* bp = bpack + q * kb * NR;
          for (int64_t ir = 0; ir < mb; ir += MR) {
            const int64_t m = min64(MR, mb - ir);
            T* ct = c + (ic + ir) * ldc + jc + j;
            micro_kernel(kb, apack + ir * kb, bp, ct, ldc, m, n, c_preloaded || !first);
          }
          if (last) epilogue(e, c, ldc, ic, mb, jc + j, n);
        }
      };
      if (nt > 1) {
        // Only inside run()'s own parallel region: an orphaned `omp for` with nt == 1 would bind
        // to a caller's enclosing team (e.g. a convolution calling the kernel per image).
#pragma omp for schedule(dynamic, 1)
        for (int64_t item = 0; item < items; ++item) run_item(item);
      } else {
        for (int64_t item = 0; item < items; ++item) run_item(item);
      }
    }
  }
}

template <class T>
int run(const GemmCpuPlan& plan, std::uintptr_t a, std::uintptr_t b, std::uintptr_t bias,
        std::uintptr_t residual, std::uintptr_t c) {
  const GemmParams& p = plan.p;
  T* cp = reinterpret_cast<T*>(c);
  const Operands<T> o{reinterpret_cast<const T*>(a), reinterpret_cast<const T*>(b), p.lda, p.ldb, p.trans_a,
                      p.trans_b};
  Epilogue<T> e{p.bias_mode != BiasMode::none ? reinterpret_cast<const T*>(bias) : nullptr,
                p.ldr != 0 ? reinterpret_cast<const T*>(residual) : nullptr,
                p.ldr,
                p.bias_mode,
                p.activation,
                static_cast<T>(p.negative_slope)};
  if (p.M == 0 || p.N == 0) return kGemmOk;
  if (p.K == 0) {  // C = act(bias + residual)
    for (int64_t i = 0; i < p.M; ++i) {
      T* crow = cp + i * p.ldc;
      if (e.residual == cp && p.ldr == p.ldc) continue;  // C is the residual: keep it
      for (int64_t j = 0; j < p.N; ++j) crow[j] = T(0);
    }
    if (e.residual == cp && p.ldr == p.ldc) e.residual = nullptr;
    epilogue(e, cp, p.ldc, 0, p.M, 0, p.N);
    return kGemmOk;
  }
  // C aliasing the residual (allowed by the contract): accumulate onto it from the first K block
  // instead of adding it in the epilogue, which would read it after it was overwritten.
  bool preloaded = false;
  if (e.residual == cp && p.ldr == p.ldc) {
    preloaded = true;
    e.residual = nullptr;
  }
#ifdef _OPENMP
  if (plan.threads > 1) {
#pragma omp parallel num_threads(plan.threads)
    {
      // OpenMP may give fewer threads than asked (nested regions, thread limits): run with the
      // team we got (the workspace holds plan.threads A blocks, enough for fewer).
      GemmCpuPlan team = plan;
      team.threads = omp_get_num_threads();
      gemm_thread(team, o, e, cp, preloaded, omp_get_thread_num());
    }
    return kGemmOk;
  }
#endif
  gemm_thread(plan, o, e, cp, preloaded, 0);
  return kGemmOk;
}

}  // namespace

void gemm_tile_shape(DType dtype, int64_t* mr, int64_t* nr) {
  *mr = kMR;
  *nr = dtype == DType::float32 ? kNR<float> : dtype == DType::float64 ? kNR<double> : 0;
  if (*nr == 0) *mr = 0;
}

int gemm_kernel(const GemmCpuPlan& plan, std::uintptr_t a, std::uintptr_t b, std::uintptr_t bias,
                std::uintptr_t residual, std::uintptr_t c, DType dtype) {
  switch (dtype) {
    case DType::float32: return run<float>(plan, a, b, bias, residual, c);
    case DType::float64: return run<double>(plan, a, b, bias, residual, c);
    default: return kGemmBadDtype;
  }
}

}  // namespace pdk::PDK_ISA_NAMESPACE
