// SPDX-License-Identifier: GPL-3.0-or-later
// TrainingPlots: the live dashboard of one run (loss, eval, learning rate, balance loss, router
// load, expert utilisation, router entropy), replotted at most 25 times a second.
#pragma once

#include <QSet>
#include <QTimer>
#include <QWidget>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "adapters/allocation.h"
#include "adapters/router_stats.h"
#include "ema_smoother.h"
#include "store/run_store.h"

class QCustomPlot;
class QCPGraph;
class QCPBars;
class QCPErrorBars;
class QCPItemStraightLine;
class QCPItemText;
class QCheckBox;
class QComboBox;
class QLabel;
class QStackedWidget;
class QSlider;
class QTabWidget;

namespace mola::widgets {

class ExpertHeatmap;
class TaskGateMap;

class TrainingPlots : public QWidget {
  Q_OBJECT

 public:
  static constexpr int kReplotIntervalMs = 40;  // ~25 frames/s

  explicit TrainingPlots(QWidget* parent = nullptr);

  // N_j per layer: which layers have routers (the layer box, the heatmap's shape, the layer
  // colours). Keeps the data already shown.
  void setAllocation(const Allocation& allocation);
  // Metric points by name: "loss", "balance_loss", "lr", "eval_loss", "eval_accuracy" are
  // plotted; "padding", "grad_norm" and "peak_mem_mb" go to the status line (the Train view's
  // progress line shows "tokens_per_s" and "elapsed_s"). Points of
  // one name come in step order; a point at or before the last step of its series (a resumed run
  // replaying) replaces the points from that step on. Non-finite values are drawn as gaps and
  // counted in the status line.
  void appendMetrics(const std::vector<MetricPoint>& points);
  void appendRouterStats(const RouterStatsSnapshot& snapshot);
  // Accuracy with its confidence interval, one series per benchmark.
  void appendEval(const EvalScore& score);
  // Drops every point; the allocation stays.
  void clear();

  // EMA weight of the smoothed loss in [0, 0.99] (the slider has steps of 0.01).
  void setSmoothing(double weight);
  // Exported plots are named "<stem>-<plot title>" (the run's name and id).
  void setExportStem(const QString& stem);
  // Every plot, curves then router, in the order a report shows them.
  QList<QCustomPlot*> allPlots() const;
  // The loss drawn on a logarithmic axis (the "Log scale" box).
  QCheckBox* logLossBox() const { return m_log_loss; }
  double smoothing() const { return m_smoothing; }
  // The layer (0-based) whose expert load the bar chart shows; ignored when it has no router.
  void setSelectedLayer(int layer);
  int selectedLayer() const { return m_selected_layer; }

  // Replots every plot with pending data now instead of at the next tick (tests, screenshots).
  void replotNow();

  QTabWidget* tabs() const { return m_tabs; }
  QCustomPlot* lossPlot() const { return m_loss_plot; }
  QCustomPlot* evalPlot() const { return m_eval_plot; }
  QCustomPlot* lrPlot() const { return m_lr_plot; }
  QCustomPlot* balancePlot() const { return m_balance_plot; }
  QCustomPlot* loadPlot() const { return m_load_plot; }
  QCustomPlot* entropyPlot() const { return m_entropy_plot; }
  QCustomPlot* loadCvPlot() const { return m_cv_plot; }
  ExpertHeatmap* heatmap() const { return m_heatmap; }
  TaskGateMap* taskGateMap() const { return m_task_map; }
  QCPGraph* rawLossGraph() const { return m_loss.graph; }
  QCPGraph* smoothedLossGraph() const { return m_loss_ema_graph; }
  QCPBars* tokenShareBars() const { return m_share_bars; }
  QCPBars* meanProbabilityBars() const { return m_prob_bars; }
  QCPItemStraightLine* fairShareLine() const { return m_fair_line; }
  QComboBox* layerBox() const { return m_layer_box; }
  QComboBox* heatmapKindBox() const { return m_heatmap_kind; }
  QSlider* smoothingSlider() const { return m_smoothing_slider; }
  QLabel* statusLabel() const { return m_status; }
  // The entropy graph of 0-based `layer`, or nullptr when none was created.
  QCPGraph* entropyGraph(int layer) const;
  int nonFiniteCount() const { return m_non_finite; }

