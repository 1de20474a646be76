// Self-test kernels of the CUDA emulator: correct kernels for every feature plus planted bugs it must catch.
#include "core/cuda_compat.h"
#include "emu/selftest/emu_selftest.h"

namespace pdk::emu_selftest {
namespace {

constexpr unsigned kFull = 0xffffffffu;

// C[m,n] = A[m,k] B[k,n], row-major, one TILE x TILE output tile per block staged through shared memory.
template <class T, int TILE>
__global__ void __launch_bounds__(TILE * TILE) sgemm_tiled(int m, int n, int k, const T* __restrict__ a,
                                                             const T* __restrict__ b, T* __restrict__ c) {
  __shared__ __align__(16) T as[TILE][TILE];
  __shared__ T bs[TILE][TILE + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int row = blockIdx.y * TILE + ty, col = blockIdx.x * TILE + tx;
  T acc = 0;
  for (int k0 = 0; k0 < k; k0 += TILE) {
    as[ty][tx] = row < m && k0 + tx < k ? a[row * k + k0 + tx] : T(0);
    bs[ty][tx] = k0 + ty < k && col < n ? b[(k0 + ty) * n + col] : T(0);
    __syncthreads();
    for (int kk = 0; kk < TILE; ++kk) acc += as[ty][kk] * bs[kk][tx];
    __syncthreads();
  }
  if (row < m && col < n) c[row * n + col] = acc;
}

// Sums of `width` consecutive elements with shuffles inside each width-lane segment.
__global__ void warp_sum_kernel(int n, int width, bool use_xor, const float* x, float* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = i < n ? x[i] : 0.0f;  // lanes past n stay to take part in the shuffles
  for (int offset = width / 2; offset > 0; offset /= 2)
    v += use_xor ? __shfl_xor_sync(kFull, v, offset, width) : __shfl_down_sync(kFull, v, offset, width);
  if (i < n && threadIdx.x % width == 0) out[i / width] = v;
}

// One partial sum per block: grid-stride accumulation, then a tree in dynamic shared memory.
template <class T>
__global__ void block_sum_kernel(const T* x, T* partial, int n) {
  PDK_EXTERN_SHARED(T, buf);
  T v = 0;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) v += x[i];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = buf[0];
}

// A block-private histogram in shared memory merged into the global one: atomics at both levels.
__global__ void histogram_kernel(int n, int bins, const int* x, unsigned* hist) {
  __shared__ unsigned local[256];
  for (int b = threadIdx.x; b < bins; b += blockDim.x) local[b] = 0;
  __syncthreads();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) atomicAdd(&local[x[i]], 1u);
  __syncthreads();
  for (int b = threadIdx.x; b < bins; b += blockDim.x) atomicAdd(&hist[b], local[b]);
}

// Per warp: ballot, any, all, match_any of the predicate, its warp sum and __activemask. Threads past n
// return first: collectives then involve only the remaining lanes, as on the GPU.
__global__ void warp_vote_kernel(int n, const int* pred, unsigned* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int p = pred[i];
  const unsigned ballot = __ballot_sync(kFull, p);
  const int any = __any_sync(kFull, p);
  const int all = __all_sync(kFull, p);
  const unsigned same = __match_any_sync(kFull, p);
#if PDK_EMULATED || __CUDA_ARCH__ >= 800
  const unsigned sum = __reduce_add_sync(kFull, static_cast<unsigned>(p));
#else
  unsigned sum = p;
  for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(kFull, sum, o);
#endif
  const unsigned active = __activemask();
  __syncwarp(active);
  unsigned* row = out + 6 * i;
  row[0] = ballot;
  row[1] = any;
  row[2] = all;
  row[3] = same;
  row[4] = sum;
  row[5] = active;
}

__global__ void atomics_kernel(int n, const int* x, AtomicTotals* t) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const int v = x[i];
    atomicAdd(&t->fsum, static_cast<float>(v));
    atomicAdd(&t->dsum, static_cast<double>(v));
    atomicAdd(&t->isum, v);
    atomicAdd(&t->usum, static_cast<unsigned>(v));
    atomicAdd(&t->ullsum, static_cast<unsigned long long>(v));
    atomicMax(&t->imax, v);
    atomicMin(&t->imin, v);
    atomicMax(&t->umax, static_cast<unsigned>(v));
    atomicMin(&t->umin, static_cast<unsigned>(v));
    atomicMax(&t->ullmax, static_cast<unsigned long long>(v));
    atomicMin(&t->ullmin, static_cast<unsigned long long>(v));
    int old = atomicAdd(&t->cas_sum, 0), seen;
    while ((seen = atomicCAS(&t->cas_sum, old, old + v)) != old) old = seen;
    atomicExch(&t->exch_count, 1u);
    atomicSub(&t->sub, v);
    atomicOr(&t->or_bits, 1u << (v & 31));
    atomicAnd(&t->and_bits, ~(1u << (v & 31)));
    atomicXor(&t->xor_bits, static_cast<unsigned>(v));
  }
}

