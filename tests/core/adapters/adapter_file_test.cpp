// SPDX-License-Identifier: GPL-3.0-or-later
// Adapter file: round trips in fp32 and bf16, and every malformed-file case named by key.
#include "adapters/adapter_file.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <fstream>

#include "expect_error.h"
#include "model/safetensors.h"
#include "shared_data.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

// A 3-layer model, d_model 8, ffn 12: q_proj and down_proj wrapped with experts 1, 3, 2 and top-1;
// layer 0 is plain LoRA (one expert, no router).
const ModelShape kShape{3, 8, 12, 2, 1, 4, 32};

AdapterModules makeModules(uint64_t seed, std::vector<int> experts = {1, 3, 2}) {
  torch::manual_seed(seed);
  AdapterModules layers(experts.size());
  for (size_t j = 0; j < experts.size(); ++j)
    for (TargetModule m : {TargetModule::QProj, TargetModule::DownProj}) {
      const ModuleDims d = kShape.dims(m);
      const int n = experts[j];
      MolaLinear lin(MolaLinearOptions(d.in_features, d.out_features)
                         .num_experts(n)
                         .top_k(1)
                         .rank(4)
                         .alpha(8)
                         .dropout(0));
      torch::NoGradGuard no_grad;
      lin->lora_B.normal_();
      layers[j].emplace(m, lin);
    }
  return layers;
}

void copyBase(AdapterModules& dst, const AdapterModules& src) {
  torch::NoGradGuard no_grad;
  for (size_t j = 0; j < src.size(); ++j)
    for (auto& [m, lin] : dst[j]) lin->weight.copy_(src[j].at(m)->weight);
}

template <typename F>
void expectFileError(F f, const std::string& needle) {
  test::expectErrorContaining<std::runtime_error>(f, needle);
}

class AdapterFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = test::tempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    modules = makeModules(1);
    config = adapterConfigOf(modules);
    tensors = collectAdapterTensors(modules);
  }
  fs::path dir;
  AdapterModules modules;
  AdapterConfig config;
  AdapterTensors tensors;

  // Rewrites `tensors` (minus/plus edits) with the given metadata, bypassing saveAdapterFile's
  // checks.
  fs::path writeRaw(const AdapterTensors& t, std::map<std::string, std::string> meta) {
    std::vector<at::Tensor> keep;
    std::vector<SafetensorsTensorView> views;
    for (const auto& [k, v] : t) {
      keep.push_back(v.contiguous());
      views.push_back({k, "F32", std::vector<int64_t>(v.sizes().begin(), v.sizes().end()),
                       keep.back().data_ptr()});
    }
    const fs::path p = dir / "raw.safetensors";
    writeSafetensors(p, views, meta);
    return p;
  }
  std::map<std::string, std::string> goodMeta() const {
    return {{"format", "mola-adapter"},
            {"version", "1"},
            {"rank", "4"},
            {"lora_alpha", "8"},
            {"top_k", "1"},
            {"experts_per_layer", "1,3,2"},
            {"target_modules", "q_proj,down_proj"}};
  }
};

TEST_F(AdapterFileTest, ConfigDescribesTheModules) {
  EXPECT_EQ(config.rank, 4);
  EXPECT_EQ(config.top_k, 1);
  EXPECT_EQ(config.lora_alpha, 8.0);
  EXPECT_EQ(config.allocation.perLayer(), (std::vector<int>{1, 3, 2}));
  EXPECT_EQ(joinTargetModules(config.target_modules), "q_proj,down_proj");
  // Keys and shapes as specified: A [N, r, d_in], B [N, d_out, r], router [N, d_in].
  EXPECT_EQ(tensors.at("layers.1.down_proj.experts.A").sizes(), (std::vector<int64_t>{3, 4, 12}));
  EXPECT_EQ(tensors.at("layers.1.down_proj.experts.B").sizes(), (std::vector<int64_t>{3, 8, 4}));
  EXPECT_EQ(tensors.at("layers.2.q_proj.router.weight").sizes(), (std::vector<int64_t>{2, 8}));
  EXPECT_FALSE(tensors.count("layers.0.q_proj.router.weight")) << "one expert: no router";
  EXPECT_EQ(tensors.size(), 2u * (2 + 3 + 3));
}

