// Online-softmax, dropout-hash and batch-index helpers shared by the CPU and CUDA attention kernels (PDK_HD).
//
// Both backends run the flash-attention recurrence in base 2: scores are pre-multiplied by
// scale * log2(e) (folded into the query once), the additive bias by log2(e), so each weight is
// exp2(s - m) with m the running row maximum. A row that has only seen -inf so far keeps m = -inf;
// exp2 is then taken against 0 instead (attention_base), which gives 0 for every -inf score and
// never the NaN of -inf - -inf.
#pragma once
#include <cmath>
#include <cstdint>

#include "attention/attention.h"

namespace pdk {

constexpr double kLog2e = 1.4426950408889634074;
constexpr double kLn2 = 0.69314718055994530942;

// The subtrahend of exp2(s - m): m, or 0 while the row maximum is still -inf.
template <class T>
PDK_HD T attention_base(T m) {
  return m == -INFINITY ? T(0) : m;
}

// Batch elements of a call (the product of its batch dims).
PDK_HD int64_t attention_batch_count(const AttentionParams& p) {
  int64_t n = 1;
  for (int d = 0; d < kAttentionBatchDims; ++d) n *= p.batch[d];
  return n;
}

// Flat batch index -> element offset of a tensor with batch strides `stride` (dims of sizes `size`,
// last dim fastest).
PDK_HD int64_t attention_batch_offset(int64_t flat, const int64_t* size, const int64_t* stride) {
  int64_t offset = 0;
  for (int d = kAttentionBatchDims - 1; d >= 0; --d) {
    const int64_t i = flat % size[d];
    flat /= size[d];
    offset += i * stride[d];
  }
  return offset;
}

// Counter-based dropout: a splitmix64 finaliser of (seed, index of (b, i, j) in [batch, L, S]).
// Reproducible for a seed, independent of tiling, thread count and backend (the numpy oracle
// computes the same bits).
PDK_HD uint64_t attention_hash(uint64_t seed, uint64_t index) {
  uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Keep threshold: an element is kept when its 24-bit draw is >= threshold (= round(p * 2^24)).
PDK_HD uint32_t attention_keep_threshold(double dropout_p) {
  return static_cast<uint32_t>(dropout_p * 16777216.0 + 0.5);
}
PDK_HD bool attention_keep(uint64_t seed, uint64_t index, uint32_t threshold) {
  return static_cast<uint32_t>(attention_hash(seed, index) >> 40) >= threshold;
}

// The output of a finished row: acc / l, or 0 when no key was visible (l == 0; torch's value).
template <class T>
PDK_HD T attention_finish(T acc, T inv_l, bool empty) {
  return empty ? T(0) : acc * inv_l;
}

// Natural-log LSE of a finished row from its base-2 running max and sum (-inf when empty, NaN
// for a row with NaN scores).
template <class T>
PDK_HD T attention_lse(T m, T l) {
  return l > T(0) ? static_cast<T>((static_cast<double>(m) + log2(static_cast<double>(l))) * kLn2)
                  : (l != l ? l : static_cast<T>(-INFINITY));  // a NaN row's sum is NaN
}

}  // namespace pdk
