// SPDX-License-Identifier: GPL-3.0-or-later
// TrainingController: runs one experiment at a time on a worker thread and reports it as queued Qt
// signals (Torch stays in the .cpp: this header is includable from widget-level code).
#pragma once

#include <QMetaType>
#include <QObject>
#include <QString>
#include <memory>

#include "adapters/router_stats.h"
#include "experiment/experiment_config.h"
#include "rank_processes.h"
#include "store/run_store.h"
#include "train/training_observer.h"

class QThread;

namespace mola::app {

// One run on a QThread: the worker opens its own RunStore connection (SQLite connections belong to
// one thread), creates or resumes the run row through core/store/run_launch.h, writes everything
// through StoreWriter exactly as `mola train` does, and reports to the GUI thread through queued
// signals. Pause and stop are atomic flags the training loop reads between steps. A run of several
// processes (training.processes > 1) is trained by `mola train --nproc` instead (RankProcesses):
// the controller reports its start and end; the window follows its points in the database.
class TrainingController : public QObject {
  Q_OBJECT

 public:
  explicit TrainingController(QObject* parent = nullptr);
  // Stops a run in progress (with its checkpoint) and joins the thread.
  ~TrainingController() override;

  bool isRunning() const;
  // The run in progress is trained by `mola` processes (no pause; its points come from the
  // database, not from signals).
  bool inOtherProcesses() const;
  bool isPaused() const { return m_paused; }
  // The run in progress (or the last one), -1 before its row exists.
  qint64 runId() const { return m_run_id; }

 public slots:
  // Starts training `config` into the database at `db_path` (created when absent). Returns false,
  // and does nothing, while another run is in progress. Everything else, bad input included,
  // ends in failed() and finished(Failed).
  bool start(const mola::ExperimentConfig& config, const QString& db_path);
  // Continues run `run_id` from its latest checkpoint, as `mola resume` does.
  bool resumeRun(qint64 run_id, const QString& db_path);
  // Trains the first waiting run of the database's queue (RunStore::startNextQueued: of study
  // `study`, or of any when 0), as `mola queue run` does; queueEmpty() instead of finished() when
  // nothing waits.
  bool startQueued(qint64 study, const QString& db_path);
  void pause();
  void resume();  // un-pause
  // Ends the run after the current step, with a checkpoint: finished(Stopped).
  void stop();

 signals:
  // The run's row exists (stored as running); the model and data are not loaded yet.
  void runCreated(qint64 run_id);
  // The built-in pretrained base (builtin:tiny-pretrained) is being trained before its first use:
  // `step` of `total` optimizer steps (about a minute on 2 cores, once per cache directory).
  void preparing(qint64 step, qint64 total);
  // The run's row exists and the model and data are loaded.
  void started(qint64 run_id, const mola::RunStarted& info);
  void step(const mola::StepMetrics& metrics);
  void routerStats(const mola::RouterStatsSnapshot& snapshot);
  // As stored (EvalScore::id is the row's id in the database).
  void evaluated(const mola::EvalScore& score);
  void checkpointSaved(qint64 step, const QString& dir);
  // Something the user should know that does not end the run: the database is locked by another
  // process and writes wait (and when they get through), a damaged checkpoint passed over.
  void notice(const QString& text);
  void pausedChanged(bool paused);
  // Just before finished(Failed, message): why the run failed (the message names the file, key or
  // step at fault). Emitted too when the run could not even be created.
  void failed(const QString& message);
  // The last signal of a run; the worker thread has been joined, so a slot may start another.
  void finished(mola::TrainOutcome outcome, const QString& message);
  // startQueued() found nothing waiting (the last signal of that start).
  void queueEmpty();

 private:
  class Worker;
  RankProcesses* m_ranks = nullptr;
  struct Control;
  bool launch(Worker* worker);
  void onWorkerDone(int outcome, const QString& message);
  void joinThread();

  QThread* m_thread = nullptr;
  Worker* m_worker = nullptr;
  std::shared_ptr<Control> m_control;  // shared with the worker: stop/pause flags, the Trainer
  bool m_paused = false;
  qint64 m_run_id = -1;
};

}  // namespace mola::app

Q_DECLARE_METATYPE(mola::ExperimentConfig)
Q_DECLARE_METATYPE(mola::RunStarted)
Q_DECLARE_METATYPE(mola::StepMetrics)
Q_DECLARE_METATYPE(mola::RouterStatsSnapshot)
Q_DECLARE_METATYPE(mola::EvalScore)
