// SPDX-License-Identifier: GPL-3.0-or-later
// What a LLaMA-architecture GGUF file says without Torch: its `llama.*` keys as a LlamaConfig, and
// its `tokenizer.ggml.*` keys as one of the existing tokenizer classes.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "model/gguf.h"
#include "model/llama_config.h"
#include "model/tokenizer.h"

namespace mola {

// Whether `path` is a GGUF file (by its first four bytes).
bool isGgufFile(const std::filesystem::path& path);

// The architecture of a `llama` GGUF file; another architecture, a missing key or an inconsistent
// value is an error (std::runtime_error) naming the file and the key.
LlamaConfig ggufLlamaConfig(const GgufFile& file);

// The tokenizer in the file's metadata: `gpt2` (byte-level BPE with merges) as an HfBpeTokenizer,
// `llama` (SentencePiece-style pieces with scores and types) as a SentencePieceTokenizer. Errors
// name the file and the key.
std::unique_ptr<Tokenizer> ggufTokenizer(const GgufFile& file);

// A byte-level BPE tokenizer (`gpt2`) as the two files Hugging Face tools read; nullopt for other
// tokenizer kinds.
struct HfTokenizerFiles {
  std::string tokenizer_json;
  std::string tokenizer_config_json;
};
std::optional<HfTokenizerFiles> ggufHfTokenizerFiles(const GgufFile& file);

}  // namespace mola
