// SPDX-License-Identifier: GPL-3.0-or-later
// LlamaModel with MoLA on CUDA against the CPU: a training step's loss and gradients (causal and
// padded attention), every position of a padded forward in fp32/bf16/fp16 (the fused attention
// kernels), batched bf16 decoding with left padding, the RoPE tables on the device, and activation
// checkpointing under bf16 autocast with dropout, which rewinds the CUDA generator, and the chunked
// head and cross-entropy under bf16 autocast. Skips without CUDA.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>
#include <torch/utils.h>

#include <optional>

#include "adapters/balance_loss.h"
#include "batched_decode.h"
#include "model/linear_cross_entropy.h"
#include "model/llama_model.h"
#include "runtime.h"

namespace mola {
namespace {

LlamaConfig smallConfig() {
  LlamaConfig c;
  c.vocab_size = 97;
  c.d_model = 64;
  c.ffn_dim = 160;
  c.num_layers = 4;
  c.num_heads = 8;
  c.num_kv_heads = 4;
  c.head_dim = 8;
  c.max_seq_len = 64;
  return c;
}

// The random model alone (no adapters: a routing choice that flips in rounding would swamp the
// attention's rounding) in `dtype`, on the CPU, in inference mode.
LlamaModel plainModel(at::ScalarType dtype) {
  torch::manual_seed(11);
  LlamaModel m(smallConfig());
  m->to(dtype);
  m->eval();
  return m;
}

// MoLA 2-4-6-8 on a random model with a `base`-dtype frozen base and fp32 adapters, as the
// trainer's mixed precision has it.
LlamaModel molaModel(double dropout, at::ScalarType base = at::kFloat) {
  torch::manual_seed(11);
  LlamaModel m(smallConfig());
  m->to(base);
  MolaSpec spec;
  spec.allocation = Allocation::parse("2-4-6-8", 4);
  spec.top_k = 2;
  spec.dropout = dropout;
  spec.adapter_dtype = at::kFloat;
  m->injectMola(spec);
  {
    torch::NoGradGuard no_grad;
    for (auto& layer : m->adapterModules())
      for (auto& [name, lin] : layer) lin->lora_B.normal_(0.0, 0.1);
  }
  m->train();
  return m;
}

struct Step {
  double loss = 0;
  std::vector<at::Tensor> grads;  // on the CPU, fp32
};

Step step(LlamaModel& m, const at::Tensor& ids, const at::Tensor& key_mask,
          std::optional<at::ScalarType> autocast = {}) {
  const c10::Device device = m->embed.device();
  const at::Tensor x = ids.to(device);
  torch::manual_seed(5);
  at::Tensor loss;
  {
    std::optional<AutocastGuard> amp;
    if (autocast) amp.emplace(device.type(), *autocast);
    const at::Tensor logits = m->forward(x, key_mask.defined() ? key_mask.to(device) : key_mask);
    loss =
        at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), x.roll(-1, 1).reshape({-1}));
    loss = loss + balanceLoss(m->layerRoutings(), {}, 0.01).to(loss.scalar_type());
  }
  loss.backward();
  m->clearRoutings();
  Step s;
  s.loss = loss.item<double>();
  for (const at::Tensor& p : m->trainableParameters()) {
    s.grads.push_back(p.grad().to(at::kCPU, at::kFloat));
    p.mutable_grad().reset();
  }
  return s;
}

TEST(LlamaModelGpu, TrainingStepMatchesTheCpu) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device in this build or machine";
  const at::Tensor ids = at::randint(97, {2, 24}, at::kLong);
  at::Tensor key_mask = at::ones({2, 24}, at::kBool);
  key_mask[1].narrow(0, 0, 5).fill_(false);  // left padding in the second row
  for (const at::Tensor& mask : {at::Tensor(), key_mask}) {
    SCOPED_TRACE(mask.defined() ? "padded" : "causal");
    LlamaModel cpu = molaModel(0.0);
    LlamaModel gpu = molaModel(0.0);
    gpu->to(at::kCUDA);
    const Step want = step(cpu, ids, mask);
    const Step got = step(gpu, ids, mask);
    EXPECT_NEAR(got.loss, want.loss, 1e-4 * std::abs(want.loss));
    ASSERT_EQ(got.grads.size(), want.grads.size());
    for (size_t i = 0; i < want.grads.size(); ++i)
      EXPECT_TRUE(at::allclose(got.grads[i], want.grads[i], 1e-3, 1e-5)) << "gradient " << i;
  }
}

