// SPDX-License-Identifier: GPL-3.0-or-later
// Run bookkeeping shared by the CLI and the GUI: model depth without loading, the stored
// allocation, run folders, resume points, and StoreWriter's records in a real database.
#include "store/run_launch.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "expect_error.h"
#include "shared_data.h"
#include "store/store_writer.h"

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

TEST(RunLaunch, RunFoldersAndResumePoints) {
  const fs::path dir = test::tempDir("run_launch_resume");
  RunStore store = openRunStore(dir / "nested/runs.sqlite");
  ExperimentConfig c;
  c.name = "resumable";
  c.train.path = "synthetic:largest:8";
  const int64_t id = createRunFor(store, c);
  EXPECT_EQ(runDirectory(store, id), dir / "nested/runs" / std::to_string(id));
  EXPECT_EQ(store.run(id).allocation, "2,4,6,8");  // inverted-triangle on the 4-layer tiny model
  EXPECT_EQ(parseExperiment(store.run(id).config_json), c);

  test::expectErrorContaining<std::runtime_error>([&] { prepareResume(store, id); },
                                                  "still running");
  store.setStatus(id, RunStatus::Stopped, "stopped");
  test::expectErrorContaining<std::runtime_error>([&] { prepareResume(store, id); },
                                                  "no checkpoint");
  EXPECT_EQ(latestCheckpoint(store, id), std::nullopt);

  std::vector<MetricPoint> loss;
  for (int64_t s = 1; s <= 12; ++s) loss.push_back({s, "loss", 1.0 / double(s)});
  store.addMetrics(id, loss);
  store.addCheckpoint(id, 10, (runDirectory(store, id) / "checkpoints/step-10").string());
  store.addCheckpoint(id, 5, (runDirectory(store, id) / "checkpoints/step-5").string());
  ASSERT_TRUE(latestCheckpoint(store, id).has_value());
  EXPECT_EQ(latestCheckpoint(store, id)->step, 10);

  const ResumePlan plan = prepareResume(store, id);
  EXPECT_EQ(plan.checkpoint.step, 10);
  EXPECT_EQ(plan.config, c);
  EXPECT_EQ(store.run(id).status, RunStatus::Running);
  EXPECT_EQ(store.metrics(id, "loss").size(), 10u) << "steps 11 and 12 are recomputed";

  store.setStatus(id, RunStatus::Completed);
  test::expectErrorContaining<std::runtime_error>([&] { prepareResume(store, id); },
                                                  "run " + std::to_string(id) + " is already");
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
    writer.finished(TrainOutcome::Stopped, "stopped at step 3");
  }
  // Six metrics a step, every one stored before the checkpoint that follows them.
  EXPECT_EQ(store.metrics(id).size(), 18u);
  const auto loss = store.metrics(id, "loss");
  ASSERT_EQ(loss.size(), 3u);
  EXPECT_DOUBLE_EQ(loss[1].value, 1.0);
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

}  // namespace
}  // namespace mola
