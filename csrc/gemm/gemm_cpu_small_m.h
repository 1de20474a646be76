// The per-ISA GEMM path for a few rows of A (batch-1 and small-batch Linear layers): B read once, in place, never packed.
//
// For M <= kSmallM the packed path costs more in packing B (a full read and write of B) than in
// multiplying it: a Linear layer at batch 1 is a matrix-vector product, bound by reading the
// weights once. Here every element of B is loaded once and used by all M rows from registers.
// Included by gemm_cpu_kernels.cpp inside pdk::PDK_ISA_NAMESPACE's anonymous namespace, after
// gemm_cpu_driver.h (Vec, kLanes, Epilogue, epilogue). Which GEMMs take it: small_m_applies
// (gemm_cpu_kernels.h).
#pragma once

// Vector accumulators the paths keep per step: about half the register file, the rest holds the
// loads. The columns (or rows of B) advanced together shrink as the rows of A grow: 4, 2 or 1,
// so that they divide the 64-column work items.
// The loops over A's rows unroll by kSmallM (8): one unrolled only by 4 keeps its accumulators on
// the stack, which ran M = 5-8 at half speed.
constexpr int kSmallAccumulators = kVectorBytes == 64 ? 16 : 8;
template <int Rows>
constexpr int small_m_width() {
  return kSmallAccumulators / Rows >= 4 ? 4 : kSmallAccumulators / Rows >= 2 ? 2 : 1;
}

// B stored as [N, K] (trans_b, a Linear weight): C[i][j] = dot(A row i, B row j). JB rows of B
// advance together so their loads overlap; MR_ rows of A (M itself, at compile time) share them.
// (Blocking K so that A's rows stay in L1 was slower: 4096 x 4096 at M = 8 took 4.5-4.9 ms against
// 3.6, B's rows then being read in slices.)
template <class T, int MR_>
void small_m_dot_columns(const GemmParams& p, const T* __restrict a, const T* __restrict b, T* __restrict c,
                         bool preloaded, int64_t j0, int64_t j1) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  constexpr int64_t L = kLanes<T>;
  constexpr int JB = small_m_width<MR_>();
  const int64_t K = p.K, kv = K / L * L;
  int64_t j = j0;
  for (; j + JB <= j1; j += JB) {
    V acc[MR_][JB];
#pragma GCC unroll 8
    for (int i = 0; i < MR_; ++i)
#pragma GCC unroll 8
      for (int q = 0; q < JB; ++q) acc[i][q] = V{};
    for (int64_t k = 0; k < kv; k += L) {
      V bv[JB];
#pragma GCC unroll 8
      for (int q = 0; q < JB; ++q) bv[q] = *reinterpret_cast<const VU*>(b + (j + q) * p.ldb + k);
#pragma GCC unroll 8
      for (int i = 0; i < MR_; ++i) {
        const V av = *reinterpret_cast<const VU*>(a + i * p.lda + k);
#pragma GCC unroll 8
        for (int q = 0; q < JB; ++q) acc[i][q] += av * bv[q];
      }
    }
    // The MR_ x JB lane sums by the shuffle tree, L accumulators at a time (lane by lane, the
    // reduction cost as much as the products at K = 256).
    constexpr int kSums = MR_ * JB;
    alignas(64) T sums[(kSums + L - 1) / L * L];
#pragma GCC unroll 8
    for (int f0 = 0; f0 < kSums; f0 += static_cast<int>(L)) {
      V rows[L];
#pragma GCC unroll 16
      for (int r = 0; r < static_cast<int>(L); ++r)
        rows[r] = f0 + r < kSums ? acc[(f0 + r) / JB][(f0 + r) % JB] : V{};
      *reinterpret_cast<V*>(sums + f0) = sum_lanes<T>(rows);
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR_; ++i)
#pragma GCC unroll 8
      for (int q = 0; q < JB; ++q) {
        T s = sums[i * JB + q] + (preloaded ? c[i * p.ldc + j + q] : T(0));
        for (int64_t k = kv; k < K; ++k) s += a[i * p.lda + k] * b[(j + q) * p.ldb + k];
        c[i * p.ldc + j + q] = s;
      }
  }
  for (; j < j1; ++j)  // the last < JB rows of B
    for (int i = 0; i < MR_; ++i) {
      T s = preloaded ? c[i * p.ldc + j] : T(0);
      for (int64_t k = 0; k < K; ++k) s += a[i * p.lda + k] * b[j * p.ldb + k];
      c[i * p.ldc + j] = s;
    }
}

