// Per-ISA CPU convolution kernels: implicit GEMM (im2col gathered into the B panels) and transposed convolution as GEMM + gather.
//
// Compiled once per instruction set like gemm_cpu_kernels.cpp, under the same ODR rules (see
// there): everything in pdk::PDK_ISA_NAMESPACE, helpers in an anonymous namespace, no std::
// templates, no PDK_CHECK; conv_cpu.cpp validates and allocates the workspace.
//
// Forward: one GEMM per (image, group), C[cout_g, out plane] = W_g[cout_g, cin_g * kvol] @ B, where
// B[(ci, tap), o] is the input value tap `tap` of output o reads. B is never materialised: the
// GEMM driver asks Im2colB for kc x NR panels and it gathers them straight from x. A 1x1,
// stride-1, unpadded convolution reads x itself as B.
// Transposed: cols[(co, tap), i] = W_g^T @ x_g (one stored GEMM), then every output element sums
// the cols entries whose tap lands on it. Gathering (rather than scattering each input's
// contribution) keeps threads on disjoint outputs: no races and a fixed summation order.
#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "conv/conv_common.h"
#include "conv/conv_cpu_kernels.h"
#include "gemm/gemm_cpu_driver.h"

namespace pdk::PDK_ISA_NAMESPACE {
namespace {

// Spatial geometry of one convolution as plain integers (the (D, H, W) dims of ConvParams).
struct Geometry {
  int64_t in[3], out[3], kernel[3], stride[3], dilation[3], pad[3];
  int64_t in_plane, out_plane, kvol;
  PaddingMode mode;
};

Geometry geometry_of(const ConvParams& p) {
  Geometry g;
  for (int d = 0; d < 3; ++d) {
    g.in[d] = p.in[d];
    g.out[d] = p.out[d];
    g.kernel[d] = p.kernel[d];
    g.stride[d] = p.stride[d];
    g.dilation[d] = p.dilation[d];
    g.pad[d] = p.pad[d];
  }
  g.in_plane = g.in[0] * g.in[1] * g.in[2];
  g.out_plane = g.out[0] * g.out[1] * g.out[2];
  g.kvol = g.kernel[0] * g.kernel[1] * g.kernel[2];
  g.mode = p.padding_mode;
  return g;
}

// One piece of a packed B row: len elements at dst offset `dst`, copied from source offset `src`
// of the input channel with stride `step` (step 0: zeros).
struct Segment {
  int32_t dst, len;
  int64_t src, step;
};

// The im2col matrix of one (image, group) as the GEMM's B operand. Rows are (ci, tap) in the
// weight's order, columns output positions. A panel's NR columns fall into a few runs along output
// rows; for a given tap those runs become a few segments (zeros, a contiguous or strided copy,
// zeros) that are the same for every input channel. So segments are built once per (panel, tap)
// and replayed for each channel row of the K block, which keeps the per-element work a plain copy.
template <class T>
struct Im2colB {
  const T* x;  // the group's first input channel of the (first) image
  Geometry g;
  int64_t image_stride = 0;  // elements between images in x, when the columns run over the batch

  void operator()(int64_t p0, int64_t kc, int64_t j0, int64_t n, int64_t q0, int64_t q1, T* dst) const {
    constexpr int NR = kNR<T>;
    for (int64_t q = q0; q < q1; ++q) pack_panel(p0, kc, j0 + q * NR, min64(NR, n - q * NR), dst + q * kc * NR);
  }

  // Runs of consecutive output columns within one output row: (image, od, oh, first ow, length, offset).
  struct Run {
    int64_t n, od, oh, ow;
    int32_t len, off;
  };

