// pybind11 bindings of the pooling entry points (thin: build the params struct, release the GIL).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>

#include "bindings/bindings.h"
#include "pool/pool.h"

namespace py = pybind11;
using Extents = std::array<int64_t, 3>;

namespace pdk::bind {

void register_pool(py::module_& m) {
  m.def(
      "pool_forward",
      [](int mode, int rule, int64_t planes, Extents in, Extents out, Extents kernel, Extents stride,
         Extents pad, Extents dilation, bool count_include_pad, int64_t divisor_override,
         double norm_type, std::uintptr_t x, std::uintptr_t y, std::uintptr_t indices, int dtype,
         std::uintptr_t stream) {
        PoolParams p;
        p.mode = static_cast<PoolMode>(mode);
        p.rule = static_cast<WindowRule>(rule);
        p.planes = planes;
        for (int d = 0; d < 3; ++d) {
          p.in[d] = in[d];
          p.out[d] = out[d];
          p.kernel[d] = kernel[d];
          p.stride[d] = stride[d];
          p.pad[d] = pad[d];
          p.dilation[d] = dilation[d];
        }
        p.count_include_pad = count_include_pad;
        p.divisor_override = divisor_override;
        p.norm_type = norm_type;
        backend::pool_forward(p, x, y, indices, static_cast<DType>(dtype), stream);
      },
      py::arg("mode"), py::arg("rule"), py::arg("planes"), py::arg("in_extent"), py::arg("out_extent"),
      py::arg("kernel"), py::arg("stride"), py::arg("pad"), py::arg("dilation"),
      py::arg("count_include_pad"), py::arg("divisor_override"), py::arg("norm_type"), py::arg("x"),
      py::arg("y"), py::arg("indices"), py::arg("dtype"), py::arg("stream"),
      py::call_guard<py::gil_scoped_release>());
  m.def(
      "max_unpool_forward",
      [](int64_t planes, int64_t in_plane, int64_t out_plane, std::uintptr_t x, std::uintptr_t indices,
         std::uintptr_t y, int dtype, std::uintptr_t stream) {
        UnpoolParams p;
        p.planes = planes;
        p.in_plane = in_plane;
        p.out_plane = out_plane;
        backend::max_unpool_forward(p, x, indices, y, static_cast<DType>(dtype), stream);
      },
      py::arg("planes"), py::arg("in_plane"), py::arg("out_plane"), py::arg("x"), py::arg("indices"),
      py::arg("y"), py::arg("dtype"), py::arg("stream"), py::call_guard<py::gil_scoped_release>());
}

}  // namespace pdk::bind
