// SPDX-License-Identifier: GPL-3.0-or-later
// Checkpoint loaders: one tensor-name table per format, mapped onto LlamaModel's parameters.
#include "model/checkpoint_loader.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "model/safetensors.h"

namespace mola {

namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const fs::path& path, const std::string& what) {
  throw std::runtime_error(path.string() + ": " + what);
}

std::string shapeText(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Copies `src` into the model tensor `dst` (converting dtype), checking the shape.
void assign(const fs::path& path, const std::string& name, torch::Tensor& dst,
            const torch::Tensor& src) {
  if (!src.sizes().equals(dst.sizes()))
    fail(path, "tensor '" + name + "' has shape " + shapeText(src.sizes()) +
                   ", the model expects " + shapeText(dst.sizes()));
  torch::NoGradGuard no_grad;
  dst.copy_(src);
}

// HF key -> the model tensor it fills.
std::map<std::string, torch::Tensor*> hfTensorTable(LlamaModel& model) {
  const LlamaConfig& c = model->config();
  std::map<std::string, torch::Tensor*> t;
  t["model.embed_tokens.weight"] = &model->embed;
  t["model.norm.weight"] = &model->norm;
  if (!c.tied_embeddings) t["lm_head.weight"] = &model->lm_head;
  static const std::pair<TargetModule, const char*> kProj[] = {
      {TargetModule::QProj, "self_attn.q_proj"}, {TargetModule::KProj, "self_attn.k_proj"},
      {TargetModule::VProj, "self_attn.v_proj"}, {TargetModule::OProj, "self_attn.o_proj"},
      {TargetModule::GateProj, "mlp.gate_proj"}, {TargetModule::UpProj, "mlp.up_proj"},
      {TargetModule::DownProj, "mlp.down_proj"}};
  for (int j = 0; j < c.num_layers; ++j) {
    const std::string p = "model.layers." + std::to_string(j) + ".";
    LlamaLayer& layer = model->layer(j);
    t[p + "input_layernorm.weight"] = &layer->attn_norm;
    t[p + "post_attention_layernorm.weight"] = &layer->ffn_norm;
    for (const auto& [m, name] : kProj) {
      t[p + name + ".weight"] = &layer->projection(m)->weight;
      if (layer->projection(m)->bias.defined()) t[p + name + ".bias"] = &layer->projection(m)->bias;
    }
  }
  return t;
}

at::ScalarType safetensorsType(const fs::path& path, const SafetensorsEntry& e) {
  if (e.dtype == "F32") return at::kFloat;
  if (e.dtype == "BF16") return at::kBFloat16;
  if (e.dtype == "F16") return at::kHalf;
  if (e.dtype == "F64") return at::kDouble;
  fail(path, "tensor '" + e.name + "' has dtype " + e.dtype + "; weights must be F32, BF16 or F16");
}

int jsonInt(const fs::path& path, const nlohmann::json& j, const char* key,
            std::optional<int64_t> fallback = {}) {
  if (!j.contains(key) || j[key].is_null()) {
    if (fallback) return static_cast<int>(*fallback);
    fail(path, std::string("field '") + key + "' is missing");
  }
  if (!j[key].is_number_integer()) fail(path, std::string("field '") + key + "' is not an integer");
  return j[key].get<int>();
}

double jsonDouble(const fs::path& path, const nlohmann::json& j, const char* key, double fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number()) fail(path, std::string("field '") + key + "' is not a number");
  return j[key].get<double>();
}

}  // namespace

c10::ScalarType dtypeFromName(const std::string& name) {
  if (name == "fp32") return c10::kFloat;
  if (name == "bf16") return c10::kBFloat16;
  if (name == "fp16") return c10::kHalf;
  throw std::invalid_argument("dtype '" + name + "' is not one of fp32, bf16, fp16");
}

c10::Device deviceFromName(const std::string& name) {
  if (name == "cpu") return c10::kCPU;
  if (name == "cuda") {
    if (!at::hasCUDA()) throw std::runtime_error("device cuda: no CUDA device is available");
    return c10::kCUDA;
  }
  if (name == "auto") return at::hasCUDA() ? c10::kCUDA : c10::kCPU;
  throw std::invalid_argument("device '" + name + "' is not one of auto, cpu, cuda");
}

