// SPDX-License-Identifier: GPL-3.0-or-later
// Widgets: the silhouette paints bars proportional to the allocation; the gallery emits choices;
// the score dialog asks for a readable benchmark.
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QImage>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTest>
#include <QToolButton>

#include "allocation_silhouette.h"
#include "data_source_editor.h"
#include "preset_gallery.h"
#include "score_dialog.h"

using mola::Allocation;
using mola::widgets::AllocationSilhouette;
using mola::widgets::PresetGallery;

class WidgetsTest : public QObject {
  Q_OBJECT

 private:
  // Pixels of the highlight colour along the horizontal line through y.
  static int paintedWidth(const QImage& image, int y, QColor colour) {
    int n = 0;
    for (int x = 0; x < image.width(); ++x) n += image.pixelColor(x, y) == colour;
    return n;
  }

 private slots:
  void silhouetteBarsFollowTheExpertCounts() {
    AllocationSilhouette s;
    s.resize(204, 104);
    s.setAllocation(Allocation::parse("2-4-6-8", 4));
    QCOMPARE(s.barRect(0).width() * 4, s.barRect(3).width());
    QVERIFY2(s.barRect(3).bottom() < s.barRect(0).top(), "layer 4 is drawn above layer 1");

    const QImage image = s.grab().toImage();
    const QColor fill = s.palette().color(QPalette::Highlight);
    const int bottom = paintedWidth(image, int(s.barRect(0).center().y()), fill);
    const int top = paintedWidth(image, int(s.barRect(3).center().y()), fill);
    QCOMPARE(top, 200);  // the widest layer fills the 2 px-padded width
    QCOMPARE(bottom, 50);
  }

  void sharedScaleKeepsShapesComparable() {
    AllocationSilhouette s;
    s.resize(104, 104);
    s.setAllocation(Allocation::uniform(2, 4));
    s.setScaleMax(8);
    QCOMPARE(s.barRect(2).width(), 25.0);
    QVERIFY(s.barRect(4).isNull());
  }

  void galleryEmitsTheClickedPreset() {
    PresetGallery g(32);
    g.resize(800, 200);
    g.show();
    QVERIFY(QTest::qWaitForWindowExposed(&g));
    QSignalSpy spy(&g, &PresetGallery::presetChosen);
    QToolButton* hourglass = g.button(QStringLiteral("hourglass"));
    QVERIFY(hourglass);
    QTest::mouseClick(hourglass, Qt::LeftButton);
    QCOMPARE(spy.count(), 1);
    QCOMPARE(spy.at(0).at(0).toString(), QStringLiteral("hourglass"));
    QVERIFY(!g.button(QStringLiteral("pyramid")));
    g.setNumLayers(5);
    QCOMPARE(g.numLayers(), 5);
  }

  // Score is offered for a benchmark that reads, not for none or one that does not.
  void scoreDialogAsksForAReadableBenchmark() {
    mola::widgets::ScoreDialog d(QStringLiteral("run #3 (square)"));
    d.show();
    QVERIFY(QTest::qWaitForWindowExposed(&d));
    QPushButton* ok = d.findChild<QDialogButtonBox*>()->button(QDialogButtonBox::Ok);
    QVERIFY(!ok->isEnabled());
    QLineEdit* path = d.dataEditor()->pathEdit();
    path->setText(QStringLiteral("/nonexistent/bench.jsonl"));
    d.dataEditor()->inspect();
    emit d.dataEditor()->changed();
    QVERIFY(!ok->isEnabled());
    path->setText(QStringLiteral("synthetic:largest:30"));
    d.dataEditor()->inspect();
    emit d.dataEditor()->changed();
    QVERIFY(ok->isEnabled());
    d.protocolBox()->setCurrentIndex(2);
    const mola::widgets::ScoreRequest r = d.request();
    QCOMPARE(r.data.path, std::string("synthetic:largest:30"));
    QCOMPARE(r.protocol, QStringLiteral("generate"));
    QDir().mkpath(QStringLiteral(MOLA_SCREENSHOT_DIR));
    QVERIFY(d.grab().save(QStringLiteral(MOLA_SCREENSHOT_DIR "/score_dialog.png")));
  }
};

QTEST_MAIN(WidgetsTest)
#include "widgets_test.moc"
