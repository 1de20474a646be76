// CPU pooling entry points: validation, window tables (pool_window) and run-time ISA dispatch.
#include <algorithm>
#include <vector>

#include "core/cpu_features.h"
#include "pool/pool.h"
#include "pool/pool_common.h"
#include "pool/pool_cpu_kernels.h"

namespace pdk::cpu {
namespace {

int run_pool(const PoolCpuPlan& plan, std::uintptr_t x, std::uintptr_t y, std::uintptr_t indices,
             DType dtype) {
  PDK_ISA_DISPATCH(pool_forward_kernel, plan, x, y, indices, dtype);
}

int64_t run_unpool(const UnpoolParams& p, std::uintptr_t x, std::uintptr_t indices, std::uintptr_t y,
                   DType dtype) {
  PDK_ISA_DISPATCH(max_unpool_kernel, p, x, indices, y, dtype);
}

void check_float_dtype(DType dtype, const char* what) {
  PDK_CHECK(dtype == DType::float32 || dtype == DType::float64, what,
            ": expected dtype float32 or float64, got ", dtype_name(dtype));
}

// Adaptive windows over an extent divisible by the output are the fixed windows kernel = stride =
// in / out (same positions, same divisor), which take the kernels' compile-time-stride fast path.
PoolParams normalise(const PoolParams& in) {
  PoolParams p = in;
  if (p.rule != WindowRule::adaptive) return p;
  for (int d = 0; d < 3; ++d)
    if (p.in[d] % p.out[d] != 0) return p;
  p.rule = WindowRule::fixed;
  for (int d = 0; d < 3; ++d) {
    p.kernel[d] = p.stride[d] = p.in[d] / p.out[d];
    p.pad[d] = 0;
    p.dilation[d] = 1;
  }
  p.count_include_pad = true;
  return p;
}

// Input columns per W chunk (32 KiB of float32): long rows (1-d pooling) are split so that the
// kernels' per-thread row buffers stay in cache.
constexpr int64_t kChunkColumns = 8192;

}  // namespace

void pool_forward(const PoolParams& params, std::uintptr_t x, std::uintptr_t y, std::uintptr_t indices,
                  DType dtype, std::uintptr_t stream) {
  check_pool_params(params);
  check_float_dtype(dtype, "pool");
  PDK_CHECK(indices == 0 || params.mode == PoolMode::max,
            "pool: indices can only be returned by max pooling");
  if (params.planes == 0) return;
  PDK_CHECK(x != 0 && y != 0, "pool: null input or output pointer");

  PoolCpuPlan plan;
  plan.p = normalise(params);
  const PoolParams& p = plan.p;
  plan.kernel_volume = pool_kernel_volume(params);
  std::vector<PoolWindow> win[3];
  plan.global = true;
  for (int d = 0; d < 3; ++d) {
    win[d].resize(p.out[d]);
    for (int64_t o = 0; o < p.out[d]; ++o) win[d][o] = pool_window(p, d, o);
    plan.win[d] = win[d].data();
    const PoolWindow& w0 = win[d][0];
    plan.global = plan.global && p.out[d] == 1 && w0.first == 0 && w0.count == p.in[d] &&
                  (w0.step == 1 || p.in[d] == 1);
  }

  // Chunks of the W axis; span = input columns (padding included) the widest chunk reads.
  const int64_t Wo = p.out[2];
  const int64_t cols_per_output =
      p.rule == WindowRule::fixed ? p.stride[2] : std::max<int64_t>(1, p.in[2] / Wo + 1);
  // A multiple of 16 outputs: every chunk but the last fills whole vectors.
  plan.wchunk = std::min(Wo, std::max<int64_t>(16, kChunkColumns / cols_per_output / 16 * 16));
  plan.nchunks = (Wo + plan.wchunk - 1) / plan.wchunk;
  plan.span = 1;
  for (int64_t c = 0; c < plan.nchunks; ++c) {
    const int64_t ow0 = c * plan.wchunk, ow1 = std::min(Wo, ow0 + plan.wchunk);
    const int64_t span = p.rule == WindowRule::fixed
                             ? (ow1 - 1 - ow0) * p.stride[2] + (p.kernel[2] - 1) * p.dilation[2] + 1
                             : win[2][ow1 - 1].first + win[2][ow1 - 1].count - win[2][ow0].first;
    plan.span = std::max(plan.span, span);
  }

  const int status = run_pool(plan, x, y, indices, dtype);
  PDK_CHECK(status != kPoolOutOfMemory, "pool: out of memory for the per-thread row buffers (",
            plan.span, " elements)");
  PDK_CHECK(status == kPoolOk, "pool: kernel failed with status ", status);
}

void max_unpool_forward(const UnpoolParams& p, std::uintptr_t x, std::uintptr_t indices, std::uintptr_t y,
                        DType dtype, std::uintptr_t stream) {
  check_unpool_params(p);
  check_float_dtype(dtype, "max_unpool");
  if (p.planes == 0 || p.out_plane == 0) return;
  PDK_CHECK(y != 0 && (p.in_plane == 0 || (x != 0 && indices != 0)),
            "max_unpool: null input, indices or output pointer");
  const int64_t bad = run_unpool(p, x, indices, y, dtype);
  PDK_CHECK(bad == 0, "max_unpool: ", bad, " indices are outside the output plane of ", p.out_plane,
            " elements (those elements were skipped)");
}

}  // namespace pdk::cpu
