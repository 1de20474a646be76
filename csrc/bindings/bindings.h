// Registration functions of the per-family binding files, called from module.cpp.
#pragma once
#include <pybind11/pybind11.h>

namespace pdk {
namespace cpu {}
namespace cuda {}
namespace bind {
// The entry points this extension binds: pdk::cpu in _C, pdk::cuda in _C_cuda and _C_emu.
#if PDK_BACKEND_CPU
namespace backend = ::pdk::cpu;
#else
namespace backend = ::pdk::cuda;
#endif
}  // namespace bind
}  // namespace pdk

namespace pdk::bind {
void register_pool(pybind11::module_& m);
void register_gemm(pybind11::module_& m);
void register_conv(pybind11::module_& m);
void register_nms(pybind11::module_& m);
void register_roi(pybind11::module_& m);
void register_rnn(pybind11::module_& m);
void register_attention(pybind11::module_& m);
void register_emu_selftest(pybind11::module_& m);  // _C_cuda and _C_emu only
}  // namespace pdk::bind
