// SPDX-License-Identifier: GPL-3.0-or-later
// Training one run of the store with the console's progress line and Ctrl-C: what mola train,
// resume and study run share.
#pragma once

#include <cstdint>
#include <optional>

#include "experiment/experiment_config.h"
#include "store/run_store.h"

namespace mola::cli {

// Trains run `run` (which `store` holds: created or claimed) as `config` says, from `resume` when
// given. Returns the exit status: 0 completed, 130 stopped (Ctrl-C, SIGTERM), 1 failed.
int runTrainer(RunStore& store, int64_t run, const ExperimentConfig& config,
               const std::optional<CheckpointRecord>& resume);

}  // namespace mola::cli
