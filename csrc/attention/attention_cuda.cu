// CUDA flash-attention forward kernel: one block per (query tile, batch element), K/V tiles through shared memory, online softmax.
//
// A block of 128 threads (4 warps) owns kBM = 32 queries; warp w computes rows 8w .. 8w + 7.
// Per key tile of kBN = 32 keys:
//   1. the tile of K is loaded into shared memory; thread (w, lane) computes the 8 scores of its
//      rows against key `lane` (queries were pre-multiplied by scale * log2(e) when loaded), adds
//      the bias (times log2(e)), masks causal / out-of-range keys to -inf and writes them to P;
//   2. warp 0 (thread t owns row t, keeping its running max m and sum l in registers) turns its
//      row of P into exp2(s - m_new) weights, rescale factor alpha = exp2(m_old - m_new) (-inf
//      guarded: a row that has seen only -inf keeps weights 0 and never forms -inf - -inf),
//      applies dropout; meanwhile the other warps load the V tile into the buffer K used;
//   3. every thread rescales its output accumulators (8 rows x Ev / 32 columns, in registers)
//      by alpha and adds P V.
// The row owner finally writes the natural-log log-sum-exp (kept for a backward pass).
// Shared memory: (kBM + kBN) * pitch + kBM * (kBN + 1) + kBM floats, pitch = max(E, Ev) rounded
// to an odd count (conflict-free column reads of K): 37 KiB at E = Ev = 128, under the 48 KiB
// every launch gets without an opt-in. Only float32; head dims up to 128 (the Python layer says
// so before launching). Templated on the output columns per lane (Ev <= 32 * kChunks).
#include <cstdint>

#include "attention/attention_common.h"
#include "core/cuda_compat.h"

// Full unrolling of the register-tile loops (the host compiler's spelling under the emulator).
#if PDK_EMULATED
#define PDK_ATTENTION_UNROLL _Pragma("GCC unroll 8")
#else
#define PDK_ATTENTION_UNROLL _Pragma("unroll")
#endif

