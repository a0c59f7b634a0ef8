// SPDX-License-Identifier: GPL-3.0-or-later
// mola-workbench: the MoLA Workbench desktop application and its command-line options.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QIcon>
#include <QPushButton>
#include <QSettings>
#include <QTimer>
#include <cstdio>
#include <optional>

#include "main_window.h"
#include "route_tracer.h"
#include "routing_dialog.h"
#include "store/run_store.h"
#include "theme.h"
#include "token_routing_map.h"

namespace {

using mola::app::MainWindow;

// The options, as QCommandLineParser reads them.
struct Cli {
  QCommandLineParser parser;
  QCommandLineOption db{QStringLiteral("db"),
                        QStringLiteral("The run database (default: $MOLA_DB, else "
                                       "~/.local/share/mola-workbench/runs.sqlite)."),
                        QStringLiteral("FILE")};
  QCommandLineOption tab{QStringLiteral("tab"),
                         QStringLiteral("The view to show: design, train, runs, compare, study."),
                         QStringLiteral("VIEW")};
  QCommandLineOption open{QStringLiteral("open"),
                          QStringLiteral("Show stored run RUN_ID in the Train view."),
                          QStringLiteral("RUN_ID")};
  QCommandLineOption compare{QStringLiteral("compare"),
                             QStringLiteral("Compare these stored runs (e.g. 3,4,7)."),
                             QStringLiteral("IDS")};
  QCommandLineOption routing{
      QStringLiteral("routing"),
      QStringLiteral("Trace stored run RUN_ID's first question in the Routing dialog, with a "
                     "second run beside it when given (e.g. 3,4; with --screenshot: save the "
                     "dialog once traced)."),
      QStringLiteral("RUN_ID[,RUN_ID]")};
  QCommandLineOption experiment{QStringLiteral("experiment"),
                                QStringLiteral("Load an experiment JSON file into Design."),
                                QStringLiteral("FILE")};
  QCommandLineOption screenshot{
      QStringLiteral("screenshot"),
      QStringLiteral("Save the window (1280x800 unless --size) to FILE once shown and loaded, "
                     "then quit."),
      QStringLiteral("FILE")};
  QCommandLineOption size{QStringLiteral("size"),
                          QStringLiteral("The window's size in pixels, e.g. 1024x640."),
                          QStringLiteral("WxH")};
  QCommandLineOption theme{
      QStringLiteral("theme"),
      QStringLiteral("The colours: system (the desktop's), light or dark; remembered."),
      QStringLiteral("THEME")};

