// SPDX-License-Identifier: GPL-3.0-or-later
// loadComparedRun: one stored run, read in full for the compare view (torch-free).
#pragma once

#include <cstdint>

#include "compare_view.h"
#include "store/run_store.h"

namespace mola::app {

// The run's row, every metric, router snapshot and score, and its allocation parsed from the
// stored per-layer list (empty for full fine-tuning). Throws StoreError naming the id when absent.
widgets::ComparedRun loadComparedRun(const RunStore& store, int64_t run);

}  // namespace mola::app