namespace pdk::cuda {
namespace {

constexpr int kThreads = 128, kBM = 32, kBN = 32, kRowsPerWarp = kBM / (kThreads / 32);
constexpr int64_t kMaxHeadDim = 128;

int64_t pitch_of(const AttentionParams& p) {
  const int64_t d = p.E > p.Ev ? p.E : p.Ev;
  return d | 1;
}

int64_t shared_floats(const AttentionParams& p) {
  return (kBM + kBN) * pitch_of(p) + kBM * (kBN + 1) + kBM;
}

template <int kChunks>
__global__ void __launch_bounds__(kThreads)
flash_kernel(AttentionParams p, const float* __restrict__ q, const float* __restrict__ k,
             const float* __restrict__ v, const float* __restrict__ bias, float* __restrict__ out,
             float* __restrict__ lse, int64_t tiles, int pitch, uint32_t threshold, float keep_scale) {
  PDK_EXTERN_SHARED(float, smem);
  float* qs = smem;                         // [kBM][pitch] scaled queries
  float* kv = qs + kBM * pitch;             // [kBN][pitch] K tile, then V tile
  float* ps = kv + kBN * pitch;             // [kBM][kBN + 1] scores, then weights
  float* row_scale = ps + kBM * (kBN + 1);  // [kBM] alpha per tile, 1 / l at the end

  const int64_t b = blockIdx.x / tiles, first = (blockIdx.x % tiles) * kBM;
  const int t = threadIdx.x, warp = t / 32, lane = t % 32;
  const int64_t E = p.E, Ev = p.Ev, L = p.L, S = p.S;
  const float* qb = q + attention_batch_offset(b, p.batch, p.q_batch);
  const float* kb = k + attention_batch_offset(b, p.batch, p.k_batch);
  const float* vb = v + attention_batch_offset(b, p.batch, p.v_batch);
  const float* biasb = p.has_bias ? bias + attention_batch_offset(b, p.batch, p.bias_batch) : nullptr;
  const float scale2 = static_cast<float>(p.scale * kLog2e), log2e = static_cast<float>(kLog2e);

  for (int64_t i = t; i < kBM * E; i += kThreads) {
    const int64_t r = i / E, e = i % E;
    qs[r * pitch + e] = first + r < L ? __ldg(qb + (first + r) * p.q_row + e) * scale2 : 0.0f;
  }
  float acc[kRowsPerWarp][kChunks];
PDK_ATTENTION_UNROLL
  for (int r = 0; r < kRowsPerWarp; ++r)
PDK_ATTENTION_UNROLL
    for (int c = 0; c < kChunks; ++c) acc[r][c] = 0.0f;
  float m = -INFINITY, l = 0.0f;  // row t's running max and sum (warp 0)

  const int64_t last_row = first + kBM < L ? first + kBM : L;
  const int64_t key_end = p.causal ? (last_row < S ? last_row : S) : S;  // later tiles are all masked
  for (int64_t k0 = 0; k0 < key_end; k0 += kBN) {
    for (int64_t i = t; i < kBN * E; i += kThreads) {
      const int64_t j = i / E, e = i % E;
      kv[j * pitch + e] = k0 + j < S ? __ldg(kb + (k0 + j) * p.k_row + e) : 0.0f;
    }
    __syncthreads();
    {  // 1. scores of rows warp * 8 + r against key `lane`
      float s[kRowsPerWarp];
PDK_ATTENTION_UNROLL
      for (int r = 0; r < kRowsPerWarp; ++r) s[r] = 0.0f;
      const float* krow = kv + lane * pitch;
      for (int64_t e = 0; e < E; ++e) {
        const float kx = krow[e];
PDK_ATTENTION_UNROLL
        for (int r = 0; r < kRowsPerWarp; ++r) s[r] += qs[(warp * kRowsPerWarp + r) * pitch + e] * kx;
      }
      const int64_t key = k0 + lane;
PDK_ATTENTION_UNROLL
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const int row = warp * kRowsPerWarp + r;
        const int64_t qi = first + row;
        const bool visible = key < S && qi < L && (!p.causal || key <= qi);
        float x = -INFINITY;
        if (visible) x = biasb ? s[r] + __ldg(biasb + qi * p.bias_row + key * p.bias_col) * log2e : s[r];
        ps[row * (kBN + 1) + lane] = x;
      }
    }
    __syncthreads();
    if (warp == 0) {  // 2. row t: online softmax over this tile
      float* prow = ps + t * (kBN + 1);
      // A NaN score wins the max (fmaxf would drop it): a row of NaN scores (a NaN query) must
      // come out NaN, not as a fully masked row of zeros.
      float tile_max = -INFINITY;
      for (int j = 0; j < kBN; ++j) tile_max = prow[j] > tile_max || prow[j] != prow[j] ? prow[j] : tile_max;
      const float m_new = tile_max > m || tile_max != tile_max ? tile_max : m;
      float alpha = 1.0f;
      if (m_new == -INFINITY) {
        for (int j = 0; j < kBN; ++j) prow[j] = 0.0f;
      } else {
        alpha = m == -INFINITY ? 0.0f : exp2f(m - m_new);
        const uint64_t drop = (static_cast<uint64_t>(b * L + first + t)) * static_cast<uint64_t>(S) + k0;
        float sum = 0.0f;
        for (int j = 0; j < kBN; ++j) {
          float w = exp2f(prow[j] - m_new);
          sum += w;
          if (threshold && w != 0.0f) w = attention_keep(p.seed, drop + j, threshold) ? w * keep_scale : 0.0f;
          prow[j] = w;
        }
        l = l * alpha + sum;
        m = m_new;
      }
      row_scale[t] = alpha;
    }
    for (int64_t i = t; i < kBN * Ev; i += kThreads) {  // the V tile over K (phase 1 is done)
      const int64_t j = i / Ev, e = i % Ev;
      kv[j * pitch + e] = k0 + j < S ? __ldg(vb + (k0 + j) * p.v_row + e) : 0.0f;
    }
    __syncthreads();
    // 3. acc = alpha * acc + P V for rows warp * 8 + r, columns lane + 32 c
PDK_ATTENTION_UNROLL
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const float alpha = row_scale[warp * kRowsPerWarp + r];
PDK_ATTENTION_UNROLL
      for (int c = 0; c < kChunks; ++c) acc[r][c] *= alpha;
    }
    for (int j = 0; j < kBN; ++j) {
      float vx[kChunks];
PDK_ATTENTION_UNROLL
      for (int c = 0; c < kChunks; ++c) vx[c] = lane + 32 * c < Ev ? kv[j * pitch + lane + 32 * c] : 0.0f;
PDK_ATTENTION_UNROLL
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const float w = ps[(warp * kRowsPerWarp + r) * (kBN + 1) + j];
PDK_ATTENTION_UNROLL
        for (int c = 0; c < kChunks; ++c) acc[r][c] += w * vx[c];
      }
    }
    __syncthreads();  // the next tile overwrites K/V, P and the row scales
  }
  if (warp == 0) {
    row_scale[t] = l == 0.0f ? 0.0f : 1.0f / l;
    if (lse && first + t < L) lse[b * L + first + t] = attention_lse(m, l);
  }
  __syncthreads();
