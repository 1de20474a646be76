// Per-ISA CPU RNN recurrence: per step h_{t-1} @ W_hh^T through the GEMM's packed micro-kernel, gate nonlinearities and cell update fused after each tile.
//
// Compiled once per instruction set like gemm_cpu_kernels.cpp, under the same ODR rules (see
// there): everything in pdk::PDK_ISA_NAMESPACE, helpers in an anonymous namespace, no std::
// templates, no PDK_CHECK; the shared templates of rnn_common.h are instantiated only with this
// file's own Math types (so their symbols carry the ISA namespace). rnn_cpu.cpp validates,
// computes the input projections of all steps with one GEMM per direction and allocates the
// workspace.
//
// Per layer: W_hh is packed ONCE into the GEMM's NR-wide B panels of depth Ho, ordered by hidden
// block: the G gate panels of hidden units [j0, j0 + NR) sit next to each other. A work item is
// one hidden block: for each MR-row panel of h_{t-1} (packed once per step) it multiplies the G
// panels into a G x MR x NR register-tile buffer, so every gate of those units is complete, and
// applies the cell update to them at once (vectorised sigmoid / tanh) while they are in L1. Items
// are split statically, so a thread keeps the same slice of W_hh in its L2 across steps. A
// bidirectional layer runs both directions in the same steps (direction 1 at T-1-s), their items
// in one list: with two threads, each takes one direction.
#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "gemm/gemm_cpu_driver.h"
#include "rnn/rnn_common.h"
#include "rnn/rnn_cpu_kernels.h"

