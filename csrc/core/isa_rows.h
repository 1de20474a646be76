// Whole-vector row work for the per-ISA kernel files: Vec<T>, masked partial vectors, exact copies, fills, stride-2 gathers and the clamping activations.
//
// Include only from the files compiled once per ISA, inside pdk::PDK_ISA_NAMESPACE's anonymous
// namespace and after core/isa_vector.h, with <immintrin.h> included at file scope on AVX2 and
// AVX-512 builds (core/isa_intrinsics.h does that), and pdk::Activation declared (gemm/gemm.h).
// Shared by the GEMM driver (micro-kernel vectors, the register epilogue, the convolution's im2col
// packing) and the depthwise convolution (its padded copies and epilogue).
#pragma once

template <class T>
struct Vec {
  typedef T type __attribute__((vector_size(kVectorBytes)));
  // Unaligned, aliasing view of rows in memory.
  typedef T utype __attribute__((vector_size(kVectorBytes), aligned(sizeof(T)), may_alias));
};

// Partial vectors (the last columns of an output row): masked loads and stores where the ISA has
// them, so a row of 14 or 7 outputs is one vector, not a scalar loop. Masked loads also never
// fault past the end of an array.
template <class T>
struct Partial {
  using V = typename Vec<T>::type;
  using M = int64_t;  // the lane count
  static M mask(int64_t n) { return n; }
  static V load(const T* p, M n) {
    V v = V{};
    for (int64_t i = 0; i < n; ++i) v[i] = p[i];
    return v;
  }
  static void store(T* p, V v, M n) {
    for (int64_t i = 0; i < n; ++i) p[i] = v[i];
  }
  // Lanes [lo, hi) of p, the others zero, reading nothing outside them (a window over a row's edge).
  static V load_lanes(const T* p, int64_t lo, int64_t hi) {
    V v = V{};
    for (int64_t i = lo; i < hi; ++i) v[i] = p[i];
    return v;
  }
  // p[lo, hi) = lanes [lo, hi) of v, writing nothing else.
  static void store_lanes(T* p, V v, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) p[i] = v[i];
  }
};
#if defined(__AVX512F__)
template <>
struct Partial<float> {
  using V = Vec<float>::type;
  using M = __mmask16;
  static M mask(int64_t n) { return static_cast<M>((1u << n) - 1); }
  static V load(const float* p, M m) { return (V)_mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, V v, M m) { _mm512_mask_storeu_ps(p, m, (__m512)v); }
  static V load_lanes(const float* p, int64_t lo, int64_t hi) { return load(p, mask(hi) & ~mask(lo)); }
  static void store_lanes(float* p, V v, int64_t lo, int64_t hi) { store(p, v, mask(hi) & ~mask(lo)); }
};
template <>
struct Partial<double> {
  using V = Vec<double>::type;
  using M = __mmask8;
  static M mask(int64_t n) { return static_cast<M>((1u << n) - 1); }
  static V load(const double* p, M m) { return (V)_mm512_maskz_loadu_pd(m, p); }
  static void store(double* p, V v, M m) { _mm512_mask_storeu_pd(p, m, (__m512d)v); }
  static V load_lanes(const double* p, int64_t lo, int64_t hi) { return load(p, mask(hi) & ~mask(lo)); }
  static void store_lanes(double* p, V v, int64_t lo, int64_t hi) { store(p, v, mask(hi) & ~mask(lo)); }
};
#elif defined(__AVX2__)
template <>
struct Partial<float> {
  using V = Vec<float>::type;
  using M = __m256i;
  static M mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V load(const float* p, M m) { return (V)_mm256_maskload_ps(p, m); }
  static void store(float* p, V v, M m) { _mm256_maskstore_ps(p, m, (__m256)v); }
  static V load_lanes(const float* p, int64_t lo, int64_t hi) { return load(p, _mm256_andnot_si256(mask(lo), mask(hi))); }
  static void store_lanes(float* p, V v, int64_t lo, int64_t hi) { store(p, v, _mm256_andnot_si256(mask(lo), mask(hi))); }
};
template <>
struct Partial<double> {
  using V = Vec<double>::type;
  using M = __m256i;
  static M mask(int64_t n) { return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)); }
  static V load(const double* p, M m) { return (V)_mm256_maskload_pd(p, m); }
  static void store(double* p, V v, M m) { _mm256_maskstore_pd(p, m, (__m256d)v); }
  static V load_lanes(const double* p, int64_t lo, int64_t hi) { return load(p, _mm256_andnot_si256(mask(lo), mask(hi))); }
  static void store_lanes(double* p, V v, int64_t lo, int64_t hi) { store(p, v, _mm256_andnot_si256(mask(lo), mask(hi))); }
};
#endif

// Keeps g++ from turning a copy or fill loop into a memcpy/memset call: the rows are a few
// vectors long and the library call costs more than the loop.
template <class V>
inline void opaque(V& v) {
  __asm__("" : "+v"(v));
}

