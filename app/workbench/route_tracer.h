// SPDX-License-Identifier: GPL-3.0-or-later
// RouteTracer: which experts each token of a text goes to in a stored run's newest checkpoint,
// traced by `mola route --run ID --json -` in a child process (MolaJob). Torch-free.
#pragma once

#include <QObject>
#include <QString>
#include <QStringList>

#include "eval/token_routing.h"

namespace mola::app {

class MolaJob;

class RouteTracer : public QObject {
  Q_OBJECT

 public:
  explicit RouteTracer(QObject* parent = nullptr);

  static QStringList arguments(qint64 run, const QString& db_path, const QString& text);
  // Starts tracing; false (nothing started) while a trace runs.
  bool start(qint64 run, const QString& db_path, const QString& text);
  bool busy() const;

 signals:
  void traced(qint64 run, const mola::TokenRouting& routing);
  // What went wrong: `mola`'s reason, or a document that could not be read.
  void failed(qint64 run, const QString& why);

 private:
  void onFinished(bool ok, const QString& out, const QString& why);

  MolaJob* m_job;
  qint64 m_run = -1;
};

}  // namespace mola::app
