// Per-ISA CPU RNN recurrence: per step h_{t-1} @ W_hh^T through the GEMM's packed micro-kernel (a batch of one: its matrix-vector product), gate nonlinearities and cell update fused after each tile.
//
// Compiled once per instruction set like gemm_cpu_kernels.cpp, under the same ODR rules (see
// there): everything in pdk::PDK_ISA_NAMESPACE, helpers in an anonymous namespace, no std::
// templates, no PDK_CHECK; the shared templates of rnn_common.h are instantiated only with this
// file's own Math types (so their symbols carry the ISA namespace). rnn_cpu.cpp validates,
// computes the input projections of all steps with one GEMM per direction and allocates the
// workspace.
//
// Per step, a work item is one hidden block (NR units) of one direction: for each MR-row panel of
// h_{t-1} (packed by each thread for itself) it multiplies the G gate panels of W_hh^T (NR wide,
// side by side) and adds the products to the pre-activations the input GEMM left in `pre`, so
// every gate of those units is complete, then applies the cell update to them at once (vectorised
// sigmoid / tanh) while they are in L1. The micro-kernel reads its C tile only at the end and
// prefetches it at the start, so streaming `pre` from memory overlaps the product.
//
// Each thread owns a contiguous range of items, the same at every step, and walks it forwards at
// even steps and backwards at odd ones, so the panels it used last, still in its L2, are the
// first it needs next; threads that run out steal items (run_phase), so a descheduled thread
// delays a step by one item at most, not by its share. Whoever runs an item at step 0 packs its
// weight panels (no serial packing, no barrier before use; later steps read them after the
// step's completion). A bidirectional layer runs both directions in the same steps (direction 1
// at T-1-s): on an even number of threads each half is a team of its own for one direction, which
// never waits for the other; otherwise their items are in one list. The cells, and sequences of 4
// rows or more whose weights stay in cache, fold the input projection into the same tiles
// (rnn_cpu_fuses_input); a single step packs each block's panels into a per-thread buffer.
// A batch of one packs nothing (rnn_cpu_multiplies_rows): each gate's rows of the block are a
// matrix-vector product on the unpacked weights, which streams W_hh once per step; its hidden
// blocks are 2 NR units wide.
#include <sched.h>
#include <time.h>

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
  T* pre;
  const T* x;
  const T* gate_bias;  // added by the update (fused input), null when the input GEMM added it
  const T* b_hn;
  const T* w_ih;
  const T* w_hh;
  const T* w_hr;
  const T* peep;
  T* hb[2];  // hidden state read by even / odd steps (h_{t-1}); the other one receives h_t
  T *c, *out, *w_pack, *hr_pack, *a_pack, *h_full, *f_pack;
  bool reverse;
  bool pre_reused;  // the input is fused: pre is one step's, reused by every step
};

template <class T>
Direction<T> direction_of(const RnnCpuDirection& d, bool reverse, bool fused) {
  Direction<T> r;
  r.pre = static_cast<T*>(d.pre);
  r.x = static_cast<const T*>(d.x);
  r.gate_bias = fused ? static_cast<const T*>(d.gate_bias) : nullptr;
  r.b_hn = static_cast<const T*>(d.b_hn);
  r.w_ih = static_cast<const T*>(d.w_ih);
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
  r.pre_reused = fused;
  return r;
}

// The tile of GRU's W_hn h (kept apart from the pre-activations): row i, column jj at tile[i * NR + jj].
constexpr int64_t kTileSize = int64_t{kMR} * kNR<float>;  // >= kMR * kNR<double>

