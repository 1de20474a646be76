// CPU convolution entry point: validation, algorithm choice (depthwise direct, Winograd, implicit GEMM, GEMM + gather), blocking and workspaces.
#include <algorithm>
#include "conv/conv_common.h"
#include "conv/conv_cpu_kernels.h"
#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "core/named_choice.h"
#include "gemm/gemm.h"
#include "gemm/gemm_common.h"

namespace pdk::cpu {
namespace {

int run_conv_gemm(const ConvCpuPlan& plan, std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias,
                  std::uintptr_t residual, std::uintptr_t out, DType dtype) {
  PDK_ISA_DISPATCH(conv_gemm_kernel, plan, x, w, bias, residual, out, dtype);
}

int run_pack_weights(const ConvCpuPlan& plan, std::uintptr_t w, DType dtype) {
  PDK_ISA_DISPATCH(conv_pack_weights_kernel, plan, w, dtype);
}

int run_winograd(const ConvCpuPlan& plan, std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias,
                 std::uintptr_t residual, std::uintptr_t out, DType dtype) {
  PDK_ISA_DISPATCH(conv_winograd_kernel, plan, x, w, bias, residual, out, dtype);
}

int run_winograd_weights(const ConvCpuPlan& plan, std::uintptr_t w, DType dtype) {
  PDK_ISA_DISPATCH(conv_winograd_weights_kernel, plan, w, dtype);
}

int run_depthwise(const ConvParams& p, int64_t threads, std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias,
                  std::uintptr_t residual, std::uintptr_t out, DType dtype) {
  PDK_ISA_DISPATCH(depthwise_conv_kernel, p, threads, x, w, bias, residual, out, dtype);
}

// The direct forward path (ConvCpuPlan::direct) computes extended columns it then drops (the
// kernel's overhang past every output row); the packed path instead gathers every B element
// into a panel, a cost shared by the M = C_out/groups rows that use it. Measured on the AVX-512
// VM (3x3, 64/128/256 output channels), packing costs about 8/M of the GEMM's time, so the
// direct path is taken while its dropped share of the columns stays below that.
constexpr double kPackCostRows = 8.0;
// Output planes up to this size also take the direct path when it runs no more panels (plan_direct).
constexpr int64_t kSamePanelsPlane = 64;
// Output planes up to this size pack their weights per work item when one image is shared by the
// team (forward()), in about this many items per thread.
constexpr int64_t kWeightsPerItemPlane = 256;
constexpr int64_t kWeightItemsPerThread = 4;
// Bytes of transposed-convolution cols computed and gathered per step (about half of L2).
constexpr int64_t kColsBudget = 768 * 1024;
// Output planes up to this size fold the batch into one GEMM per group (ConvCpuPlan::fold_batch).
constexpr int64_t kFoldPlane = 256;
// Panel width the last columns may over-read past the copy (the widest micro-kernel tile).
constexpr int64_t kMaxPanel = 64;

enum class ForwardPath : int { automatic = 0, direct = 1, packed = 2, winograd = 3 };
const char* const kPathNames[] = {"auto", "direct", "packed", "winograd"};
NamedChoice<4> forward_path("set_conv_path", kPathNames);

// The shapes the Winograd path computes: a 3x3 kernel (across H, W; F(2x2, 3x3)) or a 1x3, 1x5
// or 1x7 one (conv1d's, or 2-d; F(1x2, 1xr)) sliding by 1 over a zero-padded input, undilated or
// with dilation 2 across (split into 2 x 2 phases that are undilated convolutions; larger
// dilations would need wider column gathers; a kernel one row high ignores its dilation along H).
// A 3x3 kernel of stride 2 (undilated) splits into 2x2 sub-kernels on the 2x2 input phases
// (F(2x2, 2x2) each, summed in the transformed domain). A 3-d kernel's depth taps (any size and
// dilation, stride 1) become more input channels of the 2-d transform. Transposed: 2-d 4x4
// kernels of stride 2 (each output phase a 2x2 forward convolution; a 3-d one of depth 1 only
// while its output stays one deep, which output_padding along D can change).
bool winograd_fits(const ConvParams& p) {
  if (p.transposed)
    return p.in[0] == 1 && p.out[0] == 1 && p.kernel[0] == 1 && p.kernel[1] == 4 && p.kernel[2] == 4 &&
           p.stride[1] == 2 && p.stride[2] == 2 && p.dilation[1] == 1 && p.dilation[2] == 1 &&
           p.padding_mode == PaddingMode::zeros;
  const bool kernel_3x3 = p.kernel[1] == 3 && p.kernel[2] == 3 && p.dilation[1] <= 2;
  const bool kernel_1xr = p.kernel[1] == 1 && (p.kernel[2] == 3 || p.kernel[2] == 5 || p.kernel[2] == 7);
  const bool stride_1 = p.stride[1] == 1 && p.stride[2] == 1 && p.dilation[2] <= 2;
  const bool stride_2 = p.kernel[1] == 3 && p.kernel[2] == 3 && p.stride[1] == 2 && p.stride[2] == 2 &&
                        p.dilation[1] == 1 && p.dilation[2] == 1;
  return !conv_is_depthwise(p) && p.padding_mode == PaddingMode::zeros && p.stride[0] == 1 &&
         (((kernel_3x3 || kernel_1xr) && stride_1) || stride_2);
}
// Which tiles a fitting shape runs.
WinogradTile winograd_tile(const ConvParams& p) {
  if (p.transposed) return WinogradTile::f2x2_2x2_phases;
  if (p.kernel[1] == 3) return p.stride[1] == 2 ? WinogradTile::f2x2_3x3_s2 : WinogradTile::f2x2_3x3;
  return p.kernel[2] == 3 ? WinogradTile::f1x2_1x3 : p.kernel[2] == 5 ? WinogradTile::f1x2_1x5 : WinogradTile::f1x2_1x7;
}
// "auto" takes the Winograd path from this many channels per group in and out (with 3 input
// channels it ran 1.5x slower than the direct path: the transforms' per-channel cost is not
// repaid), when its multiply-adds, counted over whole NR-tile panels, are at most this share of
// the direct sum's (a 7x7 output plane at batch 1 is 16 tiles in a 32-tile panel: 1.16, and ran
// 1.9x slower; 14x14 is 0.58 and ran 0.68x the direct path's time).
constexpr int64_t kWinogradChannels = 16;
constexpr double kWinogradWork = 0.75;
// A stride-2 kernel saves less (25 products per 2x2 outputs against 36) and transforms 25/9 times
// its weights on every call, so it pays only over enough tiles per group: against the better of
// the direct and packed paths it ran 0.76-0.90x the time from 392 tiles up (128-256 channels).
// On fewer tiles it pays while the transformed weights stay in cache: from 49 tiles, with 0.4-6.2
// MB of them (64-256 channels), 0.91-1.01x (medians of 4 alternating rounds), but 1.5x with 14-25
// MB (384-512 channels); at 36 tiles and below, 1.4-3.7x.
constexpr int64_t kWinogradStride2Tiles = 300;
constexpr int64_t kWinogradStride2FewTiles = 48;
constexpr int64_t kWinogradStride2FewTilesBytes = int64_t{8} << 20;
// Weights transformed in the call: each thread transforms all of them into a copy of its own while
// one copy is at most this many bytes (above it, the team splits one transform and shares it).
// Every thread reads every transformed weight, and when a thread reads lines that another core
// wrote, they move between the cores' caches at every call. This VM's two vCPUs are sometimes
// placed on cores that share no L3 (a cache line bounced between two threads then takes ~400 ns
// per round trip, against ~50 ns otherwise), and there the shared transform ran 3-5x slower.
// Own copies cost a second transform, but no barrier and no transfers.
// Measured in one process, shared against own copies alternating (ms, medians): 3x3 stride 2
// 128->128 28x28 b8 2.12 -> 2.06 with the cores sharing an L3, 2.92 -> 2.40 without; 3x3 64->64
// 56x56 b1 0.76 -> 0.74 and 1.09 -> 0.98; 3x3 256->256 14x14 b1 1.12 -> 1.02 and 2.45 -> 1.13;
// 64->64 56x56 b8 unchanged (5.4-5.5 and 7.3-7.5).
constexpr int64_t kOwnWeightCopyBytes = int64_t{8} << 20;
// Bytes of one Winograd work item's V and M (the transformed input and the products), which
// should stay in L2 between the transforms and the GEMMs.
constexpr int64_t kWinogradBlockBudget = 512 * 1024;
// Marks a prepacked layout as the Winograd-transformed weights (packed_weights_layout's bits are
// below it), with the tile they are transformed for (a stride-2 call does not read the stride-1
// form, nor the reverse).
constexpr int64_t kWinogradLayout = int64_t(1) << 62;
constexpr int kWinogradTileShift = 56;

void plan_direct(const ConvParams& p, int64_t nr, ConvCpuPlan* plan) {
  bool pointwise = conv_kernel_volume(p) == 1;
  int64_t phases = 1;
  for (int d = 0; d < 3; ++d) {
    pointwise = pointwise && p.stride[d] == 1 && p.pad[d] == 0;
    plan->phase[d] = p.out[d] + (p.kernel[d] - 1) * p.dilation[d] / p.stride[d];
    phases *= p.stride[d];
  }
  const int64_t* q = plan->phase;
  const auto path = static_cast<ForwardPath>(forward_path.index());
  if (path == ForwardPath::packed) return;
  if (pointwise) {
    plan->direct = plan->reads_input = true;
    plan->columns = conv_out_plane(p);
    return;
  }
  // Output rows of whole vectors: each B vector reads its piece of one output row wherever the
  // row starts in the copy, and no extended column is computed (a 7x7 stride-2 convolution of
  // 224x224 computed 115 columns per 112-wide row).
  const bool row_vectors = p.out[2] % (nr / kGemmPanelVectors) == 0;
  plan->columns = row_vectors ? conv_out_plane(p) : ((p.out[0] - 1) * q[1] + p.out[1] - 1) * q[2] + p.out[2];
  const double waste = static_cast<double>(plan->columns) / conv_out_plane(p) - 1.0;
  // Both paths run whole NR-wide panels: where a small plane's dropped columns fit in the packed
  // path's own padding (a 7x7 output: 61 columns against 49, both 2 panels of 32), the direct one
  // does no more multiply-adds and gathers nothing. Measured at batch 1 (direct / packed, 3x3,
  // 64-512 channels, in one process): 7x7 outputs 0.83-0.93 (stride 1 and 2), 4x4 0.89; 14x14
  // ones were even (0.96-0.97 at stride 1, 1.02-1.05 at stride 2), so planes stop at 64 outputs.
  const bool same_panels = conv_out_plane(p) <= kSamePanelsPlane &&
                           (plan->columns + nr - 1) / nr <= (conv_out_plane(p) + nr - 1) / nr;
  plan->direct = path == ForwardPath::direct || same_panels ||
                 waste <= kPackCostRows / std::max<int64_t>(1, conv_group_out(p));
  if (!plan->direct) return;
  plan->row_vectors = row_vectors;
  plan->phase_plane = q[0] * q[1] * q[2];
  plan->channel_stride = phases * plan->phase_plane;
  plan->buffer_elems = round_to_lines(conv_group_in(p) * plan->channel_stride + kMaxPanel, 8);
}

// offsets[(ci, tap)]: where the im2col row of input channel ci and tap starts in the copy. The
// tap's padded position k * dilation along a dim is phase (k * dilation) % stride, shifted by
// (k * dilation) / stride within that phase plane. Reading x itself (1x1): the channel planes,
// then the rows of the packed last panel.
void fill_offsets(const ConvParams& p, const ConvCpuPlan& plan, int64_t* offsets) {
  const int64_t kvol = conv_kernel_volume(p);
  if (plan.reads_input) {
    const int64_t K = conv_group_in(p);
    for (int64_t k = 0; k < K; ++k) {
      offsets[k] = k * conv_in_plane(p);
      offsets[K + k] = k * plan.gemm.nr;
    }
    return;
  }
  for (int64_t tap = 0; tap < kvol; ++tap) {
    int64_t k[3];
    conv_tap(p, tap, &k[0], &k[1], &k[2]);
    int64_t phase = 0, shift = 0;
    for (int d = 0; d < 3; ++d) {
      const int64_t pos = k[d] * p.dilation[d];
      phase = phase * p.stride[d] + pos % p.stride[d];
      shift = shift * plan.phase[d] + pos / p.stride[d];
    }
    for (int64_t ci = 0; ci < conv_group_in(p); ++ci)
      offsets[ci * kvol + tap] = ci * plan.channel_stride + phase * plan.phase_plane + shift;
  }
}

// Below this many multiply-adds the second thread costs more than it saves (as the GEMM's threshold).
constexpr double kParallelMacs = 128.0 * 128.0 * 64.0;
// The same for the depthwise kernel, in elements read and written (measured on 1x512x14x14).
constexpr double kParallelDepthwiseElems = 32768.0;

// The GEMM blocking of one forward (image, group) product; n: its columns (they only set nc).
GemmCpuPlan forward_gemm_plan(const ConvParams& p, int64_t n, DType dtype, int64_t threads) {
  GemmParams g;
  g.M = conv_group_out(p);
  g.K = conv_group_in(p) * conv_kernel_volume(p);
  g.N = n;
  g.ldc = n;
  return plan_gemm(g, dtype, threads);
}

// Elements of the packed weights of all groups (each group's 64-byte aligned) and the layout
// they are packed in: the micro-kernel's rows per panel and the K block depth, which is all the
// packing depends on besides the shapes (a prepacked buffer is used only while both still match,
// e.g. not after set_simd switched to an ISA with another tile).
int64_t packed_weights_elems(const ConvParams& p, const GemmCpuPlan& gemm, DType dtype) {
  const int64_t es = dtype_bytes(dtype);
  const int64_t rows = (conv_group_out(p) + gemm.mr - 1) / gemm.mr * gemm.mr;
  return p.groups * round_to_lines(rows * conv_group_in(p) * conv_kernel_volume(p), es);
}
int64_t packed_weights_layout(const GemmCpuPlan& gemm) { return gemm.mr << 32 | gemm.kc; }

// The Winograd path's plan without its buffers: the blocking of its cout_g x K GEMMs, the tiles,
// and the sizes of the transformed weights (a group's matrices: one per position, per transposed
// phase).
ConvCpuPlan winograd_plan(const ConvParams& p, DType dtype, int64_t threads) {
  ConvCpuPlan plan;
  plan.p = p;
  plan.threads = threads;
  plan.winograd = true;
  plan.tile = winograd_tile(p);
  const WinogradShape shape = winograd_shape(plan.tile);
  // K: the deepest GEMM's depth, input channels x depth taps x input phases
  const int64_t es = dtype_bytes(dtype), cout = conv_group_out(p), positions = shape.positions;
  const int64_t K = conv_group_in(p) * (p.transposed ? 1 : p.kernel[0]) * shape.input_phases;
  GemmParams g;
  g.M = cout;
  g.K = K;
  g.N = g.ldc = 1;
  plan.gemm = plan_gemm(g, dtype, 1);
  const int64_t nr = plan.gemm.nr, rows = (cout + plan.gemm.mr - 1) / plan.gemm.mr * plan.gemm.mr;
  // Weights and V in units of one input phase's K1 rows (a position's matrix is 1-4 of them).
  const int64_t K1 = K / shape.input_phases;
  plan.weights_xi_elems = round_to_lines(rows * K1, es) + 64 / es;  // off the 4 KiB multiples, as V and M below
  plan.weight_phases = p.transposed ? p.stride[1] * p.stride[2] : 1;
  plan.weights_group_elems = plan.weight_phases * shape.products * plan.weights_xi_elems;
  // Tiles of each output depth and phase (all phases sized as the largest; outputs past the real
  // ones are dropped).
  // Output phases: a transposed convolution's stride, or the dilation.
  plan.phase_h = p.transposed ? p.stride[1] : p.kernel[1] == 1 ? 1 : p.dilation[1];  // 1 for stride 2
  plan.phase_w = p.transposed ? p.stride[2] : p.dilation[2];
  plan.tiles_h = ((p.out[1] + plan.phase_h - 1) / plan.phase_h + shape.tile_rows - 1) / shape.tile_rows;
  plan.tiles_w = ((p.out[2] + plan.phase_w - 1) / plan.phase_w + 1) / 2;
  plan.tiles = p.batch * p.out[0] * plan.phase_h * plan.phase_w * plan.tiles_h * plan.tiles_w;
  // Panels per work item: V and M within the L2 budget, and several items per thread so that the
  // dynamic schedule balances (the last item of a small plane may be mostly empty).
  const int64_t panels = (plan.tiles + nr - 1) / nr;
  int64_t tp = std::clamp<int64_t>(kWinogradBlockBudget / ((shape.products * K1 + positions * cout) * nr * es), 1,
                                   kMaxTilePanels);
  while (tp > 1 && (panels + tp - 1) / tp * p.groups < 8 * threads) tp /= 2;
  plan.tile_panels = tp;
  // The rows a transform reads or writes at once are one xi stride apart: a line more than a
  // multiple of 4 KiB keeps them out of one L1 set (at 16 KiB apart they thrashed it, and a
  // 64-channel convolution ran 8-13% slower).
  const int64_t line = 64 / es;
  plan.v_xi_stride = round_to_lines(tp * K1 * nr, es) + line;
  plan.m_xi_stride = round_to_lines(cout * tp * nr, es) + line;
  // M plus a vector: the output transform reads whole vectors past a segment's last tile.
  plan.per_thread_elems = shape.products * plan.v_xi_stride + positions * plan.m_xi_stride + line;
  return plan;
}

// The layout tag of a Winograd plan's transformed weights.
int64_t winograd_layout(const ConvCpuPlan& plan) {
  const int64_t tile = static_cast<int>(plan.tile);
  return packed_weights_layout(plan.gemm) | kWinogradLayout | tile << kWinogradTileShift;
}

// The products per output against the direct sum's taps per output (per depth tap).
bool winograd_pays(const ConvCpuPlan& plan, DType dtype) {
  const ConvParams& p = plan.p;
  const int64_t nr = plan.gemm.nr, tiles = plan.tiles;
  const WinogradShape shape = winograd_shape(plan.tile);
  const double work = static_cast<double>(shape.products) * ((tiles + nr - 1) / nr * nr) /
                      (static_cast<double>(shape.taps) * p.batch * conv_out_plane(p));
  const int64_t weight_bytes = p.groups * plan.weights_group_elems * dtype_bytes(dtype);
  const bool enough = plan.tile == WinogradTile::f2x2_3x3_s2
                          ? tiles >= kWinogradStride2Tiles ||
                                (tiles >= kWinogradStride2FewTiles && weight_bytes <= kWinogradStride2FewTilesBytes)
                          : work <= kWinogradWork;
  return conv_group_in(p) >= kWinogradChannels && conv_group_out(p) >= kWinogradChannels && enough;
}

// Whether the caller's prepacked copy has the size and layout this call packs.
bool prepacked_matches(std::uintptr_t data, int64_t data_elems, int64_t data_layout, int64_t elems, int64_t layout) {
  return data && data_elems == elems && data_layout == layout;
}

// Points plan.weights_packed at the caller's prepacked copy while it matches (weights_ready),
// else at `owned`, allocated for the call to pack into.
void use_prepacked_or_allocate(std::uintptr_t data, int64_t data_elems, int64_t data_layout, int64_t elems,
                               int64_t layout, int64_t es, const char* op, AlignedBuffer* owned, ConvCpuPlan* plan) {
  if (prepacked_matches(data, data_elems, data_layout, elems, layout)) {
    plan->weights_packed = reinterpret_cast<void*>(data);
    plan->weights_ready = true;
    return;
  }
  *owned = aligned_buffer(elems, es);
  PDK_CHECK(*owned, op, ": out of memory for the packed weights (", elems * es, " bytes)");
  plan->weights_packed = owned->get();
}

void forward_winograd(ConvCpuPlan plan, std::uintptr_t x, std::uintptr_t w, const ConvPackedWeights* packed,
                      std::uintptr_t bias, std::uintptr_t residual, std::uintptr_t out, DType dtype) {
  const ConvParams& p = plan.p;
  const char* op = p.transposed ? "conv_transpose" : "conv";
  const int64_t es = dtype_bytes(dtype), threads = plan.threads;
  const int64_t elems = p.groups * plan.weights_group_elems;
  AlignedBuffer weights;
  const bool prepacked = packed && prepacked_matches(packed->winograd_data, packed->winograd_elems,
                                                     packed->winograd_layout, elems, winograd_layout(plan));
  const int64_t copies = !prepacked && threads > 1 && elems * es <= kOwnWeightCopyBytes ? threads : 1;
  if (copies > 1) plan.weights_copy_elems = round_to_lines(elems, es);
  use_prepacked_or_allocate(packed ? packed->winograd_data : 0, packed ? packed->winograd_elems : 0,
                            packed ? packed->winograd_layout : 0, copies > 1 ? copies * plan.weights_copy_elems : elems,
                            winograd_layout(plan), es, op, &weights, &plan);
  AlignedBuffer workspace = aligned_buffer(threads * plan.per_thread_elems, es);
  PDK_CHECK(workspace, op, ": out of memory for the workspace (", threads * plan.per_thread_elems * es, " bytes)");
  plan.workspace = workspace.get();
  const int status = run_winograd(plan, x, w, bias, residual, out, dtype);
  PDK_CHECK(status == kConvOk, op, ": Winograd kernel failed with status ", status);
}

}  // namespace

namespace {

// The arguments every weight-packing entry point checks (only channels, groups and kernel matter).
void check_weight_params(const ConvParams& p) {
  PDK_CHECK(p.groups >= 1 && p.in_channels >= 0 && p.out_channels >= 0 && p.in_channels % p.groups == 0 &&
                p.out_channels % p.groups == 0 && p.kernel[0] >= 1 && p.kernel[1] >= 1 && p.kernel[2] >= 1,
            "conv_pack_weights: channels (", p.in_channels, ", ", p.out_channels, ") must be divisible by groups (",
            p.groups, ") and the kernel non-empty");
}

}  // namespace

int64_t conv_packed_weights_size(const ConvParams& p, DType dtype, int64_t* layout) {
  *layout = 0;
  check_weight_params(p);
  if (p.transposed || conv_is_depthwise(p) || p.out_channels == 0 || p.in_channels == 0) return 0;
  const GemmCpuPlan gemm = forward_gemm_plan(p, 1, dtype, 1);
  *layout = packed_weights_layout(gemm);
  return packed_weights_elems(p, gemm, dtype);
}

void conv_pack_weights(const ConvParams& p, std::uintptr_t w, std::uintptr_t dst, int64_t dst_elems, DType dtype) {
  PDK_CHECK(dtype == DType::float32 || dtype == DType::float64, "conv_pack_weights: expected dtype float32 or "
            "float64, got ", dtype_name(dtype));
  int64_t layout = 0;
  const int64_t elems = conv_packed_weights_size(p, dtype, &layout);
  PDK_CHECK(elems > 0, "conv_pack_weights: nothing to pack for a transposed, depthwise or empty convolution");
  PDK_CHECK(dst_elems == elems && w != 0 && dst != 0, "conv_pack_weights: expected a buffer of ", elems,
            " elements, got ", dst_elems);
  ConvCpuPlan plan;
  plan.p = p;
  plan.gemm = forward_gemm_plan(p, 1, dtype, 1);
  plan.weights_group_elems = elems / p.groups;
  plan.weights_packed = reinterpret_cast<void*>(dst);
  const int status = run_pack_weights(plan, w, dtype);
  PDK_CHECK(status == kConvOk, "conv_pack_weights: kernel failed with status ", status);
}

int64_t conv_winograd_weights_size(const ConvParams& p, DType dtype, int64_t* layout) {
  *layout = 0;
  check_weight_params(p);
  if (!winograd_fits(p) || conv_group_in(p) < kWinogradChannels || conv_group_out(p) < kWinogradChannels) return 0;
  const ConvCpuPlan plan = winograd_plan(p, dtype, 1);
  *layout = winograd_layout(plan);
  return p.groups * plan.weights_group_elems;
}

void conv_pack_winograd_weights(const ConvParams& p, std::uintptr_t w, std::uintptr_t dst, int64_t dst_elems,
                                DType dtype) {
  PDK_CHECK(dtype == DType::float32 || dtype == DType::float64, "conv_pack_weights: expected dtype float32 or "
            "float64, got ", dtype_name(dtype));
  int64_t layout = 0;
  const int64_t elems = conv_winograd_weights_size(p, dtype, &layout);
  PDK_CHECK(elems > 0, "conv_pack_weights: no Winograd form for these weights (3x3, 1x3, 1x5 or 1x7 kernels at "
            "stride 1, or 3x3 at stride 2, with at least ",
            kWinogradChannels, " channels per group in and out only)");
  PDK_CHECK(dst_elems == elems && w != 0 && dst != 0, "conv_pack_weights: expected a buffer of ", elems,
            " elements, got ", dst_elems);
  ConvCpuPlan plan = winograd_plan(p, dtype, 1);
  plan.weights_packed = reinterpret_cast<void*>(dst);
  const int status = run_winograd_weights(plan, w, dtype);
  PDK_CHECK(status == kConvOk, "conv_pack_weights: kernel failed with status ", status);
}

void set_conv_path(const char* name) { forward_path.set(name); }

const char* conv_path() { return forward_path.name(); }

namespace {

// Pointwise convolutions (1x1, stride 1, no padding, one group) of one image whose plane leaves
// much of the GEMM's NR-wide panels empty (ResNet-50's last stage at batch 1: 49 positions, 2
// panels of 32 of which 15 columns are padding), computed transposed: out^T [plane, C_out] =
// x^T W^T. The positions are then the micro-kernel's rows (49 = 3 x 14 + 7, the last tile 8 rows
// high) and the output channels its full panels. Its result is transposed into the output, which
// adds the residual and applies the activation (the GEMM's epilogue adds the bias per column).
// Measured in one process against the plain path (builds alike, order alternating, 1x1 at
// batch 1): 2048->512 at 7x7 0.85, 1024->256 0.90, 1024->2048 0.82-0.95, 256->256 at 6x6 0.78-0.86,
// 512->128 at 4x4 0.70-0.72; it lost where the plain panels are full (512->512 at 8x8: 1.08-1.13,
// 256->64: 1.07), where C_out is over twice C_in (512->2048 1.01-1.04, 256->1024 1.21, 128->512
// 1.18; W^T is then packed per K block behind a barrier while the plain path reads the input in
// place) and for 64 channels (1.12). Batches of more than one image fold into one GEMM on the plain
// path (fold_batch), whose columns are then full; prepacked weights stay on the plain path, which
// reads them as packed while this one would pack W^T per call.
constexpr int64_t kTransposedPointwisePlane = 64;
constexpr int64_t kTransposedPointwiseChannels = 128;
constexpr double kTransposedPointwiseWaste = 1.2;  // padded columns / plane, at least

bool takes_transposed_pointwise(const ConvParams& p, const ConvPackedWeights* packed, ForwardPath path, DType dtype) {
  if (path != ForwardPath::automatic || p.transposed || p.groups != 1 || p.batch != 1 || packed) return false;
  const int64_t plane = conv_out_plane(p);
  if (conv_kernel_volume(p) != 1 || plane > kTransposedPointwisePlane || p.in_channels == 0) return false;
  for (int d = 0; d < 3; ++d)
    if (p.stride[d] != 1 || p.pad[d] != 0) return false;
  const int64_t nr = forward_gemm_plan(p, plane, dtype, 1).nr, padded = (plane + nr - 1) / nr * nr;
  return p.out_channels >= kTransposedPointwiseChannels && 2 * p.in_channels >= p.out_channels &&
         static_cast<double>(padded) >= kTransposedPointwiseWaste * static_cast<double>(plane);
}

template <class T>
void transpose_with_epilogue(const ConvParams& p, const T* product, const T* residual, T* out) {
  const int64_t plane = conv_out_plane(p), cout = p.out_channels;
  const T slope = static_cast<T>(p.negative_slope);
  for (int64_t co = 0; co < cout; ++co)
    for (int64_t i = 0; i < plane; ++i) {
      T v = product[i * cout + co];
      if (residual) v += residual[co * plane + i];  // may alias out: read before the store
      out[co * plane + i] = apply_activation(v, p.activation, slope);
    }
}

void forward_transposed_pointwise(const ConvParams& p, std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias,
                                  std::uintptr_t residual, std::uintptr_t out, DType dtype) {
  const int64_t plane = conv_out_plane(p), es = dtype_bytes(dtype);
  GemmParams g;
  g.M = plane;
  g.N = p.out_channels;
  g.K = p.in_channels;
  g.trans_a = true;  // x [C_in, plane]
  g.lda = plane;
  g.trans_b = true;  // W [C_out, C_in]
  g.ldb = p.in_channels;
  g.ldc = p.out_channels;
  g.bias_mode = bias ? BiasMode::per_column : BiasMode::none;
  AlignedBuffer product = aligned_buffer(plane * p.out_channels, es);
  PDK_CHECK(product, "conv: out of memory for the transposed product (", plane * p.out_channels * es, " bytes)");
  const std::uintptr_t c = reinterpret_cast<std::uintptr_t>(product.get());
  gemm_forward(g, x, w, bias, 0, c, dtype, 0);
  if (dtype == DType::float32)
    transpose_with_epilogue(p, static_cast<const float*>(product.get()), reinterpret_cast<const float*>(residual),
                            reinterpret_cast<float*>(out));
  else
    transpose_with_epilogue(p, static_cast<const double*>(product.get()), reinterpret_cast<const double*>(residual),
                            reinterpret_cast<double*>(out));
}

void forward(const ConvParams& p, std::uintptr_t x, std::uintptr_t w, const ConvPackedWeights* packed,
             std::uintptr_t bias, std::uintptr_t residual, std::uintptr_t out, DType dtype) {
  check_conv_params(p);
  const char* op = p.transposed ? "conv_transpose" : "conv";
  PDK_CHECK(dtype == DType::float32 || dtype == DType::float64, op, ": expected dtype float32 or float64, got ",
            dtype_name(dtype));
  PDK_CHECK(p.has_bias == (bias != 0) && p.has_residual == (residual != 0), op,
            ": has_bias/has_residual must match the bias/residual pointers");
  if (p.batch == 0 || p.out_channels == 0) return;
  PDK_CHECK(out != 0 && (p.in_channels == 0 || (x != 0 && w != 0)), op, ": null x, weight or output pointer");

  const int64_t kvol = conv_kernel_volume(p), cin_g = conv_group_in(p), cout_g = conv_group_out(p);
  const double macs = static_cast<double>(p.batch) * p.out_channels * conv_out_plane(p) * cin_g * kvol;
  const int64_t threads = macs >= kParallelMacs ? std::max(1, omp_max_threads()) : 1;

  if (conv_is_depthwise(p)) {
    // Depthwise does few multiply-adds per element moved: split by elements, not by macs.
    const double elems = static_cast<double>(p.batch) *
                         (p.in_channels * conv_in_plane(p) + p.out_channels * conv_out_plane(p));
    const int64_t dw_threads = elems >= kParallelDepthwiseElems ? std::max(1, omp_max_threads()) : 1;
    const int status = run_depthwise(p, dw_threads, x, w, bias, residual, out, dtype);
    PDK_CHECK(status == kConvOk, op, ": depthwise kernel failed with status ", status);
    return;
  }

  const auto path = static_cast<ForwardPath>(forward_path.index());
  if (winograd_fits(p) && p.in_channels > 0 && (path == ForwardPath::automatic || path == ForwardPath::winograd)) {
    const ConvCpuPlan plan = winograd_plan(p, dtype, threads);
    if (path == ForwardPath::winograd || winograd_pays(plan, dtype)) return forward_winograd(plan, x, w, packed, bias,
                                                                                     residual, out, dtype);
  }

  if (takes_transposed_pointwise(p, packed, path, dtype))
    return forward_transposed_pointwise(p, x, w, bias, residual, out, dtype);

  // One GEMM per (image, group): forward C[cout_g, out plane] = W_g[cout_g, cin_g * kvol] @ im2col;
  // transposed cols[cout_g * kvol, in plane] = W_g^T @ x_g, then a gather into the output.
  ConvCpuPlan plan;
  plan.p = p;
  plan.threads = threads;
  // Small output planes leave a partial NR panel per image (a 7x7 plane: 2 panels of 32 for 49
  // columns): fold the batch into the GEMM's columns instead (packed path only: the direct path's
  // copy would add its padding columns per image).
  plan.fold_batch = !p.transposed && !conv_is_depthwise(p) && p.batch > 1 &&
                    conv_out_plane(p) <= kFoldPlane && static_cast<ForwardPath>(forward_path.index()) != ForwardPath::direct;
  const int64_t jobs = plan.fold_batch ? p.groups : p.batch * p.groups;
  // Whole GEMMs per thread when there are enough of them to balance: no barriers, and each
  // thread's B block stays in its own core's caches. Otherwise the team shares each GEMM.
  plan.image_per_thread = threads > 1 && (jobs >= 4 * threads || jobs % threads == 0);
  GemmParams g;
  AlignedBuffer offsets;
  const int64_t es = dtype_bytes(dtype);
  if (!p.transposed) {
    g.M = cout_g;
    g.N = conv_out_plane(p);
    g.K = cin_g * kvol;
    if (plan.fold_batch) g.N = p.batch * conv_out_plane(p);
    else plan_direct(p, forward_gemm_plan(p, 1, dtype, 1).nr, &plan);
    if (plan.direct) g.N = plan.columns;
  } else {
    g.M = cout_g * kvol;
    g.N = conv_in_plane(p);
    g.K = cin_g;
  }
  g.ldc = g.N;
  plan.gemm = plan_gemm(g, dtype, plan.image_per_thread ? 1 : threads);
  if (plan.direct) {
    if (plan.reads_input) plan.buffer_elems = round_to_lines(g.K * plan.gemm.nr, es);
    offsets = aligned_buffer(2 * g.K, 8);
    PDK_CHECK(offsets, op, ": out of memory for the tap offsets");
    fill_offsets(p, plan, static_cast<int64_t*>(offsets.get()));
    plan.offsets = static_cast<const int64_t*>(offsets.get());
    plan.tail_offsets = plan.offsets + g.K;
  }
  if (p.transposed) {
    // Output channels per step: their cols (kvol rows each) fit the L2 budget, so the gather
    // reads what the GEMM just wrote from L2 instead of memory.
    plan.chunk = std::clamp<int64_t>(kColsBudget / es / std::max<int64_t>(1, kvol * g.N), 1, cout_g);
    plan.cols_elems = round_to_lines(plan.chunk * kvol * g.N, es);
  }
  AlignedBuffer weights_packed;
  if (!p.transposed) {
    const int64_t elems = packed_weights_elems(p, plan.gemm, dtype), layout = packed_weights_layout(plan.gemm);
    plan.weights_group_elems = elems / p.groups;
    const std::uintptr_t data = packed ? packed->data : 0;
    const int64_t data_elems = packed ? packed->elems : 0, data_layout = packed ? packed->layout : 0;
    const bool prepacked = prepacked_matches(data, data_elems, data_layout, elems, layout);
    // A small plane shared by the team (one image): its GEMM reads each weight once, so packing
    // them all ahead wrote them out to memory and read them back. Instead each work item packs
    // its A block of rows per K block into its thread's L2; the row blocks are cut small enough
    // for kWeightItemsPerThread items per thread, so that no block is packed twice (an item
    // covers all the plane's panels).
    plan.packs_weights_per_item = !prepacked && !plan.fold_batch && !plan.image_per_thread && threads > 1 &&
                                  conv_out_plane(p) <= kWeightsPerItemPlane;
    if (plan.packs_weights_per_item) {
      const int64_t mr = plan.gemm.mr, items = kWeightItemsPerThread * threads, rows = (g.M + items - 1) / items;
      plan.gemm.mc = std::max(mr, (rows + mr - 1) / mr * mr);
    } else {
      use_prepacked_or_allocate(data, data_elems, data_layout, elems, layout, es, op, &weights_packed, &plan);
    }
  }
  plan.a_pack_elems =
      p.transposed || plan.packs_weights_per_item ? round_to_lines(plan.gemm.mc * plan.gemm.kc, es) : 0;
  plan.b_pack_elems = plan.direct ? 0 : round_to_lines(plan.gemm.kc * plan.gemm.nc, es);
  const int64_t apack = plan.a_pack_elems, bpack = plan.b_pack_elems;
  const int64_t shared = plan.cols_elems + plan.buffer_elems;  // per job: one per thread, or the team's
  // Team mode: every thread needs its own A block but the B block, cols and buffer are shared.
  plan.per_thread_elems = plan.image_per_thread ? apack + bpack + shared : apack;
  const int64_t total = plan.image_per_thread ? threads * plan.per_thread_elems : threads * apack + bpack + shared;
  AlignedBuffer workspace = aligned_buffer(total, es);
  PDK_CHECK(workspace, op, ": out of memory for the workspace (", total * es, " bytes)");
  plan.workspace = workspace.get();
  const int status = run_conv_gemm(plan, x, w, bias, residual, out, dtype);
  PDK_CHECK(status == kConvOk, op, ": kernel failed with status ", status);
}

}  // namespace

void conv_forward(const ConvParams& p, std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias,
                  std::uintptr_t residual, std::uintptr_t out, DType dtype, std::uintptr_t stream) {
  (void)stream;
  forward(p, x, w, nullptr, bias, residual, out, dtype);
}

void conv_forward_prepacked(const ConvParams& p, std::uintptr_t x, std::uintptr_t w, const ConvPackedWeights& packed,
                            std::uintptr_t bias, std::uintptr_t residual, std::uintptr_t out, DType dtype) {
  forward(p, x, w, &packed, bias, residual, out, dtype);
}

}  // namespace pdk::cpu
