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

void register_conv(py::module_& m) {
  m.def(
      "conv_forward",
      [](int64_t batch, int64_t in_channels, int64_t out_channels, int64_t groups, Extents in, Extents out,
         Extents kernel, Extents stride, Extents dilation, Extents pad, int padding_mode, bool transposed,
         int activation, double negative_slope, std::uintptr_t x, std::uintptr_t weight, std::uintptr_t bias,
         std::uintptr_t residual, std::uintptr_t y, int dtype, std::uintptr_t stream) {
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
        backend::conv_forward(p, x, weight, bias, residual, y, static_cast<DType>(dtype), stream);
      },
      py::arg("batch"), py::arg("in_channels"), py::arg("out_channels"), py::arg("groups"), py::arg("in_extent"),
      py::arg("out_extent"), py::arg("kernel"), py::arg("stride"), py::arg("dilation"), py::arg("pad"),
      py::arg("padding_mode"), py::arg("transposed"), py::arg("activation"), py::arg("negative_slope"),
      py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("residual"), py::arg("out"), py::arg("dtype"),
      py::arg("stream"), py::call_guard<py::gil_scoped_release>());
#if PDK_BACKEND_CPU
  m.def("set_conv_path", [](const std::string& name) { cpu::set_conv_path(name.c_str()); }, py::arg("name"),
        "CPU forward convolution algorithm: 'auto', 'direct' (shifted views) or 'packed' (im2col packing).");
  m.def("conv_path", &cpu::conv_path, "The CPU forward convolution algorithm set_conv_path chose.");
#endif
}

}  // namespace pdk::bind
