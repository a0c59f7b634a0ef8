// SPDX-License-Identifier: GPL-3.0-or-later
// Adapter file read/write: metadata parsing, key and shape validation, fp32/bf16 conversion.
#include "adapters/adapter_file.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include "model/safetensors.h"

namespace mola {

namespace {

std::string moduleKey(int layer, TargetModule m) {
  return "layers." + std::to_string(layer) + "." + std::string(targetModuleName(m));
}

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw std::runtime_error(path.string() + ": " + what);
}

std::string shapeText(at::IntArrayRef shape) {
  std::ostringstream s;
  s << shape;
  return s.str();
}

int metaInt(const std::filesystem::path& path, const std::map<std::string, std::string>& meta,
            const std::string& key) {
  auto it = meta.find(key);
  if (it == meta.end()) fail(path, "metadata '" + key + "' is missing");
  int value = 0;
  const char* end = it->second.data() + it->second.size();
  auto [ptr, ec] = std::from_chars(it->second.data(), end, value);
  if (ec != std::errc() || ptr != end || value < 1)
    fail(path, "metadata '" + key + "' = '" + it->second + "' is not a positive whole number");
  return value;
}

const std::string& metaString(const std::filesystem::path& path,
                              const std::map<std::string, std::string>& meta,
                              const std::string& key) {
  auto it = meta.find(key);
  if (it == meta.end()) fail(path, "metadata '" + key + "' is missing");
  return it->second;
}

// The optional method metadata: moelora adapters name their tasks and embedding width, and their
// rank must split evenly among every layer's experts.
void readMethod(const std::filesystem::path& path, const std::map<std::string, std::string>& meta,
                AdapterConfig& c) {
  const auto method = meta.find("method");
  if (method == meta.end()) return;
  c.method = method->second;
  if (c.method == "mola") return;
  if (c.method != "moelora")
    fail(path, "metadata 'method' is '" + c.method + "', expected 'mola' or 'moelora'");
  c.task_dim = metaInt(path, meta, "task_embedding_dim");
  const nlohmann::json tasks =
      nlohmann::json::parse(metaString(path, meta, "tasks"), nullptr, /*allow_exceptions=*/false);
  if (!tasks.is_array() || tasks.empty())
    fail(path, "metadata 'tasks' must be a JSON list of task names");
  for (const auto& t : tasks) {
    if (!t.is_string()) fail(path, "metadata 'tasks' must be a JSON list of task names");
    c.tasks.push_back(t.get<std::string>());
  }
  for (int j = 0; j < c.allocation.numLayers(); ++j)
    if (c.rank % c.allocation.experts(j) != 0)
      fail(path, "metadata 'rank' " + std::to_string(c.rank) + " cannot be shared among the " +
                     std::to_string(c.allocation.experts(j)) + " experts of layer " +
                     std::to_string(j));
}

std::string formatAlpha(double alpha) {
  std::ostringstream s;
  s.precision(17);
  s << alpha;
  return s.str();
}

}  // namespace

std::string adapterKeyA(int layer, TargetModule m) {
  return moduleKey(layer, m) + ".experts.A";
}
std::string adapterKeyB(int layer, TargetModule m) {
  return moduleKey(layer, m) + ".experts.B";
}
std::string adapterKeyRouter(int layer, TargetModule m) {
  return moduleKey(layer, m) + ".router.weight";
}
std::string adapterKeyTaskGate(int layer) {
  return "layers." + std::to_string(layer) + ".task_gate.weight";
}

namespace {

bool taskGated(const AdapterConfig& c) {
  return c.method == "moelora";
}

// The rank of each expert of layer j.
int64_t expertRank(const AdapterConfig& c, int j) {
  return taskGated(c) ? c.rank / c.allocation.experts(j) : c.rank;
}

// The tensors a file with config `c` holds, each with its shape, layer by layer.
std::vector<std::pair<std::string, std::vector<int64_t>>> expectedShapes(
    const AdapterConfig& c, const std::map<TargetModule, ModuleDims>& dims) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (int j = 0; j < c.allocation.numLayers(); ++j) {
    const int64_t n = c.allocation.experts(j), r = expertRank(c, j);
    for (TargetModule m : c.target_modules) {
      const ModuleDims& d = dims.at(m);
      out.push_back({adapterKeyA(j, m), {n, r, d.in_features}});
      out.push_back({adapterKeyB(j, m), {n, d.out_features, r}});
      if (n > 1 && !taskGated(c)) out.push_back({adapterKeyRouter(j, m), {n, d.in_features}});
    }
    if (taskGated(c)) out.push_back({adapterKeyTaskGate(j), {n, c.task_dim}});
  }
  if (taskGated(c))
    out.push_back({kAdapterKeyTaskEmbedding, {int64_t(c.tasks.size()), c.task_dim}});
  return out;
}

}  // namespace

