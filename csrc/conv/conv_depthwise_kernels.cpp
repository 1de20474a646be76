// Per-ISA direct depthwise convolution kernel: padded polyphase band buffers and a flat SIMD tap loop, and on AVX-512 an in-place path for stride 1.
//
// This file is compiled three times (base, AVX2+FMA, AVX-512) into pdk::PDK_ISA_NAMESPACE and
// conv_cpu.cpp picks one copy at run time. ODR: the linker keeps ONE copy of every weak (inline or
// template) symbol for all three objects, possibly the AVX-512 one, which would then run on CPUs
// without AVX-512. So everything here lives in pdk::PDK_ISA_NAMESPACE (helpers in an anonymous
// namespace inside it), nothing instantiates a std:: template or allocates (scratch is a fixed
// stack array per thread), there is no PDK_CHECK, and the shared inline helpers (padded_source,
// apply_activation) are only called from functions marked flatten, which forces them inline
// (`nm -C --defined-only` on the three objects shows no weak symbol outside pdk::isa_*).
// The x86 intrinsics headers only hold always-inline gnu_inline functions (never emitted).
//
// Scheme. Work items are (image, group of input channels, output depth, band of output rows,
// chunk of output columns); an item covers whole small planes of several channels at once (their
// per-call setup would otherwise be a good part of the work). For each input slice an item needs
// (one per kd), the padded input rows of the band are copied once into a per-thread buffer, split
// into stride phases: phase plane (a, b) holds padded rows a, a + sH, ... and columns b, b + sW,
// ... of the band, rows `P` apart. Every tap (kh, kw) then reads one phase plane at a constant
// offset from output position j = row * P + column, for any stride and dilation, so all taps of
// all output rows of the band are contiguous vector loads of one flat loop over j ("flat": vectors
// run across row ends; the P - wc columns past each row's end are computed and dropped). Padding
// of every mode is resolved while copying (zeros padding on AVX2/AVX-512: masked loads that read
// each padded row with its zeros; otherwise padded_source at the edges), so the tap loops have no
// branches. With stride 1 along H and P a multiple of the vector width, the sliding-row loop
// replaces the flat one: each input row vector is loaded once and feeds the kH output rows it
// belongs to, so the loop is bound by its FMAs instead of its (mostly line-split) loads. The sums
// land in an accumulator next to the buffer; the epilogue (bias, residual, activation) writes the
// valid columns of each row to the output. Every output channel of a multiplier group
// (co = ci * m + j) reuses the same buffer.
//
// Why copy instead of reading the input in place: the padding columns would need per-lane masks
// or separate edge loops in the tap loop, and on the small planes of late layers (14x14, 7x7)
// nearly every vector touches an edge. The copy costs one load and store per input element per kd
// against kH * kW FMAs per output element, and the tap loops then run whole vectors. AVX-512 has
// those masks for free, so there the commonest shapes (stride 1, zeros padding, 3x3/5x5/7x7) skip
// the copy: see the in-place path below.
#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "core/isa_intrinsics.h"

#include "conv/conv_common.h"
#include "conv/conv_cpu_kernels.h"
#include "gemm/gemm_common.h"

namespace pdk::PDK_ISA_NAMESPACE {
namespace {

#include "core/isa_vector.h"
#include "core/isa_rows.h"

// Output vectors the tap loop keeps in flight: 4 independent FMA chains hide the FMA latency
// while the loop is bound by its loads (one per FMA).
constexpr int kUnroll = 4;

// Per-thread scratch (phase planes + accumulator) on the stack: kTargetBytes is what the band
// sizing aims for (the band stays in L1 next to the input and output streams), kScratchBytes the
// hard cap; shapes that do not fit even one row at the vector width take the scalar path.
constexpr int64_t kTargetBytes = 32 * 1024;
constexpr int64_t kScratchBytes = 64 * 1024;
constexpr int64_t kMaxTaps = 512;    // kH * kW of the fast path
constexpr int64_t kMaxPhases = 16;   // used row phases and used column phases, each
constexpr int64_t kMaxRows = 512;    // band rows + row halo of the fast path

// Work items per thread the layout keeps at least (balance), and small planes per item at most.
constexpr int64_t kMinTasksPerThread = 4;
constexpr int64_t kMaxGroup = 16;

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }
inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
// Floor division for any sign of a (b > 0).
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }


// Lanes base[q + l] that lie inside [0, W), zeros elsewhere (AVX2 and AVX-512: masked loads, which
// never fault on the lanes left out, so q may point before or past the row).
#if defined(__AVX512F__) || defined(__AVX2__)
constexpr bool kMaskedLoads = true;
#else
constexpr bool kMaskedLoads = false;
#endif

template <class T>
struct LoadMask {
  using V = typename Vec<T>::type;
  using I = decltype(V{} < V{});   // integer vector of the same shape
  using E = decltype(I{}[0] + 0);  // its lane type (int or long)
  static constexpr int64_t L = kLanes<T>;
#if defined(__AVX512F__)
  using type = uint32_t;
  static type make(int64_t q, int64_t W) {
    const int64_t lo = min64(max64(-q, 0), L), hi = min64(max64(W - q, 0), L);
    return (~0u << lo) & ~(~0u << hi);
  }
  static V load(const T* base, int64_t q, type m) {
    if constexpr (sizeof(T) == 4) {
      return (V)_mm512_maskz_loadu_ps(static_cast<__mmask16>(m), base + q);
    } else {
      return (V)_mm512_maskz_loadu_pd(static_cast<__mmask8>(m), base + q);
    }
  }
#else
  using type = I;
  static type make(int64_t q, int64_t W) {
    I idx{};
    for (int64_t l = 0; l < L; ++l) idx[l] = static_cast<E>(l);
    idx += static_cast<E>(q);
    return (idx >= 0) & (idx < static_cast<E>(W));
  }
#if defined(__AVX2__)
  static V load(const T* base, int64_t q, type m) {
    if constexpr (sizeof(T) == 4) {
      return (V)_mm256_maskload_ps(base + q, (__m256i)m);
    } else {
      return (V)_mm256_maskload_pd(base + q, (__m256i)m);
    }
  }
#else
  static V load(const T* base, int64_t q, type m) {  // unused: kMaskedLoads is false
    V v{};
    for (int64_t l = 0; l < L; ++l)
      if (m[l]) v[l] = base[q + l];
    return v;
  }
#endif
#endif
};

// Load slots of a phase row whose masks are computed once per column chunk (longer rows compute
// the rest on the fly).
constexpr int64_t kMaskSlots = 64;

// A group of planes handled by one call (small planes: the per-call setup is a good part of the
// work): plane g's accumulator, band buffer, weights, output and bias are `g * stride` further.
struct Group {
  int64_t count, acc, buf, w, out, bias;
};

// ---------------------------------------------------------------------------------------------
// The epilogue for one residual/activation combination.
// Act: 0 none, 1 relu, 2 leaky_relu, 3 relu6 (vectorised), kOtherActivation: the rest, a scalar pass.
constexpr int kOtherActivation = 4;

inline int activation_code(Activation act) {
  return act == Activation::none         ? 0
         : act == Activation::relu       ? 1
         : act == Activation::leaky_relu ? 2
         : act == Activation::relu6      ? 3  // MobileNet-v2's: vectorised, not the scalar pass
                                         : kOtherActivation;
}

