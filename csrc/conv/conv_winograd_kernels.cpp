// Per-ISA Winograd convolutions as GEMMs over transformed tiles: F(2x2, 3x3) for stride-1 3x3 (or kD x 3x3) forward convolutions, F(2x2, 2x2) on the 4 input phases of stride-2 3x3 ones, F(1x2, 1xr) for 1x3, 1x5 and 1x7 ones (conv1d's), F(2x2, 2x2) for the phases of 4x4 stride-2 transposed ones.
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

// One dimension of a Winograd tile, F(m, r): m outputs of an r-tap kernel from alpha = m + r - 1
// window points. kernel: G (alpha x r) on the taps g[k * stride]; input: B^T (alpha x alpha) on a
// window; output: A^T (m x alpha) on the products. Each works on vectors (of kernels, of tiles).
// The 2-d tile is the product of a row and a column dimension.
struct Untransformed {  // F(1, 1): the rows of a 1 x r kernel
  static constexpr int alpha = 1, m = 1, r = 1;
  template <class V>
  __attribute__((always_inline)) static void kernel(const V* g, int64_t, V* u) { u[0] = g[0]; }
  template <class V>
  __attribute__((always_inline)) static void input(const V* d, V* v) { v[0] = d[0]; }
  template <class V>
  __attribute__((always_inline)) static void output(const V* x, V* y) { y[0] = x[0]; }
};

// F(2, 3), points 0, 1, -1, inf: G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0; 0 1 -1 -1].
struct F2x3 {
  static constexpr int alpha = 4, m = 2, r = 3;
  template <class V>
  __attribute__((always_inline)) static void kernel(const V* g, int64_t s, V* u) {
    using T = decltype(g[0][0] + 0);
    const V g0 = g[0], g1 = g[s], g2 = g[2 * s];
    u[0] = g0;
    u[1] = T(0.5) * (g0 + g1 + g2);
    u[2] = T(0.5) * (g0 - g1 + g2);
    u[3] = g2;
  }
  template <class V>
  __attribute__((always_inline)) static void input(const V* d, V* v) {
    v[0] = d[0] - d[2];
    v[1] = d[1] + d[2];
    v[2] = d[2] - d[1];
    v[3] = d[1] - d[3];
  }
  template <class V>
  __attribute__((always_inline)) static void output(const V* x, V* y) {
    y[0] = x[0] + x[1] + x[2];
    y[1] = x[1] - x[2] - x[3];
  }
};

// F(2, 2), points 0, -1, inf: G = [1 0; 1 1; 0 1], B^T = [1 -1 0; 0 1 0; 0 -1 1], A^T = [1 1 0; 0 1 1].
struct F2x2 {
  static constexpr int alpha = 3, m = 2, r = 2;
  template <class V>
  __attribute__((always_inline)) static void kernel(const V* g, int64_t s, V* u) {
    u[0] = g[0];
    u[1] = g[0] + g[s];
    u[2] = g[s];
  }
  template <class V>
  __attribute__((always_inline)) static void input(const V* d, V* v) {
    v[0] = d[0] - d[1];
    v[1] = d[1];
    v[2] = d[2] - d[1];
  }
  template <class V>
  __attribute__((always_inline)) static void output(const V* x, V* y) {
    y[0] = x[0] + x[1];
    y[1] = x[1] + x[2];
  }
};

// The rows of points p and -p from the even and odd parts of a polynomial's value: e + o, e - o.
template <class V>
__attribute__((always_inline)) inline void point_pair(V even, V odd, V* rows) {
  rows[0] = even + odd;
  rows[1] = even - odd;
}

// F(2, 5), points 0, +-1, +-2, inf (F(4, 3)'s, so B^T is the one of Lavin & Gray's F(4x4, 3x3)):
//   G = [1/4 0 0 0 0; -1/6 [1 1 1 1 1]; -1/6 [1 -1 1 -1 1]; 1/24 [1 2 4 8 16]; 1/24 [1 -2 4 -8 16];
//   0 0 0 0 1], A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 1].
struct F2x5 {
  static constexpr int alpha = 6, m = 2, r = 5;
  template <class V>
  __attribute__((always_inline)) static void kernel(const V* g, int64_t s, V* u) {
    using T = decltype(g[0][0] + 0);
    const V g0 = g[0], g1 = g[s], g2 = g[2 * s], g3 = g[3 * s], g4 = g[4 * s];
    u[0] = T(0.25) * g0;
    V even = g0 + g2 + g4, odd = g1 + g3;
    u[1] = (even + odd) * T(-1.0 / 6.0);
    u[2] = (even - odd) * T(-1.0 / 6.0);
    even = (g0 + T(4) * g2 + T(16) * g4) * T(1.0 / 24.0);
    odd = (T(2) * g1 + T(8) * g3) * T(1.0 / 24.0);
    point_pair(even, odd, u + 3);
    u[5] = g4;
  }
  template <class V>
  __attribute__((always_inline)) static void input(const V* d, V* v) {
    using T = decltype(d[0][0] + 0);
    v[0] = T(4) * d[0] - T(5) * d[2] + d[4];
    V even = d[4] - T(4) * d[2], odd = d[3] - T(4) * d[1];
    point_pair(even, odd, v + 1);
    even = d[4] - d[2];
    odd = T(2) * (d[3] - d[1]);
    point_pair(even, odd, v + 3);
    v[5] = T(4) * d[1] - T(5) * d[3] + d[5];
  }
  template <class V>
  __attribute__((always_inline)) static void output(const V* x, V* y) {
    using T = decltype(x[0][0] + 0);
    y[0] = x[0] + (x[1] + x[2]) + (x[3] + x[4]);
    y[1] = (x[1] - x[2]) + T(2) * (x[3] - x[4]) + x[5];
  }
};

