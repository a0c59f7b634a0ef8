// SPDX-License-Identifier: GPL-3.0-or-later
// Plots: smoothing, heatmap cells, fair share, throttled replots, the compare view, and
// screenshots of the dashboards filled with realistic synthetic runs.
#include <qcustomplot.h>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <cmath>
#include <limits>
#include <random>
#include <set>

#include "compare_view.h"
#include "ema_smoother.h"
#include "expert_heatmap.h"
#include "paired_score_table.h"
#include "plot_export.h"
#include "score_chart.h"
#include "task_gate_map.h"
#include "training_plots.h"

using mola::Allocation;
using mola::EvalScore;
using mola::LayerRouterStats;
using mola::MetricPoint;
using mola::RouterStatsSnapshot;
using namespace mola::widgets;

namespace {

// Layer j of an allocation: expert i gets a share proportional to exp(-skew * i), the skew
// fading over training (routers balance out) and larger in upper layers.
LayerRouterStats skewedLayer(int layer, int n, int64_t step, std::mt19937& rng) {
  LayerRouterStats l;
  l.layer = layer;
  l.tokens = 4096;
  std::normal_distribution<double> noise(0.0, 0.08);
  const double skew = (0.25 + 0.08 * layer) * (0.4 + 1.6 * std::exp(-double(step) / 150.0));
  std::vector<double> w(size_t(n), 0.0);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += w[size_t(i)] = std::exp(-skew * i + noise(rng));
  for (double& x : w) x /= sum;
  l.token_fraction = w;
  // Router probabilities are softer than the top-K picks.
  double psum = 0;
  for (int i = 0; i < n; ++i) psum += std::sqrt(w[size_t(i)]);
  double h = 0;
  for (int i = 0; i < n; ++i) {
    const double p = std::sqrt(w[size_t(i)]) / psum;
    l.mean_probability.push_back(p);
    h -= p * std::log(p);
  }
  l.entropy = h;
  l.normalized_entropy = h / std::log(double(n));
  double mean = 1.0 / n, var = 0;
  for (double f : w) var += (f - mean) * (f - mean);
  l.load_cv = std::sqrt(var / n) / mean;
  return l;
}

RouterStatsSnapshot skewedSnapshot(const Allocation& a, int64_t step, std::mt19937& rng) {
  RouterStatsSnapshot s;
  s.step = step;
  for (int j = 0; j < a.numLayers(); ++j)
    if (a.experts(j) > 1) s.layers.push_back(skewedLayer(j, a.experts(j), step, rng));
  return s;
}

struct SyntheticRun {
  std::vector<MetricPoint> metrics;
  std::vector<RouterStatsSnapshot> router;
  std::vector<EvalScore> scores;
};

// A decaying noisy loss with warmup + linear decay, router snapshots every 10 steps and an
// evaluation every 100 steps whose accuracy rises towards `final_accuracy`.
SyntheticRun syntheticRun(const Allocation& a, int steps, double lr, double floor_loss,
                          double final_accuracy, unsigned seed) {
  SyntheticRun r;
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  for (int s = 1; s <= steps; ++s) {
    const double clean = floor_loss + 2.2 * std::exp(-s / 110.0);
    const double loss = clean * (1.0 + 0.07 * noise(rng));
    const double rate = s <= 30 ? lr * s / 30.0 : lr * double(steps - s) / double(steps - 30);
    r.metrics.push_back({s, "loss", loss});
    r.metrics.push_back({s, "lr", rate});
    r.metrics.push_back({s, "balance_loss",
                         0.001 * (a.numLayers() + 0.9 * std::exp(-s / 90.0) + 0.05 * noise(rng))});
    r.metrics.push_back({s, "grad_norm", 0.4 + 0.1 * noise(rng)});
    r.metrics.push_back({s, "tokens_per_s", 5200 + 150 * noise(rng)});
    r.metrics.push_back({s, "elapsed_s", s * 0.21});
    if (s % 10 == 0) r.router.push_back(skewedSnapshot(a, s, rng));
    if (s % 100 == 0) {
      EvalScore e;
      e.step = s;
      e.benchmark = "arc_easy";
      e.split = "test";
      e.protocol = "likelihood";
      e.n = 200;
      e.accuracy = std::round(200 * (0.25 + (final_accuracy - 0.25) * s / steps)) / 200.0;
      std::tie(e.ci_low, e.ci_high) = ScoreChart::wilsonInterval(e.accuracy, e.n);
      r.scores.push_back(e);
    }
  }
  return r;
}

std::string configJson(const std::string& name, const std::string& allocation, double lr,
                       bool with_clip) {
  std::string clip = with_clip ? R"("grad_clip": 1.0, )" : "";
  return R"({"name": ")" + name +
         R"(", "model": {"path": "builtin:tiny-pretrained", "dtype": "fp32"},
    "adapter": {"method": "mola", "allocation": ")" +
         allocation + R"(", "rank": 8, "top_k": 2,
    "target_modules": ["q_proj", "v_proj"]},
    "training": {)" +
         clip + R"("batch_size": 16, "max_steps": 400, "optimizer": {"name": "adamw", "lr": )" +
         std::to_string(lr) + "}}}";
}

bool sameRgb(const QColor& a, const QColor& b) {
  return a.rgb() == b.rgb();
}

}  // namespace

