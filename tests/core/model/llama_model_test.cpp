// SPDX-License-Identifier: GPL-3.0-or-later
// LlamaModel against a per-token fp64 reference written from the equations, plus cache, padding,
// MoLA injection, generation and loader errors.
#include "model/llama_model.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "batched_decode.h"
#include "expect_error.h"
#include "model/checkpoint_loader.h"
#include "model/generate.h"
#include "model/safetensors.h"
#include "shared_data.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

LlamaConfig tinyConfig(bool interleaved, bool qkv_bias) {
  LlamaConfig c;
  c.vocab_size = 11;
  c.d_model = 16;
  c.ffn_dim = 24;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 4;
  c.max_seq_len = 32;
  c.rope_theta = 500.0;
  c.rope_interleaved = interleaved;
  c.qkv_bias = qkv_bias;
  c.tied_embeddings = !qkv_bias;
  return c;
}

LlamaModel randomModel(const LlamaConfig& c, uint64_t seed) {
  torch::manual_seed(seed);
  LlamaModel m(c);
  m->to(at::kDouble);
  torch::NoGradGuard no_grad;
  for (auto& p : m->parameters()) p.normal_(0.0, 0.3);  // norms and biases too
  return m;
}

// logits[t] for ids, token by token, with every equation written out (fp64). `real`: which
// positions are real tokens (empty: all); a query sees the real keys at or before it, and itself.
at::Tensor referenceLogits(LlamaModel& m, const std::vector<int64_t>& ids,
                           const std::vector<bool>& real = {}) {
  const LlamaConfig& c = m->config();
  const int64_t t_count = int64_t(ids.size()), hd = c.head_dim, half = hd / 2;
  auto rms = [&](const at::Tensor& x, const at::Tensor& w) {
    return w * x / std::sqrt(x.pow(2).mean().item<double>() + c.rms_eps);
  };
  auto rope = [&](at::Tensor v, int64_t pos) {  // one head [hd]
    at::Tensor out = v.clone();
    for (int64_t i = 0; i < half; ++i) {
      const double a = double(pos) * std::pow(c.rope_theta, -2.0 * double(i) / double(hd));
      const int64_t i0 = c.rope_interleaved ? 2 * i : i,
                    i1 = c.rope_interleaved ? 2 * i + 1 : i + half;
      const double x0 = v[i0].item<double>(), x1 = v[i1].item<double>();
      out[i0] = x0 * std::cos(a) - x1 * std::sin(a);
      out[i1] = x0 * std::sin(a) + x1 * std::cos(a);
    }
    return out;
  };
  auto lin = [](MolaLinear& p, const at::Tensor& x) {
    at::Tensor y = at::mv(p->weight, x);
    return p->bias.defined() ? y + p->bias : y;
  };
  std::vector<at::Tensor> h;
  for (int64_t id : ids) h.push_back(m->embed[id].clone());
  for (int j = 0; j < c.num_layers; ++j) {
    LlamaLayer& L = m->layer(j);
    std::vector<at::Tensor> q(static_cast<size_t>(t_count)), k(static_cast<size_t>(t_count)),
        v(static_cast<size_t>(t_count));
    for (int64_t t = 0; t < t_count; ++t) {
      const at::Tensor x = rms(h[size_t(t)], L->attn_norm);
      q[size_t(t)] = lin(L->projection(TargetModule::QProj), x);
      k[size_t(t)] = lin(L->projection(TargetModule::KProj), x);
      v[size_t(t)] = lin(L->projection(TargetModule::VProj), x);
    }
    std::vector<at::Tensor> attn_out(static_cast<size_t>(t_count));
    for (int64_t t = 0; t < t_count; ++t) {
      std::vector<at::Tensor> heads;
      for (int head = 0; head < c.num_heads; ++head) {
        const int g = head / (c.num_heads / c.num_kv_heads);
        const at::Tensor qh = rope(q[size_t(t)].narrow(0, head * hd, hd), t);
        std::vector<double> s;
        std::vector<int64_t> seen;
        double mx = -1e300;
        for (int64_t u = 0; u <= t; ++u) {
          if (u != t && !real.empty() && !real[size_t(u)]) continue;
          const at::Tensor kh = rope(k[size_t(u)].narrow(0, g * hd, hd), u);
          s.push_back(at::dot(qh, kh).item<double>() / std::sqrt(double(hd)));
          seen.push_back(u);
          mx = std::max(mx, s.back());
        }
        double z = 0;
        for (double& e : s) z += (e = std::exp(e - mx));
        at::Tensor o = at::zeros({hd}, at::kDouble);
        for (size_t n = 0; n < seen.size(); ++n)
          o = o + v[size_t(seen[n])].narrow(0, g * hd, hd) * (s[n] / z);
        heads.push_back(o);
      }
      attn_out[size_t(t)] = lin(L->projection(TargetModule::OProj), at::cat(heads));
    }
    for (int64_t t = 0; t < t_count; ++t) {
      h[size_t(t)] = h[size_t(t)] + attn_out[size_t(t)];
      const at::Tensor x = rms(h[size_t(t)], L->ffn_norm);
      const at::Tensor g = lin(L->projection(TargetModule::GateProj), x);
      const at::Tensor a = g / (1 + at::exp(-g)) * lin(L->projection(TargetModule::UpProj), x);
      h[size_t(t)] = h[size_t(t)] + lin(L->projection(TargetModule::DownProj), a);
    }
  }
  at::Tensor out = at::zeros({t_count, c.vocab_size}, at::kDouble);
  const at::Tensor head = m->lm_head.defined() ? m->lm_head : m->embed;
  for (int64_t t = 0; t < t_count; ++t) out[t] = at::mv(head, rms(h[size_t(t)], m->norm));
  return out;
}

