// SPDX-License-Identifier: GPL-3.0-or-later
// Studies and the queue in the workbench window, on real SQLite files: a study's forest plot,
// table, routing and exports against hand-computed statistics; experiments queued from the
// Design view, reordered and cancelled in the queue panel, and trained one after another; tags,
// notes and the advisor's proposal joining a study.
#include <QApplication>
#include <QComboBox>
#include <QFile>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <cmath>

#include "advice_dialog.h"
#include "experiment_form.h"
#include "expert_heatmap.h"
#include "main_window.h"
#include "queue_panel.h"
#include "store/run_launch.h"
#include "store/run_store.h"
#include "stored_runs.h"
#include "study_chart.h"
#include "study_view.h"
#include "tiny_experiment.h"
#include "training_controller.h"

using mola::RunStatus;
using mola::RunStore;
using mola::app::MainWindow;

namespace {

constexpr int kTrainTimeoutMs = 240000;

// t_{0.975} with 2 degrees of freedom (tables; scipy.stats.t.ppf(0.975, 2)).
constexpr double kT2 = 4.302652729749464;

}  // namespace

class WorkbenchStudyTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setOrganizationName(QStringLiteral("mola-workbench-test"));
    QApplication::setApplicationName(QStringLiteral("workbench_study_test"));
    QSettings().clear();
  }

  void studyViewShowsMeansIntervalsRoutingAndExports() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    {
      RunStore store = mola::openRunStore(db.toStdString());
      // Seeds 1-3: accuracy a + 0.01 s, so each variant's mean is a + 0.02 and its spread 0.01.
      mola::test::writeStudy(store, "shapes", {"2-4-6-8", "5-5-5-5", "8-6-4-2"}, {0.6, 0.5, 0.4},
                             3);
    }
    MainWindow w;
    QVERIFY(w.openDatabase(db));
    w.resize(1280, 800);
    w.show();
    w.showTab(MainWindow::Tab::Study);
    mola::widgets::StudyView* view = w.studyView();
    QTRY_VERIFY(view->data().has_value());
    QCOMPARE(view->studyBox()->count(), 1);
    const mola::widgets::StudyChart* chart = view->chart();
    const double half = kT2 * 0.01 / std::sqrt(3.0);
    const double means[] = {0.62, 0.52, 0.42};
    for (int i = 0; i < 3; ++i) {
      QVERIFY(std::abs(chart->meanOf(i) - means[i]) < 1e-12);
      QVERIFY(std::abs(chart->intervalOf(i).lower - (means[i] - half)) < 1e-9);
      QVERIFY(std::abs(chart->intervalOf(i).upper - (means[i] + half)) < 1e-9);
      QCOMPARE(chart->seedValuesOf(i).size(), 3);
    }
    QCOMPARE(chart->silhouetteOf(0).toList(), std::string("2,4,6,8"));
    QCOMPARE(chart->silhouetteOf(2).toList(), std::string("8,6,4,2"));
    QVERIFY(std::abs(chart->baselineMean() - 0.62) < 1e-12);  // the first variant
    // The table, the baseline, the paired differences (every seed 0.1 below: p tiny).
    QTableWidget* table = view->table();
    QCOMPARE(table->rowCount(), 3);
    QCOMPARE(table->item(0, 0)->text(), QStringLiteral("2-4-6-8"));
    QCOMPARE(table->item(1, 1)->text(), QStringLiteral("3/3"));
    QCOMPARE(table->item(0, 6)->text(), QStringLiteral("(baseline)"));
    QVERIFY2(table->item(1, 6)->text().startsWith(QStringLiteral("-0.100")),
             qPrintable(table->item(1, 6)->text()));
    view->baselineBox()->setCurrentIndex(view->baselineBox()->findText(QStringLiteral("5-5-5-5")));
    QTRY_COMPARE(table->item(1, 6)->text(), QStringLiteral("(baseline)"));
    QVERIFY(table->item(0, 6)->text().startsWith(QStringLiteral("+0.100")));
    QVERIFY(std::abs(view->chart()->baselineMean() - 0.52) < 1e-12);
    // Each variant's routing, averaged over its three runs, on one colour scale.
    QCOMPARE(view->heatmaps().size(), size_t(3));
    QCOMPARE(view->heatmaps()[0]->colorRange(), view->heatmaps()[2]->colorRange());
    QVERIFY(view->statusLine().contains(QStringLiteral("9 runs: 9 completed")));
    // Exports: what `mola study show` writes.
    const QString csv = dir.filePath(QStringLiteral("study.csv"));
    QString error;
    QVERIFY2(view->exportTable(csv, mola::TableFormat::Csv, &error), qPrintable(error));
    QFile file(csv);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QString text = QString::fromUtf8(file.readAll());
    QVERIFY(text.startsWith(QStringLiteral("variant,method,allocation,completed,planned,")));
    QVERIFY(text.contains(QStringLiteral("2-4-6-8,mola,\"2,4,6,8\",3,3,0.62")));
    const QString md = dir.filePath(QStringLiteral("study.md"));
    QVERIFY(view->exportTable(md, mola::TableFormat::Markdown, &error));
    QVERIFY(!view->exportTable(dir.filePath(QStringLiteral("no/such/folder/x.csv")),
                               mola::TableFormat::Csv, &error));
    QVERIFY2(error.contains(QStringLiteral("no/such/folder")), qPrintable(error));
    // Best accuracy: the same here (the score rises to its last step).
    view->metricBox()->setCurrentIndex(1);
    QCOMPARE(view->chart()->metric(), mola::widgets::StudyChart::Metric::Best);
    QVERIFY(std::abs(view->chart()->meanOf(0) - 0.62) < 1e-12);
    w.grab().save(QStringLiteral(MOLA_SCREENSHOT_DIR "/workbench_study.png"));
  }

  void aDatabaseWithoutStudiesSaysHowToMakeOne() {
    QTemporaryDir dir;
    MainWindow w;
    QVERIFY(w.openDatabase(dir.filePath(QStringLiteral("runs.sqlite"))));
    w.showTab(MainWindow::Tab::Study);
    QVERIFY(!w.studyView()->data().has_value());
    QCOMPARE(w.studyView()->studyBox()->count(), 0);
  }

  void queuedExperimentsRunInQueueOrder() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    MainWindow w;
    QVERIFY(w.openDatabase(db));
    w.show();
    for (const char* name : {"first", "second", "third"}) {
      mola::ExperimentConfig c = mola::test::tinyExperiment(name, 3);
      c.model = "builtin:tiny:3";
      w.form()->setConfig(c);
      QVERIFY2(w.queueButton()->isEnabled(), qPrintable(w.queueButton()->toolTip()));
      QTest::mouseClick(w.queueButton(), Qt::LeftButton);
    }
    mola::widgets::QueuePanel* queue = w.queuePanel();
    QCOMPARE(queue->itemIds().size(), size_t(3));
    QCOMPARE(queue->table()->item(0, 0)->text(), QStringLiteral("first"));
    // Third to the top, first cancelled.
    queue->selectItem(queue->itemIds()[2]);
    QTest::mouseClick(queue->upButton(), Qt::LeftButton);
    QTest::mouseClick(queue->upButton(), Qt::LeftButton);
    QCOMPARE(queue->table()->item(0, 0)->text(), QStringLiteral("third"));
    queue->selectItem(queue->itemIds()[1]);
    QCOMPARE(queue->table()->item(1, 0)->text(), QStringLiteral("first"));
    QTest::mouseClick(queue->cancelButton(), Qt::LeftButton);
    QCOMPARE(queue->itemIds().size(), size_t(2));
    // Run queue: both trained, top first, then the queue switches itself off.
    QSignalSpy finished(w.controller(), &mola::app::TrainingController::finished);
    QSignalSpy empty(w.controller(), &mola::app::TrainingController::queueEmpty);
    QVERIFY(queue->runButton()->isEnabled());
    QTest::mouseClick(queue->runButton(), Qt::LeftButton);
    QVERIFY(w.isQueueRunning());
    QTRY_VERIFY_WITH_TIMEOUT(empty.count() == 1, kTrainTimeoutMs);
    QCOMPARE(finished.count(), 2);
    QVERIFY(!w.isQueueRunning());
    QVERIFY(!queue->runButton()->isChecked());
    QVERIFY(queue->itemIds().empty());
    const RunStore store = RunStore::openReadOnly(db.toStdString());
    const auto runs = store.listRuns();
    QCOMPARE(runs.size(), size_t(2));
    QCOMPARE(runs[0].name, std::string("third"));
    QCOMPARE(runs[1].name, std::string("second"));
    for (const mola::RunRecord& r : runs) QCOMPARE(r.status, RunStatus::Completed);
  }

  void queuePanelAsksForTheRightMoves() {
    mola::widgets::QueuePanel panel;
    std::vector<mola::QueueItem> items(4);
    for (int i = 0; i < 4; ++i) {
      items[size_t(i)].id = 10 + i;
      items[size_t(i)].name = "run " + std::to_string(i);
      items[size_t(i)].allocation = "2,4,6,8";
    }
    items[3].state = mola::QueueState::Started;  // not waiting: not listed
    items[1].study = 7;
    items[1].variant = "square";
    panel.setItems(items, {{7, "shapes"}});
    QCOMPARE(panel.itemIds(), (std::vector<qint64>{10, 11, 12}));
    QCOMPARE(panel.table()->item(1, 1)->text(), QStringLiteral("shapes / square"));
    QCOMPARE(panel.table()->item(0, 1)->text(), QStringLiteral("(on its own)"));
    QSignalSpy move(&panel, &mola::widgets::QueuePanel::moveRequested);
    QSignalSpy cancel(&panel, &mola::widgets::QueuePanel::cancelRequested);
    QVERIFY(!panel.upButton()->isEnabled());
    panel.selectItem(10);
    QVERIFY(!panel.upButton()->isEnabled());
    QTest::mouseClick(panel.downButton(), Qt::LeftButton);  // before 12
    panel.selectItem(11);
    QTest::mouseClick(panel.upButton(), Qt::LeftButton);    // before 10
    QTest::mouseClick(panel.downButton(), Qt::LeftButton);  // to the end
    panel.selectItem(12);
    QVERIFY(!panel.downButton()->isEnabled());
    QTest::mouseClick(panel.cancelButton(), Qt::LeftButton);
    QCOMPARE(move.count(), 3);
    QCOMPARE(move.at(0).at(1).toLongLong(), qint64(12));
    QCOMPARE(move.at(1).at(1).toLongLong(), qint64(10));
    QCOMPARE(move.at(2).at(1).toLongLong(), qint64(0));
    QCOMPARE(cancel.count(), 1);
    QCOMPARE(cancel.at(0).at(0).toLongLong(), qint64(12));
    panel.setRunAvailable(false, QStringLiteral("read-only"));
    QVERIFY(!panel.runButton()->isEnabled());
    QCOMPARE(panel.runButton()->toolTip(), QStringLiteral("read-only"));
  }

  void labelsAndTheAdvisorsProposalJoinAStudy() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    qint64 study = 0;
    {
      RunStore store = mola::openRunStore(db.toStdString());
      study = mola::test::writeStudy(store, "pilot-study", {"5-5-5-5", "2-4-6-8"}, {0.5, 0.6}, 2);
    }
    MainWindow w;
    QVERIFY(w.openDatabase(db));
    QVERIFY(w.setRunLabels(1, {"pilot", "square"}, "the pilot for the advisor"));
    {
      const RunStore store = RunStore::openReadOnly(db.toStdString());
      QCOMPARE(store.run(1).tags, (std::vector<std::string>{"pilot", "square"}));
      QCOMPARE(store.run(1).note, std::string("the pilot for the advisor"));
    }
    // The dialog on run 1 (5 experts per layer): a proposal under the budget, into the study.
    RunStore store = RunStore::open(db.toStdString());
    mola::widgets::AdviceDialog dialog(store.run(1), mola::Allocation::uniform(5, 4),
                                       store.routerStats(1), 2, store.listStudies());
    QVERIFY(dialog.advice().has_value());
    QCOMPARE(dialog.advice()->allocation.totalExperts(), int64_t(20));
    dialog.budgetBox()->setValue(16);
    QCOMPARE(dialog.advice()->allocation.totalExperts(), int64_t(16));
    dialog.budgetBox()->setValue(3);  // 4 layers x 2 at least: no proposal
    QVERIFY(!dialog.advice().has_value());
    QVERIFY(!dialog.studyButton()->isEnabled());
    dialog.budgetBox()->setValue(16);
    QSignalSpy add(&dialog, &mola::widgets::AdviceDialog::addToStudy);
    dialog.nameEdit()->setText(QStringLiteral("advised"));
    QTest::mouseClick(dialog.studyButton(), Qt::LeftButton);
    QCOMPARE(add.count(), 1);
    QCOMPARE(add.at(0).at(0).toLongLong(), study);
    const mola::Allocation proposal = dialog.advice()->allocation;
    QVERIFY(w.addAdviceToStudy(study, QStringLiteral("advised"), proposal, QStringLiteral("why")));
    // Two seeds: two runs queued with the proposal, waiting in the panel.
    const auto items = store.queueItems(study);
    int advised = 0;
    for (const mola::QueueItem& q : items)
      if (q.variant == "advised") {
        ++advised;
        QCOMPARE(q.allocation, proposal.toList());
        QCOMPARE(q.state, mola::QueueState::Waiting);
      }
    QCOMPARE(advised, 2);
    QCOMPARE(w.queuePanel()->itemIds().size(), size_t(2));
    QVERIFY(!w.addAdviceToStudy(study, QStringLiteral("advised"), proposal, QString()));
    QVERIFY(w.lastError().contains(QStringLiteral("already has a variant named 'advised'")));
  }
};

QTEST_MAIN(WorkbenchStudyTest)
#include "workbench_study_test.moc"
