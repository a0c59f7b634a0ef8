// SPDX-License-Identifier: GPL-3.0-or-later
// loadRunsRows: one RunsRow per stored run, best score included.
#include "runs_loader.h"

namespace mola::app {

std::vector<widgets::RunsRow> loadRunsRows(const RunStore& store) {
  std::vector<widgets::RunsRow> rows;
  for (RunRecord& record : store.listRuns()) {
    std::optional<double> best;
    QString benchmark;
    for (const EvalScore& s : store.evalScores(record.id)) {
      if (!best || s.accuracy > *best) {
        best = s.accuracy;
        benchmark = QString::fromStdString(s.benchmark);
      }
    }
    rows.push_back(widgets::RunsRow::fromRecord(std::move(record), best, benchmark));
  }
  return rows;
}

}  // namespace mola::app
