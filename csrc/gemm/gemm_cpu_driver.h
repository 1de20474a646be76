// The per-ISA GEMM driver (packing, micro-kernel, epilogue, threaded BLIS loop nest) as templates for the per-ISA kernel files.
//
// Included only by files compiled once per instruction set (gemm_cpu_kernels.cpp,
// conv_cpu_kernels.cpp), inside pdk::PDK_ISA_NAMESPACE and an anonymous namespace, so every
// instantiation stays local to its object (see the ODR note in gemm_cpu_kernels.cpp).
//
// Loop nest (BLIS): jc over N in nc blocks, pc over K in kc blocks (the kc x nc B block is packed
// once per step by all threads together and shared), then the (M, N) block is cut into items
// (an mc-row A block x a chunk of NR panels) that threads take dynamically: each packs its A block
// into its own buffer, then jr over NR panels, ir over MR panels, and the micro-kernel multiplies
// an MR x kc A panel by a kc x NR B panel in registers. The B panel is reused across the ir loop
// from L1/L2, the mc x kc A block stays in L2, the B block in the outer caches. Dynamic items
// (rather than a static split) because these 2-core machines are shared: a thread the OS
// preempts then delays a step by a fraction of an item, not by half of the step.
#pragma once
#include <cstdint>
#include <utility>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/isa_intrinsics.h"
#include "gemm/gemm_common.h"
#include "gemm/gemm_cpu_kernels.h"

#ifndef PDK_ISA_NAMESPACE
#error "gemm_cpu_driver.h is for the per-ISA kernel files only"
#endif

