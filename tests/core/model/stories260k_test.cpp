// SPDX-License-Identifier: GPL-3.0-or-later
// MoLA layers on the real stories260K weights (../shared): shapes, counts and exact base outputs.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <array>
#include <fstream>
#include <sstream>

#include "adapters/allocation.h"
#include "adapters/mola_linear.h"
#include "model/checkpoint_loader.h"
#include "model/generate.h"
#include "model/model_shape.h"
#include "model/safetensors.h"
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

fs::path tokenizerFile() {
  return test::sharedDir() / "models/stories260K/tok512.bin";
}

// Decodes ids with tok512.bin's pieces, read here independently of the product's tokenizers:
// a piece after BOS drops its leading space; <0xHH> pieces are raw bytes.
std::string decodeIndependently(const std::vector<int>& ids) {
  std::ifstream in(tokenizerFile(), std::ios::binary);
  int32_t max_len = 0;
  in.read(reinterpret_cast<char*>(&max_len), 4);
  std::vector<std::string> pieces;
  float score;
  int32_t len;
  while (in.read(reinterpret_cast<char*>(&score), 4) && in.read(reinterpret_cast<char*>(&len), 4)) {
    std::string piece(static_cast<size_t>(len), '\0');
    in.read(piece.data(), len);
    pieces.push_back(piece);
  }
  std::string out;
  int prev = 1;  // generation starts after BOS
  for (int id : ids) {
    const std::string& p = pieces.at(size_t(id));
    if (p.size() == 6 && p.rfind("<0x", 0) == 0)
      out.push_back(static_cast<char>(std::stoi(p.substr(3, 2), nullptr, 16)));
    else
      out.append(p, prev == 1 && !p.empty() && p[0] == ' ' ? 1 : 0, std::string::npos);
    prev = id;
  }
  return out;
}

std::vector<int> greedy(LlamaModel& m, int n) {
  GenerateOptions o;
  o.max_new_tokens = n;
  return generate(m, {1}, o);
}

TEST(Stories260K, GreedyGenerationReproducesThePublishedText) {
  MOLA_NEED_SHARED_FILE(checkpoint());
  MOLA_NEED_SHARED_FILE(tokenizerFile());
  LlamaModel m = loadModel(checkpoint().string());
  const std::vector<int> ids = greedy(m, 40);
  ASSERT_EQ(ids.size(), 40u);
  const std::string text = decodeIndependently(ids), published = test::storiesPublishedText();
  ASSERT_GT(published.size(), 200u) << "the README's published text was not found";
  EXPECT_EQ(published.substr(0, text.size()), text);
  EXPECT_GT(text.size(), 100u);  // 40 tokens of this vocabulary cover two sentences
  EXPECT_EQ(text.rfind("Once upon a time, there was a little girl named Lily.", 0), 0u) << text;
}

