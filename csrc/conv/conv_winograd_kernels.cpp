// Per-ISA Winograd F(2x2, 3x3) forward convolution: 3x3 (2-d) or kD x 3x3 (3-d), stride-1 convolutions (dilation 1 or 2 across) with zero padding as 16 GEMMs over transformed tiles.
//
// Compiled once per instruction set under the ODR rules of gemm_cpu_kernels.cpp (everything in
// pdk::PDK_ISA_NAMESPACE, helpers in an anonymous namespace, no std:: templates, no PDK_CHECK);
// conv_cpu.cpp checks eligibility, plans and allocates.
//
// Why: a 2x2 block of outputs of a 3x3 kernel needs 36 multiply-adds per (input channel, output
// channel) pair; F(2x2, 3x3) needs 16 (Lavin & Gray, 2016), so the GEMM work, which is nearly all
// of a convolution with many channels, drops 2.25x. The transforms cost O(channels) per tile
// against the O(channels^2) saved, and only add, subtract and halve, so the rounding stays close
// to the direct sum's (the tests hold this path to the same bound as the others).
//
// With d a 4x4 input tile and g the 3x3 kernel: U = G g G^T, V = B^T d B (both 4x4) and the 2x2
// outputs are Y = A^T (sum over input channels of U . V) A. For each of the 16 positions xi of the
// 4x4 grid the channel sum is a GEMM, M_xi[co, tile] = sum_ci U_xi[co, ci] V_xi[ci, tile], which
// the GEMM micro-kernel runs: U_xi is packed once per call (or ahead, for prepacked weights) in
// the driver's PackedA layout, and the input transform writes V_xi straight into NR-tile B
// panels. Tiles (2x2 outputs) are numbered over the whole batch, row by row; a work item is a
// block of tile_panels panels of one group: input transform into V, the 16 GEMMs into M (both in
// the thread's workspace, sized to stay in L2), then the output transform with the epilogue.
#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "conv/conv_common.h"
#include "conv/conv_cpu_kernels.h"
#include "gemm/gemm_cpu_driver.h"

