// SPDX-License-Identifier: GPL-3.0-or-later
// Trainer: schedule values by hand, loss decrease, frozen base, accumulation equivalence,
// bit-exact resume, stop with checkpoint, NaN handling.
#include "train/trainer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cmath>

#include "model/checkpoint_loader.h"
#include "shared_data.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

// Records what the trainer reports.
struct Recorder : TrainingObserver {
  RunStarted started;
  std::vector<StepMetrics> steps;
  std::vector<RouterStatsSnapshot> stats;
  std::vector<EvalReport> evals;
  std::vector<std::pair<int64_t, std::string>> checkpoints;
  TrainOutcome outcome = TrainOutcome::Failed;
  std::string message;
  std::function<void(const StepMetrics&)> on_step;

  void runStarted(const RunStarted& s) override { started = s; }
  void stepFinished(const StepMetrics& m) override {
    steps.push_back(m);
    if (on_step) on_step(m);
  }
  void routerStats(const RouterStatsSnapshot& s) override { stats.push_back(s); }
  void evaluated(const EvalReport& e) override { evals.push_back(e); }
  void checkpointSaved(int64_t step, const std::string& dir) override {
    checkpoints.emplace_back(step, dir);
  }
  void finished(TrainOutcome o, const std::string& m) override {
    outcome = o;
    message = m;
  }
};

ExperimentConfig tinyExperiment() {
  ExperimentConfig c;
  c.model = "builtin:tiny:3";
  c.device = "cpu";
  c.allocation = "2-4-6-8";
  c.train.path = "synthetic:largest:64:1";
  c.prompt_template = "compact";
  c.cutoff = 96;
  c.batch_size = 8;
  c.max_steps = 6;
  c.lr = 3e-3;
  c.warmup_steps = 2;
  c.dropout = 0.0;
  c.router_stats_interval = 2;
  c.seed = 7;
  return c;
}

Recorder train(const ExperimentConfig& c, const fs::path& dir, const fs::path& resume = {}) {
  Trainer t(c, dir);
  Recorder r;
  t.addObserver(&r);
  if (!resume.empty()) t.resumeFrom(resume);
  t.run();
  return r;
}

TEST(Schedule, WarmupThenDecayByHand) {
  ExperimentConfig c;
  c.lr = 1.0;
  c.warmup_steps = 10;
  EXPECT_DOUBLE_EQ(scheduledLearningRate(c, 0, 110), 0.1);  // step 1 of the warmup
  EXPECT_DOUBLE_EQ(scheduledLearningRate(c, 9, 110), 1.0);
  // Step 61: (61 - 10) / 100 of the decay done.
  EXPECT_NEAR(scheduledLearningRate(c, 60, 110), 0.49, 1e-12);
  c.schedule = "cosine";
  EXPECT_NEAR(scheduledLearningRate(c, 60, 110), 0.5 * (1 + std::cos(M_PI * 0.51)), 1e-12);
  EXPECT_NEAR(scheduledLearningRate(c, 109, 110), 0.0, 1e-12);
  c.schedule = "constant";
  EXPECT_DOUBLE_EQ(scheduledLearningRate(c, 60, 110), 1.0);
  c.warmup_steps = 0;
  c.schedule = "linear";
  EXPECT_DOUBLE_EQ(scheduledLearningRate(c, 0, 4), 0.75);
}

TEST(Trainer, ReportsEveryStepAndStatsAndFinishes) {
  ExperimentConfig c = tinyExperiment();
  c.eval.path = "synthetic:largest:16:2";
  const Recorder r = train(c, test::tempDir("trainer_reports"));
  ASSERT_EQ(r.outcome, TrainOutcome::Completed) << r.message;
  EXPECT_EQ(r.started.total_steps, 6);
  EXPECT_EQ(r.started.experts_per_layer, (std::vector<int>{2, 4, 6, 8}));
  ASSERT_EQ(r.steps.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(r.steps[i].step, int64_t(i + 1));
    EXPECT_TRUE(std::isfinite(r.steps[i].loss));
    EXPECT_GT(r.steps[i].balance_loss, 0.0);
    EXPECT_GT(r.steps[i].tokens_per_s, 0.0);
  }
  EXPECT_DOUBLE_EQ(r.steps[0].lr, 3e-3 * 0.5);
  ASSERT_EQ(r.stats.size(), 3u);  // steps 2, 4, 6
  EXPECT_EQ(r.stats[0].layers.size(), 4u);
  double f = 0;
  for (double x : r.stats[0].layers[3].token_fraction) f += x;
  EXPECT_NEAR(f, 1.0, 1e-9);
  ASSERT_EQ(r.evals.size(), 1u);
  EXPECT_EQ(r.evals[0].n, 16);
  EXPECT_EQ(r.evals[0].predictions.size(), 16u);
  ASSERT_EQ(r.checkpoints.size(), 1u);
  EXPECT_TRUE(fs::exists(fs::path(r.checkpoints[0].second) / CheckpointFiles::kAdapter));
}

TEST(Trainer, FullFineTuningLowersTheLoss) {
  ExperimentConfig c = tinyExperiment();
  c.method = "full";
  c.max_steps = 40;
  c.lr = 3e-3;
  const Recorder r = train(c, test::tempDir("trainer_full"));
  ASSERT_EQ(r.outcome, TrainOutcome::Completed) << r.message;
  EXPECT_LT(r.steps.back().loss, 0.6 * r.steps.front().loss)
      << r.steps.front().loss << " -> " << r.steps.back().loss;
}

