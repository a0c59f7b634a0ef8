// SPDX-License-Identifier: GPL-3.0-or-later
// StudyChart: the forest plot of a study.
#include "study_chart.h"

#include <QPainter>
#include <QPixmap>
#include <algorithm>
#include <cmath>
#include <map>

#include "allocation_silhouette.h"
#include "plot_export.h"
#include "theme.h"

namespace mola::widgets {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kSilhouette = 26;  // px, square

Allocation parseStored(const std::string& list) {
  return Allocation::fromStoredList(list).value_or(Allocation());
}

}  // namespace

StudyChart::StudyChart(QWidget* parent) : QCustomPlot(parent) {
  applyPlotStyle(this);
  addTitle(this, tr("Accuracy per variant"));
  setMinimumSize(280, 180);
  PlotExport::install(this);
  m_seeds = addGraph(yAxis, xAxis);  // key: the variant's row, value: accuracy
  m_seeds->setName(tr("one seed"));
  m_seeds->setLineStyle(QCPGraph::lsNone);
  m_seeds->setScatterStyle(
      QCPScatterStyle(QCPScatterStyle::ssCircle, QColor(90, 120, 160, 150), Qt::white, 5));
  m_means = addGraph(yAxis, xAxis);
  m_means->setName(tr("mean (95% interval across seeds)"));
  m_means->setLineStyle(QCPGraph::lsNone);
  m_means->setScatterStyle(
      QCPScatterStyle(QCPScatterStyle::ssDiamond, runColor(0), runColor(0), 10));
  m_whiskers = new QCPErrorBars(yAxis, xAxis);
  m_whiskers->setName(tr("95% interval"));
  m_whiskers->setDataPlottable(m_means);
  m_whiskers->setErrorType(QCPErrorBars::etValueError);
  m_whiskers->setPen(QPen(runColor(0), 1.6));
  m_whiskers->setWhiskerWidth(9);
  m_whiskers->removeFromLegend();
  m_baseline = new QCPItemStraightLine(this);
  m_baseline->setPen(QPen(plotSoftInk(), 1.2, Qt::DashLine));
  m_baseline->setVisible(false);
  m_placeholder = addPlaceholder(this, tr("No completed runs yet"));
  yAxis->setTicker(QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText));
  yAxis->grid()->setVisible(false);
  yAxis->setRangeReversed(true);  // the first variant at the top
  // The axis label explains the marks: a legend inside would cover the high accuracies.
  legend->setVisible(false);
  PlotExport::of(this)->setRescaler([this] { fitRanges(); });
  connect(this, &QCustomPlot::afterLayout, this, &StudyChart::placeSilhouettes);
}

