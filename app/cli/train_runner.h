// SPDX-License-Identifier: GPL-3.0-or-later
// Training one run of the store with the console's progress line and Ctrl-C: what mola train,
// resume and study run share.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "dist/dist_env.h"
#include "experiment/experiment_config.h"
#include "store/run_store.h"

namespace mola {
class RankGroup;
}  // namespace mola

namespace mola::cli {

// Trains run `run` (which `store` holds: created or claimed) as `config` says, from `resume` when
// given, as one rank of `group` when given. Returns the exit status: 0 completed, 130 stopped
// (Ctrl-C, SIGTERM), 1 failed or interrupted.
int runTrainer(RunStore& store, int64_t run, const ExperimentConfig& config,
               const std::optional<CheckpointRecord>& resume, RankGroup* group = nullptr);

// What rank 0 of a data-parallel run trains: the store, the run (created or claimed), its
// experiment and the checkpoint it resumes from.
struct RankPlan {
  std::unique_ptr<RunStore> store;
  int64_t run = 0;
  ExperimentConfig config;
  std::optional<CheckpointRecord> resume;
};

// Trains as rank env.rank of a data-parallel run started by torchrun or --nproc: meets the other
// ranks; rank 0 runs `prepare` and shares the run with them, records every rank's host and device,
// and alone writes the store. Returns the exit status as runTrainer.
int trainAsRank(const DistEnv& env, const std::function<RankPlan()>& prepare);

}  // namespace mola::cli
