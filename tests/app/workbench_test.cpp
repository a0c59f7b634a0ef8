// SPDX-License-Identifier: GPL-3.0-or-later
// The workbench window end to end: experiments in Design, real runs through the Run button into a
// real SQLite file, a run written by another connection followed live, compare, delete, failures
// that leave the window up, and screenshots of the four views.
#include <qcustomplot.h>
#include <unistd.h>
#include <QAction>
#include <QApplication>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QLabel>
#include <QMessageBox>
#include <QProcess>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "allocation_designer.h"
#include "compare_view.h"
#include "experiment/experiment_config.h"
#include "experiment_form.h"
#include "main_window.h"
#include "run_scorer.h"
#include "runs_browser.h"
#include "runs_table_model.h"
#include "score_dialog.h"
#include "store/run_launch.h"
#include "store/run_store.h"
#include "stored_runs.h"
#include "tiny_experiment.h"
#include "train_view.h"
#include "training_controller.h"
#include "training_plots.h"
#include "workbench_window.h"

using mola::RunStatus;
using mola::RunStore;
using mola::app::MainWindow;
using mola::test::browserRow;
using mola::test::browserStatus;
using mola::test::closeMessageBoxes;
using mola::test::kTrainTimeoutMs;
using mola::test::messageBoxTexts;
using mola::test::writeRun;

namespace {

namespace fs = std::filesystem;

// Training the built-in base and then the run: 8 minutes measured on a busy 2-core machine.
constexpr int kPretrainTimeoutMs = 1200000;

// The tiny random model on a small synthetic task: seconds per run on 2 cores.
mola::ExperimentConfig tinyConfig(int max_steps = 8) {
  return mola::test::tinyExperiment("window-run", max_steps);
}

int lossPoints(const MainWindow& w) {
  return w.trainView()->plots()->rawLossGraph()->dataCount();
}

bool saveScreenshot(QWidget& w, const char* name) {
  QDir().mkpath(QStringLiteral(MOLA_SCREENSHOT_DIR));
  return w.grab().save(QStringLiteral(MOLA_SCREENSHOT_DIR "/") + QLatin1String(name));
}

}  // namespace

class WorkbenchTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    // QSettings (geometry, last tab, recent files) go to a test location, not the user's.
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setOrganizationName(QStringLiteral("mola-workbench-test"));
    QApplication::setApplicationName(QStringLiteral("workbench_test"));
    QSettings().clear();
  }

  void designViewLoadsAndSavesExperiments() {
    QTemporaryDir dir;
    MainWindow w;
    QVERIFY(w.openDatabase(dir.filePath(QStringLiteral("runs.sqlite"))));
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QCOMPARE(w.currentTab(), MainWindow::Tab::Design);

    const QString quickstart = QStringLiteral(MOLA_EXPERIMENTS_DIR "/quickstart.json");
    QVERIFY2(w.openExperiment(quickstart), qPrintable(w.lastError()));
    // quickstart.json: "2-4-6-8" on the 4-layer built-in model, one layer per group.
    QCOMPARE(w.form()->designer()->allocation().perLayer(), (std::vector<int>{2, 4, 6, 8}));
    QCOMPARE(w.form()->designer()->shape().num_layers, 4);
    QVERIFY(w.form()->config() == mola::loadExperiment(quickstart.toStdString()));
    QVERIFY2(w.windowTitle().contains(QStringLiteral("quickstart.json")),
             qPrintable(w.windowTitle()));
    QVERIFY2(w.windowTitle().contains(w.databasePath()), qPrintable(w.windowTitle()));
    QVERIFY(!w.isModified());
    QCOMPARE(w.recentExperiments().value(0), QFileInfo(quickstart).absoluteFilePath());
    QVERIFY2(w.runButton()->isEnabled(), qPrintable(w.runReason()->text()));

    // An edit marks the experiment modified; Save writes what the form says.
    w.form()->designer()->setAllocation(mola::Allocation({8, 6, 4, 2}));
    QVERIFY(w.isModified());
    QVERIFY(w.windowTitle().contains(QStringLiteral("quickstart.json*")));
    const QString saved = dir.filePath(QStringLiteral("triangle.json"));
    QVERIFY(w.saveExperiment(saved));
    QVERIFY(!w.isModified());
    const mola::ExperimentConfig back = mola::loadExperiment(saved.toStdString());
    QCOMPARE(mola::Allocation::parse(back.allocation, 4).perLayer(),
             (std::vector<int>{8, 6, 4, 2}));
    QCOMPARE(back.train.path, std::string("synthetic:opposite:2000:1"));
    QCOMPARE(w.recentExperiments().value(0), QFileInfo(saved).absoluteFilePath());

    // New starts from the quickstart again, untitled.
    w.newExperiment();
    QVERIFY(w.experimentPath().isEmpty());
    QCOMPARE(w.form()->designer()->allocation().perLayer(), (std::vector<int>{2, 4, 6, 8}));
    QVERIFY(w.runButton()->isEnabled());
  }

  void malformedExperimentIsNamedAndChangesNothing() {
    QTemporaryDir dir;
    MainWindow w;
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    const std::vector<int> before = w.form()->designer()->allocation().perLayer();
    const QString bad = dir.filePath(QStringLiteral("broken-experiment.json"));
    {
      std::ofstream out(bad.toStdString());
      out << "{\n  \"name\": \"x\",\n  \"adapter\": {\"allocation\": \"2-4-6-8\",\n";  // cut off
    }
    QVERIFY(!w.openExperiment(bad));
    QVERIFY2(w.lastError().contains(QStringLiteral("broken-experiment.json")),
             qPrintable(w.lastError()));
    QVERIFY2(messageBoxTexts(w).join(' ').contains(QStringLiteral("broken-experiment.json")),
             qPrintable(messageBoxTexts(w).join(' ')));
    QCOMPARE(w.form()->designer()->allocation().perLayer(), before);
    QVERIFY(w.experimentPath().isEmpty());

    // A well-formed document with a misspelt key: named with its key.
    const QString typo = dir.filePath(QStringLiteral("typo.json"));
    {
      std::ofstream out(typo.toStdString());
      out << R"({"adaptr": {"rank": 4}, "data": {"train": {"path": "synthetic:largest"}}})";
    }
    QVERIFY(!w.openExperiment(typo));
    QVERIFY2(w.lastError().contains(QStringLiteral("typo.json")), qPrintable(w.lastError()));
    QVERIFY2(w.lastError().contains(QStringLiteral("adaptr")), qPrintable(w.lastError()));
    QVERIFY(!w.openExperiment(dir.filePath(QStringLiteral("missing.json"))));
    QVERIFY2(w.lastError().contains(QStringLiteral("missing.json")), qPrintable(w.lastError()));
    closeMessageBoxes(w);
    QVERIFY(w.isVisible());
  }

  void runIsDisabledWithTheReason() {
    QTemporaryDir dir;
    MainWindow w;
    w.show();
    // No database yet.
    QVERIFY(!w.runButton()->isEnabled());
    QVERIFY2(w.runReason()->text().contains(QStringLiteral("database")),
             qPrintable(w.runReason()->text()));
    QVERIFY(w.openDatabase(dir.filePath(QStringLiteral("runs.sqlite"))));
    QVERIFY(w.runButton()->isEnabled());
    // Top-K 3 does not fit the bottom layer's 2 experts.
    w.form()->designer()->setTopK(3);
    QVERIFY(!w.runButton()->isEnabled());
    QVERIFY(!w.runAction()->isEnabled());
    QVERIFY2(w.runReason()->text().contains(QStringLiteral("top_k")),
             qPrintable(w.runReason()->text()));
    QCOMPARE(w.runButton()->toolTip(), w.runReason()->text());
    QVERIFY(!w.runExperiment());
    QVERIFY(!w.controller()->isRunning());
    w.form()->designer()->setTopK(2);
    QVERIFY(w.runButton()->isEnabled());
  }

  void corruptDatabaseIsRefusedAndLeftAlone() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("notes.sqlite"));
    const QByteArray junk("these are my notes, not a database\n");
    {
      QFile f(path);
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write(junk);
    }
    MainWindow w;
    w.show();
    QVERIFY(!w.openDatabase(path));
    QVERIFY(!w.hasDatabase());
    QVERIFY2(w.lastError().contains(QStringLiteral("notes.sqlite")), qPrintable(w.lastError()));
    QVERIFY(!w.runButton()->isEnabled());
    QVERIFY2(w.runsBrowser()->statusLine().contains(QStringLiteral("database")),
             qPrintable(w.runsBrowser()->statusLine()));
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadOnly));
    QCOMPARE(f.readAll(), junk);

    // A good database afterwards works; a bad one then keeps the good one open.
    const QString good = dir.filePath(QStringLiteral("runs.sqlite"));
    QVERIFY(w.openDatabase(good));
    QVERIFY(!w.openDatabase(path));
    QCOMPARE(QFileInfo(w.databasePath()).fileName(), QStringLiteral("runs.sqlite"));
    QVERIFY(w.runButton()->isEnabled());
    closeMessageBoxes(w);
  }

  void runThroughTheWindow() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    MainWindow w;
    QVERIFY(w.openDatabase(db));
    w.resize(1280, 800);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    w.form()->setConfig(tinyConfig(8));
    QVERIFY2(w.runButton()->isEnabled(), qPrintable(w.runReason()->text()));

    QSignalSpy finished(w.controller(), &mola::app::TrainingController::finished);
    QSignalSpy steps(w.controller(), &mola::app::TrainingController::step);
    QTest::mouseClick(w.runButton(), Qt::LeftButton);
    QCOMPARE(w.currentTab(), MainWindow::Tab::Train);
    QVERIFY(w.controller()->isRunning());
    QVERIFY2(!w.runButton()->isEnabled(), "one run at a time");
    QVERIFY(w.runReason()->text().contains(QStringLiteral("training")));
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kTrainTimeoutMs);
    QCOMPARE(finished.at(0).at(0).value<mola::TrainOutcome>(), mola::TrainOutcome::Completed);
    QCOMPARE(steps.count(), 8);

    const qint64 run = w.trainView()->runId();
    QVERIFY(run > 0);
    QProgressBar* bar = w.trainView()->progressBar();
    QCOMPARE(bar->maximum(), 8);
    QCOMPARE(bar->value(), 8);
    QCOMPARE(bar->text(), QStringLiteral("step 8 / 8"));
    QVERIFY2(w.trainView()->rateLabel()->text().contains(QStringLiteral("tokens/s")),
             qPrintable(w.trainView()->rateLabel()->text()));
    QCOMPARE(w.trainView()->status(), RunStatus::Completed);
    // One sentence, not "Completed: completed 8 steps".
    QVERIFY2(w.trainView()->message().startsWith(QStringLiteral("Completed 8 steps; checkpoint")),
             qPrintable(w.trainView()->message()));
    QVERIFY(!w.trainView()->pauseButton()->isEnabled());
    QVERIFY(!w.trainView()->stopButton()->isEnabled());
    QVERIFY(!w.trainView()->resumeButton()->isEnabled());
    QVERIFY(w.runButton()->isEnabled());

    // What the window plotted is what the database holds.
    RunStore store = RunStore::open(db.toStdString(), false);
    const mola::RunRecord record = store.run(run);
    QCOMPARE(record.status, RunStatus::Completed);
    QCOMPARE(record.last_step, int64_t(8));
    const auto loss = store.metrics(run, "loss");
    QCOMPARE(loss.size(), size_t(8));
    QCPGraph* graph = w.trainView()->plots()->rawLossGraph();
    QCOMPARE(graph->dataCount(), 8);
    for (int i = 0; i < 8; ++i) {
      QCOMPARE(graph->data()->at(i)->key, double(loss[size_t(i)].step));
      QCOMPARE(graph->data()->at(i)->value, loss[size_t(i)].value);
    }
    QCOMPARE(store.routerStats(run).size(), size_t(2));  // steps 4 and 8
    QVERIFY(w.trainView()->plots()->entropyGraph(3) != nullptr);
    QCOMPARE(w.trainView()->plots()->entropyGraph(3)->dataCount(), 2);
    QCOMPARE(store.evalScores(run).size(), size_t(1));

    // The Runs view lists it as completed.
    QTRY_COMPARE_WITH_TIMEOUT(browserStatus(w, run), RunStatus::Completed, 5000);
    QCOMPARE(w.runsBrowser()->model()->rows()[size_t(browserRow(w, run))].best_score,
             std::optional<double>(store.evalScores(run)[0].accuracy));
  }

  void stopThenResumeFromTheTrainView() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    MainWindow w;
    QVERIFY(w.openDatabase(db));
    w.show();
    w.form()->setConfig(tinyConfig(16));
    QSignalSpy finished(w.controller(), &mola::app::TrainingController::finished);
    QSignalSpy paused(w.controller(), &mola::app::TrainingController::pausedChanged);
    bool clicked_pause = false, clicked_stop = false, resumed = false;
    connect(w.controller(), &mola::app::TrainingController::step, this,
            [&](const mola::StepMetrics& m) {
              if (m.step == 2 && !clicked_pause) {
                clicked_pause = true;
                QVERIFY(w.trainView()->pauseButton()->isEnabled());
                QVERIFY(w.trainView()->stopButton()->isEnabled());
                QTest::mouseClick(w.trainView()->pauseButton(), Qt::LeftButton);
              }
              // Stop once resumed (the worker may be a few steps ahead of these signals).
              if (m.step >= 4 && resumed && !clicked_stop) {
                clicked_stop = true;
                QTest::mouseClick(w.trainView()->stopButton(), Qt::LeftButton);
              }
            });
    QVERIFY(w.runExperiment());
    QTRY_VERIFY_WITH_TIMEOUT(paused.count() == 1, kTrainTimeoutMs);
    QVERIFY(w.controller()->isPaused());
    QVERIFY(!w.trainView()->pauseButton()->isEnabled());
    QVERIFY(w.trainView()->resumeButton()->isEnabled());
    // The step that was running when Pause was pressed still ends; then nothing comes.
    QTest::qWait(800);
    const int points_while_paused = lossPoints(w);
    QVERIFY(points_while_paused >= 2 && points_while_paused < 16);
    QTest::qWait(800);
    QCOMPARE(lossPoints(w), points_while_paused);
    QVERIFY2(w.trainView()->statusLabel()->text().contains(QStringLiteral("paused")),
             qPrintable(w.trainView()->statusLabel()->text()));
    resumed = true;
    QTest::mouseClick(w.trainView()->resumeButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kTrainTimeoutMs);
    QCOMPARE(finished.at(0).at(0).value<mola::TrainOutcome>(), mola::TrainOutcome::Stopped);
    const qint64 run = w.trainView()->runId();
    QCOMPARE(w.trainView()->status(), RunStatus::Stopped);
    QVERIFY2(w.trainView()->resumeButton()->isEnabled(),
             qPrintable(w.trainView()->resumeButton()->toolTip()));

    // Resume continues the stored run to its end, in the same view.
    QTest::mouseClick(w.trainView()->resumeButton(), Qt::LeftButton);
    QVERIFY(w.controller()->isRunning());
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 2, kTrainTimeoutMs);
    QCOMPARE(finished.at(1).at(0).value<mola::TrainOutcome>(), mola::TrainOutcome::Completed);
    QCOMPARE(w.trainView()->runId(), run);
    QCOMPARE(w.trainView()->progressBar()->value(), 16);
    QCOMPARE(lossPoints(w), 16);
    RunStore store = RunStore::open(db.toStdString(), false);
    QCOMPARE(store.run(run).status, RunStatus::Completed);
    QCOMPARE(store.metrics(run, "loss").size(), size_t(16));
  }

  void openingAnotherRunDuringTrainingKeepsTheControls() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    RunStore store = mola::openRunStore(db.toStdString());
    const qint64 other = writeRun(store, "earlier", "8-6-4-2", 20, 0.6, 0.6);
    MainWindow w;
    QVERIFY(w.openDatabase(db));
    w.show();
    w.form()->setConfig(tinyConfig(200));
    QSignalSpy started(w.controller(), &mola::app::TrainingController::started);
    QSignalSpy finished(w.controller(), &mola::app::TrainingController::finished);
    QVERIFY(w.runExperiment());
    QTRY_VERIFY_WITH_TIMEOUT(started.count() == 1, kTrainTimeoutMs);
    const qint64 live = started.at(0).at(0).toLongLong();
    QVERIFY(w.openRun(other));
    QCOMPARE(w.trainView()->runId(), other);
    QVERIFY(!w.trainView()->stopButton()->isEnabled());
    QVERIFY2(w.trainView()->resumeButton()->toolTip().contains(QStringLiteral("training")),
             qPrintable(w.trainView()->resumeButton()->toolTip()));
    // Back to the run in progress: read from the database now, and still stoppable.
    QVERIFY(w.openRun(live));
    QCOMPARE(w.trainView()->runId(), live);
    QVERIFY(w.trainView()->stopButton()->isEnabled());
    QTRY_VERIFY_WITH_TIMEOUT(lossPoints(w) >= 2, 20000);  // followed from the database
    QTest::mouseClick(w.trainView()->stopButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kTrainTimeoutMs);
    QCOMPARE(finished.at(0).at(0).value<mola::TrainOutcome>(), mola::TrainOutcome::Stopped);
    QTRY_COMPARE_WITH_TIMEOUT(w.trainView()->status(), RunStatus::Stopped, 5000);
    QCOMPARE(store.run(live).status, RunStatus::Stopped);
  }

  // Processes 2 in Design: the workbench starts `mola train --nproc 2`, follows the run from the
  // database (no pause: two processes cannot be paused from here), stops every rank with Stop,
  // and resumes the run with its two processes.
  void aRunOfTwoProcessesIsTrainedByMolaAndFollowed() {
    qputenv("MOLA_CLI", QByteArray(MOLA_CLI));
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    MainWindow w;
    QVERIFY(w.openDatabase(db));
    w.show();
    mola::ExperimentConfig c = tinyConfig(6);
    c.processes = 2;
    w.form()->setConfig(c);
    QCOMPARE(w.form()->config().processes, 2);
    QSignalSpy created(w.controller(), &mola::app::TrainingController::runCreated);
    QSignalSpy finished(w.controller(), &mola::app::TrainingController::finished);
    QVERIFY(w.runExperiment());
    QTRY_VERIFY_WITH_TIMEOUT(created.count() == 1, kTrainTimeoutMs);
    const qint64 id = created.at(0).at(0).toLongLong();
    QVERIFY(w.controller()->inOtherProcesses());
    QCOMPARE(w.trainView()->runId(), id);
    QVERIFY(!w.trainView()->pauseButton()->isEnabled());
    QVERIFY(w.trainView()->stopButton()->isEnabled());
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kTrainTimeoutMs);
    QCOMPARE(finished.at(0).at(0).value<mola::TrainOutcome>(), mola::TrainOutcome::Completed);
    QTRY_COMPARE_WITH_TIMEOUT(w.trainView()->status(), RunStatus::Completed, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(lossPoints(w), 6, 10000);  // every step, read from the database
    {
      RunStore store = RunStore::open(db.toStdString(), false);
      const mola::RunRecord r = store.run(id);
      QVERIFY2(r.host.find("2 processes:") != std::string::npos, r.host.c_str());
      QVERIFY2(r.host.find("rank 1: ") != std::string::npos, r.host.c_str());
    }

    // A longer one, stopped from the window and resumed with its two processes.
    c.max_steps = 20000;  // minutes: it is stopped long before
    c.name = "two-processes-stopped";
    w.form()->setConfig(c);
    QVERIFY(w.runExperiment());
    QTRY_VERIFY_WITH_TIMEOUT(created.count() == 2, kTrainTimeoutMs);
    const qint64 long_id = created.at(1).at(0).toLongLong();
    QTRY_VERIFY_WITH_TIMEOUT(lossPoints(w) >= 2, kTrainTimeoutMs);
    QTest::mouseClick(w.trainView()->stopButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 2, kTrainTimeoutMs);
    QCOMPARE(finished.at(1).at(0).value<mola::TrainOutcome>(), mola::TrainOutcome::Stopped);
    QTRY_COMPARE_WITH_TIMEOUT(w.trainView()->status(), RunStatus::Stopped, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(w.trainView()->resumeButton()->isEnabled(), 5000);
    const int stopped_at = lossPoints(w);
    QTest::mouseClick(w.trainView()->resumeButton(), Qt::LeftButton);
    QVERIFY(w.controller()->inOtherProcesses());
    QCOMPARE(w.controller()->runId(), long_id);
    QTRY_COMPARE_WITH_TIMEOUT(w.trainView()->status(), RunStatus::Running, 20000);
    QTRY_VERIFY_WITH_TIMEOUT(lossPoints(w) > stopped_at + 2, kTrainTimeoutMs);  // followed
    QVERIFY(w.trainView()->stopButton()->isEnabled());
    QTest::mouseClick(w.trainView()->stopButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 3, kTrainTimeoutMs);
    QCOMPARE(finished.at(2).at(0).value<mola::TrainOutcome>(), mola::TrainOutcome::Stopped);
    QCOMPARE(RunStore::open(db.toStdString(), false).run(long_id).status, RunStatus::Stopped);
  }

  // Without a `mola` program to start, a run of two processes fails with a message saying so, and
  // the window can run the next experiment.
  void aRunOfTwoProcessesWithoutMolaFailsClearly() {
    qputenv("MOLA_CLI", QByteArray("/nonexistent/mola"));
    QTemporaryDir dir;
    MainWindow w;
    QVERIFY(w.openDatabase(dir.filePath(QStringLiteral("runs.sqlite"))));
    w.show();
    mola::ExperimentConfig c = tinyConfig(2);
    c.processes = 2;
    w.form()->setConfig(c);
    QSignalSpy finished(w.controller(), &mola::app::TrainingController::finished);
    QVERIFY(w.runExperiment());
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, 10000);
    QCOMPARE(finished.at(0).at(0).value<mola::TrainOutcome>(), mola::TrainOutcome::Failed);
    QVERIFY2(finished.at(0).at(1).toString().contains(QStringLiteral("`mola` program")),
             qPrintable(finished.at(0).at(1).toString()));
    QVERIFY(!w.controller()->isRunning());
    closeMessageBoxes(w);
    qputenv("MOLA_CLI", QByteArray(MOLA_CLI));
    c.processes = 1;
    w.form()->setConfig(c);
    QVERIFY(w.runExperiment());
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 2, kTrainTimeoutMs);
    QCOMPARE(finished.at(1).at(0).value<mola::TrainOutcome>(), mola::TrainOutcome::Completed);
  }

  void preparingTheModelShowsItsProgress() {
    QTemporaryDir dir;
    MainWindow w;
    QVERIFY(w.openDatabase(dir.filePath(QStringLiteral("runs.sqlite"))));
    w.show();
    w.form()->setConfig(tinyConfig(2));
    QSignalSpy finished(w.controller(), &mola::app::TrainingController::finished);
    QVERIFY(w.runExperiment());
    QProgressBar* bar = w.trainView()->progressBar();
    QCOMPARE(bar->maximum(), 0);  // busy while the model loads
    // What the controller reports while it trains a missing built-in base (see the next test).
    emit w.controller()->preparing(3, 300);
    QCOMPARE(bar->maximum(), 300);
    QCOMPARE(bar->value(), 3);
    QVERIFY2(bar->text().contains(QStringLiteral("Preparing")), qPrintable(bar->text()));
    QVERIFY(w.trainView()->stopButton()->isEnabled());
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kTrainTimeoutMs);
    QCOMPARE(bar->text(), QStringLiteral("step 2 / 2"));
  }

  void firstUseOfThePretrainedBaseShowsItsProgress() {
    // An empty cache: the built-in base is trained before the run, several minutes on a busy
    // 2-core machine (more than Qt Test's 5-minute limit per test function).
    if (!qEnvironmentVariableIsSet("MOLA_TEST_PRETRAIN"))
      QSKIP(
          "trains the built-in base from scratch: set MOLA_TEST_PRETRAIN=1 and "
          "QTEST_FUNCTION_TIMEOUT=1500000 to run it");
    QTemporaryDir cache;
    const QByteArray old_cache = qgetenv("MOLA_CACHE_DIR");
    qputenv("MOLA_CACHE_DIR", cache.path().toUtf8());
    QTemporaryDir dir;
    MainWindow w;
    QVERIFY(w.openDatabase(dir.filePath(QStringLiteral("runs.sqlite"))));
    w.show();
    mola::ExperimentConfig c = tinyConfig(2);
    c.model = "builtin:tiny-pretrained";
    w.form()->setConfig(c);
    QSignalSpy preparing(w.controller(), &mola::app::TrainingController::preparing);
    QSignalSpy finished(w.controller(), &mola::app::TrainingController::finished);
    QVERIFY(w.runExperiment());
    QProgressBar* bar = w.trainView()->progressBar();
    // Busy before anything is known, then counting the base's own steps.
    QVERIFY(bar->maximum() == 0 || preparing.count() > 0);
    QTRY_VERIFY_WITH_TIMEOUT(preparing.count() >= 3, kPretrainTimeoutMs);
    const qint64 total = preparing.last().at(1).toLongLong();
    QVERIFY(total > 0);
    QTRY_VERIFY_WITH_TIMEOUT(bar->value() >= 3 && bar->maximum() == int(total), 10000);
    QVERIFY2(bar->text().contains(QStringLiteral("Preparing")), qPrintable(bar->text()));
    QVERIFY(w.trainView()->runId() > 0);  // the run's row exists meanwhile
    QCOMPARE(w.trainView()->status(), RunStatus::Running);
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kPretrainTimeoutMs);
    QCOMPARE(finished.at(0).at(0).value<mola::TrainOutcome>(), mola::TrainOutcome::Completed);
    QCOMPARE(preparing.last().at(0).toLongLong(), total);
    QCOMPARE(bar->text(), QStringLiteral("step 2 / 2"));
    QCOMPARE(QDir(cache.path()).entryList({QStringLiteral("tiny-base-*.safetensors")}).size(), 1);
    qputenv("MOLA_CACHE_DIR", old_cache);
    if (old_cache.isEmpty()) qunsetenv("MOLA_CACHE_DIR");
  }

  // A model path that does not exist keeps Run disabled with the reason; a file whose header
  // reads but whose weights are cut short fails the run with the path named.
  void badModelPathFailsWithThePath() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    MainWindow w;
    QVERIFY(w.openDatabase(db));
    w.show();
    mola::ExperimentConfig c = tinyConfig(8);
    c.name = "bad-model";
    c.model = dir.filePath(QStringLiteral("no-such-model")).toStdString();
    w.form()->setConfig(c);
    QVERIFY(!w.runButton()->isEnabled());
    QVERIFY2(w.runReason()->text().contains(QString::fromStdString(c.model)) &&
                 w.runReason()->text().contains(QStringLiteral("no such file")),
             qPrintable(w.runReason()->text()));

    // A llama2.c header for 2 layers of width 64, and 100 bytes of the 471,068 it promises.
    c.model = dir.filePath(QStringLiteral("cut.bin")).toStdString();
    {
      std::ofstream out(c.model, std::ios::binary);
      const int32_t header[7] = {64, 172, 2, 4, 4, 259, 128};
      out.write(reinterpret_cast<const char*>(header), sizeof header);
      out << std::string(100, '\0');
    }
    c.allocation = "2-2";
    w.form()->setConfig(c);
    QVERIFY2(w.runButton()->isEnabled(), qPrintable(w.runReason()->text()));
    QSignalSpy finished(w.controller(), &mola::app::TrainingController::finished);
    QTest::mouseClick(w.runButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kTrainTimeoutMs);
    QCOMPARE(finished.at(0).at(0).value<mola::TrainOutcome>(), mola::TrainOutcome::Failed);

    const QString path = QString::fromStdString(c.model);
    QVERIFY2(w.lastError().contains(path), qPrintable(w.lastError()));
    QVERIFY2(messageBoxTexts(w).join(' ').contains(path), qPrintable(messageBoxTexts(w).join(' ')));
    QVERIFY2(w.trainView()->message().contains(path), qPrintable(w.trainView()->message()));
    QCOMPARE(w.trainView()->status(), RunStatus::Failed);
    // Nothing is left of "Loading the model and data...".
    QVERIFY2(!w.trainView()->rateLabel()->text().contains(QStringLiteral("Loading")),
             qPrintable(w.trainView()->rateLabel()->text()));
    QVERIFY(!w.trainView()->progressBar()->text().contains(QStringLiteral("Loading")));
    QVERIFY(w.isVisible());
    QVERIFY(w.runButton()->isEnabled());  // the app stays usable

    RunStore store = RunStore::open(db.toStdString(), false);
    const auto runs = store.listRuns();
    QCOMPARE(runs.size(), size_t(1));
    QCOMPARE(runs[0].status, RunStatus::Failed);
    QCOMPARE(runs[0].name, std::string("bad-model"));
    QVERIFY2(QString::fromStdString(runs[0].message).contains(path), runs[0].message.c_str());
    QTRY_COMPARE_WITH_TIMEOUT(browserStatus(w, runs[0].id), RunStatus::Failed, 5000);
    closeMessageBoxes(w);
  }

  void followsARunWrittenByAnotherConnection() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    MainWindow w;
    QVERIFY(w.openDatabase(db));
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));

    // Another connection, as `mola train` in a terminal would have.
    RunStore cli = RunStore::open(db.toStdString(), false);
    mola::ExperimentConfig c = tinyConfig(20);
    c.name = "from-the-cli";
    const qint64 id = cli.createRun(c.name, mola::experimentToJson(c), "2,4,6,8", c.model);
    auto writeSteps = [&](int from, int to) {
      for (int s = from; s <= to; ++s)
        cli.addMetrics(id, {{s, "loss", 3.0 - 0.1 * s},
                            {s, "lr", 1e-3},
                            {s, "tokens_per_s", 4000.0},
                            {s, "elapsed_s", 0.5 * s}});
    };
    writeSteps(1, 5);

    // The Runs view finds it on its own (it re-reads every 2 s).
    QTRY_VERIFY_WITH_TIMEOUT(browserRow(w, id) >= 0, 5000);
    QCOMPARE(browserStatus(w, id), RunStatus::Running);
    w.showTab(MainWindow::Tab::Runs);
    w.runsBrowser()->selectRuns({id});
    QTest::mouseClick(w.runsBrowser()->openButton(), Qt::LeftButton);
    QCOMPARE(w.currentTab(), MainWindow::Tab::Train);
    QCOMPARE(w.trainView()->runId(), id);
    QCOMPARE(lossPoints(w), 5);
    QCOMPARE(w.trainView()->progressBar()->maximum(), 20);
    QCOMPARE(w.trainView()->progressBar()->value(), 5);
    // Another process trains it: nothing here can pause or stop it.
    QVERIFY(!w.trainView()->pauseButton()->isEnabled());
    QVERIFY(!w.trainView()->stopButton()->isEnabled());

    // New points, router statistics and a score appear without any user action.
    writeSteps(6, 12);
    mola::RouterStatsSnapshot snap;
    snap.step = 12;
    mola::LayerRouterStats layer;
    layer.layer = 3;
    layer.tokens = 100;
    layer.token_fraction = {0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2};
    layer.mean_probability = layer.token_fraction;
    layer.entropy = 2.0;
    layer.normalized_entropy = 0.96;
    layer.load_cv = 0.35;
    snap.layers.push_back(layer);
    cli.addRouterStats(id, snap);
    mola::EvalScore score;
    score.step = 12;
    score.benchmark = "synthetic:largest:32:7";
    score.protocol = "likelihood";
    score.accuracy = 0.5;
    score.n = 32;
    score.ci_low = 0.34;
    score.ci_high = 0.66;
    cli.addEvalScore(id, score);
    QTRY_COMPARE_WITH_TIMEOUT(lossPoints(w), 12, 4000);
    QCOMPARE(w.trainView()->plots()->rawLossGraph()->data()->at(11)->value, 3.0 - 0.1 * 12);
    QCOMPARE(w.trainView()->progressBar()->value(), 12);
    QTRY_VERIFY_WITH_TIMEOUT(w.trainView()->plots()->entropyGraph(3) != nullptr, 3000);
    QCOMPARE(w.trainView()->plots()->entropyGraph(3)->dataCount(), 1);
    // The entropy plot shows the normalised entropy (1 = a uniform router).
    QCOMPARE(w.trainView()->plots()->entropyGraph(3)->data()->at(0)->value, 0.96);
    // The eval plot's one point: the stored accuracy.
    auto evalPoints = [&] {
      QList<double> values;
      QCustomPlot* plot = w.trainView()->plots()->evalPlot();
      for (int g = 0; g < plot->graphCount(); ++g)
        for (auto it = plot->graph(g)->data()->constBegin();
             it != plot->graph(g)->data()->constEnd(); ++it)
          values << it->value;
      return values;
    };
    QTRY_COMPARE_WITH_TIMEOUT(evalPoints(), QList<double>{0.5}, 3000);

    // The end of the run is seen too, and the following stops.
    writeSteps(13, 20);
    cli.setStatus(id, RunStatus::Completed, "completed 20 steps");
    QTRY_COMPARE_WITH_TIMEOUT(w.trainView()->status(), RunStatus::Completed, 4000);
    QCOMPARE(lossPoints(w), 20);
    QCOMPARE(w.trainView()->progressBar()->value(), 20);
    QTRY_COMPARE_WITH_TIMEOUT(browserStatus(w, id), RunStatus::Completed, 5000);
  }

  void shortcutsAndTabNames() {
    MainWindow w;
    w.show();
    QVERIFY(QTest::qWaitForWindowActive(&w));
    QTest::keyClick(&w, Qt::Key_3, Qt::ControlModifier);
    QCOMPARE(w.currentTab(), MainWindow::Tab::Runs);
    QTest::keyClick(&w, Qt::Key_4, Qt::ControlModifier);
    QCOMPARE(w.currentTab(), MainWindow::Tab::Compare);
    QTest::keyClick(&w, Qt::Key_1, Qt::ControlModifier);
    QCOMPARE(w.currentTab(), MainWindow::Tab::Design);
    QCOMPARE(w.runAction()->shortcut(), QKeySequence(QStringLiteral("Ctrl+R")));
    QCOMPARE(MainWindow::tabFromName(QStringLiteral("Train")), MainWindow::Tab::Train);
    QCOMPARE(MainWindow::tabFromName(QStringLiteral("compare")), MainWindow::Tab::Compare);
    QVERIFY(!MainWindow::tabFromName(QStringLiteral("plots")).has_value());
    for (int i = 0; i < 4; ++i) QVERIFY(!w.tabs()->tabIcon(i).isNull());
  }

  void geometryAndTabAreRemembered() {
    {
      MainWindow w;
      w.show();
      w.resize(1100, 700);
      w.showTab(MainWindow::Tab::Runs);
      QVERIFY(w.close());
    }
    MainWindow again;
    QCOMPARE(again.currentTab(), MainWindow::Tab::Runs);
    QCOMPARE(again.size(), QSize(1100, 700));
    QSettings().clear();  // the next windows start as new
  }

  void screenshots() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    RunStore store = mola::openRunStore(db.toStdString());
    const qint64 a = writeRun(store, "quickstart-2-4-6-8", "2-4-6-8", 150, 0.35, 0.72);
    const qint64 b = writeRun(store, "quickstart-8-6-4-2", "8-6-4-2", 150, 0.5, 0.61);
    const qint64 c = writeRun(store, "quickstart-5-5-5-5", "5-5-5-5", 150, 0.42, 0.66);
    writeRun(store, "lr-sweep-3e-3", "2-4-6-8", 70, 0.9, 0.4, RunStatus::Stopped);
    MainWindow w;
    QVERIFY(w.openDatabase(db));
    w.resize(1280, 800);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QVERIFY(w.openExperiment(QStringLiteral(MOLA_EXPERIMENTS_DIR "/quickstart.json")));
    w.showTab(MainWindow::Tab::Design);
    QApplication::processEvents();
    QVERIFY(saveScreenshot(w, "workbench_design.png"));

    QVERIFY(w.openRun(a));
    QTest::qWait(100);
    w.replotNow();
    QCOMPARE(lossPoints(w), 150);
    QVERIFY(saveScreenshot(w, "workbench_train.png"));

    w.showTab(MainWindow::Tab::Runs);
    QApplication::processEvents();
    QVERIFY(saveScreenshot(w, "workbench_runs.png"));

    QVERIFY(w.compareRuns({a, b, c}));
    QTest::qWait(100);
    QCOMPARE(w.compareView()->curveCount(mola::widgets::CompareView::Curve::Loss), 3);
    QVERIFY(saveScreenshot(w, "workbench_compare.png"));
    QCOMPARE(w.grab().size(), QSize(1280, 800));
  }
};

QTEST_MAIN(WorkbenchTest)
#include "workbench_test.moc"
