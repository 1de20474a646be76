// PLACEHOLDER (being written): CUDA pooling kernels.
#include "core/cuda_compat.h"
#include "pool/pool.h"
namespace pdk::cuda {
void pool_forward(const PoolParams& p, std::uintptr_t, std::uintptr_t, std::uintptr_t, DType, std::uintptr_t) {
  check_pool_params(p);
  PDK_CHECK(false, "not implemented yet");
}
void max_unpool_forward(const UnpoolParams& p, std::uintptr_t, std::uintptr_t, std::uintptr_t, DType, std::uintptr_t) {
  PDK_CHECK(false, "not implemented yet");
}
}
