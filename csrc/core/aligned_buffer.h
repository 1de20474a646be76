// 64-byte aligned host scratch buffers for the CPU kernels' workspaces (compiled-once code only, see gemm_cpu_kernels.cpp).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace pdk {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<void, FreeDeleter>;

// At least one element, rounded up to whole cache lines; null when out of memory.
inline AlignedBuffer aligned_buffer(int64_t elements, int64_t elem_size) {
  const auto bytes = static_cast<std::size_t>(std::max<int64_t>(elements, 1) * elem_size);
  return AlignedBuffer(std::aligned_alloc(64, (bytes + 63) & ~std::size_t{63}));
}

// Elements of `elem_size` bytes that fill whole 64-byte lines (to carve one buffer into aligned parts).
inline int64_t round_to_lines(int64_t elements, int64_t elem_size) {
  const int64_t per_line = 64 / elem_size;
  return (elements + per_line - 1) / per_line * per_line;
}

}  // namespace pdk
