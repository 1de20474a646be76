// CUDA kernels of the NMS family: box IoU, bitmask NMS (rank, 64x64 mask tiles, one-block walk), soft-NMS.
//
// NMS runs in three launches, all on the device (no copy of the mask to the host):
//  1. rank_kernel: each box counts the boxes ranked before it (score key, then index), which is
//     its position in the ranking; it writes its index and box there. O(n^2) comparisons, the
//     same order as the mask itself, and stable and exact without a device sort library.
//  2. mask_kernel: block (row tile r, column tile c >= r) sets bit k of row i's word c when box
//     64c+k (ranked after i) has IoU > threshold with box i (and the same category when batched).
//     Only tiles c >= r are stored (a triangle: half of torchvision's n * n/64 words).
//  3. walk_kernel, one block: for each row tile in order, thread 0 resolves the tile's 64 boxes
//     sequentially against the removed bits and the tile's diagonal words, then all threads OR the
//     rows of the boxes it kept into the removed words of the later tiles. It writes the kept
//     indices and their count; Python reads the count back (one integer).
#include "core/cuda_compat.h"
#include "nms/nms_common.h"

namespace pdk::cuda {
namespace {

constexpr int kTileBoxes = 64;       // boxes per mask word
constexpr int kRankThreads = 256;
constexpr int kWalkThreads = 256;
constexpr int kIouThreads = 256;
constexpr int kSoftNmsMaxThreads = 1024;
constexpr int64_t kSharedRemovedBytes = 48 * 1024;  // removed words kept in shared memory up to here

template <class T>
struct alignas(4 * sizeof(T)) Box4 {
  T x1, y1, x2, y2;
};

template <class T>
PDK_HD Box4<T> load_box(const T* boxes, int64_t i) {
  return Box4<T>{boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]};
}

template <class T>
PDK_HD T area_of(const Box4<T>& b) {
  return box_area_value(b.x1, b.y1, b.x2, b.y2);
}

PDK_HD int64_t tile_count(int64_t n) { return (n + kTileBoxes - 1) / kTileBoxes; }

// Word (row i, column tile c >= i / 64) of the triangular mask: row tile r stores, for each of
// its 64 rows, the words of column tiles r .. tiles-1.
PDK_HD int64_t mask_word(int64_t i, int64_t c, int64_t tiles) {
  const int64_t r = i / kTileBoxes;
  const int64_t tile_base = kTileBoxes * (r * tiles - r * (r - 1) / 2);
  return tile_base + (i - r * kTileBoxes) * (tiles - r) + (c - r);
}

// Byte offsets of the NMS workspace regions (each 256-byte aligned).
struct NmsLayout {
  int64_t order = 0, boxes = 0, categories = 0, removed = 0, mask = 0, total = 0;
};

NmsLayout nms_layout(const NmsParams& p, DType dtype) {
  auto aligned = [](int64_t bytes) { return (bytes + 255) / 256 * 256; };
  const int64_t tiles = tile_count(p.n);
  const int64_t box_bytes = 4 * dtype_bytes(dtype);
  NmsLayout l;
  l.order = 0;
  l.boxes = l.order + aligned(8 * p.n);
  l.categories = l.boxes + aligned(box_bytes * p.n);
  l.removed = l.categories + (p.batched ? aligned(8 * p.n) : 0);
  l.mask = l.removed + aligned(8 * tiles);
  l.total = l.mask + 8 * kTileBoxes * (tiles * (tiles + 1) / 2);
  return l;
}

template <class T>
__global__ void __launch_bounds__(kRankThreads)
rank_kernel(int64_t n, const T* __restrict__ scores, const T* __restrict__ boxes,
            const int64_t* __restrict__ categories, int64_t* __restrict__ order, Box4<T>* __restrict__ ranked,
            int64_t* __restrict__ ranked_categories) {
  using Key = ScoreKey<T>;
  __shared__ Key tile[kRankThreads];
  const int64_t i = blockIdx.x * static_cast<int64_t>(kRankThreads) + threadIdx.x;
  const Key key = i < n ? descending_score_key(scores[i]) : Key(0);
  int64_t rank = 0;
  for (int64_t base = 0; base < n; base += kRankThreads) {
    const int64_t j = base + threadIdx.x;
    tile[threadIdx.x] = j < n ? descending_score_key(scores[j]) : Key(0);
    __syncthreads();
    const int count = static_cast<int>(n - base < kRankThreads ? n - base : kRankThreads);
    for (int t = 0; t < count; ++t) rank += ranks_before(tile[t], base + t, key, i) ? 1 : 0;
    __syncthreads();
  }
  if (i < n) {
    order[rank] = i;
    ranked[rank] = load_box(boxes, i);
    if (categories) ranked_categories[rank] = categories[i];
  }
}

template <class T, bool Batched>
__global__ void __launch_bounds__(kTileBoxes)
mask_kernel(int64_t n, int64_t tiles, const Box4<T>* __restrict__ ranked, const int64_t* __restrict__ ranked_categories,
            T threshold, uint64_t* __restrict__ mask) {
  const int64_t row_tile = blockIdx.y, col_tile = blockIdx.x;
  if (col_tile < row_tile) return;  // the lower triangle is never read
  __shared__ Box4<T> col_box[kTileBoxes];
  __shared__ T col_area[kTileBoxes];
  __shared__ int64_t col_category[kTileBoxes];
  const int t = threadIdx.x;
  const int64_t j = col_tile * kTileBoxes + t;
  if (j < n) {
    col_box[t] = ranked[j];
    col_area[t] = area_of(col_box[t]);
    if (Batched) col_category[t] = ranked_categories[j];
  }
  __syncthreads();
  const int64_t i = row_tile * kTileBoxes + t;
  if (i >= n) return;
  const Box4<T> a = ranked[i];
  const T area_a = area_of(a);
  const int64_t category = Batched ? ranked_categories[i] : 0;
  const int cols = static_cast<int>(n - col_tile * kTileBoxes < kTileBoxes ? n - col_tile * kTileBoxes : kTileBoxes);
  // IoU > threshold >= 0 needs a positive intersection: skip the division otherwise.
  const bool need_overlap = threshold >= 0;
  uint64_t bits = 0;
  for (int k = row_tile == col_tile ? t + 1 : 0; k < cols; ++k) {
    if (Batched && col_category[k] != category) continue;
    const Box4<T>& b = col_box[k];
    const T inter = box_intersection(a.x1, a.y1, a.x2, a.y2, b.x1, b.y1, b.x2, b.y2);
    if (need_overlap && !(inter > 0)) continue;
    if (iou_from_intersection(inter, area_a, col_area[k]) > threshold) bits |= uint64_t{1} << k;
  }
  mask[mask_word(i, col_tile, tiles)] = bits;
}

__global__ void __launch_bounds__(kWalkThreads)
walk_kernel(int64_t n, int64_t tiles, const uint64_t* __restrict__ mask, const int64_t* __restrict__ order,
            uint64_t* removed_global, bool removed_in_shared, int64_t* __restrict__ keep, int64_t* __restrict__ count) {
  PDK_EXTERN_SHARED(uint64_t, removed_shared);
  uint64_t* removed = removed_in_shared ? removed_shared : removed_global;
  __shared__ uint64_t diagonal[kTileBoxes];
  __shared__ uint64_t kept_bits;
  const int tid = threadIdx.x;
  for (int64_t c = tid; c < tiles; c += kWalkThreads) removed[c] = 0;
  int64_t total = 0;  // thread 0's count of kept boxes
  __syncthreads();
  for (int64_t r = 0; r < tiles; ++r) {
    const int64_t row0 = r * kTileBoxes;
    const int rows = static_cast<int>(n - row0 < kTileBoxes ? n - row0 : kTileBoxes);
    if (tid < kTileBoxes) diagonal[tid] = tid < rows ? mask[mask_word(row0 + tid, r, tiles)] : 0;
    __syncthreads();
    if (tid == 0) {
      uint64_t gone = removed[r], kept = 0;
      for (int t = 0; t < rows; ++t) {
        if ((gone >> t) & 1) continue;
        kept |= uint64_t{1} << t;
        gone |= diagonal[t];
        keep[total++] = order[row0 + t];
      }
      kept_bits = kept;
    }
    __syncthreads();
    // Barriers: the next tile's diagonal load and kept_bits write come after the next
    // __syncthreads, which every thread reaches only after finishing this loop.
    const uint64_t kept = kept_bits;
    if (kept == 0) continue;
    for (int64_t c = r + 1 + tid; c < tiles; c += kWalkThreads) {
      uint64_t word = removed[c];
      for (uint64_t b = kept; b != 0; b &= b - 1)
        word |= mask[mask_word(row0 + __ffsll(static_cast<long long>(b)) - 1, c, tiles)];
      removed[c] = word;
    }
  }
  if (tid == 0) *count = total;
}

template <class T>
__global__ void __launch_bounds__(kIouThreads)
box_iou_kernel(int64_t n, int64_t m, const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out) {
  const int64_t j = blockIdx.x * static_cast<int64_t>(kIouThreads) + threadIdx.x;
  if (j >= m) return;
  const Box4<T> bj = load_box(b, j);
  const T area_b = area_of(bj);
  for (int64_t i = blockIdx.y; i < n; i += gridDim.y) {
    const Box4<T> ai = load_box(a, i);  // the same address in every thread: one broadcast load
    out[i * m + j] = box_iou_value(ai.x1, ai.y1, ai.x2, ai.y2, area_of(ai), bj.x1, bj.y1, bj.x2, bj.y2, area_b);
  }
}

// The (key, index) ranked first in the block (every thread gets it); index INT64_MAX = none.
// blockDim.x is a multiple of 32. Two barriers: one after the warps' partial results, one after
// warp 0 publishes the winner (so the next call's partials cannot overwrite what is being read).
template <class Key>
__device__ int64_t block_first(Key key, int64_t index, Key* warp_key, int64_t* warp_index, int64_t* winner) {
  constexpr unsigned kFull = 0xffffffffu;
  for (int offset = 16; offset > 0; offset /= 2) {
    const Key k = __shfl_down_sync(kFull, key, offset);
    const int64_t x = __shfl_down_sync(kFull, index, offset);
    if (ranks_before(k, x, key, index)) {
      key = k;
      index = x;
    }
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) {
    warp_key[warp] = key;
    warp_index[warp] = index;
  }
  __syncthreads();
  if (warp == 0) {
    const int warps = blockDim.x / 32;
    key = lane < warps ? warp_key[lane] : ~Key(0);
    index = lane < warps ? warp_index[lane] : INT64_MAX;
    for (int offset = 16; offset > 0; offset /= 2) {
      const Key k = __shfl_down_sync(kFull, key, offset);
      const int64_t x = __shfl_down_sync(kFull, index, offset);
      if (ranks_before(k, x, key, index)) {
        key = k;
        index = x;
      }
    }
    if (lane == 0) *winner = index;
  }
  __syncthreads();
  return *winner;
}

// Soft-NMS in one block: box j belongs to thread j % blockDim.x, which alone reads and writes its
// current score and alive flag; each round reduces the best alive box over the block, its owner
// records it, and every thread decays its own boxes against it.
template <class T>
__global__ void __launch_bounds__(kSoftNmsMaxThreads)
soft_nms_kernel(SoftNmsParams p, const T* __restrict__ boxes, const T* __restrict__ scores, T linear_threshold,
                T* __restrict__ current, uint8_t* __restrict__ alive, int64_t* __restrict__ keep,
                T* __restrict__ kept_scores, int64_t* __restrict__ count) {
  using Key = ScoreKey<T>;
  __shared__ Key warp_key[32];
  __shared__ int64_t warp_index[32];
  __shared__ int64_t winner;
  const int64_t tid = threadIdx.x, threads = blockDim.x;
  Key best_key = ~Key(0);
  int64_t best = INT64_MAX;
  auto consider = [&](T score, int64_t j) {
    const Key k = descending_score_key(score);
    if (ranks_before(k, j, best_key, best)) {
      best_key = k;
      best = j;
    }
  };
  for (int64_t j = tid; j < p.n; j += threads) {
    const T s = scores[j];
    current[j] = s;
    alive[j] = !(static_cast<double>(s) < p.score_threshold);
    if (alive[j]) consider(s, j);
  }
  int64_t taken = 0;  // the same in every thread
  while (true) {
    const int64_t chosen = block_first(best_key, best, warp_key, warp_index, &winner);
    if (chosen == INT64_MAX) break;
    if (chosen % threads == tid) {
      keep[taken] = chosen;
      kept_scores[taken] = current[chosen];
      alive[chosen] = 0;
    }
    ++taken;
    const Box4<T> c = load_box(boxes, chosen);
    const T area_c = area_of(c);
    best_key = ~Key(0);
    best = INT64_MAX;
    for (int64_t j = tid; j < p.n; j += threads) {
      if (!alive[j]) continue;
      const Box4<T> b = load_box(boxes, j);
      const T iou = box_iou_value(c.x1, c.y1, c.x2, c.y2, area_c, b.x1, b.y1, b.x2, b.y2, area_of(b));
      const T decayed = soft_nms_decayed(current[j], iou, p.method, linear_threshold, p.sigma);
      current[j] = decayed;
      if (static_cast<double>(decayed) < p.score_threshold) {
        alive[j] = 0;
        continue;
      }
      consider(decayed, j);
    }
  }
  if (tid == 0) *count = taken;
}

// The preamble of the entry points that write a kept count: no boxes only zero the count (on the
// stream, like every other write); otherwise the caller's workspace must hold `needed` bytes.
// False when there is nothing to launch.
bool begin_launch(const char* what, int64_t n, std::uintptr_t count, std::uintptr_t workspace,
                  int64_t workspace_bytes, int64_t needed, cudaStream_t s) {
  PDK_CHECK(count != 0, what, ": null count pointer");
  if (n == 0) {
    cudaMemsetAsync(reinterpret_cast<void*>(count), 0, sizeof(int64_t), s);
    check_cuda_launch(what);
    return false;
  }
  PDK_CHECK(workspace != 0 && workspace_bytes >= needed, what, ": the workspace must hold ", needed, " bytes, got ",
            workspace_bytes);
  return true;
}

}  // namespace