class PlotsTest : public QObject {
  Q_OBJECT

 private slots:
  void emaEqualsHandComputedDebiasedEma() {
    // w = 0.5 over 4, 2, 6: s = 2, 2, 4 before debiasing by 1 - 0.5^t = 0.5, 0.75, 0.875.
    const std::vector<double> half = EmaSmoother::smooth({4, 2, 6}, 0.5);
    QCOMPARE(half.size(), size_t(3));
    QVERIFY(std::fabs(half[0] - 4.0) < 1e-12);
    QVERIFY(std::fabs(half[1] - 2.0 / 0.75) < 1e-12);
    QVERIFY(std::fabs(half[2] - 4.0 / 0.875) < 1e-12);
    // A NaN repeats the last smoothed value and does not count as a step.
    const std::vector<double> gap =
        EmaSmoother::smooth({4, std::numeric_limits<double>::quiet_NaN(), 2}, 0.5);
    QVERIFY(std::fabs(gap[1] - 4.0) < 1e-12);
    QVERIFY(std::fabs(gap[2] - 2.0 / 0.75) < 1e-12);

    // The dashboard's bold curve at w = 0.9: 0.4 / 0.1, 0.56 / 0.19, 1.104 / 0.271.
    TrainingPlots plots;
    QCOMPARE(plots.smoothing(), 0.9);
    plots.appendMetrics({{1, "loss", 4}, {2, "loss", 2}, {3, "loss", 6}});
    auto ema = plots.smoothedLossGraph()->data();
    QCOMPARE(ema->size(), 3);
    QVERIFY(std::fabs(ema->at(0)->value - 4.0) < 1e-12);
    QVERIFY(std::fabs(ema->at(1)->value - 0.56 / 0.19) < 1e-12);
    QVERIFY(std::fabs(ema->at(2)->value - 1.104 / 0.271) < 1e-12);
    QCOMPARE(plots.rawLossGraph()->data()->at(2)->value, 6.0);
    plots.setSmoothing(0.5);
    QVERIFY(std::fabs(plots.smoothedLossGraph()->data()->at(2)->value - 4.0 / 0.875) < 1e-12);
    QCOMPARE(plots.smoothingSlider()->value(), 50);
    // A resumed run replays from step 2: the old steps 2.. are replaced, the EMA recomputed.
    plots.appendMetrics({{2, "loss", 10}});
    QCOMPARE(plots.rawLossGraph()->data()->size(), 2);
    QVERIFY(std::fabs(plots.smoothedLossGraph()->data()->at(1)->value - 6.0 / 0.75) < 1e-12);
    // Non-finite values are gaps, counted in the status line.
    plots.appendMetrics({{3, "loss", std::numeric_limits<double>::infinity()}});
    QCOMPARE(plots.nonFiniteCount(), 1);
    QVERIFY(std::isnan(plots.rawLossGraph()->data()->at(2)->value));
    plots.replotNow();
    QVERIFY(plots.statusLabel()->text().contains(QStringLiteral("non-finite")));
    // The status line names the peak memory in GiB, and leaves tokens/s and the time to the
    // Train view's progress line.
    plots.appendMetrics(
        {{3, "peak_mem_mb", 3993.6}, {3, "tokens_per_s", 812}, {3, "elapsed_s", 9}});
    plots.replotNow();
    const QString status = plots.statusLabel()->text();
    QVERIFY2(status.contains(QStringLiteral("peak memory 3.9 GiB")), qPrintable(status));
    QVERIFY2(
        !status.contains(QStringLiteral("tokens/s")) && !status.contains(QStringLiteral("elapsed")),
        qPrintable(status));
  }

