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
#include "train/checkpoint_files.h"
#include "train/training_observer.h"

namespace mola {

class LlamaModel;
class RankGroup;
struct EvalResult;

// The learning rate after `step` optimizer steps of `total`: linear warmup from 0 over
// warmup_steps, then linear decay to 0, cosine decay to 0, or constant.
double scheduledLearningRate(const ExperimentConfig& config, int64_t step, int64_t total);

// Makes `model` (loaded in the experiment's dtype) trainable as config.method says and returns the
// experts per layer (empty for "full"). mola / lora: adapters injected as fp32 master weights
// whatever the base's dtype, so a bf16/fp16 base stays in that dtype (memory) while A, B, the
// routers and their AdamW state are fp32; the trainer runs the forward under autocast
// (AutocastGuard) for half dtypes. full: every weight trains in the base's dtype, as loaded.
std::vector<int> prepareForTraining(LlamaModel& model, const ExperimentConfig& config);

// What observers (and the store) hear of an evaluation: `r` as the score of `benchmark` (`split`)
// at `step`, with its predictions.
EvalReport evalReportOf(const EvalResult& r, int64_t step, const std::string& benchmark,
                        const std::string& split);

// The summed next-token cross-entropy of `model` on ids [B, T] against labels [B, T] on the host
// (-100, as PyTorch's ignore_index, where a position has no target): label i + 1 is the target of
// position i, and only positions with a target go through the output head.
at::Tensor targetLossSum(LlamaModel& model, const at::Tensor& ids, const at::Tensor& labels);

class Trainer {
 public:
  // `run_dir` receives checkpoints/step-N/. Nothing heavy happens before run().
  Trainer(ExperimentConfig config, std::filesystem::path run_dir);
  ~Trainer();

  void addObserver(TrainingObserver* observer);
  // Continue from a checkpoint directory written by an earlier run of the same experiment.
  void resumeFrom(const std::filesystem::path& checkpoint_dir);
  // The store and run this training belongs to: recorded in every checkpoint it writes, and
  // required of the checkpoint it resumes from.
  void setCheckpointIdentity(CheckpointIdentity identity) { m_identity = std::move(identity); }
  // Trains as one rank of a data-parallel run (config.processes must be its size): every rank
  // computes its share of each batch, gradients are summed across ranks in buckets during the
  // backward pass, and the losses, router statistics and evaluation are summed too; only rank 0
  // writes checkpoints (and should be the only one with observers that write). A rank that is
  // gone ends the run as TrainOutcome::Interrupted with a message naming it.
  void setRankGroup(RankGroup* group) { m_group = group; }

  // Loads model and data, trains until max steps, a stop request, or a failure (NaN/Inf loss, a
  // checkpoint that cannot be written, bad input): observers see every step, and the outcome
  // with a message naming the file, key or step at fault. Exceptions only escape from observers
  // (after every observer has heard the outcome).
  TrainOutcome run();

  // Thread-safe; checked between steps. A stop saves a checkpoint first.
  void requestStop() { m_stop = true; }
  void setPaused(bool paused) { m_paused = paused; }
  bool paused() const { return m_paused; }

  const ExperimentConfig& config() const { return m_config; }

 private:
  struct State;
  struct StepBatches;
  struct Result {
    TrainOutcome outcome = TrainOutcome::Failed;
    std::string message;
  };
  // Sets up and trains; exceptions (bad input, a checkpoint that cannot be written) pass on.
  Result train(State& s);
  void setUp(State& s);
  // One optimizer step over grad_accumulation micro-batches; false when the loss is not finite.
  bool trainStep(State& s, StepMetrics& m);
  // The step's micro-batches (this rank's shares) from the epoch's order, moving the cursor.
  StepBatches takeStepBatches(State& s);
  // The forward and backward passes of one micro-batch (this rank's share of it, on the host);
  // adds its loss and balance loss (shares of the step's means) to losses[0] and losses[1], on
  // the device: nothing waits.
  void trainMicroBatch(State& s, const at::Tensor& ids, const at::Tensor& labels,
                       const at::Tensor& mask, double denom, bool last, at::Tensor& losses);
  // Whether any rank was asked to stop (this one alone in a single process).
  bool stopRequested(State& s);
  // Data-parallel parts of setUp: the backend, one set of weights, the gradient buckets.
  void joinRanks(State& s);
  // After step s.step: router statistics, evaluation and checkpoint when their intervals say so.
  void afterStep(State& s);
  void evaluate(State& s);
  void saveCheckpoint(State& s);
  // Removes the run's checkpoints older than the newest keep_checkpoints (none when that is 0).
  void pruneCheckpoints(int64_t step);
  TrainOutcome finish(TrainOutcome outcome, const std::string& message);

  ExperimentConfig m_config;
  std::filesystem::path m_run_dir;
  std::filesystem::path m_resume_dir;
  CheckpointIdentity m_identity;
  std::vector<TrainingObserver*> m_observers;
  RankGroup* m_group = nullptr;
  std::atomic<bool> m_stop{false};
  std::atomic<bool> m_paused{false};
};

}  // namespace mola
