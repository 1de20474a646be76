// CPU entry point of the RNN family: validation, state initialisation, summed gate biases, the input projections of all steps (our GEMM), packing workspace and run-time ISA dispatch of the recurrence.
#include <algorithm>
#include <cstring>

#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "core/named_choice.h"
#include "gemm/gemm.h"
#include "gemm/gemm_cpu_kernels.h"
#include "rnn/rnn.h"
#include "rnn/rnn_cpu_kernels.h"

namespace pdk::cpu {
namespace {

const char* const kTeamNames[] = {"auto", "team", "solo"};
NamedChoice<3> team_policy("set_rnn_team", kTeamNames);

int run_recurrence(const RnnCpuPlan& plan, DType dtype) { PDK_ISA_DISPATCH(rnn_recurrence, plan, dtype); }

// Below this many multiply-adds per step (~10 us on one core) the two barriers per step cost more
// than a second thread saves.
constexpr int64_t kParallelStepMacs = 64 * 1024;

// dst[n] = src[n] (src null: zeros).
void init_state(void* dst, std::uintptr_t src, int64_t n, int64_t es) {
  if (src) std::memcpy(dst, reinterpret_cast<const void*>(src), static_cast<std::size_t>(n * es));
  else std::memset(dst, 0, static_cast<std::size_t>(n * es));
}

// dst[g * H + j] = b_ih + b_hh of gate g (either may be absent), except GRU's n gate, whose b_hn
// torch applies inside r * (W_hn h + b_hn): there only b_in. One bias per pre-activation, added
// once by the input GEMM's epilogue (or by the fused step) instead of twice per step.
template <class T>
void sum_gate_biases(const RnnParams& p, const RnnDirection& d, void* dst) {
  const T* b_ih = reinterpret_cast<const T*>(d.b_ih);
  const T* b_hh = reinterpret_cast<const T*>(d.b_hh);
  T* sum = static_cast<T*>(dst);
  const int64_t n = p.gates() * p.H, hh_end = p.mode == RnnMode::gru ? 2 * p.H : n;
  for (int64_t i = 0; i < n; ++i) sum[i] = (b_ih ? b_ih[i] : T(0)) + (b_hh && i < hh_end ? b_hh[i] : T(0));
}

}  // namespace

void set_rnn_team(const char* name) { team_policy.set(name); }

const char* rnn_team() { return team_policy.name(); }

void rnn_layer_forward(const RnnParams& p, const RnnDirection* dirs, std::uintptr_t x, std::uintptr_t lengths,
                       std::uintptr_t out, std::uintptr_t workspace, DType dtype, std::uintptr_t stream) {
  (void)stream;
  check_rnn_params(p, dirs);
  PDK_CHECK(dtype == DType::float32 || dtype == DType::float64, "rnn: expected dtype float32 or float64, got ",
            dtype_name(dtype));
  const int64_t es = dtype_bytes(dtype), G = p.gates(), H = p.H, Ho = p.out_size();
  for (int64_t d = 0; d < p.D; ++d) {
    init_state(reinterpret_cast<void*>(dirs[d].hn), dirs[d].h0, p.B * Ho, es);
    if (p.mode == RnnMode::lstm) init_state(reinterpret_cast<void*>(dirs[d].cn), dirs[d].c0, p.B * H, es);
  }
  if (p.B == 0 || p.T == 0) return;
  // The CPU path allocates its own workspace (aligned_buffer keeps it for the thread's next call:
  // fresh pages for the pre-activations cost 2-5% of an LSTM); `workspace` is the CUDA path's.
  (void)workspace;
  PDK_CHECK(x != 0, "rnn: null input pointer");

  // Threads, and the workspace: one aligned block per direction cut into aligned parts, the
  // pre-activations first (every step's, or with the input fused one step's).
  GemmParams shape;
  shape.M = p.B;
  shape.N = G * H;
  shape.K = Ho;
  const GemmCpuPlan tile = plan_gemm(shape, dtype, 1);
  const bool fused = rnn_cpu_fuses_input(p, es);
  const int64_t step_macs = p.D * p.B * G * H * (fused ? p.I + Ho : Ho);
  RnnCpuPlan plan;
  plan.p = p;
  const int64_t items = p.D * ((H + tile.nr - 1) / tile.nr);  // per phase (P < H)
  plan.threads = step_macs >= kParallelStepMacs && items < kRnnMaxItems
                     ? std::min<int64_t>(omp_max_threads(), kRnnMaxThreads) : 1;
  plan.team = static_cast<RnnCpuTeam>(team_policy.index());
  plan.fused = fused;
  const RnnCpuWorkspace w = rnn_cpu_workspace(p, fused, tile.mr, tile.nr, plan.threads);
  const int64_t parts[] = {round_to_lines(w.pre, es),    round_to_lines(w.w_pack, es), round_to_lines(w.hr_pack, es),
                           round_to_lines(w.h_alt, es),  round_to_lines(w.a_pack, es),
                           round_to_lines(w.h_full, es), round_to_lines(w.f_pack, es),
                           round_to_lines(w.gate_bias, es)};
  constexpr int kParts = sizeof(parts) / sizeof(parts[0]);
  int64_t per_dir = 0;
  for (int64_t n : parts) per_dir += n;
  AlignedBuffer buffer = aligned_buffer(p.D * per_dir, es);
  PDK_CHECK(buffer, "rnn: out of memory for the workspace (", p.D * per_dir * es, " bytes)");
  void* gate_bias[2] = {nullptr, nullptr};
  for (int64_t d = 0; d < p.D; ++d) {
    char* base = static_cast<char*>(buffer.get()) + d * per_dir * es;
    void** slots[kParts] = {&plan.dirs[d].pre,    &plan.dirs[d].w_pack, &plan.dirs[d].hr_pack, &plan.dirs[d].h_alt,
                            &plan.dirs[d].a_pack, &plan.dirs[d].h_full, &plan.dirs[d].f_pack,  &gate_bias[d]};
    for (int i = 0; i < kParts; ++i) {
      *slots[i] = base;
      base += parts[i] * es;
    }
  }

  for (int64_t d = 0; d < p.D; ++d) {
    RnnCpuDirection& c = plan.dirs[d];
    const bool biased = dirs[d].b_ih != 0 || dirs[d].b_hh != 0;
    if (biased) {
      if (dtype == DType::float32) sum_gate_biases<float>(p, dirs[d], gate_bias[d]);
      else sum_gate_biases<double>(p, dirs[d], gate_bias[d]);
    }
    c.x = reinterpret_cast<const void*>(x);
    c.gate_bias = biased ? gate_bias[d] : nullptr;
    c.b_hn = p.mode == RnnMode::gru && dirs[d].b_hh ? reinterpret_cast<const char*>(dirs[d].b_hh) + 2 * H * es
                                                    : nullptr;
    c.w_ih = reinterpret_cast<const void*>(dirs[d].w_ih);
    c.w_hh = reinterpret_cast<const void*>(dirs[d].w_hh);
    c.w_hr = reinterpret_cast<const void*>(dirs[d].w_hr);
    c.peephole = reinterpret_cast<const void*>(dirs[d].w_peephole);
    c.h = reinterpret_cast<void*>(dirs[d].hn);
    c.c = reinterpret_cast<void*>(dirs[d].cn);
    c.out = out ? reinterpret_cast<char*>(out) + d * Ho * es : nullptr;
    // The input projections of every step at once (rnn_input_projection), both biases folded in.
    if (!fused)
      gemm_forward(rnn_input_projection(p, biased), x, dirs[d].w_ih, reinterpret_cast<std::uintptr_t>(c.gate_bias),
                   0, reinterpret_cast<std::uintptr_t>(c.pre), dtype, 0);
  }
  plan.lengths = reinterpret_cast<const int64_t*>(lengths);
  const int status = run_recurrence(plan, dtype);
  PDK_CHECK(status == kRnnOk, "rnn: kernel failed with status ", status);
  if (p.T % 2)  // the last step wrote the odd-step buffer
    for (int64_t d = 0; d < p.D; ++d)
      init_state(plan.dirs[d].h, reinterpret_cast<std::uintptr_t>(plan.dirs[d].h_alt), p.B * Ho, es);
}

}  // namespace pdk::cpu