  void heatmapPutsEachLayerAndExpertInItsCell() {
    const Allocation a = Allocation::parse("2-4-6-8", 8);  // 2,2,4,4,6,6,8,8
    RouterStatsSnapshot s;
    s.step = 40;
    for (int j = 0; j < 8; ++j) {
      LayerRouterStats l;
      l.layer = j;
      for (int i = 0; i < a.experts(j); ++i) {
        l.token_fraction.push_back(0.01 * (10 * j + i));
        l.mean_probability.push_back(0.5);
      }
      s.layers.push_back(l);
    }
    ExpertHeatmap h;
    h.resize(420, 320);
    h.setAllocation(a);
    h.setSnapshot(s);
    QCPColorMapData* d = h.colorMap()->data();
    QVERIFY(d->keySize() >= 8);
    QVERIFY(d->valueSize() >= 8);
    for (int j = 0; j < 8; ++j)
      for (int i = 0; i < 8; ++i) {
        double key = 0, value = 0;
        d->cellToCoord(i, j, &key, &value);
        QCOMPARE(key, i + 1.0);    // x: expert number
        QCOMPARE(value, j + 1.0);  // y: layer number, layer 1 at the bottom
        if (i < a.experts(j)) {
          QCOMPARE(d->cell(i, j), 0.01 * (10 * j + i));
          QCOMPARE(h.cellValue(j, i), 0.01 * (10 * j + i));
        } else {
          QVERIFY2(std::isnan(d->cell(i, j)), "a cell the layer does not have must be empty");
        }
      }
    QVERIFY(h.warning().isEmpty());
    QVERIFY(!h.yAxis->rangeReversed());

    // Rendered: an absent cell shows the white background, an existing zero the gradient's
    // lowest colour (viridis' dark purple), never the same.
    h.setColorRange(0.0, 0.8);
    h.replot();
    const QImage image = h.toPixmap().toImage();
    const auto pixel = [&](int layer, int expert) {
      return image.pixelColor(int(h.xAxis->coordToPixel(expert + 1)),
                              int(h.yAxis->coordToPixel(layer + 1)));
    };
    QCOMPARE(pixel(0, 7), QColor(Qt::white));  // layer 1 has 2 experts: expert 8 is absent
    const QColor zero = pixel(0, 0);           // layer 1, expert 1 has 0.0
    QVERIFY2(zero.red() < 90 && zero.blue() > 60 && zero.green() < 40, "zero is dark purple");
    QVERIFY(h.yAxis->coordToPixel(1) > h.yAxis->coordToPixel(8));

    // Shared ranges are kept; the relative view multiplies by N_j.
    QCOMPARE(h.colorRange(), QCPRange(0.0, 0.8));
    h.setValueKind(ExpertHeatmap::Value::RelativeLoad);
    QVERIFY(std::fabs(h.cellValue(7, 3) - 8 * 0.73) < 1e-12);
    QCOMPARE(h.colorScale()->axis()->label(), QString("load / fair share"));
    // A MOELoRA snapshot (with tasks) holds its gates' weights: the scale says so.
    RouterStatsSnapshot gated = s;
    gated.tasks = {"largest", "opposite"};
    h.setSnapshot(gated);
    QCOMPARE(h.colorScale()->axis()->label(), QString("task weight / fair share"));
    h.setValueKind(ExpertHeatmap::Value::TokenFraction);
    QCOMPARE(h.colorScale()->axis()->label(), QString("mean task weight"));
    h.setSnapshot(s);
    QCOMPARE(h.colorScale()->axis()->label(), QString("token share"));
    h.setValueKind(ExpertHeatmap::Value::RelativeLoad);

    // Layers with one expert are empty and labelled; statistics that do not fit are reported.
    ExpertHeatmap lora;
    lora.setAllocation(Allocation({1, 4}));
    RouterStatsSnapshot bad;
    bad.layers.push_back({1, 10, {0.1, 0.2, 0.7}, {0.3, 0.3, 0.4}, 0, 0, 0});
    lora.setSnapshot(bad);
    for (int i = 0; i < 4; ++i) {
      QVERIFY(std::isnan(lora.cellValue(0, i)));
      QVERIFY(std::isnan(lora.cellValue(1, i)));
    }
    QVERIFY(lora.warning().contains(QStringLiteral("layer 2")));
    bool labelled = false;
    for (int i = 0; i < lora.itemCount(); ++i)
      if (auto* t = qobject_cast<QCPItemText*>(lora.item(i)))
        labelled = labelled || (t->visible() && t->text().contains(QStringLiteral("no router")));
    QVERIFY(labelled);
  }

  void fairShareLineSitsAtOneOverN() {
    const Allocation a = Allocation::parse("2-4-6-8", 8);
    std::mt19937 rng(3);
    TrainingPlots plots;
    plots.setAllocation(a);
    // Layers without routers are not offered.
    QCOMPARE(plots.layerBox()->count(), 8);
    const RouterStatsSnapshot s = skewedSnapshot(a, 10, rng);
    plots.appendRouterStats(s);
    plots.replotNow();
    for (int layer : {7, 2, 0}) {
      plots.setSelectedLayer(layer);
      const int n = a.experts(layer);
      QVERIFY(plots.fairShareLine()->visible());
      QCOMPARE(plots.fairShareLine()->point1->coords().y(), 1.0 / n);
      QCOMPARE(plots.fairShareLine()->point2->coords().y(), 1.0 / n);
      auto bars = plots.tokenShareBars()->data();
      QCOMPARE(bars->size(), n);
      for (int i = 0; i < n; ++i) {
        QCOMPARE(bars->at(i)->key, i + 1.0);
        QCOMPARE(bars->at(i)->value, s.layers[size_t(layer)].token_fraction[size_t(i)]);
        QCOMPARE(plots.meanProbabilityBars()->data()->at(i)->value,
                 s.layers[size_t(layer)].mean_probability[size_t(i)]);
      }
    }
    // One entropy line per routed layer, coloured along the layer ramp.
    for (int j = 0; j < 8; ++j) {
      QVERIFY(plots.entropyGraph(j));
      QCOMPARE(plots.entropyGraph(j)->data()->at(0)->value, s.layers[size_t(j)].normalized_entropy);
      QVERIFY(sameRgb(plots.entropyGraph(j)->pen().color(), layerColor(j, 8)));
    }
    // The heatmap took the snapshot at the replot.
    QCOMPARE(plots.heatmap()->cellValue(7, 1), s.layers[7].token_fraction[1]);
  }

