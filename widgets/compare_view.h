// SPDX-License-Identifier: GPL-3.0-or-later
// CompareView: two or more runs side by side (overlaid curves, router heatmaps on one colour
// scale, configuration differences, scores), each run in the same colour everywhere.
#pragma once

#include <QColor>
#include <QStringList>
#include <QWidget>
#include <map>
#include <string>
#include <vector>

#include "compared_run.h"

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QHBoxLayout;
class QLabel;
class QPushButton;
class QSlider;
class QTabWidget;
class QTableWidget;

namespace mola::widgets {

class ExpertHeatmap;
class PairedScoreTable;
class ScoreChart;

class CompareView : public QWidget {
  Q_OBJECT

 public:
  enum class Curve { Loss, EvalAccuracy, LearningRate, BalanceLoss };

  explicit CompareView(QWidget* parent = nullptr);

  // Run i gets runColor(i) in every plot and table.
  void setRuns(std::vector<ComparedRun> runs);
  const std::vector<ComparedRun>& runs() const { return m_runs; }
  // EMA weight of the loss curves, [0, 0.99].
  void setSmoothing(double weight);
  double smoothing() const { return m_smoothing; }
  // Which benchmark the eval-accuracy curves show (a label as ScoreChart::benchmarkLabel).
  void setEvalBenchmark(const QString& label);

  QCustomPlot* curvePlot(Curve curve) const;
  // Graphs in a curve plot: one per run.
  int curveCount(Curve curve) const;
  static QColor runColour(int run);
  // "name #id" (or "run #id" without a name), as in legends and table headers.
  static QString runLabel(const RunRecord& record);

  const std::vector<ExpertHeatmap*>& heatmaps() const { return m_heatmaps; }
  QTableWidget* configTable() const { return m_config_table; }
  QCheckBox* onlyDifferencesBox() const { return m_only_differences; }
  // Flattened configuration keys ("training.optimizer.lr") whose values are not the same in
  // every run (a key missing in some run differs), sorted.
  QStringList differingKeys() const { return m_differing; }
  // Every plot (curves, the score chart, one heatmap per run), in the order a report shows them.
  QList<QCustomPlot*> allPlots() const;
  // What exported files are named after: "compare-3-4" for runs 3 and 4.
  QString exportStem() const;
  QTableWidget* scoreTable() const { return m_score_table; }
  ScoreChart* scoreChart() const { return m_score_chart; }
  PairedScoreTable* pairedTable() const { return m_paired_table; }
  // The run the paired table compares the others with ("Against:").
  QComboBox* pairedReferenceBox() const { return m_paired_reference; }
  QLabel* unpairedNote() const { return m_unpaired_note; }
  QTabWidget* tabs() const { return m_tabs; }
  // Problems found in the runs given (bad configuration JSON, non-finite values), one per line.
  QString notice() const { return m_notice_text; }
  // The Routers tab's "Trace a text..." button (routingRequested with the first two runs).
  QPushButton* routingButton() const { return m_routing_button; }

  // The configuration as "a.b.c" -> JSON text of the leaf (strings unquoted); arrays of scalars
  // stay one value, arrays of objects are indexed ("x[0].y"). Throws std::runtime_error with the
  // parser's message (byte offset) on invalid JSON.
  static std::map<std::string, std::string> flattenConfig(const std::string& config_json);

 signals:
  // Trace a text through run `first` and run `second` side by side (the Routing dialog).
  void routingRequested(qint64 first, qint64 second);

 private:
  QWidget* buildCurvesTab();
  QWidget* buildRoutersTab();
  QWidget* buildScoresTab();
  QWidget* buildConfigTab();
  void rebuildCurves();
  void rebuildEvalCurves();
  void rebuildHeatmaps();
  void rebuildConfig();
  void rebuildScores();
  // The paired table against the chosen reference; fill_box: list the runs in the box first.
  void rebuildPaired(bool fill_box);
  void applyDifferenceFilter();
  void updateNotice();

  std::vector<ComparedRun> m_runs;
  double m_smoothing = 0.9;
  QString m_eval_benchmark;
  QStringList m_differing;
  QStringList m_config_notices, m_heatmap_notices;
  int m_non_finite = 0;
  QString m_notice_text;

  QLabel* m_header = nullptr;
  QLabel* m_notice = nullptr;
  QTabWidget* m_tabs = nullptr;
  QLabel* m_empty = nullptr;  // shown instead of the tabs while no run is selected
  QSlider* m_smoothing_slider = nullptr;
  QCheckBox* m_log_loss = nullptr;
  QLabel* m_smoothing_value = nullptr;
  QComboBox* m_benchmark_box = nullptr;
  QCustomPlot* m_loss_plot = nullptr;
  QCustomPlot* m_eval_plot = nullptr;
  QCustomPlot* m_lr_plot = nullptr;
  QCustomPlot* m_balance_plot = nullptr;
  QComboBox* m_heatmap_kind = nullptr;
  QPushButton* m_routing_button = nullptr;
  QHBoxLayout* m_heatmap_row = nullptr;
  std::vector<ExpertHeatmap*> m_heatmaps;
  QTableWidget* m_config_table = nullptr;
  QCheckBox* m_only_differences = nullptr;
  QTableWidget* m_score_table = nullptr;
  ScoreChart* m_score_chart = nullptr;
  PairedScoreTable* m_paired_table = nullptr;
  QWidget* m_paired_box = nullptr;  // the reference row and the table
  QComboBox* m_paired_reference = nullptr;
  QLabel* m_unpaired_note = nullptr;  // scores without predictions to pair
};

}  // namespace mola::widgets