namespace pdk::PDK_ISA_NAMESPACE {
namespace {

// sigmoid / tanh / relu on one vector of hidden units. float: Cephes' exp polynomial (~1 ulp)
// with 2^n built in the exponent bits, so the whole update stays in registers; double (the
// checking dtype) goes lane by lane through libm.
template <class T>
struct VecMath;

template <>
struct VecMath<float> {
  using V = Vec<float>::type;
  typedef int32_t IV __attribute__((vector_size(kVectorBytes)));
  typedef uint32_t UV __attribute__((vector_size(kVectorBytes)));
  static V exp(V x) {
    const V hi = V{} + 88.0f, lo = V{} - 87.0f;
    x = x > hi ? hi : x;  // NaN stays NaN (comparisons are false)
    x = x < lo ? lo : x;
    const V magic = V{} + 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    const V n = (x * 1.44269504088896341f + magic) - magic;
    const V r = x - n * 0.693359375f - n * -2.12194440e-4f;
    V y = V{} + 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r * r + r + 1.0f;
    const UV bits = (UV)(__builtin_convertvector(n, IV) + 127) << 23;  // n in [-126, 127]: a normal 2^n
    return y * (V)bits;
  }
  V sigmoid(V x) const { return 1.0f / (1.0f + exp(-x)); }
  V tanh(V x) const { return 2.0f / (1.0f + exp(-2.0f * x)) - 1.0f; }
  V relu(V x) const { return x < V{} ? V{} : x; }
};

template <>
struct VecMath<double> {
  using V = Vec<double>::type;
  static constexpr int L = static_cast<int>(kLanes<double>);
  V sigmoid(V x) const {
    for (int l = 0; l < L; ++l) x[l] = 1.0 / (1.0 + __builtin_exp(-x[l]));
    return x;
  }
  V tanh(V x) const {
    for (int l = 0; l < L; ++l) x[l] = __builtin_tanh(x[l]);
    return x;
  }
  V relu(V x) const { return x < V{} ? V{} : x; }
};

// The same on single values (columns past the last full vector of a hidden block).
template <class T>
struct ScalarMath {
  T sigmoid(T x) const { return T(1) / (T(1) + (sizeof(T) == 4 ? __builtin_expf(-x) : __builtin_exp(-x))); }
  T tanh(T x) const { return sizeof(T) == 4 ? __builtin_tanhf(x) : __builtin_tanh(x); }
  T relu(T x) const { return x < T(0) ? T(0) : x; }
};

// Loads and stores of V (a vector, unaligned) or T itself.
template <class T, class V>
struct Access {
  using VU = typename Vec<T>::utype;
  static V load(const T* p) { return *reinterpret_cast<const VU*>(p); }
  static void store(T* p, V v) { *reinterpret_cast<VU*>(p) = v; }
};
template <class T>
struct Access<T, T> {
  static T load(const T* p) { return *p; }
  static void store(T* p, T v) { *p = v; }
};

template <class T>
struct Direction {
  const T* gx;
  const T* b_hh;
  const T* w_hh;
  const T* w_hr;
  const T* peep;
  T* hb[2];  // hidden state read by even / odd steps (h_{t-1}); the other one receives h_t
  T *c, *out, *w_pack, *hr_pack, *a_pack, *h_full, *f_pack;
  bool reverse;
};

template <class T>
Direction<T> direction_of(const RnnCpuDirection& d, bool reverse) {
  Direction<T> r;
  r.gx = static_cast<const T*>(d.gx);
  r.b_hh = static_cast<const T*>(d.b_hh);
  r.w_hh = static_cast<const T*>(d.w_hh);
  r.w_hr = static_cast<const T*>(d.w_hr);
  r.peep = static_cast<const T*>(d.peephole);
  r.hb[0] = static_cast<T*>(d.h);
  r.hb[1] = static_cast<T*>(d.h_alt);
  r.c = static_cast<T*>(d.c);
  r.out = static_cast<T*>(d.out);
  r.w_pack = static_cast<T*>(d.w_pack);
  r.hr_pack = static_cast<T*>(d.hr_pack);
  r.a_pack = static_cast<T*>(d.a_pack);
  r.h_full = static_cast<T*>(d.h_full);
  r.f_pack = static_cast<T*>(d.f_pack);
  r.reverse = reverse;
  return r;
}

// Gate tiles of one register-tile buffer: gate g of row i, column jj at tile[g * kGateStride + i * NR + jj].
constexpr int64_t kGateStride = int64_t{kMR} * kNR<float>;  // >= kMR * kNR<double>

// The cell update of row b, hidden units [j, j + width of V) at step t, from the gate tiles at
// `tile` (row and column already applied).
template <class T, class V, class Math>
__attribute__((always_inline)) inline void cell_update(const Math& m, const RnnParams& p, const Direction<T>& d,
                                                       const T* tile, const T* h_prev, T* h_next, int64_t t,
                                                       int64_t b, int64_t j) {
  using A = Access<T, V>;
  const int64_t H = p.H, Ho = p.out_size(), GH = p.gates() * H;
  const T* gx = d.gx + (t * p.B + b) * GH + j;
  const V zero{};
  auto pre = [&](int g) {  // x W_ih^T + b_ih (in gx) + h W_hh^T + b_hh
    V v = A::load(tile + g * kGateStride) + A::load(gx + g * H);
    if (d.b_hh) v = v + A::load(d.b_hh + g * H + j);
    return v;
  };
  V h;
  switch (p.mode) {
    case RnnMode::lstm: {
      T* cp = d.c + b * H + j;
      const bool peep = d.peep != nullptr;
      const V pi = peep ? A::load(d.peep + j) : zero, pf = peep ? A::load(d.peep + H + j) : zero,
              po = peep ? A::load(d.peep + 2 * H + j) : zero;
      V c;
      lstm_update(m, pre(0), pre(1), pre(2), pre(3), A::load(cp), peep, pi, pf, po, c, h);
      A::store(cp, c);
      if (p.P > 0) {  // projected in a second product (run_projection)
        A::store(d.h_full + b * H + j, h);
        return;
      }
      break;
    }
    case RnnMode::gru: {
      V hn = A::load(tile + 2 * kGateStride);
      if (d.b_hh) hn = hn + A::load(d.b_hh + 2 * H + j);
      h = gru_update(m, pre(0), pre(1), A::load(gx + 2 * H), zero, zero, hn, A::load(h_prev + b * Ho + j));
      break;
    }
    default: h = rnn_update(m, pre(0), p.mode == RnnMode::rnn_relu);
  }
  A::store(h_next + b * Ho + j, h);
  if (d.out) A::store(d.out + (t * p.B + b) * p.D * Ho + j, h);
}

inline bool active(const int64_t* lengths, int64_t t, int64_t b) { return !lengths || t < lengths[b]; }

// An inactive step of row b (past its length) on columns [j0, j0 + n) of h: the state carries
// over (h_prev to h_next) and out[t, b] gets zeros.
template <class T>
void skip_step(const RnnParams& p, const Direction<T>& d, const T* h_prev, T* h_next, int64_t t, int64_t b,
               int64_t j0, int64_t n) {
  const int64_t Ho = p.out_size();
  for (int64_t j = j0; j < j0 + n; ++j) h_next[b * Ho + j] = h_prev[b * Ho + j];
  if (!d.out) return;
  T* o = d.out + (t * p.B + b) * p.D * Ho + j0;
  for (int64_t j = 0; j < n; ++j) o[j] = T(0);
}

// Work distribution over the team: a static split (the same items to the same thread every
// step), with the implicit barrier at the end; a plain loop without a team.
template <class F>
inline void for_items(bool team, int64_t n, const F& f) {
  if (team) {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) f(i);
  } else {
    for (int64_t i = 0; i < n; ++i) f(i);
  }
}

// Rows [0, B) of src (row stride depth) as MR-row panels (the GEMM's A operand) of depth `depth`,
// into the calling thread's own buffer.
template <class T>
void pack_rows(const RnnParams& p, const T* src, int64_t depth, T* dst) {
  for (int64_t r0 = 0; r0 < p.B; r0 += kMR)
    pack_panel<T, kMR>(src + r0 * depth, depth, 1, min64(kMR, p.B - r0), depth, dst + r0 * depth);
}

inline int64_t padded_rows(int64_t B) { return (B + kMR - 1) / kMR * kMR; }

// One work item of a step: NR-column block q ([j0, j0 + n)) of direction d at time t, the state
// buffers (h_{t-1} read, h_t written) and the calling thread's A panels.
template <class T>
struct StepItem {
  const Direction<T>& d;
  int64_t q, j0, n, t;
  const T* h_prev;
  T* h_next;
  const T* panels;
};

// Runs f(StepItem) for the column blocks of `width` columns of every direction, split over the
// team. The A operand (h_{t-1}, or h_full for the projection: B x depth, small next to the
// weights) is packed by each thread into its own panels the first time it meets a direction, so
// a phase needs no barrier besides the loop's own.
template <class T, class F>
void for_step_items(bool team, int64_t tid, const RnnParams& p, Direction<T>* dirs, int64_t s, int64_t width,
                    bool projection, const F& f) {
  constexpr int64_t NR = kNR<T>;
  const int64_t blocks = (width + NR - 1) / NR, depth = projection ? p.H : p.out_size();
  bool packed[2] = {false, false};
  for_items(team, p.D * blocks, [&](int64_t item) {
    const int64_t di = item / blocks, q = item % blocks;
    const Direction<T>& d = dirs[di];
    T* panels = (projection ? d.f_pack : d.a_pack) + tid * padded_rows(p.B) * depth;
    if (!packed[di]) {
      pack_rows(p, projection ? d.h_full : d.hb[s & 1], depth, panels);
      packed[di] = true;
    }
    f(StepItem<T>{d, q, q * NR, min64(NR, width - q * NR), d.reverse ? p.T - 1 - s : s, d.hb[s & 1],
                  d.hb[(s + 1) & 1], panels});
  });
}

// One step of every direction: the G gate tiles of each hidden block and row panel, then the
// update of those units while the tiles are in L1.
template <class T>
void run_step(bool team, int64_t tid, const RnnParams& p, Direction<T>* dirs, const int64_t* lengths, int64_t s) {
  constexpr int64_t NR = kNR<T>, L = kLanes<T>;
  using V = typename Vec<T>::type;
  const int64_t G = p.gates(), Ho = p.out_size();
  const VecMath<T> vm;
  const ScalarMath<T> sm;
  for_step_items(team, tid, p, dirs, s, p.H, false, [&](const StepItem<T>& it) {
    alignas(64) T tile[4 * kGateStride];
    for (int64_t r0 = 0; r0 < p.B; r0 += kMR) {
      const int64_t m = min64(kMR, p.B - r0);
      for (int64_t g = 0; g < G; ++g)
        multiply_tile(Ho, it.panels + r0 * Ho, PackedRows<T>{it.d.w_pack + (it.q * G + g) * Ho * NR},
                      tile + g * kGateStride, NR, m, NR, false);
      for (int64_t i = 0; i < m; ++i) {
        const int64_t b = r0 + i;
        if (!active(lengths, it.t, b)) {
          if (p.P == 0) skip_step(p, it.d, it.h_prev, it.h_next, it.t, b, it.j0, it.n);
          continue;
        }
        const T* row = tile + i * NR;
        if (it.n == NR) {
          for (int64_t v = 0; v < NR; v += L)
            cell_update<T, V>(vm, p, it.d, row + v, it.h_prev, it.h_next, it.t, b, it.j0 + v);
        } else {
          for (int64_t jj = 0; jj < it.n; ++jj)
            cell_update<T, T>(sm, p, it.d, row + jj, it.h_prev, it.h_next, it.t, b, it.j0 + jj);
        }
      }
    }
  });
}

// LSTM projection of one step: h_t = h_full @ W_hr^T for the active rows (after the barrier
// that completes h_full).
template <class T>
void run_projection(bool team, int64_t tid, const RnnParams& p, Direction<T>* dirs, const int64_t* lengths,
                    int64_t s) {
  constexpr int64_t NR = kNR<T>;
  for_step_items(team, tid, p, dirs, s, p.P, true, [&](const StepItem<T>& it) {
    alignas(64) T tile[kGateStride];
    for (int64_t r0 = 0; r0 < p.B; r0 += kMR) {
      const int64_t m = min64(kMR, p.B - r0);
      multiply_tile(p.H, it.panels + r0 * p.H, PackedRows<T>{it.d.hr_pack + it.q * p.H * NR}, tile, NR, m, NR,
                    false);
      for (int64_t i = 0; i < m; ++i) {
        const int64_t b = r0 + i;
        if (!active(lengths, it.t, b)) {
          skip_step(p, it.d, it.h_prev, it.h_next, it.t, b, it.j0, it.n);
          continue;
        }
        T* h = it.h_next + b * p.P + it.j0;
        T* o = it.d.out ? it.d.out + (it.t * p.B + b) * p.D * p.P + it.j0 : nullptr;
        for (int64_t jj = 0; jj < it.n; ++jj) {
          h[jj] = tile[i * NR + jj];
          if (o) o[jj] = tile[i * NR + jj];
        }
      }
    }
  });
}

// Called by every thread of the team (or alone): packs the weights once, then runs the steps.
template <class T>
void recurrence(bool team, int64_t tid, const RnnCpuPlan& plan, Direction<T>* dirs) {
  constexpr int64_t NR = kNR<T>;
  const RnnParams& p = plan.p;
  const int64_t G = p.gates(), Ho = p.out_size(), blocks = (p.H + NR - 1) / NR;
  for_items(team, p.D * blocks * G, [&](int64_t item) {
    const Direction<T>& d = dirs[item / (blocks * G)];
    const int64_t q = item / G % blocks, g = item % G;
    pack_panel<T, NR>(d.w_hh + (g * p.H + q * NR) * Ho, Ho, 1, min64(NR, p.H - q * NR), Ho,
                      d.w_pack + (q * G + g) * Ho * NR);
  });
  if (p.P > 0) {
    const int64_t pblocks = (p.P + NR - 1) / NR;
    for_items(team, p.D * pblocks, [&](int64_t item) {
      const Direction<T>& d = dirs[item / pblocks];
      const int64_t q = item % pblocks;
      pack_panel<T, NR>(d.w_hr + q * NR * p.H, p.H, 1, min64(NR, p.P - q * NR), p.H, d.hr_pack + q * p.H * NR);
    });
  }
  for (int64_t s = 0; s < p.T; ++s) {
    run_step(team, tid, p, dirs, plan.lengths, s);
    if (p.P > 0) run_projection(team, tid, p, dirs, plan.lengths, s);
  }
}

template <class T>
int run(const RnnCpuPlan& plan) {
  Direction<T> dirs[2];
  for (int64_t d = 0; d < plan.p.D; ++d) dirs[d] = direction_of<T>(plan.dirs[d], d == 1);
#ifdef _OPENMP
  if (plan.threads > 1) {
#pragma omp parallel num_threads(plan.threads)
    recurrence<T>(omp_get_num_threads() > 1, omp_get_thread_num(), plan, dirs);
    return kRnnOk;
  }
#endif
  recurrence<T>(false, 0, plan, dirs);
  return kRnnOk;
}

}  // namespace

int rnn_recurrence(const RnnCpuPlan& plan, DType dtype) {
  switch (dtype) {
    case DType::float32: return run<float>(plan);
    case DType::float64: return run<double>(plan);
    default: return kRnnBadDtype;
  }
}

}  // namespace pdk::PDK_ISA_NAMESPACE
