// SPDX-License-Identifier: GPL-3.0-or-later
// TrainingPlots: one run's live curves and router views; appends mark plots dirty and a 40 ms
// timer replots them, so a fast trainer never floods the GUI thread.
#include "training_plots.h"

#include <qcustomplot.h>
#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSignalBlocker>
#include <QSlider>
#include <QStackedWidget>
#include <QTabWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <limits>

#include "expert_heatmap.h"
#include "plot_export.h"
#include "score_chart.h"
#include "task_gate_map.h"
#include "theme.h"

namespace mola::widgets {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

QCPGraph* makeGraph(QCustomPlot* plot, const QString& name, const QColor& colour, double width,
                    QCPAxis* value_axis = nullptr) {
  auto* g = plot->addGraph(plot->xAxis, value_axis ? value_axis : plot->yAxis);
  g->setName(name);
  g->setPen(QPen(colour, width));
  g->setAdaptiveSampling(true);
  return g;
}

// Rescales a value axis to its visible data: from 0 when `zero_based`, else with a 5% pad.
void fitValueAxis(QCPAxis* axis, bool zero_based, double empty_upper = 1.0) {
  const bool log = axis->scaleType() == QCPAxis::stLogarithmic;
  bool any = false;
  QCPRange r;
  for (QCPAbstractPlottable* p : axis->plottables()) {
    if (!p->visible()) continue;
    bool found = false;
    const QCPRange pr = p->getValueRange(found, log ? QCP::sdPositive : QCP::sdBoth);
    if (!found) continue;
    if (!any)
      r = pr;
    else
      r.expand(pr);
    any = true;
  }
  if (!any) {
    axis->setRange(log ? empty_upper / 100 : 0, empty_upper);
    return;
  }
  if (log) {  // a margin by factors
    axis->setRange(r.lower / 1.15, r.upper * 1.15);
    return;
  }
  if (zero_based) {
    const double upper = r.upper > 0 ? r.upper * 1.08 : empty_upper;
    axis->setRange(std::min(0.0, r.lower), upper);
    return;
  }
  const double size = r.size();
  const double pad = size > 1e-12 * std::max(1.0, std::fabs(r.center()))
                         ? 0.06 * size
                         : std::max(std::fabs(r.center()) * 0.05, 1e-6);
  axis->setRange(r.lower - pad, r.upper + pad);
}

QString number(double v, int digits = 4) {
  if (!std::isfinite(v)) return QStringLiteral("n/a");
  const double a = std::fabs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e6)) return QString::number(v, 'e', 2);
  return QString::number(v, 'f', a >= 1000 ? 0 : digits);
}

}  // namespace

TrainingPlots::TrainingPlots(QWidget* parent) : QWidget(parent), m_ema(m_smoothing) {
  m_status = new QLabel(tr("Waiting for the first training step."));
  m_status->setTextFormat(Qt::PlainText);
  m_tabs = new QTabWidget;
  m_tabs->addTab(buildCurvesTab(), tr("Curves"));
  m_tabs->addTab(buildRouterTab(), tr("Router"));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->setSpacing(4);
  layout->addWidget(m_status);
  layout->addWidget(m_tabs, 1);

  m_timer.setSingleShot(true);
  m_timer.setInterval(kReplotIntervalMs);
  connect(&m_timer, &QTimer::timeout, this, &TrainingPlots::refresh);
  connect(m_tabs, &QTabWidget::currentChanged, this, [this] {
    if (!m_dirty.isEmpty() && !m_timer.isActive()) m_timer.start();
  });
  for (QCustomPlot* p : allPlots()) markDirty(p);
}

