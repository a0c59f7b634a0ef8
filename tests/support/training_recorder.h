// SPDX-License-Identifier: GPL-3.0-or-later
// TrainingRecorder: a TrainingObserver that keeps everything a Trainer reports, for tests, with
// hooks to act at a step or a checkpoint (a stop request, a file-size limit); recordTraining runs
// a Trainer with one.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "train/trainer.h"
#include "train/training_observer.h"

namespace mola::test {

struct TrainingRecorder : TrainingObserver {
  RunStarted started;
  std::vector<StepMetrics> steps;
  std::vector<RouterStatsSnapshot> stats;
  std::vector<EvalReport> evals;
  std::vector<std::pair<int64_t, std::string>> checkpoints;
  std::vector<std::pair<int64_t, std::string>> removed;  // checkpoints beyond keep_checkpoints
  TrainOutcome outcome = TrainOutcome::Failed;
  std::string message;
  std::function<void(const StepMetrics&)> on_step;
  std::function<void(int64_t, const std::string&)> on_checkpoint;

  void runStarted(const RunStarted& s) override { started = s; }
  void stepFinished(const StepMetrics& m) override {
    steps.push_back(m);
    if (on_step) on_step(m);
  }
  void routerStats(const RouterStatsSnapshot& s) override { stats.push_back(s); }
  void evaluated(const EvalReport& e) override { evals.push_back(e); }
  void checkpointSaved(int64_t step, const std::string& dir) override {
    checkpoints.emplace_back(step, dir);
    if (on_checkpoint) on_checkpoint(step, dir);
  }
  void checkpointRemoved(int64_t step, const std::string& dir) override {
    // Told before the folder goes: it is still there.
    EXPECT_TRUE(std::filesystem::exists(dir)) << dir;
    removed.emplace_back(step, dir);
  }
  void finished(TrainOutcome o, const std::string& m) override {
    outcome = o;
    message = m;
  }
};

// Trains `c` in `dir`, from the checkpoint `resume` when one is given, with the store identity
// `identity` when one is given; returns everything the Trainer reported.
inline TrainingRecorder recordTraining(const ExperimentConfig& c, const std::filesystem::path& dir,
                                       const std::filesystem::path& resume = {},
                                       const std::optional<CheckpointIdentity>& identity = {}) {
  Trainer t(c, dir);
  if (identity) t.setCheckpointIdentity(*identity);
  TrainingRecorder r;
  t.addObserver(&r);
  if (!resume.empty()) t.resumeFrom(resume);
  t.run();
  return r;
}

}  // namespace mola::test
