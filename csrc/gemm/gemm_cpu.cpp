// CPU GEMM entry point: validation, cache blocking, thread grid, packing workspace and run-time ISA dispatch.
#include <algorithm>

#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "gemm/gemm.h"
#include "gemm/gemm_cpu_kernels.h"

namespace pdk::cpu {
namespace {

void tile_shape(DType dtype, int64_t* mr, int64_t* nr) { PDK_ISA_DISPATCH(gemm_tile_shape, dtype, mr, nr); }

int run_gemm(const GemmCpuPlan& plan, std::uintptr_t a, std::uintptr_t b, std::uintptr_t bias,
             std::uintptr_t residual, std::uintptr_t c, DType dtype) {
  PDK_ISA_DISPATCH(gemm_kernel, plan, a, b, bias, residual, c, dtype);
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Cache budgets of the blocking (bytes), tuned on the 2-core AVX-512 Xeon (48 KiB L1d, 2 MiB L2
// per core) at 2048^3 float32. Re-swept on the 2-core AMD EPYC (Zen 4: 32 KiB L1d, 1 MiB L2) with
// L1 budgets of 16-64 KiB and L2 budgets of 256-640 KiB, interleaved in one process over GEMMs
// 512^3 to 2048^3 and ResNet-shaped convolutions: no setting beat these beyond the noise.
// kc: the kc x NR B panel the micro-kernel reuses across the ir loop (64 KiB at kc = 512 overflows
// L1 a little, but a long kc halves the C tile's load/store round trips per K block, which
// measured +15% over kc = 192); capped at 512. mc: the mc x kc A block
// stays in L2 (640 KiB leaves room for the B panels streaming through). nc: the kc x nc B block
// shared by the threads stays in the outer caches.
constexpr int64_t kL1Budget = 64 * 1024;
constexpr int64_t kMaxKc = 512;
constexpr int64_t kL2Budget = 640 * 1024;
constexpr int64_t kL3Budget = 4 * 1024 * 1024;
// Below this many multiply-adds (~10 us on one core) the OpenMP fork/join and the per-step
// barriers cost more than the second core saves.
constexpr double kParallelFlops = 128.0 * 128.0 * 64.0;
// The small-M path is bound by reading B once: a second thread pays from this many bytes of it.
constexpr int64_t kParallelSmallMBytes = 256 * 1024;

// Splits `total` into near-equal blocks of at most `cap` (a multiple of `unit`), so that the last
// block is not a sliver (K = 300 with kc = 256 runs two blocks of 152, not 256 + 44).
int64_t balanced_block(int64_t total, int64_t cap, int64_t unit) {
  const int64_t blocks = ceil_div(total, cap);
  return std::min(cap, round_up(ceil_div(total, blocks), unit));
}

}  // namespace

GemmCpuPlan plan_gemm(const GemmParams& p, DType dtype, int64_t threads) {
  GemmCpuPlan plan;
  plan.p = p;
  tile_shape(dtype, &plan.mr, &plan.nr);
  PDK_CHECK(plan.mr > 0 && plan.nr > 0, "gemm: no micro-kernel for dtype ", dtype_name(dtype));
  const int64_t es = dtype_bytes(dtype), mr = plan.mr, nr = plan.nr;
  const int64_t K = std::max<int64_t>(p.K, 1);
  plan.kc = balanced_block(K, std::max<int64_t>(64, std::min(kMaxKc, kL1Budget / (nr * es) / 8 * 8)), 8);
  plan.kc = std::min(plan.kc, K);
  const int64_t mc_cap = std::max(mr, kL2Budget / (plan.kc * es) / mr * mr);
  const int64_t nc_cap = std::max(nr, kL3Budget / (plan.kc * es) / nr * nr);
  plan.nc = balanced_block(std::max<int64_t>(p.N, 1), nc_cap, nr);

  // Threads share each B block and take (A block x N chunk) items dynamically (see
  // gemm_cpu_kernels.cpp), so small M still keeps every core busy; mc is balanced over M.
  const double flops = static_cast<double>(p.M) * p.N * p.K;
  const bool parallel = small_m_applies(p) ? p.N * p.K * es >= kParallelSmallMBytes : flops >= kParallelFlops;
  plan.threads = threads > 0 ? threads : parallel ? std::max(1, omp_max_threads()) : 1;
  plan.mc = balanced_block(std::max<int64_t>(p.M, 1), mc_cap, mr);
  return plan;
}

void gemm_forward(const GemmParams& params, std::uintptr_t a, std::uintptr_t b, std::uintptr_t bias,
                  std::uintptr_t residual, std::uintptr_t c, DType dtype, std::uintptr_t stream) {
  (void)stream;
  check_gemm_params(params);
  PDK_CHECK(dtype == DType::float32 || dtype == DType::float64,
            "gemm: expected dtype float32 or float64, got ", dtype_name(dtype));
  PDK_CHECK(static_cast<int>(params.bias_mode) >= 0 && static_cast<int>(params.bias_mode) <= 2,
            "gemm: unknown bias mode ", static_cast<int>(params.bias_mode));
  PDK_CHECK(static_cast<int>(params.activation) >= 0 && static_cast<int>(params.activation) < kActivationCount,
            "gemm: unknown activation ", static_cast<int>(params.activation));
  const GemmParams& p = params;
  if (p.M == 0 || p.N == 0) return;
  PDK_CHECK(c != 0, "gemm: null output pointer");
  PDK_CHECK(p.K == 0 || (a != 0 && b != 0), "gemm: null a or b pointer");
  PDK_CHECK(p.bias_mode == BiasMode::none || bias != 0, "gemm: bias mode set but bias pointer is null");
  PDK_CHECK(p.ldr == 0 || residual != 0, "gemm: ldr != 0 but residual pointer is null");

  GemmCpuPlan plan = plan_gemm(p, dtype);
  const int64_t es = dtype_bytes(dtype);
  AlignedBuffer a_pack = aligned_buffer(plan.threads * plan.mc * plan.kc, es);
  AlignedBuffer b_pack = aligned_buffer(plan.kc * plan.nc, es);
  PDK_CHECK(a_pack && b_pack, "gemm: out of memory for the packing buffers (",
            (plan.threads * plan.mc * plan.kc + plan.kc * plan.nc) * es, " bytes)");
  plan.a_pack = a_pack.get();
  plan.b_pack = b_pack.get();

  const int status = run_gemm(plan, a, b, bias, residual, c, dtype);
  PDK_CHECK(status == kGemmOk, "gemm: kernel failed with status ", status);
}

}  // namespace pdk::cpu
