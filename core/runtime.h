// SPDX-License-Identifier: GPL-3.0-or-later
// Process-wide compute settings: LibTorch's CPU threads, OpenBLAS kept off LibTorch's threads, and
// a scoped mixed-precision (autocast) switch.
#pragma once

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

namespace mola {

// Sets LibTorch's intra-op threads to `threads` (0: one per core) and, when the BLAS in use is
// OpenBLAS, its own threads to 1 (LibTorch already splits the work; both at once oversubscribe the
// cores). Returns the thread count set.
int configureCpuThreads(int threads = 0);

// Whether autocast is on in this thread for `device` (kCPU or kCUDA), and the dtype it casts to.
// LibTorch 1.13 and 2.x name these differently; these calls hide which one is built against.
bool autocastEnabled(c10::DeviceType device);
c10::ScalarType autocastDtype(c10::DeviceType device);

// Runs the code in its scope under autocast for `device` (kCPU or kCUDA) with `dtype` (kBFloat16 or
// kHalf): matmuls take fp32 inputs in that dtype, so fp32 master weights train against a half
// precision base while their gradients land in fp32. `enabled = false` turns autocast off for the
// scope instead. On exit the previous switch and dtype come back, and the cache of cast weights is
// dropped once the outermost guard ends (as torch.autocast does). Per thread, like grad mode; not
// copyable. Other devices or dtypes throw std::invalid_argument naming them.
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType device, c10::ScalarType dtype, bool enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType m_device;
  bool m_previous_enabled;
  c10::ScalarType m_previous_dtype;
};

}  // namespace mola
