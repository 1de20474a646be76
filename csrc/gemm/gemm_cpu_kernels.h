// The plan gemm_cpu.cpp hands to the per-ISA CPU GEMM kernels (blocking, workspace), and their declarations.
#pragma once
#include <cstdint>

#include "gemm/gemm.h"

namespace pdk {

// Vectors per row of the micro-kernel's B panel, on every ISA: nr is this many vectors' lanes.
constexpr int kGemmPanelVectors = 2;

// Everything the kernels need besides the arrays. gemm_cpu.cpp (compiled once) chooses the
// blocking from the ISA's register tile and allocates the packing workspace, so allocation
// failures become Python exceptions there and the per-ISA objects never allocate.
struct GemmCpuPlan {
  GemmParams p;
  int64_t mr = 1, nr = 1;          // register tile of the active ISA's micro-kernel (rows, columns)
  int64_t mc = 1, kc = 1, nc = 1;  // cache blocks: mc % mr == 0, nc % nr == 0
  int64_t threads = 1;             // OpenMP threads (1: no parallel region)
  void* a_pack = nullptr;          // threads * mc * kc elements, 64-byte aligned (one A block per thread)
  void* b_pack = nullptr;          // kc * nc elements, 64-byte aligned (shared B block)
};

// Rows of A served by the small-M path (gemm_cpu_small_m.h: B read once, in place, never
// packed). Measured on one core at N = K = 4096: M = 4 there ran in a third of the packed path's
// time, which costs about the same for every M up to its tile height.
constexpr int64_t kSmallM = 8;

// Whether the small-M path takes p: few rows, and A's rows contiguous when B is [N, K] (the dot
// products run along rows of both).
inline bool small_m_applies(const GemmParams& p) {
  return p.M >= 1 && p.M <= kSmallM && p.K > 0 && (!p.trans_b || !p.trans_a);
}

// Kernel status codes (the kernels cannot throw: see gemm_cpu_kernels.cpp).
enum : int { kGemmOk = 0, kGemmBadDtype = 2 };

// One set per instruction set; only the ones CMake built are defined (PDK_ISA_DISPATCH picks).
// gemm_tile_shape: the micro-kernel's MR x NR for a dtype (0 for an unsupported dtype).
#define PDK_GEMM_CPU_KERNELS                                                                      \
  void gemm_tile_shape(DType dtype, int64_t* mr, int64_t* nr);                                    \
  int gemm_kernel(const GemmCpuPlan& plan, std::uintptr_t a, std::uintptr_t b, std::uintptr_t bias, \
                  std::uintptr_t residual, std::uintptr_t c, DType dtype);
namespace isa_base { PDK_GEMM_CPU_KERNELS }
namespace isa_avx2 { PDK_GEMM_CPU_KERNELS }
namespace isa_avx512 { PDK_GEMM_CPU_KERNELS }
#undef PDK_GEMM_CPU_KERNELS

namespace cpu {
// The blocking of p for the active ISA's micro-kernel (workspace pointers left null); threads > 0
// forces the thread count, 0 picks it from the problem size. Compiled once (gemm_cpu.cpp).
GemmCpuPlan plan_gemm(const GemmParams& p, DType dtype, int64_t threads = 0);
}  // namespace cpu

}  // namespace pdk