template <class T, bool Res, int Act>
void finish_rows_plane(const T* __restrict acc, int64_t P, T* out, const T* residual, int64_t pitch, int64_t rows,
                       int64_t n, T bias_s, Activation act, T slope_s) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  constexpr int64_t L = kLanes<T>;
  const V bias = V{} + bias_s, slope = V{} + slope_s;
  constexpr Activation kAct = Act == 1   ? Activation::relu
                              : Act == 2 ? Activation::leaky_relu
                              : Act == 3 ? Activation::relu6
                                         : Activation::none;  // none, or the scalar pass below
  auto value = [slope](V v) { return activate_vector<kAct>(v, slope); };
  const int64_t full = n / L * L;
  const auto tail = Partial<T>::mask(n - full);
  for (int64_t r = 0; r < rows; ++r, acc += P, out += pitch) {
    const T* res = Res ? residual + r * pitch : nullptr;
    for (int64_t i = 0; i < full; i += L) {
      V v = bias + *reinterpret_cast<const VU*>(acc + i);
      if constexpr (Res) v += *reinterpret_cast<const VU*>(res + i);
      *reinterpret_cast<VU*>(out + i) = value(v);
    }
    if (full < n) {
      V v = bias + *reinterpret_cast<const VU*>(acc + full);  // the accumulator has slack past each row
      if constexpr (Res) v += Partial<T>::load(res + full, tail);
      Partial<T>::store(out + full, value(v), tail);
    }
    if constexpr (Act == kOtherActivation)
      for (int64_t k = 0; k < n; ++k) out[k] = apply_activation(out[k], act, slope_s);
  }
}

template <class T, bool Res, int Act>
void finish_rows_as(const T* acc, int64_t P, T* out, const T* residual, int64_t pitch, int64_t rows, int64_t n,
                    const T* bias, Activation act, T slope, const Group& g) {
  for (int64_t i = 0; i < g.count; ++i)
    finish_rows_plane<T, Res, Act>(acc + i * g.acc, P, out + i * g.out, Res ? residual + i * g.out : nullptr, pitch,
                                   rows, n, bias ? bias[i * g.bias] : T(0), act, slope);
}

// The fused epilogue: out[r][i] = act(acc[r * P + i] + bias + residual[r][i]) for rows < rows and
// columns < n, for each plane of the group (bias: null or the first plane's). residual may be
// out itself: each vector is read before it is written. flatten inlines apply_activation.
template <class T>
__attribute__((flatten, noinline)) void finish_rows(const T* acc, int64_t P, T* out, const T* residual, int64_t pitch,
                                                    int64_t rows, int64_t n, const T* bias, Activation act, T slope,
                                                    const Group& g) {
  switch (activation_code(act) + (residual ? kOtherActivation + 1 : 0)) {
    case 0: return finish_rows_as<T, false, 0>(acc, P, out, residual, pitch, rows, n, bias, act, slope, g);
    case 1: return finish_rows_as<T, false, 1>(acc, P, out, residual, pitch, rows, n, bias, act, slope, g);
    case 2: return finish_rows_as<T, false, 2>(acc, P, out, residual, pitch, rows, n, bias, act, slope, g);
    case 3: return finish_rows_as<T, false, 3>(acc, P, out, residual, pitch, rows, n, bias, act, slope, g);
    case 4: return finish_rows_as<T, false, 4>(acc, P, out, residual, pitch, rows, n, bias, act, slope, g);
    case 5: return finish_rows_as<T, true, 0>(acc, P, out, residual, pitch, rows, n, bias, act, slope, g);
    case 6: return finish_rows_as<T, true, 1>(acc, P, out, residual, pitch, rows, n, bias, act, slope, g);
    case 7: return finish_rows_as<T, true, 2>(acc, P, out, residual, pitch, rows, n, bias, act, slope, g);
    case 8: return finish_rows_as<T, true, 3>(acc, P, out, residual, pitch, rows, n, bias, act, slope, g);
    default: return finish_rows_as<T, true, 4>(acc, P, out, residual, pitch, rows, n, bias, act, slope, g);
  }
}

// ---------------------------------------------------------------------------------------------
// The tap loop: acc[j] (= or +=) sum_t w[t] * buf[offs[t] + j] for j < n (a multiple of the
// vector width), for each plane of the group. NT > 0: the tap count at compile time (weights stay
// in registers).
template <class T, int NT, bool Accumulate>
void tap_loop_plane(T* __restrict acc, const T* __restrict buf, const int64_t* __restrict offs,
                    const T* __restrict w, int64_t ntaps, int64_t n) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  constexpr int64_t L = kLanes<T>;
  constexpr int U = kUnroll;
  if constexpr (NT > 0) {
    const T* p[NT];
    V wv[NT];
#pragma GCC unroll 64
    for (int t = 0; t < NT; ++t) {
      p[t] = buf + offs[t];
      wv[t] = V{} + w[t];
    }
    int64_t j = 0;
    for (; j + U * L <= n; j += U * L) {
      V s[U];
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u) s[u] = Accumulate ? *reinterpret_cast<const V*>(acc + j + u * L) : V{};
#pragma GCC unroll 64
      for (int t = 0; t < NT; ++t)
#pragma GCC unroll 8
        for (int u = 0; u < U; ++u) s[u] += wv[t] * *reinterpret_cast<const VU*>(p[t] + j + u * L);
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u) *reinterpret_cast<V*>(acc + j + u * L) = s[u];
    }
    for (; j < n; j += L) {
      V s = Accumulate ? *reinterpret_cast<const V*>(acc + j) : V{};
#pragma GCC unroll 64
      for (int t = 0; t < NT; ++t) s += wv[t] * *reinterpret_cast<const VU*>(p[t] + j);
      *reinterpret_cast<V*>(acc + j) = s;
    }
  } else {
    int64_t j = 0;
    for (; j + U * L <= n; j += U * L) {
      V s[U];
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u) s[u] = Accumulate ? *reinterpret_cast<const V*>(acc + j + u * L) : V{};
      for (int64_t t = 0; t < ntaps; ++t) {
        const V wt = V{} + w[t];
        const T* pt = buf + offs[t] + j;
#pragma GCC unroll 8
        for (int u = 0; u < U; ++u) s[u] += wt * *reinterpret_cast<const VU*>(pt + u * L);
      }
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u) *reinterpret_cast<V*>(acc + j + u * L) = s[u];
    }
    for (; j < n; j += L) {
      V s = Accumulate ? *reinterpret_cast<const V*>(acc + j) : V{};
      for (int64_t t = 0; t < ntaps; ++t) s += (V{} + w[t]) * *reinterpret_cast<const VU*>(buf + offs[t] + j);
      *reinterpret_cast<V*>(acc + j) = s;
    }
  }
}

template <class T, int NT, bool Accumulate>
__attribute__((noinline)) void tap_loop(T* acc, const T* buf, const int64_t* offs, const T* w, int64_t ntaps,
                                        int64_t n, const Group& g) {
  for (int64_t i = 0; i < g.count; ++i)
    tap_loop_plane<T, NT, Accumulate>(acc + i * g.acc, buf + i * g.buf, offs, w + i * g.w, ntaps, n);
}

