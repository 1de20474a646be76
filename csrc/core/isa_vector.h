// The vector width of the instruction set a per-ISA kernel file is compiled for (kVectorBytes, kLanes<T>).
//
// Include only from the files compiled once per ISA (PDK_CPU_ISA_SOURCES), after opening
// pdk::PDK_ISA_NAMESPACE: the constants then live in each ISA's own namespace.
#pragma once

#if defined(__AVX512F__)
constexpr int64_t kVectorBytes = 64;
#elif defined(__AVX2__)
constexpr int64_t kVectorBytes = 32;
#else
constexpr int64_t kVectorBytes = 16;
#endif
// Elements of T per vector register.
template <class T>
constexpr int64_t kLanes = kVectorBytes / static_cast<int64_t>(sizeof(T));
