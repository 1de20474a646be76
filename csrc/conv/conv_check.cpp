// Backend-independent validation of convolution parameters (compiled into every extension).
#include "conv/conv_common.h"

namespace pdk {

void check_conv_params(const ConvParams& p) {
  const char* op = p.transposed ? "conv_transpose" : "conv";
  PDK_CHECK(p.batch >= 0 && p.in_channels >= 0 && p.out_channels >= 0, op,
            ": batch and channel counts must be >= 0, got batch ", p.batch, ", in_channels ", p.in_channels,
            ", out_channels ", p.out_channels);
  PDK_CHECK(p.groups >= 1, op, ": groups must be >= 1, got ", p.groups);
  PDK_CHECK(p.in_channels % p.groups == 0 && p.out_channels % p.groups == 0, op, ": in_channels ",
            p.in_channels, " and out_channels ", p.out_channels, " must be divisible by groups ", p.groups);
  const int mode = static_cast<int>(p.padding_mode), act = static_cast<int>(p.activation);
  PDK_CHECK(mode >= 0 && mode <= 3, op, ": unknown padding mode ", mode);
  PDK_CHECK(act >= 0 && act < kActivationCount, op, ": unknown activation ", act);
  PDK_CHECK(!p.transposed || p.padding_mode == PaddingMode::zeros, op, ": only zeros padding is supported");
  for (int d = 0; d < 3; ++d) {
    PDK_CHECK(p.in[d] >= 1 && p.out[d] >= 1 && p.kernel[d] >= 1, op, ": dim ", d,
              " needs input, output and kernel extents >= 1, got ", p.in[d], ", ", p.out[d], ", ", p.kernel[d]);
    PDK_CHECK(p.stride[d] >= 1 && p.dilation[d] >= 1, op, ": stride and dilation must be >= 1, got ",
              p.stride[d], " and ", p.dilation[d]);
    PDK_CHECK(p.pad[d] >= 0, op, ": padding must be >= 0, got ", p.pad[d]);
    if (p.transposed) continue;  // every transposed read is bounds-checked against `in`
    // The padded positions the kernels read: [first, last]. Zeros padding reads nothing outside
    // the input; the other modes map positions back in and need them within one reflection.
    const int64_t n = p.in[d], first = -p.pad[d];
    const int64_t last = (p.out[d] - 1) * p.stride[d] - p.pad[d] + (p.kernel[d] - 1) * p.dilation[d];
    switch (p.padding_mode) {
      case PaddingMode::reflect:
        PDK_CHECK(first > -n && last < 2 * n - 1, op, ": reflect padding must be < the input size ", n,
                  " along dim ", d);
        break;
      case PaddingMode::circular:
        PDK_CHECK(first >= -n && last < 2 * n, op, ": circular padding must be <= the input size ", n,
                  " along dim ", d);
        break;
      default: break;
    }
  }
}

}  // namespace pdk