template <class T, bool Accumulate>
void taps(T* acc, const T* buf, const int64_t* offs, const T* w, int64_t ntaps, int64_t n, const Group& g) {
  switch (ntaps) {
    case 1: return tap_loop<T, 1, Accumulate>(acc, buf, offs, w, ntaps, n, g);
    case 3: return tap_loop<T, 3, Accumulate>(acc, buf, offs, w, ntaps, n, g);
    case 5: return tap_loop<T, 5, Accumulate>(acc, buf, offs, w, ntaps, n, g);
    case 9: return tap_loop<T, 9, Accumulate>(acc, buf, offs, w, ntaps, n, g);
    case 25: return tap_loop<T, 25, Accumulate>(acc, buf, offs, w, ntaps, n, g);
    default: return tap_loop<T, 0, Accumulate>(acc, buf, offs, w, ntaps, n, g);
  }
}

// Stride 1 and dilation 1 along H, one phase plane, P a multiple of the vector width: rows of
// the band buffer are whole vectors apart, so each input row vector is loaded once (per kw) and
// feeds the KH output rows it belongs to (KH accumulators in registers, rotated as the rows
// advance). The flat loop loads every input vector KH times; this one is bound by its FMAs.
// acc row o (= or +=) sum_{kh, kw} w[kh][kw] * buf[(o + kh) * P + coff[kw] + column].
template <class T, int KH, int KW, bool Accumulate>
void slide_plane(T* __restrict acc, const T* __restrict buf, const int64_t* __restrict coff, const T* __restrict w,
                 int64_t rows, int64_t P, int64_t wc) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  constexpr int64_t L = kLanes<T>;
  V wv[KH][KW];
  int64_t co[KW];
#pragma GCC unroll 8
  for (int kh = 0; kh < KH; ++kh)
#pragma GCC unroll 8
    for (int kw = 0; kw < KW; ++kw) wv[kh][kw] = V{} + w[kh * KW + kw];
#pragma GCC unroll 8
  for (int kw = 0; kw < KW; ++kw) co[kw] = coff[kw];
  for (int64_t c = 0; c < wc; c += L) {
    const T* b = buf + c;
    T* out = acc + c;
    V a[KH];
#pragma GCC unroll 8
    for (int i = 0; i < KH; ++i) a[i] = V{};
    // After input row q, a[0] holds output row q - KH + 1 complete, a[i] row q - KH + 1 + i.
    for (int64_t q = 0; q < rows + KH - 1; ++q, b += P) {
      V x[KW];
#pragma GCC unroll 8
      for (int kw = 0; kw < KW; ++kw) x[kw] = *reinterpret_cast<const VU*>(b + co[kw]);
#pragma GCC unroll 8
      for (int i = 0; i < KH; ++i)
#pragma GCC unroll 8
        for (int kw = 0; kw < KW; ++kw) a[i] += wv[KH - 1 - i][kw] * x[kw];
      const int64_t o = q - (KH - 1);
      if (o >= 0) {
        V* dst = reinterpret_cast<V*>(out + o * P);
        *dst = Accumulate ? *dst + a[0] : a[0];
      }
#pragma GCC unroll 8
      for (int i = 0; i + 1 < KH; ++i) a[i] = a[i + 1];
      a[KH - 1] = V{};
    }
  }
}

template <class T, int KH, int KW, bool Accumulate>
__attribute__((noinline)) void slide_loop(T* acc, const T* buf, const int64_t* coff, const T* w, int64_t rows,
                                          int64_t P, int64_t wc, const Group& g) {
  for (int64_t i = 0; i < g.count; ++i)
    slide_plane<T, KH, KW, Accumulate>(acc + i * g.acc, buf + i * g.buf, coff, w + i * g.w, rows, P, wc);
}

// The kernel shapes slide_plane is compiled for (kH * 10 + kW), 0 for none.
inline int slide_shape(int64_t kH, int64_t kW) {
  const int64_t s = kH * 10 + kW;
  return s == 33 || s == 55 || s == 77 ? static_cast<int>(s) : 0;
}

template <class T, bool Accumulate>
void slide(int shape, T* acc, const T* buf, const int64_t* coff, const T* w, int64_t rows, int64_t P, int64_t wc,
           const Group& g) {
  switch (shape) {
    case 33: return slide_loop<T, 3, 3, Accumulate>(acc, buf, coff, w, rows, P, wc, g);
    case 55: return slide_loop<T, 5, 5, Accumulate>(acc, buf, coff, w, rows, P, wc, g);
    default: return slide_loop<T, 7, 7, Accumulate>(acc, buf, coff, w, rows, P, wc, g);
  }
}

// ---------------------------------------------------------------------------------------------
// Geometry of the band buffers, fixed for the whole call.
struct Layout {
  int64_t wc = 0, nchunks = 0;  // output columns per chunk
  int64_t band = 0, nbands = 0; // output rows per band
  int64_t col_halo = 0;         // (kW - 1) * dW / sW: extra columns per phase row
  int64_t row_halo = 0;         // (kH - 1) * dH / sH
  int64_t P = 0;                // pitch of a phase-plane row: wc + col_halo
  int64_t plane = 0;            // elements per phase plane, slack for the flat loop's overrun included
  int64_t acc_elems = 0;
  int64_t set = 0;              // elements of the phase planes of one input plane
  int64_t group = 1;            // input planes per work item (small whole planes)
  int64_t scratch = 0;          // elements of scratch used: group * set, then group accumulators
  int64_t na = 0, nb = 0;       // used row / column phases
  int64_t ua[kMaxPhases] = {}, ub[kMaxPhases] = {};        // their phase values
  int64_t row_lo[kMaxPhases] = {}, row_hi[kMaxPhases] = {}; // rows of phase ua[i]: [lo, hi + band rows)
  int slide = 0;                // slide_shape when slide_plane runs the taps, else 0
  int64_t ntaps = 0;
  int64_t offs[kMaxTaps] = {};  // tap (kh, kw) -> offset of its phase plane row/column
};

