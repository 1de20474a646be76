// CPU entry points of the NMS family: radix-sorted ranking, categories, greedy NMS over spatial cells, soft-NMS, IoU.
//
// Greedy NMS walks the ranking with a cursor and takes the next kHead undecided boxes as a head:
// each of them is ranked above every other undecided box, so the head is resolved among itself
// (greedy, vectorised IoU), and its kept boxes then suppress the other undecided boxes. Those wait
// in spatial cells (kCell boxes consecutive along a Morton curve of their centres, each cell with
// the bounding box of its boxes): a kept box only tests the cells whose bounding box it overlaps.
// This "early exit" is exact for iou_threshold >= 0, where suppression needs a positive
// intersection (with a negative threshold every cell is tested). The work is about (kept boxes) x
// (boxes nearby), where torchvision's loop visits every (kept box, later box) pair. batched_nms runs
// one such greedy NMS per category, categories in parallel (OpenMP). A step is tens of microseconds,
// too short for a fork/join: one category runs on one thread.
#include <algorithm>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/cpu_features.h"
#include "nms/nms.h"
#include "nms/nms_common.h"
#include "nms/nms_cpu_kernels.h"

namespace pdk::cpu {
namespace {

// Boxes resolved per step: enough to amortise a pass over the cells, few enough that the
// head's own greedy resolution stays cheap; <= 64 (cell hits are 64-bit masks).
constexpr int64_t kHead = 64;
// Boxes per spatial cell: small cells prune well; every step tests every cell's bounding box.
constexpr int64_t kCell = 64;
// Below this many boxes, categories run one after the other: the whole call is about a
// millisecond, and on a busy machine one preempted thread holds a parallel region for a
// scheduler time slice.
constexpr int64_t kParallelBoxes = int64_t{1} << 15;

int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

template <class T>
int64_t filter_survivors(const BoxColumns<T>& kept, int64_t kept_count, const BoxColumns<T>& candidates, int64_t count,
                         T threshold, uint8_t* dropped) {
  PDK_ISA_DISPATCH(nms_filter, kept, kept_count, candidates, count, threshold, dropped);
}
template <class T>
void cell_hits(const BoxColumns<T>& kept, int64_t kept_count, const BoxColumns<T>& cells, int64_t cell_count,
               uint64_t* hits) {
  PDK_ISA_DISPATCH(nms_cell_hits, kept, kept_count, cells, cell_count, hits);
}
template <class T>
void iou_rows(const T* a, int64_t row_begin, int64_t row_end, const BoxColumns<T>& b, int64_t m, T* out) {
  PDK_ISA_DISPATCH(box_iou_rows, a, row_begin, row_end, b, m, out);
}

// Stable LSD radix sort of (key, value) pairs by key, one byte per pass; a pass whose byte is the
// same in every key changes nothing and is skipped (small category ids need one pass).
template <class Key>
void radix_sort_by_key(std::vector<Key>& keys, std::vector<int64_t>& values) {
  const size_t n = keys.size();
  if (n < 2) return;
  std::vector<Key> keys_out(n);
  std::vector<int64_t> values_out(n);
  for (unsigned shift = 0; shift < 8 * sizeof(Key); shift += 8) {
    size_t start[256] = {};
    for (const Key k : keys) ++start[(k >> shift) & 0xFF];
    if (start[(keys[0] >> shift) & 0xFF] == n) continue;
    size_t sum = 0;
    for (size_t& s : start) {
      const size_t c = s;
      s = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; ++i) {
      const size_t pos = start[(keys[i] >> shift) & 0xFF]++;
      keys_out[pos] = keys[i];
      values_out[pos] = values[i];
    }
    keys.swap(keys_out);
    values.swap(values_out);
  }
}

// Box indices in ranking order: decreasing score (NaN first, as torch sorts), ties by index.
template <class T>
std::vector<int64_t> score_order(const T* scores, int64_t n) {
  std::vector<ScoreKey<T>> keys(n);
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) {
    keys[i] = descending_score_key(scores[i]);
    order[i] = i;
  }
  radix_sort_by_key(keys, order);
  return order;
}

// Ranks grouped by the category of their box (ranks ascending within a group); group g is
// positions [starts[g], starts[g + 1]).
std::vector<int64_t> group_by_category(const int64_t* categories, const std::vector<int64_t>& order,
                                       std::vector<int64_t>& starts) {
  const int64_t n = static_cast<int64_t>(order.size());
  const int64_t lowest = *std::min_element(categories, categories + n);
  std::vector<uint64_t> keys(n);
  std::vector<int64_t> ranks(n);
  for (int64_t r = 0; r < n; ++r) {
    keys[r] = static_cast<uint64_t>(categories[order[r]]) - static_cast<uint64_t>(lowest);
    ranks[r] = r;
  }
  radix_sort_by_key(keys, ranks);
  starts.assign(1, 0);
  for (int64_t q = 1; q < n; ++q)
    if (keys[q] != keys[q - 1]) starts.push_back(q);
  starts.push_back(n);
  return ranks;
}

// Copies box i of `from` (coordinates, area, rank) to slot j of `to`.
template <class T>
void copy_box(const BoxColumns<T>& from, int64_t i, const BoxColumns<T>& to, int64_t j) {
  to.x1[j] = from.x1[i];
  to.y1[j] = from.y1[i];
  to.x2[j] = from.x2[i];
  to.y2[j] = from.y2[i];
  to.area[j] = from.area[i];
  to.rank[j] = from.rank[i];
}

// The mask of kept boxes 0 .. count-1 (count <= 64).
uint64_t low_bits(int64_t count) { return count == 64 ? ~uint64_t{0} : (uint64_t{1} << count) - 1; }

// At most kHead boxes as columns, on the stack (a head and the kept boxes a cell is tested against).
template <class T>
struct SmallColumns {
  T x1[kHead], y1[kHead], x2[kHead], y2[kHead], area[kHead];
  int64_t rank[kHead];
  BoxColumns<T> at(int64_t i) { return {x1 + i, y1 + i, x2 + i, y2 + i, area + i, rank + i}; }
};

template <class T>
struct Columns {
  std::vector<T> x1, y1, x2, y2, area;
  std::vector<int64_t> rank;
  explicit Columns(int64_t n) : x1(n), y1(n), x2(n), y2(n), area(n), rank(n) {}
  BoxColumns<T> at(int64_t i) {
    return {x1.data() + i, y1.data() + i, x2.data() + i, y2.data() + i, area.data() + i, rank.data() + i};
  }
  void set(int64_t q, const T* box, int64_t r) {
    x1[q] = box[0];
    y1[q] = box[1];
    x2[q] = box[2];
    y2[q] = box[3];
    area[q] = box_area_value(box[0], box[1], box[2], box[3]);
    rank[q] = r;
  }
};

// Bits 0-15 of v spread to the even bits (one coordinate of a Morton code).
uint32_t spread_bits(uint32_t v) {
  v = (v | (v << 8)) & 0x00FF00FFu;
  v = (v | (v << 4)) & 0x0F0F0F0Fu;
  v = (v | (v << 2)) & 0x33333333u;
  return (v | (v << 1)) & 0x55555555u;
}

// Positions [begin, end) of `ranked` ordered along a Morton curve of the box centres (boxes without
// a finite centre first): neighbours in this order are neighbours in the image.
template <class T>
std::vector<int64_t> morton_order(const Columns<T>& ranked, int64_t begin, int64_t end) {
  const int64_t n = end - begin;
  std::vector<double> cx(n), cy(n);
  double lo_x = INFINITY, hi_x = -INFINITY, lo_y = INFINITY, hi_y = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    cx[i] = 0.5 * (static_cast<double>(ranked.x1[begin + i]) + static_cast<double>(ranked.x2[begin + i]));
    cy[i] = 0.5 * (static_cast<double>(ranked.y1[begin + i]) + static_cast<double>(ranked.y2[begin + i]));
    if (std::isfinite(cx[i]) && std::isfinite(cy[i])) {
      lo_x = std::min(lo_x, cx[i]), hi_x = std::max(hi_x, cx[i]);
      lo_y = std::min(lo_y, cy[i]), hi_y = std::max(hi_y, cy[i]);
    }
  }
  const double scale_x = hi_x > lo_x ? 65535.0 / (hi_x - lo_x) : 0.0;
  const double scale_y = hi_y > lo_y ? 65535.0 / (hi_y - lo_y) : 0.0;
  std::vector<uint32_t> keys(n);
  std::vector<int64_t> positions(n);
  for (int64_t i = 0; i < n; ++i) {
    positions[i] = begin + i;
    if (!std::isfinite(cx[i]) || !std::isfinite(cy[i])) {
      keys[i] = 0;
      continue;
    }
    const auto qx = static_cast<uint32_t>((cx[i] - lo_x) * scale_x);
    const auto qy = static_cast<uint32_t>((cy[i] - lo_y) * scale_y);
    keys[i] = spread_bits(qx) | (spread_bits(qy) << 1);
  }
  radix_sort_by_key(keys, positions);
  return positions;
}

