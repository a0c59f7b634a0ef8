// SPDX-License-Identifier: GPL-3.0-or-later
// The workbench window: choosing a preset updates the read-out; writes a screenshot PNG.
#include <QComboBox>
#include <QDir>
#include <QTest>
#include <QToolButton>

#include "main_window.h"
#include "preset_gallery.h"

class WorkbenchTest : public QObject {
  Q_OBJECT

 private slots:
  void clickingAPresetShowsItsBudget() {
    mola::app::MainWindow w;
    w.resize(980, 620);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    auto* gallery = w.findChild<mola::widgets::PresetGallery*>();
    QVERIFY(gallery);
    QTest::mouseClick(gallery->button(QStringLiteral("diamond")), Qt::LeftButton);
    QVERIFY2(w.readout().contains(QStringLiteral("<b>diamond</b> on llama2-7b")),
             qPrintable(w.readout()));
    QVERIFY2(w.readout().contains(QStringLiteral("<b>105,635,840</b>")), qPrintable(w.readout()));

    QDir().mkpath(QStringLiteral(MOLA_SCREENSHOT_DIR));
    QVERIFY(w.grab().save(QStringLiteral(MOLA_SCREENSHOT_DIR "/main_window.png")));

    auto* shape = w.findChild<QComboBox*>();
    shape->setCurrentText(QStringLiteral("stories260k"));
    QVERIFY2(w.readout().contains(QStringLiteral("experts per layer: 2,8,8,2,2")),
             qPrintable(w.readout()));
    QCOMPARE(gallery->numLayers(), 5);
  }
};

QTEST_MAIN(WorkbenchTest)
#include "workbench_test.moc"
