// SPDX-License-Identifier: GPL-3.0-or-later
// How much memory work holds: this process's resident set, and a device's peak.
#pragma once

#include <c10/core/Device.h>

namespace mola {

// This process's resident set now and its high-water mark (VmRSS / VmHWM), in MiB; -1 when
// /proc/self/status cannot be read.
double processRssMb();
double processPeakRssMb();

// The peak memory of `device` in MiB: for a CUDA device the most that LibTorch's caching allocator
// held allocated since resetPeakMemory (-1 in a LibTorch without CUDA), for the CPU this
// process's peak resident set, which only grows.
double peakMemoryMb(c10::Device device);
// Starts a new peak on a CUDA device; nothing for the CPU. Neither call waits for the device.
void resetPeakMemory(c10::Device device);

}  // namespace mola
