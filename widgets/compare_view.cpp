// SPDX-License-Identifier: GPL-3.0-or-later
// CompareView: overlaid curves, shared-scale heatmaps, configuration diff and scores of runs.
#include "compare_view.h"

#include <qcustomplot.h>
#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QSlider>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "ema_smoother.h"
#include "expert_heatmap.h"
#include "paired_score_table.h"
#include "plot_export.h"
#include "score_chart.h"
#include "theme.h"

namespace mola::widgets {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const QColor kDiffTint(255, 236, 179);  // amber: rows whose values differ

QCustomPlot* makePlot(const QString& title, const QString& y_label) {
  QCustomPlot* plot = newPlot(title, QObject::tr("step"), y_label);
  plot->legend->setVisible(true);
  return plot;
}

// Points of one metric by step; a later point for a step replaces an earlier one.
void series(const std::vector<MetricPoint>& points, const std::string& name,
            std::vector<double>& steps, std::vector<double>& values, int& non_finite) {
  std::map<int64_t, double> by_step;
  for (const MetricPoint& p : points)
    if (p.name == name) by_step[p.step] = p.value;
  steps.clear();
  values.clear();
  for (const auto& [step, v] : by_step) {
    steps.push_back(double(step));
    if (!std::isfinite(v)) ++non_finite;
    values.push_back(std::isfinite(v) ? v : kNaN);
  }
}

void flatten(const nlohmann::json& j, const std::string& prefix,
             std::map<std::string, std::string>& out) {
  if (j.is_object()) {
    if (j.empty() && !prefix.empty()) out[prefix] = "{}";
    for (auto it = j.begin(); it != j.end(); ++it)
      flatten(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
  } else if (j.is_array() && std::any_of(j.begin(), j.end(), [](const nlohmann::json& e) {
               return e.is_structured();
             })) {
    for (size_t i = 0; i < j.size(); ++i)
      flatten(j[i], prefix + "[" + std::to_string(i) + "]", out);
  } else if (j.is_string()) {
    out[prefix.empty() ? std::string("(value)") : prefix] = j.get<std::string>();
  } else {
    out[prefix.empty() ? std::string("(value)") : prefix] = j.dump();
  }
}

}  // namespace

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
  m_header = new QLabel;
  m_header->setTextFormat(Qt::RichText);
  m_header->setWordWrap(true);
  m_notice = new QLabel;
  m_notice->setTextFormat(Qt::PlainText);
  m_notice->setWordWrap(true);
  m_notice->setStyleSheet(errorStyle());
  m_notice->setVisible(false);
  m_tabs = new QTabWidget;
  m_tabs->addTab(buildCurvesTab(), tr("Curves"));
  m_tabs->addTab(buildRoutersTab(), tr("Routers"));
  m_tabs->addTab(buildScoresTab(), tr("Scores"));
  m_tabs->addTab(buildConfigTab(), tr("Configuration"));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->setSpacing(4);
  layout->addWidget(m_header);
  layout->addWidget(m_notice);
  layout->addWidget(m_tabs, 1);
  m_empty = new QLabel(
      tr("<p style='font-size:13pt;'>No runs to compare yet.</p>"
         "<p>In the <b>Runs</b> view, select two or more runs (Ctrl+click or Shift+click) and "
         "press <b>Compare</b>.</p>"));
  m_empty->setObjectName(QStringLiteral("compareEmpty"));
  m_empty->setAlignment(Qt::AlignCenter);
  m_empty->setWordWrap(true);
  setDimText(m_empty);
  layout->addWidget(m_empty, 1);
  setRuns({});
}

QColor CompareView::runColour(int run) {
  return runColor(run);
}

QString CompareView::runLabel(const RunRecord& record) {
  const QString name = QString::fromStdString(record.name);
  if (name.isEmpty()) return tr("run #%1").arg(record.id);
  return record.id > 0 ? QStringLiteral("%1 #%2").arg(name).arg(record.id) : name;
}

