// RNN family (RNN tanh/relu, LSTM with optional peepholes and projection, GRU): parameters and every backend's entry point.
#pragma once
#include <cstdint>

#include "core/pdk.h"
#include "gemm/gemm.h"

namespace pdk {

// Values mirror pydeepkit/ops/rnn.py.
enum class RnnMode : int { rnn_tanh = 0, rnn_relu = 1, lstm = 2, gru = 3 };

// Gates per hidden unit, in torch's order: LSTM i, f, g, o; GRU r, z, n; plain RNN one.
PDK_HD int64_t rnn_gate_count(RnnMode mode) {
  return mode == RnnMode::lstm ? 4 : mode == RnnMode::gru ? 3 : 1;
}

// One layer of a (possibly bidirectional) recurrent network over T time steps of B sequences.
// x [T, B, I] contiguous; hidden size H; the layer's output size is Ho = P (LSTM projection,
// P > 0) or H. Direction d writes out[t, b, d * Ho + j] (row stride D * Ho) unless out is null
// (the cells). lengths (int64 [B], on the kernels' device, optional) gives packed-sequence
// semantics: row b is active at step t iff t < lengths[b]; an inactive step keeps h and c and
// writes zeros to out, so the forward direction ends at step lengths[b] - 1 and the reverse
// direction starts there.
struct RnnParams {
  RnnMode mode = RnnMode::lstm;
  int64_t T = 0, B = 0, I = 0, H = 0;
  int64_t P = 0;  // LSTM projection size (0: none)
  int64_t D = 1;  // directions (1 or 2); direction 1 runs backwards in time
  PDK_HD int64_t out_size() const { return P > 0 ? P : H; }
  PDK_HD int64_t gates() const { return rnn_gate_count(mode); }
};

// Per-direction arrays (device or host addresses, contiguous, 0 = absent), torch's layouts:
// w_ih [G*H, I], w_hh [G*H, Ho], b_ih / b_hh [G*H], w_hr [P, H] (LSTM with P > 0),
// w_peephole [3, H] (LSTM: rows for i, f, o), h0 [B, Ho] and c0 [B, H] (absent: zeros),
// hn [B, Ho] and cn [B, H] (LSTM) outputs: the state after the last step.
struct RnnDirection {
  std::uintptr_t w_ih = 0, w_hh = 0, b_ih = 0, b_hh = 0, w_hr = 0, w_peephole = 0;
  std::uintptr_t h0 = 0, c0 = 0, hn = 0, cn = 0;
};

// Elements of the workspace the caller allocates for the CUDA path (dtype of x; the CPU path
// allocates its own): the input projections of every step and direction, D x [T, B, G*H], then
// D x the ping-pong hidden states [2, B, Ho] and the unprojected hidden state [B, H].
inline int64_t rnn_workspace_elements(const RnnParams& p) {
  return p.D * (p.T * p.B * p.gates() * p.H + 2 * p.B * p.out_size() + p.B * p.H);
}

// The input projections of every step as one GEMM (both backends):
// gx[T * B, G * H] = x[T * B, I] @ W_ih^T + b_ih (bias per column when present).
inline GemmParams rnn_input_projection(const RnnParams& p, bool bias) {
  GemmParams g;
  g.M = p.T * p.B;
  g.N = p.gates() * p.H;
  g.K = p.I;
  g.lda = g.ldb = p.I > 0 ? p.I : 1;
  g.ldc = g.N;
  g.trans_b = true;
  g.bias_mode = bias ? BiasMode::per_column : BiasMode::none;
  return g;
}

// Throws pdk::Error when the parameters are inconsistent (shared by all backends).
void check_rnn_params(const RnnParams& p, const RnnDirection* dirs);

// CUDA path choice (see rnn_cuda.cu): auto, one fused kernel per step, or one kernel for the
// whole sequence. Process-wide, for tests and benchmarks.
enum class RnnCudaPath : int { automatic = 0, per_step = 1, whole_sequence = 2 };
void set_rnn_cuda_path(const char* name);
const char* rnn_cuda_path();
RnnCudaPath rnn_cuda_path_choice();

#define PDK_RNN_ENTRY_POINTS                                                                        \
  void rnn_layer_forward(const RnnParams& p, const RnnDirection* dirs, std::uintptr_t x,           \
                         std::uintptr_t lengths, std::uintptr_t out, std::uintptr_t workspace,      \
                         DType dtype, std::uintptr_t stream);

namespace cpu {
PDK_RNN_ENTRY_POINTS
// How the CPU recurrence's threads share the steps (RnnCpuTeam in rnn_cpu_kernels.h): 'auto',
// 'team' or 'solo'. Process-wide, for tests and benchmarks.
void set_rnn_team(const char* name);
const char* rnn_team();
}  // namespace cpu
namespace cuda { PDK_RNN_ENTRY_POINTS }
#undef PDK_RNN_ENTRY_POINTS

}  // namespace pdk
