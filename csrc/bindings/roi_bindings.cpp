// pybind11 bindings of the ROI-family entry points (thin: build the params struct, release the GIL).
#include <pybind11/pybind11.h>

#include "bindings/bindings.h"
#include "roi/roi.h"

namespace py = pybind11;

namespace pdk::bind {
namespace {

RoiParams roi_params(int64_t n, int64_t channels, int64_t height, int64_t width, int64_t k, int64_t pooled_h,
                     int64_t pooled_w, double spatial_scale, int64_t sampling_ratio, bool aligned) {
  RoiParams p;
  p.n = n;
  p.channels = channels;
  p.height = height;
  p.width = width;
  p.k = k;
  p.pooled_h = pooled_h;
  p.pooled_w = pooled_w;
  p.spatial_scale = spatial_scale;
  p.sampling_ratio = sampling_ratio;
  p.aligned = aligned;
  return p;
}

}  // namespace

void register_roi(py::module_& m) {
  m.def(
      "roi_align_forward",
      [](int64_t n, int64_t channels, int64_t height, int64_t width, int64_t k, int64_t pooled_h, int64_t pooled_w,
         double spatial_scale, int64_t sampling_ratio, bool aligned, std::uintptr_t input, std::uintptr_t rois,
         std::uintptr_t output, int dtype, std::uintptr_t stream) {
        backend::roi_align_forward(
            roi_params(n, channels, height, width, k, pooled_h, pooled_w, spatial_scale, sampling_ratio, aligned),
            input, rois, output, static_cast<DType>(dtype), stream);
      },
      py::arg("n"), py::arg("channels"), py::arg("height"), py::arg("width"), py::arg("k"), py::arg("pooled_h"),
      py::arg("pooled_w"), py::arg("spatial_scale"), py::arg("sampling_ratio"), py::arg("aligned"),
      py::arg("input"), py::arg("rois"), py::arg("output"), py::arg("dtype"), py::arg("stream"),
      py::call_guard<py::gil_scoped_release>());
  m.def(
      "roi_pool_forward",
      [](int64_t n, int64_t channels, int64_t height, int64_t width, int64_t k, int64_t pooled_h, int64_t pooled_w,
         double spatial_scale, std::uintptr_t input, std::uintptr_t rois, std::uintptr_t output,
         std::uintptr_t argmax, int dtype, std::uintptr_t stream) {
        backend::roi_pool_forward(
            roi_params(n, channels, height, width, k, pooled_h, pooled_w, spatial_scale, -1, false), input, rois,
            output, argmax, static_cast<DType>(dtype), stream);
      },
      py::arg("n"), py::arg("channels"), py::arg("height"), py::arg("width"), py::arg("k"), py::arg("pooled_h"),
      py::arg("pooled_w"), py::arg("spatial_scale"), py::arg("input"), py::arg("rois"), py::arg("output"),
      py::arg("argmax"), py::arg("dtype"), py::arg("stream"), py::call_guard<py::gil_scoped_release>());
}

}  // namespace pdk::bind