QWidget* CompareView::buildCurvesTab() {
  auto* page = new QWidget;
  m_smoothing_slider = new QSlider(Qt::Horizontal);
  m_smoothing_slider->setRange(0, 99);
  m_smoothing_slider->setValue(int(std::lround(m_smoothing * 100)));
  m_smoothing_slider->setMaximumWidth(200);
  m_smoothing_value = new QLabel(QString::number(m_smoothing, 'f', 2));
  m_smoothing_value->setMinimumWidth(32);
  connect(m_smoothing_slider, &QSlider::valueChanged, this,
          [this](int v) { setSmoothing(v / 100.0); });
  m_benchmark_box = new QComboBox;
  m_benchmark_box->setMinimumContentsLength(16);
  connect(m_benchmark_box, &QComboBox::currentIndexChanged, this, [this](int index) {
    if (index < 0) return;
    m_eval_benchmark = m_benchmark_box->itemText(index);
    rebuildEvalCurves();
  });
  auto* bar = new QHBoxLayout;
  bar->addWidget(new QLabel(tr("Loss smoothing")));
  bar->addWidget(m_smoothing_slider);
  bar->addWidget(m_smoothing_value);
  bar->addSpacing(16);
  bar->addWidget(new QLabel(tr("Eval benchmark")));
  bar->addWidget(m_benchmark_box);
  bar->addSpacing(16);
  m_log_loss = new QCheckBox(tr("Log scale"));
  m_log_loss->setToolTip(tr("Draw the loss on a logarithmic axis"));
  bar->addWidget(m_log_loss);
  bar->addStretch(1);

  m_loss_plot = makePlot(tr("Training loss (smoothed)"), tr("loss"));
  connect(m_log_loss, &QCheckBox::toggled, this, [this](bool log) {
    setLogValueAxis(m_loss_plot, log);
    PlotExport::of(m_loss_plot)->rescale();
  });
  m_eval_plot = makePlot(tr("Eval accuracy"), tr("accuracy"));
  m_eval_plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
  m_lr_plot = makePlot(tr("Learning rate"), tr("learning rate"));
  m_balance_plot = makePlot(tr("Load-balancing loss"), tr("balance loss"));
  // Every curve plot spans steps 0 .. the last step of any run, so they line up.
  const auto step_range = [this](QCustomPlot* plot) {
    double hi = 1;
    for (QCustomPlot* p : {m_loss_plot, m_eval_plot, m_lr_plot, m_balance_plot})
      for (int g = 0; g < p->graphCount(); ++g)
        if (!p->graph(g)->data()->isEmpty())
          hi = std::max(hi, (p->graph(g)->data()->constEnd() - 1)->key);
    plot->xAxis->setRange(0, hi + std::max(1.0, 0.02 * hi));
  };
  PlotExport::of(m_loss_plot)->setRescaler([this, step_range] {
    rescaleWithMargin(m_loss_plot);
    step_range(m_loss_plot);
  });
  PlotExport::of(m_eval_plot)->setRescaler([this, step_range] {
    step_range(m_eval_plot);
    m_eval_plot->yAxis->setRange(-0.02, 1.04);
  });
  PlotExport::of(m_lr_plot)->setRescaler([this, step_range] {
    rescaleWithMargin(m_lr_plot);
    m_lr_plot->yAxis->setRangeLower(0);
    step_range(m_lr_plot);
  });
  PlotExport::of(m_balance_plot)->setRescaler([this, step_range] {
    rescaleWithMargin(m_balance_plot);
    step_range(m_balance_plot);
  });

  linkStepAxes({m_loss_plot, m_eval_plot, m_lr_plot, m_balance_plot});
  layOutPlotPage(page, bar, m_loss_plot, m_eval_plot, m_lr_plot, m_balance_plot);
  return page;
}

