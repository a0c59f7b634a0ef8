// SPDX-License-Identifier: GPL-3.0-or-later
#include "paired_score_table.h"

#include <QHeaderView>
#include <stdexcept>

#include "compare_view.h"
#include "score_chart.h"

namespace mola::widgets {

PairedScoreTable::PairedScoreTable(QWidget* parent) : QTableWidget(parent) {
  setObjectName(QStringLiteral("pairedScores"));
  setEditTriggers(QAbstractItemView::NoEditTriggers);
  setSelectionBehavior(QAbstractItemView::SelectRows);
  setColumnCount(7);
  setHorizontalHeaderLabels({tr("Run"), tr("Benchmark"), tr("Same questions"),
                             tr("Only this right"), tr("Only the reference right"),
                             tr("Difference (95% CI)"), tr("McNemar p")});
  horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  horizontalHeader()->setSectionResizeMode(1, QHeaderView::Stretch);
  verticalHeader()->hide();
  horizontalHeaderItem(3)->setToolTip(
      tr("Questions this run answers right and the reference run wrong"));
  horizontalHeaderItem(4)->setToolTip(
      tr("Questions the reference run answers right and this wrong"));
  horizontalHeaderItem(5)->setToolTip(
      tr("This run's accuracy minus the reference's on the same questions, with its paired 95% "
         "interval"));
  horizontalHeaderItem(6)->setToolTip(
      tr("McNemar's exact test: how likely so uneven a split of the questions on which the two "
         "disagree is when both runs are equally good"));
}

std::vector<PairedScoreTable::Pair> PairedScoreTable::pairsOf(const std::vector<ComparedRun>& runs,
                                                              size_t reference) {
  std::vector<Pair> pairs;
  if (runs.size() < 2 || reference >= runs.size()) return pairs;
  const ComparedRun& first = runs[reference];
  for (const EvalScore& f : ScoreChart::finalScores(first.scores)) {
    const auto first_predictions = first.predictions.find(f.id);
    if (first_predictions == first.predictions.end()) continue;
    for (size_t i = 0; i < runs.size(); ++i) {
      if (i == reference) continue;
      const std::optional<EvalScore> other =
          finalScoreOn(runs[i].scores, f.benchmark, f.split, f.protocol);
      if (!other) continue;
      const auto predictions = runs[i].predictions.find(other->id);
      if (predictions == runs[i].predictions.end()) continue;
      try {
        pairs.push_back({i, ScoreChart::benchmarkLabel(f),
                         pairPredictions(predictions->second, first_predictions->second)});
      } catch (const std::invalid_argument&) {
        // Damaged predictions (an id twice) pair with nothing.
      }
    }
  }
  return pairs;
}

void PairedScoreTable::setRuns(const std::vector<ComparedRun>& runs, size_t reference) {
  m_reference = reference < runs.size() ? reference : 0;
  m_pairs = pairsOf(runs, m_reference);
  m_without.clear();
  if (runs.size() >= 2)
    for (const EvalScore& f : ScoreChart::finalScores(runs[m_reference].scores))
      for (size_t i = 0; i < runs.size(); ++i) {
        const std::optional<EvalScore> own =
            finalScoreOn(runs[i].scores, f.benchmark, f.split, f.protocol);
        if (own && !runs[i].predictions.count(own->id))
          m_without << tr("%1 on %2")
                           .arg(CompareView::runLabel(runs[i].record),
                                ScoreChart::benchmarkLabel(f));
      }
  setRowCount(int(m_pairs.size()));
  if (m_pairs.empty()) return;
  const QString reference_label = CompareView::runLabel(runs[m_reference].record);
  horizontalHeaderItem(0)->setText(tr("Run (against %1)").arg(reference_label));
  for (size_t r = 0; r < m_pairs.size(); ++r)
    fillRow(int(r), m_pairs[r], CompareView::runLabel(runs[m_pairs[r].run].record),
            reference_label);
  // As tall as its rows, and at least two of them in sight: the chart above takes the rest.
  int height = horizontalHeader()->sizeHint().height() + 2 * frameWidth() + 2;
  int two_rows = height;
  for (int r = 0; r < rowCount(); ++r) {
    height += rowHeight(r);
    if (r < 2) two_rows += rowHeight(r);
  }
  setMaximumHeight(height);
  setMinimumHeight(two_rows);
}

void PairedScoreTable::fillRow(int row, const Pair& pair, const QString& run_label,
                               const QString& reference_label) {
  const PairedScores& s = pair.scores;
  const QStringList texts = {run_label,
                             pair.benchmark,
                             QString::number(s.n),
                             QString::number(s.only_a),
                             QString::number(s.only_b),
                             s.n == 0 ? tr("-")
                                      : tr("%1 [%2, %3]")
                                            .arg(s.difference, 0, 'f', 3)
                                            .arg(s.ci_low, 0, 'f', 3)
                                            .arg(s.ci_high, 0, 'f', 3),
                             QString::number(s.p, 'g', 3)};
  for (int c = 0; c < texts.size(); ++c) {
    auto* item = new QTableWidgetItem(texts[c]);
    if (c >= 2) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    item->setToolTip(tr("%1 against %2 on %3: %4 of %5 right against %6")
                         .arg(run_label, reference_label, pair.benchmark)
                         .arg(s.both_right + s.only_a)
                         .arg(s.n)
                         .arg(s.both_right + s.only_b));
    if (c == 0) item->setForeground(CompareView::runColour(int(pair.run)).darker(120));
    if (c == 6 && s.n > 0 && s.p < 0.05) {
      QFont f = item->font();
      f.setBold(true);
      item->setFont(f);
    }
    setItem(row, c, item);
  }
}

}  // namespace mola::widgets