  // MOELoRA: a gate that reads the task shows, for the chosen layer, each task's weight of every
  // expert in the load plot's place; plain router runs keep the load bars.
  void taskGatesShowEachTasksExpertWeights() {
    const Allocation a = Allocation::parse("4", 4);
    TrainingPlots plots;
    plots.resize(1100, 700);
    plots.setAllocation(a);
    RouterStatsSnapshot s;
    s.step = 30;
    s.tasks = {"largest", "opposite", "category"};
    for (int j = 0; j < 4; ++j) {
      std::vector<std::vector<double>> table;
      for (int t = 0; t < 3; ++t) {
        std::vector<double> w(4, 0.1);
        w[size_t((j + t) % 4)] = 0.7;
        table.push_back(w);
      }
      s.task_weights.push_back(table);
      LayerRouterStats l;
      l.layer = j;
      l.token_fraction = l.mean_probability = {0.25, 0.25, 0.25, 0.25};
      s.layers.push_back(l);
    }
    QComboBox* kinds = plots.heatmapKindBox();
    QCOMPARE(kinds->count(), 3);
    kinds->setCurrentIndex(1);  // load / fair share
    plots.appendRouterStats(s);
    plots.tabs()->setCurrentIndex(1);
    plots.show();
    QVERIFY(QTest::qWaitForWindowExposed(&plots));
    plots.setSelectedLayer(2);
    plots.replotNow();
    // The heatmap's kinds are named for task weights (no token share), keeping the chosen one.
    QCOMPARE(kinds->count(), 2);
    QCOMPARE(kinds->itemText(0), QString("mean task weight"));
    QCOMPARE(kinds->currentText(), QString("task weight / fair share"));
    QCOMPARE(plots.heatmap()->colorScale()->axis()->label(), QString("task weight / fair share"));
    TaskGateMap* map = plots.taskGateMap();
    QVERIFY(map->isVisible());
    QCOMPARE(map->taskCount(), 3);
    QCOMPARE(map->expertCount(), 4);
    QCOMPARE(map->cellValue(1, 3), 0.7);  // layer 3, task 2: expert (2 + 1) % 4 + 1
    QCOMPARE(map->cellValue(1, 0), 0.1);
    QVERIFY(std::isnan(map->cellValue(3, 0)));
    QDir().mkpath(QStringLiteral(MOLA_SCREENSHOT_DIR));
    QVERIFY(
        plots.grab().save(QStringLiteral(MOLA_SCREENSHOT_DIR "/training_plots_task_gates.png")));
    // A routed run's snapshot brings the load bars back.
    RouterStatsSnapshot routed = s;
    routed.tasks.clear();
    routed.task_weights.clear();
    plots.appendRouterStats(routed);
    plots.replotNow();
    QVERIFY(!map->isVisible());
    QCOMPARE(kinds->count(), 3);
    QCOMPARE(kinds->itemText(0), QString("token share"));
    QCOMPARE(kinds->currentText(), QString("load / fair share"));
    QCOMPARE(plots.heatmap()->colorScale()->axis()->label(), QString("load / fair share"));
  }

  // A 30-layer model (SmolLM2) wraps the entropy legend into columns with empty cells; drawing
  // it crashed the Train view.
  void aDeepModelsWrappedLegendDraws() {
    const Allocation a = Allocation::parse("2-4-6-8", 30);
    std::mt19937 rng(5);
    TrainingPlots plots;
    plots.resize(1100, 650);
    plots.show();
    plots.setAllocation(a);
    plots.appendRouterStats(skewedSnapshot(a, 10, rng));
    plots.replotNow();
    QCustomPlot* entropy = plots.entropyGraph(0)->parentPlot();
    entropy->replot();
    int items = 0;
    for (int i = 0; i < entropy->legend->itemCount(); ++i)
      items += entropy->legend->item(i) != nullptr;
    QCOMPARE(items, 30);
    QVERIFY(entropy->legend->itemCount() > items);  // the empty cells are there
  }

  void inconsistentRouterStatsAreReportedNotFatal() {
    TrainingPlots plots;
    plots.resize(1100, 650);
    plots.setAllocation(Allocation({2, 4, 1, 4}));
    QCOMPARE(plots.layerBox()->count(), 3);  // layer 3 has one expert: no router
    RouterStatsSnapshot s;
    s.step = 5;
    s.layers.push_back({1, 10, {0.5, 0.5}, {0.5, 0.5}, 0.6, 1.0, 0.0});    // 2 for 4 experts
    s.layers.push_back({9, 10, {0.25, 0.75}, {0.4, 0.6}, 0.6, 0.9, 0.7});  // no layer 10
    s.layers.push_back({3, 10, {}, {}, std::nan(""), std::nan(""), std::nan("")});  // empty
    plots.appendRouterStats(s);
    plots.setSelectedLayer(1);
    plots.replotNow();
    const QString w = plots.heatmap()->warning();
    QVERIFY2(w.contains(QStringLiteral("layer 2")) && w.contains(QStringLiteral("layer 10")) &&
                 w.contains(QStringLiteral("layer 4")),
             qPrintable(w));
    QCOMPARE(plots.heatmap()->warning().count(QLatin1Char('\n')), 2);
    for (int i = 0; i < 4; ++i) QVERIFY(std::isnan(plots.heatmap()->cellValue(1, i)));
    // The bar chart shows what there is; missing experts are gaps, the fair share stays 1/4.
    QCOMPARE(plots.tokenShareBars()->data()->size(), 4);
    QVERIFY(std::isnan(plots.tokenShareBars()->data()->at(3)->value));
    QCOMPARE(plots.fairShareLine()->point1->coords().y(), 0.25);
    // The unknown layer still gets its entropy line (NaN values are gaps).
    QVERIFY(plots.entropyGraph(9));
    QVERIFY(std::isnan(plots.entropyGraph(3)->data()->at(0)->value));
    plots.clear();
    QCOMPARE(plots.rawLossGraph()->data()->size(), 0);
    QVERIFY(plots.heatmap()->warning().isEmpty());
  }

