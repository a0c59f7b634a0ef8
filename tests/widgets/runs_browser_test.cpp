// SPDX-License-Identifier: GPL-3.0-or-later
// Runs browser: the table model's columns and typed sorting, keyed refresh that keeps the
// selection, search, Compare/Delete rules, and a screenshot with realistic runs.
#include <QAbstractItemModelTester>
#include <QDir>
#include <QHeaderView>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QTest>
#include <stdexcept>

#include "allocation_delegate.h"
#include "runs_browser.h"
#include "runs_table_model.h"

using mola::RunRecord;
using mola::RunStatus;
using mola::widgets::RunsBrowser;
using mola::widgets::RunsRow;
using mola::widgets::RunsTableModel;

namespace {

RunsRow makeRow(int64_t id, const std::string& name, RunStatus status, const std::string& alloc,
                int64_t steps, const std::string& created, std::optional<double> best = {},
                const std::string& model = "builtin:tiny") {
  RunRecord r;
  r.id = id;
  r.name = name;
  r.status = status;
  r.allocation = alloc;
  r.last_step = steps;
  r.created_at = created;
  r.model = model;
  r.host = "lab-1, Linux 6.1.0 x86_64, 2 CPUs";
  if (status == RunStatus::Failed) r.message = "the loss became NaN at step 7";
  return RunsRow::fromRecord(r, best, best ? QStringLiteral("arc-easy") : QString());
}

std::vector<RunsRow> threeRuns() {
  return {
      makeRow(1, "baseline-lora", RunStatus::Completed, "1,1,1,1", 100, "2026-01-02T10:00:00Z",
              0.25),
      makeRow(2, "mola-inverted", RunStatus::Running, "2,4,6,8", 5, "2025-12-31T23:00:00Z"),
      makeRow(3, "mola-triangle", RunStatus::Failed, "8,6,4,2", 20, "2026-01-10T08:00:00Z", 0.9)};
}

// The column `column` of the proxy, top to bottom.
QStringList columnTexts(const QAbstractItemModel* m, int column) {
  QStringList out;
  for (int r = 0; r < m->rowCount(); ++r) out << m->index(r, column).data().toString();
  return out;
}

void selectRows(QTableView* view, const QList<int>& proxy_rows) {
  view->selectionModel()->clearSelection();
  for (int r : proxy_rows)
    view->selectionModel()->select(view->model()->index(r, 0),
                                   QItemSelectionModel::Select | QItemSelectionModel::Rows);
}

}  // namespace

class RunsBrowserTest : public QObject {
  Q_OBJECT

 private slots:
  void modelShowsColumnsAndParsedAllocations() {
    RunsTableModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setRows(threeRuns());
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(model.columnCount(), 9);
    QStringList headers;
    for (int c = 0; c < model.columnCount(); ++c)
      headers << model.headerData(c, Qt::Horizontal).toString();
    QCOMPARE(headers, (QStringList{"Name", "Status", "Allocation", "Model", "Best score", "Created",
                                   "Steps", "Study", "Tags"}));
    // 2,4,6,8 on 4 layers is MoLA's inverted triangle (one layer per quarter); 1 expert per
    // layer is plain LoRA.
    QCOMPARE(model.index(1, RunsTableModel::AllocationColumn).data().toString(),
             QStringLiteral("inverted-triangle"));
    QCOMPARE(model.index(0, RunsTableModel::AllocationColumn).data().toString(),
             QStringLiteral("plain LoRA"));
    QCOMPARE(model.index(1, RunsTableModel::AllocationColumn)
                 .data(RunsTableModel::AllocationRole)
                 .value<QList<int>>(),
             (QList<int>{2, 4, 6, 8}));
    QCOMPARE(model.index(2, RunsTableModel::Status).data().toString(), QStringLiteral("failed"));
    QVERIFY(model.index(2, RunsTableModel::Status)
                .data(Qt::ToolTipRole)
                .toString()
                .contains(QStringLiteral("NaN at step 7")));
    QCOMPARE(model.index(2, RunsTableModel::BestScore).data().toString(), QStringLiteral("0.900"));
    QCOMPARE(model.index(1, RunsTableModel::BestScore).data().toString(), QStringLiteral("–"));
    QCOMPARE(model.index(0, RunsTableModel::Steps).data(RunsTableModel::RunIdRole).toLongLong(),
             qint64(1));
    QCOMPARE(model.maxExperts(), 8);

    // Full fine-tuning stores no allocation; a preset name without a depth is shown, not drawn.
    const RunsRow full =
        makeRow(4, "full-ft", RunStatus::Completed, "", 10, "2026-01-01T00:00:00Z");
    QCOMPARE(RunsTableModel::allocationText(full), QStringLiteral("full FT"));
    QCOMPARE(full.allocation.numLayers(), 0);
    const RunsRow named =
        makeRow(5, "named", RunStatus::Stopped, "hourglass", 10, "2026-01-01T00:00:00Z");
    QCOMPARE(RunsTableModel::allocationText(named), QStringLiteral("hourglass"));
    QCOMPARE(named.allocation.numLayers(), 0);
    QCOMPARE(RunsRow::fromRecord(full.record).allocation.numLayers(), 0);
    QCOMPARE(RunsTableModel::allocationText(
                 makeRow(7, "u", RunStatus::Completed, "8", 1, "2026-01-01T00:00:00Z")),
             QStringLiteral("uniform-8"));
    QCOMPARE(makeRow(7, "u", RunStatus::Completed, "8", 1, "x").allocation.numLayers(), 0);
    const RunsRow listed = makeRow(6, "l", RunStatus::Completed, "2,2,4,4,6,6,8,8", 1, "x");
    QCOMPARE(listed.allocation.numLayers(), 8);
    QCOMPARE(listed.allocation.experts(7), 8);
  }

