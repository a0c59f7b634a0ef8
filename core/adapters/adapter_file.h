// SPDX-License-Identifier: GPL-3.0-or-later
// The MoLA adapter file: one safetensors file holding every expert and router of a model.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/allocation.h"
#include "adapters/mola_linear.h"
#include "model/model_shape.h"

namespace mola {

// What the file's string metadata records besides the tensors.
struct AdapterConfig {
  int rank = 8;  // moelora: the rank all experts of a module share (each has rank / N_j)
  double lora_alpha = 16.0;
  int top_k = 2;
  Allocation allocation;                     // experts_per_layer
  std::vector<TargetModule> target_modules;  // target_modules
  std::string method = "mola";               // method: mola | moelora (absent: mola)
  std::vector<std::string> tasks;            // moelora: tasks (a JSON list of names)
  int task_dim = 0;                          // moelora: task_embedding_dim

  bool operator==(const AdapterConfig&) const = default;
};

enum class AdapterDtype { F32, BF16 };

// "layers.{j}.{module}.experts.A", "...experts.B", "...router.weight"; j is 0-based.
std::string adapterKeyA(int layer, TargetModule m);
std::string adapterKeyB(int layer, TargetModule m);
std::string adapterKeyRouter(int layer, TargetModule m);
// MOELoRA: "task_embedding" [tasks, task_dim] and "layers.{j}.task_gate.weight" [N_j, task_dim].
inline constexpr const char* kAdapterKeyTaskEmbedding = "task_embedding";
std::string adapterKeyTaskGate(int layer);

// The adapter of a model seen as modules: layers[j][module].
using AdapterModules = std::vector<std::map<TargetModule, MolaLinear>>;

// Keyed tensors in the file layout, fp32 on the CPU: A [N_j, r, d_in], B [N_j, d_out, r],
// router [N_j, d_in] (only where N_j > 1); moelora: r is rank / N_j, no routers, and the task
// tensors above.
using AdapterTensors = std::map<std::string, torch::Tensor>;

struct LoadedAdapter {
  AdapterConfig config;
  AdapterTensors tensors;
};

// Writes atomically (temporary file, fsync, rename). Checks that the tensors match the config.
void saveAdapterFile(const std::filesystem::path& path, const AdapterConfig& config,
                     const AdapterTensors& tensors, AdapterDtype dtype = AdapterDtype::F32);
// Reads and validates every key, shape and metadata field; errors (std::runtime_error) name the
// file and the key or field. With a model shape, d_in and d_out must match it exactly; without one
// they must agree between layers.
LoadedAdapter loadAdapterFile(const std::filesystem::path& path, const ModelShape* shape = nullptr);

// Reads the modules' adapters into the file layout, and writes a loaded adapter into modules whose
// allocation, rank and targets must equal the file's.
AdapterTensors collectAdapterTensors(const AdapterModules& modules);
AdapterConfig adapterConfigOf(const AdapterModules& modules);
void applyAdapter(const LoadedAdapter& adapter, AdapterModules& modules);

}  // namespace mola
