// CPU entry point of the RNN family: validation, state initialisation, the input projections of all steps (our GEMM), packing workspace and run-time ISA dispatch of the recurrence.
#include <cstring>

#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "gemm/gemm.h"
#include "gemm/gemm_cpu_kernels.h"
#include "rnn/rnn.h"
#include "rnn/rnn_cpu_kernels.h"

namespace pdk::cpu {
namespace {

int run_recurrence(const RnnCpuPlan& plan, DType dtype) { PDK_ISA_DISPATCH(rnn_recurrence, plan, dtype); }

// Below this many multiply-adds per step (~10 us on one core) the two barriers per step cost more
// than a second thread saves.
constexpr int64_t kParallelStepMacs = 64 * 1024;

// dst[n] = src[n] (src null: zeros).
void init_state(void* dst, std::uintptr_t src, int64_t n, int64_t es) {
  if (src) std::memcpy(dst, reinterpret_cast<const void*>(src), static_cast<std::size_t>(n * es));
  else std::memset(dst, 0, static_cast<std::size_t>(n * es));
}

}  // namespace

void rnn_layer_forward(const RnnParams& p, const RnnDirection* dirs, std::uintptr_t x, std::uintptr_t lengths,
                       std::uintptr_t out, std::uintptr_t workspace, DType dtype, std::uintptr_t stream) {
  (void)stream;
  check_rnn_params(p, dirs);
  PDK_CHECK(dtype == DType::float32 || dtype == DType::float64, "rnn: expected dtype float32 or float64, got ",
            dtype_name(dtype));
  const int64_t es = dtype == DType::float32 ? 4 : 8, G = p.gates(), H = p.H, Ho = p.out_size();
  for (int64_t d = 0; d < p.D; ++d) {
    init_state(reinterpret_cast<void*>(dirs[d].hn), dirs[d].h0, p.B * Ho, es);
    if (p.mode == RnnMode::lstm) init_state(reinterpret_cast<void*>(dirs[d].cn), dirs[d].c0, p.B * H, es);
  }
  if (p.B == 0 || p.T == 0) return;
  PDK_CHECK(x != 0 && workspace != 0, "rnn: null input or workspace pointer");

  // The input projections of every step at once (rnn_input_projection).
  RnnCpuPlan plan;
  plan.p = p;
  for (int64_t d = 0; d < p.D; ++d) {
    void* gx = reinterpret_cast<char*>(workspace) + d * p.T * p.B * G * H * es;
    gemm_forward(rnn_input_projection(p, dirs[d].b_ih != 0), x, dirs[d].w_ih, dirs[d].b_ih, 0,
                 reinterpret_cast<std::uintptr_t>(gx), dtype, 0);
    RnnCpuDirection& c = plan.dirs[d];
    c.gx = gx;
    c.w_hh = reinterpret_cast<const void*>(dirs[d].w_hh);
    c.b_hh = reinterpret_cast<const void*>(dirs[d].b_hh);
    c.w_hr = reinterpret_cast<const void*>(dirs[d].w_hr);
    c.peephole = reinterpret_cast<const void*>(dirs[d].w_peephole);
    c.h = reinterpret_cast<void*>(dirs[d].hn);
    c.c = reinterpret_cast<void*>(dirs[d].cn);
    c.out = out ? reinterpret_cast<char*>(out) + d * Ho * es : nullptr;
  }

  // Packing workspace, one aligned block per direction cut into aligned parts.
  GemmParams shape;
  shape.M = p.B;
  shape.N = G * H;
  shape.K = Ho;
  const GemmCpuPlan tile = plan_gemm(shape, dtype, 1);
  const int64_t step_macs = p.D * p.B * G * H * Ho;
  plan.threads = step_macs >= kParallelStepMacs ? omp_max_threads() : 1;
  const RnnCpuWorkspace w = rnn_cpu_workspace(p, tile.mr, tile.nr, plan.threads);
  const int64_t parts[] = {round_to_lines(w.w_pack, es), round_to_lines(w.hr_pack, es), round_to_lines(w.h_alt, es),
                           round_to_lines(w.a_pack, es), round_to_lines(w.h_full, es), round_to_lines(w.f_pack, es)};
  int64_t per_dir = 0;
  for (int64_t n : parts) per_dir += n;
  AlignedBuffer buffer = aligned_buffer(p.D * per_dir, es);
  PDK_CHECK(buffer, "rnn: out of memory for the packed weights (", p.D * per_dir * es, " bytes)");
  for (int64_t d = 0; d < p.D; ++d) {
    char* base = static_cast<char*>(buffer.get()) + d * per_dir * es;
    void** slots[] = {&plan.dirs[d].w_pack, &plan.dirs[d].hr_pack, &plan.dirs[d].h_alt, &plan.dirs[d].a_pack,
                      &plan.dirs[d].h_full, &plan.dirs[d].f_pack};
    for (int i = 0; i < 6; ++i) {
      *slots[i] = base;
      base += parts[i] * es;
    }
  }
  plan.lengths = reinterpret_cast<const int64_t*>(lengths);
  const int status = run_recurrence(plan, dtype);
  PDK_CHECK(status == kRnnOk, "rnn: kernel failed with status ", status);
  if (p.T % 2)  // the last step wrote the odd-step buffer
    for (int64_t d = 0; d < p.D; ++d)
      init_state(plan.dirs[d].h, reinterpret_cast<std::uintptr_t>(plan.dirs[d].h_alt), p.B * Ho, es);
}

}  // namespace pdk::cpu
