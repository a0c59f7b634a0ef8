// SPDX-License-Identifier: GPL-3.0-or-later
// GradientBuckets: data-parallel gradient sums in buckets, overlapped with the backward pass.
// The trainable parameters are grouped, last first (the order the backward pass reaches them),
// into flat buckets of about `bucket_bytes`; a hook on each parameter copies its finished gradient
// into its bucket, and a bucket whose gradients are all there starts its all-reduce while the
// backward pass goes on. Buckets start in the same order on every rank, as collectives must.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mola {

class RankGroup;

class GradientBuckets {
 public:
  static constexpr int64_t kDefaultBytes = int64_t(25) << 20;  // as PyTorch's DDP

  GradientBuckets(RankGroup& group, std::vector<at::Tensor> params, int64_t bucket_bytes);
  ~GradientBuckets();
  GradientBuckets(const GradientBuckets&) = delete;
  GradientBuckets& operator=(const GradientBuckets&) = delete;

  // The next backward pass is the step's last (its micro-batch ends the accumulation): its
  // hooks start the sums. `what` names the step in errors.
  void arm(const std::string& what);
  // After that backward pass: starts the buckets not started yet (a parameter that got no
  // gradient counts as zeros), waits for every sum and writes the summed gradients into the
  // parameters' .grad.
  void finish();

  size_t bucketCount() const { return m_buckets.size(); }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into m_params
    std::vector<int64_t> offsets;
    at::Tensor flat;
    size_t arrived = 0;
    std::function<void()> wait;  // set once started
  };
  void arrive(size_t param, const at::Tensor& grad);
  void startReady();
  void start(Bucket& b);

  RankGroup& m_group;
  std::vector<at::Tensor> m_params;
  std::vector<size_t> m_bucket_of;  // per parameter
  std::vector<size_t> m_slot_of;    // per parameter: its place in its bucket
  std::vector<bool> m_arrived;      // per parameter, this step
  std::vector<unsigned> m_hooks;
  std::vector<Bucket> m_buckets;
  size_t m_next = 0;  // the next bucket to start
  bool m_armed = false;
  std::string m_what;
};

}  // namespace mola
