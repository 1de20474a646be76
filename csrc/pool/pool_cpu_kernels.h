// The plan pool_cpu.cpp hands to the per-ISA CPU pooling kernels, and their declarations.
#pragma once
#include <cstdint>

#include "pool/pool_common.h"

namespace pdk {

// Everything the kernels need besides the arrays. pool_cpu.cpp (compiled once) builds it, so the
// shared window math of pool_common.h is evaluated there and never emitted by the per-ISA objects.
struct PoolCpuPlan {
  PoolParams p;                        // normalised: divisible adaptive windows become fixed ones
  const PoolWindow* win[3] = {};       // win[d][o]: the window of output index o along dim d
  bool global = false;                 // one window covering the whole plane (global pooling)
  int64_t kernel_volume = 1;           // pool_kernel_volume(p), for lp_finish
  // The W axis is processed in chunks of `wchunk` outputs so the row buffer stays in cache on
  // very long rows (1-d pooling); `span` is the most input columns (padding included) a chunk reads.
  int64_t wchunk = 1;
  int64_t nchunks = 1;
  int64_t span = 1;
};

// Kernel status codes (the kernels cannot throw: see pool_cpu_kernels.cpp).
enum : int { kPoolOk = 0, kPoolOutOfMemory = 1, kPoolBadDtype = 2 };

// One set per instruction set; only the ones CMake built are defined (PDK_ISA_DISPATCH picks).
// max_unpool_kernel returns the number of indices outside the output plane (those are skipped),
// or -1 for an unsupported dtype.
#define PDK_POOL_CPU_KERNELS                                                                      \
  int pool_forward_kernel(const PoolCpuPlan& plan, std::uintptr_t x, std::uintptr_t y,           \
                          std::uintptr_t indices, DType dtype);                                  \
  int64_t max_unpool_kernel(const UnpoolParams& p, std::uintptr_t x, std::uintptr_t indices,     \
                            std::uintptr_t y, DType dtype);
namespace isa_base { PDK_POOL_CPU_KERNELS }
namespace isa_avx2 { PDK_POOL_CPU_KERNELS }
namespace isa_avx512 { PDK_POOL_CPU_KERNELS }
#undef PDK_POOL_CPU_KERNELS

}  // namespace pdk
