// SPDX-License-Identifier: GPL-3.0-or-later
// A PDF report: pages of rich text (a run's or a comparison's summary, scores and configuration)
// followed by plots, two to a page, drawn as vectors.
#pragma once

#include <QList>
#include <QString>

class QCustomPlot;

namespace mola::widgets {

// Writes `html` (Qt's rich-text subset) over as many A4 pages as it needs, then every plot at
// the page's width. On failure returns false and, when `error` is given, a message that names
// the file and the reason.
bool writePdfReport(const QString& path, const QString& title, const QString& html,
                    const QList<QCustomPlot*>& plots, QString* error = nullptr);

}  // namespace mola::widgets