QWidget* CompareView::buildRoutersTab() {
  auto* page = new QWidget;
  m_heatmap_kind = new QComboBox;
  for (auto kind : {ExpertHeatmap::Value::TokenFraction, ExpertHeatmap::Value::RelativeLoad,
                    ExpertHeatmap::Value::MeanProbability})
    m_heatmap_kind->addItem(ExpertHeatmap::valueLabel(kind), int(kind));
  connect(m_heatmap_kind, &QComboBox::currentIndexChanged, this, [this] {
    rebuildHeatmaps();
    updateNotice();
  });
  m_routing_button = new QPushButton(tr("Trace a text..."));
  m_routing_button->setToolTip(
      tr("Send one text through the first two runs and see which experts each token goes to, "
         "side by side"));
  connect(m_routing_button, &QPushButton::clicked, this, [this] {
    if (m_runs.size() >= 2) emit routingRequested(m_runs[0].record.id, m_runs[1].record.id);
  });
  auto* bar = new QHBoxLayout;
  bar->addWidget(new QLabel(tr("Each run's last router snapshot, one colour scale:")));
  bar->addWidget(m_heatmap_kind);
  bar->addStretch(1);
  bar->addWidget(m_routing_button);
  auto* strip = new QWidget;
  m_heatmap_row = new QHBoxLayout(strip);
  m_heatmap_row->setContentsMargins(0, 0, 0, 0);
  m_heatmap_row->setSpacing(4);
  auto* scroll = new QScrollArea;
  scroll->setWidget(strip);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  auto* layout = new QVBoxLayout(page);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addLayout(bar);
  layout->addWidget(scroll, 1);
  return page;
}

QWidget* CompareView::buildScoresTab() {
  auto* splitter = new QSplitter(Qt::Vertical);
  m_score_chart = new ScoreChart;
  m_score_chart->setMinimumHeight(200);
  m_score_table = new QTableWidget;
  m_score_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  m_score_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  m_paired_table = new PairedScoreTable;
  m_paired_table->setToolTip(
      tr("Each run against the reference on the same questions: a difference that two "
         "overlapping intervals hide can still be clear question by question"));
  m_paired_box = new QWidget;
  auto* paired_layout = new QVBoxLayout(m_paired_box);
  paired_layout->setContentsMargins(0, 0, 0, 0);
  auto* reference_row = new QHBoxLayout;
  m_paired_reference = new QComboBox;
  m_paired_reference->setObjectName(QStringLiteral("pairedReference"));
  m_paired_reference->setToolTip(
      tr("The run every other run is paired with, question by question"));
  auto* reference_label = new QLabel(tr("Question by question, a&gainst:"));
  reference_label->setBuddy(m_paired_reference);
  reference_row->addWidget(reference_label);
  reference_row->addWidget(m_paired_reference);
  reference_row->addStretch(1);
  paired_layout->addLayout(reference_row);
  paired_layout->addWidget(m_paired_table);
  connect(m_paired_reference, &QComboBox::currentIndexChanged, this,
          [this] { rebuildPaired(/*fill_box=*/false); });
  splitter->addWidget(m_score_chart);
  splitter->addWidget(m_score_table);
  splitter->addWidget(m_paired_box);
  m_unpaired_note = new QLabel;
  m_unpaired_note->setWordWrap(true);
  m_unpaired_note->setTextFormat(Qt::PlainText);
  setDimText(m_unpaired_note);
  m_unpaired_note->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Maximum);
  splitter->addWidget(m_unpaired_note);
  splitter->setStretchFactor(0, 3);
  splitter->setStretchFactor(1, 1);
  splitter->setStretchFactor(2, 1);
  return splitter;
}

QWidget* CompareView::buildConfigTab() {
  auto* page = new QWidget;
  m_only_differences = new QCheckBox(tr("Show only differences"));
  connect(m_only_differences, &QCheckBox::toggled, this, [this] { applyDifferenceFilter(); });
  m_config_table = new QTableWidget;
  m_config_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  m_config_table->setSelectionBehavior(QAbstractItemView::SelectRows);
  m_config_table->setWordWrap(false);
  m_config_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  m_config_table->verticalHeader()->setDefaultSectionSize(m_config_table->fontMetrics().height() +
                                                          6);
  auto* layout = new QVBoxLayout(page);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addWidget(m_only_differences);
  layout->addWidget(m_config_table, 1);
  return page;
}

std::map<std::string, std::string> CompareView::flattenConfig(const std::string& config_json) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(config_json);
  } catch (const nlohmann::json::parse_error& e) {
    throw std::runtime_error(e.what());
  }
  std::map<std::string, std::string> out;
  flatten(j, "", out);
  return out;
}