LlamaConfig builtinTinyConfig() {
  LlamaConfig c;
  c.architecture = "builtin";
  c.vocab_size = 259;
  c.d_model = 128;
  c.ffn_dim = 344;
  c.num_layers = 4;
  c.num_heads = 4;
  c.num_kv_heads = 4;
  c.head_dim = 32;
  c.max_seq_len = 512;
  c.tied_embeddings = true;
  return c;
}

LlamaModel builtinTinyModel(uint64_t seed) {
  torch::manual_seed(seed);
  return LlamaModel(builtinTinyConfig());
}

LlamaConfig readHfConfig(const fs::path& file) {
  std::ifstream in(file);
  if (!in) fail(file, "cannot open");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(file, std::string("not valid JSON: ") + e.what());
  }
  std::string arch = j.contains("architectures") && j["architectures"].is_array() &&
                             !j["architectures"].empty() && j["architectures"][0].is_string()
                         ? j["architectures"][0].get<std::string>()
                         : j.value("model_type", std::string());
  LlamaConfig c;
  if (arch == "LlamaForCausalLM" || arch == "llama") {
    c.architecture = "llama";
  } else if (arch == "MistralForCausalLM" || arch == "mistral") {
    c.architecture = "mistral";
  } else if (arch == "Qwen2ForCausalLM" || arch == "qwen2") {
    c.architecture = "qwen2";
    c.qkv_bias = true;
  } else {
    fail(file, "architecture '" + arch +
                   "' is not supported (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)");
  }
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
    fail(file, "rope_scaling " + j["rope_scaling"].dump() + " is not supported yet");
  if (j.contains("hidden_act") && j["hidden_act"] != "silu")
    fail(file, "hidden_act " + j["hidden_act"].dump() + " is not supported (silu)");
  c.vocab_size = jsonInt(file, j, "vocab_size");
  c.d_model = jsonInt(file, j, "hidden_size");
  c.ffn_dim = jsonInt(file, j, "intermediate_size");
  c.num_layers = jsonInt(file, j, "num_hidden_layers");
  c.num_heads = jsonInt(file, j, "num_attention_heads");
  c.num_kv_heads = jsonInt(file, j, "num_key_value_heads", c.num_heads);
  c.head_dim = jsonInt(file, j, "head_dim", c.num_heads > 0 ? c.d_model / c.num_heads : 0);
  c.max_seq_len = jsonInt(file, j, "max_position_embeddings", 2048);
  c.rope_theta = jsonDouble(file, j, "rope_theta", 10000.0);
  c.rms_eps = jsonDouble(file, j, "rms_norm_eps", 1e-6);
  c.tied_embeddings = j.value("tie_word_embeddings", false);
  c.bos_id = jsonInt(file, j, "bos_token_id", 1);
  // eos_token_id may be a list (LLaMA-3): the first ends generation.
  if (j.contains("eos_token_id") && j["eos_token_id"].is_array() && !j["eos_token_id"].empty())
    c.eos_id = j["eos_token_id"][0].get<int>();
  else
    c.eos_id = jsonInt(file, j, "eos_token_id", 2);
  try {
    c.validate();
  } catch (const std::invalid_argument& e) {
    fail(file, e.what());
  }
  return c;
}