  void manyAppendsGiveFewReplots() {
    TrainingPlots plots;
    plots.resize(1100, 650);
    plots.show();
    QVERIFY(QTest::qWaitForWindowExposed(&plots));
    QTest::qWait(100);
    QSignalSpy replots(plots.lossPlot(), &QCustomPlot::afterReplot);
    QElapsedTimer clock;
    clock.start();
    int appended = 0;
    while (clock.elapsed() < 400) {
      ++appended;
      plots.appendMetrics({{appended, "loss", 2.0 / appended}, {appended, "lr", 1e-3}});
      QCoreApplication::processEvents();
    }
    const qint64 elapsed = clock.elapsed();
    QTest::qWait(3 * TrainingPlots::kReplotIntervalMs);
    QVERIFY2(appended > 200, qPrintable(QString::number(appended)));
    // At most one replot per 40 ms tick (plus the last one), at least one per 100 ms.
    const int max_replots = int(elapsed / TrainingPlots::kReplotIntervalMs) + 3;
    QVERIFY2(replots.count() <= max_replots,
             qPrintable(QStringLiteral("%1 replots for %2 appends in %3 ms")
                            .arg(replots.count())
                            .arg(appended)
                            .arg(elapsed)));
    QVERIFY(replots.count() >= 3);
    QCOMPARE(plots.rawLossGraph()->data()->size(), appended);
    // The last tick showed the last point.
    QVERIFY(plots.lossPlot()->xAxis->range().contains(appended));
  }

  void tenThousandPointsAppendFast() {
    TrainingPlots plots;
    QElapsedTimer clock;
    clock.start();
    for (int s = 1; s <= 10000; ++s)
      plots.appendMetrics({{s, "loss", 3.0 / std::sqrt(s)},
                           {s, "balance_loss", 0.008},
                           {s, "lr", 3e-4},
                           {s, "grad_norm", 0.5},
                           {s, "tokens_per_s", 5000},
                           {s, "elapsed_s", s * 0.2}});
    const qint64 ms = clock.elapsed();
    QVERIFY2(ms < 1500, qPrintable(QStringLiteral("10,000 steps took %1 ms").arg(ms)));
    QCOMPARE(plots.rawLossGraph()->data()->size(), 10000);
    QCOMPARE(plots.smoothedLossGraph()->data()->size(), 10000);
    plots.resize(1100, 650);
    clock.restart();
    plots.replotNow();
    QVERIFY2(clock.elapsed() < 3000, qPrintable(QString::number(clock.elapsed())));
    QVERIFY(plots.statusLabel()->text().contains(QStringLiteral("step 10000")));
  }

  void hoverReadsOutTheNearestPoint() {
    QCustomPlot plot;
    plot.resize(500, 300);
    applyPlotStyle(&plot);
    plot.xAxis->setLabel(QStringLiteral("step"));
    QCPGraph* g = plot.addGraph();
    g->setName(QStringLiteral("loss"));
    g->setData({10, 20, 30}, {1.5, 1.25, 1.0});
    plot.xAxis->setRange(0, 40);
    plot.yAxis->setRange(0, 2);
    plot.replot();
    PlotExport* helper = PlotExport::install(&plot);
    QCOMPARE(PlotExport::install(&plot), helper);
    const QPointF at(plot.xAxis->coordToPixel(20) + 3, plot.yAxis->coordToPixel(1.25) - 2);
    const QString text = helper->readoutAt(at);
    QVERIFY2(text.contains(QStringLiteral("loss")) && text.contains(QStringLiteral("step 20")) &&
                 text.contains(QStringLiteral("1.25")),
             qPrintable(text));
    QVERIFY(helper->readoutAt(QPointF(plot.xAxis->coordToPixel(20), 5)).isEmpty());
  }

