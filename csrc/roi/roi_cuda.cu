// CUDA ROI kernels: ROIAlign and ROIPool, one thread per output, box/bin/bilinear math from roi_common.h.
#include <cfloat>

#include "core/cuda_compat.h"
#include "roi/roi_common.h"

namespace pdk::cuda {
namespace {

constexpr int kThreads = 256;

// Output i = (r, c, ph, pw) of a [k, channels, pooled_h, pooled_w] result. Consecutive threads
// take consecutive pw of one channel: they read neighbouring pixels of one plane. `plane` is null
// when the ROI's batch index lies outside [0, n) (the Python layer rejects those): the kernels
// then write NaN instead of making a stray read.
template <class T>
struct RoiOutput {
  int64_t ph, pw;
  const T* roi;    // (x1, y1, x2, y2) of the ROI
  const T* plane;  // channel c of the ROI's image, or null
};

template <class T>
__device__ RoiOutput<T> roi_output(const RoiParams& p, const T* x, const T* rois, int64_t i) {
  RoiOutput<T> o;
  o.pw = i % p.pooled_w;
  o.ph = (i / p.pooled_w) % p.pooled_h;
  const int64_t c = (i / (p.pooled_w * p.pooled_h)) % p.channels, r = i / (p.pooled_w * p.pooled_h * p.channels);
  const T batch = __ldg(rois + r * 5);
  o.roi = rois + r * 5 + 1;
  o.plane = batch >= T(0) && batch < static_cast<T>(p.n)
                ? x + (static_cast<int64_t>(batch) * p.channels + c) * p.height * p.width
                : nullptr;
  return o;
}

// One thread per output, grid-stride.
#define PDK_ROI_FOR_EACH_OUTPUT(i, total)                                                   \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

template <class T>
__global__ void __launch_bounds__(kThreads)
roi_align_kernel(RoiParams p, const T* __restrict__ x, const T* __restrict__ rois, T* __restrict__ out,
                 int64_t total) {
  const int height = static_cast<int>(p.height), width = static_cast<int>(p.width);
  const T scale = static_cast<T>(p.spatial_scale);
  PDK_ROI_FOR_EACH_OUTPUT(i, total) {
    const RoiOutput<T> o = roi_output(p, x, rois, i);
    const int64_t ph = o.ph, pw = o.pw;
    const RoiAlignBox<T> box = roi_align_box(o.roi, scale, p.pooled_h, p.pooled_w, p.sampling_ratio, p.aligned);
    if (!box.finite || !o.plane) {
      out[i] = static_cast<T>(NAN);
      continue;
    }
    const T* plane = o.plane;
    T sum = T(0);
    for (int iy = 0; iy < box.grid_h; ++iy) {
      const T y = roi_sample_coordinate(box.start_h, box.bin_h, ph, iy, box.grid_h);
      for (int ix = 0; ix < box.grid_w; ++ix) {
        const T xs = roi_sample_coordinate(box.start_w, box.bin_w, pw, ix, box.grid_w);
        const BilinearTaps<T> t = bilinear_taps(y, xs, height, width);
        if (!t.inside) continue;
        sum += t.weight[0] * __ldg(plane + t.offset[0]) + t.weight[1] * __ldg(plane + t.offset[1]) +
               t.weight[2] * __ldg(plane + t.offset[2]) + t.weight[3] * __ldg(plane + t.offset[3]);
      }
    }
    out[i] = sum / box.count;
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads)
roi_pool_kernel(RoiParams p, const T* __restrict__ x, const T* __restrict__ rois, T* __restrict__ out,
                int64_t* __restrict__ argmax, int64_t total) {
  const T scale = static_cast<T>(p.spatial_scale);
  PDK_ROI_FOR_EACH_OUTPUT(i, total) {
    const RoiOutput<T> o = roi_output(p, x, rois, i);
    const int64_t ph = o.ph, pw = o.pw;
    const RoiPoolBox box = roi_pool_box(o.roi, scale);
    if (!box.finite || !o.plane) {
      out[i] = static_cast<T>(NAN);
      if (argmax) argmax[i] = -1;
      continue;
    }
    const RoiPoolRange rh = roi_pool_range<T>(box.start_h, box.height, p.pooled_h, ph, p.height);
    const RoiPoolRange rw = roi_pool_range<T>(box.start_w, box.width, p.pooled_w, pw, p.width);
    const T* plane = o.plane;
    T best = roi_pool_initial<T>(rh.last <= rh.first || rw.last <= rw.first);
    int64_t best_index = -1;
    for (int64_t h = rh.first; h < rh.last; ++h)
      for (int64_t w = rw.first; w < rw.last; ++w) {
        const int64_t index = h * p.width + w;
        const T v = __ldg(plane + index);
        if (v > best) {  // strict: the first maximum wins, NaN never does (torchvision)
          best = v;
          best_index = index;
        }
      }
    out[i] = best;
    if (argmax) argmax[i] = best_index;
  }
}

#undef PDK_ROI_FOR_EACH_OUTPUT

}  // namespace

void roi_align_forward(const RoiParams& p, std::uintptr_t input, std::uintptr_t rois, std::uintptr_t output,
                       DType dtype, std::uintptr_t stream) {
  check_roi_params(p, "roi_align");
  const int64_t total = p.k * p.channels * p.pooled_h * p.pooled_w;
  if (total == 0) return;
  PDK_DISPATCH_FLOATING(dtype, "roi_align", [&] {
    auto* kernel = &roi_align_kernel<scalar_t>;
    PDK_LAUNCH(kernel, grid_for(total, kThreads), kThreads, 0, as_stream(stream))
    (p, reinterpret_cast<const scalar_t*>(input), reinterpret_cast<const scalar_t*>(rois),
     reinterpret_cast<scalar_t*>(output), total);
  });
  check_cuda_launch("roi_align");
}

void roi_pool_forward(const RoiParams& p, std::uintptr_t input, std::uintptr_t rois, std::uintptr_t output,
                      std::uintptr_t argmax, DType dtype, std::uintptr_t stream) {
  check_roi_params(p, "roi_pool");
  const int64_t total = p.k * p.channels * p.pooled_h * p.pooled_w;
  if (total == 0) return;
  PDK_DISPATCH_FLOATING(dtype, "roi_pool", [&] {
    auto* kernel = &roi_pool_kernel<scalar_t>;
    PDK_LAUNCH(kernel, grid_for(total, kThreads), kThreads, 0, as_stream(stream))
    (p, reinterpret_cast<const scalar_t*>(input), reinterpret_cast<const scalar_t*>(rois),
     reinterpret_cast<scalar_t*>(output), reinterpret_cast<int64_t*>(argmax), total);
  });
  check_cuda_launch("roi_pool");
}

}  // namespace pdk::cuda
