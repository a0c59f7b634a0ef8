// SPDX-License-Identifier: GPL-3.0-or-later
// Activation checkpointing: the same loss, gradients (adapters, routers through the balance loss,
// or every weight) and random-generator state as the plain backward pass, with dropout active and
// under bf16 autocast.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <optional>

#include "adapters/balance_loss.h"
#include "model/llama_model.h"
#include "runtime.h"

namespace mola {
namespace {

LlamaConfig smallConfig() {
  LlamaConfig c;
  c.vocab_size = 13;
  c.d_model = 16;
  c.ffn_dim = 24;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 4;
  c.max_seq_len = 32;
  return c;
}

// MoLA 2 and 4 experts, top-2, dropout 0.3, random non-zero B. A bf16 base gets fp32 adapters,
// as the trainer's mixed precision has it.
LlamaModel molaModel(at::ScalarType dtype, bool full) {
  torch::manual_seed(5);
  LlamaModel m(smallConfig());
  m->to(dtype);
  MolaSpec spec;
  if (dtype == at::kBFloat16) spec.adapter_dtype = at::kFloat;
  spec.allocation = Allocation::parse("2,4", 2);
  spec.top_k = 2;
  spec.rank = 3;
  spec.dropout = 0.3;
  m->injectMola(spec);
  {
    torch::NoGradGuard no_grad;
    for (auto& layer : m->adapterModules())
      for (auto& [name, lin] : layer) lin->lora_B.normal_(0.0, 0.5);
  }
  if (full) m->setBaseTrainable(true);
  m->train();
  return m;
}

struct Step {
  double loss = 0;
  std::vector<at::Tensor> grads;  // of trainableParameters(), in order
  at::Tensor next_random;         // what the generator draws after the step
};

// One training step as the trainer takes it: forward and loss (under autocast when asked), the
// balance loss through the router probabilities, backward outside autocast.
Step step(LlamaModel& m, bool checkpoint, std::optional<at::ScalarType> autocast = {}) {
  m->setActivationCheckpointing(checkpoint);
  const at::Tensor ids = at::arange(2 * 9, at::kLong).remainder(13).view({2, 9});
  const at::Tensor targets = ids.roll(-1, 1);
  torch::manual_seed(21);
  at::Tensor loss;
  {
    std::optional<AutocastGuard> amp;
    if (autocast) amp.emplace(c10::DeviceType::CPU, *autocast);
    const at::Tensor logits = m(ids);
    loss = at::cross_entropy_loss(logits.reshape({-1, 13}), targets.reshape({-1}));
    loss = loss + balanceLoss(m->layerRoutings(), {}, 0.5).to(loss.scalar_type());
  }
  loss.backward();
  m->clearRoutings();
  Step s;
  s.loss = loss.item<double>();
  for (const at::Tensor& p : m->trainableParameters()) {
    s.grads.push_back(p.grad().clone());
    p.mutable_grad().reset();
  }
  s.next_random = at::rand({4}, at::kDouble);
  return s;
}

void expectSameStep(const Step& plain, const Step& checkpointed, double rtol, double atol) {
  EXPECT_NEAR(checkpointed.loss, plain.loss, atol);
  ASSERT_EQ(checkpointed.grads.size(), plain.grads.size());
  for (size_t i = 0; i < plain.grads.size(); ++i)
    EXPECT_TRUE(at::allclose(checkpointed.grads[i], plain.grads[i], rtol, atol))
        << "gradient " << i << " differs by "
        << (checkpointed.grads[i] - plain.grads[i]).abs().max().item<double>();
  EXPECT_TRUE(at::equal(checkpointed.next_random, plain.next_random))
      << "the generator continues where the plain step leaves it";
}

TEST(ActivationCheckpointing, SameLossGradientsAndRandomStateAsThePlainStep) {
  for (bool full : {false, true}) {
    SCOPED_TRACE(full ? "full fine-tuning" : "MoLA adapters");
    LlamaModel m = molaModel(at::kDouble, full);
    const Step plain = step(m, false);
    const Step checkpointed = step(m, true);
    expectSameStep(plain, checkpointed, 1e-10, 1e-12);
    // The balance loss reaches the routers through the checkpoint's outputs.
    bool router_grad = false;
    const auto params = m->named_parameters();
    size_t i = 0;
    for (const auto& p : params)
      if (p.value().requires_grad()) {
        if (p.key().find("router") != std::string::npos)
          router_grad = router_grad || checkpointed.grads[i].abs().sum().item<double>() > 0;
        ++i;
      }
    EXPECT_TRUE(router_grad);
    // Dropout is active, so a step with other masks differs: equality above is not vacuous.
    torch::manual_seed(99);
    m->setActivationCheckpointing(false);
    const at::Tensor ids = at::arange(2 * 9, at::kLong).remainder(13).view({2, 9});
    torch::manual_seed(21);
    const at::Tensor a = m(ids);
    torch::manual_seed(22);
    const at::Tensor b = m(ids);
    m->clearRoutings();
    EXPECT_FALSE(at::allclose(a, b));
  }
}

// MOELoRA: the task gates' weights come from outside the recomputed layers; their gradient (to
// the task embedding and every layer's gate) must come back through the checkpoint.
TEST(ActivationCheckpointing, MoeLoraTaskGatesGetTheirGradients) {
  torch::manual_seed(6);
  LlamaModel m(smallConfig());
  m->to(at::kDouble);
  MolaSpec spec;
  spec.allocation = Allocation::parse("2,4", 2);
  spec.rank = 4;
  spec.dropout = 0.3;
  spec.task_gated = true;
  spec.tasks = {"largest", "opposite", "category"};
  spec.task_dim = 5;
  m->injectMola(spec);
  {
    torch::NoGradGuard no_grad;
    for (auto& layer : m->adapterModules())
      for (auto& [name, lin] : layer) lin->lora_B.normal_(0.0, 0.5);
  }
  m->train();
  m->setTasks(at::tensor({int64_t(2), int64_t(0)}, at::kLong));
  const Step plain = step(m, false);
  const Step checkpointed = step(m, true);
  expectSameStep(plain, checkpointed, 1e-10, 1e-12);
  size_t i = 0, gates = 0;
  for (const auto& p : m->named_parameters())
    if (p.value().requires_grad()) {
      if (p.key().find("task") != std::string::npos) {
        ++gates;
        EXPECT_GT(checkpointed.grads[i].abs().sum().item<double>(), 0) << p.key();
      }
      ++i;
    }
  EXPECT_EQ(gates, 3u) << "the task embedding and two layers' gates";
}

TEST(ActivationCheckpointing, RecomputesUnderTheForwardsAutocast) {
  // An fp32 model under bf16 autocast: its matmuls run in bf16 only while autocast is on.
  LlamaModel m = molaModel(at::kFloat, false);
  const Step plain = step(m, false, at::kBFloat16);
  const Step checkpointed = step(m, true, at::kBFloat16);
  expectSameStep(plain, checkpointed, 1e-5, 1e-7);
  // A recomputation without autocast would be visibly different: the tolerance above can tell.
  const Step fp32 = step(m, false);
  double largest = 0;
  for (size_t i = 0; i < fp32.grads.size(); ++i)
    largest = std::max(largest, (fp32.grads[i] - plain.grads[i]).abs().max().item<double>());
  EXPECT_GT(largest, 1e-4);
  EXPECT_NEAR(plain.loss, fp32.loss, 2e-2 * std::abs(fp32.loss)) << "bf16 matmuls, same model";
}

TEST(ActivationCheckpointing, MixedPrecisionAsTheTrainerRunsIt) {
  // A bf16 base with fp32 adapters (the fused path) under bf16 autocast.
  LlamaModel m = molaModel(at::kBFloat16, false);
  const Step plain = step(m, false, at::kBFloat16);
  const Step checkpointed = step(m, true, at::kBFloat16);
  expectSameStep(plain, checkpointed, 1e-5, 1e-7);
}

TEST(ActivationCheckpointing, InferenceIgnoresIt) {
  LlamaModel m = molaModel(at::kDouble, false);
  m->eval();
  const at::Tensor ids = at::arange(7, at::kLong).view({1, 7});
  const at::Tensor plain = m(ids);
  m->setActivationCheckpointing(true);
  EXPECT_TRUE(at::equal(m(ids), plain));
  torch::NoGradGuard no_grad;
  m->train();
  torch::manual_seed(3);
  const at::Tensor a = m(ids);
  m->setActivationCheckpointing(false);
  torch::manual_seed(3);
  EXPECT_TRUE(at::equal(m(ids), a)) << "no gradients: no checkpoint node";
}

}  // namespace
}  // namespace mola
