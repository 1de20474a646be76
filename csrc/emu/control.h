// Run-time settings of the CUDA emulator (schedule order, worker count) and its build facts; no CUDA names.
#pragma once
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "core/pdk.h"

#ifndef PDK_EMU_ASAN
#define PDK_EMU_ASAN 0
#endif
#ifndef PDK_EMU_TSAN
#define PDK_EMU_TSAN 0
#endif
#if defined(__x86_64__) && !defined(PDK_EMU_UCONTEXT)
#define PDK_EMU_ASM_SWITCH 1
#else
#define PDK_EMU_ASM_SWITCH 0
#endif

namespace pdk::emu {

inline constexpr bool kAsan = PDK_EMU_ASAN;
inline constexpr bool kTsan = PDK_EMU_TSAN;
inline constexpr const char* kContextSwitch = PDK_EMU_ASM_SWITCH ? "x86-64 asm" : "ucontext";
// Sanitizer frames are several times larger than plain -O2 frames.
inline constexpr std::size_t kStackBytes = (kAsan || kTsan) ? 256 * 1024 : 64 * 1024;
inline constexpr std::size_t kDefaultDynamicShared = 48 * 1024;
inline constexpr std::size_t kMaxDynamicSharedOptin = 227 * 1024;

// Order in which blocks are claimed and in which a block's threads run after each barrier.
enum class Order : int { forward = 0, reverse = 1, random = 2 };

inline const char* order_name(Order o) {
  return o == Order::forward ? "forward" : o == Order::reverse ? "reverse" : "random";
}

struct Settings {
  std::atomic<int> order{0};
  std::atomic<std::uint64_t> seed{0};
  std::atomic<int> workers{1};
};

inline int default_workers() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// "forward" | "reverse" | "random" | "random:SEED" from `source`; throws pdk::Error naming the accepted values.
inline void parse_schedule(const char* source, const std::string& text, Order& order, std::uint64_t& seed) {
  const std::string mode = text.substr(0, text.find(':'));
  if (mode == "forward" || mode == "reverse" || mode == "random") {
    order = mode == "forward" ? Order::forward : mode == "reverse" ? Order::reverse : Order::random;
    if (mode.size() < text.size()) {
      char* end = nullptr;
      const std::string digits = text.substr(mode.size() + 1);
      seed = std::strtoull(digits.c_str(), &end, 10);
      PDK_CHECK(order == Order::random && !digits.empty() && *end == '\0', source,
                ": only 'random' takes a seed, as 'random:SEED'; got '", text, "'");
    }
    return;
  }
  PDK_CHECK(false, source, ": expected 'forward', 'reverse', 'random' or 'random:SEED', got '", text, "'");
}

// Initialised once from PDK_EMU_SCHEDULE / PDK_EMU_WORKERS; a bad variable raises on first use.
inline Settings& settings() {
  static Settings* s = [] {
    auto* st = new Settings;
    st->workers = default_workers();
    if (const char* env = std::getenv("PDK_EMU_SCHEDULE"); env && *env) {
      Order o = Order::forward;
      std::uint64_t seed = 0;
      parse_schedule("PDK_EMU_SCHEDULE", env, o, seed);
      st->order = static_cast<int>(o);
      st->seed = seed;
    }
    if (const char* env = std::getenv("PDK_EMU_WORKERS"); env && *env) {
      const int n = std::atoi(env);
      PDK_CHECK(n >= 1 && n <= 1024, "PDK_EMU_WORKERS: expected 1..1024, got '", env, "'");
      st->workers = n;
    }
    return st;
  }();
  return *s;
}

inline void set_schedule(const std::string& mode, std::uint64_t seed) {
  Order o = Order::forward;
  parse_schedule("emulator schedule", mode, o, seed);
  settings().seed = seed;
  settings().order = static_cast<int>(o);
}

// n == 0 restores the default (PDK_EMU_WORKERS is not re-read: one core per worker).
inline void set_workers(int n) {
  PDK_CHECK(n >= 0 && n <= 1024, "emulator workers: expected 0 (default) or 1..1024, got ", n);
  settings().workers = n == 0 ? default_workers() : n;
}

// Worker threads that execute blocks (the launching thread is one of them). ASan runs every block on the
// launching thread because static __shared__ is then one plain global.
inline int effective_workers() { return kAsan ? 1 : settings().workers.load(); }

}  // namespace pdk::emu