QWidget* TrainingPlots::buildCurvesTab() {
  auto* page = new QWidget;
  m_smoothing_slider = new QSlider(Qt::Horizontal);
  m_smoothing_slider->setRange(0, 99);
  m_smoothing_slider->setValue(int(std::lround(m_smoothing * 100)));
  m_smoothing_slider->setMaximumWidth(220);
  m_smoothing_slider->setToolTip(
      tr("Weight of the exponential moving average drawn over the raw loss (0 = raw)"));
  m_smoothing_value = new QLabel(QString::number(m_smoothing, 'f', 2));
  m_smoothing_value->setMinimumWidth(32);
  connect(m_smoothing_slider, &QSlider::valueChanged, this,
          [this](int v) { setSmoothing(v / 100.0); });
  m_log_loss = new QCheckBox(tr("Log scale"));
  m_log_loss->setToolTip(tr("Draw the loss on a logarithmic axis"));
  auto* bar = new QHBoxLayout;
  bar->addWidget(new QLabel(tr("Loss smoothing")));
  bar->addWidget(m_smoothing_slider);
  bar->addWidget(m_smoothing_value);
  bar->addSpacing(16);
  bar->addWidget(m_log_loss);
  bar->addStretch(1);

  m_loss_plot = newPlot(tr("Training loss"), tr("step"), tr("loss"));
  connect(m_log_loss, &QCheckBox::toggled, this, [this](bool log) {
    setLogValueAxis(m_loss_plot, log);
    PlotExport::of(m_loss_plot)->rescale();
  });
  QColor light = runColor(0);
  light.setAlpha(90);
  m_loss.graph = makeGraph(m_loss_plot, tr("loss (raw)"), light, 1.0);
  m_loss_ema_graph =
      makeGraph(m_loss_plot, tr("loss (EMA %1)").arg(m_smoothing, 0, 'f', 2), runColor(0), 2.2);
  m_loss_plot->legend->setVisible(true);
  m_loss_plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);

  m_eval_plot = newPlot(tr("Evaluation"), tr("step"), tr("accuracy"));
  m_eval_plot->yAxis2->setLabel(tr("eval loss"));
  m_eval_plot->legend->setVisible(false);  // until a series is in it
  m_eval_plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
  m_eval_loss.graph =
      makeGraph(m_eval_plot, tr("eval loss"), plotSoftInk(), 1.5, m_eval_plot->yAxis2);
  m_eval_loss.graph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssSquare, 5));
  m_eval_loss.graph->setVisible(false);
  m_eval_loss.graph->removeFromLegend();

  m_lr_plot = newPlot(tr("Learning rate"), tr("step"), tr("learning rate"));
  m_lr.graph = makeGraph(m_lr_plot, tr("learning rate"), runColor(4), 1.6);
  m_balance_plot = newPlot(tr("Load-balancing loss"), tr("step"), tr("balance loss"));
  m_balance.graph = makeGraph(m_balance_plot, tr("balance loss"), runColor(1), 1.2);

  m_placeholders[m_loss_plot] = addPlaceholder(m_loss_plot, tr("no training steps yet"));
  m_placeholders[m_eval_plot] = addPlaceholder(m_eval_plot, tr("no evaluation yet"));
  m_placeholders[m_lr_plot] = addPlaceholder(m_lr_plot, tr("no training steps yet"));
  m_placeholders[m_balance_plot] =
      addPlaceholder(m_balance_plot, tr("no balance loss (plain LoRA, or none logged yet)"));

  installCurveRescalers();

  linkStepAxes({m_loss_plot, m_eval_plot, m_lr_plot, m_balance_plot});
  layOutPlotPage(page, bar, m_loss_plot, m_eval_plot, m_lr_plot, m_balance_plot);
  return page;
}

// Every curve spans steps 0 .. the run's end (2% beyond it, so the last points stay clear of the
// frame); each value axis has its own rule.
void TrainingPlots::installCurveRescalers() {
  PlotExport::of(m_loss_plot)->setRescaler([this] {
    fitStepAxis(m_loss_plot);
    fitValueAxis(m_loss_plot->yAxis, false);
  });
  PlotExport::of(m_eval_plot)->setRescaler([this] {
    fitStepAxis(m_eval_plot);
    m_eval_plot->yAxis->setRange(-0.02, 1.04);
    fitValueAxis(m_eval_plot->yAxis2, false);
  });
  PlotExport::of(m_lr_plot)->setRescaler([this] {
    fitStepAxis(m_lr_plot);
    fitValueAxis(m_lr_plot->yAxis, true, 1e-3);
  });
  PlotExport::of(m_balance_plot)->setRescaler([this] {
    fitStepAxis(m_balance_plot);
    fitValueAxis(m_balance_plot->yAxis, false, 0.01);
  });
}

void TrainingPlots::fitStepAxis(QCustomPlot* plot) const {
  const double hi = std::max(1.0, stepRangeEnd());
  plot->xAxis->setRange(0, hi + std::max(1.0, 0.02 * hi));
}

