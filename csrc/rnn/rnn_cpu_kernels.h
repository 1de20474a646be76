// The plan rnn_cpu.cpp hands to the per-ISA CPU recurrence kernels (pointers, packing workspace), and their declarations.
#pragma once
#include <cstdint>

#include "rnn/rnn.h"

namespace pdk {

// One direction of a layer, host pointers (null: absent). gx holds the input projections
// x @ W_ih^T + b_ih of every step ([T, B, G*H], from our GEMM). The hidden state alternates
// between h (the hn output, initialised from h0 by rnn_cpu.cpp: steps read it at even s) and
// h_alt (odd s), so a step reads h_{t-1} while it writes h_t and needs one barrier only; after
// an odd number of steps the final state is in h_alt. c (the cn output) is updated in place.
struct RnnCpuDirection {
  const void* gx = nullptr;
  const void* w_hh = nullptr;
  const void* b_hh = nullptr;
  const void* w_hr = nullptr;
  const void* peephole = nullptr;
  void* h = nullptr;
  void* c = nullptr;
  void* out = nullptr;  // &out[0, 0, d * Ho] (row stride D * Ho), or null
  // Workspace (64-byte aligned, allocated by rnn_cpu.cpp, sizes in rnn_cpu_workspace):
  void* w_pack = nullptr;   // W_hh^T as NR-wide panels of depth Ho, gate panels of a hidden block adjacent
  void* hr_pack = nullptr;  // W_hr^T as NR-wide panels of depth H (projection)
  void* h_alt = nullptr;    // [B, Ho] the hidden state of odd steps
  void* a_pack = nullptr;   // per thread: h_{t-1} as MR-row panels of depth Ho
  void* h_full = nullptr;   // [B, H]: o * tanh(c) before the projection
  void* f_pack = nullptr;   // per thread: h_full as MR-row panels of depth H
};

struct RnnCpuPlan {
  RnnParams p;
  RnnCpuDirection dirs[2];
  const int64_t* lengths = nullptr;
  int64_t threads = 1;
};

// Workspace element counts per direction for a micro-kernel tile MR x NR and `threads` threads
// (each packs its own copy of the small A operands: no barrier between packing and use).
struct RnnCpuWorkspace {
  int64_t w_pack, hr_pack, h_alt, a_pack, h_full, f_pack;
};
inline RnnCpuWorkspace rnn_cpu_workspace(const RnnParams& p, int64_t mr, int64_t nr, int64_t threads) {
  const int64_t ho = p.out_size(), rows = (p.B + mr - 1) / mr * mr;
  RnnCpuWorkspace w;
  w.w_pack = (p.H + nr - 1) / nr * nr * p.gates() * ho;
  w.hr_pack = p.P > 0 ? (p.P + nr - 1) / nr * nr * p.H : 0;
  w.h_alt = p.B * ho;
  w.a_pack = threads * rows * ho;
  w.h_full = p.P > 0 ? p.B * p.H : 0;
  w.f_pack = p.P > 0 ? threads * rows * p.H : 0;
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
