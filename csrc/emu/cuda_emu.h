// The CUDA execution model for the host compiler: keywords, built-ins, intrinsics, runtime API, PDK_LAUNCH.
// Include through core/cuda_compat.h; csrc/emu/README.md lists the rules for kernel authors.
#pragma once
#include <cstddef>
#include <cstring>
#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>

#include "emu/device_math.h"
#include "emu/scheduler.h"

// ---- keywords ----
#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __grid_constant__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// Static shared memory: one copy per OS thread, which is one copy per block since a block's fibers share
// their OS thread (a block-scope thread_local is implicitly static; write `__shared__ T x[N]`, never
// `static __shared__`). Under ASan a plain static, which ASan surrounds with redzones; blocks then run
// one at a time.
#if PDK_EMU_ASAN
#define __shared__ static
#else
#define __shared__ static thread_local
#endif

// Dynamic shared memory as a T* named `name`: the block's arena, filled with 0xFF bytes before the block.
#define PDK_EXTERN_SHARED(T, name) \
  T* name = reinterpret_cast<T*>(::pdk::emu::in_kernel("PDK_EXTERN_SHARED").smem)

// ---- block and warp synchronisation; each records its call site for the diagnostics ----
using pdk_emu_where = std::source_location;

inline void __syncthreads(pdk_emu_where at = pdk_emu_where::current()) {
  pdk::emu::in_kernel("__syncthreads()").barrier(pdk::emu::BarrierOp::plain, 1, at);
}
inline int __syncthreads_count(int pred, pdk_emu_where at = pdk_emu_where::current()) {
  return static_cast<int>(pdk::emu::in_kernel("__syncthreads_count()").barrier(pdk::emu::BarrierOp::count, pred, at));
}
inline int __syncthreads_and(int pred, pdk_emu_where at = pdk_emu_where::current()) {
  pdk::emu::Worker& w = pdk::emu::in_kernel("__syncthreads_and()");
  return w.barrier(pdk::emu::BarrierOp::all, pred, at) == blockDim.x * blockDim.y * blockDim.z;
}
inline int __syncthreads_or(int pred, pdk_emu_where at = pdk_emu_where::current()) {
  return pdk::emu::in_kernel("__syncthreads_or()").barrier(pdk::emu::BarrierOp::any, pred, at) != 0;
}

namespace pdk::emu {
inline std::uint64_t warp_op(Op op, unsigned mask, std::uint64_t value, long long arg, unsigned width,
                             const std::source_location& at) {
  return in_kernel(op_name(op)).collective(op, mask, value, arg, width, at);
}
template <class T>
concept WarpValue = std::is_trivially_copyable_v<T> && sizeof(T) <= 8;
template <WarpValue T>
inline T shuffle(Op op, unsigned mask, T var, long long arg, int width, const std::source_location& at) {
  std::uint64_t bits = 0;
  std::memcpy(&bits, &var, sizeof(T));
  bits = warp_op(op, mask, bits, arg, static_cast<unsigned>(width), at);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}
template <class T>
inline std::uint64_t reduce_arg(T) { return std::is_signed_v<T>; }
}  // namespace pdk::emu

