// SPDX-License-Identifier: GPL-3.0-or-later
// TrainingController end to end: the tiny model trained on a worker thread into a real SQLite file,
// signals in order, a responsive event loop, stop/pause/resume, and failures that leave the app up.
#include <QElapsedTimer>
#include <QEventLoop>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include <sqlite3.h>

#include "runs_loader.h"
#include "store/run_store.h"
#include "tiny_experiment.h"
#include "training_controller.h"

using mola::RunStatus;
using mola::RunStore;
using mola::TrainOutcome;
using mola::app::TrainingController;

namespace {

namespace fs = std::filesystem;

// The quickstart's shape on the random tiny model: small enough for seconds per run.
mola::ExperimentConfig quickConfig(int max_steps) {
  return mola::test::tinyExperiment("controller-test", max_steps);
}

// Runs the event loop until `spy` has `count` signals or `timeout_ms` passed.
bool waitForCount(QSignalSpy& spy, int count, int timeout_ms = 240000) {
  if (spy.count() >= count) return true;
  QEventLoop loop;
  QTimer poll;
  QElapsedTimer clock;
  clock.start();
  QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
    if (spy.count() >= count || clock.elapsed() > timeout_ms) loop.quit();
  });
  poll.start(5);
  loop.exec();
  return spy.count() >= count;
}

TrainOutcome outcomeOf(const QSignalSpy& finished, int i = 0) {
  return finished.at(i).at(0).value<TrainOutcome>();
}

}  // namespace

class TrainingControllerTest : public QObject {
  Q_OBJECT

 private slots:
  void trainsIntoTheStoreWithoutBlockingTheEventLoop() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    TrainingController controller;
    QSignalSpy started(&controller, &TrainingController::started);
    QSignalSpy steps(&controller, &TrainingController::step);
    QSignalSpy stats(&controller, &TrainingController::routerStats);
    QSignalSpy evaluated(&controller, &TrainingController::evaluated);
    QSignalSpy checkpoints(&controller, &TrainingController::checkpointSaved);
    QSignalSpy failed(&controller, &TrainingController::failed);
    QSignalSpy finished(&controller, &TrainingController::finished);

    // A 10 ms timer on the GUI thread: the gaps between its ticks are how long the event loop was
    // kept from running while the worker trained.
    std::vector<qint64> gaps_us;
    QElapsedTimer since_tick;
    QTimer tick;
    tick.setTimerType(Qt::PreciseTimer);
    connect(&tick, &QTimer::timeout, this, [&] {
      gaps_us.push_back(since_tick.nsecsElapsed() / 1000);
      since_tick.restart();
    });

    QVERIFY(controller.start(quickConfig(12), db));
    QVERIFY2(!controller.start(quickConfig(12), db), "one run at a time");
    QVERIFY(controller.isRunning());
    since_tick.start();
    tick.start(10);
    QVERIFY(waitForCount(finished, 1));
    tick.stop();

    QCOMPARE(failed.count(), 0);
    QCOMPARE(outcomeOf(finished), TrainOutcome::Completed);
    QVERIFY(!controller.isRunning());
    QCOMPARE(started.count(), 1);
    const qint64 run = started.at(0).at(0).toLongLong();
    QVERIFY(run > 0);
    QCOMPARE(controller.runId(), run);
    const auto info = started.at(0).at(1).value<mola::RunStarted>();
    QCOMPARE(info.total_steps, int64_t(12));
    QCOMPARE(info.first_step, int64_t(0));
    QCOMPARE(info.train_examples, int64_t(64));
    QCOMPARE(info.experts_per_layer, (std::vector<int>{2, 4, 6, 8}));

    QCOMPARE(steps.count(), 12);
    for (int i = 0; i < steps.count(); ++i) {
      const auto m = steps.at(i).at(0).value<mola::StepMetrics>();
      QCOMPARE(m.step, int64_t(i + 1));
      QCOMPARE(m.total_steps, int64_t(12));
      QVERIFY(std::isfinite(m.loss) && m.loss > 0);
    }
    QCOMPARE(stats.count(), 3);  // steps 4, 8, 12
    for (int i = 0; i < 3; ++i) {
      const auto s = stats.at(i).at(0).value<mola::RouterStatsSnapshot>();
      QCOMPARE(s.step, int64_t(4 * (i + 1)));
      QCOMPARE(s.layers.size(), size_t(4));
      QCOMPARE(s.layers[3].token_fraction.size(), size_t(8));
    }
    QCOMPARE(evaluated.count(), 1);
    const auto score = evaluated.at(0).at(0).value<mola::EvalScore>();
    QCOMPARE(score.step, int64_t(12));
    QCOMPARE(score.n, int64_t(32));
    QVERIFY(score.id > 0);
    QVERIFY(checkpoints.count() >= 1);
    QCOMPARE(checkpoints.last().at(0).toLongLong(), qint64(12));

