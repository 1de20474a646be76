// Host entry points of the emulator's self-test kernels (pointers arrive as integers from Python).
#pragma once
#include <cstdint>

namespace pdk::emu_selftest {

// Accumulators of the atomics kernel; tests/test_emulator.py mirrors the layout with an aligned numpy dtype.
struct AtomicTotals {
  float fsum;
  unsigned pad;
  double dsum;
  int isum;
  unsigned usum;
  unsigned long long ullsum;
  int imax, imin;
  unsigned umax, umin;
  unsigned long long ullmax, ullmin;
  int cas_sum;
  unsigned exch_count;
  int sub;
  unsigned or_bits, and_bits, xor_bits;
};

// Planted bugs (see emu_selftest.cu); each is legal CUDA that misbehaves on a GPU.
enum class Bug : int {
  early_return = 0,       // some threads return before a __syncthreads
  barrier_lines = 1,      // threads wait at two different __syncthreads
  lane_not_in_mask = 2,   // a lane calls __shfl_sync with a mask that leaves it out
  read_outside_mask = 3,  // a shuffle reads a lane that is not in the mask
  lanes_never_arrive = 4, // half the mask waits at __syncthreads instead
  missing_sync = 5,       // reads a neighbour's shared write with no barrier in between
  oob_dynamic_shared = 6, // writes one element past the dynamic shared array
  oob_static_shared = 7,  // writes one element past a static __shared__ array
  oob_global = 8,         // reads one element past the input
  trap = 9,               // calls __trap()
  read_exited_lane = 10,  // a shuffle reads a lane that returned
  mixed_intrinsics = 11,  // lanes of one mask call __ballot_sync and __shfl_sync
};

void sgemm(int m, int n, int k, std::uintptr_t a, std::uintptr_t b, std::uintptr_t c, std::uintptr_t stream);
void warp_sum(int n, int width, bool use_xor, std::uintptr_t x, std::uintptr_t out, std::uintptr_t stream);
void block_sum(int n, int blocks, int threads, std::uintptr_t x, std::uintptr_t partial, std::uintptr_t stream);
void histogram(int n, int bins, int blocks, std::uintptr_t x, std::uintptr_t hist, std::uintptr_t stream);
void warp_vote(int n, std::uintptr_t pred, std::uintptr_t out, std::uintptr_t stream);
void atomics(int n, int blocks, std::uintptr_t x, std::uintptr_t totals, std::uintptr_t stream);
void launch_forms(int n, std::uintptr_t f, std::uintptr_t i, std::uintptr_t stream);
void launch_config(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                   long long shared_bytes, long long optin_bytes, bool optin_via_pointer, std::uintptr_t stream);
void barrier_loop(int blocks, int threads, int iters, std::uintptr_t stream);
void shuffle_loop(int blocks, int threads, int iters, std::uintptr_t stream);
void bug(int which, int n, std::uintptr_t x, std::uintptr_t out, std::uintptr_t stream);

}  // namespace pdk::emu_selftest