LlamaModel loadHfModel(const fs::path& dir, c10::ScalarType dtype) {
  const LlamaConfig config = readHfConfig(dir / "config.json");
  // Every tensor comes from the checkpoint, straight into `dtype`.
  LlamaModel model(config, LlamaModelImpl::Uninitialised{dtype});
  std::map<std::string, torch::Tensor*> table = hfTensorTable(model);
  if (table.size() != model->parameters().size())
    throw std::logic_error("the checkpoint table names " + std::to_string(table.size()) +
                           " tensors but the model has " +
                           std::to_string(model->parameters().size()));

  // Which file holds which tensor: one model.safetensors, or the shards of an index.
  std::map<std::string, fs::path> where;
  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(index)) {
    std::ifstream in(index);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      fail(index, std::string("not valid JSON: ") + e.what());
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      fail(index, "field 'weight_map' is missing");
    for (const auto& [name, file] : j["weight_map"].items())
      where[name] = dir / file.get<std::string>();
  } else if (fs::exists(dir / "model.safetensors")) {
    const SafetensorsFile single = SafetensorsFile::open(dir / "model.safetensors");
    for (const SafetensorsEntry& e : single.entries()) where[e.name] = dir / "model.safetensors";
  } else {
    fail(dir, "no model.safetensors or model.safetensors.index.json in this directory");
  }

  std::map<fs::path, SafetensorsFile> files;  // each shard mapped once
  std::set<std::string> loaded;
  for (auto& [name, dst] : table) {
    auto it = where.find(name);
    if (it == where.end()) fail(dir, "tensor '" + name + "' is missing from the checkpoint");
    if (!files.count(it->second)) files.emplace(it->second, SafetensorsFile::open(it->second));
    const SafetensorsFile& f = files.at(it->second);
    const SafetensorsEntry* e = f.find(name);
    if (!e) fail(it->second, "tensor '" + name + "' is listed in the index but not in this shard");
    const at::Tensor src = at::from_blob(const_cast<std::byte*>(f.data(*e)), e->shape,
                                         safetensorsType(it->second, *e));
    assign(it->second, name, *dst, src);
    loaded.insert(name);
  }
  for (const auto& [name, file] : where)
    if (!loaded.count(name) && name.find("rotary_emb.inv_freq") == std::string::npos &&
        !(config.tied_embeddings && name == "lm_head.weight"))
      fail(file, "tensor '" + name + "' is not part of a " + config.architecture + " model with " +
                     std::to_string(config.num_layers) + " layers");
  return model;
}

