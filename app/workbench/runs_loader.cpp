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
    // Of the run's own benchmark: a score added on another one (mola eval --run) is not ranked.
    std::optional<double> best;
    const std::vector<EvalScore> scores = store.evalScores(record.id);
    const std::string primary = primaryBenchmark(scores, evaluatedBenchmarkOf(record));
    for (const EvalScore& s : scores)
      if (s.benchmark == primary && (!best || s.accuracy > *best)) best = s.accuracy;
    const QString benchmark = QString::fromStdString(primary);
    const int64_t study = record.study;
    rows.push_back(widgets::RunsRow::fromRecord(std::move(record), best, benchmark));
    if (study) rows.back().study_name = studies[study];
  }
  return rows;
}

}  // namespace mola::app
