// SPDX-License-Identifier: GPL-3.0-or-later
// ScoreChart: grouped accuracy bars per benchmark with Wilson intervals (QCPErrorBars).
#include "score_chart.h"

#include <algorithm>
#include <cmath>

#include "plot_export.h"
#include "study/study_stats.h"
#include "theme.h"

namespace mola::widgets {
namespace {

constexpr double kGap = 0.02;   // between the bars of one benchmark, in plot coordinates
constexpr double kGroup = 0.8;  // width of one benchmark's group of bars

}  // namespace

ScoreChart::ScoreChart(QWidget* parent) : QCustomPlot(parent) {
  applyPlotStyle(this);
  addTitle(this, tr("Final accuracy per benchmark (95% Wilson interval)"));
  m_group = new QCPBarsGroup(this);
  // Spacing in plot coordinates, so a bar's centre is known without a layout (value labels).
  m_group->setSpacingType(QCPBarsGroup::stPlotCoords);
  m_group->setSpacing(kGap);
  xAxis->grid()->setVisible(false);
  xAxis->setTickLength(0, 3);
  yAxis->setLabel(tr("accuracy"));
  // The legend above the axis rect, in one row, so it never covers a bar near 1.0.
  // Centred at its own width between two stretching spacers.
  plotLayout()->insertRow(1);
  auto* legend_row = new QCPLayoutGrid;
  plotLayout()->addElement(1, 0, legend_row);
  plotLayout()->setRowStretchFactor(1, 0.001);
  legend_row->addElement(0, 0, new QCPLayoutElement(this));
  legend_row->addElement(0, 1, legend);
  legend_row->addElement(0, 2, new QCPLayoutElement(this));
  legend_row->setColumnStretchFactors({1.0, 0.001, 1.0});
  legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  legend->setWrap(5);
  legend->setColumnSpacing(16);
  legend->setBorderPen(Qt::NoPen);
  legend->setVisible(true);
  m_placeholder = addPlaceholder(this, tr("no scores yet"));
  PlotExport::install(this)->setRescaler([this] { fitView(); });
  rebuild();
}

std::pair<double, double> ScoreChart::wilsonInterval(double accuracy, int64_t n, double z) {
  if (n <= 0 || !std::isfinite(accuracy)) return {0.0, 1.0};
  return wilsonScoreInterval(std::clamp(accuracy, 0.0, 1.0), double(n), z);
}

std::pair<double, double> ScoreChart::interval(const EvalScore& score) {
  const double a = score.accuracy;
  const bool stored = std::isfinite(score.ci_low) && std::isfinite(score.ci_high) &&
                      score.ci_low <= a && a <= score.ci_high && score.ci_high > score.ci_low;
  if (stored) return {score.ci_low, score.ci_high};
  if (score.n > 0) return wilsonInterval(a, score.n);
  return {a, a};  // nothing to go by: no interval rather than a made-up one
}

QString ScoreChart::benchmarkLabel(const EvalScore& score) {
  const QString name =
      score.benchmark.empty() ? tr("(unnamed)") : QString::fromStdString(score.benchmark);
  return score.split.empty()
             ? name
             : QStringLiteral("%1 (%2)").arg(name, QString::fromStdString(score.split));
}

std::vector<EvalScore> ScoreChart::finalScores(const std::vector<EvalScore>& scores) {
  std::vector<EvalScore> out;
  std::vector<QString> labels;
  for (const EvalScore& s : scores) {
    const QString label = benchmarkLabel(s);
    const auto it = std::find(labels.begin(), labels.end(), label);
    if (it == labels.end()) {
      labels.push_back(label);
      out.push_back(s);
    } else if (s.step >= out[size_t(it - labels.begin())].step) {
      out[size_t(it - labels.begin())] = s;
    }
  }
  return out;
}

void ScoreChart::setSeries(const std::vector<ScoreSeries>& series) {
  m_series = series;
  rebuild();
}

void ScoreChart::setChanceLevel(double chance) {
  m_chance = chance;
  rebuild();
}

void ScoreChart::setChanceLevel(const QString& benchmark, double chance) {
  if (std::isfinite(chance))
    m_benchmark_chance[benchmark] = chance;
  else
    m_benchmark_chance.erase(benchmark);
  rebuild();
}

double ScoreChart::value(int series, const QString& benchmark) const {
  const int k = int(m_benchmarks.indexOf(benchmark));
  if (k < 0 || series < 0 || series >= seriesCount()) return std::nan("");
  const auto it = m_bars[size_t(series)]->data()->findBegin(k + 1, false);
  if (it == m_bars[size_t(series)]->data()->constEnd() || it->key != k + 1) return std::nan("");
  return it->value;
}

void ScoreChart::rebuild() {
  clearChart();
  std::vector<std::vector<EvalScore>> finals;
  m_benchmarks.clear();
  for (const ScoreSeries& s : m_series) {
    finals.push_back(finalScores(s.scores));
    for (const EvalScore& e : finals.back())
      if (!m_benchmarks.contains(benchmarkLabel(e))) m_benchmarks << benchmarkLabel(e);
  }
  const int runs = int(m_series.size());
  const double width = (kGroup - kGap * std::max(0, runs - 1)) / std::max(1, runs);
  QFont small = font();
  small.setPointSizeF(runs * m_benchmarks.size() > 12 ? 7 : 7.5);
  for (int r = 0; r < runs; ++r) addRunBars(r, finals[size_t(r)], width);
  // Value labels above the whiskers, where they fit.
  if (runs * m_benchmarks.size() <= 24) addValueLabels(width, small);
  addChanceLines(small);

  auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
  for (int k = 0; k < m_benchmarks.size(); ++k) ticker->addTick(k + 1, m_benchmarks[k]);
  xAxis->setTicker(ticker);
  m_placeholder->setVisible(m_benchmarks.isEmpty());
  legend->setVisible(runs > 0);
  fitView();
  replot(rpQueuedReplot);
}

void ScoreChart::clearChart() {
  for (QCPErrorBars* e : m_errors) removePlottable(e);
  for (QCPBars* b : m_bars) removePlottable(b);
  m_errors.clear();
  m_bars.clear();
  for (QCPAbstractItem* item : m_items) removeItem(item);
  m_items.clear();
  m_group->clear();
}

// Run r's bars (one per benchmark it has a final score on) with their intervals as whiskers.
void ScoreChart::addRunBars(int r, const std::vector<EvalScore>& finals, double width) {
  const QColor colour =
      m_series[size_t(r)].color.isValid() ? m_series[size_t(r)].color : runColor(r);
  auto* bars = new QCPBars(xAxis, yAxis);
  bars->setName(m_series[size_t(r)].name);
  bars->setWidth(width);
  QColor fill = colour;
  fill.setAlpha(210);
  bars->setBrush(fill);
  bars->setPen(QPen(colour.darker(115), 1));
  bars->setBarsGroup(m_group);
  auto* errors = new QCPErrorBars(xAxis, yAxis);
  errors->removeFromLegend();
  errors->setPen(QPen(plotInk(), 1.1));
  errors->setWhiskerWidth(std::clamp(width * 40, 4.0, 10.0));
  errors->setSymbolGap(0);  // bars have no symbol to leave room for
  errors->setDataPlottable(bars);
  QVector<double> keys, values;
  QVector<double> minus, plus;
  for (const EvalScore& e : finals) {
    const int k = int(m_benchmarks.indexOf(benchmarkLabel(e)));
    const double a = std::isfinite(e.accuracy) ? e.accuracy : 0.0;
    const auto [lo, hi] = interval(e);
    keys << k + 1;
    values << a;
    minus << std::max(0.0, a - lo);
    plus << std::max(0.0, hi - a);
  }
  // Bars are stored sorted by key; sort the errors the same way.
  std::vector<int> order(size_t(keys.size()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = int(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return keys[a] < keys[b]; });
  QVector<double> sk, sv, sm, sp;
  for (int i : order) {
    sk << keys[i];
    sv << values[i];
    sm << minus[i];
    sp << plus[i];
  }
  bars->setData(sk, sv, true);
  errors->setData(sm, sp);
  m_bars.push_back(bars);
  m_errors.push_back(errors);
}

// A label over each bar's whisker; the group offsets each run's bar within its benchmark.
void ScoreChart::addValueLabels(double width, const QFont& font) {
  for (int r = 0; r < int(m_bars.size()); ++r) {
    const auto data = m_bars[size_t(r)]->data();
    for (int i = 0; i < data->size(); ++i) {
      const QCPBarsData& d = *(data->constBegin() + i);
      const double top = d.value + m_errors[size_t(r)]->data()->at(i).errorPlus;
      auto* label = new QCPItemText(this);
      label->position->setType(QCPItemPosition::ptPlotCoords);
      const double centre = d.key - kGroup / 2 + width / 2 + r * (width + kGap);
      label->position->setCoords(centre, top);
      label->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
      label->setText(QString::number(d.value, 'f', 2));
      label->setFont(font);
      label->setColor(plotInk());
      label->setPadding(QMargins(0, 0, 0, 1));
      m_items << label;
    }
  }
}

// The chance level across the chart and each benchmark's own over its group.
void ScoreChart::addChanceLines(const QFont& font) {
  const QPen dashed(plotSoftInk(), 1.2, Qt::DashLine);
  if (std::isfinite(m_chance)) {
    auto* line = new QCPItemStraightLine(this);
    line->point1->setCoords(0, m_chance);
    line->point2->setCoords(1, m_chance);
    line->setPen(dashed);
    auto* label = new QCPItemText(this);
    label->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
    label->position->setTypeY(QCPItemPosition::ptPlotCoords);
    label->position->setAxisRect(axisRect());
    label->position->setAxes(xAxis, yAxis);
    label->position->setCoords(0.995, m_chance);
    label->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
    label->setText(tr("chance %1").arg(m_chance, 0, 'f', 2));
    label->setFont(font);
    label->setColor(plotSoftInk());
    m_items << line << label;
  }
  for (const auto& [benchmark, chance] : m_benchmark_chance) {
    const int k = int(m_benchmarks.indexOf(benchmark));
    if (k < 0) continue;
    auto* line = new QCPItemLine(this);
    line->start->setCoords(k + 1 - 0.47, chance);
    line->end->setCoords(k + 1 + 0.47, chance);
    line->setPen(dashed);
    m_items << line;
  }
}

void ScoreChart::fitView() {
  xAxis->setRange(0.5, std::max<qsizetype>(1, m_benchmarks.size()) + 0.5);
  yAxis->setRange(0, 1.06);
}

}  // namespace mola::widgets
