// SPDX-License-Identifier: GPL-3.0-or-later
// Token routing map and dialog: the cells against values worked out by hand, the module, layer
// and quantity choices, a click on a layer row, the trace request, and a screenshot.
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTest>
#include <cmath>

#include "plot_export.h"
#include "routing_dialog.h"
#include "token_routing_map.h"

using mola::LayerTokenRouting;
using mola::ModuleTokenRouting;
using mola::RoutingQuantity;
using mola::TokenRouting;
using mola::widgets::RoutingDialog;
using mola::widgets::TokenRoutingMap;

namespace {

// Three tokens; layer 2 (index 1) with 2 experts and layer 4 (index 3) with 3, top-2; two modules.
TokenRouting handRouting() {
  TokenRouting r;
  r.ids = {1, 10, 11};
  r.tokens = {"<s>", " a", "b"};
  LayerTokenRouting low;
  low.layer = 1;
  low.experts = 2;
  low.top_k = 2;
  // Gates: token 0 (0.8, 0.2) and (0.6, 0.4) -> expert 1; token 1 (0.3, 0.7) and (0.4, 0.6) ->
  // 2; token 2 (0.9, 0.1) and (0.1, 0.9) -> a tie at 0.5: expert 1 (the lower).
  low.modules.push_back(
      {"q_proj", {{0.8, 0.2}, {0.3, 0.7}, {0.9, 0.1}}, {{0.8, 0.2}, {0.3, 0.7}, {0.9, 0.1}}});
  low.modules.push_back(
      {"v_proj", {{0.6, 0.4}, {0.4, 0.6}, {0.1, 0.9}}, {{0.6, 0.4}, {0.4, 0.6}, {0.1, 0.9}}});
  LayerTokenRouting high;
  high.layer = 3;
  high.experts = 3;
  high.top_k = 2;
  // q: token 0 keeps experts 3 and 1 (0.75, 0.25); v keeps 3 and 2 (0.5, 0.5): pooled (0.125,
  // 0.25, 0.625) -> expert 3. Token 1: q (0, 0.6, 0.4), v (0.7, 0, 0.3): pooled (0.35, 0.3,
  // 0.35) -> expert 1. Token 2: q (0.5, 0.5, 0), v (0, 0.2, 0.8): (0.25, 0.35, 0.4) -> 3.
  high.modules.push_back({"q_proj",
                          {{0.3, 0.1, 0.6}, {0.1, 0.5, 0.4}, {0.45, 0.45, 0.1}},
                          {{0.25, 0, 0.75}, {0, 0.6, 0.4}, {0.5, 0.5, 0}}});
  high.modules.push_back({"v_proj",
                          {{0.1, 0.4, 0.5}, {0.6, 0.1, 0.3}, {0.05, 0.15, 0.8}},
                          {{0, 0.5, 0.5}, {0.7, 0, 0.3}, {0, 0.2, 0.8}}});
  r.layers = {low, high};
  return r;
}

// A longer, realistic trace for the screenshot: 4 layers (of 2-4-6-8 experts unless told), a
// sentence, gates that change smoothly along the text (`shift`: another run's).
TokenRouting sentenceRouting(const std::vector<int>& experts = {2, 4, 6, 8}, double shift = 0) {
  TokenRouting r;
  const std::vector<std::string> words = {"<s>",  "Which",    " of", " these", " is",
                                          " the", " largest", ":",   " 3",     ",",
                                          " 17",  " or",      " 9",  "?"};
  for (size_t t = 0; t < words.size(); ++t) {
    r.ids.push_back(int(t) + 1);
    r.tokens.push_back(words[t]);
  }
  for (int j = 0; j < 4; ++j) {
    LayerTokenRouting l;
    l.layer = j;
    l.experts = experts[j];
    l.top_k = 2;
    for (const char* name : {"q_proj", "k_proj", "v_proj", "o_proj"}) {
      ModuleTokenRouting m;
      m.module = name;
      for (size_t t = 0; t < words.size(); ++t) {
        std::vector<double> p(size_t(l.experts));
        double sum = 0;
        for (int e = 0; e < l.experts; ++e) {
          p[size_t(e)] =
              std::exp(2.5 * std::sin(0.7 * double(t) + 1.3 * e + 0.4 * j + name[0] + shift));
          sum += p[size_t(e)];
        }
        for (double& v : p) v /= sum;
        std::vector<int> order(size_t(l.experts));
        for (int e = 0; e < l.experts; ++e) order[size_t(e)] = e;
        std::sort(order.begin(), order.end(),
                  [&](int a, int b) { return p[size_t(a)] > p[size_t(b)]; });
        std::vector<double> g(size_t(l.experts), 0.0);
        const double kept = p[size_t(order[0])] + p[size_t(order[1])];
        g[size_t(order[0])] = p[size_t(order[0])] / kept;
        g[size_t(order[1])] = p[size_t(order[1])] / kept;
        m.probability.push_back(p);
        m.gate.push_back(g);
      }
      l.modules.push_back(m);
    }
    r.layers.push_back(l);
  }
  return r;
}

QPoint cellCentre(const TokenRoutingMap& map, int row, int token) {
  return QPoint(int(map.xAxis->coordToPixel(token)), int(map.yAxis->coordToPixel(row)));
}

}  // namespace

