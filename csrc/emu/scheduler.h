// The emulator's engine: blocks of fibers on worker threads, barriers, warp collectives, diagnosis, launches.
#pragma once
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <source_location>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/pdk.h"
#include "emu/control.h"
#include "emu/fiber.h"
#include "emu/vector_types.h"

// CUDA's built-in variables. All fibers of a block run on one OS thread and the scheduler rewrites
// threadIdx on every switch, so these thread_locals hold exactly the running CUDA thread's values.
inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;
inline constexpr int warpSize = 32;

// The runtime API's error type, with CUDA's values for the codes the emulator produces.
enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorAssert = 710,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotSupported = 801,
};
typedef enum cudaError cudaError_t;
typedef struct CUstream_st* cudaStream_t;

namespace pdk::emu {

enum class Wait : std::uint8_t { run, barrier, warp, done };
enum class BarrierOp : std::uint8_t { plain, count, all, any };
enum class Op : std::uint8_t {
  shfl_idx, shfl_up, shfl_down, shfl_xor,  // family 0
  ballot, any, all,                        // family 1
  syncwarp,                                // family 2
  match_any, match_all,                    // family 3
  reduce_add, reduce_min, reduce_max, reduce_and, reduce_or, reduce_xor,  // family 4
};

inline int family(Op op) {
  return op <= Op::shfl_xor ? 0 : op <= Op::all ? 1 : op == Op::syncwarp ? 2 : op <= Op::match_all ? 3 : 4;
}

inline const char* op_name(Op op) {
  static const char* const names[] = {
      "__shfl_sync", "__shfl_up_sync", "__shfl_down_sync", "__shfl_xor_sync", "__ballot_sync",
      "__any_sync", "__all_sync", "__syncwarp", "__match_any_sync", "__match_all_sync",
      "__reduce_add_sync", "__reduce_min_sync", "__reduce_max_sync", "__reduce_and_sync",
      "__reduce_or_sync", "__reduce_xor_sync"};
  return names[static_cast<int>(op)];
}

inline std::string place_of(const char* file, unsigned line) {
  const char* slash = std::strrchr(file, '/');
  return std::string(slash ? slash + 1 : file) + ":" + std::to_string(line);
}
inline std::string place(const std::source_location& w) { return place_of(w.file_name(), w.line()); }

inline bool same_place(const std::source_location& a, const std::source_location& b) {
  return a.line() == b.line() && a.column() == b.column() &&
         (a.file_name() == b.file_name() || std::strcmp(a.file_name(), b.file_name()) == 0);
}

inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The i-th element of a seeded permutation of [0, n): a bijection on the next power of two,
// cycle-walked back into range, so no table of n entries is needed.
inline std::uint64_t permute(std::uint64_t i, std::uint64_t n, std::uint64_t seed) {
  unsigned bits = 1;
  while ((std::uint64_t{1} << bits) < n) ++bits;
  const std::uint64_t m = (std::uint64_t{1} << bits) - 1;
  do {
    for (std::uint64_t r = 0; r < 4; ++r) {
      i = ((i ^ mix64(seed + r)) * (mix64(seed ^ (r << 32)) | 1)) & m;
      i ^= i >> (bits / 2 + 1);
    }
  } while (i >= n);
  return i;
}

// The lane a __shfl*_sync reads, per PTX shfl.sync: width splits the warp into segments and a source
// outside the lane's segment (or clamp range) yields the lane's own value.
inline unsigned shfl_source(Op op, unsigned lane, long long b, unsigned width) {
  const unsigned segmask = 32u - width;
  const long long min_lane = lane & segmask;
  const long long max_lane = min_lane | ((op == Op::shfl_up ? 0u : 31u) & ~segmask);
  long long j = lane;
  bool in_range = false;
  switch (op) {
    case Op::shfl_up: j = lane - b; in_range = j >= max_lane; break;
    case Op::shfl_down: j = lane + b; in_range = j <= max_lane; break;
    case Op::shfl_xor: j = lane ^ b; in_range = j <= max_lane; break;
    default: j = min_lane | (b & 31 & ~segmask); in_range = j <= max_lane; break;
  }
  return in_range ? static_cast<unsigned>(j) : lane;
}

struct LaunchSite {
  const char* kernel;  // the expression given to PDK_LAUNCH
  const char* file;
  int line;
};

// A type-erased reference to the callable that runs the kernel body for the current CUDA thread.
struct TaskRef {
  void (*call)(void*);
  void* ctx;
  template <class F>
    requires(!std::is_same_v<F, TaskRef>)
  explicit TaskRef(F& f) : call([](void* c) { (*static_cast<F*>(c))(); }), ctx(&f) {}
};

struct Job {
  Job(LaunchSite s, dim3 g, dim3 b, std::size_t shm, TaskRef t)
      : site(s), grid(g), block(b), smem(shm), task(t) {}
  LaunchSite site;
  dim3 grid, block;
  std::size_t smem;
  TaskRef task;
  unsigned threads = 0;
  std::uint64_t nblocks = 0;
  Order order = Order::forward;
  std::uint64_t seed = 0;
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::string error;
  int queued = 0, running = 0;  // helper tickets; guarded by the pool's mutex
  std::condition_variable idle;

