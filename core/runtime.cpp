// SPDX-License-Identifier: GPL-3.0-or-later
// configureCpuThreads: OpenBLAS is reached through dlsym because LibTorch links the generic BLAS.
#include "runtime.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <thread>

namespace mola {

int configureCpuThreads(int threads) {
  if (threads <= 0) threads = std::max(1, int(std::thread::hardware_concurrency()));
  // OPENBLAS_NUM_THREADS is read when the library loads, before main: set it through the API.
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set(1);
  at::set_num_threads(threads);
  return threads;
}

}  // namespace mola