int64_t nms_workspace_bytes(const NmsParams& p, DType dtype) {
  check_nms_params(p);
  check_box_dtype(dtype, "nms");
  PDK_CHECK(tile_count(p.n) <= 65535, "nms: the CUDA kernels take at most ", 65535 * kTileBoxes,
            " boxes, got ", p.n);
  return nms_layout(p, dtype).total;
}

void nms_forward(const NmsParams& p, std::uintptr_t boxes, std::uintptr_t scores, std::uintptr_t categories,
                 std::uintptr_t keep, std::uintptr_t count, std::uintptr_t workspace, int64_t workspace_bytes,
                 DType dtype, std::uintptr_t stream) {
  const cudaStream_t s = as_stream(stream);
  if (!begin_launch("nms", p.n, count, workspace, workspace_bytes, nms_workspace_bytes(p, dtype), s)) return;
  PDK_CHECK(boxes != 0 && scores != 0 && keep != 0 && (!p.batched || categories != 0),
            "nms: null boxes, scores, categories or keep pointer");
  const NmsLayout l = nms_layout(p, dtype);
  auto* base = reinterpret_cast<unsigned char*>(workspace);
  auto* order = reinterpret_cast<int64_t*>(base + l.order);
  auto* ranked_categories = p.batched ? reinterpret_cast<int64_t*>(base + l.categories) : nullptr;
  auto* removed = reinterpret_cast<uint64_t*>(base + l.removed);
  auto* mask = reinterpret_cast<uint64_t*>(base + l.mask);
  const int64_t tiles = tile_count(p.n);
  PDK_DISPATCH_FLOATING(dtype, "nms", [&] {
    auto* ranked = reinterpret_cast<Box4<scalar_t>*>(base + l.boxes);
    auto* rank = &rank_kernel<scalar_t>;
    PDK_LAUNCH(rank, static_cast<unsigned>((p.n + kRankThreads - 1) / kRankThreads), kRankThreads, 0, s)
    (p.n, reinterpret_cast<const scalar_t*>(scores), reinterpret_cast<const scalar_t*>(boxes),
     reinterpret_cast<const int64_t*>(p.batched ? categories : 0), order, ranked, ranked_categories);
    auto* tile_mask = p.batched ? &mask_kernel<scalar_t, true> : &mask_kernel<scalar_t, false>;
    const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(tiles));
    PDK_LAUNCH(tile_mask, grid, kTileBoxes, 0, s)
    (p.n, tiles, ranked, ranked_categories, comparison_threshold<scalar_t>(p.iou_threshold), mask);
  });
  const bool in_shared = 8 * tiles <= kSharedRemovedBytes;
  PDK_LAUNCH(walk_kernel, 1, kWalkThreads, in_shared ? static_cast<size_t>(8 * tiles) : 0, s)
  (p.n, tiles, mask, order, removed, in_shared, reinterpret_cast<int64_t*>(keep), reinterpret_cast<int64_t*>(count));
  check_cuda_launch("nms");
}

