// Per-ISA CPU ROI kernels: one ROIAlign / ROIPool bin over every channel of a channels-last image.
//
// This file is compiled three times (base, AVX2+FMA, AVX-512) into pdk::PDK_ISA_NAMESPACE and
// roi_cpu.cpp picks one copy at run time. ODR (see gemm_cpu_kernels.cpp): the linker keeps ONE
// copy of every weak symbol for all three objects, so nothing here is inline or a template with
// external linkage, no std:: template is instantiated and nothing can fail (roi_cpu.cpp validates
// and computes every position and weight; these loops only stream channels, which the compiler
// vectorises with this object's instruction set).
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "roi/roi_cpu_kernels.h"

namespace pdk::PDK_ISA_NAMESPACE {
namespace {

#include "core/isa_vector.h"

// A full block of channels as kRegs registers, summed in registers over the samples (g++ keeps
// the generic loop scalar: it cannot prove the four tap rows and the output apart).
template <class T>
void align_block(const T* image, const RoiSample<T>* samples, int64_t n, T count, T* out) {
  typedef T V __attribute__((vector_size(kVectorBytes)));
  constexpr int64_t kLanesT = kVectorBytes / static_cast<int64_t>(sizeof(T));
  constexpr int64_t kWidth = kRoiBlockBytes / static_cast<int64_t>(sizeof(T));
  constexpr int kRegs = static_cast<int>(kRoiBlockBytes / kVectorBytes);
  V acc[kRegs] = {};
  for (int64_t s = 0; s < n; ++s) {
    const RoiSample<T>& t = samples[s];
    for (int q = 0; q < 4; ++q) {
      const T* row = image + t.pixel[q] * kWidth;
      const T w = t.weight[q];
      for (int r = 0; r < kRegs; ++r) {
        V v;
        std::memcpy(&v, row + r * kLanesT, sizeof v);
        acc[r] += w * v;
      }
    }
  }
  for (int r = 0; r < kRegs; ++r) {
    const V v = acc[r] / count;
    std::memcpy(out + r * kLanesT, &v, sizeof v);
  }
}

template <class T>
void align_bin(const T* __restrict__ image, int64_t channels, const RoiSample<T>* samples, int64_t n, T count,
               T* __restrict__ out) {
  if (channels * static_cast<int64_t>(sizeof(T)) == kRoiBlockBytes) return align_block(image, samples, n, count, out);
  for (int64_t c = 0; c < channels; ++c) out[c] = T(0);
  for (int64_t s = 0; s < n; ++s) {
    const RoiSample<T>& t = samples[s];
    const T* __restrict__ p0 = image + t.pixel[0] * channels;
    const T* __restrict__ p1 = image + t.pixel[1] * channels;
    const T* __restrict__ p2 = image + t.pixel[2] * channels;
    const T* __restrict__ p3 = image + t.pixel[3] * channels;
    const T w0 = t.weight[0], w1 = t.weight[1], w2 = t.weight[2], w3 = t.weight[3];
#pragma omp simd
    for (int64_t c = 0; c < channels; ++c) out[c] += w0 * p0[c] + w1 * p1[c] + w2 * p2[c] + w3 * p3[c];
  }
#pragma omp simd
  for (int64_t c = 0; c < channels; ++c) out[c] /= count;
}

// A full block's running maxima and their positions in registers (positions as integers of T's
// width, so a comparison mask selects both; planes hold < 2^31 pixels).
template <class T>
void pool_block(const T* image, int64_t width, int64_t h0, int64_t h1, int64_t w0, int64_t w1, T initial, T* out,
                int64_t* argmax) {
  typedef T V __attribute__((vector_size(kVectorBytes)));
  typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> I;
  typedef I IV __attribute__((vector_size(kVectorBytes)));
  constexpr int64_t kLanesT = kVectorBytes / static_cast<int64_t>(sizeof(T));
  constexpr int64_t kWidth = kRoiBlockBytes / static_cast<int64_t>(sizeof(T));
  constexpr int kRegs = static_cast<int>(kRoiBlockBytes / kVectorBytes);
  V best[kRegs];
  IV arg[kRegs];
  for (int r = 0; r < kRegs; ++r) {
    best[r] = V{} + initial;
    arg[r] = IV{} - 1;
  }
  for (int64_t h = h0; h < h1; ++h)
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t index = h * width + w;
      const T* row = image + index * kWidth;
      const IV at = IV{} + static_cast<I>(index);
      for (int r = 0; r < kRegs; ++r) {
        V v;
        std::memcpy(&v, row + r * kLanesT, sizeof v);
        const auto larger = v > best[r];  // strict: the first maximum wins, NaN never does
        best[r] = larger ? v : best[r];
        arg[r] = larger ? at : arg[r];
      }
    }
  for (int r = 0; r < kRegs; ++r) {
    std::memcpy(out + r * kLanesT, &best[r], sizeof(V));
    for (int64_t l = 0; l < kLanesT; ++l) argmax[r * kLanesT + l] = arg[r][l];
  }
}

template <class T>
void pool_bin(const T* __restrict__ image, int64_t channels, int64_t width, int64_t h0, int64_t h1, int64_t w0,
              int64_t w1, T initial, T* __restrict__ out, int64_t* __restrict__ argmax) {
  if (channels * static_cast<int64_t>(sizeof(T)) == kRoiBlockBytes)
    return pool_block(image, width, h0, h1, w0, w1, initial, out, argmax);
  for (int64_t c = 0; c < channels; ++c) {
    out[c] = initial;
    argmax[c] = -1;
  }
  for (int64_t h = h0; h < h1; ++h)
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t index = h * width + w;
      const T* __restrict__ p = image + index * channels;
#pragma omp simd
      for (int64_t c = 0; c < channels; ++c) {
        const bool larger = p[c] > out[c];  // strict: the first maximum wins, NaN never does
        out[c] = larger ? p[c] : out[c];
        argmax[c] = larger ? index : argmax[c];
      }
    }
}

}  // namespace

#define PDK_ROI_CPU_KERNELS_OF(T)                                                                         \
  void roi_align_bin(const T* image, int64_t channels, const RoiSample<T>* samples, int64_t count_samples, \
                     T count, T* out) {                                                                  \
    align_bin(image, channels, samples, count_samples, count, out);                                      \
  }                                                                                                      \
  void roi_pool_bin(const T* image, int64_t channels, int64_t width, int64_t h0, int64_t h1, int64_t w0,    \
                    int64_t w1, T initial, T* out, int64_t* argmax) {                                    \
    pool_bin(image, channels, width, h0, h1, w0, w1, initial, out, argmax);                              \
  }
PDK_ROI_CPU_KERNELS_OF(float)
PDK_ROI_CPU_KERNELS_OF(double)
#undef PDK_ROI_CPU_KERNELS_OF

}  // namespace pdk::PDK_ISA_NAMESPACE