  void pack_panel(int64_t p0, int64_t kc, int64_t col, int64_t width, T* dst) const {
    constexpr int NR = kNR<T>;
    Run runs[NR];
    int nruns = 0;
    {
      const int64_t hw = g.out[1] * g.out[2];
      int64_t n = col / g.out_plane, rest = col % g.out_plane;
      int64_t od = rest / hw, oh = rest % hw / g.out[2], ow = rest % g.out[2];
      for (int64_t off = 0; off < width;) {
        const int64_t len = min64(width - off, g.out[2] - ow);
        runs[nruns++] = Run{n, od, oh, ow, static_cast<int32_t>(len), static_cast<int32_t>(off)};
        off += len;
        ow = 0;
        if (++oh == g.out[1]) {
          oh = 0;
          if (++od == g.out[0]) {
            od = 0;
            ++n;
          }
        }
      }
    }
    // Columns past `width` stay zero for every row: write them once per row below.
    Segment segs[2 * NR + 2];
    const int64_t r1 = p0 + kc;
    for (int64_t tap = 0; tap < g.kvol; ++tap) {
      // Rows of this tap inside the K block: r = ci * kvol + tap in [p0, r1).
      int64_t ci0 = p0 / g.kvol + (p0 % g.kvol > tap ? 1 : 0);
      if (ci0 * g.kvol + tap >= r1) continue;
      const int nsegs = build_segments(tap, runs, nruns, segs);
      for (int64_t ci = ci0, r = ci0 * g.kvol + tap; r < r1; ++ci, r += g.kvol) {
        const T* src = x + ci * g.in_plane;
        T* d = dst + (r - p0) * NR;
        // Whole vectors with a masked last one (segments are a few to NR elements long: a
        // scalar loop per element, as before, took a quarter of a stride-2 convolution's time).
        for (int s = 0; s < nsegs; ++s) {
          const Segment& sg = segs[s];
          T* out = d + sg.dst;
          if (sg.step == 1) {
            copy_exact(out, src + sg.src, sg.len);
          } else if (sg.step == 0) {
            zero_exact(out, sg.len);
          } else if (sg.step == 2) {
            copy_stride2(out, src + sg.src, sg.len);
          } else {
            const T* in = src + sg.src;
            for (int32_t t = 0; t < sg.len; ++t) out[t] = in[t * sg.step];
          }
        }
        if (width < NR) zero_exact(d + width, NR - width);
      }
    }
  }

