// pybind11 bindings of the emulator self-test kernels (_C_cuda and _C_emu) and the emulator controls (_C_emu).
#include <pybind11/pybind11.h>

#include "bindings/bindings.h"
#include "emu/selftest/emu_selftest.h"
#if PDK_EMULATED
#include "emu/control.h"
#endif

namespace py = pybind11;

namespace pdk::bind {

void register_emu_selftest(py::module_& m) {
  namespace st = pdk::emu_selftest;
  const auto nogil = py::call_guard<py::gil_scoped_release>();
  m.def("selftest_sgemm", &st::sgemm, py::arg("m"), py::arg("n"), py::arg("k"), py::arg("a"), py::arg("b"),
        py::arg("c"), py::arg("stream") = 0, nogil, "C = A @ B (float32, row-major) with 16x16 shared tiles.");
  m.def("selftest_warp_sum", &st::warp_sum, py::arg("n"), py::arg("width"), py::arg("use_xor"), py::arg("x"),
        py::arg("out"), py::arg("stream") = 0, nogil, "out[j] = sum of x[j*width:(j+1)*width] by shuffles.");
  m.def("selftest_block_sum", &st::block_sum, py::arg("n"), py::arg("blocks"), py::arg("threads"), py::arg("x"),
        py::arg("partial"), py::arg("stream") = 0, nogil, "One partial sum per block (dynamic shared memory).");
  m.def("selftest_histogram", &st::histogram, py::arg("n"), py::arg("bins"), py::arg("blocks"), py::arg("x"),
        py::arg("hist"), py::arg("stream") = 0, nogil, "hist += bincount(x) with shared and global atomics.");
  m.def("selftest_warp_vote", &st::warp_vote, py::arg("n"), py::arg("pred"), py::arg("out"),
        py::arg("stream") = 0, nogil,
        "out[i] = (ballot, any, all, match_any, reduce_add, activemask) of pred over thread i's warp.");
  m.def("selftest_atomics", &st::atomics, py::arg("n"), py::arg("blocks"), py::arg("x"), py::arg("totals"),
        py::arg("stream") = 0, nogil, "Every atomic of the emulator applied to x into an AtomicTotals.");
  m.def("selftest_launch_forms", &st::launch_forms, py::arg("n"), py::arg("f"), py::arg("i"),
        py::arg("stream") = 0, nogil, "f = 3.0; i = 107 + 3 * (index % 32): overloads, deduction, templates.");
  m.def("selftest_launch_config", &st::launch_config, py::arg("gx"), py::arg("gy"), py::arg("gz"), py::arg("bx"),
        py::arg("by"), py::arg("bz"), py::arg("shared_bytes") = 0, py::arg("optin_bytes") = -1,
        py::arg("optin_via_pointer") = false, py::arg("stream") = 0, nogil,
        "Launches a probe kernel with this configuration (optionally after cudaFuncSetAttribute).");
  m.def("selftest_barrier_loop", &st::barrier_loop, py::arg("blocks"), py::arg("threads"), py::arg("iters"),
        py::arg("stream") = 0, nogil, "iters __syncthreads() per thread (cost measurement).");
  m.def("selftest_shuffle_loop", &st::shuffle_loop, py::arg("blocks"), py::arg("threads"), py::arg("iters"),
        py::arg("stream") = 0, nogil, "iters __shfl_xor_sync per thread (cost measurement).");
  m.def("selftest_bug", &st::bug, py::arg("which"), py::arg("n"), py::arg("x"), py::arg("out"),
        py::arg("stream") = 0, nogil, "Runs planted bug `which` (emu_selftest.h: Bug).");

#if PDK_EMULATED
  m.def("emu_info", [] {
    const auto& s = pdk::emu::settings();
    py::dict d;
    d["schedule"] = pdk::emu::order_name(static_cast<pdk::emu::Order>(s.order.load()));
    d["seed"] = s.seed.load();
    d["workers"] = pdk::emu::effective_workers();
    d["asan"] = pdk::emu::kAsan;
    d["tsan"] = pdk::emu::kTsan;
    d["context_switch"] = pdk::emu::kContextSwitch;
    d["stack_bytes"] = pdk::emu::kStackBytes;
    d["max_dynamic_shared"] = pdk::emu::kDefaultDynamicShared;
    d["max_dynamic_shared_optin"] = pdk::emu::kMaxDynamicSharedOptin;
    return d;
  }, "Emulator settings: schedule, seed, workers, asan, tsan, context_switch, stack_bytes, shared memory limits.");
  m.def("emu_set_schedule", &pdk::emu::set_schedule, py::arg("mode"), py::arg("seed") = 0,
        "Order of blocks and of a block's threads: 'forward', 'reverse' or 'random' (with seed, or 'random:SEED').");
  m.def("emu_set_workers", &pdk::emu::set_workers, py::arg("n"),
        "Threads that run blocks in parallel (0: one per core); ASan builds always use 1.");
#endif
}

}  // namespace pdk::bind
