// CUDA convolution: implicit GEMM on the shared tile block (forward, and transposed as dense output phases), a direct depthwise kernel, the fused epilogue.
#include <algorithm>
#include <cstdint>

#include "conv/conv_common.h"
#include "core/cuda_compat.h"
#include "gemm/gemm_common.h"
#include "gemm/gemm_cuda_tile.cuh"

// Which path runs:
// - depthwise (conv_is_depthwise: groups == C_in, any multiplier): a direct kernel, one thread per
//   output position and plane. Its GEMM would have K = kernel volume and one row of A per output
//   channel, so the 64 x 64 x BK tile would be almost all padding; the direct loop reads each
//   input through L1 (neighbouring outputs share their taps there) and is memory-bound anyway.
// - every other forward convolution: the tiled implicit GEMM, per group (blockIdx.y)
//   C[C_out/g, batch * out plane] = W_g[C_out/g, C_in/g * kvol] @ im2col(x_g), the batch folded into
//   N so one launch covers every image; the im2col matrix exists only as the B-tile loader's gather.
// - transposed: the same kernel, one launch per output phase (conv_transpose_phase). A stride-s
//   transposed convolution is, on the outputs with one residue of (o + pad) mod s, a dense
//   stride-1 convolution with the taps of that residue, so the GEMM multiplies no structural zeros
//   (a direct gather over all taps would skip s^dims - 1 of every s^dims taps by test, a zero-
//   inserting GEMM would multiply them), needs no atomics (phases partition the output) and
//   reuses the forward kernel's tiles; only the weight loader differs ([C_in, C_out/g, k...]).

namespace pdk::cuda {
namespace {

using tile::kThreads;
using tile::Tile;

// A row of the implicit GEMM's K = (input channel, tap digit along D, H, W), kept as digits so the
// loaders step through K with adds and carries instead of a division per element.
struct KDigits {
  int ci = 0, d = 0, h = 0, w = 0;
};

// One spatial dim of the implicit GEMM, the same form for a forward convolution and for a phase
// of a transposed one: output column j (< cols) with tap digit t (< taps) reads input
// j * col_step + col_offset + t * tap_step (padded_source decides what lies outside) and is
// written to output out_first + out_step * j.
struct Axis {
  int in = 1, out = 1;
  int taps = 1, tap_step = 1;                  // forward: kernel, dilation; phase: taps, -input_step
  int cols = 1, col_step = 1, col_offset = 0;  // forward: out, stride, -pad; phase: outputs, 1, input_offset
  int out_first = 0, out_step = 1;             // forward: 0, 1; phase: first_out, stride
  int weight_step = 0;                         // transposed: flat weight offset per tap digit
};

// One launch's GEMM per group: C[M = C_out/g, N = batch * cols_plane] = A[M, K] @ B[K, N] with
// K = C_in/g * taps. Built on the host (forward_gemm, transposed_phase_gemm).
struct ConvGemm {
  Axis axis[3];
  int64_t M = 0, N = 0, K = 0;  // N < 2^31: the host launches large batches in slices
  int cols_plane = 0;           // output columns per image
  int64_t cin_g = 0;
  int64_t in_plane = 0, out_plane = 0;
  int64_t x_image = 0, out_image = 0;  // elements per image of x and of out
  // Transposed weights [C_in, C_out/g, k...]: per group, input channel, output channel, and the
  // flat offset of the phase's first tap.
  int64_t w_group = 0, w_ci = 0, w_co = 0, w_first = 0;
  KDigits b_step, a_step;  // each loader's step through K, as digits
  int64_t tiles_m = 0, tiles_n = 0;
  PaddingMode mode = PaddingMode::zeros;
  Activation activation = Activation::none;
  double negative_slope = 0.01;
};

PDK_HD KDigits k_digits(const ConvGemm& g, int k) {
  KDigits r;
  r.w = k % g.axis[2].taps;
  k /= g.axis[2].taps;
  r.h = k % g.axis[1].taps;
  k /= g.axis[1].taps;
  r.d = k % g.axis[0].taps;
  r.ci = k / g.axis[0].taps;
  return r;
}

// r += step in the mixed radix (ci, taps[0], taps[1], taps[2]); each digit of both is below its
// radix, so one conditional subtraction per digit suffices.
__device__ __forceinline__ void advance(KDigits& r, const KDigits& step, const ConvGemm& g) {
  r.w += step.w;
  int carry = r.w >= g.axis[2].taps;
  if (carry) r.w -= g.axis[2].taps;
  r.h += step.h + carry;
  carry = r.h >= g.axis[1].taps;
  if (carry) r.h -= g.axis[1].taps;
  r.d += step.d + carry;
  carry = r.d >= g.axis[0].taps;
  if (carry) r.d -= g.axis[0].taps;
  r.ci += step.ci + carry;
}

// B[K, N]: the im2col gather. Each thread stages one fixed column (tid % BN: an output position
// of one image, consecutive across the warp, so the loads coalesce along W) and rows
// kk = tid / BN + kRowStep * r, i.e. one K row every kRowStep, tile after tile.
template <class T>
struct GatherLoader {
  static constexpr bool kKFastest = false;
  static constexpr int BN = Tile<T>::BN, BK = Tile<T>::BK;
  static constexpr int kRowStep = kThreads / BN;
  const ConvGemm& g;
  const T* __restrict__ x;  // the column's image, the group's first channel
  int pos[3];               // input index of tap digit 0, per dim
  bool column_ok;
  KDigits row;

