// Per-ISA CPU pooling kernels: separable max/avg/lp pooling, global pooling, max with indices, max_unpool.
//
// This file is compiled three times (base, AVX2+FMA, AVX-512) into pdk::PDK_ISA_NAMESPACE and the
// entry points pick one copy at run time. ODR: the linker keeps ONE copy of every weak (inline or
// template) symbol for all three objects, possibly the AVX-512 one, which would then run on CPUs
// without AVX-512. So everything here lives in pdk::PDK_ISA_NAMESPACE (helpers in an anonymous
// namespace inside it) and nothing may instantiate a std:: template or a shared inline function that
// could be emitted out of line: no std::vector (Buffer below), no PDK_CHECK (failures are status
// codes that pool_cpu.cpp turns into exceptions), no pool_window (pool_cpu.cpp builds the window
// tables). The small element helpers of pool_common.h (nan_max, lp_power, lp_root, avg_divisor)
// are always inlined into the loops; `nm -C --defined-only` on the three objects shows no weak
// symbol outside pdk::isa_*.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "pool/pool_cpu_kernels.h"

namespace pdk::PDK_ISA_NAMESPACE {
namespace {

// Below this many elements (input + output) the OpenMP fork/join costs more than it saves.
constexpr int64_t kParallelElements = int64_t{1} << 15;

// A 64-byte aligned scratch array owned by one thread.
template <class T>
struct Buffer {
  T* data;
  explicit Buffer(int64_t n)
      : data(static_cast<T*>(std::aligned_alloc(
            64, ((static_cast<std::size_t>(n > 0 ? n : 1) * sizeof(T)) + 63) & ~std::size_t{63}))) {}
  ~Buffer() { std::free(data); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

#include "core/isa_vector.h"

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }
inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

// Runs body(begin, end) on one contiguous range of [0, total) per thread: neighbouring output rows
// share input rows, so contiguous ranges keep them in the thread's cache.
template <class Body>
void parallel_ranges(int64_t total, bool parallel, const Body& body) {
#ifdef _OPENMP
  if (parallel && total > 1 && omp_get_max_threads() > 1) {
#pragma omp parallel
    {
      const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      body(total * t / nt, total * (t + 1) / nt);
    }
    return;
  }
#endif
  body(0, total);
}

void set_status(int* status, int value) { __atomic_store_n(status, value, __ATOMIC_RELAXED); }

// Walks the output rows (plane, od, oh) and W chunks c of a thread's range [begin, end) in order.
struct RowCursor {
  int64_t Do, Ho, nch;
  int64_t plane, od, oh, c;
  RowCursor(const PoolCpuPlan& plan, int64_t begin)
      : Do(plan.p.out[0]), Ho(plan.p.out[1]), nch(plan.nchunks) {
    c = begin % nch;
    int64_t r = begin / nch;
    oh = r % Ho;
    r /= Ho;
    od = r % Do;
    plane = r / Do;
  }
  void next() {
    if (++c < nch) return;
    c = 0;
    if (++oh < Ho) return;
    oh = 0;
    if (++od < Do) return;
    od = 0;
    ++plane;
  }
};

template <class T>
constexpr T neg_inf() {
  return -static_cast<T>(__builtin_inf());
}

// The reduction of a mode: NaN-propagating max, or a sum (avg, lp). combine is the form g++
// vectorises, combine_scalar the one for scalar loops.
template <class T, PoolMode M>
struct Reduce {
  static constexpr T identity() { return T(0); }
  static T combine(T a, T b) { return a + b; }
  static T combine_scalar(T a, T b) { return a + b; }
};
template <class T>
struct Reduce<T, PoolMode::max> {
  static constexpr T identity() { return neg_inf<T>(); }
  static T combine(T a, T b) { return nan_max(a, b); }
  // nan_max's result (NaN if either is NaN, else the larger) for scalar loops: g++ compiles
  // nan_max to a data-dependent branch there, this to a max instruction and a NaN test.
  static T combine_scalar(T a, T b) {
    const T larger = b > a ? b : a;
    return __builtin_isunordered(a, b) ? a + b : larger;
  }
};

// The element transform applied while loading: x ** P (P = 1: none, P = 2: x * x; P = 0: the
// run-time norm_type, through pow).
template <class T, int P>
struct Power {
  double p;
  T operator()(T v) const { return lp_power(v, P > 0 ? static_cast<double>(P) : p); }
};

// ---------------------------------------------------------------------------------------------
// Separable pooling. For output row (plane, od, oh) the valid input rows of the window are folded
// into a row buffer (vertical pass, vectorised along contiguous W); the row buffer sits inside a
// buffer padded with the reduction's identity, so every fixed window has its full width and the
// horizontal pass is a plain strided reduction (stride 1 and 2 compile-time, so the strided loads
// vectorise). Loops over buffers we own run to a multiple of the vector width (kLanes) so the
// compiler's scalar remainder loops are skipped; the buffers have the slack for it.

template <class T>
void fill(T* p, int64_t n, T v) {
  for (int64_t i = 0; i < n; ++i) p[i] = v;
}

// out[i] (= or op=) the combination of G sources: src[g][i * S] (S > 0) or src[g][i * stride], and
// with Taps = 2 also src[g][i * S + 1]. The vertical pass uses it with S = 1 on input rows, the
// horizontal pass with the window's taps, the fused pass (2-wide windows, stride 2) with Taps = 2.
template <class T, class R, class X, int S, int Taps, int G, bool First>
void fold_group(T* __restrict out, const T* const* src, int64_t n, int64_t stride, const X& xf) {
  // Named __restrict pointers: g++ ignores __restrict on the elements of a pointer array.
  const int64_t s = S > 0 ? S : stride;
  const T* __restrict r0 = src[0];
  const T* __restrict r1 = src[G > 1 ? 1 : 0];
  const T* __restrict r2 = src[G > 2 ? 2 : 0];
  const T* __restrict r3 = src[G > 3 ? 3 : 0];
  auto load = [&](const T* __restrict r, int64_t i) {
    const T v = xf(r[i * s]);
    return Taps == 2 ? R::combine(v, xf(r[i * s + 1])) : v;
  };
  for (int64_t i = 0; i < n; ++i) {
    T v = load(r0, i);
    if constexpr (G > 1) v = R::combine(v, load(r1, i));
    if constexpr (G > 2) v = R::combine(v, load(r2, i));
    if constexpr (G > 3) v = R::combine(v, load(r3, i));
    out[i] = First ? v : R::combine(out[i], v);
  }
}

template <class T, class R, class X, int S, int Taps = 1>
void fold(T* out, const T* const* src, int g, bool first, int64_t n, int64_t stride, const X& xf) {
  switch (g * 2 + (first ? 1 : 0)) {
    case 3: return fold_group<T, R, X, S, Taps, 1, true>(out, src, n, stride, xf);
    case 2: return fold_group<T, R, X, S, Taps, 1, false>(out, src, n, stride, xf);
    case 5: return fold_group<T, R, X, S, Taps, 2, true>(out, src, n, stride, xf);
    case 4: return fold_group<T, R, X, S, Taps, 2, false>(out, src, n, stride, xf);
    case 7: return fold_group<T, R, X, S, Taps, 3, true>(out, src, n, stride, xf);
    case 6: return fold_group<T, R, X, S, Taps, 3, false>(out, src, n, stride, xf);
    case 9: return fold_group<T, R, X, S, Taps, 4, true>(out, src, n, stride, xf);
    default: return fold_group<T, R, X, S, Taps, 4, false>(out, src, n, stride, xf);
  }
}

// Fixed windows: acc[i] = op over j < k of buf[i * s + j * dil]; S > 0 is the stride at compile time.
// g++ keeps the last vector of a strided loop with gaps (s > 1) for its scalar remainder loop, so
// those loops run one element past the rounded-up n: the vector loop then covers all of n.
template <class T, class R, int S>
void horizontal_fixed(T* acc, const T* buf, int64_t n, int64_t k, int64_t dil, int64_t stride) {
  const int64_t count = S == 1 ? n : n + 1;
  const T* taps[4];
  for (int64_t j0 = 0; j0 < k; j0 += 4) {
    const int g = static_cast<int>(min64(4, k - j0));
    for (int j = 0; j < g; ++j) taps[j] = buf + (j0 + j) * dil;
    fold<T, R, Power<T, 1>, S>(acc, taps, g, j0 == 0, count, stride, Power<T, 1>{1.0});
  }
}

// Adaptive windows: buf[0] is input column c_lo; every window has count >= 1 and step 1.
template <class T, class R>
void horizontal_adaptive(T* __restrict acc, const T* __restrict buf, const PoolWindow* win, int64_t n,
                         int64_t c_lo) {
  for (int64_t i = 0; i < n; ++i) {
    const T* b = buf + (win[i].first - c_lo);
    T v = b[0];
    for (int64_t j = 1; j < win[i].count; ++j) v = R::combine_scalar(v, b[j]);
    acc[i] = v;
  }
}

// y[i] from the window reduction acc[i]; den[i] is the window's divisor as T (avg: avg_divisor),
// or with `recip` its reciprocal: when every divisor is a power of two, x * (1 / d) is exactly
// x / d and a multiply is much cheaper than a divide.
template <class T, PoolMode M, int P>
void finish_row(T* __restrict y, const T* __restrict acc, const T* __restrict den, bool recip, int64_t n,
                double norm_type, int64_t kernel_volume) {
  if constexpr (M == PoolMode::avg) {  // = avg_finish
    if (recip) {
      for (int64_t i = 0; i < n; ++i) y[i] = acc[i] * den[i];
    } else {
      for (int64_t i = 0; i < n; ++i) y[i] = acc[i] / den[i];
    }
  } else if constexpr (M == PoolMode::lp) {  // = lp_finish
    const double norm = P > 0 ? static_cast<double>(P) : norm_type;
    const T volume = static_cast<T>(kernel_volume);
    if (recip) {
      for (int64_t i = 0; i < n; ++i) y[i] = lp_root(acc[i] * den[i] * volume, norm);
    } else {
      for (int64_t i = 0; i < n; ++i) y[i] = lp_root(acc[i] / den[i] * volume, norm);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = acc[i];
  }
}

// S: 1 or 2 = fixed windows with that W stride, 0 = fixed with a run-time stride, -1 = adaptive.
//
// Each thread pipelines its output rows: the vertical pass of row t, then the horizontal pass and
// finish of row t - 1. The horizontal pass reads the row buffer at other offsets than the vertical
// pass wrote it (padding, taps); done right away those loads would wait for the stores to reach
// L1 (failed store forwarding).
template <class T, PoolMode M, int P, int S>
int separable(const PoolCpuPlan& plan, const T* x, T* y) {
  using R = Reduce<T, M>;
  constexpr int64_t L = kLanes<T>;
  const PoolParams& p = plan.p;
  const int64_t D = p.in[0], H = p.in[1], W = p.in[2];
  const int64_t Do = p.out[0], Ho = p.out[1], Wo = p.out[2];
  const int64_t kW = p.kernel[2], sW = S > 0 ? S : p.stride[2], dW = p.dilation[2], padW = p.pad[2];
  const int64_t nch = plan.nchunks, wchunk = plan.wchunk;
  const PoolWindow* win_d = plan.win[0];
  const PoolWindow* win_h = plan.win[1];
  const PoolWindow* win_w = plan.win[2];
  const Power<T, P> xf{p.norm_type};
  const T* x_end = x + p.planes * D * H * W;
  const int64_t total = p.planes * Do * Ho * nch;
  // Slack for the rounded-up loops: the vertical pass writes up to L past the row, the horizontal
  // pass reads up to (L - 1) strides past the chunk.
  const int64_t buf_size = round_up(plan.span + L * (sW + 2), L);
  const int64_t acc_size = round_up(wchunk, L) + L;
  int status = kPoolOk;

  // 2-wide windows at stride 2 without padding over a few input rows (2x2 pooling, 2x2x2) skip the
  // row buffer: one fused pass folds the rows' column pairs straight from x (gapless pair loads).
  // Each row's pairs are permuted apart, not their fold, so more rows favour the buffer; with
  // AVX-512's two-source permutes the fused pass still wins at 4 rows (measured), elsewhere at 2.
  const bool fusable = S == 2 && kW == 2 && dW == 1;
  constexpr int64_t kFusedRows = kVectorBytes == 64 ? 4 : 2;

  // What the vertical pass hands to the later stages.
  struct Row {
    const T* src;  // the row buffer (padding included), or the input row itself
    T* out;
    int64_t ow0, n, n_round, c_lo, dh, chunk;
    const T* x_plane;  // fused rows: the window is read from x by the horizontal stage
    PoolWindow wd, wh;
    bool fused;
  };

  parallel_ranges(total, p.planes * (D * H * W + Do * Ho * Wo) >= kParallelElements,
                  [&](int64_t begin, int64_t end) {
    if (begin >= end) return;
    Buffer<T> bufs(2 * buf_size), acc(acc_size), den(acc_size);
    if (!bufs.data || !acc.data || !den.data) return set_status(&status, kPoolOutOfMemory);
    fill(bufs.data, 2 * buf_size, R::identity());
    // den depends on the (d, h) divisor product and the chunk only: recompute when they change.
    int64_t den_dh = -1, den_chunk = -1;
    bool den_recip = false;

    auto vertical = [&](int64_t plane, int64_t od, int64_t oh, int64_t c, T* b) {
      const PoolWindow wd = win_d[od], wh = win_h[oh];
      Row row;
      row.ow0 = c * wchunk;
      row.n = min64(wchunk, Wo - row.ow0);
      row.n_round = S >= 0 ? round_up(row.n, L) : row.n;
      row.dh = wd.divisor * wh.divisor;
      row.chunk = c;
      row.out = y + ((plane * Do + od) * Ho + oh) * Wo + row.ow0;
      int64_t c_hi;  // input columns [c_lo, c_hi) of the chunk, padding included
      if constexpr (S >= 0) {
        row.c_lo = row.ow0 * sW - padW;
        c_hi = row.c_lo + (row.n - 1) * sW + (kW - 1) * dW + 1;
      } else {
        row.c_lo = win_w[row.ow0].first;
        c_hi = win_w[row.ow0 + row.n - 1].first + win_w[row.ow0 + row.n - 1].count;
      }
      const int64_t c_lo = row.c_lo, v_lo = max64(c_lo, 0), v_hi = min64(c_hi, W), m = v_hi - v_lo;
      const T* x_plane = x + plane * D * H * W;
      const int64_t nrows = wd.count * wh.count;
      row.src = b;
      row.x_plane = x_plane;
      row.wd = wd;
      row.wh = wh;
      row.fused = fusable && nrows > 0 && nrows <= kFusedRows && v_lo == c_lo && v_hi == c_hi;
      if (row.fused) return row;
      if (m <= 0 || nrows == 0) {
        fill(b, c_hi - c_lo, R::identity());
        return row;
      }
      const T* row0 = x_plane + (wd.first * H + wh.first) * W;
      if (P == 1 && nrows == 1 && v_lo == c_lo && v_hi == c_hi &&
          row0 + c_lo + (row.n_round + 1) * sW + (kW - 1) * dW <= x_end) {
        row.src = row0 + c_lo;  // one row, no padding: the later stages read it in place
        return row;
      }
      // Rows are folded over the rounded-up length when that stays inside x (the extra columns
      // land in the buffer's slack or in columns filled with the identity below).
      const int64_t m_round = round_up(m, L);
      const T* rows[4];
      int g = 0;
      bool first = true;
      auto flush = [&] {
        const int64_t len = rows[g - 1] + m_round <= x_end ? m_round : m;
        fold<T, R, Power<T, P>, 1>(b + (v_lo - c_lo), rows, g, first, len, 1, xf);
        g = 0;
        first = false;
      };
      for (int64_t a = 0; a < wd.count; ++a) {
        const T* x_d = x_plane + (wd.first + a * wd.step) * H * W;
        for (int64_t e = 0; e < wh.count; ++e) {
          rows[g++] = x_d + (wh.first + e * wh.step) * W + v_lo;
          if (g == 4) flush();
        }
      }
      if (g > 0) flush();
      fill(b, v_lo - c_lo, R::identity());
      fill(b + (v_hi - c_lo), c_hi - v_hi, R::identity());
      return row;
    };

    auto fused = [&](const Row& row) {
      const T* rows[4];
      int g = 0;
      bool first = true;
      auto flush = [&] {
        const int64_t len = rows[g - 1] + 2 * row.n_round <= x_end ? row.n_round : row.n;
        fold<T, R, Power<T, P>, 2, 2>(acc.data, rows, g, first, len, 2, xf);
        g = 0;
        first = false;
      };
      for (int64_t a = 0; a < row.wd.count; ++a) {
        const T* x_d = row.x_plane + (row.wd.first + a * row.wd.step) * H * W;
        for (int64_t e = 0; e < row.wh.count; ++e) {
          rows[g++] = x_d + (row.wh.first + e * row.wh.step) * W + row.c_lo;
          if (g == 4) flush();
        }
      }
      if (g > 0) flush();
    };

    auto horizontal = [&](const Row& row) {
      if (row.fused) {
        fused(row);
      } else if constexpr (S >= 0) {
        horizontal_fixed<T, R, S>(acc.data, row.src, row.n_round, kW, dW, sW);
      } else {
        horizontal_adaptive<T, R>(acc.data, row.src, win_w + row.ow0, row.n, row.c_lo);
      }
      if constexpr (M != PoolMode::max) {
        if (row.dh != den_dh || row.chunk != den_chunk) {
          den_recip = true;
          for (int64_t i = 0; i < row.n; ++i) {
            const int64_t divisor = row.dh * win_w[row.ow0 + i].divisor;
            const int64_t d = M == PoolMode::avg ? avg_divisor(p, divisor) : divisor;
            den.data[i] = static_cast<T>(d);
            den_recip = den_recip && d > 0 && (d & (d - 1)) == 0;
          }
          if (den_recip)
            for (int64_t i = 0; i < row.n; ++i) den.data[i] = T(1) / den.data[i];
          den_dh = row.dh;
          den_chunk = row.chunk;
        }
      }
      finish_row<T, M, P>(row.out, acc.data, den.data, den_recip, row.n, p.norm_type, plan.kernel_volume);
    };

    Row ring[2];
    RowCursor at(plan, begin);
    const int64_t count = end - begin;
    for (int64_t k = 0; k < count; ++k, at.next()) {
      ring[k & 1] = vertical(at.plane, at.od, at.oh, at.c, bufs.data + (k & 1) * buf_size);
      if (k >= 1) horizontal(ring[(k - 1) & 1]);
    }
    horizontal(ring[(count - 1) & 1]);
  });
  return status;
}

// ---------------------------------------------------------------------------------------------
// Global pooling (one window = the whole contiguous plane). Planes are often tiny (7x7), so each
// needs a cheap horizontal reduction; g++ spills a lane array to memory here, so this reduction
// holds its lanes in GCC vector types (compiled for each ISA like the rest of the file).
template <class T, int Bytes>
struct Vec {
  typedef T type __attribute__((vector_size(Bytes)));
};

// op over the lanes of v, by halving.
template <class T, int Bytes, class Op>
T reduce_lanes(typename Vec<T, Bytes>::type v, const Op& op) {
  if constexpr (Bytes == 2 * static_cast<int>(sizeof(T))) {
    return op(v[0], v[1]);
  } else {
    typename Vec<T, Bytes / 2>::type lo, hi;
    std::memcpy(&lo, &v, Bytes / 2);
    std::memcpy(&hi, reinterpret_cast<const char*>(&v) + Bytes / 2, Bytes / 2);
    return reduce_lanes<T, Bytes / 2>(op(lo, hi), op);
  }
}

// A vector of partial window reductions. Sums add. Max keeps the plain maximum (one max
// instruction) and the NaNs apart (a compare and an or): nan_max on vectors costs compares plus a
// blend, which AVX2 and SSE2 pay dearly for. The result is nan_max's: NaN if any NaN, else the max.
template <class T, PoolMode M, int B>
struct VecAcc {
  using V = typename Vec<T, B>::type;
  V v;
  explicit VecAcc(T identity) : v(V{} + identity) {}
  void add(V x) { v += x; }
  void merge(const VecAcc& o) { v += o.v; }
  T result() const {
    return reduce_lanes<T, B>(v, [](auto a, auto b) { return a + b; });
  }
};
template <class T, int B>
struct VecAcc<T, PoolMode::max, B> {
  using V = typename Vec<T, B>::type;
  using Mask = decltype(V{} != V{});
  V v;
  Mask nan;
  explicit VecAcc(T identity) : v(V{} + identity), nan{} {}
  void add(V x) {
    v = x > v ? x : v;
    nan |= x != x;
  }
  void merge(const VecAcc& o) {
    v = o.v > v ? o.v : v;
    nan |= o.nan;
  }
  T result() const {
    using I = decltype(nan[0] + 0);
    const I any = reduce_lanes<I, B>(nan, [](auto a, auto b) { return a | b; });
    return any ? static_cast<T>(__builtin_nan("")) : reduce_lanes<T, B>(v, [](auto a, auto b) { return b > a ? b : a; });
  }
};

template <class T, PoolMode M, int P>
int global_pool(const PoolCpuPlan& plan, const T* x, T* y) {
  using R = Reduce<T, M>;
  // 32-byte vectors at most: memory-bound on large planes anyway, and cheaper to reduce on small ones.
  constexpr int B = static_cast<int>(kVectorBytes < 32 ? kVectorBytes : 32);
  constexpr int L = B / static_cast<int>(sizeof(T));
  using Acc = VecAcc<T, M, B>;
  using V = typename Acc::V;
  const PoolParams& p = plan.p;
  const int64_t n = p.in[0] * p.in[1] * p.in[2];
  const int64_t divisor = plan.win[0][0].divisor * plan.win[1][0].divisor * plan.win[2][0].divisor;
  const T den = static_cast<T>(M == PoolMode::avg ? avg_divisor(p, divisor) : divisor);
  const Power<T, P> xf{p.norm_type};
  auto load = [&](const T* at) {
    V v;
    std::memcpy(&v, at, sizeof(V));
    if constexpr (P == 1) {
      return v;
    } else if constexpr (P == 2) {
      return v * v;  // = lp_power(v, 2)
    } else {
      for (int l = 0; l < L; ++l) v[l] = xf(v[l]);
      return v;
    }
  };
  parallel_ranges(p.planes, p.planes * (n + 1) >= kParallelElements, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* px = x + plane * n;
      Acc a0(R::identity());
      int64_t i = 0;
      if (n >= 8 * L) {  // four independent chains on large planes
        Acc a1(R::identity()), a2(R::identity()), a3(R::identity());
        for (; i + 4 * L <= n; i += 4 * L) {
          a0.add(load(px + i));
          a1.add(load(px + i + L));
          a2.add(load(px + i + 2 * L));
          a3.add(load(px + i + 3 * L));
        }
        a0.merge(a1);
        a2.merge(a3);
        a0.merge(a2);
      }
      for (; i + L <= n; i += L) a0.add(load(px + i));
      T acc = a0.result();
      for (; i < n; ++i) acc = R::combine_scalar(acc, xf(px[i]));
      finish_row<T, M, P>(y + plane, &acc, &den, false, 1, p.norm_type, plan.kernel_volume);
    }
  });
  return kPoolOk;
}

// ---------------------------------------------------------------------------------------------
// Max pooling with indices, exactly torch's CPU loop: each output starts from -inf at its window's
// first valid position and visits the window in (d, h, w) order, taking a value when
// `v > max || isnan(v)` (the first max wins, the last NaN wins).
//
// Fixed windows: all outputs of a row visit their windows in that order together, one tap (input
// row, kernel column) at a time, vectorised along W. Each input row is first copied into a buffer
// padded with -inf (a padded tap never wins). No vertical fold here: folding (max, index) pairs
// across rows needs a scan-order tie rule between rows and columns, which costs more than visiting
// the taps. Indices are tracked as I: int32 when the plane allows (half the vector work of int64).
// The outputs' running (max, index) after visiting G taps in order: tap g reads src[g][i * s] and
// has the flat index index0[g] + i * s.
template <class T, class I, int S, int G>
void visit_taps(T* __restrict best, I* __restrict best_index, const T* const* src, const I* index0,
                int64_t n, int64_t stride) {
  const I s = static_cast<I>(S > 0 ? S : stride);
  const T* __restrict r[G];
  I o[G];
  for (int g = 0; g < G; ++g) {
    r[g] = src[g];
    o[g] = index0[g];
  }
  for (int64_t i = 0; i < n; ++i) {
    T b = best[i];
    I k = best_index[i];
    for (int g = 0; g < G; ++g) {
      const T v = r[g][i * s];
      const bool take = v > b || v != v;
      b = take ? v : b;
      k = take ? static_cast<I>(o[g] + static_cast<I>(i) * s) : k;
    }
    best[i] = b;
    best_index[i] = k;
  }
}

template <class T, class I, int S, int G>
void visit(T* best, I* best_index, const T* const* src, const I* index0, int g, int64_t n, int64_t stride) {
  switch (g) {
    case 1: return visit_taps<T, I, S, 1>(best, best_index, src, index0, n, stride);
    case 2: return visit_taps<T, I, S, 2>(best, best_index, src, index0, n, stride);
    case 3: return visit_taps<T, I, S, 3>(best, best_index, src, index0, n, stride);
    default: return visit_taps<T, I, S, 4>(best, best_index, src, index0, n, stride);
  }
}

template <class T, class I, int S>
int max_with_indices_fixed(const PoolCpuPlan& plan, const T* x, T* y, int64_t* indices) {
  constexpr int64_t L = kLanes<T>;
  constexpr int kRows = 8;  // padded row copies in a ring; pending taps span at most 4 rows
  const PoolParams& p = plan.p;
  const int64_t D = p.in[0], H = p.in[1], W = p.in[2];
  const int64_t Do = p.out[0], Ho = p.out[1], Wo = p.out[2];
  const int64_t kW = p.kernel[2], sW = S > 0 ? S : p.stride[2], dW = p.dilation[2], padW = p.pad[2];
  const int64_t wchunk = plan.wchunk;
  const PoolWindow* win_d = plan.win[0];
  const PoolWindow* win_h = plan.win[1];
  const PoolWindow* win_w = plan.win[2];
  const T* x_end = x + p.planes * D * H * W;
  const int64_t total = p.planes * Do * Ho * plan.nchunks;
  const int64_t buf_size = round_up(plan.span + L * (sW + 2), L);
  const int64_t acc_size = round_up(wchunk, L) + L;
  int status = kPoolOk;

  parallel_ranges(total, p.planes * (D * H * W + Do * Ho * Wo) >= kParallelElements,
                  [&](int64_t begin, int64_t end) {
    if (begin >= end) return;
    Buffer<T> bufs(kRows * buf_size), best(acc_size);
    Buffer<I> best_index(acc_size);
    if (!bufs.data || !best.data || !best_index.data) return set_status(&status, kPoolOutOfMemory);
    fill(bufs.data, kRows * buf_size, neg_inf<T>());
    fill(best.data, acc_size, neg_inf<T>());  // the rounded-up lanes past n are computed, never read
    fill(best_index.data, acc_size, I{0});
    RowCursor at(plan, begin);
    for (int64_t t = begin; t < end; ++t, at.next()) {
      const PoolWindow wd = win_d[at.od], wh = win_h[at.oh];
      const int64_t ow0 = at.c * wchunk, n = min64(wchunk, Wo - ow0);
      // g++ keeps the last vector of strided loops for its remainder loop: run one element further.
      const int64_t count = S == 1 ? round_up(n, L) : round_up(n, L) + 1;
      const int64_t c_lo = ow0 * sW - padW, c_hi = c_lo + (n - 1) * sW + (kW - 1) * dW + 1;
      const int64_t v_lo = max64(c_lo, 0), v_hi = min64(c_hi, W);
      // Without padding in this chunk the taps read x in place, when the rounded-up reads stay inside x.
      const bool in_place = v_lo == c_lo && v_hi == c_hi;
      const T* x_plane = x + at.plane * D * H * W;
      T* bv = best.data;
      I* bi = best_index.data;
      const int64_t first = (wd.first * H + wh.first) * W;
      for (int64_t i = 0; i < n; ++i) {
        bv[i] = neg_inf<T>();
        bi[i] = static_cast<I>(first + win_w[ow0 + i].first);
      }
      // The (row, kernel column) taps in scan order, visited four at a time.
      const T* taps[4];
      I index0[4];
      int g = 0, copies = 0;
      if (v_lo < v_hi) {
        for (int64_t a = 0; a < wd.count; ++a) {
          const int64_t id = wd.first + a * wd.step;
          for (int64_t e = 0; e < wh.count; ++e) {
            const int64_t row = (id * H + wh.first + e * wh.step) * W;
            const T* src = x_plane + row + c_lo;
            if (!in_place || src + (count + 1) * sW + (kW - 1) * dW > x_end) {
              T* b = bufs.data + (copies++ % kRows) * buf_size;
              fill(b, v_lo - c_lo, neg_inf<T>());
              std::memcpy(b + (v_lo - c_lo), x_plane + row + v_lo,
                          static_cast<std::size_t>(v_hi - v_lo) * sizeof(T));
              fill(b + (v_hi - c_lo), c_hi - v_hi, neg_inf<T>());
              src = b;
            }
            for (int64_t j = 0; j < kW; ++j) {
              taps[g] = src + j * dW;
              index0[g] = static_cast<I>(row + c_lo + j * dW);
              if (++g == 4) {
                visit<T, I, S, 4>(bv, bi, taps, index0, g, count, sW);
                g = 0;
              }
            }
          }
        }
      }
      if (g > 0) visit<T, I, S, 4>(bv, bi, taps, index0, g, count, sW);
      const int64_t out = ((at.plane * Do + at.od) * Ho + at.oh) * Wo + ow0;
      std::memcpy(y + out, bv, static_cast<std::size_t>(n) * sizeof(T));
      for (int64_t i = 0; i < n; ++i) indices[out + i] = bi[i];
    }
  });
  return status;
}

// Adaptive windows: one output at a time.
template <class T>
int max_with_indices(const PoolCpuPlan& plan, const T* x, T* y, int64_t* indices) {
  const PoolParams& p = plan.p;
  const int64_t D = p.in[0], H = p.in[1], W = p.in[2];
  const int64_t Do = p.out[0], Ho = p.out[1], Wo = p.out[2];
  const PoolWindow* win_d = plan.win[0];
  const PoolWindow* win_h = plan.win[1];
  const PoolWindow* win_w = plan.win[2];
  const int64_t total = p.planes * Do * Ho;
  parallel_ranges(total, p.planes * (D * H * W + Do * Ho * Wo) >= kParallelElements,
                  [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t oh = t % Ho, od = (t / Ho) % Do, plane = t / (Ho * Do);
      const PoolWindow wd = win_d[od], wh = win_h[oh];
      const T* x_plane = x + plane * D * H * W;
      T* out = y + t * Wo;
      int64_t* out_index = indices + t * Wo;
      for (int64_t ow = 0; ow < Wo; ++ow) {
        const PoolWindow ww = win_w[ow];
        T best = neg_inf<T>();
        int64_t best_index = (wd.first * H + wh.first) * W + ww.first;
        for (int64_t a = 0; a < wd.count; ++a) {
          const int64_t id = wd.first + a * wd.step;
          for (int64_t e = 0; e < wh.count; ++e) {
            const int64_t row = (id * H + wh.first + e * wh.step) * W;
            for (int64_t f = 0; f < ww.count; ++f) {
              const int64_t index = row + ww.first + f * ww.step;
              const T v = x_plane[index];
              // Selects instead of a branch: which element wins is data-dependent.
              const bool take = v > best || v != v;
              best = take ? v : best;
              best_index = take ? index : best_index;
            }
          }
        }
        out[ow] = best;
        out_index[ow] = best_index;
      }
    }
  });
  return kPoolOk;
}

// ---------------------------------------------------------------------------------------------
// 2x2 windows at W stride 2 that never reach padding or past the input (the 2x2 pooling of VGG,
// U-Net, SegNet; 2-d only): each output row is folded and finished straight from its two input
// rows in one pass. On 56-wide rows the row pipeline of `separable` costs ~20% more (measured on
// avg 2x2 over [8,64,112,112]).
template <class T>
bool is_dense_2x2(const PoolParams& p) {
  if (p.rule != WindowRule::fixed || p.kernel[0] != 1 || p.kernel[1] != 2 || p.kernel[2] != 2 ||
      p.stride[2] != 2 || p.dilation[1] != 1 || p.dilation[2] != 1)
    return false;
  for (int d = 1; d < 3; ++d)
    if (p.pad[d] != 0 || (p.out[d] - 1) * p.stride[d] + 2 > p.in[d]) return false;
  return true;
}

template <class T, PoolMode M, int P>
int dense_2x2(const PoolCpuPlan& plan, const T* x, T* y) {
  using R = Reduce<T, M>;
  const PoolParams& p = plan.p;
  const int64_t H = p.in[1], W = p.in[2], Ho = p.out[1], Wo = p.out[2], sH = p.stride[1];
  const int64_t divisor = M == PoolMode::avg ? avg_divisor(p, 4) : 4;
  // x * (1 / d) == x / d exactly when d is a power of two.
  const bool recip = (divisor & (divisor - 1)) == 0;
  const T scale = recip ? T(1) / static_cast<T>(divisor) : static_cast<T>(divisor);
  const double norm = P > 0 ? static_cast<double>(P) : p.norm_type;
  const Power<T, P> xf{p.norm_type};
  const int64_t total = p.planes * p.out[0] * Ho;
  parallel_ranges(total, total * (2 * W + Wo) >= kParallelElements, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t plane = r / Ho, oh = r % Ho;
      const T* __restrict r0 = x + (plane * H + oh * sH) * W;
      const T* __restrict r1 = r0 + W;
      T* __restrict out = y + r * Wo;
      for (int64_t i = 0; i < Wo; ++i) {
        const T v = R::combine(R::combine(xf(r0[2 * i]), xf(r0[2 * i + 1])),
                               R::combine(xf(r1[2 * i]), xf(r1[2 * i + 1])));
        if constexpr (M == PoolMode::avg) {
          out[i] = recip ? v * scale : v / scale;
        } else if constexpr (M == PoolMode::lp) {
          out[i] = lp_finish(v, 4, 4, norm);
        } else {
          out[i] = v;
        }
      }
    }
  });
  return kPoolOk;
}