  std::uint64_t block_at(std::uint64_t i) const {
    return order == Order::forward ? i : order == Order::reverse ? nblocks - 1 - i : permute(i, nblocks, seed);
  }
  void fail(std::string message) {
    std::lock_guard<std::mutex> lock(error_mutex);
    if (!failed.load()) error = std::move(message);
    failed = true;
  }
};

// One CUDA thread: a fiber plus what it is waiting for and its slot in the warp's exchange.
struct Thread {
  Exec exec;
  Stack stack;
  uint3 idx{};
  unsigned linear = 0;
  Wait wait = Wait::done;  // a new slot is "done": nothing of it needs renewing
  unsigned reuses = 0;
  Op op = Op::syncwarp;
  std::uint32_t mask = 0;
  long long arg = 0;
  unsigned width = 32;
  std::uint64_t value = 0, result = 0;
  std::source_location where;
  char arrive_sync = 0, resume_sync = 0;  // TSan synchronisation addresses
};

// Lanes of one warp waiting in collectives with the same mask.
struct Group {
  std::uint32_t mask, arrived;
  Op op;
};
struct Warp {
  std::uint32_t live;  // lanes that exist and have not exited
  int ngroups;
  Group groups[32];
};

class Worker;
inline thread_local Worker* tls_worker = nullptr;  // set while this OS thread runs blocks

// Per OS thread: the fibers, warps and run queue of the block it is running.
class Worker {
 public:
  Worker() : thread_idx_(&::threadIdx) { main_.adopt_current_thread(); }
  ~Worker() {
    for (Thread& t : threads_) {
      t.stack.release();
      t.exec.destroy_fiber_identity();
    }
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Claims and runs blocks of `job` until none remain or one failed.
  void work(Job& job) noexcept {
    tls_worker = this;
    while (!job.failed.load(std::memory_order_relaxed)) {
      const std::uint64_t i = job.next.fetch_add(1);
      if (i >= job.nblocks) break;
      try {
        run_block(job, job.block_at(i));
      } catch (const std::exception& e) {
        job.fail(std::string("emulator: ") + e.what());
      }
    }
    tls_worker = nullptr;
  }

  Thread* current = nullptr;      // the CUDA thread running now (nullptr outside blocks)
  unsigned char* smem = nullptr;  // the block's dynamic shared memory

  // __syncthreads and its reducing variants; returns the count of threads whose predicate was true.
  PDK_EMU_INTERNAL unsigned barrier(BarrierOp op, int pred, const std::source_location& where) {
    Thread& t = *current;
    t.wait = Wait::barrier;
    t.where = where;
    t.value = pred != 0;
    hb_release(&t.arrive_sync);
    if (arrived_ == 0) {
      bar_where_ = where;
    } else if (!same_place(where, bar_where_)) {
      bar_mismatch_ = true;
    }
    bar_reduce_ |= op != BarrierOp::plain;
    if (++arrived_ == nthreads_) {
      if (bar_mismatch_)
        fail("threads reached different __syncthreads() calls: " + list_waits() +
             ". Every thread of a block must wait at the same barrier.");
      if (bar_reduce_ || kTsan) {
        unsigned count = 0;
        for (unsigned i = 0; i < nthreads_; ++i) {
          hb_acquire(&threads_[i].arrive_sync);
          count += static_cast<unsigned>(threads_[i].value);
        }
        for (unsigned i = 0; i < nthreads_; ++i) {
          threads_[i].result = count;
          hb_release(&threads_[i].resume_sync);
        }
      }
      arrived_ = 0;
      bar_mismatch_ = bar_reduce_ = false;
      wake(nthreads_, [](unsigned k) { return k; });
    }
    yield(false);
    hb_acquire(&t.resume_sync);
    return static_cast<unsigned>(t.result);
  }

  // A warp collective: waits for every non-exited lane of `mask`, then returns this lane's result.
  PDK_EMU_INTERNAL std::uint64_t collective(Op op, std::uint32_t mask, std::uint64_t value, long long arg,
                                            unsigned width, const std::source_location& where) {
    Thread& t = *current;
    const unsigned lane = t.linear & 31;
    Warp& w = warps_[t.linear >> 5];
    t.op = op;
    t.mask = mask;
    t.value = value;
    t.arg = arg;
    t.width = width;
    t.where = where;
    t.wait = Wait::warp;
    if (!(mask >> lane & 1u))
      fail(who(t) + " calls " + call_text(t) + " with a mask that does not include its own lane " +
           std::to_string(lane) + "; a lane must be named in the mask it passes.");
    if (op <= Op::shfl_xor && (width == 0 || width > 32 || (width & (width - 1)) != 0))
      fail(who(t) + " calls " + call_text(t) + " with width " + std::to_string(width) +
           "; width must be a power of two from 1 to 32.");
    hb_release(&t.arrive_sync);
    Group* g = nullptr;
    for (int i = 0; i < w.ngroups && !g; ++i)
      if (w.groups[i].mask == mask) g = &w.groups[i];
    if (!g) {
      g = &w.groups[w.ngroups++];
      *g = Group{mask, 0, op};
    } else if (family(g->op) != family(op)) {
      fail("lanes of warp " + std::to_string(t.linear >> 5) + " with the same mask are in different warp " +
           "intrinsics: " + list_waits(t.linear >> 5) +
           ". All lanes named in a mask must call the same intrinsic.");
    }
    g->arrived |= 1u << lane;
    if ((g->mask & w.live & ~g->arrived) == 0) finish_group(t.linear >> 5, static_cast<int>(g - w.groups));
    yield(false);
    hb_acquire(&t.resume_sync);
    return t.result;
  }

  PDK_EMU_INTERNAL std::uint32_t active_mask() const { return warps_[current->linear >> 5].live; }

  // Lets the other runnable threads go first (__nanosleep: makes spin-waits within a block progress).
  PDK_EMU_INTERNAL void pause() {
    push(current->linear);
    yield(false);
  }

  // The kernel body of the current thread returned: wake collectives that now have every lane.
  [[noreturn]] PDK_EMU_INTERNAL void exit_current() {
    Thread& t = *current;
    t.wait = Wait::done;
    ++done_;
    hb_release(&end_sync_);
    Warp& w = warps_[t.linear >> 5];
    const std::uint32_t bit = 1u << (t.linear & 31);
    w.live &= ~bit;
    for (int g = 0; g < w.ngroups;) {
      const Group& grp = w.groups[g];
      if ((grp.mask & bit) && (grp.mask & w.live & ~grp.arrived) == 0)
        finish_group(t.linear >> 5, g);  // moves the last group into slot g
      else
        ++g;
    }
    yield(true);
    __builtin_unreachable();
  }

  // Stops the block: the message reaches the launching thread as a pdk::Error.
  [[noreturn]] PDK_EMU_INTERNAL void fail(std::string message) {
    failed_ = true;
    error_ = std::move(message);
    hb_release(&end_sync_);
    switch_exec(current->exec, main_, false);
    __builtin_unreachable();
  }

  std::string who(const Thread& t) const {
    return "thread " + idx_text(t.idx) + " (warp " + std::to_string(t.linear >> 5) + ", lane " +
           std::to_string(t.linear & 31) + ")";
  }

 private:
  PDK_EMU_INTERNAL static void fiber_entry() {
    fiber_started();
    Worker& w = *tls_worker;
    hb_acquire(&w.start_sync_);
    std::string error;
    try {
      w.job_->task.call(w.job_->task.ctx);
    } catch (const std::exception& e) {
      error = std::string("the kernel threw: ") + e.what();
    } catch (...) {
      error = "the kernel threw an exception";
    }
    // Fail outside the handler: the C++ runtime's caught-exception stack belongs to the OS thread.
    if (!error.empty()) w.fail(w.who(*w.current) + ": " + error);
    w.exit_current();
  }

  PDK_EMU_INTERNAL void run_block(Job& job, std::uint64_t b) {
    const unsigned T = job.threads;
    reserve(T);
    job_ = &job;
    nthreads_ = T;
    order_ = job.order;
    rng_ = mix64(job.seed ^ mix64(b + 1));
    const std::uint64_t gx = job.grid.x, gxy = gx * job.grid.y;
    ::blockIdx = uint3{static_cast<unsigned>(b % gx), static_cast<unsigned>(b % gxy / gx),
                       static_cast<unsigned>(b / gxy)};
    ::blockDim = job.block;
    ::gridDim = job.grid;
    const unsigned bx = job.block.x, bxy = bx * job.block.y;
    for (unsigned i = 0; i < T; ++i) {
      Thread& t = threads_[i];
      t.idx = uint3{i % bx, i % bxy / bx, i / bxy};
      t.linear = i;
      const bool renew = kTsan && (t.wait != Wait::done || ++t.reuses % 256 == 0);  // see start_fiber
      start_fiber(t.exec, t.stack, &fiber_entry, renew);
      t.wait = Wait::run;
      if constexpr (kTsan) name_fiber(t);
    }
    for (unsigned i = 0; i * 32 < T; ++i) {
      const unsigned lanes = std::min(32u, T - i * 32);
      warps_[i].live = lanes == 32 ? ~0u : (1u << lanes) - 1;
      warps_[i].ngroups = 0;
    }
    arrived_ = done_ = 0;
    bar_mismatch_ = bar_reduce_ = failed_ = false;
    error_.clear();
    prepare_shared(job.smem);
    head_ = count_ = 0;
    wake(T, [](unsigned k) { return k; });
    hb_release(&start_sync_);
    current = &threads_[pop()];
    ::threadIdx = current->idx;
    switch_exec(main_, current->exec, false);
    hb_acquire(&end_sync_);
    current = nullptr;
    release_shared();
    if (failed_) {
      for (unsigned i = 0; i < T; ++i)
        if (threads_[i].wait != Wait::done) hb_join(main_, threads_[i].exec);
      const uint3 bi = ::blockIdx;
      job.fail("kernel `" + std::string(job.site.kernel) + "` (launched at " +
               place_of(job.site.file, static_cast<unsigned>(job.site.line)) + ") block " + idx_text(bi) +
               " of grid " + idx_text(job.grid) + " with blockDim " + idx_text(job.block) + ": " + error_);
    }
  }

  void reserve(unsigned T) {
    if (threads_.size() < T) {
      const std::size_t old = threads_.size();
      threads_.resize(T);
      for (std::size_t i = old; i < T; ++i) {
        threads_[i].stack.allocate(static_cast<unsigned>(i));
        threads_[i].exec.create_fiber_identity();
      }
      queue_.resize(T);
      scratch_.resize(T);
    }
  }

  // Dynamic shared memory, poisoned (0xFF bytes: NaN floats, -1 integers) so unwritten reads show.
  // Under ASan it is an exact-size heap block, so an overflow is reported at the kernel line.
  void prepare_shared(std::size_t bytes) {
    if constexpr (kAsan) {
      smem = static_cast<unsigned char*>(std::malloc(bytes));
    } else {
      if (arena_bytes_ < bytes || !arena_) {
        arena_.reset(static_cast<unsigned char*>(::operator new(bytes + 16, std::align_val_t{128})));
        arena_bytes_ = bytes;
      }
      smem = arena_.get();
    }
    std::memset(smem, 0xFF, bytes);
  }
  void release_shared() {
    if constexpr (kAsan) std::free(smem);
    smem = nullptr;
  }

  void name_fiber(Thread& t) {
#if PDK_EMU_TSAN
    char name[96];
    std::snprintf(name, sizeof name, "CUDA thread (%u,%u,%u) of block (%u,%u,%u) of %s", t.idx.x, t.idx.y,
                  t.idx.z, ::blockIdx.x, ::blockIdx.y, ::blockIdx.z, job_->site.kernel);
    __tsan_set_fiber_name(t.exec.tsan_fiber, name);
#else
    (void)t;
#endif
  }

  PDK_EMU_INTERNAL void push(unsigned i) {
    threads_[i].wait = Wait::run;
    queue_[(head_ + count_++) % nthreads_] = i;
  }
  PDK_EMU_INTERNAL unsigned pop() {
    const unsigned i = queue_[head_];
    head_ = head_ + 1 == nthreads_ ? 0 : head_ + 1;
    --count_;
    return i;
  }

  // Makes n threads runnable in the schedule order; id(k) is the k-th of them in ascending order.
  template <class Id>
  PDK_EMU_INTERNAL void wake(unsigned n, Id id) {
    if (order_ == Order::random) {
      for (unsigned k = 0; k < n; ++k) scratch_[k] = id(k);
      for (unsigned k = n; k > 1; --k) {
        rng_ = mix64(rng_);
        const unsigned j = static_cast<unsigned>(rng_ % k), tmp = scratch_[k - 1];  // no std::swap: TSan sees it
        scratch_[k - 1] = scratch_[j];
        scratch_[j] = tmp;
      }
      for (unsigned k = 0; k < n; ++k) push(scratch_[k]);
    } else {
      for (unsigned k = 0; k < n; ++k) push(id(order_ == Order::forward ? k : n - 1 - k));
    }
  }

  // Switches to the next runnable thread; with none left the block is finished or deadlocked.
  PDK_EMU_INTERNAL void yield(bool dying) {
    Thread* self = current;
    if (count_ == 0) {
      if (done_ == nthreads_) switch_exec(self->exec, main_, true);
      fail("deadlock, no thread can proceed: " + list_waits() + ". " + deadlock_hint());
    }
    Thread* next = &threads_[pop()];
    if (next == self) return;
    current = next;
    *thread_idx_ = next->idx;
    switch_exec(self->exec, next->exec, dying);
  }

  // Every lane of group gi has arrived (or exited): compute the results and wake the lanes.
  PDK_EMU_INTERNAL void finish_group(unsigned wi, int gi) {
    Warp& w = warps_[wi];
    const Group g = w.groups[gi];
    w.groups[gi] = w.groups[--w.ngroups];
    Thread* lane = &threads_[wi * 32];
    unsigned ids[32], n = 0;
    for (std::uint32_t m = g.arrived; m; m &= m - 1) ids[n++] = static_cast<unsigned>(__builtin_ctz(m));
    for (unsigned k = 0; k < n; ++k) hb_acquire(&lane[ids[k]].arrive_sync);
    std::uint32_t ballot = 0;
    for (unsigned k = 0; k < n; ++k) ballot |= (lane[ids[k]].value != 0 ? 1u : 0u) << ids[k];
    for (unsigned k = 0; k < n; ++k) {
      Thread& t = lane[ids[k]];
      switch (family(t.op)) {
        case 0: {
          const unsigned j = shfl_source(t.op, ids[k], t.arg, t.width);
          if (!(g.mask >> j & 1u) || !(g.arrived >> j & 1u))
            fail(who(t) + " reads lane " + std::to_string(j) + " in " + call_text(t) + ", but lane " +
                 std::to_string(j) + (g.mask >> j & 1u ? " has exited" : " is not in the mask") +
                 "; a shuffle may only read lanes that take part in it.");
          t.result = lane[j].value;
          break;
        }
        case 1:
          t.result = t.op == Op::ballot ? ballot : t.op == Op::any ? ballot != 0 : ballot == g.arrived;
          break;
        case 3: {
          std::uint32_t same = 0;
          for (unsigned q = 0; q < n; ++q) same |= (lane[ids[q]].value == t.value ? 1u : 0u) << ids[q];
          // match_all: the mask if every lane agrees, with the predicate in bit 32.
          t.result = t.op == Op::match_any ? same : same == g.arrived ? g.arrived | (1ull << 32) : 0;
          break;
        }
        case 4: t.result = reduce(t.op, t.arg != 0, lane, ids, n); break;
        default: t.result = 0; break;
      }
    }
    for (unsigned k = 0; k < n; ++k) hb_release(&lane[ids[k]].resume_sync);
    wake(n, [&](unsigned k) { return wi * 32 + ids[k]; });
  }

  PDK_EMU_INTERNAL static std::uint64_t reduce(Op op, bool is_signed, const Thread* lane, const unsigned* ids, unsigned n) {
    std::uint32_t acc = static_cast<std::uint32_t>(lane[ids[0]].value);
    for (unsigned k = 1; k < n; ++k) {
      const std::uint32_t v = static_cast<std::uint32_t>(lane[ids[k]].value);
      const bool less = is_signed ? static_cast<std::int32_t>(v) < static_cast<std::int32_t>(acc) : v < acc;
      switch (op) {
        case Op::reduce_add: acc += v; break;
        case Op::reduce_min: acc = less ? v : acc; break;
        case Op::reduce_max: acc = less || v == acc ? acc : v; break;
        case Op::reduce_and: acc &= v; break;
        case Op::reduce_or: acc |= v; break;
        default: acc ^= v; break;
      }
    }
    return acc;
  }

  // "threads 0-15 at __syncthreads() (f.cu:12); threads 16-31 exited": the block, or one warp's waiters.
  std::string list_waits(int only_warp = -1) const {
    std::vector<std::pair<std::string, std::vector<unsigned>>> groups;
    for (unsigned i = 0; i < nthreads_; ++i) {
      if (only_warp >= 0 && (static_cast<int>(i >> 5) != only_warp || threads_[i].wait != Wait::warp)) continue;
      const std::string what = wait_text(threads_[i]);
      auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == what; });
      if (it == groups.end()) it = groups.insert(groups.end(), {what, {}});
      it->second.push_back(i);
    }
    std::string out;
    for (const auto& [what, ids] : groups)
      out += (out.empty() ? "" : "; ") + std::string(ids.size() == 1 ? "thread " : "threads ") +
             id_ranges(ids) + " " + what;
    return out;
  }

