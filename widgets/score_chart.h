// SPDX-License-Identifier: GPL-3.0-or-later
// ScoreChart: QA accuracy per benchmark as grouped bars (one colour per run) with Wilson
// confidence intervals and an optional chance line.
#pragma once

#include <qcustomplot.h>
#include <QColor>
#include <QString>
#include <QStringList>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "store/run_store.h"

namespace mola::widgets {

// One run's scores; the chart keeps, per benchmark, the score of the latest step.
struct ScoreSeries {
  QString name;
  QColor color;
  std::vector<EvalScore> scores;
};

class ScoreChart : public QCustomPlot {
  Q_OBJECT

 public:
  explicit ScoreChart(QWidget* parent = nullptr);

  void setSeries(const std::vector<ScoreSeries>& series);
  // One dashed line across the chart at `chance` (e.g. 0.25 for 4 options); NaN removes it.
  void setChanceLevel(double chance);
  // A dashed segment over one benchmark's group only (benchmarks differ in option counts).
  void setChanceLevel(const QString& benchmark, double chance);

  // The 95% Wilson score interval of `accuracy` over n answers, clamped to [0, 1]; (0, 1) when
  // n is 0.
  static std::pair<double, double> wilsonInterval(double accuracy, int64_t n,
                                                  double z = 1.959963984540054);
  // The interval the chart draws for a score: the stored one, or Wilson's when the stored one
  // does not contain the accuracy (e.g. a score written without an interval).
  static std::pair<double, double> interval(const EvalScore& score);
  // The category a score belongs to: "benchmark" or "benchmark (split)".
  static QString benchmarkLabel(const EvalScore& score);
  // Per category, the score with the highest step, in order of first appearance.
  static std::vector<EvalScore> finalScores(const std::vector<EvalScore>& scores);

  QStringList benchmarks() const { return m_benchmarks; }
  int seriesCount() const { return int(m_bars.size()); }
  QCPBars* bars(int series) const { return m_bars.at(size_t(series)); }
  QCPErrorBars* errorBars(int series) const { return m_errors.at(size_t(series)); }
  // The accuracy drawn for a series and benchmark label, NaN when it has none.
  double value(int series, const QString& benchmark) const;

 private:
  void rebuild();
  void clearChart();
  void addRunBars(int r, const std::vector<EvalScore>& finals, double width);
  void addValueLabels(double width, const QFont& font);
  void addChanceLines(const QFont& font);
  void fitView();

  std::vector<ScoreSeries> m_series;
  QStringList m_benchmarks;
  double m_chance = std::numeric_limits<double>::quiet_NaN();
  std::map<QString, double> m_benchmark_chance;
  std::vector<QCPBars*> m_bars;
  std::vector<QCPErrorBars*> m_errors;
  QCPBarsGroup* m_group;
  QList<QCPAbstractItem*> m_items;  // chance lines and value labels, rebuilt with the data
  QCPItemText* m_placeholder;
};

}  // namespace mola::widgets
