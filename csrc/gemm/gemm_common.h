// GEMM epilogue math shared by the CPU and CUDA kernels (PDK_HD helpers): activations as torch, the fused element store.
#pragma once
#include <cmath>

#include "gemm/gemm.h"

namespace pdk {

// torch's activations: relu, leaky_relu(negative_slope), sigmoid, tanh, gelu (exact, erf form), relu6.
// NaN passes through relu and relu6 as in torch.
template <class T>
PDK_HD T apply_activation(T v, Activation act, T negative_slope) {
  switch (act) {
    case Activation::relu: return v > T(0) ? v : (v != v ? v : T(0));
    case Activation::leaky_relu: return v > T(0) ? v : v * negative_slope;
    case Activation::sigmoid: return T(1) / (T(1) + exp(-v));
    case Activation::tanh: return tanh(v);
    case Activation::gelu: return T(0.5) * v * (T(1) + erf(v * T(0.70710678118654752440)));
    case Activation::relu6: return v > T(6) ? T(6) : (v > T(0) ? v : (v != v ? v : T(0)));
    default: return v;
  }
}

// One element of the fused epilogue, c = act(acc + bias + residual), shared by the CUDA GEMM and
// convolution kernels. `residual` (null: none) may alias `c` exactly, as their contract allows:
// it is read before c is written, by the same thread.
template <class T>
PDK_HD void store_fused(T* c, T acc, T bias, const T* residual, Activation act, T negative_slope) {
  T v = acc + bias;
  if (residual != nullptr) v += *residual;
  *c = apply_activation(v, act, negative_slope);
}

}  // namespace pdk