// Greedy NMS of the boxes at positions [begin, end) of `ranked` (ranking order; rank = global
// rank). Sets kept_rank[rank] = 1 for the boxes it keeps. `spatial` and `decided` (indexed by
// position) are scratch of at least `end` entries; only [begin, end) is touched.
template <class T>
void greedy_nms(Columns<T>& ranked, Columns<T>& spatial, uint8_t* decided, int64_t begin, int64_t end, T threshold,
                uint8_t* kept_rank) {
  const int64_t n = end - begin;
  if (n == 1) {
    kept_rank[ranked.rank[begin]] = 1;
    return;
  }
  // Undecided boxes not in the current head, by cell; spatial.rank holds their position.
  const int64_t cells = n > kHead ? (n + kCell - 1) / kCell : 0;
  const int64_t padded_cells = (cells + 15) / 16 * 16;  // the cell test reads whole vectors
  std::vector<T> cell_box(4 * padded_cells);
  std::vector<int64_t> live(cells), cell_of(cells > 0 ? n : 0);
  std::vector<uint64_t> hits(padded_cells);
  const BoxColumns<T> cell_boxes{cell_box.data(), cell_box.data() + padded_cells, cell_box.data() + 2 * padded_cells,
                                 cell_box.data() + 3 * padded_cells, nullptr, nullptr};
  if (cells > 0) {
    const std::vector<int64_t> order = morton_order(ranked, begin, end);
    for (int64_t c = 0; c < padded_cells; ++c) {  // empty: overlaps nothing; NaN coordinates never widen it
      cell_boxes.x1[c] = cell_boxes.y1[c] = INFINITY;
      cell_boxes.x2[c] = cell_boxes.y2[c] = -INFINITY;
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t q = order[i], c = i / kCell, slot = begin + i;
      copy_box(ranked.at(0), q, spatial.at(0), slot);
      spatial.rank[slot] = q;
      cell_of[q - begin] = c;
      ++live[c];
      // Any box this cell's boxes overlap (w > 0 and h > 0) overlaps the cell's bounding box.
      cell_boxes.x1[c] = std::min(cell_boxes.x1[c], spatial.x1[slot]);
      cell_boxes.y1[c] = std::min(cell_boxes.y1[c], spatial.y1[slot]);
      cell_boxes.x2[c] = std::max(cell_boxes.x2[c], spatial.x2[slot]);
      cell_boxes.y2[c] = std::max(cell_boxes.y2[c], spatial.y2[slot]);
    }
  }
  auto cell_at = [&](int64_t c) { return spatial.at(begin + c * kCell); };
  auto take_out_of_cell = [&](int64_t q) {  // order inside a cell does not matter
    const int64_t c = cell_of[q - begin];
    const BoxColumns<T> cell = cell_at(c);
    int64_t i = 0;
    while (cell.rank[i] != q) ++i;
    copy_box(cell, --live[c], cell, i);
  };

  SmallColumns<T> head, subset;
  int64_t head_position[kHead];
  int64_t cursor = begin;
  while (true) {
    int64_t m = 0;
    for (; cursor < end && m < kHead; ++cursor) {
      if (decided[cursor]) continue;
      copy_box(ranked.at(0), cursor, head.at(0), m);
      head_position[m++] = cursor;
    }
    if (m == 0) return;
    int64_t kept = m;
    for (int64_t i = 0; i < kept; ++i)
      kept = i + 1 + filter_survivors(head.at(i), 1, head.at(i + 1), kept - i - 1, threshold, nullptr);
    for (int64_t i = 0; i < kept; ++i) kept_rank[head.rank[i]] = 1;
    for (int64_t i = 0; i < m; ++i) {
      decided[head_position[i]] = 1;
      if (cells > 0) take_out_of_cell(head_position[i]);
    }
    if (cursor == end) return;  // every box was in a head

    if (threshold >= 0) {
      std::fill(hits.begin(), hits.end(), 0);
      cell_hits(head.at(0), kept, cell_boxes, padded_cells, hits.data());
    } else {
      std::fill(hits.begin(), hits.end(), low_bits(kept));
    }
    for (int64_t c = 0; c < cells; ++c) {
      if (live[c] == 0 || hits[c] == 0) continue;
      BoxColumns<T> killers = head.at(0);
      int64_t count = kept;
      if (hits[c] != low_bits(kept)) {
        count = 0;
        for (uint64_t b = hits[c]; b != 0; b &= b - 1) copy_box(head.at(0), __builtin_ctzll(b), subset.at(0), count++);
        killers = subset.at(0);
      }
      live[c] = filter_survivors(killers, count, cell_at(c), live[c], threshold, decided);
    }
  }
}

