// SPDX-License-Identifier: GPL-3.0-or-later
// MachineInfo: what a benchmark figure depends on (CPU, threads, LibTorch, BLAS), and process RSS.
#pragma once

#include <string>

namespace mola {

struct MachineInfo {
  std::string cpu_model;      // /proc/cpuinfo "model name"
  int cores = 0;              // logical CPUs available to this process
  int threads = 0;            // LibTorch intra-op threads
  int blas_threads = 0;       // OpenBLAS's threads; 0 when the BLAS is not OpenBLAS
  std::string torch_version;  // e.g. 1.13.1
  std::string blas;           // OpenBLAS's own config string, MKL, or the library file found
  std::string device;         // cpu, or cuda
  std::string gpu;            // the CUDA device's name (device 0), when the device is cuda
  double load_average = -1;   // 1-minute load average at the time of the call (Linux), else -1

  // Collects the above for `device` ("cpu" or "cuda").
  static MachineInfo collect(const std::string& device);
};

// The dense bf16/fp16 tensor-core peak of a GPU, in TFLOP/s, from its name as CUDA reports it
// (H100 and H200 SXM: 989; H100 PCIe: 756; H100 NVL: 835; A100: 312; L40S: 362; L40: 181;
// L4: 121); -1 when the name is none of these.
double gpuPeakHalfTflops(const std::string& gpu_name);

}  // namespace mola
