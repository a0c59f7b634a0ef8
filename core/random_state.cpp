// SPDX-License-Identifier: GPL-3.0-or-later
// Generator states through ATen's device-agnostic API (no CUDA headers: the same code builds
// against a CPU-only LibTorch).
#include "random_state.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/cuda.h>

#include <algorithm>
#include <mutex>

namespace mola {

namespace {

at::Generator defaultGenerator(const c10::Device& device) {
  return device.is_cpu() ? at::detail::getDefaultCPUGenerator()
                         : at::globalContext().defaultGenerator(device);
}

}  // namespace

at::Tensor generatorState(const c10::Device& device) {
  at::Generator gen = defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void setGeneratorState(const c10::Device& device, const at::Tensor& state) {
  at::Generator gen = defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

RandomState captureRandomState() {
  RandomState s;
  s.cpu = generatorState(at::kCPU);
  const auto devices = static_cast<c10::DeviceIndex>(torch::cuda::device_count());
  for (c10::DeviceIndex i = 0; i < devices; ++i)
    s.cuda.push_back(generatorState(c10::Device(c10::kCUDA, i)));
  return s;
}

void restoreRandomState(const RandomState& state) {
  if (state.cpu.defined()) setGeneratorState(at::kCPU, state.cpu);
  const size_t devices =
      std::min(state.cuda.size(), static_cast<size_t>(torch::cuda::device_count()));
  for (size_t i = 0; i < devices; ++i)
    setGeneratorState(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(i)), state.cuda[i]);
}

}  // namespace mola
