// SPDX-License-Identifier: GPL-3.0-or-later
// AllocationSilhouette painting: one bar per layer, width proportional to its expert count.
#include "allocation_silhouette.h"

#include <QPainter>
#include <algorithm>
#include <cmath>

namespace mola::widgets {

AllocationSilhouette::AllocationSilhouette(QWidget* parent) : QWidget(parent) {
  setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Preferred);
}

void AllocationSilhouette::setAllocation(const Allocation& allocation) {
  m_allocation = allocation;
  setToolTip(QString::fromStdString(allocation.numLayers() ? allocation.toList() : std::string()));
  update();
}

void AllocationSilhouette::setScaleMax(int experts) {
  m_scale_max = experts;
  update();
}

QRectF AllocationSilhouette::barRect(int layer) const {
  return barRectIn(QRectF(rect()).adjusted(2, 2, -2, -2), m_allocation, m_scale_max, layer);
}

QRectF AllocationSilhouette::barRectIn(const QRectF& area, const Allocation& allocation,
                                       int scale_max, int layer) {
  const int n = allocation.numLayers();
  if (n == 0 || layer < 0 || layer >= n) return {};
  const double scale = std::max(scale_max, allocation.maxExperts());
  const double row = area.height() / n;
  const double gap = row >= 8 ? 2.0 : 0.0;  // thin rows merge into a solid silhouette
  const double width = area.width() * allocation.experts(layer) / scale;
  // Row 0 is the bottom layer, as models are drawn in papers. Row edges snap to whole pixels so
  // that touching rows leave no antialiased seam.
  const double bottom = std::round(area.bottom() - layer * row);
  const double top = std::round(area.bottom() - (layer + 1) * row);
  return {area.center().x() - width / 2, top + gap / 2, width, bottom - top - gap};
}

void AllocationSilhouette::paintBars(QPainter& painter, const QRectF& area,
                                     const Allocation& allocation, int scale_max,
                                     const QColor& fill) {
  for (int j = 0; j < allocation.numLayers(); ++j)
    painter.fillRect(barRectIn(area, allocation, scale_max, j), fill);
}

void AllocationSilhouette::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing, true);
  const QColor fill = palette().color(isEnabled() ? QPalette::Highlight : QPalette::Mid);
  paintBars(p, QRectF(rect()).adjusted(2, 2, -2, -2), m_allocation, m_scale_max, fill);
}

}  // namespace mola::widgets
