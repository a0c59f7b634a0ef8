// SPDX-License-Identifier: GPL-3.0-or-later
// mola-workbench: the MoLA Workbench desktop application and its command-line options.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QIcon>
#include <QSettings>
#include <QTimer>
#include <cstdio>

#include "main_window.h"
#include "store/run_store.h"
#include "theme.h"

namespace {

// Prints a usage error the way QCommandLineParser does and returns the exit code for it.
int usageError(const QString& message) {
  std::fprintf(stderr, "mola-workbench: %s\n", qPrintable(message));
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("MoLA Workbench"));
  QApplication::setOrganizationName(QStringLiteral("mola-workbench"));
  QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/mola.svg")));
  QCommandLineParser cli;
  cli.setApplicationDescription(
      QStringLiteral("MoLA Workbench: design, train and compare Mixture-of-LoRA-experts runs"));
  cli.addHelpOption();
  const QCommandLineOption db(QStringLiteral("db"),
                              QStringLiteral("The run database (default: $MOLA_DB, else "
                                             "~/.local/share/mola-workbench/runs.sqlite)."),
                              QStringLiteral("FILE"));
  const QCommandLineOption tab(
      QStringLiteral("tab"),
      QStringLiteral("The view to show: design, train, runs, compare, study."),
      QStringLiteral("VIEW"));
  const QCommandLineOption open(QStringLiteral("open"),
                                QStringLiteral("Show stored run RUN_ID in the Train view."),
                                QStringLiteral("RUN_ID"));
  const QCommandLineOption compare(QStringLiteral("compare"),
                                   QStringLiteral("Compare these stored runs (e.g. 3,4,7)."),
                                   QStringLiteral("IDS"));
  const QCommandLineOption experiment(QStringLiteral("experiment"),
                                      QStringLiteral("Load an experiment JSON file into Design."),
                                      QStringLiteral("FILE"));
  const QCommandLineOption screenshot(
      QStringLiteral("screenshot"),
      QStringLiteral("Save the window (1280x800 unless --size) to FILE once shown and loaded, "
                     "then quit."),
      QStringLiteral("FILE"));
  const QCommandLineOption size(QStringLiteral("size"),
                                QStringLiteral("The window's size in pixels, e.g. 1024x640."),
                                QStringLiteral("WxH"));
  const QCommandLineOption theme_option(
      QStringLiteral("theme"),
      QStringLiteral("The colours: system (the desktop's), light or dark; remembered."),
      QStringLiteral("THEME"));
  cli.addOptions({db, tab, open, compare, experiment, screenshot, size, theme_option});
  cli.process(app);

  std::optional<mola::app::MainWindow::Tab> start_tab;
  if (cli.isSet(tab)) {
    start_tab = mola::app::MainWindow::tabFromName(cli.value(tab));
    if (!start_tab)
      return usageError(
          QStringLiteral("--tab: '%1' is not one of design, train, runs, compare, study")
              .arg(cli.value(tab)));
  }
  qint64 open_id = -1;
  if (cli.isSet(open)) {
    bool ok = false;
    open_id = cli.value(open).toLongLong(&ok);
    if (!ok || open_id <= 0)
      return usageError(
          QStringLiteral("--open: '%1' is not a run id (a whole number, see the Runs view)")
              .arg(cli.value(open)));
  }
  QList<qint64> compare_ids;
  if (cli.isSet(compare)) {
    for (const QString& part : cli.value(compare).split(QLatin1Char(','), Qt::SkipEmptyParts)) {
      bool ok = false;
      const qint64 id = part.trimmed().toLongLong(&ok);
      if (!ok || id <= 0)
        return usageError(QStringLiteral("--compare: '%1' is not a run id").arg(part));
      compare_ids.append(id);
    }
    if (compare_ids.size() < 2)
      return usageError(QStringLiteral("--compare needs two or more run ids, e.g. 3,4"));
  }

  QSize window_size = cli.isSet(screenshot) ? QSize(1280, 800) : QSize();
  if (cli.isSet(size)) {
    const QStringList wh = cli.value(size).split(QLatin1Char('x'));
    bool w_ok = false, h_ok = false;
    if (wh.size() == 2) window_size = QSize(wh[0].toInt(&w_ok), wh[1].toInt(&h_ok));
    if (!w_ok || !h_ok || window_size.width() < 200 || window_size.height() < 150)
      return usageError(QStringLiteral("--size: '%1' is not a window size such as 1024x640")
                            .arg(cli.value(size)));
  }

  // The theme before any window: the command line's (remembered), else the last one chosen.
  mola::widgets::Theme theme = mola::widgets::Theme::System;
  if (cli.isSet(theme_option)) {
    if (!mola::widgets::parseTheme(cli.value(theme_option), &theme))
      return usageError(QStringLiteral("--theme: '%1' is not one of system, light, dark")
                            .arg(cli.value(theme_option)));
    QSettings().setValue(QStringLiteral("theme"), mola::widgets::themeName(theme));
  } else {
    mola::widgets::parseTheme(QSettings().value(QStringLiteral("theme")).toString(), &theme);
  }
  mola::widgets::applyTheme(theme);

  mola::app::MainWindow window;
  // The same size whatever was saved.
  if (window_size.isValid()) window.resize(window_size);
  const QString db_path = cli.isSet(db)
                              ? QFileInfo(cli.value(db)).absoluteFilePath()
                              : QString::fromStdString(mola::RunStore::defaultPath().string());
  window.openDatabase(db_path);
  if (cli.isSet(experiment)) window.openExperiment(cli.value(experiment));
  if (open_id > 0) window.openRun(open_id);
  if (!compare_ids.isEmpty()) window.compareRuns(compare_ids);
  if (start_tab) window.showTab(*start_tab);
  window.show();

  if (cli.isSet(screenshot)) {
    // The views read the database synchronously above; the delay lets the plots lay out, and
    // replotNow() draws what the throttled replot has not drawn yet.
    QTimer::singleShot(1200, &window, [&] {
      window.replotNow();
      QApplication::processEvents();
      const bool ok = window.grab().save(cli.value(screenshot));
      // For scripts: what the window would have shown in a message box.
      if (!window.lastError().isEmpty())
        std::fprintf(stderr, "mola-workbench: %s\n", qPrintable(window.lastError()));
      if (!ok)
        std::fprintf(stderr, "mola-workbench: cannot write %s\n",
                     qPrintable(cli.value(screenshot)));
      QApplication::exit(ok ? 0 : 1);
    });
  }
  return QApplication::exec();
}
