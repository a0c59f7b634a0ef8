// SPDX-License-Identifier: GPL-3.0-or-later
// AllocationDesigner: mouse, wheel and keyboard edits change exactly the intended layers, undo
// restores them, presets and text match the Allocation API, the read-out matches the counts.
#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QDir>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTest>
#include <QToolButton>
#include <QUndoStack>
#include <QWheelEvent>

#include "allocation_designer.h"
#include "layer_diagram.h"
#include "preset_gallery.h"
#include "theme.h"

using mola::Allocation;
using mola::ModelShape;
using mola::widgets::AllocationDesigner;
using mola::widgets::LayerDiagram;
using mola::widgets::PresetGallery;

namespace {

std::vector<int> repeatGroups(const std::vector<int>& groups, int per_group) {
  std::vector<int> out;
  for (int g : groups) out.insert(out.end(), size_t(per_group), g);
  return out;
}

QString thousands(qlonglong v) {
  return QLocale(QLocale::English).toString(v);
}

}  // namespace

class AllocationDesignerTest : public QObject {
  Q_OBJECT

 private:
  // The centre of expert slot n (1-based) in layer j's row, in diagram coordinates.
  static QPoint at(const AllocationDesigner& d, int layer, int n) {
    const QRectF r = d.rowRect(layer);
    const double block = r.width() / d.diagram()->scaleMax();
    return QPoint(int(r.left() + (n - 0.5) * block), int(r.center().y()));
  }

  static void drag(AllocationDesigner& d, const std::vector<QPoint>& path,
                   Qt::KeyboardModifiers mods = Qt::NoModifier) {
    QWidget* w = d.diagram();
    QTest::mousePress(w, Qt::LeftButton, mods, path.front());
    for (size_t i = 1; i < path.size(); ++i) QTest::mouseMove(w, path[i]);
    QTest::mouseRelease(w, Qt::LeftButton, mods, path.back());
  }

  static void wheel(AllocationDesigner& d, int layer, int notches) {
    const QPointF pos = at(d, layer, 1);
    QWheelEvent e(pos, d.diagram()->mapToGlobal(pos), QPoint(), QPoint(0, 120 * notches),
                  Qt::NoButton, Qt::NoModifier, Qt::NoScrollPhase, false);
    QApplication::sendEvent(d.diagram(), &e);
  }