// The bar chart of one layer's expert load, with the fair-share line.
void TrainingPlots::buildLoadPlot() {
  m_load_plot = newPlot(tr("Expert load"), tr("expert"), tr("share of top-K picks"));
  m_share_bars = new QCPBars(m_load_plot->xAxis, m_load_plot->yAxis);
  m_share_bars->setName(tr("token share"));
  m_share_bars->setPen(Qt::NoPen);
  m_share_bars->setBrush(runColor(0));
  m_prob_bars = new QCPBars(m_load_plot->xAxis, m_load_plot->yAxis);
  m_prob_bars->setName(tr("mean router probability"));
  m_prob_bars->setPen(Qt::NoPen);
  QColor prob = runColor(1);
  prob.setAlpha(190);
  m_prob_bars->setBrush(prob);
  auto* group = new QCPBarsGroup(m_load_plot);
  group->setSpacingType(QCPBarsGroup::stAbsolute);
  group->setSpacing(1);
  for (QCPBars* b : {m_share_bars, m_prob_bars}) {
    b->setWidth(0.38);
    b->setBarsGroup(group);
  }
  auto ticker = QSharedPointer<QCPAxisTickerFixed>(new QCPAxisTickerFixed);
  ticker->setTickStep(1.0);
  ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
  m_load_plot->xAxis->setTicker(ticker);
  m_load_plot->xAxis->grid()->setVisible(false);
  m_load_plot->legend->setVisible(true);
  m_load_plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
  // Token shares are over the K picks of every token, so they sum to 1 and the fair share is 1/N
  // (not K/N).
  m_fair_line = new QCPItemStraightLine(m_load_plot);
  m_fair_line->setPen(QPen(QColor(0x30, 0x30, 0x30), 1.2, Qt::DashLine));
  m_fair_line->point1->setCoords(0, 0);
  m_fair_line->point2->setCoords(1, 0);
  m_fair_line->setVisible(false);
  // The line's name goes in the legend (a label on the plot would sit over the last bar): an
  // empty graph with the line's pen.
  m_fair_legend = m_load_plot->addGraph();
  m_fair_legend->setPen(m_fair_line->pen());
  m_fair_legend->removeFromLegend();
  m_load_placeholder = addPlaceholder(m_load_plot, tr("no router statistics yet"));
  PlotExport::of(m_load_plot)->setRescaler([this] {
    const int n = std::max(1, m_share_bars->data()->size());
    m_load_plot->xAxis->setRange(0.4, n + 0.6);
    double hi = m_fair_line->visible() ? m_fair_line->point1->coords().y() : 0.0;
    for (QCPBars* b : {m_share_bars, m_prob_bars})
      for (const QCPBarsData& d : *b->data())
        if (std::isfinite(d.value)) hi = std::max(hi, d.value);
    // Room above the tallest bar for the legend.
    m_load_plot->yAxis->setRange(0, hi > 0 ? hi * 1.45 : 1.0);
  });
}

