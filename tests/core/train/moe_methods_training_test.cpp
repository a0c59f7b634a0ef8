// SPDX-License-Identifier: GPL-3.0-or-later
// Training with the other MoE-LoRA methods: MOELoRA on a two-task mix (per-task evaluation and
// their mean, the task gates' weights, resume through the adapter file), and MoLA with the
// Riemannian-preconditioned SGD and AdamW.
#include <gtest/gtest.h>

#include <cmath>

#include "model/llama_model.h"
#include "shared_data.h"
#include "tiny_experiment.h"
#include "train/builtin_base.h"
#include "training_recorder.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

using Recorder = test::TrainingRecorder;

ExperimentConfig twoTaskMoeLora() {
  ExperimentConfig c = test::largestTaskExperiment(6);
  c.method = "moelora";
  c.allocation = "4";
  c.rank = 8;
  c.dropout = 0.0;
  c.seed = 5;
  c.router_stats_interval = 3;
  c.train.path.clear();
  c.tasks = {
      {"largest", 0, {"synthetic:largest:32:1", "", "", 0}, {"synthetic:largest:12:9", "", "", 0}},
      {"opposite",
       1,
       {"synthetic:opposite:32:2", "", "", 0},
       {"synthetic:opposite:8:9", "", "", 0}}};
  return c;
}

TEST(MoeLoraTraining, TwoTasksAreScoredEachAndTheirMeanAndTheGatesReadTheTask) {
  const ExperimentConfig c = twoTaskMoeLora();
  const Recorder r = test::recordTraining(c, test::tempDir("moelora_two_tasks"));
  ASSERT_EQ(r.outcome, TrainOutcome::Completed) << r.message;
  EXPECT_EQ(r.started.train_examples, 64);
  // The trainable parameters the model holds, against the count from the shape alone.
  const ModelShape shape = loadModelOrBuiltin(c.model)->config().shape();
  EXPECT_EQ(r.started.trainable_parameters,
            countMoeLoraParameters(Allocation::uniform(4, shape.num_layers), shape, 8,
                                   {std::begin(kAllTargetModules), std::end(kAllTargetModules)}, 2,
                                   c.task_embedding_dim)
                .total());
  for (const StepMetrics& m : r.steps) {
    EXPECT_TRUE(std::isfinite(m.loss));
    EXPECT_EQ(m.balance_loss, 0.0);  // a dense gate has no load to balance
  }
  ASSERT_EQ(r.evals.size(), 3u);
  EXPECT_EQ(r.evals[0].benchmark, "largest");
  EXPECT_EQ(r.evals[0].n, 12);
  EXPECT_EQ(r.evals[1].benchmark, "opposite");
  EXPECT_EQ(r.evals[1].n, 8);
  EXPECT_EQ(r.evals[2].benchmark, kMeanOfTasks);
  EXPECT_NEAR(r.evals[2].accuracy, (r.evals[0].accuracy + r.evals[1].accuracy) / 2, 1e-12);
  EXPECT_EQ(r.evals[2].n, 20);

  ASSERT_EQ(r.stats.size(), 2u);  // steps 3 and 6
  const RouterStatsSnapshot& snap = r.stats.back();
  EXPECT_EQ(snap.tasks, (std::vector<std::string>{"largest", "opposite"}));
  ASSERT_EQ(snap.task_weights.size(), 4u);  // every layer of the tiny model
  for (const auto& layer : snap.task_weights) {
    ASSERT_EQ(layer.size(), 2u);
    for (const auto& weights : layer) {
      ASSERT_EQ(weights.size(), 4u);
      double sum = 0;
      for (double w : weights) sum += w;
      EXPECT_NEAR(sum, 1.0, 1e-6);
    }
  }
  // The two tasks are weighed differently (their embeddings differ from the start).
  double gap = 0;
  for (size_t i = 0; i < 4; ++i)
    gap += std::abs(snap.task_weights[0][0][i] - snap.task_weights[0][1][i]);
  EXPECT_GT(gap, 1e-3);
}