void saveAdapterFile(const std::filesystem::path& path, const AdapterConfig& config,
                     const AdapterTensors& tensors, AdapterDtype dtype) {
  config.allocation.checkTopK(config.top_k);
  if (taskGated(config) && (config.tasks.empty() || config.task_dim < 1))
    fail(path, "cannot save: a moelora adapter needs its tasks and task embedding width");
  std::map<TargetModule, ModuleDims> dims;
  for (TargetModule m : config.target_modules) {
    const auto a = tensors.find(adapterKeyA(0, m)), b = tensors.find(adapterKeyB(0, m));
    if (a == tensors.end() || b == tensors.end())
      fail(path, "cannot save: tensor '" +
                     (a == tensors.end() ? adapterKeyA(0, m) : adapterKeyB(0, m)) + "' is missing");
    dims[m] = {a->second.size(-1), b->second.size(1)};
  }
  std::set<std::string> expected;
  for (const auto& [key, shape] : expectedShapes(config, dims)) {
    expected.insert(key);
    const auto it = tensors.find(key);
    if (it == tensors.end()) fail(path, "cannot save: tensor '" + key + "' is missing");
    if (it->second.sizes() != at::IntArrayRef(shape))
      fail(path, "cannot save: tensor '" + key + "' has shape " + shapeText(it->second.sizes()) +
                     ", expected " + shapeText(shape));
  }

  const at::ScalarType type = dtype == AdapterDtype::BF16 ? at::kBFloat16 : at::kFloat;
  std::vector<at::Tensor> keep;  // owns the converted bytes until the file is written
  std::vector<SafetensorsTensorView> views;
  for (const auto& [key, t] : tensors) {
    if (!expected.count(key)) fail(path, "cannot save: tensor '" + key + "' is not in the config");
    keep.push_back(t.detach().to(at::kCPU, type).contiguous());
    views.push_back({key, dtype == AdapterDtype::BF16 ? "BF16" : "F32",
                     std::vector<int64_t>(t.sizes().begin(), t.sizes().end()),
                     keep.back().data_ptr()});
  }
  std::map<std::string, std::string> meta = {
      {"format", "mola-adapter"},
      {"version", "1"},
      {"rank", std::to_string(config.rank)},
      {"lora_alpha", formatAlpha(config.lora_alpha)},
      {"top_k", std::to_string(config.top_k)},
      {"experts_per_layer", config.allocation.toList()},
      {"target_modules", joinTargetModules(config.target_modules)},
  };
  if (taskGated(config)) {
    meta["method"] = config.method;
    meta["tasks"] = nlohmann::json(config.tasks).dump();
    meta["task_embedding_dim"] = std::to_string(config.task_dim);
  }
  writeSafetensors(path, views, meta);
}

