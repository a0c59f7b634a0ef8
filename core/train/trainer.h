// SPDX-License-Identifier: GPL-3.0-or-later
// Trainer: fine-tunes a model with MoLA adapters, plain LoRA, or all weights, as an experiment
// says.
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "experiment/experiment_config.h"
#include "train/training_observer.h"

namespace mola {

class LlamaModel;

// The learning rate after `step` optimizer steps of `total`: linear warmup from 0 over
// warmup_steps, then linear decay to 0, cosine decay to 0, or constant.
double scheduledLearningRate(const ExperimentConfig& config, int64_t step, int64_t total);

// Makes `model` (loaded in the experiment's dtype) trainable as config.method says and returns the
// experts per layer (empty for "full"). mola / lora: adapters injected as fp32 master weights
// whatever the base's dtype, so a bf16/fp16 base stays in that dtype (memory) while A, B, the
// routers and their AdamW state are fp32; the trainer runs the forward under autocast
// (AutocastGuard) for half dtypes. full: every weight trains in the base's dtype, as loaded.
std::vector<int> prepareForTraining(LlamaModel& model, const ExperimentConfig& config);

// The summed next-token cross-entropy of `model` on ids [B, T] against labels [B, T] (-100, as
// PyTorch's ignore_index, where a position has no target): label i + 1 is the target of position i,
// and only positions with a target go through the output head.
at::Tensor targetLossSum(LlamaModel& model, const at::Tensor& ids, const at::Tensor& labels);

// Where a checkpoint lives and what it holds (written atomically: a temporary directory that is
// renamed into place once every file in it is synced).
struct CheckpointFiles {
  static constexpr const char* kAdapter = "adapter.safetensors";  // mola / lora
  static constexpr const char* kWeights = "weights.safetensors";  // full fine-tuning
  static constexpr const char* kOptimizer = "optimizer.pt";
  static constexpr const char* kState = "trainer_state.json";  // step, data position, RNG
};

class Trainer {
 public:
  // `run_dir` receives checkpoints/step-N/. Nothing heavy happens before run().
  Trainer(ExperimentConfig config, std::filesystem::path run_dir);
  ~Trainer();

  void addObserver(TrainingObserver* observer);
  // Continue from a checkpoint directory written by an earlier run of the same experiment.
  void resumeFrom(const std::filesystem::path& checkpoint_dir);

  // Loads model and data, trains until max steps, a stop request, or a failure (NaN/Inf loss):
  // observers see every step and the outcome. Setup errors (bad model path, malformed data) throw
  // with a message naming the file; the caller reports them as a failed run.
  TrainOutcome run();

  // Thread-safe; checked between steps. A stop saves a checkpoint first.
  void requestStop() { m_stop = true; }
  void setPaused(bool paused) { m_paused = paused; }
  bool paused() const { return m_paused; }

  const ExperimentConfig& config() const { return m_config; }

 private:
  struct State;
  ExperimentConfig m_config;
  std::filesystem::path m_run_dir;
  std::filesystem::path m_resume_dir;
  std::vector<TrainingObserver*> m_observers;
  std::atomic<bool> m_stop{false};
  std::atomic<bool> m_paused{false};
};

}  // namespace mola
