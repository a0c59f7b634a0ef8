// SPDX-License-Identifier: GPL-3.0-or-later
#include "wheel_guard.h"

#include <QAbstractSlider>
#include <QAbstractSpinBox>
#include <QApplication>
#include <QComboBox>
#include <QEvent>
#include <QScrollBar>

namespace mola::widgets {

namespace {

// The boxes whose value a stray wheel notch would change (scroll bars are for scrolling).
bool guarded(const QObject* o) {
  return qobject_cast<const QAbstractSpinBox*>(o) || qobject_cast<const QComboBox*>(o) ||
         (qobject_cast<const QAbstractSlider*>(o) && !qobject_cast<const QScrollBar*>(o));
}

}  // namespace

void WheelGuard::install() {
  static WheelGuard* guard = nullptr;
  if (guard || !qApp) return;
  guard = new WheelGuard(qApp);
  qApp->installEventFilter(guard);
}

bool WheelGuard::eventFilter(QObject* watched, QEvent* event) {
  if (!guarded(watched)) return false;
  auto* w = static_cast<QWidget*>(watched);
  if (event->type() == QEvent::Polish && (w->focusPolicy() & Qt::WheelFocus) == Qt::WheelFocus) {
    w->setFocusPolicy(Qt::StrongFocus);  // the wheel itself must not give the focus
  } else if (event->type() == QEvent::Wheel && !w->hasFocus()) {
    // Not for this box: ignored, the event goes on to its parents (the scroll area scrolls).
    event->ignore();
    return true;
  }
  return false;
}

}  // namespace mola::widgets
