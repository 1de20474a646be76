// Per-ISA CPU kernels of the NMS family: greedy NMS's vectorised survivor filter and cell test, rows of IoU.
//
// This file is compiled three times (base, AVX2+FMA, AVX-512) into pdk::PDK_ISA_NAMESPACE and
// nms_cpu.cpp picks one copy at run time. ODR: the linker keeps ONE copy of every weak (inline or
// template) symbol for all three objects, possibly the AVX-512 one, which would then run on CPUs
// without AVX-512. So everything here lives in pdk::PDK_ISA_NAMESPACE (helpers in an anonymous
// namespace inside it), no std:: template is instantiated, failures cannot happen (nms_cpu.cpp
// validates), and the IoU templates of nms_common.h are only called from the `flatten` entry
// points, which inline them (CMake's pre-link check runs `nm` on the objects for weak symbols).
//
// Rounding: the vector IoU must equal the scalar IoU of the other backends bit for bit (boxes
// planted exactly at the threshold keep or go the same way everywhere), so floating-point
// contraction is off from the pragma on: with -mfma g++ would fuse the w * h of the union
// (area_a + area_b) - w * h into one FMA, which rounds differently.
#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "nms/nms_cpu_kernels.h"

#pragma GCC optimize("fp-contract=off")
#include "nms/nms_common.h"

