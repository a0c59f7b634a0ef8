// SPDX-License-Identifier: GPL-3.0-or-later
// ExpertHeatmap: a QCPColorMap of router load per layer and expert, NaN where no expert exists.
#include "expert_heatmap.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "plot_export.h"
#include "theme.h"

namespace mola::widgets {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

QFont sizedFont(const QFont& base, double points, bool italic = false) {
  QFont f = base;
  f.setPointSizeF(points);
  f.setItalic(italic);
  return f;
}

}  // namespace

ExpertHeatmap::ExpertHeatmap(QWidget* parent) : QCustomPlot(parent) {
  const CellMap cells = addCellMap(this, 0, tr("expert load"));
  m_map = cells.map;
  m_scale = cells.scale;
  m_margins = cells.margins;
  m_scale->axis()->setTickLabelFont(sizedFont(font(), 8));
  m_scale->axis()->setLabelFont(sizedFont(font(), 8.5));
  m_scale->axis()->setLabelPadding(6);
  m_scale->axis()->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
  m_scale->axis()->ticker()->setTickCount(5);
  xAxis->setLabel(tr("expert"));
  yAxis->setLabel(tr("layer"));
  for (QCPAxis* axis : {xAxis, yAxis}) {
    axis->grid()->setVisible(false);
    auto ticker = QSharedPointer<QCPAxisTickerFixed>(new QCPAxisTickerFixed);
    ticker->setTickStep(1.0);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    ticker->setTickCount(axis == yAxis ? 9 : 10);
    axis->setTicker(ticker);
  }
  // Expert and layer ranges are fixed by the allocation: zooming a heatmap only loses cells.
  setInteractions(QCP::Interactions());

  m_placeholder = addPlaceholder(this, tr("no expert allocation"));
  m_warning_text = new QCPItemText(this);
  m_warning_text->position->setType(QCPItemPosition::ptAxisRectRatio);
  m_warning_text->position->setAxisRect(axisRect());
  m_warning_text->position->setCoords(0.02, 0.02);
  m_warning_text->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
  m_warning_text->setClipToAxisRect(false);
  m_warning_text->setColor(QColor(0xb0, 0x20, 0x20));
  m_warning_text->setBrush(plotBackground());
  m_warning_text->setFont(sizedFont(font(), 8));
  m_warning_text->setVisible(false);
  m_step_text = new QCPItemText(this);
  m_step_text->position->setType(QCPItemPosition::ptAxisRectRatio);
  m_step_text->position->setAxisRect(axisRect());
  m_step_text->position->setCoords(1.0, 0.0);
  m_step_text->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
  m_step_text->setClipToAxisRect(false);
  m_step_text->setColor(plotSoftInk());
  m_step_text->setFont(sizedFont(font(), 8));
  m_step_text->setPadding(QMargins(0, 0, 0, 2));
  m_step_text->setVisible(false);

  PlotExport::install(this)->setRescaler([this] { fitView(); });
  rebuild();
}

void ExpertHeatmap::setAllocation(const Allocation& allocation) {
  m_allocation = allocation;
  rebuild();
}

void ExpertHeatmap::setSnapshot(const RouterStatsSnapshot& snapshot) {
  m_snapshot = snapshot;
  rebuild();
}

void ExpertHeatmap::clearSnapshot() {
  m_snapshot.reset();
  rebuild();
}

void ExpertHeatmap::setValueKind(Value kind) {
  m_kind = kind;
  rebuild();
}

void ExpertHeatmap::setColorRange(double lo, double hi) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return;
  if (hi <= lo) hi = lo + 1e-9;
  m_fixed_range = QCPRange(lo, hi);
  m_map->setDataRange(*m_fixed_range);
  replot(rpQueuedReplot);
}

void ExpertHeatmap::setAutoColorRange() {
  m_fixed_range.reset();
  rebuild();
}

QCPRange ExpertHeatmap::colorRange() const {
  return m_map->dataRange();
}

std::optional<QCPRange> ExpertHeatmap::dataRange() const {
  QCPColorMapData* d = m_map->data();  // cell() is not const in QCustomPlot 2.1
  std::optional<QCPRange> r;
  for (int k = 0; k < d->keySize(); ++k)
    for (int v = 0; v < d->valueSize(); ++v) {
      const double x = d->cell(k, v);
      if (!std::isfinite(x)) continue;
      if (!r)
        r = QCPRange(x, x);
      else
        r->expand(x);
    }
  return r;
}

void ExpertHeatmap::setTitle(const QString& title, const QColor& colour) {
  if (!m_title) {
    m_title = addTitle(this, title);
  }
  m_title->setText(title);
  m_title->setTextColor(colour);
  replot(rpQueuedReplot);
}

void ExpertHeatmap::setColorScaleVisible(bool visible) {
  if (m_scale->visible() == visible) return;
  m_scale->setVisible(visible);
  // A hidden element still takes its column's width; take it out of the layout instead.
  if (visible) {
    plotLayout()->addElement(m_title ? 1 : 0, 1, m_scale);
  } else {
    plotLayout()->take(m_scale);
  }
  plotLayout()->simplify();
  replot(rpQueuedReplot);
}

double ExpertHeatmap::cellValue(int layer, int expert) const {
  QCPColorMapData* d = m_map->data();  // cell() is not const in QCustomPlot 2.1
  if (layer < 0 || expert < 0 || expert >= d->keySize() || layer >= d->valueSize()) return kNaN;
  return d->cell(expert, layer);
}

QString ExpertHeatmap::valueLabel(Value kind) {
  switch (kind) {
    case Value::TokenFraction:
      return tr("token share");
    case Value::RelativeLoad:
      return tr("load / fair share");
    case Value::MeanProbability:
      return tr("mean router probability");
  }
  return {};
}