namespace pdk::PDK_ISA_NAMESPACE {
namespace {

constexpr int kXi = 16;  // positions of the 4x4 transformed tile

// u = G g G^T for one 3x3 kernel g (row-major), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
template <class T>
void transform_kernel(const T* g, T (&u)[kXi]) {
  T t[4][3];
  for (int c = 0; c < 3; ++c) {
    const T g0 = g[c], g1 = g[3 + c], g2 = g[6 + c];
    t[0][c] = g0;
    t[1][c] = T(0.5) * (g0 + g1 + g2);
    t[2][c] = T(0.5) * (g0 - g1 + g2);
    t[3][c] = g2;
  }
  for (int r = 0; r < 4; ++r) {
    u[r * 4 + 0] = t[r][0];
    u[r * 4 + 1] = T(0.5) * (t[r][0] + t[r][1] + t[r][2]);
    u[r * 4 + 2] = T(0.5) * (t[r][0] - t[r][1] + t[r][2]);
    u[r * 4 + 3] = t[r][2];
  }
}

// Every group's 16 transformed weight matrices (cout_g x cin_g * kD) into plan.weights_packed, each in
// the PackedA layout (K blocks of plan.gemm.kc, MR-row panels, rows past cout_g zero), matrix xi
// of group g at g * weights_group_elems + xi * weights_xi_elems. A task is one MR-row panel of a
// group: the 16 matrices' panels are then each written front to back (writing row by row instead,
// 14 elements apart in 16 streams, made a 512x512 transform take longer than the convolution).
template <class T>
void transform_weights(const ConvCpuPlan& plan, const T* w, bool team) {
  const ConvParams& p = plan.p;
  // K rows (ci, kd): the depth taps of a 3-d kernel are more channels to the 2-d transform
  const int64_t K = p.in_channels / p.groups * p.kernel[0], cout = p.out_channels / p.groups;
  const int64_t rows = padded_rows(cout), panels = rows / kMR, tasks = p.groups * panels;
  T* const packed = static_cast<T*>(plan.weights_packed);
  auto panel = [&](int64_t task) {
    const int64_t g = task / panels, r0 = task % panels * kMR, height = min64(kMR, cout - r0);
    T* const group = packed + g * plan.weights_group_elems;
    const T* const src = w + (g * cout + r0) * K * 9;
    for (int64_t k = 0; k < K; ++k) {
      const int64_t pc = k / plan.gemm.kc * plan.gemm.kc, kb = min64(plan.gemm.kc, K - pc);
      T* const at = group + pc * rows + r0 * kb + (k - pc) * kMR;  // PackedA::block(r0, pc, kb), row k - pc
      for (int64_t i = 0; i < kMR; ++i) {
        T u[kXi] = {};
        if (i < height) transform_kernel(src + (i * K + k) * 9, u);
        for (int xi = 0; xi < kXi; ++xi) at[xi * plan.weights_xi_elems + i] = u[xi];
      }
    }
  };
  if (team) {
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) panel(t);
  } else {
    for (int64_t t = 0; t < tasks; ++t) panel(t);
  }
}

// Consecutive tiles of one tile row of one image and dilation phase that share a panel: tiles
// (n, od, phase, ty, tx0 ... tx0 + len - 1) at lanes lane ... lane + len - 1 (od: the output depth
// of a 3-d convolution, else 0). With dilation d (1 or 2 per
// dim) the outputs split into d x d phases, (ry, rx) holding the outputs (ry + d oy', rx + d
// ox'), each an undilated convolution of one input phase; tile (ty, tx) of a phase covers its
// outputs oy' = 2 ty + (0, 1), ox' = 2 tx + (0, 1).
struct Segment {
  int64_t n, od, ry, rx, ty, tx0;
  int32_t lane, len;
};

// The segments of the panel whose first tile is t (tiles past `total` belong to none).
template <class T>
int segments_of(const ConvCpuPlan& plan, int64_t t, int64_t total, Segment* segs) {
  constexpr int NR = kNR<T>;
  const int64_t per_phase = plan.tiles_h * plan.tiles_w, dw = plan.p.dilation[2];
  const int64_t per_plane = plan.p.dilation[1] * dw * per_phase;  // one output depth of one image
  int count = 0;
  for (int lane = 0; lane < NR && t < total;) {
    const int64_t plane = t / per_plane, phase = t % per_plane / per_phase, rest = t % per_phase;
    const int64_t ty = rest / plan.tiles_w, tx = rest % plan.tiles_w;
    const int64_t len = min64(min64(NR - lane, plan.tiles_w - tx), total - t);
    segs[count++] = Segment{plane / plan.p.out[0], plane % plan.p.out[0], phase / dw, phase % dw, ty, tx, lane,
                            static_cast<int32_t>(len)};
    lane += static_cast<int>(len);
    t += len;
  }
  return count;
}

// Where dilated phase r of a dim reads its input: with padding `pad` and dilation d, output
// phase r is an undilated convolution of input phase (r - pad) mod d, shifted by floor((r - pad)
// / d) phase positions.
struct PhaseSource {
  int64_t phase, shift;
};
inline PhaseSource phase_source(int64_t r, int64_t pad, int64_t d) {
  const int64_t s = r - pad, q = s >= 0 ? s / d : -((-s + d - 1) / d);
  return PhaseSource{s - q * d, q};
}

// L input columns from column `start` of a row of W, zero outside [0, W) (no read there).
template <class T>
__attribute__((always_inline)) inline typename Vec<T>::type window(const T* row, int64_t W, int64_t start) {
  constexpr int64_t L = kLanes<T>;
  if (start >= 0 && start + L <= W) return *reinterpret_cast<const typename Vec<T>::utype*>(row + start);
  const int64_t lo = start < 0 ? min64(-start, L) : 0, hi = W - start < L ? (W - start > 0 ? W - start : 0) : L;
  return Partial<T>::load_lanes(row + start, lo, hi);
}

// For the L tiles from column `start` of an input row of W (zero outside [0, W), never read
// there): window columns c and c + 1 of each tile k, the input columns start + 2 d k and start +
// 2 d k + d (d: the dilation along W, 1 or 2).
template <class T>
__attribute__((always_inline)) inline void column_pair(const T* row, int64_t W, int64_t start, int64_t d,
                                                       typename Vec<T>::type* first, typename Vec<T>::type* second) {
  using V = typename Vec<T>::type;
  using I = decltype(V{} < V{});
  constexpr int64_t L = kLanes<T>;
  I even_lanes{}, odd_lanes{};
  for (int64_t i = 0; i < L; ++i) {
    even_lanes[i] = 2 * i;
    odd_lanes[i] = 2 * i + 1;
  }
  V a = window(row, W, start), b = window(row, W, start + L);
  if (d == 2) {  // the even columns of 4 L, then the even and odd of those
    const V c = window(row, W, start + 2 * L), e = window(row, W, start + 3 * L);
    a = __builtin_shuffle(a, b, even_lanes);
    b = __builtin_shuffle(c, e, even_lanes);
  }
  *first = __builtin_shuffle(a, b, even_lanes);
  *second = __builtin_shuffle(a, b, odd_lanes);
}

// V's 16 rows of one input channel (plane x_c, H x W) for one segment: v[xi * xi_stride + k] for
// its tiles k < len. Tile k reads rows 2 ty + (0..3) and columns 2 (tx0 + k) + (0..3) of its input
// phase, shifted as phase_source says, zero outside the input. For L tiles at a time, each row's
// window columns (0, 1) and (2, 3) come from column_pair, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1
// 0 -1] is then applied down the rows and along them, all in registers.
template <class T>
__attribute__((flatten)) void transform_input(const T* x_c, const ConvParams& p, const Segment& s, T* v,
                                              int64_t xi_stride) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  constexpr int64_t L = kLanes<T>;
  const int64_t H = p.in[1], W = p.in[2], dh = p.dilation[1], dw = p.dilation[2], len = s.len;
  const PhaseSource sy = phase_source(s.ry, p.pad[1], dh), sx = phase_source(s.rx, p.pad[2], dw);
  const T* rows[4];
  for (int r = 0; r < 4; ++r) {
    const int64_t iy = (2 * s.ty + sy.shift + r) * dh + sy.phase;
    rows[r] = iy >= 0 && iy < H ? x_c + iy * W : nullptr;
  }
  const int64_t x0 = (2 * s.tx0 + sx.shift) * dw + sx.phase;  // tile 0's first input column
  for (int64_t k = 0; k < len; k += L) {
    V col[4][4];  // col[r][c]: row r of the window, column c of each of the L tiles
    for (int r = 0; r < 4; ++r) {
      if (!rows[r]) {
        for (int c = 0; c < 4; ++c) col[r][c] = V{};
        continue;
      }
      for (int half = 0; half < 2; ++half)
        column_pair(rows[r], W, x0 + (2 * k + 2 * half) * dw, dw, &col[r][2 * half], &col[r][2 * half + 1]);
    }
    V t[4][4];  // B^T down the rows
    for (int c = 0; c < 4; ++c) {
      t[0][c] = col[0][c] - col[2][c];
      t[1][c] = col[1][c] + col[2][c];
      t[2][c] = col[2][c] - col[1][c];
      t[3][c] = col[1][c] - col[3][c];
    }
    for (int r = 0; r < 4; ++r) {
      const V out[4] = {t[r][0] - t[r][2], t[r][1] + t[r][2], t[r][2] - t[r][1], t[r][1] - t[r][3]};
      T* const dst = v + r * 4 * xi_stride + k;
      if (k + L <= len) {
        for (int c = 0; c < 4; ++c) *reinterpret_cast<VU*>(dst + c * xi_stride) = out[c];
      } else {
        const auto m = Partial<T>::mask(len - k);
        for (int c = 0; c < 4; ++c) Partial<T>::store(dst + c * xi_stride, out[c], m);
      }
    }
  }
}