inline void __syncwarp(unsigned mask = 0xffffffffu, pdk_emu_where at = pdk_emu_where::current()) {
  pdk::emu::warp_op(pdk::emu::Op::syncwarp, mask, 0, 0, 32, at);
}
template <pdk::emu::WarpValue T>
inline T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize, pdk_emu_where at = pdk_emu_where::current()) {
  return pdk::emu::shuffle(pdk::emu::Op::shfl_idx, mask, var, srcLane, width, at);
}
template <pdk::emu::WarpValue T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize, pdk_emu_where at = pdk_emu_where::current()) {
  return pdk::emu::shuffle(pdk::emu::Op::shfl_up, mask, var, delta, width, at);
}
template <pdk::emu::WarpValue T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize, pdk_emu_where at = pdk_emu_where::current()) {
  return pdk::emu::shuffle(pdk::emu::Op::shfl_down, mask, var, delta, width, at);
}
template <pdk::emu::WarpValue T>
inline T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize, pdk_emu_where at = pdk_emu_where::current()) {
  return pdk::emu::shuffle(pdk::emu::Op::shfl_xor, mask, var, laneMask, width, at);
}
inline unsigned __ballot_sync(unsigned mask, int pred, pdk_emu_where at = pdk_emu_where::current()) {
  return static_cast<unsigned>(pdk::emu::warp_op(pdk::emu::Op::ballot, mask, pred != 0, 0, 32, at));
}
inline int __any_sync(unsigned mask, int pred, pdk_emu_where at = pdk_emu_where::current()) {
  return static_cast<int>(pdk::emu::warp_op(pdk::emu::Op::any, mask, pred != 0, 0, 32, at));
}
inline int __all_sync(unsigned mask, int pred, pdk_emu_where at = pdk_emu_where::current()) {
  return static_cast<int>(pdk::emu::warp_op(pdk::emu::Op::all, mask, pred != 0, 0, 32, at));
}
template <pdk::emu::WarpValue T>
inline unsigned __match_any_sync(unsigned mask, T value, pdk_emu_where at = pdk_emu_where::current()) {
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  return static_cast<unsigned>(pdk::emu::warp_op(pdk::emu::Op::match_any, mask, bits, 0, 32, at));
}
template <pdk::emu::WarpValue T>
inline unsigned __match_all_sync(unsigned mask, T value, int* pred, pdk_emu_where at = pdk_emu_where::current()) {
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  const std::uint64_t r = pdk::emu::warp_op(pdk::emu::Op::match_all, mask, bits, 0, 32, at);
  *pred = static_cast<int>(r >> 32);
  return static_cast<unsigned>(r);
}
// The lanes of the warp that have not exited: the emulator has no notion of convergence.
inline unsigned __activemask() { return pdk::emu::in_kernel("__activemask()").active_mask(); }

#define PDK_EMU_WARP_REDUCE(name, op)                                                                    \
  template <class T>                                                                                     \
    requires pdk::emu::OneOf<T, int, unsigned int>                                                       \
  inline T name(unsigned mask, T value, pdk_emu_where at = pdk_emu_where::current()) {                    \
    return static_cast<T>(pdk::emu::warp_op(pdk::emu::Op::op, mask, static_cast<std::uint32_t>(value),  \
                                            pdk::emu::reduce_arg(value), 32, at));                       \
  }
PDK_EMU_WARP_REDUCE(__reduce_add_sync, reduce_add)
PDK_EMU_WARP_REDUCE(__reduce_min_sync, reduce_min)
PDK_EMU_WARP_REDUCE(__reduce_max_sync, reduce_max)
PDK_EMU_WARP_REDUCE(__reduce_and_sync, reduce_and)
PDK_EMU_WARP_REDUCE(__reduce_or_sync, reduce_or)
PDK_EMU_WARP_REDUCE(__reduce_xor_sync, reduce_xor)
#undef PDK_EMU_WARP_REDUCE

// Stops the block with an error (the launch throws pdk::Error).
[[noreturn]] inline void __trap() {
  pdk::emu::Worker& w = pdk::emu::in_kernel("__trap()");
  w.fail(w.who(*w.current) + " called __trap()");
}
// Lets the block's other threads run, so a spin-wait on a flag set by another thread of the block ends.
inline void __nanosleep(unsigned) { pdk::emu::in_kernel("__nanosleep()").pause(); }

// ---- runtime API (launches are synchronous; every pointer is a host pointer) ----
enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};

inline cudaError_t cudaGetLastError() {
  const cudaError_t e = pdk::emu::last_error.code;
  pdk::emu::last_error.code = cudaSuccess;
  return e;
}
inline cudaError_t cudaPeekAtLastError() { return pdk::emu::last_error.code; }
// The emulator's message for the thread's most recent error says which launch failed and why.
inline const char* cudaGetErrorString(cudaError_t e) {
  const pdk::emu::LastError& last = pdk::emu::last_error;
  return e != cudaSuccess && e == last.detail_code ? last.detail.c_str() : pdk::emu::error_text(e);
}
inline const char* cudaGetErrorName(cudaError_t e) { return pdk::emu::error_text(e); }

