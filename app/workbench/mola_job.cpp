// SPDX-License-Identifier: GPL-3.0-or-later
#include "mola_job.h"

#include <QMetaObject>
#include <QRegularExpression>

#include "rank_processes.h"

namespace mola::app {

MolaJob::MolaJob(QObject* parent) : QObject(parent) {}

MolaJob::~MolaJob() {
  if (!m_process) return;
  m_process->disconnect(this);
  m_process->kill();
  m_process->waitForFinished(5000);
}

bool MolaJob::start(const QStringList& args, const QString& what) {
  if (m_process) return false;
  m_err.clear();
  m_out.clear();
  const QString program = RankProcesses::molaProgram();
  if (program.isEmpty()) {
    QMetaObject::invokeMethod(
        this,
        [this, what] { emit finished(false, QString(), RankProcesses::missingProgram(what)); },
        Qt::QueuedConnection);
    return true;
  }
  m_process = new QProcess(this);
  m_process->setProgram(program);
  m_process->setArguments(args);
  connect(m_process, &QProcess::readyReadStandardError, this, &MolaJob::onOutput);
  connect(m_process, &QProcess::readyReadStandardOutput, this, &MolaJob::onOutput);
  connect(m_process, &QProcess::finished, this, &MolaJob::onFinished);
  connect(m_process, &QProcess::errorOccurred, this, [this](QProcess::ProcessError error) {
    if (error == QProcess::FailedToStart) onFinished(-1, QProcess::CrashExit);
  });
  m_process->start();
  return true;
}

void MolaJob::onOutput() {
  if (!m_process) return;
  m_out += QString::fromUtf8(m_process->readAllStandardOutput());
  const QString err = QString::fromUtf8(m_process->readAllStandardError());
  m_err += err;
  if (!err.isEmpty()) emit errorOutput(err);
}

void MolaJob::onFinished(int exit_code, QProcess::ExitStatus status) {
  if (!m_process) return;
  onOutput();
  m_process->deleteLater();
  m_process = nullptr;
  const bool crashed = status == QProcess::CrashExit || exit_code < 0;
  if (!crashed && exit_code == 0) {
    emit finished(true, m_out, QString());
    return;
  }
  emit finished(false, m_out, failureOf(m_err, crashed));
}

QString MolaJob::failureOf(const QString& err, bool crashed) {
  const QStringList lines = err.trimmed().split(QLatin1Char('\n'), Qt::SkipEmptyParts);
  QString why = lines.isEmpty() ? QString() : lines.back();
  why.remove(QRegularExpression(QStringLiteral("^mola: (error: )?")));
  if (crashed) why = tr("`mola` could not be started or crashed: %1").arg(why);
  return why;
}

}  // namespace mola::app
