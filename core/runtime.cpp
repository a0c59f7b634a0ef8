// SPDX-License-Identifier: GPL-3.0-or-later
// configureCpuRuntime (threads and the heap's reuse of freed memory), AutocastGuard over LibTorch
// 1.13's per-device and 2.4+'s device-argument autocast calls, and uploads from pinned memory.
#include "runtime.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/Tensor.h>
#include <dlfcn.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <torch/version.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>

// 2.4 made the device an argument and deprecated the per-device functions.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define MOLA_AUTOCAST_BY_DEVICE 1
#else
#define MOLA_AUTOCAST_BY_DEVICE 0
#endif

namespace mola {

namespace {

void checkAutocastDevice(c10::DeviceType device) {
  if (device != c10::DeviceType::CPU && device != c10::DeviceType::CUDA)
    throw std::invalid_argument("autocast: device " + c10::DeviceTypeName(device) +
                                " is not supported (cpu or cuda)");
}

void setAutocast(c10::DeviceType device, bool enabled, c10::ScalarType dtype) {
#if MOLA_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(device, enabled);
  at::autocast::set_autocast_dtype(device, dtype);
#else
  if (device == c10::DeviceType::CUDA) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
}

// OpenBLAS reads OPENBLAS_NUM_THREADS when it loads, before main: its API sets them later. LibTorch
// links the generic BLAS interface, so whether OpenBLAS answers it is asked through dlsym.
using SetBlasThreads = void (*)(int);
using GetBlasThreads = int (*)();

SetBlasThreads openblasSetThreads() {
  return reinterpret_cast<SetBlasThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
}

}  // namespace

CpuThreads configureCpuRuntime(int threads, int torch_threads) {
  if (threads <= 0) {
    const char* env = std::getenv("OPENBLAS_NUM_THREADS");
    threads = env ? std::atoi(env) : 0;
  }
  if (threads <= 0) {
    // The cores are shared by the ranks a launcher (torchrun, mola train --nproc) started here.
    const char* local = std::getenv("LOCAL_WORLD_SIZE");
    const int ranks = local ? std::max(1, std::atoi(local)) : 1;
    threads = std::max(1, int(std::thread::hardware_concurrency()) / ranks);
  }
#ifdef __GLIBC__
  // Large blocks come from the heap (no mmap per allocation) and the heap's top is never trimmed.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
#endif
  if (SetBlasThreads set = openblasSetThreads()) {
    set(threads);
    at::set_num_threads(1);
  } else {
    at::set_num_threads(threads);
  }
  if (torch_threads > 0) at::set_num_threads(torch_threads);
  return cpuThreads();
}

CpuThreads cpuThreads() {
  CpuThreads t;
  t.torch = at::get_num_threads();
  if (auto get = reinterpret_cast<GetBlasThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads")))
    t.blas = get();
  return t;
}

void releaseFreedMemory() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

bool autocastEnabled(c10::DeviceType device) {
  checkAutocastDevice(device);
#if MOLA_AUTOCAST_BY_DEVICE
  return at::autocast::is_autocast_enabled(device);
#else
  return device == c10::DeviceType::CUDA ? at::autocast::is_enabled()
                                         : at::autocast::is_cpu_enabled();
#endif
}

c10::ScalarType autocastDtype(c10::DeviceType device) {
  checkAutocastDevice(device);
#if MOLA_AUTOCAST_BY_DEVICE
  return at::autocast::get_autocast_dtype(device);
#else
  return device == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype()
                                         : at::autocast::get_autocast_cpu_dtype();
#endif
}

AutocastGuard::AutocastGuard(c10::DeviceType device, c10::ScalarType dtype, bool enabled)
    : m_device(device),
      m_previous_enabled(autocastEnabled(device)),
      m_previous_dtype(autocastDtype(device)) {
  if (dtype != c10::kBFloat16 && dtype != c10::kHalf)
    throw std::invalid_argument(std::string("autocast: dtype ") + c10::toString(dtype) +
                                " is not a half precision type (bf16 or fp16)");
  setAutocast(device, enabled, dtype);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  // Cast copies of the weights live in the cache until the outermost scope ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  setAutocast(m_device, m_previous_enabled, m_previous_dtype);
}

at::Tensor uploaded(const at::Tensor& host, c10::Device device) {
  if (device.is_cpu()) return host;
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

}  // namespace mola