// F(2, 7), points 0, +-1, +-2, +-1/2, inf (F(6, 3)'s, so B^T is the one of Lavin & Gray's F(6x6,
// 3x3)). Rows of G, B^T and A^T pair up as p and -p, so each pair is an even and an odd part:
//   G rows 1-6: -2/9 [1 1 1 1 1 1 1], 1/90 [1 2 4 8 16 32 64], 1/90 [64 32 16 8 4 2 1] (signs
//   alternating in the odd taps for -p); row 0 [1 0 ... 0], row 7 [0 ... 0 1];
//   A^T = [1 1 1 1 1 1 1 0; 0 1 -1 2 -2 1/2 -1/2 1].
// Its constants (up to 21/4, and 1/90 in G) are not exact in binary, unlike F(2, 3)'s halvings:
// in float32 at 256 channels the largest error was 5x the direct sum's (2.3e-4 against 4.3e-5 on
// outputs of standard deviation 14).
struct F2x7 {
  static constexpr int alpha = 8, m = 2, r = 7;
  template <class V>
  __attribute__((always_inline)) static void kernel(const V* g, int64_t s, V* u) {
    using T = decltype(g[0][0] + 0);
    const V g0 = g[0], g1 = g[s], g2 = g[2 * s], g3 = g[3 * s], g4 = g[4 * s], g5 = g[5 * s], g6 = g[6 * s];
    u[0] = g0;
    V even = g0 + g2 + g4 + g6, odd = g1 + g3 + g5;
    u[1] = (even + odd) * T(-2.0 / 9.0);
    u[2] = (even - odd) * T(-2.0 / 9.0);
    even = (g0 + T(4) * g2 + T(16) * g4 + T(64) * g6) * T(1.0 / 90.0);
    odd = (T(2) * g1 + T(8) * g3 + T(32) * g5) * T(1.0 / 90.0);
    point_pair(even, odd, u + 3);
    even = (T(64) * g0 + T(16) * g2 + T(4) * g4 + g6) * T(1.0 / 90.0);
    odd = (T(32) * g1 + T(8) * g3 + T(2) * g5) * T(1.0 / 90.0);
    point_pair(even, odd, u + 5);
    u[7] = g6;
  }
  template <class V>
  __attribute__((always_inline)) static void input(const V* d, V* v) {
    using T = decltype(d[0][0] + 0);
    const T c21_4 = T(5.25), c17_4 = T(4.25), c5_4 = T(1.25), c5_2 = T(2.5);
    v[0] = d[0] - d[6] + c21_4 * (d[4] - d[2]);
    V even = d[2] + d[6] - c17_4 * d[4], odd = d[1] + d[5] - c17_4 * d[3];
    point_pair(even, odd, v + 1);
    even = d[6] + T(0.25) * d[2] - c5_4 * d[4];
    odd = T(0.5) * d[1] - c5_2 * d[3] + T(2) * d[5];
    point_pair(even, odd, v + 3);
    even = d[6] + T(4) * d[2] - T(5) * d[4];
    odd = T(2) * d[1] - c5_2 * d[3] + T(0.5) * d[5];
    point_pair(even, odd, v + 5);
    v[7] = d[7] - d[1] + c21_4 * (d[3] - d[5]);
  }
  template <class V>
  __attribute__((always_inline)) static void output(const V* x, V* y) {
    using T = decltype(x[0][0] + 0);
    y[0] = x[0] + (x[1] + x[2]) + (x[3] + x[4]) + (x[5] + x[6]);
    y[1] = (x[1] - x[2]) + T(2) * (x[3] - x[4]) + T(0.5) * (x[5] - x[6]) + x[7];
  }
};

// What a tile's weights are: the kernel itself; the 2x2 output phases of a 4x4 stride-2
// transposed kernel (one set of weights per phase); the 2x2 input phases of a stride-2 3x3
// kernel (summed into one output: see Tiles::phase_slot).
enum class TileKind { plain, transposed_phases, stride2 };

