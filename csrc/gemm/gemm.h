// GEMM family: parameters and entry points (cpu, cuda, emu) of C = act(A @ B + bias + residual).
#pragma once
#include <cstdint>

#include "core/pdk.h"

namespace pdk {

// Epilogue activations (shared with the convolution family's fused epilogue).
enum class Activation : int { none = 0, relu = 1, leaky_relu = 2, sigmoid = 3, tanh = 4, gelu = 5, relu6 = 6 };
constexpr int kActivationCount = 7;  // valid codes are 0 .. kActivationCount - 1
// Bias broadcast: none, one value per column of C (Linear layers), or one per row (conv as GEMM,
// where rows are output channels).
enum class BiasMode : int { none = 0, per_column = 1, per_row = 2 };

// C[M, N] = act(A[M, K] @ B[K, N] + bias + residual[M, N]), all row-major with row strides
// lda/ldb/ldc/ldr in elements (>= the row length). trans_a: A is stored as [K, M] (row stride lda);
// trans_b: B is stored as [N, K]. C must not alias A, B or bias; it may alias residual exactly
// (ldr == ldc, same pointer).
struct GemmParams {
  int64_t M = 0, N = 0, K = 0;
  int64_t lda = 0, ldb = 0, ldc = 0, ldr = 0;
  bool trans_a = false, trans_b = false;
  BiasMode bias_mode = BiasMode::none;
  Activation activation = Activation::none;
  double negative_slope = 0.01;  // leaky_relu
};

void check_gemm_params(const GemmParams& p);

#define PDK_GEMM_ENTRY_POINTS                                                                        \
  void gemm_forward(const GemmParams& p, std::uintptr_t a, std::uintptr_t b, std::uintptr_t bias,   \
                    std::uintptr_t residual, std::uintptr_t c, DType dtype, std::uintptr_t stream);

namespace cpu { PDK_GEMM_ENTRY_POINTS }
namespace cuda { PDK_GEMM_ENTRY_POINTS }
#undef PDK_GEMM_ENTRY_POINTS

}  // namespace pdk
