// SPDX-License-Identifier: GPL-3.0-or-later
// loadComparedRun: reads a run through the RunStore's query functions.
#include "compared_run_loader.h"

#include "runs_table_model.h"
#include "store/paired_scores.h"

namespace mola::app {

widgets::ComparedRun loadComparedRun(const RunStore& store, int64_t run) {
  widgets::ComparedRun compared;
  compared.record = store.run(run);
  compared.metrics = store.metrics(run);
  compared.router = store.routerStats(run);
  compared.scores = store.evalScores(run);
  // The predictions of each benchmark's final score, for the paired comparison.
  for (const EvalScore& e : compared.scores) {
    const std::optional<EvalScore> last =
        finalScoreOn(compared.scores, e.benchmark, e.split, e.protocol);
    if (last && last->id == e.id) {
      std::vector<StoredPrediction> p = store.predictions(e.id);
      if (!p.empty()) compared.predictions.emplace(e.id, std::move(p));
    }
  }
  // The browser's parser: the same stored text gives the same drawing in both views.
  compared.allocation = widgets::RunsRow::fromRecord(compared.record).allocation;
  return compared;
}

}  // namespace mola::app