TEST_F(AdapterFileTest, Fp32RoundTripReproducesTheOutputsExactly) {
  const fs::path p = dir / "a.safetensors";
  saveAdapterFile(p, config, tensors);
  EXPECT_FALSE(fs::exists(p.string() + ".tmp"));
  const LoadedAdapter loaded = loadAdapterFile(p, &kShape);
  EXPECT_EQ(loaded.config, config);
  const SafetensorsFile raw = SafetensorsFile::open(p);
  EXPECT_EQ(raw.metadata().at("format"), "mola-adapter");
  EXPECT_EQ(raw.metadata().at("experts_per_layer"), "1,3,2");
  EXPECT_EQ(raw.metadata().at("target_modules"), "q_proj,down_proj");

  AdapterModules fresh = makeModules(2);
  copyBase(fresh, modules);
  applyAdapter(loaded, fresh);
  const at::Tensor x8 = at::randn({5, 8}), x12 = at::randn({5, 12});
  for (size_t j = 0; j < 3; ++j) {
    EXPECT_TRUE(
        at::equal(fresh[j].at(TargetModule::QProj)(x8), modules[j].at(TargetModule::QProj)(x8)));
    EXPECT_TRUE(at::equal(fresh[j].at(TargetModule::DownProj)(x12),
                          modules[j].at(TargetModule::DownProj)(x12)));
  }
}

TEST_F(AdapterFileTest, Bf16RoundTripIsHalfTheSizeAndCloseInValue) {
  const fs::path p32 = dir / "a32.safetensors", p16 = dir / "a16.safetensors";
  saveAdapterFile(p32, config, tensors, AdapterDtype::F32);
  saveAdapterFile(p16, config, tensors, AdapterDtype::BF16);
  auto data_bytes = [](const SafetensorsFile& f) {
    uint64_t n = 0;
    for (const auto& e : f.entries()) n += e.end - e.begin;
    return n;
  };
  const SafetensorsFile raw = SafetensorsFile::open(p16);
  EXPECT_EQ(raw.entries().front().dtype, "BF16");
  EXPECT_EQ(data_bytes(raw) * 2, data_bytes(SafetensorsFile::open(p32)));
  const LoadedAdapter loaded = loadAdapterFile(p16);
  for (const auto& [k, t] : tensors) {
    EXPECT_EQ(loaded.tensors.at(k).scalar_type(), at::kFloat);
    EXPECT_TRUE(at::allclose(loaded.tensors.at(k), t, 1e-2, 1e-2)) << k;
  }
}

TEST_F(AdapterFileTest, MissingKeyIsNamed) {
  AdapterTensors t = tensors;
  t.erase("layers.2.down_proj.experts.B");
  const fs::path p = writeRaw(t, goodMeta());
  expectFileError([&] { loadAdapterFile(p); }, "tensor 'layers.2.down_proj.experts.B' is missing");
  expectFileError([&] { saveAdapterFile(dir / "b.safetensors", config, t); },
                  "tensor 'layers.2.down_proj.experts.B' is missing");
}

TEST_F(AdapterFileTest, WrongShapeIsNamed) {
  AdapterTensors t = tensors;
  t["layers.1.q_proj.experts.A"] = at::zeros({3, 4, 9});
  expectFileError([&] { loadAdapterFile(writeRaw(t, goodMeta())); },
                  "tensor 'layers.1.q_proj.experts.A' has shape [3, 4, 9], expected [3, 4, 8]");
  t = tensors;
  t["layers.1.q_proj.router.weight"] = at::zeros({2, 8});
  expectFileError([&] { loadAdapterFile(writeRaw(t, goodMeta())); },
                  "tensor 'layers.1.q_proj.router.weight' has shape [2, 8], expected [3, 8]");
  // A file that is self-consistent but made for another model.
  ModelShape wide = kShape;
  wide.d_model = 16;
  saveAdapterFile(dir / "ok.safetensors", config, tensors);
  expectFileError([&] { loadAdapterFile(dir / "ok.safetensors", &wide); },
                  "tensor 'layers.0.q_proj.experts.A' has shape [1, 4, 8], expected [1, 4, 16]");
}

