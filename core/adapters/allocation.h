// SPDX-License-Identifier: GPL-3.0-or-later
// Allocation: how many LoRA experts each decoder layer gets, with MoLA's named shapes (torch-free).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/model_shape.h"

namespace mola {

// A named shape: experts per group of layers, groups being equal quarters of the depth
// (layer 1 = the bottom group). `paper_name` is the label the MoLA paper uses for it.
struct AllocationPreset {
  std::string_view name;
  std::string_view paper_name;
  std::array<int, 4> groups;
  std::string_view description;
};

class Allocation {
 public:
  static constexpr int kMaxExpertsPerLayer = 1024;

  Allocation() = default;
  // Throws std::invalid_argument naming the first layer (1-based) with fewer than 1 expert.
  explicit Allocation(std::vector<int> experts_per_layer);

  // Accepts, for a model of `num_layers` layers:
  //   "2,4,6,8,..."   one entry per layer (bottom first)
  //   "2-4-6-8"       experts per group; the groups split the layers into equal parts
  //   "8"             every layer the same
  //   a preset name   square, inverted-triangle, triangle, hourglass, diamond, uniform-N
  // Errors (std::invalid_argument) say which layer, group or character is wrong and why.
  static Allocation parse(std::string_view spec, int num_layers);
  // Group g of G covers layers [floor(g*L/G), floor((g+1)*L/G)): the top groups get the extra
  // layers when L is not a multiple of G. Needs L >= G.
  static Allocation fromGroups(const std::vector<int>& groups, int num_layers);
  static Allocation uniform(int experts, int num_layers);
  static Allocation preset(std::string_view name, int num_layers);
  static const std::vector<AllocationPreset>& presets();
  // A per-layer list as the run store keeps it ("2,2,4,4"): its own length is the depth. A lone
  // number (a uniform count whose depth the text does not tell), another spelling or a damaged
  // list gives nullopt.
  static std::optional<Allocation> fromStoredList(std::string_view list);

  int numLayers() const { return static_cast<int>(m_experts.size()); }
  int experts(int layer) const { return m_experts.at(static_cast<size_t>(layer)); }
  const std::vector<int>& perLayer() const { return m_experts; }
  // Experts summed over layers, for one target module type.
  int64_t totalExperts() const;
  int minExperts() const;
  int maxExperts() const;

  // "2,2,4,4,..." (the adapter file's experts_per_layer).
  std::string toList() const;
  // The shortest faithful spelling: a preset name, a group string, or the per-layer list.
  std::string describe() const;
  // The preset whose layout equals this one for this depth, if any ("uniform-N" included).
  std::optional<std::string> presetName() const;

  // Throws std::invalid_argument when top_k < 1 or any layer has fewer than top_k experts.
  void checkTopK(int top_k) const;

  bool operator==(const Allocation&) const = default;

 private:
  std::vector<int> m_experts;
};

struct ParameterCount {
  int64_t lora = 0;    // A and B of every expert
  int64_t router = 0;  // router weights of layers with more than one expert (MOELoRA: its gates)
  int64_t total() const { return lora + router; }
};

// Trainable parameters of MoLA adapters on `shape`: per module with N experts,
// N * r * (d_in + d_out), plus N * d_in for its router when N > 1 (plain LoRA has no router).
ParameterCount countTrainableParameters(const Allocation& allocation, const ModelShape& shape,
                                        int rank, const std::vector<TargetModule>& modules);
// MOELoRA: each module's N_j experts of rank r / N_j hold r * (d_in + d_out) together; the
// "router" count is the task embedding (tasks x task_dim) plus each layer's gate (N_j x task_dim).
ParameterCount countMoeLoraParameters(const Allocation& allocation, const ModelShape& shape,
                                      int rank, const std::vector<TargetModule>& modules, int tasks,
                                      int task_dim);
// Frozen parameters of the base model: embeddings, projections, norms, and the head unless tied.
int64_t countBaseParameters(const ModelShape& shape);

// Refuses adapters that cannot be trained, before anything of their size is allocated, with an
// std::invalid_argument naming the experiment key: a rank above the smaller side of a target
// projection (B A could not use it), or adapters whose fp32 weights, gradients and AdamW state
// need more than `memory_bytes`. A typo such as adapter.rank=100000000 is thus a message, not an
// allocator error. Counts in floating point: no size overflows.
void checkAdaptersFit(const Allocation& allocation, const ModelShape& shape, int rank,
                      const std::vector<TargetModule>& modules, double memory_bytes);

}  // namespace mola
