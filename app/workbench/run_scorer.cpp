// SPDX-License-Identifier: GPL-3.0-or-later
#include "run_scorer.h"

#include <QMetaObject>
#include <QRegularExpression>

#include "rank_processes.h"

namespace mola::app {

RunScorer::RunScorer(QObject* parent) : QObject(parent) {}

RunScorer::~RunScorer() {
  if (!m_process) return;
  m_process->disconnect(this);
  m_process->kill();
  m_process->waitForFinished(5000);
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
  if (m_process) return false;
  m_run = run;
  m_err.clear();
  m_out.clear();
  const QString program = RankProcesses::molaProgram();
  if (program.isEmpty()) {
    QMetaObject::invokeMethod(
        this,
        [this, run] {
          emit finished(run, false,
                        tr("Scoring runs with `mola eval --run`, and no `mola` program was found "
                           "beside the workbench or on PATH (or set MOLA_CLI)"));
        },
        Qt::QueuedConnection);
    return true;
  }
  m_process = new QProcess(this);
  m_process->setProgram(program);
  m_process->setArguments(arguments(run, db_path, data, protocol));
  connect(m_process, &QProcess::readyReadStandardError, this, &RunScorer::onOutput);
  connect(m_process, &QProcess::readyReadStandardOutput, this, &RunScorer::onOutput);
  connect(m_process, &QProcess::finished, this, &RunScorer::onFinished);
  connect(m_process, &QProcess::errorOccurred, this, [this](QProcess::ProcessError error) {
    if (error == QProcess::FailedToStart) onFinished(-1, QProcess::CrashExit);
  });
  m_process->start();
  return true;
}

void RunScorer::onOutput() {
  if (!m_process) return;
  m_out += QString::fromUtf8(m_process->readAllStandardOutput());
  const QString err = QString::fromUtf8(m_process->readAllStandardError());
  m_err += err;
  // "scoring 104/570" lines (not a terminal: one every hundred records or so).
  static const QRegularExpression scoring(QStringLiteral("scoring (\\d+)/(\\d+)"));
  QRegularExpressionMatchIterator it = scoring.globalMatch(err);
  QRegularExpressionMatch last;
  while (it.hasNext()) last = it.next();
  if (last.hasMatch()) emit progress(m_run, last.captured(1).toInt(), last.captured(2).toInt());
}

void RunScorer::onFinished(int exit_code, QProcess::ExitStatus status) {
  if (!m_process) return;
  onOutput();
  m_process->deleteLater();
  m_process = nullptr;
  if (status == QProcess::NormalExit && exit_code == 0) {
    static const QRegularExpression accuracy(
        QStringLiteral("accuracy: (\\S+) \\(95% CI ([^)]+)\\)"));
    static const QRegularExpression n(QStringLiteral("(?:^|\\n)n: (\\d+)"));
    static const QRegularExpression stored(QStringLiteral("score on (.+) at step (\\d+)"));
    const auto a = accuracy.match(m_out), c = n.match(m_out), s = stored.match(m_out);
    emit finished(
        m_run, true,
        tr("accuracy %1 (95% CI %2) on %3, n %4, at step %5")
            .arg(a.captured(1), a.captured(2), s.captured(1), c.captured(1), s.captured(2)));
    return;
  }
  // `mola` says what went wrong on its last line ("mola: error: ..."); else the tail.
  QStringList lines = m_err.trimmed().split(QLatin1Char('\n'), Qt::SkipEmptyParts);
  QString why = lines.isEmpty() ? QString() : lines.back();
  why.remove(QRegularExpression(QStringLiteral("^mola: (error: )?")));
  if (status == QProcess::CrashExit || exit_code < 0)
    why = tr("`mola` could not be started or crashed: %1").arg(why);
  emit finished(m_run, false, why);
}

}  // namespace mola::app