 protected:
  void showEvent(QShowEvent* event) override;

 private:
  // One plotted series: the values kept beside the graph so smoothing can be recomputed.
  struct Series {
    QCPGraph* graph = nullptr;
    std::vector<double> steps, values;
  };
  struct EvalSeries {
    QCPGraph* graph = nullptr;
    QCPErrorBars* errors = nullptr;
    std::vector<double> steps;
  };
  struct LayerSeries {
    Series entropy, cv;
  };

  QWidget* buildCurvesTab();
  QWidget* buildRouterTab();
  void buildLoadPlot();
  void installCurveRescalers();
  // The step axis from 0 to just past the run's end.
  void fitStepAxis(QCustomPlot* plot) const;
  // Appends one point, truncating first when the step goes back; returns true when the series
  // was truncated (its smoothing must then be recomputed).
  bool appendPoint(Series& series, double step, double value);
  void recomputeEma();
  LayerSeries& layerSeries(int layer);
  void recolourLayers();
  void refreshLayerBox();
  void updateLoadBars();
  // The heatmap's value kinds, named for token routers or for MOELoRA's task gates; keeps the
  // selected kind where it is offered.
  void fillHeatmapKinds(bool task_gated);
  void updateStatus();
  void markDirty(QCustomPlot* plot);
  void refresh();
  void fitPlot(QCustomPlot* plot);
  double stepRangeEnd() const;

  Allocation m_allocation;
  double m_smoothing = 0.9;
  int m_selected_layer = -1;
  int m_non_finite = 0;
  int64_t m_last_step = -1;
  bool m_router_pending = false;           // a snapshot the heatmap and bars have not taken yet
  std::map<std::string, double> m_latest;  // last value per metric name, for the status line

  Series m_loss, m_lr, m_balance, m_eval_loss;
  QCPGraph* m_loss_ema_graph = nullptr;
  EmaSmoother m_ema;
  std::map<std::string, EvalSeries> m_eval;  // by benchmark
  std::map<int, LayerSeries> m_layers;       // by 0-based layer
  std::optional<RouterStatsSnapshot> m_last_snapshot;

  QTabWidget* m_tabs = nullptr;
  QLabel* m_status = nullptr;
  QSlider* m_smoothing_slider = nullptr;
  QCheckBox* m_log_loss = nullptr;
  QLabel* m_smoothing_value = nullptr;
  QComboBox* m_layer_box = nullptr;
  QComboBox* m_heatmap_kind = nullptr;
  bool m_heatmap_task_gated = false;  // the kinds' names are MOELoRA's
  QCustomPlot* m_loss_plot = nullptr;
  QCustomPlot* m_eval_plot = nullptr;
  QCustomPlot* m_lr_plot = nullptr;
  QCustomPlot* m_balance_plot = nullptr;
  QCustomPlot* m_load_plot = nullptr;
  QCustomPlot* m_entropy_plot = nullptr;
  QCustomPlot* m_cv_plot = nullptr;
  ExpertHeatmap* m_heatmap = nullptr;
  // MOELoRA: the selected layer's tasks x experts weights, in the load plot's place.
  TaskGateMap* m_task_map = nullptr;
  QStackedWidget* m_load_stack = nullptr;
  QCPBars* m_share_bars = nullptr;
  QCPBars* m_prob_bars = nullptr;
  QCPItemStraightLine* m_fair_line = nullptr;
  QCPGraph* m_fair_legend = nullptr;  // no data: the fair-share line's legend entry
  QCPItemText* m_load_placeholder = nullptr;
  QCPItemText* m_entropy_note = nullptr;
  std::map<QCustomPlot*, QCPItemText*> m_placeholders;

  QSet<QCustomPlot*> m_dirty;
  QTimer m_timer;
};

}  // namespace mola::widgets