template <class T>
void run_nms(const NmsParams& p, const T* boxes, const T* scores, const int64_t* categories, int64_t* keep,
             int64_t* count) {
  const int64_t n = p.n;
  const std::vector<int64_t> order = score_order(scores, n);
  std::vector<int64_t> starts{0, n};
  std::vector<int64_t> grouped;  // batched: the ranks by category; otherwise the identity
  if (p.batched) grouped = group_by_category(categories, order, starts);

  Columns<T> cols(n);
  for (int64_t q = 0; q < n; ++q) {
    const int64_t r = p.batched ? grouped[q] : q;
    cols.set(q, boxes + 4 * order[r], r);
  }

  const T threshold = comparison_threshold<T>(p.iou_threshold);
  std::vector<uint8_t> kept_rank(n, 0), decided(n, 0);
  Columns<T> spatial(n);
  const int64_t groups = static_cast<int64_t>(starts.size()) - 1;
  auto run_group = [&](int64_t g) {
    greedy_nms(cols, spatial, decided.data(), starts[g], starts[g + 1], threshold, kept_rank.data());
  };
  if (groups > 1 && n >= kParallelBoxes && max_threads() > 1) {
    // Each category writes distinct positions and ranks.
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t g = 0; g < groups; ++g) run_group(g);
  } else {
    for (int64_t g = 0; g < groups; ++g) run_group(g);
  }

  int64_t k = 0;
  for (int64_t r = 0; r < n; ++r)
    if (kept_rank[r]) keep[k++] = order[r];
  *count = k;
}

