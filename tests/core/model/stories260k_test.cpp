// SPDX-License-Identifier: GPL-3.0-or-later
// MoLA layers on the real stories260K weights (../shared): shapes, counts and exact base outputs.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <array>
#include <fstream>

#include "adapters/allocation.h"
#include "adapters/mola_linear.h"
#include "model/model_shape.h"
#include "shared_data.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

fs::path checkpoint() {
  return test::sharedDir() / "models/stories260K/stories260K.bin";
}

// The llama2.c v0 layout, read here independently of the product's loaders.
struct Llama2c {
  std::array<int32_t, 7> header{};  // dim, hidden, layers, heads, kv_heads, vocab, seq_len
  std::vector<float> floats;

  explicit Llama2c(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    in.read(reinterpret_cast<char*>(header.data()), sizeof(header));
    floats.resize((fs::file_size(path) - sizeof(header)) / sizeof(float));
    in.read(reinterpret_cast<char*>(floats.data()), std::streamsize(floats.size() * sizeof(float)));
  }
  // Layer j's weight of module m as [out, in], at its offset in the fixed array order.
  at::Tensor weight(TargetModule m, int j) const {
    const int64_t d = header[0], h = header[1], l = header[2], kv = header[4] * (d / header[3]);
    const int64_t v = header[5];
    const int64_t sizes[] = {d * d, kv * d, kv * d, d * d,
                             h * d, d * h,  h * d};  // wq wk wv wo w1 w2 w3
    int64_t offset = v * d + l * d;                  // embeddings, rms_att
    const int order[] = {0, 1, 2, 3, 4, 6, 5};       // q k v o gate up down -> wq wk wv wo w1 w3 w2
    const int slot = order[static_cast<int>(m)];
    for (int s = 0; s < slot; ++s)
      offset += l * sizes[s] + (s == 3 ? l * d : 0);  // rms_ffn after wo
    const int64_t out = (slot == 1 || slot == 2) ? kv : (slot == 4 || slot == 6) ? h : d;
    const int64_t in = sizes[slot] / out;
    return at::from_blob(const_cast<float*>(floats.data()) + offset + j * sizes[slot], {out, in},
                         at::kFloat)
        .clone();
  }
};

TEST(Stories260K, HeaderAndSizeMatchTheNamedShape) {
  MOLA_NEED_SHARED_FILE(checkpoint());
  const Llama2c ckpt(checkpoint());
  const ModelShape s = *ModelShape::named("stories260k");
  EXPECT_EQ(ckpt.header[0], s.d_model);
  EXPECT_EQ(ckpt.header[1], s.ffn_dim);
  EXPECT_EQ(ckpt.header[2], s.num_layers);
  EXPECT_EQ(ckpt.header[3], s.num_heads);
  EXPECT_EQ(ckpt.header[4], s.num_kv_heads);
  EXPECT_EQ(ckpt.header[5], s.vocab_size);
  // The body is every base parameter, then seq_len * head_dim RoPE table floats (real + imag).
  const int64_t rope = int64_t(ckpt.header[6]) * s.head_dim;
  EXPECT_EQ(int64_t(ckpt.floats.size()), countBaseParameters(s) + rope);
}

TEST(Stories260K, FreshAdapterOnRealWeightsKeepsTheBaseOutput) {
  MOLA_NEED_SHARED_FILE(checkpoint());
  const Llama2c ckpt(checkpoint());
  const at::Tensor wq = ckpt.weight(TargetModule::QProj, 0);  // [64, 64]
  torch::manual_seed(0);
  const at::Tensor x = at::randn({3, 64});
  // Reference: y = W x with a plain double loop over the raw floats.
  at::Tensor want = at::zeros({3, 64}, at::kDouble);
  auto w = wq.accessor<float, 2>();
  auto xa = x.accessor<float, 2>();
  for (int t = 0; t < 3; ++t)
    for (int i = 0; i < 64; ++i) {
      double acc = 0;
      for (int k = 0; k < 64; ++k) acc += double(w[i][k]) * double(xa[t][k]);
      want[t][i] = acc;
    }
  const Allocation alloc = Allocation::parse("2-4-6-8", 5);
  MolaLinear lin(MolaLinearOptions(64, 64).num_experts(alloc.experts(0)).top_k(2), wq);
  lin->eval();
  EXPECT_TRUE(at::allclose(lin(x).to(at::kDouble), want, 1e-5, 1e-5));

  // With trained-looking B the experts change the output, and the loop agrees with the stack.
  {
    torch::NoGradGuard no_grad;
    lin->lora_B.normal_(0.0, 0.1);
  }
  MolaLinear loop(MolaLinearOptions(64, 64).num_experts(2).top_k(2).impl(ExpertImpl::Loop), wq);
  loop->eval();
  loop->loadExperts(lin->expertsA(), lin->expertsB(), lin->router);
  const at::Tensor y = lin(x);
  EXPECT_FALSE(at::allclose(y.to(at::kDouble), want, 1e-3, 1e-3));
  EXPECT_TRUE(at::allclose(y, loop(x), 1e-5, 1e-6));
}

TEST(Stories260K, WrappedModulesHaveTheCountedTrainableParameters) {
  MOLA_NEED_SHARED_FILE(checkpoint());
  const Llama2c ckpt(checkpoint());
  const ModelShape s = *ModelShape::named("stories260k");
  const Allocation alloc = Allocation::parse("inverted-triangle", s.num_layers);
  int64_t trainable = 0;
  for (int j = 0; j < s.num_layers; ++j)
    for (TargetModule m : kAllTargetModules) {
      const at::Tensor w = ckpt.weight(m, j);
      ASSERT_EQ(w.size(0), s.dims(m).out_features) << targetModuleName(m);
      ASSERT_EQ(w.size(1), s.dims(m).in_features) << targetModuleName(m);
      MolaLinear lin(MolaLinearOptions(w.size(1), w.size(0)).num_experts(alloc.experts(j)).top_k(2),
                     w);
      for (const auto& p : lin->parameters())
        if (p.requires_grad()) trainable += p.numel();
    }
  EXPECT_EQ(trainable, countTrainableParameters(alloc, s, 8, parseTargetModules("all")).total());
}

}  // namespace
}  // namespace mola