QString ExpertHeatmap::taskWeightLabel(Value kind) {
  return kind == Value::RelativeLoad ? tr("task weight / fair share") : tr("mean task weight");
}

Allocation ExpertHeatmap::effectiveAllocation() const {
  if (m_allocation.numLayers() > 0 || !m_snapshot || m_snapshot->layers.empty())
    return m_allocation;
  // No allocation given: infer it from the statistics (layers without a router get one expert).
  int layers = 0;
  for (const LayerRouterStats& l : m_snapshot->layers) layers = std::max(layers, l.layer + 1);
  std::vector<int> n(size_t(std::max(layers, 0)), 1);
  for (const LayerRouterStats& l : m_snapshot->layers)
    if (l.layer >= 0 && !l.token_fraction.empty())
      n[size_t(l.layer)] =
          std::clamp(int(l.token_fraction.size()), 1, Allocation::kMaxExpertsPerLayer);
  return layers > 0 ? Allocation(n) : Allocation();
}

void ExpertHeatmap::rebuild() {
  const Allocation alloc = effectiveAllocation();
  const int layers = alloc.numLayers();
  const int max_n = layers > 0 ? alloc.maxExperts() : 1;
  // QCPColorMap needs at least two cells per dimension to know a cell's size; the spare
  // column/row stays NaN and outside the view.
  const int keys = std::max(max_n, 2), values = std::max(layers, 2);
  QCPColorMapData* d = m_map->data();
  d->setSize(keys, values);
  d->setRange(QCPRange(1, keys), QCPRange(1, values));
  d->fill(kNaN);

  QStringList problems;
  if (m_snapshot) {
    for (const LayerRouterStats& l : m_snapshot->layers) {
      if (l.layer < 0 || l.layer >= layers) {
        problems << tr("statistics for layer %1, but the allocation has %2 layers: left out")
                        .arg(l.layer + 1)
                        .arg(layers);
        continue;
      }
      const int n = alloc.experts(l.layer);
      const std::vector<double>& src =
          m_kind == Value::MeanProbability ? l.mean_probability : l.token_fraction;
      if (n == 1) continue;  // no router: the row is labelled, whatever the statistics say
      if (int(src.size()) != n) {
        problems << tr("layer %1: statistics for %2 experts, the allocation has %3: left out")
                        .arg(l.layer + 1)
                        .arg(src.size())
                        .arg(n);
        continue;
      }
      for (int i = 0; i < n; ++i) {
        double v = src[size_t(i)];
        if (m_kind == Value::RelativeLoad) v *= double(n);
        d->setCell(i, l.layer, std::isfinite(v) ? v : kNaN);
      }
    }
  }
  m_warning = problems.join(QLatin1Char('\n'));
  m_warning_text->setText(m_warning);
  m_warning_text->setVisible(!m_warning.isEmpty());
  if (m_snapshot) {
    m_step_text->setText(tr("step %1").arg(m_snapshot->step));
    m_step_text->setVisible(true);
  } else {
    m_step_text->setVisible(false);
  }

  if (m_items_for != alloc) rebuildLayerItems(alloc);
  m_placeholder->setVisible(layers == 0);
  // MOELoRA's statistics are its task gates' weights (averaged over tasks), not token loads.
  const bool task_gated = m_snapshot && !m_snapshot->tasks.empty();
  m_scale->axis()->setLabel(task_gated ? taskWeightLabel(m_kind) : valueLabel(m_kind));
  if (m_fixed_range) {
    m_map->setDataRange(*m_fixed_range);
  } else {
    const auto r = dataRange();
    const double hi = r && r->upper > 0 ? r->upper : 1.0;
    m_map->setDataRange(QCPRange(0.0, hi));
  }
  fitView();
  replot(rpQueuedReplot);
}

void ExpertHeatmap::rebuildLayerItems(const Allocation& alloc) {
  m_items_for = alloc;
  const int layers = alloc.numLayers();
  const int max_n = layers > 0 ? alloc.maxExperts() : 1;
  for (QCPAbstractItem* item : m_layer_items) removeItem(item);
  m_layer_items.clear();
  const bool dense = layers > 16;
  for (int j = 0; j < layers; ++j) {
    const int n = alloc.experts(j);
    // The allocation's outline, so the shape shows before any statistics arrive.
    auto* rect = new QCPItemRect(this);
    rect->topLeft->setCoords(0.5, j + 1.5);
    rect->bottomRight->setCoords(n + 0.5, j + 0.5);
    QColor outline = plotInk();
    outline.setAlpha(dense ? 40 : 70);
    rect->setPen(QPen(outline, 0.8));
    rect->setBrush(Qt::NoBrush);
    m_layer_items << rect;
    if (n == 1) {
      auto* label = new QCPItemText(this);
      label->setPositionAlignment(Qt::AlignLeft | Qt::AlignVCenter);
      label->setText(max_n > 1 ? tr("1 expert, no router")
                               : tr("1 expert (plain LoRA), no router"));
      label->setFont(sizedFont(font(), dense ? 6.5 : 7.5, true));
      label->setColor(plotSoftInk());
      // Left-aligned from the middle of column 1, so the text runs over the empty columns.
      label->position->setCoords(0.6, j + 1.0);
      m_layer_items << label;
    }
  }
}

void ExpertHeatmap::fitView() {
  const Allocation alloc = effectiveAllocation();
  const int layers = std::max(alloc.numLayers(), 1);
  const int max_n = alloc.numLayers() > 0 ? alloc.maxExperts() : 1;
  xAxis->setRange(0.5, max_n + 0.5);
  yAxis->setRange(0.5, layers + 0.5);
}

}  // namespace mola::widgets
