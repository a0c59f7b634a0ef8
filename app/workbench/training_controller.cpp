// SPDX-License-Identifier: GPL-3.0-or-later
// TrainingController: the worker object on its QThread, the observer that turns the trainer's
// callbacks into queued signals, and the one catch at the thread boundary.
#include "training_controller.h"

#include <c10/core/GradMode.h>

#include <QCoreApplication>
#include <QThread>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>

#include "runtime.h"
#include "store/run_launch.h"
#include "store/store_writer.h"
#include "train/trainer.h"

namespace mola::app {

namespace fs = std::filesystem;

// The worker's outcome when the queue had nothing waiting (not a TrainOutcome).
constexpr int kQueueEmpty = -1;

// What the GUI thread may touch while the worker trains: the flags, and the Trainer while its
// run() is in progress (the mutex guards the pointer; the Trainer's own flags are atomic).
struct TrainingController::Control {
  std::mutex mutex;
  Trainer* trainer = nullptr;
  bool stop = false;
  bool paused = false;

  // A stop or pause asked for before the Trainer existed applies as soon as it does.
  void attach(Trainer* t) {
    std::lock_guard<std::mutex> lock(mutex);
    trainer = t;
    if (stop) t->requestStop();
    t->setPaused(paused);
  }
  void detach() {
    std::lock_guard<std::mutex> lock(mutex);
    trainer = nullptr;
  }
  void requestStop() {
    std::lock_guard<std::mutex> lock(mutex);
    stop = true;
    if (trainer) trainer->requestStop();
  }
  void setPaused(bool p) {
    std::lock_guard<std::mutex> lock(mutex);
    paused = p;
    if (trainer) trainer->setPaused(p);
  }
};

// Lives on the worker thread for one run; its run() slot is the whole run.
class TrainingController::Worker : public QObject {
  Q_OBJECT

 public:
  // What to train: a new run of `config`; else run `resume_id` (> 0) from its checkpoint; else
  // the first waiting run of the queue (of study `queue_study`, any when 0).
  Worker(std::optional<ExperimentConfig> config, int64_t resume_id, int64_t queue_study,
         fs::path db, std::shared_ptr<Control> control)
      : m_config(std::move(config)),
        m_resume_id(resume_id),
        m_queue_study(queue_study),
        m_db(std::move(db)),
        m_control(std::move(control)),
        m_home(QThread::currentThread()) {}

  void run();

 signals:
  void runCreated(qint64 run_id);
  void preparing(qint64 step, qint64 total);
  void started(qint64 run_id, const mola::RunStarted& info);
  void step(const mola::StepMetrics& metrics);
  void routerStats(const mola::RouterStatsSnapshot& snapshot);
  void evaluated(const mola::EvalScore& score);
  void checkpointSaved(qint64 step, const QString& dir);
  void notice(const QString& text);
  void done(int outcome, const QString& message);

 private:
  // Sets up the run to train (creates, claims or takes it from the queue): its id and
  // configuration, and the checkpoint to resume from; -1 when the queue is empty.
  int64_t prepare(RunStore& store, ExperimentConfig& config, fs::path& resume_dir);
  TrainOutcome train(RunStore& store, int64_t run_id, const ExperimentConfig& config,
                     const fs::path& resume_dir, std::string& message);

  std::optional<ExperimentConfig> m_config;
  int64_t m_resume_id = -1;
  int64_t m_queue_study = -1;
  fs::path m_db;
  std::shared_ptr<Control> m_control;
  QThread* m_home;  // the controller's thread, where this object is deleted
};

namespace {

// Runs on the worker thread: every callback becomes a signal that Qt queues to the GUI thread.
// It is added after the StoreWriter, so whatever a signal announces is already in the store.
struct CallbackObserver : TrainingObserver {
  std::function<void(int64_t, int64_t)> prepare;
  std::function<void(const RunStarted&)> started;
  std::function<void(const StepMetrics&)> step;
  std::function<void(const RouterStatsSnapshot&)> stats;
  std::function<void(const EvalReport&)> eval;
  std::function<void(int64_t, const std::string&)> checkpoint;
  TrainOutcome outcome = TrainOutcome::Failed;
  std::string message = "training ended without reporting an outcome";

  void preparing(int64_t at, int64_t total) override { prepare(at, total); }
  void runStarted(const RunStarted& s) override { started(s); }
  void stepFinished(const StepMetrics& m) override { step(m); }
  void routerStats(const RouterStatsSnapshot& s) override { stats(s); }
  void evaluated(const EvalReport& e) override { eval(e); }
  void checkpointSaved(int64_t at, const std::string& dir) override { checkpoint(at, dir); }
  void finished(TrainOutcome o, const std::string& m) override {
    outcome = o;
    message = m;
  }
};

// Clears the Control's Trainer pointer however Trainer::run() is left.
class DetachOnExit {
 public:
  explicit DetachOnExit(std::function<void()> detach) : m_detach(std::move(detach)) {}
  ~DetachOnExit() { m_detach(); }
  DetachOnExit(const DetachOnExit&) = delete;
  DetachOnExit& operator=(const DetachOnExit&) = delete;

