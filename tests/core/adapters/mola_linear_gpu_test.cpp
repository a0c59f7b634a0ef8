// SPDX-License-Identifier: GPL-3.0-or-later
// MolaLinear on CUDA agrees with the CPU (fp32, and bf16 within its precision); skips without CUDA.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include "adapters/mola_linear.h"

namespace mola {
namespace {

TEST(MolaLinearGpu, CudaMatchesCpu) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device in this build or machine";
  torch::manual_seed(0);
  MolaLinear cpu(MolaLinearOptions(64, 48).num_experts(6).top_k(2).rank(8).dropout(0));
  {
    torch::NoGradGuard no_grad;
    cpu->lora_B.normal_(0.0, 0.1);
  }
  MolaLinear gpu(MolaLinearOptions(64, 48).num_experts(6).top_k(2).rank(8).dropout(0),
                 cpu->weight.clone());
  gpu->loadExperts(cpu->expertsA(), cpu->expertsB(), cpu->router);
  gpu->to(at::kCUDA);
  const at::Tensor x = at::randn({4, 32, 64});
  const at::Tensor want = cpu(x);
  const at::Tensor got = gpu(x.to(at::kCUDA)).cpu();
  EXPECT_TRUE(at::allclose(got, want, 1e-4, 1e-4));
  EXPECT_TRUE(at::equal(gpu->routing().topk_idx.cpu(), cpu->routing().topk_idx));

  gpu->to(at::kBFloat16);
  const at::Tensor low = gpu(x.to(at::kCUDA, at::kBFloat16)).to(at::kCPU, at::kFloat);
  EXPECT_EQ(gpu->routing().probs.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::allclose(low, want, 5e-2, 5e-2));
}

}  // namespace
}  // namespace mola
