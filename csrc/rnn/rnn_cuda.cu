// CUDA RNN kernels: input projections by our GEMM, then a fused gate/cell kernel per step or one whole-sequence kernel per (direction, batch slice).
//
// Paths (RnnCudaPath; auto picks):
// * whole sequence, when H <= kSeqMaxHidden and a block's state (2 x rows x Ho ping-pong hidden
//   states, plus rows x H before the projection) fits kSharedBudget for at least one row: one
//   block per (direction, slice of up to kSeqRows batch rows) loops over all T steps with its rows'
//   hidden state in shared memory and __syncthreads between steps. Blocks never wait for each
//   other (a sequence's rows only need their own state), so it runs on the emulator and costs one
//   launch instead of T.
// * per step otherwise: one thread per (direction, b, j) computes its G gate dot products over
//   h_{t-1} (global ping-pong buffers in the workspace) and the cell update; LSTM projections take
//   a second kernel per step (one thread per (direction, b, p)).
// Both paths run the same per-unit device function (cell) and the gate math of rnn_common.h.
#include <cstdint>

#include "core/cuda_compat.h"
#include "gemm/gemm.h"
#include "rnn/rnn.h"
#include "rnn/rnn_common.h"

namespace pdk::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kSharedBudget = 48 * 1024;
constexpr int64_t kSeqMaxHidden = 256;
constexpr int64_t kSeqRows = 8;

// One direction's arrays (device pointers; null: absent). hbuf / hfull are workspace.
template <class T>
struct DirArgs {
  const T* gx;  // [T, B, G*H] input projections (b_ih included)
  const T* w_hh;
  const T* b_hh;
  const T* w_hr;
  const T* peep;
  const T* h0;
  const T* c0;
  T* hn;
  T* c;      // cn, the cell state, updated in place
  T* out;    // &out[0, 0, d * Ho] (row stride D * Ho) or null
  T* hbuf;   // [2, B, Ho] ping-pong hidden states (per-step path)
  T* hfull;  // [B, H] hidden state before the projection (per-step path)
};
template <class T>
struct Dirs {
  DirArgs<T> d[2];
};

__device__ __forceinline__ bool is_active(const int64_t* lengths, int64_t t, int64_t b) {
  return lengths == nullptr || t < __ldg(lengths + b);
}

// Hidden unit j of row b at step t: the G gate dot products over h_prev (Ho values, global or
// shared), then the cell update. Returns h before any projection; writes the LSTM cell state.
template <class T>
__device__ T cell(const RnnParams& p, const DirArgs<T>& a, const T* h_prev, int64_t t, int64_t b, int64_t j) {
  const int64_t H = p.H, Ho = p.out_size(), G = p.gates();
  T acc[4] = {T(0), T(0), T(0), T(0)};
  for (int64_t k = 0; k < Ho; ++k) {
    const T hk = h_prev[k];
    for (int g = 0; g < 4; ++g)
      if (g < G) acc[g] += __ldg(a.w_hh + (g * H + j) * Ho + k) * hk;
  }
  const T* gx = a.gx + (t * p.B + b) * G * H + j;
  for (int g = 0; g < 4; ++g)  // both biases and x's part, except GRU's n gate (r * (W_hn h + b_hn))
    if (g < G && !(p.mode == RnnMode::gru && g == 2))
      acc[g] += __ldg(gx + g * H) + (a.b_hh ? __ldg(a.b_hh + g * H + j) : T(0));
  const RnnScalarMath<T> m;
  if (p.mode == RnnMode::lstm) {
    const bool peep = a.peep != nullptr;
    T* cp = a.c + b * H + j;
    T c, h;
    lstm_update(m, acc[0], acc[1], acc[2], acc[3], *cp, peep, peep ? __ldg(a.peep + j) : T(0),
                peep ? __ldg(a.peep + H + j) : T(0), peep ? __ldg(a.peep + 2 * H + j) : T(0), c, h);
    *cp = c;
    return h;
  }
  if (p.mode == RnnMode::gru) {
    const T hn = acc[2] + (a.b_hh ? __ldg(a.b_hh + 2 * H + j) : T(0));
    return gru_update(m, acc[0], acc[1], __ldg(gx + 2 * H), T(0), T(0), hn, h_prev[j]);
  }
  return rnn_update(m, acc[0], p.mode == RnnMode::rnn_relu);
}