    // The event loop kept running: nearly every tick came on time.
    QVERIFY(gaps_us.size() > 20);
    std::vector<qint64> sorted = gaps_us;
    std::sort(sorted.begin(), sorted.end());
    const double p95_ms = sorted[sorted.size() * 95 / 100] / 1000.0;
    const double max_ms = sorted.back() / 1000.0;
    qInfo("event loop during training: %zu ticks, 95th percentile gap %.1f ms, maximum %.1f ms",
          sorted.size(), p95_ms, max_ms);
    QVERIFY2(p95_ms < 50.0, qPrintable(QStringLiteral("p95 gap %1 ms").arg(p95_ms)));

    // The database holds what the signals said.
    RunStore store = RunStore::open(db.toStdString(), false);
    const mola::RunRecord record = store.run(run);
    QCOMPARE(record.status, RunStatus::Completed);
    QCOMPARE(record.last_step, int64_t(12));
    QCOMPARE(record.allocation, std::string("2,4,6,8"));  // 2-4-6-8 over 4 layers, one each
    const auto loss = store.metrics(run, "loss");
    QCOMPARE(loss.size(), size_t(12));
    for (size_t i = 0; i < loss.size(); ++i) {
      QCOMPARE(loss[i].step, int64_t(i + 1));
      QCOMPARE(loss[i].value, steps.at(int(i)).at(0).value<mola::StepMetrics>().loss);
    }
    QCOMPARE(store.routerStats(run).size(), size_t(3));
    const auto scores = store.evalScores(run);
    QCOMPARE(scores.size(), size_t(1));
    QCOMPARE(scores[0].id, score.id);
    QCOMPARE(scores[0].accuracy, score.accuracy);
    QCOMPARE(store.predictions(scores[0].id).size(), size_t(32));
    const auto stored_checkpoints = store.checkpoints(run);
    QCOMPARE(stored_checkpoints.size(), size_t(1));
    QVERIFY(fs::exists(fs::path(stored_checkpoints[0].path) / "adapter.safetensors"));
    // Checkpoints live in the database's own run folder, <database>-runs/<id>/, as `mola train`
    // puts them.
    QVERIFY(stored_checkpoints[0].path.rfind(
                (fs::path(db.toStdString() + "-runs") / std::to_string(run)).string() + "/", 0) ==
            0);

