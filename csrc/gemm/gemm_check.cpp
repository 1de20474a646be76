// Backend-independent validation of GEMM parameters (compiled into every extension).
#include "gemm/gemm.h"

namespace pdk {

void check_gemm_params(const GemmParams& p) {
  PDK_CHECK(p.M >= 0 && p.N >= 0 && p.K >= 0, "gemm: sizes must be >= 0, got M=", p.M, " N=", p.N, " K=", p.K);
  const int64_t a_row = p.trans_a ? p.M : p.K, b_row = p.trans_b ? p.K : p.N;
  PDK_CHECK(p.lda >= a_row && p.ldb >= b_row && p.ldc >= p.N,
            "gemm: row strides too small: lda=", p.lda, " (>= ", a_row, "), ldb=", p.ldb, " (>= ", b_row,
            "), ldc=", p.ldc, " (>= ", p.N, ")");
  PDK_CHECK(p.ldr == 0 || p.ldr >= p.N, "gemm: ldr must be 0 (no residual) or >= N, got ", p.ldr);
}

}  // namespace pdk
