// Pooling window and reduction math shared by the CPU and CUDA kernels (PDK_HD helpers).
#pragma once
#include <cmath>
#include <cstdint>

#include "pool/pool.h"

namespace pdk {

// The input positions one output position reads along one dimension:
// first, first + step, ..., first + (count - 1) * step, all inside [0, in).
// `divisor` is what avg pooling divides by along this dimension (torch semantics:
// the window clipped to the padded input when count_include_pad, else `count`).
struct PoolWindow {
  int64_t first;
  int64_t step;
  int64_t count;
  int64_t divisor;
};

PDK_HD int64_t ceil_div_nonneg(int64_t a, int64_t b) { return (a + b - 1) / b; }

PDK_HD PoolWindow pool_window(const PoolParams& p, int dim, int64_t o) {
  const int64_t in = p.in[dim];
  PoolWindow w;
  if (p.rule == WindowRule::adaptive) {
    const int64_t out = p.out[dim];
    w.first = (o * in) / out;
    const int64_t end = ceil_div_nonneg((o + 1) * in, out);
    w.step = 1;
    w.count = end - w.first;
    w.divisor = w.count;
    return w;
  }
  const int64_t k = p.kernel[dim], s = p.stride[dim], pad = p.pad[dim], d = p.dilation[dim];
  const int64_t start = o * s - pad;
  w.first = start < 0 ? start + ceil_div_nonneg(-start, d) * d : start;
  w.step = d;
  const int64_t end = start + (k - 1) * d + 1 < in ? start + (k - 1) * d + 1 : in;
  w.count = w.first < end ? ceil_div_nonneg(end - w.first, d) : 0;
  if (p.count_include_pad) {
    const int64_t padded_end = start + k < in + pad ? start + k : in + pad;
    w.divisor = padded_end - start;
  } else {
    w.divisor = w.count;
  }
  return w;
}

// max that propagates NaN like torch: once a NaN is seen the result stays NaN.
template <class T>
PDK_HD T nan_max(T a, T b) {
  return (b > a || b != b) ? b : a;
}

// x ** p as torch's x.pow(p) (NaN for negative x and non-integer p).
template <class T>
PDK_HD T lp_power(T x, double p) {
  return p == 2.0 ? x * x : p == 1.0 ? x : static_cast<T>(pow(static_cast<double>(x), p));
}

// x ** (1/p): the last step of lp_finish (kernels that precompute the divisor use it directly).
template <class T>
PDK_HD T lp_root(T scaled, double p) {
  return p == 2.0 ? sqrt(scaled) : static_cast<T>(pow(static_cast<double>(scaled), 1.0 / p));
}

// torch's lp_pool: avg_pool(x**p) (window clipped to the input) times the kernel volume,
// then ** (1/p). `sum` is the window's sum of x**p, `divisor` the clipped window size.
template <class T>
PDK_HD T lp_finish(T sum, int64_t divisor, int64_t kernel_volume, double p) {
  return lp_root(sum / static_cast<T>(divisor) * static_cast<T>(kernel_volume), p);
}

// What avg pooling divides a window's sum by: divisor_override if set, else the window's divisor.
PDK_HD int64_t avg_divisor(const PoolParams& p, int64_t divisor) {
  return p.divisor_override > 0 ? p.divisor_override : divisor;
}

// The final value of avg pooling from the window sum.
template <class T>
PDK_HD T avg_finish(T sum, const PoolParams& p, int64_t divisor) {
  return sum / static_cast<T>(avg_divisor(p, divisor));
}

PDK_HD int64_t pool_kernel_volume(const PoolParams& p) {
  return p.kernel[0] * p.kernel[1] * p.kernel[2];
}

}  // namespace pdk
