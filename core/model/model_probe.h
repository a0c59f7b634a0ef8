// SPDX-License-Identifier: GPL-3.0-or-later
// What a model path holds, told without loading its weights (torch-free): the architecture of the
// built-in model, a Hugging Face config.json, a llama2.c header, or a GGUF file's metadata.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "model/llama_config.h"
#include "model/model_shape.h"

namespace mola {

// The built-in tiny model's architecture: byte-level vocabulary (Tokenizer::bytes()), 4 layers of
// width 128, 4 heads, SwiGLU 344, 512 positions.
LlamaConfig builtinTinyConfig();

// Reads a Hugging Face config.json (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM).
// Errors name the file and the field.
LlamaConfig readHfConfig(const std::filesystem::path& config_json);

// Reads and checks a llama2.c checkpoint's header (7 int32: dim, hidden_dim, n_layers, n_heads,
// n_kv_heads, vocab_size (negative: an untied classifier), seq_len). Errors name the file.
LlamaConfig readLlama2cConfig(const std::filesystem::path& file);

// The architecture of `path`: builtin:tiny[...] and builtin:tiny-pretrained, a Hugging Face
// directory, a GGUF file or a llama2.c file. Errors (std::runtime_error) name the file and field.
LlamaConfig probeModelConfig(const std::string& path);
// The same as a shape; nullopt where it cannot be told (a missing or unreadable path included:
// loading reports those properly).
std::optional<ModelShape> probeModelShape(const std::string& path);

}  // namespace mola
