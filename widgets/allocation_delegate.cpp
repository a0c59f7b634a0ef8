// SPDX-License-Identifier: GPL-3.0-or-later
// AllocationDelegate painting: the item background and text as the style draws them, with the
// text moved right of a silhouette drawn by AllocationSilhouette's own helper.
#include "allocation_delegate.h"

#include <QApplication>
#include <QPainter>

#include "allocation_silhouette.h"
#include "runs_table_model.h"

namespace mola::widgets {

namespace {

constexpr int kSilhouetteWidth = 30;
constexpr int kMargin = 4;

}  // namespace

AllocationDelegate::AllocationDelegate(QObject* parent) : QStyledItemDelegate(parent) {}

QRect AllocationDelegate::silhouetteRect(const QRect& cell) {
  const int height = cell.height() - 6;
  if (height < 6 || cell.width() < kSilhouetteWidth + 2 * kMargin) return {};
  return {cell.left() + kMargin, cell.top() + 3, kSilhouetteWidth, height};
}

void AllocationDelegate::paint(QPainter* painter, const QStyleOptionViewItem& option,
                               const QModelIndex& index) const {
  QList<int> experts = index.data(RunsTableModel::AllocationRole).value<QList<int>>();
  const QRect bars = silhouetteRect(option.rect);
  if (experts.isEmpty() || bars.isEmpty()) {
    QStyledItemDelegate::paint(painter, option, index);
    return;
  }
  QStyleOptionViewItem opt = option;
  initStyleOption(&opt, index);
  // The style draws background, focus and text; the text starts right of the silhouette.
  opt.rect.setLeft(bars.right() + kMargin);
  opt.state &= ~QStyle::State_HasFocus;  // the focus frame belongs around the whole cell
  QStyleOptionViewItem background = option;
  initStyleOption(&background, index);
  background.text.clear();
  const QWidget* widget = option.widget;
  QStyle* style = widget ? widget->style() : QApplication::style();
  style->drawControl(QStyle::CE_ItemViewItem, &background, painter, widget);
  style->drawControl(QStyle::CE_ItemViewItem, &opt, painter, widget);

  std::vector<int> layers(experts.begin(), experts.end());
  Allocation allocation;
  try {
    allocation = Allocation(std::move(layers));
  } catch (const std::invalid_argument&) {
    return;  // a count below 1 cannot be drawn; the text says what is stored
  }
  const bool selected = option.state & QStyle::State_Selected;
  const QColor fill = option.palette.color(
      option.state & QStyle::State_Enabled ? QPalette::Active : QPalette::Disabled,
      selected ? QPalette::HighlightedText : QPalette::Highlight);
  painter->save();
  painter->setRenderHint(QPainter::Antialiasing, true);
  AllocationSilhouette::paintBars(*painter, QRectF(bars), allocation, m_scale_max, fill);
  painter->restore();
}

QSize AllocationDelegate::sizeHint(const QStyleOptionViewItem& option,
                                   const QModelIndex& index) const {
  QSize size = QStyledItemDelegate::sizeHint(option, index);
  if (!index.data(RunsTableModel::AllocationRole).value<QList<int>>().isEmpty())
    size.rwidth() += kSilhouetteWidth + 2 * kMargin;
  size.setHeight(std::max(size.height(), 22));
  return size;
}

}  // namespace mola::widgets
