// CUDA device math, integer intrinsics, min/max overloads and atomics for the host compiler.
#pragma once
#include <math.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "emu/control.h"

namespace pdk::emu {

template <class To, class From>
inline To bits_as(From v) {
  static_assert(sizeof(To) == sizeof(From));
  To out;
  std::memcpy(&out, &v, sizeof out);
  return out;
}

// Replaces *p by f(*p) atomically (CAS on its bits) and returns the old value, as CUDA's atomics do.
template <class T, class F>
inline T atomic_update(T* p, F f) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  Bits* b = reinterpret_cast<Bits*>(p);
  Bits old = __atomic_load_n(b, __ATOMIC_RELAXED);
  for (;;) {
    const T value = bits_as<T>(old);
    if (__atomic_compare_exchange_n(b, &old, bits_as<Bits>(static_cast<T>(f(value))), true, __ATOMIC_SEQ_CST,
                                    __ATOMIC_RELAXED))
      return value;
  }
}

template <class T, class... U>
concept OneOf = (std::is_same_v<T, U> || ...);
template <class T>
concept AtomicWord = OneOf<T, int, unsigned int, unsigned long long>;
template <class T>
concept AtomicOrdered = OneOf<T, int, unsigned int, long long, unsigned long long>;

}  // namespace pdk::emu

// ---- float math beyond <math.h>, and the fast intrinsics (exact functions here) ----
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float rcbrtf(float x) { return 1.0f / cbrtf(x); }
inline float fdividef(float a, float b) { return a / b; }
inline float normcdff(float x) { return 0.5f * erfcf(-x * 0.70710678118654752f); }
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return exp10f(x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __log10f(float x) { return log10f(x); }
inline float __powf(float a, float b) { return powf(a, b); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline void __sincosf(float x, float* s, float* c) { sincosf(x, s, c); }
inline float __tanhf(float x) { return tanhf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }  // NaN -> 0

inline int __float2int_rn(float x) { return static_cast<int>(nearbyintf(x)); }
inline int __float2int_rz(float x) { return static_cast<int>(x); }
inline int __float2int_rd(float x) { return static_cast<int>(floorf(x)); }
inline int __float2int_ru(float x) { return static_cast<int>(ceilf(x)); }
inline unsigned int __float2uint_rn(float x) { return static_cast<unsigned int>(nearbyintf(x)); }
inline long long __float2ll_rn(float x) { return static_cast<long long>(nearbyintf(x)); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }
inline float __uint2float_rn(unsigned int x) { return static_cast<float>(x); }
inline int __double2int_rn(double x) { return static_cast<int>(nearbyint(x)); }
inline int __float_as_int(float x) { return pdk::emu::bits_as<int>(x); }
inline unsigned int __float_as_uint(float x) { return pdk::emu::bits_as<unsigned int>(x); }
inline float __int_as_float(int x) { return pdk::emu::bits_as<float>(x); }
inline float __uint_as_float(unsigned int x) { return pdk::emu::bits_as<float>(x); }
inline long long __double_as_longlong(double x) { return pdk::emu::bits_as<long long>(x); }
inline double __longlong_as_double(long long x) { return pdk::emu::bits_as<double>(x); }

// ---- integer intrinsics ----
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned int>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned int __brev(unsigned int x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
  return __builtin_bswap32(x);
}
inline unsigned long long __brevll(unsigned long long x) {
  return (static_cast<unsigned long long>(__brev(static_cast<unsigned int>(x))) << 32) |
         __brev(static_cast<unsigned int>(x >> 32));
}
inline int __mul24(int a, int b) { return ((a << 8) >> 8) * ((b << 8) >> 8); }
inline unsigned int __umul24(unsigned int a, unsigned int b) { return (a & 0xFFFFFFu) * (b & 0xFFFFFFu); }
inline int __mulhi(int a, int b) { return static_cast<int>((static_cast<long long>(a) * b) >> 32); }
inline unsigned int __umulhi(unsigned int a, unsigned int b) {
  return static_cast<unsigned int>((static_cast<unsigned long long>(a) * b) >> 32);
}
inline long long __mul64hi(long long a, long long b) {
  return static_cast<long long>((static_cast<__int128>(a) * b) >> 64);
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return static_cast<unsigned long long>((static_cast<unsigned __int128>(a) * b) >> 64);
}
inline unsigned int __funnelshift_l(unsigned int lo, unsigned int hi, unsigned int shift) {
  return static_cast<unsigned int>((((static_cast<unsigned long long>(hi) << 32) | lo) << (shift & 31)) >> 32);
}
inline unsigned int __funnelshift_r(unsigned int lo, unsigned int hi, unsigned int shift) {
  return static_cast<unsigned int>(((static_cast<unsigned long long>(hi) << 32) | lo) >> (shift & 31));
}
inline unsigned int __byte_perm(unsigned int x, unsigned int y, unsigned int s) {
  const unsigned long long bytes = (static_cast<unsigned long long>(y) << 32) | x;
  unsigned int r = 0;
  for (int i = 0; i < 4; ++i) r |= static_cast<unsigned int>((bytes >> (((s >> (4 * i)) & 7) * 8)) & 0xFF) << (8 * i);
  return r;
}
inline long long clock64() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// ---- CUDA's global min/max for every pair of arithmetic types (floating: fminf/fmaxf semantics) ----
template <class A, class B>
  requires(std::is_arithmetic_v<A> && std::is_arithmetic_v<B>)
inline std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<C>) return fmin(static_cast<C>(a), static_cast<C>(b));
  else return static_cast<C>(b) < static_cast<C>(a) ? static_cast<C>(b) : static_cast<C>(a);
}
template <class A, class B>
  requires(std::is_arithmetic_v<A> && std::is_arithmetic_v<B>)
