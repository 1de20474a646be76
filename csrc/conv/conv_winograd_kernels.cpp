// Per-ISA Winograd convolutions as GEMMs over transformed tiles: F(2x2, 3x3) for stride-1 3x3 (or kD x 3x3) forward convolutions, F(2x2, 2x2) for the phases of 4x4 stride-2 transposed ones.
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
//
// A 4x4 stride-2 transposed convolution (the decoders' upsampling) splits into 2x2 output phases:
// outputs (2 a + ry, 2 b + rx) receive exactly 2x2 of the 16 taps, from inputs (a + e_y + t, b +
// e_x + u), so each phase is a forward convolution with a 2x2 sub-kernel, run as F(2x2, 2x2) (A =
// 3: 3x3 input tiles, 9 products for 4 outputs instead of 16). Its work items hold tiles of one
// phase only, since each phase has its own transformed weights. The alternative it replaces, one
// GEMM into [C_out x 16, H x W] columns and a gather, does 16 products per output quad and moves
// those columns through memory.
#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "conv/conv_common.h"
#include "conv/conv_cpu_kernels.h"
#include "gemm/gemm_cpu_driver.h"

namespace pdk::PDK_ISA_NAMESPACE {
namespace {

// u = G g G^T for one 3x3 kernel g (row-major), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
template <class T>
void transform_kernel(const T* g, T (&u)[16]) {
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

// u = G g G^T for one 2x2 kernel g, G = [1 0; 1 1; 0 1].
template <class T>
void transform_kernel(T g00, T g01, T g10, T g11, T (&u)[9]) {
  const T t[3][2] = {{g00, g01}, {g00 + g10, g01 + g11}, {g10, g11}};
  for (int r = 0; r < 3; ++r) {
    u[r * 3 + 0] = t[r][0];
    u[r * 3 + 1] = t[r][0] + t[r][1];
    u[r * 3 + 2] = t[r][1];
  }
}

// The 4x4 stride-2 transposed convolution's output phase r along a dim with padding `pad`: its
// 2-tap sub-kernel is taps (first + 2, first) of the 4, applied to inputs (a + shift, a + shift +
// 1) for its output a (from oy = 2 iy - pad + ky).
struct TransposedPhase {
  int64_t first, shift;
};
inline TransposedPhase transposed_phase(int64_t r, int64_t pad) {
  const int64_t first = (r + pad) % 2;
  return TransposedPhase{first, (r + pad - first) / 2 - 1};
}

// The A x A transformed positions of one (output channel, K row) pair of weight phase `phase`:
// forward, K row k = (ci, kd) of the 3x3 kernels; transposed, input channel k of the 2x2
// sub-kernel of output phase (phase / 2, phase % 2).
template <class T, int A>
void kernel_positions(const ConvParams& p, const T* w, int64_t g, int64_t phase, int64_t co, int64_t k,
                      T (&u)[A * A]) {
  const int64_t cout = p.out_channels / p.groups;
  if constexpr (A == 4) {
    const int64_t K = p.in_channels / p.groups * p.kernel[0];
    transform_kernel(w + ((g * cout + co) * K + k) * 9, u);
  } else {
    const TransposedPhase y = transposed_phase(phase / 2, p.pad[1]), x = transposed_phase(phase % 2, p.pad[2]);
    const T* tap = w + ((g * (p.in_channels / p.groups) + k) * cout + co) * 16;  // [C_in, C_out / groups, 4, 4]
    transform_kernel(tap[(y.first + 2) * 4 + x.first + 2], tap[(y.first + 2) * 4 + x.first],
                     tap[y.first * 4 + x.first + 2], tap[y.first * 4 + x.first], u);
  }
}

// Every group's transformed weight matrices (cout_g x K, one per weight phase and position) into
// plan.weights_packed, each in the PackedA layout (K blocks of plan.gemm.kc, MR-row panels, rows
// past cout_g zero): matrix (phase, xi) of group g at g * weights_group_elems + (phase * A * A +
// xi) * weights_xi_elems. A task is one MR-row panel of one phase of a group: its matrices' panels
// are then each written front to back (writing row by row instead, 14 elements apart in 16
// streams, made a 512x512 transform take longer than the convolution).
template <class T, int A>
void transform_weights(const ConvCpuPlan& plan, const T* w, bool team) {
  constexpr int P = A * A;
  const ConvParams& p = plan.p;
  const int64_t K = plan.gemm.p.K, cout = p.out_channels / p.groups, phases = plan.weight_phases;
  const int64_t rows = padded_rows(cout), panels = rows / kMR, tasks = p.groups * phases * panels;
  T* const packed = static_cast<T*>(plan.weights_packed);
  auto panel = [&](int64_t task) {
    const int64_t g = task / (phases * panels), phase = task / panels % phases, r0 = task % panels * kMR;
    T* const group = packed + g * plan.weights_group_elems + phase * P * plan.weights_xi_elems;
    for (int64_t k = 0; k < K; ++k) {
      const int64_t pc = k / plan.gemm.kc * plan.gemm.kc, kb = min64(plan.gemm.kc, K - pc);
      T* const at = group + pc * rows + r0 * kb + (k - pc) * kMR;  // PackedA::block(r0, pc, kb), row k - pc
      for (int64_t i = 0; i < kMR; ++i) {
        T u[P] = {};
        if (r0 + i < cout) kernel_positions<T, A>(p, w, g, phase, r0 + i, k, u);
        for (int xi = 0; xi < P; ++xi) at[xi * plan.weights_xi_elems + i] = u[xi];
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

// Consecutive tiles of one tile row of one image and phase that share a panel: tiles (n, od,
// phase, ty, tx0 ... tx0 + len - 1) at lanes lane ... lane + len - 1 (od: the output depth of a
// 3-d convolution, else 0). The outputs split into phases (ry, rx) holding outputs (ry + s oy',
// rx + s ox'), each an undilated convolution of its own: s = 2 along dilated dims of a forward
// convolution and for a transposed one, else 1 (plan.phase_h, phase_w). Tile (ty, tx) of a phase covers its
// outputs oy' = 2 ty + (0, 1), ox' = 2 tx + (0, 1).
struct Segment {
  int64_t n, od, ry, rx, ty, tx0;
  int32_t lane, len;
};

// The segments of the panel whose first tile is t (tiles past `end` belong to none). Tiles are
// numbered (image, depth, phase, tile) forwards, where every phase shares the weights, and
// (phase, image, tile) for a transposed convolution, whose items each keep to one phase.
template <class T>
int segments_of(const ConvCpuPlan& plan, int64_t t, int64_t end, Segment* segs) {
  constexpr int NR = kNR<T>;
  const ConvParams& p = plan.p;
  const int64_t per_phase = plan.tiles_h * plan.tiles_w, sw = plan.phase_w, phases = plan.phase_h * sw;
  int count = 0;
  for (int lane = 0; lane < NR && t < end;) {
    int64_t n, od, phase;
    if (p.transposed) {
      phase = t / (p.batch * per_phase);
      n = t / per_phase % p.batch;
      od = 0;
    } else {
      const int64_t plane = t / (phases * per_phase);  // (image, output depth)
      phase = t / per_phase % phases;
      n = plane / p.out[0];
      od = plane % p.out[0];
    }
    const int64_t rest = t % per_phase, ty = rest / plan.tiles_w, tx = rest % plan.tiles_w;
    const int64_t len = min64(min64(NR - lane, plan.tiles_w - tx), end - t);
    segs[count++] = Segment{n, od, phase / sw, phase % sw, ty, tx, lane, static_cast<int32_t>(len)};
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

// Where a segment's tiles read their input: window row r of tile k is input row y0 + r * step_y,
// window column c is input column x0 + (2 k + c) * step_x (zero outside the input).
struct Window {
  int64_t y0, step_y, x0, step_x;
};

template <class T>
Window window_of(const ConvParams& p, const Segment& s) {
  if (p.transposed) {
    const TransposedPhase y = transposed_phase(s.ry, p.pad[1]), x = transposed_phase(s.rx, p.pad[2]);
    return Window{2 * s.ty + y.shift, 1, 2 * s.tx0 + x.shift, 1};
  }
  const int64_t dh = p.dilation[1], dw = p.dilation[2];
  const PhaseSource sy = phase_source(s.ry, p.pad[1], dh), sx = phase_source(s.rx, p.pad[2], dw);
  return Window{(2 * s.ty + sy.shift) * dh + sy.phase, dh, (2 * s.tx0 + sx.shift) * dw + sx.phase, dw};
}

// V's A * A rows of one input channel (plane x_c, H x W) for one segment: v[xi * xi_stride + k]
// for its tiles k < len, from the A x A windows `win` places. For L tiles at a time, each row's
// window columns (0, 1) and (2, 3) come from column_pair; B^T is then applied down the rows and
// along them, all in registers: F(2x2, 3x3): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1];
// F(2x2, 2x2): B^T = [1 -1 0; 0 1 0; 0 -1 1].
template <class T, int A>
__attribute__((flatten)) void transform_input(const T* x_c, const ConvParams& p, const Segment& s, T* v,
                                              int64_t xi_stride) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  constexpr int64_t L = kLanes<T>;
  const int64_t H = p.in[1], W = p.in[2], len = s.len;
  const Window win = window_of<T>(p, s);
  const T* rows[A];
  for (int r = 0; r < A; ++r) {
    const int64_t iy = win.y0 + r * win.step_y;
    rows[r] = iy >= 0 && iy < H ? x_c + iy * W : nullptr;
  }
  // B^T applied to 4 (A = 4) or 3 values
  auto transform = [](const V* d, V* out) __attribute__((always_inline)) {
    if constexpr (A == 4) {
      out[0] = d[0] - d[2];
      out[1] = d[1] + d[2];
      out[2] = d[2] - d[1];
      out[3] = d[1] - d[3];
    } else {
      out[0] = d[0] - d[1];
      out[1] = d[1];
      out[2] = d[2] - d[1];
    }
  };
  for (int64_t k = 0; k < len; k += L) {
    V col[A][4];  // col[r][c]: row r of the window, column c of each of the L tiles (c < A used)
    for (int r = 0; r < A; ++r) {
      if (!rows[r]) {
        for (int c = 0; c < 4; ++c) col[r][c] = V{};
        continue;
      }
      for (int half = 0; half < 2; ++half)
        column_pair(rows[r], W, win.x0 + (2 * k + 2 * half) * win.step_x, win.step_x, &col[r][2 * half],
                    &col[r][2 * half + 1]);
    }
    V t[A][A];  // B^T down the rows: t[r][c]
    for (int c = 0; c < A; ++c) {
      V d[A], e[A];
      for (int r = 0; r < A; ++r) d[r] = col[r][c];
      transform(d, e);
      for (int r = 0; r < A; ++r) t[r][c] = e[r];
    }
    for (int r = 0; r < A; ++r) {
      V out[A];
      transform(t[r], out);
      T* const dst = v + r * A * xi_stride + k;
      if (k + L <= len) {
        for (int c = 0; c < A; ++c) *reinterpret_cast<VU*>(dst + c * xi_stride) = out[c];
      } else {
        const auto m = Partial<T>::mask(len - k);
        for (int c = 0; c < A; ++c) Partial<T>::store(dst + c * xi_stride, out[c], m);
      }
    }
  }
}

// Output channel `channel` for one segment: m[xi * m_stride + k] to the 2x2 outputs of each tile
// k < len, A^T on both sides (F(2x2, 3x3): [1 1 1 0; 0 1 -1 -1]; F(2x2, 2x2): [1 1 0; 0 1 1]),
// then bias, residual and activation (the GEMM epilogue's order) on each output row run, clipped
// to the output.
template <class T, int A>
__attribute__((flatten)) void transform_output(const ConvCpuPlan& plan, const T* m, int64_t m_stride, const Segment& s,
                                               int64_t channel, const T* bias, const T* residual, T* out) {
  const ConvParams& p = plan.p;
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  using I = decltype(V{} < V{});
  constexpr int64_t L = kLanes<T>, NR = kNR<T>;
  I lo{}, hi{};  // interleave a, b: a0 b0 a1 b1 ... (first and second halves)
  for (int64_t i = 0; i < L; ++i) {
    lo[i] = i / 2 + (i % 2) * L;
    hi[i] = L / 2 + i / 2 + (i % 2) * L;
  }
  // A^T on A values
  auto transform = [](const V* x, V* y) __attribute__((always_inline)) {
    if constexpr (A == 4) {
      y[0] = x[0] + x[1] + x[2];
      y[1] = x[1] - x[2] - x[3];
    } else {
      y[0] = x[0] + x[1];
      y[1] = x[1] + x[2];
    }
  };
  const int64_t OH = p.out[1], OW = p.out[2], len = s.len;
  alignas(64) T lines[2][2 * NR + 2 * L];
  for (int64_t k = 0; k < len; k += L) {
    V col[2][A];  // A^T down the columns: col[a][j] for output row a of the tile
    for (int j = 0; j < A; ++j) {
      V x[A], y[2];
      for (int r = 0; r < A; ++r) x[r] = *reinterpret_cast<const VU*>(m + (r * A + j) * m_stride + k);
      transform(x, y);
      col[0][j] = y[0];
      col[1][j] = y[1];
    }
    for (int a = 0; a < 2; ++a) {
      V y[2];
      transform(col[a], y);
      *reinterpret_cast<V*>(lines[a] + 2 * k) = __builtin_shuffle(y[0], y[1], lo);
      *reinterpret_cast<V*>(lines[a] + 2 * k + L) = __builtin_shuffle(y[0], y[1], hi);
    }
  }
  const T b = bias ? bias[channel] : T(0);
  const int64_t sh = plan.phase_h, sw = plan.phase_w;
  const int64_t ox0 = 2 * s.tx0 * sw + s.rx;  // line element j is output column ox0 + j * sw
  const int64_t count = min64(2 * len, OW > ox0 ? (OW - ox0 + sw - 1) / sw : 0);
  const int64_t plane = ((s.n * p.out_channels + channel) * p.out[0] + s.od) * OH * OW;
  for (int a = 0; a < 2; ++a) {
    const int64_t oy = (2 * s.ty + a) * sh + s.ry;
    if (oy >= OH) break;
    T* const line = lines[a];
    const int64_t at = plane + oy * OW + ox0;
    if (bias)
      for (int64_t j = 0; j < count; ++j) line[j] += b;
    if (residual)  // may alias out: read before the store below
      for (int64_t j = 0; j < count; ++j) line[j] += residual[at + j * sw];
    activate_row(line, count, p.activation, static_cast<T>(p.negative_slope));
    if (sw == 1) {
      copy_exact(out + at, line, count);
    } else {
      for (int64_t j = 0; j < count; ++j) out[at + j * sw] = line[j];
    }
  }
}

// Work item `item` of the items of each (group, weight phase): block item % blocks of the
// weight phase's tiles, with the thread's V and M. A 3-d convolution's V rows are (ci, kd): row kd
// of output depth od reads input depth od - pad + kd * dilation, whose rows are zero outside the
// input.
template <class T, int A>
void winograd_item(const ConvCpuPlan& plan, const ConvArrays<T>& a, int64_t item, int64_t blocks, T* v, T* m) {
  constexpr int NR = kNR<T>, P = A * A;
  const ConvParams& p = plan.p;
  const int64_t cin = p.in_channels / p.groups, cout = p.out_channels / p.groups, kd = p.transposed ? 1 : p.kernel[0];
  const int64_t K = cin * kd, D = p.in[0];
  const int64_t panels = plan.tile_panels, block_tiles = panels * NR;
  const int64_t per_phase = plan.tiles / plan.weight_phases;  // tiles of one weight phase
  const int64_t g = item / (plan.weight_phases * blocks), phase = item / blocks % plan.weight_phases;
  const int64_t t0 = phase * per_phase + item % blocks * block_tiles, end = (phase + 1) * per_phase;
  const int64_t used = min64(panels, (end - t0 + NR - 1) / NR);  // panels with tiles
  const int64_t v_xi = plan.v_xi_stride, m_xi = plan.m_xi_stride;
  const int64_t in_plane = p.in[1] * p.in[2];
  Segment segs[kMaxTilePanels][NR];
  int nsegs[kMaxTilePanels];
  for (int64_t q = 0; q < used; ++q) {
    nsegs[q] = segments_of<T>(plan, t0 + q * NR, end, segs[q]);
    const int64_t filled = min64(NR, end - t0 - q * NR);
    for (int64_t ci = 0; ci < cin; ++ci)
      for (int64_t z = 0; z < kd; ++z) {
        T* vrow = v + (q * K + ci * kd + z) * NR;
        for (int k = 0; k < nsegs[q]; ++k) {
          const Segment& s = segs[q][k];
          const int64_t id = s.od - p.pad[0] + z * p.dilation[0];
          if (id < 0 || id >= D) {
            for (int xi = 0; xi < P; ++xi) zero_exact(vrow + xi * v_xi + s.lane, s.len);
            continue;
          }
          const T* x_c = a.x + ((s.n * p.in_channels + g * cin + ci) * D + id) * in_plane;
          transform_input<T, A>(x_c, p, s, vrow + s.lane, v_xi);
        }
        if (filled < NR)
          for (int xi = 0; xi < P; ++xi) zero_exact(vrow + xi * v_xi + filled, NR - filled);
      }
  }
  const T* const weights =
      static_cast<const T*>(plan.weights_packed) + g * plan.weights_group_elems + phase * P * plan.weights_xi_elems;
  const int64_t kc = plan.gemm.kc, rows = padded_rows(cout);
  for (int xi = 0; xi < P; ++xi) {
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
        transform_output<T, A>(plan, m + co * block_tiles + q * NR + s.lane, m_xi, s, g * cout + co, a.bias,
                               a.residual, a.out);
      }
}

template <class T, int A>
void winograd_thread(const ConvCpuPlan& plan, const ConvArrays<T>& a, int64_t tid, int64_t nt) {
  const ConvParams& p = plan.p;
  if (!plan.weights_ready) transform_weights<T, A>(plan, a.w, nt > 1);
  const int64_t per_phase = plan.tiles / plan.weight_phases, block_tiles = plan.tile_panels * kNR<T>;
  const int64_t blocks = (per_phase + block_tiles - 1) / block_tiles;
  const int64_t items = p.groups * plan.weight_phases * blocks;
  T* const v = static_cast<T*>(plan.workspace) + tid * plan.per_thread_elems;
  T* const m = v + A * A * plan.v_xi_stride;
  if (nt > 1) {
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) winograd_item<T, A>(plan, a, item, blocks, v, m);
  } else {
    for (int64_t item = 0; item < items; ++item) winograd_item<T, A>(plan, a, item, blocks, v, m);
  }
}

template <class T, int A>
int run_winograd(const ConvCpuPlan& plan, std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias,
                 std::uintptr_t residual, std::uintptr_t out) {
  const ConvArrays<T> a{reinterpret_cast<const T*>(x), reinterpret_cast<const T*>(w),
                        reinterpret_cast<const T*>(bias), reinterpret_cast<const T*>(residual),
                        reinterpret_cast<T*>(out)};
#ifdef _OPENMP
  if (plan.threads > 1) {
#pragma omp parallel num_threads(plan.threads)
    winograd_thread<T, A>(plan, a, omp_get_thread_num(), omp_get_num_threads());
    return kConvOk;
  }
#endif
  winograd_thread<T, A>(plan, a, 0, 1);
  return kConvOk;
}

template <class T>
int run_winograd(const ConvCpuPlan& plan, std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias,
                 std::uintptr_t residual, std::uintptr_t out) {
  return plan.p.transposed ? run_winograd<T, 3>(plan, x, w, bias, residual, out)
                           : run_winograd<T, 4>(plan, x, w, bias, residual, out);
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
  switch (dtype) {  // forward weights only: transposed convolutions are not prepacked
    case DType::float32: transform_weights<float, 4>(plan, reinterpret_cast<const float*>(w), false); return kConvOk;
    case DType::float64: transform_weights<double, 4>(plan, reinterpret_cast<const double*>(w), false); return kConvOk;
    default: return kConvBadDtype;
  }
}

}  // namespace pdk::PDK_ISA_NAMESPACE
