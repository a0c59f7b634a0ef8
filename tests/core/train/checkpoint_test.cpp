// SPDX-License-Identifier: GPL-3.0-or-later
// Checkpoints through the Trainer: a resume reproduces the uninterrupted run bit for bit (losses,
// gradient norms, router statistics of a window cut by the stop), whatever the order of the
// target modules; a checkpoint that cannot be written (a file-size limit standing in for a full
// disk) fails the run with a message naming it and leaves the last good one; a checkpoint of
// another store or run is refused.
#include "train/checkpoint.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <fstream>
#include <set>

#include "shared_data.h"
#include "tiny_experiment.h"
#include "train/trainer.h"
#include "training_recorder.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

using Recorder = test::TrainingRecorder;

ExperimentConfig experiment() {
  ExperimentConfig c = test::largestTaskExperiment(8);
  c.dropout = 0.1;  // the generators must be restored for the masks to repeat
  c.router_stats_interval = 4;
  c.checkpoint_interval = 3;  // step 3: inside the first router window
  c.seed = 11;
  return c;
}

const CheckpointIdentity kIdentity{"00112233445566778899aabbccddeeff", 5};

Recorder train(const ExperimentConfig& c, const fs::path& dir, const fs::path& resume = {},
               const CheckpointIdentity& identity = kIdentity) {
  return test::recordTraining(c, dir, resume, identity);
}

void expectSameStats(const RouterStatsSnapshot& got, const RouterStatsSnapshot& want) {
  EXPECT_EQ(got.step, want.step);
  ASSERT_EQ(got.layers.size(), want.layers.size());
  for (size_t j = 0; j < want.layers.size(); ++j) {
    EXPECT_EQ(got.layers[j].tokens, want.layers[j].tokens) << "layer " << j;
    EXPECT_EQ(got.layers[j].token_fraction, want.layers[j].token_fraction) << "layer " << j;
    EXPECT_EQ(got.layers[j].mean_probability, want.layers[j].mean_probability) << "layer " << j;
    EXPECT_EQ(got.layers[j].entropy, want.layers[j].entropy) << "layer " << j;
  }
}

// Resumes `c` from its step-3 checkpoint in `whole` and checks steps 4..8 against it, exactly.
void expectExactResume(const ExperimentConfig& c, const Recorder& whole, const std::string& tag) {
  ASSERT_EQ(whole.outcome, TrainOutcome::Completed) << whole.message;
  ASSERT_EQ(whole.checkpoints.at(0).first, 3);
  const Recorder resumed =
      train(c, test::tempDir("ckpt_resumed_" + tag), whole.checkpoints.at(0).second);
  ASSERT_EQ(resumed.outcome, TrainOutcome::Completed) << resumed.message;
  EXPECT_EQ(resumed.started.first_step, 3);
  ASSERT_EQ(resumed.steps.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    const StepMetrics& want = whole.steps[i + 3];
    EXPECT_EQ(resumed.steps[i].step, want.step);
    EXPECT_EQ(resumed.steps[i].loss, want.loss) << "step " << want.step;
    EXPECT_EQ(resumed.steps[i].balance_loss, want.balance_loss) << "step " << want.step;
    EXPECT_EQ(resumed.steps[i].grad_norm, want.grad_norm) << "step " << want.step;
    EXPECT_GT(resumed.steps[i].grad_norm, 0.0) << "the adapters still train";
  }
  // The window of steps 1..4 was cut by the checkpoint at step 3: its sums came back with it.
  ASSERT_EQ(whole.stats.size(), 2u);
  ASSERT_EQ(resumed.stats.size(), 2u);
  expectSameStats(resumed.stats[0], whole.stats[0]);
  expectSameStats(resumed.stats[1], whole.stats[1]);
}

TEST(Checkpoint, ResumeReproducesTheRunBitForBit) {
  const ExperimentConfig c = experiment();
  expectExactResume(c, train(c, test::tempDir("ckpt_whole")), "canonical");
}

TEST(Checkpoint, ResumeWithTargetModulesOutOfOrderKeepsTraining) {
  // Once, the optimizer was built before the checkpoint rebuilt modules listed in another order,
  // so a resumed run updated tensors the model no longer used (gradient norm 0).
  ExperimentConfig c = experiment();
  c.target_modules = {"v_proj", "q_proj", "down_proj"};
  expectExactResume(c, train(c, test::tempDir("ckpt_whole_unordered")), "unordered");
}