class RoutingDialogTest : public QObject {
  Q_OBJECT

 private slots:
  void layersMapShowsTheDominantExpert() {
    TokenRoutingMap map;
    map.showLayers(handRouting());
    QCOMPARE(map.rowCount(), 2);
    QCOMPARE(map.tokenCount(), 3);
    QCOMPARE(map.layerOfRow(0), 1);
    QCOMPARE(map.layerOfRow(1), 3);
    QCOMPARE(map.cellValue(0, 0), 1.0);
    QCOMPARE(map.cellValue(0, 1), 2.0);
    QCOMPARE(map.cellValue(0, 2), 1.0);
    QCOMPARE(map.cellValue(1, 0), 3.0);
    QCOMPARE(map.cellValue(1, 1), 1.0);
    QCOMPARE(map.cellValue(1, 2), 3.0);
    QVERIFY(std::isnan(map.cellValue(2, 0)));
    // Every chosen expert, largest first, with its pooled gate.
    QCOMPARE(
        map.cellText(1, 0),
        QStringLiteral("'<s>' (token 1), layer 4: expert 3 0.63, expert 2 0.25, expert 1 0.13"));
    QVERIFY2(map.cellText(0, 1).startsWith(QStringLiteral("'\u2423a' (token 2)")),
             qPrintable(map.cellText(0, 1)));
    // One module alone: v_proj's gates.
    map.showLayers(handRouting(), "v_proj");
    QCOMPARE(map.cellValue(0, 2), 2.0);
    QCOMPARE(map.cellValue(1, 1), 1.0);
    QCOMPARE(map.cellValue(1, 0), 2.0);  // (0, 0.5, 0.5): the tie goes to the lower
    QCOMPARE(TokenRoutingMap::expertColor(1), QColor(0x1f77b4));
    QCOMPARE(TokenRoutingMap::expertColor(21), TokenRoutingMap::expertColor(1));
  }

  void layerMapShowsEachExpertsValue() {
    TokenRoutingMap map;
    map.showLayer(handRouting(), 3, RoutingQuantity::Gate);
    QCOMPARE(map.rowCount(), 3);
    QCOMPARE(map.layerOfRow(0), -1);
    QCOMPARE(map.cellValue(2, 0), 0.625);
    QCOMPARE(map.cellValue(0, 1), 0.35);
    map.showLayer(handRouting(), 3, RoutingQuantity::Probability, "q_proj");
    QCOMPARE(map.cellValue(1, 1), 0.5);
    map.showLayer(handRouting(), 3, RoutingQuantity::Selection);
    QCOMPARE(map.cellValue(0, 2), 0.25);  // q chose expert 1 for token 3, v did not
    QCOMPARE(map.cellValue(2, 2), 0.25);
    QCOMPARE(map.cellValue(1, 2), 0.5);
    QVERIFY2(map.cellText(1, 2).contains(QStringLiteral("expert 2: share of top-K choices 0.500")),
             qPrintable(map.cellText(1, 2)));
    map.showLayer(handRouting(), 0, RoutingQuantity::Gate);
    QCOMPARE(map.rowCount(), 0);  // layer 1 has no router
  }