  std::string wait_text(const Thread& t) const {
    switch (t.wait) {
      case Wait::done: return "exited";
      case Wait::barrier: return "at __syncthreads() (" + place(t.where) + ")";
      case Wait::warp: return "in " + call_text(t) + " (" + place(t.where) + ")";
      default: return "runnable";
    }
  }

  std::string deadlock_hint() const {
    bool at_barrier = false, at_warp = false;
    for (unsigned i = 0; i < nthreads_; ++i) {
      at_barrier |= threads_[i].wait == Wait::barrier;
      at_warp |= threads_[i].wait == Wait::warp;
    }
    std::string hint;
    if (at_barrier)
      hint += "Every thread of a block must reach the same __syncthreads(); a thread that returned early "
              "or waits elsewhere never arrives.";
    if (at_warp)
      hint += std::string(hint.empty() ? "" : " ") +
              "Every non-exited lane named in a warp intrinsic's mask must call it.";
    return hint;
  }

  static std::string call_text(const Thread& t) {
    char mask[16];
    std::snprintf(mask, sizeof mask, "0x%08x", t.mask);
    std::string s = std::string(op_name(t.op)) + "(mask=" + mask;
    if (t.op <= Op::shfl_xor)
      s += std::string(t.op == Op::shfl_idx ? ", srcLane=" : t.op == Op::shfl_xor ? ", laneMask=" : ", delta=") +
           std::to_string(t.arg) + ", width=" + std::to_string(t.width);
    return s + ")";
  }