TEST(Checkpoint, KeepCheckpointsLeavesTheNewestAndRemovesTheOlderOnesOldestFirst) {
  ExperimentConfig c = experiment();
  c.checkpoint_interval = 2;
  c.keep_checkpoints = 2;
  const fs::path dir = test::tempDir("ckpt_keep"), folder = dir / "checkpoints";
  // An earlier session's checkpoint (step 1) is pruned like the run's own; a folder ahead of the
  // run (left by a resume from an earlier checkpoint), a write folder and anything else stay.
  for (const char* name : {"step-1", "step-20", "step-3.tmp", "step-x", "notes"})
    fs::create_directories(folder / name);
  const Recorder r = train(c, dir);
  ASSERT_EQ(r.outcome, TrainOutcome::Completed) << r.message;
  std::vector<int64_t> saved, removed;
  for (const auto& [step, path] : r.checkpoints) saved.push_back(step);
  for (const auto& [step, path] : r.removed) removed.push_back(step);
  EXPECT_EQ(saved, (std::vector<int64_t>{2, 4, 6, 8}));
  EXPECT_EQ(removed, (std::vector<int64_t>{1, 2, 4}));
  std::set<std::string> left;
  for (const fs::directory_entry& e : fs::directory_iterator(folder))
    left.insert(e.path().filename().string());
  EXPECT_EQ(left, (std::set<std::string>{"step-6", "step-8", "step-20", "step-3.tmp", "step-x",
                                         "notes"}));
  EXPECT_EQ(checkpointProblem(folder / "step-6", kIdentity), "");

  // 0 keeps every one.
  c.keep_checkpoints = 0;
  const Recorder all = train(c, test::tempDir("ckpt_keep_all"));
  EXPECT_EQ(all.checkpoints.size(), 4u);
  EXPECT_TRUE(all.removed.empty());
}

TEST(Checkpoint, ACheckpointThatCannotBeWrittenFailsTheRunAndKeepsTheLastGoodOne) {
  ExperimentConfig c = experiment();
  c.checkpoint_interval = 2;
  const fs::path dir = test::tempDir("ckpt_full");
  // After the first checkpoint, files may not grow past 1.5 times its adapter file: the next
  // adapter still fits, its optimizer state (twice the parameters) does not, as on a disk that
  // fills up. LibTorch's writer once aborted the whole process there.
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto old_handler = signal(SIGXFSZ, SIG_IGN);
  Trainer t(c, dir);
  t.setCheckpointIdentity(kIdentity);
  Recorder r;
  r.on_checkpoint = [&](int64_t step, const std::string& path) {
    if (step != 2) return;
    const auto limit = rlim_t(fs::file_size(fs::path(path) / CheckpointFiles::kAdapter) * 3 / 2);
    const rlimit small{limit, saved.rlim_max};
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  };
  t.addObserver(&r);
  const TrainOutcome outcome = t.run();
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  signal(SIGXFSZ, old_handler);

  EXPECT_EQ(outcome, TrainOutcome::Failed);
  ASSERT_EQ(r.checkpoints.size(), 1u) << r.message;
  const fs::path good = r.checkpoints[0].second, bad = dir / "checkpoints" / "step-4";
  EXPECT_NE(r.message.find("the checkpoint of step 4 could not be written to " + bad.string()),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find(CheckpointFiles::kOptimizer), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("File too large"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("The last good checkpoint is step 2 (" + good.string() + ")"),
            std::string::npos)
      << r.message;
  EXPECT_FALSE(fs::exists(bad.string() + ".tmp")) << "the partial files are removed";
  EXPECT_FALSE(fs::exists(bad));
  EXPECT_EQ(checkpointProblem(good, kIdentity), "");

  // With room again, the run resumes from the last good checkpoint and completes.
  const Recorder resumed = train(c, dir, good);
  EXPECT_EQ(resumed.outcome, TrainOutcome::Completed) << resumed.message;
  EXPECT_EQ(resumed.started.first_step, 2);
}

TEST(Checkpoint, ACheckpointOfAnotherStoreOrRunIsRefused) {
  ExperimentConfig c = experiment();
  c.max_steps = 3;
  const Recorder whole = train(c, test::tempDir("ckpt_identity"));
  ASSERT_EQ(whole.outcome, TrainOutcome::Completed) << whole.message;
  const fs::path checkpoint = whole.checkpoints.at(0).second;
  c.max_steps = 4;
  const CheckpointIdentity other_store{"ffeeddccbbaa99887766554433221100", kIdentity.run};
  const Recorder foreign = train(c, test::tempDir("ckpt_identity_b"), checkpoint, other_store);
  EXPECT_EQ(foreign.outcome, TrainOutcome::Failed);
  EXPECT_NE(foreign.message.find("cannot resume from " + checkpoint.string()), std::string::npos)
      << foreign.message;
  EXPECT_NE(foreign.message.find("belongs to another run store"), std::string::npos)
      << foreign.message;
  const Recorder other_run =
      train(c, test::tempDir("ckpt_identity_c"), checkpoint, {kIdentity.store_id, 6});
  EXPECT_NE(other_run.message.find("belongs to run 5, not run 6"), std::string::npos)
      << other_run.message;
  EXPECT_TRUE(foreign.steps.empty());
}

TEST(Checkpoint, ADamagedOptimizerFileIsNamedNotAStackTrace) {
  ExperimentConfig c = experiment();
  c.max_steps = 3;
  const Recorder whole = train(c, test::tempDir("ckpt_damaged"));
  ASSERT_EQ(whole.outcome, TrainOutcome::Completed) << whole.message;
  const fs::path checkpoint = whole.checkpoints.at(0).second;
  const fs::path optimizer = checkpoint / CheckpointFiles::kOptimizer;
  fs::resize_file(optimizer, fs::file_size(optimizer) / 2);
  c.max_steps = 4;
  const Recorder r = train(c, test::tempDir("ckpt_damaged_b"), checkpoint);
  EXPECT_EQ(r.outcome, TrainOutcome::Failed);
  EXPECT_NE(r.message.find(optimizer.string() + " has "), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("frame #"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace mola