template <class F>
  requires std::is_function_v<F>
inline cudaError_t cudaFuncSetAttribute(F* kernel, cudaFuncAttribute attr, int value) {
  pdk::emu::Attributes& a = pdk::emu::attributes();
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || static_cast<std::size_t>(value) > pdk::emu::kMaxDynamicSharedOptin)
      return pdk::emu::record_error(cudaErrorInvalidValue,
                                    "cudaFuncAttributeMaxDynamicSharedMemorySize " + std::to_string(value) +
                                        " is outside 0.." + std::to_string(pdk::emu::kMaxDynamicSharedOptin));
    std::lock_guard<std::mutex> lock(a.mutex);
    a.max_dynamic_shared[reinterpret_cast<const void*>(kernel)] = static_cast<std::size_t>(value);
    return cudaSuccess;
  }
  if (attr == cudaFuncAttributePreferredSharedMemoryCarveout && value >= -1 && value <= 100) return cudaSuccess;
  return pdk::emu::record_error(cudaErrorInvalidValue, "unsupported function attribute or value");
}

inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int /*device*/) {
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(pdk::emu::kDefaultDynamicShared); return cudaSuccess;
    case cudaDevAttrWarpSize: *value = 32; return cudaSuccess;
    case cudaDevAttrMultiProcessorCount: *value = pdk::emu::effective_workers(); return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(pdk::emu::kMaxDynamicSharedOptin); return cudaSuccess;
  }
  return pdk::emu::record_error(cudaErrorInvalidValue, "unsupported device attribute");
}
inline cudaError_t cudaGetDevice(int* device) { *device = 0; return cudaSuccess; }
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaMemsetAsync(void* p, int value, std::size_t bytes, cudaStream_t = nullptr) {
  std::memset(p, value, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemset(void* p, int value, std::size_t bytes) { return cudaMemsetAsync(p, value, bytes); }
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind,
                                   cudaStream_t = nullptr) {
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, bytes, kind);
}

// ---- launches ----
namespace pdk::emu {

// The address cudaFuncSetAttribute was given, when the launched expression names one function
// (a function, a pointer to one, or a fully specified template); nullptr for overloads and deduction.
template <class F, class Tag>
  requires std::is_function_v<F>
inline const void* kernel_address(F* f, Tag) {
  return reinterpret_cast<const void*>(f);
}

template <class Body, class Address>
class Launcher {
 public:
  Launcher(LaunchSite site, dim3 grid, dim3 block, std::size_t shared_bytes, cudaStream_t, Body body, Address address)
      : site_(site), grid_(grid), block_(block), shared_(shared_bytes), body_(body), address_(address) {}

  // Arguments are copied once here and again into every CUDA thread, like kernel parameters.
  template <class... Args>
  void operator()(Args&&... args) {
    std::tuple<std::decay_t<Args>...> params(std::forward<Args>(args)...);
    auto run = [&] { std::apply(body_, params); };
    launch(site_, grid_, block_, shared_, address_(0), TaskRef(run));
  }

 private:
  LaunchSite site_;
  dim3 grid_, block_;
  std::size_t shared_;
  Body body_;
  Address address_;
};

}  // namespace pdk::emu

// PDK_LAUNCH(kernel, grid, block, shared_bytes, stream)(args...): `kernel<<<grid, block, shared, stream>>>(args...)`
// under nvcc. A generic lambda calls the kernel, so templates, overloads and deduced arguments work.
#define PDK_LAUNCH(kernel, grid, block, shared_bytes, stream)                                          \
  ::pdk::emu::Launcher(                                                                                \
      ::pdk::emu::LaunchSite{#kernel, __FILE__, __LINE__}, (grid), (block), (shared_bytes), (stream),  \
      [&](auto... pdk_emu_args) { kernel(pdk_emu_args...); },                                          \
      [&](auto pdk_emu_tag) -> const void* {                                                           \
        if constexpr (requires { ::pdk::emu::kernel_address(kernel, pdk_emu_tag); })                   \
          return ::pdk::emu::kernel_address(kernel, pdk_emu_tag);                                      \
        else                                                                                           \
          return nullptr;                                                                              \
      })