  void dialogTracesAndChoosesLayers() {
    RoutingDialog d;
    d.show();
    QVERIFY(QTest::qWaitForWindowExposed(&d));
    d.setRun(7, QStringLiteral("run #7 (square)"), QStringLiteral("Which is larger?"));
    QVERIFY(d.windowTitle().contains(QStringLiteral("run #7")));
    QSignalSpy asked(&d, &RoutingDialog::traceRequested);
    QTest::mouseClick(d.traceButton(), Qt::LeftButton);
    QCOMPARE(asked.count(), 1);
    QCOMPARE(asked.at(0).at(0).toLongLong(), 7);
    QCOMPARE(asked.at(0).at(1).toString(), QStringLiteral("Which is larger?"));
    QVERIFY(!d.traceButton()->isEnabled());  // one trace at a time
    QTest::keyClick(d.textEdit(), Qt::Key_Return, Qt::ControlModifier);
    QCOMPARE(asked.count(), 1);  // Ctrl+Enter while tracing asks nothing more

    d.showRouting(handRouting());
    QVERIFY(d.traceButton()->isEnabled());
    QCOMPARE(d.layersMap()->rowCount(), 2);
    QCOMPARE(d.moduleBox()->count(), 3);  // all, q_proj, v_proj
    QCOMPARE(d.layerBox()->count(), 2);
    QCOMPARE(d.layerMap()->rowCount(), 3);  // the top layer first: 3 experts
    // A click on the bottom row of the layers map shows layer 2 below.
    d.layersMap()->replot();
    QTest::mouseClick(d.layersMap(), Qt::LeftButton, {}, cellCentre(*d.layersMap(), 0, 1));
    QCOMPARE(d.layerBox()->currentData().toInt(), 1);
    QCOMPARE(d.layerMap()->rowCount(), 2);
    QCOMPARE(d.layerMap()->cellValue(1, 1), 0.65);  // layer 2, expert 2, token 2: (0.7+0.6)/2
    d.moduleBox()->setCurrentIndex(d.moduleBox()->findData(QStringLiteral("q_proj")));
    QCOMPARE(d.layerMap()->cellValue(1, 1), 0.7);
    QCOMPARE(d.layersMap()->cellValue(0, 2), 1.0);
    d.quantityBox()->setCurrentIndex(d.quantityBox()->findData(int(RoutingQuantity::Selection)));
    QCOMPARE(d.layerMap()->cellValue(1, 1), 0.5);

    d.showFailure(QStringLiteral("run 7 has no intact checkpoint to load"));
    QVERIFY(d.status().contains(QStringLiteral("no intact checkpoint")));
    QVERIFY(d.traceButton()->isEnabled());
    // Ctrl+Enter traces too, the text as typed (line breaks kept).
    d.textEdit()->setPlainText(QStringLiteral("Question: 3 or 9?\nAnswer:"));
    // The shortcut reaches an active window only (a real X server without a window manager
    // activates nothing by itself).
    QApplication::setActiveWindow(&d);
    d.textEdit()->setFocus();
    QTest::keyClick(d.textEdit(), Qt::Key_Return, Qt::ControlModifier);
    QCOMPARE(asked.count(), 2);
    QCOMPARE(asked.at(1).at(1).toString(), QStringLiteral("Question: 3 or 9?\nAnswer:"));
  }

