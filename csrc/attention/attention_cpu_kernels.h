// The query-block job attention_cpu.cpp hands to the per-ISA flash-attention kernels, their tile sizes and declarations.
#pragma once
#include <cstdint>

#include "core/pdk.h"

namespace pdk {

// Tile of the CPU kernels: kAttentionBlockM queries against kAttentionBlockN keys at a time. A
// 64 x 128 float score tile (32 KiB) and the query block's output rows stay in L2 while K/V tiles
// stream through.
constexpr int64_t kAttentionBlockM = 64;
constexpr int64_t kAttentionBlockN = 128;
// Elements of T one thread's tiles need (attention_cpu.cpp allocates them; see attention_block):
// the transposed scaled queries, scores and output accumulator of a block, its running max and sum.
inline int64_t attention_cpu_tile_elements(int64_t E, int64_t Ev) {
  return kAttentionBlockM * (E + kAttentionBlockN + Ev + 2);
}

// One query block of one batch element, all pointers already offset to it. q rows q_row apart
// (q[i * q_row + e]), likewise k, v; bias (or null) at bias[i * bias_row + j * bias_col] for the
// block's rows i and all keys j; out rows out_row apart, lse [rows] or null.
template <class T>
struct AttentionBlock {
  const T* q;
  const T* k;
  const T* v;
  const T* bias;
  T* out;
  T* lse;
  int64_t q_row, k_row, v_row, bias_row, bias_col, out_row;
  int64_t rows;   // queries in this block (<= kAttentionBlockM)
  int64_t first;  // index of the block's first query in its sequence (causal masking)
  int64_t S, E, Ev;
  T scale2;  // scale * log2(e)
  bool causal;
  uint32_t keep_threshold;  // 0: no dropout
  T keep_scale;             // 1 / (1 - dropout_p)
  uint64_t seed;
  uint64_t drop_index;  // dropout counter of (b, first, 0); row i, key j adds i * S + j
};

// One set per instruction set; only the ones CMake built are defined (PDK_ISA_DISPATCH picks).
// attention_block: the block's output (and lse) through the online-softmax recurrence over its
// key tiles; `tiles` is attention_cpu_tile_elements(E, Ev) elements, 64-byte aligned.
#define PDK_ATTENTION_CPU_KERNELS_OF(T) void attention_block(const AttentionBlock<T>& job, T* tiles);
#define PDK_ATTENTION_CPU_KERNELS PDK_ATTENTION_CPU_KERNELS_OF(float) PDK_ATTENTION_CPU_KERNELS_OF(double)
namespace isa_base { PDK_ATTENTION_CPU_KERNELS }
namespace isa_avx2 { PDK_ATTENTION_CPU_KERNELS }
namespace isa_avx512 { PDK_ATTENTION_CPU_KERNELS }
#undef PDK_ATTENTION_CPU_KERNELS
#undef PDK_ATTENTION_CPU_KERNELS_OF

}  // namespace pdk