  Cli() {
    parser.setApplicationDescription(
        QStringLiteral("MoLA Workbench: design, train and compare Mixture-of-LoRA-experts runs"));
    parser.addHelpOption();
    parser.addOptions({db, tab, open, compare, routing, experiment, screenshot, size, theme});
  }
};

// What the window starts with, checked.
struct Start {
  std::optional<MainWindow::Tab> tab;
  qint64 open_id = -1;
  QList<qint64> routing_ids;  // the Routing dialog's run, and the one beside it
  QList<qint64> compare_ids;
  QSize window_size;                          // invalid: as saved
  std::optional<mola::widgets::Theme> theme;  // given on the command line
};

// Reads the options into `start`; returns the usage error, or an empty string.
QString readStart(const Cli& cli, Start& start) {
  const QCommandLineParser& p = cli.parser;
  if (p.isSet(cli.tab)) {
    start.tab = MainWindow::tabFromName(p.value(cli.tab));
    if (!start.tab)
      return QStringLiteral("--tab: '%1' is not one of design, train, runs, compare, study")
          .arg(p.value(cli.tab));
  }
  if (p.isSet(cli.open)) {
    bool ok = false;
    start.open_id = p.value(cli.open).toLongLong(&ok);
    if (!ok || start.open_id <= 0)
      return QStringLiteral("--open: '%1' is not a run id (a whole number, see the Runs view)")
          .arg(p.value(cli.open));
  }
  if (p.isSet(cli.routing)) {
    for (const QString& part : p.value(cli.routing).split(QLatin1Char(','))) {
      bool ok = false;
      const qint64 id = part.trimmed().toLongLong(&ok);
      if (!ok || id <= 0) return QStringLiteral("--routing: '%1' is not a run id").arg(part);
      start.routing_ids.append(id);
    }
    if (start.routing_ids.size() > 2)
      return QStringLiteral("--routing takes one run id, or two to trace side by side");
  }
  if (p.isSet(cli.compare)) {
    for (const QString& part : p.value(cli.compare).split(QLatin1Char(','), Qt::SkipEmptyParts)) {
      bool ok = false;
      const qint64 id = part.trimmed().toLongLong(&ok);
      if (!ok || id <= 0) return QStringLiteral("--compare: '%1' is not a run id").arg(part);
      start.compare_ids.append(id);
    }
    if (start.compare_ids.size() < 2)
      return QStringLiteral("--compare needs two or more run ids, e.g. 3,4");
  }
  if (p.isSet(cli.screenshot)) start.window_size = QSize(1280, 800);
  if (p.isSet(cli.size)) {
    const QStringList wh = p.value(cli.size).split(QLatin1Char('x'));
    bool w_ok = false, h_ok = false;
    if (wh.size() == 2) start.window_size = QSize(wh[0].toInt(&w_ok), wh[1].toInt(&h_ok));
    if (!w_ok || !h_ok || start.window_size.width() < 200 || start.window_size.height() < 150)
      return QStringLiteral("--size: '%1' is not a window size such as 1024x640")
          .arg(p.value(cli.size));
  }
  if (p.isSet(cli.theme)) {
    mola::widgets::Theme theme = mola::widgets::Theme::System;
    if (!mola::widgets::parseTheme(p.value(cli.theme), &theme))
      return QStringLiteral("--theme: '%1' is not one of system, light, dark")
          .arg(p.value(cli.theme));
    start.theme = theme;
  }
  return {};
}

// The theme before any window: the command line's (remembered), else the last one chosen.
void applyStartTheme(const Start& start) {
  mola::widgets::Theme theme = mola::widgets::Theme::System;
  if (start.theme) {
    theme = *start.theme;
    QSettings().setValue(QStringLiteral("theme"), mola::widgets::themeName(theme));
  } else {
    mola::widgets::parseTheme(QSettings().value(QStringLiteral("theme")).toString(), &theme);
  }
  mola::widgets::applyTheme(theme);
}

// Saves the window to `path` once its plots are laid out, then quits (exit 1 when the file
// cannot be written).
void screenshotThenQuit(MainWindow& window, const QString& path) {
  // The views read the database synchronously before; the delay lets the plots lay out, and
  // replotNow() draws what the throttled replot has not drawn yet.
  QTimer::singleShot(1200, &window, [&window, path] {
    window.replotNow();
    QApplication::processEvents();
    const bool ok = window.grab().save(path);
    // For scripts: what the window would have shown in a message box.
    if (!window.lastError().isEmpty())
      std::fprintf(stderr, "mola-workbench: %s\n", qPrintable(window.lastError()));
    if (!ok) std::fprintf(stderr, "mola-workbench: cannot write %s\n", qPrintable(path));
    QApplication::exit(ok ? 0 : 1);
  });
}

// Traces run ids[0]'s first question in the Routing dialog (through ids[1] beside it when
// given); with a `screenshot` path, saves the dialog once every trace has come back (exit 1 when
// one failed or the file cannot be written).
void traceRouting(MainWindow& window, const QList<qint64>& ids, const QString& screenshot) {
  window.showRoutingDialog(ids[0], ids.value(1, -1));
  mola::widgets::RoutingDialog* dialog = window.routingDialog();
  if (!dialog || dialog->run() != ids[0] || (ids.size() > 1 && dialog->comparedRun() != ids[1])) {
    if (!screenshot.isEmpty()) QTimer::singleShot(0, [] { QApplication::exit(1); });
    return;
  }
  if (!screenshot.isEmpty()) {
    const auto save = [dialog, screenshot] {
      if (dialog->busy()) return;  // the other run has not answered yet
      QTimer::singleShot(600, dialog, [dialog, screenshot] {
        const bool traced =
            !dialog->routing().layers.empty() &&
            (dialog->comparedRun() < 0 || !dialog->comparedRouting().layers.empty());
        for (auto* map : {dialog->layersMap(), dialog->layerMap(), dialog->comparedLayersMap(),
                          dialog->comparedLayerMap()})
          map->replot();
        const bool ok = dialog->grab().save(screenshot);
        if (!traced) std::fprintf(stderr, "mola-workbench: %s\n", qPrintable(dialog->status()));
        if (!ok) std::fprintf(stderr, "mola-workbench: cannot write %s\n", qPrintable(screenshot));
        QApplication::exit(ok && traced ? 0 : 1);
      });
    };
    for (mola::app::RouteTracer* tracer : {window.tracer(), window.compareTracer()}) {
      QObject::connect(tracer, &mola::app::RouteTracer::traced, dialog, save, Qt::QueuedConnection);
      QObject::connect(tracer, &mola::app::RouteTracer::failed, dialog, save, Qt::QueuedConnection);
    }
  }
  dialog->traceButton()->click();
}

}  // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("MoLA Workbench"));
  QApplication::setOrganizationName(QStringLiteral("mola-workbench"));
  QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/mola.svg")));
  Cli cli;
  cli.parser.process(app);
  Start start;
  if (const QString error = readStart(cli, start); !error.isEmpty()) {
    // As QCommandLineParser reports its own usage errors.
    std::fprintf(stderr, "mola-workbench: %s\n", qPrintable(error));
    return 2;
  }
  applyStartTheme(start);

  MainWindow window;
  // The same size whatever was saved.
  if (start.window_size.isValid()) window.resize(start.window_size);
  const QCommandLineParser& p = cli.parser;
  window.openDatabase(p.isSet(cli.db)
                          ? QFileInfo(p.value(cli.db)).absoluteFilePath()
                          : QString::fromStdString(mola::RunStore::defaultPath().string()));
  if (p.isSet(cli.experiment)) window.openExperiment(p.value(cli.experiment));
  if (start.open_id > 0) window.openRun(start.open_id);
  if (!start.compare_ids.isEmpty()) window.compareRuns(start.compare_ids);
  if (start.tab) window.showTab(*start.tab);
  window.show();
  if (!start.routing_ids.isEmpty())
    traceRouting(window, start.routing_ids,
                 p.isSet(cli.screenshot) ? p.value(cli.screenshot) : QString());
  else if (p.isSet(cli.screenshot))
    screenshotThenQuit(window, p.value(cli.screenshot));
  return QApplication::exec();
}
