// Registration functions of the per-family binding files, called from module.cpp.
#pragma once
#include <pybind11/pybind11.h>

namespace pdk::bind {
void register_pool(pybind11::module_& m);
void register_emu_selftest(pybind11::module_& m);  // _C_cuda and _C_emu only
}  // namespace pdk::bind
