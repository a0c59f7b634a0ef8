// SPDX-License-Identifier: GPL-3.0-or-later
// CudaGraphStep over at::cuda::CUDAGraph, on a stream of its own.
#include "bench/cuda_graph_step.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <stdexcept>
#include <string>

#if defined(MOLA_HAVE_C10_CUDA) && TORCH_VERSION_MAJOR >= 2
#define MOLA_HAVE_CUDA_GRAPHS 1
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace mola {

bool cudaGraphsBuilt() {
#ifdef MOLA_HAVE_CUDA_GRAPHS
  return true;
#else
  return false;
#endif
}

#ifdef MOLA_HAVE_CUDA_GRAPHS

struct CudaGraphStep::State {
  explicit State(const c10::Device& device)
      : stream(c10::cuda::getStreamFromPool(false, device.index())) {}
  c10::cuda::CUDAStream stream;
  at::cuda::CUDAGraph graph;
  at::Tensor output;
  bool captured = false;
};

CudaGraphStep::CudaGraphStep(const c10::Device& device) {
  if (!device.is_cuda())
    throw std::invalid_argument("a CUDA graph needs a CUDA device, not " + device.str());
  const c10::cuda::CUDAGuard on(device);
  m = std::make_unique<State>(device);
  // The side stream starts after everything queued so far (the model's initialisation).
  c10::cuda::device_synchronize();
}

CudaGraphStep::~CudaGraphStep() = default;

at::Tensor CudaGraphStep::eager(const std::function<at::Tensor()>& step) {
  const c10::cuda::CUDAStreamGuard on(m->stream);
  return step();
}

void CudaGraphStep::capture(const std::function<at::Tensor()>& step) {
  if (m->captured) throw std::logic_error("CudaGraphStep: the step is captured already");
  const c10::cuda::CUDAStreamGuard on(m->stream);
  c10::cuda::device_synchronize();
  const bool cache = at::autocast::is_autocast_cache_enabled();
  at::autocast::set_autocast_cache_enabled(false);
  try {
    m->graph.capture_begin();
    try {
      m->output = step();
    } catch (...) {
      try {
        m->graph.capture_end();
      } catch (...) {  // the capture is broken already: the step's own error says why
      }
      throw;
    }
    m->graph.capture_end();
  } catch (const std::exception& e) {
    at::autocast::set_autocast_cache_enabled(cache);
    throw std::runtime_error(std::string("the step cannot be captured as a CUDA graph: ") +
                             e.what());
  }
  at::autocast::set_autocast_cache_enabled(cache);
  m->captured = true;
}

bool CudaGraphStep::captured() const {
  return m->captured;
}

at::Tensor CudaGraphStep::replay() {
  if (!m->captured) throw std::logic_error("CudaGraphStep: replay before capture");
  const c10::cuda::CUDAStreamGuard on(m->stream);
  m->graph.replay();
  return m->output;
}

#else  // no CUDA graphs in this build

struct CudaGraphStep::State {};

CudaGraphStep::CudaGraphStep(const c10::Device& device) {
  throw std::invalid_argument(
      std::string("a CUDA graph needs a CUDA build of LibTorch 2.x; this is LibTorch ") +
      TORCH_VERSION + (device.is_cuda() ? "" : ", and the device is " + device.str()));
}

CudaGraphStep::~CudaGraphStep() = default;

at::Tensor CudaGraphStep::eager(const std::function<at::Tensor()>& step) {
  return step();
}

void CudaGraphStep::capture(const std::function<at::Tensor()>&) {
  throw std::logic_error("CudaGraphStep: no CUDA graphs in this build");
}

bool CudaGraphStep::captured() const {
  return false;
}

at::Tensor CudaGraphStep::replay() {
  throw std::logic_error("CudaGraphStep: no CUDA graphs in this build");
}

#endif

}  // namespace mola
