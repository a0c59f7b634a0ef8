// SPDX-License-Identifier: GPL-3.0-or-later
// loadRunsRows: reads the run database into the rows the runs browser shows (torch-free).
#pragma once

#include <vector>

#include "runs_table_model.h"
#include "store/run_store.h"

namespace mola::app {

// Every run in `store` with its allocation and its best evaluation score (the highest accuracy
// over its evaluations, with that evaluation's benchmark); runs without a score have none.
std::vector<widgets::RunsRow> loadRunsRows(const RunStore& store);

}  // namespace mola::app