namespace {

// The adapter's settings from the file's metadata, checked (and against `shape` when given).
AdapterConfig readAdapterConfig(const std::filesystem::path& path,
                                const std::map<std::string, std::string>& meta,
                                const ModelShape* shape) {
  const std::string& format = metaString(path, meta, "format");
  if (format != "mola-adapter")
    fail(path, "metadata 'format' is '" + format + "', expected 'mola-adapter'");
  if (metaString(path, meta, "version") != "1")
    fail(path,
         "metadata 'version' is '" + meta.at("version") + "'; this build reads version 1 only");
  AdapterConfig c;
  c.rank = metaInt(path, meta, "rank");
  c.top_k = metaInt(path, meta, "top_k");
  const std::string& alpha = metaString(path, meta, "lora_alpha");
  try {
    size_t used = 0;
    c.lora_alpha = std::stod(alpha, &used);
    if (used != alpha.size()) throw std::invalid_argument(alpha);
  } catch (const std::exception&) {
    fail(path, "metadata 'lora_alpha' = '" + alpha + "' is not a number");
  }
  const std::string& layers_text = metaString(path, meta, "experts_per_layer");
  try {
    const int num_layers =
        static_cast<int>(std::count(layers_text.begin(), layers_text.end(), ',')) + 1;
    c.allocation = Allocation::parse(layers_text, num_layers);
    c.allocation.checkTopK(c.top_k);
    c.target_modules = parseTargetModules(metaString(path, meta, "target_modules"));
  } catch (const std::invalid_argument& e) {
    fail(path, std::string("metadata: ") + e.what());
  }
  readMethod(path, meta, c);
  if (shape && shape->num_layers != c.allocation.numLayers())
    fail(path, "the adapter has " + std::to_string(c.allocation.numLayers()) +
                   " layers but the model has " + std::to_string(shape->num_layers));
  return c;
}

// d_in / d_out per module type: from the model shape, or from the first layer's tensors.
std::map<TargetModule, ModuleDims> moduleDims(const SafetensorsFile& file,
                                              const std::filesystem::path& path,
                                              const AdapterConfig& c, const ModelShape* shape) {
  std::map<TargetModule, ModuleDims> dims;
  for (TargetModule m : c.target_modules) {
    if (shape) {
      dims[m] = shape->dims(m);
      continue;
    }
    const SafetensorsEntry* a = file.find(adapterKeyA(0, m));
    const SafetensorsEntry* b = file.find(adapterKeyB(0, m));
    if (!a) fail(path, "tensor '" + adapterKeyA(0, m) + "' is missing");
    if (!b) fail(path, "tensor '" + adapterKeyB(0, m) + "' is missing");
    if (a->shape.size() != 3 || b->shape.size() != 3)
      fail(path,
           "tensor '" + (a->shape.size() != 3 ? a->name : b->name) + "' must have 3 dimensions");
    dims[m] = {a->shape[2], b->shape[1]};
  }
  return dims;
}

}  // namespace

LoadedAdapter loadAdapterFile(const std::filesystem::path& path, const ModelShape* shape) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  const auto& meta = file.metadata();
  LoadedAdapter out;
  out.config = readAdapterConfig(path, meta, shape);
  const AdapterConfig& c = out.config;

  std::set<std::string> used;
  auto take = [&](const std::string& key, std::vector<int64_t> want) -> at::Tensor {
    const SafetensorsEntry* e = file.find(key);
    if (!e) fail(path, "tensor '" + key + "' is missing");
    if (e->dtype != "F32" && e->dtype != "BF16")
      fail(path, "tensor '" + key + "' is " + e->dtype + "; adapters are F32 or BF16");
    if (e->shape != want)
      fail(path, "tensor '" + key + "' has shape " + shapeText(e->shape) + ", expected " +
                     shapeText(want));
    used.insert(key);
    const at::Tensor raw = at::from_blob(const_cast<std::byte*>(file.data(*e)), e->shape,
                                         e->dtype == "BF16" ? at::kBFloat16 : at::kFloat);
    return raw.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true);  // owns its memory
  };
  for (const auto& [key, want] : expectedShapes(c, moduleDims(file, path, c, shape)))
    out.tensors[key] = take(key, want);
  for (int j = 0; j < c.allocation.numLayers(); ++j)
    for (TargetModule m : c.target_modules)
      if (file.find(adapterKeyRouter(j, m)) && !out.tensors.count(adapterKeyRouter(j, m)))
        fail(path, "tensor '" + adapterKeyRouter(j, m) + "' is present but layer " +
                       std::to_string(j) +
                       (taskGated(c) ? " is task-gated (moelora) and has no router"
                                     : " has a single expert and no router"));
  for (const SafetensorsEntry& e : file.entries())
    if (!used.count(e.name))
      fail(path, "tensor '" + e.name + "' is not part of an adapter with experts_per_layer=" +
                     meta.at("experts_per_layer") +
                     " and target_modules=" + meta.at("target_modules"));
  return out;
}