// Launch forms: an overload set, a deduced template, and a template whose name has a comma.
__global__ void fill(float* out, float v, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = v;
}
__global__ void fill(int* out, int v, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = v;
}
template <class T>
__global__ void scale(T* out, T factor, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] *= factor;
}
// Each thread changes its own copy of `v`: parameters are per thread.
template <class T, int STEP>
__global__ void add_own_copy(T* out, T v, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  v += STEP * static_cast<T>(threadIdx.x);
  if (i < n) out[i] += v;
}

__global__ void config_probe(unsigned char* sink, long long shared_bytes) {
  PDK_EXTERN_SHARED(unsigned char, buf);
  if (shared_bytes > 0 && threadIdx.x == 0 && blockIdx.x == 0) {
    buf[shared_bytes - 1] = 7;
    if (sink) *sink = buf[shared_bytes - 1];
  }
}

__global__ void barrier_loop_kernel(int iters, unsigned* sink) {
  unsigned v = threadIdx.x;
  for (int i = 0; i < iters; ++i) {
    v += i;
    __syncthreads();
  }
  if (v == 0xdeadbeefu) *sink = v;  // keeps the loop from being optimised away
}

__global__ void shuffle_loop_kernel(int iters, unsigned* sink) {
  unsigned v = threadIdx.x;
  for (int i = 0; i < iters; ++i) v += __shfl_xor_sync(kFull, v, 1 + i % 16);
  if (v == 0xdeadbeefu) *sink = v;
}

