// SPDX-License-Identifier: GPL-3.0-or-later
// A llama GGUF file's architecture keys as a LlamaConfig, and its tokenizer keys as a
// tokenizer.json document (byte-level BPE) or a SentencePiece spec, read by the existing classes.
#include "model/gguf_llama.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "model/hf_bpe_tokenizer.h"
#include "model/sentencepiece_tokenizer.h"

namespace mola {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const GgufFile& f, const std::string& what) {
  throw std::runtime_error(f.path().string() + ": " + what);
}

int64_t required(const GgufFile& f, const std::string& key) {
  const std::optional<int64_t> v = f.integer(key);
  if (!v) fail(f, "metadata '" + key + "' is missing");
  if (*v <= 0 || *v > (int64_t(1) << 31))
    fail(f, "metadata '" + key + "' is " + std::to_string(*v) + ", not a size");
  return *v;
}

// The Split regex of a byte-level tokenizer, by llama.cpp's name for its pre-tokenizer
// (tokenizer.ggml.pre), in the form recognisePreTokenizerPattern knows.
std::string preTokenizerRegex(const GgufFile& f, const std::string& pre) {
  static const char* kGpt2 =
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  static const char* kLlama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|)"
      R"( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  static const char* kQwen2 = R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|)"
                              R"( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  // SmolLM's tokenizer splits digits before its byte-level regex; its merges never join digits,
  // so GPT-2's regex alone gives the same tokens (and is what transformers builds from the file).
  if (pre.empty() || pre == "default" || pre == "gpt2" || pre == "smollm") return kGpt2;
  if (pre == "llama-bpe" || pre == "llama3") return kLlama3;
  if (pre == "qwen2") return kQwen2;
  fail(f, "tokenizer.ggml.pre '" + pre +
              "' is not supported (default, gpt2, smollm, llama-bpe and qwen2 are)");
}

// tokenizer.ggml.token_type: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
std::vector<int64_t> tokenTypes(const GgufFile& f, size_t n) {
  const std::vector<int64_t>* types = f.integers("tokenizer.ggml.token_type");
  if (!types) return std::vector<int64_t>(n, 1);
  if (types->size() != n)
    fail(f, "tokenizer.ggml.token_type has " + std::to_string(types->size()) + " entries for " +
                std::to_string(n) + " tokens");
  return *types;
}

HfTokenizerFiles byteLevelBpeFiles(const GgufFile& f, const std::vector<std::string>& tokens) {
  const std::vector<std::string>* merges = f.strings("tokenizer.ggml.merges");
  if (!merges) fail(f, "metadata 'tokenizer.ggml.merges' is missing (a gpt2 tokenizer needs it)");
  const std::vector<int64_t> types = tokenTypes(f, tokens.size());
  nlohmann::json vocab = nlohmann::json::object();
  nlohmann::json added = nlohmann::json::array();
  for (size_t id = 0; id < tokens.size(); ++id) {
    vocab[tokens[id]] = id;
    if (types[id] == 3 || types[id] == 4)
      added.push_back({{"id", id},
                       {"content", tokens[id]},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", types[id] != 3},
                       {"special", types[id] == 3}});
  }
  const std::string regex = preTokenizerRegex(f, f.string("tokenizer.ggml.pre").value_or(""));
  // Every field the tokenizers library requires, so that the file also serves Hugging Face tools
  // (mola merge writes it into a model directory).
  const nlohmann::json byte_level = {{"type", "ByteLevel"},
                                     {"add_prefix_space", false},
                                     {"trim_offsets", true},
                                     {"use_regex", false}};
  const nlohmann::json doc = {{"version", "1.0"},
                              {"truncation", nullptr},
                              {"padding", nullptr},
                              {"added_tokens", added},
                              {"normalizer", nullptr},
                              {"pre_tokenizer",
                               {{"type", "Sequence"},
                                {"pretokenizers",
                                 {{{"type", "Split"},
                                   {"pattern", {{"Regex", regex}}},
                                   {"behavior", "Isolated"},
                                   {"invert", false}},
                                  byte_level}}}},
                              {"post_processor", byte_level},
                              {"decoder", byte_level},
                              {"model",
                               {{"type", "BPE"},
                                {"dropout", nullptr},
                                {"unk_token", nullptr},
                                {"continuing_subword_prefix", nullptr},
                                {"end_of_word_suffix", nullptr},
                                {"fuse_unk", false},
                                {"byte_fallback", false},
                                {"ignore_merges", false},
                                {"vocab", vocab},
                                {"merges", *merges}}}};
  // BOS and EOS as tokenizer_config.json would name them; no BOS when the file says not to add one.
  nlohmann::json config = {{"tokenizer_class", "PreTrainedTokenizerFast"}};
  const auto special = [&](const char* key) -> std::optional<std::string> {
    const std::optional<int64_t> id = f.integer(key);
    if (!id) return std::nullopt;
    if (*id < 0 || size_t(*id) >= tokens.size())
      fail(f, "metadata '" + std::string(key) + "' is " + std::to_string(*id) +
                  ", outside the vocabulary");
    return tokens[size_t(*id)];
  };
  if (f.boolean("tokenizer.ggml.add_bos_token").value_or(true))
    if (auto bos = special("tokenizer.ggml.bos_token_id")) config["bos_token"] = *bos;
  if (auto eos = special("tokenizer.ggml.eos_token_id")) config["eos_token"] = *eos;
  if (!config.contains("bos_token")) config["bos_token"] = nullptr;
  return {doc.dump(), config.dump()};
}

