// SPDX-License-Identifier: GPL-3.0-or-later
// layoutProblems: what a user would see as a broken layout in a shown window: sibling widgets
// drawn over each other, widgets squeezed below the size their contents need (clipped labels,
// half-height rows), children that stick out of their parent. Header-only, for the GUI tests.
#pragma once

#include <QAbstractScrollArea>
#include <QAbstractSpinBox>
#include <QComboBox>
#include <QLabel>
#include <QScrollBar>
#include <QSplitterHandle>
#include <QStringList>
#include <QWidget>

namespace mola::test {

inline QString describe(const QWidget* w) {
  QString name = QString::fromLatin1(w->metaObject()->className());
  if (!w->objectName().isEmpty()) name += QLatin1Char('#') + w->objectName();
  if (const auto* label = qobject_cast<const QLabel*>(w))
    name += QStringLiteral(" \"%1\"").arg(label->text().left(40));
  return name;
}

// True where a widget is part of a scroll area's own machinery (its viewport, scroll bars and
// their containers) or inside a scrolled viewport: there, sticking out is how scrolling works.
inline bool scrolled(const QWidget* w) {
  for (const QWidget* p = w->parentWidget(); p; p = p->parentWidget())
    if (const auto* area = qobject_cast<const QAbstractScrollArea*>(p->parentWidget()))
      if (area->viewport() == p) return true;
  return false;
}

// The smallest size the widget's layout promised it (an explicit minimum wins over the hint;
// a policy that ignores the hint promises nothing).
inline QSize promisedMinimum(const QWidget* w) {
  QSize min = w->minimumSizeHint();
  if (w->minimumWidth() > 0) min.setWidth(w->minimumWidth());
  if (w->minimumHeight() > 0) min.setHeight(w->minimumHeight());
  const QSizePolicy policy = w->sizePolicy();
  if (policy.horizontalPolicy() == QSizePolicy::Ignored) min.setWidth(0);
  if (policy.verticalPolicy() == QSizePolicy::Ignored) min.setHeight(0);
  if (const auto* label = qobject_cast<const QLabel*>(w); label && label->wordWrap())
    min.setHeight(label->heightForWidth(label->width()));
  return min;
}

inline QStringList layoutProblems(const QWidget* root) {
  QStringList problems;
  const QList<const QWidget*> all = [&] {
    QList<const QWidget*> list{root};
    for (const QWidget* w : root->findChildren<QWidget*>()) list.append(w);
    return list;
  }();
  // A scroll area that cannot scroll sideways (or up and down) must not be given a wider (taller)
  // page than its viewport: the rest would be cut off with no way to reach it.
  for (const QWidget* w : all) {
    const auto* area = qobject_cast<const QAbstractScrollArea*>(w);
    if (!area || !area->isVisible()) continue;
    for (QObject* o : area->viewport()->children()) {
      const auto* page = qobject_cast<const QWidget*>(o);
      if (!page || !page->isVisible()) continue;
      if (area->horizontalScrollBarPolicy() == Qt::ScrollBarAlwaysOff &&
          page->width() > area->viewport()->width() + 1)
        problems << QStringLiteral(
                        "%1 is %2 wide in a %3 wide viewport that cannot scroll sideways")
                        .arg(describe(page))
                        .arg(page->width())
                        .arg(area->viewport()->width());
      if (area->verticalScrollBarPolicy() == Qt::ScrollBarAlwaysOff &&
          page->height() > area->viewport()->height() + 1)
        problems << QStringLiteral("%1 is %2 tall in a %3 tall viewport that cannot scroll")
                        .arg(describe(page))
                        .arg(page->height())
                        .arg(area->viewport()->height());
    }
  }
  for (const QWidget* parent : all) {
    if (!parent->isVisible()) continue;
    QList<const QWidget*> kids;
    for (QObject* o : parent->children()) {
      const auto* w = qobject_cast<const QWidget*>(o);
      if (w && w->isVisible() && !w->isWindow() && w->width() > 0 && w->height() > 0)
        kids.append(w);
    }
    for (qsizetype i = 0; i < kids.size(); ++i) {
      const QWidget* a = kids[i];
      const bool in_scroll = scrolled(a);
      // Squeezed below what its contents need (a scroll area's viewport and bars excepted).
      const QSize min = promisedMinimum(a);
      // (A spin box's or a combo box's inner line edit is the style's business.)
      const bool machinery =
          qobject_cast<const QScrollBar*>(a) || qobject_cast<const QAbstractScrollArea*>(parent) ||
          qobject_cast<const QAbstractSpinBox*>(parent) || qobject_cast<const QComboBox*>(parent) ||
          qobject_cast<const QSplitterHandle*>(a);
      if (!machinery && (a->width() + 1 < min.width() || a->height() + 1 < min.height()))
        problems << QStringLiteral("%1 is %2x%3, needs %4x%5")
                        .arg(describe(a))
                        .arg(a->width())
                        .arg(a->height())
                        .arg(min.width())
                        .arg(min.height());
      // Sticking out of its parent.
      if (!in_scroll && !machinery &&
          !parent->rect().adjusted(-1, -1, 1, 1).contains(a->geometry()))
        problems << QStringLiteral("%1 sticks out of %2").arg(describe(a), describe(parent));
      for (qsizetype j = i + 1; j < kids.size(); ++j) {
        const QRect overlap = a->geometry().intersected(kids[j]->geometry());
        if (overlap.width() > 1 && overlap.height() > 1)
          problems << QStringLiteral("%1 overlaps %2").arg(describe(a), describe(kids[j]));
      }
    }
  }
  problems.removeDuplicates();
  return problems;
}

}  // namespace mola::test