// Output q of the LSTM projection: W_hr[q, :] . h_full (H values, global or shared).
template <class T>
__device__ T project(const RnnParams& p, const DirArgs<T>& a, const T* h_full, int64_t q) {
  T acc = T(0);
  for (int64_t j = 0; j < p.H; ++j) acc += __ldg(a.w_hr + q * p.H + j) * h_full[j];
  return acc;
}

__device__ __forceinline__ int64_t step_time(const RnnParams& p, int64_t d, int64_t s) { return d ? p.T - 1 - s : s; }

#define PDK_RNN_FOR_EACH(i, total)                                                          \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// dst[i] = src[i] (src null: 0).
template <class T>
__global__ void __launch_bounds__(kThreads) copy_kernel(T* dst, const T* src, int64_t n) {
  PDK_RNN_FOR_EACH(i, n) dst[i] = src ? src[i] : T(0);
}

// Step s of the per-step path, one thread per (direction, b, j).
template <class T>
__global__ void __launch_bounds__(kThreads)
step_kernel(RnnParams p, Dirs<T> dirs, const int64_t* __restrict__ lengths, int64_t s, int64_t total) {
  const int64_t H = p.H, Ho = p.out_size();
  PDK_RNN_FOR_EACH(i, total) {
    const int64_t d = i / (p.B * H), b = i / H % p.B, j = i % H, t = step_time(p, d, s);
    const DirArgs<T>& a = dirs.d[d];
    const T* h_prev = a.hbuf + (s & 1) * p.B * Ho;
    T* h_next = a.hbuf + ((s + 1) & 1) * p.B * Ho;
    T* o = a.out ? a.out + (t * p.B + b) * p.D * Ho + j : nullptr;
    if (!is_active(lengths, t, b)) {
      if (p.P == 0) {  // keep the state; a padded step outputs zeros
        h_next[b * Ho + j] = h_prev[b * Ho + j];
        if (o) *o = T(0);
      }
      continue;
    }
    const T h = cell(p, a, h_prev + b * Ho, t, b, j);
    if (p.P > 0) {
      a.hfull[b * H + j] = h;
    } else {
      h_next[b * Ho + j] = h;
      if (o) *o = h;
    }
  }
}

// The LSTM projection of step s (per-step path), one thread per (direction, b, q).
template <class T>
__global__ void __launch_bounds__(kThreads)
projection_kernel(RnnParams p, Dirs<T> dirs, const int64_t* __restrict__ lengths, int64_t s, int64_t total) {
  const int64_t P = p.P;
  PDK_RNN_FOR_EACH(i, total) {
    const int64_t d = i / (p.B * P), b = i / P % p.B, q = i % P, t = step_time(p, d, s);
    const DirArgs<T>& a = dirs.d[d];
    T* h_next = a.hbuf + ((s + 1) & 1) * p.B * P;
    T* o = a.out ? a.out + (t * p.B + b) * p.D * P + q : nullptr;
    const bool on = is_active(lengths, t, b);
    const T h = on ? project(p, a, a.hfull + b * p.H, q) : a.hbuf[(s & 1) * p.B * P + b * P + q];
    h_next[b * P + q] = h;
    if (o) *o = on ? h : T(0);
  }
}

