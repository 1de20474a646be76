// Core definitions shared by every kernel and binding: dtype codes, errors, host/device markers.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define PDK_HD __host__ __device__ __forceinline__
#else
#define PDK_HD inline
#endif

namespace pdk {

// Element types crossing the Python boundary; values are fixed (Python mirrors them).
enum class DType : int { float32 = 0, float64 = 1, int64 = 2 };

// Raised for every failed check; the bindings map it to ValueError so no check aborts the process.
struct Error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

namespace detail {
inline void append_all(std::ostringstream&) {}
template <class T, class... Rest>
void append_all(std::ostringstream& os, const T& first, const Rest&... rest) {
  os << first;
  append_all(os, rest...);
}
template <class... Parts>
[[noreturn]] void fail(const char* file, int line, const Parts&... parts) {
  std::ostringstream os;
  append_all(os, parts...);
  os << " [" << file << ":" << line << "]";
  throw Error(os.str());
}
}  // namespace detail

// Bytes per element (the kernels have checked the dtype before they size anything with it).
inline int64_t dtype_bytes(DType t) { return t == DType::float32 ? 4 : 8; }

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::int64: return "int64";
  }
  return "unknown";
}

}  // namespace pdk

// PDK_CHECK(cond, "message parts", value, ...): throws pdk::Error naming what was expected.
#define PDK_CHECK(cond, ...)                                   \
  do {                                                         \
    if (!(cond)) ::pdk::detail::fail(__FILE__, __LINE__, __VA_ARGS__); \
  } while (0)

// Runs `body` with `scalar_t` bound to the C++ type of a floating dtype.
#define PDK_DISPATCH_FLOATING(dtype, what, ...)                                        \
  [&] {                                                                                \
    switch (dtype) {                                                                   \
      case ::pdk::DType::float32: { using scalar_t = float; return __VA_ARGS__(); }    \
      case ::pdk::DType::float64: { using scalar_t = double; return __VA_ARGS__(); }   \
      default:                                                                         \
        PDK_CHECK(false, what, ": expected dtype float32 or float64, got ",            \
                  ::pdk::dtype_name(dtype));                                           \
    }                                                                                  \
  }()
