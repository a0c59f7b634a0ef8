// SPDX-License-Identifier: GPL-3.0-or-later
#include "route_tracer.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QMetaObject>
#include <stdexcept>

#include "mola_job.h"
#include "rank_processes.h"

namespace mola::app {

namespace {

constexpr qsizetype kKeptErrorChars = 16 * 1024;

}  // namespace

RouteTracer::RouteTracer(QObject* parent) : QObject(parent) {}

RouteTracer::~RouteTracer() {
  stopServer();
}

QStringList RouteTracer::arguments(qint64 run, const QString& db_path) {
  return {QStringLiteral("route"),
          QStringLiteral("--run"),
          QString::number(run),
          QStringLiteral("--db"),
          db_path,
          QStringLiteral("--serve")};
}

qint64 RouteTracer::serverProcessId() const {
  return m_server ? m_server->processId() : 0;
}

bool RouteTracer::start(qint64 run, const QString& db_path, const QString& text,
                        qint64 checkpoint_step) {
  if (busy()) return false;
  m_pending = true;
  m_run = run;
  if (!m_server || m_server_run != run || m_server_db != db_path ||
      m_server_step != checkpoint_step)
    startServer(run, db_path, checkpoint_step);
  if (!m_server) return true;  // fail() has reported why
  const QJsonObject request{{QStringLiteral("prompt"), text}};
  m_server->write(QJsonDocument(request).toJson(QJsonDocument::Compact) + '\n');
  return true;
}

void RouteTracer::startServer(qint64 run, const QString& db_path, qint64 checkpoint_step) {
  stopServer();
  const QString program = RankProcesses::molaProgram();
  if (program.isEmpty()) {
    fail(RankProcesses::missingProgram(tr("Tracing routes needs `mola route`")));
    return;
  }
  m_server = new QProcess(this);
  m_server_run = run;
  m_server_db = db_path;
  m_server_step = checkpoint_step;
  m_out.clear();
  m_err.clear();
  m_server->setProgram(program);
  m_server->setArguments(arguments(run, db_path));
  connect(m_server, &QProcess::readyReadStandardOutput, this, &RouteTracer::onOutput);
  connect(m_server, &QProcess::readyReadStandardError, this, [this] {
    m_err += QString::fromUtf8(m_server->readAllStandardError());
    if (m_err.size() > kKeptErrorChars) m_err = m_err.right(kKeptErrorChars);
  });
  connect(m_server, &QProcess::finished, this, &RouteTracer::onServerFinished);
  connect(m_server, &QProcess::errorOccurred, this, [this](QProcess::ProcessError error) {
    if (error == QProcess::FailedToStart) onServerFinished(-1, QProcess::CrashExit);
  });
  m_server->start();
}

void RouteTracer::stop() {
  m_pending = false;
  stopServer();
}

void RouteTracer::stopServer() {
  if (!m_server) return;
  m_server->disconnect(this);
  m_server->closeWriteChannel();  // the end of its input: it exits
  if (!m_server->waitForFinished(2000)) {
    m_server->kill();
    m_server->waitForFinished(5000);
  }
  m_server->deleteLater();
  m_server = nullptr;
}

void RouteTracer::onOutput() {
  if (!m_server) return;
  m_out += m_server->readAllStandardOutput();
  for (qsizetype end = m_out.indexOf('\n'); end >= 0; end = m_out.indexOf('\n')) {
    const QByteArray line = m_out.left(end);
    m_out.remove(0, end + 1);
    if (!m_pending) continue;  // nothing asked for it
    m_pending = false;
    const QJsonDocument doc = QJsonDocument::fromJson(line);
    if (doc.isObject() && doc.object().contains(QStringLiteral("error"))) {
      emit failed(m_run, doc.object().value(QStringLiteral("error")).toString());
      continue;
    }
    try {
      emit traced(m_run, tokenRoutingFromJson(line.toStdString(), "mola route"));
    } catch (const std::exception& e) {
      emit failed(m_run, QString::fromUtf8(e.what()));
    }
  }
}

void RouteTracer::onServerFinished(int exit_code, QProcess::ExitStatus status) {
  if (!m_server) return;
  onOutput();
  m_err += QString::fromUtf8(m_server->readAllStandardError());
  m_server->disconnect(this);
  m_server->deleteLater();
  m_server = nullptr;
  if (!m_pending) return;  // it ended between traces: the next one starts another
  const bool crashed = status == QProcess::CrashExit || exit_code < 0;
  QString why = MolaJob::failureOf(m_err, crashed);
  if (why.isEmpty()) why = tr("`mola route` ended without an answer (exit %1)").arg(exit_code);
  m_pending = false;
  emit failed(m_run, why);
}

void RouteTracer::fail(const QString& why) {
  QMetaObject::invokeMethod(
      this,
      [this, why] {
        m_pending = false;
        emit failed(m_run, why);
      },
      Qt::QueuedConnection);
}

}  // namespace mola::app
