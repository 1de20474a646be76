// Run-time choice of the CPU instruction set (AVX-512, AVX2+FMA, portable) for the ISA-compiled kernels.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pdk {

enum class Isa : int { base = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
// Instruction sets this build compiled kernels for / that this CPU can run.
std::vector<std::string> built_isas();
std::vector<std::string> supported_isas();
// The active one: the best supported, or PYDEEPKIT_SIMD from the environment, or set_isa().
Isa active_isa();
// Throws pdk::Error for an unknown name or one this CPU or build cannot run.
void set_isa(const std::string& name);
int omp_max_threads();
// Nanoseconds for one round trip of a cache line bounced between two OpenMP threads (median of
// 5 runs of `rounds`), or -1 without two threads. It tells where the OS put them: ~50 ns on cores
// that share an L3, several times that across L3s, where every line one thread writes and the
// other reads costs as much (the bench prints it: README, "Machine phases").
double cache_line_round_trip_ns(int64_t rounds);

}  // namespace pdk

// Calls pdk::isa_<active>::fn(args...) (the kernel compiled for the active instruction set).
#if defined(PDK_HAVE_ISA_avx512)
#define PDK_ISA_CASE_AVX512(fn, ...) case ::pdk::Isa::avx512: return ::pdk::isa_avx512::fn(__VA_ARGS__);
#else
#define PDK_ISA_CASE_AVX512(fn, ...)
#endif
#if defined(PDK_HAVE_ISA_avx2)
#define PDK_ISA_CASE_AVX2(fn, ...) case ::pdk::Isa::avx2: return ::pdk::isa_avx2::fn(__VA_ARGS__);
#else
#define PDK_ISA_CASE_AVX2(fn, ...)
#endif
#define PDK_ISA_DISPATCH(fn, ...)                 \
  switch (::pdk::active_isa()) {                  \
    PDK_ISA_CASE_AVX512(fn, __VA_ARGS__)          \
    PDK_ISA_CASE_AVX2(fn, __VA_ARGS__)            \
    default: return ::pdk::isa_base::fn(__VA_ARGS__); \
  }
