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
  std::string device;         // cpu, or the CUDA device's name
  double load_average = -1;   // 1-minute load average at the time of the call (Linux), else -1

  // Collects the above for `device` ("cpu" or "cuda").
  static MachineInfo collect(const std::string& device);
};

}  // namespace mola
