// The plan conv_cpu.cpp hands to the per-ISA CPU convolution kernels (GEMM blocking, workspaces), and their declarations.
#pragma once
#include <cstdint>

#include "conv/conv.h"
#include "gemm/gemm_cpu_kernels.h"

namespace pdk {

// The Winograd path's tiles: F(2x2, 3x3) for 3x3 forward kernels (16 positions), F(2x2, 2x2) on
// the 2x2 input phases of 3x3 stride-2 ones (9 positions of up to 4 phases each) and on the 2x2
// output phases of 4x4 stride-2 transposed ones (9), F(1x2, 1xr) for 1x3, 1x5 and 1x7 forward
// kernels (conv1d's; 4, 6 and 8 positions).
enum class WinogradTile : int { f2x2_3x3 = 0, f2x2_2x2_phases = 1, f1x2_1x3 = 2, f1x2_1x5 = 3, f1x2_1x7 = 4,
                                f2x2_3x3_s2 = 5 };

// A tile's sizes, which conv_cpu.cpp plans the buffers by (conv_winograd_kernels.cpp checks at
// compile time that its tiles agree): transformed positions per tile, the input phases the GEMM
// of a position may sum (K up to that many times the channels), the products per tile and input
// channel (the positions' K rows, 25 for stride 2), output rows per tile, and the direct sum's
// taps per output (per depth tap).
struct WinogradShape {
  int64_t positions, input_phases, products, tile_rows, taps;
};
constexpr WinogradShape winograd_shape(WinogradTile tile) {
  switch (tile) {
    case WinogradTile::f2x2_3x3: return {16, 1, 16, 2, 9};
    case WinogradTile::f2x2_3x3_s2: return {9, 4, 25, 2, 9};
    case WinogradTile::f2x2_2x2_phases: return {9, 1, 9, 2, 4};
    case WinogradTile::f1x2_1x3: return {4, 1, 4, 1, 3};
    case WinogradTile::f1x2_1x5: return {6, 1, 6, 1, 5};
    case WinogradTile::f1x2_1x7: return {8, 1, 8, 1, 7};
  }
  return {0, 1, 0, 1, 1};
}

// conv_cpu.cpp (compiled once) validates, picks the algorithm, sizes the blocking and allocates
// every workspace; the per-ISA kernels never allocate (see gemm_cpu_kernels.cpp for why).
struct ConvCpuPlan {
  ConvParams p;
  GemmCpuPlan gemm;        // blocking of one (image, group) GEMM; a_pack/b_pack unused (per thread below)
  int64_t threads = 1;     // OpenMP threads
  bool image_per_thread = false;  // each thread runs whole (image, group) GEMMs, else the team shares each
  // Small output planes (forward, packed path): one GEMM per group whose columns run over every
  // image (batch * out plane), so the last partial NR panel of each image does not waste work.
  bool fold_batch = false;
  // Forward, one image shared by the team, weights not prepacked, a small plane: each work item
  // packs its own A block (rows of the weights) per K block into its thread's L2, instead of the
  // team packing all weights ahead into memory and the GEMM reading them back (see conv_cpu.cpp).
  bool packs_weights_per_item = false;
  void* workspace = nullptr;      // threads * per_thread_elems elements, 64-byte aligned
  int64_t per_thread_elems = 0;   // a_pack + b_pack + cols + copy (whole jobs per thread), or a_pack (team)
  // Parts of the workspace, each 64-byte aligned: an A block (transposed, and forward with
  // packs_weights_per_item; otherwise the forward weights are in weights_packed) and a B block
  // (packed path only: the direct path reads B in place).
  int64_t a_pack_elems = 0, b_pack_elems = 0;
  int64_t cols_elems = 0;         // transposed: the [chunk * kernel volume, in plane] GEMM result
  int64_t chunk = 0;              // transposed: output channels per GEMM + gather step (cols stay in L2)
  // Forward: every group's weights packed once per call for the micro-kernel (the driver's
  // PackedA layout), group g at weights_packed + g * weights_group_elems, 64-byte aligned.
  void* weights_packed = nullptr;
  int64_t weights_group_elems = 0;
  bool weights_ready = false;  // weights_packed already holds them (conv_forward_prepacked)
  // Winograd, weights transformed in the call: > 0 when each thread transforms all of them into a
  // copy of its own, thread t's at weights_packed + t * weights_copy_elems (see conv_cpu.cpp).
  int64_t weights_copy_elems = 0;

