// SPDX-License-Identifier: GPL-3.0-or-later
// Run bookkeeping shared by the CLI and the GUI: model depth without loading, the stored
// allocation, run folders, resume points, and StoreWriter's records in a real database.
#include "store/run_launch.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "expect_error.h"
#include "shared_data.h"
#include "store/store_writer.h"
#include "store_probe.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

// "n,n,...": `groups` counts, each repeated layers/groups times (the depths here divide evenly).
std::string repeated(const std::vector<int>& groups, int layers) {
  std::string out;
  for (int n : groups) {
    for (int i = 0; i < layers / int(groups.size()); ++i) {
      if (!out.empty()) out.append(",");
      out.append(std::to_string(n));
    }
  }
  return out;
}

TEST(RunLaunch, ModelDepthWithoutLoadingWeights) {
  const fs::path dir = test::tempDir("run_launch_depth");
  EXPECT_EQ(modelDepth("builtin:tiny"), 4);
  EXPECT_EQ(modelDepth("builtin:tiny:7"), 4);
  fs::create_directories(dir / "hf");
  std::ofstream(dir / "hf/config.json") << R"({"architectures": ["LlamaForCausalLM"],
    "num_hidden_layers": 32, "hidden_size": 4096})";
  EXPECT_EQ(modelDepth((dir / "hf").string()), 32);
  {
    // llama2.c header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len.
    const int32_t header[7] = {64, 172, 5, 8, 4, 512, 512};
    std::ofstream(dir / "model.bin", std::ios::binary)
        .write(reinterpret_cast<const char*>(header), sizeof header);
  }
  EXPECT_EQ(modelDepth((dir / "model.bin").string()), 5);
  EXPECT_EQ(modelDepth((dir / "missing").string()), std::nullopt);
  fs::create_directories(dir / "broken");
  std::ofstream(dir / "broken/config.json") << "{ not json";
  EXPECT_EQ(modelDepth((dir / "broken").string()), std::nullopt);
}

TEST(RunLaunch, StoredAllocationIsThePerLayerListWhereTheDepthIsKnown) {
  const fs::path dir = test::tempDir("run_launch_alloc");
  fs::create_directories(dir / "hf");
  std::ofstream(dir / "hf/config.json") << R"({"num_hidden_layers": 32})";
  ExperimentConfig c;
  c.model = "builtin:tiny";
  c.allocation = "2-4-6-8";
  EXPECT_EQ(storedAllocation(c), "2,4,6,8");
  c.model = (dir / "hf").string();
  c.allocation = "hourglass";  // 8-2-2-8 over quarters of 32 layers
  EXPECT_EQ(storedAllocation(c), repeated({8, 2, 2, 8}, 32));
  c.method = "lora";
  EXPECT_EQ(storedAllocation(c), repeated({1}, 32));
  c.method = "full";
  EXPECT_EQ(storedAllocation(c), "");
  c.method = "mola";
  c.model = (dir / "missing").string();
  EXPECT_EQ(storedAllocation(c), "hourglass") << "kept as written when the depth is unknown";
}

// A finished checkpoint folder of `identity` at `step`, as the trainer writes one (with stand-in
// contents: run_launch only checks the manifest).
fs::path fakeCheckpoint(const fs::path& run_dir, int64_t step, const CheckpointIdentity& identity) {
  const fs::path dir = run_dir / "checkpoints" / ("step-" + std::to_string(step));
  fs::create_directories(dir);
  std::ofstream(dir / CheckpointFiles::kAdapter) << "adapter of step " << step;
  std::ofstream(dir / CheckpointFiles::kState) << R"({"step": )" << step << "}";
  writeCheckpointManifest(dir, {CheckpointFiles::kAdapter, CheckpointFiles::kState}, step,
                          identity);
  return dir;
}

