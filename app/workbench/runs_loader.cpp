// SPDX-License-Identifier: GPL-3.0-or-later
// loadRunsRows: one RunsRow per stored run, best score included.
#include "runs_loader.h"

#include <map>

namespace mola::app {

std::vector<widgets::RunsRow> loadRunsRows(const RunStore& store) {
  std::vector<widgets::RunsRow> rows;
  std::map<int64_t, QString> studies;
  for (const StudyRecord& s : store.listStudies()) studies[s.id] = QString::fromStdString(s.name);
  for (RunRecord& record : store.listRuns()) {
    std::optional<double> best;
    QString benchmark;
    for (const EvalScore& s : store.evalScores(record.id)) {
      if (!best || s.accuracy > *best) {
        best = s.accuracy;
        benchmark = QString::fromStdString(s.benchmark);
      }
    }
    const int64_t study = record.study;
    rows.push_back(widgets::RunsRow::fromRecord(std::move(record), best, benchmark));
    if (study) rows.back().study_name = studies[study];
  }
  return rows;
}

}  // namespace mola::app