  void wilsonIntervalsAndGroupedScores() {
    // Textbook values: 50/100 -> [0.4038, 0.5962]; 0/10 -> [0, 0.2775].
    auto [lo, hi] = ScoreChart::wilsonInterval(0.5, 100);
    QVERIFY(std::fabs(lo - 0.4038) < 1e-4 && std::fabs(hi - 0.5962) < 1e-4);
    std::tie(lo, hi) = ScoreChart::wilsonInterval(0.0, 10);
    QVERIFY(lo == 0.0 && std::fabs(hi - 0.2775) < 1e-4);

    EvalScore early{0, 100, "arc_easy", "test", "likelihood", 0.3, 200, 0.24, 0.37};
    EvalScore late{0, 200, "arc_easy", "test", "likelihood", 0.6, 200, 0.53, 0.66};
    EvalScore obqa{0, 200, "obqa", "", "likelihood", 0.5, 100, 0.0, 0.0};  // no stored CI
    ScoreChart chart;
    chart.resize(600, 350);
    chart.setSeries({{QStringLiteral("a"), runColor(0), {late, early, obqa}},
                     {QStringLiteral("b"), runColor(1), {early}}});
    chart.setChanceLevel(0.25);
    QCOMPARE(chart.benchmarks(),
             QStringList({QStringLiteral("arc_easy (test)"), QStringLiteral("obqa")}));
    QCOMPARE(chart.seriesCount(), 2);
    QCOMPARE(chart.value(0, QStringLiteral("arc_easy (test)")), 0.6);  // the latest step
    QCOMPARE(chart.value(1, QStringLiteral("arc_easy (test)")), 0.3);
    QVERIFY(std::isnan(chart.value(1, QStringLiteral("obqa"))));
    auto errors = chart.errorBars(0)->data();
    QVERIFY(std::fabs(errors->at(0).errorMinus - (0.6 - 0.53)) < 1e-12);
    QVERIFY(std::fabs(errors->at(0).errorPlus - (0.66 - 0.6)) < 1e-12);
    QVERIFY(std::fabs(errors->at(1).errorMinus - (0.5 - 0.4038)) < 1e-4);  // Wilson for obqa
    QVERIFY(sameRgb(chart.bars(1)->brush().color(), runColor(1)));
    QCOMPARE(chart.yAxis->range().lower, 0.0);
    QVERIFY(chart.yAxis->range().upper >= 1.0);
    bool chance = false;
    for (int i = 0; i < chart.itemCount(); ++i)
      if (auto* line = qobject_cast<QCPItemStraightLine*>(chart.item(i)))
        chance = line->point1->coords().y() == 0.25 && line->pen().style() == Qt::DashLine;
    QVERIFY(chance);

    // The Train view's evaluation plot shows its legend once there is something to name.
    TrainingPlots plots;
    QVERIFY(!plots.evalPlot()->legend->visible());
    plots.appendEval(early);
    QVERIFY(plots.evalPlot()->legend->visible());
    QCOMPARE(plots.evalPlot()->legend->itemCount(), 1);
    plots.clear();
    QVERIFY(!plots.evalPlot()->legend->visible());
  }

  void compareViewOverlaysRunsInTheirColours() {
    const std::vector<std::pair<std::string, double>> shapes = {
        {"2-4-6-8", 3e-3}, {"8-6-4-2", 3e-3}, {"5-5-5-5", 1e-3}};
    std::vector<ComparedRun> runs;
    for (size_t i = 0; i < shapes.size(); ++i) {
      const Allocation a = Allocation::parse(shapes[i].first, 8);
      SyntheticRun s =
          syntheticRun(a, 300, shapes[i].second, 0.6 + 0.1 * i, 0.8 - 0.1 * i, unsigned(10 + i));
      ComparedRun r;
      r.record.id = int64_t(i + 1);
      r.record.name = "quickstart";
      r.record.status = mola::RunStatus::Completed;
      r.record.allocation = a.toList();
      r.record.config_json = configJson("quickstart", shapes[i].first, shapes[i].second, i != 2);
      r.metrics = s.metrics;
      r.router = s.router;
      r.scores = s.scores;
      r.allocation = a;
      runs.push_back(r);
    }
    // Run 2's last snapshot puts 0.9 on one expert: the shared scale must reach it.
    runs[1].router.back().layers[0].token_fraction = {0.9, 0.02, 0.02, 0.02, 0.02, 0.02, 0.0, 0.0};
    CompareView view;
    view.resize(1100, 700);
    view.setRuns(runs);

    using Curve = CompareView::Curve;
    for (Curve c : {Curve::Loss, Curve::EvalAccuracy, Curve::LearningRate, Curve::BalanceLoss}) {
      QCOMPARE(view.curveCount(c), 3);
      for (int i = 0; i < 3; ++i) {
        QCPGraph* g = view.curvePlot(c)->graph(i);
        QVERIFY(sameRgb(g->pen().color(), runColor(i)));
        QCOMPARE(g->name(), QStringLiteral("quickstart #%1").arg(i + 1));
        QVERIFY(!g->data()->isEmpty());
      }
      QVERIFY(view.curvePlot(c)->legend->visible());
    }
    // The loss curve is the EMA of the run's loss.
    std::vector<double> raw;
    for (const MetricPoint& p : runs[0].metrics)
      if (p.name == "loss") raw.push_back(p.value);
    const std::vector<double> ema = EmaSmoother::smooth(raw, view.smoothing());
    QCOMPARE(view.curvePlot(Curve::Loss)->graph(0)->data()->at(299)->value, ema[299]);
    for (int i = 0; i < 3; ++i)
      QVERIFY(sameRgb(view.scoreChart()->bars(i)->brush().color(), runColor(i)));

    QCOMPARE(view.heatmaps().size(), size_t(3));
    for (ExpertHeatmap* h : view.heatmaps()) QCOMPARE(h->colorRange(), QCPRange(0.0, 0.9));
    QVERIFY(!view.heatmaps()[0]->colorScale()->visible());
    QVERIFY(view.heatmaps()[2]->colorScale()->visible());

    // Differences: allocation and lr, and grad_clip, which run 3 lacks.
    const QStringList expected = {QStringLiteral("adapter.allocation"),
                                  QStringLiteral("training.grad_clip"),
                                  QStringLiteral("training.optimizer.lr")};
    QCOMPARE(view.differingKeys(), expected);
    QTableWidget* table = view.configTable();
    QCOMPARE(table->columnCount(), 3);
    int rows_seen = 0;
    for (int row = 0; row < table->rowCount(); ++row) {
      const QString key = table->verticalHeaderItem(row)->text();
      const bool differs = expected.contains(key);
      for (int col = 0; col < 3; ++col) {
        QCOMPARE(table->item(row, col)->font().bold(), differs);
        QCOMPARE(table->item(row, col)->background().style() != Qt::NoBrush, differs);
      }
      ++rows_seen;
    }
    QVERIFY(rows_seen >= 10);  // model.path, adapter.rank, target_modules, ... are rows too
    view.onlyDifferencesBox()->setChecked(true);
    int visible = 0;
    for (int row = 0; row < table->rowCount(); ++row) visible += !table->isRowHidden(row);
    QCOMPARE(visible, 3);
    view.onlyDifferencesBox()->setChecked(false);
    QVERIFY(view.notice().isEmpty());

    // A broken configuration is named and leaves the rest of the view working.
    runs[2].record.config_json = "{\"name\": ";
    view.setRuns(runs);
    QVERIFY(view.notice().contains(QStringLiteral("quickstart #3")));
    QVERIFY(view.notice().contains(QStringLiteral("not valid JSON")));
    QCOMPARE(view.curveCount(Curve::Loss), 3);
  }

