// SPDX-License-Identifier: GPL-3.0-or-later
// StudyChart: a study's accuracy per variant as a forest plot: each seed's run as a dot, the mean
// with its 95% interval as whiskers, the baseline's mean as a dashed line, and each variant's
// allocation silhouette beside its name (torch-free).
#pragma once

#include <qcustomplot.h>

#include "adapters/allocation.h"
#include "study/study_report.h"

namespace mola::widgets {

class StudyChart : public QCustomPlot {
  Q_OBJECT

 public:
  enum class Metric { Final, Best };

  explicit StudyChart(QWidget* parent = nullptr);

  // Variants top to bottom in the summary's order.
  void setSummary(const StudySummary& summary, Metric metric);
  Metric metric() const { return m_metric; }

  // For tests and read-outs: variant i's row (its key on the vertical axis), the mean and
  // interval drawn (NaN when it has no completed run), and its seeds' dots.
  double rowOf(int variant) const;
  double meanOf(int variant) const;
  QCPRange intervalOf(int variant) const;
  QVector<double> seedValuesOf(int variant) const;
  // The silhouette drawn beside variant i's name (an empty allocation for full fine-tuning).
  const Allocation& silhouetteOf(int variant) const;
  double baselineMean() const { return m_baseline_mean; }

 private:
  void fitRanges();
  void placeSilhouettes();

  Metric m_metric = Metric::Final;
  QCPGraph* m_seeds;
  QCPGraph* m_means;
  QCPErrorBars* m_whiskers;
  QCPItemStraightLine* m_baseline;
  QCPItemText* m_placeholder;
  QList<QCPItemPixmap*> m_silhouettes;
  std::vector<Allocation> m_allocations;
  std::vector<double> m_mean, m_low, m_high;
  std::vector<std::vector<double>> m_seed_values;
  double m_baseline_mean = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace mola::widgets
