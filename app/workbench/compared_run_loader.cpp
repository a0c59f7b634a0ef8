// SPDX-License-Identifier: GPL-3.0-or-later
// loadComparedRun: reads a run through the RunStore's query functions.
#include "compared_run_loader.h"

#include "runs_table_model.h"

namespace mola::app {

widgets::ComparedRun loadComparedRun(const RunStore& store, int64_t run) {
  widgets::ComparedRun compared;
  compared.record = store.run(run);
  compared.metrics = store.metrics(run);
  compared.router = store.routerStats(run);
  compared.scores = store.evalScores(run);
  // The browser's parser: the same stored text gives the same drawing in both views.
  compared.allocation = widgets::RunsRow::fromRecord(compared.record).allocation;
  return compared;
}

}  // namespace mola::app
