// SPDX-License-Identifier: GPL-3.0-or-later
// Plots as files (PNG at a chosen scale, PDF, SVG, CSV data), their default names, one step axis
// across a view's plots, and the loss on a log scale.
#include <qcustomplot.h>
#include <QCheckBox>
#include <QFile>
#include <QImage>
#include <QTemporaryDir>
#include <QTest>
#include <cmath>
#include <limits>

#include "plot_export.h"
#include "training_plots.h"

using namespace mola::widgets;

namespace {

QCustomPlot* stepPlot(const QString& title, double scale) {
  QCustomPlot* plot = newPlot(title, QStringLiteral("step"), QStringLiteral("loss"));
  plot->resize(400, 250);
  QVector<double> keys, values;
  for (int s = 1; s <= 50; ++s) {
    keys << s;
    values << scale / s;
  }
  plot->addGraph()->setData(keys, values);
  plot->rescaleAxes();
  return plot;
}

QStringList lines(const QString& text) {
  return text.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
}

}  // namespace

class PlotExportTest : public QObject {
  Q_OBJECT

 private slots:
  void writesEveryFormat() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    std::unique_ptr<QCustomPlot> plot(stepPlot(QStringLiteral("Training loss"), 3.0));
    plot->resize(500, 300);
    QString error;
    const QString png = dir.filePath(QStringLiteral("plot.png"));
    QVERIFY2(exportPlot(plot.get(), png, &error), qPrintable(error));
    QCOMPARE(QImage(png).size(), QSize(500, 300));
    const QString big = dir.filePath(QStringLiteral("big.png"));
    QVERIFY2(exportPlot(plot.get(), big, &error, 2.0), qPrintable(error));
    QCOMPARE(QImage(big).size(), QSize(1000, 600));

    const QString pdf = dir.filePath(QStringLiteral("plot.PDF"));
    QVERIFY2(exportPlot(plot.get(), pdf, &error), qPrintable(error));
    QFile f(pdf);
    QVERIFY(f.open(QIODevice::ReadOnly));
    QCOMPARE(f.read(4), QByteArray("%PDF"));

    const QString svg = dir.filePath(QStringLiteral("plot.svg"));
    QVERIFY2(exportPlot(plot.get(), svg, &error), qPrintable(error));
    QFile g(svg);
    QVERIFY(g.open(QIODevice::ReadOnly));
    const QByteArray drawing = g.readAll();
    QVERIFY(drawing.contains("<svg") && drawing.contains("viewBox=\"0 0 500 300\""));
    QVERIFY(drawing.contains("Training loss"));  // text stays text

    const QString csv = dir.filePath(QStringLiteral("plot.csv"));
    QVERIFY2(exportPlot(plot.get(), csv, &error), qPrintable(error));
    QFile h(csv);
    QVERIFY(h.open(QIODevice::ReadOnly));
    QCOMPARE(lines(QString::fromUtf8(h.readAll())).size(), 51);

