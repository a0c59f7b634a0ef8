// SPDX-License-Identifier: GPL-3.0-or-later
#include "run_scorer.h"

#include <QRegularExpression>

#include "mola_job.h"

namespace mola::app {

RunScorer::RunScorer(QObject* parent) : QObject(parent), m_job(new MolaJob(this)) {
  connect(m_job, &MolaJob::errorOutput, this, &RunScorer::onProgress);
  connect(m_job, &MolaJob::finished, this, &RunScorer::onFinished);
}

bool RunScorer::busy() const {
  return m_job->busy();
}

QStringList RunScorer::arguments(qint64 run, const QString& db_path, const DataSpec& data,
                                 const QString& protocol) {
  QStringList args = {QStringLiteral("eval"),
                      QStringLiteral("--run"),
                      QString::number(run),
                      QStringLiteral("--db"),
                      db_path,
                      QStringLiteral("--data"),
                      QString::fromStdString(data.path)};
  if (!data.format.empty())
    args << QStringLiteral("--format") << QString::fromStdString(data.format);
  if (data.limit > 0) args << QStringLiteral("--limit") << QString::number(data.limit);
  if (!protocol.isEmpty()) args << QStringLiteral("--protocol") << protocol;
  return args;
}

bool RunScorer::start(qint64 run, const QString& db_path, const DataSpec& data,
                      const QString& protocol) {
  if (busy()) return false;
  m_run = run;
  return m_job->start(arguments(run, db_path, data, protocol),
                      tr("Scoring runs with `mola eval --run`"));
}

void RunScorer::onProgress(const QString& err) {
  // "scoring 104/570" lines (not a terminal: one every hundred records or so).
  static const QRegularExpression scoring(QStringLiteral("scoring (\\d+)/(\\d+)"));
  QRegularExpressionMatchIterator it = scoring.globalMatch(err);
  QRegularExpressionMatch last;
  while (it.hasNext()) last = it.next();
  if (last.hasMatch()) emit progress(m_run, last.captured(1).toInt(), last.captured(2).toInt());
}

void RunScorer::onFinished(bool ok, const QString& out, const QString& why) {
  if (!ok) {
    emit finished(m_run, false, why);
    return;
  }
  static const QRegularExpression accuracy(QStringLiteral("accuracy: (\\S+) \\(95% CI ([^)]+)\\)"));
  static const QRegularExpression n(QStringLiteral("(?:^|\\n)n: (\\d+)"));
  static const QRegularExpression stored(QStringLiteral("score on (.+) at step (\\d+)"));
  const auto a = accuracy.match(out), c = n.match(out), s = stored.match(out);
  emit finished(
      m_run, true,
      tr("accuracy %1 (95% CI %2) on %3, n %4, at step %5")
          .arg(a.captured(1), a.captured(2), s.captured(1), c.captured(1), s.captured(2)));
}

}  // namespace mola::app