  // Linear thread ids as ranges; as threadIdx triples when the block is not one-dimensional.
  std::string id_ranges(const std::vector<unsigned>& ids) const {
    const bool flat = job_->block.y == 1 && job_->block.z == 1;
    auto name = [&](unsigned i) { return flat ? std::to_string(i) : idx_text(threads_[i].idx); };
    std::string out;
    std::size_t shown = 0, k = 0;
    while (k < ids.size()) {
      std::size_t e = k;
      while (e + 1 < ids.size() && ids[e + 1] == ids[e] + 1) ++e;
      if (shown++ == 12) return out + ", ... (" + std::to_string(ids.size()) + " threads)";
      out += (out.empty() ? "" : ", ") + name(ids[k]) + (e > k ? "-" + name(ids[e]) : "");
      k = e + 1;
    }
    return out;
  }

  template <class V>
  static std::string idx_text(const V& v) {
    return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")";
  }

  uint3* thread_idx_;  // this OS thread's threadIdx (a plain store is cheaper than a TLS lookup)
  Exec main_;
  std::vector<Thread> threads_;
  Warp warps_[32];
  std::vector<unsigned> queue_, scratch_;
  unsigned head_ = 0, count_ = 0, nthreads_ = 0, done_ = 0, arrived_ = 0;
  std::source_location bar_where_;
  bool bar_mismatch_ = false, bar_reduce_ = false, failed_ = false;
  std::string error_;
  Job* job_ = nullptr;
  Order order_ = Order::forward;
  std::uint64_t rng_ = 0;
  struct AlignedFree {
    void operator()(unsigned char* p) const { ::operator delete(p, std::align_val_t{128}); }
  };
  std::unique_ptr<unsigned char, AlignedFree> arena_;
  std::size_t arena_bytes_ = 0;
  char start_sync_ = 0, end_sync_ = 0;  // TSan: worker -> fibers at block start, fibers -> worker at end
};

