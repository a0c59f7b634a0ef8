// SPDX-License-Identifier: GPL-3.0-or-later
// ModelShape: module dimensions, validation and the named shapes used by the CLI and tests.
#include "model/model_shape.h"

#include <algorithm>
#include <stdexcept>

#include "text.h"

namespace mola {

namespace {
constexpr std::string_view kModuleNames[] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                             "gate_proj", "up_proj", "down_proj"};

}  // namespace

std::string_view targetModuleName(TargetModule m) {
  return kModuleNames[static_cast<int>(m)];
}

TargetModule parseTargetModule(std::string_view name) {
  name = trimWhitespace(name);
  for (TargetModule m : kAllTargetModules) {
    std::string_view full = targetModuleName(m);
    if (name == full || name == full.substr(0, full.find('_'))) return m;
  }
  throw std::invalid_argument("unknown target module '" + std::string(name) +
                              "' (expected one of q_proj, k_proj, v_proj, o_proj, gate_proj, "
                              "up_proj, down_proj)");
}

std::vector<TargetModule> parseTargetModules(std::string_view list) {
  list = trimWhitespace(list);
  if (list == "all") return {std::begin(kAllTargetModules), std::end(kAllTargetModules)};
  std::vector<TargetModule> out;
  while (!list.empty()) {
    size_t comma = list.find(',');
    TargetModule m = parseTargetModule(list.substr(0, comma));
    if (std::find(out.begin(), out.end(), m) != out.end())
      throw std::invalid_argument("target module '" + std::string(targetModuleName(m)) +
                                  "' is listed twice");
    out.push_back(m);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  if (out.empty()) throw std::invalid_argument("no target modules given");
  sortTargetModules(out);
  return out;
}

void sortTargetModules(std::vector<TargetModule>& modules) {
  std::sort(modules.begin(), modules.end(),
            [](TargetModule a, TargetModule b) { return int(a) < int(b); });
}

std::string joinTargetModules(const std::vector<TargetModule>& modules) {
  std::string s;
  for (TargetModule m : modules) {
    if (!s.empty()) s += ',';
    s += targetModuleName(m);
  }
  return s;
}

ModuleDims ModelShape::dims(TargetModule m) const {
  const int64_t q = num_heads * head_dim;
  const int64_t kv = num_kv_heads * head_dim;
  switch (m) {
    case TargetModule::QProj:
      return {d_model, q};
    case TargetModule::KProj:
      return {d_model, kv};
    case TargetModule::VProj:
      return {d_model, kv};
    case TargetModule::OProj:
      return {q, d_model};
    case TargetModule::GateProj:
      return {d_model, ffn_dim};
    case TargetModule::UpProj:
      return {d_model, ffn_dim};
    case TargetModule::DownProj:
      return {ffn_dim, d_model};
  }
  throw std::logic_error("unreachable TargetModule");
}

void ModelShape::validate() const {
  auto need = [](bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(std::string("model shape: ") + what);
  };
  need(num_layers > 0, "num_layers must be positive");
  need(d_model > 0, "d_model must be positive");
  need(ffn_dim > 0, "ffn_dim must be positive");
  need(num_heads > 0, "num_heads must be positive");
  need(num_kv_heads > 0 && num_heads % num_kv_heads == 0,
       "num_kv_heads must be positive and divide num_heads");
  need(head_dim > 0, "head_dim must be positive");
  need(vocab_size > 0, "vocab_size must be positive");
}

std::optional<ModelShape> ModelShape::named(std::string_view name) {
  if (name == "llama2-7b") return ModelShape{32, 4096, 11008, 32, 32, 128, 32000};
  if (name == "small") return ModelShape{8, 512, 1376, 8, 8, 64, 32000};
  if (name == "tiny") return ModelShape{4, 128, 344, 4, 4, 32, 512};
  if (name == "stories260k") return ModelShape{5, 64, 172, 8, 4, 8, 512, true};
  return std::nullopt;
}

std::vector<std::string> ModelShape::namedShapes() {
  return {"llama2-7b", "small", "tiny", "stories260k"};
}

}  // namespace mola