void CompareView::setRuns(std::vector<ComparedRun> runs) {
  m_runs = std::move(runs);
  QStringList chips;
  for (size_t i = 0; i < m_runs.size(); ++i) {
    const RunRecord& r = m_runs[i].record;
    QString detail = QString::fromStdString(
        m_runs[i].allocation.numLayers() > 0 ? m_runs[i].allocation.describe() : r.allocation);
    if (detail.isEmpty()) detail = tr("no experts");
    chips << QStringLiteral(
                 "<span style='color:%1; font-size:14pt;'>&#9632;</span>&nbsp;<b>%2</b>"
                 "&nbsp;<span style='color:#666;'>(%3, %4)</span>")
                 .arg(runColour(int(i)).name(), runLabel(r).toHtmlEscaped(), detail.toHtmlEscaped(),
                      QString::fromStdString(runStatusName(r.status)).toHtmlEscaped());
  }
  m_header->setText(chips.join(QStringLiteral("&nbsp;&nbsp;&nbsp;&nbsp;")));
  // Nothing to draw: a hint instead of empty 0-5 axes.
  m_header->setVisible(!m_runs.empty());
  m_tabs->setVisible(!m_runs.empty());
  m_empty->setVisible(m_runs.empty());
  m_routing_button->setEnabled(m_runs.size() >= 2);

  // Benchmarks for the eval curves, in order of first appearance.
  QStringList labels;
  for (const ComparedRun& run : m_runs)
    for (const EvalScore& s : run.scores)
      if (!labels.contains(ScoreChart::benchmarkLabel(s))) labels << ScoreChart::benchmarkLabel(s);
  {
    const QSignalBlocker block(m_benchmark_box);
    m_benchmark_box->clear();
    m_benchmark_box->addItems(labels);
    if (!labels.contains(m_eval_benchmark))
      m_eval_benchmark = labels.isEmpty() ? QString() : labels.front();
    m_benchmark_box->setCurrentIndex(int(labels.indexOf(m_eval_benchmark)));
    m_benchmark_box->setEnabled(labels.size() > 1);
  }

  rebuildCurves();
  rebuildHeatmaps();
  rebuildConfig();
  rebuildScores();
  updateNotice();
  // Exported plots are named after the runs compared: "compare-3-4-<plot title>".
  for (QCustomPlot* p : findChildren<QCustomPlot*>())
    if (PlotExport* helper = PlotExport::of(p)) helper->setFileStem(exportStem());
}

QString CompareView::exportStem() const {
  QString stem = QStringLiteral("compare");
  for (const ComparedRun& run : m_runs) stem += QStringLiteral("-%1").arg(run.record.id);
  return stem;
}

QList<QCustomPlot*> CompareView::allPlots() const {
  QList<QCustomPlot*> plots = {m_loss_plot, m_eval_plot, m_lr_plot, m_balance_plot,
                               static_cast<QCustomPlot*>(m_score_chart)};
  for (ExpertHeatmap* h : m_heatmaps) plots << static_cast<QCustomPlot*>(h);
  return plots;
}

void CompareView::updateNotice() {
  QStringList lines;
  if (m_runs.size() == 1) lines << tr("Select a second run to compare against.");
  // A run that did not finish is scored as of its last evaluation, not its last step.
  for (const ComparedRun& run : m_runs) {
    if (run.record.status == RunStatus::Completed || run.scores.empty()) continue;
    int64_t scored = 0;
    for (const EvalScore& e : run.scores) scored = std::max(scored, e.step);
    if (scored < run.record.last_step)
      lines << tr("%1 is %2 at step %3: its scores are from step %4.")
                   .arg(runLabel(run.record),
                        QString::fromStdString(runStatusName(run.record.status)))
                   .arg(run.record.last_step)
                   .arg(scored);
  }
  lines << m_config_notices << m_heatmap_notices;
  if (m_non_finite > 0)
    lines << tr("%n non-finite metric value(s) are drawn as gaps.", nullptr, m_non_finite);
  m_notice_text = lines.join(QLatin1Char('\n'));
  m_notice->setText(m_notice_text);
  m_notice->setVisible(!m_notice_text.isEmpty());
}

void CompareView::setSmoothing(double weight) {
  if (!std::isfinite(weight)) return;
  m_smoothing = std::clamp(weight, 0.0, 0.99);
  const QSignalBlocker block(m_smoothing_slider);
  m_smoothing_slider->setValue(int(std::lround(m_smoothing * 100)));
  m_smoothing_value->setText(QString::number(m_smoothing, 'f', 2));
  rebuildCurves();
}

