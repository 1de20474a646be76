// pybind11 binding of the GEMM entry point (thin: build the params struct, release the GIL).
#include <pybind11/pybind11.h>

#include "bindings/bindings.h"
#include "gemm/gemm.h"

namespace py = pybind11;

namespace pdk::bind {

void register_gemm(py::module_& m) {
  m.def(
      "gemm_forward",
      [](int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb, int64_t ldc, int64_t ldr, bool trans_a,
         bool trans_b, int bias_mode, int activation, double negative_slope, std::uintptr_t a, std::uintptr_t b,
         std::uintptr_t bias, std::uintptr_t residual, std::uintptr_t c, int dtype, std::uintptr_t stream) {
        GemmParams p;
        p.M = M;
        p.N = N;
        p.K = K;
        p.lda = lda;
        p.ldb = ldb;
        p.ldc = ldc;
        p.ldr = ldr;
        p.trans_a = trans_a;
        p.trans_b = trans_b;
        p.bias_mode = static_cast<BiasMode>(bias_mode);
        p.activation = static_cast<Activation>(activation);
        p.negative_slope = negative_slope;
        backend::gemm_forward(p, a, b, bias, residual, c, static_cast<DType>(dtype), stream);
      },
      py::arg("M"), py::arg("N"), py::arg("K"), py::arg("lda"), py::arg("ldb"), py::arg("ldc"), py::arg("ldr"),
      py::arg("trans_a"), py::arg("trans_b"), py::arg("bias_mode"), py::arg("activation"),
      py::arg("negative_slope"), py::arg("a"), py::arg("b"), py::arg("bias"), py::arg("residual"), py::arg("c"),
      py::arg("dtype"), py::arg("stream"), py::call_guard<py::gil_scoped_release>());
}

}  // namespace pdk::bind
