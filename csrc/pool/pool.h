// Pooling family: parameter structs and the entry points every backend (cpu, cuda, emu) implements.
#pragma once
#include <cstdint>

#include "core/pdk.h"

namespace pdk {

enum class PoolMode : int { max = 0, avg = 1, lp = 2 };
// fixed: kernel/stride/padding/dilation windows; adaptive: window i covers
// [floor(i*in/out), ceil((i+1)*in/out)) per dimension.
enum class WindowRule : int { fixed = 0, adaptive = 1 };

// Every pooling op is expressed on a [planes, D, H, W] input (planes = N*C; 1-d and
// 2-d ops set the missing leading extents to 1, kernel 1, stride 1, padding 0).
struct PoolParams {
  PoolMode mode = PoolMode::max;
  WindowRule rule = WindowRule::fixed;
  int64_t planes = 0;
  int64_t in[3] = {1, 1, 1};
  int64_t out[3] = {1, 1, 1};
  int64_t kernel[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1};
  int64_t pad[3] = {0, 0, 0};
  int64_t dilation[3] = {1, 1, 1};
  bool count_include_pad = true;   // avg only
  int64_t divisor_override = 0;    // avg only; 0 = none
  double norm_type = 2.0;          // lp only
};

// max_unpool: scatter each input value to out[plane][index] of a zero-filled output plane.
struct UnpoolParams {
  int64_t planes = 0;
  int64_t in_plane = 0;   // elements per input plane
  int64_t out_plane = 0;  // elements per output plane
};

// Throws pdk::Error when the parameters are inconsistent (shared by all backends).
void check_pool_params(const PoolParams& p);
void check_unpool_params(const UnpoolParams& p);

// Entry points. Pointers are device (cuda) or host (cpu, emu) addresses of contiguous
// arrays allocated by the caller: x [planes, in...], y [planes, out...] of `dtype`,
// indices (int64, same shape as y; 0 = not requested, max mode only). `stream` is a
// cudaStream_t (0 = default stream) and ignored on the CPU.
#define PDK_POOL_ENTRY_POINTS                                                             \
  void pool_forward(const PoolParams& p, std::uintptr_t x, std::uintptr_t y,             \
                    std::uintptr_t indices, DType dtype, std::uintptr_t stream);         \
  void max_unpool_forward(const UnpoolParams& p, std::uintptr_t x, std::uintptr_t indices, \
                          std::uintptr_t y, DType dtype, std::uintptr_t stream);

namespace cpu { PDK_POOL_ENTRY_POINTS }
namespace cuda { PDK_POOL_ENTRY_POINTS }
#undef PDK_POOL_ENTRY_POINTS

}  // namespace pdk