void CompareView::setEvalBenchmark(const QString& label) {
  const int index = m_benchmark_box->findText(label);
  if (index >= 0) m_benchmark_box->setCurrentIndex(index);
}

QCustomPlot* CompareView::curvePlot(Curve curve) const {
  switch (curve) {
    case Curve::Loss:
      return m_loss_plot;
    case Curve::EvalAccuracy:
      return m_eval_plot;
    case Curve::LearningRate:
      return m_lr_plot;
    case Curve::BalanceLoss:
      return m_balance_plot;
  }
  return nullptr;
}

int CompareView::curveCount(Curve curve) const {
  return curvePlot(curve)->graphCount();
}

void CompareView::rebuildCurves() {
  int non_finite = 0;
  for (QCustomPlot* p : {m_loss_plot, m_lr_plot, m_balance_plot}) p->clearGraphs();
  for (size_t i = 0; i < m_runs.size(); ++i) {
    const QColor colour = runColour(int(i));
    const QString name = runLabel(m_runs[i].record);
    std::vector<double> steps, values;
    const auto add = [&](QCustomPlot* plot, const std::vector<double>& v, double width) {
      QCPGraph* g = plot->addGraph();
      g->setName(name);
      g->setPen(QPen(colour, width));
      g->setAdaptiveSampling(true);
      g->setData(QVector<double>(steps.begin(), steps.end()), QVector<double>(v.begin(), v.end()),
                 true);
    };
    series(m_runs[i].metrics, "loss", steps, values, non_finite);
    add(m_loss_plot, EmaSmoother::smooth(values, m_smoothing), 2.0);
    series(m_runs[i].metrics, "lr", steps, values, non_finite);
    add(m_lr_plot, values, 1.6);
    series(m_runs[i].metrics, "balance_loss", steps, values, non_finite);
    add(m_balance_plot, values, 1.3);
  }
  m_non_finite = non_finite;
  m_loss_plot->yAxis->setLabel(m_smoothing > 0 ? tr("loss (EMA %1)").arg(m_smoothing, 0, 'f', 2)
                                               : tr("loss"));
  for (QCustomPlot* p : {m_loss_plot, m_lr_plot, m_balance_plot}) {
    p->legend->setVisible(!m_runs.empty());
    PlotExport::of(p)->rescale();
  }
  rebuildEvalCurves();
}

void CompareView::rebuildEvalCurves() {
  m_eval_plot->clearPlottables();
  for (size_t i = 0; i < m_runs.size(); ++i) {
    const QColor colour = runColour(int(i));
    std::map<int64_t, EvalScore> by_step;
    for (const EvalScore& s : m_runs[i].scores)
      if (ScoreChart::benchmarkLabel(s) == m_eval_benchmark) by_step[s.step] = s;
    QCPGraph* g = m_eval_plot->addGraph();
    g->setName(runLabel(m_runs[i].record));
    g->setPen(QPen(colour, 1.6));
    g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, colour, 6));
    auto* errors = new QCPErrorBars(m_eval_plot->xAxis, m_eval_plot->yAxis);
    errors->removeFromLegend();
    errors->setPen(QPen(colour, 1.0));
    errors->setWhiskerWidth(5);
    errors->setSymbolGap(7);
    errors->setDataPlottable(g);
    for (const auto& [step, s] : by_step) {
      const auto [lo, hi] = ScoreChart::interval(s);
      const double a = std::isfinite(s.accuracy) ? s.accuracy : kNaN;
      g->addData(double(step), a);
      errors->addData(std::isfinite(a) ? a - lo : 0.0, std::isfinite(a) ? hi - a : 0.0);
    }
  }
  m_eval_plot->legend->setVisible(!m_runs.empty());
  PlotExport::of(m_eval_plot)->rescale();
}

