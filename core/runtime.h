// SPDX-License-Identifier: GPL-3.0-or-later
// Process-wide compute settings: CPU threads (LibTorch's and OpenBLAS's), the heap's reuse of freed
// memory, a scoped mixed-precision (autocast) switch, and host data's way to a device.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

namespace at {
class Tensor;
}

namespace mola {

// `host` (a CPU tensor) on `device` without making the host wait: a blocking copy to a GPU first
// waits for every kernel queued before it, so batches go from pinned memory as copies that the
// stream orders. On the CPU, `host` itself.
at::Tensor uploaded(const at::Tensor& host, c10::Device device);

// The CPU's compute threads: LibTorch's intra-op threads and OpenBLAS's (0 when the BLAS in use is
// not OpenBLAS, whose threads cannot be asked for).
struct CpuThreads {
  int torch = 1;
  int blas = 0;
};

// Sets the process up for CPU compute; every mola program calls it first.
// - Threads (`threads` 0: OPENBLAS_NUM_THREADS when the environment sets it, else one per core,
//   divided among the LOCAL_WORLD_SIZE ranks of a data-parallel launch on this machine; the test
//   script sets 1 as it runs tests side by side). With OpenBLAS, which does the matrix
//   products that are most of a step, OpenBLAS gets `threads` and LibTorch's own (element-wise)
//   ops one thread: two pools as large as the machine oversubscribe it, as each spins while the
//   other works. Measured on 2 cores (mola bench, small shape, base step): 1.10 s this way,
//   1.85 s with 2 LibTorch threads and 1 OpenBLAS thread, 2.0 s with 2 of each. Without
//   OpenBLAS, LibTorch gets the threads.
// - Memory (glibc): freed blocks stay in the process for the next allocation instead of going back
//   to the operating system. A training step frees and reallocates the same large buffers (the
//   logits alone are tokens x vocab floats); returned to the OS, every reuse faults its pages in
//   afresh, which cost a third of a CPU step. releaseFreedMemory() gives them back after a run.
// `torch_threads` > 0 overrides LibTorch's share (for measuring other splits).
CpuThreads configureCpuRuntime(int threads = 0, int torch_threads = 0);
// The threads as configured now.
CpuThreads cpuThreads();
// Returns the process's free heap memory to the operating system (glibc; no-op elsewhere).
void releaseFreedMemory();

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
