// CUDA's built-in vector types (dim3, uint3, float4, ...) and make_* helpers for the host compiler.
#pragma once
#include <cstddef>

// CUDA aligns a 2- or 4-component type whose size is a power of two (up to 16 bytes) to its size.
#define PDK_EMU_VEC_ALIGN(T, n) \
  __attribute__((aligned((n) != 3 && sizeof(T) * (n) <= 16 ? sizeof(T) * (n) : sizeof(T))))
#define PDK_EMU_VEC2(name, T)                                            \
  struct PDK_EMU_VEC_ALIGN(T, 2) name##2 { T x, y; };                   \
  inline constexpr name##2 make_##name##2(T x, T y) { return {x, y}; }
#define PDK_EMU_VEC3(name, T)                                                    \
  struct name##3 { T x, y, z; };                                                \
  inline constexpr name##3 make_##name##3(T x, T y, T z) { return {x, y, z}; }
#define PDK_EMU_VEC4(name, T)                                                              \
  struct PDK_EMU_VEC_ALIGN(T, 4) name##4 { T x, y, z, w; };                               \
  inline constexpr name##4 make_##name##4(T x, T y, T z, T w) { return {x, y, z, w}; }
#define PDK_EMU_VEC234(name, T) PDK_EMU_VEC2(name, T) PDK_EMU_VEC3(name, T) PDK_EMU_VEC4(name, T)

PDK_EMU_VEC234(char, signed char)
PDK_EMU_VEC234(uchar, unsigned char)
PDK_EMU_VEC234(short, short)
PDK_EMU_VEC234(ushort, unsigned short)
PDK_EMU_VEC234(int, int)
PDK_EMU_VEC234(uint, unsigned int)
PDK_EMU_VEC234(float, float)
PDK_EMU_VEC2(double, double)
PDK_EMU_VEC2(longlong, long long)
PDK_EMU_VEC2(ulonglong, unsigned long long)

#undef PDK_EMU_VEC234
#undef PDK_EMU_VEC4
#undef PDK_EMU_VEC3
#undef PDK_EMU_VEC2
#undef PDK_EMU_VEC_ALIGN

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return {x, y, z}; }
};
