// SPDX-License-Identifier: GPL-3.0-or-later
// WheelGuard: the mouse wheel changes a spin box, combo box or slider only once the user has
// given it the focus (clicked or tabbed into it); over any other such box the wheel scrolls the
// page around it, so scrolling a form never edits it by accident.
#pragma once

#include <QObject>

namespace mola::widgets {

class WheelGuard : public QObject {
  Q_OBJECT

 public:
  // Guards every widget of the application from now on (idempotent).
  static void install();

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  using QObject::QObject;
};

}  // namespace mola::widgets
