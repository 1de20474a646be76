// CPU entry points of the ROI family: a channel-blocked channels-last copy of the input, then ROIs in parallel.
//
// torchvision's CPU kernels walk the NCHW planes channel by channel, re-reading four scattered
// pixels per sample in every plane. Here the input is first copied to channels-last in blocks of
// kRoiBlockBytes of channels ([n, blocks, H * W, block]), so each sample reads four contiguous
// channel vectors and a whole block's sums stay in registers (the per-ISA kernels of
// roi_cpu_kernels.cpp). ROIs run in parallel; a ROI's samples (shared bilinear math of
// roi_common.h) are computed once and applied block by block, and each block's [bins, block]
// results are written transposed to the output, whose [block, bins] part of ROI r is contiguous.
#include <limits>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "roi/roi.h"
#include "roi/roi_common.h"
#include "roi/roi_cpu_kernels.h"

namespace pdk::cpu {
namespace {

template <class T>
void align_bin(const T* image, int64_t channels, const RoiSample<T>* samples, int64_t n, T count, T* out) {
  PDK_ISA_DISPATCH(roi_align_bin, image, channels, samples, n, count, out);
}
template <class T>
void pool_bin(const T* image, int64_t channels, int64_t width, int64_t h0, int64_t h1, int64_t w0, int64_t w1,
              T initial, T* out, int64_t* argmax) {
  PDK_ISA_DISPATCH(roi_pool_bin, image, channels, width, h0, h1, w0, w1, initial, out, argmax);
}

// The channel-blocked channels-last copy: block j of image b holds channels [j * block, + width)
// as [plane, width] at b * plane * channels + j * block * plane.
template <class T>
struct BlockedImage {
  int64_t plane, channels, block, blocks;
  AlignedBuffer buffer;
  T* data() const { return static_cast<T*>(buffer.get()); }
  int64_t width(int64_t j) const { return j + 1 < blocks ? block : channels - j * block; }
  const T* slice(int64_t b, int64_t j) const { return data() + b * plane * channels + j * block * plane; }
};

template <class T>
BlockedImage<T> blocked_image(int64_t n, int64_t channels, int64_t plane) {
  BlockedImage<T> im;
  im.plane = plane;
  im.channels = channels;
  im.block = kRoiBlockBytes / static_cast<int64_t>(sizeof(T));
  im.blocks = (channels + im.block - 1) / im.block;
  im.buffer = aligned_buffer(n * channels * plane, sizeof(T));
  PDK_CHECK(im.buffer, "roi: out of memory for a ", n * channels * plane, "-element channels-last copy");
  return im;
}

// Called by every thread of a parallel region: fills `im` from [n, channels, plane] in tiles of
// kTile pixels of one block (reads and writes both stay within a few lines per channel).
template <class T>
void fill_blocked(const T* x, int64_t n, const BlockedImage<T>& im) {
  constexpr int64_t kTile = 64;
  const int64_t tiles = (im.plane + kTile - 1) / kTile;
#pragma omp for schedule(static)
  for (int64_t job = 0; job < n * im.blocks * tiles; ++job) {
    const int64_t b = job / (im.blocks * tiles), j = (job / tiles) % im.blocks, p0 = (job % tiles) * kTile;
    const int64_t p1 = p0 + kTile < im.plane ? p0 + kTile : im.plane, w = im.width(j);
    const T* src = x + (b * im.channels + j * im.block) * im.plane;
    T* dst = const_cast<T*>(im.slice(b, j));
    for (int64_t c = 0; c < w; ++c)
      for (int64_t p = p0; p < p1; ++p) dst[p * w + c] = src[c * im.plane + p];
  }
}

// Output rows of ROI r from its [bins, channels] buffer.
template <class T>
void write_transposed(const T* bins_first, int64_t bins, int64_t channels, T* out) {
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t b = 0; b < bins; ++b) out[c * bins + b] = bins_first[b * channels + c];
}

// Batch index of a validated rois row (the Python layer rejects non-integral or out-of-range ones;
// this check keeps direct callers of the extension memory-safe).
template <class T>
int64_t batch_of(const T* roi, int64_t n, const char* what) {
  const T b = roi[0];
  PDK_CHECK(b >= T(0) && b < static_cast<T>(n) && static_cast<T>(static_cast<int64_t>(b)) == b, what,
            ": rois batch index must be an integer in [0, ", n, "), got ", static_cast<double>(b));
  return static_cast<int64_t>(b);
}

template <class T>
void check_batches(const T* rois, int64_t k, int64_t n, const char* what) {
  for (int64_t r = 0; r < k; ++r) batch_of(rois + r * 5, n, what);
}

template <class T>
void fill_nan(T* o, int64_t count, int64_t* argmax) {
  for (int64_t i = 0; i < count; ++i) o[i] = std::numeric_limits<T>::quiet_NaN();
  if (argmax)
    for (int64_t i = 0; i < count; ++i) argmax[i] = -1;
}

// Runs job(roi, image, out, argmax) for every ROI in one parallel region after the channels-last
// copy, or fills an invalid box's rows with NaN (argmax -1).
template <class T, class Valid, class Job>
void for_each_roi(const RoiParams& p, const T* x, const T* rois, T* out, int64_t* argmax, Valid valid, Job job) {
  const int64_t plane = p.height * p.width, bins = p.pooled_h * p.pooled_w, rows = p.channels * bins;
  const BlockedImage<T> im = blocked_image<T>(p.n, p.channels, plane);
#pragma omp parallel
  {
    fill_blocked(x, p.n, im);
#pragma omp for schedule(dynamic, 8)
    for (int64_t r = 0; r < p.k; ++r) {
      const T* roi = rois + r * 5;
      int64_t* a = argmax ? argmax + r * rows : nullptr;
      if (valid(roi)) {
        job(roi, im, static_cast<int64_t>(roi[0]), out + r * rows, a);
      } else {
        fill_nan(out + r * rows, rows, a);
      }
    }
  }
}

// ROIAlign: the ROI's samples, bin by bin (bin b's are samples[starts[b], starts[b + 1])), are
// computed once and applied to every channel block.
template <class T>
void roi_align_cpu(const RoiParams& p, const T* x, const T* rois, T* out) {
  check_batches(rois, p.k, p.n, "roi_align");
  const int64_t bins = p.pooled_h * p.pooled_w;
  const T scale = static_cast<T>(p.spatial_scale);
  auto box_of = [&](const T* roi) {
    return roi_align_box(roi + 1, scale, p.pooled_h, p.pooled_w, p.sampling_ratio, p.aligned);
  };
  auto job = [&](const T* roi, const BlockedImage<T>& im, int64_t b, T* o, int64_t*) {
    thread_local std::vector<T> acc;
    thread_local std::vector<RoiSample<T>> samples;
    thread_local std::vector<int64_t> starts;
    acc.resize(static_cast<size_t>(bins * im.block));
    samples.clear();
    starts.assign(1, 0);
    const RoiAlignBox<T> box = box_of(roi);
    for (int64_t ph = 0; ph < p.pooled_h; ++ph)
      for (int64_t pw = 0; pw < p.pooled_w; ++pw) {
        for (int iy = 0; iy < box.grid_h; ++iy) {
          const T y = roi_sample_coordinate(box.start_h, box.bin_h, ph, iy, box.grid_h);
          for (int ix = 0; ix < box.grid_w; ++ix) {
            const T xs = roi_sample_coordinate(box.start_w, box.bin_w, pw, ix, box.grid_w);
            const BilinearTaps<T> t = bilinear_taps(y, xs, static_cast<int>(p.height), static_cast<int>(p.width));
            if (!t.inside) continue;
            RoiSample<T> s;
            for (int i = 0; i < 4; ++i) {
              s.pixel[i] = t.offset[i];
              s.weight[i] = t.weight[i];
            }
            samples.push_back(s);
          }
        }
        starts.push_back(static_cast<int64_t>(samples.size()));
      }
    for (int64_t j = 0; j < im.blocks; ++j) {
      const int64_t w = im.width(j);
      for (int64_t bin = 0; bin < bins; ++bin)
        align_bin(im.slice(b, j), w, samples.data() + starts[bin], starts[bin + 1] - starts[bin], box.count,
                  acc.data() + bin * w);
      write_transposed(acc.data(), bins, w, o + j * im.block * bins);
    }
  };
  for_each_roi(p, x, rois, out, nullptr, [&](const T* roi) { return box_of(roi).finite; }, job);
}

template <class T>
void roi_pool_cpu(const RoiParams& p, const T* x, const T* rois, T* out, int64_t* argmax) {
  check_batches(rois, p.k, p.n, "roi_pool");
  const int64_t bins = p.pooled_h * p.pooled_w;
  const T scale = static_cast<T>(p.spatial_scale);
  auto job = [&](const T* roi, const BlockedImage<T>& im, int64_t b, T* o, int64_t* a) {
    thread_local std::vector<T> acc;
    thread_local std::vector<int64_t> arg;
    acc.resize(static_cast<size_t>(bins * im.block));
    arg.resize(static_cast<size_t>(bins * im.block));
    const RoiPoolBox box = roi_pool_box(roi + 1, scale);
    for (int64_t j = 0; j < im.blocks; ++j) {
      const int64_t w = im.width(j);
      for (int64_t ph = 0; ph < p.pooled_h; ++ph) {
        const RoiPoolRange rh = roi_pool_range<T>(box.start_h, box.height, p.pooled_h, ph, p.height);
        for (int64_t pw = 0; pw < p.pooled_w; ++pw) {
          const RoiPoolRange rw = roi_pool_range<T>(box.start_w, box.width, p.pooled_w, pw, p.width);
          const bool empty = rh.last <= rh.first || rw.last <= rw.first;
          const int64_t bin = ph * p.pooled_w + pw;
          pool_bin(im.slice(b, j), w, p.width, rh.first, rh.last, rw.first, rw.last, roi_pool_initial<T>(empty),
                   acc.data() + bin * w, arg.data() + bin * w);
        }
      }
      write_transposed(acc.data(), bins, w, o + j * im.block * bins);
      if (a) write_transposed(arg.data(), bins, w, a + j * im.block * bins);
    }
  };
  for_each_roi(p, x, rois, out, argmax, [&](const T* roi) { return roi_pool_box(roi + 1, scale).finite; }, job);
}

}  // namespace

void roi_align_forward(const RoiParams& p, std::uintptr_t input, std::uintptr_t rois, std::uintptr_t output,
                       DType dtype, std::uintptr_t) {
  check_roi_params(p, "roi_align");
  if (p.k == 0 || p.channels == 0) return;
  PDK_DISPATCH_FLOATING(dtype, "roi_align", [&] {
    roi_align_cpu(p, reinterpret_cast<const scalar_t*>(input), reinterpret_cast<const scalar_t*>(rois),
                  reinterpret_cast<scalar_t*>(output));
  });
}

void roi_pool_forward(const RoiParams& p, std::uintptr_t input, std::uintptr_t rois, std::uintptr_t output,
                      std::uintptr_t argmax, DType dtype, std::uintptr_t) {
  check_roi_params(p, "roi_pool");
  if (p.k == 0 || p.channels == 0) return;
  PDK_DISPATCH_FLOATING(dtype, "roi_pool", [&] {
    roi_pool_cpu(p, reinterpret_cast<const scalar_t*>(input), reinterpret_cast<const scalar_t*>(rois),
                 reinterpret_cast<scalar_t*>(output), reinterpret_cast<int64_t*>(argmax));
  });
}

}  // namespace pdk::cpu
