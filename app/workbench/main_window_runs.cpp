// SPDX-License-Identifier: GPL-3.0-or-later
// MainWindow's run database: opening one, and opening, following, comparing, scoring and deleting
// its runs.
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QStatusBar>
#include <QTimer>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include "compare_view.h"
#include "compared_run_loader.h"
#include "export_folder.h"
#include "main_window.h"
#include "pdf_report.h"
#include "plot_export.h"
#include "run_report.h"
#include "run_scorer.h"
#include "runs_browser.h"
#include "runs_loader.h"
#include "score_dialog.h"
#include "store/run_csv.h"
#include "store/run_launch.h"
#include "study_view.h"
#include "train_view.h"
#include "training_controller.h"
#include "training_plots.h"

namespace mola::app {

namespace fs = std::filesystem;

// --- the database -----------------------------------------------------------------------------

bool MainWindow::openDatabase(const QString& path) {
  if (m_controller->isRunning()) {
    // The run writes to the database it started in; the views must keep reading that one.
    showError(tr("Cannot open the run database"),
              tr("Run #%1 is training into %2: stop it or wait for it before opening %3.")
                  .arg(m_live_run)
                  .arg(m_db_path, path));
    return false;
  }
  try {
    int interrupted = 0;
    QString read_only_because;
    std::optional<RunStore> opened;
    try {
      opened.emplace(openRunStore(fs::path(path.toStdString()), &interrupted));
    } catch (const StoreError& e) {
      // A database that cannot be written (a read-only file or folder, a full disk, an archive on
      // a read-only share) is still worth browsing.
      if (!fs::exists(path.toStdString())) throw;
      opened.emplace(RunStore::openReadOnly(path.toStdString()));
      read_only_because = QString::fromUtf8(e.what());
    }
    RunStore store = std::move(*opened);
    stopFollowing();
    m_train->clearRun();
    m_compare->setRuns({});
    m_store.emplace(std::move(store));
    m_db_path = QString::fromStdString(m_store->path().string());
    m_db_label->setText(read_only_because.isEmpty()
                            ? tr("Database: %1").arg(m_db_path)
                            : tr("Database (read-only): %1").arg(m_db_path));
    m_db_label->setToolTip(read_only_because.isEmpty()
                               ? tr("Runs are stored here; `mola train --db %1` trains into the "
                                    "same file, and the Runs view shows those runs live")
                                     .arg(m_db_path)
                               : tr("Opened for reading only: %1").arg(read_only_because));
    if (!read_only_because.isEmpty())
      showStatus(tr("The run database is open for reading only: %1").arg(read_only_because), 15000);
    if (interrupted > 0)
      showStatus(
          tr("%1 run(s) left running by a process that has gone are marked interrupted; Resume "
             "continues them from their last checkpoint")
              .arg(interrupted),
          15000);
    refreshRuns();
    m_study_view->refresh();
    updateTitle();
    updateRunAvailability();
    return true;
  } catch (const std::exception& e) {
    showError(tr("Cannot open the run database"), QString::fromUtf8(e.what()));
    if (!m_store) m_db_label->setText(tr("No database open"));
    m_runs->refresh();
    updateRunAvailability();
    return false;
  }
}

void MainWindow::openDatabaseDialog() {
  const QString start =
      m_db_path.isEmpty() ? QString::fromStdString(RunStore::defaultPath()) : m_db_path;
  // An open dialog that also takes a new file name (a new database): its button says Open.
  QFileDialog dialog(this, tr("Open or create a run database"), start,
                     tr("Run databases (*.sqlite *.db);;All files (*)"));
  dialog.setAcceptMode(QFileDialog::AcceptOpen);
  dialog.setFileMode(QFileDialog::AnyFile);
  dialog.setOption(QFileDialog::DontConfirmOverwrite);
  dialog.setLabelText(QFileDialog::Accept, tr("Open"));
  if (dialog.exec() == QDialog::Accepted && !dialog.selectedFiles().isEmpty())
    openDatabase(dialog.selectedFiles().constFirst());
}

void MainWindow::refreshRuns() {
  m_runs->refresh();
  refreshQueue();
  if (currentTab() == Tab::Study) m_study_view->refresh();
}

void MainWindow::connectRunsView() {
  m_runs->setProvider([this]() -> std::vector<widgets::RunsRow> {
    if (!m_store) throw std::runtime_error("no run database is open (File > Open database...)");
    return loadRunsRows(*m_store);
  });
  connect(m_runs, &widgets::RunsBrowser::runActivated, this, &MainWindow::openRun);
  connect(m_runs, &widgets::RunsBrowser::compareRequested, this, &MainWindow::compareRuns);
  connect(m_compare, &widgets::CompareView::routingRequested, this,
          [this](qint64 first, qint64 second) { showRoutingDialog(first, second); });
  connect(m_runs, &widgets::RunsBrowser::deleteRequested, this, &MainWindow::deleteRuns);
  connect(m_runs, &widgets::RunsBrowser::exportRequested, this, &MainWindow::exportRunDialog);
  connect(m_runs, &widgets::RunsBrowser::scoreRequested, this, &MainWindow::scoreRunDialog);
  connectScorer();
  connect(m_runs, &widgets::RunsBrowser::routingRequested, this,
          [this](qint64 id) { showRoutingDialog(id); });
}

std::optional<RunRecord> MainWindow::storedRun(qint64 id) const {
  if (!m_store || id <= 0) return std::nullopt;
  try {
    return m_store->run(id);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

int64_t MainWindow::totalStepsOf(const RunRecord& record) const {
  // max_steps is the only total the stored document states; 0 means "from the epochs", which
  // needs the data set's size: unknown here.
  try {
    return parseExperiment(record.config_json, "run").max_steps;
  } catch (const std::exception&) {
    return 0;
  }
}

// --- opening, following, comparing, deleting --------------------------------------------------

bool MainWindow::openRun(qint64 id) {
  if (!m_store) {
    showError(tr("Cannot open the run"), tr("No run database is open."));
    return false;
  }
  if (m_view_live && id == m_live_run && m_train->runId() == id) {
    showTab(Tab::Train);
    return true;
  }
  if (!showStoredRun(id)) return false;
  showTab(Tab::Train);
  updateControls();
  return true;
}

bool MainWindow::showStoredRun(qint64 id) {
  RunFollower follower(id);
  RunUpdate update;
  try {
    update = follower.poll(*m_store);
  } catch (const std::exception& e) {
    showError(tr("Cannot open run #%1").arg(id), QString::fromUtf8(e.what()));
    return false;
  }
  stopFollowing();
  m_view_live = false;
  m_train->clearRun();
  m_train->showRun(update.record, widgets::RunsRow::fromRecord(update.record).allocation,
                   totalStepsOf(update.record));
  m_train->addStoredMetrics(update.metrics);
  for (const RouterStatsSnapshot& s : update.router) m_train->addRouterStats(s);
  for (const EvalScore& s : update.scores) m_train->addScore(s);
  m_follower.emplace(std::move(follower));
  if (update.record.status == RunStatus::Running) {
    const bool ours = update.record.id == m_live_run;
    m_train->setSource(ours ? tr("training in this window") : tr("following the database"));
    m_train->setMessage(
        ours ? tr("This window trains the run; the view reads its points from the database.")
             : tr("Trained by another process (e.g. `mola train`): the curves follow the "
                  "database every second."));
    m_follow_timer->start();
  }
  return true;
}

void MainWindow::followTick() {
  if (!m_follower || !m_store) {
    stopFollowing();
    return;
  }
  RunUpdate update;
  try {
    update = m_follower->poll(*m_store);
  } catch (const std::exception& e) {
    // Deleted, or the database went away: say so once and stop reading.
    m_train->setMessage(tr("Stopped following run #%1: %2")
                            .arg(m_follower->runId())
                            .arg(QString::fromUtf8(e.what())),
                        TrainView::Tone::Warning);
    stopFollowing();
    updateControls();
    return;
  }
  if (update.reset) {
    // The run went back (resumed): its points after the checkpoint are being written again.
    m_train->plots()->clear();
  }
  m_train->addStoredMetrics(update.metrics);
  for (const RouterStatsSnapshot& s : update.router) m_train->addRouterStats(s);
  for (const EvalScore& s : update.scores) m_train->addScore(s);
  const RunStatus before = m_train->status();
  m_train->updateRecord(update.record);
  // This window's `mola` processes may not have claimed the run yet (a resume): keep reading.
  const bool ours_starting = m_controller->inOtherProcesses() && update.record.id == m_live_run;
  if (update.record.status != RunStatus::Running && !ours_starting) {
    m_train->setSource(QString());
    stopFollowing();
    if (before == RunStatus::Running) refreshRuns();
    updateControls();
  }
}

void MainWindow::stopFollowing() {
  m_follow_timer->stop();
  m_follower.reset();
}

bool MainWindow::compareRuns(const QList<qint64>& ids) {
  if (!m_store) {
    showError(tr("Cannot compare"), tr("No run database is open."));
    return false;
  }
  std::vector<widgets::ComparedRun> runs;
  QStringList missing;
  for (qint64 id : ids) {
    try {
      runs.push_back(loadComparedRun(*m_store, id));
    } catch (const std::exception& e) {
      missing << QString::fromUtf8(e.what());
    }
  }
  if (!missing.isEmpty()) showError(tr("Some runs could not be read"), missing.join('\n'));
  if (runs.empty()) return false;
  m_compare->setRuns(std::move(runs));
  showTab(Tab::Compare);
  return missing.isEmpty();
}

void MainWindow::scoreRunDialog(const QList<qint64>& ids) {
  if (ids.isEmpty()) return;
  QString what = tr("%1 runs").arg(ids.size());
  if (ids.size() == 1) {
    const std::optional<RunRecord> record = storedRun(ids.front());
    if (!record) return;
    what = tr("run #%1 (%2)").arg(ids.front()).arg(QString::fromStdString(record->name));
  }
  widgets::ScoreDialog dialog(what, this);
  if (dialog.exec() != QDialog::Accepted) return;
  for (qint64 id : ids) scoreRun(id, dialog.request());
}

bool MainWindow::scoreRun(qint64 id, const widgets::ScoreRequest& request) {
  if (!m_store) {
    showError(tr("Score"), tr("No run database is open."));
    return false;
  }
  m_score_queue.push_back({id, request});
  if (!m_scorer->busy())
    startNextScoring();
  else
    showStatus(tr("Run #%1 waits to be scored after run #%2 (%3 waiting)")
                   .arg(id)
                   .arg(m_scorer->run())
                   .arg(m_score_queue.size()),
               0);
  return true;
}

void MainWindow::connectScorer() {
  connect(m_scorer, &RunScorer::progress, this, [this](qint64 run, int done, int n) {
    showStatus(tr("Scoring run #%1 on %2: %3 of %4 questions%5")
                   .arg(run)
                   .arg(m_scoring_benchmark)
                   .arg(done)
                   .arg(n)
                   .arg(waitingText()),
               0);
  });
  connect(
      m_scorer, &RunScorer::finished, this, [this](qint64 run, bool ok, const QString& message) {
        if (ok) {
          showStatus(tr("Run #%1 scored: %2%3").arg(run).arg(message).arg(waitingText()), 15000);
          refreshRuns();
          refreshComparedRun(run);
          refreshTrainScores(run);
        } else {
          showError(tr("Score"), tr("Run #%1 was not scored: %2").arg(run).arg(message));
        }
        startNextScoring();
      });
}

QString MainWindow::waitingText() const {
  return m_score_queue.empty() ? QString() : tr(" (%1 more waiting)").arg(m_score_queue.size());
}

void MainWindow::startNextScoring() {
  if (m_score_queue.empty() || m_scorer->busy() || !m_store) return;
  const auto [id, request] = m_score_queue.front();
  m_score_queue.pop_front();
  m_scoring_benchmark = QString::fromStdString(dataSourceName(request.data));
  m_scorer->start(id, m_db_path, request.data, request.protocol);
  showStatus(tr("Scoring run #%1 on %2: loading its model%3")
                 .arg(id)
                 .arg(m_scoring_benchmark)
                 .arg(waitingText()),
             0);
}

void MainWindow::refreshComparedRun(qint64 id) {
  std::vector<widgets::ComparedRun> runs = m_compare->runs();
  const auto it = std::find_if(runs.begin(), runs.end(),
                               [id](const widgets::ComparedRun& r) { return r.record.id == id; });
  if (it == runs.end() || !m_store) return;
  try {
    *it = loadComparedRun(*m_store, id);
  } catch (const std::exception&) {
    return;  // the comparison stays as it was; comparing again names the problem
  }
  m_compare->setRuns(std::move(runs));
}

void MainWindow::refreshTrainScores(qint64 id) {
  // A followed run's view reads new scores by itself; a run this window still trains shows the
  // trainer's (a score added meanwhile appears when the run is opened again).
  if (!m_store || m_train->runId() != id || m_follow_timer->isActive()) return;
  if (m_view_live && id == m_live_run && m_controller->isRunning()) return;
  showStoredRun(id);
  updateControls();
}

void MainWindow::exportRunDialog(qint64 id) {
  const QString folder =
      QFileDialog::getExistingDirectory(this, tr("Export run #%1 as CSV into a folder").arg(id),
                                        widgets::exportFolder(QStringLiteral("runExportFolder")));
  if (folder.isEmpty()) return;
  widgets::rememberExportFolder(QStringLiteral("runExportFolder"), folder);
  exportRunCsv(id, folder);
}

QString MainWindow::exportRunCsv(qint64 id, const QString& folder) {
  if (!m_store) return {};
  try {
    // A folder of its own per run ("quickstart-run3"), so that exports never mix.
    const QString name = widgets::fileSlug(QString::fromStdString(m_store->run(id).name));
    const QString dir = QDir(folder).filePath(
        QStringLiteral("%1run%2").arg(name.isEmpty() ? QString() : name + u'-').arg(id));
    const std::vector<std::string> files = mola::exportRunCsv(*m_store, id, dir.toStdString());
    QStringList names;
    for (const std::string& f : files) names << QString::fromStdString(f);
    showStatus(tr("Wrote %1 to %2").arg(names.join(QStringLiteral(", ")), dir), 10000);
    return dir;
  } catch (const std::exception& e) {
    showError(tr("Export"),
              tr("Run #%1 was not exported: %2").arg(id).arg(QString::fromUtf8(e.what())));
    return {};
  }
}

bool MainWindow::exportReport(const QString& path) {
  QString html, title;
  QList<QCustomPlot*> plots;
  if (currentTab() == Tab::Compare && !m_compare->runs().empty()) {
    html = comparisonReportHtml(m_compare->runs(), m_compare->differingKeys());
    title = tr("MoLA Workbench comparison");
    plots = m_compare->allPlots();
  } else if (const auto record = storedRun(m_train->runId())) {
    double loss = std::nan("");
    const std::vector<MetricPoint> losses = m_store->metrics(record->id, "loss");
    if (!losses.empty()) loss = losses.back().value;
    html = runReportHtml(*record, loss, m_store->evalScores(record->id));
    title = tr("MoLA Workbench run #%1").arg(record->id);
    m_train->plots()->replotNow();  // what is not drawn yet, from the database
    plots = m_train->plots()->allPlots();
  } else {
    showError(tr("Report"), tr("Open a run in Train, or compare runs, to export a report."));
    return false;
  }
  QString error;
  if (!widgets::writePdfReport(path, title, html, plots, &error)) {
    showError(tr("Report"), error);
    return false;
  }
  showStatus(tr("Wrote the report %1").arg(path), 10000);
  return true;
}

void MainWindow::exportReportDialog() {
  const QString folder = widgets::exportFolder(QStringLiteral("reportFolder"));
  QString name = QStringLiteral("report.pdf");
  if (currentTab() == Tab::Compare && !m_compare->runs().empty()) {
    name = m_compare->exportStem() + QStringLiteral("-report.pdf");
  } else if (m_train->runId() > 0) {
    name = QStringLiteral("run%1-report.pdf").arg(m_train->runId());
  }
  QString path = QFileDialog::getSaveFileName(
      this, tr("Export a report"), QDir(folder).filePath(name), tr("PDF documents (*.pdf)"));
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty()) path += QStringLiteral(".pdf");
  widgets::rememberExportFolder(QStringLiteral("reportFolder"), path);
  exportReport(path);
}

bool MainWindow::deleteRuns(const QList<qint64>& ids) {
  if (!m_store) return false;
  QStringList problems;
  for (qint64 id : ids) {
    if (m_controller->isRunning() && id == m_controller->runId()) {
      problems << tr("run #%1 is training in this window: stop it first").arg(id);
      continue;
    }
    try {
      // Refused while a live process (a `mola train` in a terminal) trains the run.
      m_store->deleteRun(id);
      if (m_train->runId() == id) {
        stopFollowing();
        m_train->clearRun();
      }
    } catch (const std::exception& e) {
      problems << QString::fromUtf8(e.what());
    }
  }
  if (!problems.isEmpty()) showError(tr("Delete"), problems.join('\n'));
  refreshRuns();
  updateControls();
  return problems.isEmpty();
}

}  // namespace mola::app
