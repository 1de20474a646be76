// The extension module (_C, _C_cuda or _C_emu, chosen by PDK_MODULE_NAME) and its info().
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/bindings.h"
#include "core/pdk.h"

#if PDK_BACKEND_CPU
#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#endif
#if PDK_BACKEND_CUDA && !PDK_EMULATED
#include <cuda_runtime.h>
#endif

namespace py = pybind11;

namespace {

py::dict backend_info() {
  py::dict info;
#if PDK_BACKEND_CPU
  info["backend"] = "cpu";
  info["simd"] = pdk::isa_name(pdk::active_isa());
  info["simd_built"] = pdk::built_isas();
  info["simd_supported"] = pdk::supported_isas();
  info["omp_threads"] = pdk::omp_max_threads();
#elif PDK_EMULATED
  info["backend"] = "emu";
#else
  info["backend"] = "cuda";
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  info["runtime_version"] = runtime;
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  py::list devices;
  if (err == cudaSuccess) {
    for (int d = 0; d < count; ++d) {
      cudaDeviceProp prop;
      if (cudaGetDeviceProperties(&prop, d) == cudaSuccess)
        devices.append(py::str(std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
                               std::to_string(prop.minor) + ")"));
    }
  } else {
    count = 0;
    info["device_error"] = cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky "no driver" error
  }
  info["device_count"] = count;
  info["devices"] = devices;
#endif
  return info;
}

}  // namespace

PYBIND11_MODULE(PDK_MODULE_NAME, m) {
  m.doc() = "pydeepkit kernels (internal: use pydeepkit.ops)";
  // Module-local: each extension translates its own pdk::Error (the global translator list is shared).
  py::register_local_exception<pdk::Error>(m, "KernelError", PyExc_ValueError);
  m.def("info", &backend_info, "What this extension was built with and can see.");
  // Read through the buffer protocol: numpy's __array_interface__ builds a dict per call, ~1 us
  // for each of the five arrays of a convolution call.
  m.def(
      "data_address",
      [](py::handle array) {
        Py_buffer view;
        if (PyObject_GetBuffer(array.ptr(), &view, PyBUF_RECORDS_RO) != 0) throw py::error_already_set();
        const auto address = reinterpret_cast<std::uintptr_t>(view.buf);
        PyBuffer_Release(&view);
        return address;
      },
      py::arg("array"), "The address of a CPU array's first element (its __array_interface__ data pointer).");
#if PDK_BACKEND_CPU
  m.def("set_simd", &pdk::set_isa, py::arg("name"),
        "Select the CPU kernels' instruction set ('base', 'avx2', 'avx512').");
  m.def("cache_line_round_trip_ns", &pdk::cache_line_round_trip_ns, py::arg("rounds") = 20000,
        "Nanoseconds per round trip of a cache line between two OpenMP threads (-1: fewer threads).");
  m.def("release_scratch", [] { pdk::scratch_cache().release(); },
        "Free the large scratch blocks the CPU kernels keep for the calling thread's next call.");
  m.def("scratch_kept_bytes", [] { return pdk::scratch_cache().kept_bytes(); },
        "Bytes of scratch blocks kept for the calling thread.");
  m.def("fill_scratch", [](int byte) { pdk::scratch_cache().fill(static_cast<unsigned char>(byte)); },
        py::arg("byte"), "Set every byte of the calling thread's kept scratch blocks (for tests).");
#endif
  pdk::bind::register_pool(m);
  pdk::bind::register_gemm(m);
  pdk::bind::register_conv(m);
  pdk::bind::register_nms(m);
  pdk::bind::register_roi(m);
  pdk::bind::register_rnn(m);
  pdk::bind::register_attention(m);
#if PDK_BACKEND_CUDA
  pdk::bind::register_emu_selftest(m);
#endif
}