// The whole sequence for one (direction, slice of `rows` batch rows): hidden states in shared
// memory ([2][rows * Ho] ping-pong, then [rows * H] before the projection). Launch bounds with one
// block per SM: the default (register cap of 64 for 256 threads) spilled the double kernel; with
// it nvcc takes 94 (float) / 126 (double) registers and spills nothing, still 2 blocks per SM.
template <class T>
__global__ void __launch_bounds__(kThreads, 1)
sequence_kernel(RnnParams p, Dirs<T> dirs, const int64_t* __restrict__ lengths, int64_t rows, int64_t slices) {
  PDK_EXTERN_SHARED(T, smem);
  const int64_t H = p.H, Ho = p.out_size(), d = blockIdx.x / slices, b0 = blockIdx.x % slices * rows;
  const int64_t nb = rows < p.B - b0 ? rows : p.B - b0;
  const DirArgs<T>& a = dirs.d[d];
  // hidden states of even / odd steps at smem + (s & 1) * rows * Ho (arithmetic, not a pointer
  // array, which would live in local memory)
  T* hf = smem + 2 * rows * Ho;
  for (int64_t i = threadIdx.x; i < nb * Ho; i += blockDim.x) smem[i] = a.h0 ? a.h0[b0 * Ho + i] : T(0);
  if (p.mode == RnnMode::lstm)
    for (int64_t i = threadIdx.x; i < nb * H; i += blockDim.x) a.c[b0 * H + i] = a.c0 ? a.c0[b0 * H + i] : T(0);
  __syncthreads();
  for (int64_t s = 0; s < p.T; ++s) {
    const int64_t t = step_time(p, d, s);
    const T* prev = smem + (s & 1) * rows * Ho;
    T* next = smem + ((s + 1) & 1) * rows * Ho;
    for (int64_t i = threadIdx.x; i < nb * H; i += blockDim.x) {
      const int64_t r = i / H, j = i % H, b = b0 + r;
      T* o = a.out ? a.out + (t * p.B + b) * p.D * Ho + j : nullptr;
      if (!is_active(lengths, t, b)) {
        if (p.P == 0) {
          next[r * Ho + j] = prev[r * Ho + j];
          if (o) *o = T(0);
        }
        continue;
      }
      const T h = cell(p, a, prev + r * Ho, t, b, j);
      if (p.P > 0) {
        hf[r * H + j] = h;
      } else {
        next[r * Ho + j] = h;
        if (o) *o = h;
      }
    }
    if (p.P > 0) {
      __syncthreads();  // hf complete
      for (int64_t i = threadIdx.x; i < nb * p.P; i += blockDim.x) {
        const int64_t r = i / p.P, q = i % p.P, b = b0 + r;
        T* o = a.out ? a.out + (t * p.B + b) * p.D * p.P + q : nullptr;
        const bool on = is_active(lengths, t, b);
        const T h = on ? project(p, a, hf + r * H, q) : prev[r * p.P + q];
        next[r * p.P + q] = h;
        if (o) *o = on ? h : T(0);
      }
    }
    __syncthreads();  // next complete before it is read as prev (and prev free to be overwritten)
  }
  const T* last = smem + (p.T & 1) * rows * Ho;
  for (int64_t i = threadIdx.x; i < nb * Ho; i += blockDim.x) a.hn[b0 * Ho + i] = last[i];
}

template <class T>
void copy_state(T* dst, const T* src, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  auto* kernel = &copy_kernel<T>;
  PDK_LAUNCH(kernel, grid_for(n, kThreads), kThreads, 0, stream)(dst, src, n);
}

// Rows per block of the whole-sequence path (0: its state does not fit shared memory).
int64_t sequence_rows(const RnnParams& p, int64_t es) {
  const int64_t per_row = (2 * p.out_size() + (p.P > 0 ? p.H : 0)) * es;
  const int64_t fit = kSharedBudget / per_row;
  return fit < kSeqRows ? (fit < p.B ? fit : p.B) : (kSeqRows < p.B ? kSeqRows : p.B);
}

