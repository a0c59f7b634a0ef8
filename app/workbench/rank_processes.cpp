// SPDX-License-Identifier: GPL-3.0-or-later
#include "rank_processes.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTemporaryFile>

#include "store/run_store.h"

namespace mola::app {

RankProcesses::RankProcesses(QObject* parent) : QObject(parent) {}

RankProcesses::~RankProcesses() {
  if (!m_process) return;
  m_process->disconnect(this);
  m_process->terminate();
  if (!m_process->waitForFinished(120000)) m_process->kill();
  m_process->waitForFinished(5000);
}

QString RankProcesses::molaProgram() {
  const QString env = qEnvironmentVariable("MOLA_CLI");
  if (!env.isEmpty()) return QFileInfo(env).isExecutable() ? env : QString();
  const QDir here(QCoreApplication::applicationDirPath());
  for (const QString& candidate :
       {here.filePath(QStringLiteral("mola")), here.filePath(QStringLiteral("../cli/mola")),
        here.filePath(QStringLiteral("../app/cli/mola"))})
    if (QFileInfo(candidate).isExecutable()) return QFileInfo(candidate).canonicalFilePath();
  return QStandardPaths::findExecutable(QStringLiteral("mola"));
}

QString RankProcesses::missingProgram(const QString& what) {
  return tr("%1, and no `mola` program was found beside the workbench or on PATH (or set MOLA_CLI)")
      .arg(what);
}

bool RankProcesses::start(const ExperimentConfig& config, const QString& db_path) {
  if (m_process) return false;
  m_experiment = std::make_unique<QTemporaryFile>(
      QDir::temp().filePath(QStringLiteral("mola-workbench-XXXXXX.json")));
  const QByteArray text = QByteArray::fromStdString(experimentToJson(config));
  if (!m_experiment->open() || m_experiment->write(text) != text.size() || !m_experiment->flush()) {
    failLater(tr("Cannot write the experiment for `mola train` to %1: %2")
                  .arg(m_experiment->fileName(), m_experiment->errorString()));
    return true;
  }
  m_run_id = -1;  // rank 0 names the run it creates
  return launch({QStringLiteral("train"), m_experiment->fileName()}, db_path);
}

bool RankProcesses::resumeRun(qint64 run_id, const QString& db_path) {
  if (m_process) return false;
  m_run_id = run_id;
  return launch({QStringLiteral("resume"), QString::number(run_id)}, db_path);
}

void RankProcesses::failLater(const QString& message) {
  // After start() has returned, as a run that fails while starting does.
  QMetaObject::invokeMethod(
      this,
      [this, message] {
        emit failed(message);
        emit finished(TrainOutcome::Failed, message);
      },
      Qt::QueuedConnection);
}

bool RankProcesses::launch(const QStringList& arguments, const QString& db_path) {
  m_db_path = db_path;
  m_output.clear();
  m_stopping = false;
  const QString program = molaProgram();
  if (program.isEmpty()) {
    failLater(missingProgram(tr("A run of several processes trains with `mola train --nproc`")));
    return true;
  }
  m_process = new QProcess(this);
  m_process->setProgram(program);
  m_process->setArguments(arguments + QStringList{QStringLiteral("--db"), db_path});
  m_process->setProcessChannelMode(QProcess::SeparateChannels);
  m_process->setStandardOutputFile(QProcess::nullDevice());
  connect(m_process, &QProcess::readyReadStandardError, this, &RankProcesses::onOutput);
  connect(m_process, &QProcess::finished, this, &RankProcesses::onFinished);
  connect(m_process, &QProcess::errorOccurred, this, [this](QProcess::ProcessError error) {
    if (error == QProcess::FailedToStart) onFinished(-1, QProcess::CrashExit);
  });
  m_process->start();
  return true;
}

void RankProcesses::onOutput() {
  m_output += QString::fromUtf8(m_process->readAllStandardError());
  if (m_run_id > 0) return;  // known: created, or the run being resumed
  // Rank 0 says "run N (NAME) in DB, K processes" once it has created the run.
  static const QRegularExpression created(QStringLiteral("(?:^|\\n)run (\\d+) \\("));
  const QRegularExpressionMatch m = created.match(m_output);
  if (m.hasMatch()) {
    m_run_id = m.captured(1).toLongLong();
    emit runCreated(m_run_id);
  }
}

void RankProcesses::stop() {
  if (!m_process || m_stopping) return;
  m_stopping = true;
  m_process->terminate();
}

void RankProcesses::onFinished(int exit_code, QProcess::ExitStatus status) {
  if (!m_process) return;
  onOutput();
  QProcess* process = m_process;
  m_process = nullptr;
  process->deleteLater();
  m_experiment.reset();
  // The run's own message says how it ended; the launcher's last lines when there is no run.
  TrainOutcome outcome = TrainOutcome::Failed;
  QString message;
  if (m_run_id > 0) {
    try {
      const RunRecord r = RunStore::open(m_db_path.toStdString(), false).run(m_run_id);
      outcome = r.status == RunStatus::Completed     ? TrainOutcome::Completed
                : r.status == RunStatus::Stopped     ? TrainOutcome::Stopped
                : r.status == RunStatus::Interrupted ? TrainOutcome::Interrupted
                                                     : TrainOutcome::Failed;
      message = QString::fromStdString(r.message);
    } catch (const std::exception& e) {
      message = QString::fromUtf8(e.what());
    }
  }
  if (message.isEmpty()) {
    QStringList tail = m_output.trimmed().split(QLatin1Char('\n'));
    while (tail.size() > 6) tail.removeFirst();
    message =
        status == QProcess::CrashExit || exit_code < 0
            ? tr("`mola` could not be started or crashed: %1").arg(tail.join(QLatin1Char(' ')))
            : tail.join(QLatin1Char(' '));
  }
  if (outcome == TrainOutcome::Failed) emit failed(message);
  emit finished(outcome, message);
}

}  // namespace mola::app
