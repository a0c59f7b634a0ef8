// SPDX-License-Identifier: GPL-3.0-or-later
// Token routing: which experts the routers of a MoLA model chose for each token of one text, per
// layer and module (torch-free values; traceTokenRouting in token_routing_trace.h fills them).
// `mola route` prints and writes them, the workbench's Routing dialog draws them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace mola {

class Tokenizer;

// A [token][expert] table.
using TokenExpertTable = std::vector<std::vector<double>>;

struct ModuleTokenRouting {
  std::string module;            // target module name: q_proj, ..., down_proj
  TokenExpertTable probability;  // the router's softmax over all N experts
  TokenExpertTable gate;         // the top-K gates renormalised over the K kept, 0 elsewhere
};

struct LayerTokenRouting {
  int layer = 0;                            // 0-based decoder layer
  int experts = 0;                          // N_j
  int top_k = 0;                            // K
  std::vector<ModuleTokenRouting> modules;  // the layer's routed modules, in target-module order
};

struct TokenRouting {
  std::vector<int> ids;             // the text's token ids (BOS first where the tokenizer has one)
  std::vector<std::string> tokens;  // the text each token adds (tokenPieces)
  std::vector<LayerTokenRouting> layers;  // the layers that route (N_j > 1), bottom first; each
                                          // with one module at least
};

// The quantity a pooled table shows, each averaged over the layer's routed modules:
enum class RoutingQuantity {
  Gate,         // the expert's gate: its weight in the token's output (a row sums to 1)
  Probability,  // the router's probability
  Selection,    // the share of the modules' top-K choices that went to the expert (sums to 1)
};

// Whether `layer` routes the module named `module` (every layer routes "", every module).
bool routesModule(const LayerTokenRouting& layer, const std::string& module);
// `layer`'s [token][expert] table of `quantity`, averaged over its modules, or of the one module
// named `module` (empty: every module). Throws std::invalid_argument naming a module the layer
// does not route.
TokenExpertTable pooledTable(const LayerTokenRouting& layer, RoutingQuantity quantity,
                             const std::string& module = {});
// The expert with the largest entry of a row (0-based; the lowest index on a tie), -1 if empty.
int dominantExpert(const std::vector<double>& row);

// The text each id adds after the one before it (Tokenizer::decodeNext), BOS as "<s>".
std::vector<std::string> tokenPieces(const Tokenizer& tokenizer, const std::vector<int>& ids);

// JSON: {"ids", "tokens", "layers": [{"layer", "experts", "top_k", "modules": [{"module",
// "probability", "gate"}]}]}; parsing checks every table's shape (and that each layer routes a
// module) and names `where` in its errors (std::runtime_error).
std::string tokenRoutingToJson(const TokenRouting& routing);
TokenRouting tokenRoutingFromJson(const std::string& json, const std::string& where);

// The table `mola route` prints: a row per token, a column per routing layer, each cell the
// dominant expert (1-based) of the pooled gates (or of `module`'s).
std::string tokenRoutingTable(const TokenRouting& routing, const std::string& module = {});
// One layer's [token][expert] table of `quantity`, two decimals, a row per token.
std::string layerRoutingTable(const TokenRouting& routing, int layer, RoutingQuantity quantity,
                              const std::string& module = {});

}  // namespace mola
