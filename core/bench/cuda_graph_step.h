// SPDX-License-Identifier: GPL-3.0-or-later
// CudaGraphStep: a training step captured once as a CUDA graph and then replayed, one launch for
// the whole step (LibTorch 2.x with CUDA; elsewhere its constructor says what is missing).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>
#include <memory>

namespace mola {

// Whether this build of LibTorch and of ours can capture CUDA graphs (a CUDA build of 2.x).
bool cudaGraphsBuilt();

// A step runs eagerly on a side stream of the device (the warm-up: cuBLAS workspaces, optimizer
// state and every accumulator that the step adds into in place must exist before the capture), is
// captured once, and is then replayed. What the captured step reads must stay where it is (the
// batch, the weights, the optimizer's state) and what it computes differently per step must be
// computed on the device (AdamW's bias corrections: makeForeachAdamW's capturable form). A step
// that makes the host wait (a read, nonzero) cannot be captured.
class CudaGraphStep {
 public:
  // Throws std::invalid_argument when `device` is not CUDA or this build has no CUDA graphs.
  explicit CudaGraphStep(const c10::Device& device);
  ~CudaGraphStep();
  CudaGraphStep(const CudaGraphStep&) = delete;
  CudaGraphStep& operator=(const CudaGraphStep&) = delete;

  // Runs `step` as usual, on the side stream.
  at::Tensor eager(const std::function<at::Tensor()>& step);
  // Records `step` (nothing runs); its result is the tensor each replay refills. The autocast
  // cache is off meanwhile, so that no cast weight outlives the capture. Throws std::runtime_error
  // when the step cannot be captured, with LibTorch's reason.
  void capture(const std::function<at::Tensor()>& step);
  bool captured() const;
  // Launches the captured step on the side stream (asynchronous); returns its result tensor.
  at::Tensor replay();

 private:
  struct State;
  std::unique_ptr<State> m;
};

}  // namespace mola
