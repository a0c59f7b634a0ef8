// SPDX-License-Identifier: GPL-3.0-or-later
#include "run_report.h"

#include <QLocale>
#include <algorithm>
#include <cmath>

#include "paired_score_table.h"
#include "store/paired_scores.h"

namespace mola::app {
namespace {

QString esc(const std::string& s) {
  return QString::fromStdString(s).toHtmlEscaped();
}

QString number(double v, int digits = 4) {
  return std::isfinite(v) ? QString::number(v, 'g', digits) : QStringLiteral("\u2013");
}

const char kStyle[] =
    "<style>table { border-collapse: collapse; } th, td { padding: 2px 8px; } "
    "th { background: #e8e8e8; text-align: left; } .dim { color: #666666; }</style>";

QString scoresTable(const std::vector<EvalScore>& scores) {
  if (scores.empty()) return QStringLiteral("<p class='dim'>No evaluation.</p>");
  QString html = QStringLiteral(
      "<table border='1' cellspacing='0'><tr><th>step</th><th>benchmark</th><th>protocol</th>"
      "<th>accuracy</th><th>95% interval</th><th>n</th></tr>");
  for (const EvalScore& s : scores)
    html += QStringLiteral(
                "<tr><td>%1</td><td>%2</td><td>%3</td><td><b>%4</b></td>"
                "<td>%5\u2013%6</td><td>%7</td></tr>")
                .arg(s.step)
                .arg(esc(s.benchmark), esc(s.protocol), QString::number(s.accuracy, 'f', 4),
                     QString::number(s.ci_low, 'f', 4), QString::number(s.ci_high, 'f', 4))
                .arg(s.n);
  return html + QStringLiteral("</table>");
}

double lastLoss(const std::vector<MetricPoint>& metrics) {
  double loss = std::nan("");
  int64_t step = -1;
  for (const MetricPoint& m : metrics)
    if (m.name == "loss" && m.step >= step) {
      step = m.step;
      loss = m.value;
    }
  return loss;
}

}  // namespace

QString runReportHtml(const RunRecord& run, double final_loss,
                      const std::vector<EvalScore>& scores) {
  QString html = QLatin1String(kStyle);
  html += QStringLiteral("<h1>%1 <span class='dim'>#%2</span></h1>").arg(esc(run.name)).arg(run.id);
  const auto row = [](const QString& key, const QString& value) {
    return QStringLiteral("<tr><td class='dim'>%1</td><td>%2</td></tr>").arg(key, value);
  };
  html += QStringLiteral("<table>");
  html += row(QStringLiteral("status"), esc(runStatusName(run.status)));
  if (!run.message.empty()) html += row(QStringLiteral("message"), esc(run.message));
  html += row(QStringLiteral("model"), esc(run.model));
  html += row(QStringLiteral("experts per layer"),
              run.allocation.empty() ? QStringLiteral("full fine-tuning") : esc(run.allocation));
  html += row(QStringLiteral("steps"), QString::number(run.last_step));
  html += row(QStringLiteral("final loss"), number(final_loss));
  html += row(QStringLiteral("created"), esc(run.created_at));
  html += row(QStringLiteral("finished"),
              run.finished_at.empty() ? QStringLiteral("\u2013") : esc(run.finished_at));
  html += row(QStringLiteral("host"), esc(run.host));
  html += QStringLiteral("</table><h2>Scores</h2>") + scoresTable(scores);
  html += QStringLiteral("<h2>Configuration</h2><pre style='font-size: 7pt;'>%1</pre>")
              .arg(esc(run.config_json));
  return html;
}

namespace {

// Each run against the first on the same questions (the Compare view's paired table), or nothing.
QString pairedTable(const std::vector<widgets::ComparedRun>& runs) {
  const auto pairs = widgets::PairedScoreTable::pairsOf(runs);
  if (pairs.empty()) return {};
  QString html =
      QStringLiteral(
          "<h2>Question by question, against %1 #%2</h2><table border='1' cellspacing='0'><tr>"
          "<th>run</th><th>benchmark</th><th>same questions</th><th>only this right</th>"
          "<th>only the first right</th><th>difference (95% CI)</th><th>McNemar p</th></tr>")
          .arg(esc(runs[0].record.name))
          .arg(runs[0].record.id);
  for (const auto& p : pairs) {
    const PairedScores& s = p.scores;
    html += QStringLiteral(
                "<tr><td>%1 <span class='dim'>#%2</span></td><td>%3</td><td>%4</td><td>%5</td>"
                "<td>%6</td><td>%7 (%8 to %9)</td><td>%10</td></tr>")
                .arg(esc(runs[p.run].record.name))
                .arg(runs[p.run].record.id)
                .arg(p.benchmark.toHtmlEscaped())
                .arg(s.n)
                .arg(s.only_a)
                .arg(s.only_b)
                .arg(QString::number(s.difference, 'f', 3), QString::number(s.ci_low, 'f', 3),
                     QString::number(s.ci_high, 'f', 3), QString::number(s.p, 'g', 3));
  }
  return html + QStringLiteral("</table>");
}

}  // namespace

QString comparisonReportHtml(const std::vector<widgets::ComparedRun>& runs,
                             const QStringList& differing_keys) {
  QString html = QLatin1String(kStyle);
  QStringList ids;
  for (const auto& r : runs) ids << QStringLiteral("#%1").arg(r.record.id);
  html += QStringLiteral("<h1>Comparison of runs %1</h1>").arg(ids.join(QStringLiteral(", ")));
  html += QStringLiteral(
      "<table border='1' cellspacing='0'><tr><th>run</th><th>experts per layer</th>"
      "<th>status</th><th>steps</th><th>final loss</th><th>last score</th></tr>");
  for (const auto& r : runs) {
    QString score = QStringLiteral("\u2013");
    // The final score on the benchmark the run is ranked on (not one added later on another).
    const std::string ranked = primaryBenchmark(r.scores, evaluatedBenchmarkOf(r.record));
    const auto last = std::find_if(r.scores.rbegin(), r.scores.rend(),
                                   [&](const EvalScore& e) { return e.benchmark == ranked; });
    if (last != r.scores.rend()) {
      const EvalScore& s = *last;
      score = QStringLiteral("%1 (%2\u2013%3, step %4)")
                  .arg(QString::number(s.accuracy, 'f', 4), QString::number(s.ci_low, 'f', 3),
                       QString::number(s.ci_high, 'f', 3))
                  .arg(s.step);
    }
    html += QStringLiteral(
                "<tr><td>%1 <span class='dim'>#%2</span></td><td>%3</td><td>%4</td>"
                "<td>%5</td><td>%6</td><td>%7</td></tr>")
                .arg(esc(r.record.name))
                .arg(r.record.id)
                .arg(r.allocation.numLayers() > 0 ? QString::fromStdString(r.allocation.describe())
                                                  : esc(r.record.allocation),
                     esc(runStatusName(r.record.status)))
                .arg(r.record.last_step)
                .arg(number(lastLoss(r.metrics)), score);
  }
  html += QStringLiteral("</table>");
  html += QStringLiteral("<h2>Settings that differ</h2><p>%1</p>")
              .arg(differing_keys.isEmpty()
                       ? QStringLiteral("none")
                       : differing_keys.join(QStringLiteral(", ")).toHtmlEscaped());
  html += pairedTable(runs);
  for (const auto& r : runs)
    html += QStringLiteral("<h2>Scores of %1 #%2</h2>").arg(esc(r.record.name)).arg(r.record.id) +
            scoresTable(r.scores);
  return html;
}

}  // namespace mola::app