// B stored as [K, N] (row-major): C[i][j..j+W) += A[i][k] * B[k][j..j+W) over k, W = NV vectors
// of columns per step; A may be stored either way (one scalar per row and k is broadcast).
template <class T, int MR_>
void small_m_row_columns(const GemmParams& p, const T* __restrict a, const T* __restrict b, T* __restrict c,
                         bool preloaded, int64_t j0, int64_t j1) {
  using V = typename Vec<T>::type;
  using VU = typename Vec<T>::utype;
  constexpr int64_t L = kLanes<T>;
  constexpr int NV = small_m_width<MR_>(), W = NV * static_cast<int>(L);
  const int64_t K = p.K;
  const int64_t as_row = p.trans_a ? 1 : p.lda, as_k = p.trans_a ? p.lda : 1;
  int64_t j = j0;
  for (; j + W <= j1; j += W) {
    V acc[MR_][NV];
#pragma GCC unroll 8
    for (int i = 0; i < MR_; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v)
        acc[i][v] = preloaded ? V(*reinterpret_cast<const VU*>(c + i * p.ldc + j + v * L)) : V{};
    for (int64_t k = 0; k < K; ++k) {
      V bv[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) bv[v] = *reinterpret_cast<const VU*>(b + k * p.ldb + j + v * L);
#pragma GCC unroll 8
      for (int i = 0; i < MR_; ++i) {
        const T ai = a[i * as_row + k * as_k];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[i][v] += bv[v] * ai;
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR_; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) *reinterpret_cast<VU*>(c + i * p.ldc + j + v * L) = acc[i][v];
  }
  for (int i = 0; i < MR_ && j < j1; ++i)  // the last < W columns
    for (int64_t jj = j; jj < j1; ++jj) {
      T s = preloaded ? c[i * p.ldc + jj] : T(0);
      for (int64_t k = 0; k < K; ++k) s += a[i * as_row + k * as_k] * b[k * p.ldb + jj];
      c[i * p.ldc + jj] = s;
    }
}

template <class T, int MR_>
void small_m_range(const GemmParams& p, const T* a, const T* b, T* c, bool preloaded, const Epilogue<T>& e,
                   int64_t j0, int64_t j1) {
  if (p.trans_b) small_m_dot_columns<T, MR_>(p, a, b, c, preloaded, j0, j1);
  else small_m_row_columns<T, MR_>(p, a, b, c, preloaded, j0, j1);
  finish_region(e, 0, j0, c + j0, p.ldc, p.M, j1 - j0);
}

// Columns of C in chunks, in parallel when plan.threads > 1 (dynamic: the chunks are equal work,
// but a preempted core should not hold up the other).
template <class T>
void small_m_gemm(const GemmCpuPlan& plan, const T* a, const T* b, T* c, bool preloaded, const Epilogue<T>& e) {
  const GemmParams& p = plan.p;
  constexpr int64_t kChunk = 64;  // columns per work item: a multiple of every ISA's W (<= 4 vectors) and JB
  const int64_t chunks = (p.N + kChunk - 1) / kChunk;
  auto run_chunk = [&](int64_t q) {
    const int64_t j0 = q * kChunk, j1 = min64(p.N, j0 + kChunk);
    switch (p.M) {
      case 1: return small_m_range<T, 1>(p, a, b, c, preloaded, e, j0, j1);
      case 2: return small_m_range<T, 2>(p, a, b, c, preloaded, e, j0, j1);
      case 3: return small_m_range<T, 3>(p, a, b, c, preloaded, e, j0, j1);
      case 4: return small_m_range<T, 4>(p, a, b, c, preloaded, e, j0, j1);
      case 5: return small_m_range<T, 5>(p, a, b, c, preloaded, e, j0, j1);
      case 6: return small_m_range<T, 6>(p, a, b, c, preloaded, e, j0, j1);
      case 7: return small_m_range<T, 7>(p, a, b, c, preloaded, e, j0, j1);
      default: return small_m_range<T, 8>(p, a, b, c, preloaded, e, j0, j1);
    }
  };
  if (plan.threads > 1 && chunks > 1) {
#pragma omp parallel for num_threads(plan.threads) schedule(dynamic, 1)
    for (int64_t q = 0; q < chunks; ++q) run_chunk(q);
  } else {
    for (int64_t q = 0; q < chunks; ++q) run_chunk(q);
  }
}
