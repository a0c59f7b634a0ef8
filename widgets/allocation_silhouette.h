// SPDX-License-Identifier: GPL-3.0-or-later
// AllocationSilhouette: draws an allocation as centred bars, layer 1 at the bottom (torch-free).
#pragma once

#include <QWidget>

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

  QSize sizeHint() const override { return {96, 96}; }
  QSize minimumSizeHint() const override { return {24, 24}; }

 protected:
  void paintEvent(QPaintEvent* event) override;

 private:
  Allocation m_allocation;
  int m_scale_max = 0;
};

}  // namespace mola::widgets
