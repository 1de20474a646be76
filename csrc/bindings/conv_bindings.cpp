// pybind11 binding of the convolution entry point (thin: build the params struct, release the GIL).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <string>

#include "bindings/bindings.h"
#include "conv/conv.h"

namespace py = pybind11;
using Extents = std::array<int64_t, 3>;

namespace pdk::bind {

namespace {

ConvParams conv_params(int64_t batch, int64_t in_channels, int64_t out_channels, int64_t groups, const Extents& in,
                       const Extents& out, const Extents& kernel, const Extents& stride, const Extents& dilation,
                       const Extents& pad, int padding_mode, bool transposed, int activation, double negative_slope,
                       std::uintptr_t bias, std::uintptr_t residual) {
  ConvParams p;
  p.batch = batch;
  p.in_channels = in_channels;
  p.out_channels = out_channels;
  p.groups = groups;
  for (int d = 0; d < 3; ++d) {
    p.in[d] = in[d];
    p.out[d] = out[d];
    p.kernel[d] = kernel[d];
    p.stride[d] = stride[d];
    p.dilation[d] = dilation[d];
    p.pad[d] = pad[d];
  }
  p.padding_mode = static_cast<PaddingMode>(padding_mode);
  p.transposed = transposed;
  p.has_bias = bias != 0;
  p.has_residual = residual != 0;
  p.activation = static_cast<Activation>(activation);
  p.negative_slope = negative_slope;
  return p;
}

#if PDK_BACKEND_CPU
// Only what the packed weights depend on: channels, groups, kernel, and the calls' stride (which
// picks the Winograd form; undilated, zeros).
ConvParams weight_params(int64_t in_channels, int64_t out_channels, int64_t groups, const Extents& kernel,
                         const Extents& stride) {
  const Extents ones{1, 1, 1}, zeros{0, 0, 0};
  return conv_params(1, in_channels, out_channels, groups, kernel, ones, kernel, stride, ones, zeros, 0, false, 0,
                     0.0, 0, 0);
}
#endif

}  // namespace

void register_conv(py::module_& m) {
  m.def(
      "conv_forward",
      [](int64_t batch, int64_t in_channels, int64_t out_channels, int64_t groups, Extents in, Extents out,
         Extents kernel, Extents stride, Extents dilation, Extents pad, int padding_mode, bool transposed,
         int activation, double negative_slope, std::uintptr_t x, std::uintptr_t weight, std::uintptr_t bias,
         std::uintptr_t residual, std::uintptr_t y, int dtype, std::uintptr_t stream) {
        const ConvParams p = conv_params(batch, in_channels, out_channels, groups, in, out, kernel, stride, dilation,
                                         pad, padding_mode, transposed, activation, negative_slope, bias, residual);
        backend::conv_forward(p, x, weight, bias, residual, y, static_cast<DType>(dtype), stream);
      },
      py::arg("batch"), py::arg("in_channels"), py::arg("out_channels"), py::arg("groups"), py::arg("in_extent"),
      py::arg("out_extent"), py::arg("kernel"), py::arg("stride"), py::arg("dilation"), py::arg("pad"),
      py::arg("padding_mode"), py::arg("transposed"), py::arg("activation"), py::arg("negative_slope"),
      py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("residual"), py::arg("out"), py::arg("dtype"),
      py::arg("stream"), py::call_guard<py::gil_scoped_release>());
#if PDK_BACKEND_CPU
  m.def(
      "conv_forward_prepacked",
      [](int64_t batch, int64_t in_channels, int64_t out_channels, int64_t groups, Extents in, Extents out,
         Extents kernel, Extents stride, Extents dilation, Extents pad, int padding_mode, int activation,
         double negative_slope, std::uintptr_t x, std::uintptr_t weight, std::uintptr_t packed, int64_t packed_elems,
         int64_t packed_layout, std::uintptr_t bias, std::uintptr_t residual, std::uintptr_t y, int dtype,
         std::uintptr_t winograd, int64_t winograd_elems, int64_t winograd_layout) {
        const ConvParams p = conv_params(batch, in_channels, out_channels, groups, in, out, kernel, stride, dilation,
                                         pad, padding_mode, false, activation, negative_slope, bias, residual);
        const cpu::ConvPackedWeights packs{packed, packed_elems, packed_layout, winograd, winograd_elems,
                                           winograd_layout};
        cpu::conv_forward_prepacked(p, x, weight, packs, bias, residual, y, static_cast<DType>(dtype));
      },
      py::arg("batch"), py::arg("in_channels"), py::arg("out_channels"), py::arg("groups"), py::arg("in_extent"),
      py::arg("out_extent"), py::arg("kernel"), py::arg("stride"), py::arg("dilation"), py::arg("pad"),
      py::arg("padding_mode"), py::arg("activation"), py::arg("negative_slope"), py::arg("x"), py::arg("weight"),
      py::arg("packed"), py::arg("packed_elems"), py::arg("packed_layout"), py::arg("bias"), py::arg("residual"),
      py::arg("out"), py::arg("dtype"), py::arg("winograd") = 0, py::arg("winograd_elems") = 0,
      py::arg("winograd_layout") = 0, py::call_guard<py::gil_scoped_release>(),
      "conv_forward (not transposed) with weights packed by conv_pack_weights (and their Winograd form, when the "
      "call takes that path); each ignored unless it still matches.");
  m.def(
      "conv_packed_weights_size",
      [](int64_t in_channels, int64_t out_channels, int64_t groups, Extents kernel, int dtype, bool winograd,
         Extents stride) {
        int64_t layout = 0;
        const ConvParams p = weight_params(in_channels, out_channels, groups, kernel, stride);
        const int64_t elems = winograd ? cpu::conv_winograd_weights_size(p, static_cast<DType>(dtype), &layout)
                                       : cpu::conv_packed_weights_size(p, static_cast<DType>(dtype), &layout);
        return py::make_tuple(elems, layout);
      },
      py::arg("in_channels"), py::arg("out_channels"), py::arg("groups"), py::arg("kernel"), py::arg("dtype"),
      py::arg("winograd") = false, py::arg("stride") = Extents{1, 1, 1},
      "(elements, layout) of a forward convolution's packed weights (winograd: their Winograd form for calls at "
      "`stride`) for the active SIMD level (0, 0: none).");
  m.def(
      "conv_pack_weights",
      [](int64_t in_channels, int64_t out_channels, int64_t groups, Extents kernel, std::uintptr_t weight,
         std::uintptr_t dst, int64_t dst_elems, int dtype, bool winograd, Extents stride) {
        const ConvParams p = weight_params(in_channels, out_channels, groups, kernel, stride);
        if (winograd) cpu::conv_pack_winograd_weights(p, weight, dst, dst_elems, static_cast<DType>(dtype));
        else cpu::conv_pack_weights(p, weight, dst, dst_elems, static_cast<DType>(dtype));
      },
      py::arg("in_channels"), py::arg("out_channels"), py::arg("groups"), py::arg("kernel"), py::arg("weight"),
      py::arg("dst"), py::arg("dst_elems"), py::arg("dtype"), py::arg("winograd") = false,
      py::arg("stride") = Extents{1, 1, 1}, py::call_guard<py::gil_scoped_release>(),
      "Packs forward convolution weights (winograd: their Winograd form) into dst (conv_packed_weights_size "
      "elements) for conv_forward_prepacked.");
  m.def("set_conv_path", [](const std::string& name) { cpu::set_conv_path(name.c_str()); }, py::arg("name"),
        "CPU forward convolution algorithm: 'auto', 'direct' (shifted views), 'packed' (im2col packing) or "
        "'winograd' (F(2x2, 3x3) wherever it fits).");
  m.def("conv_path", &cpu::conv_path, "The CPU forward convolution algorithm set_conv_path chose.");
#endif
}

}  // namespace pdk::bind