void CompareView::rebuildHeatmaps() {
  for (ExpertHeatmap* h : m_heatmaps) {
    m_heatmap_row->removeWidget(h);
    delete h;
  }
  m_heatmaps.clear();
  m_heatmap_notices.clear();
  const auto kind = ExpertHeatmap::Value(m_heatmap_kind->currentData().toInt());
  for (size_t i = 0; i < m_runs.size(); ++i) {
    auto* h = new ExpertHeatmap;
    h->setMinimumWidth(200);
    h->setValueKind(kind);
    h->setAllocation(m_runs[i].allocation);
    const auto last = std::max_element(
        m_runs[i].router.begin(), m_runs[i].router.end(),
        [](const RouterStatsSnapshot& a, const RouterStatsSnapshot& b) { return a.step < b.step; });
    if (last != m_runs[i].router.end()) h->setSnapshot(*last);
    h->setTitle(runLabel(m_runs[i].record), runColour(int(i)));
    if (!h->warning().isEmpty())
      m_heatmap_notices << tr("%1: %2").arg(runLabel(m_runs[i].record), h->warning());
    m_heatmap_row->addWidget(h, 1);
    m_heatmaps.push_back(h);
  }
  // One scale for all: from 0 to the largest value any run shows.
  double hi = 0;
  for (ExpertHeatmap* h : m_heatmaps)
    if (const auto r = h->dataRange()) hi = std::max(hi, r->upper);
  if (hi <= 0) hi = 1.0;
  for (size_t i = 0; i < m_heatmaps.size(); ++i) {
    m_heatmaps[i]->setColorRange(0.0, hi);
    m_heatmaps[i]->setColorScaleVisible(i + 1 == m_heatmaps.size());
  }
}

void CompareView::rebuildConfig() {
  std::vector<std::map<std::string, std::string>> configs(m_runs.size());
  std::set<std::string> keys;
  m_config_notices.clear();
  for (size_t i = 0; i < m_runs.size(); ++i) {
    try {
      configs[i] = flattenConfig(m_runs[i].record.config_json);
    } catch (const std::exception& e) {
      m_config_notices
          << tr("%1: the stored configuration is not valid JSON (%2); its column is empty.")
                 .arg(runLabel(m_runs[i].record), QString::fromUtf8(e.what()));
    }
    for (const auto& [k, v] : configs[i]) keys.insert(k);
  }
  m_config_table->clear();
  m_config_table->setColumnCount(int(m_runs.size()));
  m_config_table->setRowCount(int(keys.size()));
  QStringList headers;
  for (size_t i = 0; i < m_runs.size(); ++i) headers << runLabel(m_runs[i].record);
  m_config_table->setHorizontalHeaderLabels(headers);
  for (size_t i = 0; i < m_runs.size(); ++i) {
    auto* header = m_config_table->horizontalHeaderItem(int(i));
    header->setForeground(runColour(int(i)).darker(120));
  }
  m_differing.clear();
  int row = 0;
  for (const std::string& key : keys) {
    std::set<std::string> seen;
    bool missing = false;
    for (const auto& c : configs) {
      const auto it = c.find(key);
      if (it == c.end())
        missing = true;
      else
        seen.insert(it->second);
    }
    const bool differs = m_runs.size() > 1 && (missing || seen.size() > 1);
    auto* head = new QTableWidgetItem(QString::fromStdString(key));
    m_config_table->setVerticalHeaderItem(row, head);
    for (size_t i = 0; i < configs.size(); ++i) {
      const auto it = configs[i].find(key);
      auto* item = new QTableWidgetItem(
          it == configs[i].end() ? tr("(absent)") : QString::fromStdString(it->second));
      if (it == configs[i].end()) item->setForeground(QColor(0x90, 0x90, 0x90));
      item->setToolTip(item->text());
      if (differs) {
        QFont f = item->font();
        f.setBold(true);
        item->setFont(f);
        item->setBackground(kDiffTint);
      }
      m_config_table->setItem(row, int(i), item);
    }
    if (differs) {
      QFont f = head->font();
      f.setBold(true);
      head->setFont(f);
      head->setBackground(kDiffTint);
      m_differing << QString::fromStdString(key);
    }
    ++row;
  }
  applyDifferenceFilter();
}

void CompareView::applyDifferenceFilter() {
  const bool only = m_only_differences->isChecked();
  for (int row = 0; row < m_config_table->rowCount(); ++row) {
    const QTableWidgetItem* head = m_config_table->verticalHeaderItem(row);
    m_config_table->setRowHidden(row, only && !m_differing.contains(head->text()));
  }
}