  // An 8-layer model ("small") with the inverted triangle: 2,2,4,4,6,6,8,8.
  static void setUpSmall(AllocationDesigner& d) {
    d.resize(1100, 700);
    d.setShape(*ModelShape::named("small"));
    d.show();
    QVERIFY(QTest::qWaitForWindowExposed(&d));
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{2, 2, 4, 4, 6, 6, 8, 8}));
  }

 private slots:
  void defaults() {
    AllocationDesigner d;
    QCOMPARE(d.shape().num_layers, 32);
    QCOMPARE(d.rank(), 8);
    QCOMPARE(d.topK(), 2);
    QCOMPARE(d.maxExperts(), 16);
    QCOMPARE(d.targetModules().size(), size_t(7));
    QCOMPARE(d.allocation().perLayer(), repeatGroups({2, 4, 6, 8}, 8));
    QVERIFY(d.isValid());
    QCOMPARE(d.diagram()->accessibleName().isEmpty(), false);
    QVERIFY(d.diagram()->accessibleDescription().contains(QStringLiteral("2, 2, 2")));
  }

  void layerOneIsAtTheBottom() {
    AllocationDesigner d;
    setUpSmall(d);
    QVERIFY(d.rowRect(0).top() > d.rowRect(7).bottom() - 1);
    QCOMPARE(d.diagram()->layerAt(d.rowRect(0).center().y()), 0);
    QCOMPARE(d.diagram()->layerAt(d.rowRect(5).center().y()), 5);
  }

  void dragSetsOneRow() {
    AllocationDesigner d;
    setUpSmall(d);
    drag(d, {at(d, 2, 4), at(d, 2, 7), at(d, 2, 10)});
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{2, 2, 10, 4, 6, 6, 8, 8}));
    QCOMPARE(d.undoStack()->count(), 1);
    // Dragging left shrinks it again.
    drag(d, {at(d, 2, 10), at(d, 2, 3)});
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{2, 2, 3, 4, 6, 6, 8, 8}));
  }

  void verticalSweepSetsTheRowsCrossed() {
    AllocationDesigner d;
    setUpSmall(d);
    // Rows 2..4 (layers index 1..3), ending over expert 7.
    drag(d, {at(d, 1, 2), at(d, 2, 5), at(d, 3, 7)});
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{2, 7, 7, 7, 6, 6, 8, 8}));
    QCOMPARE(d.undoStack()->count(), 1);
  }

  void sweepBackReleasesTheRowsLeft() {
    AllocationDesigner d;
    setUpSmall(d);
    // Down to layer index 1, then back up to 3: only rows 3..5 (index 3, 4) end set.
    drag(d, {at(d, 4, 6), at(d, 2, 9), at(d, 1, 9), at(d, 3, 9)});
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{2, 2, 4, 9, 9, 6, 8, 8}));
  }

  void selectedRowsMoveTogether() {
    AllocationDesigner d;
    setUpSmall(d);
    QWidget* w = d.diagram();
    QTest::mouseClick(w, Qt::LeftButton, Qt::NoModifier, at(d, 0, 1));
    QTest::mouseClick(w, Qt::LeftButton, Qt::ControlModifier, at(d, 5, 1));
    QTest::mouseClick(w, Qt::LeftButton, Qt::ControlModifier, at(d, 7, 1));
    QCOMPARE(d.diagram()->selection(), (std::set<int>{0, 5, 7}));
    QCOMPARE(d.undoStack()->count(), 0);  // clicks select, they do not edit
    drag(d, {at(d, 5, 6), at(d, 5, 3)});
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{3, 2, 4, 4, 6, 3, 8, 3}));
    // Shift-click extends from the anchor.
    QTest::mouseClick(w, Qt::LeftButton, Qt::NoModifier, at(d, 2, 1));
    QTest::mouseClick(w, Qt::LeftButton, Qt::ShiftModifier, at(d, 4, 1));
    QCOMPARE(d.diagram()->selection(), (std::set<int>{2, 3, 4}));
    drag(d, {at(d, 3, 4), at(d, 3, 12)});
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{3, 2, 12, 12, 12, 3, 8, 3}));
  }

  void dragsStopAtTopK() {
    AllocationDesigner d;
    setUpSmall(d);
    drag(d, {at(d, 6, 8), at(d, 6, 1)});
    QCOMPARE(d.allocation().experts(6), 2);  // top-K 2: held at 2
    auto* hint = d.findChild<QLabel*>(QStringLiteral("hint"));
    QVERIFY(hint);
    QVERIFY2(hint->text().contains(QStringLiteral("top-K is 2")), qPrintable(hint->text()));
    d.setTopK(1);
    drag(d, {at(d, 6, 2), at(d, 6, 1)});
    QCOMPARE(d.allocation().experts(6), 1);  // a plain LoRA layer, allowed with top-K 1
  }

  void wheelChangesOneRow() {
    AllocationDesigner d;
    setUpSmall(d);
    wheel(d, 3, +1);
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{2, 2, 4, 5, 6, 6, 8, 8}));
    wheel(d, 6, -1);
    wheel(d, 6, -1);
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{2, 2, 4, 5, 6, 6, 6, 8}));
    // Consecutive steps on the same row are one undo step.
    QCOMPARE(d.undoStack()->count(), 2);
    d.undoAction()->trigger();
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{2, 2, 4, 5, 6, 6, 8, 8}));
  }

  void wheelOnASelectedRowChangesTheSelection() {
    AllocationDesigner d;
    setUpSmall(d);
    QTest::mouseClick(d.diagram(), Qt::LeftButton, Qt::NoModifier, at(d, 4, 1));
    QTest::mouseClick(d.diagram(), Qt::LeftButton, Qt::ShiftModifier, at(d, 5, 1));
    wheel(d, 5, +2);
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{2, 2, 4, 4, 8, 8, 8, 8}));
  }

  void keyboardEdits() {
    AllocationDesigner d;
    setUpSmall(d);
    LayerDiagram* w = d.diagram();
    QTest::mouseClick(w, Qt::LeftButton, Qt::NoModifier, at(d, 0, 1));
    QVERIFY(w->hasFocus());
    QTest::keyClick(w, Qt::Key_Up);
    QCOMPARE(w->currentLayer(), 1);
    QTest::keyClick(w, Qt::Key_Right);
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{2, 3, 4, 4, 6, 6, 8, 8}));
    QTest::keyClick(w, Qt::Key_Up, Qt::ShiftModifier);
    QCOMPARE(w->selection(), (std::set<int>{1, 2}));
    QTest::keyClick(w, Qt::Key_Plus);
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{2, 4, 5, 4, 6, 6, 8, 8}));
    QTest::keyClick(w, Qt::Key_Minus);
    QTest::keyClick(w, Qt::Key_Left);
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{2, 2, 3, 4, 6, 6, 8, 8}));
    QTest::keyClick(w, Qt::Key_5);
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{2, 5, 5, 4, 6, 6, 8, 8}));
    QTest::keyClick(w, Qt::Key_1);
    QTest::keyClick(w, Qt::Key_2);  // within a second: 12
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{2, 12, 12, 4, 6, 6, 8, 8}));
    QTest::keyClick(w, Qt::Key_Down);
    QCOMPARE(w->selection(), (std::set<int>{1}));
    QTest::keyClick(w, Qt::Key_A, Qt::ControlModifier);
    QCOMPARE(w->selection().size(), size_t(8));
    QTest::keyClick(w, Qt::Key_Escape);  // breaks the digit run
    QTest::keyClick(w, Qt::Key_3);
    QCOMPARE(d.allocation(), Allocation::uniform(3, 8));
    QTest::keyClick(w, Qt::Key_1);  // below top-K 2: held at 2
    QCOMPARE(d.allocation(), Allocation::uniform(2, 8));
  }

  void undoRedoRestoreTheExactLists() {
    AllocationDesigner d;
    setUpSmall(d);
    std::vector<std::vector<int>> history{d.allocation().perLayer()};
    drag(d, {at(d, 2, 4), at(d, 2, 9)});
    history.push_back(d.allocation().perLayer());
    wheel(d, 0, +3);
    history.push_back(d.allocation().perLayer());
    QTest::mouseClick(d.findChild<PresetGallery*>()->button(QStringLiteral("hourglass")),
                      Qt::LeftButton);
    history.push_back(d.allocation().perLayer());
    auto* text = d.findChild<QLineEdit*>(QStringLiteral("allocationText"));
    text->clear();
    QTest::keyClicks(text, QStringLiteral("1,2,3,4,5,6,7,8"));
    QTest::keyClick(text, Qt::Key_Return);
    history.push_back(d.allocation().perLayer());
    QCOMPARE(history[1], (std::vector<int>{2, 2, 9, 4, 6, 6, 8, 8}));
    QCOMPARE(history[2], (std::vector<int>{5, 2, 9, 4, 6, 6, 8, 8}));
    QCOMPARE(history[3], (std::vector<int>{8, 8, 2, 2, 2, 2, 8, 8}));
    QCOMPARE(history[4], (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}));
    QCOMPARE(d.undoStack()->count(), 4);

    for (int i = 3; i >= 0; --i) {
      d.undoAction()->trigger();
      QCOMPARE(d.allocation().perLayer(), history[size_t(i)]);
      QCOMPARE(d.diagram()->counts(), history[size_t(i)]);
      QCOMPARE(text->text().toStdString(), Allocation(history[size_t(i)]).toList());
    }
    QVERIFY(!d.undoAction()->isEnabled());
    for (int i = 1; i <= 4; ++i) {
      d.redoAction()->trigger();
      QCOMPARE(d.allocation().perLayer(), history[size_t(i)]);
    }
    QCOMPARE(d.undoAction()->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_Z));
    QCOMPARE(d.redoAction()->shortcut(), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z));
    QVERIFY(d.actions().contains(d.undoAction()));
  }

  void undoShortcutWorksInTheDiagram() {
    AllocationDesigner d;
    setUpSmall(d);
    d.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&d));
    wheel(d, 7, -2);
    QCOMPARE(d.allocation().experts(7), 6);
    d.diagram()->setFocus();
    QTest::keyClick(d.diagram(), Qt::Key_Z, Qt::ControlModifier);
    QCOMPARE(d.allocation().experts(7), 8);
    QTest::keyClick(d.diagram(), Qt::Key_Z, Qt::ControlModifier | Qt::ShiftModifier);
    QCOMPARE(d.allocation().experts(7), 6);
  }

  void presetsSetTheDocumentedCounts() {
    AllocationDesigner d;
    d.resize(1100, 700);
    d.show();
    QVERIFY(QTest::qWaitForWindowExposed(&d));
    QCOMPARE(d.shape().num_layers, 32);
    // The README's table, 8 layers per group on a 32-layer model.
    const std::vector<std::pair<QString, std::vector<int>>> expected = {
        {QStringLiteral("square"), repeatGroups({5, 5, 5, 5}, 8)},
        {QStringLiteral("triangle"), repeatGroups({8, 6, 4, 2}, 8)},
        {QStringLiteral("hourglass"), repeatGroups({8, 2, 2, 8}, 8)},
        {QStringLiteral("diamond"), repeatGroups({2, 8, 8, 2}, 8)},
        {QStringLiteral("inverted-triangle"), repeatGroups({2, 4, 6, 8}, 8)},
    };
    auto* gallery = d.findChild<PresetGallery*>();
    QVERIFY(gallery);
    for (const auto& [name, counts] : expected) {
      QTest::mouseClick(gallery->button(name), Qt::LeftButton);
      QCOMPARE(d.allocation().perLayer(), counts);
      QCOMPARE(d.allocation(), Allocation::preset(name.toStdString(), 32));
      QCOMPARE(d.allocation().totalExperts(), int64_t{160});
    }
    auto* uniform = d.findChild<QSpinBox*>(QStringLiteral("uniformExperts"));
    QVERIFY(uniform);
    uniform->setValue(6);
    auto* apply = d.findChild<QPushButton*>(QStringLiteral("uniformApply"));
    QVERIFY(apply);
    QCOMPARE(apply->text(), QStringLiteral("Apply uniform"));
    QTest::mouseClick(apply, Qt::LeftButton);
    QCOMPARE(d.allocation().perLayer(), std::vector<int>(32, 6));
    QCOMPARE(d.undoStack()->count(), 6);  // five presets and the uniform allocation
  }

  void textFieldRoundTrips() {
    AllocationDesigner d;
    setUpSmall(d);
    auto* text = d.findChild<QLineEdit*>(QStringLiteral("allocationText"));
    auto* error = d.findChild<QLabel*>(QStringLiteral("textError"));
    QVERIFY(text && error);
    QCOMPARE(text->text(), QStringLiteral("2,2,4,4,6,6,8,8"));
    const std::vector<std::pair<QString, std::vector<int>>> entries = {
        {QStringLiteral("8-6-4-2"), {8, 8, 6, 6, 4, 4, 2, 2}},
        {QStringLiteral("3"), {3, 3, 3, 3, 3, 3, 3, 3}},
        {QStringLiteral("diamond"), {2, 2, 8, 8, 8, 8, 2, 2}},
        {QStringLiteral("uniform-4"), {4, 4, 4, 4, 4, 4, 4, 4}},
        {QStringLiteral(" 9,8,7,6,5,4,3,2 "), {9, 8, 7, 6, 5, 4, 3, 2}},
    };
    for (const auto& [entry, counts] : entries) {
      text->selectAll();
      QTest::keyClicks(text, entry);
      QTest::keyClick(text, Qt::Key_Enter);
      QCOMPARE(d.allocation().perLayer(), counts);
      QCOMPARE(text->text().toStdString(), Allocation(counts).toList());
      QVERIFY(error->isHidden());
    }
    // A drag shows up in the text.
    drag(d, {at(d, 0, 9), at(d, 0, 11)});
    QCOMPARE(text->text(), QStringLiteral("11,8,7,6,5,4,3,2"));

    const int commands = d.undoStack()->count();
    const Allocation before = d.allocation();
    for (const QString& bad : {QStringLiteral("2,3"), QStringLiteral("2,2,4,x,6,6,8,8"),
                               QStringLiteral("pyramid"), QStringLiteral("0")}) {
      text->selectAll();
      QTest::keyClicks(text, bad);
      QTest::keyClick(text, Qt::Key_Return);
      QCOMPARE(d.allocation(), before);
      QCOMPARE(d.undoStack()->count(), commands);
      QVERIFY2(error->isVisible(), qPrintable(bad));
      QCOMPARE(error->styleSheet(), mola::widgets::errorStyle());  // in the theme's error colour
      // The parser's own message, naming what is wrong.
      try {
        Allocation::parse(bad.toStdString(), 8);
        QFAIL("the entry should not parse");
      } catch (const std::invalid_argument& e) {
        QCOMPARE(error->text(), QString::fromStdString(e.what()));
      }
    }
    QVERIFY(error->text().contains(QStringLiteral("at least 1")));
  }

  void readoutMatchesTheCounts() {
    AllocationDesigner d;
    // LLaMA-2-7B, inverted triangle, r = 8, all seven modules: the README's figures.
    QVERIFY2(d.readoutText().contains(QStringLiteral("<b>105,635,840</b>")),
             qPrintable(d.readoutText()));
    QVERIFY(d.readoutText().contains(QStringLiteral("experts 99,942,400 + routers 5,693,440")));
    QVERIFY(d.readoutText().contains(QStringLiteral("<b>1.568%</b> of the 6,738,415,616 base")));
    // 105,635,840 x 16 B = 1611.9 MiB.
    QVERIFY(d.readoutText().contains(QStringLiteral("<b>1611.9 MiB</b>")));
    // A rank-1 LoRA on all modules of all 32 layers: 32 x (4 x 8192 + 3 x 15104) = 2,498,560
    // parameters; 105,635,840 / 2,498,560 = 42.3 -> r_eq 42, 696,320 fewer.
    QVERIFY(d.readoutText().contains(QStringLiteral("r<sub>eq</sub> = <b>42</b>")));
    QVERIFY(d.readoutText().contains(QStringLiteral("104,939,520")));
    QVERIFY(d.readoutText().contains(QStringLiteral("(this: +696,320)")));
    QVERIFY(d.readoutText().contains(
        QStringLiteral("<b>160</b> per module type (1,120 over 7 modules), 2 to 8 per layer")));

    d.setRank(16);
    d.setShape(*ModelShape::named("small"));
    const auto boxes = d.findChildren<QCheckBox*>();
    QCOMPARE(boxes.size(), 7);
    boxes[0]->setChecked(false);  // q_proj
    const auto modules = d.targetModules();
    QCOMPARE(modules.size(), size_t(6));
    const mola::ParameterCount count =
        countTrainableParameters(d.allocation(), d.shape(), 16, modules);
    QCOMPARE(d.trainableParameters().total(), count.total());
    QVERIFY2(d.readoutText().contains(QStringLiteral("<b>%1</b>").arg(thousands(count.total()))),
             qPrintable(d.readoutText()));
    // Without q_proj, routers: experts x d_in over k, v (512) + o (512) + gate, up (512) + down
    // (1376) per layer = 40 x (5 x 512 + 1376).
    QCOMPARE(count.router, int64_t{40} * (5 * 512 + 1376));

    for (QCheckBox* b : boxes) b->setChecked(false);
    QVERIFY(!d.isValid());
    QVERIFY(d.readoutText().contains(QStringLiteral("choose at least one target module")));
  }

  void topKAboveALayerIsFlagged() {
    AllocationDesigner d;
    setUpSmall(d);
    QSignalSpy validity(&d, &AllocationDesigner::validityChanged);
    d.setTopK(3);
    QCOMPARE(validity.count(), 1);
    QCOMPARE(validity.at(0).at(0).toBool(), false);
    QVERIFY(!d.isValid());
    QVERIFY2(d.readoutText().contains(QStringLiteral("top-K 3 needs at least 3 experts in layers "
                                                     "1, 2")),
             qPrintable(d.readoutText()));
    // The short rows are painted in the warning colour, the others in blue.
    QApplication::processEvents();
    const QImage image = d.diagram()->grab().toImage();
    const QColor warning(0xd9, 0x48, 0x01);
    QCOMPARE(image.pixelColor(at(d, 0, 1)), warning);
    QCOMPARE(image.pixelColor(at(d, 1, 2)), warning);
    QVERIFY(image.pixelColor(at(d, 2, 1)) != warning);
    QVERIFY(image.pixelColor(at(d, 2, 1)).blue() > image.pixelColor(at(d, 2, 1)).red());

    // Raising the short layers fixes it.
    drag(d, {at(d, 0, 2), at(d, 1, 3)});
    QCOMPARE(validity.count(), 2);
    QCOMPARE(validity.at(1).at(0).toBool(), true);
    QVERIFY(d.readoutText().contains(QStringLiteral("top-K 3 fits every layer")));
    d.setTopK(5);
    QVERIFY(d.readoutText().contains(QStringLiteral("layers 1, 2, 3, 4")));
  }

  void shapeChangesKeepTheGroups() {
    AllocationDesigner d;
    // A preset is re-applied on the new depth.
    d.setShape(*ModelShape::named("stories260k"));
    QCOMPARE(d.allocation(), Allocation::preset("inverted-triangle", 5));
    // A free-form allocation keeps the means of its quarters.
    d.setShape(*ModelShape::named("llama2-7b"));
    std::vector<int> custom;
    for (int g : {3, 5, 7, 9})
      for (int i = 0; i < 8; ++i) custom.push_back(g + (i % 2 ? 1 : -1));  // mean g per group
    d.setAllocation(Allocation(custom));
    QCOMPARE(d.undoStack()->count(), 1);
    d.setShape(*ModelShape::named("small"));
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{3, 3, 5, 5, 7, 7, 9, 9}));
    QCOMPARE(d.undoStack()->count(), 0);  // the history had the old depth
    QCOMPARE(d.diagram()->counts().size(), size_t(8));
    // An allocation of another depth takes its depth into the shape.
    d.setAllocation(Allocation({4, 4, 4}));
    QCOMPARE(d.shape().num_layers, 3);
    QCOMPARE(d.shape().d_model, int64_t{512});
    QVERIFY(!d.findChild<PresetGallery*>()->isEnabled());  // four-group shapes need 4 layers
    d.setShape(*ModelShape::named("tiny"));
    QVERIFY(d.findChild<PresetGallery*>()->isEnabled());
    QCOMPARE(d.allocation().perLayer(), (std::vector<int>{4, 4, 4, 4}));
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, d.setShape(ModelShape{}));
  }

  void allocationChangedIsEmittedOncePerEdit() {
    AllocationDesigner d;
    setUpSmall(d);
    QSignalSpy spy(&d, &AllocationDesigner::allocationChanged);
    drag(d, {at(d, 4, 6), at(d, 4, 5), at(d, 4, 2)});
    QCOMPARE(spy.count(), 1);
    QCOMPARE(spy.at(0).at(0).value<Allocation>().experts(4), 2);
  }

  void screenshot() {
    AllocationDesigner d;
    d.resize(1100, 700);
    d.show();
    QVERIFY(QTest::qWaitForWindowExposed(&d));
    // A hand-made shape with one short layer, so that the warning colour shows.
    std::vector<int> counts = repeatGroups({2, 4, 6, 8}, 8);
    counts[20] = 12;
    counts[21] = 12;
    counts[3] = 1;
    d.setAllocation(Allocation(counts));
    d.diagram()->setSelection({20, 21});
    d.diagram()->setFocus();
    QApplication::processEvents();
    QDir().mkpath(QStringLiteral(MOLA_SCREENSHOT_DIR));
    QVERIFY(d.grab().save(QStringLiteral(MOLA_SCREENSHOT_DIR "/allocation_designer.png")));
  }
};

QTEST_MAIN(AllocationDesignerTest)
#include "allocation_designer_test.moc"
