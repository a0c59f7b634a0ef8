// SPDX-License-Identifier: GPL-3.0-or-later
// RankProcesses: a data-parallel run (training.processes > 1) trained by `mola train --nproc` /
// `mola resume` as child processes of the workbench, which the window follows through the run
// database. The same signals as TrainingController's for the run's start and end (torch-free).
#pragma once

#include <QMetaType>
#include <QObject>
#include <QProcess>
#include <QString>
#include <memory>

#include "experiment/experiment_config.h"
#include "train/training_observer.h"

class QTemporaryFile;

namespace mola::app {

class RankProcesses : public QObject {
  Q_OBJECT

 public:
  explicit RankProcesses(QObject* parent = nullptr);
  // Stops the processes (with their checkpoint) and waits for them.
  ~RankProcesses() override;

  bool isRunning() const { return m_process != nullptr; }
  qint64 runId() const { return m_run_id; }

  // The `mola` program the workbench starts: $MOLA_CLI, else the one beside this program (or in
  // the build tree's app/cli), else on PATH; empty when there is none.
  static QString molaProgram();
  // What to say when there is none: `what` ("Scoring runs with `mola eval --run`") needs one.
  static QString missingProgram(const QString& what);

  // Trains `config` (its processes ranks) into the database at `db_path`; false when a run is in
  // progress. Failures to start end in failed() and finished(Failed).
  bool start(const mola::ExperimentConfig& config, const QString& db_path);
  // Continues run `run_id` with its own number of processes, as `mola resume` does.
  bool resumeRun(qint64 run_id, const QString& db_path);
  // SIGTERM to the launcher, which passes it on: every rank stops after the same step, with a
  // checkpoint (finished(Stopped)).
  void stop();

 signals:
  void runCreated(qint64 run_id);
  void failed(const QString& message);
  void finished(mola::TrainOutcome outcome, const QString& message);

 private:
  bool launch(const QStringList& arguments, const QString& db_path);
  // failed() and finished(Failed) with `message`, from the event loop.
  void failLater(const QString& message);
  void onOutput();
  void onFinished(int exit_code, QProcess::ExitStatus status);

  QProcess* m_process = nullptr;
  std::unique_ptr<QTemporaryFile> m_experiment;  // the experiment as written for `mola train`
  QString m_db_path;
  QString m_output;  // stderr so far: the run id, and the last lines on failure
  qint64 m_run_id = -1;
  bool m_stopping = false;
};

}  // namespace mola::app

Q_DECLARE_METATYPE(mola::TrainOutcome)
