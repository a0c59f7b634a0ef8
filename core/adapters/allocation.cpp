// SPDX-License-Identifier: GPL-3.0-or-later
// Allocation parsing, the named presets, and trainable-parameter counts.
#include "adapters/allocation.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "text.h"

namespace mola {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t at = s.find(sep);
    parts.push_back(trimWhitespace(s.substr(0, at)));
    if (at == std::string_view::npos) return parts;
    s.remove_prefix(at + 1);
  }
}

// Parses a whole token as an integer; `where` names it in the error ("layer 3", "group 2").
int parseCount(std::string_view token, const std::string& where) {
  int value = 0;
  const char* end = token.data() + token.size();
  auto [ptr, ec] = std::from_chars(token.data(), end, value);
  if (token.empty() || ec != std::errc() || ptr != end)
    throw std::invalid_argument(where + ": '" + std::string(token) +
                                "' is not a whole number of experts");
  if (value < 1)
    throw std::invalid_argument(where + " has " + std::to_string(value) +
                                " experts; every layer needs at least 1");
  if (value > Allocation::kMaxExpertsPerLayer)
    throw std::invalid_argument(where + " has " + std::to_string(value) + " experts; at most " +
                                std::to_string(Allocation::kMaxExpertsPerLayer) + " are allowed");
  return value;
}

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+';
  });
}

// "Inverted_Triangle" -> "inverted-triangle"
std::string normaliseName(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '_' || c == ' ' || c == ':') c = '-';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string joinInts(const std::vector<int>& v, char sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += sep;
    s += std::to_string(v[i]);
  }
  return s;
}

void checkLayerCount(int num_layers) {
  if (num_layers < 1)
    throw std::invalid_argument("the model must have at least 1 layer (got " +
                                std::to_string(num_layers) + ")");
}

}  // namespace

Allocation::Allocation(std::vector<int> experts_per_layer)
    : m_experts(std::move(experts_per_layer)) {
  if (m_experts.empty()) throw std::invalid_argument("an allocation needs at least one layer");
  for (size_t j = 0; j < m_experts.size(); ++j) {
    const std::string where =
        "layer " + std::to_string(j + 1) + " of " + std::to_string(m_experts.size());
    if (m_experts[j] < 1)
      throw std::invalid_argument(where + " has " + std::to_string(m_experts[j]) +
                                  " experts; every layer needs at least 1");
    if (m_experts[j] > kMaxExpertsPerLayer)
      throw std::invalid_argument(where + " has " + std::to_string(m_experts[j]) +
                                  " experts; at most " + std::to_string(kMaxExpertsPerLayer) +
                                  " are allowed");
  }
}

const std::vector<AllocationPreset>& Allocation::presets() {
  static const std::vector<AllocationPreset> kPresets = {
      {"inverted-triangle", "MoLA-\u25BD", {2, 4, 6, 8}, "more experts in higher layers"},
      {"square", "MoLA-\u25A1", {5, 5, 5, 5}, "the same number of experts in every layer"},
      {"triangle", "MoLA-\u25B3", {8, 6, 4, 2}, "more experts in lower layers"},
      {"hourglass", "MoLA-\u25B7\u25C1", {8, 2, 2, 8}, "more experts at the bottom and the top"},
      {"diamond", "MoLA-\u25C1\u25B7", {2, 8, 8, 2}, "more experts in the middle layers"},
  };
  return kPresets;
}

Allocation Allocation::fromGroups(const std::vector<int>& groups, int num_layers) {
  checkLayerCount(num_layers);
  const int g_count = static_cast<int>(groups.size());
  if (g_count < 1) throw std::invalid_argument("a group allocation needs at least one group");
  if (g_count > num_layers)
    throw std::invalid_argument("'" + joinInts(groups, '-') + "' has " + std::to_string(g_count) +
                                " groups but the model has only " + std::to_string(num_layers) +
                                " layers; give one entry per layer instead");
  std::vector<int> per_layer(static_cast<size_t>(num_layers));
  for (int g = 0; g < g_count; ++g) {
    const int begin = static_cast<int>(int64_t{g} * num_layers / g_count);
    const int end = static_cast<int>(int64_t{g + 1} * num_layers / g_count);
    std::fill(per_layer.begin() + begin, per_layer.begin() + end, groups[static_cast<size_t>(g)]);
  }
  return Allocation(std::move(per_layer));
}