// Soft-NMS: each round keeps the best remaining box (by current score, NaN first, then index),
// decays the others and drops those below score_threshold; the remaining boxes stay compacted
// (their order does not matter: the choice is by score and index, never by position).
template <class T>
void run_soft_nms(const SoftNmsParams& p, const T* boxes, const T* scores, int64_t* keep, T* kept_scores,
                  int64_t* count) {
  Columns<T> cols(p.n);  // rank = box index
  std::vector<T> score(p.n);
  int64_t live = 0;
  for (int64_t i = 0; i < p.n; ++i) {
    if (static_cast<double>(scores[i]) < p.score_threshold) continue;
    cols.set(live, boxes + 4 * i, i);
    score[live++] = scores[i];
  }
  auto better = [&](int64_t a, int64_t b) {
    return ranks_before(descending_score_key(score[a]), cols.rank[a], descending_score_key(score[b]), cols.rank[b]);
  };
  auto move = [&](int64_t to, int64_t from) {
    copy_box(cols.at(0), from, cols.at(0), to);
    score[to] = score[from];
  };
  int64_t best = 0;
  for (int64_t j = 1; j < live; ++j)
    if (better(j, best)) best = j;
  const T linear_threshold = comparison_threshold<T>(p.iou_threshold);
  int64_t k = 0;
  while (live > 0) {
    keep[k] = cols.rank[best];
    kept_scores[k++] = score[best];
    const T bx1 = cols.x1[best], by1 = cols.y1[best], bx2 = cols.x2[best], by2 = cols.y2[best];
    const T barea = cols.area[best];
    move(best, --live);
    int64_t out = 0;
    best = -1;
    for (int64_t j = 0; j < live; ++j) {
      const T iou =
          box_iou_value(bx1, by1, bx2, by2, barea, cols.x1[j], cols.y1[j], cols.x2[j], cols.y2[j], cols.area[j]);
      const T decayed = soft_nms_decayed(score[j], iou, p.method, linear_threshold, p.sigma);
      if (static_cast<double>(decayed) < p.score_threshold) continue;
      move(out, j);
      score[out] = decayed;
      if (best < 0 || better(out, best)) best = out;
      ++out;
    }
    live = out;
  }
  *count = k;
}

