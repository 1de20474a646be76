// One include for CUDA sources: real CUDA under nvcc, the CPU emulator (csrc/emu) under the host compiler.
#pragma once
#include "core/pdk.h"

#if defined(__CUDACC__)
#include <cuda_runtime.h>
#define PDK_EMULATED 0
// Launch a kernel; under the emulator the same line runs it on the CPU. Template kernels
// whose name contains a comma are bound to a local pointer first: `auto* k = &f<T, 3>;`.
#define PDK_LAUNCH(kernel, grid, block, shared_bytes, stream) \
  kernel<<<(grid), (block), (shared_bytes), (stream)>>>
// Dynamic shared memory as a T* named `name` (16-byte aligned).
#define PDK_EXTERN_SHARED(T, name)                                 \
  extern __shared__ __align__(16) unsigned char pdk_dynamic_smem[]; \
  T* name = reinterpret_cast<T*>(pdk_dynamic_smem)
#else
#include "emu/cuda_emu.h"
#endif

namespace pdk {

// Throws pdk::Error if the last launch (or any earlier asynchronous error) failed.
inline void check_cuda_launch(const char* what) {
  const cudaError_t err = cudaGetLastError();
  PDK_CHECK(err == cudaSuccess, what, ": CUDA launch failed: ", cudaGetErrorString(err));
}

inline cudaStream_t as_stream(std::uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

// Blocks for a 1-D grid-stride launch over n items (capped; kernels loop).
inline unsigned grid_for(int64_t n, int threads) {
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks > 65535) blocks = 65535;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

}  // namespace pdk