  // A second run beside the first: both traced with one press, the Trace button back once both
  // answered, the layers of both offered, a module one run lacks drawn as a placeholder there,
  // each run's failure named, and a run chosen after a trace traced at once.
  void dialogShowsASecondRunBeside() {
    RoutingDialog d;
    d.show();
    QVERIFY(QTest::qWaitForWindowExposed(&d));
    d.setRun(7, QStringLiteral("run #7 (square)"), QStringLiteral("Which is larger?"));
    d.setCandidates({{7, QStringLiteral("run #7 (square)")},
                     {8, QStringLiteral("run #8 (uniform)")},
                     {9, QStringLiteral("run #9 (lora)")}});
    QCOMPARE(d.compareBox()->count(), 3);  // none, 8, 9: not the run itself
    QVERIFY(!d.comparedLayersMap()->isVisible());
    QVERIFY(!d.setCompared(7));
    QSignalSpy asked(&d, &RoutingDialog::traceRequested);
    QVERIFY(d.setCompared(8));
    QCOMPARE(d.comparedRun(), qint64(8));
    QVERIFY(d.comparedLayersMap()->isVisible());
    QCOMPARE(asked.count(), 0);  // nothing traced yet: no text goes out by itself
    QVERIFY(d.windowTitle().contains(QStringLiteral("run #7 (square) and run #8 (uniform)")));
    // Each side's exports are named after its run.
    QVERIFY(mola::widgets::PlotExport::of(d.comparedLayerMap())
                ->defaultFileName(QStringLiteral("png"))
                .startsWith(QStringLiteral("routing-run8-")));
    QVERIFY(mola::widgets::PlotExport::of(d.layersMap())
                ->defaultFileName(QStringLiteral("png"))
                .startsWith(QStringLiteral("routing-run7-")));

    QTest::mouseClick(d.traceButton(), Qt::LeftButton);
    QCOMPARE(asked.count(), 2);
    QCOMPARE(asked.at(0).at(0).toLongLong(), 7);
    QCOMPARE(asked.at(1).at(0).toLongLong(), 8);
    QCOMPARE(asked.at(1).at(1).toString(), QStringLiteral("Which is larger?"));
    d.showRouting(7, handRouting());
    QVERIFY(!d.traceButton()->isEnabled());  // run 8 has not answered
    // Run 8: its layer 4 with 4 experts, its layer 1 routed too, and no v_proj.
    TokenRouting other = handRouting();
    other.layers[1].experts = 4;
    for (ModuleTokenRouting& m : other.layers[1].modules)
      for (auto* rows : {&m.gate, &m.probability})
        for (std::vector<double>& row : *rows) row.push_back(0.0);
    LayerTokenRouting first = other.layers[0];
    first.layer = 0;
    other.layers.insert(other.layers.begin(), first);
    for (LayerTokenRouting& l : other.layers) l.modules.pop_back();
    for (std::vector<double>& row : other.layers[2].modules[0].gate)
      for (double& g : row) g *= 0.5;  // its own scale would end at 0.4, run 7's at 0.7
    d.showRouting(8, other);
    QVERIFY(d.traceButton()->isEnabled());
    QCOMPARE(d.comparedRouting().layers.size(), size_t(3));
    QCOMPARE(d.comparedLayersMap()->rowCount(), 3);
    QCOMPARE(d.layersMap()->rowCount(), 2);
    QCOMPARE(d.layerBox()->count(), 3);  // layers 1, 2 and 4 of either run
    QCOMPARE(d.layerBox()->currentText(), QStringLiteral("4 (3 | 4 experts)"));
    QCOMPARE(d.layerMap()->rowCount(), 3);
    QCOMPARE(d.comparedLayerMap()->rowCount(), 4);
    QCOMPARE(d.layerMap()->valueTop(), 0.7);  // one colour scale for both
    QCOMPARE(d.comparedLayerMap()->valueTop(), 0.7);
    QCOMPARE(d.comparedLayerMap()->cellValue(2, 0), 0.375);                    // 0.75 / 2
    QCOMPARE(d.layerBox()->itemText(0), QStringLiteral("1 (- | 2 experts)"));  // run 8's alone
    d.layerBox()->setCurrentIndex(d.layerBox()->findData(0));
    QCOMPARE(d.layerMap()->rowCount(), 0);  // run 7 routes nothing in layer 1
    QCOMPARE(d.comparedLayerMap()->rowCount(), 2);
    d.moduleBox()->setCurrentIndex(d.moduleBox()->findData(QStringLiteral("v_proj")));
    QCOMPARE(d.comparedLayerMap()->rowCount(), 0);  // run 8 has no v_proj: a placeholder
    QCOMPARE(d.layersMap()->cellValue(0, 2), 2.0);  // run 7's v_proj as before
    QVERIFY(d.status().contains(QStringLiteral("run #8 (uniform): 3 tokens through 3 routing")));

    d.showFailure(8, QStringLiteral("run 8 has no intact checkpoint to load"));
    QVERIFY2(d.status().contains(
                 QStringLiteral("run #8 (uniform): Not traced: run 8 has no intact checkpoint")),
             qPrintable(d.status()));
    QVERIFY(d.status().contains(QStringLiteral("run #7 (square): 3 tokens")));
    // Another run chosen once the first has a trace: the text goes through it at once.
    QVERIFY(d.setCompared(9));
    QCOMPARE(asked.count(), 3);
    QCOMPARE(asked.at(2).at(0).toLongLong(), 9);
    QVERIFY(!d.traceButton()->isEnabled());
    d.showRouting(8, other);  // a late answer from a run no longer shown changes nothing
    QVERIFY(d.comparedRouting().layers.empty());
    d.showRouting(9, handRouting());
    QVERIFY(d.traceButton()->isEnabled());
    // Back to one run; a new first run starts without one beside it.
    QVERIFY(d.setCompared(-1));
    QVERIFY(!d.comparedLayersMap()->isVisible());
    QVERIFY(d.setCompared(9));
    d.setRun(10, QStringLiteral("run #10"), QString());
    QCOMPARE(d.comparedRun(), qint64(-1));
  }