TEST(LlamaModelGpu, PaddedForwardMatchesTheCpuAtEveryPosition) {
  // Left padding (queries with no real key before them) and a hole, every position compared: the
  // fused CUDA kernels and the CPU once disagreed exactly on the padded queries. The reference is
  // the same weights, rounded to the dtype, run in fp64 on the CPU; causal rows without a mask
  // take the flash kernel in bf16/fp16.
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device in this build or machine";
  torch::manual_seed(17);
  const at::Tensor ids = at::randint(97, {3, 20}, at::kLong);
  at::Tensor key_mask = at::ones({3, 20}, at::kBool);
  key_mask[0].narrow(0, 0, 7).fill_(false);
  key_mask[1][4] = false;
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16, at::kHalf})
    for (const at::Tensor& mask : {at::Tensor(), key_mask}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + (mask.defined() ? " padded" : " causal"));
      LlamaModel gpu = plainModel(dtype);
      LlamaModel cpu = plainModel(dtype);
      cpu->to(at::kDouble);
      gpu->to(at::kCUDA);
      torch::NoGradGuard no_grad;
      const at::Tensor want = cpu->forward(ids, mask.defined() ? mask : at::Tensor());
      const at::Tensor got =
          gpu->forward(ids.to(at::kCUDA), mask.defined() ? mask.to(at::kCUDA) : at::Tensor())
              .to(at::kCPU, at::kDouble);
      ASSERT_TRUE(got.isfinite().all().item<bool>());
      const double tol = dtype == at::kFloat ? 1e-4 : dtype == at::kHalf ? 1e-2 : 4e-2;
      const double scale = want.abs().max().item<double>();
      for (int64_t r = 0; r < 3; ++r)
        EXPECT_LT((got[r] - want[r]).abs().max().item<double>(), tol * scale) << "row " << r;
    }
}

TEST(LlamaModelGpu, Bf16LeftPaddedBatchDecodesLikeOneRecordAtATime) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device in this build or machine";
  LlamaModel m = plainModel(at::kBFloat16);
  m->to(at::kCUDA);
  const test::BatchedDecodeComparison c = test::compareBatchedDecode(
      m, {{5, 17, 3, 40}, {2, 8, 4, 66, 1, 7, 90, 12, 30}, {9}, {61, 62}}, 8, 0.06);
  EXPECT_TRUE(c.finite);
  EXPECT_LT(c.worst_diff, 0.04);
  EXPECT_EQ(c.padded, 5 + 8 + 7);
  EXPECT_LT(c.padded_diff, 0.04);
  EXPECT_GT(c.decided, 8);  // of 32 choices
  EXPECT_EQ(c.agreed, c.decided);
}

TEST(LlamaModelGpu, RopeTablesMoveWithTheModel) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device in this build or machine";
  LlamaModel m = molaModel(0.0, at::kBFloat16);
  m->to(at::kCUDA);
  for (const auto& b : m->named_buffers()) {
    EXPECT_TRUE(b.value().is_cuda()) << b.key();
    EXPECT_EQ(b.value().scalar_type(), at::kFloat) << b.key();
  }
  EXPECT_EQ(m->named_buffers().size(), 2u);
  m->to(at::kCPU);
  for (const auto& b : m->named_buffers()) EXPECT_TRUE(b.value().is_cpu()) << b.key();
}

TEST(LlamaModelGpu, CheckpointingReplaysDropoutUnderBf16Autocast) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device in this build or machine";
  const at::Tensor ids = at::randint(97, {2, 24}, at::kLong);
  LlamaModel m = molaModel(0.2, at::kBFloat16);
  m->to(at::kCUDA);
  const Step plain = step(m, ids, {}, at::kBFloat16);
  m->setActivationCheckpointing(true);
  const Step checkpointed = step(m, ids, {}, at::kBFloat16);
  EXPECT_NEAR(checkpointed.loss, plain.loss, 1e-6 * std::abs(plain.loss));
  for (size_t i = 0; i < plain.grads.size(); ++i)
    EXPECT_TRUE(at::allclose(checkpointed.grads[i], plain.grads[i], 1e-4, 1e-6))
        << "gradient " << i;
}

// The chunked head and cross-entropy on CUDA under bf16 autocast against at::linear and
// cross_entropy over the whole logits there: the loss, and gradients within bf16's rounding of
// sums that cancel, compared with their scale.
TEST(LinearCrossEntropyGpu, MatchesTheWholeLogitsUnderBf16Autocast) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device in this build or machine";
  torch::manual_seed(4);
  const auto cuda = at::TensorOptions(at::kCUDA);
  const at::Tensor h = at::randn({300, 64}, cuda).requires_grad_();
  const at::Tensor w = at::randn({1000, 64}, cuda).to(at::kBFloat16);  // a frozen bf16 head
  const at::Tensor targets = at::randint(1000, {300}, cuda.dtype(at::kLong));
  at::Tensor want, got, want_grad, got_grad;
  {
    const AutocastGuard amp(c10::kCUDA, at::kBFloat16);
    want = at::cross_entropy_loss(at::linear(h, w).to(at::kFloat), targets, {}, at::Reduction::Sum);
    want_grad = torch::autograd::grad({want}, {h})[0];
    got = linearCrossEntropySum(h, w, targets, 128);  // chunks of 128, 128 and 44 rows
    got_grad = torch::autograd::grad({got}, {h})[0];
  }
  EXPECT_NEAR(got.item<double>(), want.item<double>(), 1e-5 * want.item<double>());
  EXPECT_EQ(got_grad.scalar_type(), at::kFloat);
  EXPECT_LT((got_grad - want_grad).abs().max().item<double>(),
            1e-2 * want_grad.abs().max().item<double>());
}

}  // namespace
}  // namespace mola