// Sizes wc and band for the scratch; false when even one row of one vector does not fit.
template <class T>
bool plan_layout(const ConvParams& p, int64_t threads, Layout* lay) {
  constexpr int64_t L = kLanes<T>;
  const int64_t kH = p.kernel[1], kW = p.kernel[2], sH = p.stride[1], sW = p.stride[2];
  const int64_t dH = p.dilation[1], dW = p.dilation[2], Ho = p.out[1], Wo = p.out[2];
  if (kH * kW > kMaxTaps) return false;
  lay->ntaps = kH * kW;
  // Used phases: the residues of the tap offsets.
  lay->na = lay->nb = 0;
  for (int64_t kh = 0; kh < kH; ++kh) {
    const int64_t a = (kh * dH) % sH, r = (kh * dH) / sH;
    int64_t i = 0;
    while (i < lay->na && lay->ua[i] != a) ++i;
    if (i == lay->na) {
      if (lay->na == kMaxPhases) return false;
      lay->ua[lay->na++] = a;
      lay->row_lo[i] = r;
      lay->row_hi[i] = r;
    }
    lay->row_lo[i] = min64(lay->row_lo[i], r);
    lay->row_hi[i] = max64(lay->row_hi[i], r);
  }
  for (int64_t kw = 0; kw < kW; ++kw) {
    const int64_t b = (kw * dW) % sW;
    int64_t i = 0;
    while (i < lay->nb && lay->ub[i] != b) ++i;
    if (i == lay->nb) {
      if (lay->nb == kMaxPhases) return false;
      lay->ub[lay->nb++] = b;
    }
  }
  lay->col_halo = ((kW - 1) * dW) / sW;
  lay->row_halo = ((kH - 1) * dH) / sH;
  const int64_t phases = lay->na * lay->nb;
  auto size = [&](int64_t wc, int64_t band) {
    const int64_t P = wc + lay->col_halo;
    return phases * round_up((band + lay->row_halo) * P + L, L) + round_up(band * P, L) + L;
  };
  const int64_t target = kTargetBytes / static_cast<int64_t>(sizeof(T));
  const int64_t cap = kScratchBytes / static_cast<int64_t>(sizeof(T));
  // Whole rows when a few of them fit the target, else column chunks (multiples of the vector).
  int64_t wc = Wo;
  const int64_t min_band = min64(Ho, 4);
  while (wc > L && size(wc, min_band) > target) wc = round_up(ceil_div(wc, 2), L);
  int64_t band = 1;
  if (size(wc, 1) > cap) return false;
  while (band < Ho && band + 1 + lay->row_halo <= kMaxRows && size(wc, band + 1) <= target) ++band;
  if (band + lay->row_halo > kMaxRows) return false;
  lay->wc = wc;
  lay->nchunks = ceil_div(Wo, wc);
  // Enough work items for every thread (one image and channel, a 1-d signal): thinner bands.
  const int64_t outer = p.batch * p.in_channels * p.out[0] * lay->nchunks;
  if (threads > 1 && outer * ceil_div(Ho, band) < kMinTasksPerThread * threads) {
    const int64_t want = ceil_div(kMinTasksPerThread * threads, outer);
    band = max64(1, min64(band, ceil_div(Ho, want)));
  }
  lay->band = band;
  lay->nbands = ceil_div(Ho, band);
  lay->P = wc + lay->col_halo;
  // slide_plane needs whole-vector rows: worth a few dropped columns (at most 1/8 more work).
  lay->slide = 0;
  if (sH == 1 && dH == 1 && lay->na == 1 && lay->nb == 1 && slide_shape(kH, kW) != 0 &&
      round_up(lay->P, L) * 8 <= lay->P * 9) {
    lay->slide = slide_shape(kH, kW);
    lay->P = round_up(lay->P, L);
    if (phases * round_up((band + lay->row_halo) * lay->P + L, L) + round_up(band * lay->P, L) + L > cap) {
      lay->slide = 0;
      lay->P = wc + lay->col_halo;
    }
  }
  lay->plane = round_up((band + lay->row_halo) * lay->P + L, L);
  lay->acc_elems = round_up(band * lay->P, L) + L;  // slack: the epilogue reads whole vectors
  lay->set = phases * lay->plane;
  // Small whole planes (2-d/1-d): several per item, up to the target and while every thread keeps
  // a few items.
  lay->group = 1;
  if (lay->nbands == 1 && lay->nchunks == 1 && p.kernel[0] == 1 && p.out[0] == 1) {
    const int64_t per = lay->set + lay->acc_elems;
    const int64_t items_cap = max64(1, p.batch * p.in_channels / (kMinTasksPerThread * max64(threads, 1)));
    lay->group = max64(1, min64(min64(target / per, kMaxGroup), min64(p.in_channels, items_cap)));
  }
  lay->scratch = lay->group * (lay->set + lay->acc_elems);
  for (int64_t kh = 0; kh < kH; ++kh) {
    int64_t ia = 0;
    while (lay->ua[ia] != (kh * dH) % sH) ++ia;
    for (int64_t kw = 0; kw < kW; ++kw) {
      int64_t ib = 0;
      while (lay->ub[ib] != (kw * dW) % sW) ++ib;
      lay->offs[kh * kW + kw] = (ia * lay->nb + ib) * lay->plane + ((kh * dH) / sH) * lay->P + (kw * dW) / sW;
    }
  }
  return true;
}

// Compile-time booleans for generic lambdas (no std::integral_constant: no std:: templates here).
struct True {
  static constexpr bool value = true;
};
struct False {
  static constexpr bool value = false;
};


// Where the columns of one column phase come from, for one chunk: phase index i reads padded
// column first + i * sW; [lo, hi) are inside the input, [vlo, vhi) of them are copied by the
// vector loops (the rest, and all padding, cell by cell).
struct ColumnRange {
  int64_t first, lo, hi, vlo, vhi;
};

template <class T>
struct Args {
  const ConvParams* p;
  const Layout* lay;
  const T* x;
  const T* w;
  const T* bias;
  const T* residual;
  T* out;
};

// What a band-buffer row holds (zeros padding only: the padding cells of a data row stay zero
// until the column geometry changes, a zero row stays zero).
enum : uint8_t { kRowUnknown = 0, kRowData = 1, kRowZero = 2 };

// One thread's state: the band buffer and what it holds.
template <class T>
struct Band {
  T* scratch;
  ColumnRange cols[kMaxPhases];
  uint8_t state[kMaxPhases][kMaxRows];
  int64_t chunk = -1, ncols = -1;
  bool combined = false;  // stride 2, both column phases from one de-interleave
  // Masks of the masked-load build (zeros padding, stride 1 or combined stride 2): slot k of a
  // row loads input columns first + k * L.
  typename LoadMask<T>::type masks[kMaskSlots];
};

// Sets the column ranges of chunk `chunk` (ncols phase columns from output column ow0); forgets
// the row states when the geometry changes.
template <class T>
void set_columns(const ConvParams& p, const Layout& lay, int64_t chunk, int64_t ow0, int64_t ncols, Band<T>* b) {
  if (chunk == b->chunk) return;
  const int64_t sW = p.stride[2], W = p.in[2];
  bool changed = ncols != b->ncols;
  for (int64_t ib = 0; ib < lay.nb; ++ib) {
    const int64_t first = ow0 * sW - p.pad[2] + lay.ub[ib];
    const int64_t lo = min64(ncols, ceil_div(max64(-first, 0), sW));
    const int64_t hi = max64(lo, min64(ncols, floor_div(W - 1 - first, sW) + 1));
    ColumnRange c{first, lo, hi, lo, hi};
    changed = changed || c.lo != b->cols[ib].lo || c.hi != b->cols[ib].hi;
    b->cols[ib] = c;
  }
  b->combined = sW == 2 && lay.nb == 2 && lay.ub[0] == 0 && lay.ub[1] == 1;
  if (b->combined) {
    const int64_t vlo = max64(b->cols[0].lo, b->cols[1].lo);
    const int64_t vhi = max64(vlo, min64(b->cols[0].hi, b->cols[1].hi));
    for (int64_t ib = 0; ib < 2; ++ib) {
      b->cols[ib].vlo = vlo;
      b->cols[ib].vhi = vhi;
    }
  }
  if (kMaskedLoads) {
    constexpr int64_t L = kLanes<T>;
    const int64_t slots = min64(kMaskSlots, b->combined ? 2 * ceil_div(ncols, L) : ceil_div(ncols, L));
    for (int64_t k = 0; k < slots; ++k) b->masks[k] = LoadMask<T>::make(b->cols[0].first + k * L, W);
  }
  if (changed)
    for (int64_t ia = 0; ia < lay.na; ++ia)
      for (int64_t r = 0; r < kMaxRows; ++r) b->state[ia][r] = kRowUnknown;
  b->chunk = chunk;
  b->ncols = ncols;
}

