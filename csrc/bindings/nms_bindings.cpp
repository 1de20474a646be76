// pybind11 bindings of the NMS-family entry points (thin: build the params struct, release the GIL).
#include <pybind11/pybind11.h>

#include "bindings/bindings.h"
#include "nms/nms.h"

namespace py = pybind11;

namespace pdk::bind {
namespace {

NmsParams nms_params(int64_t n, double iou_threshold, bool batched) {
  NmsParams p;
  p.n = n;
  p.iou_threshold = iou_threshold;
  p.batched = batched;
  return p;
}

SoftNmsParams soft_nms_params(int64_t n, double iou_threshold, double sigma, double score_threshold, int method) {
  SoftNmsParams p;
  p.n = n;
  p.iou_threshold = iou_threshold;
  p.sigma = sigma;
  p.score_threshold = score_threshold;
  p.method = static_cast<SoftNmsMethod>(method);
  return p;
}

}  // namespace

void register_nms(py::module_& m) {
  m.def(
      "nms_workspace_bytes",
      [](int64_t n, double iou_threshold, bool batched, int dtype) {
        return backend::nms_workspace_bytes(nms_params(n, iou_threshold, batched), static_cast<DType>(dtype));
      },
      py::arg("n"), py::arg("iou_threshold"), py::arg("batched"), py::arg("dtype"));
  m.def(
      "nms_forward",
      [](int64_t n, double iou_threshold, bool batched, std::uintptr_t boxes, std::uintptr_t scores,
         std::uintptr_t categories, std::uintptr_t keep, std::uintptr_t count, std::uintptr_t workspace,
         int64_t workspace_bytes, int dtype, std::uintptr_t stream) {
        backend::nms_forward(nms_params(n, iou_threshold, batched), boxes, scores, categories, keep, count, workspace,
                             workspace_bytes, static_cast<DType>(dtype), stream);
      },
      py::arg("n"), py::arg("iou_threshold"), py::arg("batched"), py::arg("boxes"), py::arg("scores"),
      py::arg("categories"), py::arg("keep"), py::arg("count"), py::arg("workspace"), py::arg("workspace_bytes"),
      py::arg("dtype"), py::arg("stream"), py::call_guard<py::gil_scoped_release>());
  m.def(
      "soft_nms_workspace_bytes",
      [](int64_t n, double iou_threshold, double sigma, double score_threshold, int method, int dtype) {
        return backend::soft_nms_workspace_bytes(soft_nms_params(n, iou_threshold, sigma, score_threshold, method),
                                                 static_cast<DType>(dtype));
      },
      py::arg("n"), py::arg("iou_threshold"), py::arg("sigma"), py::arg("score_threshold"), py::arg("method"),
      py::arg("dtype"));
  m.def(
      "soft_nms_forward",
      [](int64_t n, double iou_threshold, double sigma, double score_threshold, int method, std::uintptr_t boxes,
         std::uintptr_t scores, std::uintptr_t keep, std::uintptr_t kept_scores, std::uintptr_t count,
         std::uintptr_t workspace, int64_t workspace_bytes, int dtype, std::uintptr_t stream) {
        backend::soft_nms_forward(soft_nms_params(n, iou_threshold, sigma, score_threshold, method), boxes, scores,
                                  keep, kept_scores, count, workspace, workspace_bytes, static_cast<DType>(dtype),
                                  stream);
      },
      py::arg("n"), py::arg("iou_threshold"), py::arg("sigma"), py::arg("score_threshold"), py::arg("method"),
      py::arg("boxes"), py::arg("scores"), py::arg("keep"), py::arg("kept_scores"), py::arg("count"),
      py::arg("workspace"), py::arg("workspace_bytes"), py::arg("dtype"), py::arg("stream"),
      py::call_guard<py::gil_scoped_release>());
  m.def(
      "box_iou_forward",
      [](int64_t n, int64_t m, std::uintptr_t a, std::uintptr_t b, std::uintptr_t out, int dtype,
         std::uintptr_t stream) {
        BoxIouParams p;
        p.n = n;
        p.m = m;
        backend::box_iou_forward(p, a, b, out, static_cast<DType>(dtype), stream);
      },
      py::arg("n"), py::arg("m"), py::arg("a"), py::arg("b"), py::arg("out"), py::arg("dtype"), py::arg("stream"),
      py::call_guard<py::gil_scoped_release>());
}

}  // namespace pdk::bind
