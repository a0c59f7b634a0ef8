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
  const int n = m_allocation.numLayers();
  if (n == 0 || layer < 0 || layer >= n) return {};
  const QRectF area = QRectF(rect()).adjusted(2, 2, -2, -2);
  const double scale = std::max(m_scale_max, m_allocation.maxExperts());
  const double row = area.height() / n;
  const double gap = row >= 8 ? 2.0 : 0.0;  // thin rows merge into a solid silhouette
  const double width = area.width() * m_allocation.experts(layer) / scale;
  // Row 0 is the bottom layer, as models are drawn in papers. Row edges snap to whole pixels so
  // that touching rows leave no antialiased seam.
  const double bottom = std::round(area.bottom() - layer * row);
  const double top = std::round(area.bottom() - (layer + 1) * row);
  return {area.center().x() - width / 2, top + gap / 2, width, bottom - top - gap};
}

void AllocationSilhouette::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing, true);
  const QColor fill = palette().color(isEnabled() ? QPalette::Highlight : QPalette::Mid);
  for (int j = 0; j < m_allocation.numLayers(); ++j) p.fillRect(barRect(j), fill);
}

}  // namespace mola::widgets
