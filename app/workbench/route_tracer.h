// SPDX-License-Identifier: GPL-3.0-or-later
// RouteTracer: which experts each token of a text goes to in a stored run's newest checkpoint,
// traced by `mola route --run ID --serve` in a child process that keeps the model loaded, so that
// every trace after the first of a run costs a forward pass, not a model load. Torch-free.
#pragma once

#include <QByteArray>
#include <QObject>
#include <QProcess>
#include <QString>
#include <QStringList>

#include "eval/token_routing.h"

namespace mola::app {

class RouteTracer : public QObject {
  Q_OBJECT

 public:
  explicit RouteTracer(QObject* parent = nullptr);
  ~RouteTracer() override;  // the serving process ends with the tracer

  // The serving command for run `run` of `db_path`.
  static QStringList arguments(qint64 run, const QString& db_path);
  // Traces `text` through run `run` of `db_path`; false (nothing started) while a trace runs.
  // `checkpoint_step` is the run's newest checkpoint as the caller knows it: a serving process
  // that loaded an older one (or serves another run or database) is replaced by a fresh one.
  bool start(qint64 run, const QString& db_path, const QString& text, qint64 checkpoint_step = -1);
  bool busy() const { return m_pending; }
  // Ends the serving process (its model's memory goes back); a pending trace is dropped unheard.
  void stop();
  // The serving process's id, 0 while none runs.
  qint64 serverProcessId() const;

 signals:
  void traced(qint64 run, const mola::TokenRouting& routing);
  // What went wrong: `mola`'s reason, or a document that could not be read.
  void failed(qint64 run, const QString& why);

 private:
  void startServer(qint64 run, const QString& db_path, qint64 checkpoint_step);
  void stopServer();
  void onOutput();
  void onServerFinished(int exit_code, QProcess::ExitStatus status);
  // Ends the pending trace with `why` (queued, so that a caller of start() hears it afterwards).
  void fail(const QString& why);

  QProcess* m_server = nullptr;
  qint64 m_server_run = -1, m_server_step = -1;
  QString m_server_db;
  QByteArray m_out;  // standard output not yet split into lines
  QString m_err;     // the last of standard error: a failure's reason
  bool m_pending = false;
  qint64 m_run = -1;
};

}  // namespace mola::app