void CompareView::rebuildScores() {
  std::vector<ScoreSeries> series;
  QStringList benchmarks;
  std::vector<std::vector<EvalScore>> finals;
  for (size_t i = 0; i < m_runs.size(); ++i) {
    series.push_back({runLabel(m_runs[i].record), runColour(int(i)), m_runs[i].scores});
    finals.push_back(ScoreChart::finalScores(m_runs[i].scores));
    for (const EvalScore& s : finals.back())
      if (!benchmarks.contains(ScoreChart::benchmarkLabel(s)))
        benchmarks << ScoreChart::benchmarkLabel(s);
  }
  m_score_chart->setSeries(series);

  m_score_table->clear();
  m_score_table->setColumnCount(int(m_runs.size()));
  m_score_table->setRowCount(int(benchmarks.size()));
  QStringList headers;
  for (size_t i = 0; i < m_runs.size(); ++i) headers << runLabel(m_runs[i].record);
  m_score_table->setHorizontalHeaderLabels(headers);
  m_score_table->setVerticalHeaderLabels(benchmarks);
  for (size_t i = 0; i < m_runs.size(); ++i)
    m_score_table->horizontalHeaderItem(int(i))->setForeground(runColour(int(i)).darker(120));
  for (int b = 0; b < benchmarks.size(); ++b) {
    double best = -1;
    for (const auto& f : finals)
      for (const EvalScore& s : f)
        if (ScoreChart::benchmarkLabel(s) == benchmarks[b] && std::isfinite(s.accuracy))
          best = std::max(best, s.accuracy);
    for (size_t i = 0; i < finals.size(); ++i) {
      const auto it = std::find_if(finals[i].begin(), finals[i].end(), [&](const EvalScore& s) {
        return ScoreChart::benchmarkLabel(s) == benchmarks[b];
      });
      auto* item = new QTableWidgetItem;
      if (it == finals[i].end()) {
        item->setText(tr("not scored"));
        item->setForeground(QColor(0x90, 0x90, 0x90));
      } else {
        const auto [lo, hi] = ScoreChart::interval(*it);
        item->setText(tr("%1  [%2, %3]  n = %4")
                          .arg(it->accuracy, 0, 'f', 3)
                          .arg(lo, 0, 'f', 3)
                          .arg(hi, 0, 'f', 3)
                          .arg(it->n));
        item->setToolTip(
            tr("step %1, %2 protocol").arg(it->step).arg(QString::fromStdString(it->protocol)));
        if (m_runs.size() > 1 && it->accuracy == best) {
          QFont f = item->font();
          f.setBold(true);
          item->setFont(f);
        }
      }
      m_score_table->setItem(b, int(i), item);
    }
  }
  // No empty area below the last benchmark: the chart takes the space.
  int height =
      m_score_table->horizontalHeader()->sizeHint().height() + 2 * m_score_table->frameWidth() + 2;
  for (int b = 0; b < m_score_table->rowCount(); ++b) height += m_score_table->rowHeight(b);
  m_score_table->setMaximumHeight(std::max(height, 60));

  rebuildPaired(/*fill_box=*/true);
}

void CompareView::rebuildPaired(bool fill_box) {
  if (fill_box) {
    // The chosen reference stays chosen while it is among the runs; else the first.
    const QSignalBlocker block(m_paired_reference);
    const QVariant kept = m_paired_reference->currentData();
    m_paired_reference->clear();
    for (const ComparedRun& r : m_runs)
      m_paired_reference->addItem(runLabel(r.record), QVariant::fromValue(r.record.id));
    m_paired_reference->setCurrentIndex(std::max(0, m_paired_reference->findData(kept)));
    // Shown while some reference has pairs (the box lets one pick another): that depends on the
    // runs alone, not on the reference chosen.
    bool any = false;
    for (size_t r = 0; r < m_runs.size() && !any; ++r)
      any = !PairedScoreTable::pairsOf(m_runs, r).empty();
    m_paired_box->setVisible(any);
  }
  const size_t reference = size_t(std::max(0, m_paired_reference->currentIndex()));
  m_paired_table->setRuns(m_runs, reference);
  m_paired_table->setVisible(!m_paired_table->pairs().empty());
  const QStringList& without = m_paired_table->withoutPredictions();
  m_unpaired_note->setText(
      tr("Not paired question by question (no predictions stored with the score): %1")
          .arg(without.join(QStringLiteral("; "))));
  m_unpaired_note->setVisible(!without.isEmpty());
}

}  // namespace mola::widgets