  int build_segments(int64_t tap, const Run* runs, int nruns, Segment* segs) const {
    const int64_t kw = tap % g.kernel[2], kh = tap / g.kernel[2] % g.kernel[1], kd = tap / (g.kernel[2] * g.kernel[1]);
    const int64_t W = g.in[2], sw = g.stride[2];
    int n = 0;
    auto zeros = [&](int32_t dst, int32_t len) {
      if (len <= 0) return;
      if (n > 0 && segs[n - 1].step == 0 && segs[n - 1].dst + segs[n - 1].len == dst) {
        segs[n - 1].len += len;
        return;
      }
      segs[n++] = Segment{dst, len, 0, 0};
    };
    for (int ri = 0; ri < nruns; ++ri) {
      const Run& run = runs[ri];
      const int64_t id = padded_source(run.od * g.stride[0] - g.pad[0] + kd * g.dilation[0], g.in[0], g.mode);
      const int64_t ih = padded_source(run.oh * g.stride[1] - g.pad[1] + kh * g.dilation[1], g.in[1], g.mode);
      if (id < 0 || ih < 0) {
        zeros(run.off, run.len);
        continue;
      }
      const int64_t row = run.n * image_stride + (id * g.in[1] + ih) * W;
      const int64_t base = run.ow * sw - g.pad[2] + kw * g.dilation[2];  // padded position of the run's first column
      // Columns t with 0 <= base + t * sw < W read the row directly; the others are padding.
      int64_t lo = base >= 0 ? 0 : (-base + sw - 1) / sw;
      int64_t hi = base < W ? (W - base + sw - 1) / sw : 0;
      if (lo > run.len) lo = run.len;
      if (hi > run.len) hi = run.len;
      if (hi < lo) hi = lo;
      auto edge = [&](int64_t t0, int64_t t1) {
        if (g.mode == PaddingMode::zeros) {
          zeros(static_cast<int32_t>(run.off + t0), static_cast<int32_t>(t1 - t0));
          return;
        }
        for (int64_t t = t0; t < t1; ++t)
          segs[n++] = Segment{static_cast<int32_t>(run.off + t), 1, row + padded_source(base + t * sw, W, g.mode), 1};
      };
      edge(0, lo);
      if (hi > lo) segs[n++] = Segment{static_cast<int32_t>(run.off + lo), static_cast<int32_t>(hi - lo),
                                       row + base + lo * sw, sw};
      edge(hi, run.len);
    }
    return n;
  }
};

// ---------------------------------------------------------------------------------------------
// The direct forward path (ConvCpuPlan::direct): per job, the group's input channels are copied
// once, padded (any padding mode) and split into stride phases, so that the im2col row of every
// (channel, tap) is a contiguous shifted view of the copy: the micro-kernel reads B straight from
// it and nothing is packed. The price is the copy (one pass over the input, where packing reads
// it kvol times) and the extended columns past each output row that are computed and dropped.

// Channels [c0, c1) of the copy: phase (a, b, c) of channel ci holds, at (qd, qh, qw), the padded
// input at (qd * sd + a, qh * sh + b, qw * sw + c) (positions relative to the padded origin).
template <class T>
void fill_phases(const ConvCpuPlan& plan, const Geometry& g, const T* x, T* buffer, int64_t c0, int64_t c1) {
  const int64_t* q = plan.phase;
  const int64_t W = g.in[2], sh = g.stride[1], sw = g.stride[2], Q = q[2];
  // Column phase c: qw in [lo, hi) reads the row at base + qw * sw, the others are padding. The
  // ranges are the same for every row, and worked out per row their divisions cost about as much
  // as the copy of a 14-wide row (with the single deinterleave below, the copy of a 3x3 stride-2
  // 256-channel convolution of 28x28 went from 5.1% to 3.7% of its time on one thread).
  struct Columns {
    int64_t base, lo, hi;
  };
  auto columns = [&](int64_t c) {
    Columns r{c - g.pad[2], 0, 0};
    r.lo = min64(Q, r.base >= 0 ? 0 : (-r.base + sw - 1) / sw);
    r.hi = min64(Q, r.base < W ? (W - r.base + sw - 1) / sw : 0);
    if (r.hi < r.lo) r.hi = r.lo;
    return r;
  };
  constexpr int64_t kHoisted = 4;
  Columns hoisted[kHoisted];
  for (int64_t c = 0; c < min64(sw, kHoisted); ++c) hoisted[c] = columns(c);
  auto edges = [&](T* row, const T* srow, const Columns& r) {
    for (int64_t qw = 0; qw < r.lo; ++qw) {
      const int64_t iw = padded_source(r.base + qw * sw, W, g.mode);
      row[qw] = iw < 0 ? T(0) : srow[iw];
    }
    for (int64_t qw = r.hi; qw < Q; ++qw) {
      const int64_t iw = padded_source(r.base + qw * sw, W, g.mode);
      row[qw] = iw < 0 ? T(0) : srow[iw];
    }
  };
  // Stride 2: both column phases of a row in one pass. Their first interior sources are
  // neighbours (phase a, with the smaller one, s, reads s, s + 2, ...; phase b s + 1, ...), so one
  // deinterleave fills the pairs. Phase a starts at no later qw than b, so only a can have an
  // element left over (the row's last, when it has an odd number past s).
  const bool pairs = sw == 2 && hoisted[0].hi > hoisted[0].lo && hoisted[1].hi > hoisted[1].lo;
  const int first = pairs && hoisted[1].base + 2 * hoisted[1].lo < hoisted[0].base + 2 * hoisted[0].lo;
  const Columns& ca = hoisted[first];
  const Columns& cb = hoisted[pairs ? 1 - first : 0];
  const int64_t paired = pairs ? min64(ca.hi - ca.lo, cb.hi - cb.lo) : 0;
  for (int64_t ci = c0; ci < c1; ++ci) {
    const T* src = x + ci * g.in_plane;
    T* const channel = buffer + ci * plan.channel_stride;
    // Rows in input order (phase row b of qh is input row qh * sh + b - pad), each read once
    // into every column phase while it is in L1: phase by phase, each input row was read sw
    // times, every other row at a time, and waited on memory (4% of a 7x7 s2 convolution).
    for (int64_t a = 0; a < g.stride[0]; ++a)
      for (int64_t qd = 0; qd < q[0]; ++qd) {
        const int64_t id = padded_source(qd * g.stride[0] + a - g.pad[0], g.in[0], g.mode);
        for (int64_t qh = 0; qh < q[1]; ++qh)
          for (int64_t b = 0; b < sh; ++b) {
            const int64_t ih = padded_source(qh * sh + b - g.pad[1], g.in[1], g.mode);
            T* const phase_row = channel + (a * sh + b) * sw * plan.phase_plane + (qd * q[1] + qh) * Q;
            if (id < 0 || ih < 0) {
              for (int64_t c = 0; c < sw; ++c) zero_exact(phase_row + c * plan.phase_plane, Q);
              continue;
            }
            const T* srow = src + (id * g.in[1] + ih) * W;
            if (pairs) {
              T* const ra = phase_row + first * plan.phase_plane;
              T* const rb = phase_row + (1 - first) * plan.phase_plane;
              deinterleave(ra + ca.lo, rb + cb.lo, srow + ca.base + 2 * ca.lo, paired);
              if (ca.lo + paired < ca.hi) ra[ca.hi - 1] = srow[ca.base + 2 * (ca.hi - 1)];
              edges(ra, srow, ca);
              edges(rb, srow, cb);
              continue;
            }
            for (int64_t c = 0; c < sw; ++c) {
              T* const row = phase_row + c * plan.phase_plane;
              const Columns r = c < kHoisted ? hoisted[c] : columns(c);
              if (sw == 1) {
                copy_exact(row + r.lo, srow + r.base + r.lo, r.hi - r.lo);
              } else if (sw == 2) {
                copy_stride2(row + r.lo, srow + r.base + r.lo * 2, r.hi - r.lo);
              } else {
                for (int64_t qw = r.lo; qw < r.hi; ++qw) row[qw] = srow[r.base + qw * sw];
              }
              edges(row, srow, r);
            }
          }
      }
  }
}

// The copy as the GEMM's B operand: the rows of the panel at (extended) column j are the copy at
// offsets[k] + j.
template <class T>
struct ShiftedRows {
  const T* buffer;
  const int64_t* offsets;
  OffsetRows<T> direct_rows(int64_t p0, int64_t j) const { return OffsetRows<T>{buffer + j, offsets + p0}; }
};

// The copy as the GEMM's B operand when output rows are whole vectors (ConvCpuPlan::row_vectors):
// GEMM column j is output position j, and vector v of the panel at j reads the copy where column
// j + v * L (L lanes) lies in its output row. A vector past the last column reads the last one
// again (its lanes are not stored).
template <class T>
struct ShiftedRowVectors {
  const T* buffer;
  const int64_t* offsets;
  int64_t columns;     // the output plane
  int64_t out1, out2;  // output extents (H, W)
  int64_t q1, q2;      // phase plane extents (H, W)
  VectorRows<T> direct_rows(int64_t p0, int64_t j) const {
    VectorRows<T> rows{{}, offsets + p0};
    constexpr int64_t L = kLanes<T>;
    for (int v = 0; v < kNV; ++v) {
      const int64_t col = min64(j + v * L, columns - L), row = col / out2, od = row / out1, oh = row % out1;
      rows.base[v] = buffer + (od * q1 + oh) * q2 + col % out2;
    }
    return rows;
  }
};

// x itself as B (a 1x1, stride-1, unpadded convolution): row ci of panel j is x's channel ci from
// column j, except the last, partial panel (columns [tail, N)), which reads a packed copy so that
// no load goes past the end of x.
template <class T>
struct InputRows {
  const T* x;
  const int64_t* offsets;       // ci * plane
  const T* tail_panel;          // K rows of NR
  const int64_t* tail_offsets;  // k * NR
  int64_t tail;
  OffsetRows<T> direct_rows(int64_t p0, int64_t j) const {
    return j < tail ? OffsetRows<T>{x + j, offsets + p0} : OffsetRows<T>{tail_panel, tail_offsets + p0};
  }
};

// Packs columns [tail, N) of the K x N matrix x (row stride N) into one zero-padded NR panel.
template <class T>
void pack_tail_panel(const T* x, int64_t K, int64_t N, int64_t tail, T* panel) {
  constexpr int NR = kNR<T>;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < NR; ++j) panel[k * NR + j] = tail + j < N ? x[k * N + tail + j] : T(0);
}

// The GEMM's columns mapped onto the output when they are not its plain columns: the direct
// path's extended columns (with dropped ones past each output row), or columns that run over the
// batch (fold_batch). A panel stores its real columns as runs (ColumnRun), straight into C: whole
// vectors when it is one run from its first column, masked lanes per run when it is a few, and
// through a local tile when its output rows are too short for that.
template <class T>
struct MappedOutput {
  T* c;
  int64_t ldc;             // the output plane
  int64_t q1, q2;          // extents (H, W) of the column grid of one image (>= the output's)
  int64_t out1, out2;      // output extents (H, W)
  int64_t image_columns;   // GEMM columns per image
  int64_t image_stride;    // output elements between images
  // The runs of the last panel: the driver multiplies a panel by every row panel of A in turn,
  // and redoing the runs' divisions for each took ~1.5% of the 7x7 stride-2 3->64 convolution
  // (perf). Each thread has an object of its own (forward_gemm), so the cache is not shared.
  mutable int64_t cached_j = -1, cached_n = -1;
  mutable int cached_count = 0;
  mutable ColumnRun cached[kNR<T> + 1] = {};