std::optional<Allocation> Allocation::fromStoredList(std::string_view list) {
  if (list.find(',') == std::string_view::npos ||
      list.find_first_not_of("0123456789, ") != std::string_view::npos)
    return std::nullopt;
  try {
    return parse(list, static_cast<int>(std::count(list.begin(), list.end(), ',')) + 1);
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
}

Allocation Allocation::uniform(int experts, int num_layers) {
  checkLayerCount(num_layers);
  return Allocation(std::vector<int>(static_cast<size_t>(num_layers), experts));
}

Allocation Allocation::preset(std::string_view name, int num_layers) {
  const std::string key = normaliseName(trimWhitespace(name));
  for (const AllocationPreset& p : presets())
    if (key == p.name) return fromGroups({p.groups.begin(), p.groups.end()}, num_layers);
  if (key.rfind("uniform-", 0) == 0)
    return uniform(parseCount(std::string_view(key).substr(8), "uniform preset"), num_layers);
  std::string known;
  for (const AllocationPreset& p : presets()) known += std::string(p.name) + ", ";
  throw std::invalid_argument("unknown allocation '" + std::string(trimWhitespace(name)) +
                              "': expected a per-layer list (2,4,...), a group string (2-4-6-8), "
                              "or a preset: " +
                              known + "uniform-N");
}

Allocation Allocation::parse(std::string_view spec, int num_layers) {
  checkLayerCount(num_layers);
  spec = trimWhitespace(spec);
  if (spec.empty()) throw std::invalid_argument("the allocation is empty");
  if (spec.find(',') != std::string_view::npos) {
    std::vector<std::string_view> parts = split(spec, ',');
    if (static_cast<int>(parts.size()) != num_layers)
      throw std::invalid_argument("the allocation lists " + std::to_string(parts.size()) +
                                  " layers but the model has " + std::to_string(num_layers));
    std::vector<int> per_layer;
    for (size_t j = 0; j < parts.size(); ++j)
      per_layer.push_back(parseCount(
          parts[j], "layer " + std::to_string(j + 1) + " of " + std::to_string(num_layers)));
    return Allocation(std::move(per_layer));
  }
  if (allDigits(spec)) {
    int whole = 0;
    auto [ptr, ec] = std::from_chars(spec.data(), spec.data() + spec.size(), whole);
    if (ec == std::errc() && ptr == spec.data() + spec.size())
      return uniform(parseCount(spec, "the uniform allocation"), num_layers);
    std::vector<std::string_view> parts = split(spec, '-');
    std::vector<int> groups;
    for (size_t g = 0; g < parts.size(); ++g)
      groups.push_back(parseCount(
          parts[g], "group " + std::to_string(g + 1) + " of '" + std::string(spec) + "'"));
    return fromGroups(groups, num_layers);
  }
  return preset(spec, num_layers);
}

int64_t Allocation::totalExperts() const {
  return std::accumulate(m_experts.begin(), m_experts.end(), int64_t{0});
}
int Allocation::minExperts() const {
  return *std::min_element(m_experts.begin(), m_experts.end());
}
int Allocation::maxExperts() const {
  return *std::max_element(m_experts.begin(), m_experts.end());
}

std::string Allocation::toList() const {
  return joinInts(m_experts, ',');
}

std::optional<std::string> Allocation::presetName() const {
  if (m_experts.empty()) return std::nullopt;
  for (const AllocationPreset& p : presets())
    if (numLayers() >= 4 && fromGroups({p.groups.begin(), p.groups.end()}, numLayers()) == *this)
      return std::string(p.name);
  if (minExperts() == maxExperts()) return "uniform-" + std::to_string(m_experts.front());
  return std::nullopt;
}

std::string Allocation::describe() const {
  if (auto name = presetName()) return *name;
  for (int g = 2; g <= std::min(8, numLayers() - 1); ++g) {
    std::vector<int> groups;
    for (int i = 0; i < g; ++i)
      groups.push_back(m_experts[static_cast<size_t>(int64_t{i} * numLayers() / g)]);
    if (fromGroups(groups, numLayers()) == *this) return joinInts(groups, '-');
  }
  return toList();
}

void Allocation::checkTopK(int top_k) const {
  if (top_k < 1)
    throw std::invalid_argument("top_k must be at least 1 (got " + std::to_string(top_k) + ")");
  for (size_t j = 0; j < m_experts.size(); ++j)
    if (m_experts[j] < top_k)
      throw std::invalid_argument(
          "top_k = " + std::to_string(top_k) + " exceeds the " + std::to_string(m_experts[j]) +
          " experts of layer " + std::to_string(j + 1) + " of " + std::to_string(numLayers()) +
          "; give that layer at least " + std::to_string(top_k) + " experts or lower top_k");
}

ParameterCount countTrainableParameters(const Allocation& allocation, const ModelShape& shape,
                                        int rank, const std::vector<TargetModule>& modules) {
  shape.validate();
  if (rank < 1) throw std::invalid_argument("rank must be at least 1");
  if (allocation.numLayers() != shape.num_layers)
    throw std::invalid_argument("the allocation has " + std::to_string(allocation.numLayers()) +
                                " layers but the model has " + std::to_string(shape.num_layers));
  ParameterCount count;
  for (int n : allocation.perLayer()) {
    for (TargetModule m : modules) {
      const ModuleDims d = shape.dims(m);
      count.lora += int64_t{n} * rank * (d.in_features + d.out_features);
      if (n > 1) count.router += int64_t{n} * d.in_features;
    }
  }
  return count;
}

ParameterCount countMoeLoraParameters(const Allocation& allocation, const ModelShape& shape,
                                      int rank, const std::vector<TargetModule>& modules, int tasks,
                                      int task_dim) {
  // N experts of rank r / N hold r (d_in + d_out) together: plain LoRA's count.
  ParameterCount count =
      countTrainableParameters(Allocation::uniform(1, shape.num_layers), shape, rank, modules);
  count.router = int64_t{tasks} * task_dim;  // the task embedding
  for (int n : allocation.perLayer()) count.router += int64_t{n} * task_dim;
  return count;
}

int64_t countBaseParameters(const ModelShape& shape) {
  shape.validate();
  int64_t per_layer = 2 * shape.d_model;  // the two RMSNorm weights
  for (TargetModule m : kAllTargetModules) {
    const ModuleDims d = shape.dims(m);
    per_layer += d.in_features * d.out_features;
  }
  const int64_t embeddings = shape.vocab_size * shape.d_model;
  return per_layer * shape.num_layers + embeddings * (shape.tied_embeddings ? 1 : 2) +
         shape.d_model;
}

void checkAdaptersFit(const Allocation& allocation, const ModelShape& shape, int rank,
                      const std::vector<TargetModule>& modules, double memory_bytes) {
  int64_t smallest = std::numeric_limits<int64_t>::max();
  TargetModule narrowest = TargetModule::QProj;
  double params = 0.0;
  for (TargetModule m : modules) {
    const ModuleDims d = shape.dims(m);
    if (std::min(d.in_features, d.out_features) < smallest) {
      smallest = std::min(d.in_features, d.out_features);
      narrowest = m;
    }
    for (int j = 0; j < allocation.numLayers(); ++j) {
      const double n = allocation.experts(j);
      params += n * rank * double(d.in_features + d.out_features);
      if (n > 1) params += n * double(d.in_features);
    }
  }
  const std::string r = "adapter.rank " + std::to_string(rank);
  if (rank > smallest)
    throw std::invalid_argument(
        r + " is larger than the smaller side of " + std::string(targetModuleName(narrowest)) +
        " (" + std::to_string(smallest) + ") in this model: B A cannot have a rank above it");
  // fp32 weights, their gradients and AdamW's two moments: 16 bytes a parameter.
  const double need = params * 16.0;
  if (need > memory_bytes) {
    const auto g = [](double v) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3g", v);
      return std::string(buf);
    };
    throw std::invalid_argument(r + " with adapter.allocation " + allocation.describe() +
                                ": the adapters would have " + g(params) + " parameters, " +
                                g(need / 1e9) + " GB with their gradients and AdamW state, " +
                                "more than the " + g(memory_bytes / 1e9) + " GB of memory here");
  }
}

}  // namespace mola