  __device__ __forceinline__ GatherLoader(const ConvGemm& geometry, const T* x_group, int64_t n0) : g(geometry) {
    int nn, kk;
    tile::stage_coord<BN, BK, kKFastest>(threadIdx.x, 0, nn, kk);
    // N < 2^31 (the host splits larger batches), so 32-bit divisions split the column.
    const int n = static_cast<int>(n0) + nn;
    column_ok = n < g.N;
    const int image = column_ok ? n / g.cols_plane : 0;
    int j = column_ok ? n - image * g.cols_plane : 0;
    for (int d = 2; d >= 0; --d) {
      const Axis& a = g.axis[d];
      pos[d] = j % a.cols * a.col_step + a.col_offset;
      j /= a.cols;
    }
    x = x_group + static_cast<int64_t>(image) * g.x_image;
    row = k_digits(g, kk);
  }

  template <int L>
  __device__ __forceinline__ void load(T (&v)[L], int64_t) {
    static_assert(kThreads % BN == 0 && L * kRowStep == BK, "a thread's rows are kRowStep apart, across tiles too");
PDK_TILE_UNROLL
    for (int r = 0; r < L; ++r) {
      T value = T(0);
      if (column_ok && row.ci < g.cin_g) {
        const int64_t id = padded_source(pos[0] + row.d * g.axis[0].tap_step, g.axis[0].in, g.mode);
        const int64_t ih = padded_source(pos[1] + row.h * g.axis[1].tap_step, g.axis[1].in, g.mode);
        const int64_t iw = padded_source(pos[2] + row.w * g.axis[2].tap_step, g.axis[2].in, g.mode);
        if (id >= 0 && ih >= 0 && iw >= 0)
          value = __ldg(x + row.ci * g.in_plane + (id * g.axis[1].in + ih) * g.axis[2].in + iw);
      }
      v[r] = value;
      advance(row, g.b_step, g);
    }
  }
};

// A[M, K] of a transposed convolution's phase: A(co, (ci, t)) = w[group, ci, co, phase tap t].
// k is the contiguous side (taps), so threads stage along k: each thread keeps one k
// (tid % BK) for all its rows and steps it by BK per tile.
template <class T>
struct TransposedWeightLoader {
  static constexpr bool kKFastest = true;
  static constexpr int BM = Tile<T>::BM, BK = Tile<T>::BK;
  const ConvGemm& g;
  const T* __restrict__ w;  // the group's weights
  int64_t m0;
  KDigits col;

  __device__ __forceinline__ TransposedWeightLoader(const ConvGemm& geometry, const T* w_group, int64_t m_first)
      : g(geometry), w(w_group), m0(m_first) {
    int mm, kk;
    tile::stage_coord<BM, BK, kKFastest>(threadIdx.x, 0, mm, kk);
    col = k_digits(g, kk);
  }