namespace pdk::PDK_ISA_NAMESPACE {
namespace {

#include "core/isa_vector.h"
#include "core/isa_rows.h"
#include "core/isa_work_ranges.h"

// The register tile per dtype: MR rows of A broadcast against NV vectors of B; MR * NV
// accumulators + NV B vectors + 1 broadcast fit the register file (AVX-512: 32 zmm -> 14 x 2 = 28
// accumulators; AVX2 and SSE: 16 registers -> 6 x 2 = 12).
#if defined(__AVX512F__)
constexpr int kMR = 14;
#else
constexpr int kMR = 6;
#endif
constexpr int kNV = kGemmPanelVectors;

template <class T>
constexpr int kNR = kNV * static_cast<int>(kLanes<T>);

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Transposes L x L blocks in registers (L = lanes of T): rows[i][k] becomes rows[k][i]. Stage B
// swaps bit log2(B) of the row index with the same bit of the lane index, pairing rows i and
// i + B with one two-input shuffle per output row, so the block costs log2(L) * L shuffles
// instead of L * L scalar moves.
// Only the first N rows take part (a reduction's stage B needs rows [0, 2B) alone).
template <class T, int B, int N, int... K>
__attribute__((always_inline)) inline void transpose_stage(typename Vec<T>::type* rows,
                                                           std::integer_sequence<int, K...>) {
  constexpr int L = static_cast<int>(kLanes<T>);
#pragma GCC unroll 16
  for (int i = 0; i < N; ++i) {
    if (i & B) continue;
    const typename Vec<T>::type lo = rows[i], hi = rows[i + B];
    // Lanes with bit B clear keep row i's lane k and take row i + B's lane k - B, and vice versa.
    rows[i] = __builtin_shufflevector(lo, hi, ((K & B) == 0 ? K : L + K - B)...);
    rows[i + B] = __builtin_shufflevector(lo, hi, ((K & B) == 0 ? K + B : L + K)...);
  }
}
template <class T, int B = static_cast<int>(kLanes<T>) / 2>
__attribute__((always_inline)) inline void transpose_block(typename Vec<T>::type* rows) {
  if constexpr (B >= 1) {
    constexpr int L = static_cast<int>(kLanes<T>);
    transpose_stage<T, B, L>(rows, std::make_integer_sequence<int, L>{});
    transpose_block<T, B / 2>(rows);
  }
}

// Packs one R-wide panel of depth kc: dst[k * R + i] = src[k * ks + i * is] for i < width, zero
// for width <= i < R, so the micro-kernel always runs a full tile. A's row panels and B's column
// panels are the same operation with the strides swapped.
template <class T, int R>
void pack_panel(const T* src, int64_t is, int64_t ks, int64_t width, int64_t kc, T* dst) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  constexpr int64_t L = kLanes<T>;
  if (is == 1) {  // the panel's R elements are contiguous for each k
    for (int64_t k = 0; k < kc; ++k) {
      const T* s = src + k * ks;
      T* d = dst + k * R;
      int64_t i = 0;
      for (; i < width; ++i) d[i] = s[i];
      for (; i < R; ++i) d[i] = T(0);
    }
    return;
  }
  int64_t k0 = 0;
  // Lines contiguous along k (a transposed operand: weights [N, K] as B, the RNN's W_hh; A's rows,
  // convolution weights [C_out, K]): L x L blocks transposed in registers, L lines of the source
  // read once per block. A panel that is not a multiple of L wide (A's 14 rows against 16 float
  // lanes) stores part of its last group's lanes. Element by element, A's R streams, a weight row
  // (8 KiB for 2048 channels) apart, fell into one L1 set: packing ResNet's 1x1 2048->512
  // weights took 40% of the batch-1 convolution.
  if (ks == 1) {
    constexpr int64_t tail = R % L;
    const auto tail_mask = Partial<T>::mask(tail == 0 ? L : tail);
    for (; k0 + L <= kc; k0 += L)
#pragma GCC unroll 4
      for (int64_t i0 = 0; i0 < R; i0 += L) {
        V rows[L];
#pragma GCC unroll 16
        for (int64_t i = 0; i < L; ++i)
          rows[i] = i0 + i < width ? V(*reinterpret_cast<const VU*>(src + (i0 + i) * is + k0)) : V{};
        transpose_block<T>(rows);
        if (tail == 0 || i0 + L <= R) {
#pragma GCC unroll 16
          for (int64_t k = 0; k < L; ++k) *reinterpret_cast<VU*>(dst + (k0 + k) * R + i0) = rows[k];
        } else {
#pragma GCC unroll 16
          for (int64_t k = 0; k < L; ++k) Partial<T>::store(dst + (k0 + k) * R + i0, rows[k], tail_mask);
        }
      }
  }
  if (k0 == kc) return;
  src += k0 * ks;
  dst += k0 * R;
  kc -= k0;
  if (width == R) {  // full panel, contiguous along k: R streams, contiguous stores
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

// A stored matrix as the A operand: packs rows [i0, i0 + m) x columns [p0, p0 + kc) into MR-row
// panels, panel r holding dst[k * MR + i] = A(i0 + r * MR + i, p0 + k).
template <class T>
struct MatrixA {
  const T* a;
  int64_t lda;
  bool trans;
  void operator()(int64_t i0, int64_t m, int64_t p0, int64_t kc, T* dst) const {
    const int64_t is = trans ? 1 : lda, ks = trans ? lda : 1;  // strides of row i and column k
    for (int64_t r0 = 0; r0 < m; r0 += kMR, dst += kMR * kc)
      pack_panel<T, kMR>(a + (i0 + r0) * is + p0 * ks, is, ks, min64(kMR, m - r0), kc, dst);
  }
};

// An A operand packed ahead, whole: K block pc holds the MR-row panels of all M rows (padded to
// m_padded), so block (ic, pc) starts at pc * m_padded + ic * kb (every earlier K block is kc
// deep). Packed once per call by all threads together (pack_whole_a) instead of once per work
// item: a convolution with a small output plane (ResNet's 7x7 layers: 49 columns against 2048 x
// 512 weights) otherwise spent as long repacking its weights as multiplying them.
template <class T>
struct PackedA {
  const T* panels;
  int64_t m_padded;
  const T* block(int64_t ic, int64_t pc, int64_t kb) const { return panels + pc * m_padded + ic * kb; }
};

// m rounded up to whole MR-row panels.
inline int64_t padded_rows(int64_t m) { return (m + kMR - 1) / kMR * kMR; }

// Packs the M x K operand `a` into the PackedA layout at dst, K blocks of kc. team: the calling
// threads share the work (an `omp for`, ending with its barrier); otherwise this thread does all.
template <class T, class PackA>
void pack_whole_a(const PackA& a, int64_t M, int64_t K, int64_t kc, T* dst, bool team) {
  const int64_t panels = (M + kMR - 1) / kMR, tasks = panels * ((K + kc - 1) / kc), m_padded = panels * kMR;
  auto pack = [&](int64_t t) {
    const int64_t pc = t / panels * kc, r = t % panels * kMR, kb = min64(kc, K - pc);
    a(r, min64(kMR, M - r), pc, kb, dst + pc * m_padded + r * kb);
  };
  if (team) {
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) pack(t);
  } else {
    for (int64_t t = 0; t < tasks; ++t) pack(t);
  }
}

// A stored matrix as the B operand: packs NR-column panels [q0, q1) of rows [p0, p0 + kc) x
// columns [j0, j0 + n), panel q holding dst[q * kc * NR + k * NR + j] = B(p0 + k, j0 + q * NR + j),
// zero past column n. Any type with this call operator can be the B operand of gemm_thread (the
// convolution's im2col gather is one).
template <class T>
struct MatrixB {
  const T* b;
  int64_t ldb;
  bool trans;
  void operator()(int64_t p0, int64_t kc, int64_t j0, int64_t n, int64_t q0, int64_t q1, T* dst) const {
    constexpr int NR = kNR<T>;
    const int64_t js = trans ? ldb : 1, ks = trans ? 1 : ldb;  // strides of column j and row k
    for (int64_t q = q0; q < q1; ++q)
      pack_panel<T, NR>(b + (j0 + q * NR) * js + p0 * ks, js, ks, min64(NR, n - q * NR), kc, dst + q * kc * NR);
  }
};

// How many k steps ahead the micro-kernel prefetches its A and B panels.
constexpr int64_t kPrefetchAhead = 8;

// Where the micro-kernel reads the kc rows of its NR-wide B panel, as vector v (< NV) of row k: a
// packed panel (row k at b + k * NR), rows that stay where they are in memory (row k at base +
// offsets[k]: the direct convolution's shifted views of its input, conv_cpu_kernels.cpp), or rows
// whose vectors each stay where they are (vector v of row k at base[v] + offsets[k]: the direct
// convolution when an output row is a whole number of vectors, so that a panel's vectors are
// pieces of output rows that need not follow each other in the copy).
template <class T>
struct PackedRows {
  const T* b;
  const T* vector(int64_t k, int v) const { return b + k * kNR<T> + v * kLanes<T>; }
  void prefetch(int64_t k) const { __builtin_prefetch(b + (k + kPrefetchAhead) * kNR<T>, 0, 3); }
};
template <class T>
struct OffsetRows {
  const T* base;
  const int64_t* offsets;
  const T* vector(int64_t k, int v) const { return base + offsets[k] + v * kLanes<T>; }
  // The same row of the next panel (rows of other k may not exist): it is read from memory the
  // first time, by 2 x kc scattered lines the hardware prefetchers do not follow.
  void prefetch(int64_t k) const {
    __builtin_prefetch(base + offsets[k] + kNR<T>, 0, 3);
    __builtin_prefetch(base + offsets[k] + kNR<T> + kLanes<T>, 0, 3);
  }
};
template <class T>
struct VectorRows {
  const T* base[kNV];
  const int64_t* offsets;
  const T* vector(int64_t k, int v) const { return base[v] + offsets[k]; }
  // The next panel mostly goes on along the last vector's output row.
  void prefetch(int64_t k) const {
    __builtin_prefetch(base[kNV - 1] + offsets[k] + kLanes<T>, 0, 3);
    __builtin_prefetch(base[kNV - 1] + offsets[k] + 2 * kLanes<T>, 0, 3);
  }
};

// The fused epilogue, C = act(C + bias + residual), applied to each C tile once its last K block
// is in: in registers before the store, for full tiles (finish_registers) and for the masked
// lanes of edge and row-crossing tiles (store_runs); by finish_region for outputs written through
// a local tile. flatten inlines apply_activation (see the ODR note above).
template <class T>
struct Epilogue {
  const T* bias;
  const T* residual;  // null: none (or already accumulated into C when C aliases it)
  int64_t ldr;
  BiasMode bias_mode;
  Activation act;
  T slope;
};

// row[j] = act(row[j]) for j < n. The activation is a constant in each loop so that the loop
// vectorises: with `act` read per element (the default case), relu6 ran 5x slower than relu.
template <class T>
__attribute__((flatten)) void activate_row(T* __restrict row, int64_t n, Activation act, T slope) {
  switch (act) {
    case Activation::none: return;
    case Activation::relu:
      for (int64_t j = 0; j < n; ++j) row[j] = apply_activation(row[j], Activation::relu, slope);
      return;
    case Activation::leaky_relu:
      for (int64_t j = 0; j < n; ++j) row[j] = apply_activation(row[j], Activation::leaky_relu, slope);
      return;
    case Activation::relu6:
      for (int64_t j = 0; j < n; ++j) row[j] = apply_activation(row[j], Activation::relu6, slope);
      return;
    default:  // sigmoid, tanh, gelu: libm calls per element either way
      for (int64_t j = 0; j < n; ++j) row[j] = apply_activation(row[j], act, slope);
  }
}

// The epilogue on the m x n block of C at c (row stride ldc), whose first element is (i0, j0) in
// the epilogue's coordinates (bias index, residual position).
template <class T>
__attribute__((flatten)) void finish_region(const Epilogue<T>& e, int64_t i0, int64_t j0, T* c, int64_t ldc,
                                            int64_t m, int64_t n) {
  const bool col_bias = e.bias_mode == BiasMode::per_column && e.bias;
  const bool row_bias = e.bias_mode == BiasMode::per_row && e.bias;
  for (int64_t i = 0; i < m; ++i) {
    T* __restrict crow = c + i * ldc;
    const T rb = row_bias ? e.bias[i0 + i] : T(0);
    if (col_bias) {
      const T* bcol = e.bias + j0;
      for (int64_t j = 0; j < n; ++j) crow[j] += bcol[j];
    }
    if (rb != T(0))
      for (int64_t j = 0; j < n; ++j) crow[j] += rb;
    if (e.residual) {
      const T* rrow = e.residual + (i0 + i) * e.ldr + j0;
      for (int64_t j = 0; j < n; ++j) crow[j] += rrow[j];
    }
    activate_row(crow, n, e.act, e.slope);
  }
}

// ((C + acc) + column bias + row bias) + residual for the vector of C at `cvec`, the same order as
// finish_region. (row, col) are the epilogue's coordinates of its lane 0; `load` reads a vector
// of C, bias or residual at a pointer (whole, or only the lanes being stored).
template <class T, class Load>
__attribute__((always_inline)) inline typename Vec<T>::type sum_vector(typename Vec<T>::type x, const T* cvec,
                                                                      bool accumulate, const Epilogue<T>* e,
                                                                      int64_t row, int64_t col, Load load) {
  if (accumulate) x = load(cvec) + x;
  if (e) {
    if (e->bias_mode == BiasMode::per_column && e->bias) x += load(e->bias + col);
    if (e->bias_mode == BiasMode::per_row && e->bias && e->bias[row] != T(0)) x += e->bias[row];
    if (e->residual) x += load(e->residual + row * e->ldr + col);
  }
  return x;
}

// The epilogue of a full R x NR tile on its accumulators, then the one store of C: the elementwise
// pass over C that the fused epilogue would otherwise add (5% of a fused ResNet-50) disappears.
template <class T, int R>
__attribute__((always_inline)) inline void finish_registers(typename Vec<T>::type (&acc)[R][kNV], const Epilogue<T>& e,
                                                            int64_t i0, int64_t j0, T* c, int64_t ldc, bool accumulate) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  constexpr int NV = kNV, L = kLanes<T>;
  auto whole = [](const T* p) __attribute__((always_inline)) { return V(*reinterpret_cast<const VU*>(p)); };
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      acc[i][v] = sum_vector<T>(acc[i][v], c + i * ldc + v * L, accumulate, &e, i0 + i, j0 + v * L, whole);
  const V slope = V{} + e.slope;
  auto activate = [&]<Activation A>() __attribute__((always_inline)) {
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = activate_vector<A>(acc[i][v], slope);
  };
  switch (e.act) {  // sigmoid, tanh, gelu: per element after the store
    case Activation::relu: activate.template operator()<Activation::relu>(); break;
    case Activation::relu6: activate.template operator()<Activation::relu6>(); break;
    case Activation::leaky_relu: activate.template operator()<Activation::leaky_relu>(); break;
    default: break;
  }
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) *reinterpret_cast<VU*>(c + i * ldc + v * L) = acc[i][v];
  if (!vector_activation(e.act))  // sigmoid, tanh, gelu
    for (int i = 0; i < R; ++i) activate_row(c + i * ldc, L * NV, e.act, e.slope);
}