  void numbersAndDatesSortByValue() {
    RunsBrowser browser;
    browser.setRows(threeRuns());
    QTableView* view = browser.view();
    const QAbstractItemModel* shown = view->model();

    view->sortByColumn(RunsTableModel::Steps, Qt::AscendingOrder);
    // As text "100" < "20" < "5"; as numbers 5 < 20 < 100.
    QCOMPARE(columnTexts(shown, RunsTableModel::Steps), (QStringList{"5", "20", "100"}));

    view->sortByColumn(RunsTableModel::BestScore, Qt::DescendingOrder);
    QCOMPARE(columnTexts(shown, RunsTableModel::Name),
             (QStringList{"mola-triangle", "baseline-lora", "mola-inverted"}));  // unscored last

    // 2025-12-31 < 2026-01-02 < 2026-01-10 (the day-first text would order them otherwise).
    view->sortByColumn(RunsTableModel::Created, Qt::AscendingOrder);
    QCOMPARE(columnTexts(shown, RunsTableModel::Name),
             (QStringList{"mola-inverted", "baseline-lora", "mola-triangle"}));
    view->sortByColumn(RunsTableModel::Name, Qt::DescendingOrder);
    QCOMPARE(columnTexts(shown, RunsTableModel::Name),
             (QStringList{"mola-triangle", "mola-inverted", "baseline-lora"}));
  }