QWidget* TrainingPlots::buildRouterTab() {
  auto* page = new QWidget;
  m_layer_box = new QComboBox;
  m_layer_box->setMinimumContentsLength(18);
  m_layer_box->setToolTip(tr("Layer whose expert load the bar chart shows"));
  connect(m_layer_box, &QComboBox::currentIndexChanged, this, [this](int index) {
    if (index < 0) return;
    m_selected_layer = m_layer_box->itemData(index).toInt();
    updateLoadBars();
    markDirty(m_load_plot);
  });
  m_heatmap_kind = new QComboBox;
  m_heatmap_kind->setToolTip(tr("What the expert heatmap's colours show"));
  fillHeatmapKinds(false);
  auto* bar = new QHBoxLayout;
  bar->addWidget(new QLabel(tr("Load of")));
  bar->addWidget(m_layer_box);
  bar->addSpacing(16);
  bar->addWidget(new QLabel(tr("Heatmap shows")));
  bar->addWidget(m_heatmap_kind);
  bar->addStretch(1);

  buildLoadPlot();

  m_heatmap = new ExpertHeatmap;
  m_heatmap->setTitle(tr("Expert utilisation"));  // the last snapshot's step is in its corner
  m_heatmap->setMinimumSize(290, 130);  // and room for the load imbalance plot's title below
  connect(m_heatmap_kind, &QComboBox::currentIndexChanged, this, [this](int index) {
    m_heatmap->setValueKind(ExpertHeatmap::Value(m_heatmap_kind->itemData(index).toInt()));
  });

  m_entropy_plot =
      newPlot(tr("Router entropy (1 = uniform)"), tr("step"), tr("normalised entropy"));
  m_entropy_plot->plotLayout()->addElement(1, 1, m_entropy_plot->legend);
  m_entropy_plot->plotLayout()->setColumnStretchFactor(1, 0.001);
  m_entropy_plot->legend->setFillOrder(QCPLayoutGrid::foRowsFirst);
  m_entropy_plot->legend->setWrap(12);
  m_entropy_plot->legend->setVisible(false);
  m_cv_plot = newPlot(tr("Load imbalance (0 = balanced)"), tr("step"), tr("CV of token share"));
  m_placeholders[m_entropy_plot] = addPlaceholder(m_entropy_plot, tr("no router statistics yet"));
  m_placeholders[m_cv_plot] = addPlaceholder(m_cv_plot, tr("no router statistics yet"));
  PlotExport::of(m_entropy_plot)->setRescaler([this] {
    fitStepAxis(m_entropy_plot);
    m_entropy_plot->yAxis->setRange(0, 1.05);
  });
  PlotExport::of(m_cv_plot)->setRescaler([this] {
    fitStepAxis(m_cv_plot);
    fitValueAxis(m_cv_plot->yAxis, true);
  });

  linkStepAxes({m_entropy_plot, m_cv_plot});
  m_task_map = new TaskGateMap(page);
  m_load_stack = new QStackedWidget(page);
  m_load_stack->addWidget(m_load_plot);
  m_load_stack->addWidget(m_task_map);
  layOutPlotPage(page, bar, m_load_stack, m_heatmap, m_entropy_plot, m_cv_plot);
  return page;
}

void TrainingPlots::setAllocation(const Allocation& allocation) {
  m_allocation = allocation;
  m_heatmap->setAllocation(allocation);
  for (int j = 0; j < allocation.numLayers(); ++j)
    if (allocation.experts(j) > 1) layerSeries(j);
  recolourLayers();
  refreshLayerBox();
  updateLoadBars();
  markDirty(m_load_plot);
  markDirty(m_entropy_plot);
  markDirty(m_cv_plot);
  markDirty(m_heatmap);
}

bool TrainingPlots::appendPoint(Series& series, double step, double value) {
  bool truncated = false;
  if (!series.steps.empty() && step <= series.steps.back()) {
    const auto at = std::lower_bound(series.steps.begin(), series.steps.end(), step);
    const auto n = at - series.steps.begin();
    series.steps.erase(at, series.steps.end());
    series.values.erase(series.values.begin() + n, series.values.end());
    series.graph->data()->removeAfter(step - 0.5);
    truncated = true;
  }
  series.steps.push_back(step);
  series.values.push_back(value);
  series.graph->addData(step, value);
  return truncated;
}

void TrainingPlots::appendMetrics(const std::vector<MetricPoint>& points) {
  bool loss_truncated = false;
  for (const MetricPoint& p : points) {
    double v = p.value;
    if (!std::isfinite(v)) {
      ++m_non_finite;
      v = kNaN;  // a gap in the line; an infinity would wreck the axis range
    }
    m_latest[p.name] = p.value;
    m_last_step = std::max(m_last_step, p.step);
    const double step = double(p.step);
    if (p.name == "loss") {
      if (appendPoint(m_loss, step, v)) loss_truncated = true;
      if (!loss_truncated) m_loss_ema_graph->addData(step, m_ema.add(v));
      markDirty(m_loss_plot);
    } else if (p.name == "lr") {
      appendPoint(m_lr, step, v);
      markDirty(m_lr_plot);
    } else if (p.name == "balance_loss") {
      appendPoint(m_balance, step, v);
      markDirty(m_balance_plot);
    } else if (p.name == "eval_loss") {
      appendPoint(m_eval_loss, step, v);
      m_eval_loss.graph->setVisible(true);
      if (!m_eval_plot->yAxis2->visible()) {
        m_eval_plot->yAxis2->setVisible(true);
        m_eval_loss.graph->addToLegend();
        m_eval_plot->legend->setVisible(true);
      }
      markDirty(m_eval_plot);
    } else if (p.name == "eval_accuracy") {
      EvalScore s;
      s.step = p.step;
      s.benchmark = "eval";
      s.accuracy = v;
      s.ci_low = s.ci_high = v;  // no count, so no interval
      appendEval(s);
    }
  }
  if (loss_truncated) recomputeEma();
  if (!points.empty() && !m_timer.isActive()) m_timer.start();
}

