// Validation of attention parameters (compiled into every extension).
#include <cmath>

#include "attention/attention.h"

namespace pdk {

void check_attention_params(const AttentionParams& p, const char* what) {
  for (int d = 0; d < kAttentionBatchDims; ++d)
    PDK_CHECK(p.batch[d] >= 0, what, ": batch sizes must be >= 0, got ", p.batch[d], " in dim ", d);
  PDK_CHECK(p.L >= 0 && p.S >= 0, what, ": sequence lengths must be >= 0, got L=", p.L, " S=", p.S);
  PDK_CHECK(p.E >= 1 && p.Ev >= 1, what, ": head dims must be >= 1, got E=", p.E, " Ev=", p.Ev);
  PDK_CHECK(std::isfinite(p.scale), what, ": scale must be finite, got ", p.scale);
  PDK_CHECK(p.dropout_p >= 0.0 && p.dropout_p < 1.0, what, ": dropout_p must be in [0, 1), got ", p.dropout_p);
}

}  // namespace pdk
