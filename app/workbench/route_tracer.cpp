// SPDX-License-Identifier: GPL-3.0-or-later
#include "route_tracer.h"

#include <stdexcept>

#include "mola_job.h"

namespace mola::app {

RouteTracer::RouteTracer(QObject* parent) : QObject(parent), m_job(new MolaJob(this)) {
  connect(m_job, &MolaJob::finished, this, &RouteTracer::onFinished);
}

bool RouteTracer::busy() const {
  return m_job->busy();
}

QStringList RouteTracer::arguments(qint64 run, const QString& db_path, const QString& text) {
  return {QStringLiteral("route"),
          QStringLiteral("--run"),
          QString::number(run),
          QStringLiteral("--db"),
          db_path,
          QStringLiteral("--prompt"),
          text,
          QStringLiteral("--json"),
          QStringLiteral("-")};
}

bool RouteTracer::start(qint64 run, const QString& db_path, const QString& text) {
  if (busy()) return false;
  m_run = run;
  return m_job->start(arguments(run, db_path, text), tr("Tracing routes with `mola route`"));
}

void RouteTracer::onFinished(bool ok, const QString& out, const QString& why) {
  if (!ok) {
    emit failed(m_run, why);
    return;
  }
  try {
    emit traced(m_run, tokenRoutingFromJson(out.toStdString(), "mola route"));
  } catch (const std::exception& e) {
    emit failed(m_run, QString::fromUtf8(e.what()));
  }
}

}  // namespace mola::app
