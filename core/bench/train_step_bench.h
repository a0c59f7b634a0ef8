// SPDX-License-Identifier: GPL-3.0-or-later
// Training-step benchmark: forward, loss, backward and AdamW on random weights, per variant.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "adapters/allocation.h"
#include "bench/op_counter.h"
#include "model/llama_config.h"

namespace mola {

class RankGroup;

// The variants `mola bench` compares, in this order:
//   base            frozen model, no adapter: forward, loss, backward to the (trainable) token
//                   embedding, no optimizer step (as mola_reference.py --variant base)
//   lora-r8         plain LoRA r = 8 on all seven projections
//   lora-equal      plain LoRA whose rank gives the trainable-parameter count closest to mola-2468
//   mola-2468       MoLA 2-4-6-8, top-2, r = 8, stacked experts (the fast path)
//   mola-2468-loop  the same adapter, one expert at a time (ExpertImpl::Loop)
//   mola-8888       MoLA 8 experts in every layer, top-2, r = 8, stacked
const std::vector<std::string>& benchVariantNames();

// What a variant trains: the allocation (empty for base), rank, top-K and implementation.
struct BenchVariantSpec {
  std::string name;
  bool has_adapter = false;
  Allocation allocation;
  int rank = 8;
  int top_k = 1;
  bool loop = false;  // ExpertImpl::Loop instead of Stacked
};

// Throws std::invalid_argument naming the variant when it is not one of benchVariantNames(), or
// when the model is too shallow for its allocation.
BenchVariantSpec benchVariantSpec(const std::string& name, const ModelShape& shape);

// The plain-LoRA rank whose trainable-parameter count (all seven projections) is closest to that of
// MoLA 2-4-6-8, top-2, r = 8 on `shape` (ties go to the smaller rank).
int loraEqualRank(const ModelShape& shape);

struct TrainStepBenchOptions {
  LlamaConfig config;  // the model's shape; weights are random (seeded)
  int64_t seq = 256;   // tokens per sequence
  int64_t batch = 4;
  int steps = 5;   // timed steps
  int warmup = 2;  // untimed steps first
  std::string device = "cpu";
  // fp32, or bf16 / fp16 as the trainer runs them: the frozen base in that dtype, fp32 adapters
  // (master weights) and the forward and loss under autocast. fp16 needs CUDA.
  std::string dtype = "fp32";
  bool activation_checkpointing = false;  // LlamaModelImpl::setActivationCheckpointing
  uint64_t seed = 0;
  double alpha = 16.0;
  double dropout = 0.05;               // on the LoRA input, as in the reference
  double balance_coefficient = 0.001;  // MoLA variants add the load-balancing loss
  double lr = 3e-4;
  // One rank of a data-parallel run (its backend started): this rank trains its own batch of
  // `batch` sequences, and the gradients are summed across ranks in buckets during the backward
  // pass, as the trainer does. tokens_per_s then counts every rank's tokens.
  RankGroup* group = nullptr;
  // One more, untimed step after the timed ones with an OpCounter: the operators and host syncs of
  // one training step (TrainStepBenchResult::profile).
  bool profile = false;
  // CUDA: the warm-up steps run eagerly, then one step is captured as a CUDA graph and the timed
  // steps replay it (one launch a step; AdamW in its capturable form). Needs a CUDA build of
  // LibTorch 2.x, at least one warm-up step, and a step that never waits for the device (not the
  // per-expert loop, not with `group` or `profile`).
  bool cuda_graph = false;
  // Called after every step (warm-up included): step (1-based), warmup + steps, its milliseconds.
  std::function<void(int, int, double)> progress;
};

struct TrainStepBenchResult {
  std::string variant;
  std::vector<double> step_ms;  // the timed steps
  double ms_per_step = 0;       // median of step_ms
  double tokens_per_s = 0;      // batch * seq / median step time
  int64_t trainable_params = 0;
  double final_loss = 0;           // the last step's loss (a finite check that work was done)
  bool cuda_graph = false;         // the timed steps were replays of a captured CUDA graph
  double cuda_peak_mb = -1;        // max CUDA memory allocated, or -1 on the CPU
  double rss_before_model_mb = 0;  // process RSS before the model was built
  OpCounts profile;                // with TrainStepBenchOptions::profile
  // Its kernels in the forward (with the loss), the backward and the optimizer step.
  int64_t forward_kernels = 0, backward_kernels = 0, optimizer_kernels = 0;
};

// Runs one variant in this process. Errors (bad device, non-finite loss) throw with the variant's
// name.
TrainStepBenchResult runTrainStepBench(const std::string& variant,
                                       const TrainStepBenchOptions& options);

// The median of `values` (the mean of the middle two for an even count); 0 when empty.
double median(std::vector<double> values);

}  // namespace mola
