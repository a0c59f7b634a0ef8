// SPDX-License-Identifier: GPL-3.0-or-later
// writeRun: a plausible stored run written straight into a RunStore, for the workbench's tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adapters/allocation.h"
#include "experiment/experiment_config.h"
#include "store/run_store.h"
#include "study/study_queue.h"
#include "tiny_experiment.h"

namespace mola::test {

// A plausible stored run, written the way `mola train` writes (metrics in batches per step):
// loss decaying from 2.6 towards `floor`, router statistics every 10 steps, a score every 50.
// The configuration writeRun stores: the quickstart's shape on the tiny model.
inline mola::ExperimentConfig storedRunConfig(const std::string& name, const std::string& groups,
                                              int steps) {
  mola::ExperimentConfig c = tinyExperiment("window-run", steps);
  c.name = name;
  c.allocation = groups;
  c.model = "builtin:tiny-pretrained";
  c.train.path = "synthetic:opposite:2000:1";
  c.eval.path = "synthetic:opposite:200:2";
  return c;
}

// Fills run `id` (created, running) as writeRun does, then gives it `status`.
inline void fillRun(RunStore& store, int64_t id, const std::string& groups, int steps, double floor,
                    double accuracy, RunStatus status = RunStatus::Completed) {
  const mola::ExperimentConfig c = storedRunConfig("", groups, steps);
  const mola::Allocation alloc = mola::Allocation::parse(groups, 4);
  for (int s = 1; s <= steps; ++s) {
    const double t = double(s) / steps;
    const double wiggle = 0.08 * std::sin(s * 1.7 + floor * 10.0);
    store.addMetrics(id, {{s, "loss", floor + (2.6 - floor) * std::exp(-4.0 * t) + wiggle},
                          {s, "balance_loss", 0.008 + 0.002 * std::exp(-3.0 * t)},
                          {s, "lr", 0.01 * std::min(1.0, s / 20.0) * (1.0 - t)},
                          {s, "grad_norm", 0.5 + 0.3 * std::exp(-t)},
                          {s, "tokens_per_s", 5200.0},
                          {s, "elapsed_s", 0.3 * s}});
    if (s % 10 == 0) {
      mola::RouterStatsSnapshot snap;
      snap.step = s;
      for (int layer = 0; layer < 4; ++layer) {
        const int n = alloc.experts(layer);
        if (n < 2) continue;
        mola::LayerRouterStats l;
        l.layer = layer;
        l.tokens = 4096;
        double sum = 0.0;
        for (int e = 0; e < n; ++e) {
          const double w = 1.0 + 0.6 * t * std::cos(e * 2.3 + layer);
          l.token_fraction.push_back(w);
          sum += w;
        }
        for (double& f : l.token_fraction) f /= sum;
        l.mean_probability = l.token_fraction;
        l.entropy = std::log(double(n)) * (1.0 - 0.2 * t);
        l.normalized_entropy = 1.0 - 0.2 * t;
        l.load_cv = 0.3 * t;
        snap.layers.push_back(l);
      }
      store.addRouterStats(id, snap);
    }
    if (s % 50 == 0 || s == steps) {
      mola::EvalScore score;
      score.step = s;
      score.benchmark = c.eval.path;
      score.protocol = "likelihood";
      score.n = 200;
      score.accuracy = 0.25 + (accuracy - 0.25) * t;
      score.ci_low = score.accuracy - 0.06;
      score.ci_high = score.accuracy + 0.06;
      store.addEvalScore(id, score);
    }
  }
  store.setStatus(id, status, status == RunStatus::Completed ? "completed" : "");
}

inline int64_t writeRun(RunStore& store, const std::string& name, const std::string& groups,
                        int steps, double floor, double accuracy,
                        RunStatus status = RunStatus::Completed) {
  const mola::ExperimentConfig c = storedRunConfig(name, groups, steps);
  const int64_t id = store.createRun(name, mola::experimentToJson(c),
                                     mola::Allocation::parse(groups, 4).toList(), c.model);
  fillRun(store, id, groups, steps, floor, accuracy, status);
  return id;
}

// A study written as `mola study run` leaves it: one variant per allocation (group strings on
// the 4-layer model), seeds 1..`seeds`, queued by queueStudy and taken through the queue; run
// (v, s) reaches accuracy accuracies[v] + 0.01 * s at its last step. Returns the study's id.
inline int64_t writeStudy(RunStore& store, const std::string& name,
                          const std::vector<std::string>& groups,
                          const std::vector<double>& accuracies, int seeds, int steps = 60) {
  nlohmann::json doc = {
      {"name", name},
      {"base",
       nlohmann::json::parse(mola::experimentToJson(storedRunConfig(name, groups.front(), steps)))},
      {"allocations", groups},
      {"baseline", groups.front()}};
  for (int s = 1; s <= seeds; ++s) doc["seeds"].push_back(s);
  const mola::StudySpec spec = mola::parseStudy(doc.dump(), name, "/");
  const int64_t study = mola::queueStudy(store, spec).id;
  while (const auto next = store.startNextQueued(study)) {
    const mola::RunRecord run = store.run(next->second);
    const size_t v = size_t(std::find(groups.begin(), groups.end(), run.variant) - groups.begin());
    const mola::ExperimentConfig c = mola::parseExperiment(run.config_json);
    fillRun(store, run.id, run.variant, steps, 0.5, accuracies[v] + 0.01 * double(c.seed));
  }
  return study;
}

}  // namespace mola::test
