// 64-byte aligned host scratch buffers for the CPU kernels' workspaces, large ones recycled per thread (compiled-once code only, see gemm_cpu_kernels.cpp).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace pdk {

// Large scratch blocks kept by the thread that released them, for its next call. Freed and
// allocated anew on every call, a block of megabytes (a convolution's transformed weights, 4 MB
// for 3x3 256->256) was returned to the kernel and faulted in again from fresh pages each time,
// and a batch-1 3x3 256->256 convolution at 14x14 took 2.4-2.7 ms in some processes (2 of 6)
// against 1.0-1.1 ms in the others; with its blocks kept, 1.04-1.05 ms in every process.
class ScratchCache {
 public:
  static constexpr std::size_t kMinBytes = std::size_t{256} << 10;  // malloc recycles smaller ones well
  static constexpr std::size_t kMaxBytes = std::size_t{64} << 20;   // kept per thread at most
  static constexpr int kSlots = 4;

  // The smallest kept block of at least *bytes (64-byte aligned, *bytes set to its size), else a
  // new one; null when out of memory.
  void* take(std::size_t* bytes) {
    int best = -1;
    for (int i = 0; i < kSlots; ++i)
      if (slots_[i].p && slots_[i].bytes >= *bytes && (best < 0 || slots_[i].bytes < slots_[best].bytes)) best = i;
    if (best < 0) return std::aligned_alloc(64, *bytes);
    void* p = slots_[best].p;
    *bytes = slots_[best].bytes;
    kept_ -= slots_[best].bytes;
    slots_[best] = Block{};
    return p;
  }
  // Keeps the block of `bytes` for a later take, freeing the smallest kept ones to stay within kMaxBytes.
  void give(void* p, std::size_t bytes) {
    if (bytes > kMaxBytes) return std::free(p);
    for (;;) {
      int empty = -1, smallest = -1;
      for (int i = 0; i < kSlots; ++i) {
        if (!slots_[i].p) empty = i;
        else if (smallest < 0 || slots_[i].bytes < slots_[smallest].bytes) smallest = i;
      }
      if (empty >= 0 && kept_ + bytes <= kMaxBytes) {
        slots_[empty] = Block{p, bytes};
        kept_ += bytes;
        return;
      }
      if (smallest < 0 || slots_[smallest].bytes > bytes) return std::free(p);  // keep the larger ones
      std::free(slots_[smallest].p);
      kept_ -= slots_[smallest].bytes;
      slots_[smallest] = Block{};
    }
  }
  // Frees every kept block.
  void release() {
    for (Block& b : slots_) {
      std::free(b.p);
      b = Block{};
    }
    kept_ = 0;
  }
  std::size_t kept_bytes() const { return kept_; }
  // Sets every byte of the kept blocks (tests: no kernel may read scratch it did not write).
  void fill(unsigned char byte) {
    for (Block& b : slots_)
      if (b.p) std::memset(b.p, byte, b.bytes);
  }
  ~ScratchCache() { release(); }

 private:
  struct Block {
    void* p = nullptr;
    std::size_t bytes = 0;
  };
  Block slots_[kSlots];
  std::size_t kept_ = 0;
};

inline ScratchCache& scratch_cache() {
  static thread_local ScratchCache cache;
  return cache;
}

struct ScratchDeleter {
  std::size_t bytes = 0;
  void operator()(void* p) const {
    if (bytes >= ScratchCache::kMinBytes) scratch_cache().give(p, bytes);
    else std::free(p);
  }
};
using AlignedBuffer = std::unique_ptr<void, ScratchDeleter>;

// At least one element, rounded up to whole cache lines; null when out of memory.
inline AlignedBuffer aligned_buffer(int64_t elements, int64_t elem_size) {
  auto bytes = (static_cast<std::size_t>(std::max<int64_t>(elements, 1) * elem_size) + 63) & ~std::size_t{63};
  void* p = bytes >= ScratchCache::kMinBytes ? scratch_cache().take(&bytes) : std::aligned_alloc(64, bytes);
  return AlignedBuffer(p, ScratchDeleter{bytes});
}

// Elements of `elem_size` bytes that fill whole 64-byte lines (to carve one buffer into aligned parts).
inline int64_t round_to_lines(int64_t elements, int64_t elem_size) {
  const int64_t per_line = 64 / elem_size;
  return (elements + per_line - 1) / per_line * per_line;
}

}  // namespace pdk