// ---------------------------------------------------------------------------------------------
template <class T, PoolMode M, int P>
int run_mode(const PoolCpuPlan& plan, const T* x, T* y) {
  if (plan.global) return global_pool<T, M, P>(plan, x, y);
  if (plan.p.rule == WindowRule::adaptive) return separable<T, M, P, -1>(plan, x, y);
  if (is_dense_2x2<T>(plan.p)) return dense_2x2<T, M, P>(plan, x, y);
  switch (plan.p.stride[2]) {
    case 1: return separable<T, M, P, 1>(plan, x, y);
    case 2: return separable<T, M, P, 2>(plan, x, y);
    default: return separable<T, M, P, 0>(plan, x, y);
  }
}

template <class T>
int forward(const PoolCpuPlan& plan, const T* x, T* y, int64_t* indices) {
  if (indices) {
    if (plan.p.rule == WindowRule::adaptive) return max_with_indices<T>(plan, x, y, indices);
    // int32 indices while every index the kernel forms (also in the discarded rounded-up lanes) fits.
    if (plan.p.in[0] * plan.p.in[1] * plan.p.in[2] + plan.span * 4 > INT32_MAX / 2)
      return max_with_indices_fixed<T, int64_t, 0>(plan, x, y, indices);
    switch (plan.p.stride[2]) {
      case 1: return max_with_indices_fixed<T, int32_t, 1>(plan, x, y, indices);
      case 2: return max_with_indices_fixed<T, int32_t, 2>(plan, x, y, indices);
      default: return max_with_indices_fixed<T, int32_t, 0>(plan, x, y, indices);
    }
  }
  switch (plan.p.mode) {
    case PoolMode::max: return run_mode<T, PoolMode::max, 1>(plan, x, y);
    case PoolMode::avg: return run_mode<T, PoolMode::avg, 1>(plan, x, y);
    case PoolMode::lp:
      if (plan.p.norm_type == 1.0) return run_mode<T, PoolMode::lp, 1>(plan, x, y);
      if (plan.p.norm_type == 2.0) return run_mode<T, PoolMode::lp, 2>(plan, x, y);
      return run_mode<T, PoolMode::lp, 0>(plan, x, y);
  }
  return kPoolOk;
}

