// Per-ISA CPU flash-attention kernel: one query block against K/V tiles, SIMD tile products and an online softmax in base 2.
//
// This file is compiled three times (base, AVX2+FMA, AVX-512) into pdk::PDK_ISA_NAMESPACE and
// attention_cpu.cpp picks one copy at run time. ODR (see gemm_cpu_kernels.cpp): nothing here is
// a weak symbol outside pdk::isa_* (helpers live in an anonymous namespace; the small PDK_HD
// helpers of attention_common.h are inlined), no std:: template is instantiated and nothing
// can fail (attention_cpu.cpp validates and allocates).
//
// A block of up to 64 queries walks the keys in tiles of 128: scores = K Q^T (the queries times
// scale * log2(e)), bias and causal masking, then per query the running max m, the running sum l
// and the rescale of the output accumulator by exp2(m_old - m_new), and O^T += V^T P^T. Memory per
// thread is O(64 * (E + Ev + 128)): the [L, S] score matrix never exists. Under causal masking the
// key tiles past the block's last query are never visited.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "attention/attention_common.h"
#include "attention/attention_cpu_kernels.h"
#include "core/isa_intrinsics.h"

namespace pdk::PDK_ISA_NAMESPACE {
namespace {

#include "core/isa_vector.h"

constexpr int64_t kBM = kAttentionBlockM, kBN = kAttentionBlockN;
// Register tile of the micro-kernel: kMR rows x kNR vectors of query columns (24 accumulators
// with AVX-512's 32 registers, 8 with the 16 of AVX2 and SSE).
constexpr int kMR = kVectorBytes == 64 ? 6 : 4;
constexpr int kNR = kVectorBytes == 64 ? 4 : 2;

template <class T>
struct VecOf {
  typedef T type __attribute__((vector_size(kVectorBytes)));
  typedef T unaligned __attribute__((vector_size(kVectorBytes), aligned(sizeof(T))));
};

// Unaligned vector access through an under-aligned vector type (not memcpy, which takes the
// address of the register tile's accumulators and sends them through the stack).
template <class V, class T>
V load(const T* p) {
  return *reinterpret_cast<const typename VecOf<T>::unaligned*>(p);
}
template <class V, class T>
void store(T* p, const V& v) {
  *reinterpret_cast<typename VecOf<T>::unaligned*>(p) = v;
}

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// c[r][:] (+)= sum_{k < depth} a[r * a_rs + k * a_ks] * b[k][:] for MR rows and NR vectors of
// columns; b and c have row stride kBM (the query block is the column dim of every tile).
template <class T, int MR, int NR, bool kAccumulate>
void tile(const T* a, int64_t a_rs, int64_t a_ks, int64_t depth, const T* b, T* c) {
  using V = typename VecOf<T>::type;
  constexpr int64_t W = kLanes<T>;
  V acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int n = 0; n < NR; ++n) acc[r][n] = kAccumulate ? load<V>(c + r * kBM + n * W) : V{};
  for (int64_t k = 0; k < depth; ++k) {
    V bv[NR];
    for (int n = 0; n < NR; ++n) bv[n] = load<V>(b + k * kBM + n * W);
    for (int r = 0; r < MR; ++r) {
      const V ab = V{} + a[r * a_rs + k * a_ks];
      for (int n = 0; n < NR; ++n) acc[r][n] += ab * bv[n];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int n = 0; n < NR; ++n) store(c + r * kBM + n * W, acc[r][n]);
}

// The last rows % kMR rows of a product (one tile of that height).
template <class T, int NR, bool kAccumulate, int M = kMR - 1>
void tail_rows(int64_t m, const T* a, int64_t a_rs, int64_t a_ks, int64_t depth, const T* b, T* c) {
  if constexpr (M > 0) {
    if (m == M) return tile<T, M, NR, kAccumulate>(a, a_rs, a_ks, depth, b, c);
    tail_rows<T, NR, kAccumulate, M - 1>(m, a, a_rs, a_ks, depth, b, c);
  }
}

// c[rows][cols] (+)= A[rows][depth] b[depth][cols], A(r, k) = a[r * a_rs + k * a_ks]: column chunks of
// kNR vectors, then single vectors (cols is a multiple of the lanes); rows in kMR blocks.
template <class T, bool kAccumulate>
void product(int64_t rows, int64_t cols, const T* a, int64_t a_rs, int64_t a_ks, int64_t depth, const T* b, T* c) {
  constexpr int64_t W = kLanes<T>;
  auto run = [&]<int NR>(int64_t c0) {
    int64_t r0 = 0;
    for (; r0 + kMR <= rows; r0 += kMR)
      tile<T, kMR, NR, kAccumulate>(a + r0 * a_rs, a_rs, a_ks, depth, b + c0, c + r0 * kBM + c0);
    tail_rows<T, NR, kAccumulate>(rows - r0, a + r0 * a_rs, a_rs, a_ks, depth, b + c0, c + r0 * kBM + c0);
  };
  int64_t c0 = 0;
  for (; c0 + kNR * W <= cols; c0 += kNR * W) run.template operator()<kNR>(c0);
  for (; c0 < cols; c0 += W) run.template operator()<1>(c0);
}

// 2^x lane by lane for the softmax's arguments: scores minus their running maximum, so x <= 0,
// -inf (masked) or NaN. float: x = n + f with n = round(x), f in [-1/2, 1/2], 2^f by a degree-6
// polynomial fitted to it (relative error 1.9e-9, below float rounding: 1.04e-7 in float Horner
// against 9.2e-8 for the degree-7 Taylor series it replaced), times 2^n. AVX-512 applies 2^n
// with vscalefps after clamping x at -200 (so -inf gives exactly 0: poly * 2^-200 underflows to
// it); elsewhere 2^n goes through the exponent bits with x clamped at -127, whose exponent field 0
// makes the result exactly 0. NaN stays NaN (the clamp's comparison is false for it; the bit path
// keeps NaN out of the float-to-int conversion, where it is undefined behaviour). double (the
// checking dtype): the library's exp2.
template <class V>
V exp2_fraction(V f) {
  V poly = V{} + 1.5337576041929424e-04f;
  poly = poly * f + 1.3399859890341759e-03f;
  poly = poly * f + 9.618519805371761e-03f;
  poly = poly * f + 5.550329014658928e-02f;
  poly = poly * f + 2.4022646248340607e-01f;
  poly = poly * f + 6.931471824645996e-01f;
  return poly * f + 1.0f;
}

template <class V>
V exp2v(V x) {
  if constexpr (sizeof(x[0]) == 8) {
    for (int64_t l = 0; l < static_cast<int64_t>(sizeof(V) / 8); ++l) x[l] = std::exp2(x[l]);
    return x;
  } else {
#if defined(__AVX512F__)
    // The all-lanes masked forms: GCC 12's unmasked ones start from an "undefined" vector it
    // then warns about.
    x = x < -200.0f ? V{} - 200.0f : x;
    const __m512 n = _mm512_maskz_roundscale_ps(0xffff, (__m512)x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return (V)_mm512_maskz_scalef_ps(0xffff, (__m512)exp2_fraction(x - (V)n), n);
#else
    typedef int32_t IV __attribute__((vector_size(sizeof(V))));
    const V input = x;
    const auto nan = x != x;
    x = nan ? V{} : x;
    x = x < -127.0f ? V{} - 127.0f : x;
    const IV n = __builtin_convertvector(x + 128.5f, IV) - 128;  // x + 128.5 > 0: truncation is floor
    const V poly = exp2_fraction(x - __builtin_convertvector(n, V));
    const IV bits = (n + 127) << 23;
    V scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return nan ? input : poly * scale;
#endif
  }
}

// The block works on transposed tiles, queries along the vector lanes: scores st[j][i] of key j
// and query i, output ot[e][i]. Both products then broadcast one scalar of K or V straight from
// the caller's rows (no packing of K or V), and the online softmax runs down the columns: the
// running max, sum and rescale of W queries are one vector each, with no horizontal reduction.
template <class T>
void block(const AttentionBlock<T>& job, T* tiles) {
  using V = typename VecOf<T>::type;
  constexpr int64_t W = kLanes<T>;
  const int64_t E = job.E, Ev = job.Ev, rows = job.rows, cols = round_up(rows, W);
  T* qt = tiles;         // [E][kBM] scaled queries
  T* st = qt + E * kBM;  // [kBN][kBM] scores, then weights
  T* ot = st + kBN * kBM;  // [Ev][kBM] output accumulator
  T* m = ot + Ev * kBM;  // [kBM] running max (base 2)
  T* l = m + kBM;        // [kBM] running sum
  const T minus_inf = -static_cast<T>(INFINITY), log2e = static_cast<T>(kLog2e);

  for (int64_t e = 0; e < E; ++e)
    for (int64_t i = 0; i < cols; ++i) qt[e * kBM + i] = i < rows ? job.q[i * job.q_row + e] * job.scale2 : T(0);
  for (int64_t e = 0; e < Ev; ++e)
    for (int64_t i = 0; i < cols; ++i) ot[e * kBM + i] = T(0);
  for (int64_t i = 0; i < cols; ++i) {
    m[i] = minus_inf;
    l[i] = T(0);
  }
  // Causal: keys past the block's last query are masked for every row of it; their tiles are skipped.
  const int64_t key_end = job.causal ? (job.first + rows < job.S ? job.first + rows : job.S) : job.S;
  for (int64_t k0 = 0; k0 < key_end; k0 += kBN) {
    const int64_t nk = key_end - k0 < kBN ? key_end - k0 : kBN;
    product<T, false>(nk, cols, job.k + k0 * job.k_row, job.k_row, 1, E, qt, st);
    if (job.bias) {
      for (int64_t i = 0; i < rows; ++i) {
        const T* b = job.bias + i * job.bias_row + k0 * job.bias_col;
        for (int64_t j = 0; j < nk; ++j) st[j * kBM + i] += b[j * job.bias_col] * log2e;
      }
    }
    if (job.causal && k0 + nk - 1 > job.first) {  // a diagonal tile: key j hides from queries i < k0 + j - first
      for (int64_t j = 0; j < nk; ++j) {
        const int64_t hidden = k0 + j - job.first;
        for (int64_t i = 0; i < (hidden < cols ? hidden : cols); ++i) st[j * kBM + i] = minus_inf;
      }
    }
    for (int64_t c = 0; c < cols; c += W) {
      V tile_max = V{} + minus_inf;
      for (int64_t j = 0; j < nk; ++j) {
        const V x = load<V>(st + j * kBM + c);
        tile_max = x > tile_max ? x : tile_max;
      }
      const V m_old = load<V>(m + c);
      const V m_new = tile_max > m_old ? tile_max : m_old;
      const V base = m_new == minus_inf ? V{} : m_new;  // a column that saw only -inf: weights 0, no NaN
      const V alpha = m_old == minus_inf ? V{} : exp2v(m_old - m_new);
      V sum = {};
      for (int64_t j = 0; j < nk; ++j) {
        const V p = exp2v(load<V>(st + j * kBM + c) - base);
        store(st + j * kBM + c, p);
        sum += p;
      }
      store(l + c, load<V>(l + c) * alpha + sum);
      store(m + c, m_new);
      for (int64_t e = 0; e < Ev; ++e) store(ot + e * kBM + c, load<V>(ot + e * kBM + c) * alpha);
    }
    if (job.keep_threshold) {
      for (int64_t i = 0; i < rows; ++i) {
        const uint64_t base = job.drop_index + static_cast<uint64_t>(i * job.S + k0);
        for (int64_t j = 0; j < nk; ++j) {
          T& w = st[j * kBM + i];
          w = attention_keep(job.seed, base + static_cast<uint64_t>(j), job.keep_threshold) ? w * job.keep_scale : T(0);
        }
      }
    }
    product<T, true>(Ev, cols, job.v + k0 * job.v_row, 1, job.v_row, nk, st, ot);
  }
  for (int64_t i = 0; i < rows; ++i) {
    const bool empty = l[i] == T(0);  // NaN inputs give NaN rows, not 0
    const T inv = empty ? T(0) : T(1) / l[i];
    for (int64_t e = 0; e < Ev; ++e) job.out[i * job.out_row + e] = attention_finish(ot[e * kBM + i], inv, empty);
    if (job.lse) job.lse[i] = attention_lse(m[i], l[i]);
  }
}

}  // namespace

void attention_block(const AttentionBlock<float>& job, float* tiles) { block(job, tiles); }
void attention_block(const AttentionBlock<double>& job, double* tiles) { block(job, tiles); }

}  // namespace pdk::PDK_ISA_NAMESPACE
