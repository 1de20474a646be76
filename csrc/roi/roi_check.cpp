// Validation of ROI-family parameters (compiled into every extension).
#include <cmath>

#include "roi/roi.h"

namespace pdk {

void check_roi_params(const RoiParams& p, const char* what) {
  PDK_CHECK(p.n >= 0 && p.channels >= 0 && p.k >= 0, what, ": sizes must be >= 0, got n=", p.n,
            " channels=", p.channels, " k=", p.k);
  PDK_CHECK(p.height >= 1 && p.width >= 1, what, ": the input's spatial dims must be >= 1, got ", p.height, "x",
            p.width);
  PDK_CHECK(p.height * p.width < (int64_t{1} << 31), what, ": the input plane must have < 2^31 pixels, got ",
            p.height, "x", p.width);
  PDK_CHECK(p.pooled_h >= 1 && p.pooled_w >= 1, what, ": output_size must be >= 1, got ", p.pooled_h, "x",
            p.pooled_w);
  PDK_CHECK(std::isfinite(p.spatial_scale) && p.spatial_scale > 0, what,
            ": spatial_scale must be finite and > 0, got ", p.spatial_scale);
  PDK_CHECK(p.k == 0 || p.n >= 1, what, ": rois given for an empty batch");
}

}  // namespace pdk
