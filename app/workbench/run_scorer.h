// SPDX-License-Identifier: GPL-3.0-or-later
// RunScorer: scores a stored run's newest checkpoint on a benchmark with `mola eval --run` in a
// child process (the model loads and scores there, not on the GUI thread); the score joins the
// run's evaluations in the database. Torch-free.
#pragma once

#include <QObject>
#include <QString>
#include <QStringList>

#include "experiment/experiment_config.h"

namespace mola::app {

class MolaJob;

class RunScorer : public QObject {
  Q_OBJECT

 public:
  explicit RunScorer(QObject* parent = nullptr);  // a scoring in progress stops with it

  // The arguments of `mola` that score `run` of `db_path` on `data` (protocol empty: the run's).
  static QStringList arguments(qint64 run, const QString& db_path, const DataSpec& data,
                               const QString& protocol);
  // Starts scoring; false (and nothing started) while another scoring runs. Without a `mola`
  // program, finished() reports it.
  bool start(qint64 run, const QString& db_path, const DataSpec& data, const QString& protocol);
  bool busy() const;
  qint64 run() const { return m_run; }

 signals:
  // Records scored of all, as `mola eval` reports them.
  void progress(qint64 run, int done, int total);
  // ok: "accuracy 0.41 (95% CI 0.33-0.49), n 200, stored at step 120"; else what went wrong.
  void finished(qint64 run, bool ok, const QString& message);

 private:
  void onProgress(const QString& err);
  void onFinished(bool ok, const QString& out, const QString& why);

  MolaJob* m_job;
  qint64 m_run = -1;
};

}  // namespace mola::app