  int runs(int64_t j, int64_t n, ColumnRun* r) const {
    int count = 0;
    for (int64_t t = 0; t < n;) {
      const int64_t jj = j + t, image = jj / image_columns, within = jj % image_columns;
      const int64_t ow = within % q2, rest = within / q2, oh = rest % q1, od = rest / q1;
      const int64_t len = min64(n - t, q2 - ow);
      if (oh < out1 && ow < out2) {
        const ColumnRun next{image * image_stride + (od * out1 + oh) * out2 + ow, static_cast<int32_t>(t),
                             static_cast<int32_t>(min64(len, out2 - ow))};
        if (count > 0 && r[count - 1].dst + r[count - 1].len == next.dst && r[count - 1].src + r[count - 1].len == next.src)
          r[count - 1].len += next.len;  // consecutive rows without dropped columns between them
        else
          r[count++] = next;
      }
      t += len;
    }
    return count;
  }

  template <class Rows>
  void multiply(int64_t kc, const T* a, const Rows& b, int64_t i, int64_t j, int64_t m, int64_t n, bool accumulate,
                const Epilogue<T>* e) const {
    constexpr int NR = kNR<T>;
    if (j != cached_j || n != cached_n) {
      cached_count = runs(j, n, cached);
      cached_j = j;
      cached_n = n;
    }
    const ColumnRun* r = cached;
    const int count = cached_count;
    if (count == 1 && r[0].src == 0 && r[0].len == n) {
      multiply_tile(kc, a, b, c + i * ldc + r[0].dst, ldc, m, n, accumulate, e, i, r[0].dst);
      return;
    }
    if (count <= ColumnRuns::kMax) {
      const ColumnRuns stored{r, count};
      multiply_tile(kc, a, b, c + i * ldc, ldc, m, static_cast<int64_t>(NR), accumulate, e, i, 0, &stored);
      return;
    }
    alignas(64) T tile[kMR * NR];
    multiply_tile(kc, a, b, tile, NR, m, static_cast<int64_t>(NR), false);
    for (int64_t ii = 0; ii < m; ++ii)
      for (int k = 0; k < count; ++k) {
        T* crow = c + (i + ii) * ldc + r[k].dst;
        const T* trow = tile + ii * NR + r[k].src;
        if (accumulate)
          for (int32_t t = 0; t < r[k].len; ++t) crow[t] += trow[t];
        else
          for (int32_t t = 0; t < r[k].len; ++t) crow[t] = trow[t];
      }
    if (e)
      for (int k = 0; k < count; ++k) finish_region(*e, i, r[k].dst, c + i * ldc + r[k].dst, ldc, m, r[k].len);
  }
};

// out[row] = act(out[row] + bias + residual) for a row of `n` elements of one output channel,
// where out already holds the sum. flatten: apply_activation inlined (ODR note above).
template <class T>
__attribute__((flatten)) void finish_row(T* out, const T* residual, int64_t n, T bias, Activation act, T slope) {
  if (residual)
    for (int64_t j = 0; j < n; ++j) out[j] += residual[j];
  if (bias != T(0))
    for (int64_t j = 0; j < n; ++j) out[j] += bias;
  activate_row(out, n, act, slope);
}

// The GEMM of one forward job: the weights (packed ahead, or unpacked for each work item to pack
// its blocks) times the input rows the path reads (folded batch, input in place, shifted copy,
// pointwise or im2col), into out.
template <class T, class Weights>
void forward_gemm(const ConvCpuPlan& plan, const GemmCpuPlan& gp, const Geometry& geo, const Weights& weights,
                  const T* x, const Epilogue<T>& e, T* out, bool preloaded, T* buffer, int64_t tid, bool team) {
  const ConvParams& p = plan.p;
  const int64_t cin_g = p.in_channels / p.groups;
  bool pointwise = geo.kvol == 1;
  for (int d = 0; d < 3; ++d) pointwise = pointwise && geo.stride[d] == 1 && geo.pad[d] == 0;
  if (plan.fold_batch) {
    const MappedOutput<T> mapped{out, geo.out_plane, geo.out[1], geo.out[2], geo.out[1], geo.out[2],
                                 geo.out_plane, p.out_channels * geo.out_plane};
    gemm_thread(gp, weights, Im2colB<T>{x, geo, p.in_channels * geo.in_plane}, e, mapped, preloaded, tid);
  } else if (plan.reads_input) {
    const int64_t N = geo.out_plane, tail = N - N % kNR<T>;
    if (tail < N) {
      if (team) {
#pragma omp single
        pack_tail_panel(x, cin_g, N, tail, buffer);
      } else {
        pack_tail_panel(x, cin_g, N, tail, buffer);
      }
    }
    const InputRows<T> rows{x, plan.offsets, buffer, plan.tail_offsets, tail};
    gemm_thread(gp, weights, rows, e, DenseOutput<T>{out, geo.out_plane}, preloaded, tid);
  } else if (plan.direct) {
    if (team) {
#pragma omp for schedule(static)
      for (int64_t ci = 0; ci < cin_g; ++ci) fill_phases(plan, geo, x, buffer, ci, ci + 1);
    } else {
      fill_phases(plan, geo, x, buffer, 0, cin_g);
    }
    if (plan.row_vectors) {
      const ShiftedRowVectors<T> rows{buffer,     plan.offsets,  geo.out_plane, geo.out[1],
                                      geo.out[2], plan.phase[1], plan.phase[2]};
      gemm_thread(gp, weights, rows, e, DenseOutput<T>{out, geo.out_plane}, preloaded, tid);
    } else {
      const MappedOutput<T> mapped{out, geo.out_plane, plan.phase[1], plan.phase[2], geo.out[1], geo.out[2],
                                   plan.columns, 0};
      gemm_thread(gp, weights, ShiftedRows<T>{buffer, plan.offsets}, e, mapped, preloaded, tid);
    }
  } else if (pointwise) {
    gemm_thread(gp, weights, MatrixB<T>{x, geo.in_plane, false}, e, DenseOutput<T>{out, geo.out_plane}, preloaded, tid);
  } else {
    gemm_thread(gp, weights, Im2colB<T>{x, geo}, e, DenseOutput<T>{out, geo.out_plane}, preloaded, tid);
  }
}

// Forward convolution of job (image, group) = jb: one GEMM through the driver.
template <class T>
void forward_job(const ConvCpuPlan& plan, const GemmCpuPlan& gp, const ConvArrays<T>& a, const Geometry& geo,
                 T* buffer, int64_t jb, int64_t tid, bool team) {
  const ConvParams& p = plan.p;
  const int64_t n = plan.fold_batch ? 0 : jb / p.groups, g = jb % p.groups;
  const int64_t cin_g = p.in_channels / p.groups, cout_g = p.out_channels / p.groups;
  const T* x = a.x + (n * p.in_channels + g * cin_g) * geo.in_plane;
  const int64_t out_offset = (n * p.out_channels + g * cout_g) * geo.out_plane;
  T* out = a.out + out_offset;
  Epilogue<T> e{a.bias ? a.bias + g * cout_g : nullptr,
                a.residual ? a.residual + out_offset : nullptr,
                geo.out_plane,
                a.bias ? BiasMode::per_row : BiasMode::none,
                p.activation,
                static_cast<T>(p.negative_slope)};
  // The output aliasing the residual: accumulate onto it (the GEMM's rule, gemm_cpu_kernels.cpp).
  const bool preloaded = e.residual == out;
  if (preloaded) e.residual = nullptr;
  if (plan.packs_weights_per_item) {  // one image shared by the team (conv_cpu.cpp)
    const MatrixA<T> weights{a.w + g * cout_g * gp.p.K, gp.p.K, false};
    forward_gemm(plan, gp, geo, weights, x, e, out, preloaded, buffer, tid, team);
  } else {
    const PackedA<T> weights{static_cast<const T*>(plan.weights_packed) + g * plan.weights_group_elems,
                             padded_rows(cout_g)};
    forward_gemm(plan, gp, geo, weights, x, e, out, preloaded, buffer, tid, team);
  }
}

// Output channel co of job jb of a transposed convolution from its cols: every output row sums, tap
// by tap, the cols entries that land on it (a strided walk per tap along W), then the epilogue.
template <class T>
void transposed_gather(const ConvParams& p, const ConvArrays<T>& a, const Geometry& geo, const T* cols,
                       int64_t jb, int64_t co, int64_t co0) {
  const int64_t n = jb / p.groups, g = jb % p.groups, cout_g = p.out_channels / p.groups;
  const int64_t channel = g * cout_g + co;
  const int64_t out_offset = (n * p.out_channels + channel) * geo.out_plane;
  T* out = a.out + out_offset;
  const T* res = a.residual ? a.residual + out_offset : nullptr;
  const T bias = a.bias ? a.bias[channel] : T(0);
  const T slope = static_cast<T>(p.negative_slope);
  const int64_t OW = geo.out[2], IW = geo.in[2], sw = geo.stride[2];
  const int64_t in_plane = geo.in_plane;
  for (int64_t od = 0; od < geo.out[0]; ++od)
    for (int64_t oh = 0; oh < geo.out[1]; ++oh) {
      const int64_t row_offset = (od * geo.out[1] + oh) * OW;
      T* orow = out + row_offset;
      // The row's sum is built in place; a residual aliasing the output is read by finish_row
      // after that, so stash it first.
      T sum[64];
      const bool chunked = res == out;
      for (int64_t w0 = 0; w0 < OW; w0 += chunked ? 64 : OW) {
        const int64_t w1 = chunked ? min64(OW, w0 + 64) : OW;
        T* target = chunked ? sum : orow + w0;
        for (int64_t j = 0; j < w1 - w0; ++j) target[j] = T(0);
        for (int64_t kd = 0; kd < geo.kernel[0]; ++kd) {
          const int64_t id = conv_transpose_source(p, 0, od, kd);
          if (id < 0) continue;
          for (int64_t kh = 0; kh < geo.kernel[1]; ++kh) {
            const int64_t ih = conv_transpose_source(p, 1, oh, kh);
            if (ih < 0) continue;
            for (int64_t kw = 0; kw < geo.kernel[2]; ++kw) {
              const int64_t tap = (kd * geo.kernel[1] + kh) * geo.kernel[2] + kw;
              const T* crow = cols + ((co - co0) * geo.kvol + tap) * in_plane + (id * geo.in[1] + ih) * IW;
              // Outputs ow = iw * sw - pad + kw * dw for iw in [0, IW), restricted to [w0, w1).
              const int64_t shift = kw * geo.dilation[2] - geo.pad[2];
              int64_t iw0 = w0 - shift <= 0 ? 0 : (w0 - shift + sw - 1) / sw;
              const int64_t last = w1 - 1 - shift;  // iw * sw <= last
              if (last < 0) continue;
              int64_t iw1 = last / sw + 1;
              if (iw1 > IW) iw1 = IW;
              T* t = target - w0 + shift;
              for (int64_t iw = iw0; iw < iw1; ++iw) t[iw * sw] += crow[iw];
            }
          }
        }
        if (chunked) {
          for (int64_t j = 0; j < w1 - w0; ++j) sum[j] += orow[w0 + j];
          finish_row(sum, static_cast<const T*>(nullptr), w1 - w0, bias, p.activation, slope);
          for (int64_t j = 0; j < w1 - w0; ++j) orow[w0 + j] = sum[j];
        }
      }
      if (!chunked) finish_row(orow, res ? res + row_offset : nullptr, OW, bias, p.activation, slope);
    }
}

// Transposed convolution of job jb: cols = W_g^T @ x_g through the driver (no epilogue), then the
// gather, split over output channels when a team shares the job.
template <class T>
void transposed_job(const ConvCpuPlan& plan, const GemmCpuPlan& gp, const ConvArrays<T>& a, const Geometry& geo,
                    T* cols, int64_t jb, int64_t tid, bool team) {
  const ConvParams& p = plan.p;
  const int64_t n = jb / p.groups, g = jb % p.groups;
  const int64_t cin_g = p.in_channels / p.groups, cout_g = p.out_channels / p.groups;
  const T* w = a.w + g * cin_g * cout_g * geo.kvol;
  const MatrixB<T> x{a.x + (n * p.in_channels + g * cin_g) * geo.in_plane, geo.in_plane, false};
  const Epilogue<T> none{nullptr, nullptr, 0, BiasMode::none, Activation::none, T(0)};
  GemmCpuPlan step = gp;
  for (int64_t co0 = 0; co0 < cout_g; co0 += plan.chunk) {
    const int64_t co1 = min64(cout_g, co0 + plan.chunk);
    step.p.M = (co1 - co0) * geo.kvol;
    const MatrixA<T> weights{w + co0 * geo.kvol, cout_g * geo.kvol, true};  // rows (co, tap) of W_g^T
    gemm_thread(step, weights, x, none, DenseOutput<T>{cols, geo.in_plane}, false, tid);  // ends with a barrier
    if (team) {
#pragma omp for schedule(dynamic, 1)
      for (int64_t co = co0; co < co1; ++co) transposed_gather(p, a, geo, cols, jb, co, co0);
    } else {
      for (int64_t co = co0; co < co1; ++co) transposed_gather(p, a, geo, cols, jb, co, co0);
    }
  }
}

// No input channels: every output is act(bias + residual).
template <class T>
void empty_sum(const ConvParams& p, const ConvArrays<T>& a, const Geometry& geo) {
  const T slope = static_cast<T>(p.negative_slope);
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t c = 0; c < p.out_channels; ++c) {
      const int64_t offset = (n * p.out_channels + c) * geo.out_plane;
      T* out = a.out + offset;
      const T* res = a.residual ? a.residual + offset : nullptr;
      if (res == out) {
        finish_row(out, static_cast<const T*>(nullptr), geo.out_plane, a.bias ? a.bias[c] : T(0), p.activation,
                   slope);
        continue;
      }
      for (int64_t j = 0; j < geo.out_plane; ++j) out[j] = T(0);
      finish_row(out, res, geo.out_plane, a.bias ? a.bias[c] : T(0), p.activation, slope);
    }
}