void StudyChart::setSummary(const StudySummary& summary, Metric metric) {
  m_metric = metric;
  xAxis->setLabel(metric == Metric::Final
                      ? tr("final accuracy: \u25CB one seed, \u25C6 mean with its 95% interval")
                      : tr("best accuracy: \u25CB one seed, \u25C6 mean with its 95% interval"));
  const size_t n = summary.variants.size();
  m_mean.assign(n, kNaN);
  m_low.assign(n, kNaN);
  m_high.assign(n, kNaN);
  m_seed_values.assign(n, {});
  m_allocations.assign(n, {});
  m_seeds->data()->clear();
  m_means->data()->clear();
  QVector<double> minus, plus;
  auto ticker = qSharedPointerCast<QCPAxisTickerText>(yAxis->ticker());
  ticker->clear();
  std::map<std::string, size_t> row;
  for (size_t i = 0; i < n; ++i) {
    const VariantSummary& v = summary.variants[i];
    row[v.name] = i;
    ticker->addTick(double(i), QString::fromStdString(v.name));
    m_allocations[i] = parseStored(v.allocation);
    const MeanInterval& m = metric == Metric::Final ? v.final_accuracy : v.best_accuracy;
    m_mean[i] = m.n > 0 ? m.mean : kNaN;
    m_low[i] = m.low;
    m_high[i] = m.high;
    m_means->addData(double(i), m_mean[i]);
    minus << (std::isfinite(m.low) ? m.mean - m.low : 0.0);
    plus << (std::isfinite(m.high) ? m.high - m.mean : 0.0);
    if (v.name == summary.baseline) m_baseline_mean = m_mean[i];
  }
  m_whiskers->setData(minus, plus);
  for (const StudyRunResult& r : summary.runs) {
    const double value = metric == Metric::Final ? r.final_accuracy : r.best_accuracy;
    if (r.state != "completed" || !std::isfinite(value) || !row.count(r.variant)) continue;
    m_seeds->addData(double(row[r.variant]), value);
    m_seed_values[row[r.variant]].push_back(value);
  }
  if (!row.count(summary.baseline)) m_baseline_mean = kNaN;
  m_baseline->setVisible(std::isfinite(m_baseline_mean));
  if (m_baseline->visible()) {
    m_baseline->point1->setCoords(m_baseline_mean, 0);  // x: accuracy (the key axis is vertical)
    m_baseline->point2->setCoords(m_baseline_mean, 1);
  }
  m_placeholder->setVisible(m_seeds->data()->isEmpty());
  // Room for the silhouettes left of the names.
  yAxis->setPadding(kSilhouette + 10);
  for (QCPItemPixmap* p : m_silhouettes) removeItem(p);
  m_silhouettes.clear();
  for (size_t i = 0; i < n; ++i) {
    auto* p = new QCPItemPixmap(this);
    p->setClipToAxisRect(false);
    p->setScaled(false);
    m_silhouettes << p;
  }
  fitRanges();
  placeSilhouettes();
  replot();
}

void StudyChart::fitRanges() {
  const int n = static_cast<int>(m_mean.size());
  yAxis->setRange(-0.6, std::max(0.6, n - 0.4));
  double lo = 1, hi = 0;
  for (int i = 0; i < n; ++i) {
    for (double v : {m_mean[i], m_low[i], m_high[i]})
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    for (double v : m_seed_values[i]) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  if (lo > hi) lo = 0, hi = 1;
  const double margin = std::max(0.02, 0.08 * (hi - lo));
  xAxis->setRange(std::max(0.0, lo - margin), std::min(1.0, hi + margin));
}

// Each variant's silhouette at the far left of its row, drawn in the plot's ink.
void StudyChart::placeSilhouettes() {
  const QRect rect = axisRect()->rect();
  for (int i = 0; i < m_silhouettes.size(); ++i) {
    QPixmap pix(kSilhouette, kSilhouette);
    pix.fill(Qt::transparent);
    if (m_allocations[size_t(i)].numLayers() > 0) {
      QPainter painter(&pix);
      painter.setRenderHint(QPainter::Antialiasing);
      int scale = 1;
      for (const Allocation& a : m_allocations)
        if (a.numLayers() > 0) scale = std::max(scale, a.maxExperts());
      AllocationSilhouette::paintBars(painter, QRectF(1, 1, kSilhouette - 2, kSilhouette - 2),
                                      m_allocations[size_t(i)], scale, runColor(0));
    }
    QCPItemPixmap* p = m_silhouettes[i];
    p->setPixmap(pix);
    p->topLeft->setType(QCPItemPosition::ptAbsolute);
    const double y = yAxis->coordToPixel(double(i));
    // In the blank padding at the outer edge of the axis (setPadding above).
    p->topLeft->setCoords(axisRect()->outerRect().left() + 4, y - kSilhouette / 2.0);
    p->setVisible(y >= rect.top() - 1 && y <= rect.bottom() + 1);
  }
}

double StudyChart::rowOf(int variant) const {
  return double(variant);
}

double StudyChart::meanOf(int variant) const {
  return m_mean.at(size_t(variant));
}

QCPRange StudyChart::intervalOf(int variant) const {
  return QCPRange(m_low.at(size_t(variant)), m_high.at(size_t(variant)));
}

QVector<double> StudyChart::seedValuesOf(int variant) const {
  const auto& v = m_seed_values.at(size_t(variant));
  return QVector<double>(v.begin(), v.end());
}

const Allocation& StudyChart::silhouetteOf(int variant) const {
  return m_allocations.at(size_t(variant));
}

}  // namespace mola::widgets