// The cell update of row b, hidden units [j, j + width of V) at step t: the pre-activations of the
// G gates are complete in `pre` (row b of step t), GRU's W_hn h + (no bias yet) in `hn_tile`.
template <class T, class V, class Math>
__attribute__((always_inline)) inline void cell_update(const Math& m, const RnnParams& p, const Direction<T>& d,
                                                       const T* hn_tile, const T* h_prev, T* h_next, int64_t t,
                                                       int64_t b, int64_t j) {
  using A = Access<T, V>;
  const int64_t H = p.H, Ho = p.out_size(), GH = p.gates() * H;
  const T* pre_row = d.pre + ((d.pre_reused ? 0 : t) * p.B + b) * GH + j;
  const V zero{};
  auto pre = [&](int g) {
    V v = A::load(pre_row + g * H);
    if (d.gate_bias) v = v + A::load(d.gate_bias + g * H + j);
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
      V hn = A::load(hn_tile);
      if (d.b_hn) hn = hn + A::load(d.b_hn + j);
      h = gru_update(m, pre(0), pre(1), pre(2), zero, zero, hn, A::load(h_prev + b * Ho + j));
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

// Work sharing of one phase (a step, or a step's projection) without a barrier the OS can stall:
// the home ranges of core/isa_work_ranges.h. These 2-core machines are shared: a thread that is
// descheduled for a time slice would hold a barrier (and its static share of the step) for
// milliseconds, 100 times per sequence. A thread keeps its hidden blocks (it packs and keeps their
// weight panels) and walks them forwards at even steps and backwards at odd ones (the panels it
// used last, still in its L2, come first). A phase ends when the shared count of completed items
// reaches its total: a thread waits only for items in progress, never for one that has not started.
static_assert(kRnnMaxThreads <= kMaxRangeThreads && kRnnMaxItems <= kMaxRangeItems, "ItemRanges too small");
// Items one thread has completed over all phases, on a line of its own: only its thread writes
// it, so completing an item costs no cache-line transfer (a single shared count moved between the
// cores at every item: 16 items per step of a batch-1 LSTM); waiters add up every thread's.
struct alignas(64) DoneCount {
  uint64_t n;
};

// The calling thread's place in the team and the shared schedule (size 1: no team).
struct Team {
  int64_t tid, size;
  ItemRange* ranges;  // one per thread
  DoneCount* done;    // per thread: items it completed over all phases
  int64_t* soloist;   // 0, or 1 + the thread that carries on alone (see run_phase)
  int64_t* finished;  // set once a thread has run every phase
  RnnCpuTeam policy = RnnCpuTeam::automatic;
  int64_t first_direction = 0, directions = 1;  // the team runs directions [first, first + directions)
  uint64_t phase = 0, target = 0, completed = 0;  // completed: this thread's items (its done count)
  double worked = 0, waited = 0;  // seconds this thread spent on items and waiting for others
};

// Waits (spinning briefly, then yielding the core: the thread being waited for may need it) until
// the team has completed `target` items; the acquire pairs with the release of each completion.
inline void wait_for(const Team& team) {
  auto total = [&] {
    uint64_t sum = 0;
    for (int64_t t = 0; t < team.size; ++t) sum += __atomic_load_n(&team.done[t].n, __ATOMIC_ACQUIRE);
    return sum;
  };
  for (int spins = 0; total() < team.target; ++spins) {
    if (spins >= 2000) sched_yield();
#if defined(__x86_64__) || defined(__i386__)
    else __builtin_ia32_pause();
#endif
  }
}

inline double seconds() {
#ifdef _OPENMP
  return omp_get_wtime();
#else
  return 0;
#endif
}

// Waits longer than this (and longer than the thread's own work so far) mean another thread of
// the team keeps being descheduled in the middle of an item.
constexpr double kStallSeconds = 1e-3;

// Runs f(item) for every item of [0, n) of one phase of step s, shared by the team as above.
// Returns false when the thread has left the team: once a thread has waited longer in total than
// it worked (another thread keeps being descheduled holding items: the machine is oversubscribed),
// it carries on alone, which is then faster, and the others leave at their next phase (they may
// finish the phase they are in; the soloist still visits every range, so nothing is lost).
template <class F>
bool run_phase(Team& team, int64_t n, int64_t s, const F& f) {
  const bool forward = s % 2 == 0;
  const uint64_t phase = team.phase++;
  team.target += static_cast<uint64_t>(n);
  if (team.size == 1) {
    if (forward)
      for (int64_t i = 0; i < n; ++i) f(i);
    else
      for (int64_t i = n; i-- > 0;) f(i);
    return true;
  }
  const int64_t soloist = __atomic_load_n(team.soloist, __ATOMIC_ACQUIRE);
  if (soloist != 0 && soloist != team.tid + 1) return false;
  const double start = seconds();
  claim_items(team.ranges, phase, n, team.tid, team.size, forward, [&](int64_t i) {
    f(i);
    __atomic_store_n(&team.done[team.tid].n, ++team.completed, __ATOMIC_RELEASE);
  });
  const double claimed = seconds();
  wait_for(team);
  team.worked += claimed - start;
  team.waited += seconds() - claimed;
  const bool stalled = team.waited > kStallSeconds && team.waited > team.worked;
  if (soloist == 0 && team.policy != RnnCpuTeam::team && (stalled || team.policy == RnnCpuTeam::solo)) {
    int64_t none = 0;
    __atomic_compare_exchange_n(team.soloist, &none, team.tid + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  }
  return true;
}


// Rows [0, B) of src (row stride `depth`) as MR-row panels of depth `depth` (the GEMM's A operand)
// at dst, starting at column `at` of panels `width` deep: [x_t | h_{t-1}] is packed as two parts.
template <class T>
void pack_rows(const RnnParams& p, const T* src, int64_t depth, int64_t at, int64_t width, T* dst) {
  for (int64_t r0 = 0; r0 < p.B; r0 += kMR)
    pack_panel<T, kMR>(src + r0 * depth, depth, 1, min64(kMR, p.B - r0), depth, dst + r0 * width + at * kMR);
}

// Rows [r0, r0 + NR) (the units of one gate and hidden block) of the weights as one NR-wide B
// panel of depth `width`, W_ih^T (fused input) above W_hh^T; rows past `units` are zero.
template <class T>
void pack_gate_panel(const RnnParams& p, const Direction<T>& d, bool fused, int64_t r0, int64_t units, T* dst) {
  constexpr int NR = kNR<T>;
  const int64_t Ho = p.out_size(), in = fused ? p.I : 0;
  if (in > 0) pack_panel<T, NR>(d.w_ih + r0 * p.I, p.I, 1, units, p.I, dst);
  pack_panel<T, NR>(d.w_hh + r0 * Ho, Ho, 1, units, Ho, dst + in * NR);
}

// One step of every direction: each item multiplies the G gate panels of its hidden block into
// the pre-activations of every row panel, then updates those units while they are in L1.
template <class T>
bool run_step(Team& team, const RnnCpuPlan& plan, Direction<T>* dirs, int64_t s) {
  constexpr int64_t NR = kNR<T>, L = kLanes<T>;
  using V = typename Vec<T>::type;
  const RnnParams& p = plan.p;
  const bool fused = plan.fused, gru = p.mode == RnnMode::gru;
  const bool by_rows = rnn_cpu_multiplies_rows(p);
  // Hidden units per item: a panel's NR, or twice that for a batch of one, whose items read each
  // gate's rows of W_hh as one region: half as many, twice as long streams for the prefetchers
  // (2.3% faster on the batch-1 LSTM, paired in one process).
  const int64_t U = by_rows ? 2 * NR : NR;
  static_assert(2 * NR <= kTileSize, "hn_tile holds a batch-of-one block");
  const int64_t G = p.gates(), GH = G * p.H, Ho = p.out_size(), blocks = (p.H + U - 1) / U;
  const int64_t depth = fused ? p.I + Ho : Ho, rows = padded_rows(p.B);
  const VecMath<T> vm;
  const ScalarMath<T> sm;
  bool packed_rows[2] = {false, false};
  return run_phase(team, team.directions * blocks, s, [&](int64_t item) {
    const int64_t di = team.first_direction + item / blocks, q = item % blocks, j0 = q * U, n = min64(U, p.H - j0);
    const Direction<T>& d = dirs[di];
    const int64_t t = d.reverse ? p.T - 1 - s : s;
    const T* h_prev = d.hb[s & 1];
    T* h_next = d.hb[(s + 1) & 1];
    T *a = nullptr, *w = nullptr;
    if (!by_rows) {
      // A: this step's rows, packed by each thread for itself the first time it meets the direction.
      a = d.a_pack + team.tid * rows * depth;
      if (!packed_rows[di]) {
        if (fused && p.I > 0) pack_rows(p, d.x + t * p.B * p.I, p.I, 0, depth, a);
        pack_rows(p, h_prev, Ho, depth - Ho, depth, a);
        packed_rows[di] = true;
      }
      // B: the block's gate panels, packed by their owner at its first step (sequences keep them).
      w = p.T > 1 ? d.w_pack + q * G * depth * NR : d.w_pack + team.tid * G * depth * NR;
      if (s == 0)
        for (int64_t g = 0; g < G; ++g) pack_gate_panel(p, d, fused, g * p.H + j0, n, w + g * depth * NR);
    }
    alignas(64) T hn_tile[kTileSize];
    for (int64_t r0 = 0; r0 < p.B; r0 += kMR) {
      const int64_t m = min64(kMR, p.B - r0);
      T* pre = d.pre + ((d.pre_reused ? 0 : t) * p.B + r0) * GH + j0;
      if (by_rows && !d.pre_reused) {
        // The single row's pre-activations of step t, which the input GEMM left in L3 before the
        // first step: fetched while the product streams W_hh, instead of when the product's sums
        // and the cell update reach them (the batch-1 LSTM bench row: 1.9% faster, alternating in
        // one process).
        constexpr int64_t kLine = 64 / static_cast<int64_t>(sizeof(T));
        for (int64_t g = 0; g < G; ++g)
          for (int64_t u = 0; u < n; u += kLine) __builtin_prefetch(pre + g * p.H + u, 1, 3);
      }
      for (int64_t g = 0; g < G; ++g) {
        const bool apart = gru && g == 2;  // W_hn h goes to hn_tile, not into the pre-activation
        if (by_rows) {  // the single row: this gate's weight rows times h_{t-1} (and x_t when fused)
          const int64_t r = g * p.H + j0;
          T* y = apart ? hn_tile : pre + g * p.H;
          if (fused) multiply_rows_by_vector(n, p.I, d.w_ih + r * p.I, p.I, d.x + t * p.I, y, false);
          multiply_rows_by_vector(n, Ho, d.w_hh + r * Ho, Ho, h_prev, y, !apart);
          continue;
        }
        const PackedRows<T> panel{w + g * depth * NR};
        if (apart) multiply_tile(depth, a + r0 * depth, panel, hn_tile, NR, m, NR, false);
        else multiply_tile(depth, a + r0 * depth, panel, pre + g * p.H, GH, m, n, !fused);
      }
      for (int64_t i = 0; i < m; ++i) {
        const int64_t b = r0 + i;
        if (!active(plan.lengths, t, b)) {
          if (p.P == 0) skip_step(p, d, h_prev, h_next, t, b, j0, n);
          continue;
        }
        const T* hn = hn_tile + i * NR;
        if (n == U) {
          for (int64_t v = 0; v < U; v += L)
            cell_update<T, V>(vm, p, d, hn + v, h_prev, h_next, t, b, j0 + v);
        } else {
          for (int64_t jj = 0; jj < n; ++jj)
            cell_update<T, T>(sm, p, d, hn + jj, h_prev, h_next, t, b, j0 + jj);
        }
      }
    }
  });
}

// LSTM projection of one step: h_t = h_full @ W_hr^T for the active rows (a phase of its own:
// h_full is complete). W_hr's panels are packed by their owner at its first step.
template <class T>
bool run_projection(Team& team, const RnnCpuPlan& plan, Direction<T>* dirs, int64_t s) {
  constexpr int64_t NR = kNR<T>;
  const RnnParams& p = plan.p;
  const int64_t blocks = (p.P + NR - 1) / NR, rows = padded_rows(p.B);
  bool packed_rows[2] = {false, false};
  return run_phase(team, team.directions * blocks, s, [&](int64_t item) {
    const int64_t di = team.first_direction + item / blocks, q = item % blocks, j0 = q * NR, n = min64(NR, p.P - j0);
    const Direction<T>& d = dirs[di];
    const int64_t t = d.reverse ? p.T - 1 - s : s;
    T* a = d.f_pack + team.tid * rows * p.H;
    if (!packed_rows[di]) {
      pack_rows(p, d.h_full, p.H, 0, p.H, a);
      packed_rows[di] = true;
    }
    T* w = d.hr_pack + q * p.H * NR;
    if (s == 0) pack_panel<T, NR>(d.w_hr + j0 * p.H, p.H, 1, n, p.H, w);
    alignas(64) T tile[kTileSize];
    for (int64_t r0 = 0; r0 < p.B; r0 += kMR) {
      const int64_t m = min64(kMR, p.B - r0);
      multiply_tile(p.H, a + r0 * p.H, PackedRows<T>{w}, tile, NR, m, NR, false);
      for (int64_t i = 0; i < m; ++i) {
        const int64_t b = r0 + i;
        const T* h_prev = d.hb[s & 1];
        T* h_next = d.hb[(s + 1) & 1];
        if (!active(plan.lengths, t, b)) {
          skip_step(p, d, h_prev, h_next, t, b, j0, n);
          continue;
        }
        T* h = h_next + b * p.P + j0;
        T* o = d.out ? d.out + (t * p.B + b) * p.D * p.P + j0 : nullptr;
        for (int64_t jj = 0; jj < n; ++jj) {
          h[jj] = tile[i * NR + jj];
          if (o) o[jj] = tile[i * NR + jj];
        }
      }
    }
  });
}

// Called by every thread of the team (or alone): the steps, each phase complete before the next
// starts (h_t must be whole before any thread packs it for the next step). A thread that left the
// team sleeps until the soloist is done rather than spinning in OpenMP's closing barrier, which
// would take a core from the soloist or from whoever shares the machine.
template <class T>
void recurrence(Team team, const RnnCpuPlan& plan, Direction<T>* dirs) {
  for (int64_t s = 0; s < plan.p.T; ++s) {
    if (!run_step(team, plan, dirs, s) || (plan.p.P > 0 && !run_projection(team, plan, dirs, s))) {
      const timespec nap{0, 100 * 1000};
      while (!__atomic_load_n(team.finished, __ATOMIC_ACQUIRE)) nanosleep(&nap, nullptr);
      return;
    }
  }
  if (team.finished) __atomic_store_n(team.finished, 1, __ATOMIC_RELEASE);
}

template <class T>
int run(const RnnCpuPlan& plan) {
  Direction<T> dirs[2];
  for (int64_t d = 0; d < plan.p.D; ++d)
    dirs[d] = direction_of<T>(plan.dirs[d], d == 1, plan.fused);
#ifdef _OPENMP
  if (plan.threads > 1) {
    ItemRanges ranges;
    DoneCount done[kRnnMaxThreads] = {};
    struct alignas(64) {
      int64_t soloist = 0, finished = 0;
    } flags[2];
    // The workspace holds plan.threads per-thread parts: OpenMP may give fewer threads, never more.
#pragma omp parallel num_threads(plan.threads)
    {
      // A bidirectional layer on an even number of threads: each half of them runs one direction
      // as a team of its own, and the halves never wait for each other (the directions share no
      // state). With two threads, the bidirectional B = 32 LSTM bench row went from 1.14 and 1.00
      // to 0.96 and 0.98 (builds alternating) against one team waiting at every step for both
      // directions' items.
      const int64_t n = omp_get_num_threads(), tid = omp_get_thread_num();
      const int64_t teams = plan.p.D == 2 && n % 2 == 0 ? 2 : 1, size = n / teams, team = tid / size;
      Team mine{tid % size, size, ranges.at + team * size, done + team * size, &flags[team].soloist,
                &flags[team].finished, plan.team};
      mine.first_direction = teams == 2 ? team : 0;
      mine.directions = plan.p.D / teams;
      recurrence<T>(mine, plan, dirs);
    }
    return kRnnOk;
  }
#endif
  Team alone{0, 1, nullptr, nullptr, nullptr, nullptr};
  alone.directions = plan.p.D;
  recurrence<T>(alone, plan, dirs);
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
