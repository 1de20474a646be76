// The plan rnn_cpu.cpp hands to the per-ISA CPU recurrence kernels (pointers, packing workspace), and their declarations.
#pragma once
#include <cstdint>

#include "rnn/rnn.h"

namespace pdk {

// The input projection joins the recurrent product: x_t @ W_ih^T is computed in the same register
// tiles as h_{t-1} @ W_hh^T, one product over depth I + Ho with [W_ih | W_hh] packed side by side,
// instead of an input GEMM for all steps, its [T, B, G*H] intermediate (26 MB for the LSTM bench
// row, written once and read back from memory) and a shorter depth per tile. Each step then
// reads W_ih as well, so it pays only while [W_ih | W_hh] stays in cache and the batch reuses it.
// Taken for a single step (the cells), and for sequences of kFusedInputRows rows or more whose
// packed [W_ih | W_hh] per direction is at most kFusedInputWeightBytes. Measured in one process
// (LSTM, T = 50-100, fused against the input GEMM): with 0.5-6 MB of weights, 3-15% faster from
// B = 4 to 64 (the B = 32 bench row: 1.05 and 1.04 before, 0.99 and 1.02 after, builds
// alternating in the bench runner); at B = 1 and 2, 18% and 10% slower (steps bound by
// reading the weights); with 12 MB, 3-4% slower at B = 4 and 32; with 32 MB (I = H = 1024),
// 1.15-2.4x slower at B = 4 to 64. GRU keeps the input GEMM: its n gate needs x W_in^T and
// W_hn h apart (n = tanh(x_n + r * h_n)).
constexpr int64_t kFusedInputRows = 4;
constexpr int64_t kFusedInputWeightBytes = int64_t{8} << 20;
inline bool rnn_cpu_fuses_input(const RnnParams& p, int64_t elem_size) {
  if (p.mode == RnnMode::gru) return false;
  const int64_t weight_bytes = (p.I + p.out_size()) * p.gates() * p.H * elem_size;
  return p.T == 1 || (p.B >= kFusedInputRows && weight_bytes <= kFusedInputWeightBytes);
}

// A batch of one multiplies the unpacked weights row by row (multiply_rows_by_vector, a
// matrix-vector product): no packed copy of W_hh (4 MB for H = 512, packed once per call) and no
// packed h; its loads per FMA are fewer than the packed 1-row kernel's, which held a batch-1 LSTM
// step to ~0.6 FMA per cycle. The projection (proj_size) keeps its packed panels.
inline bool rnn_cpu_multiplies_rows(const RnnParams& p) { return p.B == 1; }

// One direction of a layer, host pointers (null: absent). pre (workspace) holds the gate
// pre-activations ([T, B, G*H]): the input GEMM leaves x @ W_ih^T + gate_bias there and each step
// adds h_{t-1} @ W_hh^T in place (GRU's n gate excepted: W_hn h + b_hn is kept apart); with the
// input fused (rnn_cpu_fuses_input) it holds one step only ([B, G*H], reused by every step, so it
// stays in cache): the step writes the whole product there and adds gate_bias itself.
// The hidden state alternates between h (the hn output, initialised from h0 by rnn_cpu.cpp: steps
// read it at even s) and h_alt (odd s), so a step reads h_{t-1} while it writes h_t and needs one
// barrier only; after an odd number of steps the final state is in h_alt. c (the cn output) is
// updated in place.
struct RnnCpuDirection {
  void* pre = nullptr;
  const void* x = nullptr;          // the layer input [T, B, I] (read only when the input is fused)
  const void* gate_bias = nullptr;  // b_ih + b_hh per gate (GRU n: b_in only), or null without biases
  const void* b_hn = nullptr;       // GRU: b_hh of the n gate, or null
  const void* w_ih = nullptr;
  const void* w_hh = nullptr;
  const void* w_hr = nullptr;
  const void* peephole = nullptr;
  void* h = nullptr;
  void* c = nullptr;
  void* out = nullptr;  // &out[0, 0, d * Ho] (row stride D * Ho), or null
  // Workspace (64-byte aligned, allocated by rnn_cpu.cpp, sizes in rnn_cpu_workspace):
  void* w_pack = nullptr;   // the gate panels of a hidden block side by side (NR wide, depth W_hh's Ho,
                            // or I + Ho with the input fused): all blocks for T > 1, packed once by
                            // the thread that owns the block; one block per thread for a single step;
                            // none for a batch of one (rnn_cpu_multiplies_rows)
  void* hr_pack = nullptr;  // W_hr^T as NR-wide panels of depth H (projection)
  void* h_alt = nullptr;    // [B, Ho] the hidden state of odd steps
  void* a_pack = nullptr;   // per thread: h_{t-1} (with the input fused: [x_t | h_{t-1}]) as MR-row panels
  void* h_full = nullptr;   // [B, H]: o * tanh(c) before the projection
  void* f_pack = nullptr;   // per thread: h_full as MR-row panels of depth H
};

// Threads of the recurrence at most, and work items per phase below which it may use more than
// one (the size of its work-sharing table and of a range's ends, rnn_cpu_kernels.cpp).
constexpr int64_t kRnnMaxThreads = 64;
constexpr int64_t kRnnMaxItems = int64_t{1} << 20;

// How a team of threads shares the steps: 'auto' lets a thread that keeps waiting for the others
// carry on alone (rnn_cpu_kernels.cpp, run_phase); 'team' never does; 'solo' makes the first
// thread to finish step 0 carry on alone. The last two are for tests and benchmarks.
enum class RnnCpuTeam : int { automatic = 0, team = 1, solo = 2 };

struct RnnCpuPlan {
  RnnParams p;
  RnnCpuDirection dirs[2];
  const int64_t* lengths = nullptr;
  int64_t threads = 1;
  RnnCpuTeam team = RnnCpuTeam::automatic;
  bool fused = false;  // rnn_cpu_fuses_input
};

// Workspace element counts per direction for a micro-kernel tile MR x NR and `threads` threads
// (each packs its own copy of the small A operands: no barrier between packing and use).
struct RnnCpuWorkspace {
  int64_t pre, w_pack, hr_pack, h_alt, a_pack, h_full, f_pack, gate_bias;
};
inline RnnCpuWorkspace rnn_cpu_workspace(const RnnParams& p, bool fused, int64_t mr, int64_t nr, int64_t threads) {
  const int64_t ho = p.out_size(), rows = (p.B + mr - 1) / mr * mr, G = p.gates();
  const int64_t depth = fused ? p.I + ho : ho;
  RnnCpuWorkspace w;
  const bool by_rows = rnn_cpu_multiplies_rows(p);
  w.pre = (fused ? 1 : p.T) * p.B * G * p.H;
  w.w_pack = by_rows ? 0 : p.T > 1 ? (p.H + nr - 1) / nr * nr * G * depth : threads * G * nr * depth;
  w.hr_pack = p.P > 0 ? (p.P + nr - 1) / nr * nr * p.H : 0;
  w.h_alt = p.B * ho;
  w.a_pack = by_rows ? 0 : threads * rows * depth;
  w.h_full = p.P > 0 ? p.B * p.H : 0;
  w.f_pack = p.P > 0 ? threads * rows * p.H : 0;
  w.gate_bias = G * p.H;
  return w;
}

enum : int { kRnnOk = 0, kRnnBadDtype = 2 };

// One set per instruction set (PDK_ISA_DISPATCH picks). rnn_recurrence runs the time loop of
// every direction of a layer: per step the recurrent product h_{t-1} @ W_hh^T through the GEMM's
// micro-kernel with the gate and cell update fused after each tile.
#define PDK_RNN_CPU_KERNELS int rnn_recurrence(const RnnCpuPlan& plan, DType dtype);
namespace isa_base { PDK_RNN_CPU_KERNELS }
namespace isa_avx2 { PDK_RNN_CPU_KERNELS }
namespace isa_avx512 { PDK_RNN_CPU_KERNELS }
#undef PDK_RNN_CPU_KERNELS

}  // namespace pdk
