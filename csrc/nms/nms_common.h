// IoU, score ranking keys and the soft-NMS decay shared by the CPU and CUDA kernels (PDK_HD helpers).
//
// Every backend must keep and drop the same boxes, including boxes planted exactly at the IoU
// threshold, so the IoU is evaluated with one formula in one operation order: torchvision's,
//   w = max(0, min(ax2, bx2) - max(ax1, bx1)), h likewise, inter = w * h,
//   area = (x2 - x1) * (y2 - y1), iou = inter / ((area_a + area_b) - inter),
// with every operation rounded on its own (no fused multiply-add: see product_rn). The helpers are
// templates so the CPU kernels can instantiate them with GCC vector types as well as scalars.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "nms/nms.h"

namespace pdk {

// a * b rounded to T before any later addition. nvcc contracts a * b + c into an FMA by default,
// which rounds once instead of twice; __fmul_rn/__dmul_rn are never contracted. Host code gets the
// same guarantee from its flags: no FMA in the emulator and the portable build, and contraction
// switched off in the per-ISA CPU kernels (nms_cpu_kernels.cpp).
template <class T>
PDK_HD T product_rn(T a, T b) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(T) == sizeof(float)) {
    return __fmul_rn(a, b);
  } else {
    return __dmul_rn(a, b);
  }
#else
  return a * b;
#endif
}

// The ternaries are the exact semantics (and instructions) of x86 max/min and of torch's CPU
// kernel; what they return for NaN never matters, because a NaN coordinate makes the area, the
// union and so the IoU NaN whatever the intersection is.
template <class T>
PDK_HD T larger(T a, T b) {
  return a > b ? a : b;
}
template <class T>
PDK_HD T smaller(T a, T b) {
  return a < b ? a : b;
}

// torchvision's area: negative when x2 < x1 xor y2 < y1, NaN when a coordinate is NaN.
template <class T>
PDK_HD T box_area_value(T x1, T y1, T x2, T y2) {
  return product_rn(x2 - x1, y2 - y1);
}

// Area of the overlap of two boxes; 0 for boxes that only touch or do not overlap (and for
// boxes with x2 < x1 or y2 < y1, whose extent is empty).
template <class T>
PDK_HD T box_intersection(T ax1, T ay1, T ax2, T ay2, T bx1, T by1, T bx2, T by2) {
  const T w = smaller(ax2, bx2) - larger(ax1, bx1);
  const T h = smaller(ay2, by2) - larger(ay1, by1);
  return product_rn(w > 0 ? w : 0, h > 0 ? h : 0);
}

template <class T>
PDK_HD T iou_from_intersection(T inter, T area_a, T area_b) {
  return inter / (area_a + area_b - inter);
}

template <class T>
PDK_HD T box_iou_value(T ax1, T ay1, T ax2, T ay2, T area_a, T bx1, T by1, T bx2, T by2, T area_b) {
  return iou_from_intersection(box_intersection(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2), area_a, area_b);
}

// Ranking keys: unsigned integers whose ascending order is torch's descending sort of the scores
// (NaN first, then +inf, ..., -inf; -0 ties with +0). Ties are broken by the lower box index.
PDK_HD uint32_t descending_score_key(float s) {
  if (s != s) return 0u;
  if (s == 0.0f) s = 0.0f;
  uint32_t bits;
#if defined(__CUDA_ARCH__)
  bits = __float_as_uint(s);
#else
  std::memcpy(&bits, &s, sizeof bits);
#endif
  const uint32_t ascending = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return ~ascending;
}

PDK_HD uint64_t descending_score_key(double s) {
  if (s != s) return 0u;
  if (s == 0.0) s = 0.0;
  uint64_t bits;
#if defined(__CUDA_ARCH__)
  bits = static_cast<uint64_t>(__double_as_longlong(s));
#else
  std::memcpy(&bits, &s, sizeof bits);
#endif
  const uint64_t sign = uint64_t{1} << 63;
  const uint64_t ascending = (bits & sign) ? ~bits : (bits | sign);
  return ~ascending;
}

template <class T>
using ScoreKey = decltype(descending_score_key(T()));

// Whether the box (key_a, index_a) is ranked before (key_b, index_b).
template <class Key>
PDK_HD bool ranks_before(Key key_a, int64_t index_a, Key key_b, int64_t index_b) {
  return key_a < key_b || (key_a == key_b && index_a < index_b);
}

// A remaining box's score after the kept box it overlaps by `iou` was taken. A NaN IoU (NaN or
// infinite coordinates) leaves the score unchanged, as it never suppresses in greedy NMS. The
// gaussian weight is computed in double so that float32 scores round identically on every backend
// (up to the last bit of the platform's exp in float64 runs).
template <class T>
PDK_HD T soft_nms_decayed(T score, T iou, SoftNmsMethod method, T linear_threshold, double sigma) {
  if (method == SoftNmsMethod::linear) return iou > linear_threshold ? score * (T(1) - iou) : score;
  if (iou != iou || iou == T(0)) return score;
  const double weight = exp(-(static_cast<double>(iou) * static_cast<double>(iou)) / sigma);
  return static_cast<T>(static_cast<double>(score) * weight);
}

// The threshold in the kernels' dtype that compares like the float64 one (host only).
template <class T>
inline T comparison_threshold(double t) {
  if constexpr (sizeof(T) == sizeof(float)) {
    return float32_comparison_threshold(t);
  } else {
    return t;
  }
}

}  // namespace pdk