void TrainingPlots::recomputeEma() {
  m_ema = EmaSmoother(m_smoothing);
  QVector<QCPGraphData> data;
  data.reserve(qsizetype(m_loss.steps.size()));
  for (size_t i = 0; i < m_loss.steps.size(); ++i)
    data.append(QCPGraphData(m_loss.steps[i], m_ema.add(m_loss.values[i])));
  m_loss_ema_graph->data()->set(data, true);
  markDirty(m_loss_plot);
}

void TrainingPlots::setSmoothing(double weight) {
  if (!std::isfinite(weight)) return;
  m_smoothing = std::clamp(weight, 0.0, 0.99);
  const QSignalBlocker block(m_smoothing_slider);
  m_smoothing_slider->setValue(int(std::lround(m_smoothing * 100)));
  m_smoothing_value->setText(QString::number(m_smoothing, 'f', 2));
  m_loss_ema_graph->setName(tr("loss (EMA %1)").arg(m_smoothing, 0, 'f', 2));
  recomputeEma();
}

QList<QCustomPlot*> TrainingPlots::allPlots() const {
  return {m_loss_plot,
          m_eval_plot,
          m_lr_plot,
          m_balance_plot,
          m_load_plot,
          m_entropy_plot,
          m_cv_plot,
          static_cast<QCustomPlot*>(m_heatmap),
          static_cast<QCustomPlot*>(m_task_map)};
}

void TrainingPlots::setExportStem(const QString& stem) {
  for (QCustomPlot* p : allPlots()) PlotExport::of(p)->setFileStem(stem);
}

void TrainingPlots::appendEval(const EvalScore& score) {
  const QString label = ScoreChart::benchmarkLabel(score);
  auto it = m_eval.find(label.toStdString());
  if (it == m_eval.end()) {
    EvalSeries es;
    const QColor colour = runColor(2 + int(m_eval.size()));
    es.graph = makeGraph(m_eval_plot, label, colour, 1.6);
    es.graph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, colour, 6));
    es.errors = new QCPErrorBars(m_eval_plot->xAxis, m_eval_plot->yAxis);
    es.errors->removeFromLegend();
    es.errors->setDataPlottable(es.graph);
    es.errors->setPen(QPen(colour, 1.2));
    es.errors->setWhiskerWidth(6);
    es.errors->setSymbolGap(7);
    it = m_eval.emplace(label.toStdString(), es).first;
    m_eval_plot->legend->setVisible(true);
  }
  EvalSeries& es = it->second;
  const double step = double(score.step);
  if (!es.steps.empty() && step <= es.steps.back()) {
    const auto at = std::lower_bound(es.steps.begin(), es.steps.end(), step);
    const auto n = at - es.steps.begin();
    es.steps.erase(at, es.steps.end());
    es.graph->data()->removeAfter(step - 0.5);
    es.errors->data()->resize(n);
  }
  const double acc = std::isfinite(score.accuracy) ? score.accuracy : kNaN;
  if (!std::isfinite(score.accuracy)) ++m_non_finite;
  const auto [lo, hi] = ScoreChart::interval(score);
  es.steps.push_back(step);
  es.graph->addData(step, acc);
  es.errors->addData(std::isfinite(acc) ? acc - lo : 0.0, std::isfinite(acc) ? hi - acc : 0.0);
  m_last_step = std::max(m_last_step, score.step);
  markDirty(m_eval_plot);
}