 private:
  std::function<void()> m_detach;
};

void registerMetaTypes() {
  qRegisterMetaType<mola::ExperimentConfig>();
  qRegisterMetaType<mola::RunStarted>();
  qRegisterMetaType<mola::StepMetrics>();
  qRegisterMetaType<mola::RouterStatsSnapshot>();
  qRegisterMetaType<mola::EvalScore>();
  qRegisterMetaType<mola::TrainOutcome>();
}

}  // namespace

int64_t TrainingController::Worker::prepare(RunStore& store, ExperimentConfig& config,
                                            fs::path& resume_dir) {
  if (m_config) {
    config = *m_config;
    validateExperiment(config);  // a rejected experiment stores nothing, as with `mola train`
    return createRunFor(store, config);
  }
  if (m_resume_id > 0) {
    const ResumePlan plan = prepareResume(store, m_resume_id);
    config = plan.config;
    if (plan.checkpoint) resume_dir = plan.checkpoint->path;
    for (const std::string& note : plan.notes) emit notice(QString::fromStdString(note));
    return m_resume_id;
  }
  const auto next = store.startNextQueued(m_queue_study);
  if (!next) return -1;
  const RunRecord run = store.run(next->second);
  config = parseExperiment(run.config_json, "run " + std::to_string(run.id));
  return run.id;
}

// Trains run `run_id` into `store`, every callback a queued signal; `message` gets the trainer's
// last word.
TrainOutcome TrainingController::Worker::train(RunStore& store, int64_t run_id,
                                               const ExperimentConfig& config,
                                               const fs::path& resume_dir, std::string& message) {
  Trainer trainer(config, store.runDirectory(run_id));
  trainer.setCheckpointIdentity(checkpointIdentity(store, run_id));
  StoreWriter writer(store, run_id);
  writer.setNotice([this](const std::string& text) { emit notice(QString::fromStdString(text)); });
  CallbackObserver signaller;
  signaller.prepare = [&](int64_t at, int64_t total) { emit preparing(qint64(at), qint64(total)); };
  signaller.started = [&](const RunStarted& s) { emit started(run_id, s); };
  signaller.step = [&](const StepMetrics& m) { emit step(m); };
  signaller.stats = [&](const RouterStatsSnapshot& s) { emit routerStats(s); };
  signaller.eval = [&](const EvalReport& e) {
    EvalScore score = evalScoreOf(e);
    score.id = writer.lastEvalScoreId();  // the writer ran first: the score is stored
    emit evaluated(score);
  };
  signaller.checkpoint = [&](int64_t at, const std::string& dir) {
    emit checkpointSaved(qint64(at), QString::fromStdString(dir));
  };
  trainer.addObserver(&writer);
  trainer.addObserver(&signaller);
  if (!resume_dir.empty()) trainer.resumeFrom(resume_dir);
  m_control->attach(&trainer);
  DetachOnExit detach([this] { m_control->detach(); });
  const TrainOutcome outcome = trainer.run();
  message = signaller.message;
  return outcome;
}

void TrainingController::Worker::run() {
  // Grad mode is per thread in LibTorch: this thread starts from the default, made explicit here.
  c10::AutoGradMode enable_grad(true);
  TrainOutcome outcome = TrainOutcome::Failed;
  std::string message;
  std::optional<RunStore> store;
  int64_t run_id = -1;
  bool queue_empty = false;
  try {
    store.emplace(openRunStore(m_db));
    ExperimentConfig config;
    fs::path resume_dir;
    run_id = prepare(*store, config, resume_dir);
    if (run_id < 0) {
      queue_empty = true;
    } else {
      emit runCreated(run_id);
      outcome = train(*store, run_id, config, resume_dir, message);
    }
  } catch (const std::exception& e) {
    // The one catch at the thread boundary: setup errors (store, resume), and a store write that
    // failed while the trainer reported its own failure.
    outcome = TrainOutcome::Failed;
    message = e.what();
  } catch (...) {
    outcome = TrainOutcome::Failed;
    message = "training failed with an unknown error";
  }
  if (outcome == TrainOutcome::Failed && store && run_id > 0) {
    try {
      if (store->run(run_id).status == RunStatus::Running)
        store->setStatus(run_id, RunStatus::Failed, message);
    } catch (const std::exception&) {
      // The store itself is what failed; the signal below still tells the user why.
    }
  }
  store.reset();  // closes this thread's connection on this thread
  // The heap keeps freed buffers for the next step (configureCpuRuntime); the run's are done with.
  releaseFreedMemory();
  // Back to the controller's thread, so that the controller deletes this object there.
  moveToThread(m_home);
  emit done(queue_empty ? kQueueEmpty : int(outcome), QString::fromStdString(message));
}

TrainingController::TrainingController(QObject* parent) : QObject(parent) {
  static std::once_flag once;
  std::call_once(once, [] {
    registerMetaTypes();
    configureCpuRuntime();
  });
  m_ranks = new RankProcesses(this);
  connect(m_ranks, &RankProcesses::runCreated, this, [this](qint64 id) {
    m_run_id = id;
    emit runCreated(id);
  });
  connect(m_ranks, &RankProcesses::failed, this, &TrainingController::failed);
  connect(m_ranks, &RankProcesses::finished, this, &TrainingController::finished);
}

TrainingController::~TrainingController() {
  if (!m_thread) return;
  m_control->requestStop();
  joinThread();
}

bool TrainingController::start(const ExperimentConfig& config, const QString& db_path) {
  if (isRunning()) return false;
  if (config.processes > 1) {
    m_run_id = -1;
    return m_ranks->start(config, db_path);
  }
  m_control = std::make_shared<Control>();
  return launch(new Worker(config, -1, -1, fs::path(db_path.toStdString()), m_control));
}

bool TrainingController::resumeRun(qint64 run_id, const QString& db_path) {
  if (isRunning()) return false;
  // A run of several processes resumes with as many (mola resume starts them).
  try {
    if (storedProcesses(RunStore::open(db_path.toStdString(), false).run(run_id)) > 1) {
      m_run_id = run_id;
      return m_ranks->resumeRun(run_id, db_path);
    }
  } catch (const std::exception&) {
    // Unreadable here: the worker's own resume reports it.
  }
  m_control = std::make_shared<Control>();
  return launch(new Worker(std::nullopt, run_id, -1, fs::path(db_path.toStdString()), m_control));
}

bool TrainingController::startQueued(qint64 study, const QString& db_path) {
  if (isRunning()) return false;
  m_control = std::make_shared<Control>();
  return launch(new Worker(std::nullopt, -1, std::max<qint64>(0, study),
                           fs::path(db_path.toStdString()), m_control));
}

bool TrainingController::launch(Worker* worker) {
  m_worker = worker;
  m_thread = new QThread(this);
  m_thread->setObjectName(QStringLiteral("mola-training"));
  m_run_id = -1;
  m_paused = false;
  worker->moveToThread(m_thread);
  connect(m_thread, &QThread::started, worker, &Worker::run);
  connect(worker, &Worker::runCreated, this, [this](qint64 id) {
    m_run_id = id;
    emit runCreated(id);
  });
  connect(worker, &Worker::preparing, this, &TrainingController::preparing);
  connect(worker, &Worker::started, this, &TrainingController::started);
  connect(worker, &Worker::step, this, &TrainingController::step);
  connect(worker, &Worker::routerStats, this, &TrainingController::routerStats);
  connect(worker, &Worker::evaluated, this, &TrainingController::evaluated);
  connect(worker, &Worker::checkpointSaved, this, &TrainingController::checkpointSaved);
  connect(worker, &Worker::notice, this, &TrainingController::notice);
  connect(worker, &Worker::done, this, &TrainingController::onWorkerDone, Qt::QueuedConnection);
  m_thread->start();
  return true;
}

void TrainingController::pause() {
  if (!m_thread || m_paused) return;
  m_paused = true;
  m_control->setPaused(true);
  emit pausedChanged(true);
}

void TrainingController::resume() {
  if (!m_thread || !m_paused) return;
  m_paused = false;
  m_control->setPaused(false);
  emit pausedChanged(false);
}

void TrainingController::stop() {
  if (m_thread) m_control->requestStop();
  m_ranks->stop();
}

bool TrainingController::isRunning() const {
  return m_thread != nullptr || m_ranks->isRunning();
}

bool TrainingController::inOtherProcesses() const {
  return m_ranks->isRunning();
}

void TrainingController::onWorkerDone(int outcome, const QString& message) {
  joinThread();
  const bool was_paused = m_paused;
  m_paused = false;
  if (was_paused) emit pausedChanged(false);
  if (outcome == kQueueEmpty) {
    emit queueEmpty();
    return;
  }
  const auto result = static_cast<TrainOutcome>(outcome);
  if (result == TrainOutcome::Failed) emit failed(message);
  emit finished(result, message);
}

void TrainingController::joinThread() {
  if (!m_thread) return;
  m_thread->quit();
  m_thread->wait();
  // The worker moved itself back to this thread at the end of its run().
  delete m_worker;
  delete m_thread;
  m_worker = nullptr;
  m_thread = nullptr;
}

}  // namespace mola::app

#include "training_controller.moc"
