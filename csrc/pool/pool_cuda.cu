// CUDA pooling kernels (one thread per output, window math from pool_common.h) and max_unpool.
#include "core/cuda_compat.h"
#include "pool/pool_common.h"

namespace pdk::cuda {
namespace {

constexpr int kThreads = 256;

// Output i of a [planes, D, H, W] pooling. Max mode scans the window in (d, h, w) order
// and keeps the first maximum (the last NaN), exactly like torch's kernels, so values
// and indices agree with the CPU backend.
template <class T, PoolMode Mode, bool WithIndices>
__global__ void __launch_bounds__(kThreads)
pool_kernel(PoolParams p, const T* __restrict__ x, T* __restrict__ y, int64_t* __restrict__ indices, int64_t total) {
  const int64_t in_plane = p.in[0] * p.in[1] * p.in[2];
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    int64_t rest = i;
    const int64_t ow = rest % p.out[2];
    rest /= p.out[2];
    const int64_t oh = rest % p.out[1];
    rest /= p.out[1];
    const int64_t od = rest % p.out[0];
    const int64_t plane = rest / p.out[0];
    const PoolWindow wd = pool_window(p, 0, od), wh = pool_window(p, 1, oh), ww = pool_window(p, 2, ow);
    const T* xp = x + plane * in_plane;

    T acc = Mode == PoolMode::max ? -static_cast<T>(INFINITY) : T(0);
    int64_t best = (wd.first * p.in[1] + wh.first) * p.in[2] + ww.first;
    for (int64_t a = 0; a < wd.count; ++a) {
      const int64_t id = wd.first + a * wd.step;
      for (int64_t b = 0; b < wh.count; ++b) {
        const int64_t row = (id * p.in[1] + wh.first + b * wh.step) * p.in[2];
        for (int64_t c = 0; c < ww.count; ++c) {
          const int64_t pos = row + ww.first + c * ww.step;
          const T v = __ldg(xp + pos);
          if constexpr (Mode == PoolMode::max) {
            if (v > acc || v != v) {
              acc = v;
              if constexpr (WithIndices) best = pos;
            }
          } else if constexpr (Mode == PoolMode::avg) {
            acc += v;
          } else {
            acc += lp_power(v, p.norm_type);
          }
        }
      }
    }
    if constexpr (Mode == PoolMode::avg) {
      acc = avg_finish(acc, p, wd.divisor * wh.divisor * ww.divisor);
    } else if constexpr (Mode == PoolMode::lp) {
      acc = lp_finish(acc, wd.divisor * wh.divisor * ww.divisor, pool_kernel_volume(p), p.norm_type);
    }
    y[i] = acc;
    if constexpr (WithIndices) indices[i] = best;
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads) fill_zero_kernel(T* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    y[i] = T(0);
}

// Input element i goes to y[plane][indices[i]]. Indices were range-checked by the caller;
// duplicate indices (overlapping windows) carry the same input value, so the race is benign.
template <class T>
__global__ void __launch_bounds__(kThreads)
unpool_kernel(UnpoolParams p, const T* __restrict__ x, const int64_t* __restrict__ indices, T* __restrict__ y) {
  const int64_t total = p.planes * p.in_plane;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t plane = i / p.in_plane;
    y[plane * p.out_plane + indices[i]] = x[i];
  }
}

template <class T, PoolMode Mode, bool WithIndices>
void launch_pool(const PoolParams& p, const T* x, T* y, int64_t* indices, cudaStream_t stream) {
  const int64_t total = p.planes * p.out[0] * p.out[1] * p.out[2];
  auto* kernel = &pool_kernel<T, Mode, WithIndices>;
  PDK_LAUNCH(kernel, grid_for(total, kThreads), kThreads, 0, stream)(p, x, y, indices, total);
}

}  // namespace

void pool_forward(const PoolParams& p, std::uintptr_t x, std::uintptr_t y, std::uintptr_t indices, DType dtype,
                  std::uintptr_t stream) {
  check_pool_params(p);
  PDK_CHECK(indices == 0 || p.mode == PoolMode::max, "pool: indices are only produced by max pooling");
  if (p.planes == 0) return;
  const cudaStream_t s = as_stream(stream);
  PDK_DISPATCH_FLOATING(dtype, "pool", [&] {
    const auto* xp = reinterpret_cast<const scalar_t*>(x);
    auto* yp = reinterpret_cast<scalar_t*>(y);
    auto* ip = reinterpret_cast<int64_t*>(indices);
    switch (p.mode) {
      case PoolMode::max:
        if (ip) launch_pool<scalar_t, PoolMode::max, true>(p, xp, yp, ip, s);
        else launch_pool<scalar_t, PoolMode::max, false>(p, xp, yp, ip, s);
        break;
      case PoolMode::avg: launch_pool<scalar_t, PoolMode::avg, false>(p, xp, yp, ip, s); break;
      case PoolMode::lp: launch_pool<scalar_t, PoolMode::lp, false>(p, xp, yp, ip, s); break;
    }
  });
  check_cuda_launch("pool");
}

void max_unpool_forward(const UnpoolParams& p, std::uintptr_t x, std::uintptr_t indices, std::uintptr_t y,
                        DType dtype, std::uintptr_t stream) {
  check_unpool_params(p);
  const int64_t out_total = p.planes * p.out_plane, in_total = p.planes * p.in_plane;
  if (out_total == 0) return;
  const cudaStream_t s = as_stream(stream);
  PDK_DISPATCH_FLOATING(dtype, "max_unpool", [&] {
    auto* yp = reinterpret_cast<scalar_t*>(y);
    auto* fill = &fill_zero_kernel<scalar_t>;
    PDK_LAUNCH(fill, grid_for(out_total, kThreads), kThreads, 0, s)(yp, out_total);
    if (in_total > 0) {
      auto* scatter = &unpool_kernel<scalar_t>;
      PDK_LAUNCH(scatter, grid_for(in_total, kThreads), kThreads, 0, s)
      (p, reinterpret_cast<const scalar_t*>(x), reinterpret_cast<const int64_t*>(indices), yp);
    }
  });
  check_cuda_launch("max_unpool");
}

}  // namespace pdk::cuda