// The tiles of each Winograd shape (WinogradTile): a row and a column dimension, and their kind.
// Columns are always F(2, r): the input transform gathers window columns in even/odd pairs and
// the output transform interleaves the two outputs.
template <class RowDim, class ColDim, TileKind kKind, WinogradTile kTile>
struct Tiles {
  using Rows = RowDim;
  using Cols = ColDim;
  static constexpr bool transposed = kKind == TileKind::transposed_phases;
  static constexpr int positions = Rows::alpha * Cols::alpha;
  static_assert(Cols::m == 2, "column pairs and the output interleave assume 2 outputs per tile column");
  // Input phases whose products one position's GEMM sums. A stride-2 3x3 kernel splits into the
  // 2x2 sub-kernels of its (even, odd) tap rows x columns, phase py * 2 + px holding taps (2 t +
  // py, 2 u + px) and reading inputs 2 o - pad + py + 2 t, each run as F(2x2, 2x2) on a window
  // of every other input row and column. An odd sub-kernel has one tap along its dim ([w1, 0]),
  // whose third transformed position is zero, so position (a, b) sums (a < 2 ? 2 : 1) x (b < 2 ?
  // 2 : 1) phases: 25 products per 2x2 outputs against the direct sum's 36.
  static constexpr int input_phases = kKind == TileKind::stride2 ? 4 : 1;
  // Taps of one weight kernel as stored (stride 2: the whole 3x3 kernel; transposed: per phase).
  static constexpr int taps = input_phases > 1 ? 9 : Rows::r * Cols::r;
  // The K rows of position xi's GEMM are input_phases_at(xi) units of the K1 rows of one phase;
  // phase_slot: which unit phase `phase` fills (-1: none). Weights and V are stored in such units:
  // position xi's matrix starts units_before(xi) units in. Tables, so that the loops that place
  // rows read them rather than recount.
  struct Layout {
    int slot[input_phases][positions];
    int phases_at[positions];
    int units_before[positions + 1];
  };
  static constexpr Layout make_layout() {
    Layout l{};
    for (int xi = 0; xi < positions; ++xi) {
      const int a = xi / Cols::alpha, b = xi % Cols::alpha;
      l.phases_at[xi] = 0;
      for (int f = 0; f < input_phases; ++f) {
        const int py = f / 2, px = f % 2;
        const bool none = input_phases > 1 && ((py && a == 2) || (px && b == 2));
        l.slot[f][xi] = none ? -1 : input_phases == 1 ? 0 : (py ? (b < 2 ? 2 : 1) : 0) + px;
        l.phases_at[xi] += !none;
      }
      l.units_before[xi + 1] = l.units_before[xi] + l.phases_at[xi];
    }
    return l;
  }
  static constexpr Layout layout = make_layout();
  static constexpr int phase_slot(int xi, int phase) { return layout.slot[phase][xi]; }
  static constexpr int input_phases_at(int xi) { return layout.phases_at[xi]; }
  static constexpr int units_before(int xi) { return layout.units_before[xi]; }
  static constexpr int units = layout.units_before[positions];  // products per tile and channel
  // the sizes conv_cpu.cpp planned the buffers by
  static constexpr WinogradShape shape = winograd_shape(kTile);
  static_assert(shape.positions == positions && shape.input_phases == input_phases && shape.products == units &&
                    shape.tile_rows == Rows::m && shape.taps == taps,
                "winograd_shape() and the tile disagree");
};
using TilesF2x2_3x3 = Tiles<F2x3, F2x3, TileKind::plain, WinogradTile::f2x2_3x3>;
using TilesF2x2_3x3_s2 = Tiles<F2x2, F2x2, TileKind::stride2, WinogradTile::f2x2_3x3_s2>;
using TilesF2x2_2x2 = Tiles<F2x2, F2x2, TileKind::transposed_phases, WinogradTile::f2x2_2x2_phases>;
using TilesF1x2_1x3 = Tiles<Untransformed, F2x3, TileKind::plain, WinogradTile::f1x2_1x3>;
using TilesF1x2_1x5 = Tiles<Untransformed, F2x5, TileKind::plain, WinogradTile::f1x2_1x5>;
using TilesF1x2_1x7 = Tiles<Untransformed, F2x7, TileKind::plain, WinogradTile::f1x2_1x7>;

// u = G g G^T for a vector of Rows::r x Cols::r kernels g (row-major: g[tap] holds that tap of
// every kernel).
template <class Tile, class V>
__attribute__((always_inline)) inline void transform_kernel(const V* g, V (&u)[Tile::positions]) {
  using Rows = typename Tile::Rows;
  using Cols = typename Tile::Cols;
  V t[Rows::alpha][Cols::r];
  for (int c = 0; c < Cols::r; ++c) {
    V column[Rows::alpha];
    Rows::kernel(g + c, Cols::r, column);
    for (int a = 0; a < Rows::alpha; ++a) t[a][c] = column[a];
  }
  for (int a = 0; a < Rows::alpha; ++a) Cols::kernel(t[a], 1, u + a * Cols::alpha);
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

// Where the taps of one K row's kernels are, for consecutive output channels: channel co + i's
// kernel starts at first + i * row_stride and holds tap t at offset pick[t] of its kSpan
// contiguous elements. Forward, K row k = (ci, kd) of the kernels, all taps (stride 2: the whole
// 3x3 kernel, which stride2_phase_taps splits); transposed, input channel k of output phase
// (phase / 2, phase % 2), whose 2x2 sub-kernel is 4 of the 16 taps.
template <class T, class Tile>
struct TapRows {
  static constexpr int kSpan = Tile::transposed ? 16 : Tile::taps;
  const T* first;
  int64_t row_stride;
  int pick[Tile::taps];
};
template <class T, class Tile>
TapRows<T, Tile> tap_rows(const ConvParams& p, const T* w, int64_t g, int64_t phase, int64_t co, int64_t k) {
  TapRows<T, Tile> r;
  const int64_t cout = p.out_channels / p.groups;
  if constexpr (Tile::transposed) {
    const TransposedPhase y = transposed_phase(phase / 2, p.pad[1]), x = transposed_phase(phase % 2, p.pad[2]);
    r.first = w + ((g * (p.in_channels / p.groups) + k) * cout + co) * 16;  // [C_in, C_out / groups, 4, 4]
    r.row_stride = 16;
    const int y0 = static_cast<int>(y.first), x0 = static_cast<int>(x.first);
    const int picks[4] = {(y0 + 2) * 4 + x0 + 2, (y0 + 2) * 4 + x0, y0 * 4 + x0 + 2, y0 * 4 + x0};
    for (int t = 0; t < 4; ++t) r.pick[t] = picks[t];
  } else {
    const int64_t K = p.in_channels / p.groups * p.kernel[0];
    r.first = w + ((g * cout + co) * K + k) * Tile::taps;
    r.row_stride = K * Tile::taps;
    for (int t = 0; t < Tile::taps; ++t) r.pick[t] = t;
  }
  return r;
}

// taps[t], lane i = tap t of channel i's kernel for the `real` channels of `rows` (other lanes
// zero): each kernel's span is loaded as (masked) vectors and L x L blocks of them are transposed
// in registers. Gathered element by element into a staging array instead, each vector reload of
// it waited for all earlier stores, among them the previous row's transformed weights, whose lines
// were still being fetched: the single-thread transform of 3x3 weights took 1.2-1.27x as long.
template <class T, class Tile>
__attribute__((always_inline)) inline void gather_taps(const TapRows<T, Tile>& rows, int64_t real,
                                                       typename Vec<T>::type (&taps)[Tile::taps]) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  constexpr int L = static_cast<int>(kLanes<T>), S = TapRows<T, Tile>::kSpan;
  if constexpr (Tile::transposed)  // picks known at run time only
    for (V& tap : taps) tap = V{};
#pragma GCC unroll 4
  for (int c0 = 0; c0 < S; c0 += L) {
    const int n = S - c0 < L ? S - c0 : L;
    V block[L];
#pragma GCC unroll 16
    for (int i = 0; i < L; ++i) {
      const T* src = rows.first + i * rows.row_stride + c0;
      if (i >= real) block[i] = V{};
      else if (n == L) block[i] = V(*reinterpret_cast<const VU*>(src));
      else block[i] = Partial<T>::load(src, Partial<T>::mask(n));
    }
    transpose_block<T>(block);
#pragma GCC unroll 16
    for (int t = 0; t < Tile::taps; ++t)
      if (rows.pick[t] >= c0 && rows.pick[t] < c0 + n) taps[t] = block[rows.pick[t] - c0];
  }
}

