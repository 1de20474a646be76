// Attention family (scaled dot-product attention, flash-style): parameter struct and every backend's entry points.
#pragma once
#include <cstdint>

#include "core/pdk.h"

namespace pdk {

// Batch dims the kernels index (the Python layer merges or pads the broadcast batch shape to this many).
constexpr int kAttentionBatchDims = 4;

// out[b, i, :] = sum_j softmax_j(scale * q[b, i] . k[b, j] + bias[b, i, j]) * v[b, j, :]
// for b over the batch dims `batch` (all four, 1 where unused), i < L, j < S.
// q is [batch..., L, E], k [batch..., S, E], v [batch..., S, Ev]: element (b, row, e) of each sits
// at sum_d b_d * *_batch[d] + row * *_row + e (strides in elements, 0 on broadcast dims; the last
// dim is contiguous). The bias (an additive float mask; boolean masks arrive as 0 / -inf) is read
// at sum_d b_d * bias_batch[d] + i * bias_row + j * bias_col, the same stride-0 broadcast, so no
// mask is ever expanded to [batch..., L, S]. out [batch..., L, Ev] is strided like q (out_batch,
// out_row; multi-head attention writes [L, N, H, Ev] in place), lse (optional) a contiguous [batch..., L] of the natural-log log-sum-exp of each row's scaled, biased scores.
// causal: row i sees keys j <= i (torch's top-left alignment when L != S).
// dropout_p > 0: the softmax weight of (b, i, j) is zeroed when attention_keep() (attention_common.h)
// of (seed, flat index) fails, the others are divided by 1 - dropout_p; the denominator is the
// un-dropped sum (torch: dropout after softmax).
// A row whose scores are all -inf (fully masked, or S = 0) gives 0, as torch 2.14 does on the CPU for
// boolean and float masks alike, and lse -inf.
struct AttentionParams {
  int64_t batch[kAttentionBatchDims] = {1, 1, 1, 1};
  int64_t L = 0, S = 0, E = 0, Ev = 0;
  int64_t q_batch[kAttentionBatchDims] = {}, q_row = 0;
  int64_t k_batch[kAttentionBatchDims] = {}, k_row = 0;
  int64_t v_batch[kAttentionBatchDims] = {}, v_row = 0;
  int64_t out_batch[kAttentionBatchDims] = {}, out_row = 0;
  bool has_bias = false;
  int64_t bias_batch[kAttentionBatchDims] = {}, bias_row = 0, bias_col = 0;
  double scale = 1.0;
  bool causal = false;
  double dropout_p = 0.0;
  uint64_t seed = 0;
};

// Throws pdk::Error when the parameters are inconsistent (shared by all backends).
void check_attention_params(const AttentionParams& p, const char* what);

// Entry points. Pointers are device (cuda) or host (cpu, emu) addresses; lse may be 0 (not
// written), bias is read only when p.has_bias. `stream` is a cudaStream_t (0 = default stream),
// ignored on the CPU, whose per-thread tiles are its own scratch (attention_workspace_bytes).
#define PDK_ATTENTION_ENTRY_POINTS                                                                         \
  void attention_forward(const AttentionParams& p, std::uintptr_t q, std::uintptr_t k, std::uintptr_t v,  \
                         std::uintptr_t bias, std::uintptr_t out, std::uintptr_t lse, DType dtype,        \
                         std::uintptr_t stream);                                                          \
  int64_t attention_workspace_bytes(const AttentionParams& p, DType dtype);

namespace cpu { PDK_ATTENTION_ENTRY_POINTS }
namespace cuda { PDK_ATTENTION_ENTRY_POINTS }
#undef PDK_ATTENTION_ENTRY_POINTS

}  // namespace pdk
