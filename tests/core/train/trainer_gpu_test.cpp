// SPDX-License-Identifier: GPL-3.0-or-later
// Training on CUDA resumed from a checkpoint continues bit for bit: the same losses, gradient norms
// and final adapter as the uninterrupted run, with dropout (the CUDA generator is restored), in
// fp32 and with a bf16 base under autocast. Skips without CUDA.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "shared_data.h"
#include "tiny_experiment.h"
#include "train/checkpoint_files.h"
#include "train/trainer.h"
#include "training_recorder.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

using Recorder = test::TrainingRecorder;

Recorder train(const ExperimentConfig& c, const fs::path& dir, const fs::path& resume = {}) {
  return test::recordTraining(c, dir, resume);
}

std::string fileBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(TrainerGpu, ResumeOnCudaContinuesBitForBit) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device in this build or machine";
  // cuBLAS picks the same kernels run to run only with a fixed workspace; ops with atomics take
  // their deterministic versions (warn_only: those without one still run).
  setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 1);
  struct Deterministic {
    Deterministic() { at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true); }
    ~Deterministic() { at::globalContext().setDeterministicAlgorithms(false, false); }
  } deterministic;
  for (const char* dtype : {"fp32", "bf16"}) {
    SCOPED_TRACE(dtype);
    ExperimentConfig c = test::largestTaskExperiment(8);
    c.device = "cuda";
    c.dtype = dtype;
    c.dropout = 0.1;  // the CUDA generator's state must come back
    c.router_stats_interval = 2;
    c.checkpoint_interval = 4;
    c.seed = 7;
    const std::string name = std::string("trainer_gpu_") + dtype;
    const Recorder whole = train(c, test::tempDir(name + "_whole"));
    ASSERT_EQ(whole.outcome, TrainOutcome::Completed) << whole.message;
    ASSERT_EQ(whole.checkpoints.front().first, 4);
    const Recorder resumed =
        train(c, test::tempDir(name + "_resumed"), whole.checkpoints.front().second);
    ASSERT_EQ(resumed.outcome, TrainOutcome::Completed) << resumed.message;
    ASSERT_EQ(resumed.steps.size(), 4u);
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(resumed.steps[i].step, whole.steps[i + 4].step);
      EXPECT_EQ(resumed.steps[i].loss, whole.steps[i + 4].loss) << "step " << i + 5;
      EXPECT_EQ(resumed.steps[i].grad_norm, whole.steps[i + 4].grad_norm) << "step " << i + 5;
    }
    const fs::path a = fs::path(whole.checkpoints.back().second) / CheckpointFiles::kAdapter;
    const fs::path b = fs::path(resumed.checkpoints.back().second) / CheckpointFiles::kAdapter;
    ASSERT_EQ(whole.checkpoints.back().first, 8);
    ASSERT_EQ(resumed.checkpoints.back().first, 8);
    EXPECT_TRUE(fileBytes(a) == fileBytes(b)) << "the adapters after step 8 differ";
    EXPECT_FALSE(fileBytes(a).empty());
  }
}

}  // namespace
}  // namespace mola