TEST_F(AdapterFileTest, ExtraAndMisplacedTensorsAreRejected) {
  AdapterTensors t = tensors;
  t["layers.0.q_proj.router.weight"] = at::zeros({1, 8});
  expectFileError(
      [&] { loadAdapterFile(writeRaw(t, goodMeta())); },
      "tensor 'layers.0.q_proj.router.weight' is present but layer 0 has a single expert");
  t = tensors;
  t["layers.9.q_proj.experts.A"] = at::zeros({1});
  expectFileError([&] { loadAdapterFile(writeRaw(t, goodMeta())); },
                  "tensor 'layers.9.q_proj.experts.A' is not part of an adapter");
}

TEST_F(AdapterFileTest, BadMetadataIsNamed) {
  auto meta = goodMeta();
  meta["format"] = "peft";
  expectFileError([&] { loadAdapterFile(writeRaw(tensors, meta)); },
                  "metadata 'format' is 'peft', expected 'mola-adapter'");
  meta = goodMeta();
  meta.erase("rank");
  expectFileError([&] { loadAdapterFile(writeRaw(tensors, meta)); }, "metadata 'rank' is missing");
  meta = goodMeta();
  meta["version"] = "2";
  expectFileError([&] { loadAdapterFile(writeRaw(tensors, meta)); }, "metadata 'version' is '2'");
  meta = goodMeta();
  meta["top_k"] = "two";
  expectFileError([&] { loadAdapterFile(writeRaw(tensors, meta)); },
                  "metadata 'top_k' = 'two' is not a positive whole number");
  meta = goodMeta();
  meta["experts_per_layer"] = "1,0,2";
  expectFileError([&] { loadAdapterFile(writeRaw(tensors, meta)); }, "layer 2 of 3 has 0 experts");
  meta = goodMeta();
  meta["target_modules"] = "q_proj,mlp";
  expectFileError([&] { loadAdapterFile(writeRaw(tensors, meta)); }, "unknown target module 'mlp'");
  meta = goodMeta();
  meta["lora_alpha"] = "8x";
  expectFileError([&] { loadAdapterFile(writeRaw(tensors, meta)); },
                  "metadata 'lora_alpha' = '8x' is not a number");
  expectFileError([&] { loadAdapterFile(writeRaw(tensors, {})); }, "metadata 'format' is missing");
}

// A MOELoRA file: rank 4 shared by each layer's experts (1, 2, 4 of them: ranks 4, 2, 1), the
// task embedding and one gate per layer; its metadata errors are named.
TEST_F(AdapterFileTest, MoeLoraFilesKeepTheirTasksAndNameTheirErrors) {
  AdapterConfig c;
  c.rank = 4;
  c.lora_alpha = 8.0;
  c.top_k = 1;
  c.allocation = Allocation({1, 2, 4});
  c.target_modules = {TargetModule::QProj};
  c.method = "moelora";
  c.tasks = {"arith", "words, with a comma"};
  c.task_dim = 5;
  AdapterTensors t;
  for (int j = 0; j < 3; ++j) {
    const int64_t n = c.allocation.experts(j), r = 4 / n;
    t[adapterKeyA(j, TargetModule::QProj)] = at::randn({n, r, 8});
    t[adapterKeyB(j, TargetModule::QProj)] = at::randn({n, 8, r});
    t[adapterKeyTaskGate(j)] = at::randn({n, 5});
  }
  t[kAdapterKeyTaskEmbedding] = at::randn({2, 5});
  const fs::path p = dir / "moelora.safetensors";
  saveAdapterFile(p, c, t);
  const LoadedAdapter back = loadAdapterFile(p);
  EXPECT_EQ(back.config, c);
  for (const auto& [key, value] : t) EXPECT_TRUE(at::equal(back.tensors.at(key), value)) << key;

  std::map<std::string, std::string> meta = goodMeta();
  meta["experts_per_layer"] = "1,2,4";
  meta["target_modules"] = "q_proj";
  meta["method"] = "moelora";
  meta["task_embedding_dim"] = "5";
  meta["tasks"] = R"(["arith", "words, with a comma"])";
  EXPECT_NO_THROW(loadAdapterFile(writeRaw(t, meta)));
  std::map<std::string, std::string> bad = meta;
  bad["tasks"] = "arith,words";
  expectFileError([&] { loadAdapterFile(writeRaw(t, bad)); },
                  "metadata 'tasks' must be a JSON list of task names");
  bad = meta;
  bad["rank"] = "6";
  expectFileError([&] { loadAdapterFile(writeRaw(t, bad)); },
                  "metadata 'rank' 6 cannot be shared among the 4 experts of layer 2");
  bad = meta;
  bad["method"] = "moe";
  expectFileError([&] { loadAdapterFile(writeRaw(t, bad)); },
                  "metadata 'method' is 'moe', expected 'mola' or 'moelora'");
  AdapterTensors missing = t;
  missing.erase(kAdapterKeyTaskEmbedding);
  expectFileError([&] { loadAdapterFile(writeRaw(missing, meta)); },
                  "tensor 'task_embedding' is missing");
}

