// Per-ISA CPU GEMM kernels: the entry the GEMM op calls (stored A and B through the shared driver, or the small-M path).
//
// This file is compiled three times (base, AVX2+FMA, AVX-512) into pdk::PDK_ISA_NAMESPACE and
// gemm_cpu.cpp picks one copy at run time. ODR: the linker keeps ONE copy of every weak (inline or
// template) symbol for all three objects, possibly the AVX-512 one, which would then run on CPUs
// without AVX-512. So everything here lives in pdk::PDK_ISA_NAMESPACE (helpers in an anonymous
// namespace inside it), nothing instantiates a std:: template, there is no PDK_CHECK (gemm_cpu.cpp
// validates and allocates; the kernels return status codes) and the one shared template,
// apply_activation from gemm_common.h, is only called from the flatten-ed epilogue of the driver,
// which forces it inline (`nm -C --defined-only` on the three objects shows no weak symbol outside
// pdk::isa_*). The loop nest itself is in gemm_cpu_driver.h, shared with the convolution.
#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "gemm/gemm_cpu_driver.h"

namespace pdk::PDK_ISA_NAMESPACE {
namespace {

#include "gemm/gemm_cpu_small_m.h"

template <class T>
int run(const GemmCpuPlan& plan, std::uintptr_t a, std::uintptr_t b, std::uintptr_t bias,
        std::uintptr_t residual, std::uintptr_t c) {
  const GemmParams& p = plan.p;
  T* cp = reinterpret_cast<T*>(c);
  const MatrixA<T> pack_a{reinterpret_cast<const T*>(a), p.lda, p.trans_a};
  const MatrixB<T> pack_b{reinterpret_cast<const T*>(b), p.ldb, p.trans_b};
  Epilogue<T> e{p.bias_mode != BiasMode::none ? reinterpret_cast<const T*>(bias) : nullptr,
                p.ldr != 0 ? reinterpret_cast<const T*>(residual) : nullptr,
                p.ldr,
                p.bias_mode,
                p.activation,
                static_cast<T>(p.negative_slope)};
  if (p.M == 0 || p.N == 0) return kGemmOk;
  if (p.K == 0) {  // C = act(bias + residual)
    for (int64_t i = 0; i < p.M; ++i) {
      T* crow = cp + i * p.ldc;
      if (e.residual == cp && p.ldr == p.ldc) continue;  // C is the residual: keep it
      for (int64_t j = 0; j < p.N; ++j) crow[j] = T(0);
    }
    if (e.residual == cp && p.ldr == p.ldc) e.residual = nullptr;
    finish_region(e, 0, 0, cp, p.ldc, p.M, p.N);
    return kGemmOk;
  }
  // C aliasing the residual (allowed by the contract): accumulate onto it from the first K block
  // instead of adding it in the epilogue, which would read it after it was overwritten.
  bool preloaded = false;
  if (e.residual == cp && p.ldr == p.ldc) {
    preloaded = true;
    e.residual = nullptr;
  }
  if (small_m_applies(p)) {
    small_m_gemm<T>(plan, reinterpret_cast<const T*>(a), reinterpret_cast<const T*>(b), cp, preloaded, e);
    return kGemmOk;
  }
#ifdef _OPENMP
  if (plan.threads > 1) {
#pragma omp parallel num_threads(plan.threads)
    {
      // OpenMP may give fewer threads than asked (nested regions, thread limits): run with the
      // team we got (the workspace holds plan.threads A blocks, enough for fewer).
      GemmCpuPlan team = plan;
      team.threads = omp_get_num_threads();
      gemm_thread(team, pack_a, pack_b, e, DenseOutput<T>{cp, p.ldc}, preloaded, omp_get_thread_num());
    }
    return kGemmOk;
  }
#endif
  gemm_thread(plan, pack_a, pack_b, e, DenseOutput<T>{cp, p.ldc}, preloaded, 0);
  return kGemmOk;
}

}  // namespace

void gemm_tile_shape(DType dtype, int64_t* mr, int64_t* nr) {
  *mr = kMR;
  *nr = dtype == DType::float32 ? kNR<float> : dtype == DType::float64 ? kNR<double> : 0;
  if (*nr == 0) *mr = 0;
}

int gemm_kernel(const GemmCpuPlan& plan, std::uintptr_t a, std::uintptr_t b, std::uintptr_t bias,
                std::uintptr_t residual, std::uintptr_t c, DType dtype) {
  switch (dtype) {
    case DType::float32: return run<float>(plan, a, b, bias, residual, c);
    case DType::float64: return run<double>(plan, a, b, bias, residual, c);
    default: return kGemmBadDtype;
  }
}

}  // namespace pdk::PDK_ISA_NAMESPACE