// Where the columns of a tile land when they are not all of its NR columns side by side: run r
// holds tile columns [src, src + len) and goes to column dst of C (an edge tile: one run of n
// columns; the direct convolution's output, whose extended columns past each output row are
// dropped: a run per output row the tile touches).
struct ColumnRun {
  int64_t dst;
  int32_t src, len;
};
struct ColumnRuns {
  static constexpr int kMax = 4;  // tiles over more output rows go through a local tile (MappedOutput)
  const ColumnRun* run;
  int count;
};

// The first m rows of an R x NR tile stored run by run: the lanes of each accumulator vector that
// fall in a run, as one masked store, with the epilogue applied to them in registers (C column
// dst + t is the epilogue's column j0 + dst + t). Edge and row-crossing tiles used to go through a
// local tile, scalar copy loops (memmove calls) and a second pass of the epilogue over C.
template <class T, int R>
__attribute__((always_inline)) inline void store_runs(typename Vec<T>::type (&acc)[R][kNV], const ColumnRuns& runs,
                                                      int64_t m, T* c, int64_t ldc, bool accumulate,
                                                      const Epilogue<T>* e, int64_t i0, int64_t j0) {
  using V = typename Vec<T>::type;
  using P = Partial<T>;
  constexpr int NV = kNV, L = kLanes<T>;
  const Activation act = e ? e->act : Activation::none;
  const V slope = V{} + (e ? e->slope : T(0));
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    if (i >= m) break;
    for (int r = 0; r < runs.count; ++r) {
      const ColumnRun& run = runs.run[r];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const int64_t lo = run.src > v * L ? run.src - v * L : 0;
        const int64_t hi = run.src + run.len < (v + 1) * L ? run.src + run.len - v * L : L;
        if (lo >= hi) continue;
        // Where lane 0 of vector v lands; only lanes [lo, hi) are touched (it may lie before c).
        const int64_t col = run.dst - run.src + v * L;
        auto lanes = [lo, hi](const T* p) __attribute__((always_inline)) { return P::load_lanes(p, lo, hi); };
        const V x = sum_vector<T>(acc[i][v], c + i * ldc + col, accumulate, e, i0 + i, j0 + col, lanes);
        P::store_lanes(c + i * ldc + col, activate_vector(x, act, slope), lo, hi);
      }
    }
  }
  if (!vector_activation(act))  // sigmoid, tanh, gelu: per element after the stores
    for (int64_t i = 0; i < m; ++i)
      for (int r = 0; r < runs.count; ++r)
        activate_row(c + i * ldc + runs.run[r].dst, runs.run[r].len, act, e->slope);
}

