// SPDX-License-Identifier: GPL-3.0-or-later
// PairedScoreTable: each compared run against a reference run (the first unless another is
// chosen), question by question, on every benchmark whose final scores both have with their
// predictions (store/paired_scores.h): how often each is right where the other is wrong, the
// accuracy difference with its paired interval, McNemar's exact p (bold below 0.05).
#pragma once

#include <QTableWidget>
#include <vector>

#include "compared_run.h"
#include "store/paired_scores.h"

namespace mola::widgets {

class PairedScoreTable : public QTableWidget {
  Q_OBJECT

 public:
  explicit PairedScoreTable(QWidget* parent = nullptr);

  // Which run (index into the runs), the benchmark label, the comparison with the reference.
  struct Pair {
    size_t run = 0;
    QString benchmark;
    PairedScores scores;
  };
  // Every other run against runs[reference], on each benchmark whose final scores both have with
  // their predictions (the reference's benchmarks in order); none for a reference out of range.
  static std::vector<Pair> pairsOf(const std::vector<ComparedRun>& runs, size_t reference = 0);

  void setRuns(const std::vector<ComparedRun>& runs, size_t reference = 0);
  size_t reference() const { return m_reference; }
  // The rows shown.
  const std::vector<Pair>& pairs() const { return m_pairs; }
  // Final scores that could have been paired but have no stored predictions (scored before the
  // store kept them): "square #13 on openbookqa (test)", one per score.
  const QStringList& withoutPredictions() const { return m_without; }

 private:
  void fillRow(int row, const Pair& pair, const QString& run_label, const QString& reference_label);

  size_t m_reference = 0;
  std::vector<Pair> m_pairs;
  QStringList m_without;
};

}  // namespace mola::widgets
