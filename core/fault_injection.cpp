// SPDX-License-Identifier: GPL-3.0-or-later
// MOLA_FAULT_INJECT: read once; a matching point counts its passes and kills the process.
#include "fault_injection.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

namespace mola {

namespace {

struct Injection {
  std::string name;  // empty: no injection
  long after = 1;    // the pass that kills
  std::atomic<long> passes{0};

  Injection() {
    const char* env = std::getenv("MOLA_FAULT_INJECT");
    if (!env || !*env) return;
    name = env;
    if (const size_t at = name.find('@'); at != std::string::npos) {
      after = std::max(1L, std::atol(name.c_str() + at + 1));
      name.resize(at);
    }
  }
};

}  // namespace

void faultPoint(const char* name) {
  static Injection injection;
  if (injection.name.empty() || injection.name != name) return;
  if (++injection.passes >= injection.after) raise(SIGKILL);
}

}  // namespace mola