// Independent accumulator sets of an R-row tile: each FMA depends on the previous one of its
// accumulator, so R * NV accumulators in flight must cover the FMA latency (~4 cycles) or the
// kernel waits on it. Short tiles (a batch-1 RNN step is a 1-row product streaming its weights)
// give consecutive k to S separate sets, summed at the end.
template <int R>
constexpr int kAccumulatorSets = R * kNV >= 8 ? 1 : 8 / (R * kNV);

// The R x NR register tile (R <= MR rows of an MR-row packed A panel): acc = A panel (R x kc) @
// B panel (kc x NR), then C = acc (accumulate false) or C += acc, followed by the epilogue `e`
// (when given: the last K block) with the tile at (ei, ej) of its coordinates. Full tiles store
// whole vectors straight into C; edge tiles (m < R or n < NR) and tiles given as `runs` store
// masked lanes (store_runs), so the kernel itself never branches on the shape. R below MR serves
// the last rows of M without multiplying padding rows (M = 64 with MR = 14 would otherwise
// compute 70 rows).
template <class T, int R, class Rows>
void micro_kernel(int64_t kc, const T* __restrict a, const Rows& b, T* __restrict c, int64_t ldc, int64_t m,
                  int64_t n, bool accumulate, const Epilogue<T>* e, int64_t ei, int64_t ej,
                  const ColumnRuns* runs) {
  using VU = typename Vec<T>::utype;
  using V = typename Vec<T>::type;
  constexpr int MR = kMR, NV = kNV, L = kLanes<T>, NR = kNR<T>, S = kAccumulatorSets<R>;
  static_assert(R <= MR, "at most MR rows");
  V acc[S][R][NV];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    // The C tile is read (accumulate) and written at the end: start fetching it now so the
    // stores do not wait on memory. A row of NR elements spans 3 lines unless it is aligned;
    // runs start at their first destination and mostly follow on from each other.
    const T* row = c + i * ldc + (runs && runs->count > 0 ? runs->run[0].dst : 0);
    __builtin_prefetch(row, 1, 3);
    __builtin_prefetch(row + L, 1, 3);
    __builtin_prefetch(row + NR - 1, 1, 3);
  }