inline Worker& this_worker() {
  thread_local std::unique_ptr<Worker> w;
  if (!w) w = std::make_unique<Worker>();
  return *w;
}

// The intrinsics' way to the running block; calling one from host code is a pdk::Error.
PDK_EMU_INTERNAL inline Worker& in_kernel(const char* what) {
  Worker* w = tls_worker;
  if (!w || !w->current) [[unlikely]]
    throw pdk::Error(std::string(what) + " called outside a kernel (device code runs only inside PDK_LAUNCH)");
  return *w;
}

// Persistent helper threads shared by all launches; the launching thread always works on its own
// launch too, so a busy pool delays nobody and concurrent launches from many threads are safe.
class Pool {
 public:
  static Pool& instance() {
    static Pool* pool = new Pool;  // never destroyed: helpers may still be waiting at process exit
    return *pool;
  }

  void run(Job& job) {
    const std::uint64_t helpers =
        std::min<std::uint64_t>(static_cast<std::uint64_t>(effective_workers() - 1), job.nblocks - 1);
    if (helpers > 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      for (; spawned_ < helpers; ++spawned_) std::thread([this] { loop(); }).detach();
      job.queued = static_cast<int>(helpers);
      queue_.insert(queue_.end(), helpers, &job);
      wake_.notify_all();
    }
    this_worker().work(job);
    if (helpers > 0) {
      std::unique_lock<std::mutex> lock(mutex_);
      if (job.queued > 0) {
        queue_.erase(std::remove(queue_.begin(), queue_.end(), &job), queue_.end());
        job.queued = 0;
      }
      job.idle.wait(lock, [&] { return job.running == 0; });
    }
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return !queue_.empty(); });
      Job* job = queue_.front();
      queue_.pop_front();
      --job->queued;
      ++job->running;
      lock.unlock();
      this_worker().work(*job);
      lock.lock();
      if (--job->running == 0) job->idle.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job*> queue_;
  std::uint64_t spawned_ = 0;
};

