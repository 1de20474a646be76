// Emulator fibers: guarded stacks, the context switch (x86-64 assembly, ucontext elsewhere), sanitizer hand-offs.
#pragma once
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <new>

#include "emu/control.h"

#if !PDK_EMU_ASM_SWITCH
#include <ucontext.h>
#endif
#if PDK_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if PDK_EMU_TSAN
#include <sanitizer/tsan_interface.h>
// Scheduler state is touched by every fiber of a block, but fibers switch without a happens-before
// edge (so that only barriers order kernel accesses): TSan must not see the scheduler's own accesses.
#define PDK_EMU_INTERNAL __attribute__((no_sanitize("thread"), noinline))
#else
#define PDK_EMU_INTERNAL
#endif

namespace pdk::emu {

// kStackBytes usable above one PROT_NONE page, so an overflow faults instead of corrupting a neighbour.
// Each stack's top is offset by a different multiple of 64 bytes ("colour"): identically aligned tops
// would put every fiber's frame in the same cache sets and thrash L1/L2 on each switch.
struct Stack {
  char* base = nullptr;  // lowest usable byte
  std::size_t size = 0;  // usable bytes below the coloured top

  void allocate(unsigned colour) {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    void* p = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    mprotect(p, page, PROT_NONE);
    base = static_cast<char*>(p) + page;
    size = kStackBytes - (colour % 64) * 64;
  }
  void release() {
    if (!base) return;
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
#if PDK_EMU_ASAN
    // Frames abandoned by fibers leave redzone poison that would outlive the mapping.
    __asan_unpoison_memory_region(base, kStackBytes);
#endif
    munmap(base - page, kStackBytes + page);
    base = nullptr;
  }
};

#if PDK_EMU_ASM_SWITCH
// Saves the callee-saved registers on the current stack, stores its pointer in *save_sp and resumes the
// context whose stack pointer is next_sp. Naked and inline: one COMDAT copy, also under LTO.
extern "C" inline __attribute__((naked, noinline)) void pdk_emu_swap(void** /*save_sp*/, void* /*next_sp*/) {
  asm(R"(
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
  )");
}

struct Context {
  void* sp = nullptr;
};

// A frame that pdk_emu_swap "returns" into: six zeroed registers, then entry, entered as if called.
inline void context_start(Context& c, const Stack& s, void (*entry)()) {
  void** sp = reinterpret_cast<void**>(s.base + s.size) - 8;
  for (int i = 0; i < 6; ++i) sp[i] = nullptr;
  sp[6] = reinterpret_cast<void*>(entry);
  sp[7] = nullptr;  // entry never returns
  c.sp = sp;
}
inline void context_swap(Context& from, Context& to) { pdk_emu_swap(&from.sp, to.sp); }
#else
struct Context {
  ucontext_t uc;
};
inline void context_start(Context& c, const Stack& s, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = s.base;
  c.uc.uc_stack.ss_size = s.size;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
inline void context_swap(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#endif

// One execution context (a fiber, or an OS thread's own stack) with what the sanitizers need to follow it.
struct Exec {
  Context ctx;
  const void* stack_lo = nullptr;
  std::size_t stack_size = 0;
  void* asan_fake_stack = nullptr;
  void* tsan_fiber = nullptr;

  // The OS thread's own stack: bounds for ASan, its TSan identity.
  void adopt_current_thread() {
#if PDK_EMU_ASAN
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      void* lo = nullptr;
      pthread_attr_getstack(&attr, &lo, &stack_size);
      stack_lo = lo;
      pthread_attr_destroy(&attr);
    }
#endif
#if PDK_EMU_TSAN
    tsan_fiber = __tsan_get_current_fiber();
#endif
  }
  void create_fiber_identity() {
#if PDK_EMU_TSAN
    tsan_fiber = __tsan_create_fiber(0);
#endif
  }
  void destroy_fiber_identity() {
#if PDK_EMU_TSAN
    if (tsan_fiber) __tsan_destroy_fiber(tsan_fiber);
#endif
    tsan_fiber = nullptr;
  }
};

// Makes `s` ready to run entry from its top; ASan forgets the poison left by the stack's last user.
// `renew` gives TSan a fresh fiber: a fiber never returns from its entry, so each reuse leaves a few
// frames on TSan's shadow call stack (many after a failed block); renewing is slow, so it is rationed.
PDK_EMU_INTERNAL inline void start_fiber(Exec& e, const Stack& s, void (*entry)(), bool renew) {
#if PDK_EMU_ASAN
  __asan_unpoison_memory_region(s.base, s.size);
#endif
#if PDK_EMU_TSAN
  if (renew) {
    e.destroy_fiber_identity();
    e.create_fiber_identity();
  }
#else
  (void)renew;
#endif
  e.stack_lo = s.base;
  e.stack_size = s.size;
  context_start(e.ctx, s, entry);
}

// First thing a new fiber does.
inline void fiber_started() {
#if PDK_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
}

// Runs `to`; returns when something switches back to `from`. A dying `from` is never resumed.
PDK_EMU_INTERNAL inline void switch_exec(Exec& from, Exec& to, bool dying) {
#if PDK_EMU_ASAN
  __sanitizer_start_switch_fiber(dying ? nullptr : &from.asan_fake_stack, to.stack_lo, to.stack_size);
#endif
#if PDK_EMU_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, __tsan_switch_to_fiber_no_sync);
#endif
  context_swap(from.ctx, to.ctx);
#if PDK_EMU_ASAN
  __sanitizer_finish_switch_fiber(from.asan_fake_stack, nullptr, nullptr);
#endif
}

// Orders everything fiber `other` did before what `self` (the running context) does next, for a fiber
// that will never run again (its block failed): a TSan-only switch there and back, with synchronisation.
inline void hb_join(Exec& self, Exec& other) {
#if PDK_EMU_TSAN
  __tsan_switch_to_fiber(other.tsan_fiber, 0);
  __tsan_switch_to_fiber(self.tsan_fiber, 0);
#else
  (void)self;
  (void)other;
#endif
}

// Happens-before edges for TSan: barriers and warp collectives are the only synchronisation of fibers.
inline void hb_release(void* addr) {
#if PDK_EMU_TSAN
  __tsan_release(addr);
#else
  (void)addr;
#endif
}
inline void hb_acquire(void* addr) {
#if PDK_EMU_TSAN
  __tsan_acquire(addr);
#else
  (void)addr;
#endif
}

}  // namespace pdk::emu
