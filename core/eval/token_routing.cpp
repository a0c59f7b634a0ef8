// SPDX-License-Identifier: GPL-3.0-or-later
// Token routing values: pooled tables, JSON and the text tables of `mola route`.
#include "eval/token_routing.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "model/tokenizer.h"
#include "text.h"

namespace mola {

bool routesModule(const LayerTokenRouting& layer, const std::string& module) {
  return module.empty() ||
         std::any_of(layer.modules.begin(), layer.modules.end(),
                     [&](const ModuleTokenRouting& m) { return m.module == module; });
}

namespace {

// Tables of the modules `module` picks (every module when empty).
std::vector<const ModuleTokenRouting*> chosenModules(const LayerTokenRouting& layer,
                                                     const std::string& module) {
  if (!routesModule(layer, module)) {
    std::string names;
    for (const ModuleTokenRouting& m : layer.modules)
      names += (names.empty() ? "" : ", ") + m.module;
    throw std::invalid_argument("layer " + std::to_string(layer.layer + 1) + " routes no module '" +
                                module + "' (it routes " + (names.empty() ? "none" : names) + ")");
  }
  std::vector<const ModuleTokenRouting*> out;
  for (const ModuleTokenRouting& m : layer.modules)
    if (module.empty() || m.module == module) out.push_back(&m);
  return out;
}

void checkTable(const TokenExpertTable& table, size_t tokens, int experts,
                const std::string& what) {
  if (table.size() != tokens)
    throw std::runtime_error(what + ": " + std::to_string(table.size()) + " rows for " +
                             std::to_string(tokens) + " tokens");
  for (const std::vector<double>& row : table)
    if (row.size() != size_t(experts))
      throw std::runtime_error(what + ": a row of " + std::to_string(row.size()) + " values for " +
                               std::to_string(experts) + " experts");
}

}  // namespace

TokenExpertTable pooledTable(const LayerTokenRouting& layer, RoutingQuantity quantity,
                             const std::string& module) {
  const std::vector<const ModuleTokenRouting*> modules = chosenModules(layer, module);
  if (modules.empty()) return {};
  const size_t tokens = modules.front()->gate.size();
  TokenExpertTable out(tokens, std::vector<double>(size_t(layer.experts), 0.0));
  const double share = 1.0 / double(modules.size());
  for (const ModuleTokenRouting* m : modules)
    for (size_t t = 0; t < tokens; ++t)
      for (size_t e = 0; e < size_t(layer.experts); ++e) {
        const double gate = m->gate[t][e];
        double v = gate;
        if (quantity == RoutingQuantity::Probability) v = m->probability[t][e];
        if (quantity == RoutingQuantity::Selection) v = gate > 0 ? 1.0 / layer.top_k : 0.0;
        out[t][e] += share * v;
      }
  return out;
}

int dominantExpert(const std::vector<double>& row) {
  if (row.empty()) return -1;
  return int(std::max_element(row.begin(), row.end()) - row.begin());
}

std::vector<std::string> tokenPieces(const Tokenizer& tokenizer, const std::vector<int>& ids) {
  std::vector<std::string> out;
  int prev = -1;
  for (int id : ids) {
    out.push_back(id == tokenizer.bosId() && prev == -1 ? std::string("<s>")
                                                        : tokenizer.decodeNext(prev, id));
    prev = id;
  }
  return out;
}

std::string tokenRoutingToJson(const TokenRouting& routing) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerTokenRouting& l : routing.layers) {
    nlohmann::json modules = nlohmann::json::array();
    for (const ModuleTokenRouting& m : l.modules)
      modules.push_back({{"module", m.module}, {"probability", m.probability}, {"gate", m.gate}});
    layers.push_back(
        {{"layer", l.layer}, {"experts", l.experts}, {"top_k", l.top_k}, {"modules", modules}});
  }
  nlohmann::json doc = {{"ids", routing.ids}, {"tokens", routing.tokens}, {"layers", layers}};
  // Token text may hold bytes that are not UTF-8 (half a character): escape them, do not throw.
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