// Output channel `channel` for one segment: m[xi * m_stride + k] to the 2x2 outputs of each tile
// k < len, A^T = [1 1 1 0; 0 1 -1 -1] on both sides, then bias, residual and activation (the GEMM
// epilogue's order) on each output row run, clipped to the output.
template <class T>
__attribute__((flatten, noinline)) void transform_output(const ConvParams& p, const T* m, int64_t m_stride, const Segment& s,
                                               int64_t channel, const T* bias, const T* residual, T* out) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  using I = decltype(V{} < V{});
  constexpr int64_t L = kLanes<T>, NR = kNR<T>;
  I lo{}, hi{};  // interleave a, b: a0 b0 a1 b1 ... (first and second halves)
  for (int64_t i = 0; i < L; ++i) {
    lo[i] = i / 2 + (i % 2) * L;
    hi[i] = L / 2 + i / 2 + (i % 2) * L;
  }
  const int64_t OH = p.out[1], OW = p.out[2], len = s.len;
  alignas(64) T lines[2][2 * NR + 2 * L];
  for (int64_t k = 0; k < len; k += L) {
    V col[2][4];  // A^T down the columns: col[a][j] for output row a of the tile
    for (int j = 0; j < 4; ++j) {
      const V m0 = *reinterpret_cast<const VU*>(m + j * m_stride + k);
      const V m1 = *reinterpret_cast<const VU*>(m + (4 + j) * m_stride + k);
      const V m2 = *reinterpret_cast<const VU*>(m + (8 + j) * m_stride + k);
      const V m3 = *reinterpret_cast<const VU*>(m + (12 + j) * m_stride + k);
      col[0][j] = m0 + m1 + m2;
      col[1][j] = m1 - m2 - m3;
    }
    for (int a = 0; a < 2; ++a) {
      const V y0 = col[a][0] + col[a][1] + col[a][2], y1 = col[a][1] - col[a][2] - col[a][3];
      *reinterpret_cast<V*>(lines[a] + 2 * k) = __builtin_shuffle(y0, y1, lo);
      *reinterpret_cast<V*>(lines[a] + 2 * k + L) = __builtin_shuffle(y0, y1, hi);
    }
  }
  const T b = bias ? bias[channel] : T(0);
  const int64_t dh = p.dilation[1], dw = p.dilation[2];
  const int64_t ox0 = 2 * s.tx0 * dw + s.rx;  // line element j is output column ox0 + j * dw
  const int64_t count = min64(2 * len, OW > ox0 ? (OW - ox0 + dw - 1) / dw : 0);
  const int64_t plane = ((s.n * p.out_channels + channel) * p.out[0] + s.od) * OH * OW;
  for (int a = 0; a < 2; ++a) {
    const int64_t oy = (2 * s.ty + a) * dh + s.ry;
    if (oy >= OH) break;
    T* const line = lines[a];
    const int64_t at = plane + oy * OW + ox0;
    if (bias)
      for (int64_t j = 0; j < count; ++j) line[j] += b;
    if (residual)  // may alias out: read before the store below
      for (int64_t j = 0; j < count; ++j) line[j] += residual[at + j * dw];
    activate_row(line, count, p.activation, static_cast<T>(p.negative_slope));
    if (dw == 1) {
      copy_exact(out + at, line, count);
    } else {
      for (int64_t j = 0; j < count; ++j) out[at + j * dw] = line[j];
    }
  }
}