  template <int L>
  __device__ __forceinline__ void load(T (&v)[L], int64_t) {
    static_assert(kThreads % BK == 0, "a thread's k is the same in all its staged elements");
    const bool k_ok = col.ci < g.cin_g;
    const T* wk = w + col.ci * g.w_ci + g.w_first + col.d * g.axis[0].weight_step +
                  col.h * g.axis[1].weight_step + col.w * g.axis[2].weight_step;
PDK_TILE_UNROLL
    for (int r = 0; r < L; ++r) {
      int mm, kk;
      tile::stage_coord<BM, BK, kKFastest>(threadIdx.x, r, mm, kk);
      const int64_t co = m0 + mm;
      v[r] = T(0);
      if (k_ok && co < g.M) v[r] = __ldg(wk + co * g.w_co);
    }
    advance(col, g.a_step, g);
  }
};

// bias, residual, activation (store_fused); column n is (image, output position of the launch's grid).
template <class T>
struct ConvEpilogue {
  const ConvGemm& g;
  const T* __restrict__ bias;
  const T* residual;  // may alias out
  T* out;
  int64_t group;

  template <int TM, int TN>
  __device__ __forceinline__ void operator()(const T (&acc)[TM][TN], int64_t m_first, int64_t n_first) const {
    int64_t column[TN];  // output offset of each column without the channel
    int valid = 0;       // the first `valid` columns are inside N
PDK_TILE_UNROLL
    for (int j = 0; j < TN; ++j) {
      const int n = static_cast<int>(n_first) + j;
      column[j] = 0;
      if (n >= g.N) continue;
      ++valid;
      const int image = n / g.cols_plane;
      int c = n - image * g.cols_plane;
      int64_t o = 0, scale = 1;
      for (int d = 2; d >= 0; --d) {
        const Axis& a = g.axis[d];
        o += (a.out_first + a.out_step * (c % a.cols)) * scale;
        c /= a.cols;
        scale *= a.out;
      }
      column[j] = static_cast<int64_t>(image) * g.out_image + o;
    }
    const T slope = static_cast<T>(g.negative_slope);
PDK_TILE_UNROLL
    for (int i = 0; i < TM; ++i) {
      const int64_t m = m_first + i;
      if (m >= g.M) break;
      const int64_t channel = group * g.M + m;
      const T b = bias != nullptr ? __ldg(bias + channel) : T(0);
PDK_TILE_UNROLL
      for (int j = 0; j < TN; ++j) {
        if (j >= valid) break;
        const int64_t at = column[j] + channel * g.out_plane;
        store_fused(out + at, acc[i][j], b, residual != nullptr ? residual + at : nullptr, g.activation, slope);
      }
    }
  }
};

// Grid: x = output tiles (grouped order), y = group. Occupancy as the GEMM's (Tile<T>): float 80
// registers, 3 blocks of 256 threads per SM; double 122-126 registers, 2 blocks.
template <class T, bool Transposed>
__global__ void __launch_bounds__(kThreads, Tile<T>::kMinBlocks)
conv_gemm_kernel(ConvGemm g, const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                 const T* residual, T* out) {
  int64_t m0, n0;
  tile::tile_origin(blockIdx.x, g.tiles_m, g.tiles_n, Tile<T>::BM, Tile<T>::BN, m0, n0);
  const int64_t group = blockIdx.y;
  GatherLoader<T> load_b(g, x + group * g.cin_g * g.in_plane, n0);
  const ConvEpilogue<T> epilogue{g, bias, residual, out, group};
  if constexpr (Transposed) {
    TransposedWeightLoader<T> load_a(g, w + group * g.w_group, m0);
    tile::gemm_block_tile<T>(load_a, load_b, epilogue, g.K, m0, n0);
  } else {
    // Forward weights [C_out, C_in/g, k...] are a row-major [C_out/g, K] matrix per group.
    tile::MatrixLoader<T, 'A', false> load_a{w + group * g.M * g.K, g.K, g.M, g.K, m0};
    tile::gemm_block_tile<T>(load_a, load_b, epilogue, g.K, m0, n0);
  }
}

// 56-64 registers (sm_80 / sm_90): 4 blocks of 256 threads per SM, half the thread slots.
constexpr int kDepthwiseThreads = 256;

// One output of a depthwise convolution: out[image, co, pos] reads only input channel
// co / multiplier. Everything derives from (image, co, pos) here rather than being kept across
// the caller's loops: with fewer values live across the activation's called slow paths
// (double-precision division), ptxas needs no spill slots (it did on sm_90).
template <class T>
__device__ __forceinline__ void depthwise_output(const ConvParams& p, const T* __restrict__ x, const T* __restrict__ w,
                                                 const T* __restrict__ bias, const T* residual, T* out, int64_t image,
                                                 int co, int pos) {
  const int out_w = static_cast<int>(p.out[2]), out_h = static_cast<int>(p.out[1]);
  const int ow = pos % out_w, oh = pos / out_w % out_h, od = pos / out_w / out_h;
  const int64_t in_plane = conv_in_plane(p), kvol = conv_kernel_volume(p);
  const int multiplier = static_cast<int>(p.out_channels) / static_cast<int>(p.in_channels);
  const T* xc = x + (image * p.in_channels + co / multiplier) * in_plane;
  const T* wc = w + co * kvol;
  T acc = T(0);
  for (int64_t kd = 0; kd < p.kernel[0]; ++kd) {
    const int64_t id = padded_source(conv_input_pos(p, 0, od, kd), p.in[0], p.padding_mode);
    if (id < 0) continue;
    for (int64_t kh = 0; kh < p.kernel[1]; ++kh) {
      const int64_t ih = padded_source(conv_input_pos(p, 1, oh, kh), p.in[1], p.padding_mode);
      if (ih < 0) continue;
      const T* xrow = xc + (id * p.in[1] + ih) * p.in[2];
      const T* wrow = wc + (kd * p.kernel[1] + kh) * p.kernel[2];
      for (int64_t kw = 0; kw < p.kernel[2]; ++kw) {
        const int64_t iw = padded_source(conv_input_pos(p, 2, ow, kw), p.in[2], p.padding_mode);
        if (iw >= 0) acc += __ldg(wrow + kw) * __ldg(xrow + iw);
      }
    }
  }
  const int64_t at = (image * p.out_channels + co) * conv_out_plane(p) + pos;
  // Written out rather than store_fused: with that call ptxas spills 16 bytes on sm_90 for double.
  T v = acc;
  if (bias != nullptr) v += __ldg(bias + co);
  if (residual != nullptr) v += residual[at];
  out[at] = apply_activation(v, p.activation, static_cast<T>(p.negative_slope));
}

// Grid x and threads along x take consecutive output positions (coalesced loads and stores), y
// output channels, z images, with stride loops past the grid's y/z limits. Index math within a
// plane in 32 bits (check_int_range), no 64-bit division. No barriers, so threads past the plane
// may return.
template <class T>
__global__ void __launch_bounds__(kDepthwiseThreads)
depthwise_kernel(ConvParams p, const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                 const T* residual, T* out) {
  const int pos = blockIdx.x * blockDim.x + threadIdx.x;
  if (pos >= conv_out_plane(p)) return;
  const int channels = static_cast<int>(p.out_channels);
  for (int64_t image = blockIdx.z; image < p.batch; image += gridDim.z)
    for (int co = blockIdx.y * blockDim.y + threadIdx.y; co < channels; co += gridDim.y * blockDim.y)
      depthwise_output(p, x, w, bias, residual, out, image, co, pos);
}

// ---- host side ---------------------------------------------------------------------------

// The gather and the epilogue index within a dim in int (faster, fewer registers than int64):
// every position they form is bounded by this (check_conv_params bounds the padding modes').
void check_int_range(const ConvParams& p, const char* op) {
  constexpr int64_t kLimit = int64_t{1} << 30;
  for (int d = 0; d < 3; ++d) {
    const int64_t reach = (p.out[d] + p.pad[d]) * p.stride[d] + p.in[d] + p.kernel[d] * p.dilation[d];
    PDK_CHECK(reach < kLimit, op, ": dim ", d, " is too large for the CUDA kernels' 32-bit index math");
  }
  PDK_CHECK(conv_in_plane(p) < kLimit && conv_out_plane(p) < kLimit && conv_kernel_volume(p) < kLimit &&
                p.in_channels < kLimit && p.out_channels < kLimit,
            op, ": a plane, the kernel or the channel count is too large for the CUDA kernels' 32-bit index math");
}

ConvGemm common_gemm(const ConvParams& p) {
  ConvGemm g;
  g.M = conv_group_out(p);
  g.cin_g = conv_group_in(p);
  g.in_plane = conv_in_plane(p);
  g.out_plane = conv_out_plane(p);
  g.x_image = p.in_channels * g.in_plane;
  g.out_image = p.out_channels * g.out_plane;
  g.mode = p.padding_mode;
  g.activation = p.activation;
  g.negative_slope = p.negative_slope;
  return g;
}

// K, the columns per image and the loaders' digit steps from the axes (N and the tile counts
// are per launch: launch_gemm).
template <class T>
void finish_gemm(ConvGemm& g) {
  int64_t taps = 1, cols = 1;
  for (const Axis& a : g.axis) {
    taps *= a.taps;
    cols *= a.cols;
  }
  g.cols_plane = static_cast<int>(cols);  // <= out plane < 2^30 (check_int_range)
  g.K = g.cin_g * taps;
  // A phase without taps along some dim has K == 0 (no k-tiles: bias + residual only), but the
  // loaders still split their first k into digits: radix 1 keeps that well defined.
  if (g.K == 0)
    for (Axis& a : g.axis) a.taps = 1;
  g.b_step = k_digits(g, GatherLoader<T>::kRowStep);
  g.a_step = k_digits(g, Tile<T>::BK);
}

template <class T>
ConvGemm forward_gemm(const ConvParams& p) {
  ConvGemm g = common_gemm(p);
  for (int d = 0; d < 3; ++d) {
    Axis& a = g.axis[d];
    a.in = static_cast<int>(p.in[d]);
    a.out = a.cols = static_cast<int>(p.out[d]);
    a.taps = static_cast<int>(p.kernel[d]);
    a.tap_step = static_cast<int>(p.dilation[d]);
    a.col_step = static_cast<int>(p.stride[d]);
    a.col_offset = static_cast<int>(-p.pad[d]);
  }
  finish_gemm<T>(g);
  return g;
}

template <class T>
ConvGemm transposed_phase_gemm(const ConvParams& p, const int64_t (&residue)[3]) {
  ConvGemm g = common_gemm(p);
  g.mode = PaddingMode::zeros;
  const int64_t kernel_stride[3] = {p.kernel[1] * p.kernel[2], p.kernel[2], 1};
  const int64_t kvol = conv_kernel_volume(p);
  g.w_co = kvol;
  g.w_ci = g.M * kvol;
  g.w_group = g.cin_g * g.M * kvol;
  for (int d = 0; d < 3; ++d) {
    const ConvTransposePhase ph = conv_transpose_phase(p, d, residue[d]);
    Axis& a = g.axis[d];
    a.in = static_cast<int>(p.in[d]);
    a.out = static_cast<int>(p.out[d]);
    a.taps = static_cast<int>(ph.taps);
    a.tap_step = static_cast<int>(-ph.input_step);
    a.cols = static_cast<int>(ph.outputs);
    a.col_step = 1;
    a.col_offset = static_cast<int>(ph.input_offset);
    a.out_first = static_cast<int>(ph.first_out);
    a.out_step = static_cast<int>(p.stride[d]);
    a.weight_step = static_cast<int>(ph.tap_step * kernel_stride[d]);
    g.w_first += ph.first_tap * kernel_stride[d];
  }
  finish_gemm<T>(g);
  return g;
}

// One launch per slice of images whose columns, and the last tile's overhang past them, fit in
// 32-bit indices (one slice unless N nears 2^31).
template <class T, bool Transposed>
void launch_gemm(ConvGemm g, const ConvParams& p, const T* x, const T* w, const T* bias, const T* residual,
                 T* out, cudaStream_t stream, const char* op) {
  PDK_CHECK(p.groups <= 65535, op, ": groups ", p.groups, " exceed the grid's y limit 65535");
  const int64_t images_per_launch = std::min<int64_t>(p.batch, (2147483647 - Tile<T>::BN) / g.cols_plane);
  auto* kernel = &conv_gemm_kernel<T, Transposed>;
  for (int64_t first = 0; first < p.batch; first += images_per_launch) {
    g.N = std::min(images_per_launch, p.batch - first) * g.cols_plane;
    g.tiles_m = (g.M + Tile<T>::BM - 1) / Tile<T>::BM;
    g.tiles_n = (g.N + Tile<T>::BN - 1) / Tile<T>::BN;
    const int64_t blocks = g.tiles_m * g.tiles_n;
    PDK_CHECK(blocks <= 2147483647, op, ": ", g.M, " x ", g.N, " needs ", blocks, " blocks, over the grid limit");
    const T* x_slice = x + first * g.x_image;  // C_in == 0: x may be null, x_image is 0
    const T* r_slice = residual != nullptr ? residual + first * g.out_image : nullptr;
    PDK_LAUNCH(kernel, dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(p.groups)), kThreads, 0, stream)
    (g, x_slice, w, bias, r_slice, out + first * g.out_image);
    check_cuda_launch(op);
  }
}

template <class T>
void launch_depthwise(const ConvParams& p, const T* x, const T* w, const T* bias, const T* residual, T* out,
                      cudaStream_t stream) {
  const int64_t out_plane = conv_out_plane(p);
  // Small planes (7 x 7, 14 x 14) would leave most of a 256-wide row idle: the block takes as
  // many positions as the plane has (whole warps), and several channels along y.
  const int64_t bx = std::min<int64_t>(kDepthwiseThreads, (out_plane + 31) / 32 * 32);
  const int64_t by = kDepthwiseThreads / bx;
  const int64_t gx = (out_plane + bx - 1) / bx;
  const int64_t gy = std::min<int64_t>((p.out_channels + by - 1) / by, 65535), gz = std::min<int64_t>(p.batch, 65535);
  auto* kernel = &depthwise_kernel<T>;
  PDK_LAUNCH(kernel, dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy), static_cast<unsigned>(gz)),
             dim3(static_cast<unsigned>(bx), static_cast<unsigned>(by)), 0, stream)
  (p, x, w, bias, residual, out);
  check_cuda_launch("conv (depthwise)");
}

}  // namespace