PDK_ATTENTION_UNROLL
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int row = warp * kRowsPerWarp + r;
    if (first + row >= L) break;
    const float inv = row_scale[row];
    float* orow = out + attention_batch_offset(b, p.batch, p.out_batch) + (first + row) * p.out_row;
PDK_ATTENTION_UNROLL
    for (int c = 0; c < kChunks; ++c)
      if (lane + 32 * c < Ev) orow[lane + 32 * c] = attention_finish(acc[r][c], inv, inv == 0.0f);
  }
}

template <int kChunks>
void launch(const AttentionParams& p, const float* q, const float* k, const float* v, const float* bias, float* out,
            float* lse, int64_t batches, cudaStream_t stream) {
  const int64_t tiles = (p.L + kBM - 1) / kBM, blocks = tiles * batches;
  PDK_CHECK(blocks <= 2147483647, "scaled_dot_product_attention: ", blocks, " blocks, over the grid limit");
  const uint32_t threshold = p.dropout_p > 0 ? attention_keep_threshold(p.dropout_p) : 0;
  auto* kernel = &flash_kernel<kChunks>;
  PDK_LAUNCH(kernel, dim3(static_cast<unsigned>(blocks)), kThreads, shared_floats(p) * sizeof(float), stream)
  (p, q, k, v, bias, out, lse, tiles, static_cast<int>(pitch_of(p)), threshold,
   static_cast<float>(1.0 / (1.0 - p.dropout_p)));
}

}  // namespace

void attention_forward(const AttentionParams& p, std::uintptr_t q, std::uintptr_t k, std::uintptr_t v,
                       std::uintptr_t bias, std::uintptr_t out, std::uintptr_t lse, DType dtype,
                       std::uintptr_t stream) {
  const char* what = "scaled_dot_product_attention";
  check_attention_params(p, what);
  PDK_CHECK(dtype == DType::float32, what, ": the CUDA kernel takes float32, got ", dtype_name(dtype));
  PDK_CHECK(p.E <= kMaxHeadDim && p.Ev <= kMaxHeadDim, what, ": the CUDA kernel takes head dims up to ",
            kMaxHeadDim, ", got E=", p.E, " Ev=", p.Ev);
  const int64_t batches = attention_batch_count(p);
  if (batches == 0 || p.L == 0) return;
  const auto* qp = reinterpret_cast<const float*>(q);
  const auto* kp = reinterpret_cast<const float*>(k);
  const auto* vp = reinterpret_cast<const float*>(v);
  const auto* bp = reinterpret_cast<const float*>(bias);
  auto* op = reinterpret_cast<float*>(out);
  auto* lp = reinterpret_cast<float*>(lse);
  const cudaStream_t s = as_stream(stream);
  if (p.Ev <= 32) launch<1>(p, qp, kp, vp, bp, op, lp, batches, s);
  else if (p.Ev <= 64) launch<2>(p, qp, kp, vp, bp, op, lp, batches, s);
  else launch<4>(p, qp, kp, vp, bp, op, lp, batches, s);
  check_cuda_launch(what);
}

int64_t attention_workspace_bytes(const AttentionParams& p, DType) {
  check_attention_params(p, "scaled_dot_product_attention");
  return shared_floats(p) * static_cast<int64_t>(sizeof(float));  // per block, in shared memory
}

}  // namespace pdk::cuda
