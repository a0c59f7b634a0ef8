// SPDX-License-Identifier: GPL-3.0-or-later
// TrainingObserver: what a training run reports, as plain values (torch-free; no Qt).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "adapters/router_stats.h"
#include "experiment/experiment_config.h"  // kMeanOfTasks

namespace mola {

struct RunStarted {
  int64_t total_steps = 0;
  int64_t first_step = 0;  // > 0 when resuming
  int64_t trainable_parameters = 0;
  int64_t train_examples = 0;
  int64_t truncated_examples = 0;      // cut to the cutoff
  std::vector<int> experts_per_layer;  // empty for full fine-tuning
  bool routed = false;                 // some layer has a router: a balance loss is trained
  std::string device;
  int processes = 1;  // data-parallel ranks
};

struct StepMetrics {
  int64_t step = 0;  // optimizer steps done, 1-based
  int64_t total_steps = 0;
  double loss = 0.0;          // language-model loss (mean over target tokens)
  double balance_loss = 0.0;  // coefficient * sum of per-layer balance losses
  double lr = 0.0;
  double grad_norm = 0.0;     // global norm before clipping
  double tokens_per_s = 0.0;  // real tokens (not padding) per second
  double padding = 0.0;       // share of the step's padded batch positions that are padding
  double elapsed_s = 0.0;
  // peakMemoryMb of the training device (device_memory.h) in this step: on a GPU what the caching
  // allocator held at most, on the CPU the process's peak resident set (the whole process's: a
  // GUI's too); -1 when unknown.
  double peak_mem_mb = -1.0;
};

struct EvalReport {
  int64_t step = 0;
  std::string benchmark;
  std::string split;
  std::string protocol;
  double accuracy = 0.0;
  double accuracy_norm = 0.0;
  double ci_low = 0.0, ci_high = 0.0;
  int64_t n = 0;
  struct Item {
    std::string example_id;
    int predicted = -1;
    bool correct = false;
  };
  std::vector<Item> predictions;
};

// Interrupted: a data-parallel run lost one of its ranks (resumable from the last checkpoint).
enum class TrainOutcome { Completed, Stopped, Failed, Interrupted };

// Callbacks run on the training thread, between steps: keep them short (queue, store, print).
class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;
  // Before runStarted, while the built-in pretrained base is trained on its first use: `step` of
  // `total` of its optimizer steps.
  virtual void preparing(int64_t /*step*/, int64_t /*total*/) {}
  virtual void runStarted(const RunStarted&) {}
  virtual void stepFinished(const StepMetrics&) {}
  virtual void routerStats(const RouterStatsSnapshot&) {}
  virtual void evaluated(const EvalReport&) {}
  virtual void checkpointSaved(int64_t /*step*/, const std::string& /*dir*/) {}
  // An older checkpoint beyond keep_checkpoints is about to leave the disk.
  virtual void checkpointRemoved(int64_t /*step*/, const std::string& /*dir*/) {}
  virtual void finished(TrainOutcome, const std::string& /*message*/) {}
};

}  // namespace mola