// Zero-fills each output plane and scatters its inputs in order (a repeated index keeps the later
// element). Planes are independent, so threads split planes; a few huge planes split the fill.
template <class T>
int64_t unpool(const UnpoolParams& p, const T* x, const int64_t* indices, T* y) {
  const int64_t planes = p.planes, in_plane = p.in_plane, out_plane = p.out_plane;
  const uint64_t limit = static_cast<uint64_t>(out_plane);
  int64_t bad = 0;
  auto scatter = [&](int64_t plane) {
    const T* __restrict xp = x + plane * in_plane;
    const int64_t* __restrict ip = indices + plane * in_plane;
    T* __restrict yp = y + plane * out_plane;
    int64_t skipped = 0;
    for (int64_t i = 0; i < in_plane; ++i) {
      const int64_t index = ip[i];
      if (static_cast<uint64_t>(index) < limit) {
        yp[index] = xp[i];
      } else {
        ++skipped;
      }
    }
    return skipped;
  };
  const bool parallel = planes * (in_plane + out_plane) >= kParallelElements;
  int threads = 1;
#ifdef _OPENMP
  threads = parallel ? omp_get_max_threads() : 1;
#endif
  const std::size_t plane_bytes = static_cast<std::size_t>(out_plane) * sizeof(T);
  if (planes >= threads) {
#pragma omp parallel for schedule(static) reduction(+ : bad) if (parallel)
    for (int64_t plane = 0; plane < planes; ++plane) {
      std::memset(y + plane * out_plane, 0, plane_bytes);
      bad += scatter(plane);
    }
  } else {
    constexpr int64_t kFillChunk = int64_t{1} << 16;
    const int64_t total = planes * out_plane, chunks = (total + kFillChunk - 1) / kFillChunk;
#pragma omp parallel if (parallel)
    {
#pragma omp for schedule(static)
      for (int64_t c = 0; c < chunks; ++c)
        std::memset(y + c * kFillChunk, 0,
                    static_cast<std::size_t>(min64(kFillChunk, total - c * kFillChunk)) * sizeof(T));
#pragma omp for schedule(static) reduction(+ : bad)
      for (int64_t plane = 0; plane < planes; ++plane) bad += scatter(plane);
    }
  }
  return bad;
}

}  // namespace

int pool_forward_kernel(const PoolCpuPlan& plan, std::uintptr_t x, std::uintptr_t y, std::uintptr_t indices,
                        DType dtype) {
  auto* ind = reinterpret_cast<int64_t*>(indices);
  switch (dtype) {
    case DType::float32:
      return forward(plan, reinterpret_cast<const float*>(x), reinterpret_cast<float*>(y), ind);
    case DType::float64:
      return forward(plan, reinterpret_cast<const double*>(x), reinterpret_cast<double*>(y), ind);
    default: return kPoolBadDtype;
  }
}

int64_t max_unpool_kernel(const UnpoolParams& p, std::uintptr_t x, std::uintptr_t indices, std::uintptr_t y,
                          DType dtype) {
  const auto* ind = reinterpret_cast<const int64_t*>(indices);
  switch (dtype) {
    case DType::float32:
      return unpool(p, reinterpret_cast<const float*>(x), ind, reinterpret_cast<float*>(y));
    case DType::float64:
      return unpool(p, reinterpret_cast<const double*>(x), ind, reinterpret_cast<double*>(y));
    default: return -1;
  }
}

}  // namespace pdk::PDK_ISA_NAMESPACE