TEST(MoeLoraTraining, ResumeFollowsTheUninterruptedLossCurve) {
  ExperimentConfig c = twoTaskMoeLora();
  c.dropout = 0.1;
  c.checkpoint_interval = 3;
  for (TaskSpec& t : c.tasks) t.eval = {};
  const Recorder whole = test::recordTraining(c, test::tempDir("moelora_whole"));
  ASSERT_EQ(whole.outcome, TrainOutcome::Completed) << whole.message;
  const Recorder resumed =
      test::recordTraining(c, test::tempDir("moelora_resumed"), whole.checkpoints.front().second);
  ASSERT_EQ(resumed.outcome, TrainOutcome::Completed) << resumed.message;
  ASSERT_EQ(resumed.steps.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_NEAR(resumed.steps[i].loss, whole.steps[i + 3].loss, 1e-6) << "step " << i + 4;
}

TEST(MoeLoraTraining, TheAdapterFileKeepsTheTaskGates) {
  ExperimentConfig c = twoTaskMoeLora();
  c.max_steps = 2;
  for (TaskSpec& t : c.tasks) t.eval = {};
  const Recorder r = test::recordTraining(c, test::tempDir("moelora_file"));
  ASSERT_EQ(r.outcome, TrainOutcome::Completed) << r.message;
  const fs::path file = fs::path(r.checkpoints.back().second) / CheckpointFiles::kAdapter;
  LlamaModel model = loadModelOrBuiltin(c.model);
  model->loadAdapter(file);
  model->eval();  // no dropout
  ASSERT_TRUE(model->taskGate());
  EXPECT_EQ(model->taskGate()->tasks(), (std::vector<std::string>{"largest", "opposite"}));
  EXPECT_EQ(model->molaSpec().rank, 8);
  EXPECT_EQ(model->layer(0)->projection(TargetModule::QProj)->options.rank(), 2);  // 8 / 4
  const at::Tensor ids = at::tensor({1, 5, 9, 2}, at::kLong).view({1, 4});
  EXPECT_THROW(model->forward(ids), c10::Error);  // which task?
  model->setTasks(at::tensor({0}, at::kLong));
  const at::Tensor first = model->forward(ids);
  model->setTasks(at::tensor({1}, at::kLong));
  EXPECT_FALSE(at::allclose(first, model->forward(ids)));
  EXPECT_THROW(model->setTasks(at::tensor({2}, at::kLong)), c10::Error);
  // Saved again and loaded into a fresh model: the same outputs.
  const fs::path again = test::tempDir("moelora_file") / "again.safetensors";
  model->saveAdapter(again);
  LlamaModel other = loadModelOrBuiltin(c.model);  // the same base (builtin:tiny:3)
  other->loadAdapter(again);
  other->eval();
  other->setTasks(at::tensor({1}, at::kLong));
  model->setTasks(at::tensor({1}, at::kLong));
  EXPECT_TRUE(at::allclose(other->forward(ids), model->forward(ids), 1e-6, 1e-6));
}

TEST(RiemannianTraining, PreconditionedSgdAndAdamWLowerTheLoss) {
  for (const char* optimizer : {"sgd", "adamw"}) {
    ExperimentConfig c = test::largestTaskExperiment(10);
    c.preconditioner = "riemannian";
    c.optimizer = optimizer;
    c.momentum = 0.9;
    c.lr = std::string(optimizer) == "sgd" ? 0.05 : 3e-3;
    c.dropout = 0.0;
    const Recorder r =
        test::recordTraining(c, test::tempDir(std::string("riemannian_") + optimizer));
    ASSERT_EQ(r.outcome, TrainOutcome::Completed) << optimizer << ": " << r.message;
    ASSERT_EQ(r.steps.size(), 10u);
    for (const StepMetrics& m : r.steps) EXPECT_TRUE(std::isfinite(m.loss)) << optimizer;
    EXPECT_LT(r.steps.back().loss, r.steps.front().loss) << optimizer;
  }
}

}  // namespace
}  // namespace mola
