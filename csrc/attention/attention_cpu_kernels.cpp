// Per-ISA CPU flash-attention kernel: one query block against K/V tiles, SIMD tile products and an online softmax in base 2.
//
// This file is compiled three times (base, AVX2+FMA, AVX-512) into pdk::PDK_ISA_NAMESPACE and
// attention_cpu.cpp picks one copy at run time. ODR (see gemm_cpu_kernels.cpp): nothing here is
// a weak symbol outside pdk::isa_* (helpers live in an anonymous namespace; the small PDK_HD
// helpers of attention_common.h are inlined), no std:: template is instantiated and nothing
// can fail (attention_cpu.cpp validates and allocates).
//
// A block of up to 64 queries walks the keys in tiles of 128: S = Qs Kt (Qs = the queries times
// scale * log2(e), Kt the tile transposed so a key's scores are one vector lane), bias and causal
// masking, then per row the running max m, the running sum l and the rescale of the output
// accumulator by exp2(m_old - m_new), and O += P V. Memory per thread is O(64 * E + 128 * E):
// the [L, S] score matrix never exists. Under causal masking the key tiles past the block's last
// query are never visited.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "attention/attention_common.h"
#include "attention/attention_cpu_kernels.h"

namespace pdk::PDK_ISA_NAMESPACE {
namespace {

#include "core/isa_vector.h"

constexpr int64_t kBM = kAttentionBlockM, kBN = kAttentionBlockN;
// Register tile of the micro-kernels: kMR query rows x kNR vectors of columns (16 accumulators
// with AVX-512's 32 registers, 8 with the 16 of AVX2 and SSE).
constexpr int kMR = 4;
constexpr int kNR = kVectorBytes == 64 ? 4 : 2;

template <class T>
struct VecOf {
  typedef T type __attribute__((vector_size(kVectorBytes)));
};

template <class V, class T>
V load(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class V, class T>
void store(T* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// fn.template operator()<N>(c0) over columns [0, cols) (cols a multiple of the lanes): chunks of
// kNR vectors, then single vectors.
template <class T, class Fn>
void over_columns(int64_t cols, Fn&& fn) {
  constexpr int64_t W = kLanes<T>;
  int64_t c0 = 0;
  for (; c0 + kNR * W <= cols; c0 += kNR * W) fn.template operator()<kNR>(c0);
  for (; c0 < cols; c0 += W) fn.template operator()<1>(c0);
}

// s[r][c] = sum_e qs[r][e] kt[e][c] for kMR rows of the block's scaled queries (row stride E) and
// NR vectors of the transposed key tile (row stride kBN); s has row stride kBN.
template <class T, int NR>
void qk_tile(const T* qs, int64_t E, const T* kt, T* s) {
  using V = typename VecOf<T>::type;
  constexpr int64_t W = kLanes<T>;
  V acc[kMR][NR] = {};
  for (int64_t e = 0; e < E; ++e) {
    V kv[NR];
    for (int c = 0; c < NR; ++c) kv[c] = load<V>(kt + e * kBN + c * W);
    for (int r = 0; r < kMR; ++r) {
      const V qb = V{} + qs[r * E + e];
      for (int c = 0; c < NR; ++c) acc[r][c] += qb * kv[c];
    }
  }
  for (int r = 0; r < kMR; ++r)
    for (int c = 0; c < NR; ++c) store(s + r * kBN + c * W, acc[r][c]);
}

// o[r][c] += sum_{j < n} p[r][j] vp[j][c] for kMR rows (p row stride kBN) and NR vectors of the
// packed V tile and the accumulator (row stride ev).
template <class T, int NR>
void pv_tile(const T* p, int64_t n, const T* vp, int64_t ev, T* o) {
  using V = typename VecOf<T>::type;
  constexpr int64_t W = kLanes<T>;
  V acc[kMR][NR];
  for (int r = 0; r < kMR; ++r)
    for (int c = 0; c < NR; ++c) acc[r][c] = load<V>(o + r * ev + c * W);
  for (int64_t j = 0; j < n; ++j) {
    V vv[NR];
    for (int c = 0; c < NR; ++c) vv[c] = load<V>(vp + j * ev + c * W);
    for (int r = 0; r < kMR; ++r) {
      const V pb = V{} + p[r * kBN + j];
      for (int c = 0; c < NR; ++c) acc[r][c] += pb * vv[c];
    }
  }
  for (int r = 0; r < kMR; ++r)
    for (int c = 0; c < NR; ++c) store(o + r * ev + c * W, acc[r][c]);
}

// 2^x for a vector of floats: x = n + f with n = round(x), f in [-1/2, 1/2], 2^f by its degree-7
// Taylor polynomial (relative error < 3e-8, below float rounding), 2^n through the exponent bits.
// x < -126 (masked scores, -inf) gives exactly 0.
template <class V>
V exp2_float(V x) {
  typedef int32_t IV __attribute__((vector_size(sizeof(V))));
  const auto dead = x < -126.0f;
  x = dead ? V{} : x;
  x = x > 127.0f ? V{} + 127.0f : x;
  const IV n = __builtin_convertvector(x + 128.5f, IV) - 128;  // x + 128.5 > 0: truncation is floor
  const V f = x - __builtin_convertvector(n, V);
  V poly = V{} + 1.525273380405984e-05f;
  poly = poly * f + 1.5403530393381608e-04f;
  poly = poly * f + 1.3333558146428443e-03f;
  poly = poly * f + 9.618129107628477e-03f;
  poly = poly * f + 5.550410866482158e-02f;
  poly = poly * f + 2.402265069591007e-01f;
  poly = poly * f + 6.931471805599453e-01f;
  poly = poly * f + 1.0f;
  const IV bits = (n + 127) << 23;
  V scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const V y = poly * scale;
  return dead ? V{} : y;
}

// p[j] = 2^(s[j] - base) for j < n (a multiple of the lanes), in place; returns their sum.
template <class T>
T exp2_row(T* s, int64_t n, T base) {
  using V = typename VecOf<T>::type;
  constexpr int64_t W = kLanes<T>;
  if constexpr (std::is_same_v<T, float>) {
    V sum = {};
    for (int64_t j = 0; j < n; j += W) {
      const V p = exp2_float(load<V>(s + j) - base);
      store(s + j, p);
      sum += p;
    }
    T total = 0;
    for (int64_t l = 0; l < W; ++l) total += sum[l];
    return total;
  } else {
    T total = 0;  // float64 is the checking dtype: the library's exp2, exact to the last bit
    for (int64_t j = 0; j < n; ++j) {
      s[j] = std::exp2(s[j] - base);
      total += s[j];
    }
    return total;
  }
}

template <class T>
T max_row(const T* s, int64_t n) {
  using V = typename VecOf<T>::type;
  constexpr int64_t W = kLanes<T>;
  V m = V{} - static_cast<T>(INFINITY);
  for (int64_t j = 0; j < n; j += W) {
    const V x = load<V>(s + j);
    m = x > m ? x : m;
  }
  T best = -static_cast<T>(INFINITY);
  for (int64_t l = 0; l < W; ++l) best = m[l] > best ? m[l] : best;
  return best;
}

template <class T>
void block(const AttentionBlock<T>& job, T* tiles) {
  constexpr int64_t W = kLanes<T>;
  const int64_t E = job.E, Ev = job.Ev, ev = attention_padded(Ev), evw = round_up(Ev, W);
  const int64_t rows = job.rows, rows_p = round_up(rows, kMR);
  T* qs = tiles;
  T* kt = qs + kBM * E;
  T* vp = kt + E * kBN;
  T* sc = vp + kBN * ev;
  T* acc = sc + kBM * kBN;
  T* m = acc + kBM * ev;
  T* l = m + kBM;
  const T minus_inf = -static_cast<T>(INFINITY), log2e = static_cast<T>(kLog2e);

  for (int64_t i = 0; i < rows_p; ++i) {
    for (int64_t e = 0; e < E; ++e) qs[i * E + e] = i < rows ? job.q[i * job.q_row + e] * job.scale2 : T(0);
    for (int64_t e = 0; e < ev; ++e) acc[i * ev + e] = T(0);
    m[i] = minus_inf;
    l[i] = T(0);
  }
  // Causal: keys past the block's last query are masked for every row of it; their tiles are skipped.
  const int64_t key_end = job.causal ? (job.first + rows < job.S ? job.first + rows : job.S) : job.S;
  for (int64_t k0 = 0; k0 < key_end; k0 += kBN) {
    const int64_t nk = key_end - k0 < kBN ? key_end - k0 : kBN, nkw = round_up(nk, W);
    for (int64_t j = 0; j < nkw; ++j) {
      const T* krow = job.k + (k0 + j) * job.k_row;
      for (int64_t e = 0; e < E; ++e) kt[e * kBN + j] = j < nk ? krow[e] : T(0);
    }
    for (int64_t j = 0; j < nk; ++j) {
      const T* vrow = job.v + (k0 + j) * job.v_row;
      for (int64_t e = 0; e < evw; ++e) vp[j * ev + e] = e < Ev ? vrow[e] : T(0);
    }
    for (int64_t i0 = 0; i0 < rows_p; i0 += kMR)
      over_columns<T>(nkw, [&]<int N>(int64_t c0) { qk_tile<T, N>(qs + i0 * E, E, kt + c0, sc + i0 * kBN + c0); });

    for (int64_t i = 0; i < rows; ++i) {
      T* s = sc + i * kBN;
      int64_t visible = nk;
      if (job.causal) {
        const int64_t last = job.first + i - k0 + 1;  // keys k0 .. first + i are visible
        visible = last < 0 ? 0 : (last < nk ? last : nk);
      }
      if (job.bias) {
        const T* b = job.bias + i * job.bias_row + k0 * job.bias_col;
        for (int64_t j = 0; j < visible; ++j) s[j] += b[j * job.bias_col] * log2e;
      }
      for (int64_t j = visible; j < nkw; ++j) s[j] = minus_inf;
      const T tile_max = max_row(s, nkw);
      const T m_new = tile_max > m[i] ? tile_max : m[i];
      if (m_new == minus_inf) {  // nothing visible so far: weights 0, m, l and the row unchanged
        for (int64_t j = 0; j < nkw; ++j) s[j] = T(0);
        continue;
      }
      const T alpha = m[i] == minus_inf ? T(0) : std::exp2(m[i] - m_new);
      l[i] = l[i] * alpha + exp2_row(s, nkw, m_new);
      m[i] = m_new;
      if (alpha != T(1))
        for (int64_t e = 0; e < evw; ++e) acc[i * ev + e] *= alpha;
      if (job.keep_threshold) {
        const uint64_t base = job.drop_index + static_cast<uint64_t>(i * job.S + k0);
        for (int64_t j = 0; j < visible; ++j)
          s[j] = attention_keep(job.seed, base + static_cast<uint64_t>(j), job.keep_threshold) ? s[j] * job.keep_scale
                                                                                                : T(0);
      }
    }
    for (int64_t i0 = 0; i0 < rows_p; i0 += kMR)
      over_columns<T>(evw, [&]<int N>(int64_t c0) { pv_tile<T, N>(sc + i0 * kBN, nk, vp + c0, ev, acc + i0 * ev + c0); });
  }
  for (int64_t i = 0; i < rows; ++i) {
    const bool empty = l[i] == T(0);  // NaN inputs give NaN rows, not the masked value
    const T inv = empty ? T(0) : T(1) / l[i];
    for (int64_t e = 0; e < Ev; ++e) job.out[i * job.out_row + e] = attention_finish(acc[i * ev + e], inv, empty);
    if (job.lse) job.lse[i] = attention_lse(m[i], l[i]);
  }
}

}  // namespace

void attention_block(const AttentionBlock<float>& job, float* tiles) { block(job, tiles); }
void attention_block(const AttentionBlock<double>& job, double* tiles) { block(job, tiles); }

}  // namespace pdk::PDK_ISA_NAMESPACE
