// pybind11 bindings of the attention-family entry points (thin: build the params struct, release the GIL).
#include <array>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "attention/attention.h"
#include "bindings/bindings.h"

namespace py = pybind11;

namespace pdk::bind {
namespace {

using Dims = std::array<int64_t, kAttentionBatchDims>;

// Strides (elements): the batch dims' then the row's (then, for the bias, the column's).
AttentionParams attention_params(const Dims& batch, int64_t L, int64_t S, int64_t E, int64_t Ev,
                                 const std::array<int64_t, kAttentionBatchDims + 1>& q,
                                 const std::array<int64_t, kAttentionBatchDims + 1>& k,
                                 const std::array<int64_t, kAttentionBatchDims + 1>& v, bool has_bias,
                                 const std::array<int64_t, kAttentionBatchDims + 2>& bias, double scale, bool causal,
                                 double dropout_p, uint64_t seed,
                                 const std::array<int64_t, kAttentionBatchDims + 1>& out) {
  AttentionParams p;
  for (int d = 0; d < kAttentionBatchDims; ++d) {
    p.batch[d] = batch[d];
    p.q_batch[d] = q[d];
    p.k_batch[d] = k[d];
    p.v_batch[d] = v[d];
    p.bias_batch[d] = bias[d];
    p.out_batch[d] = out[d];
  }
  p.L = L;
  p.S = S;
  p.E = E;
  p.Ev = Ev;
  p.q_row = q[kAttentionBatchDims];
  p.k_row = k[kAttentionBatchDims];
  p.v_row = v[kAttentionBatchDims];
  p.out_row = out[kAttentionBatchDims];
  p.has_bias = has_bias;
  p.bias_row = bias[kAttentionBatchDims];
  p.bias_col = bias[kAttentionBatchDims + 1];
  p.scale = scale;
  p.causal = causal;
  p.dropout_p = dropout_p;
  p.seed = seed;
  return p;
}

}  // namespace

void register_attention(py::module_& m) {
  m.def("attention_params", &attention_params, py::arg("batch"), py::arg("L"), py::arg("S"), py::arg("E"),
        py::arg("Ev"), py::arg("q_strides"), py::arg("k_strides"), py::arg("v_strides"), py::arg("has_bias"),
        py::arg("bias_strides"), py::arg("scale"), py::arg("causal"), py::arg("dropout_p"), py::arg("seed"),
        py::arg("out_strides"));
  py::class_<AttentionParams>(m, "AttentionParams", py::module_local());
  m.def(
      "attention_forward",
      [](const AttentionParams& p, std::uintptr_t q, std::uintptr_t k, std::uintptr_t v, std::uintptr_t bias,
         std::uintptr_t out, std::uintptr_t lse, int dtype, std::uintptr_t stream) {
        backend::attention_forward(p, q, k, v, bias, out, lse, static_cast<DType>(dtype), stream);
      },
      py::arg("params"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("bias"), py::arg("out"), py::arg("lse"),
      py::arg("dtype"), py::arg("stream"), py::call_guard<py::gil_scoped_release>());
  m.def(
      "attention_workspace_bytes",
      [](const AttentionParams& p, int dtype) {
        return backend::attention_workspace_bytes(p, static_cast<DType>(dtype));
      },
      py::arg("params"), py::arg("dtype"));
}

}  // namespace pdk::bind
