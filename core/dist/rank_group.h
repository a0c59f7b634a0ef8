// SPDX-License-Identifier: GPL-3.0-or-later
// RankGroup: this process's place in a data-parallel run over c10d, the collective engine that
// LibTorch ships: a TCPStore rendezvous (rank 0 hosts it), then Gloo for CPU tensors or NCCL for
// CUDA ones. Every rank beats a heartbeat into the store, so that a collective failing because a
// peer died names that rank.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "dist/dist_env.h"
#include "dist/tensor_reducer.h"

namespace mola {

// A collective or the rendezvous failed because another rank is gone (killed, crashed, or it
// stopped answering within the timeout); the message names it when its heartbeat tells.
class RankLostError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

class RankGroup {
 public:
  // Joins the run `env` describes: connects to the store (rank 0 creates it), waiting up to
  // `timeout` for every rank, and starts the heartbeat. Throws RankLostError when the rendezvous
  // fails (the message names the address).
  RankGroup(const DistEnv& env, std::chrono::seconds timeout);
  ~RankGroup();
  RankGroup(const RankGroup&) = delete;
  RankGroup& operator=(const RankGroup&) = delete;

  int rank() const { return m_env.rank; }
  int size() const { return m_env.world; }
  const DistEnv& env() const { return m_env; }

  // The tensor backend for `device`, before any collective: Gloo on the CPU, NCCL on a CUDA
  // device (this process's LOCAL_RANK device) where LibTorch was built with it. Meeting the other
  // ranks' backends waits for all of them: start it early, before work that may fail on one rank
  // only (a rank that dies later is seen at the next collective). Again for the same kind of
  // device: nothing.
  void startBackend(const c10::Device& device);
  std::string backendName() const;

  // Small values through the store: publish once, fetch waits until it is there.
  void publish(const std::string& key, const std::string& value);
  std::string fetch(const std::string& key);
  // Every rank's `mine` under `key`, by rank.
  std::vector<std::string> gatherText(const std::string& key, const std::string& mine);

  // Collectives: every rank calls them in the same order. `what` names the step for errors
  // ("gradient all-reduce at step 7"). They throw RankLostError naming the rank that is gone.
  void allReduceSum(at::Tensor& tensor, const std::string& what);
  // Starts a sum; the returned function waits for it (and throws like allReduceSum).
  std::function<void()> allReduceSumAsync(at::Tensor tensor, const std::string& what);
  void broadcast(at::Tensor& tensor, int root, const std::string& what);
  void barrier(const std::string& what);
  TensorReducer reducer(const std::string& what) {
    return [this, what](at::Tensor& t) { allReduceSum(t, what); };
  }

  // Stops the heartbeat and waits for every rank, so that rank 0's store outlives every reader.
  // Call it once training is over on every rank; no-throw.
  void close() noexcept;

 private:
  struct Impl;
  [[noreturn]] void lost(const std::string& what, const std::string& cause);
  DistEnv m_env;
  std::unique_ptr<Impl> m;
};

}  // namespace mola