    QVERIFY(!exportPlot(plot.get(), dir.filePath(QStringLiteral("plot.bmp")), &error));
    QVERIFY(error.contains(QStringLiteral("plot.bmp")) && error.contains(QStringLiteral(".svg")));
    QVERIFY(!exportPlot(plot.get(), dir.filePath(QStringLiteral("missing/plot.png")), &error));
    QVERIFY(error.contains(QStringLiteral("does not exist")));
  }

  // Every point, exactly; a gap as an empty field; names with commas quoted; heatmap cells.
  void csvHoldsEveryPointExactly() {
    QCustomPlot plot;
    plot.xAxis->setLabel(QStringLiteral("step"));
    plot.yAxis->setLabel(QStringLiteral("loss"));
    QCPGraph* g = plot.addGraph();
    g->setName(QStringLiteral("loss, raw"));
    const double third = 1.0 / 3.0;
    g->setData({1, 2, 3}, {third, std::numeric_limits<double>::quiet_NaN(), 2.5e-7});
    QStringList rows = lines(plotCsv(&plot));
    QCOMPARE(rows.size(), 4);
    QCOMPARE(rows[0], QStringLiteral("series,step,loss"));
    QCOMPARE(rows[1].section(QLatin1Char(','), 0, 1), QStringLiteral("\"loss, raw\""));
    QCOMPARE(rows[1].section(QLatin1Char(','), 2, 2), QStringLiteral("1"));
    QCOMPARE(rows[1].section(QLatin1Char(','), 3, 3).toDouble(), third);  // reads back exactly
    QCOMPARE(rows[2], QStringLiteral("\"loss, raw\",2,"));
    QCOMPARE(rows[3], QStringLiteral("\"loss, raw\",3,2.5e-07"));

    QCustomPlot map_plot;
    auto* map = new QCPColorMap(map_plot.xAxis, map_plot.yAxis);
    map->setName(QStringLiteral("share"));
    map->data()->setSize(2, 3);
    map->data()->setRange(QCPRange(1, 2), QCPRange(1, 3));
    for (int k = 0; k < 2; ++k)
      for (int v = 0; v < 3; ++v) map->data()->setCell(k, v, 10 * k + v);
    rows = lines(plotCsv(&map_plot));
    QCOMPARE(rows.size(), 7);
    QCOMPARE(rows[0], QStringLiteral("series,x,y,value"));
    QVERIFY(rows.contains(QStringLiteral("share,2,3,12")));
    QVERIFY(rows.contains(QStringLiteral("share,1,1,0")));
  }

  void defaultNamesComeFromTheRunAndThePlot() {
    std::unique_ptr<QCustomPlot> plot(stepPlot(QStringLiteral("Training loss"), 1.0));
    PlotExport* helper = PlotExport::of(plot.get());
    QCOMPARE(helper->defaultFileName(QStringLiteral("png")), QStringLiteral("training-loss.png"));
    helper->setFileStem(QStringLiteral("MoLA 2/4/6/8-run3"));
    QCOMPARE(helper->defaultFileName(QStringLiteral("svg")),
             QStringLiteral("mola-2-4-6-8-run3-training-loss.svg"));
  }

  // Dragging or zooming one plot moves the others' step axes; a rescale of one rescales all.
  void stepAxesMoveTogether() {
    std::unique_ptr<QCustomPlot> a(stepPlot(QStringLiteral("a"), 1.0));
    std::unique_ptr<QCustomPlot> b(stepPlot(QStringLiteral("b"), 2.0));
    std::unique_ptr<QCustomPlot> c(stepPlot(QStringLiteral("c"), 3.0));
    linkStepAxes({a.get(), b.get(), c.get()});
    const QCPRange b_values = b->yAxis->range();

    // A live fit (not the user's) moves only its own plot.
    a->xAxis->setRange(0, 60);
    QCOMPARE(b->xAxis->range().upper, 50.0);

    PlotExport::of(a.get())->setUserRanged();  // as a drag or wheel does
    a->xAxis->setRange(10, 20);
    for (QCustomPlot* p : {b.get(), c.get()}) {
      QCOMPARE(p->xAxis->range().lower, 10.0);
      QCOMPARE(p->xAxis->range().upper, 20.0);
      QVERIFY(PlotExport::of(p)->userRanged());  // it stops following new data too
    }
    QCOMPARE(b->yAxis->range().lower, b_values.lower);  // value axes stay each plot's own

    PlotExport::of(c.get())->rescale();
    for (QCustomPlot* p : {a.get(), b.get(), c.get()}) {
      QVERIFY(!PlotExport::of(p)->userRanged());
      QVERIFY2(
          p->xAxis->range().lower <= 1.0 && p->xAxis->range().upper >= 50.0,
          qPrintable(
              QStringLiteral("%1..%2").arg(p->xAxis->range().lower).arg(p->xAxis->range().upper)));
    }
  }

  void lossOnALogScale() {
    TrainingPlots plots;
    plots.resize(900, 600);
    std::vector<mola::MetricPoint> points;
    for (int s = 1; s <= 100; ++s) points.push_back({s, "loss", 5.0 * std::pow(0.97, s)});
    plots.appendMetrics(points);
    plots.replotNow();
    QCustomPlot* loss = plots.lossPlot();
    QCOMPARE(loss->yAxis->scaleType(), QCPAxis::stLinear);
    plots.logLossBox()->setChecked(true);
    QCOMPARE(loss->yAxis->scaleType(), QCPAxis::stLogarithmic);
    const QCPRange r = loss->yAxis->range();
    const double lowest = 5.0 * std::pow(0.97, 100), highest = 5.0 * 0.97;
    QVERIFY2(r.lower > 0 && r.lower < lowest && r.upper > highest && r.upper < 2 * highest,
             qPrintable(QStringLiteral("%1..%2").arg(r.lower).arg(r.upper)));
    plots.logLossBox()->setChecked(false);
    QCOMPARE(loss->yAxis->scaleType(), QCPAxis::stLinear);
  }
};

QTEST_MAIN(PlotExportTest)
#include "plot_export_test.moc"
