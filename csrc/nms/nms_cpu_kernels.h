// The column layout nms_cpu.cpp hands to the per-ISA CPU NMS kernels, and their declarations.
#pragma once
#include <cstdint>

#include "nms/nms.h"

namespace pdk {

// Boxes as a structure of arrays (box i is x1[i], y1[i], x2[i], y2[i] with area[i]) so the
// kernels load one coordinate of several boxes per vector. `rank` is the box's position in the
// score order (nms_filter carries it along; box_iou_rows does not read it).
template <class T>
struct BoxColumns {
  T* x1;
  T* y1;
  T* x2;
  T* y2;
  T* area;
  int64_t* rank;
};

// One set per instruction set; only the ones CMake built are defined (PDK_ISA_DISPATCH picks).
//
// nms_filter: drops from candidates[0, count) every box whose IoU with one of kept[0, kept_count)
// is > threshold (the threshold in the boxes' dtype, see comparison_threshold), compacting the
// survivors to the front in their order; returns their number. For each dropped box it sets
// dropped[rank] = 1 when `dropped` is not null. `kept` may point into the same arrays before the
// candidates.
// nms_cell_hits: hits[c] |= bit k for every kept box k that overlaps cell c's bounding box
// cells.{x1, y1, x2, y2}[c] (both extents strictly); the cell arrays hold a multiple of 16 cells.
// box_iou_rows: out[i * m + j] = IoU(a[i], b[j]) for rows i in [row_begin, row_end) of a [n, 4].
#define PDK_NMS_CPU_KERNELS_OF(T)                                                                   \
  int64_t nms_filter(const BoxColumns<T>& kept, int64_t kept_count, const BoxColumns<T>& candidates, \
                     int64_t count, T threshold, uint8_t* dropped);                                 \
  void nms_cell_hits(const BoxColumns<T>& kept, int64_t kept_count, const BoxColumns<T>& cells,     \
                     int64_t cell_count, uint64_t* hits);                                           \
  void box_iou_rows(const T* a, int64_t row_begin, int64_t row_end, const BoxColumns<T>& b, int64_t m, T* out);
#define PDK_NMS_CPU_KERNELS PDK_NMS_CPU_KERNELS_OF(float) PDK_NMS_CPU_KERNELS_OF(double)
namespace isa_base { PDK_NMS_CPU_KERNELS }
namespace isa_avx2 { PDK_NMS_CPU_KERNELS }
namespace isa_avx512 { PDK_NMS_CPU_KERNELS }
#undef PDK_NMS_CPU_KERNELS
#undef PDK_NMS_CPU_KERNELS_OF

}  // namespace pdk