LlamaModel loadLlama2c(const fs::path& file, c10::ScalarType dtype) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(file, "cannot open");
  int32_t h[7] = {};
  in.read(reinterpret_cast<char*>(h), sizeof(h));
  if (!in) fail(file, "too short for a llama2.c header (7 int32)");
  LlamaConfig c;
  c.architecture = "llama2c";
  c.d_model = h[0];
  c.ffn_dim = h[1];
  c.num_layers = h[2];
  c.num_heads = h[3];
  c.num_kv_heads = h[4];
  c.tied_embeddings = h[5] > 0;  // a negative vocab_size marks an untied classifier
  c.vocab_size = h[5] > 0 ? h[5] : -int64_t(h[5]);
  c.max_seq_len = h[6];
  c.head_dim = c.num_heads > 0 ? c.d_model / c.num_heads : 0;
  c.rope_interleaved = true;
  const bool plausible = h[0] > 0 && h[0] <= 65536 && h[1] > 0 && h[2] > 0 && h[2] <= 1024 &&
                         h[3] > 0 && h[4] > 0 && h[6] > 0 && c.vocab_size > 0;
  if (!plausible)
    fail(file, "the header (" + std::to_string(h[0]) + ", " + std::to_string(h[1]) + ", " +
                   std::to_string(h[2]) + ", " + std::to_string(h[3]) + ", " +
                   std::to_string(h[4]) + ", " + std::to_string(h[5]) + ", " +
                   std::to_string(h[6]) +
                   ") is not a llama2.c v0 config (dim, hidden_dim, n_layers, n_heads, "
                   "n_kv_heads, vocab_size, seq_len)");
  try {
    c.validate();
  } catch (const std::invalid_argument& e) {
    fail(file, e.what());
  }
  LlamaModel model(c, LlamaModelImpl::Uninitialised{dtype});  // every tensor comes from the file

  const int64_t d = c.d_model, f = c.ffn_dim, l = c.num_layers, v = c.vocab_size;
  const int64_t kv = c.num_kv_heads * c.head_dim;
  const int64_t rope_floats = c.max_seq_len * c.head_dim;  // freq_cis_real + freq_cis_imag
  const int64_t floats = v * d + 2 * l * d + l * (2 * d * d + 2 * kv * d + 3 * f * d) + d +
                         rope_floats + (c.tied_embeddings ? 0 : v * d);
  const uint64_t need = sizeof(h) + uint64_t(floats) * 4, have = fs::file_size(file);
  if (have < need)
    fail(file, "the file has " + std::to_string(have) + " bytes but its header needs " +
                   std::to_string(need) + "; it is truncated");
  std::vector<float> data(static_cast<size_t>(floats));
  in.read(reinterpret_cast<char*>(data.data()), std::streamsize(data.size() * 4));
  const float* p = data.data();
  // Arrays in file order, each [layers, ...] split over the layers.
  auto take = [&](const std::string& name, std::vector<torch::Tensor*> dsts, int64_t each) {
    for (size_t i = 0; i < dsts.size(); ++i) {
      const at::Tensor src =
          at::from_blob(const_cast<float*>(p), {each}, at::kFloat).view(dsts[i]->sizes());
      // Appended piece by piece: GCC 12 warns falsely (stringop-overflow) on "[" + to_string(i).
      std::string key = name;
      if (dsts.size() > 1) key.append("[").append(std::to_string(i)).append("]");
      assign(file, key, *dsts[i], src);
      p += each;
    }
  };
  auto per_layer = [&](auto get) {
    std::vector<torch::Tensor*> out;
    for (int j = 0; j < c.num_layers; ++j) out.push_back(get(model->layer(j)));
    return out;
  };
  auto proj = [&](TargetModule m) {
    return per_layer([m](LlamaLayer& L) { return &L->projection(m)->weight; });
  };
  take("token_embedding_table", {&model->embed}, v * d);
  take("rms_att_weight", per_layer([](LlamaLayer& L) { return &L->attn_norm; }), d);
  take("wq", proj(TargetModule::QProj), d * d);
  take("wk", proj(TargetModule::KProj), kv * d);
  take("wv", proj(TargetModule::VProj), kv * d);
  take("wo", proj(TargetModule::OProj), d * d);
  take("rms_ffn_weight", per_layer([](LlamaLayer& L) { return &L->ffn_norm; }), d);
  take("w1", proj(TargetModule::GateProj), f * d);
  take("w2", proj(TargetModule::DownProj), d * f);
  take("w3", proj(TargetModule::UpProj), f * d);
  take("rms_final_weight", {&model->norm}, d);
  p += rope_floats;  // freq_cis: recomputed from rope_theta
  if (!c.tied_embeddings) take("wcls", {&model->lm_head}, v * d);
  return model;
}

LlamaModel loadModel(const std::string& path, c10::ScalarType dtype) {
  if (path.rfind(kBuiltinTinyModel, 0) == 0) {
    const std::string rest = path.substr(std::string(kBuiltinTinyModel).size());
    uint64_t seed = 0;
    if (!rest.empty()) {
      if (rest[0] != ':') throw std::runtime_error("unknown built-in model '" + path + "'");
      try {
        seed = std::stoull(rest.substr(1));
      } catch (const std::exception&) {
        throw std::runtime_error("'" + path + "': the seed after builtin:tiny: must be a number");
      }
    }
    LlamaModel m = builtinTinyModel(seed);
    m->to(dtype);
    return m;
  }
  const fs::path p(path);
  if (!fs::exists(p)) throw std::runtime_error(path + ": no such file or directory");
  if (fs::is_directory(p)) return loadHfModel(p, dtype);
  return loadLlama2c(p, dtype);
}

std::unique_ptr<Tokenizer> loadTokenizerFor(const std::string& model_path,
                                            const std::string& override_file) {
  if (!override_file.empty()) return Tokenizer::load(override_file);
  if (model_path.rfind("builtin:", 0) == 0) return Tokenizer::bytes();
  const fs::path p(model_path);
  if (fs::is_directory(p)) return Tokenizer::loadFromModelDir(p);
  const fs::path beside = p.parent_path() / "tokenizer.bin";
  if (fs::exists(beside)) return Tokenizer::load(beside);
  throw std::runtime_error(model_path +
                           ": no tokenizer.bin beside this llama2.c checkpoint; pass "
                           "--tokenizer FILE");
}

}  // namespace mola
