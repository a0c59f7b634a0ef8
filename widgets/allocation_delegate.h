// SPDX-License-Identifier: GPL-3.0-or-later
// AllocationDelegate: draws a table cell's allocation as a small silhouette beside its name
// (torch-free).
#pragma once

#include <QStyledItemDelegate>

namespace mola::widgets {

// Reads the experts per layer from RunsTableModel::AllocationRole (QList<int>, bottom first) and
// the text from DisplayRole; cells without an allocation (full FT) show only the text.
class AllocationDelegate : public QStyledItemDelegate {
  Q_OBJECT

 public:
  explicit AllocationDelegate(QObject* parent = nullptr);

  // Bars share one scale, so that 8 experts look twice as wide as 4 in every row.
  void setScaleMax(int experts) { m_scale_max = experts; }
  int scaleMax() const { return m_scale_max; }

  // Where the silhouette goes inside a cell of `cell` (empty when the cell is too small).
  static QRect silhouetteRect(const QRect& cell);

  void paint(QPainter* painter, const QStyleOptionViewItem& option,
             const QModelIndex& index) const override;
  QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const override;

 private:
  int m_scale_max = 0;
};

}  // namespace mola::widgets