// The 2x2 sub-kernel of input phase f = (py, px) of 3x3 kernels: taps (2 t + py, 2 u + px), zero
// past the kernel.
template <class V>
__attribute__((always_inline)) inline void stride2_phase_taps(const V (&kernel)[9], int f, V (&taps)[4]) {
  const int py = f / 2, px = f % 2;
  for (int t = 0; t < 2; ++t)
    for (int u = 0; u < 2; ++u) {
      const int ky = 2 * t + py, kx = 2 * u + px;
      taps[t * 2 + u] = ky < 3 && kx < 3 ? kernel[ky * 3 + kx] : V{};
    }
}

// Every group's transformed weight matrices (cout_g x K_xi, one per weight phase and position)
// into `packed` (plan.weights_packed, or a thread's own copy: plan.weights_copy_elems), each in
// the PackedA layout (K blocks of plan.gemm.kc, MR-row panels, rows past cout_g zero): matrix
// (phase, xi) of group g at g * weights_group_elems + (phase *
// Tile::units + units_before(xi)) * weights_xi_elems. K_xi is input_phases_at(xi) blocks of the K1
// rows (ci, kd) of one input phase. A task is one MR-row panel of one phase of a group: its matrices' panels
// are then each written front to back (writing row by row instead, 14 elements apart in 16
// streams, made a 512x512 transform take longer than the convolution).
template <class T, class Tile>
__attribute__((flatten)) void transform_weights(const ConvCpuPlan& plan, const T* w, T* packed, bool team) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  constexpr int P = Tile::positions, F = Tile::input_phases;
  constexpr int taps = Tile::taps;
  constexpr int64_t L = kLanes<T>;
  const ConvParams& p = plan.p;
  const int64_t K1 = plan.gemm.p.K / F, cout = p.out_channels / p.groups, phases = plan.weight_phases;
  const int64_t rows = padded_rows(cout), panels = rows / kMR, tasks = p.groups * phases * panels, kc = plan.gemm.kc;
  auto panel = [&](int64_t task) {
    const int64_t g = task / (phases * panels), phase = task / panels % phases, r0 = task % panels * kMR;
    T* const group = packed + g * plan.weights_group_elems + phase * Tile::units * plan.weights_xi_elems;
    // PackedA::block(r0, pc, kb), row k - pc, of each (input phase, position), null: none. Row k =
    // slot * K1 + k1 moves on by one per k1, so the K block is followed rather than found by a
    // 64-bit division per position and row (25 per row for stride 2).
    struct Cursor {
      T* dst;
      int64_t k, pc, kb, K;
    } at[F][P];
    auto seek = [&](Cursor& c, int xi) {
      c.pc = c.k / kc * kc;
      c.kb = min64(kc, c.K - c.pc);
      c.dst = group + Tile::units_before(xi) * plan.weights_xi_elems + c.pc * rows + r0 * c.kb + (c.k - c.pc) * kMR;
    };
    for (int f = 0; f < F; ++f)
      for (int xi = 0; xi < P; ++xi) {
        const int slot = Tile::phase_slot(xi, f);
        Cursor& c = at[f][xi];
        c.dst = nullptr;
        if (slot < 0) continue;
        c.k = slot * K1;
        c.K = Tile::input_phases_at(xi) * K1;
        seek(c, xi);
      }
    // Runs of K rows in which no matrix reaches the end of its K block: within one, every
    // matrix's row k1 is k1 - begin rows past its cursor, so the cursors are only read (kept in
    // memory and stored at every row, their updates queued behind the rows' own stores and held
    // the transform to the rate of the store queue).
    for (int64_t begin = 0; begin < K1;) {
      int64_t end = K1;
      for (int f = 0; f < F; ++f)
        for (int xi = 0; xi < P; ++xi)
          if (const Cursor& c = at[f][xi]; c.dst) end = min64(end, begin + c.kb - (c.k - c.pc));
      for (int64_t k1 = begin; k1 < end; ++k1) {
        const int64_t row = (k1 - begin) * kMR;
        for (int64_t i0 = 0; i0 < kMR; i0 += L) {
          const int64_t lanes = min64(L, kMR - i0), real = min64(lanes, cout - r0 - i0);
          V g_taps[taps];
          gather_taps<T, Tile>(tap_rows<T, Tile>(p, w, g, phase, r0 + i0, k1), real, g_taps);
          for (int f = 0; f < F; ++f) {
            V u[P];
            if constexpr (F > 1) {
              V sub[4];
              stride2_phase_taps(g_taps, f, sub);
              transform_kernel<Tile>(sub, u);
            } else {
              transform_kernel<Tile>(g_taps, u);
            }
            for (int xi = 0; xi < P; ++xi) {
              T* const cursor = at[f][xi].dst;
              if (!cursor) continue;
              T* const dst = cursor + row + i0;
              if (lanes == L) *reinterpret_cast<VU*>(dst) = u[xi];
              else Partial<T>::store(dst, u[xi], Partial<T>::mask(lanes));
            }
          }
        }
      }
      for (int f = 0; f < F; ++f)
        for (int xi = 0; xi < P; ++xi) {
          Cursor& c = at[f][xi];
          if (!c.dst) continue;
          c.k += end - begin;
          if (c.k - c.pc < c.kb) c.dst += (end - begin) * kMR;
          else if (end < K1) seek(c, xi);
        }
      begin = end;
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
// convolution and for a transposed one, else 1 (plan.phase_h, phase_w). Tile (ty, tx) of a phase
// covers its outputs oy' = m ty + (0 ... m - 1), ox' = 2 tx + (0, 1) (m: Rows::m, 2 or 1).
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

template <class Tile>
Window window_of(const ConvCpuPlan& plan, const Segment& s) {
  const ConvParams& p = plan.p;
  constexpr int64_t mh = Tile::Rows::m;
  if constexpr (Tile::transposed) {
    const TransposedPhase y = transposed_phase(s.ry, p.pad[1]), x = transposed_phase(s.rx, p.pad[2]);
    return Window{mh * s.ty + y.shift, 1, 2 * s.tx0 + x.shift, 1};
  }
  // the phases are the dilations (1 along H for a kernel one row high, whatever its dilation)
  const int64_t dh = plan.phase_h, dw = plan.phase_w;
  const PhaseSource sy = phase_source(s.ry, p.pad[1], dh), sx = phase_source(s.rx, p.pad[2], dw);
  return Window{(mh * s.ty + sy.shift) * dh + sy.phase, dh, (2 * s.tx0 + sx.shift) * dw + sx.phase, dw};
}

// V's rows of one input channel (plane x_c, H x W) for one segment: v[at[xi] + k] for its tiles k
// < len, from the Rows::alpha x Cols::alpha windows `win` places. For L tiles at a time, each
// row's window columns come in (even, odd) pairs from column_pair; B^T is then applied down the
// rows and along them, all in registers.
template <class T, class Tile>
__attribute__((flatten)) void transform_input(const T* x_c, const ConvCpuPlan& plan, const Segment& s, T* v,
                                              const int64_t* at) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  using Rows = typename Tile::Rows;
  using Cols = typename Tile::Cols;
  constexpr int AH = Rows::alpha, AW = Cols::alpha, kPairs = (AW + 1) / 2;
  constexpr int64_t L = kLanes<T>;
  const int64_t H = plan.p.in[1], W = plan.p.in[2], len = s.len;
  const Window win = window_of<Tile>(plan, s);
  const T* rows[AH];
  for (int r = 0; r < AH; ++r) {
    const int64_t iy = win.y0 + r * win.step_y;
    rows[r] = iy >= 0 && iy < H ? x_c + iy * W : nullptr;
  }
  for (int64_t k = 0; k < len; k += L) {
    V col[AH][2 * kPairs];  // col[r][c]: row r of the window, column c of each of the L tiles (c < AW used)
    for (int r = 0; r < AH; ++r) {
      if (!rows[r]) {
        for (int c = 0; c < 2 * kPairs; ++c) col[r][c] = V{};
        continue;
      }
      for (int pair = 0; pair < kPairs; ++pair)
        column_pair(rows[r], W, win.x0 + (2 * k + 2 * pair) * win.step_x, win.step_x, &col[r][2 * pair],
                    &col[r][2 * pair + 1]);
    }
    V t[AH][AW];  // B^T down the rows: t[r][c]
    for (int c = 0; c < AW; ++c) {
      V d[AH], e[AH];
      for (int r = 0; r < AH; ++r) d[r] = col[r][c];
      Rows::input(d, e);
      for (int r = 0; r < AH; ++r) t[r][c] = e[r];
    }
    for (int r = 0; r < AH; ++r) {
      V out[AW];
      Cols::input(t[r], out);
      for (int c = 0; c < AW; ++c) {
        T* const dst = v + at[r * AW + c] + k;
        if (k + L <= len) *reinterpret_cast<VU*>(dst) = out[c];
        else Partial<T>::store(dst, out[c], Partial<T>::mask(len - k));
      }
    }
  }
}

// The same for the four input phases of a stride-2 3x3 kernel (TilesF2x2_3x3_s2): tile k reads
// input rows 4 ty - pad + (0 ... 4) and columns 4 (tx0 + k) - pad + (0 ... 4), phase (py, px) the
// window rows py + (0, 2, 4) and columns px + (0, 2, 4) of those, F(2x2, 2x2) on each; an odd
// phase's third window row or column feeds no position (phase_slot), so it is not read. Each
// input row is loaded once for every phase: L tiles of 4 columns are 4 vectors, whose stride-4
// lanes (window columns 0 ... 3, and 4 one tile on) two rounds of even/odd shuffles separate; up
// to L / 2 tiles (a 14x14 output's tile rows of 7) take 2 vectors and half the shuffles.
// at[f][xi]: where phase f's row of position xi goes (-1: none).
template <class T>
__attribute__((flatten)) void transform_input_stride2(const T* x_c, const ConvCpuPlan& plan, const Segment& s, T* v,
                                                      const int64_t (*at)[9]) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  using I = decltype(V{} < V{});
  constexpr int64_t L = kLanes<T>;
  const ConvParams& p = plan.p;
  const int64_t H = p.in[1], W = p.in[2], len = s.len;
  const int64_t y0 = 4 * s.ty - p.pad[1], x0 = 4 * s.tx0 - p.pad[2];
  I even_lanes{}, odd_lanes{}, next_lane{}, next_lane_half{};
  for (int64_t i = 0; i < L; ++i) {
    even_lanes[i] = 2 * i;
    odd_lanes[i] = 2 * i + 1;
    next_lane[i] = i + 1;
    next_lane_half[i] = i + 1 < L / 2 ? i + 1 : L;
  }
  // B along one input row: t[0 ... 2] from window columns (0, 2, 4) (even phase), t[3], t[4] from
  // (1, 3); half: the first L / 2 tiles only (the other lanes are left undefined)
  auto row_columns = [&](int64_t r, int64_t start, bool half, V* t) __attribute__((always_inline)) {
    const int64_t iy = y0 + r;
    if (iy < 0 || iy >= H) {
      for (int c = 0; c < 5; ++c) t[c] = V{};
      return;
    }
    const T* row = x_c + iy * W;
    // the even and odd lanes of the row's first 2 L (half) or 4 L columns, and the column past them
    V e_lo, e_hi, o_lo, o_hi, tail;
    const V a0 = window(row, W, start), a1 = window(row, W, start + L), a2 = window(row, W, start + 2 * L);
    e_lo = __builtin_shuffle(a0, a1, even_lanes);
    o_lo = __builtin_shuffle(a0, a1, odd_lanes);
    if (half) {
      e_hi = e_lo;
      o_hi = o_lo;
      tail = a2;
    } else {
      const V a3 = window(row, W, start + 3 * L);
      e_hi = __builtin_shuffle(a2, a3, even_lanes);
      o_hi = __builtin_shuffle(a2, a3, odd_lanes);
      tail = window(row, W, start + 4 * L);
    }
    const V c0 = __builtin_shuffle(e_lo, e_hi, even_lanes), c2 = __builtin_shuffle(e_lo, e_hi, odd_lanes);
    const V c1 = __builtin_shuffle(o_lo, o_hi, even_lanes), c3 = __builtin_shuffle(o_lo, o_hi, odd_lanes);
    const V c4 = __builtin_shuffle(c0, tail, half ? next_lane_half : next_lane);
    t[0] = c0 - c2;
    t[1] = c2;
    t[2] = c4 - c2;
    t[3] = c1 - c3;
    t[4] = c3;
  };
  auto store = [&](const int64_t* to, int xi, int64_t k, V value) __attribute__((always_inline)) {
    T* const dst = v + to[xi] + k;
    if (k + L <= len) *reinterpret_cast<VU*>(dst) = value;
    else Partial<T>::store(dst, value, Partial<T>::mask(len - k));
  };
  for (int64_t k = 0; k < len; k += L) {
    const int64_t start = x0 + 4 * k;
    const bool half = len - k <= L / 2;
    V t0[5], t1[5], t2[5];
    row_columns(0, start, half, t0);  // even rows: phases (0, px), B down the rows
    row_columns(2, start, half, t1);
    row_columns(4, start, half, t2);
    for (int c = 0; c < 5; ++c) {
      const int px = c >= 3, b = px ? c - 3 : c;
      const int64_t* const to = at[px];
      store(to, b, k, t0[c] - t1[c]);
      store(to, 3 + b, k, t1[c]);
      store(to, 6 + b, k, t2[c] - t1[c]);
    }
    row_columns(1, start, half, t0);  // odd rows: phases (1, px), window rows 0 and 1 only
    row_columns(3, start, half, t1);
    for (int c = 0; c < 5; ++c) {
      const int px = c >= 3, b = px ? c - 3 : c;
      const int64_t* const to = at[2 + px];
      store(to, b, k, t0[c] - t1[c]);
      store(to, 3 + b, k, t1[c]);
    }
  }
}

