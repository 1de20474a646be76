// A process-wide switch among a few named options (a kernel's forced path or thread policy), set by name from Python.
#pragma once
#include <atomic>
#include <cstring>
#include <string>

#include "core/pdk.h"

namespace pdk {

// Option 0 is the default. set() takes an option's name; any other name is an error that lists
// them ("setter: expected 'a', 'b' or 'c', got 'x'"). Reads are atomic: a kernel planning on one
// thread sees either the old or the new option, never a torn value.
template <int N>
class NamedChoice {
 public:
  constexpr NamedChoice(const char* setter, const char* const (&names)[N]) : setter_(setter), names_(names) {}

  void set(const char* name) {
    for (int i = 0; i < N; ++i)
      if (std::strcmp(name, names_[i]) == 0) {
        index_.store(i);
        return;
      }
    std::string expected;
    for (int i = 0; i < N; ++i)
      expected += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + "'" + names_[i] + "'";
    PDK_CHECK(false, setter_, ": expected ", expected, ", got '", name, "'");
  }
  int index() const { return index_.load(); }
  const char* name() const { return names_[index_.load()]; }

 private:
  const char* setter_;
  const char* const (&names_)[N];
  std::atomic<int> index_{0};
};

}  // namespace pdk
