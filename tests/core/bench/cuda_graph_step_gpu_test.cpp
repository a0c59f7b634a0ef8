// SPDX-License-Identifier: GPL-3.0-or-later
// CUDA graphs: a captured step replays its kernels (and nothing else), and `mola bench`'s step
// replayed from one graph trains as the same steps run eagerly (the same last loss, with dropout
// off so that nothing random differs; AdamW's capturable form). Skips without CUDA.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "bench/cuda_graph_step.h"
#include "bench/train_step_bench.h"

namespace mola {
namespace {

bool skipWithoutGraphs() {
  return !at::hasCUDA() || !cudaGraphsBuilt();
}

TEST(CudaGraphStepGpu, AReplayRunsTheCapturedKernelsAgain) {
  if (skipWithoutGraphs()) GTEST_SKIP() << "no CUDA device, or no CUDA graphs in this build";
  const at::Tensor x = at::zeros({4}, at::TensorOptions(at::kCUDA));
  CudaGraphStep graph(x.device());
  const auto step = [&] { return x.add_(1.0).sum(); };
  EXPECT_EQ(graph.eager(step).item<double>(), 4.0);  // eager: runs
  graph.capture(step);                               // captured: nothing runs
  EXPECT_TRUE(graph.captured());
  EXPECT_EQ(x.sum().item<double>(), 4.0);
  at::Tensor out;
  for (int i = 0; i < 3; ++i) out = graph.replay();
  EXPECT_EQ(out.item<double>(), 16.0);  // three replays of x += 1 after the eager one
  EXPECT_TRUE(at::equal(x.cpu(), at::full({4}, 4.0)));
}

TEST(CudaGraphStepGpu, TheBenchStepReplayedTrainsAsEagerSteps) {
  if (skipWithoutGraphs()) GTEST_SKIP() << "no CUDA device, or no CUDA graphs in this build";
  TrainStepBenchOptions o;
  o.config.vocab_size = 256;
  o.config.d_model = 64;
  o.config.ffn_dim = 172;
  o.config.num_layers = 4;
  o.config.num_heads = 4;
  o.config.num_kv_heads = 2;
  o.config.head_dim = 16;
  o.config.max_seq_len = 64;
  o.seq = 32;
  o.batch = 2;
  o.warmup = 1;
  o.steps = 3;
  o.device = "cuda";
  o.dtype = "bf16";
  o.dropout = 0.0;
  o.lr = 1e-2;  // the same batch every step: the loss falls visibly
  for (const char* variant : {"lora-r8", "mola-2468", "base"}) {
    const TrainStepBenchResult eager = runTrainStepBench(variant, o);
    o.cuda_graph = true;
    const TrainStepBenchResult graphed = runTrainStepBench(variant, o);
    o.steps = 1;
    const TrainStepBenchResult early = runTrainStepBench(variant, o);
    o.steps = 3;
    o.cuda_graph = false;
    EXPECT_TRUE(graphed.cuda_graph);
    EXPECT_EQ(graphed.step_ms.size(), size_t(3));
    EXPECT_NEAR(graphed.final_loss, eager.final_loss, 2e-3 * std::abs(eager.final_loss)) << variant;
    if (std::string(variant) != "base") {  // the base variant trains nothing
      EXPECT_LT(graphed.final_loss, early.final_loss - 1e-3) << variant << ": replays train";
    }
  }
}

}  // namespace
}  // namespace mola
