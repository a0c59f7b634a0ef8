// SPDX-License-Identifier: GPL-3.0-or-later
// The state of every random generator LibTorch draws from (the CPU's and each CUDA device's): read
// and restored in one place, for checkpoints and for the recomputation of checkpointed layers.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <vector>

namespace mola {

// The default generator's state of `device` (kCPU, or a CUDA device), as a CPU byte tensor, and
// its restoration (under the generator's lock, as ATen's kernels take it).
at::Tensor generatorState(const c10::Device& device);
void setGeneratorState(const c10::Device& device, const at::Tensor& state);

// Every generator at once: the CPU's and one per visible CUDA device.
struct RandomState {
  at::Tensor cpu;
  std::vector<at::Tensor> cuda;  // by device index
};
RandomState captureRandomState();
// Restores the CPU generator and the CUDA generators of the devices both the state and this
// process have (a resume on a machine with fewer GPUs restores those it can).
void restoreRandomState(const RandomState& state);

}  // namespace mola