TokenRouting tokenRoutingFromJson(const std::string& json, const std::string& where) {
  TokenRouting r;
  try {
    const nlohmann::json doc = nlohmann::json::parse(json);
    r.ids = doc.at("ids").get<std::vector<int>>();
    r.tokens = doc.at("tokens").get<std::vector<std::string>>();
    if (r.tokens.size() != r.ids.size())
      throw std::runtime_error(std::to_string(r.tokens.size()) + " tokens for " +
                               std::to_string(r.ids.size()) + " ids");
    for (const nlohmann::json& l : doc.at("layers")) {
      LayerTokenRouting layer;
      layer.layer = l.at("layer").get<int>();
      layer.experts = l.at("experts").get<int>();
      layer.top_k = l.at("top_k").get<int>();
      if (layer.experts < 2 || layer.top_k < 1 || layer.top_k > layer.experts)
        throw std::runtime_error("layer " + std::to_string(layer.layer + 1) + ": " +
                                 std::to_string(layer.experts) + " experts, top-K " +
                                 std::to_string(layer.top_k));
      for (const nlohmann::json& m : l.at("modules")) {
        ModuleTokenRouting module;
        module.module = m.at("module").get<std::string>();
        module.probability = m.at("probability").get<TokenExpertTable>();
        module.gate = m.at("gate").get<TokenExpertTable>();
        const std::string what = "layer " + std::to_string(layer.layer + 1) + " " + module.module;
        checkTable(module.probability, r.ids.size(), layer.experts, what + " probability");
        checkTable(module.gate, r.ids.size(), layer.experts, what + " gate");
        layer.modules.push_back(std::move(module));
      }
      if (layer.modules.empty())
        throw std::runtime_error("layer " + std::to_string(layer.layer + 1) + " routes no module");
      r.layers.push_back(std::move(layer));
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(where + ": not a token routing document: " + e.what());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(where + ": " + e.what());
  }
  return r;
}

namespace {

// A token's text as one table cell: control characters escaped, quoted so spaces show.
std::string tokenCell(const std::string& piece) {
  std::string out(1, '\'');
  out.append(printableText(piece, false));
  out.push_back('\'');
  return out;
}

// "L3", "e5": a letter and a 1-based number.
std::string labelled(char letter, int number) {
  std::string out(1, letter);
  out += std::to_string(number);
  return out;
}

// `text` right-aligned in `width` columns after one space.
std::string rightCell(const std::string& text, size_t width) {
  std::string out(1, ' ');
  if (text.size() < width) out.append(width - text.size(), ' ');
  out.append(text);
  return out;
}

size_t tokenColumnWidth(const TokenRouting& routing) {
  size_t width = 5;
  for (const std::string& t : routing.tokens) width = std::max(width, displayWidth(tokenCell(t)));
  return std::min<size_t>(width, 24);
}

}  // namespace

std::string tokenRoutingTable(const TokenRouting& routing, const std::string& module) {
  const size_t width = tokenColumnWidth(routing);
  std::vector<TokenExpertTable> gates;
  for (const LayerTokenRouting& l : routing.layers)
    gates.push_back(pooledTable(l, RoutingQuantity::Gate, module));
  std::string out = textColumn("token", width);
  for (const LayerTokenRouting& l : routing.layers) out += rightCell(labelled('L', l.layer + 1), 4);
  out += "\n";
  for (size_t t = 0; t < routing.tokens.size(); ++t) {
    out += textColumn(tokenCell(routing.tokens[t]), width);
    for (const TokenExpertTable& g : gates)
      out += rightCell(std::to_string(dominantExpert(g[t]) + 1), 4);
    out += "\n";
  }
  return out;
}

std::string layerRoutingTable(const TokenRouting& routing, int layer, RoutingQuantity quantity,
                              const std::string& module) {
  const auto it = std::find_if(routing.layers.begin(), routing.layers.end(),
                               [layer](const LayerTokenRouting& l) { return l.layer == layer; });
  if (it == routing.layers.end())
    throw std::invalid_argument("layer " + std::to_string(layer + 1) + " has no router");
  const TokenExpertTable table = pooledTable(*it, quantity, module);
  const size_t width = tokenColumnWidth(routing);
  std::string out = textColumn("token", width);
  for (int e = 0; e < it->experts; ++e) out += rightCell(labelled('e', e + 1), 5);
  out += "\n";
  char number[32];
  for (size_t t = 0; t < table.size(); ++t) {
    out += textColumn(tokenCell(routing.tokens[t]), width);
    for (double v : table[t]) {
      std::snprintf(number, sizeof number, "%.2f", v);
      out += rightCell(number, 5);
    }
    out += "\n";
  }
  return out;
}

}  // namespace mola
