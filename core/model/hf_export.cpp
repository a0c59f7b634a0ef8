// SPDX-License-Identifier: GPL-3.0-or-later
// PEFT adapter directories, LoRA merging, and Hugging Face model directories.
#include "model/hf_export.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "model/checkpoint_loader.h"
#include "model/safetensors.h"

namespace mola {

namespace fs = std::filesystem;

namespace {

// "self_attn.q_proj" and the like: where Hugging Face's LlamaDecoderLayer keeps a projection.
std::string hfModulePath(TargetModule m) {
  const bool attention = m == TargetModule::QProj || m == TargetModule::KProj ||
                         m == TargetModule::VProj || m == TargetModule::OProj;
  return std::string(attention ? "self_attn." : "mlp.") + std::string(targetModuleName(m));
}

void refuseMixture(const Allocation& allocation, const std::string& what) {
  for (int j = 0; j < allocation.numLayers(); ++j)
    if (allocation.experts(j) != 1)
      throw std::invalid_argument("layer " + std::to_string(j + 1) + " has " +
                                  std::to_string(allocation.experts(j)) + " experts: " + what +
                                  " takes a plain LoRA adapter (one expert in every layer)");
}

void writeText(const fs::path& file, const std::string& text) {
  const fs::path tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw std::runtime_error(tmp.string() + ": cannot be written");
  }
  fs::rename(tmp, file);
}

// Tensors as safetensors views: converted, contiguous CPU copies kept alive in `keep`.
void addView(std::vector<SafetensorsTensorView>& views, std::vector<at::Tensor>& keep,
             const std::string& name, const at::Tensor& t, c10::ScalarType dtype) {
  keep.push_back(t.detach().to(at::kCPU, dtype).contiguous());
  views.push_back({name, dtype == at::kBFloat16 ? "BF16" : "F32",
                   std::vector<int64_t>(t.sizes().begin(), t.sizes().end()),
                   keep.back().data_ptr()});
}

}  // namespace

void exportPeftAdapter(const LoadedAdapter& adapter, const fs::path& dir,
                       const std::string& base_model) {
  const AdapterConfig& c = adapter.config;
  refuseMixture(c.allocation, "a PEFT LoRA adapter");
  fs::create_directories(dir);
  std::vector<SafetensorsTensorView> views;
  std::vector<at::Tensor> keep;
  std::vector<std::string> modules;
  for (TargetModule m : c.target_modules) modules.emplace_back(targetModuleName(m));
  for (int j = 0; j < c.allocation.numLayers(); ++j)
    for (TargetModule m : c.target_modules) {
      const std::string p =
          "base_model.model.model.layers." + std::to_string(j) + "." + hfModulePath(m);
      // The file's A is [1, r, d_in] and B [1, d_out, r]: PEFT's lora_A.weight and lora_B.weight.
      addView(views, keep, p + ".lora_A.weight", adapter.tensors.at(adapterKeyA(j, m))[0],
              at::kFloat);
      addView(views, keep, p + ".lora_B.weight", adapter.tensors.at(adapterKeyB(j, m))[0],
              at::kFloat);
    }
  writeSafetensors(dir / "adapter_model.safetensors", views, {{"format", "pt"}});
  const nlohmann::json config = {{"peft_type", "LORA"},
                                 {"task_type", "CAUSAL_LM"},
                                 {"base_model_name_or_path", base_model},
                                 {"r", c.rank},
                                 {"lora_alpha", c.lora_alpha},
                                 {"lora_dropout", 0.0},
                                 {"target_modules", modules},
                                 {"bias", "none"},
                                 {"fan_in_fan_out", false},
                                 {"inference_mode", true}};
  writeText(dir / "adapter_config.json", config.dump(2) + "\n");
}

void mergeLoraIntoBase(LlamaModel& model) {
  if (!model->hasAdapters()) return;
  const MolaSpec& spec = model->molaSpec();
  refuseMixture(spec.allocation, "merging");
  torch::NoGradGuard no_grad;
  const double scale = spec.alpha / double(spec.rank);
  for (int j = 0; j < model->config().num_layers; ++j)
    for (TargetModule m : spec.target_modules) {
      MolaLinear& p = model->layer(j)->projection(m);
      // lora_B [out, r] times lora_A [r, in], in fp32 whatever the base's dtype.
      const at::Tensor delta = at::matmul(p->lora_B.to(at::kFloat), p->lora_A.to(at::kFloat));
      p->weight.copy_((p->weight.to(at::kFloat) + scale * delta.to(p->weight.device()))
                          .to(p->weight.scalar_type()));
    }
  model->removeAdapters();
}

void saveHfModelDirectory(LlamaModel& model, const fs::path& dir, c10::ScalarType dtype) {
  if (model->hasAdapters())
    throw std::invalid_argument("the model still has adapters: merge or remove them first");
  if (dtype != at::kFloat && dtype != at::kBFloat16)
    throw std::invalid_argument("a Hugging Face directory is written in fp32 or bf16");
  const LlamaConfig& c = model->config();
  if (c.rope_interleaved)
    throw std::invalid_argument(
        "this model rotates interleaved pairs (a llama2.c checkpoint): Hugging Face's LLaMA "
        "rotates halves, so its weights would mean something else there");
  fs::create_directories(dir);
  std::vector<SafetensorsTensorView> views;
  std::vector<at::Tensor> keep;
  for (const auto& [name, tensor] : hfTensorTable(model))
    addView(views, keep, name, *tensor, dtype);
  writeSafetensors(dir / "model.safetensors", views, {{"format", "pt"}});
  const std::string arch = c.architecture == "mistral" ? "MistralForCausalLM"
                           : c.architecture == "qwen2" ? "Qwen2ForCausalLM"
                                                       : "LlamaForCausalLM";
  const nlohmann::json config = {
      {"architectures", {arch}},
      {"model_type", arch == "LlamaForCausalLM" ? "llama" : c.architecture},
      {"hidden_size", c.d_model},
      {"intermediate_size", c.ffn_dim},
      {"num_hidden_layers", c.num_layers},
      {"num_attention_heads", c.num_heads},
      {"num_key_value_heads", c.num_kv_heads},
      {"head_dim", c.head_dim},
      {"max_position_embeddings", c.max_seq_len},
      {"rms_norm_eps", c.rms_eps},
      {"rope_theta", c.rope_theta},
      {"vocab_size", c.vocab_size},
      {"tie_word_embeddings", c.tied_embeddings},
      {"bos_token_id", c.bos_id},
      {"eos_token_id", c.eos_id},
      {"hidden_act", "silu"},
      {"attention_bias", c.qkv_bias},
      {"torch_dtype", dtype == at::kBFloat16 ? "bfloat16" : "float32"}};
  writeText(dir / "config.json", config.dump(2) + "\n");
}

}  // namespace mola
