// CPU entry points of the attention family: query blocks of every batch element in parallel, per-thread tiles.
//
// The job list is batch x query blocks (dynamic schedule: under causal masking late blocks visit
// more key tiles). Each thread owns one set of tiles (attention_cpu_tile_elements), so the whole
// call allocates threads * O(64 * E + 128 * (E + Ev)) elements whatever L and S are.
#include <algorithm>
#include <cmath>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "attention/attention.h"
#include "attention/attention_common.h"
#include "attention/attention_cpu_kernels.h"
#include "core/aligned_buffer.h"
#include "core/cpu_features.h"

namespace pdk::cpu {
namespace {

template <class T>
void run_block(const AttentionBlock<T>& job, T* tiles) {
  PDK_ISA_DISPATCH(attention_block, job, tiles);
}

// Threads for `jobs` query blocks of `flops` work in all: at least kMinFlopsPerThread each (~50 us),
// so that a small call does not pay a parallel region, whose end waits for the slowest thread
// (on a loaded machine, a whole time slice).
constexpr double kMinFlopsPerThread = 4e6;

int64_t thread_count(const AttentionParams& p, int64_t jobs) {
#ifdef _OPENMP
  const double flops = 2.0 * static_cast<double>(attention_batch_count(p)) * static_cast<double>(p.L) *
                       static_cast<double>(p.S) * static_cast<double>(p.E + p.Ev);
  const int64_t by_work = static_cast<int64_t>(flops / kMinFlopsPerThread);
  return std::max<int64_t>(1, std::min<int64_t>({jobs, static_cast<int64_t>(omp_get_max_threads()), by_work}));
#else
  return 1;
#endif
}

template <class T>
void attention_cpu(const AttentionParams& p, const T* q, const T* k, const T* v, const T* bias, T* out, T* lse) {
  const int64_t batches = attention_batch_count(p), blocks = (p.L + kAttentionBlockM - 1) / kAttentionBlockM;
  const int64_t jobs = batches * blocks, threads = thread_count(p, jobs);
  const int64_t per_thread = round_to_lines(attention_cpu_tile_elements(p.E, p.Ev), sizeof(T));
  AlignedBuffer tiles = aligned_buffer(threads * per_thread, sizeof(T));
  PDK_CHECK(tiles, "scaled_dot_product_attention: out of memory for ", threads, " x ", per_thread,
            " elements of attention tiles");
  const uint32_t threshold = p.dropout_p > 0 ? attention_keep_threshold(p.dropout_p) : 0;
  const T keep_scale = static_cast<T>(1.0 / (1.0 - p.dropout_p));
#pragma omp parallel num_threads(static_cast<int>(threads)) if (threads > 1)
  {
#ifdef _OPENMP
    T* mine = static_cast<T*>(tiles.get()) + omp_get_thread_num() * per_thread;
#else
    T* mine = static_cast<T*>(tiles.get());
#endif
#pragma omp for schedule(dynamic, 1)
    for (int64_t job = 0; job < jobs; ++job) {
      // Causal: the last (longest) blocks of each batch element first, so the dynamic schedule
      // ends on short ones.
      const int64_t in_batch = p.causal ? blocks - 1 - job % blocks : job % blocks;
      const int64_t b = job / blocks, first = in_batch * kAttentionBlockM;
      AttentionBlock<T> blk;
      blk.q = q + attention_batch_offset(b, p.batch, p.q_batch) + first * p.q_row;
      blk.k = k + attention_batch_offset(b, p.batch, p.k_batch);
      blk.v = v + attention_batch_offset(b, p.batch, p.v_batch);
      blk.bias = p.has_bias ? bias + attention_batch_offset(b, p.batch, p.bias_batch) + first * p.bias_row : nullptr;
      blk.out = out + attention_batch_offset(b, p.batch, p.out_batch) + first * p.out_row;
      blk.lse = lse ? lse + b * p.L + first : nullptr;
      blk.q_row = p.q_row;
      blk.k_row = p.k_row;
      blk.v_row = p.v_row;
      blk.bias_row = p.bias_row;
      blk.bias_col = p.bias_col;
      blk.out_row = p.out_row;
      blk.rows = std::min(kAttentionBlockM, p.L - first);
      blk.first = first;
      blk.S = p.S;
      blk.E = p.E;
      blk.Ev = p.Ev;
      blk.scale2 = static_cast<T>(p.scale * kLog2e);
      blk.causal = p.causal;
      blk.keep_threshold = threshold;
      blk.keep_scale = keep_scale;
      blk.seed = p.seed;
      blk.drop_index = static_cast<uint64_t>((b * p.L + first) * p.S);
      run_block(blk, mine);
    }
  }
}

}  // namespace

void attention_forward(const AttentionParams& p, std::uintptr_t q, std::uintptr_t k, std::uintptr_t v,
                       std::uintptr_t bias, std::uintptr_t out, std::uintptr_t lse, DType dtype, std::uintptr_t) {
  check_attention_params(p, "scaled_dot_product_attention");
  if (attention_batch_count(p) == 0 || p.L == 0) return;
  PDK_DISPATCH_FLOATING(dtype, "scaled_dot_product_attention", [&] {
    attention_cpu(p, reinterpret_cast<const scalar_t*>(q), reinterpret_cast<const scalar_t*>(k),
                  reinterpret_cast<const scalar_t*>(v), reinterpret_cast<const scalar_t*>(bias),
                  reinterpret_cast<scalar_t*>(out), reinterpret_cast<scalar_t*>(lse));
  });
}

int64_t attention_workspace_bytes(const AttentionParams& p, DType dtype) {
  check_attention_params(p, "scaled_dot_product_attention");
  const int64_t size = dtype_bytes(dtype);
  const int64_t blocks = (p.L + kAttentionBlockM - 1) / kAttentionBlockM;
  return thread_count(p, attention_batch_count(p) * blocks) * round_to_lines(attention_cpu_tile_elements(p.E, p.Ev), size) * size;
}

}  // namespace pdk::cpu