// dst[0, n) = src[0, n), and dst[0, n) = 0: whole vectors and a masked last one, never touching
// anything past n (the cells there may be padding that stays valid across rows).
template <class T>
void copy_exact(T* __restrict dst, const T* __restrict src, int64_t n) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  constexpr int64_t L = kLanes<T>;
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    V v = *reinterpret_cast<const VU*>(src + i);
    opaque(v);
    *reinterpret_cast<VU*>(dst + i) = v;
  }
  if (i < n) {
    const auto m = Partial<T>::mask(n - i);
    Partial<T>::store(dst + i, Partial<T>::load(src + i, m), m);
  }
}

template <class T>
void zero_exact(T* dst, int64_t n) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  constexpr int64_t L = kLanes<T>;
  V z = V{};
  opaque(z);
  int64_t i = 0;
  for (; i + L <= n; i += L) *reinterpret_cast<VU*>(dst + i) = z;
  if (i < n) Partial<T>::store(dst + i, z, Partial<T>::mask(n - i));
}

// Stride 2, both column phases: even[i] = src[2 i], odd[i] = src[2 i + 1] for i < n.
template <class T>
void deinterleave(T* __restrict even, T* __restrict odd, const T* __restrict src, int64_t n) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  using I = decltype(V{} < V{});  // the integer vector of the same shape (shuffle indices)
  constexpr int64_t L = kLanes<T>;
  I ie{}, io{};
  for (int64_t k = 0; k < L; ++k) {
    ie[k] = 2 * k;
    io[k] = 2 * k + 1;
  }
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    const V a = *reinterpret_cast<const VU*>(src + 2 * i), b = *reinterpret_cast<const VU*>(src + 2 * i + L);
    *reinterpret_cast<VU*>(even + i) = __builtin_shuffle(a, b, ie);
    *reinterpret_cast<VU*>(odd + i) = __builtin_shuffle(a, b, io);
  }
  if (i < n) {
    const int64_t m = 2 * (n - i);
    const V a = Partial<T>::load(src + 2 * i, Partial<T>::mask(m < L ? m : L));
    const V b = m > L ? Partial<T>::load(src + 2 * i + L, Partial<T>::mask(m - L)) : V{};
    const auto mn = Partial<T>::mask(n - i);
    Partial<T>::store(even + i, __builtin_shuffle(a, b, ie), mn);
    Partial<T>::store(odd + i, __builtin_shuffle(a, b, io), mn);
  }
}

// dst[i] = src[2 i] for i < n, reading nothing past src[2 (n - 1)] (a stride-2 convolution's
// im2col row: the even elements of an input row).
template <class T>
void copy_stride2(T* __restrict dst, const T* __restrict src, int64_t n) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  using I = decltype(V{} < V{});
  constexpr int64_t L = kLanes<T>;
  I ie{};
  for (int64_t k = 0; k < L; ++k) ie[k] = 2 * k;
  int64_t i = 0;
  for (; i + L < n; i += L)  // < n: the second vector's last lane, src[2 i + 2 L - 1], exists
    *reinterpret_cast<VU*>(dst + i) = __builtin_shuffle(*reinterpret_cast<const VU*>(src + 2 * i),
                                                        *reinterpret_cast<const VU*>(src + 2 * i + L), ie);
  if (i < n) {
    const int64_t m = 2 * (n - i) - 1;
    const V a = Partial<T>::load(src + 2 * i, Partial<T>::mask(m < L ? m : L));
    const V b = m > L ? Partial<T>::load(src + 2 * i + L, Partial<T>::mask(m - L)) : V{};
    Partial<T>::store(dst + i, __builtin_shuffle(a, b, ie), Partial<T>::mask(n - i));
  }
}

// relu, relu6 or leaky_relu (A) on a whole vector, as apply_activation: NaN passes relu and relu6,
// and leaky_relu multiplies by `slope` (a vector of negative_slope). Other activations: unchanged.
template <Activation A, class V>
__attribute__((always_inline)) inline V activate_vector(V v, V slope) {
  const V zero{};
  if constexpr (A == Activation::relu || A == Activation::relu6) v = ((v > zero) | (v != v)) ? v : zero;
  if constexpr (A == Activation::relu6) v = v > zero + 6 ? zero + 6 : v;
  if constexpr (A == Activation::leaky_relu) v = v > zero ? v : v * slope;
  return v;
}

// Whether activate_vector covers `act` (none, relu, leaky_relu, relu6); the rest (sigmoid, tanh,
// gelu) go through apply_activation per element.
inline bool vector_activation(Activation act) {
  return act == Activation::none || act == Activation::relu || act == Activation::leaky_relu ||
         act == Activation::relu6;
}

// activate_vector for an activation chosen at run time; one it does not cover leaves v unchanged.
template <class V>
__attribute__((always_inline)) inline V activate_vector(V v, Activation act, V slope) {
  switch (act) {
    case Activation::relu: return activate_vector<Activation::relu>(v, slope);
    case Activation::leaky_relu: return activate_vector<Activation::leaky_relu>(v, slope);
    case Activation::relu6: return activate_vector<Activation::relu6>(v, slope);
    default: return v;
  }
}
