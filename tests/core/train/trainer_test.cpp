// SPDX-License-Identifier: GPL-3.0-or-later
// Trainer: schedule values by hand, loss decrease, frozen base, accumulation equivalence,
// bit-exact resume, stop with checkpoint, NaN handling, bf16 mixed precision (autocast).
#include "train/trainer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>
#include <torch/utils.h>

#include <cmath>
#include <memory>

#include "bench/op_counter.h"
#include "model/checkpoint_loader.h"
#include "model/llama_model.h"
#include "model/safetensors.h"
#include "runtime.h"
#include "shared_data.h"
#include "tiny_experiment.h"
#include "train/builtin_base.h"
#include "training_recorder.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

using Recorder = test::TrainingRecorder;

ExperimentConfig tinyExperiment() {
  ExperimentConfig c = test::largestTaskExperiment(6);
  c.dropout = 0.0;
  c.router_stats_interval = 2;
  c.seed = 7;
  return c;
}

Recorder train(const ExperimentConfig& c, const fs::path& dir, const fs::path& resume = {}) {
  return test::recordTraining(c, dir, resume);
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

TEST(TargetLoss, SumsTheCrossEntropyOfTheTargetedPositionsOnly) {
  torch::manual_seed(3);
  LlamaConfig config = builtinTinyConfig();
  config.num_layers = 2;
  LlamaModel model(config);
  model->to(at::kDouble);
  model->embed.set_requires_grad(true);
  const int64_t v = config.vocab_size;
  const at::Tensor ids = at::randint(v, {2, 7}, at::kLong);
  at::Tensor labels = ids.clone();
  labels[0].narrow(0, 0, 4).fill_(-100);  // a prompt, then the answer
  labels[1].narrow(0, 2, 3).fill_(-100);  // targets on both sides of a gap

  // By hand, position by position, from the full logits.
  const at::Tensor logits = model->forward(ids);
  at::Tensor expected = at::zeros({}, at::kDouble);
  int targets = 0;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i + 1 < 7; ++i) {
      const int64_t y = labels[b][i + 1].item<int64_t>();
      if (y == -100) continue;
      expected = expected - at::log_softmax(logits[b][i], 0)[y];
      ++targets;
    }
  ASSERT_EQ(targets, 6) << "row 0: labels 4, 5, 6; row 1: labels 1, 5, 6";
  const at::Tensor expected_grad = torch::autograd::grad({expected}, {model->embed})[0];

  const at::Tensor loss = targetLossSum(model, ids, labels);
  EXPECT_NEAR(loss.item<double>(), expected.item<double>(), 1e-10);
  const at::Tensor grad = torch::autograd::grad({loss}, {model->embed})[0];
  EXPECT_TRUE(at::allclose(grad, expected_grad, 1e-9, 1e-12));

  // No target at all: zero loss, and the backward still runs.
  const at::Tensor none = targetLossSum(model, ids, at::full_like(labels, -100));
  EXPECT_EQ(none.item<double>(), 0.0);
  none.backward();
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

// Nothing in a training step makes the host wait for the device but the step's one read of its
// losses and gradient norm (a copy): no item(), nonzero or other sync, with gradient accumulation,
// clipping, the balance loss, the router statistics and the Riemannian preconditioner. The CPU
// stands in for a GPU: the counter names the operators that would wait there.
TEST(Trainer, AStepMakesTheHostWaitOnlyForItsOneRead) {
  for (const char* preconditioner : {"none", "riemannian"}) {
    SCOPED_TRACE(preconditioner);
    ExperimentConfig c = tinyExperiment();
    c.max_steps = 3;
    c.batch_size = 4;
    c.grad_accumulation = 2;
    c.grad_clip = 0.5;
    c.preconditioner = preconditioner;
    Trainer trainer(c, test::tempDir("trainer_syncs"));
    Recorder r;
    std::unique_ptr<OpCounter> counter;
    OpCounts second;  // from the end of step 1 to the end of step 2
    r.on_step = [&](const StepMetrics& m) {
      if (m.step == 2) {
        second = counter->counts();
        counter.reset();
      }
      if (m.step == 1) counter = std::make_unique<OpCounter>();
    };
    trainer.addObserver(&r);
    trainer.run();
    ASSERT_EQ(r.outcome, TrainOutcome::Completed) << r.message;
    EXPECT_GT(second.kernels, 100);
    std::string waits;
    for (const auto& [name, n] : second.sync_ops) waits += name + " x" + std::to_string(n) + " ";
    EXPECT_EQ(second.syncs, 0) << waits;
    for (const StepMetrics& m : r.steps) {
      EXPECT_TRUE(std::isfinite(m.grad_norm) && m.grad_norm > 0) << m.grad_norm;
      EXPECT_GT(m.balance_loss, 0.0);
      EXPECT_GT(m.peak_mem_mb, 10.0);  // the process's peak resident set in the step (CPU)
    }
  }
}

// A run of several processes needs its ranks (mola train starts them): a trainer alone refuses it
// rather than train one process under a record that says two.
TEST(Trainer, ARunOfSeveralProcessesNeedsItsRanks) {
  ExperimentConfig c = tinyExperiment();
  c.processes = 2;
  const Recorder r = train(c, test::tempDir("trainer_processes"));
  EXPECT_EQ(r.outcome, TrainOutcome::Failed);
  EXPECT_NE(r.message.find("training.processes is 2"), std::string::npos) << r.message;
  EXPECT_TRUE(r.steps.empty());
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

TEST(Trainer, ActivationCheckpointingFollowsTheSameLossCurve) {
  ExperimentConfig plain = tinyExperiment();
  plain.dropout = 0.1;  // the recomputation must replay the dropout masks
  plain.max_steps = 4;
  ExperimentConfig checkpointed = plain;
  checkpointed.activation_checkpointing = true;
  const Recorder a = train(plain, test::tempDir("trainer_ckpt_off"));
  const Recorder b = train(checkpointed, test::tempDir("trainer_ckpt_on"));
  ASSERT_EQ(a.outcome, TrainOutcome::Completed) << a.message;
  ASSERT_EQ(b.outcome, TrainOutcome::Completed) << b.message;
  ASSERT_EQ(b.steps.size(), a.steps.size());
  for (size_t i = 0; i < a.steps.size(); ++i) {
    EXPECT_NEAR(b.steps[i].loss, a.steps[i].loss, 1e-5 * std::abs(a.steps[i].loss)) << i;
    EXPECT_NEAR(b.steps[i].balance_loss, a.steps[i].balance_loss, 1e-6) << i;
    EXPECT_NEAR(b.steps[i].grad_norm, a.steps[i].grad_norm, 1e-4 * a.steps[i].grad_norm) << i;
  }
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

TEST(AutocastGuard, SwitchesMatmulsToBf16AndRestoresNestedState) {
  const at::Tensor a = at::randn({4, 8}), b = at::randn({8, 3});
  ASSERT_FALSE(autocastEnabled(c10::DeviceType::CPU));
  const c10::ScalarType before = autocastDtype(c10::DeviceType::CPU);
  // The product of the bf16-rounded inputs, computed independently in fp32.
  const at::Tensor want =
      at::mm(a.to(at::kBFloat16).to(at::kFloat), b.to(at::kBFloat16).to(at::kFloat));
  {
    AutocastGuard amp(c10::DeviceType::CPU, at::kBFloat16);
    EXPECT_TRUE(autocastEnabled(c10::DeviceType::CPU));
    EXPECT_EQ(autocastDtype(c10::DeviceType::CPU), at::kBFloat16);
    const at::Tensor low = at::mm(a, b);
    EXPECT_EQ(low.scalar_type(), at::kBFloat16);
    EXPECT_TRUE(at::allclose(low.to(at::kFloat), want, 2e-2, 2e-2));
    {
      AutocastGuard off(c10::DeviceType::CPU, at::kBFloat16, /*enabled=*/false);
      EXPECT_FALSE(autocastEnabled(c10::DeviceType::CPU));
      EXPECT_EQ(at::mm(a, b).scalar_type(), at::kFloat);
    }
    EXPECT_TRUE(autocastEnabled(c10::DeviceType::CPU));
    EXPECT_EQ(at::mm(a, b).scalar_type(), at::kBFloat16);
  }
  EXPECT_FALSE(autocastEnabled(c10::DeviceType::CPU));
  EXPECT_EQ(autocastDtype(c10::DeviceType::CPU), before);
  EXPECT_EQ(at::mm(a, b).scalar_type(), at::kFloat);
  EXPECT_THROW(AutocastGuard(c10::DeviceType::CPU, at::kFloat), std::invalid_argument);
}

ExperimentConfig bf16Experiment() {
  ExperimentConfig c = tinyExperiment();
  c.dtype = "bf16";
  return c;
}

TEST(MixedPrecision, Bf16BaseKeepsFp32AdapterMasterWeights) {
  const ExperimentConfig c = bf16Experiment();
  LlamaModel model = loadModelOrBuiltin(c.model, dtypeFromName(c.dtype));
  EXPECT_EQ(prepareForTraining(model, c), (std::vector<int>{2, 4, 6, 8}));
  for (int j = 0; j < 4; ++j)
    for (TargetModule m : kAllTargetModules) {
      const MolaLinear& p = model->layer(j)->projection(m);
      EXPECT_EQ(p->weight.scalar_type(), at::kBFloat16) << j;
      EXPECT_FALSE(p->weight.requires_grad());
      EXPECT_EQ(p->lora_A.scalar_type(), at::kFloat) << j;
      EXPECT_EQ(p->lora_B.scalar_type(), at::kFloat) << j;
      ASSERT_TRUE(p->hasRouter());
      EXPECT_EQ(p->router.scalar_type(), at::kFloat) << j;
    }
  EXPECT_EQ(model->embed.scalar_type(), at::kBFloat16);
  const std::vector<torch::Tensor> params = model->trainableParameters();
  ASSERT_FALSE(params.empty());
  for (const auto& p : params) EXPECT_EQ(p.scalar_type(), at::kFloat);

  // Full fine-tuning keeps every weight in the loaded dtype (documented choice).
  ExperimentConfig full = c;
  full.method = "full";
  LlamaModel whole = loadModelOrBuiltin(full.model, at::kBFloat16);
  EXPECT_TRUE(prepareForTraining(whole, full).empty());
  for (const auto& p : whole->trainableParameters()) EXPECT_EQ(p.scalar_type(), at::kBFloat16);
}

// The bf16 model under autocast against the fp32 model with the same weights (the reference),
// through the fused path and the composite fallback; gradients land in the fp32 adapters.
TEST(MixedPrecision, AutocastForwardMatchesFp32AndGradientsAreFp32) {
  ExperimentConfig c = bf16Experiment();
  c.dropout = 0.0;
  torch::manual_seed(11);
  LlamaModel low = loadModelOrBuiltin(c.model, at::kBFloat16);
  prepareForTraining(low, c);
  torch::manual_seed(11);
  LlamaModel ref = loadModelOrBuiltin(c.model, at::kFloat);
  prepareForTraining(ref, c);
  {
    torch::NoGradGuard no_grad;
    auto rp = ref->named_parameters();
    for (auto& p : low->named_parameters()) {
      if (p.key().find("lora_B") != std::string::npos) p.value().normal_(0.0, 0.05);
      // The reference holds exactly the bf16 model's values, in fp32.
      rp[p.key()].copy_(p.value());
    }
  }
  const at::Tensor ids = at::randint(0, low->config().vocab_size, {2, 12}, at::kLong);
  const at::Tensor want = ref->forward(ids);
  for (bool fuse : {true, false}) {
    low->setFuseSharedInputs(fuse);
    at::Tensor got;
    {
      AutocastGuard amp(c10::DeviceType::CPU, at::kBFloat16);
      got = low->forward(ids);
    }
    ASSERT_EQ(got.scalar_type(), at::kFloat);
    // bf16 keeps about 3 significant digits through 4 layers: a few per cent on average.
    const double err = (got - want).abs().mean().item<double>();
    const double scale = want.abs().mean().item<double>();
    EXPECT_LT(err, 1e-1 * scale) << "fuse " << fuse << ": mean error " << err << " of " << scale;
    EXPECT_GE(got.argmax(-1).eq(want.argmax(-1)).sum().item<int64_t>(), 20)
        << "fuse " << fuse << ": the top token differs in most of the 24 positions";
    got.pow(2).mean().backward();
    for (const auto& p : low->trainableParameters()) {
      ASSERT_TRUE(p.grad().defined());
      EXPECT_EQ(p.grad().scalar_type(), at::kFloat);
    }
    const at::Tensor& g = low->layer(3)->projection(TargetModule::QProj)->lora_A.grad();
    EXPECT_TRUE(at::isfinite(g).all().item<bool>());
    EXPECT_GT(g.abs().sum().item<double>(), 0.0) << "fuse " << fuse;
    for (auto& p : low->trainableParameters()) p.mutable_grad() = at::Tensor();
    low->clearRoutings();
  }
}

TEST(MixedPrecision, Bf16TrainingTracksTheFp32Run) {
  ExperimentConfig c = tinyExperiment();
  c.max_steps = 5;
  const Recorder fp32 = train(c, test::tempDir("trainer_fp32"));
  c.dtype = "bf16";
  const Recorder bf16 = train(c, test::tempDir("trainer_bf16"));
  ASSERT_EQ(fp32.outcome, TrainOutcome::Completed) << fp32.message;
  ASSERT_EQ(bf16.outcome, TrainOutcome::Completed) << bf16.message;
  ASSERT_EQ(bf16.steps.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_TRUE(std::isfinite(bf16.steps[i].loss)) << "step " << i + 1;
    EXPECT_TRUE(std::isfinite(bf16.steps[i].grad_norm)) << "step " << i + 1;
  }
  // Step 1: the same weights (B = 0), only the precision differs.
  EXPECT_LT(std::abs(bf16.steps[0].loss - fp32.steps[0].loss) / fp32.steps[0].loss, 5e-2)
      << bf16.steps[0].loss << " vs " << fp32.steps[0].loss;
  EXPECT_LT(std::abs(bf16.steps[4].loss - fp32.steps[4].loss) / fp32.steps[4].loss, 1e-1)
      << bf16.steps[4].loss << " vs " << fp32.steps[4].loss;
  // The adapter is saved as F32 and the B weights learned something.
  const fs::path file = fs::path(bf16.checkpoints.back().second) / CheckpointFiles::kAdapter;
  const SafetensorsFile saved = SafetensorsFile::open(file);
  for (const auto& e : saved.entries()) EXPECT_EQ(e.dtype, "F32");
  LlamaModel trained = loadModel(c.model, at::kBFloat16);
  trained->loadAdapter(file);
  EXPECT_GT(trained->layer(3)->projection(TargetModule::QProj)->lora_B.abs().sum().item<double>(),
            0.0);
}

TEST(MixedPrecision, Bf16ResumeFollowsTheUninterruptedLossCurve) {
  ExperimentConfig c = bf16Experiment();
  c.dropout = 0.1;
  c.max_steps = 6;
  c.checkpoint_interval = 3;
  const Recorder whole = train(c, test::tempDir("trainer_bf16_whole"));
  ASSERT_EQ(whole.outcome, TrainOutcome::Completed) << whole.message;
  ASSERT_EQ(whole.checkpoints.front().first, 3);
  const Recorder resumed =
      train(c, test::tempDir("trainer_bf16_resumed"), whole.checkpoints.front().second);
  ASSERT_EQ(resumed.outcome, TrainOutcome::Completed) << resumed.message;
  EXPECT_EQ(resumed.started.first_step, 3);
  ASSERT_EQ(resumed.steps.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_NEAR(resumed.steps[i].loss, whole.steps[i + 3].loss, 1e-6) << "step " << i + 4;
}

TEST(MixedPrecision, Fp16OnTheCpuIsRefusedWithTheReason) {
  ExperimentConfig c = tinyExperiment();
  c.dtype = "fp16";
  const Recorder r = train(c, test::tempDir("trainer_fp16_cpu"));
  EXPECT_EQ(r.outcome, TrainOutcome::Failed);
  EXPECT_NE(r.message.find("fp16 needs a CUDA device"), std::string::npos) << r.message;
  EXPECT_TRUE(r.steps.empty());
}

}  // namespace
}  // namespace mola