// ---- the host side of a launch: attributes, configuration checks, last error ----

struct LastError {
  cudaError_t code = cudaSuccess;
  cudaError_t detail_code = cudaSuccess;
  std::string detail;  // the full message of the last failure on this thread
};
inline thread_local LastError last_error;

inline const char* error_text(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorAssert: return "device-side assert triggered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
  }
  return "unrecognized error code";
}

inline cudaError_t record_error(cudaError_t code, const std::string& why) {
  last_error.code = last_error.detail_code = code;
  last_error.detail = std::string(error_text(code)) + " (emulator: " + why + ")";
  return code;
}

struct Attributes {
  std::mutex mutex;
  std::unordered_map<const void*, std::size_t> max_dynamic_shared;
};
inline Attributes& attributes() {
  static Attributes* a = new Attributes;
  return *a;
}

inline std::size_t dynamic_shared_limit(const void* kernel) {
  if (!kernel) return kDefaultDynamicShared;
  Attributes& a = attributes();
  std::lock_guard<std::mutex> lock(a.mutex);
  const auto it = a.max_dynamic_shared.find(kernel);
  return it == a.max_dynamic_shared.end() ? kDefaultDynamicShared : it->second;
}

// What a real launch would reject, as CUDA's error code plus a sentence; cudaSuccess if valid.
inline cudaError_t check_config(dim3 grid, dim3 block, std::size_t smem, const void* kernel, std::string& why) {
  auto text = [](dim3 d) { return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")"; };
  const std::uint64_t threads = std::uint64_t{block.x} * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0) {
    why = "grid " + text(grid) + " / block " + text(block) + " has a zero extent";
    return cudaErrorInvalidConfiguration;
  }
  if (block.x > 1024 || block.y > 1024 || block.z > 64 || threads > 1024) {
    why = "block " + text(block) + " has " + std::to_string(threads) +
          " threads; at most 1024 threads and (1024,1024,64) per dimension";
    return cudaErrorInvalidConfiguration;
  }
  if (grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
    why = "grid " + text(grid) + " exceeds (2147483647,65535,65535)";
    return cudaErrorInvalidConfiguration;
  }
  if (const std::size_t limit = dynamic_shared_limit(kernel); smem > limit) {
    why = std::to_string(smem) + " bytes of dynamic shared memory exceed the kernel's limit of " +
          std::to_string(limit) + " (above 48 KiB, opt in with cudaFuncSetAttribute(kernel, "
          "cudaFuncAttributeMaxDynamicSharedMemorySize, bytes), up to " +
          std::to_string(kMaxDynamicSharedOptin) + ")";
    return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}

