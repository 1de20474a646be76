// Convolution index math shared by the CPU and CUDA kernels (PDK_HD helpers): padding modes, taps, groups.
#pragma once
#include <cstdint>

#include "conv/conv.h"

namespace pdk {

// The input index that padded position i (any integer in the range check_conv_params allows)
// reads along a dimension of size n, or -1 for a zero. reflect: ... 2 1 | 0 1 2 ... n-1 | n-2 ...;
// replicate: clamp; circular: wrap once.
PDK_HD int64_t padded_source(int64_t i, int64_t n, PaddingMode mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case PaddingMode::reflect: return i < 0 ? -i : 2 * (n - 1) - i;
    case PaddingMode::replicate: return i < 0 ? 0 : n - 1;
    case PaddingMode::circular: return i < 0 ? i + n : i - n;
    default: return -1;
  }
}

// Forward convolution: the padded input position output o reads with tap k along dim d.
PDK_HD int64_t conv_input_pos(const ConvParams& p, int d, int64_t o, int64_t k) {
  return o * p.stride[d] - p.pad[d] + k * p.dilation[d];
}

// Transposed convolution: the input index whose tap k lands on output o along dim d, or -1.
PDK_HD int64_t conv_transpose_source(const ConvParams& p, int d, int64_t o, int64_t k) {
  const int64_t t = o + p.pad[d] - k * p.dilation[d];
  if (t < 0) return -1;
  const int64_t i = t / p.stride[d];
  return (i * p.stride[d] == t && i < p.in[d]) ? i : -1;
}

// Transposed convolution split by output phase along dim d: the outputs o with
// (o + pad) % stride == residue (o = first_out + stride * j, j < outputs) receive exactly the taps
// k = first_tap + tap_step * t (t < taps), each from input i = input_offset + j - input_step * t
// (a zero unless 0 <= i < in). Within a phase no tap lands between two inputs, so each phase is a
// dense stride-1 convolution: an implicit GEMM over it multiplies no structural zeros, and needs
// no atomics (every output belongs to one phase).
struct ConvTransposePhase {
  int64_t first_out = 0, outputs = 0;
  int64_t first_tap = 0, tap_step = 1, taps = 0;
  int64_t input_offset = 0, input_step = 0;
};

PDK_HD ConvTransposePhase conv_transpose_phase(const ConvParams& p, int d, int64_t residue) {
  const int64_t s = p.stride[d], dil = p.dilation[d];
  ConvTransposePhase ph;
  ph.first_out = ((residue - p.pad[d]) % s + s) % s;
  ph.outputs = ph.first_out < p.out[d] ? (p.out[d] - 1 - ph.first_out) / s + 1 : 0;
  int64_t g = s, b = dil;  // gcd(stride, dilation): taps k with k * dil == residue (mod s) repeat every s / g
  while (b != 0) {
    const int64_t r = g % b;
    g = b;
    b = r;
  }
  ph.tap_step = s / g;
  ph.input_step = dil / g;
  ph.first_tap = -1;
  for (int64_t k = 0; k < ph.tap_step; ++k)
    if ((k * dil) % s == residue) {
      ph.first_tap = k;
      break;
    }
  if (ph.first_tap < 0 || ph.first_tap >= p.kernel[d]) {
    ph.first_tap = 0;
    ph.taps = 0;
    return ph;
  }
  ph.taps = (p.kernel[d] - 1 - ph.first_tap) / ph.tap_step + 1;
  // Exact: first_out + pad == residue == first_tap * dil (mod s).
  ph.input_offset = (ph.first_out + p.pad[d] - ph.first_tap * dil) / s;
  return ph;
}

PDK_HD int64_t conv_kernel_volume(const ConvParams& p) { return p.kernel[0] * p.kernel[1] * p.kernel[2]; }
PDK_HD int64_t conv_in_plane(const ConvParams& p) { return p.in[0] * p.in[1] * p.in[2]; }
PDK_HD int64_t conv_out_plane(const ConvParams& p) { return p.out[0] * p.out[1] * p.out[2]; }

// Channels per group on the input and output side.
PDK_HD int64_t conv_group_in(const ConvParams& p) { return p.in_channels / p.groups; }
PDK_HD int64_t conv_group_out(const ConvParams& p) { return p.out_channels / p.groups; }

// Depthwise: every group has exactly one input channel (any channel multiplier C_out / C_in).
PDK_HD bool conv_is_depthwise(const ConvParams& p) {
  return !p.transposed && p.groups == p.in_channels && p.in_channels > 0;
}

// Tap k (0 <= k < kernel volume) as (kd, kh, kw).
PDK_HD void conv_tap(const ConvParams& p, int64_t k, int64_t* kd, int64_t* kh, int64_t* kw) {
  *kw = k % p.kernel[2];
  const int64_t r = k / p.kernel[2];
  *kh = r % p.kernel[1];
  *kd = r / p.kernel[1];
}

}  // namespace pdk