// Tiles of one group over the batch: every output depth, dilation phase and tile of each image.
inline int64_t total_tiles(const ConvCpuPlan& plan) {
  const ConvParams& p = plan.p;
  return p.batch * p.out[0] * p.dilation[1] * p.dilation[2] * plan.tiles_h * plan.tiles_w;
}

// Work item `item`: block item % blocks of group item / blocks, with the thread's V and M. A 3-d
// convolution's V rows are (ci, kd): row kd of output depth od reads input depth od - pad + kd *
// dilation, whose rows are zero outside the input.
template <class T>
void winograd_item(const ConvCpuPlan& plan, const ConvArrays<T>& a, int64_t item, int64_t blocks, T* v, T* m) {
  constexpr int NR = kNR<T>;
  const ConvParams& p = plan.p;
  const int64_t cin = p.in_channels / p.groups, cout = p.out_channels / p.groups, kd = p.kernel[0];
  const int64_t K = cin * kd, D = p.in[0];
  const int64_t panels = plan.tile_panels, block_tiles = panels * NR, total = total_tiles(plan);
  const int64_t g = item / blocks, t0 = item % blocks * block_tiles;
  const int64_t used = min64(panels, (total - t0 + NR - 1) / NR);  // panels with tiles
  const int64_t v_xi = plan.v_xi_stride, m_xi = plan.m_xi_stride;
  const int64_t in_plane = p.in[1] * p.in[2];
  Segment segs[kMaxTilePanels][NR];
  int nsegs[kMaxTilePanels];
  for (int64_t q = 0; q < used; ++q) {
    nsegs[q] = segments_of<T>(plan, t0 + q * NR, total, segs[q]);
    const int64_t filled = min64(NR, total - t0 - q * NR);
    for (int64_t ci = 0; ci < cin; ++ci)
      for (int64_t z = 0; z < kd; ++z) {
        T* vrow = v + (q * K + ci * kd + z) * NR;
        for (int k = 0; k < nsegs[q]; ++k) {
          const Segment& s = segs[q][k];
          const int64_t id = s.od - p.pad[0] + z * p.dilation[0];
          if (id < 0 || id >= D) {
            for (int xi = 0; xi < kXi; ++xi) zero_exact(vrow + xi * v_xi + s.lane, s.len);
            continue;
          }
          const T* x_c = a.x + ((s.n * p.in_channels + g * cin + ci) * D + id) * in_plane;
          transform_input(x_c, p, s, vrow + s.lane, v_xi);
        }
        if (filled < NR)
          for (int xi = 0; xi < kXi; ++xi) zero_exact(vrow + xi * v_xi + filled, NR - filled);
      }
  }
  const T* const weights = static_cast<const T*>(plan.weights_packed) + g * plan.weights_group_elems;
  const int64_t kc = plan.gemm.kc, rows = padded_rows(cout);
  for (int xi = 0; xi < kXi; ++xi) {
    const PackedA<T> u{weights + xi * plan.weights_xi_elems, rows};
    for (int64_t pc = 0; pc < K; pc += kc) {
      const int64_t kb = min64(kc, K - pc);
      for (int64_t q = 0; q < used; ++q) {
        const PackedRows<T> vpanel{v + xi * v_xi + (q * K + pc) * NR};
        for (int64_t ir = 0; ir < cout; ir += kMR)
          multiply_tile(kb, u.block(ir, pc, kb), vpanel, m + xi * m_xi + ir * block_tiles + q * NR, block_tiles,
                        min64(kMR, cout - ir), static_cast<int64_t>(NR), pc > 0);
      }
    }
  }
  for (int64_t q = 0; q < used; ++q)
    for (int64_t co = 0; co < cout; ++co)
      for (int k = 0; k < nsegs[q]; ++k) {
        const Segment& s = segs[q][k];
        transform_output(p, m + co * block_tiles + q * NR + s.lane, m_xi, s, g * cout + co, a.bias, a.residual,
                         a.out);
      }
}

