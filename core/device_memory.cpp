// SPDX-License-Identifier: GPL-3.0-or-later
// processRssMb from /proc/self/status; a CUDA device's peak from the caching allocator's
// statistics.
#include "device_memory.h"

#include <fstream>
#include <sstream>
#include <string>

#ifdef MOLA_HAVE_C10_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
// LibTorch 2.6 moved the allocator statistics (StatType, DeviceStats) from
// c10::cuda::CUDACachingAllocator into c10::CachingDeviceAllocator, in a header of its own.
#if __has_include(<c10/core/CachingDeviceAllocator.h>)
namespace mola_cuda_stats = c10::CachingDeviceAllocator;
#else
namespace mola_cuda_stats = c10::cuda::CUDACachingAllocator;
#endif
#endif

namespace mola {

namespace {

double statusFieldMb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream fields(line.substr(key.size() + 1));
      double kb = -1;
      fields >> kb;
      return kb < 0 ? -1 : kb / 1024.0;
    }
  return -1;
}

}  // namespace

double processRssMb() {
  return statusFieldMb("VmRSS");
}

double processPeakRssMb() {
  return statusFieldMb("VmHWM");
}

double peakMemoryMb(c10::Device device) {
  if (!device.is_cuda()) return processPeakRssMb();
#ifdef MOLA_HAVE_C10_CUDA
  const auto stats =
      c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
  return double(stats.allocated_bytes[static_cast<size_t>(mola_cuda_stats::StatType::AGGREGATE)]
                    .peak) /
         double(1 << 20);
#else
  return -1;
#endif
}

bool resetPeakMemory(c10::Device device) {
  if (!device.is_cuda()) {
    std::ofstream refs("/proc/self/clear_refs");
    refs << "5";
    refs.flush();
    return bool(refs);
  }
#ifdef MOLA_HAVE_C10_CUDA
  c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
  return true;
#else
  return false;
#endif
}

}  // namespace mola
