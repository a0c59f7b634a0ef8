// SPDX-License-Identifier: GPL-3.0-or-later
// The workbench as a user sizes and handles it: every view usable from 1024 x 640 up (nothing
// drawn over anything else, nothing squeezed or clipped), the mouse wheel reaching only a box
// that has the focus, and undo/redo from the Edit menu wherever the focus is in Design.
#include <qcustomplot.h>

#include <QAbstractSpinBox>
#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QRegularExpression>
#include <QScrollArea>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>

#include "allocation_designer.h"
#include "compare_view.h"
#include "experiment_form.h"
#include "layout_check.h"
#include "main_window.h"
#include "runs_browser.h"
#include "runs_table_model.h"
#include "store/run_launch.h"
#include "store/run_store.h"
#include "stored_runs.h"
#include "theme.h"
#include "train_view.h"
#include "training_plots.h"

using mola::RunStatus;
using mola::RunStore;
using mola::app::MainWindow;
using mola::widgets::Theme;

namespace {

// A window with something in every view: an experiment, a run open in Train, two compared, a
// study of four variants and three seeds.
struct FilledWindow {
  QTemporaryDir dir;
  MainWindow window;
  FilledWindow() {
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    {
      RunStore store = mola::openRunStore(db.toStdString());
      mola::test::writeRun(store, "inverted-triangle with a long name to wrap", "2-4-6-8", 60, 0.6,
                           0.7);
      mola::test::writeRun(store, "triangle", "8-6-4-2", 60, 0.8, 0.6);
      mola::test::writeStudy(store, "shapes", {"2-4-6-8", "5-5-5-5", "8-6-4-2", "2-8-8-2"},
                             {0.62, 0.55, 0.5, 0.58}, 3);
    }
    window.openDatabase(db);
    window.openExperiment(QStringLiteral(MOLA_EXPERIMENTS_DIR "/quickstart.json"));
    window.openRun(1);
    window.compareRuns({1, 2});
    window.show();
    window.activateWindow();  // the focus tests need the active window (no window manager here)
    if (!QTest::qWaitForWindowActive(&window)) qWarning("the window did not become active");
  }
};

// A theme for one test, and the desktop's again after it.
struct ThemeFor {
  explicit ThemeFor(Theme theme) { mola::widgets::applyTheme(theme); }
  ~ThemeFor() { mola::widgets::applyTheme(Theme::System); }
};

// WCAG's contrast ratio of two colours (1 to 21; 4.5 reads well as text).
double contrast(const QColor& a, const QColor& b) {
  const auto luminance = [](const QColor& c) {
    const auto channel = [](double v) {
      return v <= 0.03928 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF());
  };
  const double la = luminance(a), lb = luminance(b);
  return (std::max(la, lb) + 0.05) / (std::min(la, lb) + 0.05);
}

// Sends one wheel notch to `target` as the mouse would.
void wheel(QWidget* target, int delta) {
  const QPointF pos(target->width() / 2.0, target->height() / 2.0);
  QWheelEvent event(pos, target->mapToGlobal(pos), QPoint(), QPoint(0, delta), Qt::NoButton,
                    Qt::NoModifier, Qt::NoScrollPhase, false);
  QApplication::sendEvent(target, &event);
}

QAction* menuAction(MainWindow& w, const QString& menu, const QString& text) {
  for (QAction* top : w.menuBar()->actions())
    if (top->text().remove(QLatin1Char('&')) == menu && top->menu())
      for (QAction* a : top->menu()->actions())
        if (a->text().remove(QLatin1Char('&')).startsWith(text)) return a;
  return nullptr;
}

}  // namespace

class WorkbenchLayoutTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setOrganizationName(QStringLiteral("mola-workbench-test"));
    QApplication::setApplicationName(QStringLiteral("workbench_layout_test"));
    QSettings().clear();
  }

  void everyViewHoldsItsLayoutAtEverySize_data() {
    QTest::addColumn<QSize>("size");
    QTest::addColumn<bool>("dark");
    QTest::newRow("1600x1000") << QSize(1600, 1000) << false;
    QTest::newRow("1280x800") << QSize(1280, 800) << false;
    QTest::newRow("1024x640") << QSize(1024, 640) << false;
    QTest::newRow("1024x640 dark") << QSize(1024, 640) << true;
  }
  void everyViewHoldsItsLayoutAtEverySize() {
    QFETCH(QSize, size);
    QFETCH(bool, dark);
    ThemeFor theme(dark ? Theme::Dark : Theme::Light);
    FilledWindow f;
    f.window.resize(size);
    // The window can be made this small (else: which view holds it up).
    QString minimums;
    for (QTabWidget* tabs : f.window.findChildren<QTabWidget*>())
      for (int i = 0; i < tabs->count(); ++i)
        minimums += QStringLiteral(" %1 %2x%3;")
                        .arg(tabs->tabText(i))
                        .arg(tabs->widget(i)->minimumSizeHint().width())
                        .arg(tabs->widget(i)->minimumSizeHint().height());
    QVERIFY2(f.window.size() == size, qPrintable(QStringLiteral("%1x%2, view minimums:%3")
                                                     .arg(f.window.width())
                                                     .arg(f.window.height())
                                                     .arg(minimums)));
    const char* const names[] = {"design", "train", "runs", "compare", "study"};
    for (int tab = 0; tab < 5; ++tab) {
      f.window.showTab(static_cast<MainWindow::Tab>(tab));
      QTest::qWait(150);  // layouts and deferred resizes settle
      f.window.replotNow();
      const QStringList problems = mola::test::layoutProblems(&f.window);
      QDir().mkpath(QStringLiteral(MOLA_SCREENSHOT_DIR));
      f.window.grab().save(QStringLiteral(MOLA_SCREENSHOT_DIR "/layout_%1_%2x%3%4.png")
                               .arg(QLatin1String(names[tab]))
                               .arg(size.width())
                               .arg(size.height())
                               .arg(dark ? QStringLiteral("_dark") : QString()));
      QVERIFY2(problems.isEmpty(), qPrintable(QStringLiteral("%1 view at %2x%3:\n  %4")
                                                  .arg(QLatin1String(names[tab]))
                                                  .arg(size.width())
                                                  .arg(size.height())
                                                  .arg(problems.join(QStringLiteral("\n  ")))));
    }
  }

  // One wheel notch over an unfocused box while scrolling the form changes nothing (and
  // scrolls the form); a box the user clicked into takes the wheel.
  void theWheelReachesOnlyAFocusedBox() {
    FilledWindow f;
    f.window.resize(1024, 640);
    f.window.showTab(MainWindow::Tab::Design);
    QTest::qWait(100);
    auto* form = f.window.findChild<mola::widgets::ExperimentForm*>();
    QVERIFY(form);
    QComboBox* combo = nullptr;
    for (QComboBox* c : form->findChildren<QComboBox*>())
      if (c->isVisible() && c->count() > 1 && c->isEnabled()) combo = c;
    QVERIFY(combo);
    QSpinBox* spin = nullptr;
    for (QSpinBox* s : form->findChildren<QSpinBox*>())
      if (s->isVisible() && s->isEnabled() && s->value() > s->minimum()) spin = s;
    QVERIFY(spin);
    f.window.setFocus();
    const int combo_index = combo->currentIndex();
    const int spin_value = spin->value();
    for (int delta : {120, -120}) {
      wheel(combo, delta);
      wheel(spin, delta);
    }
    QCOMPARE(combo->currentIndex(), combo_index);
    QCOMPARE(spin->value(), spin_value);
    QCOMPARE(f.window.isModified(), false);

    spin->setFocus();
    QTRY_VERIFY(spin->hasFocus());
    wheel(spin, -120);
    QCOMPARE(spin->value(), spin_value - spin->singleStep());
  }

  // Undo and Redo in an Edit menu work wherever the focus is in Design, the text field included;
  // undoing back to the saved allocation leaves nothing to discard.
  void editMenuUndoesAllocationEditsFromAnyFocus() {
    FilledWindow f;
    f.window.showTab(MainWindow::Tab::Design);
    auto* designer = f.window.findChild<mola::widgets::AllocationDesigner*>();
    QVERIFY(designer);
    QAction* undo = menuAction(f.window, QStringLiteral("Edit"), QStringLiteral("Undo"));
    QAction* redo = menuAction(f.window, QStringLiteral("Edit"), QStringLiteral("Redo"));
    QVERIFY(undo && redo);
    const std::vector<int> saved = designer->allocation().perLayer();
    auto* text = designer->findChild<QLineEdit*>(QStringLiteral("allocationText"));
    QVERIFY(text);
    text->setFocus();
    text->selectAll();
    QTest::keyClicks(text, QStringLiteral("8,8,8,8"));
    QTest::keyClick(text, Qt::Key_Return);
    QCOMPARE(designer->allocation().perLayer(), (std::vector<int>{8, 8, 8, 8}));
    QVERIFY(f.window.isModified());
    QVERIFY(undo->isEnabled());

    QTRY_VERIFY(text->hasFocus());
    QTest::keyClick(text, Qt::Key_Z, Qt::ControlModifier);  // the shortcut, from the text field
    QCOMPARE(designer->allocation().perLayer(), saved);
    QCOMPARE(f.window.isModified(), false);  // back to the saved experiment
    QVERIFY(redo->isEnabled());
    redo->trigger();
    QCOMPARE(designer->allocation().perLayer(), (std::vector<int>{8, 8, 8, 8}));
    undo->trigger();
    QCOMPARE(designer->allocation().perLayer(), saved);
    QCOMPARE(f.window.isModified(), false);
  }

  // A whole run as CSV, and one PDF report of a run and of a comparison.
  void exportsResearchersExpect() {
    FilledWindow f;
    QTemporaryDir out;
    const QString folder = f.window.exportRunCsv(1, out.path());
    QVERIFY(!folder.isEmpty());
    QVERIFY2(folder.endsWith(QStringLiteral("inverted-triangle-with-a-long-name-to-wrap-run1")),
             qPrintable(folder));
    QFile metrics(QDir(folder).filePath(QStringLiteral("metrics.csv")));
    QVERIFY(metrics.open(QIODevice::ReadOnly));
    const QList<QByteArray> rows = metrics.readAll().split('\n');
    QCOMPARE(rows.front(), QByteArray("step,name,value"));
    QCOMPARE(rows.size(), 1 + 60 * 6 + 1);  // header, 6 metrics x 60 steps, the final newline
    QVERIFY(QFile::exists(QDir(folder).filePath(QStringLiteral("eval_scores.csv"))));
    QVERIFY(QFile::exists(QDir(folder).filePath(QStringLiteral("router_stats.csv"))));

    // The pages of a PDF file (-1: not a PDF).
    const auto pages = [](const QString& path) {
      QFile pdf(path);
      if (!pdf.open(QIODevice::ReadOnly)) return -1;
      const QString text = QString::fromLatin1(pdf.readAll());
      if (!text.startsWith(QLatin1String("%PDF"))) return -1;
      int n = 0;
      for (auto it = QRegularExpression(QStringLiteral("/Type\\s*/Page[^s]")).globalMatch(text);
           it.hasNext(); it.next())
        ++n;
      return n;
    };
    f.window.showTab(MainWindow::Tab::Train);
    QVERIFY(f.window.reportAction()->isEnabled());
    const QString run_pdf = out.filePath(QStringLiteral("run.pdf"));
    QVERIFY2(f.window.exportReport(run_pdf), qPrintable(f.window.lastError()));
    QVERIFY(pages(run_pdf) >= 1 + 8 / 2);  // the summary, then eight plots two to a page

    f.window.showTab(MainWindow::Tab::Compare);
    const QString compare_pdf = out.filePath(QStringLiteral("compare.pdf"));
    QVERIFY2(f.window.exportReport(compare_pdf), qPrintable(f.window.lastError()));
    QVERIFY(pages(compare_pdf) >= 1 + 7 / 2);  // curves, scores, two heatmaps

    f.window.showTab(MainWindow::Tab::Runs);
    QVERIFY(!f.window.reportAction()->isEnabled());
    // Kept beside the screenshots, to be looked at.
    QDir().mkpath(QStringLiteral(MOLA_SCREENSHOT_DIR));
    for (const QString& name : {QStringLiteral("run.pdf"), QStringLiteral("compare.pdf")}) {
      QFile::remove(QStringLiteral(MOLA_SCREENSHOT_DIR "/report_") + name);
      QFile::copy(out.filePath(name), QStringLiteral(MOLA_SCREENSHOT_DIR "/report_") + name);
    }
  }

  // Dark and light: every plot's titles, axis labels and tick labels read on its background, and
  // so do the window's texts on theirs; switching back restores the light plots.
  void plotsReadOnBothThemes() {
    for (Theme theme : {Theme::Dark, Theme::Light}) {
      ThemeFor applied(theme);
      QCOMPARE(mola::widgets::isDarkTheme(), theme == Theme::Dark);
      FilledWindow f;
      const QList<QCustomPlot*> plots = f.window.findChildren<QCustomPlot*>();
      QVERIFY(plots.size() >= 12);
      for (QCustomPlot* plot : plots) {
        const QColor background = plot->axisRect()->backgroundBrush().color();
        QCOMPARE(background.lightness() < 128, theme == Theme::Dark);
        for (QCPAxis* axis : plot->axisRect()->axes()) {
          QVERIFY2(contrast(axis->labelColor(), background) >= 7.0, qPrintable(axis->label()));
          QVERIFY(contrast(axis->tickLabelColor(), background) >= 4.5);
        }
      }
      const QPalette palette = f.window.palette();
      QVERIFY(contrast(palette.color(QPalette::WindowText), palette.color(QPalette::Window)) >= 7);
      QVERIFY(contrast(palette.color(QPalette::PlaceholderText), palette.color(QPalette::Window)) >=
              3.0);
      f.window.showTab(MainWindow::Tab::Train);
      f.window.grab().save(
          QStringLiteral(MOLA_SCREENSHOT_DIR "/theme_%1.png").arg(mola::widgets::themeName(theme)));
    }
  }

  // The small defects of the user test, each as the user saw it.
  void smallDefectsAreGone() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    {
      RunStore store = mola::openRunStore(db.toStdString());
      mola::test::writeRun(store, "finished", "2-4-6-8", 60, 0.6, 0.7);
      // Interrupted at step 80 with its last score at step 50.
      const int64_t cut =
          mola::test::writeRun(store, "cut-short", "8-6-4-2", 50, 0.8, 0.6, RunStatus::Interrupted);
      for (int step = 51; step <= 80; ++step) store.addMetrics(cut, {{step, "loss", 1.0}});
    }
    MainWindow w;
    w.resize(1600, 1000);
    QVERIFY(w.openDatabase(db));
    w.show();

    // Compare with no runs: a hint, not empty axes.
    w.showTab(MainWindow::Tab::Compare);
    auto* hint = w.compareView()->findChild<QLabel*>(QStringLiteral("compareEmpty"));
    QVERIFY(hint && hint->isVisible());
    QVERIFY(hint->text().contains(QStringLiteral("Runs")));
    QVERIFY(!w.compareView()->findChild<QTabWidget*>()->isVisible());

    // An interrupted run's score is said to come from an earlier step.
    QVERIFY(w.compareRuns({1, 2}));
    QVERIFY(!hint->isVisible());
    QVERIFY2(w.compareView()->notice().contains(QStringLiteral("step 80")) &&
                 w.compareView()->notice().contains(QStringLiteral("from step 50")),
             qPrintable(w.compareView()->notice()));

    // The Runs table's name column does not take half the window.
    w.showTab(MainWindow::Tab::Runs);
    QTest::qWait(50);
    const QTableView* table = w.runsBrowser()->view();
    const int name_width = table->columnWidth(mola::widgets::RunsTableModel::Name);
    QVERIFY2(
        name_width < table->viewport()->width() / 4,
        qPrintable(
            QStringLiteral("name %1 of %2 px").arg(name_width).arg(table->viewport()->width())));
    QVERIFY(name_width >= 140);  // and not squeezed either

    // "fair share 1/8" is a legend entry, not a label over the eighth bar.
    w.openRun(1);
    QCustomPlot* load = w.trainView()->plots()->loadPlot();
    bool in_legend = false;
    for (int i = 0; i < load->legend->itemCount(); ++i)
      if (auto* item = qobject_cast<QCPPlottableLegendItem*>(load->legend->item(i)))
        in_legend |= item->plottable()->name().startsWith(QStringLiteral("fair share 1/"));
    QVERIFY(in_legend);
    for (int i = 0; i < load->itemCount(); ++i)
      if (auto* text = qobject_cast<QCPItemText*>(load->item(i)))
        QVERIFY2(!text->visible() || !text->text().contains(QStringLiteral("fair share")),
                 qPrintable(text->text()));
  }
};

QTEST_MAIN(WorkbenchLayoutTest)
#include "workbench_layout_test.moc"
