// SPDX-License-Identifier: GPL-3.0-or-later
// RunScorer: scores a stored run's newest checkpoint on a benchmark with `mola eval --run` in a
// child process (the model loads and scores there, not on the GUI thread); the score joins the
// run's evaluations in the database. Torch-free.
#pragma once

#include <QObject>
#include <QProcess>
#include <QString>
#include <QStringList>

#include "experiment/experiment_config.h"

namespace mola::app {

class RunScorer : public QObject {
  Q_OBJECT

 public:
  explicit RunScorer(QObject* parent = nullptr);
  ~RunScorer() override;  // a scoring in progress is stopped

  // The arguments of `mola` that score `run` of `db_path` on `data` (protocol empty: the run's).
  static QStringList arguments(qint64 run, const QString& db_path, const DataSpec& data,
                               const QString& protocol);
  // Starts scoring; false (and nothing started) while another scoring runs. Without a `mola`
  // program, finished() reports it.
  bool start(qint64 run, const QString& db_path, const DataSpec& data, const QString& protocol);
  bool busy() const { return m_process != nullptr; }
  qint64 run() const { return m_run; }

 signals:
  // Records scored of all, as `mola eval` reports them.
  void progress(qint64 run, int done, int total);
  // ok: "accuracy 0.41 (95% CI 0.33-0.49), n 200, stored at step 120"; else what went wrong.
  void finished(qint64 run, bool ok, const QString& message);

 private:
  void onOutput();
  void onFinished(int exit_code, QProcess::ExitStatus status);

  QProcess* m_process = nullptr;
  qint64 m_run = -1;
  QString m_err, m_out;
};

}  // namespace mola::app