// Phase row dst (ncols cells) from input row `row`; with `pads` also the padding cells.
template <class T>
void build_cells(T* dst, const T* row, const ColumnRange& c, int64_t ncols, int64_t sW, int64_t W, PaddingMode mode,
                 bool pads) {
  for (int64_t i = c.lo; i < c.vlo; ++i) dst[i] = row[c.first + i * sW];
  for (int64_t i = c.vhi; i < c.hi; ++i) dst[i] = row[c.first + i * sW];
  if (!pads) return;
  if (mode == PaddingMode::zeros) {
    zero_exact(dst, c.lo);
    zero_exact(dst + c.hi, ncols - c.hi);
    return;
  }
  // Phases other than the widest are copied a few columns past what any tap reads (dropped
  // lanes only), possibly past the reach of padded_source: those cells get a zero.
  for (int64_t i = 0; i < ncols; ++i) {
    if (i == c.lo) i = c.hi;
    if (i >= ncols) break;
    const int64_t src = padded_source(c.first + i * sW, W, mode);
    dst[i] = static_cast<uint64_t>(src) < static_cast<uint64_t>(W) ? row[src] : T(0);
  }
}

// build_band for zeros padding at column stride 1 (Two = false) or 2 with both phases (Two = true),
// on ISAs with masked loads: each padded row is read with its zeros by masked loads (masks per
// load slot from set_columns) and written with whole-vector stores (the overrun lands in the next
// row, written after, or in the plane's slack). One: every phase row is one vector, its masks
// stay in registers. Every input is a local: the vector stores may alias anything.
template <class T, bool Two, bool One>
void build_masked(const T* x_slice, int64_t x_stride, int64_t count, T* scratch, int64_t set, int64_t H,
                  int64_t W, int64_t sH, int64_t first, int64_t P, int64_t plane, int64_t ncols, int64_t na,
                  const int64_t* ih0, const int64_t* r0, const int64_t* r1,
                  const typename LoadMask<T>::type* masks) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  using I = decltype(V{} < V{});
  using LM = LoadMask<T>;
  constexpr int64_t L = kLanes<T>;
  I ie{}, io{};
  for (int64_t k = 0; k < L; ++k) {
    ie[k] = 2 * k;
    io[k] = 2 * k + 1;
  }
  const auto m0 = masks[0], m1 = masks[Two ? 1 : 0];
  V z = V{};
  opaque(z);
  for (int64_t g = 0; g < count; ++g, x_slice += x_stride, scratch += set) {
    for (int64_t ia = 0; ia < na; ++ia) {
      int64_t ih = ih0[ia];
      T* dst = scratch + ia * (Two ? 2 : 1) * plane + r0[ia] * P;
      for (int64_t r = r0[ia]; r < r1[ia]; ++r, ih += sH, dst += P) {
        if (static_cast<uint64_t>(ih) >= static_cast<uint64_t>(H)) {
          for (int64_t i = 0; i < ncols; i += L) {
            *reinterpret_cast<VU*>(dst + i) = z;
            if (Two) *reinterpret_cast<VU*>(dst + plane + i) = z;
          }
          continue;
        }
        const T* row = x_slice + ih * W;
        if constexpr (One && !Two) {
          *reinterpret_cast<VU*>(dst) = LM::load(row, first, m0);
        } else if constexpr (One) {
          const V a = LM::load(row, first, m0), c = LM::load(row, first + L, m1);
          *reinterpret_cast<VU*>(dst) = __builtin_shuffle(a, c, ie);
          *reinterpret_cast<VU*>(dst + plane) = __builtin_shuffle(a, c, io);
        } else if constexpr (!Two) {
          int64_t k = 0;
          for (int64_t i = 0; i < ncols; i += L, ++k) {
            const auto m = k < kMaskSlots ? masks[k] : LM::make(first + i, W);
            V v = LM::load(row, first + i, m);
            opaque(v);
            *reinterpret_cast<VU*>(dst + i) = v;
          }
        } else {
          int64_t k = 0;
          for (int64_t i = 0; i < ncols; i += L, k += 2) {
            const auto ma = k < kMaskSlots ? masks[k] : LM::make(first + 2 * i, W);
            const auto mb = k + 1 < kMaskSlots ? masks[k + 1] : LM::make(first + 2 * i + L, W);
            const V a = LM::load(row, first + 2 * i, ma), c = LM::load(row, first + 2 * i + L, mb);
            *reinterpret_cast<VU*>(dst + i) = __builtin_shuffle(a, c, ie);
            *reinterpret_cast<VU*>(dst + plane + i) = __builtin_shuffle(a, c, io);
          }
        }
      }
    }
  }
}

// One plane of build_band, into scratch.
template <class T>
inline void build_band_plane(const ConvParams& p, const Layout& lay, const T* x_slice, T* scratch, int64_t oh0,
                             int64_t rows, int64_t ncols, Band<T>* b) {
  const int64_t H = p.in[1], W = p.in[2], sH = p.stride[1], sW = p.stride[2], pH = p.pad[1];
  const bool zeros = p.padding_mode == PaddingMode::zeros;
  for (int64_t ia = 0; ia < lay.na; ++ia) {
    uint8_t* state = b->state[ia];
    for (int64_t r = lay.row_lo[ia]; r < lay.row_hi[ia] + rows; ++r) {
      const int64_t ih = padded_source((oh0 + r) * sH - pH + lay.ua[ia], H, p.padding_mode);
      T* plane_row = scratch + ia * lay.nb * lay.plane + r * lay.P;
      if (ih < 0) {
        if (state[r] != kRowZero)
          for (int64_t ib = 0; ib < lay.nb; ++ib) zero_exact(plane_row + ib * lay.plane, ncols);
        state[r] = kRowZero;
        continue;
      }
      const T* row = x_slice + ih * W;
      const bool pads = !zeros || state[r] == kRowUnknown;
      if (b->combined) {
        const ColumnRange& c = b->cols[0];
        deinterleave(plane_row + c.vlo, plane_row + lay.plane + c.vlo, row + c.first + 2 * c.vlo, c.vhi - c.vlo);
      } else {
        for (int64_t ib = 0; ib < lay.nb; ++ib) {
          const ColumnRange& c = b->cols[ib];
          T* dst = plane_row + ib * lay.plane;
          if (sW == 1) {
            copy_exact(dst + c.vlo, row + c.first + c.vlo, c.vhi - c.vlo);
          } else {
            for (int64_t i = c.vlo; i < c.vhi; ++i) dst[i] = row[c.first + i * sW];
          }
        }
      }
      for (int64_t ib = 0; ib < lay.nb; ++ib)
        build_cells(plane_row + ib * lay.plane, row, b->cols[ib], ncols, sW, W, p.padding_mode, pads);
      // A zero row's cells were all zero: its padding cells still are.
      state[r] = zeros ? kRowData : kRowUnknown;
    }
  }
}

