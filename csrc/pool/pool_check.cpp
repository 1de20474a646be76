// Backend-independent validation of pooling parameters (compiled into every extension).
#include <cmath>

#include "pool/pool.h"

namespace pdk {

void check_pool_params(const PoolParams& p) {
  PDK_CHECK(p.planes >= 0, "pool: planes must be >= 0, got ", p.planes);
  for (int d = 0; d < 3; ++d) {
    PDK_CHECK(p.in[d] >= 1, "pool: input extent of dim ", d, " must be >= 1, got ", p.in[d]);
    PDK_CHECK(p.out[d] >= 1, "pool: output extent of dim ", d, " must be >= 1, got ", p.out[d]);
    if (p.rule == WindowRule::fixed) {
      PDK_CHECK(p.kernel[d] >= 1, "pool: kernel_size must be >= 1, got ", p.kernel[d]);
      PDK_CHECK(p.stride[d] >= 1, "pool: stride must be >= 1, got ", p.stride[d]);
      PDK_CHECK(p.dilation[d] >= 1, "pool: dilation must be >= 1, got ", p.dilation[d]);
      PDK_CHECK(p.pad[d] >= 0 && p.pad[d] <= p.kernel[d] / 2,
                "pool: padding must be between 0 and kernel_size / 2 (as torch), got padding ",
                p.pad[d], " for kernel_size ", p.kernel[d]);
      // The last window must start inside the input or its left padding.
      PDK_CHECK((p.out[d] - 1) * p.stride[d] < p.in[d] + p.pad[d],
                "pool: output extent ", p.out[d], " of dim ", d, " has a window that starts past the input");
    }
  }
  PDK_CHECK(p.mode != PoolMode::lp || (p.norm_type > 0 && std::isfinite(p.norm_type)),
            "lp_pool: norm_type must be finite and > 0, got ", p.norm_type);
  PDK_CHECK(p.divisor_override >= 0, "avg_pool: divisor_override must be > 0, got ", p.divisor_override);
}

void check_unpool_params(const UnpoolParams& p) {
  PDK_CHECK(p.planes >= 0 && p.in_plane >= 0 && p.out_plane >= 0,
            "max_unpool: sizes must be >= 0, got planes ", p.planes, ", in_plane ", p.in_plane,
            ", out_plane ", p.out_plane);
}

}  // namespace pdk