// Runs a whole launch; configuration errors become the thread's last error, failures in the kernel a
// pdk::Error thrown here once every block has stopped.
inline void launch(const LaunchSite& site, dim3 grid, dim3 block, std::size_t smem, const void* kernel,
                   TaskRef task) {
  const std::string where = "kernel `" + std::string(site.kernel) + "` launched at " +
                            place_of(site.file, static_cast<unsigned>(site.line));
  if (tls_worker && tls_worker->current)
    throw pdk::Error(where + ": launched from device code; the emulator has no dynamic parallelism");
  std::string why;
  if (const cudaError_t e = check_config(grid, block, smem, kernel, why); e != cudaSuccess) {
    record_error(e, where + ": " + why);
    return;
  }
  Job job(site, grid, block, smem, task);
  job.threads = block.x * block.y * block.z;
  job.nblocks = std::uint64_t{grid.x} * grid.y * grid.z;
  job.order = static_cast<Order>(settings().order.load());
  job.seed = settings().seed.load();
  if constexpr (kAsan) {
    // Static __shared__ is one plain global under ASan: one block at a time, process-wide.
    static std::mutex serial;
    std::lock_guard<std::mutex> lock(serial);
    Pool::instance().run(job);
  } else {
    Pool::instance().run(job);
  }
  if (job.failed) throw pdk::Error(job.error);
}

}  // namespace pdk::emu
