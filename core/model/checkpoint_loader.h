// SPDX-License-Identifier: GPL-3.0-or-later
// Loading LLaMA-family checkpoints: Hugging Face directories, llama2.c files, the built-in tiny
// model.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <filesystem>
#include <map>
#include <string>

#include "model/llama_model.h"
#include "model/model_probe.h"
#include "model/tokenizer.h"

namespace mola {

// "fp32", "bf16" or "fp16"; other names are std::invalid_argument naming the allowed ones.
c10::ScalarType dtypeFromName(const std::string& name);
// "auto" (CUDA when there is a device, else the CPU), "cpu" or "cuda"; other names are
// std::invalid_argument, and "cuda" without a device is std::runtime_error.
c10::Device deviceFromName(const std::string& name);

// The model path "builtin:tiny" (or "builtin:tiny:SEED") names the built-in tiny model.
inline constexpr const char* kBuiltinTinyModel = "builtin:tiny";

// Loads `path`: a Hugging Face model directory (config.json + model.safetensors or sharded
// model-0000x-of-0000y.safetensors with model.safetensors.index.json), a GGUF file (loadGgufModel),
// a llama2.c checkpoint file, or "builtin:tiny[:SEED]". Weights are converted to `dtype`. Errors
// (std::runtime_error) name the file and the tensor: unknown architecture, missing tensors, shape
// mismatches, truncated files.
LlamaModel loadModel(const std::string& path, c10::ScalarType dtype = c10::kFloat);
// Hugging Face tensor names ("model.layers.3.self_attn.q_proj.weight", ...) of the model's
// weights, as loadHfModel reads them and saveHfModelDirectory writes them.
std::map<std::string, torch::Tensor*> hfTensorTable(LlamaModel& model);
LlamaModel loadHfModel(const std::filesystem::path& dir, c10::ScalarType dtype = c10::kFloat);
LlamaModel loadLlama2c(const std::filesystem::path& file, c10::ScalarType dtype = c10::kFloat);
LlamaModel builtinTinyModel(uint64_t seed = 0);

// The tokenizer for a model path: `override_file` when given, else the byte tokenizer for the
// built-in model, the directory's tokenizer.json / tokenizer.model, a GGUF file's own, or a
// tokenizer.bin beside a llama2.c file. Errors say which file was looked for.
std::unique_ptr<Tokenizer> loadTokenizerFor(const std::string& model_path,
                                            const std::string& override_file = "");

}  // namespace mola