AdapterTensors collectAdapterTensors(const AdapterModules& modules) {
  AdapterTensors out;
  for (size_t j = 0; j < modules.size(); ++j)
    for (const auto& [m, lin] : modules[j]) {
      out[adapterKeyA(int(j), m)] = lin->expertsA().detach().cpu().clone();
      out[adapterKeyB(int(j), m)] = lin->expertsB().detach().cpu();
      if (lin->hasRouter()) out[adapterKeyRouter(int(j), m)] = lin->router.detach().cpu().clone();
    }
  return out;
}

AdapterConfig adapterConfigOf(const AdapterModules& modules) {
  if (modules.empty() || modules.front().empty())
    throw std::invalid_argument("an adapter needs at least one layer with target modules");
  AdapterConfig c;
  const MolaLinearOptions& first = modules.front().begin()->second->options;
  // A task-gated (MOELoRA) module's experts share the rank its scaling names.
  const auto sharedRank = [](const MolaLinearOptions& o) {
    return o.task_gated() ? o.scaling_rank() : o.rank();
  };
  c.rank = static_cast<int>(sharedRank(first));
  c.lora_alpha = first.alpha();
  c.top_k = 0;  // from the first routed module; plain LoRA (no router anywhere) has top_k 1
  for (const auto& entry : modules.front()) c.target_modules.push_back(entry.first);
  std::vector<int> experts;
  for (size_t j = 0; j < modules.size(); ++j) {
    if (modules[j].size() != c.target_modules.size())
      throw std::invalid_argument("layer " + std::to_string(j) + " wraps " +
                                  std::to_string(modules[j].size()) + " modules, layer 0 wraps " +
                                  std::to_string(c.target_modules.size()));
    const int n = static_cast<int>(modules[j].begin()->second->options.num_experts());
    for (const auto& [m, lin] : modules[j]) {
      const MolaLinearOptions& o = lin->options;
      if (n > 1 && !o.task_gated() && c.top_k == 0) c.top_k = static_cast<int>(o.top_k());
      if (o.num_experts() != n || sharedRank(o) != c.rank || o.alpha() != c.lora_alpha ||
          o.task_gated() != first.task_gated() || (o.task_gated() && o.rank() * n != c.rank) ||
          (n > 1 && !o.task_gated() && o.top_k() != c.top_k))
        throw std::invalid_argument(moduleKey(int(j), m) +
                                    ": experts must agree within a layer, and rank, alpha and "
                                    "top_k across layers");
    }
    experts.push_back(n);
  }
  c.allocation = Allocation(std::move(experts));
  if (c.top_k == 0) c.top_k = 1;
  return c;
}

void applyAdapter(const LoadedAdapter& adapter, AdapterModules& modules) {
  const AdapterConfig& c = adapter.config;
  if (static_cast<int>(modules.size()) != c.allocation.numLayers())
    throw std::invalid_argument("the adapter has " + std::to_string(c.allocation.numLayers()) +
                                " layers but the model has " + std::to_string(modules.size()));
  for (int j = 0; j < c.allocation.numLayers(); ++j) {
    for (TargetModule m : c.target_modules) {
      auto it = modules[size_t(j)].find(m);
      if (it == modules[size_t(j)].end())
        throw std::invalid_argument(moduleKey(j, m) +
                                    " is in the adapter but not wrapped in the model");
      MolaLinearImpl& lin = *it->second;
      if (lin.options.num_experts() != c.allocation.experts(j) ||
          lin.options.rank() != expertRank(c, j) || lin.options.task_gated() != taskGated(c))
        throw std::invalid_argument(
            moduleKey(j, m) + " has " + std::to_string(lin.options.num_experts()) +
            " experts of rank " + std::to_string(lin.options.rank()) + ", the adapter " +
            std::to_string(c.allocation.experts(j)) + " of rank " +
            std::to_string(expertRank(c, j)) + " (" + c.method + ")");
      const std::string rk = adapterKeyRouter(j, m);
      lin.loadExperts(adapter.tensors.at(adapterKeyA(j, m)), adapter.tensors.at(adapterKeyB(j, m)),
                      adapter.tensors.count(rk) ? adapter.tensors.at(rk) : at::Tensor());
    }
  }
}

}  // namespace mola
