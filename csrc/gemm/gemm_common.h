// GEMM epilogue math shared by the CPU and CUDA kernels (PDK_HD helpers): activations as torch.
#pragma once
#include <cmath>

#include "gemm/gemm.h"

namespace pdk {

// torch's activations: relu, leaky_relu(negative_slope), sigmoid, tanh, gelu (exact, erf form).
template <class T>
PDK_HD T apply_activation(T v, Activation act, T negative_slope) {
  switch (act) {
    case Activation::relu: return v > T(0) ? v : (v != v ? v : T(0));
    case Activation::leaky_relu: return v > T(0) ? v : v * negative_slope;
    case Activation::sigmoid: return T(1) / (T(1) + exp(-v));
    case Activation::tanh: return tanh(v);
    case Activation::gelu: return T(0.5) * v * (T(1) + erf(v * T(0.70710678118654752440)));
    default: return v;
  }
}

}  // namespace pdk