// Copies the band rows of input slice x_slice (output rows [oh0, oh0 + rows), ncols phase columns
// of the current chunk) into the phase planes, for `count` planes (x_stride apart in x, lay.set
// apart in the scratch).
template <class T>
__attribute__((flatten, noinline)) void build_band(const ConvParams& p, const Layout& lay, const T* x_slice,
                                                   int64_t x_stride, int64_t count, int64_t oh0, int64_t rows,
                                                   int64_t ncols, Band<T>* b) {
  const int64_t sW = p.stride[2];
  if (kMaskedLoads && p.padding_mode == PaddingMode::zeros && ((sW == 1 && lay.nb == 1) || b->combined)) {
    int64_t ih0[kMaxPhases], r0[kMaxPhases], r1[kMaxPhases];
    for (int64_t ia = 0; ia < lay.na; ++ia) {
      r0[ia] = lay.row_lo[ia];
      r1[ia] = lay.row_hi[ia] + rows;
      ih0[ia] = (oh0 + r0[ia]) * p.stride[1] - p.pad[1] + lay.ua[ia];
    }
    constexpr int64_t L = kLanes<T>;
    const bool one = ncols <= L;
    const int64_t first = b->cols[0].first;
    auto run = [&](auto two, auto single) {
      build_masked<T, decltype(two)::value, decltype(single)::value>(
          x_slice, x_stride, count, b->scratch, lay.set, p.in[1], p.in[2], p.stride[1], first, lay.P, lay.plane,
          ncols, lay.na, ih0, r0, r1, b->masks);
    };
    if (b->combined) {
      if (one) run(True{}, True{}); else run(True{}, False{});
    } else {
      if (one) run(False{}, True{}); else run(False{}, False{});
    }
    return;
  }
  for (int64_t g = 0; g < count; ++g)
    build_band_plane(p, lay, x_slice + g * x_stride, b->scratch + g * lay.set, oh0, rows, ncols, b);
  if (count < lay.group)  // the row states now hold for some planes only
    for (int64_t ia = 0; ia < lay.na; ++ia)
      for (int64_t r = 0; r < kMaxRows; ++r) b->state[ia][r] = kRowUnknown;
}

// The input slice od reads with tap kd, or -1 (zeros padding).
__attribute__((flatten)) int64_t slice_source(const ConvParams& p, int64_t od, int64_t kd) {
  return padded_source(od * p.stride[0] - p.pad[0] + kd * p.dilation[0], p.in[0], p.padding_mode);
}

// Walks the work items (plane group, od, band, chunk) of a thread's range in order.
struct ItemCursor {
  int64_t nchunks, nbands, Do;
  int64_t pgroup, od, band, chunk;
  ItemCursor(const Layout& lay, int64_t Do_, int64_t begin) : nchunks(lay.nchunks), nbands(lay.nbands), Do(Do_) {
    chunk = begin % nchunks;
    int64_t t = begin / nchunks;
    band = t % nbands;
    t /= nbands;
    od = t % Do;
    pgroup = t / Do;
  }
  void next() {
    if (++chunk < nchunks) return;
    chunk = 0;
    if (++band < nbands) return;
    band = 0;
    if (++od < Do) return;
    od = 0;
    ++pgroup;
  }
};

// Work items [begin, end) of the fast path, on one thread.
template <class T>
void run_items(const Args<T>& A, int64_t begin, int64_t end) {
  const ConvParams& p = *A.p;
  const Layout& lay = *A.lay;
  constexpr int64_t L = kLanes<T>;
  alignas(64) T scratch[kScratchBytes / sizeof(T)];
  // Flat vectors past a row's end read cells that are never copied: start from zeros so those
  // dropped lanes never hold NaN or denormals (denormal operands are slow).
  zero_exact(scratch, lay.scratch);
  Band<T> band;
  band.scratch = scratch;
  T* acc = scratch + lay.group * lay.set;
  const int64_t D = p.in[0], H = p.in[1], W = p.in[2], Do = p.out[0], Ho = p.out[1], Wo = p.out[2];
  const int64_t kD = p.kernel[0], kHW = p.kernel[1] * p.kernel[2], C = p.in_channels;
  const int64_t m = p.out_channels / C, in_plane = D * H * W, out_plane = Do * Ho * Wo;
  const int64_t groups_per_image = ceil_div(C, lay.group);
  const Activation act = p.activation;
  const T slope = static_cast<T>(p.negative_slope);
  Group g{0, lay.acc_elems, lay.set, m * kD * kHW, m * out_plane, m};
  ItemCursor at(lay, Do, begin);
  for (int64_t item = begin; item < end; ++item, at.next()) {
    const int64_t n_img = at.pgroup / groups_per_image, ci0 = (at.pgroup % groups_per_image) * lay.group;
    g.count = min64(lay.group, C - ci0);
    const int64_t od = at.od, oh0 = at.band * lay.band, rows = min64(lay.band, Ho - oh0);
    const int64_t ow0 = at.chunk * lay.wc, wc = min64(lay.wc, Wo - ow0), ncols = wc + lay.col_halo;
    set_columns(p, lay, at.chunk, ow0, ncols, &band);
    const int64_t nflat = round_up((rows - 1) * lay.P + wc, L);
    const T* x_plane = A.x + (n_img * C + ci0) * in_plane;
    int64_t built = -1;  // input slice in the phase planes
    for (int64_t j = 0; j < m; ++j) {
      const int64_t co = ci0 * m + j;
      bool any = false;
      for (int64_t kd = 0; kd < kD; ++kd) {
        const int64_t id = slice_source(p, od, kd);
        if (id < 0) continue;  // a zeros-padding slice adds nothing
        if (id != built) {
          build_band(p, lay, x_plane + id * H * W, in_plane, g.count, oh0, rows, ncols, &band);
          built = id;
        }
        const T* wt = A.w + (co * kD + kd) * kHW;
        if (lay.slide && any) {
          slide<T, true>(lay.slide, acc, scratch, lay.offs, wt, rows, lay.P, wc, g);
        } else if (lay.slide) {
          slide<T, false>(lay.slide, acc, scratch, lay.offs, wt, rows, lay.P, wc, g);
        } else if (any) {
          taps<T, true>(acc, scratch, lay.offs, wt, lay.ntaps, nflat, g);
        } else {
          taps<T, false>(acc, scratch, lay.offs, wt, lay.ntaps, nflat, g);
        }
        any = true;
      }
      if (!any)  // every slice was zeros padding
        for (int64_t i = 0; i < g.count; ++i) zero_exact(acc + i * g.acc, nflat);
      const int64_t o = ((n_img * p.out_channels + co) * Do + od) * Ho * Wo + oh0 * Wo + ow0;
      finish_rows(acc, lay.P, A.out + o, A.residual ? A.residual + o : nullptr, Wo, rows, wc,
                  A.bias ? A.bias + co : nullptr, act, slope, g);
    }
  }
}