    // The runs browser's rows for this database.
    const auto rows = mola::app::loadRunsRows(store);
    QCOMPARE(rows.size(), size_t(1));
    QCOMPARE(qint64(rows[0].record.id), run);
    QCOMPARE(rows[0].allocation.perLayer(), (std::vector<int>{2, 4, 6, 8}));
    QVERIFY(rows[0].best_score.has_value());
    QCOMPARE(*rows[0].best_score, score.accuracy);
    QCOMPARE(rows[0].best_benchmark, QStringLiteral("synthetic:largest:32:7"));
  }

  void stopSavesACheckpointAndResumeFinishesTheRun() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    TrainingController controller;
    QSignalSpy started(&controller, &TrainingController::started);
    QSignalSpy steps(&controller, &TrainingController::step);
    QSignalSpy finished(&controller, &TrainingController::finished);
    connect(&controller, &TrainingController::step, &controller, [&](const mola::StepMetrics& m) {
      if (m.step == 3) controller.stop();
    });
    QVERIFY(controller.start(quickConfig(24), db));
    QVERIFY(waitForCount(finished, 1));
    QCOMPARE(outcomeOf(finished), TrainOutcome::Stopped);
    QVERIFY2(finished.at(0).at(1).toString().contains(QStringLiteral("stopped at step")),
             qPrintable(finished.at(0).at(1).toString()));
    const qint64 run = controller.runId();
    const int64_t stopped_at = steps.last().at(0).value<mola::StepMetrics>().step;
    QVERIFY2(stopped_at >= 3 && stopped_at < 24, qPrintable(QString::number(stopped_at)));
    {
      RunStore store = RunStore::open(db.toStdString(), false);
      QCOMPARE(store.run(run).status, RunStatus::Stopped);
      const auto checkpoints = store.checkpoints(run);
      QCOMPARE(checkpoints.size(), size_t(1));
      QCOMPARE(checkpoints[0].step, stopped_at);
      QVERIFY(fs::exists(fs::path(checkpoints[0].path) / "optimizer.pt"));
    }

    // Resume continues from the checkpoint to the end, every step stored once.
    steps.clear();
    QVERIFY(controller.resumeRun(run, db));
    QVERIFY(waitForCount(finished, 2));
    QCOMPARE(outcomeOf(finished, 1), TrainOutcome::Completed);
    QCOMPARE(started.count(), 2);
    QCOMPARE(started.at(1).at(0).toLongLong(), run);
    QCOMPARE(started.at(1).at(1).value<mola::RunStarted>().first_step, stopped_at);
    QCOMPARE(steps.count(), int(24 - stopped_at));
    QCOMPARE(steps.first().at(0).value<mola::StepMetrics>().step, stopped_at + 1);
    RunStore store = RunStore::open(db.toStdString(), false);
    QCOMPARE(store.run(run).status, RunStatus::Completed);
    const auto loss = store.metrics(run, "loss");
    QCOMPARE(loss.size(), size_t(24));
    for (size_t i = 0; i < loss.size(); ++i) QCOMPARE(loss[i].step, int64_t(i + 1));

    // A completed run cannot be resumed: a clear failure, nothing changed.
    QSignalSpy failed(&controller, &TrainingController::failed);
    QVERIFY(controller.resumeRun(run, db));
    QVERIFY(waitForCount(finished, 3));
    QCOMPARE(failed.count(), 1);
    QVERIFY2(failed.at(0).at(0).toString().contains(QStringLiteral("already completed")),
             qPrintable(failed.at(0).at(0).toString()));
    QCOMPARE(RunStore::open(db.toStdString(), false).run(run).status, RunStatus::Completed);
  }

  void pauseHoldsTheStepsUntilResume() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    TrainingController controller;
    QSignalSpy started(&controller, &TrainingController::started);
    QSignalSpy steps(&controller, &TrainingController::step);
    QSignalSpy paused(&controller, &TrainingController::pausedChanged);
    QSignalSpy finished(&controller, &TrainingController::finished);
    // Paused before the trainer exists: the pause applies from its first step on, so the run
    // loads (started) and then trains nothing until resumed.
    QElapsedTimer wall;
    wall.start();
    QVERIFY(controller.start(quickConfig(200), db));
    controller.pause();
    QVERIFY(controller.isPaused());
    QCOMPARE(paused.count(), 1);
    QVERIFY(waitForCount(started, 1));
    QTest::qWait(1500);
    QCOMPARE(steps.count(), 0);
    QCOMPARE(RunStore::open(db.toStdString(), false).run(controller.runId()).status,
             RunStatus::Running);

    controller.resume();
    QVERIFY(!controller.isPaused());
    QCOMPARE(paused.count(), 2);
    QVERIFY(waitForCount(steps, 2, 120000));
    // The elapsed time (and so the ETA) leaves out the 1.5 s paused.
    const double elapsed = steps.at(1).at(0).value<mola::StepMetrics>().elapsed_s;
    QVERIFY2(elapsed + 1.4 < double(wall.elapsed()) / 1000.0,
             qPrintable(QStringLiteral("elapsed %1 s of %2 s wall")
                            .arg(elapsed)
                            .arg(double(wall.elapsed()) / 1000.0)));

    // Paused mid-run: at most the step in progress still arrives.
    controller.pause();
    const int at_pause = steps.count();
    QTest::qWait(2000);
    QVERIFY2(steps.count() <= at_pause + 1,
             qPrintable(
                 QStringLiteral("%1 steps after pausing at %2").arg(steps.count()).arg(at_pause)));

    // Stop while paused ends the run with a checkpoint, without another step.
    const int before_stop = steps.count();
    controller.stop();
    QVERIFY(waitForCount(finished, 1, 120000));
    QCOMPARE(outcomeOf(finished), TrainOutcome::Stopped);
    QVERIFY(steps.count() <= before_stop + 1);
    QVERIFY(!controller.isPaused());
    const auto checkpoints =
        RunStore::open(db.toStdString(), false).checkpoints(controller.runId());
    QCOMPARE(checkpoints.size(), size_t(1));
    QCOMPARE(checkpoints[0].step, steps.last().at(0).value<mola::StepMetrics>().step);
  }

  // Pause while the built-in base is being prepared holds the preparation too (it kept going
  // before: 256 -> 277 of 300 in 5 s); Stop then ends it without caching anything.
  void pauseHoldsThePreparationOfTheBase() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    qputenv("MOLA_CACHE_DIR", dir.filePath(QStringLiteral("cache")).toUtf8());  // no base yet
    TrainingController controller;
    QSignalSpy preparing(&controller, &TrainingController::preparing);
    QSignalSpy finished(&controller, &TrainingController::finished);
    mola::ExperimentConfig c = quickConfig(4);
    c.model = "builtin:tiny-pretrained";
    QVERIFY(controller.start(c, db));
    QVERIFY(waitForCount(preparing, 3, 120000));
    controller.pause();
    QTest::qWait(500);  // the step in progress may still end
    const qint64 at_pause = preparing.last().at(0).toLongLong();
    QTest::qWait(2500);
    const qint64 later = preparing.last().at(0).toLongLong();
    QVERIFY2(later == at_pause,
             qPrintable(
                 QStringLiteral("prepared steps %1 -> %2 while paused").arg(at_pause).arg(later)));
    controller.stop();
    QVERIFY(waitForCount(finished, 1, 60000));
    QCOMPARE(outcomeOf(finished), TrainOutcome::Stopped);
    qunsetenv("MOLA_CACHE_DIR");
  }

  void badInputFailsTheRunAndTheAppStaysUp() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    TrainingController controller;
    QSignalSpy failed(&controller, &TrainingController::failed);
    QSignalSpy finished(&controller, &TrainingController::finished);

    mola::ExperimentConfig config = quickConfig(12);
    const std::string missing = dir.filePath(QStringLiteral("no-such-model")).toStdString();
    config.model = missing;
    QVERIFY(controller.start(config, db));
    QVERIFY(waitForCount(finished, 1));
    QCOMPARE(outcomeOf(finished), TrainOutcome::Failed);
    QCOMPARE(failed.count(), 1);
    const QString message = failed.at(0).at(0).toString();
    QVERIFY2(message.contains(QString::fromStdString(missing)), qPrintable(message));
    const qint64 run = controller.runId();
    {
      RunStore store = RunStore::open(db.toStdString(), false);
      QCOMPARE(store.run(run).status, RunStatus::Failed);
      QVERIFY2(store.run(run).message.find(missing) != std::string::npos,
               store.run(run).message.c_str());
    }

    // No checkpoint: resuming starts over from step 0, and fails for the same reason, named.
    QSignalSpy notices(&controller, &TrainingController::notice);
    QVERIFY(controller.resumeRun(run, db));
    QVERIFY(waitForCount(finished, 2));
    QCOMPARE(failed.count(), 2);
    QVERIFY2(failed.at(1).at(0).toString().contains(QString::fromStdString(missing)),
             qPrintable(failed.at(1).at(0).toString()));
    QCOMPARE(notices.count(), 1);
    QVERIFY2(notices.at(0).at(0).toString().contains(QStringLiteral("starts again from step 0")),
             qPrintable(notices.at(0).at(0).toString()));
    QCOMPARE(RunStore::open(db.toStdString(), false).run(run).status, RunStatus::Failed);

    // An invalid experiment is refused before any row is written.
    config = quickConfig(12);
    config.top_k = 3;  // the bottom layer has 2 experts
    QVERIFY(controller.start(config, db));
    QVERIFY(waitForCount(finished, 3));
    QCOMPARE(failed.count(), 3);
    QVERIFY2(failed.at(2).at(0).toString().contains(QStringLiteral("top_k")),
             qPrintable(failed.at(2).at(0).toString()));
    QCOMPARE(RunStore::open(db.toStdString(), false).listRuns().size(), size_t(1));

    // A file that is not a run database is named, and left as it was.
    const QString notes = dir.filePath(QStringLiteral("notes.sqlite"));
    std::ofstream(notes.toStdString()) << "my notes, not a database";
    QVERIFY(controller.start(quickConfig(12), notes));
    QVERIFY(waitForCount(finished, 4));
    QCOMPARE(failed.count(), 4);
    QVERIFY2(failed.at(3).at(0).toString().contains(QStringLiteral("notes.sqlite")),
             qPrintable(failed.at(3).at(0).toString()));
    QCOMPARE(fs::file_size(notes.toStdString()), uintmax_t(24));

    // Still able to train afterwards.
    QVERIFY(controller.start(quickConfig(2), db));
    QVERIFY(waitForCount(finished, 5));
    QCOMPARE(outcomeOf(finished, 4), TrainOutcome::Completed);
  }

  // The workbench once lost every write of its run when anything else read the database: its
  // own views' second connection dropped the trainer's locks, and the next process to close the
  // file deleted the -wal under it. Here the GUI thread reads through its own store as the views
  // do, reader processes list the runs, a second trainer writes, and another process holds the
  // write lock for longer than SQLite's busy timeout: the GUI's run must still store every step.
  void aGuiRunLosesNoStepWhileOthersHammerTheDatabase() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    const std::string file = db.toStdString();
    TrainingController controller;
    QSignalSpy steps(&controller, &TrainingController::step);
    QSignalSpy finished(&controller, &TrainingController::finished);
    QSignalSpy notices(&controller, &TrainingController::notice);
    QVERIFY(controller.start(quickConfig(40), db));

    std::atomic<bool> done{false};
    std::atomic<int> reads{0};
    std::vector<std::thread> others;
    for (int i = 0; i < 2; ++i)
      others.emplace_back([&] {
        while (!done) {
          if (fs::exists(file) && fs::file_size(file) > 0) {
            const std::string cmd =
                std::string(MOLA_CLI) + " runs list --db " + file + " >/dev/null 2>&1";
            if (std::system(cmd.c_str()) == 0) ++reads;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      });
    const fs::path other_json = fs::path(dir.path().toStdString()) / "other.json";
    {
      mola::ExperimentConfig other = quickConfig(30);
      other.name = "other-process";
      std::ofstream(other_json) << mola::experimentToJson(other);
    }
    std::atomic<bool> other_ok{false};
    others.emplace_back([&] {
      const std::string cmd = std::string(MOLA_CLI) + " train " + other_json.string() + " --db " +
                              file + " >/dev/null 2>&1";
      other_ok = std::system(cmd.c_str()) == 0;
    });
    others.emplace_back([&] {
      std::this_thread::sleep_for(std::chrono::seconds(2));
      sqlite3* raw = nullptr;
      sqlite3_open(file.c_str(), &raw);
      sqlite3_busy_timeout(raw, 20000);
      sqlite3_exec(raw, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
      std::this_thread::sleep_for(std::chrono::seconds(7));
      sqlite3_exec(raw, "COMMIT", nullptr, nullptr, nullptr);
      sqlite3_close(raw);
    });
    // The views' own connection, read the way the runs browser does while the run trains.
    QTimer views;
    connect(&views, &QTimer::timeout, this, [&] {
      if (!fs::exists(file)) return;
      RunStore view = RunStore::open(file, false);
      mola::app::loadRunsRows(view);
    });
    views.start(100);
    QVERIFY(waitForCount(finished, 1));
    views.stop();
    done = true;
    for (std::thread& t : others) t.join();

    QCOMPARE(outcomeOf(finished), TrainOutcome::Completed);
    QCOMPARE(steps.count(), 40);
    QVERIFY(other_ok);
    QVERIFY(reads.load() > 3);
    QVERIFY2(notices.count() >= 1, "the held lock was waited for, and said so");
    RunStore store = RunStore::openReadOnly(file);
    const mola::RunRecord gui = store.run(controller.runId());
    QCOMPARE(gui.status, RunStatus::Completed);
    const auto loss = store.metrics(controller.runId(), "loss");
    QCOMPARE(loss.size(), size_t(40));
    for (size_t i = 0; i < loss.size(); ++i) QCOMPARE(loss[i].step, qint64(i + 1));
    for (const mola::RunRecord& r : store.listRuns()) QCOMPARE(r.status, RunStatus::Completed);
  }

  void destroyingTheControllerStopsAndJoinsTheRun() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    auto controller = std::make_unique<TrainingController>();
    QSignalSpy steps(controller.get(), &TrainingController::step);
    QVERIFY(controller->start(quickConfig(500), db));
    QVERIFY(waitForCount(steps, 2));
    const qint64 run = controller->runId();
    controller.reset();  // stops after the current step and joins the thread
    RunStore store = RunStore::open(db.toStdString(), false);
    QCOMPARE(store.run(run).status, RunStatus::Stopped);
    QCOMPARE(store.checkpoints(run).size(), size_t(1));
  }
};

QTEST_MAIN(TrainingControllerTest)
#include "training_controller_test.moc"
