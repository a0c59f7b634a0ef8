// SPDX-License-Identifier: GPL-3.0-or-later
// RunStore's router statistics: per layer and expert, and a MOELoRA run's task gate weights.
#include <sqlite3.h>

#include <limits>
#include <map>
#include <optional>
#include <string>

#include "store/run_store.h"
#include "store/sqlite_support.h"

namespace mola {

using namespace store_detail;

void RunStore::addRouterStats(int64_t run, const RouterStatsSnapshot& snapshot) {
  const std::string what = "adding router statistics of step " + std::to_string(snapshot.step) +
                           " to run " + std::to_string(run);
  for (const LayerRouterStats& layer : snapshot.layers)
    if (layer.token_fraction.size() != layer.mean_probability.size())
      throw StoreError(m_path.string() + ": " + what + ": layer " + std::to_string(layer.layer) +
                       " has " + std::to_string(layer.token_fraction.size()) +
                       " token fractions but " + std::to_string(layer.mean_probability.size()) +
                       " mean probabilities");
  transaction(m_db, m_path, true, what, [&] {
    requireRun(m_db, m_path, run);
    // A snapshot at a step already stored replaces that step's snapshot as a whole.
    for (const char* sql : {"DELETE FROM router_stats WHERE run = ? AND step = ?",
                            "DELETE FROM router_layer_stats WHERE run = ? AND step = ?"}) {
      Statement del(m_db, sql);
      del.bindInt(1, run).bindInt(2, snapshot.step).run();
    }
    Statement layer_row(m_db,
                        "INSERT INTO router_layer_stats (run, step, layer, module, tokens, "
                        "entropy, normalized_entropy, load_cv) VALUES (?, ?, ?, '', ?, ?, ?, ?)");
    Statement expert_row(m_db,
                         "INSERT INTO router_stats (run, step, layer, module, expert, fraction, "
                         "mean_prob) VALUES (?, ?, ?, '', ?, ?, ?)");
    layer_row.bindInt(1, run).bindInt(2, snapshot.step);
    expert_row.bindInt(1, run).bindInt(2, snapshot.step);
    for (const LayerRouterStats& layer : snapshot.layers) {
      layer_row.bindInt(3, layer.layer)
          .bindInt(4, layer.tokens)
          .bindReal(5, layer.entropy)
          .bindReal(6, layer.normalized_entropy)
          .bindReal(7, layer.load_cv);
      layer_row.run();
      expert_row.bindInt(3, layer.layer);
      for (size_t i = 0; i < layer.token_fraction.size(); ++i) {
        expert_row.bindInt(4, static_cast<int64_t>(i))
            .bindReal(5, layer.token_fraction[i])
            .bindReal(6, layer.mean_probability[i]);
        expert_row.run();
      }
    }
    // MOELoRA: each task's weights, as rows of module "task:ROW:NAME" (weight in both columns).
    Statement task_row(m_db,
                       "INSERT INTO router_stats (run, step, layer, module, expert, fraction, "
                       "mean_prob) VALUES (?, ?, ?, ?, ?, ?, ?)");
    task_row.bindInt(1, run).bindInt(2, snapshot.step);
    for (size_t j = 0; j < snapshot.task_weights.size(); ++j)
      for (size_t t = 0; t < snapshot.task_weights[j].size() && t < snapshot.tasks.size(); ++t)
        for (size_t i = 0; i < snapshot.task_weights[j][t].size(); ++i) {
          const double w = snapshot.task_weights[j][t][i];
          task_row.bindInt(3, int64_t(j))
              .bindText(4, "task:" + std::to_string(t) + ":" + snapshot.tasks[t])
              .bindInt(5, int64_t(i))
              .bindReal(6, w)
              .bindReal(7, w);
          task_row.run();
        }
  });
}

namespace {

// The rows of module "task:ROW:NAME" into each snapshot's tasks and task_weights.
void readTaskWeights(sqlite3* db, int64_t run, int64_t first_step,
                     std::vector<RouterStatsSnapshot>& snapshots) {
  std::map<int64_t, RouterStatsSnapshot*> by_step;
  for (RouterStatsSnapshot& s : snapshots) by_step[s.step] = &s;
  Statement rows(db,
                 "SELECT step, layer, module, expert, mean_prob FROM router_stats WHERE run = ? "
                 "AND module LIKE 'task:%' AND step >= ? ORDER BY step, layer, expert");
  rows.bindInt(1, run).bindInt(2, first_step);
  while (rows.step()) {
    auto it = by_step.find(rows.integer(0));
    const std::string module = rows.text(2);
    const size_t colon = module.find(':', 5);
    const int64_t layer = rows.integer(1), expert = rows.integer(3);
    if (it == by_step.end() || colon == std::string::npos || layer < 0 || expert < 0) continue;
    size_t task = 0;
    try {
      task = std::stoul(module.substr(5, colon - 5));
    } catch (const std::exception&) {
      continue;  // not a row this build wrote
    }
    RouterStatsSnapshot& snap = *it->second;
    if (snap.tasks.size() <= task) snap.tasks.resize(task + 1);
    snap.tasks[task] = module.substr(colon + 1);
    if (snap.task_weights.size() <= size_t(layer)) snap.task_weights.resize(size_t(layer) + 1);
    auto& table = snap.task_weights[size_t(layer)];
    if (table.size() <= task) table.resize(task + 1);
    if (table[task].size() <= size_t(expert))
      table[task].resize(size_t(expert) + 1, std::numeric_limits<double>::quiet_NaN());
    table[task][size_t(expert)] = rows.real(4);
  }
}

// The snapshots of steps >= first_step, by step.
std::vector<RouterStatsSnapshot> readSnapshots(sqlite3* db, int64_t run, int64_t first_step) {
  std::vector<RouterStatsSnapshot> snapshots;
  // (step, layer) -> where that layer sits in `snapshots`.
  std::map<std::pair<int64_t, int64_t>, std::pair<size_t, size_t>> where;
  Statement layers(db,
                   "SELECT step, layer, tokens, entropy, normalized_entropy, load_cv FROM "
                   "router_layer_stats WHERE run = ? AND module = '' AND step >= ? "
                   "ORDER BY step, layer");
  layers.bindInt(1, run).bindInt(2, first_step);
  while (layers.step()) {
    const int64_t step = layers.integer(0);
    if (snapshots.empty() || snapshots.back().step != step) {
      snapshots.emplace_back();
      snapshots.back().step = step;
    }
    LayerRouterStats l;
    l.layer = static_cast<int>(layers.integer(1));
    l.tokens = layers.integer(2);
    l.entropy = layers.real(3);
    l.normalized_entropy = layers.real(4);
    l.load_cv = layers.real(5);
    where[{step, l.layer}] = {snapshots.size() - 1, snapshots.back().layers.size()};
    snapshots.back().layers.push_back(std::move(l));
  }
  Statement experts(db,
                    "SELECT step, layer, expert, fraction, mean_prob FROM router_stats "
                    "WHERE run = ? AND module = '' AND step >= ? ORDER BY step, layer, expert");
  experts.bindInt(1, run).bindInt(2, first_step);
  while (experts.step()) {
    auto it = where.find({experts.integer(0), experts.integer(1)});
    const int64_t expert = experts.integer(2);
    if (it == where.end() || expert < 0) continue;  // rows the schema keeps paired
    LayerRouterStats& l = snapshots[it->second.first].layers[it->second.second];
    const auto i = static_cast<size_t>(expert);
    if (l.token_fraction.size() <= i) {
      l.token_fraction.resize(i + 1, std::numeric_limits<double>::quiet_NaN());
      l.mean_probability.resize(i + 1, std::numeric_limits<double>::quiet_NaN());
    }
    l.token_fraction[i] = experts.real(3);
    l.mean_probability[i] = experts.real(4);
  }
  readTaskWeights(db, run, first_step, snapshots);
  return snapshots;
}

}  // namespace

std::vector<RouterStatsSnapshot> RunStore::routerStats(int64_t run) const {
  std::vector<RouterStatsSnapshot> snapshots;
  transaction(m_db, m_path, false, "reading the router statistics of run " + std::to_string(run),
              [&] { snapshots = readSnapshots(m_db, run, std::numeric_limits<int64_t>::min()); });
  return snapshots;
}

std::optional<RouterStatsSnapshot> RunStore::lastRouterStats(int64_t run) const {
  std::vector<RouterStatsSnapshot> snapshots;
  transaction(m_db, m_path, false,
              "reading the last router statistics of run " + std::to_string(run), [&] {
                Statement last(m_db,
                               "SELECT MAX(step) FROM router_layer_stats WHERE run = ? AND "
                               "module = ''");
                last.bindInt(1, run);
                if (last.step() && !last.isNull(0))
                  snapshots = readSnapshots(m_db, run, last.integer(0));
              });
  if (snapshots.empty()) return std::nullopt;
  return snapshots.back();
}

}  // namespace mola
