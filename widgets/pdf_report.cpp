// SPDX-License-Identifier: GPL-3.0-or-later
#include "pdf_report.h"

#include <qcustomplot.h>
#include <QFileInfo>
#include <QPageLayout>
#include <QPdfWriter>
#include <QTextDocument>
#include <algorithm>

namespace mola::widgets {

bool writePdfReport(const QString& path, const QString& title, const QString& html,
                    const QList<QCustomPlot*>& plots, QString* error) {
  auto fail = [&](const QString& why) {
    if (error) *error = QStringLiteral("Cannot write the report %1: %2").arg(path, why);
    return false;
  };
  if (!QFileInfo(path).absoluteDir().exists())
    return fail(QStringLiteral("the folder %1 does not exist").arg(QFileInfo(path).absolutePath()));
  QPdfWriter writer(path);
  writer.setTitle(title);
  writer.setCreator(QStringLiteral("MoLA Workbench"));
  writer.setPageSize(QPageSize(QPageSize::A4));
  writer.setPageMargins(QMarginsF(14, 14, 14, 14), QPageLayout::Millimeter);
  writer.setResolution(96);  // plots keep their on-screen proportions and font sizes
  QCPPainter painter;
  if (!painter.begin(&writer))
    return fail(QStringLiteral("the file could not be opened (permissions or disk space)"));
  const QRectF area(QPointF(0, 0), QSizeF(writer.width(), writer.height()));

  // The text, page by page.
  QTextDocument doc;
  doc.setDefaultFont(QFont(QStringLiteral("DejaVu Sans"), 9));
  doc.setHtml(html);
  doc.setPageSize(area.size());
  for (int page = 0; page < doc.pageCount(); ++page) {
    if (page > 0) writer.newPage();
    painter.save();
    painter.translate(0, -page * area.height());
    doc.drawContents(&painter, QRectF(0, page * area.height(), area.width(), area.height()));
    painter.restore();
  }

  // The plots, two to a page, at the page's width.
  const int w = int(area.width());
  const int h = int(std::min(area.height() / 2 - 12, area.width() * 0.6));
  for (qsizetype i = 0; i < plots.size(); ++i) {
    if (i % 2 == 0) writer.newPage();
    painter.save();
    painter.translate(0, (i % 2) * (area.height() / 2));
    plots[i]->toPainter(&painter, w, h);
    painter.restore();
  }
  if (!painter.end() || QFileInfo(path).size() == 0)
    return fail(QStringLiteral("the file could not be written (permissions or disk space)"));
  return true;
}

}  // namespace mola::widgets