TEST(RunLaunch, RunFoldersAndResumePoints) {
  const fs::path dir = test::tempDir("run_launch_resume");
  RunStore store = openRunStore(dir / "nested/runs.sqlite");
  ExperimentConfig c;
  c.name = "resumable";
  c.train.path = "synthetic:largest:8";
  const int64_t id = createRunFor(store, c);
  // The folder is named after the database file: two databases in one folder never share one.
  EXPECT_EQ(store.runDirectory(id), dir / "nested/runs.sqlite-runs" / std::to_string(id));
  EXPECT_TRUE(fs::exists(store.runDirectory(id) / "lock"));
  EXPECT_EQ(store.run(id).allocation, "2,4,6,8");  // inverted-triangle on the 4-layer tiny model
  EXPECT_EQ(parseExperiment(store.run(id).config_json), c);

  test::expectErrorContaining<StoreError>([&] { prepareResume(store, id); },
                                          "is being trained by this process");
  std::vector<MetricPoint> loss;
  for (int64_t s = 1; s <= 12; ++s) loss.push_back({s, "loss", 1.0 / double(s)});
  store.addMetrics(id, loss);
  store.setStatus(id, RunStatus::Stopped, "stopped");

  // Without a checkpoint the run starts over: every stored step is dropped.
  ResumePlan plan = prepareResume(store, id);
  EXPECT_EQ(plan.checkpoint, std::nullopt);
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_NE(plan.notes[0].find("starts again from step 0"), std::string::npos);
  EXPECT_EQ(store.run(id).status, RunStatus::Running);
  EXPECT_TRUE(store.metrics(id, "loss").empty());

  store.addMetrics(id, loss);
  const CheckpointIdentity mine = checkpointIdentity(store, id);
  EXPECT_EQ(mine.store_id.size(), 32u);
  store.addCheckpoint(id, 5, fakeCheckpoint(store.runDirectory(id), 5, mine).string());
  store.addCheckpoint(id, 10, fakeCheckpoint(store.runDirectory(id), 10, mine).string());
  // Step 11's checkpoint is another store's (a folder that database wrote in the same place).
  const CheckpointIdentity foreign{"0123456789abcdef0123456789abcdef", id};
  store.addCheckpoint(id, 11, fakeCheckpoint(store.runDirectory(id), 11, foreign).string());
  store.setStatus(id, RunStatus::Failed, "failed");
  EXPECT_EQ(latestCheckpoint(store, id)->step, 11);

  plan = prepareResume(store, id);
  ASSERT_TRUE(plan.checkpoint.has_value());
  EXPECT_EQ(plan.checkpoint->step, 10);
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_NE(plan.notes[0].find("step 11: "), std::string::npos) << plan.notes[0];
  EXPECT_NE(plan.notes[0].find("belongs to another run store"), std::string::npos) << plan.notes[0];
  EXPECT_EQ(plan.config, c);
  EXPECT_EQ(store.metrics(id, "loss").size(), 10u) << "steps 11 and 12 are recomputed";
  EXPECT_EQ(latestCheckpoint(store, id)->step, 10) << "the record of step 11 goes with them";

  // Step 10 cut short: resume falls back to step 5.
  store.setStatus(id, RunStatus::Interrupted, "killed");
  std::ofstream(fs::path(plan.checkpoint->path) / CheckpointFiles::kAdapter, std::ios::trunc)
      << "adapter";
  plan = prepareResume(store, id);
  ASSERT_TRUE(plan.checkpoint.has_value());
  EXPECT_EQ(plan.checkpoint->step, 5);
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_NE(plan.notes[0].find(CheckpointFiles::kAdapter + std::string(" has 7 bytes")),
            std::string::npos)
      << plan.notes[0];

  store.setStatus(id, RunStatus::Completed);
  test::expectErrorContaining<StoreError>([&] { prepareResume(store, id); },
                                          "run " + std::to_string(id) + " is already completed");
}

TEST(StoreWriter, RecordsWhatTheTrainerReports) {
  const fs::path dir = test::tempDir("store_writer");
  RunStore store = openRunStore(dir / "runs.sqlite");
  ExperimentConfig c;
  c.train.path = "synthetic:largest:8";
  const int64_t id = createRunFor(store, c);
  {
    StoreWriter writer(store, id);
    for (int64_t s = 1; s <= 3; ++s) {
      StepMetrics m;
      m.step = s;
      m.loss = 2.0 / double(s);
      m.lr = 1e-3;
      m.padding = 0.125 * double(s);
      if (s == 3) m.peak_mem_mb = 512.5;  // unknown (-1) in steps 1 and 2: not stored
      writer.stepFinished(m);
    }
    RouterStatsSnapshot snapshot;
    snapshot.step = 3;
    LayerRouterStats layer;
    layer.tokens = 40;
    layer.token_fraction = {0.5, 0.5};
    layer.mean_probability = {0.4, 0.6};
    snapshot.layers.push_back(layer);
    writer.routerStats(snapshot);
    EvalReport report;
    report.step = 3;
    report.benchmark = "synthetic:largest:4";
    report.protocol = "likelihood";
    report.accuracy = 0.75;
    report.n = 4;
    for (int i = 0; i < 4; ++i) report.predictions.push_back({"q" + std::to_string(i), i, i != 2});
    writer.evaluated(report);
    EXPECT_GT(writer.lastEvalScoreId(), 0);
    EXPECT_EQ(store.evalScores(id).at(0).id, writer.lastEvalScoreId());
    writer.checkpointSaved(3, "/tmp/step-3");
    EXPECT_EQ(writer.waiting(), 0u);
    writer.finished(TrainOutcome::Stopped, "stopped at step 3");
  }
  // Seven metrics a step and the one peak memory known, every one stored before the checkpoint
  // that follows them.
  EXPECT_EQ(store.metrics(id).size(), 22u);
  const auto memory = store.metrics(id, "peak_mem_mb");
  ASSERT_EQ(memory.size(), 1u);
  EXPECT_EQ(memory[0].step, 3);
  EXPECT_DOUBLE_EQ(memory[0].value, 512.5);
  const auto loss = store.metrics(id, "loss");
  ASSERT_EQ(loss.size(), 3u);
  EXPECT_DOUBLE_EQ(loss[1].value, 1.0);
  const auto padding = store.metrics(id, "padding");
  ASSERT_EQ(padding.size(), 3u);
  EXPECT_DOUBLE_EQ(padding[2].value, 0.375);
  ASSERT_EQ(store.routerStats(id).size(), 1u);
  EXPECT_EQ(store.routerStats(id)[0].layers.at(0).token_fraction.size(), 2u);
  const auto scores = store.evalScores(id);
  ASSERT_EQ(scores.size(), 1u);
  EXPECT_DOUBLE_EQ(scores[0].accuracy, 0.75);
  const auto predictions = store.predictions(scores[0].id);
  ASSERT_EQ(predictions.size(), 4u);
  EXPECT_FALSE(predictions[2].correct);
  EXPECT_EQ(store.checkpoints(id).at(0).step, 3);
  EXPECT_EQ(store.run(id).status, RunStatus::Stopped);
  EXPECT_EQ(store.run(id).message, "stopped at step 3");
  EXPECT_EQ(store.run(id).last_step, 3);
}

