// PLACEHOLDER (being written): CUDA execution model emulator.
#pragma once
#include <cstdint>
typedef int cudaError_t;
typedef void* cudaStream_t;
constexpr cudaError_t cudaSuccess = 0;
inline cudaError_t cudaGetLastError() { return 0; }
inline const char* cudaGetErrorString(cudaError_t) { return "none"; }
