// SPDX-License-Identifier: GPL-3.0-or-later
// ModelShape: the dimensions of a LLaMA-family decoder that adapter sizes depend on (torch-free).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mola {

// The seven projections a LoRA expert can wrap, in the order checkpoints list them.
enum class TargetModule { QProj, KProj, VProj, OProj, GateProj, UpProj, DownProj };

inline constexpr TargetModule kAllTargetModules[] = {
    TargetModule::QProj,    TargetModule::KProj,  TargetModule::VProj,   TargetModule::OProj,
    TargetModule::GateProj, TargetModule::UpProj, TargetModule::DownProj};

// "q_proj", "k_proj", ... as in Hugging Face checkpoints and the adapter file.
std::string_view targetModuleName(TargetModule m);
// Accepts "q_proj" or the short "q"; throws std::invalid_argument naming the text otherwise.
TargetModule parseTargetModule(std::string_view name);
// Comma list such as "q_proj,v_proj" or "all", in canonical order; duplicates are an error.
std::vector<TargetModule> parseTargetModules(std::string_view list);
// Puts `modules` in the order of kAllTargetModules (q, k, v, o, gate, up, down): the one order
// that adapter files, experiments and models keep, so that two lists naming the same modules
// compare equal.
void sortTargetModules(std::vector<TargetModule>& modules);
std::string joinTargetModules(const std::vector<TargetModule>& modules);

struct ModuleDims {
  int64_t in_features;
  int64_t out_features;
};

struct ModelShape {
  int num_layers = 0;    // decoder layers
  int64_t d_model = 0;   // hidden size
  int64_t ffn_dim = 0;   // SwiGLU intermediate size
  int num_heads = 0;     // query heads
  int num_kv_heads = 0;  // key/value heads (grouped-query attention when < num_heads)
  int64_t head_dim = 0;  // per-head size; d_model / num_heads for LLaMA
  int64_t vocab_size = 0;
  bool tied_embeddings = false;  // output head shares the token embedding

  ModuleDims dims(TargetModule m) const;
  // Throws std::invalid_argument naming the first inconsistent field.
  void validate() const;

  // Named shapes: "llama2-7b" (32 x 4096, ffn 11008), "small" (8 x 512, ffn 1376), "tiny" (4 x
  // 128), "stories260k" (5 x 64, ffn 172, 4 kv heads).
  static std::optional<ModelShape> named(std::string_view name);
  static std::vector<std::string> namedShapes();
};

}  // namespace mola