TEST(StoreWriter, KeepsEveryStepWhileAnotherProcessHoldsTheWriteLock) {
  const fs::path db = test::tempDir("store_writer_locked") / "runs.sqlite";
  RunStore store = openRunStore(db);
  ExperimentConfig c;
  c.train.path = "synthetic:largest:8";
  const int64_t id = createRunFor(store, c);
  std::vector<std::string> notices;
  double slowest = 0.0;
  {
    StoreWriter writer(store, id);
    writer.setNotice([&](const std::string& n) { notices.push_back(n); });
    // Held for 7 s, longer than SQLite's 5 s busy timeout that used to end training.
    test::StoreProbe holder({"lock", db.string(), "7"});
    ASSERT_EQ(holder.answer(), "locked");
    for (int64_t s = 1; s <= 45; ++s) {
      const auto t0 = std::chrono::steady_clock::now();
      StepMetrics m;
      m.step = s;
      m.loss = 1.0 / double(s);
      writer.stepFinished(m);
      if (s == 20) writer.checkpointSaved(20, (store.runDirectory(id) / "step-20").string());
      const double took =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      slowest = std::max(slowest, took);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    writer.finished(TrainOutcome::Completed, "completed 45 steps");
    EXPECT_EQ(writer.waiting(), 0u);
  }
  EXPECT_LT(slowest, 1.0) << "a step waited for the database";
  const std::vector<MetricPoint> loss = store.metrics(id, "loss");
  ASSERT_EQ(loss.size(), 45u);
  for (size_t i = 0; i < loss.size(); ++i) EXPECT_EQ(loss[i].step, int64_t(i + 1));
  EXPECT_EQ(store.checkpoints(id).at(0).step, 20);
  EXPECT_EQ(store.run(id).status, RunStatus::Completed);
  ASSERT_EQ(notices.size(), 2u);
  EXPECT_NE(notices[0].find("database is locked"), std::string::npos) << notices[0];
  EXPECT_NE(notices[1].find("nothing was lost"), std::string::npos) << notices[1];
}

TEST(StoreWriter, TheEndOfARunWaitsForTheLockAndThenGivesUpWithAMessage) {
  const fs::path db = test::tempDir("store_writer_final") / "runs.sqlite";
  RunStore store = openRunStore(db);
  ExperimentConfig c;
  c.train.path = "synthetic:largest:8";
  const int64_t a = createRunFor(store, c), b = createRunFor(store, c);
  {
    StoreWriter writer(store, a);
    test::StoreProbe holder({"lock", db.string(), "3"});
    ASSERT_EQ(holder.answer(), "locked");
    writer.stepFinished(StepMetrics{1, 1, 0.5});
    writer.finished(TrainOutcome::Stopped, "stopped");  // waits out the 3 s
  }
  EXPECT_EQ(store.run(a).status, RunStatus::Stopped);
  EXPECT_EQ(store.metrics(a, "loss").size(), 1u);
  {
    StoreWriter writer(store, b);
    writer.setFinalWait(std::chrono::seconds(1));
    test::StoreProbe holder({"lock", db.string(), "0"});  // held until the probe ends
    ASSERT_EQ(holder.answer(), "locked");
    test::expectErrorContaining<StoreError>(
        [&] { writer.finished(TrainOutcome::Completed, "done"); },
        "run " + std::to_string(b) +
            ": 1 writes (the last steps and the run's status) could not "
            "be stored: another process held the database's write lock for more than 1 s");
  }
}

}  // namespace
}  // namespace mola