TrainingPlots::LayerSeries& TrainingPlots::layerSeries(int layer) {
  auto it = m_layers.find(layer);
  if (it != m_layers.end()) return it->second;
  LayerSeries ls;
  const QString name = tr("layer %1").arg(layer + 1);
  ls.entropy.graph = makeGraph(m_entropy_plot, name, Qt::black, 1.5);
  ls.cv.graph = makeGraph(m_cv_plot, name, Qt::black, 1.5);
  it = m_layers.emplace(layer, ls).first;
  // Legend entries in layer order, top layer first like the heatmap's rows.
  m_entropy_plot->legend->clearItems();
  for (auto r = m_layers.rbegin(); r != m_layers.rend(); ++r)
    r->second.entropy.graph->addToLegend();
  m_entropy_plot->legend->setVisible(true);
  recolourLayers();
  return it->second;
}

void TrainingPlots::recolourLayers() {
  int num_layers = m_allocation.numLayers();
  if (!m_layers.empty()) num_layers = std::max(num_layers, m_layers.rbegin()->first + 1);
  for (auto& [layer, ls] : m_layers) {
    const QColor c = layerColor(layer, num_layers);
    ls.entropy.graph->setPen(QPen(c, 1.5));
    ls.cv.graph->setPen(QPen(c, 1.5));
  }
}

void TrainingPlots::refreshLayerBox() {
  std::vector<int> layers;
  for (int j = 0; j < m_allocation.numLayers(); ++j)
    if (m_allocation.experts(j) > 1) layers.push_back(j);
  if (m_last_snapshot)
    for (const LayerRouterStats& l : m_last_snapshot->layers)
      if (std::find(layers.begin(), layers.end(), l.layer) == layers.end() && l.layer >= 0)
        layers.push_back(l.layer);
  std::sort(layers.begin(), layers.end(), std::greater<>());
  bool same = int(layers.size()) == m_layer_box->count();
  for (int i = 0; same && i < m_layer_box->count(); ++i)
    same = m_layer_box->itemData(i).toInt() == layers[size_t(i)];
  if (same) return;
  const QSignalBlocker block(m_layer_box);
  m_layer_box->clear();
  for (int j : layers) {
    const int n = j < m_allocation.numLayers() ? m_allocation.experts(j) : 0;
    m_layer_box->addItem(
        n > 0 ? tr("layer %1 (%2 experts)").arg(j + 1).arg(n) : tr("layer %1").arg(j + 1), j);
  }
  if (layers.empty()) {
    m_selected_layer = -1;
    return;
  }
  // Keep the user's layer; else start on the top layer, which has the most experts in MoLA's
  // favourite shapes.
  int index = m_layer_box->findData(m_selected_layer);
  if (index < 0) index = 0;
  m_layer_box->setCurrentIndex(index);
  m_selected_layer = m_layer_box->itemData(index).toInt();
}

void TrainingPlots::setSelectedLayer(int layer) {
  const int index = m_layer_box->findData(layer);
  if (index < 0) return;
  m_layer_box->setCurrentIndex(index);
  m_selected_layer = layer;
  updateLoadBars();
  markDirty(m_load_plot);
}

void TrainingPlots::appendRouterStats(const RouterStatsSnapshot& snapshot) {
  m_last_snapshot = snapshot;
  for (const LayerRouterStats& l : snapshot.layers) {
    if (l.layer < 0) continue;
    LayerSeries& ls = layerSeries(l.layer);
    const double step = double(snapshot.step);
    const double e = std::isfinite(l.normalized_entropy) ? l.normalized_entropy : kNaN;
    const double cv = std::isfinite(l.load_cv) ? l.load_cv : kNaN;
    appendPoint(ls.entropy, step, e);
    appendPoint(ls.cv, step, cv);
  }
  m_last_step = std::max(m_last_step, snapshot.step);
  refreshLayerBox();
  // The heatmap and the bars take the snapshot at the next tick: only the last one counts.
  m_router_pending = true;
  markDirty(m_heatmap);
  markDirty(m_load_plot);
  markDirty(m_entropy_plot);
  markDirty(m_cv_plot);
}

