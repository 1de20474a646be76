// PLACEHOLDER (being written): emulator self-test bindings.
#include "bindings/bindings.h"
namespace pdk::bind { void register_emu_selftest(pybind11::module_&) {} }