// ---- planted bugs ----
__global__ void bug_early_return(int* out) {
  if (threadIdx.x >= 16) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void bug_barrier_lines(int* out) {
  if (threadIdx.x % 2 == 0) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

__global__ void bug_lane_not_in_mask(int* out) {
  out[threadIdx.x] = __shfl_sync(0x0000ffffu, static_cast<int>(threadIdx.x), 0);
}

__global__ void bug_read_outside_mask(int* out) {
  const int lane = threadIdx.x % 32;
  if (lane < 16) out[lane] = __shfl_sync(0x0000ffffu, lane, lane + 16);
}

__global__ void bug_lanes_never_arrive(int* out) {
  const int lane = threadIdx.x % 32;
  if (lane < 16) {
    out[lane] = __shfl_down_sync(kFull, lane, 1);
  } else {
    __syncthreads();
  }
}

// Missing __syncthreads() between the write and the neighbour's read: the value read depends on the
// order in which threads run (and TSan reports the race).
__global__ void bug_missing_sync(int* out) {
  PDK_EXTERN_SHARED(int, buf);
  buf[threadIdx.x] = threadIdx.x;
  out[threadIdx.x] = buf[(threadIdx.x + 1) % blockDim.x];  // BUG: missing_sync
}

__global__ void bug_oob_dynamic_shared(int* out) {
  PDK_EXTERN_SHARED(int, buf);
  buf[threadIdx.x + 1] = threadIdx.x;  // BUG: oob_dynamic_shared (the last thread writes past the end)
  __syncthreads();
  out[threadIdx.x] = buf[threadIdx.x];
}

__global__ void bug_oob_static_shared(int* out) {
  __shared__ int buf[64];
  buf[threadIdx.x + 1] = threadIdx.x;  // BUG: oob_static_shared (thread 63 writes buf[64])
  __syncthreads();
  out[threadIdx.x] = buf[threadIdx.x];
}

__global__ void bug_oob_global(const float* x, float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[0] += x[i];  // BUG: oob_global (`<=` reads one past the end)
}

__global__ void bug_trap(int* out) {
  if (threadIdx.x == 3) __trap();
  out[threadIdx.x] = 1;
}

__global__ void bug_read_exited_lane(int* out) {
  const int lane = threadIdx.x % 32;
  if (lane >= 16) return;
  out[lane] = __shfl_down_sync(kFull, lane, 16);
}

__global__ void bug_mixed_intrinsics(int* out) {
  const int lane = threadIdx.x % 32;
  out[lane] = lane % 2 ? __shfl_sync(kFull, lane, 0) : static_cast<int>(__ballot_sync(kFull, 1));
}

int* as_int(std::uintptr_t p) { return reinterpret_cast<int*>(p); }
float* as_float(std::uintptr_t p) { return reinterpret_cast<float*>(p); }

}  // namespace

void sgemm(int m, int n, int k, std::uintptr_t a, std::uintptr_t b, std::uintptr_t c, std::uintptr_t stream) {
  constexpr int kTile = 16;
  auto* kernel = &sgemm_tiled<float, kTile>;
  const dim3 grid((n + kTile - 1) / kTile, (m + kTile - 1) / kTile), block(kTile, kTile);
  PDK_LAUNCH(kernel, grid, block, 0, as_stream(stream))
  (m, n, k, reinterpret_cast<const float*>(a), reinterpret_cast<const float*>(b), as_float(c));
  check_cuda_launch("selftest_sgemm");
}

void warp_sum(int n, int width, bool use_xor, std::uintptr_t x, std::uintptr_t out, std::uintptr_t stream) {
  PDK_CHECK(width >= 1 && width <= 32 && (width & (width - 1)) == 0, "width: expected a power of two <= 32, got ", width);
  PDK_LAUNCH(warp_sum_kernel, grid_for(n, 128), 128, 0, as_stream(stream))
  (n, width, use_xor, reinterpret_cast<const float*>(x), as_float(out));
  check_cuda_launch("selftest_warp_sum");
}

void block_sum(int n, int blocks, int threads, std::uintptr_t x, std::uintptr_t partial, std::uintptr_t stream) {
  PDK_CHECK(threads >= 1 && (threads & (threads - 1)) == 0, "threads: expected a power of two, got ", threads);
  PDK_LAUNCH(block_sum_kernel, blocks, threads, threads * sizeof(float), as_stream(stream))
  (reinterpret_cast<const float*>(x), as_float(partial), n);
  check_cuda_launch("selftest_block_sum");
}

void histogram(int n, int bins, int blocks, std::uintptr_t x, std::uintptr_t hist, std::uintptr_t stream) {
  PDK_CHECK(bins >= 1 && bins <= 256, "bins: expected 1..256, got ", bins);
  PDK_LAUNCH(histogram_kernel, blocks, 128, 0, as_stream(stream))
  (n, bins, reinterpret_cast<const int*>(x), reinterpret_cast<unsigned*>(hist));
  check_cuda_launch("selftest_histogram");
}

void warp_vote(int n, std::uintptr_t pred, std::uintptr_t out, std::uintptr_t stream) {
  PDK_LAUNCH(warp_vote_kernel, grid_for(n, 64), 64, 0, as_stream(stream))
  (n, reinterpret_cast<const int*>(pred), reinterpret_cast<unsigned*>(out));
  check_cuda_launch("selftest_warp_vote");
}

void atomics(int n, int blocks, std::uintptr_t x, std::uintptr_t totals, std::uintptr_t stream) {
  PDK_LAUNCH(atomics_kernel, blocks, 64, 0, as_stream(stream))
  (n, reinterpret_cast<const int*>(x), reinterpret_cast<AtomicTotals*>(totals));
  check_cuda_launch("selftest_atomics");
}

void launch_forms(int n, std::uintptr_t f, std::uintptr_t i, std::uintptr_t stream) {
  const unsigned grid = grid_for(n, 32);
  PDK_LAUNCH(fill, grid, 32, 0, as_stream(stream))(as_float(f), 1.5f, n);
  PDK_LAUNCH(fill, grid, 32, 0, as_stream(stream))(as_int(i), 7, n);
  PDK_LAUNCH(scale, grid, 32, 0, as_stream(stream))(as_float(f), 2.0f, n);
  auto* add = &add_own_copy<int, 3>;
  PDK_LAUNCH(add, grid, 32, 0, as_stream(stream))(as_int(i), 100, n);
  check_cuda_launch("selftest_launch_forms");
}

void launch_config(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                   long long shared_bytes, long long optin_bytes, bool optin_via_pointer, std::uintptr_t stream) {
  auto* probe = &config_probe;
  if (optin_bytes >= 0) {
    const cudaError_t err =
        optin_via_pointer
            ? cudaFuncSetAttribute(probe, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(optin_bytes))
            : cudaFuncSetAttribute(config_probe, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   static_cast<int>(optin_bytes));
    if (err != cudaSuccess) cudaGetLastError();  // runtime API errors are also the thread's last error
    PDK_CHECK(err == cudaSuccess, "selftest_launch_config: cudaFuncSetAttribute failed: ", cudaGetErrorString(err));
  }
  const dim3 grid(gx, gy, gz), block(bx, by, bz);
  const std::size_t bytes = static_cast<std::size_t>(shared_bytes);
  if (optin_via_pointer)
    PDK_LAUNCH(probe, grid, block, bytes, as_stream(stream))(nullptr, shared_bytes);
  else
    PDK_LAUNCH(config_probe, grid, block, bytes, as_stream(stream))(nullptr, shared_bytes);
  check_cuda_launch("selftest_launch_config");
}

void barrier_loop(int blocks, int threads, int iters, std::uintptr_t stream) {
  PDK_LAUNCH(barrier_loop_kernel, blocks, threads, 0, as_stream(stream))(iters, nullptr);
  check_cuda_launch("selftest_barrier_loop");
}

void shuffle_loop(int blocks, int threads, int iters, std::uintptr_t stream) {
  PDK_LAUNCH(shuffle_loop_kernel, blocks, threads, 0, as_stream(stream))(iters, nullptr);
  check_cuda_launch("selftest_shuffle_loop");
}

// Runs planted bug `which` on one block of n threads (64 for the static-shared one); x and out hold n+ elements.
void bug(int which, int n, std::uintptr_t x, std::uintptr_t out, std::uintptr_t stream) {
  const cudaStream_t s = as_stream(stream);
  int* o = as_int(out);
  switch (static_cast<Bug>(which)) {
    case Bug::early_return: PDK_LAUNCH(bug_early_return, 1, n, 0, s)(o); break;
    case Bug::barrier_lines: PDK_LAUNCH(bug_barrier_lines, 1, n, 0, s)(o); break;
    case Bug::lane_not_in_mask: PDK_LAUNCH(bug_lane_not_in_mask, 1, n, 0, s)(o); break;
    case Bug::read_outside_mask: PDK_LAUNCH(bug_read_outside_mask, 1, n, 0, s)(o); break;
    case Bug::lanes_never_arrive: PDK_LAUNCH(bug_lanes_never_arrive, 1, n, 0, s)(o); break;
    case Bug::missing_sync: PDK_LAUNCH(bug_missing_sync, 1, n, n * sizeof(int), s)(o); break;
    case Bug::oob_dynamic_shared: PDK_LAUNCH(bug_oob_dynamic_shared, 1, n, n * sizeof(int), s)(o); break;
    case Bug::oob_static_shared: PDK_LAUNCH(bug_oob_static_shared, 1, 64, 0, s)(o); break;
    case Bug::oob_global: PDK_LAUNCH(bug_oob_global, 1, n + 1, 0, s)(as_float(x), as_float(out), n); break;
    case Bug::trap: PDK_LAUNCH(bug_trap, 1, n, 0, s)(o); break;
    case Bug::read_exited_lane: PDK_LAUNCH(bug_read_exited_lane, 1, n, 0, s)(o); break;
    case Bug::mixed_intrinsics: PDK_LAUNCH(bug_mixed_intrinsics, 1, n, 0, s)(o); break;
    default: PDK_CHECK(false, "selftest_bug: unknown bug ", which);
  }
  check_cuda_launch("selftest_bug");
}

}  // namespace pdk::emu_selftest
