// Convolution family: the parameter struct and the entry points every backend (cpu, cuda, emu) implements.
#pragma once
#include <cstdint>

#include "core/pdk.h"
#include "gemm/gemm.h"  // Activation: the convolution's fused epilogue is the GEMM's

namespace pdk {

// How positions outside the input are read (torch's padding_mode): zeros, or mapped back into
// the input by reflection (without repeating the edge), clamping, or wrapping.
enum class PaddingMode : int { zeros = 0, reflect = 1, replicate = 2, circular = 3 };

// One N-d convolution or transposed convolution over contiguous NC(D)HW arrays. Spatial dims are
// right-aligned as (D, H, W): a 2-d op has in[0] = out[0] = kernel[0] = 1 (stride and dilation 1,
// pad 0), a 1-d op also has the H entries set that way. The Python layer (pydeepkit/ops/conv.py)
// computes `out` from the torch arguments; check_conv_params verifies every kernel read stays in
// bounds for it.
//
// Forward (transposed = false): x [N, C_in, in...], weight [C_out, C_in/groups, kernel...],
//   out[n, co, o] = act(bias[co] + residual[n, co, o]
//                       + sum_{ci in group(co), k} weight[co, ci, k] * x_padded[n, ci, o * stride - pad + k * dilation])
// Transposed (transposed = true): x [N, C_in, in...], weight [C_in, C_out/groups, kernel...],
//   out[n, co, o] = act(bias[co] + residual + sum over (ci, k, i) with i * stride - pad + k * dilation == o
//                       of weight[ci, co % (C_out/groups), k] * x[n, ci, i]);
//   only zeros padding; `pad` is the amount cropped from the start of the full output
//   (torch's padding), output_padding only shows in `out`.
struct ConvParams {
  int64_t batch = 0, in_channels = 0, out_channels = 0, groups = 1;
  int64_t in[3] = {1, 1, 1};
  int64_t out[3] = {1, 1, 1};
  int64_t kernel[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1};
  int64_t dilation[3] = {1, 1, 1};
  int64_t pad[3] = {0, 0, 0};  // before the first element (left/top/front); the far side is implied by `out`
  PaddingMode padding_mode = PaddingMode::zeros;
  bool transposed = false;
  bool has_bias = false;      // bias [C_out]
  bool has_residual = false;  // residual [N, C_out, out...], may alias `out` exactly
  Activation activation = Activation::none;
  double negative_slope = 0.01;  // leaky_relu
};

// Throws pdk::Error when the parameters are inconsistent or a kernel read could leave the input
// (shared by all backends).
void check_conv_params(const ConvParams& p);

// Pointers are device (cuda) or host (cpu, emu) addresses of contiguous arrays allocated by the
// caller (bias and residual: 0 when absent). `stream` is a cudaStream_t (0: default), ignored on
// the CPU.
#define PDK_CONV_ENTRY_POINTS                                                                      \
  void conv_forward(const ConvParams& p, std::uintptr_t x, std::uintptr_t weight, std::uintptr_t bias, \
                    std::uintptr_t residual, std::uintptr_t out, DType dtype, std::uintptr_t stream);

namespace cpu {
PDK_CONV_ENTRY_POINTS
// Which CPU algorithm forward convolutions that are not depthwise use: "auto" (the default:
// Winograd for 3x3 stride-1 convolutions with enough channels and outputs, else the direct path
// unless it wastes too many columns), "direct" (the direct path whenever the convolution is not a
// 1x1), "packed" (im2col packing always) or "winograd" (Winograd wherever it fits, else as auto;
// also for 4x4 stride-2 transposed convolutions). For tests and benchmarks.
void set_conv_path(const char* name);
const char* conv_path();

// Forward weights packed ahead for the micro-kernel (pydeepkit.nn caches them for frozen models):
// conv_forward packs them on every call otherwise. `layout` names the tile and K blocking they were
// packed for; a buffer whose size or layout no longer matches is ignored (the call packs as usual).
struct ConvPackedWeights {
  std::uintptr_t data = 0;
  int64_t elems = 0;
  int64_t layout = 0;
  // The same weights transformed for the Winograd path (0: none), used when a call takes it.
  std::uintptr_t winograd_data = 0;
  int64_t winograd_elems = 0;
  int64_t winograd_layout = 0;
};
// Elements the packed weights of `p` take (0: not packed, for transposed, depthwise or empty
// convolutions) and their layout, for the active instruction set. Only channels, groups and the
// kernel of `p` matter.
int64_t conv_packed_weights_size(const ConvParams& p, DType dtype, int64_t* layout);
void conv_pack_weights(const ConvParams& p, std::uintptr_t w, std::uintptr_t dst, int64_t dst_elems, DType dtype);
// The same for the Winograd path's transformed weights: 0 unless "auto" may take that path for
// these weights (3x3, 1x3, 1x5 or 1x7 kernels, at least 16 channels per group in and out).
int64_t conv_winograd_weights_size(const ConvParams& p, DType dtype, int64_t* layout);
void conv_pack_winograd_weights(const ConvParams& p, std::uintptr_t w, std::uintptr_t dst, int64_t dst_elems,
                                DType dtype);
// conv_forward with `packed` standing in for w's packing when it matches (w is still required: it
// is what the call falls back to).
void conv_forward_prepacked(const ConvParams& p, std::uintptr_t x, std::uintptr_t w, const ConvPackedWeights& packed,
                            std::uintptr_t bias, std::uintptr_t residual, std::uintptr_t out, DType dtype);
}  // namespace cpu
namespace cuda { PDK_CONV_ENTRY_POINTS }
#undef PDK_CONV_ENTRY_POINTS

}  // namespace pdk
