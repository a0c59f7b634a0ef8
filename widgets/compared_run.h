// SPDX-License-Identifier: GPL-3.0-or-later
// ComparedRun: everything the Compare view needs of one run, read from the RunStore by the caller
// (torch-free).
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "adapters/allocation.h"
#include "adapters/router_stats.h"
#include "store/run_store.h"

namespace mola::widgets {

struct ComparedRun {
  RunRecord record;
  std::vector<MetricPoint> metrics;
  std::vector<RouterStatsSnapshot> router;
  std::vector<EvalScore> scores;
  Allocation allocation;
  // The predictions of each benchmark's final score, by EvalScore::id (none stored: absent).
  std::map<int64_t, std::vector<StoredPrediction>> predictions = {};
};

}  // namespace mola::widgets
