// Validation of RNN-family parameters and the CUDA path setting (compiled into every extension).
#include "core/named_choice.h"
#include "rnn/rnn.h"

namespace pdk {

namespace {
const char* const kPathNames[] = {"auto", "step", "sequence"};
NamedChoice<3> cuda_path("set_rnn_path", kPathNames);
}  // namespace

void check_rnn_params(const RnnParams& p, const RnnDirection* dirs) {
  const int mode = static_cast<int>(p.mode);
  PDK_CHECK(mode >= 0 && mode <= 3, "rnn: unknown mode ", mode);
  PDK_CHECK(p.T >= 0 && p.B >= 0 && p.I >= 0, "rnn: sizes must be >= 0, got T=", p.T, " B=", p.B, " I=", p.I);
  PDK_CHECK(p.H >= 1, "rnn: hidden_size must be >= 1, got ", p.H);
  PDK_CHECK(p.D == 1 || p.D == 2, "rnn: directions must be 1 or 2, got ", p.D);
  PDK_CHECK(p.P >= 0 && (p.P == 0 || (p.mode == RnnMode::lstm && p.P < p.H)),
            "rnn: proj_size must be 0, or in [1, hidden_size) for LSTM, got ", p.P);
  for (int64_t d = 0; d < p.D; ++d) {
    PDK_CHECK(dirs[d].w_hh != 0 && (dirs[d].w_ih != 0 || p.I == 0), "rnn: direction ", d, " has no weights");
    PDK_CHECK(p.P == 0 || dirs[d].w_hr != 0, "rnn: direction ", d, " has no projection weight");
    PDK_CHECK(dirs[d].w_peephole == 0 || p.mode == RnnMode::lstm, "rnn: peepholes are for LSTM only");
    PDK_CHECK(dirs[d].hn != 0 && (p.mode != RnnMode::lstm || dirs[d].cn != 0),
              "rnn: direction ", d, " has no state output");
  }
}

void set_rnn_cuda_path(const char* name) { cuda_path.set(name); }

const char* rnn_cuda_path() { return cuda_path.name(); }
RnnCudaPath rnn_cuda_path_choice() { return static_cast<RnnCudaPath>(cuda_path.index()); }

}  // namespace pdk