  void screenshotSideBySide() {
    RoutingDialog d;
    d.setRun(3, QStringLiteral("run #3 (mola-2468)"),
             QStringLiteral("Which of these is the largest: 3, 17 or 9?"));
    d.setCandidates({{4, QStringLiteral("run #4 (mola-8888)")}});
    d.resize(1280, 720);
    d.show();
    QVERIFY(QTest::qWaitForWindowExposed(&d));
    QVERIFY(d.setCompared(4));
    d.traceButton()->click();
    d.showRouting(3, sentenceRouting());
    d.showRouting(4, sentenceRouting({8, 8, 8, 8}, 0.9));
    QCOMPARE(d.comparedLayerMap()->rowCount(), 8);
    QApplication::processEvents();
    QDir().mkpath(QStringLiteral(MOLA_SCREENSHOT_DIR));
    QVERIFY(d.grab().save(QStringLiteral(MOLA_SCREENSHOT_DIR "/routing_dialog_compare.png")));
  }

  void screenshot() {
    RoutingDialog d;
    d.setRun(3, QStringLiteral("run #3 (mola-2468)"),
             QStringLiteral("Which of these is the largest: 3, 17 or 9?"));
    d.resize(1000, 640);
    d.show();
    QVERIFY(QTest::qWaitForWindowExposed(&d));
    d.showRouting(sentenceRouting());
    QCOMPARE(d.layersMap()->tokenCount(), 14);
    QCOMPARE(d.layerMap()->rowCount(), 8);
    QApplication::processEvents();
    QDir().mkpath(QStringLiteral(MOLA_SCREENSHOT_DIR));
    QVERIFY(d.grab().save(QStringLiteral(MOLA_SCREENSHOT_DIR "/routing_dialog.png")));
  }
};

QTEST_MAIN(RoutingDialogTest)
#include "routing_dialog_test.moc"