namespace pdk::PDK_ISA_NAMESPACE {
namespace {

#include "core/isa_vector.h"

// One register of T (GCC vector extensions compile to this object's instruction set), the lane
// mask its comparisons produce (0 or -1 per lane), and the mask as an integer with bit l for lane l
// (a movemask instruction: g++ turns a generic reduction over the lanes into a long extract chain).
template <class T>
struct Simd;
template <>
struct Simd<float> {
  typedef float V __attribute__((vector_size(kVectorBytes)));
  typedef int32_t Mask __attribute__((vector_size(kVectorBytes)));
  static constexpr int kLanes = static_cast<int>(kVectorBytes / 4);
  static unsigned bits(Mask m) {
#if defined(__AVX512F__)
    return _mm512_movepi32_mask(reinterpret_cast<__m512i>(m));
#elif defined(__AVX2__)
    return _mm256_movemask_ps(reinterpret_cast<__m256>(m));
#elif defined(__SSE2__)
    return _mm_movemask_ps(reinterpret_cast<__m128>(m));
#else
    unsigned b = 0;
    for (int l = 0; l < kLanes; ++l) b |= (m[l] != 0 ? 1u : 0u) << l;
    return b;
#endif
  }
};
template <>
struct Simd<double> {
  typedef double V __attribute__((vector_size(kVectorBytes)));
  typedef int64_t Mask __attribute__((vector_size(kVectorBytes)));
  static constexpr int kLanes = static_cast<int>(kVectorBytes / 8);
  static unsigned bits(Mask m) {
#if defined(__AVX512F__)
    return _mm512_movepi64_mask(reinterpret_cast<__m512i>(m));
#elif defined(__AVX2__)
    return _mm256_movemask_pd(reinterpret_cast<__m256d>(m));
#elif defined(__SSE2__)
    return _mm_movemask_pd(reinterpret_cast<__m128d>(m));
#else
    unsigned b = 0;
    for (int l = 0; l < kLanes; ++l) b |= (m[l] != 0 ? 1u : 0u) << l;
    return b;
#endif
  }
};

// s in every lane: x - (+0) is x for every x (-0, NaN included), and g++ folds it to a broadcast.
template <class T>
inline typename Simd<T>::V splat(T s) {
  return s - typename Simd<T>::V{};
}

template <class T>
inline typename Simd<T>::V load(const T* p) {
  typename Simd<T>::V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The first `live` lanes from p, the others NaN: a NaN box has a NaN IoU with everything, so the
// padding lanes are never suppressed and never read past the caller's arrays.
template <class T>
inline typename Simd<T>::V load_partial(const T* p, int live) {
  typename Simd<T>::V v;
  for (int l = 0; l < Simd<T>::kLanes; ++l) v[l] = l < live ? p[l] : static_cast<T>(__builtin_nan(""));
  return v;
}

template <class T>
int64_t filter(const BoxColumns<T>& kept, int64_t kept_count, const BoxColumns<T>& c, int64_t count, T threshold,
               uint8_t* dropped) {
  using V = typename Simd<T>::V;
  using Mask = typename Simd<T>::Mask;
  constexpr int L = Simd<T>::kLanes;
  constexpr unsigned kAll = (1u << L) - 1;
  // IoU > threshold >= 0 needs a positive intersection: most candidates are far from the kept
  // boxes, and skipping the division for them is most of the speed.
  const bool need_overlap = threshold >= 0;
  int64_t out = 0;
  for (int64_t base = 0; base < count; base += L) {
    const int live = count - base < L ? static_cast<int>(count - base) : L;
    const bool full = live == L;
    const V x1 = full ? load(c.x1 + base) : load_partial(c.x1 + base, live);
    const V y1 = full ? load(c.y1 + base) : load_partial(c.y1 + base, live);
    const V x2 = full ? load(c.x2 + base) : load_partial(c.x2 + base, live);
    const V y2 = full ? load(c.y2 + base) : load_partial(c.y2 + base, live);
    const V area = full ? load(c.area + base) : load_partial(c.area + base, live);
    Mask suppressed = {};
    for (int64_t k = 0; k < kept_count; ++k) {
      const V inter = box_intersection(splat(kept.x1[k]), splat(kept.y1[k]), splat(kept.x2[k]), splat(kept.y2[k]),
                                       x1, y1, x2, y2);
      if (need_overlap && Simd<T>::bits(inter > 0) == 0) continue;
      suppressed |= iou_from_intersection(inter, splat(kept.area[k]), area) > threshold;
      if (Simd<T>::bits(suppressed) == kAll) break;
    }
    if (out == base && Simd<T>::bits(suppressed) == 0) {  // nothing dropped so far: the survivors stay where they are
      out += live;
      continue;
    }
    // In place: out <= base + l, so no lane is overwritten before it is copied.
    for (int l = 0; l < live; ++l) {
      if (suppressed[l]) {
        if (dropped) dropped[c.rank[base + l]] = 1;
        continue;
      }
      c.x1[out] = x1[l];
      c.y1[out] = y1[l];
      c.x2[out] = x2[l];
      c.y2[out] = y2[l];
      c.area[out] = area[l];
      c.rank[out] = c.rank[base + l];
      ++out;
    }
  }
  return out;
}

template <class T>
void cell_hits(const BoxColumns<T>& kept, int64_t kept_count, const BoxColumns<T>& cells, int64_t cell_count,
               uint64_t* hits) {
  using V = typename Simd<T>::V;
  constexpr int L = Simd<T>::kLanes;
  for (int64_t k = 0; k < kept_count; ++k) {
    const V x1 = splat(kept.x1[k]), y1 = splat(kept.y1[k]), x2 = splat(kept.x2[k]), y2 = splat(kept.y2[k]);
    const uint64_t bit = uint64_t{1} << k;
    for (int64_t c = 0; c < cell_count; c += L) {
      const auto overlap = (x2 > load(cells.x1 + c)) & (x1 < load(cells.x2 + c)) & (y2 > load(cells.y1 + c)) &
                           (y1 < load(cells.y2 + c));
      for (unsigned b = Simd<T>::bits(overlap); b != 0; b &= b - 1) hits[c + __builtin_ctz(b)] |= bit;
    }
  }
}

template <class T>
void iou_rows(const T* a, int64_t row_begin, int64_t row_end, const BoxColumns<T>& b, int64_t m, T* out) {
  using V = typename Simd<T>::V;
  constexpr int L = Simd<T>::kLanes;
  for (int64_t i = row_begin; i < row_end; ++i) {
    const T ax1 = a[4 * i], ay1 = a[4 * i + 1], ax2 = a[4 * i + 2], ay2 = a[4 * i + 3];
    const T area_a = box_area_value(ax1, ay1, ax2, ay2);
    const V vx1 = splat(ax1), vy1 = splat(ay1), vx2 = splat(ax2), vy2 = splat(ay2), varea = splat(area_a);
    T* row = out + i * m;
    int64_t j = 0;
    for (; j + L <= m; j += L) {
      const V iou = box_iou_value(vx1, vy1, vx2, vy2, varea, load(b.x1 + j), load(b.y1 + j), load(b.x2 + j),
                                  load(b.y2 + j), load(b.area + j));
      std::memcpy(row + j, &iou, sizeof iou);
    }
    for (; j < m; ++j)
      row[j] = box_iou_value(ax1, ay1, ax2, ay2, area_a, b.x1[j], b.y1[j], b.x2[j], b.y2[j], b.area[j]);
  }
}

}  // namespace

// The entry points: `flatten` inlines the nms_common.h templates (see the ODR note above).
#define PDK_NMS_CPU_ENTRY_POINTS(T)                                                                           \
  __attribute__((flatten)) int64_t nms_filter(const BoxColumns<T>& kept, int64_t kept_count,                  \
                                              const BoxColumns<T>& candidates, int64_t count, T threshold,    \
                                              uint8_t* dropped) {                                             \
    return filter(kept, kept_count, candidates, count, threshold, dropped);                                   \
  }                                                                                                           \
  __attribute__((flatten)) void nms_cell_hits(const BoxColumns<T>& kept, int64_t kept_count,                  \
                                              const BoxColumns<T>& cells, int64_t cell_count, uint64_t* hits) { \
    cell_hits(kept, kept_count, cells, cell_count, hits);                                                     \
  }                                                                                                           \
  __attribute__((flatten)) void box_iou_rows(const T* a, int64_t row_begin, int64_t row_end,                  \
                                             const BoxColumns<T>& b, int64_t m, T* out) {                     \
    iou_rows(a, row_begin, row_end, b, m, out);                                                               \
  }
PDK_NMS_CPU_ENTRY_POINTS(float)
PDK_NMS_CPU_ENTRY_POINTS(double)
#undef PDK_NMS_CPU_ENTRY_POINTS

}  // namespace pdk::PDK_ISA_NAMESPACE