// Every group's weights in the driver's PackedA layout, packed once for all jobs (by all threads
// together when `team`).
template <class T>
void pack_weights(const ConvCpuPlan& plan, const T* w, bool team) {
  const ConvParams& p = plan.p;
  const int64_t cout_g = p.out_channels / p.groups, K = p.in_channels / p.groups * conv_kernel_volume(p);
  for (int64_t g = 0; g < p.groups; ++g)
    pack_whole_a(MatrixA<T>{w + g * cout_g * K, K, false}, cout_g, K, plan.gemm.kc,
                 static_cast<T*>(plan.weights_packed) + g * plan.weights_group_elems, team);
}

// Everything one thread does: whole jobs (image_per_thread, or a single thread) or its share of
// every job (team).
template <class T>
void conv_thread(const ConvCpuPlan& plan, const ConvArrays<T>& a, const Geometry& geo, ItemRanges* ranges,
                 int64_t tid, int64_t nt) {
  const ConvParams& p = plan.p;
  const int64_t jobs = plan.fold_batch ? p.groups : p.batch * p.groups;
  const GemmCpuPlan& base = plan.gemm;
  const int64_t apack = plan.a_pack_elems, bpack = plan.b_pack_elems;
  T* ws = static_cast<T*>(plan.workspace);
  GemmCpuPlan gp = base;
  const bool team = nt > 1 && !plan.image_per_thread;
  T* cols;
  if (team) {  // [A block per thread][shared B block][shared cols][shared copy]
    gp.threads = nt;
    gp.a_pack = ws;
    gp.b_pack = ws + nt * apack;
    cols = ws + nt * apack + bpack;
  } else {  // [A block, B block, cols, copy] per thread
    gp.threads = 1;
    T* mine = ws + tid * plan.per_thread_elems;
    gp.a_pack = mine;
    gp.b_pack = mine + apack;
    cols = mine + apack + bpack;
  }
  T* const buffer = cols + plan.cols_elems;
  if (plan.direct && !plan.reads_input && (!team || tid == 0)) {
    // The tail past the last channel: read (and dropped) by the last panels of the last rows.
    const int64_t used = (p.in_channels / p.groups) * plan.channel_stride;
    for (int64_t i = used; i < plan.buffer_elems; ++i) buffer[i] = T(0);
  }
  if (!p.transposed && !plan.weights_ready && !plan.packs_weights_per_item) pack_weights(plan, a.w, nt > 1);
  auto job = [&](int64_t jb) {
    if (p.transposed) transposed_job(plan, gp, a, geo, cols, jb, team ? tid : 0, team);
    else forward_job(plan, gp, a, geo, buffer, jb, team ? tid : 0, team);
  };
  if (team) {
    for (int64_t jb = 0; jb < jobs; ++jb) job(jb);
  } else if (nt > 1 && nt <= kMaxRangeThreads && jobs < kMaxRangeItems) {
    // Whole jobs stay on their thread from call to call (core/isa_work_ranges.h), and with them
    // the output lines they write. Against OpenMP's dynamic schedule, alternating in one process
    // (ms, medians of 8 rounds), cores not sharing an L3: 1x1 256->64 56x56 b8 5.2 -> 4.7, 7x7 s2
    // 3->64 224x224 b8 11.9 -> 10.9; sharing one: unchanged (4.6 and 10.8).
    claim_items(ranges->at, 0, jobs, tid, nt, true, job);
  } else if (nt > 1) {
#pragma omp for schedule(dynamic, 1)
    for (int64_t jb = 0; jb < jobs; ++jb) job(jb);
  } else {
    for (int64_t jb = 0; jb < jobs; ++jb) job(jb);
  }
}

