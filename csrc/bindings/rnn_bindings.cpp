// pybind11 bindings of the RNN-family entry point (thin: build the params and per-direction pointers, release the GIL).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <vector>

#include "bindings/bindings.h"
#include "rnn/rnn.h"

namespace py = pybind11;

namespace pdk::bind {
namespace {

RnnParams rnn_params(int mode, int64_t T, int64_t B, int64_t I, int64_t H, int64_t P, int64_t D) {
  RnnParams p;
  p.mode = static_cast<RnnMode>(mode);
  p.T = T;
  p.B = B;
  p.I = I;
  p.H = H;
  p.P = P;
  p.D = D;
  return p;
}

}  // namespace

void register_rnn(py::module_& m) {
  m.def(
      "rnn_layer_forward",
      [](int mode, int64_t T, int64_t B, int64_t I, int64_t H, int64_t P,
         const std::vector<std::array<std::uintptr_t, 10>>& directions, std::uintptr_t x, std::uintptr_t lengths,
         std::uintptr_t out, std::uintptr_t workspace, int dtype, std::uintptr_t stream) {
        const int64_t D = static_cast<int64_t>(directions.size());
        PDK_CHECK(D == 1 || D == 2, "rnn: expected 1 or 2 directions, got ", D);
        RnnDirection dirs[2];
        for (int64_t d = 0; d < D; ++d) {
          const auto& a = directions[d];  // w_ih, w_hh, b_ih, b_hh, w_hr, w_peephole, h0, c0, hn, cn
          dirs[d] = RnnDirection{a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]};
        }
        backend::rnn_layer_forward(rnn_params(mode, T, B, I, H, P, D), dirs, x, lengths, out, workspace,
                                   static_cast<DType>(dtype), stream);
      },
      py::arg("mode"), py::arg("T"), py::arg("B"), py::arg("I"), py::arg("H"), py::arg("P"), py::arg("directions"),
      py::arg("x"), py::arg("lengths"), py::arg("out"), py::arg("workspace"), py::arg("dtype"), py::arg("stream"),
      py::call_guard<py::gil_scoped_release>());
  m.def(
      "rnn_workspace_elements",
      [](int mode, int64_t T, int64_t B, int64_t H, int64_t P, int64_t D) {
        return rnn_workspace_elements(rnn_params(mode, T, B, 0, H, P, D));
      },
      py::arg("mode"), py::arg("T"), py::arg("B"), py::arg("H"), py::arg("P"), py::arg("D"));
#if PDK_BACKEND_CPU
  m.def("set_rnn_team", [](const std::string& name) { cpu::set_rnn_team(name.c_str()); }, py::arg("name"),
        "How the CPU recurrence's threads share the steps: 'auto' (a thread that keeps waiting for the "
        "others carries on alone), 'team' (never alone) or 'solo' (alone from step 1).");
  m.def("rnn_team", &cpu::rnn_team, "The policy set_rnn_team chose.");
#endif
#if PDK_BACKEND_CUDA
  m.def("set_rnn_path", [](const std::string& name) { set_rnn_cuda_path(name.c_str()); }, py::arg("name"),
        "Force the CUDA recurrence: 'auto', 'step' (one fused kernel per step) or 'sequence' (one kernel).");
  m.def("rnn_path", &rnn_cuda_path, "The CUDA recurrence path set_rnn_path chose.");
#endif
}

}  // namespace pdk::bind
