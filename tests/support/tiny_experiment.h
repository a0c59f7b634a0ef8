// SPDX-License-Identifier: GPL-3.0-or-later
// The quickstart's shape on the random tiny model, for tests that train: seconds per run.
#pragma once

#include <string>

#include "experiment/experiment_config.h"

namespace mola::test {

inline ExperimentConfig tinyExperiment(const std::string& name, int max_steps) {
  ExperimentConfig c;
  c.name = name;
  c.model = "builtin:tiny";
  c.device = "cpu";
  c.allocation = "2-4-6-8";
  c.dropout = 0.0;
  c.train.path = "synthetic:largest:64";
  c.eval.path = "synthetic:largest:32:7";
  c.prompt_template = "compact";
  c.cutoff = 96;
  c.batch_size = 4;
  c.max_steps = max_steps;
  c.lr = 3e-3;
  c.warmup_steps = 2;
  c.router_stats_interval = 4;
  return c;
}

// The random tiny model (seed 3) on the "largest" task: batch 8, cutoff 96, lr 3e-3 after 2
// warm-up steps, on the CPU; the trainer's own tests set dropout, intervals and the seed.
inline ExperimentConfig largestTaskExperiment(int max_steps) {
  ExperimentConfig c;
  c.model = "builtin:tiny:3";
  c.device = "cpu";
  c.allocation = "2-4-6-8";
  c.train.path = "synthetic:largest:64:1";
  c.prompt_template = "compact";
  c.cutoff = 96;
  c.batch_size = 8;
  c.max_steps = max_steps;
  c.lr = 3e-3;
  c.warmup_steps = 2;
  return c;
}

}  // namespace mola::test