// Output channel `channel` for one panel: m[xi * m_stride + lane] (the panel's `filled` tiles) to
// the Rows::m x 2 outputs of each tile, A^T down the columns and along the rows for the whole
// panel at once (a 14x14 output has tile rows of 7: per segment, most of each vector was idle),
// then bias, residual and activation (the GEMM epilogue's order) on each segment's output row
// run, clipped to the output.
template <class T, class Tile>
__attribute__((flatten)) void transform_output(const ConvCpuPlan& plan, const T* m, int64_t m_stride,
                                               const Segment* segs, int nsegs, int64_t filled, int64_t channel,
                                               const T* bias, const T* residual, T* out) {
  const ConvParams& p = plan.p;
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  using I = decltype(V{} < V{});
  using P = Partial<T>;
  constexpr int64_t L = kLanes<T>, NR = kNR<T>;
  I lo{}, hi{};  // interleave a, b: a0 b0 a1 b1 ... (first and second halves)
  for (int64_t i = 0; i < L; ++i) {
    lo[i] = i / 2 + (i % 2) * L;
    hi[i] = L / 2 + i / 2 + (i % 2) * L;
  }
  using Rows = typename Tile::Rows;
  using Cols = typename Tile::Cols;
  constexpr int AH = Rows::alpha, AW = Cols::alpha, MH = Rows::m;
  const int64_t OH = p.out[1], OW = p.out[2];
  alignas(64) T lines[MH][2 * NR];  // line a, element 2 k + c: output (a, c) of tile k
  for (int64_t k = 0; k < filled; k += L) {
    V col[MH][AW];  // A^T down the columns: col[a][j] for output row a of the tile
    for (int j = 0; j < AW; ++j) {
      V x[AH], y[MH];
      for (int r = 0; r < AH; ++r) x[r] = *reinterpret_cast<const VU*>(m + (r * AW + j) * m_stride + k);
      Rows::output(x, y);
      for (int a = 0; a < MH; ++a) col[a][j] = y[a];
    }
    for (int a = 0; a < MH; ++a) {
      V y[2];
      Cols::output(col[a], y);
      *reinterpret_cast<V*>(lines[a] + 2 * k) = __builtin_shuffle(y[0], y[1], lo);
      *reinterpret_cast<V*>(lines[a] + 2 * k + L) = __builtin_shuffle(y[0], y[1], hi);
    }
  }
  const T b = bias ? bias[channel] : T(0);
  const int64_t sh = plan.phase_h, sw = plan.phase_w;
  const T slope_value = static_cast<T>(p.negative_slope);
  const V slope = V{} + slope_value;
  // vector epilogue for outputs side by side and the activations activate_vector covers
  const bool vector_epilogue = sw == 1 && vector_activation(p.activation);
  for (int k = 0; k < nsegs; ++k) {
    const Segment& s = segs[k];
    const int64_t ox0 = 2 * s.tx0 * sw + s.rx;  // line element j is output column ox0 + j * sw
    const int64_t count = min64(2 * s.len, OW > ox0 ? (OW - ox0 + sw - 1) / sw : 0);
    const int64_t plane = ((s.n * p.out_channels + channel) * p.out[0] + s.od) * OH * OW;
    for (int a = 0; a < MH; ++a) {
      const int64_t oy = (MH * s.ty + a) * sh + s.ry;
      if (oy >= OH) break;
      T* const line = lines[a] + 2 * s.lane;
      const int64_t at = plane + oy * OW + ox0;
      if (vector_epilogue) {
        for (int64_t j = 0; j < count; j += L) {
          const auto mask = P::mask(min64(L, count - j));
          V x = P::load(line + j, mask);
          if (bias) x += b;
          if (residual) x += P::load(residual + at + j, mask);  // may alias out: read before the store
          P::store(out + at + j, activate_vector(x, p.activation, slope), mask);
        }
        continue;
      }
      if (bias)
        for (int64_t j = 0; j < count; ++j) line[j] += b;
      if (residual)  // may alias out: read before the store below
        for (int64_t j = 0; j < count; ++j) line[j] += residual[at + j * sw];
      activate_row(line, count, p.activation, slope_value);
      if (sw == 1) {
        copy_exact(out + at, line, count);
      } else {
        for (int64_t j = 0; j < count; ++j) out[at + j * sw] = line[j];
      }
    }
  }
}

