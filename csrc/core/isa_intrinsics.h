// The SIMD intrinsics header of the instruction set a per-ISA kernel file is compiled for (none for the portable build).
#pragma once
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
