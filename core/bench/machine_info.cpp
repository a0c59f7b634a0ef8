// SPDX-License-Identifier: GPL-3.0-or-later
// MachineInfo from /proc and LibTorch; OpenBLAS is asked through dlsym because LibTorch links the
// generic BLAS interface and does not know which implementation answers it.
#include "bench/machine_info.h"

#include "runtime.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <torch/version.h>

#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#ifdef MOLA_HAVE_C10_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace mola {

namespace {

// A "Key:   value kB" line of /proc/self/status, in MiB.
std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\n"), e = s.find_last_not_of(" \t\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return trim(line.substr(colon + 1));
    }
  return "unknown";
}

// The file that libblas.so.3 resolves to (Debian's alternatives pick reference BLAS or OpenBLAS).
std::string mappedBlasFile() {
  std::ifstream in("/proc/self/maps");
  std::string line;
  while (std::getline(in, line)) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    if (path.find("blas") != std::string::npos || path.find("mkl") != std::string::npos)
      return path;
  }
  return "";
}

std::string blasDescription() {
  using GetConfig = char* (*)();
  if (auto get = reinterpret_cast<GetConfig>(dlsym(RTLD_DEFAULT, "openblas_get_config")))
    return trim(get());
  if (at::hasMKL()) return "MKL";
  const std::string file = mappedBlasFile();
  if (file.empty()) return "unknown";
  return "reference BLAS? (" + file + ")";
}

}  // namespace

MachineInfo MachineInfo::collect(const std::string& device) {
  MachineInfo m;
  m.cpu_model = cpuModel();
  m.cores = static_cast<int>(std::thread::hardware_concurrency());
  const CpuThreads threads = cpuThreads();
  m.threads = threads.torch;
  m.blas_threads = threads.blas;
  m.torch_version = std::to_string(TORCH_VERSION_MAJOR) + "." +
                    std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH);
  m.blas = blasDescription();
  m.device = device;
#ifdef MOLA_HAVE_C10_CUDA
  if (device == "cuda" && at::hasCUDA()) m.gpu = at::cuda::getDeviceProperties(0)->name;
#endif
  std::ifstream load("/proc/loadavg");
  if (!(load >> m.load_average)) m.load_average = -1;
  return m;
}

double gpuPeakHalfTflops(const std::string& gpu_name) {
  // The more specific names first: "NVIDIA H100 PCIe" before "H100".
  static const std::pair<const char*, double> kPeaks[] = {
      {"H100 PCIe", 756.0}, {"H100 NVL", 835.0}, {"H100", 989.4}, {"H200", 989.4},
      {"A100", 312.0},      {"L40S", 362.0},     {"L40", 181.0},  {"L4", 121.0}};
  for (const auto& [name, tflops] : kPeaks)
    if (gpu_name.find(name) != std::string::npos) return tflops;
  return -1;
}

}  // namespace mola
