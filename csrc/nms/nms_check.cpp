// Validation of NMS-family parameters and the float32 threshold mapping (compiled into every extension).
#include <cmath>

#include "nms/nms.h"

namespace pdk {

void check_nms_params(const NmsParams& p) {
  PDK_CHECK(p.n >= 0, "nms: the number of boxes must be >= 0, got ", p.n);
  PDK_CHECK(!std::isnan(p.iou_threshold), "nms: iou_threshold must not be NaN");
}

void check_soft_nms_params(const SoftNmsParams& p) {
  PDK_CHECK(p.n >= 0, "soft_nms: the number of boxes must be >= 0, got ", p.n);
  PDK_CHECK(p.method == SoftNmsMethod::linear || p.method == SoftNmsMethod::gaussian,
            "soft_nms: method must be linear (0) or gaussian (1), got ", static_cast<int>(p.method));
  PDK_CHECK(!std::isnan(p.iou_threshold), "soft_nms: iou_threshold must not be NaN");
  PDK_CHECK(!std::isnan(p.score_threshold), "soft_nms: score_threshold must not be NaN");
  PDK_CHECK(p.method != SoftNmsMethod::gaussian || (p.sigma > 0 && std::isfinite(p.sigma)),
            "soft_nms: sigma must be finite and > 0, got ", p.sigma);
}

void check_box_iou_params(const BoxIouParams& p) {
  PDK_CHECK(p.n >= 0 && p.m >= 0, "box_iou: the numbers of boxes must be >= 0, got ", p.n, " and ", p.m);
}

// The largest float32 not above t: then x > t' <=> x > t for every float32 x (x > t' means
// x >= the next float32 after t', which is above t).
float float32_comparison_threshold(double t) {
  float f = static_cast<float>(t);
  if (static_cast<double>(f) > t) f = std::nextafter(f, -INFINITY);
  return f;
}

void check_box_dtype(DType dtype, const char* what) {
  PDK_CHECK(dtype == DType::float32 || dtype == DType::float64, what,
            ": expected dtype float32 or float64, got ", dtype_name(dtype));
}

}  // namespace pdk
