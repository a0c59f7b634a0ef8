// SPDX-License-Identifier: GPL-3.0-or-later
// A plot as a file: PNG at a chosen scale, PDF and SVG as vectors, CSV as its data.
#include <qcustomplot.h>
#include <QDir>
#include <QFileInfo>
#include <QSaveFile>
#include <QSvgGenerator>

#include "plot_export.h"
#include "text.h"

namespace mola::widgets {
namespace {

QString csvText(const QString& s) {
  return QString::fromStdString(csvField(s.toStdString()));
}

QString csvValue(double v) {
  return QString::fromStdString(csvNumber(v));
}

QString axisTitle(const QCPAxis* axis, const QString& fallback) {
  return axis && !axis->label().isEmpty() ? axis->label() : fallback;
}

bool writeSvg(QCustomPlot* plot, const QString& path, int w, int h) {
  QSvgGenerator svg;
  svg.setFileName(path);
  svg.setSize(QSize(w, h));
  svg.setViewBox(QRect(0, 0, w, h));
  svg.setTitle(QStringLiteral("MoLA Workbench plot"));
  QCPPainter painter;
  if (!painter.begin(&svg)) return false;
  plot->toPainter(&painter, w, h);
  painter.end();
  return QFileInfo(path).size() > 0;
}

bool writeCsv(QCustomPlot* plot, const QString& path) {
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly | QIODevice::Text)) return false;
  const QByteArray text = plotCsv(plot).toUtf8();
  return file.write(text) == text.size() && file.commit();
}

}  // namespace

QString plotCsv(QCustomPlot* plot) {
  bool heatmap = false;
  for (int i = 0; i < plot->plottableCount(); ++i)
    heatmap |= qobject_cast<QCPColorMap*>(plot->plottable(i)) != nullptr;
  QString out = QStringLiteral("series,%1,%2%3\n")
                    .arg(csvText(axisTitle(plot->xAxis, QStringLiteral("x"))),
                         csvText(axisTitle(plot->yAxis, QStringLiteral("y"))),
                         heatmap ? QStringLiteral(",value") : QString());
  for (int i = 0; i < plot->plottableCount(); ++i) {
    QCPAbstractPlottable* p = plot->plottable(i);
    if (!p->visible()) continue;
    const QString name =
        csvText(p->name().isEmpty() ? QStringLiteral("series %1").arg(i + 1) : p->name());
    const auto row = [&](double key, double value) {
      out += name + QLatin1Char(',') + csvValue(key) + QLatin1Char(',') + csvValue(value) +
             (heatmap ? QStringLiteral(",\n") : QStringLiteral("\n"));
    };
    if (auto* graph = qobject_cast<QCPGraph*>(p)) {
      for (auto d = graph->data()->constBegin(); d != graph->data()->constEnd(); ++d)
        row(d->key, d->value);
    } else if (auto* bars = qobject_cast<QCPBars*>(p)) {
      for (auto d = bars->data()->constBegin(); d != bars->data()->constEnd(); ++d)
        row(d->key, d->value);
    } else if (auto* map = qobject_cast<QCPColorMap*>(p)) {
      QCPColorMapData* data = map->data();
      for (int k = 0; k < data->keySize(); ++k)
        for (int v = 0; v < data->valueSize(); ++v) {
          double key = 0, value = 0;
          data->cellToCoord(k, v, &key, &value);
          out += name + QLatin1Char(',') + csvValue(key) + QLatin1Char(',') + csvValue(value) +
                 QLatin1Char(',') + csvValue(data->cell(k, v)) + QLatin1Char('\n');
        }
    }
  }
  return out;
}

bool exportPlot(QCustomPlot* plot, const QString& path, QString* error, double scale) {
  auto fail = [&](const QString& why) {
    if (error) *error = QStringLiteral("Cannot export the plot to %1: %2").arg(path, why);
    return false;
  };
  const QFileInfo info(path);
  const QString suffix = info.suffix().toLower();
  const QStringList known = {QStringLiteral("png"), QStringLiteral("pdf"), QStringLiteral("svg"),
                             QStringLiteral("csv")};
  if (!known.contains(suffix))
    return fail(
        QStringLiteral("unknown format '.%1' (use .png, .pdf, .svg or .csv)").arg(info.suffix()));
  if (!info.absoluteDir().exists())
    return fail(QStringLiteral("the folder %1 does not exist").arg(info.absolutePath()));
  if (!(scale > 0.0 && scale <= 16.0))
    return fail(QStringLiteral("the scale %1 is not between 0 and 16").arg(scale));
  // A plot that was never shown has no size of its own: export it at a readable default.
  const int w = plot->width() > 10 ? plot->width() : 800;
  const int h = plot->height() > 10 ? plot->height() : 500;
  bool ok = false;
  if (suffix == QLatin1String("png"))
    ok = plot->savePng(path, w, h, scale);
  else if (suffix == QLatin1String("pdf"))
    ok = plot->savePdf(path, w, h, QCP::epNoCosmetic, QStringLiteral("MoLA Workbench"));
  else if (suffix == QLatin1String("svg"))
    ok = writeSvg(plot, path, w, h);
  else
    ok = writeCsv(plot, path);
  if (!ok) return fail(QStringLiteral("the file could not be written (permissions or disk space)"));
  return true;
}

}  // namespace mola::widgets