// Work item `item` of the items of each (group, weight phase): block item % blocks of the
// weight phase's tiles, with the thread's V and M. A 3-d convolution's V rows are (ci, kd): row kd
// of output depth od reads input depth od - pad + kd * dilation, whose rows are zero outside the
// input. Position xi's V panel q holds K_xi = input_phases_at(xi) * K1 rows, (slot, ci, kd).
template <class T, class Tile>
void winograd_item(const ConvCpuPlan& plan, const ConvArrays<T>& a, const T* transformed, int64_t item,
                   int64_t blocks, T* v, T* m) {
  constexpr int NR = kNR<T>, P = Tile::positions, F = Tile::input_phases;
  const ConvParams& p = plan.p;
  const int64_t cin = p.in_channels / p.groups, cout = p.out_channels / p.groups, kd = p.transposed ? 1 : p.kernel[0];
  const int64_t K1 = cin * kd, D = p.in[0];
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
    int64_t first[F][P];  // row (q, f, 0, 0) of each position's V; -1: no products of phase f there
    for (int f = 0; f < F; ++f)
      for (int xi = 0; xi < P; ++xi) {
        const int slot = Tile::phase_slot(xi, f);
        first[f][xi] =
            slot < 0 ? -1 : Tile::units_before(xi) * v_xi + (q * Tile::input_phases_at(xi) + slot) * K1 * NR;
      }
    for (int64_t ci = 0; ci < cin; ++ci)
      for (int64_t z = 0; z < kd; ++z) {
        int64_t at[F][P];  // row (q, f, ci, z)
        for (int f = 0; f < F; ++f)
          for (int xi = 0; xi < P; ++xi) at[f][xi] = first[f][xi] < 0 ? -1 : first[f][xi] + (ci * kd + z) * NR;
        auto zero_lanes = [&](int64_t lane, int64_t count) {
          for (int f = 0; f < F; ++f)
            for (int xi = 0; xi < P; ++xi)
              if (at[f][xi] >= 0) zero_exact(v + at[f][xi] + lane, count);
        };
        for (int k = 0; k < nsegs[q]; ++k) {
          const Segment& s = segs[q][k];
          const int64_t id = s.od - p.pad[0] + z * p.dilation[0];
          if (id < 0 || id >= D) {
            zero_lanes(s.lane, s.len);
            continue;
          }
          const T* x_c = a.x + ((s.n * p.in_channels + g * cin + ci) * D + id) * in_plane;
          if constexpr (F > 1) transform_input_stride2<T>(x_c, plan, s, v + s.lane, at);
          else transform_input<T, Tile>(x_c, plan, s, v + s.lane, at[0]);
        }
        if (filled < NR) zero_lanes(filled, NR - filled);
      }
  }
  const T* const weights = transformed + g * plan.weights_group_elems + phase * Tile::units * plan.weights_xi_elems;
  const int64_t kc = plan.gemm.kc, rows = padded_rows(cout);
  for (int xi = 0; xi < P; ++xi) {
    const PackedA<T> u{weights + Tile::units_before(xi) * plan.weights_xi_elems, rows};
    const int64_t K = Tile::input_phases_at(xi) * K1;
    for (int64_t pc = 0; pc < K; pc += kc) {
      const int64_t kb = min64(kc, K - pc);
      for (int64_t q = 0; q < used; ++q) {
        const PackedRows<T> vpanel{v + Tile::units_before(xi) * v_xi + (q * K + pc) * NR};
        for (int64_t ir = 0; ir < cout; ir += kMR)
          multiply_tile(kb, u.block(ir, pc, kb), vpanel, m + xi * m_xi + ir * block_tiles + q * NR, block_tiles,
                        min64(kMR, cout - ir), static_cast<int64_t>(NR), pc > 0);
      }
    }
  }
  for (int64_t q = 0; q < used; ++q) {
    const int64_t filled = min64(NR, end - t0 - q * NR);
    for (int64_t co = 0; co < cout; ++co)
      transform_output<T, Tile>(plan, m + co * block_tiles + q * NR, m_xi, segs[q], nsegs[q], filled, g * cout + co,
                                a.bias, a.residual, a.out);
  }
}