#pragma GCC unroll 4
  for (int s = 0; s < S; ++s)
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[s][i][v] = V{};
  // One k of set s: the NV vectors of B row k against R broadcast elements of A.
  auto step = [&](int64_t k, int s) __attribute__((always_inline)) {
    // The panels stream from L2 (A always, B too once kc * NR overflows L1): fetch ahead.
    __builtin_prefetch(a + (k + kPrefetchAhead) * MR, 0, 3);
    b.prefetch(k);
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = *reinterpret_cast<const VU*>(b.vector(k, v));
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      const T ai = a[k * MR + i];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[s][i][v] += bv[v] * ai;
    }
  };
  int64_t k = 0;
  if constexpr (S == 1) {
#pragma GCC unroll 2
    for (; k < kc; ++k) step(k, 0);
  } else {
    for (; k + S <= kc; k += S)
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) step(k + s, s);
    for (; k < kc; ++k) step(k, 0);
#pragma GCC unroll 8
    for (int s = 1; s < S; ++s)
#pragma GCC unroll 16
      for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[0][i][v] += acc[s][i][v];
  }
  if (!runs && m == R && n == NR) {
    if (e) return finish_registers<T, R>(acc[0], *e, ei, ej, c, ldc, accumulate);
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        VU* p = reinterpret_cast<VU*>(c + i * ldc + v * L);
        if (accumulate) *p += acc[0][i][v];
        else *p = acc[0][i][v];
      }
    return;
  }
  const ColumnRun whole{0, 0, static_cast<int32_t>(n)};
  store_runs<T, R>(acc[0], runs ? *runs : ColumnRuns{&whole, 1}, m, c, ldc, accumulate, e, ei, ej);
}