at::Tensor ids2d(const std::vector<int64_t>& ids) {
  return at::tensor(ids, at::kLong).view({1, int64_t(ids.size())});
}

TEST(LlamaModel, ForwardMatchesThePerTokenReference) {
  const std::vector<int64_t> ids = {1, 5, 3, 9, 2, 7};
  for (bool interleaved : {false, true})
    for (bool bias : {false, true}) {
      LlamaModel m = randomModel(tinyConfig(interleaved, bias), 3);
      const at::Tensor got = m(ids2d(ids))[0];
      EXPECT_TRUE(at::allclose(got, referenceLogits(m, ids), 1e-9, 1e-9))
          << "interleaved=" << interleaved << " bias=" << bias;
    }
}

TEST(LlamaModel, KvCacheDecodingEqualsTheFullForward) {
  LlamaModel m = randomModel(tinyConfig(false, true), 4);
  const std::vector<int64_t> ids = {1, 4, 4, 8, 2, 10, 3};
  const at::Tensor full = m(ids2d(ids))[0];
  KvCache cache = m->makeCache(1, 10);
  torch::NoGradGuard no_grad;
  at::Tensor first = m->forward(ids2d({1, 4, 4}), {}, &cache)[0];
  EXPECT_TRUE(at::allclose(first, full.narrow(0, 0, 3), 1e-10, 1e-10));
  for (size_t t = 3; t < ids.size(); ++t) {
    const at::Tensor step = m->forward(ids2d({ids[t]}), {}, &cache)[0][0];
    EXPECT_TRUE(at::allclose(step, full[int64_t(t)], 1e-10, 1e-10)) << "position " << t;
  }
  EXPECT_EQ(cache.length, 7);
}