template <class T>
void winograd_thread(const ConvCpuPlan& plan, const ConvArrays<T>& a, int64_t tid, int64_t nt) {
  const ConvParams& p = plan.p;
  if (!plan.weights_ready) transform_weights(plan, a.w, nt > 1);
  const int64_t total = total_tiles(plan), block_tiles = plan.tile_panels * kNR<T>;
  const int64_t blocks = (total + block_tiles - 1) / block_tiles, items = p.groups * blocks;
  T* const v = static_cast<T*>(plan.workspace) + tid * plan.per_thread_elems;
  T* const m = v + kXi * plan.v_xi_stride;
  if (nt > 1) {
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) winograd_item(plan, a, item, blocks, v, m);
  } else {
    for (int64_t item = 0; item < items; ++item) winograd_item(plan, a, item, blocks, v, m);
  }
}

template <class T>
int run_winograd(const ConvCpuPlan& plan, std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias,
                 std::uintptr_t residual, std::uintptr_t out) {
  const ConvArrays<T> a{reinterpret_cast<const T*>(x), reinterpret_cast<const T*>(w),
                            reinterpret_cast<const T*>(bias), reinterpret_cast<const T*>(residual),
                            reinterpret_cast<T*>(out)};
#ifdef _OPENMP
  if (plan.threads > 1) {
#pragma omp parallel num_threads(plan.threads)
    winograd_thread(plan, a, omp_get_thread_num(), omp_get_num_threads());
    return kConvOk;
  }
#endif
  winograd_thread(plan, a, 0, 1);
  return kConvOk;
}

}  // namespace

int conv_winograd_kernel(const ConvCpuPlan& plan, std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias,
                         std::uintptr_t residual, std::uintptr_t out, DType dtype) {
  switch (dtype) {
    case DType::float32: return run_winograd<float>(plan, x, w, bias, residual, out);
    case DType::float64: return run_winograd<double>(plan, x, w, bias, residual, out);
    default: return kConvBadDtype;
  }
}

int conv_winograd_weights_kernel(const ConvCpuPlan& plan, std::uintptr_t w, DType dtype) {
  switch (dtype) {
    case DType::float32: transform_weights(plan, reinterpret_cast<const float*>(w), false); return kConvOk;
    case DType::float64: transform_weights(plan, reinterpret_cast<const double*>(w), false); return kConvOk;
    default: return kConvBadDtype;
  }
}

}  // namespace pdk::PDK_ISA_NAMESPACE
