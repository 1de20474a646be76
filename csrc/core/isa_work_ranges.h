// Work sharing that keeps each item on the same thread from call to call: home ranges claimed from one end, stolen from the other.
//
// Include only from the files compiled once per ISA, inside pdk::PDK_ISA_NAMESPACE's anonymous
// namespace (gemm/gemm_cpu_driver.h does). Used by the RNN's steps, the Winograd convolution's
// work items and the convolution GEMM paths' whole-image jobs; `split` also cuts the GEMM's N
// chunks.
//
// Every thread of a team has a home range of the items (contiguous, the same at every call and
// step), claims its own items from one end and then steals single items from the other end of
// the other threads' ranges. While no thread is held up, each thread runs the same items every
// time: the data an item writes stays in that thread's caches, which matters on VMs whose vCPUs
// are at times on cores that share no L3 (a line written by the other core then costs ~400 ns to
// fetch, README "Machine phases"); OpenMP's dynamic schedule hands the items out anew every
// time. A thread the OS deschedules still delays the others by one item at most, not by its share.
//
// A range is one 64-bit word: phase (24 bits, modulo) | front (20) | back (20). The first claim
// of a new phase resets the word to the home range; a word already in the next phase means this
// phase is over. Every thread visits every range before it waits for the phase's end (a barrier,
// or the RNN's done counts), so words lag by at most one phase.
#pragma once

// Splits [0, total) into `parts` contiguous ranges; returns range `index`.
inline void split(int64_t total, int64_t parts, int64_t index, int64_t* begin, int64_t* end) {
  *begin = total * index / parts;
  *end = total * (index + 1) / parts;
}

constexpr int kRangePhaseBits = 24, kRangeEndBits = 20;
constexpr uint64_t kRangePhaseMask = (uint64_t{1} << kRangePhaseBits) - 1;
constexpr uint64_t kRangeEndMask = (uint64_t{1} << kRangeEndBits) - 1;
// Items per phase must be below this, threads at most kMaxRangeThreads (callers fall back to a
// dynamic schedule beyond either).
constexpr int64_t kMaxRangeItems = int64_t{1} << kRangeEndBits;
constexpr int64_t kMaxRangeThreads = 64;

struct alignas(64) ItemRange {
  uint64_t word;
};

inline uint64_t range_word(uint64_t phase, int64_t front, int64_t back) {
  return (phase & kRangePhaseMask) << (2 * kRangeEndBits) | static_cast<uint64_t>(front) << kRangeEndBits |
         static_cast<uint64_t>(back);
}

// The ranges of one team before its first phase (phase 0): every word in phase -1, empty.
struct ItemRanges {
  ItemRange at[kMaxRangeThreads];
  ItemRanges() {
    for (ItemRange& r : at) r.word = range_word(~uint64_t{0}, 0, 0);
  }
};

// One item of range `word` in `phase` (home range [begin, end)), from the front or the back; -1
// when none is left.
inline int64_t claim_item(uint64_t* word, uint64_t phase, int64_t begin, int64_t end, bool from_front) {
  uint64_t w = __atomic_load_n(word, __ATOMIC_ACQUIRE);
  for (;;) {
    const uint64_t at = w >> (2 * kRangeEndBits);
    if (at != (phase & kRangePhaseMask)) {
      if (at != ((phase - 1) & kRangePhaseMask)) return -1;  // already in the next phase
      const uint64_t fresh = range_word(phase, begin, end);
      if (__atomic_compare_exchange_n(word, &w, fresh, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) w = fresh;
      continue;
    }
    const int64_t front = static_cast<int64_t>(w >> kRangeEndBits & kRangeEndMask);
    const int64_t back = static_cast<int64_t>(w & kRangeEndMask);
    if (front >= back) return -1;
    const uint64_t next = from_front ? range_word(phase, front + 1, back) : range_word(phase, front, back - 1);
    if (__atomic_compare_exchange_n(word, &w, next, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
      return from_front ? front : back - 1;
  }
}

// Thread `tid` of `threads`: f(item) for the items of [0, n) it claims in `phase`, its own range
// first (from the front when `forward`, else from the back), then the others' from the opposite
// end. Returns after its last claim, not when the phase is done: the caller waits for that.
template <class F>
void claim_items(ItemRange* ranges, uint64_t phase, int64_t n, int64_t tid, int64_t threads, bool forward,
                 const F& f) {
  for (int64_t k = 0; k < threads; ++k) {  // own range first (k = 0), then the others'
    const int64_t owner = (tid + k) % threads;
    int64_t begin, end;
    split(n, threads, owner, &begin, &end);
    const bool from_front = k == 0 ? forward : !forward;
    for (int64_t i; (i = claim_item(&ranges[owner].word, phase, begin, end, from_front)) >= 0;) f(i);
  }
}
