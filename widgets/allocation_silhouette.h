// SPDX-License-Identifier: GPL-3.0-or-later
// AllocationSilhouette: draws an allocation as centred bars, layer 1 at the bottom (torch-free).
#pragma once

#include <QWidget>

class QPainter;

#include "adapters/allocation.h"

namespace mola::widgets {

class AllocationSilhouette : public QWidget {
  Q_OBJECT

 public:
  explicit AllocationSilhouette(QWidget* parent = nullptr);

  void setAllocation(const Allocation& allocation);
  const Allocation& allocation() const { return m_allocation; }
  // Bars are scaled against this count (at least the allocation's own maximum), so that several
  // silhouettes side by side share one scale.
  void setScaleMax(int experts);

  // The rectangle of layer j's bar (0 = bottom layer) in widget coordinates.
  QRectF barRect(int layer) const;

  // The drawing itself, for painters other than this widget's (e.g. a table cell's delegate):
  // layer j's bar within `area` (0 = bottom layer; empty when out of range), and every bar filled
  // with `fill`. Bars are scaled against max(scale_max, the allocation's own maximum).
  static QRectF barRectIn(const QRectF& area, const Allocation& allocation, int scale_max,
                          int layer);
  static void paintBars(QPainter& painter, const QRectF& area, const Allocation& allocation,
                        int scale_max, const QColor& fill);

  QSize sizeHint() const override { return {96, 96}; }
  QSize minimumSizeHint() const override { return {24, 24}; }

 protected:
  void paintEvent(QPaintEvent* event) override;

 private:
  Allocation m_allocation;
  int m_scale_max = 0;
};

}  // namespace mola::widgets
