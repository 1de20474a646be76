// CPU feature detection and the active-ISA switch used by PDK_ISA_DISPATCH.
#include "core/cpu_features.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "core/pdk.h"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace pdk {
namespace {

bool cpu_supports(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  switch (isa) {
    case Isa::base: return true;
    case Isa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return false;
#else
  return isa == Isa::base;
#endif
}

bool built(Isa isa) {
  switch (isa) {
    case Isa::base: return true;
#if defined(PDK_HAVE_ISA_avx2)
    case Isa::avx2: return true;
#endif
#if defined(PDK_HAVE_ISA_avx512)
    case Isa::avx512: return true;
#endif
    default: return false;
  }
}

constexpr Isa kAll[] = {Isa::base, Isa::avx2, Isa::avx512};

Isa parse_isa(const std::string& name) {
  for (Isa isa : kAll)
    if (name == isa_name(isa)) return isa;
  PDK_CHECK(false, "simd: expected one of 'base', 'avx2', 'avx512', got '", name, "'");
}

void check_runnable(Isa isa) {
  PDK_CHECK(built(isa), "simd: '", isa_name(isa), "' kernels are not in this build (built: ", PDK_BUILT_ISAS, ")");
  PDK_CHECK(cpu_supports(isa), "simd: this CPU cannot run '", isa_name(isa), "' kernels");
}

Isa best_isa() {
  if (const char* env = std::getenv("PYDEEPKIT_SIMD"); env && *env) {
    const Isa isa = parse_isa(env);
    check_runnable(isa);
    return isa;
  }
  for (Isa isa : {Isa::avx512, Isa::avx2})
    if (built(isa) && cpu_supports(isa)) return isa;
  return Isa::base;
}

std::atomic<int> g_active{-1};

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::base: return "base";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "unknown";
}

std::vector<std::string> built_isas() {
  std::vector<std::string> names;
  for (Isa isa : kAll)
    if (built(isa)) names.push_back(isa_name(isa));
  return names;
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> names;
  for (Isa isa : kAll)
    if (built(isa) && cpu_supports(isa)) names.push_back(isa_name(isa));
  return names;
}

Isa active_isa() {
  int current = g_active.load(std::memory_order_relaxed);
  if (current < 0) {
    current = static_cast<int>(best_isa());
    g_active.store(current, std::memory_order_relaxed);
  }
  return static_cast<Isa>(current);
}

void set_isa(const std::string& name) {
  const Isa isa = parse_isa(name);
  check_runnable(isa);
  g_active.store(static_cast<int>(isa), std::memory_order_relaxed);
}

int omp_max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

double cache_line_round_trip_ns(int64_t rounds) {
  PDK_CHECK(rounds >= 1, "cache_line_round_trip_ns: rounds must be >= 1, got ", rounds);
  double ns[5] = {-1, -1, -1, -1, -1};
#ifdef _OPENMP
  struct alignas(64) Line {
    std::atomic<int64_t> count{0};
  } line;
  constexpr int64_t kWarmup = 1000;
#pragma omp parallel num_threads(2)
  {
    // Thread 0 moves the count from even to odd, thread 1 from odd to even: a round trip per
    // pair. Both take the same number of turns, so neither waits for a partner that has left.
    if (omp_get_num_threads() == 2) {
      const int64_t tid = omp_get_thread_num();
      int64_t expect = tid;
      for (int run = -1; run < 5; ++run) {
        const int64_t turns = run < 0 ? kWarmup : rounds;
        const auto start = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < turns; ++i, expect += 2) {
          // Yields while the partner is not running (more threads than cores), or this takes minutes.
          for (int spins = 0; line.count.load(std::memory_order_acquire) != expect;)
            if (++spins > 4096) std::this_thread::yield();
          line.count.store(expect + 1, std::memory_order_release);
        }
        if (tid == 0 && run >= 0)
          ns[run] = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
                    static_cast<double>(rounds);
      }
    }
  }
#endif
  std::sort(ns, ns + 5);
  return ns[2];
}

}  // namespace pdk
