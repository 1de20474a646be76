// Detection-box family (NMS, batched/soft NMS, box IoU): parameter structs and every backend's entry points.
#pragma once
#include <cstdint>

#include "core/pdk.h"

namespace pdk {

// Boxes are [n, 4] rows (x1, y1, x2, y2) of the dtype; scores [n] of the same dtype.

// Greedy NMS: a box is dropped when its IoU with a kept, higher-ranked box is > iou_threshold.
// With `batched`, categories [n] (int64) are given and only boxes of one category suppress each
// other (no coordinate offsets: the test is "same category and IoU > threshold").
struct NmsParams {
  int64_t n = 0;
  double iou_threshold = 0.5;
  bool batched = false;
};

enum class SoftNmsMethod : int { linear = 0, gaussian = 1 };

// Soft-NMS (Bodla et al. 2017): repeatedly keep the highest-ranked remaining box and decay the
// scores of the others by their IoU with it (linear: s *= 1 - IoU when IoU > iou_threshold;
// gaussian: s *= exp(-IoU^2 / sigma)); boxes whose score is below score_threshold are dropped.
struct SoftNmsParams {
  int64_t n = 0;
  double iou_threshold = 0.3;
  double sigma = 0.5;
  double score_threshold = 1e-3;
  SoftNmsMethod method = SoftNmsMethod::gaussian;
};

// IoU of every box of a [n, 4] with every box of b [m, 4] into out [n, m].
struct BoxIouParams {
  int64_t n = 0;
  int64_t m = 0;
};

// Throw pdk::Error when the parameters are inconsistent (shared by all backends).
void check_nms_params(const NmsParams& p);
// Throws unless dtype is float32 or float64 (the box kernels' types); `what` names the op.
void check_box_dtype(DType dtype, const char* what);
void check_soft_nms_params(const SoftNmsParams& p);
void check_box_iou_params(const BoxIouParams& p);

// The float32 t' with (x > t') == (double(x) > t) for every float32 x: the kernels compare an IoU
// computed in float32 with the float64 threshold exactly as torchvision does, without doubles.
float float32_comparison_threshold(double t);

// Entry points. Pointers are device (cuda) or host (cpu, emu) addresses of contiguous arrays
// allocated by the caller. nms_forward writes the kept indices, in decreasing score order, to
// keep[0, count) (keep has room for n) and their number to count[0]; soft_nms_forward writes
// the kept indices and their decayed scores the same way. `workspace` holds
// *_workspace_bytes(...) bytes of scratch (0 on the CPU, which allocates its own scratch).
// `stream` is a cudaStream_t (0 = default stream) and ignored on the CPU.
#define PDK_NMS_ENTRY_POINTS                                                                    \
  int64_t nms_workspace_bytes(const NmsParams& p, DType dtype);                                 \
  void nms_forward(const NmsParams& p, std::uintptr_t boxes, std::uintptr_t scores,             \
                   std::uintptr_t categories, std::uintptr_t keep, std::uintptr_t count,        \
                   std::uintptr_t workspace, int64_t workspace_bytes, DType dtype,              \
                   std::uintptr_t stream);                                                      \
  int64_t soft_nms_workspace_bytes(const SoftNmsParams& p, DType dtype);                        \
  void soft_nms_forward(const SoftNmsParams& p, std::uintptr_t boxes, std::uintptr_t scores,    \
                        std::uintptr_t keep, std::uintptr_t kept_scores, std::uintptr_t count,  \
                        std::uintptr_t workspace, int64_t workspace_bytes, DType dtype,         \
                        std::uintptr_t stream);                                                 \
  void box_iou_forward(const BoxIouParams& p, std::uintptr_t a, std::uintptr_t b,               \
                       std::uintptr_t out, DType dtype, std::uintptr_t stream);

namespace cpu { PDK_NMS_ENTRY_POINTS }
namespace cuda { PDK_NMS_ENTRY_POINTS }
#undef PDK_NMS_ENTRY_POINTS

}  // namespace pdk