// The same weights written as a Hugging Face directory: HF stores wq/wk permuted for its
// rotate-half RoPE (convert_llama_weights_to_hf.py's permute), here done by the test itself.
TEST(Stories260K, TheSameWeightsAsAHfDirectoryGenerateTheSameText) {
  MOLA_NEED_SHARED_FILE(checkpoint());
  const Llama2c ckpt(checkpoint());
  const ModelShape s = *ModelShape::named("stories260k");
  const fs::path dir = test::tempDir("stories260k_hf");
  std::ofstream(dir / "config.json")
      << R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 512, "hidden_size": 64,
            "intermediate_size": 172, "num_hidden_layers": 5, "num_attention_heads": 8,
            "num_key_value_heads": 4, "max_position_embeddings": 512, "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0, "tie_word_embeddings": true, "bos_token_id": 1,
            "eos_token_id": 2})";
  std::vector<at::Tensor> keep;
  std::vector<SafetensorsTensorView> views;
  auto add = [&](const std::string& key, const at::Tensor& t) {
    keep.push_back(t.contiguous());
    views.push_back({key, "F32", std::vector<int64_t>(t.sizes().begin(), t.sizes().end()),
                     keep.back().data_ptr()});
  };
  // Offsets of the small arrays in the llama2.c layout (same order as the README lists them).
  const int64_t d = s.d_model, l = s.num_layers, v = s.vocab_size;
  auto span = [&](int64_t offset, std::vector<int64_t> shape) {
    return at::from_blob(const_cast<float*>(ckpt.floats.data()) + offset, shape, at::kFloat)
        .clone();
  };
  add("model.embed_tokens.weight", span(0, {v, d}));
  const int64_t kv = s.num_kv_heads * s.head_dim, f = s.ffn_dim;
  const int64_t rms_ffn = v * d + l * d + l * (2 * d * d + 2 * kv * d);
  const int64_t final_norm = rms_ffn + l * d + 3 * l * f * d;
  add("model.norm.weight", span(final_norm, {d}));
  auto permute = [&](const at::Tensor& w, int64_t heads) {
    return w.view({heads, s.head_dim / 2, 2, d}).transpose(1, 2).reshape({heads * s.head_dim, d});
  };
  for (int j = 0; j < l; ++j) {
    const std::string p = "model.layers." + std::to_string(j) + ".";
    add(p + "input_layernorm.weight", span(v * d + j * d, {d}));
    add(p + "post_attention_layernorm.weight", span(rms_ffn + j * d, {d}));
    add(p + "self_attn.q_proj.weight", permute(ckpt.weight(TargetModule::QProj, j), s.num_heads));
    add(p + "self_attn.k_proj.weight",
        permute(ckpt.weight(TargetModule::KProj, j), s.num_kv_heads));
    add(p + "self_attn.v_proj.weight", ckpt.weight(TargetModule::VProj, j));
    add(p + "self_attn.o_proj.weight", ckpt.weight(TargetModule::OProj, j));
    add(p + "mlp.gate_proj.weight", ckpt.weight(TargetModule::GateProj, j));
    add(p + "mlp.up_proj.weight", ckpt.weight(TargetModule::UpProj, j));
    add(p + "mlp.down_proj.weight", ckpt.weight(TargetModule::DownProj, j));
  }
  writeSafetensors(dir / "model.safetensors", views, {});

  LlamaModel native = loadModel(checkpoint().string());
  LlamaModel hf = loadModel(dir.string());
  EXPECT_FALSE(hf->config().rope_interleaved);
  EXPECT_EQ(greedy(hf, 60), greedy(native, 60));
}

// An adapter with random non-zero B changes the text; the per-expert loop, decoding without a KV
// cache (argmax over a full forward each step), picks exactly the same tokens.
TEST(Stories260K, AnAdapterChangesTheTextAndThePerExpertReferenceAgrees) {
  MOLA_NEED_SHARED_FILE(checkpoint());
  const fs::path dir = test::tempDir("stories260k_adapter");
  LlamaModel m = loadModel(checkpoint().string());
  const std::vector<int> plain = greedy(m, 40);
  MolaSpec spec;
  spec.allocation = Allocation::parse("2-4-6-8", 5);
  m->injectMola(spec);
  torch::manual_seed(5);
  {
    torch::NoGradGuard no_grad;
    for (auto& layer : m->adapterModules())
      for (auto& [mod, lin] : layer) lin->lora_B.normal_(0.0, 0.05);
  }
  m->saveAdapter(dir / "adapter.safetensors");
  const std::vector<int> adapted = greedy(m, 40);
  EXPECT_NE(adapted, plain);

  LlamaModel ref = loadModel(checkpoint().string());
  spec.impl = ExpertImpl::Loop;
  ref->injectMola(spec);
  ref->loadAdapter(dir / "adapter.safetensors");
  ASSERT_EQ(ref->molaSpec().impl, ExpertImpl::Loop);
  ref->eval();
  torch::NoGradGuard no_grad;
  std::vector<int64_t> seq = {1};
  for (int i = 0; i < 40; ++i) {
    const at::Tensor logits = ref(at::tensor(seq, at::kLong).view({1, -1}))[0];
    seq.push_back(logits[int64_t(seq.size()) - 1].argmax().item<int64_t>());
  }
  EXPECT_EQ(std::vector<int>(seq.begin() + 1, seq.end()), adapted);
}

}  // namespace
}  // namespace mola