  // The paired table: each run against the first on the same questions of their final scores;
  // counts, difference and interval worked out by hand, p from exact fractions.
  void compareViewPairsRunsQuestionByQuestion() {
    auto run = [](int64_t id, const std::vector<bool>& correct, int64_t step) {
      ComparedRun r;
      r.record.id = id;
      r.record.name = "r";
      EvalScore early{10 * id, 5, "arc", "", "likelihood", 0.1, int64_t(correct.size()), 0, 0};
      EvalScore last{10 * id + 1, step, "arc", "", "likelihood", 0.5, int64_t(correct.size()),
                     0,           0};
      r.scores = {early, last};
      std::vector<mola::StoredPrediction> p;
      for (size_t q = 0; q < correct.size(); ++q)
        p.push_back({"q" + std::to_string(q), correct[q] ? 0 : 1, bool(correct[q])});
      r.predictions[last.id] = p;
      return r;
    };
    std::vector<ComparedRun> runs;
    runs.push_back(run(1, {true, false, true, false, false}, 20));
    // Right on q1 and q3 where the first is wrong, wrong on q2 where it is right.
    runs.push_back(run(2, {true, true, false, true, false}, 20));
    // 30 questions: right on 12 the first gets wrong, never the reverse (p = 2 / 2^12).
    std::vector<bool> first_30(30, false), third_30(30, false);
    for (int q = 0; q < 12; ++q) third_30[size_t(q)] = true;
    runs.push_back(run(3, third_30, 20));
    runs.push_back(run(4, {true}, 20));
    runs[3].predictions.clear();  // scored before predictions were stored: nothing to pair
    CompareView view;
    view.setRuns(runs);
    PairedScoreTable* table = view.pairedTable();
    QCOMPARE(table->pairs().size(), size_t(2));
    QCOMPARE(table->withoutPredictions(), QStringList{QStringLiteral("r #4 on arc")});
    QVERIFY(view.unpairedNote()->text().contains(QStringLiteral("r #4 on arc")));
    const mola::PairedScores& s = table->pairs()[0].scores;
    QCOMPARE(table->pairs()[0].run, size_t(1));
    QCOMPARE(s.n, int64_t(5));
    QCOMPARE(s.only_a, int64_t(2));
    QCOMPARE(s.only_b, int64_t(1));
    QCOMPARE(table->item(0, 5)->text(), QStringLiteral("0.200 [-0.364, 0.631]"));
    QCOMPARE(table->item(0, 6)->text(), QStringLiteral("1"));
    QVERIFY(!table->item(0, 6)->font().bold());
    // Run 3 against run 1: the first's 5 questions are q0..q4; run 3 is right on all of them,
    // run 1 on q0 and q2: only run 3 right on q1, q3, q4.
    QCOMPARE(table->pairs()[1].scores.n, int64_t(5));
    QCOMPARE(table->pairs()[1].scores.only_a, int64_t(3));
    QCOMPARE(table->pairs()[1].scores.only_b, int64_t(0));
    QCOMPARE(table->item(1, 6)->text(), QStringLiteral("0.25"));  // 2 / 2^3
    // Against run 2 instead: run 1 is right on q2 alone where run 2 is wrong, and wrong on q1 and
    // q3 where run 2 is right; run 3 (right on q0..q4) against run 2 (right on q0, q1, q3).
    view.pairedReferenceBox()->setCurrentIndex(1);
    QCOMPARE(table->reference(), size_t(1));
    QCOMPARE(table->pairs().size(), size_t(2));
    QCOMPARE(table->pairs()[0].run, size_t(0));
    QCOMPARE(table->pairs()[0].scores.only_a, int64_t(1));
    QCOMPARE(table->pairs()[0].scores.only_b, int64_t(2));
    QCOMPARE(table->item(0, 5)->text().left(6), QStringLiteral("-0.200"));
    QCOMPARE(table->pairs()[1].run, size_t(2));
    QCOMPARE(table->pairs()[1].scores.only_a, int64_t(2));
    QCOMPARE(table->pairs()[1].scores.only_b, int64_t(0));
    QVERIFY(table->horizontalHeaderItem(0)->text().contains(QStringLiteral("r #2")));
    // The chosen run stays the reference when the runs are set again, while it is among them.
    view.setRuns({runs[1], runs[0], runs[2]});
    QCOMPARE(view.pairedReferenceBox()->currentIndex(), 0);
    QCOMPARE(table->pairs()[0].run, size_t(1));
    QCOMPARE(table->pairs()[0].scores.only_a, int64_t(1));
    view.setRuns({runs[0], runs[2]});
    QCOMPARE(view.pairedReferenceBox()->currentIndex(), 0);  // run 2 is gone: the first
    view.setRuns(runs);
    runs[0] = run(1, first_30, 20);
    view.setRuns(runs);
    QCOMPARE(view.pairedTable()->pairs()[1].scores.only_a, int64_t(12));
    QCOMPARE(view.pairedTable()->item(1, 6)->text(), QStringLiteral("0.000488"));  // 2 / 4096
    QVERIFY(view.pairedTable()->item(1, 6)->font().bold());
    view.setRuns({runs[0]});
    QVERIFY(view.pairedTable()->pairs().empty());
  }

