// SPDX-License-Identifier: GPL-3.0-or-later
// configureCpuThreads (OpenBLAS is reached through dlsym because LibTorch links the generic BLAS)
// and AutocastGuard over LibTorch 1.13's per-device and 2.4+'s device-argument autocast calls.
#include "runtime.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <dlfcn.h>
#include <torch/version.h>

#include <algorithm>
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

}  // namespace

int configureCpuThreads(int threads) {
  if (threads <= 0) threads = std::max(1, int(std::thread::hardware_concurrency()));
  // OPENBLAS_NUM_THREADS is read when the library loads, before main: set it through the API.
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set(1);
  at::set_num_threads(threads);
  return threads;
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

}  // namespace mola
