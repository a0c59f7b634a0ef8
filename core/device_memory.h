// SPDX-License-Identifier: GPL-3.0-or-later
// How much memory work holds: this process's resident set, and a device's peak.
#pragma once

#include <c10/core/Device.h>

namespace mola {

// This process's resident set now and its high-water mark (VmRSS / VmHWM), in MiB; -1 when
// /proc/self/status cannot be read.
double processRssMb();
double processPeakRssMb();

// The peak memory of `device` in MiB since resetPeakMemory: for a CUDA device the most that
// LibTorch's caching allocator held allocated (-1 in a LibTorch without CUDA), for the CPU this
// process's peak resident set (VmHWM).
double peakMemoryMb(c10::Device device);
// Starts a new peak: the caching allocator's for a CUDA device; for the CPU the process's
// high-water mark, which Linux (4.0 on) sets back to the current resident set when "5" is written
// to /proc/self/clear_refs. False when that cannot be done (the peak then runs on). Neither call
// waits for the device.
bool resetPeakMemory(c10::Device device);

}  // namespace mola