void conv_forward(const ConvParams& p, std::uintptr_t x, std::uintptr_t weight, std::uintptr_t bias,
                  std::uintptr_t residual, std::uintptr_t out, DType dtype, std::uintptr_t stream) {
  check_conv_params(p);
  const char* op = p.transposed ? "conv_transpose" : "conv";
  PDK_CHECK(p.has_bias == (bias != 0) && p.has_residual == (residual != 0), op,
            ": has_bias/has_residual must match the bias/residual pointers");
  if (p.batch == 0 || p.out_channels == 0) return;
  PDK_CHECK(out != 0 && (p.in_channels == 0 || (x != 0 && weight != 0)), op, ": null x, weight or output pointer");
  check_int_range(p, op);
  const cudaStream_t s = as_stream(stream);
  PDK_DISPATCH_FLOATING(dtype, op, [&] {
    const auto* xp = reinterpret_cast<const scalar_t*>(x);
    const auto* wp = reinterpret_cast<const scalar_t*>(weight);
    const auto* bp = reinterpret_cast<const scalar_t*>(bias);
    const auto* rp = reinterpret_cast<const scalar_t*>(residual);
    auto* op_out = reinterpret_cast<scalar_t*>(out);
    if (conv_is_depthwise(p)) {
      launch_depthwise<scalar_t>(p, xp, wp, bp, rp, op_out, s);
    } else if (!p.transposed) {
      launch_gemm<scalar_t, false>(forward_gemm<scalar_t>(p), p, xp, wp, bp, rp, op_out, s, op);
    } else {
      // Phases partition the output, so their launches write disjoint elements. A phase is named
      // by its first output (< stride, and < out so that it has outputs at all).
      int64_t first[3], residue[3];
      for (first[0] = 0; first[0] < std::min(p.stride[0], p.out[0]); ++first[0])
        for (first[1] = 0; first[1] < std::min(p.stride[1], p.out[1]); ++first[1])
          for (first[2] = 0; first[2] < std::min(p.stride[2], p.out[2]); ++first[2]) {
            for (int d = 0; d < 3; ++d) residue[d] = (first[d] + p.pad[d]) % p.stride[d];
            launch_gemm<scalar_t, true>(transposed_phase_gemm<scalar_t>(p, residue), p, xp, wp, bp, rp, op_out, s, op);
          }
    }
  });
}

}  // namespace pdk::cuda
