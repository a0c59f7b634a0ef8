// SPDX-License-Identifier: GPL-3.0-or-later
// The routing operators' CUDA kernels against their CPU loops (which routing_ops_test checks
// against ATen and autograd) on the same inputs: fp32, bf16 and fp64, a row-strided input and a
// stride-0 probability gradient. Skips without CUDA.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <vector>

#include "adapters/routing_ops.h"

namespace mola {
namespace {

TEST(RoutingOpsGpu, TheKernelsEqualTheCpuLoops) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device in this build or machine";
  torch::manual_seed(4);
  const int64_t t = 1000, m = 3, n = 6, k = 2, r = 8;
  for (const auto type : {at::kFloat, at::kBFloat16, at::kDouble}) {
    const at::Tensor wide = at::randn({t, m * n + m * n * r}).to(type);
    const at::Tensor gzg = at::randn({t, m * n * r}).to(type);
    const auto acc = type == at::kDouble ? at::kDouble : at::kFloat;
    const at::Tensor gprobs = at::randn({n}, acc).view({1, 1, n}).expand({t, m, n});
    auto run = [&](c10::Device d) {
      const at::Tensor w = wide.to(d);
      const at::Tensor l = w.narrow(1, 0, m * n), zz = w.narrow(1, m * n, m * n * r);
      const auto [probs, idx, gate] = ops::route(l, m, k);
      const at::Tensor zg = ops::gateExperts(zz, idx, gate, r, 2.0, false);
      const at::Tensor zr = ops::gateExperts(zz, idx, gate, r, 2.0, true);
      const auto [gz, glogits] =
          ops::routeBackward(gzg.to(d), zz, probs, idx, gate, gprobs.to(d), r, 2.0, true);
      return std::vector<at::Tensor>{probs.cpu(), idx.cpu(), gate.cpu(),   zg.cpu(),
                                     zr.cpu(),    gz.cpu(),  glogits.cpu()};
    };
    const std::vector<at::Tensor> cpu = run(at::kCPU), gpu = run(at::kCUDA);
    const char* names[] = {"probs", "idx", "gate", "zg", "zg (root)", "gz", "glogits"};
    const double tol = type == at::kDouble ? 1e-12 : type == at::kFloat ? 1e-5 : 1e-2;
    for (size_t i = 0; i < cpu.size(); ++i) {
      if (i == 1) {
        EXPECT_TRUE(at::equal(cpu[i], gpu[i])) << names[i] << " " << type;
        continue;
      }
      EXPECT_TRUE(at::allclose(cpu[i].to(at::kDouble), gpu[i].to(at::kDouble), tol, tol))
          << names[i] << " " << type << ": max difference "
          << (cpu[i].to(at::kDouble) - gpu[i].to(at::kDouble)).abs().max().item<double>();
    }
  }
}

TEST(RoutingOpsGpu, RouterSumsAndTheBalanceLossEqualTheCpu) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device in this build or machine";
  torch::manual_seed(5);
  // 20 layers (two launches of router_sums), each a fused group [T, 3, N] and a lone module,
  // N from 2 to 8, top-2; a quarter of the tokens padding.
  const int64_t t = 700, layers = 20;
  std::vector<at::Tensor> probs, idx;
  std::vector<int64_t> block_layer, experts, top_k;
  for (int64_t j = 0; j < layers; ++j) {
    const int64_t n = 2 + j % 7;
    for (const int64_t m : {3, 1}) {
      const at::Tensor p = at::softmax(at::randn({t, m, n}), -1);
      probs.push_back(p);
      idx.push_back(std::get<1>(p.topk(2, -1)));
      block_layer.push_back(j);
    }
    experts.push_back(n);
    top_k.push_back(2);
  }
  const at::Tensor weights = (at::rand({t}) > 0.25).to(at::kFloat);
  auto onDevice = [](const std::vector<at::Tensor>& v) {
    std::vector<at::Tensor> out;
    for (const at::Tensor& x : v) out.push_back(x.cuda());
    return out;
  };
  const at::Tensor cpu = ops::routerSums(probs, idx, weights, block_layer, experts);
  const at::Tensor gpu =
      ops::routerSums(onDevice(probs), onDevice(idx), weights.cuda(), block_layer, experts);
  EXPECT_TRUE(at::allclose(cpu, gpu.cpu(), 1e-9, 1e-9))
      << "max difference " << (cpu - gpu.cpu()).abs().max().item<double>();
  const auto [loss_cpu, coef_cpu] =
      ops::balanceFromSums(cpu, cpu * 2, experts, top_k, 0.01, at::kFloat);
  const auto [loss_gpu, coef_gpu] =
      ops::balanceFromSums(gpu, gpu * 2, experts, top_k, 0.01, at::kFloat);
  EXPECT_NEAR(loss_cpu.item<float>(), loss_gpu.item<float>(), 1e-6);
  EXPECT_TRUE(at::allclose(coef_cpu, coef_gpu.cpu(), 1e-6, 1e-9));
}

}  // namespace
}  // namespace mola
