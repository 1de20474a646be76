// The per-bin work roi_cpu.cpp hands to the per-ISA CPU ROI kernels, and their declarations.
#pragma once
#include <cstdint>

#include "core/pdk.h"

namespace pdk {

// Channels per block of the channels-last copy, in bytes (roi_cpu.cpp): the kernels keep a whole
// block's ROIAlign sums in registers.
constexpr int64_t kRoiBlockBytes = 128;

// One ROIAlign sample: four pixel indices of a channels-last image and their bilinear weights.
template <class T>
struct RoiSample {
  int64_t pixel[4];
  T weight[4];
};

// One set per instruction set; only the ones CMake built are defined (PDK_ISA_DISPATCH picks).
// The image is channels-last [height * width, channels].
// roi_align_bin: out[c] = (sum over samples of w0 v0 + w1 v1 + w2 v2 + w3 v3) / count.
// roi_pool_bin: out[c] / argmax[c] = the first maximum of rows [h0, h1) x columns [w0, w1) (a value
// must exceed `initial` to count; argmax is h * width + w, -1 when none did).
#define PDK_ROI_CPU_KERNELS_OF(T)                                                                       \
  void roi_align_bin(const T* image, int64_t channels, const RoiSample<T>* samples, int64_t count_samples, \
                     T count, T* out);                                                                 \
  void roi_pool_bin(const T* image, int64_t channels, int64_t width, int64_t h0, int64_t h1, int64_t w0,  \
                    int64_t w1, T initial, T* out, int64_t* argmax);
#define PDK_ROI_CPU_KERNELS PDK_ROI_CPU_KERNELS_OF(float) PDK_ROI_CPU_KERNELS_OF(double)
namespace isa_base { PDK_ROI_CPU_KERNELS }
namespace isa_avx2 { PDK_ROI_CPU_KERNELS }
namespace isa_avx512 { PDK_ROI_CPU_KERNELS }
#undef PDK_ROI_CPU_KERNELS
#undef PDK_ROI_CPU_KERNELS_OF

}  // namespace pdk