void TrainingPlots::fillHeatmapKinds(bool task_gated) {
  using Value = ExpertHeatmap::Value;
  const QVariant current = m_heatmap_kind->currentData();
  const QSignalBlocker quiet(m_heatmap_kind);
  m_heatmap_kind->clear();
  // A MOELoRA gate's statistics are its weights: no token share, and its mean probability is the
  // same mean weight.
  const std::vector<Value> kinds =
      task_gated
          ? std::vector<Value>{Value::TokenFraction, Value::RelativeLoad}
          : std::vector<Value>{Value::TokenFraction, Value::RelativeLoad, Value::MeanProbability};
  for (Value kind : kinds)
    m_heatmap_kind->addItem(
        task_gated ? ExpertHeatmap::taskWeightLabel(kind) : ExpertHeatmap::valueLabel(kind),
        int(kind));
  const int keep = current.isValid() ? m_heatmap_kind->findData(current) : -1;
  m_heatmap_kind->setCurrentIndex(std::max(keep, 0));
  m_heatmap_task_gated = task_gated;
  if (m_heatmap) m_heatmap->setValueKind(Value(m_heatmap_kind->currentData().toInt()));
}

void TrainingPlots::updateLoadBars() {
  // MOELoRA: a gate that reads the task has no token load; its weights per task are the picture.
  const bool tasks = m_last_snapshot && !m_last_snapshot->tasks.empty();
  if (m_load_stack) {  // built after the layer box, which calls this while being filled
    m_load_stack->setCurrentWidget(tasks ? static_cast<QWidget*>(m_task_map) : m_load_plot);
    if (tasks) m_task_map->setSnapshot(*m_last_snapshot, m_selected_layer);
  }
  const LayerRouterStats* stats = nullptr;
  if (m_last_snapshot)
    for (const LayerRouterStats& l : m_last_snapshot->layers)
      if (l.layer == m_selected_layer) stats = &l;
  int n = m_selected_layer >= 0 && m_selected_layer < m_allocation.numLayers()
              ? m_allocation.experts(m_selected_layer)
              : 0;
  if (stats && n == 0) n = int(stats->token_fraction.size());
  QVector<double> keys, share, prob;
  if (stats) {
    for (int i = 0; i < n; ++i) {
      keys << i + 1;
      const auto at = [&](const std::vector<double>& v) {
        return size_t(i) < v.size() && std::isfinite(v[size_t(i)]) ? v[size_t(i)] : kNaN;
      };
      share << at(stats->token_fraction);
      prob << at(stats->mean_probability);
    }
  }
  static_cast<QCPAxisTickerFixed*>(m_load_plot->xAxis->ticker().data())
      ->setTickCount(std::clamp(n, 2, 16));
  m_share_bars->setData(keys, share, true);
  m_prob_bars->setData(keys, prob, true);
  const bool show = n > 1;
  const double fair = show ? 1.0 / n : 0.0;
  m_fair_line->setPen(QPen(plotInk(), 1.2, Qt::DashLine));  // the theme may have changed
  m_fair_legend->setPen(m_fair_line->pen());
  m_fair_line->point1->setCoords(0, fair);
  m_fair_line->point2->setCoords(1, fair);
  m_fair_line->setVisible(show);
  m_fair_legend->setName(tr("fair share 1/%1").arg(n));
  if (show)
    m_fair_legend->addToLegend();
  else
    m_fair_legend->removeFromLegend();
  m_load_placeholder->setVisible(!stats);
  auto* title = qobject_cast<QCPTextElement*>(m_load_plot->plotLayout()->element(0, 0));
  if (title) {
    title->setText(stats ? tr("Expert load, layer %1 (step %2)")
                               .arg(m_selected_layer + 1)
                               .arg(m_last_snapshot->step)
                         : tr("Expert load"));
  }
}

void TrainingPlots::clear() {
  for (Series* s : {&m_loss, &m_lr, &m_balance, &m_eval_loss}) {
    s->steps.clear();
    s->values.clear();
    s->graph->data()->clear();
  }
  m_loss_ema_graph->data()->clear();
  m_ema.reset();
  for (auto& [name, es] : m_eval) {
    m_eval_plot->removePlottable(es.errors);
    m_eval_plot->removePlottable(es.graph);
  }
  m_eval.clear();
  m_eval_plot->legend->setVisible(m_eval_plot->legend->itemCount() > 0);
  for (auto& [layer, ls] : m_layers)
    for (Series* s : {&ls.entropy, &ls.cv}) {
      s->steps.clear();
      s->values.clear();
      s->graph->data()->clear();
    }
  m_last_snapshot.reset();
  m_router_pending = false;
  m_heatmap->clearSnapshot();
  m_latest.clear();
  m_non_finite = 0;
  m_last_step = -1;
  refreshLayerBox();
  updateLoadBars();
  for (QCustomPlot* p : allPlots()) markDirty(p);
}

