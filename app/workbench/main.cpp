// SPDX-License-Identifier: GPL-3.0-or-later
// mola-workbench: the MoLA Workbench desktop application.
#include <QApplication>
#include <QIcon>

#include "main_window.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("MoLA Workbench"));
  QApplication::setOrganizationName(QStringLiteral("mola-workbench"));
  QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/mola.svg")));
  mola::app::MainWindow window;
  window.resize(980, 620);
  window.show();
  return QApplication::exec();
}