// Shapes the band buffers cannot hold (huge kernels or dilations): a scalar loop over taps per
// output, rows of up to 64 outputs through the shared epilogue.
template <class T>
__attribute__((flatten)) void run_scalar_rows(const Args<T>& A, int64_t begin, int64_t end) {
  const ConvParams& p = *A.p;
  const int64_t D = p.in[0], H = p.in[1], W = p.in[2], Do = p.out[0], Ho = p.out[1], Wo = p.out[2];
  const int64_t kD = p.kernel[0], kH = p.kernel[1], kW = p.kernel[2];
  const int64_t m = p.out_channels / p.in_channels;
  constexpr int64_t kChunk = 64;
  alignas(64) T acc[kChunk + 64];
  for (int64_t row = begin; row < end; ++row) {  // row = ((n * C_out + co) * Do + od) * Ho + oh
    const int64_t oh = row % Ho, od = (row / Ho) % Do, nc = row / (Ho * Do);
    const int64_t co = nc % p.out_channels, n_img = nc / p.out_channels, ci = co / m;
    const T* x_plane = A.x + (n_img * p.in_channels + ci) * D * H * W;
    const T* wc = A.w + co * kD * kH * kW;
    const T slope = static_cast<T>(p.negative_slope);
    for (int64_t ow0 = 0; ow0 < Wo; ow0 += kChunk) {
      const int64_t n = min64(kChunk, Wo - ow0);
      for (int64_t i = 0; i < n; ++i) {
        T s = T(0);
        for (int64_t kd = 0; kd < kD; ++kd) {
          const int64_t id = padded_source(od * p.stride[0] - p.pad[0] + kd * p.dilation[0], D, p.padding_mode);
          if (id < 0) continue;
          for (int64_t kh = 0; kh < kH; ++kh) {
            const int64_t ih = padded_source(oh * p.stride[1] - p.pad[1] + kh * p.dilation[1], H, p.padding_mode);
            if (ih < 0) continue;
            const T* xr = x_plane + (id * H + ih) * W;
            const T* wr = wc + (kd * kH + kh) * kW;
            for (int64_t kw = 0; kw < kW; ++kw) {
              const int64_t iw =
                  padded_source((ow0 + i) * p.stride[2] - p.pad[2] + kw * p.dilation[2], W, p.padding_mode);
              if (iw >= 0) s += wr[kw] * xr[iw];
            }
          }
        }
        acc[i] = s;
      }
      const int64_t o = row * Wo + ow0;
      finish_rows(acc, kChunk, A.out + o, A.residual ? A.residual + o : nullptr, Wo, 1, n,
                  A.bias ? A.bias + co : nullptr, p.activation, slope, Group{1, 0, 0, 0, 0, 0});
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The in-place path (AVX-512 only): zeros padding, stride 1, dilation 1 along H (any along W),
// 2-d 3x3/5x5/7x7 kernels, which is every stride-1 depthwise layer of MobileNet. No band copy and
// no accumulator: each tap reads the input row where it lies through a masked load whose mask
// (fixed per column vector and tap column for the whole walk down the rows) zeroes the padding
// lanes, rows above or below the input are skipped, and the sums, started from the bias, go
// through the epilogue straight into the output. Against the band path on 11 shapes (3x3, 5x5,
// 7x7, multipliers 1-3, dilation along W, planes of 7x7 to 512x512) it took 0.47-0.86 of the time
// (MobileNet's 32ch 112x112 batch 8: 0.39 against 0.84 ms): the copy and the accumulator round trip
// were about half of it. It needs a mask per load: a mask register on AVX-512, a vector register
// on AVX2, whose 16 registers the weights already fill, so AVX2 keeps the band path.
//
// A walk of column vectors down a band reads a few lines of every row of it. Rows of a plane lie
// one after the other, so narrow rows make one stream for the prefetchers, but rows of 1 KB or
// more (a 4 KB page holds 4 or fewer) make a stream each, more than they follow. Such planes go
// in bands of 8 rows, which the walks cross one after the other (float32, against whole planes:
// 4000x4000 1.5x faster, 1000x2000 1.45x, 512x1024 1.3x, 512x512 1.07x, 512x256 1.08x; 128
// wide, 0.5 KB rows, it was 1.25x slower).
constexpr int64_t kWideRowBytes = 1024, kWideRowBand = 8;

#if defined(__AVX512F__)

// Column vectors one walk down the rows keeps accumulators for (KH each, with the KH * KW weights
// in registers too); the row's other vectors take further walks.
template <int KH>
constexpr int in_place_vectors() {
  return KH == 3 ? 4 : KH == 5 ? 2 : 1;
}

// Work items [begin, end) (plane of the output, band of `band` rows), each walked at columns
// [c0, c0 + NV * L) (those below Wo); act: one activate_vector covers (the caller applies the
// others afterwards and passes none). One call covers every item of a thread when a single walk
// spans the plane's width: per-plane calls passed 8 arguments on the stack and read them back
// right after the previous plane's masked stores, and in about half of the processes (as the
// stack happened to lie) that made 512-channel 14x14 planes at batch 8 take 0.18-0.21 ms
// instead of 0.10-0.12.
template <class T, int KH, int KW, int NV>
__attribute__((noinline)) void in_place_walks(const Args<T>& A, int64_t band, int64_t begin, int64_t end, int64_t c0,
                                              Activation act) {
  using V = typename Vec<T>::type;
  using LM = LoadMask<T>;
  constexpr int64_t L = kLanes<T>;
  const ConvParams& p = *A.p;
  const int64_t H = p.in[1], W = p.in[2], Ho = p.out[1], Wo = p.out[2], pH = p.pad[1], dW = p.dilation[2];
  const int64_t nbands = ceil_div(Ho, band), m = p.out_channels / p.in_channels;
  int64_t first[NV][KW];
  typename LM::type load_mask[NV][KW];
  typename Partial<T>::M store_mask[NV];
#pragma GCC unroll 8
  for (int k = 0; k < NV; ++k) {
#pragma GCC unroll 8
    for (int kw = 0; kw < KW; ++kw) {
      first[k][kw] = c0 + k * L + kw * dW - p.pad[2];
      load_mask[k][kw] = LM::make(first[k][kw], W);
    }
    store_mask[k] = Partial<T>::mask(min64(max64(Wo - c0 - k * L, 0), L));
  }
  const V slope_v = V{} + static_cast<T>(p.negative_slope);
  for (int64_t item = begin; item < end; ++item) {
    const int64_t plane = item / nbands, oh0 = (item % nbands) * band, rows = min64(band, Ho - oh0);
    const int64_t co = plane % p.out_channels, n_img = plane / p.out_channels;
    const T* x = A.x + (n_img * p.in_channels + co / m) * H * W;
    T* out = A.out + plane * Ho * Wo;
    const T* residual = A.residual ? A.residual + plane * Ho * Wo : nullptr;
    const T* w = A.w + co * KH * KW;
    V wv[KH][KW];
#pragma GCC unroll 8
    for (int kh = 0; kh < KH; ++kh)
#pragma GCC unroll 8
      for (int kw = 0; kw < KW; ++kw) wv[kh][kw] = V{} + w[kh * KW + kw];
    const V bv = V{} + (A.bias ? A.bias[co] : T(0));
    V a[NV][KH];
#pragma GCC unroll 8
    for (int k = 0; k < NV; ++k)
#pragma GCC unroll 8
      for (int i = 0; i < KH; ++i) a[k][i] = bv;
    // After input row q, a[k][0] holds output row q - KH + 1 complete, a[k][i] row q - KH + 1 + i.
    for (int64_t q = 0, ih = oh0 - pH; q < rows + KH - 1; ++q, ++ih) {
      if (static_cast<uint64_t>(ih) < static_cast<uint64_t>(H)) {
        const T* row = x + ih * W;
#pragma GCC unroll 8
        for (int k = 0; k < NV; ++k)
#pragma GCC unroll 8
          for (int kw = 0; kw < KW; ++kw) {
            const V xv = LM::load(row, first[k][kw], load_mask[k][kw]);
#pragma GCC unroll 8
            for (int i = 0; i < KH; ++i) a[k][i] += wv[KH - 1 - i][kw] * xv;
          }
      }
      if (q >= KH - 1) {
        const int64_t at = (oh0 + q - (KH - 1)) * Wo + c0;
#pragma GCC unroll 8
        for (int k = 0; k < NV; ++k) {
          V v = a[k][0];
          if (residual) v += Partial<T>::load(residual + at + k * L, store_mask[k]);  // read before out is written
          Partial<T>::store(out + at + k * L, activate_vector(v, act, slope_v), store_mask[k]);
        }
      }
#pragma GCC unroll 8
      for (int k = 0; k < NV; ++k) {
#pragma GCC unroll 8
        for (int i = 0; i + 1 < KH; ++i) a[k][i] = a[k][i + 1];
        a[k][KH - 1] = bv;
      }
    }
  }
}

// Work items [begin, end) of one kernel size: walks of up to in_place_vectors<KH>() column
// vectors across each band, all items at once when one walk spans the width.
template <class T, int KH, int KW>
void in_place_items(const Args<T>& A, int64_t band, int64_t begin, int64_t end, Activation act) {
  constexpr int64_t L = kLanes<T>;
  constexpr int kMost = in_place_vectors<KH>();
  const int64_t Wo = A.p->out[2];
  auto walk = [&](int64_t b, int64_t e, int64_t c0) {
    const int nv = static_cast<int>(min64(ceil_div(Wo - c0, L), kMost));
    if constexpr (kMost >= 4) {
      if (nv == 4) return in_place_walks<T, KH, KW, 4>(A, band, b, e, c0, act);
      if (nv == 3) return in_place_walks<T, KH, KW, 3>(A, band, b, e, c0, act);
    }
    if constexpr (kMost >= 2) {
      if (nv == 2) return in_place_walks<T, KH, KW, 2>(A, band, b, e, c0, act);
    }
    in_place_walks<T, KH, KW, 1>(A, band, b, e, c0, act);
  };
  if (Wo <= kMost * L) return walk(begin, end, 0);
  // Wider planes: every walk of an item before the next item, while its rows are in cache.
  for (int64_t item = begin; item < end; ++item)
    for (int64_t c0 = 0; c0 < Wo; c0 += kMost * L) walk(item, item + 1, c0);
}

bool in_place_applies(const ConvParams& p) {
  return p.padding_mode == PaddingMode::zeros && p.in[0] == 1 && p.kernel[0] == 1 && p.out[0] == 1 &&
         p.pad[0] == 0 && p.stride[1] == 1 && p.stride[2] == 1 && p.dilation[1] == 1 &&
         slide_shape(p.kernel[1], p.kernel[2]) != 0;
}

// Work items [begin, end) of the in-place path: (plane of the output, band of `band` rows).
template <class T>
__attribute__((flatten)) void run_in_place(const Args<T>& A, int64_t band, int64_t begin, int64_t end) {
  const ConvParams& p = *A.p;
  const Activation act = p.activation;
  const bool vectorised = vector_activation(act);
  const Activation vector_act = vectorised ? act : Activation::none;
  switch (slide_shape(p.kernel[1], p.kernel[2])) {
    case 33: in_place_items<T, 3, 3>(A, band, begin, end, vector_act); break;
    case 55: in_place_items<T, 5, 5>(A, band, begin, end, vector_act); break;
    default: in_place_items<T, 7, 7>(A, band, begin, end, vector_act); break;
  }
  if (vectorised) return;
  const int64_t Ho = p.out[1], Wo = p.out[2], nbands = ceil_div(Ho, band);
  const T slope = static_cast<T>(p.negative_slope);
  for (int64_t item = begin; item < end; ++item) {
    const int64_t plane = item / nbands, oh0 = (item % nbands) * band, rows = min64(band, Ho - oh0);
    T* out = A.out + plane * Ho * Wo;
    for (T *o = out + oh0 * Wo, *e = out + (oh0 + rows) * Wo; o < e; ++o) *o = apply_activation(*o, act, slope);
  }
}
#else
bool in_place_applies(const ConvParams&) { return false; }
template <class T>
void run_in_place(const Args<T>&, int64_t, int64_t, int64_t) {}
#endif

// Runs body(begin, end) on one contiguous range of [0, total) per thread of a team of `threads`.
template <class Body>
void parallel_ranges(int64_t total, int64_t threads, const Body& body) {
#ifdef _OPENMP
  if (threads > 1 && total > 1) {
#pragma omp parallel num_threads(threads)
    {
      const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      body(total * t / nt, total * (t + 1) / nt);
    }
    return;
  }
#endif
  body(0, total);
}

template <class T>
int run(const ConvParams& p, int64_t threads, std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias,
        std::uintptr_t residual, std::uintptr_t out) {
  if (p.batch == 0 || p.out_channels == 0) return kConvOk;
  Args<T> A;
  A.p = &p;
  A.x = reinterpret_cast<const T*>(x);
  A.w = reinterpret_cast<const T*>(w);
  A.bias = p.has_bias ? reinterpret_cast<const T*>(bias) : nullptr;
  A.residual = p.has_residual ? reinterpret_cast<const T*>(residual) : nullptr;
  A.out = reinterpret_cast<T*>(out);
  if (in_place_applies(p)) {
    // Whole planes, or bands of rows when there are too few planes for every thread, and short
    // bands for wide rows (see kWideRowBytes).
    const int64_t planes = p.batch * p.out_channels, Ho = p.out[1];
    const int64_t want = threads > 1 ? ceil_div(kMinTasksPerThread * threads, planes) : 1;
    int64_t band = ceil_div(Ho, min64(want, Ho));
    if (p.in[2] * static_cast<int64_t>(sizeof(T)) >= kWideRowBytes) band = min64(band, kWideRowBand);
    parallel_ranges(planes * ceil_div(Ho, band), threads, [&](int64_t begin, int64_t end) {
      if (begin < end) run_in_place(A, band, begin, end);
    });
    return kConvOk;
  }
  Layout lay;
  A.lay = &lay;
  if (plan_layout<T>(p, threads, &lay)) {
    const int64_t items = p.batch * ceil_div(p.in_channels, lay.group) * p.out[0] * lay.nbands * lay.nchunks;
    parallel_ranges(items, threads, [&](int64_t begin, int64_t end) {
      if (begin < end) run_items(A, begin, end);
    });
  } else {
    const int64_t rows = p.batch * p.out_channels * p.out[0] * p.out[1];
    parallel_ranges(rows, threads, [&](int64_t begin, int64_t end) {
      if (begin < end) run_scalar_rows(A, begin, end);
    });
  }
  return kConvOk;
}

}  // namespace

int depthwise_conv_kernel(const ConvParams& p, int64_t threads, std::uintptr_t x, std::uintptr_t w,
                          std::uintptr_t bias, std::uintptr_t residual, std::uintptr_t out, DType dtype) {
  switch (dtype) {
    case DType::float32: return run<float>(p, threads, x, w, bias, residual, out);
    case DType::float64: return run<double>(p, threads, x, w, bias, residual, out);
    default: return kConvBadDtype;
  }
}

}  // namespace pdk::PDK_ISA_NAMESPACE