template <class T>
int run(const ConvCpuPlan& plan, std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias, std::uintptr_t residual,
        std::uintptr_t out) {
  const ConvParams& p = plan.p;
  const ConvArrays<T> a{reinterpret_cast<const T*>(x), reinterpret_cast<const T*>(w),
                        reinterpret_cast<const T*>(bias), reinterpret_cast<const T*>(residual),
                        reinterpret_cast<T*>(out)};
  const Geometry geo = geometry_of(p);
  if (p.batch == 0 || p.out_channels == 0) return kConvOk;
  if (p.in_channels == 0) {
    empty_sum(p, a, geo);
    return kConvOk;
  }
#ifdef _OPENMP
  if (plan.threads > 1) {
    ItemRanges ranges;
#pragma omp parallel num_threads(plan.threads)
    conv_thread(plan, a, geo, &ranges, omp_get_thread_num(), omp_get_num_threads());
    return kConvOk;
  }
#endif
  conv_thread(plan, a, geo, nullptr, 0, 1);
  return kConvOk;
}

}  // namespace

int conv_pack_weights_kernel(const ConvCpuPlan& plan, std::uintptr_t w, DType dtype) {
  switch (dtype) {
    case DType::float32: pack_weights(plan, reinterpret_cast<const float*>(w), false); return kConvOk;
    case DType::float64: pack_weights(plan, reinterpret_cast<const double*>(w), false); return kConvOk;
    default: return kConvBadDtype;
  }
}

int conv_gemm_kernel(const ConvCpuPlan& plan, std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias,
                     std::uintptr_t residual, std::uintptr_t out, DType dtype) {
  switch (dtype) {
    case DType::float32: return run<float>(plan, x, w, bias, residual, out);
    case DType::float64: return run<double>(plan, x, w, bias, residual, out);
    default: return kConvBadDtype;
  }
}

}  // namespace pdk::PDK_ISA_NAMESPACE
