// ROIAlign box/bin geometry, bilinear taps and ROIPool bins shared by the CPU and CUDA kernels (PDK_HD helpers).
//
// The formulas and their operation order are torchvision's (ops/cpu/roi_align_kernel.cpp,
// roi_pool_kernel.cpp), so finite boxes give torchvision's numbers on every backend. Where
// torchvision is undefined (a NaN or infinite coordinate reaches a float-to-int conversion), the
// box is flagged non-finite and every backend writes NaN (argmax -1). Float-to-int conversions of
// finite but huge values are clamped first (kMaxRoiGrid, kMaxRoiCoordinate), far beyond any real
// feature map, so that every backend stays defined and agrees.
#pragma once
#include <cfloat>
#include <cmath>
#include <cstdint>

#include "roi/roi.h"

namespace pdk {

// Most adaptive samples per bin and axis (a bin 65536 pixels wide).
constexpr double kMaxRoiGrid = 65536.0;
// ROIPool's rounded coordinates are clamped to +-2^40 before they become integers.
constexpr double kMaxRoiCoordinate = 1099511627776.0;

// Finite iff x - x is 0 (NaN for NaN and +-inf); no isfinite overload juggling between host and device.
template <class T>
PDK_HD bool roi_finite(T x) {
  return x - x == T(0);
}

// ROIAlign geometry of one box: bin (ph, pw) samples grid_h x grid_w points
//   y = start_h + ph * bin_h + (iy + 0.5) * bin_h / grid_h   (x likewise)
// and divides their sum by `count`. grid <= 0 (an inverted aligned box with adaptive sampling)
// means no sample: the bin is 0, as in torchvision.
template <class T>
struct RoiAlignBox {
  T start_h, start_w, bin_h, bin_w;
  int grid_h, grid_w;
  T count;
  bool finite;
};

template <class T>
PDK_HD int roi_adaptive_grid(T extent, int64_t pooled) {
  const double g = ceil(static_cast<double>(extent / static_cast<T>(pooled)));
  if (g > kMaxRoiGrid) return static_cast<int>(kMaxRoiGrid);
  if (g < -kMaxRoiGrid) return -static_cast<int>(kMaxRoiGrid);
  return static_cast<int>(g);
}

// roi points at (x1, y1, x2, y2) of a [k, 5] row.
template <class T>
PDK_HD RoiAlignBox<T> roi_align_box(const T* roi, T scale, int64_t pooled_h, int64_t pooled_w,
                                    int64_t sampling_ratio, bool aligned) {
  RoiAlignBox<T> b;
  const T offset = aligned ? T(0.5) : T(0);
  b.start_w = roi[0] * scale - offset;
  b.start_h = roi[1] * scale - offset;
  const T end_w = roi[2] * scale - offset;
  const T end_h = roi[3] * scale - offset;
  T roi_w = end_w - b.start_w;
  T roi_h = end_h - b.start_h;
  b.finite = roi_finite(roi_w) && roi_finite(roi_h) && roi_finite(b.start_w) && roi_finite(b.start_h);
  if (!aligned) {  // torchvision forces malformed boxes to 1x1 (std::max: NaN stays NaN)
    roi_w = roi_w < T(1) ? T(1) : roi_w;
    roi_h = roi_h < T(1) ? T(1) : roi_h;
  }
  b.bin_h = roi_h / static_cast<T>(pooled_h);
  b.bin_w = roi_w / static_cast<T>(pooled_w);
  if (!b.finite) {
    b.grid_h = b.grid_w = 0;
    b.count = T(1);
    return b;
  }
  b.grid_h = sampling_ratio > 0 ? static_cast<int>(sampling_ratio) : roi_adaptive_grid(roi_h, pooled_h);
  b.grid_w = sampling_ratio > 0 ? static_cast<int>(sampling_ratio) : roi_adaptive_grid(roi_w, pooled_w);
  const int64_t samples = static_cast<int64_t>(b.grid_h) * b.grid_w;
  b.count = static_cast<T>(samples > 1 ? samples : 1);
  return b;
}

// Sample coordinate iy of bin ph (torchvision's expression, term for term).
template <class T>
PDK_HD T roi_sample_coordinate(T start, T bin, int64_t p, int i, int grid) {
  return start + static_cast<T>(p) * bin + static_cast<T>(static_cast<float>(i) + .5f) * bin / static_cast<T>(grid);
}

// The four taps of a bilinear sample at (y, x): plane offsets and weights. A sample outside
// [-1, height] x [-1, width] has no taps (`inside` false): it adds exactly 0, even next to a NaN pixel.
template <class T>
struct BilinearTaps {
  int offset[4];
  T weight[4];
  bool inside;
};

template <class T>
PDK_HD BilinearTaps<T> bilinear_taps(T y, T x, int height, int width) {
  BilinearTaps<T> t;
  if (y < T(-1) || y > static_cast<T>(height) || x < T(-1) || x > static_cast<T>(width)) {
    t.inside = false;
    for (int i = 0; i < 4; ++i) {
      t.offset[i] = 0;
      t.weight[i] = T(0);
    }
    return t;
  }
  t.inside = true;
  if (y <= T(0)) y = T(0);
  if (x <= T(0)) x = T(0);
  int y_low = static_cast<int>(y), x_low = static_cast<int>(x), y_high, x_high;
  if (y_low >= height - 1) {
    y_high = y_low = height - 1;
    y = static_cast<T>(y_low);
  } else {
    y_high = y_low + 1;
  }
  if (x_low >= width - 1) {
    x_high = x_low = width - 1;
    x = static_cast<T>(x_low);
  } else {
    x_high = x_low + 1;
  }
  const T ly = y - static_cast<T>(y_low), lx = x - static_cast<T>(x_low);
  const T hy = T(1) - ly, hx = T(1) - lx;
  t.offset[0] = y_low * width + x_low;
  t.offset[1] = y_low * width + x_high;
  t.offset[2] = y_high * width + x_low;
  t.offset[3] = y_high * width + x_high;
  t.weight[0] = hy * hx;
  t.weight[1] = hy * lx;
  t.weight[2] = ly * hx;
  t.weight[3] = ly * lx;
  return t;
}

// ROIPool box: corners rounded half away from zero (std::round), extent at least 1 pixel.
struct RoiPoolBox {
  int64_t start_h, start_w, height, width;
  bool finite;
};

template <class T>
PDK_HD int64_t roi_pool_round(T v) {
  double r = round(static_cast<double>(v));
  r = r > kMaxRoiCoordinate ? kMaxRoiCoordinate : (r < -kMaxRoiCoordinate ? -kMaxRoiCoordinate : r);
  return static_cast<int64_t>(r);
}

template <class T>
PDK_HD RoiPoolBox roi_pool_box(const T* roi, T scale) {
  RoiPoolBox b;
  const T x1 = roi[0] * scale, y1 = roi[1] * scale, x2 = roi[2] * scale, y2 = roi[3] * scale;
  b.finite = roi_finite(x1) && roi_finite(y1) && roi_finite(x2) && roi_finite(y2);
  if (!b.finite) {
    b.start_h = b.start_w = 0;
    b.height = b.width = 1;
    return b;
  }
  b.start_w = roi_pool_round(x1);
  b.start_h = roi_pool_round(y1);
  const int64_t w = roi_pool_round(x2) - b.start_w + 1, h = roi_pool_round(y2) - b.start_h + 1;
  b.width = w > 1 ? w : 1;
  b.height = h > 1 ? h : 1;
  return b;
}

// Input range [first, last) of bin p along an axis of `size` pixels (empty when last <= first).
struct RoiPoolRange {
  int64_t first, last;
};

template <class T>
PDK_HD RoiPoolRange roi_pool_range(int64_t start, int64_t extent, int64_t pooled, int64_t p, int64_t size) {
  const T bin = static_cast<T>(extent) / static_cast<T>(pooled);
  int64_t first = static_cast<int64_t>(floor(static_cast<double>(static_cast<T>(p) * bin))) + start;
  int64_t last = static_cast<int64_t>(ceil(static_cast<double>(static_cast<T>(p + 1) * bin))) + start;
  first = first < 0 ? 0 : (first > size ? size : first);
  last = last < 0 ? 0 : (last > size ? size : last);
  return {first, last};
}

// torchvision starts a non-empty bin's maximum at -FLT_MAX (for float64 too), an empty bin at 0.
template <class T>
PDK_HD T roi_pool_initial(bool empty) {
  return empty ? T(0) : static_cast<T>(-FLT_MAX);
}

}  // namespace pdk