int64_t soft_nms_workspace_bytes(const SoftNmsParams& p, DType dtype) {
  check_soft_nms_params(p);
  check_box_dtype(dtype, "soft_nms");
  const int64_t score_bytes = (p.n * dtype_bytes(dtype) + 255) / 256 * 256;
  return score_bytes + p.n;  // current scores, then alive flags
}

void soft_nms_forward(const SoftNmsParams& p, std::uintptr_t boxes, std::uintptr_t scores, std::uintptr_t keep,
                      std::uintptr_t kept_scores, std::uintptr_t count, std::uintptr_t workspace,
                      int64_t workspace_bytes, DType dtype, std::uintptr_t stream) {
  const int64_t needed = soft_nms_workspace_bytes(p, dtype);
  const cudaStream_t s = as_stream(stream);
  if (!begin_launch("soft_nms", p.n, count, workspace, workspace_bytes, needed, s)) return;
  PDK_CHECK(boxes != 0 && scores != 0 && keep != 0 && kept_scores != 0,
            "soft_nms: null boxes, scores, keep or kept_scores pointer");
  const int threads = static_cast<int>(p.n >= kSoftNmsMaxThreads ? kSoftNmsMaxThreads : (p.n + 31) / 32 * 32);
  PDK_DISPATCH_FLOATING(dtype, "soft_nms", [&] {
    auto* base = reinterpret_cast<unsigned char*>(workspace);
    auto* current = reinterpret_cast<scalar_t*>(base);
    auto* alive = base + (needed - p.n);
    auto* kernel = &soft_nms_kernel<scalar_t>;
    PDK_LAUNCH(kernel, 1, threads, 0, s)
    (p, reinterpret_cast<const scalar_t*>(boxes), reinterpret_cast<const scalar_t*>(scores),
     comparison_threshold<scalar_t>(p.iou_threshold), current, alive, reinterpret_cast<int64_t*>(keep),
     reinterpret_cast<scalar_t*>(kept_scores), reinterpret_cast<int64_t*>(count));
  });
  check_cuda_launch("soft_nms");
}

void box_iou_forward(const BoxIouParams& p, std::uintptr_t a, std::uintptr_t b, std::uintptr_t out, DType dtype,
                     std::uintptr_t stream) {
  check_box_iou_params(p);
  check_box_dtype(dtype, "box_iou");
  if (p.n == 0 || p.m == 0) return;
  PDK_CHECK(a != 0 && b != 0 && out != 0, "box_iou: null input or output pointer");
  const dim3 grid(static_cast<unsigned>((p.m + kIouThreads - 1) / kIouThreads),
                  static_cast<unsigned>(p.n < 65535 ? p.n : 65535));
  PDK_DISPATCH_FLOATING(dtype, "box_iou", [&] {
    auto* kernel = &box_iou_kernel<scalar_t>;
    PDK_LAUNCH(kernel, grid, kIouThreads, 0, as_stream(stream))
    (p.n, p.m, reinterpret_cast<const scalar_t*>(a), reinterpret_cast<const scalar_t*>(b),
     reinterpret_cast<scalar_t*>(out));
  });
  check_cuda_launch("box_iou");
}

}  // namespace pdk::cuda