TEST(Trainer, MolaTrainsOnlyTheAdapter) {
  const fs::path dir = test::tempDir("trainer_frozen");
  ExperimentConfig c = tinyExperiment();
  const Recorder r = train(c, dir);
  ASSERT_EQ(r.outcome, TrainOutcome::Completed) << r.message;
  // The base is the seed's random model, untouched; the adapter's B moved away from zero.
  LlamaModel base = loadModel(c.model);
  LlamaModel trained = loadModel(c.model);
  trained->loadAdapter(fs::path(r.checkpoints.back().second) / CheckpointFiles::kAdapter);
  auto tp = trained->named_parameters();
  for (const auto& p : base->named_parameters())
    EXPECT_TRUE(at::equal(p.value(), tp[p.key()])) << p.key();
  EXPECT_GT(trained->layer(3)->projection(TargetModule::QProj)->lora_B.abs().sum().item<double>(),
            0.0);
}

TEST(Trainer, AccumulatingTwoHalfBatchesEqualsOneBatch) {
  ExperimentConfig one = tinyExperiment();
  one.balance_coefficient = 0.0;  // per-call averages differ between the two layouts
  one.max_steps = 3;
  ExperimentConfig two = one;
  two.batch_size = 4;
  two.grad_accumulation = 2;
  const Recorder a = train(one, test::tempDir("trainer_acc1"));
  const Recorder b = train(two, test::tempDir("trainer_acc2"));
  ASSERT_EQ(a.steps.size(), 3u);
  ASSERT_EQ(b.steps.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(a.steps[i].loss, b.steps[i].loss, 1e-5) << "step " << i + 1;
    EXPECT_NEAR(a.steps[i].grad_norm, b.steps[i].grad_norm, 1e-4) << "step " << i + 1;
  }
}

TEST(Trainer, ResumeFollowsTheUninterruptedLossCurve) {
  ExperimentConfig c = tinyExperiment();
  c.dropout = 0.1;  // the RNG state must be restored too
  c.max_steps = 8;
  c.checkpoint_interval = 4;
  const Recorder whole = train(c, test::tempDir("trainer_whole"));
  ASSERT_EQ(whole.outcome, TrainOutcome::Completed) << whole.message;
  ASSERT_EQ(whole.checkpoints.front().first, 4);
  const Recorder resumed =
      train(c, test::tempDir("trainer_resumed"), whole.checkpoints.front().second);
  ASSERT_EQ(resumed.outcome, TrainOutcome::Completed) << resumed.message;
  EXPECT_EQ(resumed.started.first_step, 4);
  ASSERT_EQ(resumed.steps.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(resumed.steps[i].step, whole.steps[i + 4].step);
    EXPECT_NEAR(resumed.steps[i].loss, whole.steps[i + 4].loss, 1e-6) << "step " << i + 5;
  }
}

TEST(Trainer, StopSavesACheckpointFirst) {
  ExperimentConfig c = tinyExperiment();
  c.max_steps = 50;
  Trainer t(c, test::tempDir("trainer_stop"));
  Recorder r;
  r.on_step = [&](const StepMetrics& m) {
    if (m.step == 3) t.requestStop();
  };
  t.addObserver(&r);
  EXPECT_EQ(t.run(), TrainOutcome::Stopped);
  EXPECT_EQ(r.steps.size(), 3u);
  ASSERT_EQ(r.checkpoints.size(), 1u);
  EXPECT_EQ(r.checkpoints[0].first, 3);
  EXPECT_NE(r.message.find("stopped at step 3"), std::string::npos) << r.message;
}

TEST(Trainer, ANanLossStopsTheRunAndNamesTheLastGoodCheckpoint) {
  ExperimentConfig c = tinyExperiment();
  c.method = "full";
  c.lr = 1e30;  // the first update throws the weights far past fp32's range
  c.warmup_steps = 0;
  c.grad_clip = 0.0;
  c.checkpoint_interval = 1;
  c.max_steps = 10;
  const Recorder r = train(c, test::tempDir("trainer_nan"));
  EXPECT_EQ(r.outcome, TrainOutcome::Failed);
  // The failing step is the one after the last reported step; its predecessor's checkpoint is kept.
  ASSERT_GE(r.steps.size(), 1u);
  const int64_t bad = int64_t(r.steps.size()) + 1;
  EXPECT_NE(r.message.find("at step " + std::to_string(bad) + ";"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("last good checkpoint is"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("step-" + std::to_string(bad - 1) + "."), std::string::npos)
      << r.message;
  EXPECT_LT(bad, 10) << "the run did stop early";
}

TEST(Trainer, SetupErrorsFailTheRunWithTheCause) {
  ExperimentConfig c = tinyExperiment();
  c.train.path = "/nonexistent/train.jsonl";
  const Recorder r = train(c, test::tempDir("trainer_bad"));
  EXPECT_EQ(r.outcome, TrainOutcome::Failed);
  EXPECT_NE(r.message.find("/nonexistent/train.jsonl"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace mola