// m <= MR rows of C from an MR-row A panel: the full kernel, the one-row kernel (matrix-vector
// products: a batch-1 RNN step), or the smallest even row count >= m.
template <class T, class Rows>
void multiply_tile(int64_t kc, const T* a, const Rows& b, T* c, int64_t ldc, int64_t m, int64_t n, bool accumulate,
                   const Epilogue<T>* e = nullptr, int64_t ei = 0, int64_t ej = 0, const ColumnRuns* runs = nullptr) {
  if (m == kMR) return micro_kernel<T, kMR>(kc, a, b, c, ldc, m, n, accumulate, e, ei, ej, runs);
  if (m == 1) return micro_kernel<T, 1>(kc, a, b, c, ldc, m, n, accumulate, e, ei, ej, runs);
  switch ((m + 1) / 2) {
    case 1: return micro_kernel<T, 2>(kc, a, b, c, ldc, m, n, accumulate, e, ei, ej, runs);
    case 2: return micro_kernel<T, 4>(kc, a, b, c, ldc, m, n, accumulate, e, ei, ej, runs);
    case 3: return micro_kernel<T, 6 <= kMR ? 6 : kMR>(kc, a, b, c, ldc, m, n, accumulate, e, ei, ej, runs);
    case 4: return micro_kernel<T, 8 <= kMR ? 8 : kMR>(kc, a, b, c, ldc, m, n, accumulate, e, ei, ej, runs);
    case 5: return micro_kernel<T, 10 <= kMR ? 10 : kMR>(kc, a, b, c, ldc, m, n, accumulate, e, ei, ej, runs);
    case 6: return micro_kernel<T, 12 <= kMR ? 12 : kMR>(kc, a, b, c, ldc, m, n, accumulate, e, ei, ej, runs);
    default: return micro_kernel<T, kMR>(kc, a, b, c, ldc, m, n, accumulate, e, ei, ej, runs);
  }
}

