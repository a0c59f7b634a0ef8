// SPDX-License-Identifier: GPL-3.0-or-later
// The Runs view end to end on a real SQLite file: compare, score and trace routing with the real
// `mola` in a child process, delete.
#include <qcustomplot.h>
#include <QApplication>
#include <QFile>
#include <QProcess>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTest>
#include <filesystem>
#include <fstream>

#include "compare_view.h"
#include "experiment/experiment_config.h"
#include "main_window.h"
#include "route_tracer.h"
#include "routing_dialog.h"
#include "run_report.h"
#include "run_scorer.h"
#include "runs_browser.h"
#include "score_dialog.h"
#include "store/run_launch.h"
#include "store/run_store.h"
#include "stored_runs.h"
#include "tiny_experiment.h"
#include "token_routing_map.h"
#include "train_view.h"
#include "training_plots.h"
#include "workbench_window.h"

using mola::RunStore;
using mola::app::MainWindow;
using mola::test::browserRow;
using mola::test::closeMessageBoxes;
using mola::test::kTrainTimeoutMs;
using mola::test::trainTinyRun;
using mola::test::writeRun;

namespace {

namespace fs = std::filesystem;

// The benchmarks the Train view's evaluation plot draws.
QStringList evalGraphNames(const MainWindow& w) {
  QStringList names;
  const QCustomPlot* plot = w.trainView()->plots()->evalPlot();
  for (int g = 0; g < plot->graphCount(); ++g) names << plot->graph(g)->name();
  return names;
}

}  // namespace

class WorkbenchRunsTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    // QSettings (geometry, last tab, recent files) go to a test location, not the user's.
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setOrganizationName(QStringLiteral("mola-workbench-test"));
    QApplication::setApplicationName(QStringLiteral("workbench_runs_test"));
    QSettings().clear();
  }

  void compareTwoSelectedRuns() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    RunStore store = mola::openRunStore(db.toStdString());
    const qint64 a = writeRun(store, "inverted-triangle", "2-4-6-8", 60, 0.6, 0.7);
    const qint64 b = writeRun(store, "triangle", "8-6-4-2", 60, 0.8, 0.6);
    writeRun(store, "square", "5-5-5-5", 40, 0.7, 0.65);
    MainWindow w;
    QVERIFY(w.openDatabase(db));
    w.show();
    w.showTab(MainWindow::Tab::Runs);
    QCOMPARE(w.runsBrowser()->model()->rowCount(), 3);
    w.runsBrowser()->selectRuns({a, b});
    QVERIFY(w.runsBrowser()->compareButton()->isEnabled());
    QTest::mouseClick(w.runsBrowser()->compareButton(), Qt::LeftButton);
    QCOMPARE(w.currentTab(), MainWindow::Tab::Compare);
    const auto& runs = w.compareView()->runs();
    QCOMPARE(runs.size(), size_t(2));
    QCOMPARE(runs[0].record.id, a);
    QCOMPARE(runs[1].record.id, b);
    QCOMPARE(runs[1].allocation.perLayer(), (std::vector<int>{8, 6, 4, 2}));
    QCOMPARE(w.compareView()->curveCount(mola::widgets::CompareView::Curve::Loss), 2);
    QCOMPARE(int(runs[0].metrics.size()), 60 * 6);
    QVERIFY(w.compareView()->differingKeys().contains(QStringLiteral("adapter.allocation")));

    // A run id that is not there is named, and the others are still compared.
    QVERIFY(!w.compareRuns({a, 999}));
    QVERIFY2(w.lastError().contains(QStringLiteral("999")), qPrintable(w.lastError()));
    QCOMPARE(w.compareView()->runs().size(), size_t(1));
    closeMessageBoxes(w);
  }

  // Score... scores the selected run's checkpoint with `mola eval --run` in a child process: the
  // score reaches the database and the status bar; a second scoring waits for the first; a
  // benchmark that cannot be read is named.
  void scoreARunFromTheRunsView() {
    qputenv("MOLA_CLI", QByteArray(MOLA_CLI));
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    const QString trained = trainTinyRun(QStringLiteral(MOLA_CLI), dir.path(), db);
    QVERIFY2(trained.isEmpty(), qPrintable(trained));

    MainWindow w;
    QVERIFY(w.openDatabase(db));
    w.show();
    // The Train and Compare views show the run; scoring updates both.
    QVERIFY(w.openRun(1));
    QVERIFY(w.compareRuns({1}));
    const size_t compared_scores = w.compareView()->runs().front().scores.size();
    QVERIFY(!evalGraphNames(w).contains(QStringLiteral("synthetic:largest:12:5")));
    w.showTab(MainWindow::Tab::Runs);
    w.runsBrowser()->selectRuns({1});
    QVERIFY(w.runsBrowser()->scoreButton()->isEnabled());
    mola::widgets::ScoreRequest request;
    request.data.path = "synthetic:largest:12:5";
    QSignalSpy finished(w.scorer(), &mola::app::RunScorer::finished);
    mola::widgets::ScoreRequest second;
    second.data.path = "synthetic:opposite:6:3";
    QVERIFY(w.scoreRun(1, second));
    QVERIFY(w.scoreRun(1, request));  // waits its turn: one process at a time
    QVERIFY2(w.statusBar()->toolTip().contains(QStringLiteral("waits to be scored")),
             qPrintable(w.statusBar()->toolTip()));
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 2, kTrainTimeoutMs);
    for (int i = 0; i < 2; ++i)
      QVERIFY2(finished.at(i).at(1).toBool(), qPrintable(finished.at(i).at(2).toString()));
    QVERIFY2(finished.at(0).at(2).toString().contains(QStringLiteral("on synthetic:opposite:6:3")),
             qPrintable(finished.at(0).at(2).toString()));
    const QString message = finished.at(1).at(2).toString();
    QVERIFY2(message.contains(QStringLiteral("on synthetic:largest:12:5, n 12, at step 4")),
             qPrintable(message));
    QVERIFY2(w.statusBar()->toolTip().contains(QStringLiteral("Run #1 scored: accuracy")),
             qPrintable(w.statusBar()->toolTip()));
    {
      RunStore store = RunStore::open(db.toStdString(), false);
      const std::vector<mola::EvalScore> scores = store.evalScores(1);
      QVERIFY(scores.size() >= 2);
      QCOMPARE(scores[scores.size() - 2].benchmark, std::string("synthetic:opposite:6:3"));
      QCOMPARE(scores.back().benchmark, std::string("synthetic:largest:12:5"));
      QCOMPARE(scores.back().n, int64_t(12));
      QCOMPARE(scores.back().step, int64_t(4));
    }
    QCOMPARE(w.compareView()->runs().front().scores.size(), compared_scores + 2);
    QCOMPARE(w.compareView()->runs().front().scores.back().benchmark,
             std::string("synthetic:largest:12:5"));
    QVERIFY2(evalGraphNames(w).contains(QStringLiteral("synthetic:largest:12:5")),
             qPrintable(evalGraphNames(w).join(',')));
    QCOMPARE(w.trainView()->runId(), qint64(1));
    QCOMPARE(w.currentTab(), MainWindow::Tab::Runs);  // the user stays where they are

    request.data.path = dir.filePath(QStringLiteral("missing.jsonl")).toStdString();
    QVERIFY(w.scoreRun(1, request));
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 3, kTrainTimeoutMs);
    QVERIFY(!finished.at(2).at(1).toBool());
    QVERIFY2(w.lastError().contains(QStringLiteral("missing.jsonl")), qPrintable(w.lastError()));
    closeMessageBoxes(w);
  }

  // Routing... traces a text through the selected run's checkpoint with `mola route` in a child
  // process: the dialog starts from the run's first question and shows what `mola route` prints
  // as its document; a run without a checkpoint is named.
  void routingOfARunFromTheRunsView() {
    qputenv("MOLA_CLI", QByteArray(MOLA_CLI));
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    const QString trained = trainTinyRun(QStringLiteral(MOLA_CLI), dir.path(), db);
    QVERIFY2(trained.isEmpty(), qPrintable(trained));
    {
      RunStore store = RunStore::open(db.toStdString(), false);
      writeRun(store, "no-checkpoint", "2-4-6-8", 10, 0.6, 0.7);  // run 2
    }

    MainWindow w;
    QVERIFY(w.openDatabase(db));
    w.show();
    w.showTab(MainWindow::Tab::Runs);
    w.runsBrowser()->selectRuns({1});
    QVERIFY(w.runsBrowser()->routingButton()->isEnabled());
    QTest::mouseClick(w.runsBrowser()->routingButton(), Qt::LeftButton);
    mola::widgets::RoutingDialog* dialog = w.routingDialog();
    QVERIFY(dialog && dialog->isVisible());
    QCOMPARE(dialog->run(), qint64(1));
    // The first evaluation question in the compact template, with its answer.
    QVERIFY2(dialog->text().contains(QStringLiteral("Question:")) &&
                 dialog->text().contains(QStringLiteral("Answer:")),
             qPrintable(dialog->text()));

    const QString text = QStringLiteral("Which is largest: 3, 17 or 9?");
    QSignalSpy traced(w.tracer(), &mola::app::RouteTracer::traced);
    QVERIFY(w.traceRouting(1, text));
    QTRY_VERIFY_WITH_TIMEOUT(traced.count() == 1, kTrainTimeoutMs);
    const mola::TokenRouting& shown = dialog->routing();
    QCOMPARE(shown.tokens.size(), size_t(text.size() + 1));  // bytes and BOS
    QCOMPARE(dialog->layersMap()->rowCount(), 4);
    QCOMPARE(dialog->layersMap()->tokenCount(), text.size() + 1);
    QCOMPARE(dialog->layerMap()->rowCount(), 8);  // the top layer of 2-4-6-8

    // The same as `mola route` writes for the same text.
    QProcess route;
    route.start(QStringLiteral(MOLA_CLI),
                {QStringLiteral("route"), QStringLiteral("--run"), QStringLiteral("1"),
                 QStringLiteral("--db"), db, QStringLiteral("--prompt"), text,
                 QStringLiteral("--json"), QStringLiteral("-")});
    QVERIFY(route.waitForFinished(kTrainTimeoutMs));
    const mola::TokenRouting cli =
        mola::tokenRoutingFromJson(route.readAllStandardOutput().toStdString(), "mola route");
    QCOMPARE(cli.layers.size(), shown.layers.size());
    for (size_t j = 0; j < cli.layers.size(); ++j)
      for (size_t m = 0; m < cli.layers[j].modules.size(); ++m)
        QVERIFY(cli.layers[j].modules[m].gate == shown.layers[j].modules[m].gate);
    // Each cell of the layers map is the dominant expert of that layer's pooled gates.
    const mola::TokenExpertTable top =
        mola::pooledTable(cli.layers[3], mola::RoutingQuantity::Gate);
    for (int t = 0; t < text.size() + 1; ++t)
      QCOMPARE(dialog->layersMap()->cellValue(3, t),
               double(mola::dominantExpert(top[size_t(t)]) + 1));

    // The next text goes to the same `mola route --serve`, which kept the model loaded.
    const qint64 server = w.tracer()->serverProcessId();
    QVERIFY(server > 0);
    const QString other = QStringLiteral("Which is smallest: 4, 2 or 8?");
    QVERIFY(w.traceRouting(1, other));
    QTRY_VERIFY_WITH_TIMEOUT(traced.count() == 2, kTrainTimeoutMs);
    QCOMPARE(dialog->routing().tokens.size(), size_t(other.size() + 1));
    QCOMPARE(w.tracer()->serverProcessId(), server);
    // A checkpoint recorded since (here one that cannot be read, so the same one loads again)
    // makes a fresh process load the run as it is now.
    {
      RunStore store = RunStore::open(db.toStdString(), false);
      store.addCheckpoint(1, 99, dir.filePath(QStringLiteral("gone/step-99")).toStdString());
    }
    QVERIFY(w.traceRouting(1, text));
    QTRY_VERIFY_WITH_TIMEOUT(traced.count() == 3, kTrainTimeoutMs);
    QVERIFY(w.tracer()->serverProcessId() != server);
    QVERIFY(dialog->routing().layers[3].modules[0].gate == cli.layers[3].modules[0].gate);

    // A run without a checkpoint: the dialog says why.
    QSignalSpy failed(w.tracer(), &mola::app::RouteTracer::failed);
    QVERIFY(w.traceRouting(2, text));
    QTRY_VERIFY_WITH_TIMEOUT(failed.count() == 1, kTrainTimeoutMs);
    QVERIFY2(dialog->status().contains(QStringLiteral("no intact checkpoint")),
             qPrintable(dialog->status()));
    QCOMPARE(dialog->run(), qint64(2));
    QCOMPARE(w.tracer()->serverProcessId(), qint64(0));
    // And back to the first run: traced again.
    QVERIFY(w.traceRouting(1, other));
    QTRY_VERIFY_WITH_TIMEOUT(traced.count() == 4, kTrainTimeoutMs);
    QCOMPARE(dialog->run(), qint64(1));
  }

  // The Compare view's Trace a text... sends one text through two runs side by side, each in a
  // `mola route` process of its own: each side shows what `mola route` prints for its run.
  void routingOfTwoRunsFromTheCompareView() {
    qputenv("MOLA_CLI", QByteArray(MOLA_CLI));
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    QString trained = trainTinyRun(QStringLiteral(MOLA_CLI), dir.path(), db);
    QVERIFY2(trained.isEmpty(), qPrintable(trained));
    trained = trainTinyRun(QStringLiteral(MOLA_CLI), dir.path(), db,
                           {QStringLiteral("--set"), QStringLiteral("training.seed=5")});
    QVERIFY2(trained.isEmpty(), qPrintable(trained));
    {
      RunStore store = RunStore::open(db.toStdString(), false);
      writeRun(store, "no-checkpoint", "2-4-6-8", 10, 0.6, 0.7);  // run 3: not offered
    }

    MainWindow w;
    QVERIFY(w.openDatabase(db));
    w.show();
    QVERIFY(w.compareRuns({1, 2}));
    w.showTab(MainWindow::Tab::Compare);
    QVERIFY(w.compareView()->routingButton()->isEnabled());
    QTest::mouseClick(w.compareView()->routingButton(), Qt::LeftButton);
    mola::widgets::RoutingDialog* dialog = w.routingDialog();
    QVERIFY(dialog && dialog->isVisible());
    QCOMPARE(dialog->run(), qint64(1));
    QCOMPARE(dialog->comparedRun(), qint64(2));
    QCOMPARE(dialog->compareBox()->count(), 2);  // none and run 2: run 3 has no checkpoint

    const QString text = QStringLiteral("Which is largest: 3, 17 or 9?");
    QSignalSpy first(w.tracer(), &mola::app::RouteTracer::traced);
    QSignalSpy second(w.compareTracer(), &mola::app::RouteTracer::traced);
    QVERIFY(w.traceRouting(1, text));
    QTRY_VERIFY_WITH_TIMEOUT(first.count() == 1 && second.count() == 1, kTrainTimeoutMs);
    QVERIFY(dialog->traceButton()->isEnabled());
    QVERIFY(w.tracer()->serverProcessId() > 0);
    QVERIFY(w.compareTracer()->serverProcessId() > 0);
    QVERIFY(w.tracer()->serverProcessId() != w.compareTracer()->serverProcessId());
    for (qint64 run : {1, 2}) {
      QProcess route;
      route.start(QStringLiteral(MOLA_CLI),
                  {QStringLiteral("route"), QStringLiteral("--run"), QString::number(run),
                   QStringLiteral("--db"), db, QStringLiteral("--prompt"), text,
                   QStringLiteral("--json"), QStringLiteral("-")});
      QVERIFY(route.waitForFinished(kTrainTimeoutMs));
      const mola::TokenRouting cli =
          mola::tokenRoutingFromJson(route.readAllStandardOutput().toStdString(), "mola route");
      const mola::TokenRouting& shown = run == 1 ? dialog->routing() : dialog->comparedRouting();
      QCOMPARE(shown.layers.size(), cli.layers.size());
      QVERIFY2(shown.layers[3].modules[0].gate == cli.layers[3].modules[0].gate,
               qPrintable(QStringLiteral("run %1").arg(run)));
    }
    // Two seeds: two different routings side by side.
    QVERIFY(dialog->routing().layers[3].modules[0].gate !=
            dialog->comparedRouting().layers[3].modules[0].gate);
    QCOMPARE(dialog->comparedLayersMap()->rowCount(), 4);
    // No run beside it any more: the second `mola route` ends; the first keeps its model.
    QVERIFY(dialog->setCompared(-1));
    QCOMPARE(w.compareTracer()->serverProcessId(), qint64(0));
    QVERIFY(w.tracer()->serverProcessId() > 0);
  }

  // The comparison report: each run's final score on the benchmark it is ranked on (not one added
  // later on another), and the runs question by question against the first.
  void comparisonReportPairsTheRuns() {
    auto run = [](int64_t id, const std::vector<bool>& correct) {
      mola::widgets::ComparedRun r;
      r.record.id = id;
      r.record.name = std::string("run").append(std::to_string(id));
      mola::EvalScore trained{10 * id, 20, "synthetic:largest:4", "", "likelihood", 0.5, 4, 0, 0};
      mola::EvalScore added{10 * id + 1, 20, "arc", "", "likelihood", 0.9, 4, 0.1, 0.2};
      r.scores = {trained, added};
      for (size_t q = 0; q < correct.size(); ++q)
        r.predictions[trained.id].push_back(
            {std::string("q").append(std::to_string(q)), 0, bool(correct[q])});
      return r;
    };
    const QString html = mola::app::comparisonReportHtml(
        {run(1, {true, false, false, false}), run(2, {true, true, true, false})}, {});
    QVERIFY2(html.contains(QStringLiteral("Question by question, against run1 #1")),
             qPrintable(html));
    // Run 2 is right on q1 and q2 where run 1 is wrong: +0.5, p = 2 / 4.
    QVERIFY2(html.contains(QStringLiteral("<td>4</td><td>2</td><td>0</td><td>0.500 (")),
             qPrintable(html));
    QVERIFY(html.contains(QStringLiteral("<td>0.5</td></tr>")));
    QVERIFY2(
        html.contains(QStringLiteral("0.5000 (")) && !html.contains(QStringLiteral("0.9000 (")),
        qPrintable(html));
  }

  void deleteRemovesTheRunAndItsFolder() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    RunStore store = mola::openRunStore(db.toStdString());
    const qint64 keep = writeRun(store, "keep", "2-4-6-8", 20, 0.6, 0.7);
    const qint64 gone = writeRun(store, "gone", "8-6-4-2", 20, 0.8, 0.6);
    const fs::path run_dir = store.runDirectory(gone);
    fs::create_directories(run_dir / "checkpoints" / "step-20");
    std::ofstream(run_dir / "checkpoints" / "step-20" / "adapter.safetensors") << "x";
    MainWindow w;
    QVERIFY(w.openDatabase(db));
    w.show();
    QVERIFY(w.openRun(gone));
    QCOMPARE(w.trainView()->runId(), gone);
    QStringList asked;
    w.setConfirmer([&](const QString&, const QString& text) {
      asked << text;
      return true;
    });
    w.runsBrowser()->selectRuns({gone});
    QTest::mouseClick(w.runsBrowser()->deleteButton(), Qt::LeftButton);
    QCOMPARE(asked.size(), 1);
    QVERIFY2(asked[0].contains(QStringLiteral("gone")), qPrintable(asked[0]));
    QVERIFY(!fs::exists(run_dir));
    QCOMPARE(store.listRuns().size(), size_t(1));
    QCOMPARE(store.listRuns()[0].id, keep);
    QCOMPARE(browserRow(w, gone), -1);
    QVERIFY(browserRow(w, keep) >= 0);
    QCOMPARE(w.trainView()->runId(), qint64(-1));  // the deleted run is no longer shown
  }
};

QTEST_MAIN(WorkbenchRunsTest)
#include "workbench_runs_test.moc"