  void refreshUpdatesInPlaceAndKeepsTheSelection() {
    RunsBrowser browser;
    QAbstractItemModelTester tester(browser.model(),
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
    browser.setRows(threeRuns());
    browser.selectRuns({3});
    QCOMPARE(browser.selectedRunIds(), (QList<qint64>{3}));

    RunsTableModel* model = browser.model();
    QSignalSpy resets(model, &QAbstractItemModel::modelReset);
    QSignalSpy removed(model, &QAbstractItemModel::rowsRemoved);
    QSignalSpy inserted(model, &QAbstractItemModel::rowsInserted);
    QSignalSpy changed(model, &QAbstractItemModel::dataChanged);

    // Run 1 deleted elsewhere, run 3 resumed and further on, run 4 new, run 2 unchanged.
    std::vector<RunsRow> next = threeRuns();
    next.erase(next.begin());
    next[1].record.status = RunStatus::Running;
    next[1].record.last_step = 35;
    next.push_back(
        makeRow(4, "mola-square", RunStatus::Running, "5,5,5,5", 1, "2026-01-11T08:00:00Z"));
    browser.setRows(next);

    QCOMPARE(resets.count(), 0);
    QCOMPARE(removed.count(), 1);
    QCOMPARE(removed.at(0).at(1).toInt(), 0);  // first = last = row 0 (run 1)
    QCOMPARE(removed.at(0).at(2).toInt(), 0);
    QCOMPARE(inserted.count(), 1);
    QCOMPARE(changed.count(), 1);  // only run 3's row changed
    QCOMPARE(model->rowCount(), 3);
    QCOMPARE(model->rowOf(1), -1);
    QCOMPARE(model->index(model->rowOf(3), RunsTableModel::Steps).data().toString(),
             QStringLiteral("35"));
    QCOMPARE(browser.selectedRunIds(), (QList<qint64>{3}));

    // A refresh that drops the selected run leaves nothing selected, and nothing enabled.
    next.erase(next.begin() + 1);
    browser.setRows(next);
    QVERIFY(browser.selectedRunIds().isEmpty());
    QVERIFY(!browser.openButton()->isEnabled());
    QVERIFY(!browser.deleteButton()->isEnabled());
  }

  void searchFindsByNameAllocationAndStatus() {
    RunsBrowser browser;
    browser.setRows(threeRuns());
    const QAbstractItemModel* shown = browser.view()->model();
    auto names = [&] {
      QStringList n = columnTexts(shown, RunsTableModel::Name);
      n.sort();
      return n;
    };
    browser.searchBox()->setText(QStringLiteral("BASELINE"));
    QCOMPARE(names(), (QStringList{"baseline-lora"}));
    // "triangle" is in the name of run 3 and the allocation of run 2 (inverted-triangle).
    browser.searchBox()->setText(QStringLiteral("inverted-tri"));
    QCOMPARE(names(), (QStringList{"mola-inverted"}));
    browser.searchBox()->setText(QStringLiteral("2,4,6,8"));
    QCOMPARE(names(), (QStringList{"mola-inverted"}));
    browser.searchBox()->setText(QStringLiteral("plain lora"));
    QCOMPARE(names(), (QStringList{"baseline-lora"}));
    browser.searchBox()->setText(QStringLiteral("failed"));
    QCOMPARE(names(), (QStringList{"mola-triangle"}));
    QVERIFY2(browser.statusLine().contains(QStringLiteral("1 of 3 runs")),
             qPrintable(browser.statusLine()));
    browser.searchBox()->setText(QStringLiteral("builtin:tiny"));
    QCOMPARE(names().size(), 3);
    browser.searchBox()->setText(QStringLiteral("no such run"));
    QCOMPARE(shown->rowCount(), 0);
    browser.searchBox()->clear();
    QCOMPARE(shown->rowCount(), 3);
    QCOMPARE(browser.statusLine(), QStringLiteral("3 runs"));
  }

  void studyTagsAndNotesAreShownAndSearchable() {
    std::vector<RunsRow> rows = threeRuns();
    rows[1].record.study = 4;
    rows[1].record.variant = "inverted";
    rows[1].study_name = QStringLiteral("shapes");
    rows[2].record.tags = {"pilot", "seed-sweep"};
    rows[2].record.note = "diverged: lr too high?";
    RunsBrowser browser;
    browser.setRows(rows);
    RunsTableModel* model = browser.model();
    QCOMPARE(model->index(1, RunsTableModel::StudyColumn).data().toString(),
             QStringLiteral("shapes / inverted"));
    QCOMPARE(model->index(0, RunsTableModel::StudyColumn).data().toString(), QString());
    QVERIFY(model->index(2, RunsTableModel::Tags)
                .data()
                .toString()
                .startsWith(QStringLiteral("pilot, seed-sweep")));
    QCOMPARE(model->index(2, RunsTableModel::Tags).data(Qt::ToolTipRole).toString(),
             QStringLiteral("diverged: lr too high?"));
    const QAbstractItemModel* shown = browser.view()->model();
    for (const auto& [query, name] :
         {std::pair{"SHAPES", "mola-inverted"}, std::pair{"seed-sweep", "mola-triangle"},
          std::pair{"too high", "mola-triangle"}}) {
      browser.searchBox()->setText(QString::fromLatin1(query));
      QCOMPARE(columnTexts(shown, RunsTableModel::Name), (QStringList{QString::fromLatin1(name)}));
    }
    // A refresh that only changes the tags updates the row.
    rows[0].record.tags = {"new"};
    browser.searchBox()->setText(QStringLiteral("new"));
    browser.setRows(rows);
    QCOMPARE(columnTexts(shown, RunsTableModel::Name), (QStringList{"baseline-lora"}));
  }

  void labelAndAdviseActOnOneRun() {
    RunsBrowser browser;
    browser.setRows(threeRuns());
    browser.show();
    QVERIFY(QTest::qWaitForWindowExposed(&browser));
    QSignalSpy label(&browser, &RunsBrowser::labelRequested);
    QSignalSpy advise(&browser, &RunsBrowser::adviseRequested);
    QTableView* view = browser.view();
    view->sortByColumn(RunsTableModel::Name, Qt::AscendingOrder);  // rows: runs 1, 2, 3
    QVERIFY(!browser.labelButton()->isEnabled());
    QVERIFY(!browser.adviseButton()->isEnabled());
    selectRows(view, {0});  // plain LoRA: nothing routed to advise from
    QVERIFY(browser.labelButton()->isEnabled());
    QVERIFY(!browser.adviseButton()->isEnabled());
    selectRows(view, {1});
    QVERIFY(browser.adviseButton()->isEnabled());
    QTest::mouseClick(browser.adviseButton(), Qt::LeftButton);
    QTest::mouseClick(browser.labelButton(), Qt::LeftButton);
    QCOMPARE(advise.count(), 1);
    QCOMPARE(advise.at(0).at(0).toLongLong(), qint64(2));
    QCOMPARE(label.count(), 1);
    QCOMPARE(label.at(0).at(0).toLongLong(), qint64(2));
    selectRows(view, {1, 2});
    QVERIFY(!browser.labelButton()->isEnabled());
    QVERIFY(!browser.adviseButton()->isEnabled());
  }

  // Routing... needs one run with token routers: not plain LoRA, not MOELoRA (its gate reads the
  // task); Score... takes any number of runs.
  void routingNeedsOneRunWithTokenRouters() {
    std::vector<RunsRow> rows = threeRuns();
    RunRecord moelora = rows[1].record;
    moelora.id = 4;
    moelora.name = "moelora";
    moelora.config_json = R"({"adapter": {"method": "moelora", "allocation": "2-4-6-8"}})";
    rows.push_back(RunsRow::fromRecord(moelora));
    QVERIFY(rows.back().task_gated);
    QVERIFY(!rows[1].task_gated);
    RunsBrowser browser;
    browser.setRows(rows);
    browser.show();
    QVERIFY(QTest::qWaitForWindowExposed(&browser));
    QSignalSpy routing(&browser, &RunsBrowser::routingRequested);
    QSignalSpy score(&browser, &RunsBrowser::scoreRequested);
    QTableView* view = browser.view();
    view->sortByColumn(RunsTableModel::Name, Qt::AscendingOrder);  // runs 1, 4, 2, 3
    selectRows(view, {0});
    QVERIFY(!browser.routingButton()->isEnabled());  // plain LoRA
    selectRows(view, {1});
    QVERIFY(!browser.routingButton()->isEnabled());
    QVERIFY2(browser.routingButton()->toolTip().contains(QStringLiteral("reads the task")),
             qPrintable(browser.routingButton()->toolTip()));
    selectRows(view, {2});
    QVERIFY(browser.routingButton()->isEnabled());
    QTest::mouseClick(browser.routingButton(), Qt::LeftButton);
    QCOMPARE(routing.count(), 1);
    QCOMPARE(routing.at(0).at(0).toLongLong(), qint64(2));
    selectRows(view, {0, 2, 3});
    QVERIFY(!browser.routingButton()->isEnabled());
    QVERIFY(browser.scoreButton()->isEnabled());
    QTest::mouseClick(browser.scoreButton(), Qt::LeftButton);
    QCOMPARE(score.count(), 1);
    QCOMPARE(score.at(0).at(0).value<QList<qint64>>().size(), 3);
  }

  void compareNeedsTwoRunsAndOpenOne() {
    RunsBrowser browser;
    browser.setRows(threeRuns());
    browser.show();
    QVERIFY(QTest::qWaitForWindowExposed(&browser));
    QSignalSpy compare(&browser, &RunsBrowser::compareRequested);
    QSignalSpy activated(&browser, &RunsBrowser::runActivated);
    QTableView* view = browser.view();
    view->sortByColumn(RunsTableModel::Name, Qt::AscendingOrder);  // rows: runs 1, 2, 3

    QVERIFY(!browser.compareButton()->isEnabled());
    QVERIFY(!browser.openButton()->isEnabled());
    selectRows(view, {0});
    QVERIFY(!browser.compareButton()->isEnabled());
    QVERIFY(browser.openButton()->isEnabled());
    QTest::mouseClick(browser.openButton(), Qt::LeftButton);
    QCOMPARE(activated.count(), 1);
    QCOMPARE(activated.at(0).at(0).toLongLong(), qint64(1));

    selectRows(view, {0, 2});
    QVERIFY(browser.compareButton()->isEnabled());
    QVERIFY(!browser.openButton()->isEnabled());
    QTest::mouseClick(browser.compareButton(), Qt::LeftButton);
    QCOMPARE(compare.count(), 1);
    QCOMPARE(compare.at(0).at(0).value<QList<qint64>>(), (QList<qint64>{1, 3}));

    // A real click and a ctrl-click select two rows as well.
    view->selectionModel()->clearSelection();
    const QRect first = view->visualRect(view->model()->index(1, RunsTableModel::Name));
    const QRect second = view->visualRect(view->model()->index(2, RunsTableModel::Name));
    QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, first.center());
    QVERIFY(!browser.compareButton()->isEnabled());
    QTest::mouseClick(view->viewport(), Qt::LeftButton, Qt::ControlModifier, second.center());
    QCOMPARE(browser.selectedRunIds(), (QList<qint64>{2, 3}));
    QVERIFY(browser.compareButton()->isEnabled());

    // A double-click (press, release, press, double-click, release) opens the run under it.
    QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, first.center());
    QTest::mouseDClick(view->viewport(), Qt::LeftButton, {}, first.center());
    QCOMPARE(activated.count(), 2);
    QCOMPARE(activated.at(1).at(0).toLongLong(), qint64(2));
  }

  void deleteAsksAndEmitsOnlyWhenConfirmed() {
    RunsBrowser browser;
    browser.setRows(threeRuns());
    QSignalSpy deleted(&browser, &RunsBrowser::deleteRequested);
    QString asked;
    bool answer = false;
    int questions = 0;
    browser.setConfirmer([&](const QString&, const QString& text) {
      ++questions;
      asked = text;
      return answer;
    });
    browser.view()->sortByColumn(RunsTableModel::Name, Qt::AscendingOrder);
    selectRows(browser.view(), {0, 2});  // runs 1 and 3

    QTest::mouseClick(browser.deleteButton(), Qt::LeftButton);
    QCOMPARE(questions, 1);
    QCOMPARE(deleted.count(), 0);
    QVERIFY2(asked.contains(QStringLiteral("#1  baseline-lora")), qPrintable(asked));
    QVERIFY2(asked.contains(QStringLiteral("#3  mola-triangle")), qPrintable(asked));
    QVERIFY2(!asked.contains(QStringLiteral("mola-inverted")), qPrintable(asked));
    QVERIFY2(asked.contains(QStringLiteral("2 runs")), qPrintable(asked));

    answer = true;
    QTest::mouseClick(browser.deleteButton(), Qt::LeftButton);
    QCOMPARE(questions, 2);
    QCOMPARE(deleted.count(), 1);
    QCOMPARE(deleted.at(0).at(0).value<QList<qint64>>(), (QList<qint64>{1, 3}));

    // A run that is still training cannot be deleted; nobody is asked.
    selectRows(browser.view(), {1});  // run 2, running
    QVERIFY(!browser.deleteButton()->isEnabled());
    browser.requestDelete();
    QCOMPARE(questions, 2);
    QCOMPARE(deleted.count(), 1);
  }

  void aFailingProviderIsReportedAndKeepsTheRows() {
    RunsBrowser browser;
    bool fail = false;
    browser.setProvider([&] {
      if (fail) throw std::runtime_error("runs.sqlite: database is locked");
      return threeRuns();
    });
    QCOMPARE(browser.model()->rowCount(), 3);
    fail = true;
    browser.refresh();
    QCOMPARE(browser.model()->rowCount(), 3);
    QVERIFY2(browser.statusLine().contains(QStringLiteral("runs.sqlite: database is locked")),
             qPrintable(browser.statusLine()));
    fail = false;
    browser.refresh();
    QCOMPARE(browser.statusLine(), QStringLiteral("3 runs"));
  }

  void silhouetteIsDrawnInTheAllocationCell() {
    RunsBrowser browser;
    browser.setRows(threeRuns());
    browser.resize(900, 300);
    browser.show();
    QVERIFY(QTest::qWaitForWindowExposed(&browser));
    QTableView* view = browser.view();
    view->sortByColumn(RunsTableModel::Name, Qt::AscendingOrder);
    view->selectionModel()->clearSelection();
    view->setCurrentIndex({});
    const QImage image = view->viewport()->grab().toImage();
    const QColor fill = view->palette().color(QPalette::Active, QPalette::Highlight);
    // Count fill pixels per bar row inside the silhouette of run 2 (2-4-6-8, bottom first):
    // the top layer is the widest, 4x the bottom one.
    const QRect cell = view->visualRect(view->model()->index(1, RunsTableModel::AllocationColumn));
    const QRect bars = mola::widgets::AllocationDelegate::silhouetteRect(cell);
    QVERIFY(!bars.isEmpty());
    auto widthAt = [&](double fraction_from_top) {
      const int y = bars.top() + int(bars.height() * fraction_from_top);
      int n = 0;
      for (int x = bars.left(); x <= bars.right(); ++x) n += image.pixelColor(x, y) == fill;
      return n;
    };
    const int top = widthAt(0.125), bottom = widthAt(0.875);
    QVERIFY2(top >= bars.width() - 2, qPrintable(QString::number(top)));
    QVERIFY2(bottom > 0 && std::abs(top / 4.0 - bottom) <= 1.5,
             qPrintable(QStringLiteral("top %1 bottom %2").arg(top).arg(bottom)));
  }

  void screenshot() {
    RunsBrowser browser;
    std::vector<RunsRow> rows = {
        makeRow(1, "quickstart", RunStatus::Completed, "2,4,6,8", 200, "2026-03-02T09:12:40Z",
                0.275),
        makeRow(2, "stories260k-lora-r8", RunStatus::Completed, "1,1,1,1,1", 1200,
                "2026-03-03T14:05:11Z", 0.412, "stories260K.bin"),
        makeRow(3, "stories260k-inverted-triangle", RunStatus::Completed, "2,4,6,8,8", 1200,
                "2026-03-03T15:40:02Z", 0.468, "stories260K.bin"),
        makeRow(4, "stories260k-triangle", RunStatus::Interrupted, "8,6,4,2,2", 730,
                "2026-03-04T08:02:55Z", 0.431, "stories260K.bin"),
        makeRow(5, "stories260k-hourglass", RunStatus::Failed, "8,2,2,8,8", 41,
                "2026-03-04T11:30:19Z", {}, "stories260K.bin"),
        makeRow(6, "llama2-7b-inverted-triangle", RunStatus::Running,
                "2,2,2,2,2,2,2,2,4,4,4,4,4,4,4,4,6,6,6,6,6,6,6,6,8,8,8,8,8,8,8,8", 1875,
                "2026-03-05T07:45:00Z", 0.781, "/data/models/Llama-2-7b-hf"),
        makeRow(7, "llama2-7b-diamond", RunStatus::Stopped,
                "2,2,2,2,2,2,2,2,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,2,2,2,2,2,2,2,2", 600,
                "2026-03-05T18:21:37Z", 0.744, "/data/models/Llama-2-7b-hf"),
        makeRow(8, "stories260k-full-ft", RunStatus::Completed, "", 1200, "2026-03-06T10:00:00Z",
                0.455, "stories260K.bin"),
    };
    browser.setRows(rows);
    browser.resize(960, 330);
    browser.show();
    QVERIFY(QTest::qWaitForWindowExposed(&browser));
    browser.selectRuns({2, 3});
    QVERIFY(browser.compareButton()->isEnabled());
    QDir().mkpath(QStringLiteral(MOLA_SCREENSHOT_DIR));
    QVERIFY(browser.grab().save(QStringLiteral(MOLA_SCREENSHOT_DIR "/runs_browser.png")));
    // Every column shows its whole header and content: nothing is elided at this width.
    QHeaderView* header = browser.view()->horizontalHeader();
    for (int c = RunsTableModel::Status; c < RunsTableModel::ColumnCount; ++c)
      QVERIFY2(header->sectionSize(c) >= header->sectionSizeHint(c),
               qPrintable(QStringLiteral("column %1 is cut").arg(c)));
  }
};

QTEST_MAIN(RunsBrowserTest)
#include "runs_browser_test.moc"