template <class T>
void run(const RnnParams& p, const RnnDirection* dirs, const T* x, const int64_t* lengths, T* out, T* ws,
         cudaStream_t stream) {
  const int64_t G = p.gates(), H = p.H, Ho = p.out_size(), es = sizeof(T);
  Dirs<T> args{};
  for (int64_t d = 0; d < p.D; ++d) {
    const RnnDirection& r = dirs[d];
    DirArgs<T>& a = args.d[d];
    T* gx = ws + d * p.T * p.B * G * H;
    a.gx = gx;
    a.w_hh = reinterpret_cast<const T*>(r.w_hh);
    a.b_hh = reinterpret_cast<const T*>(r.b_hh);
    a.w_hr = reinterpret_cast<const T*>(r.w_hr);
    a.peep = reinterpret_cast<const T*>(r.w_peephole);
    a.h0 = reinterpret_cast<const T*>(r.h0);
    a.c0 = reinterpret_cast<const T*>(r.c0);
    a.hn = reinterpret_cast<T*>(r.hn);
    a.c = reinterpret_cast<T*>(r.cn);
    a.out = out ? out + d * Ho : nullptr;
    a.hbuf = ws + p.D * p.T * p.B * G * H + d * 2 * p.B * Ho;
    a.hfull = ws + p.D * (p.T * p.B * G * H + 2 * p.B * Ho) + d * p.B * H;
    if (p.T > 0) {  // gx[T * B, G * H] = x @ W_ih^T + b_ih, one GEMM for all steps
      gemm_forward(rnn_input_projection(p, r.b_ih != 0), reinterpret_cast<std::uintptr_t>(x), r.w_ih, r.b_ih, 0,
                   reinterpret_cast<std::uintptr_t>(gx), sizeof(T) == 4 ? DType::float32 : DType::float64,
                   reinterpret_cast<std::uintptr_t>(stream));
    }
  }
  const RnnCudaPath path = rnn_cuda_path_choice();
  const int64_t rows = sequence_rows(p, es);
  const bool whole = rows > 0 && (path == RnnCudaPath::whole_sequence ||
                                  (path == RnnCudaPath::automatic && H <= kSeqMaxHidden));
  if (whole) {
    const int64_t slices = (p.B + rows - 1) / rows;
    auto* kernel = &sequence_kernel<T>;
    const int64_t shared = (2 * rows * Ho + (p.P > 0 ? rows * H : 0)) * es;
    PDK_LAUNCH(kernel, dim3(static_cast<unsigned>(p.D * slices)), kThreads, static_cast<size_t>(shared), stream)
    (p, args, lengths, rows, slices);
    return;
  }
  for (int64_t d = 0; d < p.D; ++d) {
    copy_state(args.d[d].hbuf, args.d[d].h0, p.B * Ho, stream);
    if (p.mode == RnnMode::lstm) copy_state(args.d[d].c, args.d[d].c0, p.B * H, stream);
  }
  auto* step = &step_kernel<T>;
  auto* proj = &projection_kernel<T>;
  const int64_t units = p.D * p.B * H, projected = p.D * p.B * p.P;
  for (int64_t s = 0; s < p.T; ++s) {
    PDK_LAUNCH(step, grid_for(units, kThreads), kThreads, 0, stream)(p, args, lengths, s, units);
    if (p.P > 0) PDK_LAUNCH(proj, grid_for(projected, kThreads), kThreads, 0, stream)(p, args, lengths, s, projected);
  }
  for (int64_t d = 0; d < p.D; ++d) copy_state(args.d[d].hn, args.d[d].hbuf + (p.T & 1) * p.B * Ho, p.B * Ho, stream);
}

}  // namespace

void rnn_layer_forward(const RnnParams& p, const RnnDirection* dirs, std::uintptr_t x, std::uintptr_t lengths,
                       std::uintptr_t out, std::uintptr_t workspace, DType dtype, std::uintptr_t stream) {
  check_rnn_params(p, dirs);
  if (p.B == 0) return;
  PDK_CHECK(workspace != 0, "rnn: null workspace pointer");
  PDK_CHECK(p.T == 0 || x != 0, "rnn: null input pointer");
  PDK_DISPATCH_FLOATING(dtype, "rnn", [&] {
    run<scalar_t>(p, dirs, reinterpret_cast<const scalar_t*>(x), reinterpret_cast<const int64_t*>(lengths),
                  reinterpret_cast<scalar_t*>(out), reinterpret_cast<scalar_t*>(workspace), as_stream(stream));
  });
  check_cuda_launch("rnn");
}

}  // namespace pdk::cuda