std::unique_ptr<Tokenizer> sentencePiece(const GgufFile& f,
                                         const std::vector<std::string>& tokens) {
  SentencePieceTokenizer::Spec spec;
  spec.pieces = tokens;
  const std::vector<double>* scores = f.reals("tokenizer.ggml.scores");
  if (!scores) fail(f, "metadata 'tokenizer.ggml.scores' is missing (a llama tokenizer needs it)");
  spec.scores.assign(scores->begin(), scores->end());
  for (int64_t t : tokenTypes(f, tokens.size())) {
    if (t < 1 || t > 6)
      fail(f, "tokenizer.ggml.token_type has the unknown type " + std::to_string(t));
    spec.types.push_back(static_cast<SentencePieceTokenizer::PieceType>(t));
  }
  spec.model_type = SentencePieceTokenizer::ModelType::Bpe;
  spec.unk_id = int(f.integer("tokenizer.ggml.unknown_token_id").value_or(0));
  spec.bos_id = f.boolean("tokenizer.ggml.add_bos_token").value_or(true)
                    ? int(f.integer("tokenizer.ggml.bos_token_id").value_or(1))
                    : -1;
  spec.eos_id = int(f.integer("tokenizer.ggml.eos_token_id").value_or(2));
  spec.pad_id = int(f.integer("tokenizer.ggml.padding_token_id").value_or(-1));
  spec.byte_fallback = true;  // llama.cpp's SPM vocabularies carry <0xHH> byte pieces
  spec.add_dummy_prefix = f.boolean("tokenizer.ggml.add_space_prefix").value_or(true);
  spec.remove_extra_whitespaces = false;
  return SentencePieceTokenizer::fromSpec(spec, f.path());
}

}  // namespace

bool isGgufFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

LlamaConfig ggufLlamaConfig(const GgufFile& f) {
  const std::string arch = f.string("general.architecture").value_or("");
  if (arch != "llama")
    fail(f, "general.architecture is '" + arch + "'; only 'llama' files are supported");
  if (const auto scaling = f.string("llama.rope.scaling.type"); scaling && *scaling != "none")
    fail(f, "llama.rope.scaling.type '" + *scaling + "' is not supported");
  LlamaConfig c;
  c.architecture = "llama";
  c.num_layers = int(required(f, "llama.block_count"));
  c.d_model = required(f, "llama.embedding_length");
  c.ffn_dim = required(f, "llama.feed_forward_length");
  c.num_heads = int(required(f, "llama.attention.head_count"));
  c.num_kv_heads = f.integer("llama.attention.head_count_kv")
                       ? int(required(f, "llama.attention.head_count_kv"))
                       : c.num_heads;
  c.head_dim = c.d_model / c.num_heads;
  if (f.integer("llama.rope.dimension_count") &&
      required(f, "llama.rope.dimension_count") != c.head_dim)
    fail(f, "llama.rope.dimension_count " +
                std::to_string(required(f, "llama.rope.dimension_count")) +
                " is not the head size " + std::to_string(c.head_dim) +
                " (partial rotary embeddings are not supported)");
  c.max_seq_len = f.integer("llama.context_length") ? required(f, "llama.context_length") : 4096;
  c.rope_theta = f.real("llama.rope.freq_base").value_or(10000.0);
  c.rms_eps = f.real("llama.attention.layer_norm_rms_epsilon").value_or(1e-5);
  const std::vector<std::string>* tokens = f.strings("tokenizer.ggml.tokens");
  c.vocab_size = f.integer("llama.vocab_size") ? required(f, "llama.vocab_size")
                 : tokens                      ? int64_t(tokens->size())
                                               : 0;
  if (c.vocab_size == 0) fail(f, "neither llama.vocab_size nor tokenizer.ggml.tokens is present");
  c.tied_embeddings = f.find("output.weight") == nullptr;
  c.bos_id = int(f.integer("tokenizer.ggml.bos_token_id").value_or(1));
  c.eos_id = int(f.integer("tokenizer.ggml.eos_token_id").value_or(2));
  try {
    c.validate();
  } catch (const std::invalid_argument& e) {
    fail(f, e.what());
  }
  return c;
}

std::unique_ptr<Tokenizer> ggufTokenizer(const GgufFile& f) {
  const std::string model = f.string("tokenizer.ggml.model").value_or("");
  const std::vector<std::string>* tokens = f.strings("tokenizer.ggml.tokens");
  if (!tokens || tokens->empty()) fail(f, "metadata 'tokenizer.ggml.tokens' is missing");
  if (model == "gpt2") {
    const HfTokenizerFiles files = byteLevelBpeFiles(f, *tokens);
    return HfBpeTokenizer::parse(files.tokenizer_json, f.path(), files.tokenizer_config_json);
  }
  if (model == "llama") return sentencePiece(f, *tokens);
  fail(f, "tokenizer.ggml.model '" + model + "' is not supported (gpt2 and llama are)");
}

std::optional<HfTokenizerFiles> ggufHfTokenizerFiles(const GgufFile& f) {
  const std::vector<std::string>* tokens = f.strings("tokenizer.ggml.tokens");
  if (f.string("tokenizer.ggml.model").value_or("") != "gpt2" || !tokens) return std::nullopt;
  return byteLevelBpeFiles(f, *tokens);
}

}  // namespace mola