TEST(LlamaModel, LeftPaddingIsMaskedOut) {
  // RoPE scores depend only on relative positions, so a left-padded row equals the unpadded one.
  LlamaModel m = randomModel(tinyConfig(true, false), 5);
  const at::Tensor plain = m(ids2d({1, 6, 2, 9}))[0];
  const at::Tensor batch = at::tensor({0, 0, 1, 6, 2, 9, 1, 3, 3, 3, 3, 3}, at::kLong).view({2, 6});
  const at::Tensor mask =
      at::tensor({0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, at::kLong).view({2, 6}).to(at::kBool);
  const at::Tensor padded = m->forward(batch, mask);
  EXPECT_TRUE(at::allclose(padded[0].narrow(0, 2, 4), plain, 1e-9, 1e-9));
  EXPECT_FALSE(padded.isnan().any().item<bool>()) << "fully masked rows stay finite";
}

TEST(LlamaModel, PaddedPositionsMatchThePerTokenReference) {
  // Every row in full, the padded positions included: a left-padded row (its first queries have no
  // real key before them) and a row with a hole (a padded query after real tokens).
  LlamaModel m = randomModel(tinyConfig(false, true), 12);
  const std::vector<std::vector<int64_t>> rows = {{0, 0, 0, 4, 7, 1, 9, 2},
                                                  {3, 5, 0, 8, 2, 2, 6, 1}};
  const std::vector<std::vector<bool>> real = {{false, false, false, true, true, true, true, true},
                                               {true, true, false, true, true, true, true, true}};
  std::vector<int64_t> flat;
  std::vector<uint8_t> flags;
  for (size_t r = 0; r < rows.size(); ++r) {
    flat.insert(flat.end(), rows[r].begin(), rows[r].end());
    flags.insert(flags.end(), real[r].begin(), real[r].end());
  }
  const at::Tensor ids = at::tensor(flat, at::kLong).view({2, 8});
  const at::Tensor mask = at::tensor(std::vector<int64_t>(flags.begin(), flags.end()), at::kLong)
                              .view({2, 8})
                              .to(at::kBool);
  const at::Tensor got = m->forward(ids, mask);
  for (size_t r = 0; r < rows.size(); ++r) {
    const at::Tensor want = referenceLogits(m, rows[r], real[r]);
    for (int64_t t = 0; t < 8; ++t)
      EXPECT_TRUE(at::allclose(got[int64_t(r)][t], want[t], 1e-9, 1e-9))
          << "row " << r << " position " << t << (real[r][size_t(t)] ? "" : " (padded)");
  }
  // Causal for the padded positions too: a later token changes nothing before it.
  const at::Tensor changed = ids.clone();
  changed[0][7] = 10;
  EXPECT_TRUE(at::equal(m->forward(changed, mask)[0].narrow(0, 0, 7), got[0].narrow(0, 0, 7)));
}

TEST(LlamaModel, Bf16LeftPaddedBatchDecodesLikeOneRecordAtATime) {
  // Prompts of different lengths left-padded into one batch, in bf16, where a mask value that
  // rounds to -inf turned the fully masked rows of the padding into NaN, which the KV cache then
  // spread to every row.
  LlamaModel m = randomModel(tinyConfig(false, false), 13);
  m->to(at::kBFloat16);
  m->eval();
  const test::BatchedDecodeComparison c =
      test::compareBatchedDecode(m, {{1, 5, 3}, {2, 8, 4, 6, 1, 7}, {9}}, 5, 0.06);
  EXPECT_TRUE(c.finite);
  EXPECT_LT(c.worst_diff, 0.03);  // bf16 rounding: positions and batch shapes differ
  EXPECT_EQ(c.padded, 3 + 5);
  EXPECT_LT(c.padded_diff, 0.01);
  EXPECT_GT(c.decided, 8);  // of 15 choices
  EXPECT_EQ(c.agreed, c.decided);
}

TEST(LlamaModel, RopeTablesAreBuffersThatFollowTheModel) {
  const LlamaConfig c = tinyConfig(false, false);  // head_dim 4, theta 500, 32 positions
  LlamaModel m(c);
  auto table = [&](const std::string& name) {
    const auto buffers = m->named_buffers();
    const at::Tensor* t = buffers.find(name);
    return t ? *t : at::Tensor();
  };
  ASSERT_TRUE(table("rope_cos").defined() && table("rope_sin").defined());
  EXPECT_EQ(table("rope_cos").sizes(), (std::vector<int64_t>{32, 2}));
  // angle(p, i) = p * theta^(-2i / head_dim): p = 5, i = 1 gives 5 / sqrt(500).
  const double angle = 5.0 / std::sqrt(500.0);
  EXPECT_NEAR(table("rope_cos")[5][1].item<double>(), std::cos(angle), 1e-7);
  EXPECT_NEAR(table("rope_sin")[5][1].item<double>(), std::sin(angle), 1e-7);
  // A half-precision model keeps fp32 tables; an fp64 model gets fp64 ones, exact.
  m->to(at::kBFloat16);
  EXPECT_EQ(table("rope_cos").scalar_type(), at::kFloat);
  EXPECT_NEAR(table("rope_sin")[5][1].item<double>(), std::sin(angle), 1e-7);
  m->to(at::kDouble);
  EXPECT_EQ(table("rope_sin").scalar_type(), at::kDouble);
  EXPECT_NEAR(table("rope_sin")[31][0].item<double>(), std::sin(31.0), 1e-15);
  EXPECT_NEAR(table("rope_cos")[5][1].item<double>(), std::cos(angle), 1e-15);
}

TEST(LlamaModel, InterleavedWeightsPermutedToRotateHalfGiveTheSameLogits) {
  // The Hugging Face conversion: rows of wq/wk reordered per head from (x0,x1),(x2,x3)... pairs to
  // halves.
  LlamaModel a = randomModel(tinyConfig(true, false), 6);
  LlamaModel b = randomModel(tinyConfig(false, false), 7);
  {
    torch::NoGradGuard no_grad;
    auto pa = a->named_parameters();
    for (auto& p : b->named_parameters()) p.value().copy_(pa[p.key()]);
    const int64_t hd = 4;
    for (int j = 0; j < 2; ++j)
      for (auto [m, heads] :
           {std::pair{TargetModule::QProj, 4}, std::pair{TargetModule::KProj, 2}}) {
        const at::Tensor w = a->layer(j)->projection(m)->weight;  // [heads*hd, d]
        b->layer(j)->projection(m)->weight.copy_(
            w.view({heads, hd / 2, 2, 16}).transpose(1, 2).reshape({heads * hd, 16}));
      }
  }
  const std::vector<int64_t> ids = {1, 2, 3, 4, 5};
  EXPECT_TRUE(at::allclose(a(ids2d(ids)), b(ids2d(ids)), 1e-10, 1e-10));
}

TEST(LlamaModel, MolaInjectionKeepsOutputsUntilTrainedAndRoundTrips) {
  LlamaModel m = randomModel(tinyConfig(false, true), 8);
  const at::Tensor x = ids2d({1, 2, 3, 4});
  const at::Tensor before = m(x);
  MolaSpec spec;
  spec.allocation = Allocation::parse("2,4", 2);
  spec.dropout = 0.0;
  m->injectMola(spec);
  m->to(at::kDouble);
  EXPECT_TRUE(at::equal(m(x), before)) << "B = 0 changes nothing";
  int64_t trainable = 0;
  for (const auto& p : m->trainableParameters()) trainable += p.numel();
  EXPECT_EQ(trainable,
            countTrainableParameters(spec.allocation, m->config().shape(), 8, spec.target_modules)
                .total());
  // Four routing blocks (q/k/v and gate/up fused, o and down alone) cover the seven modules.
  const LayerRoutings blocks = m->layerRoutings()[1];
  EXPECT_EQ(blocks.size(), 4u);
  int64_t modules = 0;
  for (const Routing* r : blocks) modules += r->probs.dim() == 3 ? r->probs.size(1) : 1;
  EXPECT_EQ(modules, 7);
  {
    torch::NoGradGuard no_grad;
    for (auto& [m_, lin] : m->adapterModules()[1]) lin->lora_B.normal_(0.0, 0.5);
  }
  const at::Tensor after = m(x);
  EXPECT_FALSE(at::allclose(after, before));

  const fs::path dir = test::tempDir("llama_adapter");
  m->saveAdapter(dir / "a.safetensors");
  LlamaModel fresh = randomModel(tinyConfig(false, true), 8);
  fresh->loadAdapter(dir / "a.safetensors");
  fresh->to(at::kDouble);
  fresh->eval();
  m->eval();
  EXPECT_TRUE(at::allclose(fresh(x), m(x), 1e-6, 1e-6)) << "the adapter file is stored in fp32";

  MolaSpec bad = spec;
  bad.allocation = Allocation::parse("1,4", 2);
  test::expectErrorContaining<std::invalid_argument>([&] { m->injectMola(bad); },
                                                     "exceeds the 1 experts of layer 1 of 2");
}

TEST(LlamaModel, GreedyGenerationEqualsArgmaxWithoutCache) {
  LlamaModel m = randomModel(tinyConfig(false, false), 9);
  m->to(at::kFloat);
  GenerateOptions o;
  o.max_new_tokens = 8;
  o.stop_at_eos = false;
  const std::vector<int> got = generate(m, {1, 3}, o);
  std::vector<int64_t> seq = {1, 3};
  torch::NoGradGuard no_grad;
  for (int i = 0; i < 8; ++i) {
    const at::Tensor logits = m(ids2d(seq))[0];
    seq.push_back(logits[int64_t(seq.size()) - 1].argmax().item<int64_t>());
  }
  EXPECT_EQ(std::vector<int64_t>(got.begin(), got.end()),
            std::vector<int64_t>(seq.begin() + 2, seq.end()));
}

TEST(LlamaModel, SamplingIsSeededAndTopPNarrowsTheChoice) {
  const at::Tensor logits = at::tensor({2.0, 1.0, 0.5, -1.0}, at::kDouble);
  EXPECT_EQ(sampleToken(logits, 0.0, 1.0, 0.99), 0);
  // softmax(2, 1, .5, -1) = .6095, .2242, .1360, .0303 (e^2 / 12.124 ...); cumulative .6095,
  // .8337, .9697: u = 0.6 lands on token 0, 0.7 on token 1, 0.95 on token 2.
  EXPECT_EQ(sampleToken(logits, 1.0, 1.0, 0.6), 0);
  EXPECT_EQ(sampleToken(logits, 1.0, 1.0, 0.7), 1);
  EXPECT_EQ(sampleToken(logits, 1.0, 1.0, 0.95), 2);
  EXPECT_EQ(sampleToken(logits, 1.0, 1.0, 0.999), 3);
  // top_p 0.5: only token 0 is kept.
  EXPECT_EQ(sampleToken(logits, 1.0, 0.5, 0.999), 0);
  // top_p 0.7: tokens 0 and 1, renormalised over .8337: u = 0.75 -> 0.625 > .6095 -> token 1.
  EXPECT_EQ(sampleToken(logits, 1.0, 0.7, 0.75), 1);

  LlamaModel m = randomModel(tinyConfig(false, false), 10);
  m->to(at::kFloat);
  GenerateOptions o;
  o.max_new_tokens = 12;
  o.temperature = 1.0;
  o.stop_at_eos = false;
  o.seed = 42;
  const auto a = generate(m, {1}, o), b = generate(m, {1}, o);
  EXPECT_EQ(a, b);
  o.seed = 43;
  EXPECT_NE(generate(m, {1}, o), a);
}

TEST(LlamaModel, BadInputsAreClearErrors) {
  LlamaModel m = randomModel(tinyConfig(false, false), 11);
  EXPECT_THROW(m(ids2d({1, 11})), c10::Error);                 // outside the vocabulary
  EXPECT_THROW(m(at::zeros({1, 33}, at::kLong)), c10::Error);  // longer than max_seq_len
  EXPECT_THROW(m(at::zeros({4}, at::kLong)), c10::Error);
}

class LoaderTest : public ::testing::Test {
 protected:
  // A 2-layer HF directory with the given tensors removed / replaced.
  fs::path writeHf(const std::string& name, const std::vector<std::string>& drop = {},
                   const std::string& arch = "LlamaForCausalLM") {
    const fs::path dir = test::tempDir("hf_" + name);
    LlamaConfig c = tinyConfig(false, false);
    nlohmann::json j = {{"architectures", {arch}},    {"vocab_size", 11},
                        {"hidden_size", 16},          {"intermediate_size", 24},
                        {"num_hidden_layers", 2},     {"num_attention_heads", 4},
                        {"num_key_value_heads", 2},   {"max_position_embeddings", 32},
                        {"rope_theta", 500.0},        {"rms_norm_eps", 1e-5},
                        {"tie_word_embeddings", true}};
    std::ofstream(dir / "config.json") << j.dump();
    torch::manual_seed(1);
    LlamaModel m(c);
    std::vector<at::Tensor> keep;
    std::vector<SafetensorsTensorView> views;
    auto add = [&](const std::string& key, const at::Tensor& t, bool force = false) {
      if (!force && std::find(drop.begin(), drop.end(), key) != drop.end()) return;
      keep.push_back(t.contiguous());
      views.push_back({key, "F32", std::vector<int64_t>(t.sizes().begin(), t.sizes().end()),
                       keep.back().data_ptr()});
    };
    add("model.embed_tokens.weight", m->embed);
    add("model.norm.weight", m->norm);
    const char* names[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                           "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                           "mlp.down_proj"};
    for (int l = 0; l < 2; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      add(p + "input_layernorm.weight", m->layer(l)->attn_norm);
      add(p + "post_attention_layernorm.weight", m->layer(l)->ffn_norm);
      for (int i = 0; i < 7; ++i)
        add(p + names[i] + ".weight", m->layer(l)->projection(kAllTargetModules[i])->weight);
    }
    if (name == "badshape") add("model.layers.1.mlp.up_proj.weight", at::zeros({24, 15}), true);
    writeSafetensors(dir / "model.safetensors", views, {});
    reference = m;
    return dir;
  }
  LlamaModel reference{nullptr};
};

TEST_F(LoaderTest, HfDirectoryLoadsTheSameWeights) {
  const fs::path dir = writeHf("ok");
  LlamaModel m = loadModel(dir.string());
  const at::Tensor x = ids2d({1, 2, 3});
  EXPECT_TRUE(at::equal(m(x), reference(x)));
}

TEST_F(LoaderTest, HalfPrecisionLoadsStraightIntoThatDtype) {
  LlamaModel m = loadHfModel(writeHf("bf16"), at::kBFloat16);
  auto want = reference->named_parameters();
  ASSERT_EQ(m->named_parameters().size(), want.size());
  for (const auto& p : m->named_parameters()) {
    EXPECT_EQ(p.value().scalar_type(), at::kBFloat16) << p.key();
    EXPECT_TRUE(at::equal(p.value(), want[p.key()].to(at::kBFloat16))) << p.key();
  }
}

TEST_F(LoaderTest, ErrorsNameTheTensorOrField) {
  test::expectErrorContaining<std::runtime_error>(
      [&] { loadModel(writeHf("missing", {"model.layers.1.mlp.down_proj.weight"}).string()); },
      "tensor 'model.layers.1.mlp.down_proj.weight' is missing");
  // "badshape" writes up_proj as a [24, 15] tensor in place of the real one.
  test::expectErrorContaining<std::runtime_error>(
      [&] { loadModel(writeHf("badshape", {"model.layers.1.mlp.up_proj.weight"}).string()); },
      "tensor 'model.layers.1.mlp.up_proj.weight' has shape [24, 15], the model expects [24, 16]");
  test::expectErrorContaining<std::runtime_error>(
      [&] { loadModel(writeHf("gpt", {}, "GPT2LMHeadModel").string()); },
      "architecture 'GPT2LMHeadModel' is not supported");
  test::expectErrorContaining<std::runtime_error>([&] { loadModel("/nonexistent/model"); },
                                                  "no such file or directory");
  const fs::path dir = test::tempDir("llama2c_bad");
  std::ofstream(dir / "x.bin") << "this file is not a checkpoint, only some text";
  test::expectErrorContaining<std::runtime_error>([&] { loadModel((dir / "x.bin").string()); },
                                                  "is not a llama2.c v0 config");
  std::ofstream(dir / "short.bin") << "tiny";
  test::expectErrorContaining<std::runtime_error>([&] { loadModel((dir / "short.bin").string()); },
                                                  "too short for a llama2.c header");
}

TEST(LlamaModel, HalfPrecisionComputeStaysCloseToFp32) {
  LlamaModel full = loadModel("builtin:tiny:2");
  const at::Tensor x = ids2d({1, 84, 104, 101, 32, 99, 97, 116});
  const at::Tensor want = full(x);
  // fp16 matmuls exist on CUDA only (LibTorch 1.13 has none on the CPU); bf16 runs on both.
  for (c10::ScalarType dtype : {c10::kBFloat16}) {
    LlamaModel half = loadModel("builtin:tiny:2", dtype);
    EXPECT_EQ(half->embed.scalar_type(), dtype);
    const at::Tensor got = half(x);
    EXPECT_EQ(got.scalar_type(), at::kFloat) << "logits come back in fp32";
    EXPECT_LT((got - want).abs().max().item<double>(), 0.05 * want.abs().max().item<double>())
        << c10::toString(dtype);
  }
}

TEST(BuiltinTiny, IsDeterministicFromItsSeed) {
  LlamaModel a = loadModel("builtin:tiny:7"), b = loadModel("builtin:tiny:7"),
             c = loadModel("builtin:tiny:8");
  EXPECT_EQ(a->config().vocab_size, 259);
  const at::Tensor x = ids2d({1, 72, 105});
  EXPECT_TRUE(at::equal(a(x), b(x)));
  EXPECT_FALSE(at::equal(a(x), c(x)));
  test::expectErrorContaining<std::runtime_error>([] { loadModel("builtin:tiny:x"); },
                                                  "must be a number");
}

}  // namespace
}  // namespace mola