TEST_F(AdapterFileTest, TruncatedAndGarbageFilesAreRejected) {
  const fs::path p = dir / "a.safetensors";
  saveAdapterFile(p, config, tensors);
  const auto size = fs::file_size(p);

  // Cut into the last tensor's bytes: the error names the tensor that runs past the end.
  fs::copy_file(p, dir / "cut.safetensors");
  fs::resize_file(dir / "cut.safetensors", size - 10);
  const SafetensorsFile whole = SafetensorsFile::open(p);
  std::string last;
  uint64_t last_end = 0;
  for (const auto& e : whole.entries())
    if (e.end > last_end) last_end = e.end, last = e.name;
  expectFileError([&] { loadAdapterFile(dir / "cut.safetensors"); },
                  "tensor '" + last + "' ends at byte");
  expectFileError([&] { loadAdapterFile(dir / "cut.safetensors"); }, "truncated");

  // Cut into the header.
  fs::copy_file(p, dir / "head.safetensors");
  fs::resize_file(dir / "head.safetensors", 40);
  expectFileError([&] { loadAdapterFile(dir / "head.safetensors"); }, "the header claims");

  std::ofstream(dir / "tiny.safetensors") << "abc";
  expectFileError([&] { loadAdapterFile(dir / "tiny.safetensors"); },
                  "too few for a safetensors header");

  {
    std::ofstream g(dir / "garbage.safetensors", std::ios::binary);
    const char len[8] = {16, 0, 0, 0, 0, 0, 0, 0};
    g.write(len, 8);
    g << "this is not json";
  }
  expectFileError([&] { loadAdapterFile(dir / "garbage.safetensors"); }, "not valid JSON");
  expectFileError([&] { loadAdapterFile(dir / "absent.safetensors"); }, "cannot open");
}

TEST_F(AdapterFileTest, ApplyRefusesAMismatchedModel) {
  const fs::path p = dir / "a.safetensors";
  saveAdapterFile(p, config, tensors);
  AdapterModules other = makeModules(3, {2, 3, 2});
  try {
    applyAdapter(loadAdapterFile(p), other);
    ADD_FAILURE() << "a 1,3,2 adapter went into a 2,3,2 model";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("layers.0.q_proj has 2 experts"), std::string::npos)
        << e.what();
  }
}

TEST_F(AdapterFileTest, SavingReplacesAnExistingFileAtomically) {
  const fs::path p = dir / "a.safetensors";
  saveAdapterFile(p, config, tensors);
  AdapterTensors changed = tensors;
  changed["layers.1.q_proj.experts.B"] = changed["layers.1.q_proj.experts.B"] + 1.0;
  saveAdapterFile(p, config, changed);
  EXPECT_FALSE(fs::exists(p.string() + ".tmp"));
  EXPECT_TRUE(at::equal(loadAdapterFile(p).tensors.at("layers.1.q_proj.experts.B"),
                        changed["layers.1.q_proj.experts.B"]));
}

}  // namespace
}  // namespace mola
