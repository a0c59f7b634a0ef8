// SPDX-License-Identifier: GPL-3.0-or-later
// mola-workbench: the MoLA Workbench desktop application.
#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>
#include <QTimer>

#include "main_window.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("MoLA Workbench"));
  QApplication::setOrganizationName(QStringLiteral("mola-workbench"));
  QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/mola.svg")));
  QCommandLineParser cli;
  cli.setApplicationDescription(QStringLiteral("MoLA Workbench: Mixture-of-LoRA-experts research"));
  cli.addHelpOption();
  const QCommandLineOption screenshot(
      QStringLiteral("screenshot"),
      QStringLiteral("Save the window to FILE once shown, then quit."), QStringLiteral("FILE"));
  cli.addOption(screenshot);
  cli.process(app);

  mola::app::MainWindow window;
  window.resize(980, 640);
  window.show();
  if (cli.isSet(screenshot)) {
    QTimer::singleShot(500, &window, [&] {
      const bool ok = window.grab().save(cli.value(screenshot));
      QApplication::exit(ok ? 0 : 1);
    });
  }
  return QApplication::exec();
}