template <class T, class Tile>
void winograd_thread(const ConvCpuPlan& plan, const ConvArrays<T>& a, ItemRanges* ranges, int64_t tid, int64_t nt) {
  const ConvParams& p = plan.p;
  // The thread's own copy of the transformed weights, or the one the team shares (conv_cpu.cpp).
  T* const transformed = static_cast<T*>(plan.weights_packed) + tid * plan.weights_copy_elems;
  if (!plan.weights_ready) transform_weights<T, Tile>(plan, a.w, transformed, nt > 1 && plan.weights_copy_elems == 0);
  const int64_t per_phase = plan.tiles / plan.weight_phases, block_tiles = plan.tile_panels * kNR<T>;
  const int64_t blocks = (per_phase + block_tiles - 1) / block_tiles;
  const int64_t items = p.groups * plan.weight_phases * blocks;
  T* const v = static_cast<T*>(plan.workspace) + tid * plan.per_thread_elems;
  T* const m = v + Tile::units * plan.v_xi_stride;
  if (nt > 1 && nt <= kMaxRangeThreads && items < kMaxRangeItems) {
    // Each thread keeps its own items from call to call (core/isa_work_ranges.h): the output
    // lines an item writes stay in that thread's caches. Against OpenMP's dynamic schedule,
    // alternating in one process (ms, medians), cores sharing an L3 / not: 3x3 s2 128->128 28x28
    // b8 2.07 -> 2.05 / 2.40-2.73 -> 2.10-2.27; 3x3 64->64 56x56 b1 0.73 -> 0.69 / 0.98 -> 0.74;
    // b8 5.47 -> 5.38 / 6.8-7.5 -> 5.4-6.3; 256->256 14x14 b1 unchanged (1.02 / 1.14).
    claim_items(ranges->at, 0, items, tid, nt, true, [&](int64_t item) {
      winograd_item<T, Tile>(plan, a, transformed, item, blocks, v, m);
    });
  } else if (nt > 1) {
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) winograd_item<T, Tile>(plan, a, transformed, item, blocks, v, m);
  } else {
    for (int64_t item = 0; item < items; ++item) winograd_item<T, Tile>(plan, a, transformed, item, blocks, v, m);
  }
}