inline std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<C>) return fmax(static_cast<C>(a), static_cast<C>(b));
  else return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(b) : static_cast<C>(a);
}

// ---- read-only / cache-hinted loads and stores: plain accesses ----
template <class T> inline T __ldg(const T* p) { return *p; }
template <class T> inline T __ldcg(const T* p) { return *p; }
template <class T> inline T __ldca(const T* p) { return *p; }
template <class T> inline T __ldcs(const T* p) { return *p; }
template <class T> inline T __ldlu(const T* p) { return *p; }
template <class T> inline T __ldcv(const T* p) { return *p; }
template <class T> inline void __stwb(T* p, T v) { *p = v; }
template <class T> inline void __stcg(T* p, T v) { *p = v; }
template <class T> inline void __stcs(T* p, T v) { *p = v; }
template <class T> inline void __stwt(T* p, T v) { *p = v; }

// ---- atomics: real atomics, since blocks run in parallel (seq_cst so TSan sees the ordering) ----
inline float atomicAdd(float* p, float v) { return pdk::emu::atomic_update(p, [v](float o) { return o + v; }); }
inline double atomicAdd(double* p, double v) { return pdk::emu::atomic_update(p, [v](double o) { return o + v; }); }
template <pdk::emu::AtomicWord T>
inline T atomicAdd(T* p, std::type_identity_t<T> v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
template <pdk::emu::AtomicWord T>
inline T atomicSub(T* p, std::type_identity_t<T> v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
template <pdk::emu::AtomicWord T>
inline T atomicAnd(T* p, std::type_identity_t<T> v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }
template <pdk::emu::AtomicWord T>
inline T atomicOr(T* p, std::type_identity_t<T> v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
template <pdk::emu::AtomicWord T>
inline T atomicXor(T* p, std::type_identity_t<T> v) { return __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST); }
template <pdk::emu::AtomicOrdered T>
inline T atomicMax(T* p, std::type_identity_t<T> v) { return pdk::emu::atomic_update(p, [v](T o) { return o < v ? v : o; }); }
template <pdk::emu::AtomicOrdered T>
inline T atomicMin(T* p, std::type_identity_t<T> v) { return pdk::emu::atomic_update(p, [v](T o) { return v < o ? v : o; }); }
template <pdk::emu::AtomicWord T>
inline T atomicCAS(T* p, std::type_identity_t<T> compare, std::type_identity_t<T> value) {
  __atomic_compare_exchange_n(p, &compare, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return compare;
}
template <class T>
  requires pdk::emu::OneOf<T, int, unsigned int, unsigned long long, float>
inline T atomicExch(T* p, std::type_identity_t<T> value) {
  return pdk::emu::atomic_update(p, [value](T) { return value; });
}
inline unsigned int atomicInc(unsigned int* p, unsigned int limit) {
  return pdk::emu::atomic_update(p, [limit](unsigned int o) { return o >= limit ? 0u : o + 1; });
}
inline unsigned int atomicDec(unsigned int* p, unsigned int limit) {
  return pdk::emu::atomic_update(p, [limit](unsigned int o) { return o == 0 || o > limit ? limit : o - 1; });
}

// A seq_cst read-modify-write is a full fence on the host; TSan models it (it ignores bare fences).
inline void __threadfence() {
  static int word = 0;
  __atomic_fetch_add(&word, 0, __ATOMIC_SEQ_CST);
}
inline void __threadfence_block() { __threadfence(); }
inline void __threadfence_system() { __threadfence(); }
