// ROI family (ROIAlign, ROIPool): parameter structs and every backend's entry points.
#pragma once
#include <cstdint>

#include "core/pdk.h"

namespace pdk {

// input [n, channels, height, width]; rois [k, 5] rows (batch_index, x1, y1, x2, y2) of the
// input's dtype, batch indices integral and in [0, n) (validated by the caller: the CUDA entry
// points cannot read the rois); output [k, channels, pooled_h, pooled_w].
struct RoiParams {
  int64_t n = 0;
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
  int64_t k = 0;
  int64_t pooled_h = 1;
  int64_t pooled_w = 1;
  double spatial_scale = 1.0;
  int64_t sampling_ratio = -1;  // roi_align: <= 0 is adaptive (ceil(roi extent / pooled extent))
  bool aligned = false;         // roi_align: shift the box by -0.5 pixel (pixel centres at +0.5)
};

// Throws pdk::Error when the parameters are inconsistent (shared by all backends).
void check_roi_params(const RoiParams& p, const char* what);

// Entry points. Pointers are device (cuda) or host (cpu, emu) addresses of contiguous arrays
// allocated by the caller. roi_pool_forward writes argmax (int64, the index h * width + w of the
// maximum within its plane, -1 for an empty bin or an invalid box) when argmax != 0. `stream` is a
// cudaStream_t (0 = default stream) and ignored on the CPU, which allocates its own scratch.
#define PDK_ROI_ENTRY_POINTS                                                                        \
  void roi_align_forward(const RoiParams& p, std::uintptr_t input, std::uintptr_t rois,            \
                         std::uintptr_t output, DType dtype, std::uintptr_t stream);               \
  void roi_pool_forward(const RoiParams& p, std::uintptr_t input, std::uintptr_t rois,             \
                        std::uintptr_t output, std::uintptr_t argmax, DType dtype, std::uintptr_t stream);

namespace cpu { PDK_ROI_ENTRY_POINTS }
namespace cuda { PDK_ROI_ENTRY_POINTS }
#undef PDK_ROI_ENTRY_POINTS

}  // namespace pdk