// Reduces L vectors to their L sums: lane r of the result is the sum of rows[r]'s lanes. Stage B
// transposes rows i and i + B (i < B) as transpose_block does, then adds them: each lane of row i
// then holds a partial sum of twice as many elements, half of them from each row. After the
// stages for B = L/2, ..., 1, lane r of rows[0] is row r's sum (rows is overwritten).
template <class T, int B = static_cast<int>(kLanes<T>) / 2>
__attribute__((always_inline)) inline typename Vec<T>::type sum_lanes(typename Vec<T>::type* rows) {
  if constexpr (B >= 1) {
    transpose_stage<T, B, 2 * B>(rows, std::make_integer_sequence<int, static_cast<int>(kLanes<T>)>{});
#pragma GCC unroll 16
    for (int i = 0; i < B; ++i) rows[i] += rows[i + B];
    return sum_lanes<T, B / 2>(rows);
  }
  return rows[0];
}

// y[r] = W[r, :depth] . x (accumulate: y[r] +=) for r < rows, W row-major with row stride ldw:
// the matrix-vector product straight from the unpacked matrix (a batch-1 RNN step, whose weights
// stream from L2/L3 once per step, so reading them is what costs). Groups of G rows walk their
// depth together, sharing each vector of x, with S accumulators per row (G * S cover the FMA
// latency and fit the register file); the L row sums of a block (L = lanes) are then reduced at
// once by the shuffle tree. Measured on the memory-bound case (2 threads, 2 MB of rows each), 8
// rows at a time ran 20% faster than all 16 of an AVX-512 block (16 streams for the prefetchers)
// and than one row at a time (x reloaded per row).
template <class T>
void multiply_rows_by_vector(int64_t rows, int64_t depth, const T* w, int64_t ldw, const T* x, T* y,
                             bool accumulate) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  using P = Partial<T>;
  constexpr int L = static_cast<int>(kLanes<T>), S = 2, kRows = kVectorBytes == 64 ? 8 : 4;
  constexpr int G = kRows < L ? kRows : L;
  const int64_t full = depth / L * L, unrolled = depth / (S * L) * (S * L);
  const typename P::M tail = P::mask(depth - full);
  auto load = [](const T* p) __attribute__((always_inline)) { return V(*reinterpret_cast<const VU*>(p)); };
  // The R rows from wb into out[0, R): R = G, or 1 for the rows left over.
  auto group = [&]<int R>(const T* wb, V* out) __attribute__((always_inline)) {
    V acc[R][S];
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
      for (int s = 0; s < S; ++s) acc[i][s] = V{};
    int64_t k = 0;
    for (; k < unrolled; k += S * L)
#pragma GCC unroll 2
      for (int s = 0; s < S; ++s) {
        const V xv = load(x + k + s * L);
#pragma GCC unroll 8
        for (int i = 0; i < R; ++i) acc[i][s] += load(wb + i * ldw + k + s * L) * xv;
      }
    for (; k < full; k += L) {
      const V xv = load(x + k);
#pragma GCC unroll 8
      for (int i = 0; i < R; ++i) acc[i][0] += load(wb + i * ldw + k) * xv;
    }
    if (full < depth) {
      const V xv = P::load(x + full, tail);
#pragma GCC unroll 8
      for (int i = 0; i < R; ++i) acc[i][S - 1] += P::load(wb + i * ldw + full, tail) * xv;
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      out[i] = acc[i][0];
#pragma GCC unroll 2
      for (int s = 1; s < S; ++s) out[i] += acc[i][s];
    }
  };
  for (int64_t r0 = 0; r0 < rows; r0 += L) {
    const int64_t m = min64(L, rows - r0);
    V sums[L];
    int64_t i = 0;
    for (; i + G <= m; i += G) group.template operator()<G>(w + (r0 + i) * ldw, sums + i);
    for (; i < m; ++i) group.template operator()<1>(w + (r0 + i) * ldw, sums + i);
    for (; i < L; ++i) sums[i] = V{};
    const V total = sum_lanes<T>(sums);
    if (m == L) {
      VU* out = reinterpret_cast<VU*>(y + r0);
      *out = accumulate ? *out + total : total;
    } else {
      const typename P::M lanes = P::mask(m);
      P::store(y + r0, accumulate ? P::load(y + r0, lanes) + total : total, lanes);
    }
  }
}

