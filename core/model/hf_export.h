// SPDX-License-Identifier: GPL-3.0-or-later
// What users take to other tools: a plain-LoRA adapter as a PEFT adapter directory, and a model (a
// plain-LoRA adapter merged into it) as a Hugging Face model directory.
#pragma once

#include <c10/core/ScalarType.h>

#include <filesystem>
#include <string>

#include "adapters/adapter_file.h"
#include "model/llama_model.h"

namespace mola {

// adapter_config.json (peft_type LORA, r, lora_alpha, target_modules, task_type CAUSAL_LM,
// base_model_name_or_path `base_model`) and adapter_model.safetensors (F32, keys
// base_model.model.model.layers.{j}.self_attn.q_proj.lora_A.weight [r, d_in] and .lora_B.weight
// [d_out, r]), written into `dir` (created). An adapter with more than one expert in a layer is
// refused with a std::invalid_argument naming the layer: PEFT's LoRA has no mixture of experts.
void exportPeftAdapter(const LoadedAdapter& adapter, const std::filesystem::path& dir,
                       const std::string& base_model);

// Adds (alpha / r) B A to every targeted projection's weight (computed in fp32, stored in the
// weight's dtype) and removes the adapter: the model then computes what it computed with it. A
// mixture (a layer with more than one expert) routes per token and cannot be merged: refused
// naming the layer.
void mergeLoraIntoBase(LlamaModel& model);

// config.json (LlamaForCausalLM, or MistralForCausalLM / Qwen2ForCausalLM) and model.safetensors
// with every weight in `dtype` (kFloat or kBFloat16), written atomically into `dir` (created).
void saveHfModelDirectory(LlamaModel& model, const std::filesystem::path& dir,
                          c10::ScalarType dtype = c10::kFloat);

}  // namespace mola