template <class T, class Tile>
int run_winograd(const ConvCpuPlan& plan, std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias,
                 std::uintptr_t residual, std::uintptr_t out) {
  const ConvArrays<T> a{reinterpret_cast<const T*>(x), reinterpret_cast<const T*>(w),
                        reinterpret_cast<const T*>(bias), reinterpret_cast<const T*>(residual),
                        reinterpret_cast<T*>(out)};
#ifdef _OPENMP
  if (plan.threads > 1) {
    ItemRanges ranges;
#pragma omp parallel num_threads(plan.threads)
    winograd_thread<T, Tile>(plan, a, &ranges, omp_get_thread_num(), omp_get_num_threads());
    return kConvOk;
  }
#endif
  winograd_thread<T, Tile>(plan, a, nullptr, 0, 1);
  return kConvOk;
}

template <class T>
int run_winograd(const ConvCpuPlan& plan, std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias,
                 std::uintptr_t residual, std::uintptr_t out) {
  switch (plan.tile) {
    case WinogradTile::f2x2_3x3: return run_winograd<T, TilesF2x2_3x3>(plan, x, w, bias, residual, out);
    case WinogradTile::f2x2_3x3_s2: return run_winograd<T, TilesF2x2_3x3_s2>(plan, x, w, bias, residual, out);
    case WinogradTile::f2x2_2x2_phases: return run_winograd<T, TilesF2x2_2x2>(plan, x, w, bias, residual, out);
    case WinogradTile::f1x2_1x3: return run_winograd<T, TilesF1x2_1x3>(plan, x, w, bias, residual, out);
    case WinogradTile::f1x2_1x5: return run_winograd<T, TilesF1x2_1x5>(plan, x, w, bias, residual, out);
    case WinogradTile::f1x2_1x7: return run_winograd<T, TilesF1x2_1x7>(plan, x, w, bias, residual, out);
  }
  return kConvBadTile;
}

// The forward weights' transform (transposed convolutions are not prepacked).
template <class T>
int transform_forward_weights(const ConvCpuPlan& plan, std::uintptr_t w) {
  const T* const weights = reinterpret_cast<const T*>(w);
  T* const packed = static_cast<T*>(plan.weights_packed);
  switch (plan.tile) {
    case WinogradTile::f2x2_3x3: transform_weights<T, TilesF2x2_3x3>(plan, weights, packed, false); return kConvOk;
    case WinogradTile::f2x2_3x3_s2:
      transform_weights<T, TilesF2x2_3x3_s2>(plan, weights, packed, false);
      return kConvOk;
    case WinogradTile::f1x2_1x3: transform_weights<T, TilesF1x2_1x3>(plan, weights, packed, false); return kConvOk;
    case WinogradTile::f1x2_1x5: transform_weights<T, TilesF1x2_1x5>(plan, weights, packed, false); return kConvOk;
    case WinogradTile::f1x2_1x7: transform_weights<T, TilesF1x2_1x7>(plan, weights, packed, false); return kConvOk;
    case WinogradTile::f2x2_2x2_phases: break;
  }
  return kConvBadTile;
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
    case DType::float32: return transform_forward_weights<float>(plan, w);
    case DType::float64: return transform_forward_weights<double>(plan, w);
    default: return kConvBadDtype;
  }
}

}  // namespace pdk::PDK_ISA_NAMESPACE