QCPGraph* TrainingPlots::entropyGraph(int layer) const {
  const auto it = m_layers.find(layer);
  return it == m_layers.end() ? nullptr : it->second.entropy.graph;
}

double TrainingPlots::stepRangeEnd() const {
  return double(std::max<int64_t>(m_last_step, 0));
}

void TrainingPlots::markDirty(QCustomPlot* plot) {
  m_dirty.insert(plot);
  if (!m_timer.isActive()) m_timer.start();
}

void TrainingPlots::updateStatus() {
  if (m_last_step < 0) return;
  QStringList parts;
  parts << tr("step %1").arg(m_last_step);
  const auto value = [&](const char* name) {
    const auto it = m_latest.find(name);
    return it == m_latest.end() ? std::optional<double>() : std::optional<double>(it->second);
  };
  if (auto v = value("loss")) {
    QString s = tr("loss %1").arg(number(*v));
    if (!m_loss_ema_graph->data()->isEmpty())
      s += tr(" (smoothed %1)").arg(number((m_loss_ema_graph->data()->constEnd() - 1)->value));
    parts << s;
  }
  if (auto v = value("balance_loss")) parts << tr("balance %1").arg(number(*v));
  if (auto v = value("lr"))
    parts << tr("lr %1").arg(*v == 0 ? QStringLiteral("0") : QString::number(*v, 'e', 2));
  if (auto v = value("grad_norm")) parts << tr("grad norm %1").arg(number(*v, 3));
  // Tokens per second and the time (with the time left) are the progress line's, beside the bar.
  if (auto v = value("padding")) parts << tr("%1% padding").arg(std::llround(100 * *v));
  if (auto v = value("peak_mem_mb")) parts << tr("peak memory %1 GiB").arg(*v / 1024, 0, 'f', 1);
  if (m_non_finite > 0) parts << tr("%n non-finite value(s) not drawn", nullptr, m_non_finite);
  m_status->setText(parts.join(QStringLiteral("  \u00b7  ")));
}

void TrainingPlots::refresh() {
  if (m_router_pending && m_last_snapshot) {
    const bool task_gated = !m_last_snapshot->tasks.empty();
    if (task_gated != m_heatmap_task_gated) fillHeatmapKinds(task_gated);
    m_heatmap->setSnapshot(*m_last_snapshot);
    updateLoadBars();
    m_router_pending = false;
  }
  updateStatus();
  const auto set_placeholder = [this](QCustomPlot* p, bool empty) {
    const auto it = m_placeholders.find(p);
    if (it != m_placeholders.end()) it->second->setVisible(empty);
  };
  set_placeholder(m_loss_plot, m_loss.steps.empty());
  set_placeholder(m_eval_plot, m_eval.empty() && m_eval_loss.steps.empty());
  set_placeholder(m_lr_plot, m_lr.steps.empty());
  set_placeholder(m_balance_plot, m_balance.steps.empty());
  bool any_router = false;
  for (const auto& [layer, ls] : m_layers) any_router = any_router || !ls.entropy.steps.empty();
  set_placeholder(m_entropy_plot, !any_router);
  set_placeholder(m_cv_plot, !any_router);

  for (QCustomPlot* plot : QSet<QCustomPlot*>(m_dirty)) {
    // A plot on a hidden tab waits: it is replotted when its tab is shown.
    if (!plot->isVisible()) continue;
    fitPlot(plot);
    plot->replot(QCustomPlot::rpQueuedReplot);
    m_dirty.remove(plot);
  }
}

void TrainingPlots::fitPlot(QCustomPlot* plot) {
  PlotExport* helper = PlotExport::of(plot);
  if (helper && !helper->userRanged()) helper->fit();
}

void TrainingPlots::replotNow() {
  m_timer.stop();
  refresh();
  for (QCustomPlot* plot : allPlots()) {
    fitPlot(plot);
    plot->replot(QCustomPlot::rpImmediateRefresh);
  }
  m_dirty.clear();
}

void TrainingPlots::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  if (!m_dirty.isEmpty() && !m_timer.isActive()) m_timer.start();
}

}  // namespace mola::widgets
