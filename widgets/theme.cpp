// SPDX-License-Identifier: GPL-3.0-or-later
#include "theme.h"

#include <qcustomplot.h>
#include <QApplication>
#include <QLabel>
#include <QPalette>
#include <QStyle>
#include <QStyleFactory>

namespace mola::widgets {
namespace {

// The desktop's palette and style, as the application started with them.
struct Desktop {
  QPalette palette;
  QString style;
};
const Desktop& desktop() {
  static const Desktop d{QApplication::palette(), QApplication::style()->name()};
  return d;
}

QPalette darkPalette() {
  QPalette p;
  const QColor window(0x2b, 0x2d, 0x31), base(0x1e, 0x1f, 0x22), text(0xe6, 0xe6, 0xe6);
  p.setColor(QPalette::Window, window);
  p.setColor(QPalette::WindowText, text);
  p.setColor(QPalette::Base, base);
  p.setColor(QPalette::AlternateBase, QColor(0x26, 0x28, 0x2c));
  p.setColor(QPalette::ToolTipBase, QColor(0x3a, 0x3d, 0x42));
  p.setColor(QPalette::ToolTipText, text);
  p.setColor(QPalette::PlaceholderText, QColor(0xa0, 0xa4, 0xaa));
  p.setColor(QPalette::Text, text);
  p.setColor(QPalette::Button, QColor(0x35, 0x38, 0x3d));
  p.setColor(QPalette::ButtonText, text);
  p.setColor(QPalette::BrightText, QColor(0xff, 0x6b, 0x6b));
  p.setColor(QPalette::Link, QColor(0x6c, 0xb6, 0xff));
  p.setColor(QPalette::Highlight, QColor(0x2f, 0x6d, 0xb5));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Light, QColor(0x45, 0x48, 0x4e));
  p.setColor(QPalette::Midlight, QColor(0x3c, 0x3f, 0x44));
  p.setColor(QPalette::Mid, QColor(0x5a, 0x5d, 0x63));
  p.setColor(QPalette::Dark, QColor(0x1a, 0x1b, 0x1e));
  p.setColor(QPalette::Shadow, QColor(0x10, 0x10, 0x10));
  for (QPalette::ColorRole role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
    p.setColor(QPalette::Disabled, role, QColor(0x80, 0x83, 0x88));
  return p;
}

}  // namespace

QString themeName(Theme theme) {
  switch (theme) {
    case Theme::Light:
      return QStringLiteral("light");
    case Theme::Dark:
      return QStringLiteral("dark");
    case Theme::System:
      break;
  }
  return QStringLiteral("system");
}

bool parseTheme(const QString& name, Theme* theme) {
  for (Theme t : {Theme::System, Theme::Light, Theme::Dark})
    if (name.compare(themeName(t), Qt::CaseInsensitive) == 0) {
      *theme = t;
      return true;
    }
  return false;
}

void applyTheme(Theme theme) {
  const Desktop& d = desktop();
  if (theme == Theme::System) {
    QApplication::setStyle(QStyleFactory::create(d.style));
    QApplication::setPalette(d.palette);
  } else {
    QApplication::setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
    QApplication::setPalette(theme == Theme::Dark ? darkPalette()
                                                  : QApplication::style()->standardPalette());
  }
  for (QWidget* widget : QApplication::allWidgets())
    if (auto* plot = qobject_cast<QCustomPlot*>(widget)) {
      restylePlot(plot);
      plot->replot(QCustomPlot::rpQueuedReplot);
    }
}

bool isDarkTheme() {
  return QApplication::palette().color(QPalette::Window).lightness() < 128;
}

QColor plotBackground() {
  return isDarkTheme() ? QColor(0x1e, 0x1f, 0x22) : QColor(Qt::white);
}
QColor plotInk() {
  return isDarkTheme() ? QColor(0xe0, 0xe0, 0xe0) : QColor(0x25, 0x25, 0x25);
}
QColor plotSoftInk() {
  return isDarkTheme() ? QColor(0xa8, 0xab, 0xb0) : QColor(0x60, 0x60, 0x60);
}
QColor plotGrid() {
  return isDarkTheme() ? QColor(255, 255, 255, 30) : QColor(0, 0, 0, 28);
}

void restylePlot(QCustomPlot* plot) {
  const QColor ink = plotInk(), soft = plotSoftInk();
  plot->setBackground(QBrush(plotBackground()));
  const QPen axis_pen(soft, 1);
  for (QCPAxisRect* rect : plot->axisRects()) {
    rect->setBackground(QBrush(plotBackground()));
    for (QCPAxis* axis : rect->axes()) {
      axis->setLabelColor(ink);
      axis->setTickLabelColor(soft);
      axis->setBasePen(axis_pen);
      axis->setTickPen(axis_pen);
      axis->setSubTickPen(axis_pen);
      axis->grid()->setPen(QPen(plotGrid(), 1, Qt::SolidLine));
    }
  }
  for (int i = 0; i < plot->plotLayout()->elementCount(); ++i)
    if (auto* title = qobject_cast<QCPTextElement*>(plot->plotLayout()->elementAt(i)))
      title->setTextColor(ink);
  QColor legend = plotBackground();
  legend.setAlpha(215);
  plot->legend->setBrush(QBrush(legend));
  plot->legend->setBorderPen(QPen(plotGrid()));
  plot->legend->setTextColor(ink);
}

QString successStyle() {
  return isDarkTheme() ? QStringLiteral("color: #5cc97a;") : QStringLiteral("color: #1e7b34;");
}
QString warningStyle() {
  return isDarkTheme() ? QStringLiteral("color: #f0a544;") : QStringLiteral("color: #9a5b00;");
}
QString errorStyle() {
  return isDarkTheme() ? QStringLiteral("color: #ff7b72;") : QStringLiteral("color: #b71c1c;");
}

void setDimText(QLabel* label) {
  label->setStyleSheet(QString());
  label->setForegroundRole(QPalette::PlaceholderText);
}

}  // namespace mola::widgets