// Work items per (jc, pc) step handed out dynamically: about this many per thread. More items
// balance better under preemption, but every item repacks its A block (measured at 2048^3: 4 per
// thread ran ~8% faster than 8 on an idle machine).
constexpr int64_t kItemsPerThread = 4;
// NR panels of B packed per work item.
constexpr int64_t kPackPanels = 4;

// C as a plain row-major matrix (the GEMM op, and the convolutions whose output columns are the
// GEMM's columns): tiles store straight into it.
template <class T>
struct DenseOutput {
  T* c;
  int64_t ldc;
  template <class Rows>
  void multiply(int64_t kc, const T* a, const Rows& b, int64_t i, int64_t j, int64_t m, int64_t n, bool accumulate,
                const Epilogue<T>* e) const {
    multiply_tile(kc, a, b, c + i * ldc + j, ldc, m, n, accumulate, e, i, j);
  }
};

// One thread's part of the whole product (tid of plan.threads): all threads run the same jc/pc
// loop; each step packs the shared B block (when B is packed), then hands out (A block, N chunk)
// items with a dynamic schedule. The implicit barrier of the item loop keeps B alive until every
// thread is done with it.
//
// A operand: a packer (called as pack_a(i0, m, p0, kc, dst)) unless it has `block(ic, pc, kb)`
// (PackedA: packed ahead, nothing packed here). B operand: a packer (called as
// pack_b(p0, kc, j0, n, q0, q1, dst), rows of panel q at dst + q * kc * NR) unless it has
// `direct_rows(p0, j)`, which then gives the rows of the panel at column j of K block p0 where they
// already are (nothing packed). Output: the tiles' destination and the epilogue's (DenseOutput, or
// the direct convolution's output with skipped columns).
template <class T, class PackA, class BOperand, class Output>
void gemm_thread(const GemmCpuPlan& plan, const PackA& pack_a, const BOperand& b_operand, const Epilogue<T>& e,
                 const Output& out, bool c_preloaded, int64_t tid) {
  constexpr int MR = kMR, NR = kNR<T>;
  constexpr bool direct = requires { &BOperand::direct_rows; };
  constexpr bool prepacked = requires { &PackA::block; };
  const GemmParams& p = plan.p;
  const int64_t nt = plan.threads, M = p.M, N = p.N, K = p.K;
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
      if constexpr (!direct) {
        const int64_t groups = (panels + kPackPanels - 1) / kPackPanels;
        if (nt > 1) {
#pragma omp for schedule(dynamic, 1)
          for (int64_t g = 0; g < groups; ++g)
            b_operand(pc, kb, jc, nb, g * kPackPanels, min64(panels, (g + 1) * kPackPanels), bpack);
        } else {
          b_operand(pc, kb, jc, nb, 0, panels, bpack);
        }
      }
      int64_t packed_ic = -1;  // the A block in apack (this step), to skip repacking it
      auto run_item = [&](int64_t item) {
        const int64_t ic = item / nchunks * plan.mc, mb = min64(plan.mc, M - ic);
        int64_t q0, q1;
        split(panels, nchunks, item % nchunks, &q0, &q1);
        const T* ablock = apack;
        if constexpr (prepacked) {
          ablock = pack_a.block(ic, pc, kb);
        } else if (packed_ic != ic) {
          pack_a(ic, mb, pc, kb, apack);
          packed_ic = ic;
        }
        for (int64_t q = q0; q < q1; ++q) {
          const int64_t j = q * NR, n = min64(NR, nb - j);
          [[maybe_unused]] const auto panel_rows = [&] {
            if constexpr (direct) return b_operand.direct_rows(pc, jc + j);
            else return 0;
          }();
          for (int64_t ir = 0; ir < mb; ir += MR) {
            const int64_t m = min64(MR, mb - ir);
            if constexpr (direct) {
              out.multiply(kb, ablock + ir * kb, panel_rows, ic + ir, jc + j, m, n, c_preloaded || !first,
                           last ? &e : nullptr);
            } else {
              out.multiply(kb, ablock + ir * kb, PackedRows<T>{bpack + q * kb * NR}, ic + ir, jc + j, m, n,
                           c_preloaded || !first, last ? &e : nullptr);
            }
          }
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

}  // namespace
}  // namespace pdk::PDK_ISA_NAMESPACE