template <class T>
void run_box_iou(const BoxIouParams& p, const T* a, const T* b, T* out) {
  Columns<T> cols(p.m);
  for (int64_t j = 0; j < p.m; ++j) cols.set(j, b + 4 * j, j);
  const BoxColumns<T> bc = cols.at(0);
  constexpr int64_t kRows = 16;
  const int64_t blocks = (p.n + kRows - 1) / kRows;
#pragma omp parallel for schedule(static) if (p.n * p.m >= (int64_t{1} << 16))
  for (int64_t blk = 0; blk < blocks; ++blk) iou_rows(a, blk * kRows, std::min(p.n, (blk + 1) * kRows), bc, p.m, out);
}

}  // namespace

int64_t nms_workspace_bytes(const NmsParams& p, DType dtype) {
  check_nms_params(p);
  return 0;
}

void nms_forward(const NmsParams& p, std::uintptr_t boxes, std::uintptr_t scores, std::uintptr_t categories,
                 std::uintptr_t keep, std::uintptr_t count, std::uintptr_t workspace, int64_t workspace_bytes,
                 DType dtype, std::uintptr_t stream) {
  check_nms_params(p);
  check_box_dtype(dtype, "nms");
  PDK_CHECK(count != 0, "nms: null count pointer");
  if (p.n == 0) {
    *reinterpret_cast<int64_t*>(count) = 0;
    return;
  }
  PDK_CHECK(boxes != 0 && scores != 0 && keep != 0 && (!p.batched || categories != 0),
            "nms: null boxes, scores, categories or keep pointer");
  PDK_DISPATCH_FLOATING(dtype, "nms", [&] {
    run_nms(p, reinterpret_cast<const scalar_t*>(boxes), reinterpret_cast<const scalar_t*>(scores),
            reinterpret_cast<const int64_t*>(categories), reinterpret_cast<int64_t*>(keep),
            reinterpret_cast<int64_t*>(count));
  });
}

int64_t soft_nms_workspace_bytes(const SoftNmsParams& p, DType dtype) {
  check_soft_nms_params(p);
  return 0;
}

void soft_nms_forward(const SoftNmsParams& p, std::uintptr_t boxes, std::uintptr_t scores, std::uintptr_t keep,
                      std::uintptr_t kept_scores, std::uintptr_t count, std::uintptr_t workspace,
                      int64_t workspace_bytes, DType dtype, std::uintptr_t stream) {
  check_soft_nms_params(p);
  check_box_dtype(dtype, "soft_nms");
  PDK_CHECK(count != 0, "soft_nms: null count pointer");
  if (p.n == 0) {
    *reinterpret_cast<int64_t*>(count) = 0;
    return;
  }
  PDK_CHECK(boxes != 0 && scores != 0 && keep != 0 && kept_scores != 0,
            "soft_nms: null boxes, scores, keep or kept_scores pointer");
  PDK_DISPATCH_FLOATING(dtype, "soft_nms", [&] {
    run_soft_nms(p, reinterpret_cast<const scalar_t*>(boxes), reinterpret_cast<const scalar_t*>(scores),
                 reinterpret_cast<int64_t*>(keep), reinterpret_cast<scalar_t*>(kept_scores),
                 reinterpret_cast<int64_t*>(count));
  });
}

void box_iou_forward(const BoxIouParams& p, std::uintptr_t a, std::uintptr_t b, std::uintptr_t out, DType dtype,
                     std::uintptr_t stream) {
  check_box_iou_params(p);
  check_box_dtype(dtype, "box_iou");
  if (p.n == 0 || p.m == 0) return;
  PDK_CHECK(a != 0 && b != 0 && out != 0, "box_iou: null input or output pointer");
  PDK_DISPATCH_FLOATING(dtype, "box_iou", [&] {
    run_box_iou(p, reinterpret_cast<const scalar_t*>(a), reinterpret_cast<const scalar_t*>(b),
                reinterpret_cast<scalar_t*>(out));
  });
}

}  // namespace pdk::cpu