  // Direct forward path (no B packing): each thread copies its job's input channels, padded and
  // split into stride phases, into `buffer_elems` of its workspace (after the A/B packs and cols);
  // every im2col row is then a shifted view of that copy, at offsets[(ci, tap)] (K entries,
  // shared), and the GEMM runs over `columns` extended output columns: (od, oh, ow) at
  // (od * phase[1] + oh) * phase[2] + ow, of which those with oh < out[1], ow < out[2] are real.
  // When an output row is a whole number of the micro-kernel's vectors (row_vectors), the GEMM's
  // columns are the output plane itself instead, and each vector of a B panel reads its piece of
  // an output row wherever that row starts in the copy.
  bool direct = false;
  bool row_vectors = false;
  int64_t phase[3] = {1, 1, 1};   // extents of one phase plane (D, H, W)
  int64_t phase_plane = 0;        // phase[0] * phase[1] * phase[2]
  int64_t channel_stride = 0;     // phases * phase_plane: elements per input channel in the copy
  int64_t columns = 0;
  int64_t buffer_elems = 0;       // cin_g * channel_stride + a zeroed tail the last panel may read
  const int64_t* offsets = nullptr;
  // A 1x1, stride-1, unpadded convolution on the direct path reads its rows from x itself
  // (offsets[ci] = ci * plane, no copy); only its last, partial NR panel, which would read past
  // the end of x, is packed (into the buffer: K rows of NR, rows at tail_offsets[k] = k * NR).
  bool reads_input = false;
  const int64_t* tail_offsets = nullptr;

  // Winograd path (conv_winograd_kernels.cpp; the shapes in WinogradTile, zero padding): outputs
  // in m x 2 tiles (m: 2, or 1 for a 1xr kernel), tiles_h x tiles_w per image, depth and phase,
  // numbered over the batch; a work item is tile_panels NR-tile panels of one group.
  // weights_packed holds each group's transformed weight matrices, one per position (16, 9 or 8),
  // in the PackedA layout; a matrix's K rows are 1-4 units of K1 = channels x depth taps (4 for
  // the positions of a stride-2 kernel that sum all its input phases), each unit
  // weights_xi_elems long. A thread's per_thread_elems of workspace: the transformed input V
  // ([xi][panel][k][NR], a unit of K1 rows v_xi_stride long) then the products M ([xi][co][tile
  // of the item], m_xi_stride apart).
  // A transposed convolution (4x4, stride 2) runs F(2x2, 2x2) on each of its 2x2 output phases,
  // weight_phases = 4 sets of 9 matrices (forward: one set).
  // Output phases along H and W (phase_h x phase_w: 2 along a dilated dim or a transposed
  // convolution's, else 1); tiles: one group's over the batch, every output depth and phase.
  bool winograd = false;
  WinogradTile tile = WinogradTile::f2x2_3x3;
  int64_t tiles_h = 0, tiles_w = 0, tile_panels = 1, weight_phases = 1;
  int64_t phase_h = 1, phase_w = 1, tiles = 0;
  int64_t weights_xi_elems = 0, v_xi_stride = 0, m_xi_stride = 0;
};

// Most panels in one Winograd work item (its segment table is on the stack).
constexpr int64_t kMaxTilePanels = 4;

// A forward or transposed convolution's arrays as the kernels read them (bias, residual: null
// when absent; the residual may be `out` itself).
template <class T>
struct ConvArrays {
  const T* x;
  const T* w;
  const T* bias;
  const T* residual;
  T* out;
};

// Kernel status codes.
enum : int { kConvOk = 0, kConvBadDtype = 2, kConvBadTile = 3 };

// One set per instruction set (PDK_ISA_DISPATCH picks). conv_gemm_kernel: implicit-GEMM forward
// and GEMM + gather transposed convolution. conv_pack_weights_kernel: the forward weights into
// plan.weights_packed, on the calling thread. depthwise_conv_kernel: the direct depthwise kernel
// (conv_is_depthwise(p)); it needs no workspace and parallelises itself. conv_winograd_kernel:
// the Winograd forward path (plan.winograd); conv_winograd_weights_kernel: its transformed
// weights into plan.weights_packed, on the calling thread.
#define PDK_CONV_CPU_KERNELS                                                                      \
  int conv_gemm_kernel(const ConvCpuPlan& plan, std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias, \
                       std::uintptr_t residual, std::uintptr_t out, DType dtype);                 \
  int conv_pack_weights_kernel(const ConvCpuPlan& plan, std::uintptr_t w, DType dtype);            \
  int depthwise_conv_kernel(const ConvParams& p, int64_t threads, std::uintptr_t x, std::uintptr_t w, \
                            std::uintptr_t bias, std::uintptr_t residual, std::uintptr_t out, DType dtype); \
  int conv_winograd_kernel(const ConvCpuPlan& plan, std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias, \
                           std::uintptr_t residual, std::uintptr_t out, DType dtype);              \
  int conv_winograd_weights_kernel(const ConvCpuPlan& plan, std::uintptr_t w, DType dtype);
namespace isa_base { PDK_CONV_CPU_KERNELS }
namespace isa_avx2 { PDK_CONV_CPU_KERNELS }
namespace isa_avx512 { PDK_CONV_CPU_KERNELS }
#undef PDK_CONV_CPU_KERNELS

}  // namespace pdk
