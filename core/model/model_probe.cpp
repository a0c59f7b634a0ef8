// SPDX-License-Identifier: GPL-3.0-or-later
// Model architectures from their files' headers and metadata, without Torch.
#include "model/model_probe.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "model/gguf.h"
#include "model/gguf_llama.h"

namespace mola {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& path, const std::string& what) {
  throw std::runtime_error(path.string() + ": " + what);
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

LlamaConfig readLlama2cConfig(const fs::path& file) {
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
  return c;
}

LlamaConfig probeModelConfig(const std::string& path) {
  if (path.rfind("builtin:tiny", 0) == 0) return builtinTinyConfig();
  const fs::path p(path);
  std::error_code ec;
  if (!fs::exists(p, ec)) throw std::runtime_error(path + ": no such file or directory");
  if (fs::is_directory(p, ec)) return readHfConfig(p / "config.json");
  if (isGgufFile(p)) return ggufLlamaConfig(GgufFile::open(p));
  return readLlama2cConfig(p);
}

std::optional<ModelShape> probeModelShape(const std::string& path) {
  try {
    return probeModelConfig(path).shape();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace mola
