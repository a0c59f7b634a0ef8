// SPDX-License-Identifier: GPL-3.0-or-later
// Router statistics as plain values (torch-free), for the store, the CLI and the widgets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mola {

// One decoder layer's routing over a window of tokens, pooled over its target modules.
struct LayerRouterStats {
  int layer = 0;       // 0-based decoder layer
  int64_t tokens = 0;  // routed tokens counted (padding excluded), summed over modules
  std::vector<double> token_fraction;    // f_i: share of the top-K selections that went to expert i
  std::vector<double> mean_probability;  // P_i: mean router probability of expert i
  double entropy = 0.0;                  // mean over tokens of -sum_i p_i ln p_i (nats)
  double normalized_entropy = 0.0;       // entropy / ln N (1 = uniform router), 0 when N = 1
  double load_cv = 0.0;  // coefficient of variation of f over experts (0 = balanced)
};

struct RouterStatsSnapshot {
  int64_t step = 0;
  std::vector<LayerRouterStats> layers;  // only layers that have a router (N_j > 1)
  // MOELoRA (a gate that reads the task, not the token): the task names and, per layer (every
  // layer, bottom first), each task's expert weights [task][expert]. `layers` then holds the
  // weights averaged over the tasks (token_fraction = mean_probability, tokens 0).
  std::vector<std::string> tasks = {};
  std::vector<std::vector<std::vector<double>>> task_weights = {};
};

}  // namespace mola