  void screenshots() {
    QDir().mkpath(QStringLiteral(MOLA_SCREENSHOT_DIR));
    const Allocation a = Allocation::parse("2-4-6-8", 8);
    const SyntheticRun s = syntheticRun(a, 400, 3e-3, 0.55, 0.78, 7);
    TrainingPlots plots;
    plots.resize(1100, 700);
    plots.setAllocation(a);
    plots.show();
    QVERIFY(QTest::qWaitForWindowExposed(&plots));
    // Streamed the way the trainer reports: a step's metrics, then its snapshot and score.
    size_t m = 0, r = 0, e = 0;
    for (int step = 1; step <= 400; ++step) {
      std::vector<MetricPoint> batch;
      while (m < s.metrics.size() && s.metrics[m].step == step) batch.push_back(s.metrics[m++]);
      plots.appendMetrics(batch);
      if (r < s.router.size() && s.router[r].step == step) plots.appendRouterStats(s.router[r++]);
      if (e < s.scores.size() && s.scores[e].step == step) plots.appendEval(s.scores[e++]);
    }
    plots.replotNow();
    QVERIFY(plots.grab().save(QStringLiteral(MOLA_SCREENSHOT_DIR "/training_plots_curves.png")));
    plots.tabs()->setCurrentIndex(1);
    QCoreApplication::processEvents();
    plots.replotNow();
    QVERIFY(plots.grab().save(QStringLiteral(MOLA_SCREENSHOT_DIR "/training_plots_router.png")));

    std::vector<ComparedRun> runs;
    const std::vector<std::pair<std::string, double>> shapes = {
        {"2-4-6-8", 3e-3}, {"8-6-4-2", 3e-3}, {"5-5-5-5", 1e-3}};
    const char* names[] = {"inverted-triangle", "triangle", "square"};
    for (size_t i = 0; i < shapes.size(); ++i) {
      const Allocation al = Allocation::parse(shapes[i].first, 8);
      const SyntheticRun sr = syntheticRun(al, 400, shapes[i].second, 0.55 + 0.08 * i,
                                           0.78 - 0.07 * i, unsigned(20 + i));
      ComparedRun c;
      c.record.id = int64_t(11 + i);
      c.record.name = names[i];
      c.record.status = mola::RunStatus::Completed;
      c.record.config_json = configJson(names[i], shapes[i].first, shapes[i].second, true);
      c.metrics = sr.metrics;
      c.router = sr.router;
      c.scores = sr.scores;
      EvalScore obqa{
          int64_t(1000 + i), 400, "openbookqa", "test", "likelihood", 0.52 - 0.04 * i, 500, 0, 0};
      c.scores.push_back(obqa);
      // Each question has a difficulty that every run shares, plus noise of the run's own.
      std::mt19937 noise(unsigned(7 + i));
      std::uniform_real_distribution<double> u(-0.15, 0.15);
      for (int q = 0; q < 500; ++q) {
        const bool right = double((q * 37) % 100) / 100.0 + u(noise) < obqa.accuracy;
        c.predictions[obqa.id].push_back({"obqa-" + std::to_string(q), right ? 0 : 1, right});
      }
      c.allocation = al;
      runs.push_back(c);
    }
    CompareView view;
    view.resize(1100, 700);
    view.setRuns(runs);
    view.scoreChart()->setChanceLevel(0.25);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    const char* files[] = {"/compare_view.png", "/compare_view_routers.png",
                           "/compare_view_scores.png", "/compare_view_config.png"};
    for (int tab = 0; tab < 4; ++tab) {
      view.tabs()->setCurrentIndex(tab);
      if (tab == 3) view.onlyDifferencesBox()->setChecked(false);
      QTest::qWait(50);
      QVERIFY(view.grab().save(QStringLiteral(MOLA_SCREENSHOT_DIR) + QLatin1String(files[tab])));
    }
  }
};

QTEST_MAIN(PlotsTest)
#include "plots_test.moc"
